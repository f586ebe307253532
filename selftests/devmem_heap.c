// SPDX-License-Identifier: GPL-2.0
/*
 * devmem-heap regions of real devices (those with a "bar:" in their debugfs
 * stats) through the real dma-heap uAPI: bad input and its errno, the
 * region left fully free afterwards, mmap semantics (read-only buffers
 * included), the exporter's name, fragmentation of the contiguous heap,
 * exhaustion, import into vgem with a read-back through an in-kernel
 * importer's vmap of the buffer vgem exports back, CPU access waiting for
 * vgem's fences, unbind and bind of the device (with a mapped buffer: its
 * accesses get SIGBUS, the device binds again once it is closed), and a
 * multi-process stress run. Also: freed memory is cleared in the background,
 * a fault maps more than its page (a run of up to 2 MiB in one fault, even
 * across page tables), and an area whose offset is larger than its address
 * maps its own memory.
 *
 * With the argument "pattern" it instead writes a random pattern (or the
 * text of a further argument, up to 64 bytes) through mmap at a random
 * offset of a buffer of every region and prints, for the host to check in
 * the device's backing file:
 *   expect <region> <region size> <offset in the BAR> <pattern in hex>
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <linux/dma-buf.h>
#include <linux/dma-heap.h>
#include <drm/drm.h>
#include <drm/vgem_drm.h>

#include "kselftest.h"
#include "dma_heap_util.h"
#include "devmem_regions.h"
#include "devmem_importers.h"

#define PAGE		4096UL
#define STRESS_SECONDS	30
#define STRESS_PROCS	4

static void test_bad_input(const struct region *r)
{
	int heap = open_heap(r->name, 0), cheap = open_heap(r->name, 1);
	int ok = heap >= 0 && cheap >= 0;

	ok = ok && heap_alloc(heap, 0, O_RDWR, 0) == -EINVAL;
	ok = ok && heap_alloc(cheap, 0, O_RDWR, 0) == -EINVAL;
	ok = ok && heap_alloc(heap, r->size + PAGE, O_RDWR, 0) == -EINVAL;
	ok = ok && heap_alloc(cheap, r->size + PAGE, O_RDWR, 0) == -EINVAL;
	ok = ok && heap_alloc(heap, ~0ULL, O_RDWR, 0) == -EINVAL;
	ok = ok && heap_alloc(heap, PAGE, O_RDWR | O_NONBLOCK, 0) == -EINVAL;
	ok = ok && heap_alloc(cheap, PAGE, O_RDWR | 0x80000000, 0) == -EINVAL;
	ok = ok && heap_alloc(heap, PAGE, O_RDWR, 1) == -EINVAL;
	ok = ok && heap_alloc(cheap, PAGE, O_RDWR, 1ULL << 63) == -EINVAL;
	ok = ok && region_idle(r);
	ksft_test_result(ok, "%s: zero, oversized, bad flags: EINVAL\n", r->name);
	close(heap);
	close(cheap);
}

static void test_mmap_rules(const struct region *r)
{
	int heap = open_heap(r->name, 0);
	size_t size = 4 * PAGE;
	int fd = heap_alloc(heap, size - 100, O_RDWR | O_CLOEXEC, 0);
	int ok = fd >= 0, i;
	char exp[128] = "";
	unsigned char *p;

	if (ok) {
		/* Rounded up to the page size, exporter is the heap. */
		ok = lseek(fd, 0, SEEK_END) == (off_t)size;
		ok = ok && (fcntl(fd, F_GETFD) & FD_CLOEXEC);
		ok = ok && bufinfo_exporter(ino_of(fd), exp, sizeof(exp)) &&
		     !strcmp(exp, r->name);
		/* Past the end, at an offset beyond the size, private. */
		errno = 0;
		ok = ok && mmap(NULL, size + PAGE, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED &&
		     errno == EINVAL;
		errno = 0;
		ok = ok && mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, size) == MAP_FAILED &&
		     errno == EINVAL;
		errno = 0;
		ok = ok && mmap(NULL, 2 * PAGE, PROT_READ, MAP_SHARED, fd,
				3 * PAGE) == MAP_FAILED && errno == EINVAL;
		errno = 0;
		ok = ok && mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
				MAP_PRIVATE, fd, 0) == MAP_FAILED && errno == EINVAL;
		/* A mapping at a page offset sees the right page. */
		p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		ok = ok && p != MAP_FAILED;
		if (p != MAP_FAILED) {
			for (i = 0; i < 4; i++)
				memset(p + i * PAGE, 'a' + i, PAGE);
			munmap(p, size);
		}
		p = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, 2 * PAGE);
		ok = ok && p != MAP_FAILED && p[0] == 'c' && p[PAGE - 1] == 'c';
		if (p != MAP_FAILED)
			munmap(p, PAGE);
		close(fd);
	}
	ok = ok && region_idle(r);
	ksft_test_result(ok, "%s: rounding, CLOEXEC, exporter, mmap bounds and offset\n",
			 r->name);
	close(heap);
}

