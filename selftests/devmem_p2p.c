// SPDX-License-Identifier: GPL-2.0
/*
 * Peer-to-peer DMA into devmem-heap buffers by a real device. QEMU's edu,
 * driven through the edu_p2p test driver (/dev/edu_p2p<N>), imports buffers
 * of every heap of every ivshmem region as a dynamic importer and DMAs
 * through the bus addresses the heap hands out:
 *   - the table: one entry per range of the buffer in its region (debugfs),
 *     at the BAR's bus address (sysfs) plus the range's offset;
 *   - a round trip: user data -> edu -> the buffer, read back through mmap,
 *     then the buffer -> edu -> user memory;
 *   - refusals: an edu on the root bus (no peer-to-peer route), an importer
 *     that cannot be revoked, a table beyond the importer's DMA mask; the
 *     region's refused_maps counter and log line;
 *   - bad input to the test uAPI: a clean errno and no DMA;
 *   - unbinding the ivshmem device revokes the import (invalidate_mappings),
 *     unbinding edu drops it;
 *   - several processes DMAing while others allocate and free.
 *
 * With the argument "pattern" it instead has edu write a random pattern (or
 * the text of a further argument, up to 64 bytes) into a buffer of every
 * heap and prints, for the host to find in the device's backing file:
 *   expect <region> <region size> <offset in the BAR> <pattern in hex>
 * The buffers stay allocated until power-off.
 *
 * With the argument "edu-out-of-bounds" it makes edu fail in QEMU, for the
 * harness self-check.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/klog.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "kselftest.h"
#include "dma_heap_util.h"
#include "devmem_regions.h"
#include "devmem_importers.h"

#define PAGE		4096ULL
#define EDU_DRIVER	"/sys/bus/pci/drivers/edu_p2p"
#define IVSHMEM_DRIVER	"/sys/bus/pci/drivers/devmem_ivshmem"
#define DMA_PROCS	3
#define ALLOC_PROCS	2

/* The bus address range of a region's BAR, from sysfs. */
static int region_bar(const char *region, unsigned long long *start,
		      unsigned long long *end)
{
	char dev[64], path[128], line[256];
	long long bar = stat_of(region, "bar");
	int i, found = 0;
	FILE *f;

	if (bar < 0 || !stat_str(region, "device", dev, sizeof(dev)))
		return 0;
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/resource", dev);
	f = fopen(path, "r");
	if (!f)
		return 0;
	for (i = 0; i <= bar && fgets(line, sizeof(line), f); i++)
		found = i == bar && sscanf(line, "%llx %llx", start, end) == 2;
	fclose(f);
	return found;
}

/* The number of kernel log lines holding @text; -1 if the log is unreadable. */
static int dmesg_count(const char *text)
{
	int len = klogctl(10, NULL, 0), n = 0;
	char *buf, *line, *save;

	if (len <= 0)
		return -1;
	buf = calloc(1, len + 1);
	if (!buf)
		return -1;
	len = klogctl(3, buf, len);
	for (line = strtok_r(buf, "\n", &save); len > 0 && line;
	     line = strtok_r(NULL, "\n", &save))
		n += !!strstr(line, text);
	free(buf);
	return len > 0 ? n : -1;
}

/* The log line of a region refusing a DMA mapping to @importer for @why. */
static const char *refusal_line(const struct region *r, const struct edu *importer,
				const char *why, char *out, size_t n)
{
	snprintf(out, n, "devmem-heap: %s: no DMA mapping for importer %s: %s", r->name,
		 importer->pci, why);
	return out;
}

/* Whether bufinfo lists device @pci as attached to the buffer @ino. */
static int attached(unsigned long ino, const char *pci)
{
	char line[512];
	unsigned long lino;
	int in = 0, found = 0;
	FILE *f = fopen(BUFINFO, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%*u %*x %*x %*d %*s %lu", &lino) == 1)
			in = lino == ino;
		else if (in && strstr(line, pci))
			found = 1;
	}
	fclose(f);
	return found;
}

