// SPDX-License-Identifier: GPL-2.0
/*
 * vkms scanning out of, and writing back into, buffers of the ivshmem
 * dma-buf heaps (device memory, a PCI BAR): a heap buffer imported with
 * PRIME into vkms must give the same pipe CRC as the same image in a dumb
 * buffer, in every format and layout tried; the writeback connector must
 * write a frame into a heap buffer that reads back equal to its input and
 * that the host finds in the device's backing file. Also what vkms makes
 * of a framebuffer whose first plane does not start at offset 0.
 */
#include "igt.h"
#include "kms_helpers.h"

/* The first plane of an "offset" framebuffer starts this many lines in. */
#define OFFSET_LINES	37
/* Bytes outside the image; any value the image does not fill with. */
#define FILLER		0x5a

struct fb_case {
	const char *name;
	unsigned int format;
	unsigned int lines0;
	unsigned long long rotation;
};

static const struct fb_case fb_cases[] = {
	{ "xrgb8888", DRM_FORMAT_XRGB8888, 0, DRM_MODE_ROTATE_0 },
	{ "argb8888", DRM_FORMAT_ARGB8888, 0, DRM_MODE_ROTATE_0 },
	{ "rgb565", DRM_FORMAT_RGB565, 0, DRM_MODE_ROTATE_0 },
	{ "nv12", DRM_FORMAT_NV12, 0, DRM_MODE_ROTATE_0 },
	{ "xrgb8888-offset", DRM_FORMAT_XRGB8888, OFFSET_LINES, DRM_MODE_ROTATE_0 },
	{ "xrgb8888-rotate-90", DRM_FORMAT_XRGB8888, 0, DRM_MODE_ROTATE_90 },
};

/* The buffer behind one framebuffer: a dumb buffer, or a heap buffer (dmabuf >= 0). */
struct fb_buf {
	int dmabuf;
	unsigned int handle, fb;
	unsigned char *map;
	unsigned long long size;
};

static void fb_buf_dumb(struct kms *k, const struct layout *l, struct fb_buf *b)
{
	struct dumb d = { 0 };
	int ret;

	ret = dumb_create(k->fd, l->pitches[0], (l->size + l->pitches[0] - 1) / l->pitches[0],
			  8, &d);
	igt_assert_f(ret == 0, "dumb buffer of %llu bytes: %s\n", l->size, strerror(-ret));
	b->dmabuf = -1;
	b->handle = d.handle;
	b->size = d.size;
	b->map = dumb_map(k->fd, &d);
	igt_assert(b->map != MAP_FAILED);
	image_write(b->map, l, FILLER);
	ret = layout_fb(k->fd, l, b->handle, &b->fb);
	igt_assert_f(ret == 0, "AddFB2 of a dumb buffer: %s\n", strerror(-ret));
}

static void fb_buf_heap(struct kms *k, const char *heap, const struct layout *l,
			struct fb_buf *b)
{
	int ret;

	b->dmabuf = heap_alloc_named(heap, l->size);
	igt_assert_f(b->dmabuf >= 0, "%llu bytes from %s: %s\n", l->size, heap,
		     strerror(-b->dmabuf));
	b->size = l->size;
	b->map = mmap(NULL, b->size, PROT_READ | PROT_WRITE, MAP_SHARED, b->dmabuf, 0);
	igt_assert(b->map != MAP_FAILED);
	igt_assert_eq(dmabuf_sync(b->dmabuf, DMA_BUF_SYNC_START | DMA_BUF_SYNC_WRITE), 0);
	image_write(b->map, l, FILLER);
	igt_assert_eq(dmabuf_sync(b->dmabuf, DMA_BUF_SYNC_END | DMA_BUF_SYNC_WRITE), 0);
	ret = prime_fd_to_handle(k->fd, b->dmabuf, &b->handle);
	igt_assert_f(ret == 0, "PRIME import into vkms: %s\n", strerror(-ret));
	ret = layout_fb(k->fd, l, b->handle, &b->fb);
	igt_assert_f(ret == 0, "AddFB2 of a %s buffer: %s\n", heap, strerror(-ret));
}

static void fb_buf_free(struct kms *k, struct fb_buf *b)
{
	igt_assert_eq(fb_remove(k->fd, b->fb), 0);
	munmap(b->map, b->size);
	igt_assert_eq(gem_close(k->fd, b->handle), 0);
	if (b->dmabuf >= 0)
		close(b->dmabuf);
}

/* Shows @fb, laid out as @l, on the whole CRTC: the pipe CRC. */
static unsigned int show_crc(struct kms *k, const struct layout *l, unsigned int fb,
			     unsigned long long rotation)
{
	unsigned int crc = 0;
	int ret;

	ret = kms_show(k, fb, l->w, l->h, rotation, 0, NULL);
	igt_assert_f(ret == 0, "atomic commit: %s\n", strerror(-ret));
	ret = kms_crc(k, &crc);
	igt_assert_f(ret == 0, "pipe CRC: %s\n", strerror(-ret));
	return crc;
}

