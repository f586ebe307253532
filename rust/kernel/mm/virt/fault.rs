// SPDX-License-Identifier: GPL-2.0

//! Areas mapped on demand by a fault handler, for memory without `struct page` such as MMIO.
//!
//! C header: [`include/linux/mm.h`](srctree/include/linux/mm.h)
//!
//! An exporter of device memory installs a [`FaultHandler`] in a new area with
//! [`VmaNew::set_fault_handler`] instead of mapping everything at `mmap` time. Pages are then
//! inserted as user space touches them, and a later zap (for example when the device goes away)
//! leaves nothing behind that a fault would not re-check.

use super::{
    VmaMixedMap,
    VmaNew, //
};
use crate::{
    bindings,
    page::{
        Page,
        PAGE_SIZE, //
    },
    prelude::*,
    sync::{
        Arc,
        ArcBorrow, //
    },
    types::{
        ForeignOwnable,
        Opaque, //
    }, //
};
use core::marker::PhantomData;

/// The result of a fault handler (`vm_fault_t`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct VmFaultResult(bindings::vm_fault_t);

impl VmFaultResult {
    /// The handler installed the page table entry itself.
    pub const NOPAGE: Self = Self(bindings::vm_fault_reason_VM_FAULT_NOPAGE);
    /// The access is not allowed: the task gets `SIGBUS`.
    pub const SIGBUS: Self = Self(bindings::vm_fault_reason_VM_FAULT_SIGBUS);
    /// Out of memory.
    pub const OOM: Self = Self(bindings::vm_fault_reason_VM_FAULT_OOM);
    /// A huge fault maps nothing: the core retries the access with page-sized mappings.
    pub const FALLBACK: Self = Self(bindings::vm_fault_reason_VM_FAULT_FALLBACK);
}

/// The order of a PMD mapping, the one [`FaultHandler::huge_fault`] is asked for: it maps
/// `PAGE_SIZE << PMD_ORDER` bytes, aligned to that size.
pub const PMD_ORDER: u32 = bindings::PMD_SHIFT - bindings::PAGE_SHIFT;

/// A page fault in an area with a [`FaultHandler`].
///
/// # Invariants
///
/// `self.0` is a valid `struct vm_fault` of a fault being handled, whose area is `VM_MIXEDMAP`.
#[repr(transparent)]
pub struct VmFault(Opaque<bindings::vm_fault>, PhantomData<*mut ()>);

impl VmFault {
    /// # Safety
    ///
    /// `vmf` must be a fault being handled, valid for `'a`, of a `VM_MIXEDMAP` area.
    unsafe fn from_raw<'a>(vmf: *mut bindings::vm_fault) -> &'a Self {
        // SAFETY: `VmFault` is a transparent wrapper; validity is the caller's promise.
        unsafe { &*vmf.cast() }
    }

    fn as_raw(&self) -> *mut bindings::vm_fault {
        self.0.get()
    }

    /// Returns the faulting user address, rounded down to its page.
    pub fn address(&self) -> usize {
        // SAFETY: The fault is valid by the type invariants; `address` is set before the
        // handler is called and not changed by it.
        unsafe { (*self.as_raw()).__bindgen_anon_1.address }
    }

    /// Returns the page offset of the fault in the area's file (`vm_pgoff` included).
    pub fn pgoff(&self) -> usize {
        // SAFETY: As for `address`.
        unsafe { (*self.as_raw()).__bindgen_anon_1.pgoff }
    }

    /// Returns the faulting area.
    pub fn vma(&self) -> &VmaMixedMap {
        // SAFETY: The area is valid while its fault is handled, with the mmap or VMA lock held
        // for reading, and is `VM_MIXEDMAP` by the type invariants.
        unsafe { VmaMixedMap::from_raw((*self.as_raw()).__bindgen_anon_1.vma) }
    }

