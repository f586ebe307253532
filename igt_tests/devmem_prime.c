// SPDX-License-Identifier: GPL-2.0
/*
 * PRIME with buffers of the ivshmem dma-buf heaps: self-import identity
 * (one dma-buf is one GEM object per DRM file, and exporting it again gives
 * back the same dma-buf), import/close and export/close races between two
 * threads without leaks (in the spirit of IGT's prime_self_import), and
 * implicit fences put on a heap buffer by vgem: poll, DMA_BUF_IOCTL_SYNC
 * and DMA_BUF_IOCTL_EXPORT_SYNC_FILE wait for them as their direction
 * requires until vgem signals them.
 */
#include "igt.h"
#include "devmem_igt.h"

#include <pthread.h>
#include <drm/vgem_drm.h>

#define BUF_SIZE	(256 * 1024)
#define RACE_SECONDS	3
/* How long a blocked call is watched to be still blocked. */
#define BLOCKED_MS	300

/* What leaks would change: this process's files, dma-bufs, the region's buffers. */
struct census {
	int fds, dmabufs;
	long long live, used;
};

static void census_take(struct census *c, const char *region)
{
	c->fds = open_fds();
	c->dmabufs = live_dmabufs();
	c->live = region_stat(region, "live_buffers");
	c->used = region_stat(region, "used");
	igt_assert_f(c->fds > 0 && c->dmabufs >= 0 && c->live >= 0 && c->used >= 0,
		     "cannot read the census (fds %d, dma-bufs %d, live %lld, used %lld)\n",
		     c->fds, c->dmabufs, c->live, c->used);
}

/* The census is back to @before (releases may lag a little: up to 2 s). */
static void census_same(const struct census *before, const char *region)
{
	struct census now;
	int i;

	for (i = 0; i < 20; i++) {
		census_take(&now, region);
		if (!memcmp(&now, before, sizeof(now)))
			break;
		usleep(100 * 1000);
	}
	igt_assert_eq(now.fds, before->fds);
	igt_assert_eq(now.dmabufs, before->dmabufs);
	igt_assert_eq_u64(now.live, before->live);
	igt_assert_eq_u64(now.used, before->used);
}

static void test_import_twice(int vkms, int vgem, const char *heap)
{
	unsigned int h1, h2, hv1, hv2;
	struct census before;
	char region[64];
	int fd, fd2, other, back;

	heap_region(heap, region, sizeof(region));
	census_take(&before, region);
	fd = heap_alloc_named(heap, BUF_SIZE);
	igt_assert_f(fd >= 0, "allocating from %s: %s\n", heap, strerror(-fd));

	/* One dma-buf is one object, one handle, in a DRM file. */
	igt_assert_eq(prime_fd_to_handle(vkms, fd, &h1), 0);
	igt_assert_eq(prime_fd_to_handle(vkms, fd, &h2), 0);
	igt_assert_eq_u32(h1, h2);
	/* Through another fd of the same dma-buf, too. */
	fd2 = dup(fd);
	igt_assert_eq(prime_fd_to_handle(vkms, fd2, &h2), 0);
	igt_assert_eq_u32(h1, h2);
	close(fd2);

	/* Exporting the object gives back the heap's dma-buf, which imports as itself. */
	back = prime_handle_to_fd(vkms, h1);
	igt_assert_f(back >= 0, "PRIME export from vkms: %s\n", strerror(-back));
	igt_assert_eq_u64(ino_of(back), ino_of(fd));
	igt_assert_eq(prime_fd_to_handle(vkms, back, &h2), 0);
	igt_assert_eq_u32(h1, h2);
	close(back);

	/* Another DRM file has a handle of its own for it, and exports the same dma-buf. */
	other = import_in_new_file("vkms", fd);
	igt_assert_f(other >= 0, "import into a second vkms file: %s\n", strerror(-other));
	close(other);

	/* vgem as well. */
	igt_assert_eq(prime_fd_to_handle(vgem, fd, &hv1), 0);
	igt_assert_eq(prime_fd_to_handle(vgem, fd, &hv2), 0);
	igt_assert_eq_u32(hv1, hv2);

	/* Imports take no handle reference: one close ends the handle. */
	igt_assert_eq(gem_close(vkms, h1), 0);
	igt_assert_eq(gem_close(vkms, h1), -EINVAL);
	igt_assert_eq(gem_close(vgem, hv1), 0);
	igt_assert_eq(prime_fd_to_handle(vkms, fd, &h2), 0);
	igt_assert_eq(gem_close(vkms, h2), 0);

	/* Not a dma-buf, not a file. */
	other = open("/dev/null", O_RDONLY);
	igt_assert_eq(prime_fd_to_handle(vkms, other, &h2), -EINVAL);
	close(other);
	igt_assert_eq(prime_fd_to_handle(vkms, -1, &h2), -EBADF);

	close(fd);
	census_same(&before, region);
}

