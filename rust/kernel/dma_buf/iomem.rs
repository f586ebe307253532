// SPDX-License-Identifier: GPL-2.0

//! Device-local memory that an exporter maps into the kernel and hands out as dma-bufs.
//!
//! C header: [`include/linux/io.h`](srctree/include/linux/io.h)
//!
//! An exporter of device memory (a PCI BAR, a carve-out) keeps one kernel mapping of the whole
//! range, with the CPU caching its buffers are mapped with everywhere: it clears and copies
//! through it with the I/O accessors, hands sub-ranges of it to importers as I/O memory
//! [`VmapAddr`]s, stitches scattered ranges into one kernel mapping with [`IoMemory::vmap`], and
//! gives the page frames of its ranges to user mappings.

use super::VmapAddr;
use crate::{
    bindings,
    device::Bound,
    io::{
        resource::{
            Flags,
            Resource, //
        },
        Io,
        IoBackend,
        IoSysMap,
        IoSysMapBackend,
        PhysAddr, //
    },
    page::{
        PAGE_SHIFT,
        PAGE_SIZE, //
    },
    pci,
    prelude::*,
    sync::aref::ARef, //
};
use core::ptr::NonNull;

/// How the CPU caches mappings of device memory.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum Caching {
    /// Write-combined: writes are buffered and merged, reads are uncached.
    #[default]
    WriteCombined,
    /// Uncached: every access goes to the device in program order.
    Uncached,
}

/// Returns `bar` as the C index of a standard memory BAR of `pdev`.
///
/// Returns [`EINVAL`] if `bar` is not one of the `PCI_STD_NUM_BARS` standard BARs (the ROM,
/// SR-IOV and bridge window resources follow them in the device's resource array, and the C
/// p2pdma code has room for standard BARs only), or if it is not memory (I/O ports, or not
/// implemented). Nothing else is called before this check.
pub(crate) fn std_memory_bar(pdev: &pci::Device<Bound>, bar: u32) -> Result<c_int> {
    if bar >= bindings::PCI_STD_NUM_BARS {
        return Err(EINVAL);
    }
    let index = usize::try_from(bar).map_err(|_| EINVAL)?;
    // SAFETY: `pdev` is a valid device, and `index` is below `PCI_STD_NUM_BARS`, hence within
    // its `resource` array, whose flags are set at enumeration and read-only afterwards.
    let res = unsafe { Resource::from_raw(&raw mut (*pdev.as_raw()).resource[index]) };
    if !res.flags().contains(Flags::IORESOURCE_MEM) {
        return Err(EINVAL);
    }
    c_int::try_from(bar).map_err(|_| EINVAL)
}

/// A kernel mapping of a range of device memory.
///
/// # Invariants
///
/// `addr` is the `ioremap_wc()` or `ioremap()` mapping (as `caching` says) of the `size` bytes
/// of device memory at `phys`, both page aligned; it is unmapped on drop. If `bar` is set, the
/// memory is that BAR of that device, requested with `pci_request_region()` and released on
/// drop.
///
/// # Examples
///
/// Mapping the memory BAR of a PCI device (needs the hardware):
///
/// ```no_run
/// use kernel::{
///     device::Bound,
///     dma_buf::iomem::{
///         Caching,
///         IoMemory, //
///     },
///     pci, //
/// };
///
/// fn clear_bar(pdev: &pci::Device<Bound>) -> Result {
///     let mem = IoMemory::map_pci_bar(pdev, 2, c"my-vram", Caching::WriteCombined)?;
///     mem.fill(0, mem.size(), 0)?;
///     let mut head = [0xffu8; 16];
///     mem.read(0, &mut head)?;
///     assert_eq!(head, [0u8; 16]);
///     // Out of range.
///     assert_eq!(mem.fill(mem.size(), 1, 0).err(), Some(EINVAL));
///     Ok(())
/// }
/// ```
pub struct IoMemory {
    addr: NonNull<c_void>,
    phys: PhysAddr,
    size: usize,
    caching: Caching,
    bar: Option<(ARef<pci::Device>, c_int)>,
}

// SAFETY: The mapping is a plain range of I/O memory; any thread may access or unmap it.
unsafe impl Send for IoMemory {}
// SAFETY: Every access goes through the I/O accessors, which take shared references.
unsafe impl Sync for IoMemory {}

