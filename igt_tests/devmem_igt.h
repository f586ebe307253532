/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the project's IGT tests share apart from KMS: opening a DRM driver's
 * card, dma-buf heap buffers, PRIME, dumb buffers, the devmem-heap regions'
 * debugfs state (stats, and where a buffer lies in its region), and the
 * "expect" lines that let the host find a pattern in an ivshmem device's
 * backing file. Every helper returns 0 or -errno (or a value), never
 * asserts: the tests assert, with the expected error.
 */
#ifndef DEVMEM_IGT_DEVMEM_H
#define DEVMEM_IGT_DEVMEM_H

#include "igt.h"

#include <dirent.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <linux/dma-buf.h>
#include <linux/dma-heap.h>
#include <linux/sync_file.h>
#include <drm/drm.h>
#include <drm/drm_mode.h>

#define DEVMEM_DEBUGFS	"/sys/kernel/debug/devmem_heap"
#define DEVMEM_RANGES	64
#define PAGE_SIZE_4K	4096ULL

/* The ivshmem heaps the tests use: buffers scattered over blocks, and one block. */
static const char * const devmem_heaps[] = { "ivshmem", "ivshmem-contiguous" };

static inline unsigned long long align_up(unsigned long long v, unsigned long long a)
{
	return (v + a - 1) / a * a;
}

/*
 * Opens the first card whose DRM driver is @driver, other than card
 * @except (-1: any); stores its minor number (its debugfs directory, dri/N)
 * in @minor if not NULL. Returns the fd or -1.
 */
static inline int drm_open_driver_except(const char *driver, int except, int *minor)
{
	char path[64];
	int i, fd;

	for (i = 0; i < 16; i++) {
		struct drm_version v = { 0 };
		char name[32] = "";

		if (i == except)
			continue;
		snprintf(path, sizeof(path), "/dev/dri/card%d", i);
		fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			continue;
		v.name = name;
		v.name_len = sizeof(name) - 1;
		if (!ioctl(fd, DRM_IOCTL_VERSION, &v) && !strcmp(name, driver)) {
			if (minor)
				*minor = i;
			return fd;
		}
		close(fd);
	}
	return -1;
}

/* Opens the first card whose DRM driver is @driver: drm_open_driver_except(). */
static inline int drm_open_driver_minor(const char *driver, int *minor)
{
	return drm_open_driver_except(driver, -1, minor);
}

static inline int heap_open(const char *name)
{
	char path[128];

	snprintf(path, sizeof(path), "/dev/dma_heap/%s", name);
	return open(path, O_RDWR | O_CLOEXEC);
}

static inline int heap_exists(const char *name)
{
	int fd = heap_open(name);

	if (fd < 0)
		return 0;
	close(fd);
	return 1;
}

/* A buffer of @len bytes from the heap @heap: its fd, or -errno. */
static inline int heap_alloc(int heap, unsigned long long len)
{
	struct dma_heap_allocation_data data = {
		.len = len,
		.fd_flags = O_RDWR | O_CLOEXEC,
	};

	if (ioctl(heap, DMA_HEAP_IOCTL_ALLOC, &data))
		return -errno;
	return data.fd;
}

/* A buffer of @len bytes from the heap named @name: its fd, or -errno. */
static inline int heap_alloc_named(const char *name, unsigned long long len)
{
	int heap = heap_open(name), fd;

	if (heap < 0)
		return -errno;
	fd = heap_alloc(heap, len);
	close(heap);
	return fd;
}

static inline int dmabuf_sync(int fd, unsigned long long flags)
{
	struct dma_buf_sync sync = { .flags = flags };

	return ioctl(fd, DMA_BUF_IOCTL_SYNC, &sync) ? -errno : 0;
}

/* poll() on @fd for @events with a timeout: the events that are ready. */
static inline int poll_events(int fd, short events, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = events };

	return poll(&p, 1, timeout_ms) == 1 ? p.revents : 0;
}

static inline int prime_fd_to_handle(int drm, int fd, unsigned int *handle)
{
	struct drm_prime_handle args = { .fd = fd };

	*handle = 0;
	if (ioctl(drm, DRM_IOCTL_PRIME_FD_TO_HANDLE, &args))
		return -errno;
	*handle = args.handle;
	return 0;
}

