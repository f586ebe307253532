// SPDX-License-Identifier: GPL-2.0

//! Buffers: allocations exported as dma-bufs, and the in-kernel allocation API.
//!
//! - `attach` accepts every importer while the region is live (`ENODEV` after): vgem and vkms
//!   attach without mapping and then use `vmap` or `mmap`.
//! - `map_dma_buf` gives revocable peer-to-peer importers with a route a DMA-only table of bus
//!   addresses and refuses everyone else with `EOPNOTSUPP` and a rate-limited log line (see
//!   [`crate::p2p`]). No importer ever gets `struct page`s, which device memory does not have.
//!   The buffer counts the tables out, for withdrawal to wait for (see [`crate::revoke`]).
//! - `mmap` maps on demand (see [`crate::fault`]), write-combined by default, shared only.
//! - `vmap` returns an I/O memory mapping of the buffer's own, which revocation points at a
//!   page of system memory; once the region is withdrawn, a mapping of a zeroed page of system
//!   memory, not an error: `dma_buf_vmap()` WARNs on those.
//! - no `begin_cpu_access`/`end_cpu_access`: write-combined and uncached mappings need no cache
//!   maintenance, and the dma-buf core itself waits for the fences the direction requires.
//! - release drops the buffer's data, [`Buffer`], and its [`Allocation`] with it, once the last
//!   user mapping is gone too: each holds a reference to the data.

use crate::{
    allocation::Allocation,
    layout::Placement,
    memory::{
        Caching,
        KernelMapping, //
    },
    p2p::{
        self,
        MapError, //
    },
    region::{
        Region,
        RegionGuard, //
    },
};
use kernel::{
    dma::DataDirection,
    dma_buf::{
        iomem::IoVmap,
        Attachment,
        DmaBuf,
        Exported,
        Exporter,
        FdFlags,
        Locked,
        VmapAddr, //
    },
    mm::virt::{
        flags,
        VmaNew, //
    },
    new_mutex,
    page::{
        Page,
        PAGE_SIZE, //
    },
    prelude::*,
    sync::{
        aref::ARef,
        Arc,
        Mutex, //
    },
};

/// The exporter's data of a buffer.
#[pin_data]
pub(crate) struct Buffer {
    #[pin]
    mappings: Mutex<Mappings>,
    // Dropped last: nothing maps the blocks any more when they are freed.
    #[pin]
    allocation: Allocation,
}

/// What a buffer has handed to importers and not got back yet.
struct Mappings {
    /// The kernel mapping, while the buffer is vmapped.
    kernel: Option<IoVmap>,
    /// The page revocation points a kernel mapping of device memory at, allocated with it so
    /// that revocation cannot fail. Each mapping gets its own: bytes written through one
    /// revoked mapping are never seen through another buffer's.
    spare: Option<Page>,
    /// How many DMA tables are out.
    tables: usize,
}

impl Buffer {
    /// Returns the buffer's allocation.
    pub(crate) fn allocation(&self) -> &Allocation {
        &self.allocation
    }

    /// Points the buffer's kernel mapping, if an importer holds one, at a page of system memory.
    ///
    /// Returns the error of the redirection: the mapping then still reaches the device memory.
    pub(crate) fn revoke_kernel_mapping(&self) -> Result {
        let mut mappings = self.mappings.lock();
        let Mappings { kernel, spare, .. } = &mut *mappings;
        match (kernel, spare.take()) {
            (Some(mapping), Some(page)) => mapping.redirect(page),
            _ => Ok(()),
        }
    }

    /// Returns how many DMA tables importers hold.
    pub(crate) fn tables_out(&self) -> usize {
        self.mappings.lock().tables
    }
}

