// SPDX-License-Identifier: GPL-2.0

//! devmem-heap: device-local memory published as dma-buf heaps.
//!
//! A driver registers a range of its device-local memory (a PCI BAR, or any physical range of
//! device memory) as a [`Region`]. The framework allocates from it with the kernel's GPU buddy
//! allocator, exports the buffers as dma-bufs and publishes the region in `/dev/dma_heap` as two
//! heaps: `<name>` (buffers may be scattered over several blocks) and `<name>-contiguous` (one
//! block). Drivers also allocate from a region directly, without a file descriptor, through
//! [`Region::allocate`] or the C function `devmem_region_alloc()`.
//!
//! # A buffer's life, file by file
//!
//! The files depend on each other in this order only, each on the ones before it:
//!
//! 1. [`layout`]: a buffer's placement and the ranges of the region it occupies;
//!    [`chunk_cache`]: per-CPU caches of an allocator's chunks;
//!    [`memory`]: the memory behind a region ([`memory::DeviceMemory`]); [`counters`]: a
//!    region's live allocations and statistics; [`p2p`]: who gets a DMA mapping, and which;
//!    [`ratelimit`]: the refusal log's limit.
//! 2. [`region`]: a registered range, its allocator, and `RegionGuard`, the proof that it is
//!    still there; withdrawal.
//! 3. [`clearing`]: zero-filling, on the allocation path and in the background (the scrubber);
//!    [`allocation`]: blocks of a region, charged to a dmem cgroup, cleared, and counted live
//!    until dropped.
//! 4. [`buffer`]: an allocation exported as a dma-buf (attach, map, mmap, vmap, release),
//!    [`Region::allocate`], and the walk of a region's buffers in the dma-buf core's list.
//! 5. [`fault`]: user mappings of a buffer, filled in on demand (`buffer`'s `mmap` installs
//!    the handler this file implements for `Buffer`).
//! 6. [`revoke`]: what withdrawal does to each live buffer; [`heap`]: the backend of a heap
//!    node, allocating buffers.
//! 7. [`debugfs`]: a region's state; [`registry`]: heap nodes by name, which outlive regions.
//! 8. [`registration`]: the drivers' API: register from probe, withdraw on unbind.
//! 9. [`capi`]: the C face; `vmap_check`: a test importer; the ivshmem driver.
//! 10. `drm_gem` (in `drm_glue/`): GEM objects on region buffers for DRM drivers, and
//!     `drm_capi`, its C face.
//!
//! # Lock order
//!
//! 1. a region's `withdrawal`, held across a whole withdrawal, its revocation and its leaving
//!    the registry;
//! 2. `registry::REGISTRY`;
//! 3. the backend slot of a heap (`kernel::dma_heap::Heap`);
//! 4. the dma-buf core's list of every buffer (`dmabuf_list_mutex`), taken by `dma_buf_export()`
//!    and by each step of a walk of a region's buffers, which holds a reference to one buffer at
//!    a time and uses it outside the lock (revocation zaps user mappings, which takes the
//!    dma-buf file's `i_mmap_rwsem`). The core's debugfs takes reservation locks under it;
//! 5. a buffer's reservation lock, taken by the dma-buf core around `map_dma_buf`, `vmap` and
//!    their inverses, and by revocation to invalidate importers' mappings, wait for fences and
//!    take kernel mappings off the memory (importers' `invalidate_mappings` runs under 1 and
//!    5, so it must take neither these nor 2–4);
//! 6. a buffer's `mappings`: its kernel mapping and the count of its DMA tables;
//! 7. a region's `scrubbing`, held by the scrubber while it holds a block and by an allocation
//!    that found the region full;
//! 8. the GPU buddy allocator's own lock.
//!
//! The lock of a CPU's cache of chunks (`chunk_cache`) is a leaf spinlock: blocks only move
//! between lists under it, and are freed into the allocator after it is dropped.
//!
//! The DRM glue's table of GEM objects (`drm_gem::OBJECTS`) is a leaf: taken under DRM's
//! `object_name_lock` when a driver imports a dma-buf, and when a GEM object is freed; nothing is
//! taken under it, and no object or buffer reference is dropped under it.
//!
//! A region's SRCU read-side section (held by a `RegionGuard`) may be held across 4–8.
//! Withdrawal waits for every such section, so it must never run inside one.

use kernel::prelude::*;

mod allocation;
mod buffer;
mod capi;
mod chunk_cache;
mod clearing;
mod counters;
mod debugfs;
mod fault;
mod heap;
mod layout;
mod memory;
mod p2p;
mod ratelimit;
mod region;
mod registration;
mod registry;
mod revoke;
#[cfg(CONFIG_DEVMEM_HEAP_VMAP_CHECK)]
mod vmap_check;

#[cfg(CONFIG_DEVMEM_HEAP_DRM)]
#[path = "../drm_glue/capi.rs"]
mod drm_capi;
#[cfg(CONFIG_DEVMEM_HEAP_DRM)]
#[path = "../drm_glue/gem.rs"]
mod drm_gem;

#[cfg(CONFIG_DEVMEM_HEAP_IVSHMEM)]
#[path = "../vkms_demo/ivshmem.rs"]
mod ivshmem;

#[cfg(CONFIG_DEVMEM_HEAP_KUNIT_TEST)]
#[path = "../kunit/devmem_heap_test.rs"]
mod tests;

pub use layout::Placement;
pub use memory::Caching;
pub use region::{
    Region,
    RegionConfig, //
};

module! {
    type: DevmemHeapModule,
    name: "devmem_heap",
    authors: ["devmem-heap"],
    description: "Device-local memory published as dma-buf heaps",
    license: "GPL",
    params: {
        ivshmem_name: ParamStr {
            default: ParamStr::new(b"ivshmem"),
            description: "Base name of the heaps of QEMU ivshmem devices",
        },
    },
}

struct DevmemHeapModule {
    #[cfg(CONFIG_DEVMEM_HEAP_IVSHMEM)]
    _ivshmem: Pin<KBox<kernel::driver::Registration<kernel::pci::Adapter<ivshmem::Ivshmem>>>>,
}

impl kernel::Module for DevmemHeapModule {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        registry::init();
        #[cfg(CONFIG_DEVMEM_HEAP_DRM)]
        drm_gem::init();
        #[cfg(CONFIG_DEVMEM_HEAP_IVSHMEM)]
        let _ivshmem = ivshmem::register(_module)?;
        Ok(Self {
            #[cfg(CONFIG_DEVMEM_HEAP_IVSHMEM)]
            _ivshmem,
        })
    }
}
