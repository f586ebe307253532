/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The Rust side of the C face of devmem-heap (capi.rs), for exports.c only.
 */
#ifndef _DEVMEM_HEAP_CAPI_H
#define _DEVMEM_HEAP_CAPI_H

#include <linux/types.h>

struct device;
struct devmem_region;
struct dma_buf;

struct devmem_region *devmem_heap_capi_register(struct device *dev,
						phys_addr_t base, u64 size,
						const char *name,
						u64 chunk_size,
						bool uncached);
struct devmem_region *devmem_heap_capi_register_pci(struct device *dev,
						    int bar, const char *name,
						    bool uncached);
struct devmem_region *devmem_heap_capi_find(const char *name);
void devmem_heap_capi_put(struct devmem_region *region);
void devmem_heap_capi_unregister(struct devmem_region *region);
struct dma_buf *devmem_heap_capi_alloc(struct devmem_region *region,
				       size_t len, u32 fd_flags,
				       bool contiguous);

#endif /* _DEVMEM_HEAP_CAPI_H */