impl IoMemory {
    /// Maps the `size` bytes of device memory at `phys` with `caching`.
    ///
    /// Returns [`EINVAL`] if `phys` or `size` is not page aligned or `size` is zero, and
    /// [`ENOMEM`] if the mapping fails.
    ///
    /// # Safety
    ///
    /// The range must be device memory (never system RAM) that the caller's device owns; it must
    /// stay that device's memory while the caller accesses it through the mapping or hands its
    /// page frames out.
    pub unsafe fn map(phys: PhysAddr, size: usize, caching: Caching) -> Result<Self> {
        let page = PAGE_SIZE as PhysAddr;
        if size == 0 || phys % page != 0 || size % PAGE_SIZE != 0 {
            return Err(EINVAL);
        }
        phys.checked_add(size as PhysAddr).ok_or(EINVAL)?;
        // CAST: `size` fits an unsigned long on every architecture Rust builds for.
        let len = size as c_ulong;
        // SAFETY: The range is device memory the caller owns, by the safety requirements.
        let ptr = unsafe {
            match caching {
                Caching::WriteCombined => bindings::ioremap_wc(phys, len),
                Caching::Uncached => bindings::ioremap(phys, len),
            }
        };
        // INVARIANT: `ptr` maps the range with `caching`, both checked to be page aligned.
        Ok(Self {
            addr: NonNull::new(ptr).ok_or(ENOMEM)?,
            phys,
            size,
            caching,
            bar: None,
        })
    }

    /// Requests memory BAR `bar` of `pdev` for the owner `name` and maps all of it with
    /// `caching`. The BAR stays requested until the mapping is dropped: nobody else can claim
    /// it, also not the same driver after the device is unbound and bound again, for as long as
    /// anything still uses this mapping.
    ///
    /// Returns [`EINVAL`] if `bar` is not a standard BAR (index 6 and up: ROM, SR-IOV, bridge
    /// windows) or not a memory BAR, is empty, or is not page aligned, and [`EBUSY`] if it is
    /// requested already.
    pub fn map_pci_bar(
        pdev: &pci::Device<Bound>,
        bar: u32,
        name: &'static CStr,
        caching: Caching,
    ) -> Result<Self> {
        let num = std_memory_bar(pdev, bar)?;
        let start = pdev.resource_start(bar)?;
        let len = usize::try_from(pdev.resource_len(bar)?).map_err(|_| EINVAL)?;
        // SAFETY: `pdev` is a valid, bound device; `name` lives forever.
        let ret = unsafe { bindings::pci_request_region(pdev.as_raw(), num, name.as_char_ptr()) };
        if ret != 0 {
            return Err(EBUSY);
        }
        // SAFETY: A memory BAR of a bound PCI device is that device's memory, and it is
        // requested for the caller until the mapping is dropped.
        match unsafe { Self::map(start, len, caching) } {
            Ok(mut mem) => {
                // INVARIANT: The BAR was requested above and is released on drop.
                mem.bar = Some((pdev.into(), num));
                Ok(mem)
            }
            Err(e) => {
                // SAFETY: Requested above and not used.
                unsafe { bindings::pci_release_region(pdev.as_raw(), num) };
                Err(e)
            }
        }
    }

    /// Returns the physical address of the range.
    pub fn phys(&self) -> PhysAddr {
        self.phys
    }

    /// Returns the size of the range in bytes.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Returns the caching of the mapping.
    pub fn caching(&self) -> Caching {
        self.caching
    }

