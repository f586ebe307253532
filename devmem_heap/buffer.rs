// SPDX-License-Identifier: GPL-2.0

//! Buffers: the blocks of one allocation, exported as a dma-buf.
//!
//! - `attach` accepts every importer: vgem and vkms attach without mapping and then use
//!   `vmap` or `mmap`.
//! - `map_dma_buf` gives a DMA-only table of bus addresses, built by
//!   `dma_buf_phys_vec_to_sgt()`, to an importer that takes peer-to-peer memory and has a route
//!   to the BAR; everyone else gets `EOPNOTSUPP`, and a rate-limited log line naming them. No
//!   importer ever gets `struct page`s, which device memory does not have.
//! - `mmap` maps on demand (see [`crate::fault`]), write-combined by default.
//! - `vmap` returns an I/O memory mapping.
//! - no `begin_cpu_access`/`end_cpu_access`: write-combined and uncached mappings need no cache
//!   maintenance, and the dma-buf core itself waits for the fences the direction requires
//!   (writers' before a CPU read, all before a CPU write) whatever the exporter does.
//! - release gives the blocks back to the region's allocator, once the last user mapping is gone
//!   too.

use crate::region::{
    Memory,
    Region, //
};
use kernel::{
    dma::DataDirection,
    dma_buf::{
        iomem::IoVmap,
        Attachment,
        Exported,
        Exporter,
        Locked,
        VmapAddr, //
    },
    gpu::buddy::AllocatedBlocks,
    mm::virt::{
        flags,
        VmaNew, //
    },
    new_mutex,
    page::PAGE_SIZE,
    prelude::*,
    sync::{
        Arc,
        Mutex, //
    },
};

#[cfg(CONFIG_PCI_P2PDMA)]
use kernel::{
    dma_buf::mmio::{
        P2pMapType,
        PhysRange,
        PhysSgt, //
    },
    io::PhysAddr,
};

/// The memory of a buffer, shared by the dma-buf and its user mappings.
pub(crate) struct BufferInner {
    region: Arc<Region>,
    _blocks: Pin<KBox<AllocatedBlocks>>,
    /// Byte ranges (offset in the region, length) in buffer order, adjacent blocks merged;
    /// shared with the region's record of the buffer.
    ranges: Arc<KVec<(usize, usize)>>,
    size: usize,
    id: u64,
}

impl BufferInner {
    pub(crate) fn new(
        region: Arc<Region>,
        blocks: Pin<KBox<AllocatedBlocks>>,
        ranges: Arc<KVec<(usize, usize)>>,
        size: usize,
        id: u64,
    ) -> Result<Arc<Self>> {
        Arc::new(
            Self {
                region,
                _blocks: blocks,
                ranges,
                size,
                id,
            },
            GFP_KERNEL,
        )
        .map_err(Into::into)
    }

    pub(crate) fn region(&self) -> &Region {
        &self.region
    }

    pub(crate) fn size(&self) -> usize {
        self.size
    }

    /// Returns the number of contiguous ranges of the region the buffer occupies.
    #[cfg(CONFIG_DEVMEM_HEAP_KUNIT_TEST)]
    pub(crate) fn range_count(&self) -> usize {
        self.ranges.len()
    }

    /// Returns the offset in the region of byte `offset` of the buffer, and how many bytes
    /// from there on are contiguous in the region.
    pub(crate) fn locate(&self, offset: usize) -> Option<(usize, usize)> {
        if offset >= self.size {
            return None;
        }
        let mut start = 0usize;
        for &(region_offset, len) in self.ranges.iter() {
            if offset < start + len {
                let within = offset - start;
                return Some((region_offset + within, len - within));
            }
            start += len;
        }
        None
    }

    /// Copies `out.len()` bytes at `offset` of the buffer out of device memory.
    ///
    /// Returns [`EINVAL`] if the range is out of bounds and [`ENODEV`] if the region is gone.
    #[cfg(CONFIG_DEVMEM_HEAP_KUNIT_TEST)]
    pub(crate) fn read(&self, mut offset: usize, mut out: &mut [u8]) -> Result {
        let entered = self.region.enter()?;
        while !out.is_empty() {
            let (at, run) = self.locate(offset).ok_or(EINVAL)?;
            let n = run.min(out.len());
            let (head, tail) = out.split_at_mut(n);
            entered.memory().read(at, head)?;
            out = tail;
            offset += n;
        }
        Ok(())
    }

    /// Copies `data` into the buffer at `offset`, in device memory.
    ///
    /// Returns [`EINVAL`] if the range is out of bounds and [`ENODEV`] if the region is gone.
    #[cfg(CONFIG_DEVMEM_HEAP_KUNIT_TEST)]
    pub(crate) fn write(&self, mut offset: usize, mut data: &[u8]) -> Result {
        let entered = self.region.enter()?;
        while !data.is_empty() {
            let (at, run) = self.locate(offset).ok_or(EINVAL)?;
            let n = run.min(data.len());
            entered.memory().write(at, &data[..n])?;
            data = &data[n..];
            offset += n;
        }
        Ok(())
    }

