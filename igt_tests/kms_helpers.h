/* SPDX-License-Identifier: GPL-2.0 */
/*
 * KMS on vkms with raw ioctls, for the project's IGT tests: one CRTC, its
 * primary plane and its connector, the writeback connector, atomic commits
 * (DRM_IOCTL_MODE_ATOMIC), framebuffers (ADDFB2), the pipe CRC from debugfs
 * (dri/N/crtc-I/crc/{control,data}), and a test image written in the pixel
 * formats the tests scan out (XRGB8888, ARGB8888, RGB565, NV12).
 */
#ifndef DEVMEM_IGT_KMS_H
#define DEVMEM_IGT_KMS_H

#include "devmem_igt.h"

#include <drm/drm_fourcc.h>

#define KMS_MAX_PROPS	32
/* The "type" property of a plane: DRM_PLANE_TYPE_PRIMARY in the kernel. */
#define KMS_PLANE_TYPE_PRIMARY	1
/* Values of a plane's COLOR_ENCODING and COLOR_RANGE: enum drm_color_*. */
#define KMS_YCBCR_BT601		0
#define KMS_YCBCR_FULL_RANGE	1

struct kms {
	int fd, minor;
	unsigned int crtc, crtc_index, conn, wb_conn, plane;
	struct drm_mode_modeinfo mode;
	unsigned int mode_blob;
	/* Property ids by object. */
	struct {
		unsigned int fb_id, crtc_id, src_x, src_y, src_w, src_h;
		unsigned int crtc_x, crtc_y, crtc_w, crtc_h, rotation;
		unsigned int color_encoding, color_range;
	} p;
	unsigned int crtc_mode_id, crtc_active, conn_crtc_id;
	unsigned int wb_crtc_id, wb_fb_id, wb_fence_ptr;
};

/*
 * The id of the property @name of the object @obj, and its value in
 * @value if not NULL; 0 if it has none.
 */
static inline unsigned int kms_prop(int fd, unsigned int obj, unsigned int type, const char *name,
				    unsigned long long *value)
{
	unsigned int ids[KMS_MAX_PROPS * 2];
	unsigned long long values[KMS_MAX_PROPS * 2];
	struct drm_mode_obj_get_properties op = {
		.props_ptr = (unsigned long)ids,
		.prop_values_ptr = (unsigned long)values,
		.count_props = KMS_MAX_PROPS * 2,
		.obj_id = obj,
		.obj_type = type,
	};
	unsigned int i;

	if (ioctl(fd, DRM_IOCTL_MODE_OBJ_GETPROPERTIES, &op))
		return 0;
	for (i = 0; i < op.count_props && i < KMS_MAX_PROPS * 2; i++) {
		struct drm_mode_get_property gp = { .prop_id = ids[i] };

		if (ioctl(fd, DRM_IOCTL_MODE_GETPROPERTY, &gp))
			continue;
		if (!strcmp(gp.name, name)) {
			if (value)
				*value = values[i];
			return ids[i];
		}
	}
	return 0;
}

static inline int kms_get_connector(int fd, unsigned int id, struct drm_mode_get_connector *c,
				    struct drm_mode_modeinfo *modes, unsigned int max_modes)
{
	memset(c, 0, sizeof(*c));
	c->connector_id = id;
	if (ioctl(fd, DRM_IOCTL_MODE_GETCONNECTOR, c))
		return -errno;
	if (c->count_modes > max_modes)
		c->count_modes = max_modes;
	c->modes_ptr = (unsigned long)modes;
	c->count_props = 0;
	c->count_encoders = 0;
	return ioctl(fd, DRM_IOCTL_MODE_GETCONNECTOR, c) ? -errno : 0;
}

/*
 * Opens vkms as a KMS master with atomic and writeback connectors enabled,
 * and picks its first CRTC, that CRTC's primary plane, a connected
 * connector with a 640x480 mode (else its first mode), and the writeback
 * connector (0 if there is none). Returns 0 or -errno.
 */