/*
 * A buffer opened read-only maps shared and read-only (mmap() clears
 * VM_SHARED for such a mapping, VM_MAYSHARE stays); writable or private
 * mappings of it are refused.
 */
static void test_mmap_read_only(const struct region *r)
{
	int heap = open_heap(r->name, 0);
	int fd = heap_alloc(heap, 2 * PAGE, O_RDONLY, 0);
	int ok = fd >= 0;
	unsigned char *p;

	if (ok) {
		p = mmap(NULL, 2 * PAGE, PROT_READ, MAP_SHARED, fd, 0);
		ok = p != MAP_FAILED;
		if (p != MAP_FAILED) {
			ok = p[0] == 0 && p[2 * PAGE - 1] == 0;
			munmap(p, 2 * PAGE);
		}
		errno = 0;
		ok = ok && mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED,
				fd, 0) == MAP_FAILED && errno == EACCES;
		errno = 0;
		ok = ok && mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, fd, 0) ==
			   MAP_FAILED && errno == EINVAL;
		close(fd);
	}
	ok = ok && region_idle(r);
	ksft_test_result(ok, "%s: O_RDONLY: shared read-only mmap; write, private refused\n",
			 r->name);
	close(heap);
}

static int all_zero(const unsigned char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

/* Buffers reusing dirtied memory come back zero-filled. */
static void test_zeroed(const struct region *r)
{
	int heap = open_heap(r->name, 0);
	size_t size = 1 << 20;
	int ok = 1, round, fd;
	unsigned char *p;

	for (round = 0; round < 2 && ok; round++) {
		fd = heap_alloc(heap, size, O_RDWR, 0);
		ok = fd >= 0;
		if (!ok)
			break;
		p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		ok = p != MAP_FAILED && all_zero(p, size);
		if (p != MAP_FAILED) {
			memset(p, 0xa5, size);
			munmap(p, size);
		}
		close(fd);
	}
	ok = ok && region_idle(r);
	ksft_test_result(ok, "%s: buffers over dirtied memory are zero-filled\n", r->name);
	close(heap);
}

/*
 * Freed memory is cleared in the background: soon after a dirtied buffer is
 * closed, all of the region's free memory counts as cleared, and buffers
 * over it, now taken from cleared blocks, read as zero.
 */
static void test_scrubbed(const struct region *r)
{
	size_t size = 4 << 20;
	int ok = 1, contiguous, fd;
	unsigned char *p;

	for (contiguous = 0; contiguous < 2 && ok; contiguous++) {
		int heap = open_heap(r->name, contiguous);

		fd = heap_alloc(heap, size, O_RDWR, 0);
		ok = fd >= 0;
		p = ok ? mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) : MAP_FAILED;
		ok = ok && p != MAP_FAILED;
		if (ok) {
			memset(p, 0x5a, size);
			munmap(p, size);
		}
		if (fd >= 0)
			close(fd);
		close(heap);
	}
	ok = ok && region_idle(r) && region_scrubbed(r) &&
	     stat_of(r->name, "cleared") == (long long)r->size;
	for (contiguous = 0; contiguous < 2 && ok; contiguous++) {
		int heap = open_heap(r->name, contiguous);

		fd = heap_alloc(heap, size, O_RDWR, 0);
		ok = fd >= 0;
		p = ok ? mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0) : MAP_FAILED;
		ok = ok && p != MAP_FAILED && all_zero(p, size);
		if (p != MAP_FAILED)
			munmap(p, size);
		if (fd >= 0)
			close(fd);
		close(heap);
	}
	ok = ok && region_idle(r);
	ksft_test_result(ok, "%s: freed memory is cleared in the background, then reads as zero\n",
			 r->name);
}

