/* SPDX-License-Identifier: GPL-2.0 */
/*
 * GEM objects on device memory: buffers of devmem-heap regions
 * (<linux/devmem_heap.h>) as GEM objects of any DRM driver.
 *
 * PRIME export of such an object returns the region's own dma-buf, vmap and
 * mmap forward to it, and a region's dma-buf imported with
 * drm_devmem_prime_import() gives back the device's object for it. The
 * functions are documented where they are defined, in
 * drivers/dma-buf/devmem/drm_glue/exports.c.
 */
#ifndef _DRM_DEVMEM_H_
#define _DRM_DEVMEM_H_

#include <linux/err.h>
#include <linux/types.h>

struct devmem_region;
struct dma_buf;
struct drm_device;
struct drm_file;
struct drm_gem_object;
struct drm_mode_create_dumb;

#if IS_ENABLED(CONFIG_DEVMEM_HEAP_DRM)

struct drm_gem_object *drm_devmem_gem_create(struct drm_device *dev,
					     struct devmem_region *region,
					     size_t size, unsigned int flags);

int drm_devmem_dumb_create(struct drm_file *file, struct drm_device *dev,
			   struct drm_mode_create_dumb *args,
			   const char *region);

struct drm_gem_object *drm_devmem_prime_import(struct drm_device *dev,
					       struct dma_buf *dma_buf);

#else

static inline struct drm_gem_object *
drm_devmem_gem_create(struct drm_device *dev, struct devmem_region *region,
		      size_t size, unsigned int flags)
{
	return ERR_PTR(-ENODEV);
}

static inline int drm_devmem_dumb_create(struct drm_file *file,
					 struct drm_device *dev,
					 struct drm_mode_create_dumb *args,
					 const char *region)
{
	return -ENODEV;
}

static inline struct drm_gem_object *
drm_devmem_prime_import(struct drm_device *dev, struct dma_buf *dma_buf)
{
	return NULL;
}

#endif /* CONFIG_DEVMEM_HEAP_DRM */

#endif /* _DRM_DEVMEM_H_ */
