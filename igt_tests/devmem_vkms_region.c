// SPDX-License-Identifier: GPL-2.0
/*
 * vkms in device-memory mode (vkms.devmem_region=<region>): its dumb
 * buffers come from that devmem-heap region. A dumb buffer exported with
 * PRIME is the region's own dma-buf (debugfs lists its inode, the region's
 * use grows by it); writes through MAP_DUMB are seen through the dma-buf's
 * mmap and by the host in the device's backing file; closing gives the
 * region back; running out of it is ENOMEM without a WARN; importing the
 * exported dma-buf gives back the dumb buffer's own handle. A vkms device
 * made through configfs takes its dumb buffers from the region its
 * devmem_region attribute names.
 *
 * Only meaningful when vkms runs in that mode: the test skips otherwise.
 */
#include "igt.h"
#include "kms_helpers.h"

#include <setjmp.h>
#include <signal.h>
#include <sys/mount.h>

#define DEVMEM_PARAM	"/sys/module/vkms/parameters/devmem_region"
#define DUMB_W		640
#define DUMB_H		480
#define BIG_W		1024
#define BIG_H		1024

/* The region vkms takes its dumb buffers from, from its module parameter. */
static int vkms_devmem_region(char *region, size_t n)
{
	FILE *f = fopen(DEVMEM_PARAM, "r");
	int ok;

	if (!f)
		return 0;
	ok = !!fgets(region, n, f);
	fclose(f);
	region[strcspn(region, "\n")] = 0;
	return ok && region[0] && strcmp(region, "(null)");
}

struct usage {
	long long used, live;
};

static void usage_of(const char *region, struct usage *u)
{
	u->used = region_stat(region, "used");
	u->live = region_stat(region, "live_buffers");
	igt_assert_f(u->used >= 0 && u->live >= 0, "no debugfs stats of region %s\n", region);
}

/* The region's use is @base again (releases may lag a little: up to 2 s). */
static void usage_back_to(const char *region, const struct usage *base)
{
	struct usage now;
	int i;

	for (i = 0; i < 20; i++) {
		usage_of(region, &now);
		if (now.used == base->used && now.live == base->live)
			break;
		usleep(100 * 1000);
	}
	igt_assert_eq_u64(now.used, base->used);
	igt_assert_eq_u64(now.live, base->live);
}

/*
 * A dumb buffer is a buffer of the region: its export is listed by inode
 * in the region's debugfs buffers, and the region's use grows by its size.
 */
static void test_dumb_in_region(int drm, const char *region)
{
	unsigned long long listed = 0, off[DEVMEM_RANGES], len[DEVMEM_RANGES];
	struct usage base, now;
	struct dumb d = { 0 };
	int fd, ret;

	usage_of(region, &base);
	ret = dumb_create(drm, DUMB_W, DUMB_H, 32, &d);
	igt_assert_f(ret == 0, "dumb buffer: %s\n", strerror(-ret));
	usage_of(region, &now);
	igt_assert_eq_u64(now.live, base.live + 1);
	igt_assert_lte_u64(base.used + d.size, now.used);

	fd = prime_handle_to_fd(drm, d.handle);
	igt_assert_f(fd >= 0, "PRIME export of a dumb buffer: %s\n", strerror(-fd));
	igt_assert_f(region_buffer(region, ino_of(fd), &listed, off, len, DEVMEM_RANGES) > 0,
		     "inode %lu is not in region %s's buffers\n", ino_of(fd), region);
	igt_assert_lte_u64(d.size, listed);
	igt_assert_eq_u64(now.used - base.used, listed);
	igt_info("dumb buffer of %llu bytes: inode %lu, %llu bytes of %s at %#llx\n",
		 d.size, ino_of(fd), listed, region, off[0]);

	close(fd);
	igt_assert_eq(gem_close(drm, d.handle), 0);
	usage_back_to(region, &base);
}

/*
 * Writes through MAP_DUMB are in the region: read through the exported
 * dma-buf's mmap, and the other way; the host finds a random marker at the
 * buffer's place in the device's backing file (the buffer is kept until
 * power-off for that).
 */