    /// Maps the page frame `pfn` at the faulting address, with the area's page protection.
    ///
    /// Returns [`VmFaultResult::NOPAGE`] on success, which the handler returns in turn.
    ///
    /// # Safety
    ///
    /// `pfn` must be memory the area may expose to user space, at least until every mapping of
    /// it is zapped: for example a page of a BAR of the caller's bound device.
    pub unsafe fn insert_mixed(&self, pfn: usize) -> VmFaultResult {
        // SAFETY: The area is `VM_MIXEDMAP`, the address is the faulting one, inside the area;
        // exposing `pfn` is the caller's promise.
        VmFaultResult(unsafe {
            bindings::vmf_insert_mixed(self.vma().as_ptr(), self.address(), pfn)
        })
    }

    /// Returns whether the fault is a write access.
    pub fn is_write(&self) -> bool {
        // SAFETY: As for `address`.
        let flags = unsafe { (*self.as_raw()).flags };
        flags & bindings::fault_flag_FAULT_FLAG_WRITE != 0
    }

    /// Maps the `pages` page frames from `pfn` on at the user addresses from `address` on, with
    /// the area's page protection, leaving addresses that are mapped already as they are. This
    /// is how a handler maps more than the faulting page in one fault, for example the rest of a
    /// contiguous run of device memory: one page table walk and lock for each page table the
    /// range spans (`vmf_insert_pfns`), not one for each page.
    ///
    /// Returns [`VmFaultResult::NOPAGE`] once every page is mapped, [`VmFaultResult::SIGBUS`] if
    /// `address` is not page aligned, the range does not lie inside the area, or a page frame is
    /// the zero page (or, on architectures without special page table entries, has a `struct
    /// page`), and [`VmFaultResult::OOM`] if a page table could not be allocated (which leaves
    /// the page tables before it filled).
    ///
    /// # Safety
    ///
    /// As for [`VmFault::insert_mixed`], for each of the page frames.
    pub unsafe fn insert_pfns(&self, address: usize, pfn: usize, pages: usize) -> VmFaultResult {
        let table_span = PAGE_SIZE << PMD_ORDER;
        let vma = self.vma();
        let end = pages
            .checked_mul(PAGE_SIZE)
            .and_then(|len| address.checked_add(len));
        match end {
            Some(end) if address % PAGE_SIZE == 0 && address >= vma.start() && end <= vma.end() => {
            }
            _ => return VmFaultResult::SIGBUS,
        }
        let (mut address, mut pfn, mut pages) = (address, pfn, pages);
        while pages > 0 {
            // Up to the end of this page table.
            let n = ((table_span - address % table_span) / PAGE_SIZE).min(pages);
            // SAFETY: The fault is being handled, in a `VM_MIXEDMAP` area by the type
            // invariants; the range lies inside it (checked above) and inside one page table.
            // Exposing the page frames is the caller's promise.
            let inserted = unsafe { bindings::vmf_insert_pfns(self.as_raw(), address, pfn, n) };
            let result = VmFaultResult(inserted);
            if result != VmFaultResult::NOPAGE {
                return result;
            }
            (address, pfn, pages) = (address + n * PAGE_SIZE, pfn + n, pages - n);
        }
        VmFaultResult::NOPAGE
    }

    /// Maps the `PAGE_SIZE << PMD_ORDER` bytes of page frames from `pfn` on with one PMD, at the
    /// faulting address rounded down to that size. Call it from [`FaultHandler::huge_fault`]
    /// for [`PMD_ORDER`] only.
    ///
    /// Returns [`VmFaultResult::NOPAGE`] on success, which the handler returns in turn,
    /// [`VmFaultResult::FALLBACK`] if `pfn` is not aligned to the size or the aligned range
    /// does not lie inside the area, and [`VmFaultResult::OOM`] if no page table could be
    /// allocated.
    ///
    /// # Safety
    ///
    /// As for [`VmFault::insert_mixed`], for each of the page frames.
    #[cfg(CONFIG_ARCH_SUPPORTS_PMD_PFNMAP)]
    pub unsafe fn insert_pfn_pmd(&self, pfn: usize) -> VmFaultResult {
        let size = PAGE_SIZE << PMD_ORDER;
        let start = self.address() & !(size - 1);
        let vma = self.vma();
        if pfn % (1 << PMD_ORDER) != 0 || start < vma.start() || vma.end() - start < size {
            return VmFaultResult::FALLBACK;
        }
        // SAFETY: The fault is being handled, in a `VM_MIXEDMAP` area (not `VM_PFNMAP`) by the
        // type invariants, and the aligned range lies inside it, checked above; exposing the
        // page frames is the caller's promise.
        VmFaultResult(unsafe { bindings::vmf_insert_pfn_pmd(self.as_raw(), pfn, self.is_write()) })
    }