static void fill_random(unsigned char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = rand();
}

static const char *heap_name(const struct region *r, int contiguous, char *out,
			     size_t n)
{
	snprintf(out, n, "%s%s", r->name, contiguous ? "-contiguous" : "");
	return out;
}

/* Piece of a round trip: a range of the buffer. */
struct piece {
	unsigned long long off, len;
};

/*
 * One buffer of a heap, imported into the peer edu: its table, then a round
 * trip through three pieces of whole DMA chunks (the first, two across the
 * first block boundary, the last). Two results.
 */
static void test_heap(const struct region *r, int contiguous)
{
	unsigned long long size = (2ULL << 20) + 3 * PAGE, bar0, bar1;
	unsigned long long off[MAX_RANGES], len[MAX_RANGES];
	struct edu_p2p_range ranges[MAX_RANGES];
	struct edu_p2p_info info;
	unsigned char *in = NULL, *out = NULL, *map = MAP_FAILED;
	long long t_to = 0, t_from = 0, t0;
	unsigned long long moved = 0;
	int heap = open_heap(r->name, contiguous), edu = edu_open(&peer);
	int fd = -1, n = -1, ok = 0, i, rt = 0;
	struct piece pieces[3];
	char name[80];

	heap_name(r, contiguous, name, sizeof(name));
	if (heap < 0 || edu < 0 || !region_bar(r->name, &bar0, &bar1))
		goto out;
	fd = heap_alloc(heap, size, O_RDWR, 0);
	if (fd < 0 || edu_import(edu, fd, EDU_P2P_REVOCABLE, 0))
		goto out;
	n = buffer_ranges(r->name, ino_of(fd), off, len, MAX_RANGES);
	if (n < 1 || edu_info(edu, &info, ranges, MAX_RANGES))
		goto out;
	/* Scattered over several blocks, so that a piece crosses an entry. */
	ok = info.entries == (unsigned int)n && (contiguous ? n == 1 : n > 1) &&
	     info.size == size &&
	     info.flags == (EDU_P2P_IMPORTED | EDU_P2P_MAPPED | EDU_P2P_IS_REVOCABLE);
	for (i = 0; ok && i < n; i++) {
		ok = ranges[i].addr == bar0 + off[i] && ranges[i].len == len[i] &&
		     ranges[i].addr + ranges[i].len - 1 <= bar1;
		if (!ok)
			ksft_print_msg("entry %d: %#llx+%#llx, range %#llx+%#llx, BAR %#llx\n",
				       i, ranges[i].addr, ranges[i].len, off[i], len[i], bar0);
	}
	ksft_print_msg("%s: %d table entries, first at bus address %#llx (BAR %#llx-%#llx)\n",
		       name, info.entries, ranges[0].addr, bar0, bar1);

	/* The round trip. */
	pieces[0] = (struct piece){ 0, EDU_P2P_CHUNK };
	pieces[1] = (struct piece){ (n > 1 ? len[0] : 1ULL << 20) - EDU_P2P_CHUNK,
				    2 * EDU_P2P_CHUNK };
	pieces[2] = (struct piece){ size - EDU_P2P_CHUNK, EDU_P2P_CHUNK };
	in = malloc(size);
	out = calloc(1, size);
	map = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	if (!in || !out || map == MAP_FAILED)
		goto out;
	fill_random(in, size);
	rt = 1;
	for (i = 0; rt && i < 3; i++) {
		t0 = now_ms();
		rt = !edu_dma(edu, in + pieces[i].off, pieces[i].off, pieces[i].len,
			      EDU_P2P_TO_BUF);
		t_to += now_ms() - t0;
		moved += pieces[i].len;
	}
	for (i = 0; rt && i < 3; i++) {
		const struct piece *p = &pieces[i];

		/* The bytes, and none around them: the buffer came zeroed. */
		rt = !memcmp(map + p->off, in + p->off, p->len) &&
		     (!p->off || !map[p->off - 1]) &&
		     (p->off + p->len == size || !map[p->off + p->len]);
		if (!rt)
			ksft_print_msg("piece %d: the mapping differs\n", i);
	}
	for (i = 0; rt && i < 3; i++) {
		t0 = now_ms();
		rt = !edu_dma(edu, out + pieces[i].off, pieces[i].off, pieces[i].len,
			      EDU_P2P_FROM_BUF) &&
		     !memcmp(out + pieces[i].off, in + pieces[i].off, pieces[i].len);
		t_from += now_ms() - t0;
	}
	if (rt)
		ksft_print_msg("%s: edu: %llu B in %lld ms (%lld B/s), out %lld ms (%lld B/s)\n",
			       name, moved, t_to, moved * 1000 / (t_to ? t_to : 1),
			       t_from, moved * 1000 / (t_from ? t_from : 1));
out:
	ksft_test_result(ok, "p2p table: %s: %d entries, one per range, inside the BAR\n",
			 name, n);
	ksft_test_result(rt, "p2p round trip: %s: user -> edu -> buffer, mmap, back to user\n",
			 name);
	if (map != MAP_FAILED)
		munmap(map, size);
	free(in);
	free(out);
	if (fd >= 0)
		close(fd);
	if (edu >= 0)
		close(edu);
	if (heap >= 0)
		close(heap);
}