static void test_dumb_map(int drm, const char *region)
{
	unsigned char marker[64], *cpu, *dma;
	struct dumb d = { 0 };
	unsigned long long at;
	int fd, ret;
	size_t i;

	ret = dumb_create(drm, DUMB_W, DUMB_H, 32, &d);
	igt_assert_f(ret == 0, "dumb buffer: %s\n", strerror(-ret));
	cpu = dumb_map(drm, &d);
	igt_assert_f(cpu != MAP_FAILED, "MAP_DUMB and mmap: %s\n", strerror(errno));
	fd = prime_handle_to_fd(drm, d.handle);
	igt_assert_f(fd >= 0, "PRIME export of a dumb buffer: %s\n", strerror(-fd));
	dma = mmap(NULL, d.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	igt_assert_f(dma != MAP_FAILED, "mmap of the exported dma-buf: %s\n", strerror(errno));

	/* Fresh from the region: zeroed. */
	igt_assert_eq(dmabuf_sync(fd, DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ), 0);
	for (i = 0; i < d.size; i += 4096)
		igt_assert_eq(dma[i] | cpu[i + 4095], 0);
	igt_assert_eq(dmabuf_sync(fd, DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ), 0);

	/* Off each page's first and last 64 bytes, which get written below. */
	random_bytes(marker, sizeof(marker));
	at = (random() % (d.size / 4096)) * 4096 + 64 * (1 + random() % 62);
	memcpy(cpu + at, marker, sizeof(marker));
	for (i = 0; i < d.size; i += 4096)
		cpu[i] = i / 4096 + 1;
	igt_assert_eq(dmabuf_sync(fd, DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ), 0);
	igt_assert(!memcmp(dma + at, marker, sizeof(marker)));
	for (i = 0; i < d.size; i += 4096)
		igt_assert_eq(dma[i], (unsigned char)(i / 4096 + 1));
	igt_assert_eq(dmabuf_sync(fd, DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ), 0);
	/* And back: the dma-buf's writes through the dumb mapping. */
	igt_assert_eq(dmabuf_sync(fd, DMA_BUF_SYNC_START | DMA_BUF_SYNC_WRITE), 0);
	dma[d.size - 1] = 0xa5;
	igt_assert_eq(dmabuf_sync(fd, DMA_BUF_SYNC_END | DMA_BUF_SYNC_WRITE), 0);
	igt_assert_eq(cpu[d.size - 1], 0xa5);

	igt_assert_f(print_expect(region, fd, at, marker, sizeof(marker)) == 0,
		     "the marker's place in region %s is unknown\n", region);
	igt_assert_eq(hold_until_poweroff(fd), 0);

	munmap(dma, d.size);
	munmap(cpu, d.size);
	close(fd);
	igt_assert_eq(gem_close(drm, d.handle), 0);
}

/* Dumb buffers, exported or not, mapped or not: closing gives the region back. */
static void test_close_restores(int drm, const char *region)
{
	struct dumb d[6] = { 0 };
	int fds[6], i, ret;
	struct usage base, now;
	void *map = MAP_FAILED;

	usage_of(region, &base);
	for (i = 0; i < 6; i++) {
		ret = dumb_create(drm, DUMB_W, DUMB_H / (i + 1), 32, &d[i]);
		igt_assert_f(ret == 0, "dumb buffer %d: %s\n", i, strerror(-ret));
		fds[i] = i & 1 ? prime_handle_to_fd(drm, d[i].handle) : -1;
		igt_assert(!(i & 1) || fds[i] >= 0);
	}
	map = dumb_map(drm, &d[2]);
	igt_assert(map != MAP_FAILED);
	usage_of(region, &now);
	igt_assert_eq_u64(now.live, base.live + 6);

	/* An export or a mapping keeps a buffer after its handle is closed. */
	for (i = 0; i < 6; i++)
		igt_assert_eq(gem_close(drm, d[i].handle), 0);
	usage_of(region, &now);
	igt_assert_eq_u64(now.live, base.live + 3 + 1);	/* three exported, one mapped */
	munmap(map, d[2].size);
	for (i = 1; i < 6; i += 2)
		close(fds[i]);
	usage_back_to(region, &base);
}

/*
 * Dumb buffers until the region is full: the last one fails with ENOMEM,
 * nothing WARNs, and everything is given back.
 */
static void test_exhaustion(int drm, const char *region)
{
	long long size = region_stat(region, "size");
	unsigned long taint = kernel_taint();
	unsigned int handles[256];
	struct usage base;
	struct dumb d = { 0 };
	int n = 0, ret = 0;

	usage_of(region, &base);
	igt_assert_lt(0, size);
	while (n < (int)ARRAY_SIZE(handles)) {
		ret = dumb_create(drm, BIG_W, BIG_H, 32, &d);
		if (ret)
			break;
		handles[n++] = d.handle;
	}
	igt_info("%d dumb buffers of %llu bytes from %lld bytes (%lld in use before): %s\n",
		 n, d.size, size, base.used, strerror(-ret));
	igt_assert_eq(ret, -ENOMEM);
	igt_assert_lt(0, n);
	igt_assert_lte_u64((unsigned long long)n * d.size, size - base.used);
	igt_assert_lte_u64(size - base.used, (unsigned long long)(n + 1) * d.size + d.size);
	while (n)
		igt_assert_eq(gem_close(drm, handles[--n]), 0);
	usage_back_to(region, &base);
	igt_assert_f(!((kernel_taint() & ~taint) & TAINT_WARN_BIT), "the kernel WARNed\n");

	/* The region serves again. */
	igt_assert_eq(dumb_create(drm, BIG_W, BIG_H, 32, &d), 0);
	igt_assert_eq(gem_close(drm, d.handle), 0);
	usage_back_to(region, &base);
}

/*
 * The exported dma-buf of a dumb buffer imports as the dumb buffer itself
 * in its own file, and as one object in another file, which exports it as
 * the same dma-buf.
 */
static void test_self_import(int drm, const char *region)
{
	unsigned int h;
	struct dumb d = { 0 };
	struct usage base;
	int fd, back, other;

	usage_of(region, &base);
	igt_assert_eq(dumb_create(drm, DUMB_W, DUMB_H, 32, &d), 0);
	fd = prime_handle_to_fd(drm, d.handle);
	igt_assert_f(fd >= 0, "PRIME export of a dumb buffer: %s\n", strerror(-fd));
	igt_assert_eq(prime_fd_to_handle(drm, fd, &h), 0);
	igt_assert_eq_u32(h, d.handle);
	igt_assert_eq(prime_fd_to_handle(drm, fd, &h), 0);
	igt_assert_eq_u32(h, d.handle);
	back = prime_handle_to_fd(drm, d.handle);
	igt_assert_eq_u64(ino_of(back), ino_of(fd));
	close(back);

	other = import_in_new_file("vkms", fd);
	igt_assert_f(other >= 0, "import into a second vkms file: %s\n", strerror(-other));
	/* Still one buffer of the region. */
	igt_assert_eq(region_stat(region, "live_buffers"), base.live + 1);
	close(other);

	close(fd);
	igt_assert_eq(gem_close(drm, d.handle), 0);
	usage_back_to(region, &base);
}

/*
 * A heap buffer opened read-only, imported into vkms, maps read-only through
 * MAP_DUMB too: the DRM file's mode does not lend it write access.
 */
static void test_readonly_import(int drm, const char *region)
{
	struct dma_heap_allocation_data data = {
		.len = 64 * 1024,
		.fd_flags = O_RDONLY | O_CLOEXEC,
	};
	struct drm_mode_map_dumb md = { 0 };
	unsigned char *p;
	int heap;

	heap = heap_open(region);
	igt_assert_fd(heap);
	igt_assert_eq(ioctl(heap, DMA_HEAP_IOCTL_ALLOC, &data), 0);
	close(heap);
	igt_assert(mmap(NULL, data.len, PROT_WRITE, MAP_SHARED, data.fd, 0) == MAP_FAILED);
	igt_assert_eq(prime_fd_to_handle(drm, data.fd, &md.handle), 0);
	igt_assert_eq(ioctl(drm, DRM_IOCTL_MODE_MAP_DUMB, &md), 0);
	p = mmap(NULL, data.len, PROT_READ | PROT_WRITE, MAP_SHARED, drm, md.offset);
	igt_assert_f(p == MAP_FAILED && errno == EACCES,
		     "a writable MAP_DUMB mapping of a read-only buffer: %s\n",
		     p == MAP_FAILED ? strerror(errno) : "it was made");
	p = mmap(NULL, data.len, PROT_READ, MAP_SHARED, drm, md.offset);
	igt_assert(p != MAP_FAILED);
	igt_assert_eq(p[0], 0);
	igt_assert_f(mprotect(p, data.len, PROT_READ | PROT_WRITE) == -1 && errno == EACCES,
		     "mprotect made a read-only buffer's mapping writable\n");
	munmap(p, data.len);
	igt_assert_eq(gem_close(drm, md.handle), 0);
	close(data.fd);
}

#define CONFIGFS	"/sys/kernel/config"
#define VKMS_DEV	CONFIGFS "/vkms/devmem-igt"

static int write_file(const char *path, const char *value)
{
	int fd = open(path, O_WRONLY), ret = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, value, strlen(value)) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

/* A configfs vkms device: one primary plane, CRTC, encoder and connector. */
static void configfs_device_make(void)
{
	static const char * const dirs[] = {
		VKMS_DEV, VKMS_DEV "/planes/plane0", VKMS_DEV "/crtcs/crtc0",
		VKMS_DEV "/encoders/encoder0", VKMS_DEV "/connectors/connector0",
	};
	static const char * const links[][2] = {
		{ VKMS_DEV "/crtcs/crtc0", VKMS_DEV "/planes/plane0/possible_crtcs/crtc0" },
		{ VKMS_DEV "/crtcs/crtc0", VKMS_DEV "/encoders/encoder0/possible_crtcs/crtc0" },
		{ VKMS_DEV "/encoders/encoder0",
		  VKMS_DEV "/connectors/connector0/possible_encoders/encoder0" },
	};
	unsigned int i;

	if (access(CONFIGFS "/vkms", F_OK))
		igt_assert_f(mount("none", CONFIGFS, "configfs", 0, NULL) == 0,
			     "mounting configfs: %s\n", strerror(errno));
	for (i = 0; i < ARRAY_SIZE(dirs); i++)
		igt_assert_f(mkdir(dirs[i], 0755) == 0, "mkdir %s: %s\n", dirs[i],
			     strerror(errno));
	for (i = 0; i < ARRAY_SIZE(links); i++)
		igt_assert_f(symlink(links[i][0], links[i][1]) == 0, "ln -s %s: %s\n",
			     links[i][1], strerror(errno));
	igt_assert_eq(write_file(VKMS_DEV "/planes/plane0/type", "1"), 0);
}

static void configfs_device_remove(void)
{
	write_file(VKMS_DEV "/enabled", "0");
	unlink(VKMS_DEV "/connectors/connector0/possible_encoders/encoder0");
	unlink(VKMS_DEV "/encoders/encoder0/possible_crtcs/crtc0");
	unlink(VKMS_DEV "/planes/plane0/possible_crtcs/crtc0");
	rmdir(VKMS_DEV "/connectors/connector0");
	rmdir(VKMS_DEV "/encoders/encoder0");
	rmdir(VKMS_DEV "/crtcs/crtc0");
	rmdir(VKMS_DEV "/planes/plane0");
	rmdir(VKMS_DEV);
}

/*
 * The devmem_region attribute of a vkms device made through configfs: its
 * dumb buffers come from the region it names; it cannot change while the
 * device is enabled (EBUSY); a name no live region has makes dumb buffers
 * fail with ENODEV.
 */
static void test_configfs(const char *region)
{
	struct usage base, now;
	char value[64] = "";
	struct dumb d;
	int default_minor, drm, fd;

	fd = drm_open_driver_minor("vkms", &default_minor);
	igt_assert_fd(fd);
	close(fd);
	configfs_device_remove();
	configfs_device_make();

	igt_assert_eq(write_file(VKMS_DEV "/devmem_region", region), 0);
	fd = open(VKMS_DEV "/devmem_region", O_RDONLY);
	igt_assert_fd(fd);
	igt_assert(read(fd, value, sizeof(value) - 1) > 0);
	close(fd);
	igt_assert_f(!strncmp(value, region, strlen(region)) && value[strlen(region)] == '\n',
		     "devmem_region reads back \"%s\"\n", value);
	igt_assert_eq(write_file(VKMS_DEV "/enabled", "1"), 0);
	igt_assert_eq(write_file(VKMS_DEV "/devmem_region", "other"), -EBUSY);

	drm = drm_open_driver_except("vkms", default_minor, NULL);
	igt_assert_fd(drm);
	usage_of(region, &base);
	igt_assert_eq(dumb_create(drm, DUMB_W, DUMB_H, 32, &d), 0);
	usage_of(region, &now);
	igt_assert_eq_u64(now.used - base.used, d.size);
	igt_assert_eq(gem_close(drm, d.handle), 0);
	close(drm);
	usage_back_to(region, &base);

	igt_assert_eq(write_file(VKMS_DEV "/enabled", "0"), 0);
	igt_assert_eq(write_file(VKMS_DEV "/devmem_region", "no-such-region"), 0);
	igt_assert_eq(write_file(VKMS_DEV "/enabled", "1"), 0);
	drm = drm_open_driver_except("vkms", default_minor, NULL);
	igt_assert_fd(drm);
	igt_assert_eq(dumb_create(drm, DUMB_W, DUMB_H, 32, &d), -ENODEV);
	close(drm);

	configfs_device_remove();
	igt_assert(access(VKMS_DEV, F_OK) && errno == ENOENT);
}

#define IVSHMEM_DRIVER	"/sys/bus/pci/drivers/devmem_ivshmem"
/* The region withdrawn under vkms: not the one vkms allocates from. */
#define OTHER_REGION	"ivshmem1"

/* The word under @key in the debugfs stats of region @region. */
static void region_stat_word(const char *region, const char *key, char *out, size_t n)
{
	char path[128], line[320], format[32];
	FILE *f;

	igt_assert(n >= 64 && n <= 256);
	snprintf(path, sizeof(path), DEVMEM_DEBUGFS "/%s/stats", region);
	snprintf(format, sizeof(format), "%s: %%%zus", key, n - 1);
	f = fopen(path, "r");
	igt_assert_f(f, "no debugfs stats of region %s\n", region);
	out[0] = 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, format, out) == 1)
			break;
	fclose(f);
	igt_assert_f(out[0] && strlen(out) < n - 1, "region %s has no %s\n", region, key);
}

