// SPDX-License-Identifier: GPL-2.0
/*
 * Revocation and hot-unplug of devmem-heap regions, on the real ivshmem
 * devices. Each cycle puts buffers of one region in every state at once:
 *   - mmapped and touched by this process;
 *   - vmapped by the in-kernel test importer, which holds the mapping;
 *   - imported by vgem (which attaches and never maps);
 *   - imported by edu (revocable) and DMAed into;
 *   - and a child allocating and freeing in a loop, racing the removal;
 * then takes the device away, one of three ways:
 *   - "unbind": the driver is unbound through sysfs, the device stays;
 *   - "unplug": QEMU unplugs it (device_del, through the host's hotplug
 *     agent: /devmem/hotplug, see scripts/hotplug-agent.py);
 *   - "slot": the guest powers its hotplug slot off (pciehp), and QEMU
 *     deletes the device;
 * checks that every path into the memory is closed (SIGBUS, ENODEV, the
 * scratch page, exactly one invalidation), writes a marker through every
 * dead path, brings the device back (bind, or device_add), checks
 * that the same heap nodes work again while the old buffers are still open,
 * then closes the old buffers and checks the region is whole.
 *
 * For the host, which checks that no marker reached device memory:
 *   absent <marker in hex>
 *
 * Usage:
 *   devmem_revoke            unbind each region, unplug each (if the hotplug
 *                            agent is there), power one slot off: make check
 *   devmem_revoke soak N     N cycles alternating unplug and slot power-off
 *                            over the regions, then a table
 */

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/klog.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <linux/dma-buf.h>
#include <drm/drm.h>

#include "kselftest.h"
#include "dma_heap_util.h"
#include "devmem_regions.h"
#include "devmem_importers.h"

#define LEN		(64 * 1024)
#define IVSHMEM_DRIVER	"/sys/bus/pci/drivers/devmem_ivshmem"
#define HOTPLUG_DIR	"/devmem/hotplug"
#define CHECKS		9	/* KTAP results per cycle */
#define MARKER_LEN	16	/* bytes of a dead-path marker */
#define BACK_MS		20000	/* how long a device may take to come back */
#define FENCE_MS	600	/* when the fence test signals its fence */

enum method { UNBIND, UNPLUG, SLOT };

static const char *const method_name[] = { "unbind", "unplug", "slot" };

/* What the soak counts, and the figures the closing table shows. */
static struct {
	int cycles, failures, faults;
	long long revoked, gone_ms_sum, gone_ms_max, revoke_us_max;
} tally;

/* Buffers of one region, each in its own state. */
struct scene {
	const struct region *r;
	char dev[32];
	int heap;
	int mm_fd;			/* mmapped by this process */
	unsigned char *mm;
	int vm_fd;			/* held by the in-kernel importer */
	int vgem, vg_fd;		/* imported by vgem */
	unsigned int vg_handle;
	int edu, edu_fd;		/* imported by edu, revocable */
	pid_t racer;			/* allocates in a loop */
	int racer_stop, racer_pipe;
	unsigned char pat[16];
};

static void make_pattern(unsigned char *p, size_t n, int cycle)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (unsigned char)(0xa0 + cycle * 13 + i * 7) | 1;
}

/* Reads @p in a child, or writes @marker there: the signal that ended it, or 0. */
static int touch_in_child(unsigned char *p, const char *marker)
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		if (marker)
			memcpy(p + 32, marker, MARKER_LEN);
		_exit(p[0] == 0x42);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFSIGNALED(status) ? WTERMSIG(status) : 0;
}

/*
 * The racing allocator: allocates and frees until @stop reads end of file
 * (the parent closed it), then writes its counts to @out.
 */
static void racer(int heap, int stop, int out)
{
	long counts[3] = { 0, 0, 0 };	/* ok, ENODEV, other */
	struct pollfd pfd = { .fd = stop, .events = POLLIN };

	while (poll(&pfd, 1, 0) == 0) {
		int fd = heap_alloc(heap, 4096, O_RDWR, 0);

		if (fd >= 0) {
			counts[0]++;
			close(fd);
		} else if (fd == -ENODEV) {
			counts[1]++;
			usleep(1000);
		} else {
			counts[2]++;
		}
	}
	_exit(write(out, counts, sizeof(counts)) != sizeof(counts));
}