impl Region {
    /// Allocates a zero-filled buffer of `len` bytes (rounded up to the page size) and exports
    /// it as a dma-buf with the file flags `flags`. This is the in-kernel allocation API; the
    /// heaps call it too.
    ///
    /// Returns [`EINVAL`] for a length of zero or larger than the region, [`ENODEV`] if the
    /// region is withdrawn, [`ENOMEM`] if the region cannot hold the buffer now (for a
    /// contiguous buffer: no free range is large enough), and [`EINTR`] if the task is killed
    /// while the buffer is cleared. Every error but [`EINVAL`] counts as a failure in the
    /// region's statistics.
    pub fn allocate(
        self: &Arc<Self>,
        len: usize,
        placement: Placement,
        flags: FdFlags,
    ) -> Result<ARef<DmaBuf>> {
        self.allocate_exported(len, placement, flags)
            .map(Exported::into_dma_buf)
    }

    /// [`Region::allocate`], keeping the exporter's view of the buffer.
    pub(crate) fn allocate_exported(
        self: &Arc<Self>,
        len: usize,
        placement: Placement,
        flags: FdFlags,
    ) -> Result<ARef<Exported<Buffer>>> {
        let result = self.export_new(len, placement, flags);
        if let Err(e) = &result {
            if *e != EINVAL {
                self.counters().failed();
            }
        }
        result
    }

    fn export_new(
        self: &Arc<Self>,
        len: usize,
        placement: Placement,
        flags: FdFlags,
    ) -> Result<ARef<Exported<Buffer>>> {
        // Held until the buffer is in the dma-buf core's list, where withdrawal finds it: a
        // withdrawal that began earlier fails the allocation, one that begins later waits for
        // the guard and then revokes the buffer with the others.
        let guard = self.enter()?;
        let size = Allocation::size_for(self, len)?;
        let buf = match self.export_entered(&guard, size, placement, flags) {
            // The scrubber may hold the block that is missing, or a CPU's cache of chunks: wait
            // for the scrubber and keep it away, and drain the caches.
            Err(e) if e == ENOSPC => {
                let _drained = self.drain_chunks();
                self.export_entered(&guard, size, placement, flags)
            }
            result => result,
        }
        .map_err(|e| if e == ENOSPC { ENOMEM } else { e })?;
        drop(guard);
        Ok(buf)
    }

    /// Allocates a buffer of `size` bytes, a size from [`Allocation::size_for`], of the region,
    /// entered as `guard`, and exports it.
    fn export_entered(
        self: &Arc<Self>,
        guard: &RegionGuard<'_>,
        size: usize,
        placement: Placement,
        flags: FdFlags,
    ) -> Result<ARef<Exported<Buffer>>> {
        Exported::new(
            try_pin_init!(Buffer {
                mappings <- new_mutex!(Mappings {
                    kernel: None,
                    spare: None,
                    tables: 0,
                }),
                allocation <- Allocation::new(guard, self, size, placement)?,
            }? Error),
            size,
            flags,
            self.heap_names().of(placement),
        )
    }
}

impl Region {
    /// Calls `f` with each buffer of the region whose file is not on its way to release, newest
    /// first, holding a reference to it but no lock.
    ///
    /// The region keeps no list of its own: this walks the dma-buf core's list of every buffer
    /// of the system, which needs no memory, so withdrawal cannot fail to reach a buffer.
    pub(crate) fn for_each_buffer(&self, mut f: impl FnMut(&Exported<Buffer>)) {
        for buf in DmaBuf::all() {
            if let Some(buf) = Exported::<Buffer>::from_dma_buf(&buf) {
                if core::ptr::eq(&**buf.data().allocation.region(), self) {
                    f(buf);
                }
            }
        }
    }
}

#[vtable]
impl Exporter for Buffer {
    type SgTable<'a> = p2p::SgTable<'a>;

    fn attach(buf: &Exported<Self>, _attach: &Attachment) -> Result {
        // Who gets a DMA mapping is decided at mapping time: vgem and vkms attach without one.
        if buf.data().allocation.region().is_live() {
            Ok(())
        } else {
            Err(ENODEV)
        }
    }