/* Minor faults of this process so far. */
static long minor_faults(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

/*
 * A fault maps more than its page: touching every page of a 4 MiB buffer
 * takes a handful of faults, not 1024 (one per 2 MiB with huge mappings, a
 * few more without). Every page shows its own memory, also through a second
 * mapping at another offset, and after the first is gone.
 */
static void test_fault_around(const struct region *r, int contiguous)
{
	int heap = open_heap(r->name, contiguous);
	size_t size = 4 << 20, pages = size / PAGE, i;
	unsigned int *p, *q;
	long faults = -1;
	int fd, ok;

	fd = heap_alloc(heap, size, O_RDWR, 0);
	ok = fd >= 0;
	p = ok ? mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) : MAP_FAILED;
	ok = ok && p != MAP_FAILED;
	if (ok) {
		faults = minor_faults();
		for (i = 0; i < pages; i++)
			p[i * PAGE / sizeof(*p)] = 0xd0000000 | i;
		faults = minor_faults() - faults;
		ok = faults <= 8;
	}
	/* A second mapping, one page in, and the first one gone. */
	q = ok ? mmap(NULL, size - PAGE, PROT_READ, MAP_SHARED, fd, PAGE) : MAP_FAILED;
	ok = ok && q != MAP_FAILED;
	if (p != MAP_FAILED)
		munmap(p, size);
	for (i = 1; ok && i < pages; i++)
		ok = q[(i - 1) * PAGE / sizeof(*q)] == (0xd0000000 | i);
	if (q != MAP_FAILED)
		munmap(q, size - PAGE);
	if (fd >= 0)
		close(fd);
	ok = ok && region_idle(r);
	ksft_test_result(ok, "%s%s: 4 MiB mapped in %ld faults, every page its own\n", r->name,
			 contiguous ? "-contiguous" : "", faults);
	close(heap);
}

/*
 * A run of up to 2 MiB takes one fault wherever its area starts: every page
 * of a 1 MiB contiguous buffer, mapped across a 2 MiB boundary of the
 * address space (two page tables), is written after a single fault.
 */