static inline int kms_open(struct kms *k)
{
	unsigned int crtcs[8], conns[16], planes[16], i;
	struct drm_mode_card_res res = { 0 };
	struct drm_mode_get_plane_res pres = { 0 };
	struct drm_mode_modeinfo modes[64];
	struct drm_set_client_cap cap = { .value = 1 };
	struct drm_mode_create_blob blob = { 0 };

	memset(k, 0, sizeof(*k));
	k->fd = drm_open_driver_minor("vkms", &k->minor);
	if (k->fd < 0)
		return -ENODEV;
	cap.capability = DRM_CLIENT_CAP_UNIVERSAL_PLANES;
	if (ioctl(k->fd, DRM_IOCTL_SET_CLIENT_CAP, &cap))
		return -errno;
	cap.capability = DRM_CLIENT_CAP_ATOMIC;
	if (ioctl(k->fd, DRM_IOCTL_SET_CLIENT_CAP, &cap))
		return -errno;
	cap.capability = DRM_CLIENT_CAP_WRITEBACK_CONNECTORS;
	if (ioctl(k->fd, DRM_IOCTL_SET_CLIENT_CAP, &cap))
		return -errno;

	if (ioctl(k->fd, DRM_IOCTL_MODE_GETRESOURCES, &res))
		return -errno;
	if (!res.count_crtcs || res.count_crtcs > 8 || res.count_connectors > 16)
		return -ENODEV;
	res.crtc_id_ptr = (unsigned long)crtcs;
	res.connector_id_ptr = (unsigned long)conns;
	res.count_fbs = 0;
	res.count_encoders = 0;
	if (ioctl(k->fd, DRM_IOCTL_MODE_GETRESOURCES, &res))
		return -errno;
	k->crtc = crtcs[0];
	k->crtc_index = 0;

	for (i = 0; i < res.count_connectors; i++) {
		struct drm_mode_get_connector c;
		unsigned int m;

		if (kms_get_connector(k->fd, conns[i], &c, modes, 64))
			continue;
		if (c.connector_type == DRM_MODE_CONNECTOR_WRITEBACK) {
			k->wb_conn = conns[i];
			continue;
		}
		if (k->conn || c.connection != 1 || !c.count_modes)
			continue;
		k->conn = conns[i];
		k->mode = modes[0];
		for (m = 0; m < c.count_modes; m++) {
			if (modes[m].hdisplay == 640 && modes[m].vdisplay == 480) {
				k->mode = modes[m];
				break;
			}
		}
	}
	if (!k->conn)
		return -ENODEV;

	if (ioctl(k->fd, DRM_IOCTL_MODE_GETPLANERESOURCES, &pres))
		return -errno;
	pres.count_planes = pres.count_planes > 16 ? 16 : pres.count_planes;
	pres.plane_id_ptr = (unsigned long)planes;
	if (ioctl(k->fd, DRM_IOCTL_MODE_GETPLANERESOURCES, &pres))
		return -errno;
	for (i = 0; i < pres.count_planes && !k->plane; i++) {
		struct drm_mode_get_plane gp = { .plane_id = planes[i] };
		unsigned long long type = 0;

		if (ioctl(k->fd, DRM_IOCTL_MODE_GETPLANE, &gp) ||
		    !(gp.possible_crtcs & (1u << k->crtc_index)))
			continue;
		if (kms_prop(k->fd, planes[i], DRM_MODE_OBJECT_PLANE, "type", &type) &&
		    type == KMS_PLANE_TYPE_PRIMARY)
			k->plane = planes[i];
	}
	if (!k->plane)
		return -ENODEV;

#define PLANE_PROP(field, name) \
	k->p.field = kms_prop(k->fd, k->plane, DRM_MODE_OBJECT_PLANE, name, NULL)
	PLANE_PROP(fb_id, "FB_ID");
	PLANE_PROP(crtc_id, "CRTC_ID");
	PLANE_PROP(src_x, "SRC_X");
	PLANE_PROP(src_y, "SRC_Y");
	PLANE_PROP(src_w, "SRC_W");
	PLANE_PROP(src_h, "SRC_H");
	PLANE_PROP(crtc_x, "CRTC_X");
	PLANE_PROP(crtc_y, "CRTC_Y");
	PLANE_PROP(crtc_w, "CRTC_W");
	PLANE_PROP(crtc_h, "CRTC_H");
	PLANE_PROP(rotation, "rotation");
	PLANE_PROP(color_encoding, "COLOR_ENCODING");
	PLANE_PROP(color_range, "COLOR_RANGE");
#undef PLANE_PROP
	k->crtc_mode_id = kms_prop(k->fd, k->crtc, DRM_MODE_OBJECT_CRTC, "MODE_ID", NULL);
	k->crtc_active = kms_prop(k->fd, k->crtc, DRM_MODE_OBJECT_CRTC, "ACTIVE", NULL);
	k->conn_crtc_id = kms_prop(k->fd, k->conn, DRM_MODE_OBJECT_CONNECTOR, "CRTC_ID", NULL);
	if (k->wb_conn) {
		k->wb_crtc_id = kms_prop(k->fd, k->wb_conn, DRM_MODE_OBJECT_CONNECTOR,
					 "CRTC_ID", NULL);
		k->wb_fb_id = kms_prop(k->fd, k->wb_conn, DRM_MODE_OBJECT_CONNECTOR,
				       "WRITEBACK_FB_ID", NULL);
		k->wb_fence_ptr = kms_prop(k->fd, k->wb_conn, DRM_MODE_OBJECT_CONNECTOR,
					   "WRITEBACK_OUT_FENCE_PTR", NULL);
	}
	if (!k->p.fb_id || !k->p.crtc_id || !k->crtc_mode_id || !k->crtc_active ||
	    !k->conn_crtc_id)
		return -ENOENT;

	blob.data = (unsigned long)&k->mode;
	blob.length = sizeof(k->mode);
	if (ioctl(k->fd, DRM_IOCTL_MODE_CREATEPROPBLOB, &blob))
		return -errno;
	k->mode_blob = blob.blob_id;
	return 0;
}

