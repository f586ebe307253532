// SPDX-License-Identifier: GPL-2.0

//! The memory behind a region, as the region reaches it.
//!
//! A region does not care how its memory is mapped: it needs to clear ranges of it, to know
//! where it is physically (for user mappings, kernel mappings and peer-to-peer tables), and to
//! map ranges of it into the kernel for importers. [`DeviceMemory`] is that contract. The
//! framework implements it for a PCI memory BAR ([`BarMemory`]) and for a range of device
//! memory mapped by the kernel crate's [`IoMemory`]; the KUnit suite brings its own, of system
//! memory.

use kernel::{
    device::{
        Bound,
        Device, //
    },
    dma_buf::{
        iomem::{
            IoMemory,
            IoVmap, //
        },
        VmapAddr, //
    },
    io::{
        IoBase,
        PhysAddr, //
    },
    page::{
        Page,
        PAGE_SIZE, //
    },
    pci,
    prelude::*, //
};

pub use kernel::dma_buf::iomem::Caching;

/// A kernel mapping of a buffer made by [`DeviceMemory::vmap`].
pub(crate) struct KernelMapping {
    /// The address handed to the importer.
    pub(crate) addr: VmapAddr,
    /// The mapping behind `addr`, of its own, kept until the importer gives the address back;
    /// revocation points it at a page of system memory. Only memory without a physical address
    /// (the KUnit suite's system memory) hands out addresses of its own mapping instead, and
    /// has nothing to revoke.
    pub(crate) stitched: Option<IoVmap>,
}

impl KernelMapping {
    /// A mapping of `size` bytes that all show one zeroed page of system memory, the mapping's
    /// own: what an importer gets for a buffer whose region is gone.
    pub(crate) fn scratch(size: usize) -> Result<Self> {
        let page = Page::alloc_page(GFP_KERNEL | __GFP_ZERO)?;
        let mapping = IoVmap::of_page(page, size / PAGE_SIZE)?;
        // SAFETY: The mapping covers `size` bytes of system memory and is kept with the address.
        let addr = unsafe { VmapAddr::from_vaddr(mapping.addr()) };
        Ok(Self {
            addr,
            stitched: Some(mapping),
        })
    }
}

/// The memory of a region.
///
/// The region calls these only while it is entered (see `RegionGuard`), that is while the device
/// owning the memory is bound.
pub(crate) trait DeviceMemory: Send + Sync {
    /// Returns the size of the memory in bytes.
    fn size(&self) -> usize;

    /// Returns the physical address of the memory, if it is device memory with one. User
    /// mappings and peer-to-peer tables need it.
    fn phys(&self) -> Option<PhysAddr>;

    /// Sets the `len` bytes at `offset` to `byte`. `dev` is the bound device that owns the
    /// memory. Returns [`EINVAL`] if the range is out of bounds.
    fn fill(&self, dev: &Device<Bound>, offset: usize, len: usize, byte: u8) -> Result;

    /// Maps the ranges `ranges` (offset, length), one after the other, into the kernel.
    ///
    /// # Safety
    ///
    /// The caller keeps `self` and the returned mapping alive for as long as the address is
    /// used, and points the mapping at a page of system memory when the region is withdrawn.
    unsafe fn vmap(&self, ranges: &[(usize, usize)], size: usize) -> Result<KernelMapping>;
}

impl DeviceMemory for IoMemory {
    fn size(&self) -> usize {
        IoMemory::size(self)
    }

    fn phys(&self) -> Option<PhysAddr> {
        Some(IoMemory::phys(self))
    }

    fn fill(&self, _dev: &Device<Bound>, offset: usize, len: usize, byte: u8) -> Result {
        IoMemory::fill(self, offset, len, byte)
    }

    unsafe fn vmap(&self, ranges: &[(usize, usize)], _size: usize) -> Result<KernelMapping> {
        // Even a single range gets a mapping of its own, not a part of `self`'s: revocation
        // points it at a page of system memory.
        // SAFETY: The memory is the device memory `map` was given, which the caller keeps.
        unsafe { stitch(self.phys(), self.size(), self.caching(), ranges) }
    }
}