static void test_fault_straddling(const struct region *r)
{
	int heap = open_heap(r->name, 1);
	size_t size = 1 << 20, span = 2 << 20, i;
	unsigned long boundary;
	char *hole, *p = MAP_FAILED;
	long faults = -1;
	int fd, ok;

	fd = heap_alloc(heap, size, O_RDWR, 0);
	/* Room for a 2 MiB boundary with half of the buffer on either side. */
	hole = mmap(NULL, 2 * span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ok = fd >= 0 && hole != MAP_FAILED;
	boundary = ((unsigned long)hole + size + span - 1) & ~(span - 1);
	if (ok)
		p = mmap((void *)(boundary - size / 2), size, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_FIXED, fd, 0);
	ok = ok && p == (void *)(boundary - size / 2);
	if (ok) {
		faults = minor_faults();
		for (i = 0; i < size; i += PAGE)
			p[i] = 1;
		faults = minor_faults() - faults;
		ok = faults == 1;
	}
	/* The buffer's area replaced part of the hole: this unmaps both. */
	if (hole != MAP_FAILED)
		munmap(hole, 2 * span);
	if (fd >= 0)
		close(fd);
	ok = ok && region_idle(r);
	ksft_test_result(ok, "%s-contiguous: 1 MiB across a 2 MiB boundary mapped in %ld faults\n",
			 r->name, faults);
	close(heap);
}

/* The lowest address user space may map (vm.mmap_min_addr), at least a page. */
static unsigned long lowest_map_addr(void)
{
	FILE *f = fopen("/proc/sys/vm/mmap_min_addr", "r");
	unsigned long addr = 0;

	if (!f || fscanf(f, "%lu", &addr) != 1)
		addr = 0;
	if (f)
		fclose(f);
	return addr < PAGE ? PAGE : addr;
}

/*
 * An area whose offset into the buffer is larger than its address: one page
 * 2 MiB into a contiguous buffer, mapped at the lowest address allowed. The
 * run around the faulting page reaches back further than the address, and
 * only the area's part of it is mapped; the page reads its own memory.
 */
static void test_mmap_below_offset(const struct region *r)
{
	int heap = open_heap(r->name, 1);
	size_t size = 4 << 20, off = 2 << 20;
	unsigned long low = lowest_map_addr();
	unsigned int *p = MAP_FAILED, *q = MAP_FAILED;
	int fd, ok;

	fd = heap_alloc(heap, size, O_RDWR, 0);
	ok = fd >= 0 && low < off;
	p = ok ? mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) : MAP_FAILED;
	ok = ok && p != MAP_FAILED;
	if (ok)
		p[off / sizeof(*p)] = 0xb10c0ff5;
	q = ok ? mmap((void *)low, PAGE, PROT_READ, MAP_SHARED | MAP_FIXED_NOREPLACE, fd, off) :
		 MAP_FAILED;
	ok = ok && q == (void *)low && q[0] == 0xb10c0ff5;
	if (q != MAP_FAILED)
		munmap(q, PAGE);
	if (p != MAP_FAILED)
		munmap(p, size);
	if (fd >= 0)
		close(fd);
	ok = ok && region_idle(r);
	ksft_test_result(ok, "%s-contiguous: a page 2 MiB in, mapped at %#lx, reads its own\n",
			 r->name, low);
	close(heap);
}

/* Clears *@ok, naming the condition and the region's state, if @cond is false. */
static void expect(const struct region *r, int *ok, int cond, int line, const char *what)
{
	if (!*ok || cond)
		return;
	*ok = 0;
	ksft_print_msg("%s: line %d: %s: free %lld, cleared %lld, largest %lld\n", r->name, line,
		       what, stat_of(r->name, "free"), stat_of(r->name, "cleared"),
		       stat_of(r->name, "largest_free_block"));
}

#define EXPECT(r, okp, cond) expect(r, okp, cond, __LINE__, #cond)