/* Exports @handle: the dma-buf's fd, or -errno. */
static inline int prime_handle_to_fd(int drm, unsigned int handle)
{
	struct drm_prime_handle args = { .handle = handle, .flags = DRM_CLOEXEC | DRM_RDWR };

	if (ioctl(drm, DRM_IOCTL_PRIME_HANDLE_TO_FD, &args))
		return -errno;
	return args.fd;
}

static inline int gem_close(int drm, unsigned int handle)
{
	struct drm_gem_close args = { .handle = handle };

	return ioctl(drm, DRM_IOCTL_GEM_CLOSE, &args) ? -errno : 0;
}

struct dumb {
	unsigned int handle, pitch;
	unsigned long long size;
};

static inline int dumb_create(int drm, unsigned int width, unsigned int height, unsigned int bpp,
			      struct dumb *d)
{
	struct drm_mode_create_dumb args = { .width = width, .height = height, .bpp = bpp };

	if (ioctl(drm, DRM_IOCTL_MODE_CREATE_DUMB, &args))
		return -errno;
	d->handle = args.handle;
	d->pitch = args.pitch;
	d->size = args.size;
	return 0;
}

/* Maps a dumb buffer through the card (MAP_DUMB): the address or MAP_FAILED. */
static inline void *dumb_map(int drm, const struct dumb *d)
{
	struct drm_mode_map_dumb args = { .handle = d->handle };

	if (ioctl(drm, DRM_IOCTL_MODE_MAP_DUMB, &args))
		return MAP_FAILED;
	return mmap(NULL, d->size, PROT_READ | PROT_WRITE, MAP_SHARED, drm, args.offset);
}

static inline unsigned long ino_of(int fd)
{
	struct stat st;

	return fstat(fd, &st) ? 0 : st.st_ino;
}

/*
 * Imports the dma-buf @fd twice into a new file of the first @driver card,
 * which must give one handle, and exports that handle again, which must
 * give back @fd's dma-buf. Returns the new file's fd (the caller closes it)
 * or -errno: -EBADE if the handles differ, -EXDEV if the export is another
 * buffer.
 */
static inline int import_in_new_file(const char *driver, int fd)
{
	unsigned int h1, h2;
	int drm, back, ret;

	drm = drm_open_driver_minor(driver, NULL);
	if (drm < 0)
		return -ENODEV;
	ret = prime_fd_to_handle(drm, fd, &h1);
	if (!ret)
		ret = prime_fd_to_handle(drm, fd, &h2);
	if (!ret && h1 != h2)
		ret = -EBADE;
	back = ret ? -1 : prime_handle_to_fd(drm, h1);
	if (!ret && back < 0)
		ret = back;
	if (!ret && ino_of(back) != ino_of(fd))
		ret = -EXDEV;
	if (back >= 0)
		close(back);
	if (ret) {
		close(drm);
		return ret;
	}
	return drm;
}

/* The number of open file descriptors of this process. */
static inline int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1;	/* opendir's own */
}

/* The number of live dma-bufs in the system, from the dma-buf core's list. */
static inline int live_dmabufs(void)
{
	FILE *f = fopen("/sys/kernel/debug/dma_buf/bufinfo", "r");
	char line[512];
	int n = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		sscanf(line, "Total %d objects", &n);
	fclose(f);
	return n;
}

/* The kernel's taint flags: a WARN sets bit 9. */
static inline unsigned long kernel_taint(void)
{
	FILE *f = fopen("/proc/sys/kernel/tainted", "r");
	unsigned long t = 0;

	if (f) {
		if (fscanf(f, "%lu", &t) != 1)
			t = 0;
		fclose(f);
	}
	return t;
}

#define TAINT_WARN_BIT	0x200UL		/* TAINT_WARN, bit 9 */

/* The region a heap's buffers come from: "ivshmem-contiguous" is "ivshmem". */
static inline void heap_region(const char *heap, char *region, size_t n)
{
	size_t len = strlen(heap);
	const char *suffix = "-contiguous";

	if (len > strlen(suffix) && !strcmp(heap + len - strlen(suffix), suffix))
		len -= strlen(suffix);
	snprintf(region, n, "%.*s", (int)len, heap);
}

/* The number under @key in a region's debugfs stats, or -1. */
static inline long long region_stat(const char *region, const char *key)
{
	char path[256], line[256];
	size_t klen = strlen(key);
	long long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), DEVMEM_DEBUGFS "/%s/stats", region);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, key, klen) && line[klen] == ':') {
			v = strtoll(line + klen + 1, NULL, 0);
			break;
		}
	}
	fclose(f);
	return v;
}