struct atomic_req {
	unsigned int objs[8], counts[8], props[32];
	unsigned long long values[32];
	unsigned int nobjs, nprops;
};

/* Adds a property to the request; properties of one object go in a row. */
static inline void atomic_add(struct atomic_req *r, unsigned int obj, unsigned int prop,
			      unsigned long long value)
{
	if (!prop || r->nprops >= ARRAY_SIZE(r->props))
		return;
	if (!r->nobjs || r->objs[r->nobjs - 1] != obj) {
		if (r->nobjs >= ARRAY_SIZE(r->objs))
			return;
		r->objs[r->nobjs] = obj;
		r->counts[r->nobjs++] = 0;
	}
	r->counts[r->nobjs - 1]++;
	r->props[r->nprops] = prop;
	r->values[r->nprops++] = value;
}

static inline int atomic_commit(int fd, const struct atomic_req *r, unsigned int flags)
{
	struct drm_mode_atomic a = {
		.flags = flags,
		.count_objs = r->nobjs,
		.objs_ptr = (unsigned long)r->objs,
		.count_props_ptr = (unsigned long)r->counts,
		.props_ptr = (unsigned long)r->props,
		.prop_values_ptr = (unsigned long)r->values,
	};

	return ioctl(fd, DRM_IOCTL_MODE_ATOMIC, &a) ? -errno : 0;
}

/*
 * Shows the framebuffer @fb, of @w x @h pixels, on the whole CRTC with the
 * plane rotation @rotation (DRM_MODE_ROTATE_*): a blocking modeset commit.
 * With @wb_fb, the frame is also written back into that framebuffer and
 * @out_fence gets the writeback's fence. Returns 0 or -errno.
 */