/*
 * Imports @fd into @importer, opened as @edu, with @flags; the heap must
 * refuse it: refused_maps reaches @refused and one line giving @why is
 * logged. Returns the import's error, or -EIO if the count or the line is
 * wrong.
 */
static int refused_import(const struct region *r, const struct edu *importer, int edu, int fd,
			  unsigned int flags, long long refused, const char *why)
{
	char line[256];
	int before, ret;

	if (fd < 0)
		return -EBADF;
	/* The log is rate-limited to a line a second: let an earlier one age. */
	sleep(1);
	refusal_line(r, importer, why, line, sizeof(line));
	before = dmesg_count(line);
	ret = edu_import(edu, fd, flags, 0);
	if (stat_of(r->name, "refused_maps") != refused || before < 0 ||
	    dmesg_count(line) != before + 1)
		return -EIO;
	return ret;
}

/*
 * Refused importers: edu on the root bus, a non-revocable import, and a
 * table beyond a 28-bit DMA mask. Each refusal by the heap moves
 * refused_maps by one and is logged (once a second at most).
 */
static void test_refusals(const struct region *r)
{
	int heap = open_heap(r->name, 0), fd, e_root, e_peer, ret;
	long long refused = stat_of(r->name, "refused_maps");
	unsigned long long transfers, bar0, bar1;
	struct edu_p2p_info info;
	int ok;

	fd = heap >= 0 ? heap_alloc(heap, 64 * 1024, O_RDWR, 0) : -1;
	e_root = edu_open(&root);
	e_peer = edu_open(&peer);
	transfers = edu_transfers(e_peer);

	ret = refused_import(r, &root, e_root, fd, EDU_P2P_REVOCABLE, refused + 1,
			     "it has no peer-to-peer route to the BAR");
	ksft_test_result(ret == -EOPNOTSUPP,
			 "p2p refused: %s: edu on the root bus: %s, no-route line logged\n",
			 r->name, strerror(-ret));
	ret = refused_import(r, &peer, e_peer, fd, 0, refused + 2,
			     "it cannot be revoked (no invalidate_mappings)");
	ksft_test_result(ret == -EOPNOTSUPP, "p2p refused: %s: non-revocable import: %s, logged\n",
			 r->name, strerror(-ret));

	/*
	 * The heap hands the table out; the importer finds it out of reach of
	 * a 28-bit mask (QEMU places the BARs above 256 MiB).
	 */
	if (!region_bar(r->name, &bar0, &bar1) || bar0 < (1ULL << 28)) {
		ksft_test_result_skip("edu refuses a table beyond a 28-bit mask: BAR below it\n");
		goto out;
	}
	ret = edu_import(e_peer, fd, EDU_P2P_REVOCABLE, 28);
	ok = fd >= 0 && ret == -EINVAL &&
	     stat_of(r->name, "refused_maps") == refused + 2 &&
	     !edu_info(e_peer, &info, NULL, 0) && info.flags == 0 &&
	     info.transfers == transfers;
	ksft_test_result(ok, "edu refuses a table beyond a 28-bit mask: %s, no DMA\n",
			 strerror(-ret));
out:
	close(e_root);
	close(e_peer);
	if (fd >= 0)
		close(fd);
	if (heap >= 0)
		close(heap);
}