/* Stops the racer: 0 if it saw only successes and ENODEV, and some of each. */
static int racer_result(struct scene *s)
{
	long counts[3] = { -1, -1, -1 };
	int status;

	if (s->racer <= 0)
		return -1;
	close(s->racer_stop);
	if (read(s->racer_pipe, counts, sizeof(counts)) != sizeof(counts))
		counts[2] = -1;
	waitpid(s->racer, &status, 0);
	close(s->racer_pipe);
	s->racer = 0;
	ksft_print_msg("%s: racing allocations: %ld ok, %ld ENODEV, %ld other\n",
		       s->r->name, counts[0], counts[1], counts[2]);
	return counts[2] == 0 && counts[0] > 0 && counts[1] > 0 ? 0 : -1;
}

static int vgem_import(int vgem, int fd, unsigned int *handle)
{
	struct drm_prime_handle prime = { .fd = fd };

	if (ioctl(vgem, DRM_IOCTL_PRIME_FD_TO_HANDLE, &prime))
		return -errno;
	*handle = prime.handle;
	return 0;
}

/* vgem's export of its object @handle: the buffer it imported. */
static int vgem_export(int vgem, unsigned int handle)
{
	struct drm_prime_handle prime = { .handle = handle, .flags = DRM_CLOEXEC | DRM_RDWR };

	return ioctl(vgem, DRM_IOCTL_PRIME_HANDLE_TO_FD, &prime) ? -errno : prime.fd;
}

/* Sets the scene up; 0, or -1 with a message. */
static int scene_setup(struct scene *s, const struct region *r, int cycle)
{
	int pipefd[2], stopfd[2];
	unsigned char *p;

	memset(s, 0, sizeof(*s));
	s->r = r;
	s->mm_fd = -1;
	s->vm_fd = -1;
	s->vg_fd = -1;
	s->edu_fd = -1;
	s->edu = -1;
	s->vgem = -1;
	make_pattern(s->pat, sizeof(s->pat), cycle);
	if (!stat_str(r->name, "device", s->dev, sizeof(s->dev)))
		return ksft_print_msg("%s: no device in debugfs\n", r->name), -1;
	s->heap = open_heap(r->name, 0);
	s->mm_fd = heap_alloc(s->heap, LEN, O_RDWR, 0);
	s->vm_fd = heap_alloc(s->heap, LEN, O_RDWR, 0);
	s->vg_fd = heap_alloc(s->heap, LEN, O_RDWR, 0);
	s->edu_fd = heap_alloc(s->heap, LEN, O_RDWR, 0);
	if (s->mm_fd < 0 || s->vm_fd < 0 || s->vg_fd < 0 || s->edu_fd < 0)
		return ksft_print_msg("%s: allocation failed\n", r->name), -1;

	s->mm = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED, s->mm_fd, 0);
	if (s->mm == MAP_FAILED)
		return s->mm = NULL, ksft_print_msg("%s: mmap failed\n", r->name), -1;
	memcpy(s->mm, s->pat, sizeof(s->pat));

	p = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED, s->vm_fd, 0);
	if (p == MAP_FAILED)
		return -1;
	memcpy(p, s->pat, sizeof(s->pat));
	munmap(p, LEN);
	if (vmap_cmd(NULL, 0, "hold 0 %d", s->vm_fd) ||
	    vmap_cmd(s->pat, sizeof(s->pat), "check 0 0 "))
		return ksft_print_msg("%s: in-kernel vmap failed\n", r->name), -1;

	s->vgem = open_vgem();
	if (s->vgem < 0 || vgem_import(s->vgem, s->vg_fd, &s->vg_handle))
		return ksft_print_msg("%s: vgem import failed\n", r->name), -1;

	s->edu = edu_open(&peer);
	if (s->edu < 0 || edu_import(s->edu, s->edu_fd, EDU_P2P_REVOCABLE, 0) ||
	    edu_dma(s->edu, s->pat, 0, sizeof(s->pat), EDU_P2P_TO_BUF))
		return ksft_print_msg("%s: edu import or DMA failed\n", r->name), -1;

	if (pipe(pipefd))
		return -1;
	if (pipe(stopfd)) {
		close(pipefd[0]);
		close(pipefd[1]);
		return -1;
	}
	s->racer = fork();
	if (s->racer == 0) {
		close(pipefd[0]);
		close(stopfd[1]);
		racer(s->heap, stopfd[0], pipefd[1]);
	}
	close(pipefd[1]);
	close(stopfd[0]);
	if (s->racer < 0) {
		close(pipefd[0]);
		close(stopfd[1]);
		return -1;
	}
	s->racer_pipe = pipefd[0];
	s->racer_stop = stopfd[1];
	/* Let it allocate a few before the device goes. */
	usleep(100 * 1000);
	return 0;
}