    /// Returns the `len` bytes at `offset` as a view for the kernel's I/O accessors.
    ///
    /// Returns [`EINVAL`] if the range is out of bounds.
    fn range(&self, offset: usize, len: usize) -> Result<IoSysMap<'_, [u8]>> {
        // SAFETY: The address is only used to make the view; `addr` maps `size` bytes of I/O
        // memory for as long as `self` lives, which the view cannot outlive.
        let whole = unsafe { VmapAddr::from_vaddr_iomem(self.addr.as_ptr()).io_view(self.size) }?;
        super::io_range(whole, offset, len)
    }

    /// Sets `len` bytes at `offset` to `byte`. Returns [`EINVAL`] if the range is out of bounds.
    pub fn fill(&self, offset: usize, len: usize, byte: u8) -> Result {
        let ptr = IoSysMapBackend::as_ptr(self.range(offset, len)?);
        // SAFETY: `ptr` is `len` bytes of mapped I/O memory, checked by `range`.
        unsafe { bindings::memset_io(ptr.cast(), c_int::from(byte), len) };
        Ok(())
    }

    /// Copies `data` to `offset`. Returns [`EINVAL`] if the range is out of bounds.
    pub fn write(&self, offset: usize, data: &[u8]) -> Result {
        self.range(offset, data.len())?.copy_from_slice(data);
        Ok(())
    }

    /// Copies the bytes at `offset` to `out`. Returns [`EINVAL`] if the range is out of bounds.
    pub fn read(&self, offset: usize, out: &mut [u8]) -> Result {
        self.range(offset, out.len())?.copy_to_slice(out);
        Ok(())
    }

    /// Returns the page frame number of the page at `offset`.
    pub fn pfn(&self, offset: usize) -> Result<usize> {
        self.range(offset, 1)?;
        let phys = self.phys + offset as PhysAddr;
        usize::try_from(phys >> PAGE_SHIFT).map_err(|_| EINVAL)
    }

    /// Returns an I/O memory mapping of the `len` bytes at `offset`.
    ///
    /// Returns [`EINVAL`] if the range is out of bounds.
    ///
    /// # Safety
    ///
    /// The mapping must not be used after `self` is dropped: the caller keeps `self` alive
    /// until the importer gives the mapping back.
    pub unsafe fn vmap_addr(&self, offset: usize, len: usize) -> Result<VmapAddr> {
        let ptr = IoSysMapBackend::as_ptr(self.range(offset, len)?);
        // SAFETY: `ptr` maps `len` bytes of I/O memory for as long as `self` lives, which the
        // caller guarantees covers every use.
        Ok(unsafe { VmapAddr::from_vaddr_iomem(ptr.cast()) })
    }

    /// Maps the page-aligned sub-ranges `ranges` (offset, length) of the memory one after the
    /// other into one kernel mapping, with the same caching.
    ///
    /// Returns [`EINVAL`] for an empty list or a range that is out of bounds or not page
    /// aligned, and [`ENOMEM`] if the mapping fails.
    #[cfg(CONFIG_VMAP_PFN)]
    pub fn vmap(&self, ranges: &[(usize, usize)]) -> Result<IoVmap> {
        let mut pfns = KVec::new();
        for &(offset, len) in ranges {
            self.range(offset, len)?;
            if offset % PAGE_SIZE != 0 || len % PAGE_SIZE != 0 || len == 0 {
                return Err(EINVAL);
            }
            let first = self.pfn(offset)?;
            for i in 0..len / PAGE_SIZE {
                pfns.push(first + i, GFP_KERNEL)?;
            }
        }
        if pfns.is_empty() {
            return Err(EINVAL);
        }
        let count = u32::try_from(pfns.len()).map_err(|_| EINVAL)?;
        // SAFETY: Trivial C functions returning a protection value.
        let prot = unsafe {
            match self.caching {
                Caching::WriteCombined => bindings::pgprot_kernel_writecombine(),
                Caching::Uncached => bindings::pgprot_kernel_noncached(),
            }
        };
        // CAST: `usize` is `unsigned long` in the kernel.
        let pfns_ptr = pfns.as_mut_ptr().cast::<c_ulong>();
        // SAFETY: `pfns` holds `count` page frames of this device memory, which has no
        // `struct page`, as `vmap_pfn()` requires.
        let ptr = unsafe { bindings::vmap_pfn(pfns_ptr, count, prot) };
        // INVARIANT: `ptr` maps `count` pages of `self`'s memory until dropped.
        Ok(IoVmap {
            addr: NonNull::new(ptr).ok_or(ENOMEM)?,
        })
    }
}

impl Drop for IoMemory {
    fn drop(&mut self) {
        // SAFETY: By the type invariants `addr` is a mapping made by `ioremap*()`, unmapped once.
        unsafe { bindings::iounmap(self.addr.as_ptr()) };
        if let Some((pdev, num)) = &self.bar {
            // SAFETY: By the type invariants the BAR was requested for this mapping; the
            // reference keeps the device alive.
            unsafe { bindings::pci_release_region(pdev.as_raw(), *num) };
        }
    }
}

/// A kernel mapping of scattered ranges of an [`IoMemory`], made by [`IoMemory::vmap`].
///
/// # Invariants
///
/// `addr` is a `vmap_pfn()` mapping of pages of device memory, unmapped on drop. It does not
/// depend on the [`IoMemory`] it came from, but the same rule holds for it: the memory must stay
/// the device's while the mapping is used.
#[cfg(CONFIG_VMAP_PFN)]
pub struct IoVmap {
    addr: NonNull<c_void>,
}

// SAFETY: The mapping is a plain range of I/O memory; any thread may use or unmap it.
#[cfg(CONFIG_VMAP_PFN)]
unsafe impl Send for IoVmap {}
// SAFETY: `IoVmap` has no methods that mutate through a shared reference.
#[cfg(CONFIG_VMAP_PFN)]
unsafe impl Sync for IoVmap {}

#[cfg(CONFIG_VMAP_PFN)]
impl IoVmap {
    /// Returns the address of the mapping, in I/O memory.
    pub fn addr(&self) -> *mut c_void {
        self.addr.as_ptr()
    }
}

#[cfg(CONFIG_VMAP_PFN)]
impl Drop for IoVmap {
    fn drop(&mut self) {
        // SAFETY: By the type invariants `addr` is a `vmap_pfn()` mapping, unmapped once.
        unsafe { bindings::vunmap(self.addr.as_ptr()) };
    }
}