/* Bad input to the edu uAPI: each gets its errno and no transfer runs. */
static void test_bad_input(const struct region *r)
{
	unsigned long long size = 64 * 1024, transfers;
	int heap = open_heap(r->name, 0), edu = edu_open(&peer);
	int fd = heap >= 0 ? heap_alloc(heap, size, O_RDWR, 0) : -1;
	int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	struct edu_p2p_import imp = { .fd = fd, .flags = EDU_P2P_REVOCABLE, .pad = 1 };
	struct edu_p2p_dma bad_dir = { .len = 4, .dir = 2 };
	unsigned char data[8] = { 1, 2, 3, 4, 5, 6, 7, 8 }, *map;
	int ok = fd >= 0 && edu >= 0 && null >= 0;

	transfers = edu_transfers(edu);
#define EXPECT(call, err) do {							\
		int __r = (call), __e = (err);					\
		if (__r != __e) {						\
			ok = 0;							\
			ksft_print_msg("%s: %d, wanted %d\n", #call, __r, __e);	\
		}								\
	} while (0)
	EXPECT(edu_import(edu, -1, EDU_P2P_REVOCABLE, 0), -EBADF);
	EXPECT(edu_import(edu, null, EDU_P2P_REVOCABLE, 0), -EINVAL);
	EXPECT(edu_import(edu, fd, 0x80, 0), -EINVAL);
	EXPECT(edu_import(edu, fd, EDU_P2P_REVOCABLE, 65), -EINVAL);
	EXPECT(ioctl(edu, EDU_P2P_IOCTL_IMPORT, &imp) ? -errno : 0, -EINVAL);
	EXPECT(edu_dma(edu, data, 0, 4, EDU_P2P_TO_BUF), -ENOENT);
	EXPECT(ioctl(edu, EDU_P2P_IOCTL_DROP) ? -errno : 0, -ENOENT);
	EXPECT(edu_import(edu, fd, EDU_P2P_REVOCABLE, 0), 0);
	EXPECT(edu_import(edu, fd, EDU_P2P_REVOCABLE, 0), -EBUSY);
	EXPECT(edu_dma(edu, data, 0, 0, EDU_P2P_TO_BUF), -EINVAL);
	EXPECT(edu_dma(edu, data, 0, 3, EDU_P2P_TO_BUF), -EINVAL);
	EXPECT(edu_dma(edu, data, 2, 4, EDU_P2P_TO_BUF), -EINVAL);
	EXPECT(edu_dma(edu, data, size, 4, EDU_P2P_TO_BUF), -EINVAL);
	EXPECT(edu_dma(edu, data, size - 4, 8, EDU_P2P_FROM_BUF), -EINVAL);
	EXPECT(edu_dma(edu, data, ~3ULL, 8, EDU_P2P_TO_BUF), -EINVAL);
	EXPECT(edu_dma(edu, data, 0, EDU_P2P_MAX_LEN + 4, EDU_P2P_TO_BUF), -EINVAL);
	EXPECT(ioctl(edu, EDU_P2P_IOCTL_DMA, &bad_dir) ? -errno : 0, -EINVAL);
	EXPECT(edu_dma(edu, NULL, 0, 8, EDU_P2P_TO_BUF), -EFAULT);
	EXPECT(ioctl(edu, _IO(EDU_P2P_IOCTL_BASE, 99)) ? -errno : 0, -ENOTTY);
	if (edu_transfers(edu) != transfers) {
		ok = 0;
		ksft_print_msg("edu ran %llu transfers\n", edu_transfers(edu) - transfers);
	}
	map = fd >= 0 ? mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0) : MAP_FAILED;
	ok = ok && map != MAP_FAILED && !map[0] && !map[size - 1];
	if (map != MAP_FAILED)
		munmap(map, size);
	EXPECT(ioctl(edu, EDU_P2P_IOCTL_DROP) ? -errno : 0, 0);