/// A memory BAR of a PCI device, requested and mapped for a region.
///
/// The request and the mapping are device-managed: when the device is unbound (after the
/// region's withdrawal, which devres runs first) they are released, so the device can be bound
/// again, or removed, while buffers of the withdrawn region still live. Kernel mappings handed
/// to importers are therefore mappings of their own ([`IoVmap`]), never part of the BAR's, and
/// withdrawal takes them off the BAR.
///
/// # Invariants
///
/// `bar` maps the whole BAR, `size` bytes of device memory at `phys`, both page aligned.
pub(crate) struct BarMemory {
    bar: pci::DevresBar,
    phys: PhysAddr,
    size: usize,
    caching: Caching,
}

impl BarMemory {
    /// Requests memory BAR `bar` of `pdev` and maps it with `caching`.
    ///
    /// Returns [`EINVAL`] if `bar` is not a standard memory BAR or is not page aligned,
    /// [`EBUSY`] if it is requested already, and [`ENOMEM`] if it is empty or cannot be mapped.
    pub(crate) fn new(pdev: &pci::Device<Bound>, bar: u32, caching: Caching) -> Result<Self> {
        pdev.check_memory_bar(bar)?;
        let phys = pdev.resource_start(bar)?;
        let size = usize::try_from(pdev.resource_len(bar)?)?;
        // CAST: The page size fits a physical address.
        if phys % PAGE_SIZE as PhysAddr != 0 || size % PAGE_SIZE != 0 {
            return Err(EINVAL);
        }
        let mapped = match caching {
            Caching::WriteCombined => pdev.iomap_region_wc(bar, c"devmem-heap")?,
            Caching::Uncached => pdev.iomap_region(bar, c"devmem-heap")?,
        };
        // INVARIANT: `mapped` is the whole BAR, checked to be page aligned above.
        Ok(Self {
            bar: mapped.into_devres()?,
            phys,
            size,
            caching,
        })
    }
}

impl DeviceMemory for BarMemory {
    fn size(&self) -> usize {
        self.size
    }

    fn phys(&self) -> Option<PhysAddr> {
        Some(self.phys)
    }

    fn fill(&self, dev: &Device<Bound>, offset: usize, len: usize, byte: u8) -> Result {
        // The mapping was set up before the region registered: it is there while `dev` is.
        self.bar.access(dev)?.as_view().try_fill(offset, len, byte)
    }

    unsafe fn vmap(&self, ranges: &[(usize, usize)], _size: usize) -> Result<KernelMapping> {
        // SAFETY: The BAR is device memory of the region's device. The mapping outlives the
        // binding, but not on the BAR: withdrawal points it at a page of system memory before
        // the device is unbound (see `crate::revoke`).
        unsafe { stitch(self.phys, self.size, self.caching, ranges) }
    }
}

/// Maps the ranges `ranges` (offset, length) of the `size` bytes of device memory at `base` one
/// after the other into a kernel mapping of their own, with `caching`.
///
/// Returns [`EINVAL`] if a range does not fit in the memory, and the errors of
/// [`IoVmap::new`].
///
/// # Safety
///
/// The memory must be device memory the caller's device owns, and stay so while the mapping is
/// used.
unsafe fn stitch(
    base: PhysAddr,
    size: usize,
    caching: Caching,
    ranges: &[(usize, usize)],
) -> Result<KernelMapping> {
    let mut phys = KVec::with_capacity(ranges.len(), GFP_KERNEL)?;
    for &(offset, len) in ranges {
        match offset.checked_add(len) {
            Some(end) if end <= size => {}
            _ => return Err(EINVAL),
        }
        // CAST: An offset inside the memory fits a physical address.
        phys.push((base + offset as PhysAddr, len), GFP_KERNEL)?;
    }
    // SAFETY: The ranges are inside the memory, device memory by the safety requirements.
    let stitched = unsafe { IoVmap::new(&phys, caching)? };
    // SAFETY: The mapping covers the whole buffer; the caller keeps it with the address.
    let addr = unsafe { VmapAddr::from_vaddr_iomem(stitched.addr()) };
    Ok(KernelMapping {
        addr,
        stitched: Some(stitched),
    })
}
