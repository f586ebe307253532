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
//! A walk through the code follows a buffer's life: [`region`] (registration, allocation and
//! accounting) → [`buffer`] (the exported dma-buf and its `dma_buf_ops`) → [`fault`] (user
//! mappings) → release, back in [`buffer`]. [`registry`] keeps the heap nodes, which outlive
//! their regions, and [`heap`] connects a node to the region behind it.
//!
//! # Lock order
//!
//! 1. `registry::REGISTRY`;
//! 2. the backend slot of a heap (`kernel::dma_heap::Heap`);
//! 3. a buffer's reservation lock, taken by the dma-buf core around `map_dma_buf`, `vmap` and
//!    their inverses;
//! 4. a buffer's `vmap` state;
//! 5. a region's `state` (counters and live buffers);
//! 6. the GPU buddy allocator's own lock.
//!
//! A region's SRCU read-side section ([`Region`] calls it "entering" the region) may be held
//! across 3–6. [`Region::unregister`] waits for every such section, so it must never run inside
//! one.

use kernel::prelude::*;

mod buffer;
mod capi;
mod debugfs;
mod fault;
mod heap;
pub mod region;
mod registry;

#[cfg(CONFIG_DEVMEM_HEAP_IVSHMEM)]
#[path = "../vkms_demo/ivshmem.rs"]
mod ivshmem;

#[cfg(CONFIG_DEVMEM_HEAP_KUNIT_TEST)]
#[path = "../kunit/devmem_heap_test.rs"]
mod tests;

pub use region::{
    Caching,
    Placement,
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
        #[cfg(CONFIG_DEVMEM_HEAP_IVSHMEM)]
        let _ivshmem = ivshmem::register(_module)?;
        Ok(Self {
            #[cfg(CONFIG_DEVMEM_HEAP_IVSHMEM)]
            _ivshmem,
        })
    }
}