    /// Returns the physical ranges of the buffer, for an importer's DMA mapping.
    #[cfg(CONFIG_PCI_P2PDMA)]
    fn phys_ranges(&self) -> Result<KVec<PhysRange>> {
        let base = self.region.phys_base().ok_or(EOPNOTSUPP)?;
        let mut ranges = KVec::with_capacity(self.ranges.len(), GFP_KERNEL)?;
        let mut left = self.size;
        for &(offset, len) in self.ranges.iter() {
            let len = len.min(left);
            if len == 0 {
                break;
            }
            // CAST: An offset in the region fits a physical address.
            ranges.push(PhysRange::new(base + offset as PhysAddr, len), GFP_KERNEL)?;
            left -= len;
        }
        Ok(ranges)
    }
}

impl Drop for BufferInner {
    fn drop(&mut self) {
        // The blocks go back to the allocator when `_blocks` drops, right after this.
        self.region.buffer_freed(self.id);
    }
}

/// The data behind an exported buffer.
#[pin_data]
pub(crate) struct Buffer {
    inner: Arc<BufferInner>,
    /// The kernel mapping of a scattered buffer while it is vmapped.
    #[pin]
    vmap: Mutex<Option<IoVmap>>,
}

impl Buffer {
    pub(crate) fn new(inner: Arc<BufferInner>) -> impl PinInit<Self> {
        pin_init!(Self {
            inner,
            vmap <- new_mutex!(None),
        })
    }

    /// Returns the buffer's memory.
    #[cfg(CONFIG_DEVMEM_HEAP_KUNIT_TEST)]
    pub(crate) fn inner(&self) -> &Arc<BufferInner> {
        &self.inner
    }
}

#[vtable]
impl Exporter for Buffer {
    #[cfg(CONFIG_PCI_P2PDMA)]
    type SgTable<'a> = PhysSgt<'a>;
    #[cfg(not(CONFIG_PCI_P2PDMA))]
    type SgTable<'a> = kernel::dma_buf::NoSgTable;

    #[cfg(not(CONFIG_PCI_P2PDMA))]
    fn map_dma_buf<'a>(
        buf: &Locked<'a, Self>,
        attach: &'a Attachment,
        _dir: DataDirection,
    ) -> Result<Self::SgTable<'a>> {
        let this = buf.data();
        let region = this.inner.region();
        region.refused(attach.device(), "the kernel has no PCI peer-to-peer DMA");
        Err(EOPNOTSUPP)
    }

    #[cfg(CONFIG_PCI_P2PDMA)]
    fn map_dma_buf<'a>(
        buf: &Locked<'a, Self>,
        attach: &'a Attachment,
        dir: DataDirection,
    ) -> Result<PhysSgt<'a>> {
        let this = buf.data();
        let inner = &this.inner;
        let region = inner.region();
        if !attach.peer2peer() {
            region.refused(attach.device(), "it does not take peer-to-peer memory");
            return Err(EOPNOTSUPP);
        }
        let entered = region.enter()?;
        let Some((pdev, provider)) = entered.p2p() else {
            region.refused(attach.device(), "the region is not a PCI BAR");
            return Err(EOPNOTSUPP);
        };
        match provider.map_type(pdev, attach.device())? {
            P2pMapType::BusAddr | P2pMapType::ThruHostBridge => {}
            P2pMapType::NotSupported => {
                region.refused(attach.device(), "it has no peer-to-peer route to the BAR");
                return Err(EOPNOTSUPP);
            }
        }
        PhysSgt::new(buf, attach, provider, pdev, &inner.phys_ranges()?, dir)
    }

    fn mmap(buf: &Exported<Self>, vma: &VmaNew) -> Result {
        let inner = &buf.data().inner;
        // Device memory is shared by nature; a private copy-on-write mapping of it is not.
        if vma.flags() & flags::SHARED == 0 {
            return Err(EINVAL);
        }
        let pages = (vma.end() - vma.start()) / PAGE_SIZE;
        match vma.pgoff().checked_add(pages) {
            Some(end) if end <= inner.size() / PAGE_SIZE => {}
            _ => return Err(EINVAL),
        }
        let region = inner.region();
        region.phys_base().ok_or(ENODEV)?;
        drop(region.enter()?);
        vma.set_mixedmap();
        match region.caching() {
            crate::Caching::WriteCombined => vma.set_writecombine(),
            crate::Caching::Uncached => vma.set_uncached(),
        }
        vma.set_fault_handler(inner.clone())
    }

    fn vmap(buf: &Locked<'_, Self>) -> Result<VmapAddr> {
        let this = buf.data();
        let inner = &this.inner;
        let entered = inner.region().enter()?;
        match (entered.memory(), inner.ranges.as_slice()) {
            (Memory::Io(mem), [(offset, _)]) => {
                // SAFETY: The buffer holds the region, so the mapping outlives every use until
                // `vunmap`.
                unsafe { mem.vmap_addr(*offset, inner.size) }
            }
            (Memory::Io(mem), ranges) => {
                let map = mem.vmap(ranges)?;
                // SAFETY: The mapping covers the whole buffer and is kept in `vmap` until the
                // importer gives it back in `vunmap`.
                let sys = unsafe { VmapAddr::from_vaddr_iomem(map.addr()) };
                *this.vmap.lock() = Some(map);
                Ok(sys)
            }
            #[cfg(CONFIG_DEVMEM_HEAP_KUNIT_TEST)]
            (Memory::System(mem), ranges) => match ranges {
                // SAFETY: As above, for system memory.
                [(offset, _)] => unsafe { mem.iosys_map(*offset) },
                _ => Err(EOPNOTSUPP),
            },
        }
    }

    fn vunmap(buf: &Locked<'_, Self>, _map: VmapAddr) {
        drop(buf.data().vmap.lock().take());
    }
}