static inline int kms_show(struct kms *k, unsigned int fb, unsigned int w, unsigned int h,
			   unsigned long long rotation, unsigned int wb_fb, int *out_fence)
{
	struct atomic_req r = { 0 };

	atomic_add(&r, k->plane, k->p.fb_id, fb);
	atomic_add(&r, k->plane, k->p.crtc_id, k->crtc);
	atomic_add(&r, k->plane, k->p.src_x, 0);
	atomic_add(&r, k->plane, k->p.src_y, 0);
	atomic_add(&r, k->plane, k->p.src_w, (unsigned long long)w << 16);
	atomic_add(&r, k->plane, k->p.src_h, (unsigned long long)h << 16);
	atomic_add(&r, k->plane, k->p.crtc_x, 0);
	atomic_add(&r, k->plane, k->p.crtc_y, 0);
	atomic_add(&r, k->plane, k->p.crtc_w, k->mode.hdisplay);
	atomic_add(&r, k->plane, k->p.crtc_h, k->mode.vdisplay);
	atomic_add(&r, k->plane, k->p.rotation, rotation);
	/* Not left to earlier clients: YUV as image_write() encodes it. */
	atomic_add(&r, k->plane, k->p.color_encoding, KMS_YCBCR_BT601);
	atomic_add(&r, k->plane, k->p.color_range, KMS_YCBCR_FULL_RANGE);
	atomic_add(&r, k->crtc, k->crtc_mode_id, k->mode_blob);
	atomic_add(&r, k->crtc, k->crtc_active, 1);
	atomic_add(&r, k->conn, k->conn_crtc_id, k->crtc);
	if (wb_fb) {
		*out_fence = -1;
		atomic_add(&r, k->wb_conn, k->wb_crtc_id, k->crtc);
		atomic_add(&r, k->wb_conn, k->wb_fb_id, wb_fb);
		atomic_add(&r, k->wb_conn, k->wb_fence_ptr, (unsigned long)out_fence);
	}
	return atomic_commit(k->fd, &r, DRM_MODE_ATOMIC_ALLOW_MODESET);
}

/* Turns the pipe off and takes every framebuffer off it. */
static inline int kms_off(struct kms *k)
{
	struct atomic_req r = { 0 };

	atomic_add(&r, k->plane, k->p.fb_id, 0);
	atomic_add(&r, k->plane, k->p.crtc_id, 0);
	atomic_add(&r, k->crtc, k->crtc_mode_id, 0);
	atomic_add(&r, k->crtc, k->crtc_active, 0);
	atomic_add(&r, k->conn, k->conn_crtc_id, 0);
	if (k->wb_conn)
		atomic_add(&r, k->wb_conn, k->wb_crtc_id, 0);
	return atomic_commit(k->fd, &r, DRM_MODE_ATOMIC_ALLOW_MODESET);
}

static inline int fb_add(int fd, unsigned int w, unsigned int h, unsigned int format,
			 const unsigned int handles[4], const unsigned int pitches[4],
			 const unsigned int offsets[4], unsigned int *fb)
{
	struct drm_mode_fb_cmd2 f = { .width = w, .height = h, .pixel_format = format };

	memcpy(f.handles, handles, sizeof(f.handles));
	memcpy(f.pitches, pitches, sizeof(f.pitches));
	memcpy(f.offsets, offsets, sizeof(f.offsets));
	if (ioctl(fd, DRM_IOCTL_MODE_ADDFB2, &f))
		return -errno;
	*fb = f.fb_id;
	return 0;
}

static inline int fb_remove(int fd, unsigned int fb)
{
	return ioctl(fd, DRM_IOCTL_MODE_RMFB, &fb) ? -errno : 0;
}

/*
 * Starts CRC capture on the CRTC (source "auto") and opens its entries with
 * @flags (O_NONBLOCK or 0): the fd, or -errno. Closing it stops capture.
 */
