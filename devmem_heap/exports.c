// SPDX-License-Identifier: GPL-2.0
/*
 * The C face of devmem-heap: thin wrappers of the Rust implementation
 * (capi.rs), exported to modules.
 */

#include <linux/devmem_heap.h>
#include <linux/err.h>
#include <linux/export.h>
#include <linux/pci.h>

#include "capi.h"

/**
 * devmem_region_register() - publish device memory as dma-buf heaps
 * @dev: the device owning the memory, bound to the calling driver
 * @base: physical address of the memory, page aligned
 * @size: size of the memory in bytes, page aligned
 * @name: base name of the heaps: 1 to 48 of ``[A-Za-z0-9_.-]``
 * @chunk_size: smallest allocation, a power of two of at least PAGE_SIZE
 * @flags: DEVMEM_REGION_* flags
 *
 * The region is withdrawn when @dev is unbound: its heaps stay, but fail
 * with -ENODEV until a region of the same name registers again.
 *
 * Context: Process context, from the driver's probe.
 * Return: a reference to the region, to drop with devmem_region_put(), or
 * an ERR_PTR(): -EINVAL for a bad name, range, chunk size or flag, -EEXIST
 * if the name is in use, -EBUSY while buffers of the name's previous region
 * live, -ENOMEM.
 */
struct devmem_region *devmem_region_register(struct device *dev,
					     phys_addr_t base, u64 size,
					     const char *name, u64 chunk_size,
					     unsigned int flags)
{
	if (flags & ~DEVMEM_REGION_UNCACHED)
		return ERR_PTR(-EINVAL);
	return devmem_heap_capi_register(dev, base, size, name, chunk_size,
					 flags & DEVMEM_REGION_UNCACHED);
}
EXPORT_SYMBOL_GPL(devmem_region_register);

/**
 * devmem_region_register_pci() - publish a memory BAR as dma-buf heaps
 * @pdev: the PCI device, bound to the calling driver
 * @bar: the BAR: one of the six standard BARs, decoding memory
 * @name: base name of the heaps: 1 to 48 of ``[A-Za-z0-9_.-]``
 * @flags: DEVMEM_REGION_* flags
 *
 * Requests and maps the BAR for the region, and lets importers with a
 * peer-to-peer route DMA to it. The region is withdrawn when @pdev is
 * unbound: its heaps stay, but fail with -ENODEV until a region of the
 * same name registers again.
 *
 * Context: Process context, from the driver's probe.
 * Return: a reference to the region, to drop with devmem_region_put(), or
 * an ERR_PTR(): -EINVAL for a bad name or flag, or a BAR that is not a
 * standard memory BAR, -EBUSY if the BAR is requested already or buffers
 * of the name's previous region still live, -EEXIST if the name is in use,
 * -ENOMEM.
 */
struct devmem_region *devmem_region_register_pci(struct pci_dev *pdev,
						 int bar, const char *name,
						 unsigned int flags)
{
	if (flags & ~DEVMEM_REGION_UNCACHED)
		return ERR_PTR(-EINVAL);
	return devmem_heap_capi_register_pci(&pdev->dev, bar, name,
					     flags & DEVMEM_REGION_UNCACHED);
}
EXPORT_SYMBOL_GPL(devmem_region_register_pci);

/**
 * devmem_region_find() - look a live region up by name
 * @name: the region's name
 *
 * Context: Process context.
 * Return: a reference to the region, to drop with devmem_region_put(), or
 * NULL if no live region has that name.
 */
struct devmem_region *devmem_region_find(const char *name)
{
	return devmem_heap_capi_find(name);
}
EXPORT_SYMBOL_GPL(devmem_region_find);

/**
 * devmem_region_put() - drop a reference to a region
 * @region: the reference
 *
 * Context: Process context.
 */
void devmem_region_put(struct devmem_region *region)
{
	devmem_heap_capi_put(region);
}
EXPORT_SYMBOL_GPL(devmem_region_put);

/**
 * devmem_region_unregister() - withdraw a region before its device goes
 * @region: the region
 *
 * New allocations, attachments, mappings and faults fail with -ENODEV
 * from then on. Waits for every clearing step, fault and mapping in
 * progress, then revokes the region's live buffers: importers are told to
 * unmap, fences are waited for, kernel mappings importers hold are pointed
 * at a page of system memory, DMA tables come back and user mappings are
 * zapped. Also takes the region off the dmem cgroup controller. Idempotent.
 *
 * Context: Process context; sleeps.
 */
void devmem_region_unregister(struct devmem_region *region)
{
	devmem_heap_capi_unregister(region);
}
EXPORT_SYMBOL_GPL(devmem_region_unregister);

/**
 * devmem_region_alloc() - allocate a dma-buf from a region
 * @region: the region
 * @len: size in bytes, rounded up to the page size
 * @fd_flags: file flags of the buffer: O_RDONLY, O_WRONLY or O_RDWR, and
 *            O_CLOEXEC
 * @flags: DEVMEM_ALLOC_* flags
 *
 * The buffer is zero-filled, and charged to the calling task's dmem cgroup
 * until it is freed.
 *
 * Context: Process context; sleeps.
 * Return: the buffer, to drop with dma_buf_put(), or an ERR_PTR(): -EINVAL
 * for a zero length, a length larger than the region or a bad flag,
 * -ENODEV if the region is withdrawn, -ENOMEM if it cannot hold the
 * buffer now or the buffer would take the task's dmem cgroup over its
 * dmem.max, -EINTR if the task is killed while the buffer is cleared.
 */
struct dma_buf *devmem_region_alloc(struct devmem_region *region, size_t len,
				    u32 fd_flags, unsigned int flags)
{
	if (flags & ~DEVMEM_ALLOC_CONTIGUOUS)
		return ERR_PTR(-EINVAL);
	return devmem_heap_capi_alloc(region, len, fd_flags,
				      flags & DEVMEM_ALLOC_CONTIGUOUS);
}
EXPORT_SYMBOL_GPL(devmem_region_alloc);