#undef EXPECT
	ksft_test_result(ok, "edu uAPI bad input: clean errno for each, no DMA issued\n");
	close(null);
	close(edu);
	if (fd >= 0)
		close(fd);
	if (heap >= 0)
		close(heap);
}

/*
 * Unbinding the ivshmem device withdraws its region: the edu import is told
 * (invalidate_mappings) and gives its table back; its next DMA cannot map
 * again and fails with ENODEV. The device binds again.
 */
static void test_revoke(const struct region *r)
{
	unsigned long long transfers;
	int heap = open_heap(r->name, 0), edu = edu_open(&peer), fd = -1, ok = 0;
	unsigned char data[64];
	struct edu_p2p_info info;
	char dev[64] = "";

	fill_random(data, sizeof(data));
	if (heap < 0 || edu < 0 || !stat_str(r->name, "device", dev, sizeof(dev)))
		goto out;
	fd = heap_alloc(heap, 64 * 1024, O_RDWR, 0);
	if (fd < 0 || edu_import(edu, fd, EDU_P2P_REVOCABLE, 0) ||
	    edu_dma(edu, data, 0, sizeof(data), EDU_P2P_TO_BUF))
		goto out;
	if (write_str(IVSHMEM_DRIVER "/unbind", dev))
		goto out;
	transfers = edu_transfers(edu);
	ok = !edu_info(edu, &info, NULL, 0) &&
	     info.flags == (EDU_P2P_IMPORTED | EDU_P2P_REVOKED | EDU_P2P_IS_REVOCABLE) &&
	     info.invalidations == 1 && info.entries == 0 &&
	     edu_dma(edu, data, 0, sizeof(data), EDU_P2P_FROM_BUF) == -ENODEV &&
	     edu_transfers(edu) == transfers;
	close(fd);
	fd = -1;
	close(edu);
	edu = -1;
	ok = !write_str(IVSHMEM_DRIVER "/bind", dev) && ok;
out:
	ksft_test_result(ok, "p2p revoke: unbinding %s invalidates the edu import; DMA: ENODEV\n",
			 dev);
	if (fd >= 0)
		close(fd);
	if (edu >= 0)
		close(edu);
	if (heap >= 0)
		close(heap);
}

/* Unbinding edu drops its imports: the buffer loses the attachment. */
static void test_edu_unbind(const struct region *r)
{
	int heap = open_heap(r->name, 0), edu = edu_open(&peer), fd = -1, ok = 0;
	struct edu_p2p_info info;
	unsigned char data[64];
	struct edu pci = peer;

	if (heap < 0 || edu < 0)
		goto out;
	fd = heap_alloc(heap, 64 * 1024, O_RDWR, 0);
	if (fd < 0 || edu_import(edu, fd, EDU_P2P_REVOCABLE, 0) ||
	    attached(ino_of(fd), pci.pci) != 1)
		goto out;
	if (write_str(EDU_DRIVER "/unbind", pci.pci))
		goto out;
	ok = attached(ino_of(fd), pci.pci) == 0 &&
	     !edu_info(edu, &info, NULL, 0) && info.flags == 0 &&
	     edu_import(edu, fd, EDU_P2P_REVOCABLE, 0) == -ENODEV &&
	     edu_dma(edu, data, 0, sizeof(data), EDU_P2P_TO_BUF) == -ENOENT;
	ok = !write_str(EDU_DRIVER "/bind", pci.pci) && ok;
	find_edus();
	ok = ok && !strcmp(peer.pci, pci.pci);
out:
	ksft_test_result(ok, "edu unbind: its imports are unmapped and detached\n");
	if (fd >= 0)
		close(fd);
	if (edu >= 0)
		close(edu);
	if (heap >= 0)
		close(heap);
}

