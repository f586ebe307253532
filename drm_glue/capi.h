/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The Rust side of the DRM glue's C face (capi.rs), for exports.c only.
 */
#ifndef _DEVMEM_DRM_CAPI_H
#define _DEVMEM_DRM_CAPI_H

#include <linux/types.h>

struct devmem_region;
struct dma_buf;
struct drm_device;
struct drm_gem_object;

struct drm_gem_object *drm_devmem_capi_create(struct drm_device *dev,
					      struct devmem_region *region,
					      size_t size, bool contiguous);
struct drm_gem_object *drm_devmem_capi_import(struct drm_device *dev,
					      struct dma_buf *dma_buf);

#endif /* _DEVMEM_DRM_CAPI_H */