/* The PCI device of region @region, from its debugfs stats. */
static void region_device(const char *region, char *dev, size_t n)
{
	region_stat_word(region, "device", dev, n);
}

#define CGROUP		"/sys/fs/cgroup"
#define CGROUP_DUMB	CGROUP "/devmem-igt-dumb"

/* Region @name's value in the dmem file @path ("<name> <value>" lines), or -1. */
static long long dmem_value(const char *path, const char *name)
{
	char line[512];
	size_t n = strlen(name);
	long long v = -1;
	FILE *f = fopen(path, "r");

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, name, n) && line[n] == ' ')
			v = strncmp(line + n + 1, "max", 3) ? atoll(line + n + 1) : -2;
	if (f)
		fclose(f);
	return v;
}

static void enter_cgroup(const char *cg)
{
	char path[128], pid[32];

	snprintf(path, sizeof(path), "%s/cgroup.procs", cg);
	snprintf(pid, sizeof(pid), "%d", getpid());
	igt_assert_eq(write_file(path, pid), 0);
}

/*
 * vkms allocates its dumb buffers through the in-kernel API, in the task
 * that asks: they are charged to its dmem cgroup, whose dmem.max refuses
 * the next one with ENOMEM; closing gives the charge back.
 */
static void test_dumb_charged(int drm, const char *region)
{
	unsigned long long chunk = region_stat(region, "chunk_size");
	char name[256], limit[320];
	struct dumb d = { 0 }, more = { 0 };
	long long charged = -1;
	int ret, i;

	region_stat_word(region, "dmem", name, sizeof(name));
	igt_assert_eq(write_file(CGROUP "/cgroup.subtree_control", "+dmem"), 0);
	igt_assert(!mkdir(CGROUP_DUMB, 0755) || errno == EEXIST);
	enter_cgroup(CGROUP_DUMB);
	igt_assert_eq(dmem_value(CGROUP_DUMB "/dmem.current", name), 0);

	ret = dumb_create(drm, DUMB_W, DUMB_H, 32, &d);
	igt_assert_f(ret == 0, "dumb buffer: %s\n", strerror(-ret));
	charged = dmem_value(CGROUP_DUMB "/dmem.current", name);
	igt_info("dumb buffer of %llu bytes: %lld bytes charged to %s\n", d.size, charged, name);
	igt_assert_eq_u64(charged, align_up(d.size, chunk));

	snprintf(limit, sizeof(limit), "%s %lld", name, charged);
	igt_assert_eq(write_file(CGROUP_DUMB "/dmem.max", limit), 0);
	igt_assert_eq(dumb_create(drm, DUMB_W, DUMB_H, 32, &more), -ENOMEM);
	igt_assert_eq(dmem_value(CGROUP_DUMB "/dmem.current", name), charged);

	igt_assert_eq(gem_close(drm, d.handle), 0);
	/* vkms may still hold the buffer for a moment: up to 2 s. */
	for (i = 0; i < 20 && dmem_value(CGROUP_DUMB "/dmem.current", name); i++)
		usleep(100 * 1000);
	igt_assert_eq(dmem_value(CGROUP_DUMB "/dmem.current", name), 0);
	enter_cgroup(CGROUP);
	igt_assert_eq(rmdir(CGROUP_DUMB), 0);
}