static void test_fragmentation(const struct region *r)
{
	int heap = open_heap(r->name, 0), cheap = open_heap(r->name, 1);
	unsigned long long piece = r->size / 16;
	unsigned long long off, len;
	int fds[16], even[16], i, fd, ok = 1;
	struct stat st;

	/* Which pieces lie at an even place in the region, by debugfs. */
	for (i = 0; i < 16; i++) {
		fds[i] = heap_alloc(cheap, piece, O_RDWR, 0);
		EXPECT(r, &ok, fds[i] >= 0 && !fstat(fds[i], &st));
		EXPECT(r, &ok, buffer_ranges(r->name, st.st_ino, &off, &len, 1) == 1);
		even[i] = ok && (off / piece) % 2 == 0;
	}
	/* Full: both heaps report exhaustion at once. */
	EXPECT(r, &ok, stat_of(r->name, "free") == 0);
	EXPECT(r, &ok, heap_alloc(heap, PAGE, O_RDWR, 0) == -ENOMEM);
	EXPECT(r, &ok, heap_alloc(cheap, PAGE, O_RDWR, 0) == -ENOMEM);
	for (i = 0; i < 16; i++)
		if (fds[i] >= 0 && even[i])
			close(fds[i]);
	/*
	 * Half free, in pieces that do not touch; each a single free block
	 * again once the scrubber, which clears it in smaller blocks, is done.
	 */
	EXPECT(r, &ok, region_scrubbed(r));
	EXPECT(r, &ok, stat_of(r->name, "largest_free_block") == (long long)piece);
	/* Contiguous larger than the largest free block: ENOMEM. */
	EXPECT(r, &ok, heap_alloc(cheap, 2 * piece, O_RDWR, 0) == -ENOMEM);
	fd = heap_alloc(heap, 2 * piece, O_RDWR, 0);
	EXPECT(r, &ok, fd >= 0);
	if (fd >= 0)
		close(fd);
	for (i = 0; i < 16; i++)
		if (fds[i] >= 0 && !even[i])
			close(fds[i]);
	/* Whole again once the freed blocks are cleared and merged. */
	EXPECT(r, &ok, region_idle(r));
	EXPECT(r, &ok, region_scrubbed(r));
	EXPECT(r, &ok, stat_of(r->name, "largest_free_block") == (long long)r->size);
	ksft_test_result(ok, "%s: exhaustion and fragmentation ENOMEM\n", r->name);
	close(heap);
	close(cheap);
}

static unsigned char pattern_byte(size_t i)
{
	return (unsigned char)(i * 7 + 3);
}

/*
 * Import into vgem (which only attaches), export it back from vgem, and read
 * the pattern through that fd with an in-kernel importer's vmap: scattered
 * buffers get a stitched mapping, contiguous ones a window of the BAR.
 */
static void test_vgem_import(const struct region *r, int contiguous)
{
	int heap = open_heap(r->name, contiguous), vgem = open_vgem();
	size_t size = 65 * PAGE, offs[] = { 0, PAGE - 8, 33 * PAGE + 5, 65 * PAGE - 32 };
	struct drm_prime_handle prime = { 0 }, back = { 0 };
	struct drm_gem_close cl = { 0 };
	unsigned char want[32], wrong[32];
	int fd, ok, i, j;
	unsigned char *p;

	fd = heap_alloc(heap, size, O_RDWR, 0);
	ok = vgem >= 0 && fd >= 0;
	if (ok) {
		p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		ok = p != MAP_FAILED;
		if (ok) {
			for (i = 0; i < (int)size; i++)
				p[i] = pattern_byte(i);
			munmap(p, size);
		}
		prime.fd = fd;
		ok = ok && !ioctl(vgem, DRM_IOCTL_PRIME_FD_TO_HANDLE, &prime);
		if (!ok)
			ksft_print_msg("vgem import: %s\n", strerror(errno));
		back.handle = prime.handle;
		back.flags = DRM_CLOEXEC | DRM_RDWR;
		ok = ok && !ioctl(vgem, DRM_IOCTL_PRIME_HANDLE_TO_FD, &back);
		/* vgem hands back the very buffer it imported. */
		ok = ok && ino_of(back.fd) == ino_of(fd);
		for (i = 0; ok && i < (int)ARRAY_SIZE(offs); i++) {
			for (j = 0; j < (int)sizeof(want); j++) {
				want[j] = pattern_byte(offs[i] + j);
				wrong[j] = want[j] ^ (j == 17);
			}
			ok = kernel_vmap_check(back.fd, offs[i], want, sizeof(want)) == 0;
			if (!ok)
				ksft_print_msg("vmap read at %zu: %s\n", offs[i], strerror(errno));
			/* The check can fail: one wrong bit is EIO. */
			ok = ok && kernel_vmap_check(back.fd, offs[i], wrong,
						     sizeof(wrong)) == -EIO;
		}
		/* Past the end of the buffer. */
		ok = ok && kernel_vmap_check(back.fd, size - 8, want, 16) == -EINVAL;
		if (back.fd > 0)
			close(back.fd);
		cl.handle = prime.handle;
		if (prime.handle)
			ioctl(vgem, DRM_IOCTL_GEM_CLOSE, &cl);
		close(fd);
	}
	ok = ok && region_idle(r);
	ksft_test_result(ok, "%s%s: vgem import and re-export; vmap reads the pattern\n",
			 r->name, contiguous ? "-contiguous" : "");
	if (vgem >= 0)
		close(vgem);
	close(heap);
}