    /// Maps `page` at the faulting address.
    ///
    /// Returns [`VmFaultResult::NOPAGE`] on success, which the handler returns in turn,
    /// [`VmFaultResult::OOM`] if a page table could not be allocated, and
    /// [`VmFaultResult::SIGBUS`] otherwise.
    pub fn insert_page(&self, page: &Page) -> VmFaultResult {
        match self.vma().vm_insert_page(self.address(), page) {
            Ok(()) => VmFaultResult::NOPAGE,
            Err(e) if e == ENOMEM => VmFaultResult::OOM,
            Err(_) => VmFaultResult::SIGBUS,
        }
    }
}

/// Handles page faults in the areas it is installed in with [`VmaNew::set_fault_handler`].
///
/// The area holds a reference on the handler, shared by the areas it is split or copied into,
/// and dropped when the last of them is unmapped.
///
/// # Examples
///
/// A dma-buf of one page, mapped into user space on demand: nothing is mapped until user space
/// first touches it, which calls the handler once.
///
/// ```
/// use core::sync::atomic::{
///     AtomicUsize,
///     Ordering::Relaxed, //
/// };
/// use kernel::{
///     dma_buf::{
///         DmaBuf,
///         Exported,
///         Exporter,
///         FdFlags,
///         NoSgTable, //
///     },
///     fs::LocalFile,
///     mm::virt::{
///         fault::{
///             FaultHandler,
///             VmFault,
///             VmFaultResult, //
///         },
///         VmaNew, //
///     },
///     page::{
///         Page,
///         PAGE_SIZE, //
///     },
///     sync::{
///         Arc,
///         ArcBorrow, //
///     },
///     uaccess::{
///         UserPtr,
///         UserSlice, //
///     },
/// };
///
/// struct OnePage {
///     page: Page,
///     faults: AtomicUsize,
/// }
///
/// #[vtable]
/// impl FaultHandler for OnePage {
///     fn fault(this: ArcBorrow<'_, Self>, vmf: &VmFault) -> VmFaultResult {
///         this.faults.fetch_add(1, Relaxed);
///         match vmf.pgoff() {
///             0 => vmf.insert_page(&this.page),
///             _ => VmFaultResult::SIGBUS,
///         }
///     }
/// }
///
/// struct OnDemand(Arc<OnePage>);
///
/// #[vtable]
/// impl Exporter for OnDemand {
///     type SgTable<'a> = NoSgTable;
///
///     fn mmap(buf: &Exported<Self>, vma: &VmaNew) -> Result {
///         vma.set_mixedmap();
///         vma.set_fault_handler(buf.data().0.clone())
///     }
/// }
///
/// let page = Page::alloc_page(GFP_KERNEL | __GFP_ZERO)?;
/// let mem = Arc::new(
///     OnePage {
///         page,
///         faults: AtomicUsize::new(0),
///     },
///     GFP_KERNEL,
/// )?;
/// let buf = Exported::new(OnDemand(mem.clone()), PAGE_SIZE, FdFlags::RDWR, c"doctest-fault")?;
/// let fd = DmaBuf::install_fd(Exported::into_dma_buf(buf), FdFlags::CLOEXEC)?;
/// # let file = LocalFile::fget(fd)?;
/// # // SAFETY: A KUnit case gets an mm from `kunit_vm_mmap()`; the shared, read-write mapping
/// # // holds its own reference to the file and goes away when the case ends.
/// # let addr = unsafe {
/// #     kernel::bindings::kunit_vm_mmap(
/// #         kernel::bindings::kunit_get_current_test(),
/// #         file.as_ptr(),
/// #         0,
/// #         PAGE_SIZE,
/// #         0x3,
/// #         0x1,
/// #         0,
/// #     )
/// # };
/// # // `vm_mmap()` returns an errno in the last page of the address space.
/// # if addr > usize::MAX - PAGE_SIZE {
/// #     return Err(ENOMEM);
/// # }
/// # // SAFETY: `fd` is not used again; the mapping holds its own reference to the file.
/// # unsafe { kernel::bindings::close_fd(fd) };
/// // `addr` is where the buffer is mapped in this task's address space.
/// let user = UserSlice::new(UserPtr::from_addr(addr + 8), 4);
/// assert_eq!(mem.faults.load(Relaxed), 0);
/// user.writer().write_slice(&[1, 2, 3, 4])?;
/// assert_eq!(mem.faults.load(Relaxed), 1);
///
/// // The bytes landed in the page; reading them back does not fault again.
/// let mut out = [0u8; 4];
/// // SAFETY: `out` is valid for writes of 4 bytes.
/// unsafe { mem.page.read_raw(out.as_mut_ptr(), 8, 4)? };
/// assert_eq!(out, [1, 2, 3, 4]);
/// UserSlice::new(UserPtr::from_addr(addr + 8), 4)
///     .reader()
///     .read_slice(&mut out)?;
/// assert_eq!(mem.faults.load(Relaxed), 1);
/// # Ok::<(), Error>(())
/// ```
#[vtable]
pub trait FaultHandler: Send + Sync + 'static {
    /// Maps what `vmf` asks for, with [`VmFault::insert_page`], [`VmFault::insert_mixed`] or
    /// [`VmFault::insert_pfns`].
    fn fault(this: ArcBorrow<'_, Self>, vmf: &VmFault) -> VmFaultResult;

    /// Maps what `vmf` asks for with one mapping of `PAGE_SIZE << order` bytes, or returns
    /// [`VmFaultResult::FALLBACK`] to have the access retried with [`FaultHandler::fault`].
    ///
    /// The core calls it for an address whose page table is not there yet, where transparent
    /// huge pages are enabled, with `order` [`PMD_ORDER`] (map with [`VmFault::insert_pfn_pmd`])
    /// or the order of a PUD. Areas are not placed to suit huge mappings: the memory's file
    /// does that (with `thp_get_unmapped_area`, say).
    fn huge_fault(_this: ArcBorrow<'_, Self>, _vmf: &VmFault, _order: u32) -> VmFaultResult {
        build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }
}