    fn map_dma_buf<'a>(
        buf: &Locked<'a, Self>,
        attach: &'a Attachment,
        dir: DataDirection,
    ) -> Result<Self::SgTable<'a>> {
        let allocation = &buf.data().allocation;
        let region = allocation.region();
        let guard = region.enter()?;
        let base = guard.memory().phys();
        match p2p::map(buf, attach, guard.peer(), base, allocation.ranges(), dir) {
            Ok(sgt) => {
                buf.data().mappings.lock().tables += 1;
                Ok(sgt)
            }
            Err(MapError::Failed(e)) => Err(e),
            Err(MapError::Refused(why)) => {
                region.note_refused_map(attach.device(), why);
                Err(EOPNOTSUPP)
            }
        }
    }

    // Without P2PDMA there are no tables, and the type has nothing to drop.
    #[cfg_attr(not(CONFIG_PCI_P2PDMA), expect(clippy::drop_non_drop))]
    fn unmap_dma_buf<'a>(
        buf: &Locked<'a, Self>,
        _attach: &'a Attachment,
        sgt: Self::SgTable<'a>,
        _dir: DataDirection,
    ) {
        // Counted back once unmapped: withdrawal waits for that before the memory goes.
        drop(sgt);
        buf.data().mappings.lock().tables -= 1;
    }

    fn mmap(buf: &Exported<Self>, vma: &VmaNew) -> Result {
        let allocation = &buf.data().allocation;
        // Device memory is shared by nature; a private copy-on-write mapping of it is not.
        // `VM_MAYSHARE`, not `VM_SHARED`: `mmap()` clears the latter for a shared mapping of a
        // file opened read-only.
        if vma.flags() & flags::MAYSHARE == 0 {
            return Err(EINVAL);
        }
        // A mapping an importer forwards (`dma_buf_mmap()`, as DRM's GEM mmap does) was checked
        // against the importer's file, not the buffer's: a buffer opened read-only maps
        // read-only, whoever maps it.
        if !buf.is_writable() {
            vma.try_clear_maywrite().map_err(|_| EACCES)?;
        }
        let pages = (vma.end() - vma.start()) / PAGE_SIZE;
        match vma.pgoff().checked_add(pages) {
            Some(end) if end <= allocation.size() / PAGE_SIZE => {}
            _ => return Err(EINVAL),
        }
        let region = allocation.region();
        let guard = region.enter()?;
        guard.memory().phys().ok_or(ENODEV)?;
        drop(guard);
        vma.set_mixedmap();
        match region.caching() {
            Caching::WriteCombined => vma.set_writecombine(),
            Caching::Uncached => vma.set_uncached(),
        }
        vma.set_fault_handler(buf.data_arc())
    }

    fn vmap(buf: &Locked<'_, Self>) -> Result<VmapAddr> {
        let this = buf.data();
        let allocation = &this.allocation;
        let mut mappings = this.mappings.lock();
        let (mapping, spare) = match allocation.region().enter() {
            Ok(guard) => {
                let spare = Page::alloc_page(GFP_KERNEL | __GFP_ZERO)?;
                // SAFETY: The buffer holds the region, and so its memory, until it is released;
                // the mapping is kept in `mappings` until the importer gives the address back,
                // and withdrawal, which waits for `guard`, points it at `spare`.
                let mapping = unsafe {
                    guard
                        .memory()
                        .vmap(allocation.ranges().as_slice(), allocation.size())?
                };
                (mapping, Some(spare))
            }
            // The region is gone. `dma_buf_vmap()` WARNs when an exporter fails, so the importer
            // gets what a revoked mapping shows: a page of system memory.
            Err(_) => (KernelMapping::scratch(allocation.size())?, None),
        };
        // The core calls `vmap` only while the buffer has no kernel mapping.
        mappings.kernel = mapping.stitched;
        mappings.spare = spare;
        Ok(mapping.addr)
    }

    fn vunmap(buf: &Locked<'_, Self>, _map: VmapAddr) {
        let this = buf.data();
        let mut mappings = this.mappings.lock();
        drop(mappings.kernel.take());
        drop(mappings.spare.take());
    }
}