/* The image size on the CRTC, swapped for a plane rotated by 90 degrees. */
static void fb_size(const struct kms *k, unsigned long long rotation, unsigned int *w,
		    unsigned int *h)
{
	*w = k->mode.hdisplay;
	*h = k->mode.vdisplay;
	if (rotation & (DRM_MODE_ROTATE_90 | DRM_MODE_ROTATE_270)) {
		*w = k->mode.vdisplay;
		*h = k->mode.hdisplay;
	}
}

static void test_crc(struct kms *k, const struct fb_case *c, const char *heap)
{
	struct fb_buf ref, dev;
	unsigned int w, h, crc_ref, crc_dev, crc_changed;
	struct layout l;
	int ret;

	fb_size(k, c->rotation, &w, &h);
	layout_init(&l, c->format, w, h, c->lines0);
	fb_buf_dumb(k, &l, &ref);
	fb_buf_heap(k, heap, &l, &dev);

	crc_ref = show_crc(k, &l, ref.fb, c->rotation);
	crc_dev = show_crc(k, &l, dev.fb, c->rotation);
	igt_info("crc %s %s: %08x, dumb buffer: %08x\n", c->name, heap, crc_dev, crc_ref);
	igt_assert_eq_u32(crc_dev, crc_ref);

	/* vkms reads the heap buffer at every frame: one changed byte shows. */
	igt_assert_eq(dmabuf_sync(dev.dmabuf, DMA_BUF_SYNC_START | DMA_BUF_SYNC_WRITE), 0);
	dev.map[layout_at(&l, w / 2, h / 2)] ^= 0xff;
	igt_assert_eq(dmabuf_sync(dev.dmabuf, DMA_BUF_SYNC_END | DMA_BUF_SYNC_WRITE), 0);
	ret = kms_crc(k, &crc_changed);
	igt_assert_f(ret == 0, "pipe CRC: %s\n", strerror(-ret));
	igt_assert_neq_u32(crc_changed, crc_dev);

	igt_assert_eq(kms_off(k), 0);
	fb_buf_free(k, &dev);
	fb_buf_free(k, &ref);
}

/*
 * The same image once at offsets[0] = 0 and once OFFSET_LINES lines into
 * its buffer (the lines before and after it hold FILLER) must scan out the
 * same. A driver that adds fb->offsets[0] to an address that already has
 * it (drm_gem_fb_vmap()'s data[0]) shows the image shifted up, with filler
 * at the bottom.
 */
static void test_fb_offset(struct kms *k, const char *heap)
{
	struct fb_buf at0, atx;
	unsigned int crc0, crcx;
	struct layout l0, lx;

	layout_init(&l0, DRM_FORMAT_XRGB8888, k->mode.hdisplay, k->mode.vdisplay, 0);
	layout_init(&lx, DRM_FORMAT_XRGB8888, k->mode.hdisplay, k->mode.vdisplay, OFFSET_LINES);
	if (heap) {
		fb_buf_heap(k, heap, &l0, &at0);
		fb_buf_heap(k, heap, &lx, &atx);
	} else {
		fb_buf_dumb(k, &l0, &at0);
		fb_buf_dumb(k, &lx, &atx);
	}
	crc0 = show_crc(k, &l0, at0.fb, DRM_MODE_ROTATE_0);
	crcx = show_crc(k, &lx, atx.fb, DRM_MODE_ROTATE_0);
	igt_info("fb offset %s: offsets[0]=0: %08x, offsets[0]=%u: %08x\n",
		 heap ?: "dumb", crc0, lx.offsets[0], crcx);
	igt_assert_f(crc0 == crcx,
		     "offsets[0]=%u scans out differently from offsets[0]=0 (CRC %08x, %08x)\n",
		     lx.offsets[0], crcx, crc0);
	igt_assert_eq(kms_off(k), 0);
	fb_buf_free(k, &atx);
	fb_buf_free(k, &at0);
}

/*
 * Writeback into a heap buffer: a dumb buffer with the test image and a
 * random marker on the plane, a framebuffer of a heap buffer as the
 * writeback connector's WRITEBACK_FB_ID. After the out-fence, the frame
 * read through the dma-buf's mmap must equal the input, and the host must
 * find the marker at its offset in the device's backing file (the buffer
 * is kept until power-off for that).
 */
