// SPDX-License-Identifier: GPL-2.0
/*
 * The vkms demo of make demo, on IGT's API (igt_tests/igt.h): vkms, booted
 * with vkms.devmem_region=ivshmem, scans out a test image from a buffer of
 * the ivshmem heap and writes the frame back into a buffer of
 * ivshmem-contiguous, which it leaves for the host to cut out of the
 * device's backing file ("frame" line, scripts/frame2png.py); then it
 * measures how long vkms takes to compose a frame from device memory and
 * from system memory (a vgem buffer).
 */
#include "igt.h"
#include "kms_helpers.h"

#define COMPOSE_SECONDS	4

/* The connector's largest mode, to make composition measurable. */
static void kms_largest_mode(struct kms *k)
{
	struct drm_mode_modeinfo modes[64];
	struct drm_mode_create_blob blob = { 0 };
	struct drm_mode_get_connector c;
	unsigned int m, best = 0;

	igt_assert_eq(kms_get_connector(k->fd, k->conn, &c, modes, 64), 0);
	for (m = 1; m < c.count_modes; m++)
		if (modes[m].hdisplay * modes[m].vdisplay >
		    modes[best].hdisplay * modes[best].vdisplay)
			best = m;
	k->mode = modes[best];
	blob.data = (unsigned long)&k->mode;
	blob.length = sizeof(k->mode);
	igt_assert_eq(ioctl(k->fd, DRM_IOCTL_MODE_CREATEPROPBLOB, &blob), 0);
	k->mode_blob = blob.blob_id;
}

