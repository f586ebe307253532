/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The importers the selftests hand devmem-heap buffers to: vgem (a DRM
 * driver that imports by attaching only), the in-kernel test importer
 * (debugfs vmap_check, which maps buffers with dma_buf_vmap() and can hold
 * the mappings), and QEMU's edu driven by the edu_p2p test driver (a
 * peer-to-peer DMA importer).
 */
#ifndef DEVMEM_IMPORTERS_H
#define DEVMEM_IMPORTERS_H

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <drm/drm.h>
#include <drm/vgem_drm.h>

#include "kselftest.h"
#include "devmem_regions.h"
#include "../vkms_demo/edu_p2p_uapi.h"

#define VMAP_CHECK	DEBUGFS "/vmap_check"
#define BUFINFO		"/sys/kernel/debug/dma_buf/bufinfo"
#define MAX_EDUS	4

static __maybe_unused long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/*
 * The exporter name of the live dma-buf with inode @ino, from the dma-buf
 * core's list. Returns whether there is one.
 */
static __maybe_unused int bufinfo_exporter(unsigned long ino, char *exp, size_t n)
{
	char line[512], name[128];
	unsigned long lino;
	FILE *f = fopen(BUFINFO, "r");
	int found = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%*u %*x %*x %*d %127s %lu", name, &lino) == 2 &&
		    lino == ino) {
			snprintf(exp, n, "%s", name);
			found = 1;
		}
	}
	fclose(f);
	return found;
}

/* The card whose driver is vgem, or -1. */
static __maybe_unused int open_vgem(void)
{
	char path[64];
	int i, fd;

	for (i = 0; i < 8; i++) {
		struct drm_version v = { 0 };
		char name[16] = "";

		snprintf(path, sizeof(path), "/dev/dri/card%d", i);
		fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			continue;
		v.name = name;
		v.name_len = sizeof(name) - 1;
		if (!ioctl(fd, DRM_IOCTL_VERSION, &v) && !strcmp(name, "vgem"))
			return fd;
		close(fd);
	}
	return -1;
}

/* Appends the @n bytes @pat in hex to the @len bytes of @cmd. */
static __maybe_unused int append_hex(char *cmd, size_t size, int len,
				     const unsigned char *pat, size_t n)
{
	size_t i;

	for (i = 0; i < n && len < (int)size - 3; i++)
		len += snprintf(cmd + len, size - len, "%02x", pat[i]);
	return len;
}

/* Puts an unsignalled vgem fence on the object @handle: its id, or -1. */
static __maybe_unused int vgem_fence(int vgem, unsigned int handle, unsigned int flags)
{
	struct drm_vgem_fence_attach attach = { .handle = handle, .flags = flags };

	if (ioctl(vgem, DRM_IOCTL_VGEM_FENCE_ATTACH, &attach))
		return -1;
	return attach.out_fence;
}

static __maybe_unused int vgem_signal(int vgem, int fence)
{
	struct drm_vgem_fence_signal sig = { .fence = fence };

	return ioctl(vgem, DRM_IOCTL_VGEM_FENCE_SIGNAL, &sig);
}

/*
 * One command to the in-kernel test importer (see devmem_heap/vmap_check.rs),
 * its text made from @fmt, then @pat in hex if @n is not 0. Returns 0 or
 * -errno.
 */
static __maybe_unused int vmap_cmd(const unsigned char *pat, size_t n, const char *fmt, ...)
{
	char cmd[64 + 512];
	va_list ap;
	int len, ret = 0;
	int f = open(VMAP_CHECK, O_WRONLY);

	if (f < 0)
		return -errno;
	va_start(ap, fmt);
	len = vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	len = append_hex(cmd, sizeof(cmd), len, pat, n);
	if (write(f, cmd, len) != len)
		ret = -errno;
	close(f);
	return ret;
}

/*
 * Whether the bytes at @off of the dma-buf @fd read through dma_buf_vmap()
 * are @n bytes of @pat. Returns 0 or -errno (-EIO if they differ).
 */
static __maybe_unused int kernel_vmap_check(int fd, size_t off,
					    const unsigned char *pat, size_t n)
{
	return vmap_cmd(pat, n, "%d %zu ", fd, off);
}

struct edu {
	char path[32];
	char pci[32];
};

/* The edu behind the switch, next to ivshmem, and the one on the root bus. */
static struct edu peer, root;

static __maybe_unused void find_edus(void)
{
	struct edu_p2p_device d;
	int i, fd;

	memset(&peer, 0, sizeof(peer));
	memset(&root, 0, sizeof(root));
	for (i = 0; i < MAX_EDUS; i++) {
		struct edu e;

		snprintf(e.path, sizeof(e.path), "/dev/edu_p2p%d", i);
		fd = open(e.path, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			continue;
		memset(&d, 0, sizeof(d));
		if (!ioctl(fd, EDU_P2P_IOCTL_DEVICE, &d)) {
			snprintf(e.pci, sizeof(e.pci), "%.31s", d.pci_name);
			if (!strncmp(e.pci, "0000:00:", 8))
				root = e;
			else
				peer = e;
		}
		close(fd);
	}
}

static __maybe_unused int edu_open(const struct edu *e)
{
	return open(e->path, O_RDWR | O_CLOEXEC);
}

static __maybe_unused int edu_import(int edu, int buf, unsigned int flags, unsigned int bits)
{
	struct edu_p2p_import a = { .fd = buf, .flags = flags, .dma_bits = bits };

	return ioctl(edu, EDU_P2P_IOCTL_IMPORT, &a) ? -errno : 0;
}

static __maybe_unused int edu_dma(int edu, void *user, unsigned long long off,
				  unsigned long long len, unsigned int dir)
{
	struct edu_p2p_dma a = {
		.user = (unsigned long)user, .offset = off, .len = len, .dir = dir,
	};

	return ioctl(edu, EDU_P2P_IOCTL_DMA, &a) ? -errno : 0;
}

static __maybe_unused int edu_info(int edu, struct edu_p2p_info *info,
				   struct edu_p2p_range *ranges, unsigned int max)
{
	memset(info, 0, sizeof(*info));
	info->ranges = (unsigned long)ranges;
	info->max_ranges = ranges ? max : 0;
	return ioctl(edu, EDU_P2P_IOCTL_INFO, info) ? -errno : 0;
}

static __maybe_unused unsigned long long edu_transfers(int edu)
{
	struct edu_p2p_info info;

	return edu_info(edu, &info, NULL, 0) ? ~0ULL : info.transfers;
}

#endif /* DEVMEM_IMPORTERS_H */