/* A DMA child: one buffer of its own, a 2 KiB round trip at an offset. */
static int dma_child(const struct region *r, int i)
{
	unsigned long long size = 64 * 1024 + i * PAGE, at = i * PAGE + 512;
	int heap = open_heap(r->name, i & 1), edu = edu_open(&peer), fd;
	unsigned char in[2048], out[2048], *map;

	srand(getpid());
	fill_random(in, sizeof(in));
	fd = heap >= 0 ? heap_alloc(heap, size, O_RDWR, 0) : -1;
	if (fd < 0 || edu < 0 || edu_import(edu, fd, EDU_P2P_REVOCABLE, 0) ||
	    edu_dma(edu, in, at, sizeof(in), EDU_P2P_TO_BUF) ||
	    edu_dma(edu, out, at, sizeof(out), EDU_P2P_FROM_BUF) ||
	    memcmp(in, out, sizeof(in)))
		return 1;
	map = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	return map == MAP_FAILED || memcmp(map + at, in, sizeof(in));
}

/*
 * An allocating child: allocates and frees until @stop_fd reads end of file
 * (the parent closed its end); exits 0 if it allocated.
 */
static int alloc_child(const struct region *r, int i, int stop_fd)
{
	int heap = open_heap(r->name, i & 1), allocs = 0, fd;
	char c;

	srand(getpid());
	fcntl(stop_fd, F_SETFL, O_NONBLOCK);
	while (heap >= 0 && read(stop_fd, &c, 1) < 0 && errno == EAGAIN) {
		fd = heap_alloc(heap, (1 + rand() % 64) * PAGE, O_RDWR, 0);
		if (fd < 0 && fd != -ENOMEM)
			return 1;
		if (fd >= 0) {
			close(fd);
			allocs++;
		}
	}
	return allocs < 10;
}

static void test_concurrency(const struct region *r)
{
	pid_t dma[DMA_PROCS], alloc[ALLOC_PROCS];
	int i, status, stop[2], ok;

	if (pipe(stop)) {
		ksft_test_result_fail("p2p concurrency: pipe: %s\n", strerror(errno));
		return;
	}
	for (i = 0; i < ALLOC_PROCS; i++) {
		alloc[i] = fork();
		if (alloc[i] == 0) {
			close(stop[1]);
			_exit(alloc_child(r, i, stop[0]));
		}
	}
	for (i = 0; i < DMA_PROCS; i++) {
		dma[i] = fork();
		if (dma[i] == 0)
			_exit(dma_child(r, i));
	}
	/* Every child is waited for, whatever the others did. */
	ok = 1;
	for (i = 0; i < DMA_PROCS; i++)
		ok = dma[i] > 0 && waitpid(dma[i], &status, 0) == dma[i] &&
		     WIFEXITED(status) && !WEXITSTATUS(status) && ok;
	/* End of file on the pipe stops the allocating children. */
	close(stop[1]);
	close(stop[0]);
	for (i = 0; i < ALLOC_PROCS; i++)
		ok = alloc[i] > 0 && waitpid(alloc[i], &status, 0) == alloc[i] &&
		     WIFEXITED(status) && !WEXITSTATUS(status) && ok;
	ok = ok && region_idle(r);
	ksft_test_result(ok, "p2p concurrency: %s: %d processes DMAing, %d allocating\n",
			 r->name, DMA_PROCS, ALLOC_PROCS);
}

/*
 * "pattern" mode: see the top of the file. Runs in a child that keeps the
 * buffers until power-off (pattern_mode()); returns 0 or 1.
 */
