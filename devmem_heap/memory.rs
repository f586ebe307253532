// SPDX-License-Identifier: GPL-2.0

//! The memory behind a region, as the region reaches it.
//!
//! A region does not care how its memory is mapped: it needs to clear ranges of it, to know
//! where it is physically (for user mappings, kernel mappings and peer-to-peer tables), and to
//! map ranges of it into the kernel for importers. [`DeviceMemory`] is that contract. Device
//! memory mapped by the kernel crate's [`IoMemory`] is the only implementation in the
//! framework; the KUnit suite brings its own, of system memory.

use kernel::{
    dma_buf::{
        iomem::{
            IoMemory,
            IoVmap, //
        },
        VmapAddr, //
    },
    io::PhysAddr,
    prelude::*, //
};

pub use kernel::dma_buf::iomem::Caching;

/// A kernel mapping of a buffer made by [`DeviceMemory::vmap`].
pub(crate) struct KernelMapping {
    /// The address handed to the importer.
    pub(crate) addr: VmapAddr,
    /// The mapping behind `addr`, if it is not part of the memory's own mapping; kept until the
    /// importer gives the address back.
    pub(crate) stitched: Option<IoVmap>,
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

    /// Sets the `len` bytes at `offset` to `byte`. Returns [`EINVAL`] if the range is out of
    /// bounds.
    fn fill(&self, offset: usize, len: usize, byte: u8) -> Result;

    /// Maps the ranges `ranges` (offset, length), one after the other, into the kernel.
    ///
    /// # Safety
    ///
    /// The caller keeps `self` and the returned mapping alive for as long as the address is used.
    unsafe fn vmap(&self, ranges: &[(usize, usize)], size: usize) -> Result<KernelMapping>;
}

impl DeviceMemory for IoMemory {
    fn size(&self) -> usize {
        IoMemory::size(self)
    }

    fn phys(&self) -> Option<PhysAddr> {
        Some(IoMemory::phys(self))
    }

    fn fill(&self, offset: usize, len: usize, byte: u8) -> Result {
        IoMemory::fill(self, offset, len, byte)
    }

    unsafe fn vmap(&self, ranges: &[(usize, usize)], size: usize) -> Result<KernelMapping> {
        if let [(offset, _)] = ranges {
            // SAFETY: The caller keeps `self` alive while the address is used.
            let addr = unsafe { self.vmap_addr(*offset, size)? };
            return Ok(KernelMapping {
                addr,
                stitched: None,
            });
        }
        let stitched = IoMemory::vmap(self, ranges)?;
        // SAFETY: The stitched mapping covers the whole buffer; the caller keeps it with the
        // address.
        let addr = unsafe { VmapAddr::from_vaddr_iomem(stitched.addr()) };
        Ok(KernelMapping {
            addr,
            stitched: Some(stitched),
        })
    }
}