static inline int kms_crc_open(struct kms *k, int flags)
{
	char dir[128], path[160];
	int fd, ctl, ret;

	snprintf(dir, sizeof(dir), "/sys/kernel/debug/dri/%d/crtc-%u/crc", k->minor,
		 k->crtc_index);
	snprintf(path, sizeof(path), "%s/control", dir);
	ctl = open(path, O_WRONLY);
	if (ctl < 0)
		return -errno;
	ret = write(ctl, "auto", 4) == 4 ? 0 : -errno;
	close(ctl);
	if (ret)
		return ret;
	snprintf(path, sizeof(path), "%s/data", dir);
	fd = open(path, O_RDONLY | O_CLOEXEC | flags);
	return fd < 0 ? -errno : fd;
}

/*
 * The pipe CRC of what the CRTC shows now: starts CRC capture on the CRTC
 * (source "auto"), skips the entries of frames up to the current vblank
 * (a composition already under way when capture started may report old
 * contents), then takes the next two entries, which must agree (vkms
 * repeats one composition's CRC for frames it fell behind on). Stops
 * capture. Returns 0 with the CRC in @crc, or -errno (-ETIMEDOUT if no
 * frame came within 5 s, -ESTALE if the two frames differ).
 */
static inline int kms_crc(struct kms *k, unsigned int *crc)
{
	struct drm_crtc_get_sequence seq = { .crtc_id = k->crtc };
	unsigned int value, frame, got = 0;
	int fd, i, ret = -ETIMEDOUT;
	char line[64];

	fd = kms_crc_open(k, 0);
	if (fd < 0)
		return fd;
	if (ioctl(k->fd, DRM_IOCTL_CRTC_GET_SEQUENCE, &seq)) {
		ret = -errno;
		goto out;
	}
	for (i = 0; i < 60; i++) {
		ssize_t n;

		if (!(poll_events(fd, POLLIN, 5000) & POLLIN)) {
			ret = -ETIMEDOUT;
			break;
		}
		n = read(fd, line, sizeof(line) - 1);
		if (n <= 0) {
			ret = n ? -errno : -EIO;
			break;
		}
		line[n] = 0;
		if (sscanf(line, "%x %x", &frame, &value) != 2) {
			ret = -EIO;
			break;
		}
		igt_debug("crc after vblank %llu: %s", (unsigned long long)seq.sequence, line);
		if ((int)(frame - (unsigned int)seq.sequence) <= 0)
			continue;
		if (got++) {
			ret = value == *crc ? 0 : -ESTALE;
			break;
		}
		*crc = value;
	}
out:
	close(fd);
	return ret;
}

/* The layout of a test image in a buffer: one or two planes. */
struct layout {
	unsigned int format, w, h, cpp, planes;
	unsigned int pitches[4], offsets[4];
	unsigned long long size;
};

/*
 * The layout of a @w x @h image of @format whose first plane starts at
 * @lines0 lines into the buffer; the pitch is rounded up to 64 bytes; the
 * buffer holds twice the offset more than the image, so that a reader that
 * adds the offset twice stays inside it. An NV12 image keeps both planes
 * in one buffer, the CbCr plane right after the Y plane.
 */
static inline void layout_init(struct layout *l, unsigned int format, unsigned int w,
			       unsigned int h, unsigned int lines0)
{
	memset(l, 0, sizeof(*l));
	l->format = format;
	l->w = w;
	l->h = h;
	l->planes = 1;
	l->cpp = format == DRM_FORMAT_RGB565 ? 2 : format == DRM_FORMAT_NV12 ? 1 : 4;
	l->pitches[0] = align_up(w * l->cpp, 64);
	l->offsets[0] = lines0 * l->pitches[0];
	l->size = l->offsets[0] + (unsigned long long)l->pitches[0] * h;
	if (format == DRM_FORMAT_NV12) {
		l->planes = 2;
		l->pitches[1] = l->pitches[0];
		l->offsets[1] = l->size;
		l->size += (unsigned long long)l->pitches[1] * (h / 2);
	}
	l->size = align_up(l->size + l->offsets[0], PAGE_SIZE_4K);
}

