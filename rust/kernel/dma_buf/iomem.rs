// SPDX-License-Identifier: GPL-2.0

//! Device-local memory that an exporter maps into the kernel and hands out as dma-bufs.
//!
//! C header: [`include/linux/io.h`](srctree/include/linux/io.h)
//!
//! An exporter of a range of device memory (a carve-out) keeps one kernel mapping of the whole
//! range, [`IoMemory`], with the CPU caching its buffers are mapped with everywhere: it clears and
//! copies through it with the I/O accessors, and gives the page frames of its ranges to user
//! mappings. [`IoVmap`] maps ranges of device memory, scattered or not, into one kernel mapping
//! of their own for an importer, which outlives any other mapping of the memory (a PCI BAR's is
//! device-managed) and can be taken off the memory when it is revoked.

use super::VmapAddr;
use crate::{
    bindings,
    io::{
        Io,
        IoSysMap,
        Mmio,
        MmioRaw,
        PhysAddr,
        Region, //
    },
    page::PAGE_SIZE,
    prelude::*, //
};
use core::ptr::NonNull;
// Only `IoVmap` maps pages, and only where `vmap_pfn()` is built.
#[cfg(CONFIG_VMAP_PFN)]
use crate::{
    error::to_result,
    page::{
        Page,
        PAGE_SHIFT, //
    }, //
};

/// How the CPU caches mappings of device memory.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum Caching {
    /// Write-combined: writes are buffered and merged, reads are uncached.
    #[default]
    WriteCombined,
    /// Uncached: every access goes to the device in program order.
    Uncached,
}

/// A kernel mapping of a range of device memory.
///
/// # Invariants
///
/// `addr` is the `ioremap_wc()` or `ioremap()` mapping (as `caching` says) of the `size` bytes
/// of device memory at `phys`, both page aligned; it is unmapped on drop.
///
/// A PCI BAR is better mapped with [`crate::pci::Device::iomap_region_wc`], which also
/// requests it.
///
/// # Examples
///
/// Mapping a carve-out of device memory (needs the hardware):
///
/// ```no_run
/// use kernel::{
///     dma_buf::iomem::{
///         Caching,
///         IoMemory, //
///     },
///     io::PhysAddr, //
/// };
///
/// /// # Safety
/// ///
/// /// `phys` must be 1 MiB of device memory the caller owns.
/// unsafe fn clear_carveout(phys: PhysAddr) -> Result {
///     // SAFETY: The caller's promise.
///     let mem = unsafe { IoMemory::map(phys, 1 << 20, Caching::WriteCombined)? };
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
        })
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
        let raw = MmioRaw::new_region(self.addr.as_ptr().addr(), self.size)?;
        // SAFETY: `addr` maps `size` bytes of I/O memory for as long as `self` lives, which the
        // view cannot outlive.
        let mmio: Mmio<'_, Region> = unsafe { Mmio::from_raw(raw) };
        mmio.try_fill(offset, len, byte)
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
}

impl Drop for IoMemory {
    fn drop(&mut self) {
        // SAFETY: By the type invariants `addr` is a mapping made by `ioremap*()`, unmapped once.
        unsafe { bindings::iounmap(self.addr.as_ptr()) };
    }
}

/// A kernel mapping of ranges of device memory, one after the other, made with `vmap_pfn()`.
///
/// It is independent of any other mapping of the memory (such as an [`IoMemory`] or a PCI
/// BAR's), so it can outlive them; the same rule holds for it: the memory must stay the
/// device's while the mapping is used, or until [`IoVmap::redirect`] takes the mapping off it.
///
/// A mapping that is handed to someone who cannot be told to stop using it (an importer's
/// `dma_buf_vmap()`) is revoked that way: every page is pointed at one page of system memory
/// that the mapping then owns, so that the holder reads and writes that page, never the device
/// memory, which can then go.
///
/// # Invariants
///
/// `addr` is a mapping of whole pages, unmapped on drop, of one of two kinds:
/// - [`Backing::Device`]: a `vmap_pfn()` mapping of device memory;
/// - [`Backing::Page`]: every page maps `scratch` (made by [`IoVmap::of_page`], or by
///   [`IoVmap::redirect`] of a `vmap_pfn()` mapping).
#[cfg(CONFIG_VMAP_PFN)]
pub struct IoVmap {
    addr: NonNull<c_void>,
    backing: Backing,
    scratch: Option<Page>,
}

/// What the pages of an [`IoVmap`] map.
#[cfg(CONFIG_VMAP_PFN)]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Backing {
    /// Device memory.
    Device,
    /// One page of system memory, the mapping's own.
    Page,
}

