/* SPDX-License-Identifier: GPL-2.0 */
/*
 * devmem-heap: device-local memory published as dma-buf heaps.
 *
 * A driver registers a range of its device memory as a region; the region
 * appears as /dev/dma_heap/<name> and /dev/dma_heap/<name>-contiguous, and
 * drivers allocate dma-bufs from it directly with devmem_region_alloc().
 * The functions are documented where they are defined, in
 * drivers/dma-buf/devmem/devmem_heap/exports.c.
 */
#ifndef _LINUX_DEVMEM_HEAP_H
#define _LINUX_DEVMEM_HEAP_H

#include <linux/bits.h>
#include <linux/types.h>

struct device;
struct devmem_region;
struct dma_buf;
struct pci_dev;

/**
 * DOC: flags
 *
 * devmem_region_register() and devmem_region_register_pci() take
 * %DEVMEM_REGION_UNCACHED to map the region's memory, for the CPU, uncached
 * instead of write-combined (the default), in user and kernel mappings
 * alike.
 *
 * devmem_region_alloc() takes %DEVMEM_ALLOC_CONTIGUOUS for a buffer of one
 * block, contiguous in the device's address space, as the heap
 * ``<name>-contiguous`` allocates; without it, the buffer may be made of
 * any number of blocks.
 */
#define DEVMEM_REGION_UNCACHED	BIT(0)
#define DEVMEM_ALLOC_CONTIGUOUS	BIT(0)

struct devmem_region *devmem_region_register(struct device *dev,
					     phys_addr_t base, u64 size,
					     const char *name, u64 chunk_size,
					     unsigned int flags);

struct devmem_region *devmem_region_register_pci(struct pci_dev *pdev,
						 int bar, const char *name,
						 unsigned int flags);

struct devmem_region *devmem_region_find(const char *name);

void devmem_region_put(struct devmem_region *region);

void devmem_region_unregister(struct devmem_region *region);

struct dma_buf *devmem_region_alloc(struct devmem_region *region, size_t len,
				    u32 fd_flags, unsigned int flags);

#endif /* _LINUX_DEVMEM_HEAP_H */