struct FaultVTable<T: FaultHandler>(PhantomData<T>);

impl<T: FaultHandler> FaultVTable<T> {
    const VTABLE: bindings::vm_operations_struct = bindings::vm_operations_struct {
        open: Some(Self::open),
        close: Some(Self::close),
        fault: Some(Self::fault),
        huge_fault: if T::HAS_HUGE_FAULT {
            Some(Self::huge_fault)
        } else {
            None
        },
        ..pin_init::zeroed()
    };

    /// # Safety
    ///
    /// `vma` must be a new area copied or split from one with this vtable.
    unsafe extern "C" fn open(vma: *mut bindings::vm_area_struct) {
        // SAFETY: The area's private data is the handler `set_fault_handler` installed, which
        // the area it comes from still holds.
        let handler = unsafe { <Arc<T> as ForeignOwnable>::borrow((*vma).vm_private_data) };
        // The new area shares the same pointer; it owns the reference taken here.
        core::mem::forget(Arc::<T>::from(handler));
    }

    /// # Safety
    ///
    /// `vma` must be an area with this vtable being unmapped.
    unsafe extern "C" fn close(vma: *mut bindings::vm_area_struct) {
        // SAFETY: The area owns one reference to the handler, given back here, once.
        drop(unsafe { <Arc<T> as ForeignOwnable>::from_foreign((*vma).vm_private_data) });
    }

    /// # Safety
    ///
    /// `vmf` must be a fault being handled in an area with this vtable.
    unsafe extern "C" fn fault(vmf: *mut bindings::vm_fault) -> bindings::vm_fault_t {
        // SAFETY: A fault being handled, in an area of this vtable, which is `VM_MIXEDMAP`
        // (`set_fault_handler` requires it).
        let vmf = unsafe { VmFault::from_raw(vmf) };
        // SAFETY: The area is valid while its fault is handled.
        let private = unsafe { (*vmf.vma().as_ptr()).vm_private_data };
        // SAFETY: The area holds a reference to the handler while it is mapped.
        let handler = unsafe { <Arc<T> as ForeignOwnable>::borrow(private) };
        T::fault(handler, vmf).0
    }