/* A framebuffer of a dma-buf @fd holding the test image laid out as @l. */
static unsigned int import_fb(struct kms *k, int fd, const struct layout *l)
{
	unsigned int handle, fb = 0;
	unsigned char *map;

	map = mmap(NULL, l->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	igt_assert(map != MAP_FAILED);
	igt_assert_eq(dmabuf_sync(fd, DMA_BUF_SYNC_START | DMA_BUF_SYNC_WRITE), 0);
	image_write(map, l, 0);
	igt_assert_eq(dmabuf_sync(fd, DMA_BUF_SYNC_END | DMA_BUF_SYNC_WRITE), 0);
	munmap(map, l->size);
	igt_assert_eq(prime_fd_to_handle(k->fd, fd, &handle), 0);
	igt_assert_eq(layout_fb(k->fd, l, handle, &fb), 0);
	return fb;
}

static void demo_writeback(struct kms *k)
{
	unsigned long long in_sum = CHECKSUM_INIT, out_sum = CHECKSUM_INIT;
	unsigned int in_fb, out_fb, out_handle, y;
	int in, out, fence = -1;
	unsigned char *map;
	long long off, last, size;
	struct layout l;

	igt_require_f(k->wb_conn, "vkms has no writeback connector\n");
	layout_init(&l, DRM_FORMAT_XRGB8888, k->mode.hdisplay, k->mode.vdisplay, 0);
	in = heap_alloc_named("ivshmem", l.size);
	igt_assert_f(in >= 0, "input from ivshmem: %s\n", strerror(-in));
	in_fb = import_fb(k, in, &l);
	out = heap_alloc_named("ivshmem-contiguous", l.size);
	igt_assert_f(out >= 0, "output from ivshmem-contiguous: %s\n", strerror(-out));
	igt_assert_eq(prime_fd_to_handle(k->fd, out, &out_handle), 0);
	igt_assert_eq(layout_fb(k->fd, &l, out_handle, &out_fb), 0);

	igt_assert_eq(kms_show(k, in_fb, l.w, l.h, DRM_MODE_ROTATE_0, out_fb, &fence), 0);
	igt_assert(poll_events(fence, POLLIN, 10000) & POLLIN);
	close(fence);

	map = mmap(NULL, l.size, PROT_READ, MAP_SHARED, in, 0);
	igt_assert(map != MAP_FAILED);
	for (y = 0; y < l.h; y++)
		in_sum = checksum(map + layout_at(&l, 0, y), l.w * l.cpp, in_sum);
	munmap(map, l.size);
	map = mmap(NULL, l.size, PROT_READ, MAP_SHARED, out, 0);
	igt_assert(map != MAP_FAILED);
	igt_assert_eq(dmabuf_sync(out, DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ), 0);
	for (y = 0; y < l.h; y++)
		out_sum = checksum(map + layout_at(&l, 0, y), l.w * l.cpp, out_sum);
	igt_assert_eq(dmabuf_sync(out, DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ), 0);
	munmap(map, l.size);
	igt_info("written back: %ux%u, checksum %016llx, input %016llx\n", l.w, l.h, out_sum,
		 in_sum);
	igt_assert_eq_u64(out_sum, in_sum);

	/* One block of the region: the host cuts the frame out in one piece. */
	off = region_offset("ivshmem", ino_of(out), 0);
	last = region_offset("ivshmem", ino_of(out), l.size - 1);
	size = region_stat("ivshmem", "size");
	igt_assert(off >= 0 && last == off + (long long)l.size - 1 && size > 0);
	igt_info("frame vkms-writeback %lld %lld %u %u %u XR24\n", size, off, l.w, l.h,
		 l.pitches[0]);
	igt_assert_eq(hold_until_poweroff(out), 0);

	igt_assert_eq(kms_off(k), 0);
	igt_assert_eq(fb_remove(k->fd, out_fb), 0);
	igt_assert_eq(fb_remove(k->fd, in_fb), 0);
	close(out);
	close(in);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Compositions per second while vkms shows @fb, from the pipe CRC. vkms
 * composes at most once a vblank, in a worker; a composition that takes
 * longer than a frame covers the vblanks it missed, adding one CRC entry
 * for each of them at once. So each wake-up of the CRC file with its burst
 * of entries is one composition, and when the compositions are slower than
 * the refresh rate, 1 / rate is the time one takes.
 */
static double compose_rate(struct kms *k, unsigned int fb, const struct layout *l,
			   double *entries_per_burst)
{
	int fd, bursts = 0, entries = 0;
	double start, end;
	char line[64];

	igt_assert_eq(kms_show(k, fb, l->w, l->h, DRM_MODE_ROTATE_0, 0, NULL), 0);
	fd = kms_crc_open(k, O_NONBLOCK);
	igt_assert_f(fd >= 0, "CRC capture: %s\n", strerror(-fd));
	/* The first burst starts the clock. */
	igt_assert(poll_events(fd, POLLIN, 10000) & POLLIN);
	while (read(fd, line, sizeof(line)) > 0)
		;
	start = now_s();
	do {
		igt_assert(poll_events(fd, POLLIN, 10000) & POLLIN);
		while (read(fd, line, sizeof(line)) > 0)
			entries++;
		bursts++;
		end = now_s();
	} while (end - start < COMPOSE_SECONDS);
	close(fd);
	*entries_per_burst = (double)entries / bursts;
	return bursts / (end - start);
}

static void demo_compose_time(struct kms *k)
{
	unsigned int dev_fb, sys_fb, handle;
	double dev_rate, sys_rate, dev_burst, sys_burst, refresh;
	int vgem, dev, sys, minor;
	struct layout l;
	struct dumb d;

	kms_largest_mode(k);
	refresh = k->mode.clock * 1000.0 / (k->mode.htotal * k->mode.vtotal);
	layout_init(&l, DRM_FORMAT_XRGB8888, k->mode.hdisplay, k->mode.vdisplay, 0);

	dev = heap_alloc_named("ivshmem", l.size);
	igt_assert_f(dev >= 0, "%llu bytes from ivshmem: %s\n", l.size, strerror(-dev));
	dev_fb = import_fb(k, dev, &l);

	vgem = drm_open_driver_minor("vgem", &minor);
	igt_require_f(vgem >= 0, "no vgem\n");
	igt_assert_eq(dumb_create(vgem, l.pitches[0] / 4, l.size / l.pitches[0], 32, &d), 0);
	handle = d.handle;
	sys = prime_handle_to_fd(vgem, handle);
	igt_assert(sys >= 0);
	sys_fb = import_fb(k, sys, &l);

	dev_rate = compose_rate(k, dev_fb, &l, &dev_burst);
	sys_rate = compose_rate(k, sys_fb, &l, &sys_burst);
	igt_info("compose %ux%u, refresh %.1f Hz: from device memory %.2f/s (%.0f ms each, %.1f frames per composition), from system memory %.2f/s (%.0f ms, %.1f frames); device/system time %.2f\n",
		 l.w, l.h, refresh, dev_rate, 1000 / dev_rate, dev_burst, sys_rate,
		 1000 / sys_rate, sys_burst, sys_rate / dev_rate);

	igt_assert_eq(kms_off(k), 0);
	igt_assert_eq(fb_remove(k->fd, sys_fb), 0);
	igt_assert_eq(fb_remove(k->fd, dev_fb), 0);
	close(sys);
	close(dev);
	gem_close(vgem, handle);
	close(vgem);
}

igt_main
{
	struct kms k = { .fd = -1 };
	char param[64] = "";

	igt_fixture {
		FILE *f = fopen("/sys/module/vkms/parameters/devmem_region", "r");

		igt_require_f(f && fgets(param, sizeof(param), f) && !strcmp(param, "ivshmem\n"),
			      "vkms not booted with devmem_region=ivshmem\n");
		fclose(f);
		igt_assert_eq(kms_open(&k), 0);
	}

	igt_describe("vkms on device memory scans a heap buffer out and writes it back.");
	igt_subtest("scanout-writeback")
		demo_writeback(&k);

	igt_describe("Frames vkms composes per second from device and from system memory.");
	igt_subtest("compose-time")
		demo_compose_time(&k);

	igt_fixture {
		kms_off(&k);
		close(k.fd);
	}
}