static void scene_close(struct scene *s)
{
	struct drm_gem_close cl = { .handle = s->vg_handle };

	if (s->racer > 0)
		racer_result(s);
	vmap_cmd(NULL, 0, "drop 0");
	if (s->mm)
		munmap(s->mm, LEN);
	if (s->vgem >= 0) {
		if (s->vg_handle)
			ioctl(s->vgem, DRM_IOCTL_GEM_CLOSE, &cl);
		close(s->vgem);
	}
	if (s->edu >= 0)
		close(s->edu);
	if (s->mm_fd >= 0)
		close(s->mm_fd);
	if (s->vm_fd >= 0)
		close(s->vm_fd);
	if (s->vg_fd >= 0)
		close(s->vg_fd);
	if (s->edu_fd >= 0)
		close(s->edu_fd);
	if (s->heap >= 0)
		close(s->heap);
	memset(s, 0, sizeof(*s));
}

/* The QEMU id of a region's device: vm.sh gives the devices distinct sizes. */
static const char *qdev_of(const struct region *r)
{
	if (r->size == 64ULL << 20)
		return "ivshmem0";
	if (r->size == 128ULL << 20)
		return "ivshmem1";
	return NULL;
}

/*
 * Asks the host's agent (scripts/hotplug-agent.py) to do @what with @arg;
 * its answer goes to @reply. Returns 0 if it begins with "ok", else -1.
 */
static int ask_agent(const char *what, const char *arg, char *reply, size_t n)
{
	char tmp[256], req[256], ack[256];
	long long end = now_ms() + 60000;
	static int serial;
	FILE *f;

	snprintf(reply, n, "error no answer");
	snprintf(req, sizeof(req), HOTPLUG_DIR "/req-%d-%d", getpid(), ++serial);
	snprintf(tmp, sizeof(tmp), HOTPLUG_DIR "/.req-%d-%d.tmp", getpid(), serial);
	snprintf(ack, sizeof(ack), HOTPLUG_DIR "/ack-%d-%d", getpid(), serial);
	f = fopen(tmp, "w");
	if (!f)
		return -1;
	fprintf(f, "%s %s\n", what, arg);
	if (fclose(f) || rename(tmp, req))
		return -1;
	while (access(ack, F_OK)) {
		if (now_ms() > end) {
			unlink(req);
			ksft_print_msg("agent: %s %s: no answer\n", what, arg);
			return -1;
		}
		usleep(50 * 1000);
	}
	f = fopen(ack, "r");
	if (f && !fgets(reply, n, f))
		snprintf(reply, n, "error empty answer");
	if (f)
		fclose(f);
	unlink(ack);
	reply[strcspn(reply, "\n")] = 0;
	if (strncmp(reply, "ok", 2)) {
		ksft_print_msg("agent: %s %s: %s\n", what, arg, reply);
		return -1;
	}
	return 0;
}

/* Has the agent unplug or re-add @qdev: the milliseconds it took, or -1. */
static long long hotplug(const char *what, const char *qdev)
{
	char reply[256];
	long long ms;

	if (ask_agent(what, qdev, reply, sizeof(reply)) || sscanf(reply, "ok %lld", &ms) != 1)
		return -1;
	return ms;
}