    /// # Safety
    ///
    /// `vmf` must be a huge fault being handled in an area with this vtable.
    unsafe extern "C" fn huge_fault(
        vmf: *mut bindings::vm_fault,
        order: crate::ffi::c_uint,
    ) -> bindings::vm_fault_t {
        // SAFETY: As in `fault`.
        let vmf = unsafe { VmFault::from_raw(vmf) };
        // SAFETY: The area is valid while its fault is handled.
        let private = unsafe { (*vmf.vma().as_ptr()).vm_private_data };
        // SAFETY: The area holds a reference to the handler while it is mapped.
        let handler = unsafe { <Arc<T> as ForeignOwnable>::borrow(private) };
        T::huge_fault(handler, vmf, order).0
    }
}

impl VmaNew {
    /// Makes the area's mappings write-combined (`pgprot_writecombine`).
    pub fn set_writecombine(&self) {
        // SAFETY: The area is under initial setup, so nothing else reads `vm_page_prot` yet, and
        // `VmaNew` is `!Sync`; any page protection is a valid value.
        unsafe {
            let vma = self.as_ptr();
            (*vma).vm_page_prot = bindings::pgprot_writecombine((*vma).vm_page_prot);
        }
    }

    /// Makes the area's mappings uncached (`pgprot_noncached`).
    pub fn set_uncached(&self) {
        // SAFETY: As in `set_writecombine`.
        unsafe {
            let vma = self.as_ptr();
            (*vma).vm_page_prot = bindings::pgprot_noncached((*vma).vm_page_prot);
        }
    }

    /// Maps the area on demand: every fault calls `handler`.
    ///
    /// The area must be `VM_MIXEDMAP` ([`VmaNew::set_mixedmap`]); it is also made `VM_IO`,
    /// `VM_DONTEXPAND` and `VM_DONTDUMP`. Call this last in `mmap`: once installed, the handler
    /// lives as long as the area. Returns [`EINVAL`] if the area is not `VM_MIXEDMAP` or already
    /// has private data (a handler installed before, say).
    pub fn set_fault_handler<T: FaultHandler>(&self, handler: Arc<T>) -> Result {
        if self.as_mixedmap_vma().is_none() {
            return Err(EINVAL);
        }
        // SAFETY: The area is under initial setup; reading its private data is not a race.
        if !unsafe { (*self.as_ptr()).vm_private_data }.is_null() {
            return Err(EINVAL);
        }
        self.set_io();
        self.set_dontexpand();
        self.set_dontdump();
        // SAFETY: The area is under initial setup and `VmaNew` is `!Sync`, so nothing else
        // uses these fields. The vtable is static; the private data is the reference the area
        // owns, which `close` gives back.
        unsafe {
            let vma = self.as_ptr();
            (*vma).vm_private_data = handler.into_foreign();
            (*vma).vm_ops = &FaultVTable::<T>::VTABLE;
        }
        Ok(())
    }
}

#[cfg(CONFIG_RUST_MM_FAULT_KUNIT_TEST)]
#[kunit_tests(rust_mm_fault)]
mod tests {
    use super::*;
    use crate::{
        dma_buf::{
            DmaBuf,
            Exported,
            Exporter,
            FdFlags,
            NoSgTable, //
        },
        page::PAGE_SIZE,
        uaccess::{
            UserPtr,
            UserSlice, //
        },
    };
    use core::sync::atomic::{
        AtomicBool,
        AtomicUsize,
        Ordering::Relaxed, //
    };

    /// Pages mapped into user space on demand, until revoked.
    struct OnDemand {
        pages: KVec<Page>,
        faults: AtomicUsize,
        revoked: AtomicBool,
    }