static sigjmp_buf sigbus_jmp;

static void on_sigbus(int sig)
{
	siglongjmp(sigbus_jmp, sig);
}

/* Whether reading @p faults with SIGBUS. */
static int read_faults(const unsigned char *p)
{
	struct sigaction sa = { .sa_handler = on_sigbus }, old;
	int faulted;

	sigaction(SIGBUS, &sa, &old);
	faulted = sigsetjmp(sigbus_jmp, 1);
	if (!faulted)
		(void)__atomic_load_n(p, __ATOMIC_RELAXED);
	sigaction(SIGBUS, &old, NULL);
	return faulted == SIGBUS;
}

/*
 * A buffer of another region imported into vkms (an object on device
 * memory: MAP_DUMB takes it) and scanned out when its device is unbound:
 * vkms goes on composing, from the zeroed page revocation puts under its
 * kernel mapping, so the pipe shows what a zero-filled buffer shows; the
 * MAP_DUMB mapping faults with SIGBUS; taking the framebuffer down and
 * closing everything works, without a WARN; the device binds again.
 * KMS needs the master: @drm hands it over for the test.
 */
static void test_withdrawal(int drm)
{
	unsigned int handle = 0, fb = 0, black_fb = 0, crc_img = 0, crc_black = 0, crc_gone = 0;
	unsigned long taint = kernel_taint();
	struct drm_mode_map_dumb md = { 0 };
	unsigned char *map, *gem_map, row[64];
	char dev[64];
	struct dumb black = { 0 };
	struct layout l;
	struct kms k;
	int buf, i;

	igt_assert_f(region_stat(OTHER_REGION, "size") > 0, "no region %s\n", OTHER_REGION);
	region_device(OTHER_REGION, dev, sizeof(dev));
	igt_assert_eq(ioctl(drm, DRM_IOCTL_DROP_MASTER, 0), 0);
	igt_assert_eq(kms_open(&k), 0);
	layout_init(&l, DRM_FORMAT_XRGB8888, k.mode.hdisplay, k.mode.vdisplay, 0);

	buf = heap_alloc_named(OTHER_REGION, l.size);
	igt_assert_f(buf >= 0, "%s: %s\n", OTHER_REGION, strerror(-buf));
	map = mmap(NULL, l.size, PROT_READ | PROT_WRITE, MAP_SHARED, buf, 0);
	igt_assert(map != MAP_FAILED);
	image_write(map, &l, 0x5a);
	memcpy(row, map + layout_at(&l, 0, l.h / 2), sizeof(row));
	munmap(map, l.size);
	igt_assert_eq(prime_fd_to_handle(k.fd, buf, &handle), 0);
	md.handle = handle;
	igt_assert_f(ioctl(k.fd, DRM_IOCTL_MODE_MAP_DUMB, &md) == 0,
		     "MAP_DUMB of the imported buffer: %s\n", strerror(errno));
	gem_map = mmap(NULL, l.size, PROT_READ, MAP_SHARED, k.fd, md.offset);
	igt_assert(gem_map != MAP_FAILED);
	igt_assert(!memcmp(gem_map + layout_at(&l, 0, l.h / 2), row, sizeof(row)));
	igt_assert_eq(layout_fb(k.fd, &l, handle, &fb), 0);

	/* What a zero-filled buffer shows: a dumb buffer of the vkms region. */
	igt_assert_eq(dumb_create(k.fd, l.w, l.h, 32, &black), 0);
	igt_assert_eq(layout_fb(k.fd, &l, black.handle, &black_fb), 0);
	igt_assert_eq(kms_show(&k, black_fb, l.w, l.h, DRM_MODE_ROTATE_0, 0, NULL), 0);
	igt_assert_eq(kms_crc(&k, &crc_black), 0);
	igt_assert_eq(kms_show(&k, fb, l.w, l.h, DRM_MODE_ROTATE_0, 0, NULL), 0);
	igt_assert_eq(kms_crc(&k, &crc_img), 0);
	igt_assert_neq_u32(crc_img, crc_black);

	igt_assert_eq(write_file(IVSHMEM_DRIVER "/unbind", dev), 0);
	igt_assert_eq(kms_crc(&k, &crc_gone), 0);
	igt_info("withdrawn under vkms: crc %08x, image %08x, zero-filled %08x\n", crc_gone,
		 crc_img, crc_black);
	igt_assert_eq_u32(crc_gone, crc_black);
	igt_assert(read_faults(gem_map + layout_at(&l, l.w / 2, l.h / 2)));
	igt_assert_eq(heap_alloc_named(OTHER_REGION, 4096), -ENODEV);

	igt_assert_eq(kms_off(&k), 0);
	igt_assert_eq(fb_remove(k.fd, fb), 0);
	igt_assert_eq(fb_remove(k.fd, black_fb), 0);
	munmap(gem_map, l.size);
	igt_assert_eq(gem_close(k.fd, handle), 0);
	igt_assert_eq(gem_close(k.fd, black.handle), 0);
	close(buf);
	close(k.fd);
	igt_assert_eq(ioctl(drm, DRM_IOCTL_SET_MASTER, 0), 0);
	igt_assert_f(!((kernel_taint() ^ taint) & TAINT_WARN_BIT), "the kernel WARNed\n");

	igt_assert_eq(write_file(IVSHMEM_DRIVER "/bind", dev), 0);
	for (i = 0; i < 50 && region_stat(OTHER_REGION, "size") <= 0; i++)
		usleep(100 * 1000);
	buf = heap_alloc_named(OTHER_REGION, 4096);
	igt_assert_f(buf >= 0, "%s after binding again: %s\n", OTHER_REGION, strerror(-buf));
	close(buf);
}