struct race {
	int drm, fd;
	unsigned long ino;
	int stop;
	unsigned int last_handle;
	unsigned long imports, exports, import_errors, wrong_exports;
};

static void race_count(unsigned long *counter)
{
	__atomic_add_fetch(counter, 1, __ATOMIC_RELAXED);
}

static int race_stopped(struct race *r)
{
	return __atomic_load_n(&r->stop, __ATOMIC_RELAXED);
}

/* Imports the dma-buf and closes the handle, again and again. */
static void *reimport_close_thread(void *arg)
{
	struct race *r = arg;
	unsigned int h;

	while (!race_stopped(r)) {
		if (prime_fd_to_handle(r->drm, r->fd, &h)) {
			race_count(&r->import_errors);
			continue;
		}
		race_count(&r->imports);
		/* The other thread may have closed it first: EINVAL then. */
		gem_close(r->drm, h);
	}
	return NULL;
}

/* Imports, exports again and checks the export, closes; the handle is shared. */
static void *export_thread(void *arg)
{
	struct race *r = arg;
	unsigned int h;
	int fd;

	while (!race_stopped(r)) {
		if (prime_fd_to_handle(r->drm, r->fd, &h)) {
			race_count(&r->import_errors);
			continue;
		}
		race_count(&r->imports);
		__atomic_store_n(&r->last_handle, h, __ATOMIC_RELAXED);
		/* ENOENT if the closer was first. */
		fd = prime_handle_to_fd(r->drm, h);
		if (fd >= 0) {
			race_count(&r->exports);
			if (ino_of(fd) != r->ino)
				race_count(&r->wrong_exports);
			close(fd);
		}
		gem_close(r->drm, h);
	}
	return NULL;
}

/* Closes whatever handle the exporter last had. */
static void *close_thread(void *arg)
{
	struct race *r = arg;

	while (!race_stopped(r))
		gem_close(r->drm, __atomic_load_n(&r->last_handle, __ATOMIC_RELAXED));
	return NULL;
}

static void run_race(const char *heap, void *(*a)(void *), void *(*b)(void *), int exports)
{
	struct race r = { 0 };
	struct census before;
	pthread_t ta, tb;
	char region[64];
	unsigned int h;

	heap_region(heap, region, sizeof(region));
	census_take(&before, region);
	r.drm = drm_open_driver_minor("vkms", NULL);
	igt_assert_fd(r.drm);
	r.fd = heap_alloc_named(heap, BUF_SIZE);
	igt_assert_f(r.fd >= 0, "allocating from %s: %s\n", heap, strerror(-r.fd));
	r.ino = ino_of(r.fd);

	igt_assert_eq(pthread_create(&ta, NULL, a, &r), 0);
	igt_assert_eq(pthread_create(&tb, NULL, b, &r), 0);
	sleep(RACE_SECONDS);
	__atomic_store_n(&r.stop, 1, __ATOMIC_RELAXED);
	igt_assert_eq(pthread_join(ta, NULL), 0);
	igt_assert_eq(pthread_join(tb, NULL), 0);
	igt_info("%lu imports, %lu exports, %lu import errors, %lu wrong exports\n",
		 r.imports, r.exports, r.import_errors, r.wrong_exports);
	igt_assert_eq_u64(r.import_errors, 0);
	igt_assert_eq_u64(r.wrong_exports, 0);
	igt_assert_lte(1000, r.imports);
	if (exports)
		igt_assert_lte(100, r.exports);

	/* No handle is left over: a new import is a fresh one, closed once. */
	igt_assert_eq(prime_fd_to_handle(r.drm, r.fd, &h), 0);
	igt_assert_eq(gem_close(r.drm, h), 0);
	igt_assert_eq(gem_close(r.drm, h), -EINVAL);
	close(r.fd);
	close(r.drm);
	/* Nothing leaked: the buffer is gone from the region once its last user is. */
	census_same(&before, region);
}

static int vgem_fence_attach(int vgem, unsigned int handle, unsigned int flags)
{
	struct drm_vgem_fence_attach a = { .handle = handle, .flags = flags };

	if (ioctl(vgem, DRM_IOCTL_VGEM_FENCE_ATTACH, &a))
		return -errno;
	return a.out_fence;
}