static int write_patterns(const char *text)
{
	int i, c, j, edu = edu_open(&peer);

	srand(time(NULL) ^ getpid());
	for (i = 0; i < nregions; i++) {
		for (c = 0; c < 2; c++) {
			const struct region *r = &regions[i];
			unsigned long long size = (1 << 20) + 5 * PAGE;
			/* 64-byte aligned: the pattern never crosses a page. */
			unsigned long long at = ((size_t)rand() % (size - 64)) & ~63ULL;
			int heap = open_heap(r->name, c), fd;
			unsigned char pat[64], *p;

			fd = heap >= 0 ? heap_alloc(heap, size, O_RDWR, 0) : -1;
			if (fd < 0 || edu < 0)
				goto fail;
			for (j = 0; j < (int)sizeof(pat); j++)
				pat[j] = text ? ' ' : rand();
			if (text)
				memcpy(pat, text, strnlen(text, sizeof(pat)));
			if (edu_import(edu, fd, EDU_P2P_REVOCABLE, 0) ||
			    edu_dma(edu, pat, at, sizeof(pat), EDU_P2P_TO_BUF) ||
			    ioctl(edu, EDU_P2P_IOCTL_DROP))
				goto fail;
			p = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
			if (p == MAP_FAILED || memcmp(p + at, pat, sizeof(pat)))
				goto fail;
			munmap(p, size);
			if (print_expect(r, fd, at, pat, sizeof(pat)))
				goto fail;
			/* Leak the fd on purpose: the bytes stay until power-off. */
			close(heap);
		}
	}
	return 0;
fail:
	return 1;
}

/*
 * "edu-out-of-bounds" mode, for the harness self-check only: starts a
 * transfer that ends at the end of edu's internal buffer, through the BAR's
 * sysfs resource, behind the driver's back. QEMU 7.2 reports it ("EDU: DMA
 * range ... out of bounds") and stops, which must fail the run.
 */
static int edu_out_of_bounds(void)
{
	/* Register writes in this order, each a single 32-bit store. */
	static const unsigned int writes[][2] = {
		{ 0x80, 0 },		/* source: guest RAM */
		{ 0x88, 0x40000 },	/* destination: the internal buffer */
		{ 0x90, 4096 },		/* the whole of it */
		{ 0x98, 1 },		/* run */
	};
	char path[96];
	unsigned int *regs;
	size_t i;
	int fd;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/resource0", peer.pci);
	fd = open(path, O_RDWR | O_SYNC);
	regs = fd < 0 ? MAP_FAILED : mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (regs == MAP_FAILED)
		return 1;
	for (i = 0; i < ARRAY_SIZE(writes); i++)
		__atomic_store_n(&regs[writes[i][0] / 4], writes[i][1], __ATOMIC_SEQ_CST);
	sleep(2);
	return 0;
}

int main(int argc, char **argv)
{
	int i;

	find_regions();
	find_edus();
	if (argc > 1 && !strcmp(argv[1], "edu-out-of-bounds"))
		return edu_out_of_bounds();
	if (argc > 1 && !strcmp(argv[1], "pattern"))
		return !nregions || !peer.pci[0] ||
		       pattern_mode(write_patterns, argc > 2 ? argv[2] : NULL);

	srand(time(NULL));
	ksft_print_header();
	ksft_set_plan(nregions * 2 * 2 + nregions * 3 + 4);
	if (!nregions || !peer.pci[0] || !root.pci[0])
		ksft_exit_fail_msg("need regions and edu (regions %d, edu %s, root-bus edu %s)\n",
				   nregions, peer.pci[0] ? peer.pci : "none",
				   root.pci[0] ? root.pci : "none");
	ksft_print_msg("edu %s (%s) behind the switch, %s (%s) on the root bus\n",
		       peer.pci, peer.path, root.pci, root.path);
	for (i = 0; i < nregions; i++) {
		ksft_print_msg("region %s: %llu bytes\n", regions[i].name, regions[i].size);
		test_heap(&regions[i], 0);
		test_heap(&regions[i], 1);
		test_refusals(&regions[i]);
	}
	test_bad_input(&regions[0]);
	test_revoke(&regions[0]);
	test_edu_unbind(&regions[0]);
	test_concurrency(&regions[nregions - 1]);
	ksft_finished();
}
