// SPDX-License-Identifier: GPL-2.0
/*
 * Exports of the C face of devmem-heap, which is written in Rust
 * (devmem_heap/capi.rs), to modules.
 */

#include <linux/devmem_heap.h>
#include <linux/export.h>

EXPORT_SYMBOL_GPL(devmem_region_register);
EXPORT_SYMBOL_GPL(devmem_region_find);
EXPORT_SYMBOL_GPL(devmem_region_put);
EXPORT_SYMBOL_GPL(devmem_region_unregister);
EXPORT_SYMBOL_GPL(devmem_region_alloc);