static int vgem_fence_signal(int vgem, unsigned int fence)
{
	struct drm_vgem_fence_signal s = { .fence = fence };

	return ioctl(vgem, DRM_IOCTL_VGEM_FENCE_SIGNAL, &s) ? -errno : 0;
}

/* A sync_file of the dma-buf's fences that an access of @flags waits for. */
static int export_sync_file(int fd, unsigned int flags)
{
	struct dma_buf_export_sync_file e = { .flags = flags, .fd = -1 };

	if (ioctl(fd, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, &e))
		return -errno;
	return e.fd;
}

/* 1 if the sync_file has signalled, 0 if not, -errno on error. */
static int sync_file_status(int fd)
{
	struct sync_file_info info = { 0 };

	if (ioctl(fd, SYNC_IOC_FILE_INFO, &info))
		return -errno;
	return info.status;
}

/* DMA_BUF_IOCTL_SYNC START in a thread, to see whether it waits. */
struct sync_call {
	pthread_t thread;
	int fd, ret, done;
	unsigned long long flags;
};

static void *sync_thread(void *arg)
{
	struct sync_call *s = arg;

	s->ret = dmabuf_sync(s->fd, DMA_BUF_SYNC_START | s->flags);
	__atomic_store_n(&s->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void sync_start(struct sync_call *s, int fd, unsigned long long flags)
{
	s->fd = fd;
	s->flags = flags;
	s->done = 0;
	igt_assert_eq(pthread_create(&s->thread, NULL, sync_thread, s), 0);
}

static int sync_done(struct sync_call *s)
{
	return __atomic_load_n(&s->done, __ATOMIC_ACQUIRE);
}

/* Waits for the call, which must succeed, and ends the CPU access. */
static void sync_join(struct sync_call *s)
{
	igt_assert_eq(pthread_join(s->thread, NULL), 0);
	igt_assert_eq(s->ret, 0);
	igt_assert_eq(dmabuf_sync(s->fd, DMA_BUF_SYNC_END | s->flags), 0);
}

/*
 * A write fence: every access waits. poll() is busy for reading and
 * writing, a CPU read waits, the sync_file for a reader is unsignalled,
 * and vgem refuses a second fence; signalling releases them all.
 */
static void test_vgem_write_fence(int vgem, const char *heap)
{
	struct census before;
	struct sync_call s;
	char region[64];
	unsigned int h;
	int fd, fence, sf;

	heap_region(heap, region, sizeof(region));
	census_take(&before, region);
	fd = heap_alloc_named(heap, BUF_SIZE);
	igt_assert_f(fd >= 0, "allocating from %s: %s\n", heap, strerror(-fd));
	igt_assert_eq(prime_fd_to_handle(vgem, fd, &h), 0);
	igt_assert_eq(poll_events(fd, POLLIN | POLLOUT, 0), POLLIN | POLLOUT);

	fence = vgem_fence_attach(vgem, h, VGEM_FENCE_WRITE);
	igt_assert_f(fence >= 0, "vgem fence: %s\n", strerror(-fence));
	igt_assert_eq(poll_events(fd, POLLIN | POLLOUT, 0), 0);
	sf = export_sync_file(fd, DMA_BUF_SYNC_READ);
	igt_assert_f(sf >= 0, "DMA_BUF_IOCTL_EXPORT_SYNC_FILE: %s\n", strerror(-sf));
	igt_assert_eq(sync_file_status(sf), 0);
	igt_assert_eq(poll_events(sf, POLLIN, 0), 0);
	igt_assert_eq(vgem_fence_attach(vgem, h, 0), -EBUSY);
	igt_assert_eq(vgem_fence_attach(vgem, h, VGEM_FENCE_WRITE), -EBUSY);

	sync_start(&s, fd, DMA_BUF_SYNC_READ);
	usleep(BLOCKED_MS * 1000);
	igt_assert_f(!sync_done(&s), "a CPU read did not wait for the write fence\n");

	igt_assert_eq(vgem_fence_signal(vgem, fence), 0);
	sync_join(&s);
	igt_assert_eq(poll_events(sf, POLLIN, 1000), POLLIN);
	igt_assert_eq(sync_file_status(sf), 1);
	igt_assert_eq(poll_events(fd, POLLIN | POLLOUT, 1000), POLLIN | POLLOUT);
	/* Gone once signalled. */
	igt_assert_eq(vgem_fence_signal(vgem, fence), -ENOENT);
	igt_assert_eq(vgem_fence_signal(vgem, fence + 1000), -ENOENT);

	close(sf);
	igt_assert_eq(gem_close(vgem, h), 0);
	close(fd);
	census_same(&before, region);
}

/*
 * A read fence: readers go ahead, writers wait. poll() is ready for
 * reading only, the sync_file for a reader is signalled and the one for a
 * writer is not, a CPU read goes ahead while a CPU write waits.
 */
static void test_vgem_read_fence(int vgem, const char *heap)
{
	struct sync_call rd, wr;
	struct census before;
	int fd, fence, sf_rd, sf_wr;
	char region[64];
	unsigned int h;

	heap_region(heap, region, sizeof(region));
	census_take(&before, region);
	fd = heap_alloc_named(heap, BUF_SIZE);
	igt_assert_f(fd >= 0, "allocating from %s: %s\n", heap, strerror(-fd));
	igt_assert_eq(prime_fd_to_handle(vgem, fd, &h), 0);

	fence = vgem_fence_attach(vgem, h, 0);
	igt_assert_f(fence >= 0, "vgem fence: %s\n", strerror(-fence));
	igt_assert_eq(poll_events(fd, POLLIN | POLLOUT, 0), POLLIN);
	sf_rd = export_sync_file(fd, DMA_BUF_SYNC_READ);
	sf_wr = export_sync_file(fd, DMA_BUF_SYNC_WRITE);
	igt_assert(sf_rd >= 0 && sf_wr >= 0);
	igt_assert_eq(sync_file_status(sf_rd), 1);
	igt_assert_eq(sync_file_status(sf_wr), 0);
	igt_assert_eq(export_sync_file(fd, 0), -EINVAL);
	igt_assert_eq(vgem_fence_attach(vgem, h, VGEM_FENCE_WRITE), -EBUSY);

	sync_start(&rd, fd, DMA_BUF_SYNC_READ);
	sync_start(&wr, fd, DMA_BUF_SYNC_WRITE);
	usleep(BLOCKED_MS * 1000);
	igt_assert_f(sync_done(&rd), "a CPU read waited for a read fence\n");
	igt_assert_f(!sync_done(&wr), "a CPU write did not wait for the read fence\n");
	sync_join(&rd);

	igt_assert_eq(vgem_fence_signal(vgem, fence), 0);
	sync_join(&wr);
	igt_assert_eq(poll_events(sf_wr, POLLIN, 1000), POLLIN);
	igt_assert_eq(poll_events(fd, POLLIN | POLLOUT, 1000), POLLIN | POLLOUT);

	close(sf_rd);
	close(sf_wr);
	igt_assert_eq(gem_close(vgem, h), 0);
	close(fd);
	census_same(&before, region);
}

igt_main
{
	int vkms = -1, vgem = -1;
	unsigned int j;

	igt_fixture {
		vkms = drm_open_driver_minor("vkms", NULL);
		vgem = drm_open_driver_minor("vgem", NULL);
		igt_require_f(vkms >= 0 && vgem >= 0, "needs vkms and vgem\n");
		igt_require(heap_exists(devmem_heaps[0]) && heap_exists(devmem_heaps[1]));
	}

	for (j = 0; j < ARRAY_SIZE(devmem_heaps); j++) {
		igt_describe("One handle per DRM file for a heap buffer; export gives it back.");
		igt_subtest_f("import-twice-same-handle-%s", devmem_heaps[j])
			test_import_twice(vkms, vgem, devmem_heaps[j]);
	}

	igt_describe("Two threads importing and closing a heap buffer: no error, no leak.");
	igt_subtest("reimport-close-race")
		run_race(devmem_heaps[0], reimport_close_thread, reimport_close_thread, 0);

	igt_describe("Exporting while another thread closes handles: same dma-buf, no leak.");
	igt_subtest("export-close-race")
		run_race(devmem_heaps[0], export_thread, close_thread, 1);

	for (j = 0; j < ARRAY_SIZE(devmem_heaps); j++) {
		igt_describe("A vgem write fence holds poll, the sync ioctl and a sync_file.");
		igt_subtest_f("vgem-write-fence-%s", devmem_heaps[j])
			test_vgem_write_fence(vgem, devmem_heaps[j]);
	}

	igt_describe("A vgem read fence on a heap buffer holds back writers only.");
	igt_subtest_f("vgem-read-fence-%s", devmem_heaps[0])
		test_vgem_read_fence(vgem, devmem_heaps[0]);

	igt_fixture {
		close(vgem);
		close(vkms);
	}
}