/*
 * Whether @marker is in none of the ivshmem backing files, as the host reads
 * them now: 1 if absent, 0 if found, -1 if the agent cannot tell.
 */
static int absent_on_host(const char *marker)
{
	char hex[128] = "", reply[256];
	size_t i;

	for (i = 0; i < strlen(marker) && 2 * i + 2 < sizeof(hex); i++)
		snprintf(hex + 2 * i, 3, "%02x", (unsigned char)marker[i]);
	if (ask_agent("find", hex, reply, sizeof(reply)))
		return -1;
	if (!strcmp(reply, "ok absent"))
		return 1;
	ksft_print_msg("the host found %s: %s\n", marker, reply);
	return 0;
}

/* The power file of the hotplug slot of PCI device @dev, e.g. 0000:03:00.0. */
static int slot_power(const char *dev, char *out, size_t n)
{
	char want[32], addr[64];
	glob_t g;
	size_t i;
	int found = 0;

	snprintf(want, sizeof(want), "%.10s", dev);	/* 0000:03:00 */
	if (glob("/sys/bus/pci/slots/*/address", 0, NULL, &g))
		return 0;
	for (i = 0; i < g.gl_pathc && !found; i++) {
		FILE *f = fopen(g.gl_pathv[i], "r");

		if (f && fgets(addr, sizeof(addr), f) && !strncmp(addr, want, strlen(want))) {
			snprintf(out, n, "%.*spower", (int)(strlen(g.gl_pathv[i]) - 7),
				 g.gl_pathv[i]);
			found = 1;
		}
		if (f)
			fclose(f);
	}
	globfree(&g);
	return found;
}

static int device_present(const char *dev)
{
	char path[96];

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s", dev);
	return !access(path, F_OK);
}

static int hotplug_agent(void)
{
	return !access(HOTPLUG_DIR, W_OK);
}

/* Takes the device of @s away by @m; the milliseconds it took, or -1. */
static long long take_away(const struct scene *s, enum method m)
{
	long long t0 = now_ms(), end = t0 + 30000;
	char power[300];

	switch (m) {
	case UNBIND:
		return write_str(IVSHMEM_DRIVER "/unbind", s->dev) ? -1 : now_ms() - t0;
	case UNPLUG:
		return hotplug("del", qdev_of(s->r));
	case SLOT:
		if (!slot_power(s->dev, power, sizeof(power)) || write_str(power, "0"))
			return -1;
		while (device_present(s->dev) && now_ms() < end)
			usleep(10 * 1000);
		return device_present(s->dev) ? -1 : now_ms() - t0;
	}
	return -1;
}

/* Brings the device back by the inverse of @m and waits for its region. */
static int bring_back(const struct scene *s, enum method m)
{
	long long end = now_ms() + BACK_MS;
	char path[128];

	switch (m) {
	case UNBIND:
		if (write_str(IVSHMEM_DRIVER "/bind", s->dev))
			return -1;
		break;
	case UNPLUG:
	case SLOT:
		/* QEMU deletes a device whose slot the guest powers off. */
		if (hotplug("add", qdev_of(s->r)) < 0)
			return -1;
		break;
	}
	snprintf(path, sizeof(path), DEBUGFS "/%s/stats", s->r->name);
	while (access(path, F_OK) && now_ms() < end)
		usleep(50 * 1000);
	return access(path, F_OK) ? -1 : 0;
}

/*
 * The last "region NAME withdrawn: N buffers revoked in T us (slowest S us)"
 * line of the kernel log.
 */
static int last_withdrawal(const char *name, long long *bufs, long long *us, long long *slowest)
{
	static char log[1 << 20];
	char want[96], *p, *last = NULL;
	int n = klogctl(3, log, sizeof(log) - 1);

	if (n < 0)
		return -1;
	log[n] = 0;
	snprintf(want, sizeof(want), "region %s withdrawn: ", name);
	for (p = strstr(log, want); p; p = strstr(p + 1, want))
		last = p;
	if (!last || sscanf(last + strlen(want),
			    "%lld buffers revoked in %lld us (slowest %lld us)",
			    bufs, us, slowest) != 3)
		return -1;
	return 0;
}