/* A child doing DMA_BUF_IOCTL_SYNC start and end with @flags on @fd. */
static pid_t sync_in_child(int fd, unsigned long long flags)
{
	pid_t pid = fork();

	if (pid == 0) {
		struct dma_buf_sync sync = { .flags = DMA_BUF_SYNC_START | flags };
		int bad = ioctl(fd, DMA_BUF_IOCTL_SYNC, &sync);

		sync.flags = DMA_BUF_SYNC_END | flags;
		bad |= ioctl(fd, DMA_BUF_IOCTL_SYNC, &sync);
		_exit(bad ? 1 : 0);
	}
	return pid;
}

/* Whether the child @pid is still waiting after @ms milliseconds. */
static int still_waiting(pid_t pid, int ms)
{
	int status;

	usleep(ms * 1000);
	return waitpid(pid, &status, WNOHANG) == 0;
}

/* Whether the child @pid ends, successfully. */
static int ends_ok(pid_t pid)
{
	int status;

	return pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	       WEXITSTATUS(status) == 0;
}

/*
 * begin_cpu_access waits as the direction requires: a CPU read waits for
 * writers only, a CPU write for every fence. vgem puts unsignalled fences
 * on the buffer it imported, and signals them on request.
 */
static void test_cpu_access_fences(const struct region *r)
{
	int heap = open_heap(r->name, 0), vgem = open_vgem();
	struct drm_prime_handle prime = { 0 };
	struct drm_gem_close cl = { 0 };
	int fd, ok, fence;
	pid_t pid;

	fd = heap_alloc(heap, 4 * PAGE, O_RDWR, 0);
	prime.fd = fd;
	ok = vgem >= 0 && fd >= 0 && !ioctl(vgem, DRM_IOCTL_PRIME_FD_TO_HANDLE, &prime);
	/* A reader's fence: a CPU read goes ahead, a CPU write waits for it. */
	fence = ok ? vgem_fence(vgem, prime.handle, 0) : -1;
	ok = ok && fence >= 0;
	ok = ok && ends_ok(sync_in_child(fd, DMA_BUF_SYNC_READ));
	pid = ok ? sync_in_child(fd, DMA_BUF_SYNC_WRITE) : -1;
	ok = ok && still_waiting(pid, 500);
	ok = ok && !vgem_signal(vgem, fence) && ends_ok(pid);
	/* A writer's fence: a CPU read waits for it too. */
	fence = ok ? vgem_fence(vgem, prime.handle, VGEM_FENCE_WRITE) : -1;
	ok = ok && fence >= 0;
	pid = ok ? sync_in_child(fd, DMA_BUF_SYNC_READ) : -1;
	ok = ok && still_waiting(pid, 500);
	ok = ok && !vgem_signal(vgem, fence) && ends_ok(pid);
	cl.handle = prime.handle;
	if (prime.handle)
		ioctl(vgem, DRM_IOCTL_GEM_CLOSE, &cl);
	if (fd >= 0)
		close(fd);
	ok = ok && region_idle(r);
	ksft_test_result(ok, "%s: CPU reads wait for writers, CPU writes for all fences\n",
			 r->name);
	if (vgem >= 0)
		close(vgem);
	close(heap);
}

/*
 * Unbind the device: the heap nodes stay and fail with ENODEV, the region
 * leaves debugfs. Bind it again: the same nodes work again.
 */
