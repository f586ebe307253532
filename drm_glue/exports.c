// SPDX-License-Identifier: GPL-2.0
/*
 * The C face of the DRM glue of devmem-heap: thin wrappers of the Rust
 * implementation (capi.rs, gem.rs), exported to modules.
 */

#include <drm/drm_devmem.h>
#include <drm/drm_dumb_buffers.h>
#include <drm/drm_gem.h>
#include <drm/drm_mode.h>
#include <linux/devmem_heap.h>
#include <linux/export.h>

#include "capi.h"

/**
 * drm_devmem_gem_create() - allocate a GEM object from a devmem-heap region
 * @dev: the DRM device the object is for
 * @region: the region, a reference from devmem_region_find()
 * @size: size in bytes, rounded up to the page size
 * @flags: DEVMEM_ALLOC_* flags
 *
 * The object's memory is a new zero-filled buffer of @region, which PRIME
 * export returns as it is. It is revoked with the region: its mappings then
 * read zeroes and fault.
 *
 * Context: Process context; sleeps.
 * Return: the object's only reference, or an ERR_PTR(): -EINVAL for a zero
 * size, a size larger than the region or a bad flag, -ENODEV if the region
 * is withdrawn, -ENOMEM if it cannot hold the buffer now, -EINTR if the task
 * is killed while the buffer is cleared.
 */
struct drm_gem_object *drm_devmem_gem_create(struct drm_device *dev,
					     struct devmem_region *region,
					     size_t size, unsigned int flags)
{
	if (flags & ~DEVMEM_ALLOC_CONTIGUOUS)
		return ERR_PTR(-EINVAL);
	return drm_devmem_capi_create(dev, region, size,
				      flags & DEVMEM_ALLOC_CONTIGUOUS);
}
EXPORT_SYMBOL_GPL(drm_devmem_gem_create);

/**
 * drm_devmem_dumb_create() - &drm_driver.dumb_create on a devmem-heap region
 * @file: the DRM file to create the handle in
 * @dev: the DRM device
 * @args: the ioctl's arguments
 * @region: name of the region to allocate from, looked up on each call
 *
 * Sizes the buffer with drm_mode_size_dumb(), allocates it from @region
 * with drm_devmem_gem_create() and returns a handle of it in @args. The
 * handle can be mapped with DRM_IOCTL_MODE_MAP_DUMB and exported with PRIME.
 *
 * Context: Process context; sleeps.
 * Return: 0, or -ENODEV if no live region has the name @region, or an error
 * of drm_mode_size_dumb(), drm_devmem_gem_create() or
 * drm_gem_handle_create().
 */
int drm_devmem_dumb_create(struct drm_file *file, struct drm_device *dev,
			   struct drm_mode_create_dumb *args,
			   const char *region)
{
	struct devmem_region *r;
	struct drm_gem_object *obj;
	int ret;

	ret = drm_mode_size_dumb(dev, args, 0, 0);
	if (ret)
		return ret;

	r = devmem_region_find(region);
	if (!r)
		return -ENODEV;
	obj = drm_devmem_gem_create(dev, r, args->size, 0);
	devmem_region_put(r);
	if (IS_ERR(obj))
		return PTR_ERR(obj);

	ret = drm_gem_handle_create(file, obj, &args->handle);
	drm_gem_object_put(obj);
	return ret;
}
EXPORT_SYMBOL_GPL(drm_devmem_dumb_create);

/**
 * drm_devmem_prime_import() - &drm_driver.gem_prime_import for region buffers
 * @dev: the DRM device importing
 * @dma_buf: the buffer
 *
 * If @dma_buf is a buffer of a devmem-heap region, returns @dev's GEM object
 * for it: the one @dev has already, made by drm_devmem_gem_create() or an
 * earlier import, or a new one. Such an object is no imported object: it has
 * no attachment, maps as the buffer does and can be mapped with
 * DRM_IOCTL_MODE_MAP_DUMB. Other buffers are the caller's to import.
 *
 * Context: Process context, under &drm_device.object_name_lock as
 * drm_gem_prime_fd_to_handle() calls &drm_driver.gem_prime_import.
 * Return: a reference to the object, an ERR_PTR() (-ENOMEM), or NULL if
 * @dma_buf is not a buffer of a devmem-heap region.
 */
struct drm_gem_object *drm_devmem_prime_import(struct drm_device *dev,
					       struct dma_buf *dma_buf)
{
	return drm_devmem_capi_import(dev, dma_buf);
}
EXPORT_SYMBOL_GPL(drm_devmem_prime_import);