static void print_absent(const char *marker)
{
	size_t i;

	printf("absent ");
	for (i = 0; i < strlen(marker); i++)
		printf("%02x", (unsigned char)marker[i]);
	printf("\n");
}

/* The checks while the device is away, through every path of the scene. */
static int checks_away(struct scene *s, const char *what, const char *marker, int *results)
{
	struct edu_p2p_info info;
	unsigned char back[16];
	struct dma_buf_sync sync = { .flags = DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW };
	struct pollfd pfd = { .fd = s->mm_fd, .events = POLLIN };
	unsigned int handle;
	int edu2 = edu_open(&peer);
	struct stat st;
	int fd, ok, wrote, absent;

	/* 1: the process that had the buffer mapped faults, reading or writing. */
	ok = touch_in_child(s->mm, NULL) == SIGBUS && touch_in_child(s->mm, marker) == SIGBUS;
	tally.faults += ok ? 2 : 0;
	ksft_test_result(ok, "%s: revoke: the mmapped buffer gets SIGBUS\n", what);
	results[0] = ok;

	/*
	 * 2: the held kernel mapping shows the scratch page, never the BAR: the
	 * pattern is not there, and the marker written through it is (but in
	 * no backing file: check 7).
	 */
	wrote = !vmap_cmd((const unsigned char *)marker, MARKER_LEN, "write 0 32 ");
	ok = wrote && vmap_cmd(s->pat, sizeof(s->pat), "check 0 0 ") == -EIO &&
	     !vmap_cmd((const unsigned char *)marker, MARKER_LEN, "check 0 32 ") &&
	     kernel_vmap_check(s->vm_fd, 0, s->pat, sizeof(s->pat)) == -EIO;
	ksft_test_result(ok, "%s: revoke: the in-kernel vmap sees no device memory\n", what);
	results[1] = ok;

	/* 3: vgem keeps its import, of the dead buffer: no way into the memory. */
	fd = vgem_export(s->vgem, s->vg_handle);
	ok = fd >= 0 && ino_of(fd) == ino_of(s->vg_fd) &&
	     mmap(NULL, LEN, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED && errno == ENODEV &&
	     kernel_vmap_check(fd, 0, s->pat, sizeof(s->pat)) == -EIO;
	if (fd >= 0)
		close(fd);
	ksft_test_result(ok, "%s: revoke: vgem's re-export: mmap ENODEV, vmap no device memory\n",
			 what);
	results[2] = ok;

	/* 4: edu was told once; it cannot map again. */
	ok = !edu_info(s->edu, &info, NULL, 0) &&
	     info.flags == (EDU_P2P_IMPORTED | EDU_P2P_REVOKED | EDU_P2P_IS_REVOCABLE) &&
	     info.invalidations == 1 && info.entries == 0 &&
	     edu_dma(s->edu, (void *)marker, 32, MARKER_LEN, EDU_P2P_TO_BUF) == -ENODEV &&
	     edu_dma(s->edu, back, 0, sizeof(back), EDU_P2P_FROM_BUF) == -ENODEV;
	if (!ok)
		ksft_print_msg("edu: flags %#x, %u invalidations, %u entries\n",
			       info.flags, info.invalidations, info.entries);
	ksft_test_result(ok, "%s: revoke: edu saw one invalidation; DMA ENODEV\n", what);
	results[3] = ok;

	/* 5: allocation fails while the device is away; the racer saw nothing else. */
	fd = heap_alloc(s->heap, LEN, O_RDWR, 0);
	ok = fd == -ENODEV && racer_result(s) == 0;
	if (fd >= 0)
		close(fd);
	ksft_test_result(ok, "%s: revoke: allocation ENODEV; the racing one ok or ENODEV\n",
			 what);
	results[4] = ok;

	/* 6: a dead buffer is still a file; new mappings and imports fail cleanly. */
	ok = !fstat(s->mm_fd, &st) && !ioctl(s->mm_fd, DMA_BUF_IOCTL_SYNC, &sync) &&
	     (sync.flags = DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW,
	      !ioctl(s->mm_fd, DMA_BUF_IOCTL_SYNC, &sync)) &&
	     poll(&pfd, 1, 0) == 1 &&
	     mmap(NULL, LEN, PROT_READ, MAP_SHARED, s->mm_fd, 0) == MAP_FAILED && errno == ENODEV &&
	     vgem_import(s->vgem, s->mm_fd, &handle) == -ENODEV &&
	     edu2 >= 0 && edu_import(edu2, s->mm_fd, EDU_P2P_REVOCABLE, 0) == -ENODEV;
	if (edu2 >= 0)
		close(edu2);
	ksft_test_result(ok, "%s: revoke: dead buffers stay files; mmap and attach ENODEV\n",
			 what);
	results[5] = ok;

	/*
	 * 7: the marker written through every dead path (the user mapping, the
	 * kernel mapping, edu's DMA) is in no backing file, as the host reads
	 * them now, before a later buffer's zero-filling could hide it. After
	 * a hot-unplug QEMU drops stale accesses anyway; after an unbind the
	 * device is still there and would keep them.
	 */
	print_absent(marker);
	if (hotplug_agent()) {
		absent = absent_on_host(marker);
		ksft_test_result(absent == 1,
				 "%s: revoke: no write through a dead path reached the device\n",
				 what);
		results[6] = absent == 1;
	} else {
		ksft_test_result_skip("%s: revoke: no host agent to read the device memory\n",
				      what);
		results[6] = 1;
	}
	return 0;
}

/* The checks once the device is back, then the old buffers close. */
static void checks_back(struct scene *s, const char *what, int *results)
{
	unsigned char zero[LEN / 16], *p;
	const struct region *r;
	unsigned long old[4];
	char exp[128];
	int fd, ok, i;

	/* 8: the same heap nodes work, while the old buffers are still open. */
	memset(zero, 0, sizeof(zero));
	fd = heap_alloc(s->heap, LEN, O_RDWR, 0);
	p = fd >= 0 ? mmap(NULL, LEN, PROT_READ, MAP_SHARED, fd, 0) : MAP_FAILED;
	ok = p != MAP_FAILED && !memcmp(p, zero, sizeof(zero)) &&
	     touch_in_child(s->mm, NULL) == SIGBUS;
	if (p != MAP_FAILED)
		munmap(p, LEN);
	if (fd >= 0)
		close(fd);
	ksft_test_result(ok, "%s: revoke: back, the same nodes allocate while old buffers live\n",
			 what);
	results[7] = ok;

	/* 9: the old buffers close cleanly; the new region is whole. */
	old[0] = ino_of(s->mm_fd);
	old[1] = ino_of(s->vm_fd);
	old[2] = ino_of(s->vg_fd);
	old[3] = ino_of(s->edu_fd);
	r = s->r;
	scene_close(s);
	ok = region_idle(r) || (usleep(200 * 1000), region_idle(r));
	for (i = 0; i < 4; i++)
		ok = ok && old[i] && !bufinfo_exporter(old[i], exp, sizeof(exp));
	ksft_test_result(ok, "%s: revoke: old buffers released; the region is whole and idle\n",
			 what);
	results[8] = ok;
}

/* One cycle on region @r by method @m; returns the number of failed checks. */
static int cycle(const struct region *r, enum method m, int n)
{
	int results[CHECKS] = { 0 }, failed = 0, i;
	long long gone, bufs = -1, us = -1, slowest = -1;
	char what[128], marker[32];
	struct scene s;

	snprintf(what, sizeof(what), "%s %s #%d", r->name, method_name[m], n);
	/* Exactly MARKER_LEN bytes, different for every cycle of a run. */
	snprintf(marker, sizeof(marker), "DEAD-%-6.6s-%03d!", method_name[m], n % 1000);
	find_edus();
	if (scene_setup(&s, r, n)) {
		scene_close(&s);
		for (i = 0; i < CHECKS; i++)
			ksft_test_result_fail("%s: revoke: check %d (no setup)\n", what, i + 1);
		return CHECKS;
	}
	gone = take_away(&s, m);
	if (gone < 0) {
		ksft_print_msg("%s: the device did not go\n", what);
		scene_close(&s);
		for (i = 0; i < CHECKS; i++)
			ksft_test_result_fail("%s: revoke: check %d (not removed)\n", what, i + 1);
		return CHECKS;
	}
	if (!last_withdrawal(r->name, &bufs, &us, &slowest)) {
		tally.revoked += bufs;
		if (slowest > tally.revoke_us_max)
			tally.revoke_us_max = slowest;
	}
	ksft_print_msg("%s: device gone in %lld ms; %lld buffers revoked in %lld us",
		       what, gone, bufs, us);
	printf(" (slowest %lld us)\n", slowest);
	tally.gone_ms_sum += gone;
	if (gone > tally.gone_ms_max)
		tally.gone_ms_max = gone;
	checks_away(&s, what, marker, results);
	if (bring_back(&s, m)) {
		ksft_print_msg("%s: the device did not come back\n", what);
		scene_close(&s);
		ksft_test_result_fail("%s: revoke: back (did not come back)\n", what);
		ksft_test_result_fail("%s: revoke: idle (did not come back)\n", what);
	} else {
		checks_back(&s, what, results);
	}
	for (i = 0; i < CHECKS; i++)
		failed += !results[i];
	tally.cycles++;
	tally.failures += failed;
	return failed;
}

static void skip_cycle(const char *what, const char *why)
{
	int i;

	for (i = 0; i < CHECKS; i++)
		ksft_test_result_skip("%s: check %d: %s\n", what, i + 1, why);
}

/* A buffer of a region, imported by vgem: fences on it are vgem's to signal. */
struct fenced {
	int heap, vgem, fd;
	unsigned int handle;
	char dev[32];
};

/* Allocates and imports the buffer; 0, or -1 (fenced_close() cleans up). */
static int fenced_open(const struct region *r, struct fenced *f)
{
	memset(f, 0, sizeof(*f));
	f->heap = open_heap(r->name, 0);
	f->vgem = open_vgem();
	f->fd = heap_alloc(f->heap, LEN, O_RDWR, 0);
	if (f->heap < 0 || f->vgem < 0 || f->fd < 0 ||
	    !stat_str(r->name, "device", f->dev, sizeof(f->dev)))
		return -1;
	return vgem_import(f->vgem, f->fd, &f->handle);
}

/* Drops the buffer: vgem's import of it, and our file descriptor. */
static void fenced_drop_buffer(struct fenced *f)
{
	struct drm_gem_close cl = { .handle = f->handle };

	if (f->handle)
		ioctl(f->vgem, DRM_IOCTL_GEM_CLOSE, &cl);
	if (f->fd >= 0)
		close(f->fd);
	f->handle = 0;
	f->fd = -1;
}

static void fenced_close(struct fenced *f)
{
	fenced_drop_buffer(f);
	if (f->vgem >= 0)
		close(f->vgem);
	if (f->heap >= 0)
		close(f->heap);
}

/*
 * Withdrawal waits for the buffer's fences before it lets the device go: a
 * vgem write fence that a child signals after FENCE_MS holds the unbind up
 * that long, and no longer than the framework's 5 s bound.
 */
static void test_fence_wait(const struct region *r)
{
	long long took = -1;
	struct fenced f;
	int fence, ok = 0;
	pid_t pid = -1;

	if (fenced_open(r, &f))
		goto out;
	fence = vgem_fence(f.vgem, f.handle, VGEM_FENCE_WRITE);
	if (fence < 0)
		goto out;
	pid = fork();
	if (pid == 0) {
		usleep(FENCE_MS * 1000);
		_exit(vgem_signal(f.vgem, fence) ? 1 : 0);
	}
	took = now_ms();
	if (pid < 0 || write_str(IVSHMEM_DRIVER "/unbind", f.dev))
		goto out;
	took = now_ms() - took;
	ok = took >= FENCE_MS - 50 && took < 4500;
	ok = !write_str(IVSHMEM_DRIVER "/bind", f.dev) && ok;
out:
	ksft_test_result(ok, "%s: revoke waits for the buffer's fences (%lld ms, signal at %d)\n",
			 r->name, took, FENCE_MS);
	if (pid > 0)
		waitpid(pid, NULL, 0);
	fenced_close(&f);
}

/*
 * A withdrawal that cannot revoke cleanly keeps the region's name: a vgem
 * write fence nobody signals outlasts the 5 s bound, so binding the device
 * again fails with EBUSY while the buffer lives, and works once it is gone.
 */
static void test_unclean_quarantine(const struct region *r)
{
	long long took = -1, end;
	int fence, fd, ok = 0;
	struct fenced f;

	if (fenced_open(r, &f))
		goto out;
	fence = vgem_fence(f.vgem, f.handle, VGEM_FENCE_WRITE);
	took = now_ms();
	if (fence < 0 || write_str(IVSHMEM_DRIVER "/unbind", f.dev))
		goto out;
	took = now_ms() - took;
	ok = took >= 4900 && write_str(IVSHMEM_DRIVER "/bind", f.dev) == -EBUSY &&
	     heap_alloc(f.heap, LEN, O_RDWR, 0) == -ENODEV;
	vgem_signal(f.vgem, fence);
	fenced_drop_buffer(&f);
	/* The buffer's file is released asynchronously. */
	end = now_ms() + 5000;
	while (write_str(IVSHMEM_DRIVER "/bind", f.dev) == -EBUSY && now_ms() < end)
		usleep(50 * 1000);
	fd = heap_alloc(f.heap, LEN, O_RDWR, 0);
	ok = ok && fd >= 0;
	if (fd >= 0)
		close(fd);
out:
	ksft_test_result(ok, "%s: revoke: unsignalled fences (%lld ms) keep the name taken\n",
			 r->name, took);
	fenced_close(&f);
}

static int run_check(void)
{
	int i, slot_done = 0;
	char power[300], dev[32];

	ksft_print_header();
	find_regions();
	if (!nregions)
		ksft_exit_skip("no devmem-heap region of a device\n");
	ksft_set_plan(CHECKS * (2 * nregions + 1) + 2);
	test_fence_wait(&regions[0]);
	test_unclean_quarantine(&regions[0]);
	for (i = 0; i < nregions; i++)
		cycle(&regions[i], UNBIND, i);
	for (i = 0; i < nregions; i++) {
		if (hotplug_agent() && qdev_of(&regions[i]))
			cycle(&regions[i], UNPLUG, i);
		else
			skip_cycle(regions[i].name, "unplug: no hotplug agent");
	}
	for (i = 0; i < nregions && !slot_done; i++) {
		if (hotplug_agent() && qdev_of(&regions[i]) &&
		    stat_str(regions[i].name, "device", dev, sizeof(dev)) &&
		    slot_power(dev, power, sizeof(power))) {
			cycle(&regions[i], SLOT, i);
			slot_done = 1;
		}
	}
	if (!slot_done)
		skip_cycle("slot", "no hotplug slot");
	ksft_finished();
}

static int run_soak(int cycles)
{
	int i;

	ksft_print_header();
	find_regions();
	if (!nregions || !hotplug_agent())
		ksft_exit_skip("no region or no hotplug agent\n");
	ksft_set_plan(CHECKS * cycles);
	for (i = 0; i < cycles; i++) {
		const struct region *r = &regions[i % nregions];

		if (!qdev_of(r)) {
			skip_cycle(r->name, "not a device the agent knows");
			continue;
		}

		/* Unplug from the host, then from the guest, on each device in turn. */
		cycle(r, (i / nregions) % 2 ? SLOT : UNPLUG, i);
	}
	printf("# soak: %-8s %-16s %-8s %-10s %-14s %-16s\n", "cycles", "buffers revoked",
	       "faults", "failures", "gone ms (avg)", "revoke us (max)");
	printf("# soak: %-8d %-16lld %-8d %-10d %-14lld %-16lld\n", tally.cycles, tally.revoked,
	       tally.faults, tally.failures,
	       tally.cycles ? tally.gone_ms_sum / tally.cycles : 0, tally.revoke_us_max);
	ksft_finished();
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 3 && !strcmp(argv[1], "soak"))
		return run_soak(atoi(argv[2]));
	return run_check();
}