/*
 * The region ranges of the live buffer with inode @ino, from the region's
 * debugfs buffers, and its size in @size if not NULL. Returns the number
 * of ranges, or -1 if the region does not list it.
 */
static inline int region_buffer(const char *region, unsigned long ino, unsigned long long *size,
				unsigned long long *off, unsigned long long *len, int max)
{
	char path[256], line[4096];
	int n = -1;
	FILE *f;

	snprintf(path, sizeof(path), DEVMEM_DEBUGFS "/%s/buffers", region);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (n < 0 && fgets(line, sizeof(line), f)) {
		char *tok, *save = NULL;

		if (strtoul(line, NULL, 10) != ino)
			continue;
		n = 0;
		strtok_r(line, "\n ", &save);			/* inode */
		tok = strtok_r(NULL, "\n ", &save);		/* size */
		if (size && tok)
			*size = strtoull(tok, NULL, 0);
		strtok_r(NULL, "\n ", &save);			/* placement */
		while ((tok = strtok_r(NULL, "\n ", &save)) && n < max)
			n += sscanf(tok, "%llx+%llx", &off[n], &len[n]) == 2;
	}
	fclose(f);
	return n;
}

/* The offset in its region of byte @at of the buffer with inode @ino, or -1. */
static inline long long region_offset(const char *region, unsigned long ino, unsigned long long at)
{
	unsigned long long off[DEVMEM_RANGES], len[DEVMEM_RANGES];
	int i, n = region_buffer(region, ino, NULL, off, len, DEVMEM_RANGES);

	for (i = 0; i < n; i++) {
		if (at < len[i])
			return off[i] + at;
		at -= len[i];
	}
	return -1;
}

/*
 * Prints, for the host, where the @n bytes @pat at byte @at of the buffer
 * @fd of region @region lie in its device's memory, as the selftests' pattern
 * mode does:
 *   expect <region> <region size> <offset in the BAR> <pattern in hex>
 * The host (scripts/summary.py) must find them there in that device's
 * backing file and in no other. Returns 0, or -1 if they do not lie in one
 * piece of the region.
 */
static inline int print_expect(const char *region, int fd, unsigned long long at,
			       const unsigned char *pat, size_t n)
{
	long long off = region_offset(region, ino_of(fd), at);
	long long size = region_stat(region, "size");
	char hex[2 * 256 + 1];
	size_t j;

	if (off < 0 || size <= 0 || n > 256 ||
	    region_offset(region, ino_of(fd), at + n - 1) != off + (long long)n - 1)
		return -1;
	for (j = 0; j < n; j++)
		sprintf(hex + 2 * j, "%02x", pat[j]);
	igt_info("expect %s %lld %lld %s\n", region, size, off, hex);
	return 0;
}

/*
 * Keeps the dma-buf @fd, and so its memory, alive until the VM powers off,
 * in a child of its own session that holds nothing else: no other file
 * (igt_runner waits for the test's output pipes to close) and no mapping
 * (a mapping of a DRM card would keep that DRM file, and its DRM master,
 * alive), so it execs sleep(1) with just that fd. The host reads the
 * device's backing file after power-off. Returns once the child has
 * dropped the rest: 0 or -errno.
 */
static inline int hold_until_poweroff(int fd)
{
	int sync[2], keep, i;
	char c = 0;
	pid_t pid;

	if (pipe2(sync, O_CLOEXEC))
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid) {
		close(sync[1]);
		/* EOF when the child's exec closes its end. */
		i = read(sync[0], &c, 1);
		close(sync[0]);
		return i == 0 ? 0 : -ECHILD;
	}
	setsid();
	keep = dup(fd);		/* without O_CLOEXEC */
	for (i = 0; i < 1024; i++)
		if (i != keep && i != sync[1])
			close(i);
	execl("/bin/sleep", "sleep", "infinity", (char *)NULL);
	if (write(sync[1], "e", 1) != 1)
		_exit(1);
	_exit(1);
}

/* Random bytes, for markers the host looks for. */
static inline void random_bytes(unsigned char *p, size_t n)
{
	static int seeded;
	size_t i;

	if (!seeded) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		srandom(ts.tv_nsec ^ ts.tv_sec ^ getpid());
		seeded = 1;
	}
	for (i = 0; i < n; i++)
		p[i] = random();
}

#endif /* DEVMEM_IGT_DEVMEM_H */