    #[vtable]
    impl FaultHandler for OnDemand {
        fn fault(this: ArcBorrow<'_, Self>, vmf: &VmFault) -> VmFaultResult {
            this.faults.fetch_add(1, Relaxed);
            if this.revoked.load(Relaxed) {
                return VmFaultResult::SIGBUS;
            }
            match this.pages.get(vmf.pgoff()) {
                Some(page) => vmf.insert_page(page),
                None => VmFaultResult::SIGBUS,
            }
        }
    }

    struct OnDemandBuf(Arc<OnDemand>);

    #[vtable]
    impl Exporter for OnDemandBuf {
        type SgTable<'a> = NoSgTable;

        fn mmap(buf: &Exported<Self>, vma: &VmaNew) -> Result {
            vma.set_mixedmap();
            vma.set_fault_handler(buf.data().0.clone())
        }
    }

    /// Maps the whole buffer, shared and read-write, into the test's own address space.
    fn map_into_user(buf: &DmaBuf) -> Result<usize> {
        // From include/uapi/asm-generic/mman-common.h and mman.h.
        const PROT_READ_WRITE: c_ulong = 0x1 | 0x2;
        const MAP_SHARED: c_ulong = 0x1;
        // SAFETY: The test runs in a KUnit kthread, which `kunit_vm_mmap()` gives an mm; the
        // mapping holds its own reference to the buffer's file and is unmapped when the test
        // ends.
        let addr = unsafe {
            bindings::kunit_vm_mmap(
                bindings::kunit_get_current_test(),
                (*buf.as_raw()).file,
                0,
                buf.size(),
                PROT_READ_WRITE,
                MAP_SHARED,
                0,
            )
        };
        // `vm_mmap()` returns an address, or an errno in the last page of the address space.
        if addr >= (-(bindings::MAX_ERRNO as isize)) as usize {
            return Err(Error::from_errno(addr as c_int));
        }
        Ok(addr)
    }

    /// A mapping made on demand faults once per page, and again after a zap; once revoked,
    /// access fails.
    #[test]
    fn mmap_on_demand_zap_and_revoke() -> Result {
        let mut pages = KVec::new();
        for _ in 0..2 {
            pages.push(Page::alloc_page(GFP_KERNEL | __GFP_ZERO)?, GFP_KERNEL)?;
        }
        let mem = Arc::new(
            OnDemand {
                pages,
                faults: AtomicUsize::new(0),
                revoked: AtomicBool::new(false),
            },
            GFP_KERNEL,
        )?;
        let buf = Exported::new(
            OnDemandBuf(mem.clone()),
            2 * PAGE_SIZE,
            FdFlags::RDWR,
            c"kunit-on-demand",
        )?;
        let addr = map_into_user(&buf)?;
        let user =
            |offset: usize, len: usize| UserSlice::new(UserPtr::from_addr(addr + offset), len);

        // Nothing is mapped before it is touched.
        assert_eq!(mem.faults.load(Relaxed), 0);
        user(PAGE_SIZE + 8, 4).writer().write_slice(&[1, 2, 3, 4])?;
        assert_eq!(mem.faults.load(Relaxed), 1);

        // The data went to the second page.
        let mut out = [0u8; 4];
        // SAFETY: `out` is valid for writes of 4 bytes.
        unsafe { mem.pages[1].read_raw(out.as_mut_ptr(), 8, 4)? };
        assert_eq!(out, [1, 2, 3, 4]);

        // Mapped now: reading it does not fault.
        user(PAGE_SIZE + 8, 4).reader().read_slice(&mut out)?;
        assert_eq!(mem.faults.load(Relaxed), 1);

        // After a zap, the next access faults again and finds the same data.
        buf.zap_user_mappings();
        out = [0; 4];
        user(PAGE_SIZE + 8, 4).reader().read_slice(&mut out)?;
        assert_eq!(out, [1, 2, 3, 4]);
        assert_eq!(mem.faults.load(Relaxed), 2);

        // Revoked and zapped: access fails instead of reaching the memory.
        mem.revoked.store(true, Relaxed);
        buf.zap_user_mappings();
        assert_eq!(
            user(PAGE_SIZE + 8, 4).reader().read_slice(&mut out),
            Err(EFAULT)
        );
        assert_eq!(user(0, 4).writer().write_slice(&[9; 4]), Err(EFAULT));
        Ok(())
    }
}