igt_main
{
	char region[64] = "";
	int drm = -1;

	igt_fixture {
		igt_require_f(vkms_devmem_region(region, sizeof(region)),
			      "vkms is not in device-memory mode (" DEVMEM_PARAM ")\n");
		drm = drm_open_driver_minor("vkms", NULL);
		igt_assert_fd(drm);
		igt_assert_f(region_stat(region, "size") > 0, "no region %s in debugfs\n", region);
		igt_info("vkms takes its dumb buffers from region %s\n", region);
	}

	igt_describe("A dumb buffer's export is listed in the region; its use grows by its size.");
	igt_subtest("dumb-buffer-in-region")
		test_dumb_in_region(drm, region);

	igt_describe("MAP_DUMB writes show through the dma-buf's mmap and in device memory.");
	igt_subtest("dumb-map-is-device-memory")
		test_dumb_map(drm, region);

	igt_describe("Closing dumb buffers, exports and mappings gives the region back.");
	igt_subtest("dumb-close-restores-region")
		test_close_restores(drm, region);

	igt_describe("Dumb buffers until the region is full: ENOMEM, no WARN, all given back.");
	igt_subtest("dumb-exhaustion-enomem")
		test_exhaustion(drm, region);

	igt_describe("A dumb buffer's exported dma-buf imports as the dumb buffer's own handle.");
	igt_subtest("dumb-self-import")
		test_self_import(drm, region);

	igt_describe("A read-only heap buffer imported into vkms maps read-only through MAP_DUMB.");
	igt_subtest("readonly-import-maps-readonly")
		test_readonly_import(drm, region);

	igt_describe("Dumb buffers are charged to the dmem cgroup of the task that creates them.");
	igt_subtest("dumb-charged-to-dmem-cgroup")
		test_dumb_charged(drm, region);

	igt_describe("A scanned-out buffer's device is unbound: vkms shows zeroes, mmap faults.");
	igt_subtest("scanout-survives-withdrawal")
		test_withdrawal(drm);

	igt_describe("A configfs vkms device's devmem_region: its dumb buffers, EBUSY, ENODEV.");
	igt_subtest("configfs-devmem-region")
		test_configfs(region);

	igt_fixture {
		close(drm);
	}
}