/* The test image's pixel (@x, @y) as 8-bit A, R, G, B. */
static inline void image_pixel(const struct layout *l, unsigned int x, unsigned int y,
			       unsigned char argb[4])
{
	unsigned int hash = (x * 2654435761u) ^ (y * 40503u);

	hash ^= hash >> 13;
	argb[1] = x * 255 / (l->w - 1);
	argb[2] = y * 255 / (l->h - 1);
	argb[3] = (((x / 40) ^ (y / 40)) & 1 ? 0xc0 : 0x30) ^ (hash & 0x1f);
	/* Translucent in one band (ARGB8888 only), away from the centre. */
	argb[0] = l->format == DRM_FORMAT_ARGB8888 && y < l->h / 4 ? (x * 3) & 0xff : 0xff;
}

static inline unsigned char clamp_u8(int v)
{
	return v < 0 ? 0 : v > 255 ? 255 : v;
}

/*
 * Writes the test image into @base laid out as @l; the rest of the buffer
 * (the gap before an offset plane and the space after the image) gets
 * @filler.
 */
static inline void image_write(unsigned char *base, const struct layout *l, unsigned char filler)
{
	unsigned char argb[4];
	unsigned int x, y;

	memset(base, filler, l->size);
	for (y = 0; y < l->h; y++) {
		unsigned char *row = base + l->offsets[0] + (unsigned long long)y * l->pitches[0];

		for (x = 0; x < l->w; x++) {
			unsigned char *p = row + x * l->cpp;
			unsigned short v;
			int yy;

			image_pixel(l, x, y, argb);
			switch (l->format) {
			case DRM_FORMAT_RGB565:
				v = (argb[1] >> 3) << 11 | (argb[2] >> 2) << 5 | argb[3] >> 3;
				memcpy(p, &v, 2);
				break;
			case DRM_FORMAT_NV12:
				/* BT.601 full range, vkms's default encoding. */
				yy = (77 * argb[1] + 150 * argb[2] + 29 * argb[3]) >> 8;
				p[0] = clamp_u8(yy);
				if (!(x & 1) && !(y & 1)) {
					unsigned long long at = l->offsets[1] + x +
						(unsigned long long)(y / 2) * l->pitches[1];
					unsigned char *c = base + at;

					c[0] = clamp_u8(128 + ((-43 * argb[1] - 85 * argb[2] +
								128 * argb[3]) >> 8));
					c[1] = clamp_u8(128 + ((128 * argb[1] - 107 * argb[2] -
								21 * argb[3]) >> 8));
				}
				break;
			default:	/* [XA]RGB8888, little-endian: B G R A */
				p[0] = argb[3];
				p[1] = argb[2];
				p[2] = argb[1];
				p[3] = argb[0];
				break;
			}
		}
	}
}

/* The offset of the first byte of pixel (@x, @y) of the first plane. */
static inline unsigned long long layout_at(const struct layout *l, unsigned int x, unsigned int y)
{
	return l->offsets[0] + (unsigned long long)y * l->pitches[0] + x * l->cpp;
}

/* A framebuffer of @handle laid out as @l: 0 or -errno. */
static inline int layout_fb(int fd, const struct layout *l, unsigned int handle, unsigned int *fb)
{
	unsigned int handles[4] = { handle, l->planes > 1 ? handle : 0 };

	return fb_add(fd, l->w, l->h, l->format, handles, l->pitches, l->offsets, fb);
}

/* FNV-1a over @n bytes: the checksum the writeback test compares. */
static inline unsigned long long checksum(const unsigned char *p, size_t n, unsigned long long h)
{
	while (n--)
		h = (h ^ *p++) * 0x100000001b3ULL;
	return h;
}

#define CHECKSUM_INIT	0xcbf29ce484222325ULL

#endif /* DEVMEM_IGT_KMS_H */