static void test_rebind(const struct region *r)
{
	int heap = open_heap(r->name, 0), cheap = open_heap(r->name, 1);
	char dev[64] = "", path[600];
	int ok, fd;

	ok = heap >= 0 && cheap >= 0 && stat_str(r->name, "device", dev, sizeof(dev));
	ok = ok && !write_str("/sys/bus/pci/drivers/devmem_ivshmem/unbind", dev);
	snprintf(path, sizeof(path), DEBUGFS "/%s", r->name);
	ok = ok && access(path, F_OK) && errno == ENOENT;
	ok = ok && heap_alloc(heap, PAGE, O_RDWR, 0) == -ENODEV;
	ok = ok && heap_alloc(cheap, PAGE, O_RDWR, 0) == -ENODEV;
	ok = ok && !write_str("/sys/bus/pci/drivers/devmem_ivshmem/bind", dev);
	fd = ok ? heap_alloc(heap, PAGE, O_RDWR, 0) : -1;
	ok = ok && fd >= 0;
	if (fd >= 0)
		close(fd);
	fd = ok ? heap_alloc(cheap, PAGE, O_RDWR, 0) : -1;
	ok = ok && fd >= 0;
	if (fd >= 0)
		close(fd);
	ok = ok && region_idle(r);
	ksft_test_result(ok, "%s: unbound: ENODEV from the same nodes; bound again: back\n",
			 r->name);
	close(heap);
	close(cheap);
}

/* Reads @p in a child: returns the signal that ended it, or 0 if none. */
static int read_in_child(const unsigned char *p)
{
	int status;
	pid_t pid = fork();

	if (pid == 0)
		_exit(p[0] == 0x5a ? 0 : 1);
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFSIGNALED(status) ? WTERMSIG(status) : 0;
}

/*
 * Unbinding the device zaps user mappings of live buffers: an access after
 * it gets SIGBUS instead of reaching the device's memory. The device binds
 * again while the dead buffer is still open.
 */
static void test_unbind_zaps_mappings(const struct region *r)
{
	int heap = open_heap(r->name, 0);
	int fd = heap_alloc(heap, PAGE, O_RDWR, 0);
	char dev[64] = "";
	unsigned char *p = MAP_FAILED;
	int ok = fd >= 0 && stat_str(r->name, "device", dev, sizeof(dev));

	if (ok)
		p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ok = ok && p != MAP_FAILED;
	if (ok) {
		p[0] = 0x5a;
		ok = read_in_child(p) == 0;
	}
	ok = ok && !write_str("/sys/bus/pci/drivers/devmem_ivshmem/unbind", dev);
	ok = ok && read_in_child(p) == SIGBUS;
	/*
	 * The device binds again at once: the dead buffer was revoked, nothing
	 * of it reaches the memory the new region hands out.
	 */
	ok = ok && !write_str("/sys/bus/pci/drivers/devmem_ivshmem/bind", dev);
	ok = ok && read_in_child(p) == SIGBUS;
	if (p != MAP_FAILED)
		munmap(p, PAGE);
	if (fd >= 0)
		close(fd);
	ok = ok && region_idle(r);
	ksft_test_result(ok, "%s: revoke on unbind: mappings SIGBUS; binds again while they live\n",
			 r->name);
	close(heap);
}

/* One stress worker: returns the number of verification failures. */
static int stress_worker(const struct region *r, unsigned int seed, time_t end)
{
	int heaps[2] = { open_heap(r->name, 0), open_heap(r->name, 1) };
	unsigned long long max = r->size / 8;
	int bad = 0;

	srand(seed);
	while (time(NULL) < end) {
		int h = rand() & 1;
		size_t len = ((size_t)rand() % (max / PAGE) + 1) * PAGE;
		unsigned char tag = rand();
		size_t i;
		int fd = heap_alloc(heaps[h], len, O_RDWR, 0);
		unsigned int *p;

		if (fd == -ENOMEM)
			continue;
		if (fd < 0) {
			bad++;
			continue;
		}
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED) {
			bad++;
			close(fd);
			continue;
		}
		if (!all_zero((void *)p, len))
			bad++;
		for (i = 0; i < len / 4; i += 97)
			p[i] = (unsigned int)i ^ tag;
		for (i = 0; i < len / 4; i += 97)
			if (p[i] != ((unsigned int)i ^ tag))
				bad++;
		munmap(p, len);
		close(fd);
	}
	close(heaps[0]);
	close(heaps[1]);
	return bad;
}