#[cfg(CONFIG_VMAP_PFN)]
impl IoVmap {
    /// Maps the physical ranges `ranges` (address, length) of device memory one after the
    /// other into one kernel mapping, with `caching`.
    ///
    /// Returns [`EINVAL`] for an empty list or a range that is empty or not page aligned, and
    /// [`ENOMEM`] if the mapping fails.
    ///
    /// # Safety
    ///
    /// The ranges must be device memory (never system RAM, which has `struct page`s) that the
    /// caller's device owns, and stay that device's memory while the mapping is used, or until
    /// it is redirected.
    pub unsafe fn new(ranges: &[(PhysAddr, usize)], caching: Caching) -> Result<Self> {
        let pages = ranges
            .iter()
            .try_fold(0usize, |n, &(_, len)| n.checked_add(len / PAGE_SIZE))
            .ok_or(EINVAL)?;
        // Page frame numbers of a large buffer may need more than kmalloc can give at once.
        let mut pfns = KVVec::with_capacity(pages, GFP_KERNEL)?;
        for &(addr, len) in ranges {
            // CAST: A page size fits a physical address.
            if addr % PAGE_SIZE as PhysAddr != 0 || len % PAGE_SIZE != 0 || len == 0 {
                return Err(EINVAL);
            }
            let first = usize::try_from(addr >> PAGE_SHIFT).map_err(|_| EINVAL)?;
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
            match caching {
                Caching::WriteCombined => bindings::pgprot_kernel_writecombine(),
                Caching::Uncached => bindings::pgprot_kernel_noncached(),
            }
        };
        // CAST: `usize` is `unsigned long` in the kernel.
        let pfns_ptr = pfns.as_mut_ptr().cast::<c_ulong>();
        // SAFETY: `pfns` holds `count` page frames of device memory, which has no `struct
        // page`, as `vmap_pfn()` requires, by the safety requirements.
        let ptr = unsafe { bindings::vmap_pfn(pfns_ptr, count, prot) };
        // INVARIANT: `ptr` is a `vmap_pfn()` mapping of device memory, unmapped when dropped.
        Ok(IoVmap {
            addr: NonNull::new(ptr).ok_or(ENOMEM)?,
            backing: Backing::Device,
            scratch: None,
        })
    }

    /// Maps `pages` pages that are all `page`, cached like the kernel's own memory, and keeps
    /// `page`: a mapping the size of a buffer whose device memory is gone, for someone who must
    /// get one.
    ///
    /// Returns [`EINVAL`] for no pages, and [`ENOMEM`] if the mapping fails (`vmap()` refuses
    /// more pages than the system has).
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::{
    ///     dma_buf::iomem::{
    ///         Backing,
    ///         IoVmap, //
    ///     },
    ///     page::{
    ///         Page,
    ///         PAGE_SIZE, //
    ///     },
    /// };
    ///
    /// let map = IoVmap::of_page(Page::alloc_page(GFP_KERNEL | __GFP_ZERO)?, 3)?;
    /// assert_eq!(map.backing(), Backing::Page);
    /// let base = map.addr().cast::<u8>();
    /// // SAFETY: The mapping is three pages of system memory, all the same page.
    /// unsafe {
    ///     base.write_volatile(0x5a);
    ///     assert_eq!(base.add(2 * PAGE_SIZE).read_volatile(), 0x5a);
    /// }
    /// # Ok::<(), Error>(())
    /// ```
    pub fn of_page(page: Page, pages: usize) -> Result<Self> {
        let count = u32::try_from(pages).map_err(|_| EINVAL)?;
        if count == 0 {
            return Err(EINVAL);
        }
        let mut list = KVVec::with_capacity(pages, GFP_KERNEL)?;
        for _ in 0..pages {
            list.push(page.as_ptr(), GFP_KERNEL)?;
        }
        // SAFETY: `list` holds `count` pointers to `page`, which the mapping keeps until it is
        // unmapped; `vmap()` takes no reference on them without `VM_MAP_PUT_PAGES`, and
        // `vunmap()` frees none of them.
        let ptr = unsafe {
            bindings::vmap(
                list.as_mut_ptr(),
                count,
                // CAST: `VM_MAP` is a small flag.
                bindings::VM_MAP as c_ulong,
                bindings::pgprot_kernel(),
            )
        };
        // INVARIANT: `ptr` maps `pages` pages, each `page`, which is kept, until dropped.
        Ok(IoVmap {
            addr: NonNull::new(ptr).ok_or(ENOMEM)?,
            backing: Backing::Page,
            scratch: Some(page),
        })
    }

    /// Returns the address of the mapping: of I/O memory while its backing is
    /// [`Backing::Device`], of system memory otherwise.
    pub fn addr(&self) -> *mut c_void {
        self.addr.as_ptr()
    }

    /// Returns what the mapping's pages map.
    pub fn backing(&self) -> Backing {
        self.backing
    }

    /// Points every page of the mapping at `page`, cached like the kernel's own memory, and
    /// keeps `page` until the mapping is dropped.
    ///
    /// Accesses that race with it reach either the device memory or `page`; once it returns, no
    /// CPU reaches the device memory through the mapping, which keeps its address and size. Its
    /// holder reads whatever `page` holds and writes into `page`. A mapping whose backing is
    /// [`Backing::Page`] already is left as it is, and `page` dropped.
    ///
    /// Returns the error of `vmap_pfn_redirect()`, leaving the mapping on the device memory.
    pub fn redirect(&mut self, page: Page) -> Result {
        if self.backing == Backing::Page {
            return Ok(());
        }
        // SAFETY: `addr` is the start of a `vmap_pfn()` mapping by the type invariants, and
        // `page` is kept below for as long as the mapping.
        to_result(unsafe { bindings::vmap_pfn_redirect(self.addr.as_ptr(), page.as_ptr()) })?;
        // INVARIANT: Every page now maps `page`, kept in `scratch`.
        self.backing = Backing::Page;
        self.scratch = Some(page);
        Ok(())
    }
}

// SAFETY: The mapping is a kernel address, valid on every CPU; any thread may use or unmap it,
// and its page, if it has one, with it.
#[cfg(CONFIG_VMAP_PFN)]
unsafe impl Send for IoVmap {}
// SAFETY: `IoVmap` has no methods that mutate through a shared reference.
#[cfg(CONFIG_VMAP_PFN)]
unsafe impl Sync for IoVmap {}

#[cfg(CONFIG_VMAP_PFN)]
impl Drop for IoVmap {
    fn drop(&mut self) {
        // SAFETY: By the type invariants `addr` is a `vmap_pfn()` or `vmap()` mapping, unmapped
        // once. `scratch`, which it may map, is dropped after this.
        unsafe { bindings::vunmap(self.addr.as_ptr()) };
    }
}