static void test_writeback(struct kms *k, const char *heap)
{
	unsigned long long in_sum = CHECKSUM_INIT, out_sum = CHECKSUM_INIT, at;
	unsigned int y, row_bytes, marker_x, marker_y;
	unsigned char marker[64];
	struct fb_buf in, out;
	char region[64];
	struct layout l;
	int fence = -1, ret;

	igt_require_f(k->wb_conn && k->wb_fb_id && k->wb_fence_ptr,
		      "vkms has no writeback connector\n");
	layout_init(&l, DRM_FORMAT_XRGB8888, k->mode.hdisplay, k->mode.vdisplay, 0);
	fb_buf_dumb(k, &l, &in);
	/* 16 pixels of random colour, 64-byte aligned, in one block of the region. */
	random_bytes(marker, sizeof(marker));
	for (y = 3; y < sizeof(marker); y += 4)
		marker[y] = 0xff;	/* XRGB8888: writeback sets X to 0xff */
	marker_x = 16 * (random() % (l.w / 16));
	marker_y = random() % l.h;
	at = layout_at(&l, marker_x, marker_y);
	memcpy(in.map + at, marker, sizeof(marker));

	out.dmabuf = heap_alloc_named(heap, l.size);
	igt_assert_f(out.dmabuf >= 0, "%llu bytes from %s: %s\n", l.size, heap,
		     strerror(-out.dmabuf));
	out.size = l.size;
	out.map = mmap(NULL, out.size, PROT_READ, MAP_SHARED, out.dmabuf, 0);
	igt_assert(out.map != MAP_FAILED);
	igt_assert_eq(prime_fd_to_handle(k->fd, out.dmabuf, &out.handle), 0);
	ret = layout_fb(k->fd, &l, out.handle, &out.fb);
	igt_assert_f(ret == 0, "AddFB2 of a %s buffer: %s\n", heap, strerror(-ret));

	row_bytes = l.w * l.cpp;
	for (y = 0; y < l.h; y++)
		in_sum = checksum(in.map + layout_at(&l, 0, y), row_bytes, in_sum);
	ret = kms_show(k, in.fb, l.w, l.h, DRM_MODE_ROTATE_0, out.fb, &fence);
	igt_assert_f(ret == 0, "atomic commit with writeback: %s\n", strerror(-ret));
	igt_assert_f(fence >= 0, "no writeback out-fence\n");
	igt_assert_f(poll_events(fence, POLLIN, 10000) & POLLIN,
		     "the writeback out-fence did not signal within 10 s\n");
	close(fence);

	igt_assert_eq(dmabuf_sync(out.dmabuf, DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ), 0);
	for (y = 0; y < l.h; y++)
		out_sum = checksum(out.map + layout_at(&l, 0, y), row_bytes, out_sum);
	igt_assert_eq(dmabuf_sync(out.dmabuf, DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ), 0);
	igt_info("writeback %s: frame checksum %016llx, input %016llx\n", heap, out_sum, in_sum);
	igt_assert_eq_u64(out_sum, in_sum);
	igt_assert(!memcmp(out.map + at, marker, sizeof(marker)));

	heap_region(heap, region, sizeof(region));
	igt_assert_f(print_expect(region, out.dmabuf, at, marker, sizeof(marker)) == 0,
		     "the marker's place in region %s is unknown\n", region);
	igt_assert_eq(hold_until_poweroff(out.dmabuf), 0);

	igt_assert_eq(kms_off(k), 0);
	fb_buf_free(k, &out);
	fb_buf_free(k, &in);
}

igt_main
{
	struct kms k = { .fd = -1 };
	unsigned int i, j;

	igt_fixture {
		int ret = kms_open(&k);

		igt_require_f(ret == 0, "vkms as a KMS master: %s\n", strerror(-ret));
		igt_info("vkms: card%d, crtc %u, plane %u, connector %u, writeback %u, %ux%u\n",
			 k.minor, k.crtc, k.plane, k.conn, k.wb_conn, k.mode.hdisplay,
			 k.mode.vdisplay);
	}

	for (i = 0; i < ARRAY_SIZE(fb_cases); i++) {
		for (j = 0; j < ARRAY_SIZE(devmem_heaps); j++) {
			igt_describe("Heap buffer in vkms: CRC as in a dumb buffer; edits show.");
			igt_subtest_f("crc-%s-%s", fb_cases[i].name, devmem_heaps[j]) {
				igt_require(heap_exists(devmem_heaps[j]));
				test_crc(&k, &fb_cases[i], devmem_heaps[j]);
			}
		}
	}

	igt_describe("The same dumb-buffer image at offsets[0] 0 and >0 gives the same CRC.");
	igt_subtest("fb-offset-dumb")
		test_fb_offset(&k, NULL);

	igt_describe("The same heap-buffer image at offsets[0] 0 and >0 gives the same CRC.");
	igt_subtest_f("fb-offset-%s", devmem_heaps[0])
		test_fb_offset(&k, devmem_heaps[0]);

	for (j = 0; j < ARRAY_SIZE(devmem_heaps); j++) {
		igt_describe("Writeback into a heap buffer equals the input; the host sees it.");
		igt_subtest_f("writeback-%s", devmem_heaps[j]) {
			igt_require(heap_exists(devmem_heaps[j]));
			test_writeback(&k, devmem_heaps[j]);
		}
	}

	igt_fixture {
		kms_off(&k);
		close(k.fd);
	}
}