static void test_stress(void)
{
	pid_t pids[MAX_REGIONS * STRESS_PROCS];
	time_t end = time(NULL) + STRESS_SECONDS;
	int i, n = 0, ok = 1, status;

	for (i = 0; i < nregions * STRESS_PROCS; i++) {
		pids[n] = fork();
		if (pids[n] == 0)
			_exit(stress_worker(&regions[i / STRESS_PROCS], i + 1, end) ? 1 : 0);
		if (pids[n] > 0)
			n++;
	}
	for (i = 0; i < n; i++)
		ok = ok && waitpid(pids[i], &status, 0) == pids[i] &&
		     WIFEXITED(status) && WEXITSTATUS(status) == 0;
	for (i = 0; i < nregions; i++) {
		long long allocs = stat_of(regions[i].name, "allocs");

		ksft_print_msg("%s: %lld allocations in %d s\n", regions[i].name,
			       allocs, STRESS_SECONDS);
		ok = ok && region_idle(&regions[i]) && allocs > 100;
	}
	ksft_test_result(ok, "stress: %d processes x %d s, regions idle after\n",
			 n, STRESS_SECONDS);
}

/*
 * "pattern" mode: see the top of the file. Runs in a child that keeps the
 * buffers allocated until power-off (pattern_mode()); returns 0 or 1.
 */
static int write_patterns(const char *text)
{
	int i, j;

	srand(time(NULL) ^ getpid());
	for (i = 0; i < nregions; i++) {
		const struct region *r = &regions[i];
		int heap = open_heap(r->name, 0);
		size_t size = (1 << 20) + 5 * PAGE;
		/* 64-byte aligned: the pattern never crosses a page. */
		unsigned long long at = ((size_t)rand() % (size - 64)) & ~63ULL;
		unsigned char pat[64], *p;
		int fd = heap_alloc(heap, size, O_RDWR, 0);

		if (fd < 0)
			goto fail;
		for (j = 0; j < (int)sizeof(pat); j++)
			pat[j] = text ? ' ' : rand();
		if (text)
			memcpy(pat, text, strnlen(text, sizeof(pat)));
		p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED)
			goto fail;
		memcpy(p + at, pat, sizeof(pat));
		munmap(p, size);
		/* Where the pattern landed in the region, by debugfs. */
		if (print_expect(r, fd, at, pat, sizeof(pat)))
			goto fail;
		/* Leak the fd on purpose: the bytes stay there until power-off. */
	}
	return 0;
fail:
	return 1;
}

int main(int argc, char **argv)
{
	int i;

	find_regions();
	if (argc > 1 && !strcmp(argv[1], "pattern"))
		return !nregions || pattern_mode(write_patterns, argc > 2 ? argv[2] : NULL);

	ksft_print_header();
	if (!nregions)
		ksft_exit_skip("no devmem-heap region of a device\n");
	ksft_set_plan(nregions * 15 + 1);
	for (i = 0; i < nregions; i++) {
		ksft_print_msg("region %s: %llu bytes\n", regions[i].name, regions[i].size);
		test_bad_input(&regions[i]);
		test_mmap_rules(&regions[i]);
		test_mmap_read_only(&regions[i]);
		test_zeroed(&regions[i]);
		test_scrubbed(&regions[i]);
		test_fault_around(&regions[i], 0);
		test_fault_around(&regions[i], 1);
		test_fault_straddling(&regions[i]);
		test_mmap_below_offset(&regions[i]);
		test_fragmentation(&regions[i]);
		test_vgem_import(&regions[i], 0);
		test_vgem_import(&regions[i], 1);
		test_cpu_access_fences(&regions[i]);
		test_rebind(&regions[i]);
		test_unbind_zaps_mappings(&regions[i]);
	}
	test_stress();
	ksft_finished();
}
