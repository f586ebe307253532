// SPDX-License-Identifier: GPL-2.0

//! DMA-buf: buffers shared between drivers, and with user space as file descriptors.
//!
//! C header: [`include/linux/dma-buf.h`](srctree/include/linux/dma-buf.h)
//!
//! An exporter implements [`Exporter`] for the data it keeps per buffer, and calls
//! [`Exported::new`] to wrap that data in a new `struct dma_buf`. The data lives in an
//! [`Arc`](crate::sync::Arc) of which the buffer holds one reference, given up when the last
//! reference to the buffer goes away, which is the C `release` callback. Whatever must outlive a
//! borrow of the buffer, such as a user mapping's fault handler, takes a reference of its own
//! ([`Exported::data_arc`]).
//!
//! The locking rules of `struct dma_buf_ops` are part of the types:
//!
//! - callbacks that run with the buffer's reservation lock held (`pin`, `unpin`, `map_dma_buf`,
//!   `unmap_dma_buf`, `vmap`, `vunmap`) receive a [`Locked`] view: a proof that the lock is held,
//!   with no way to take it again;
//! - the other callbacks receive an [`Exported`] view, from which [`DmaBuf::lock_resv`] is
//!   reachable;
//! - `pin` and `unpin` come as a pair, and so do `vmap` and `vunmap`: an exporter implementing
//!   one without the other does not build;
//! - `map_dma_buf` hands an owned [`MappedSgTable`] to the importer and `unmap_dma_buf` gets it
//!   back; a table may borrow its attachment (`Exporter::SgTable<'a>`), so that safe code cannot
//!   keep it, or free it, outside the callbacks that hold the lock.
//!
//! The files, in the order of a buffer's life:
//!
//! - [`exporter`]: the [`Exporter`] trait, [`Exported::new`], the [`Locked`] view and the
//!   `struct dma_buf_ops` trampolines;
//! - [`attachment`]: an importing device, as the exporter's callbacks see it;
//! - [`importer`]: what an importer does: attach, map for DMA, map into the kernel ([`Vmap`]);
//! - [`dynamic`]: dynamic importers, which map under the reservation lock and give their
//!   mapping up when the exporter invalidates it ([`DynamicAttachment`], [`Importer`]);
//! - [`resv`]: the reservation lock, taken outside the callbacks ([`ResvGuard`]);
//! - [`iomem`] and `mmio`: exporting device memory, into the kernel and peer to peer.
//!
//! Reference: <https://docs.kernel.org/driver-api/dma-buf.html>

use crate::{
    bindings,
    dma::DataDirection,
    error::{
        from_err_ptr,
        to_result, //
    },
    io::{
        io_project,
        IoSysMap, //
    },
    prelude::*,
    ptr::projection::OutOfBound,
    sync::aref::{
        ARef,
        AlwaysRefCounted, //
    },
    types::Opaque, //
};
use core::ptr::NonNull;

pub mod attachment;
pub mod dynamic;
pub mod exporter;
pub mod importer;
pub mod iomem;
#[cfg(CONFIG_PCI_P2PDMA)]
pub mod mmio;
pub mod resv;

pub use attachment::Attachment;
pub use dynamic::{
    DynamicAttachment,
    Importer,
    LockedAttachment, //
};
pub use exporter::{
    Exported,
    Exporter,
    Locked,
    MappedSgTable,
    NoSgTable,
    VmapAddr, //
};
pub use importer::{
    ImporterAttachment,
    ImporterMapping,
    Vmap, //
};
pub use resv::ResvGuard;

/// Flags of the file behind a dma-buf and of the file descriptors installed for it.
///
/// Only an access mode (`O_RDONLY`, `O_WRONLY`, `O_RDWR`) and `O_CLOEXEC` are valid, as for
/// `DMA_HEAP_IOCTL_ALLOC`.
///
/// # Invariants
///
/// No bit outside `O_ACCMODE | O_CLOEXEC` is set.
///
/// # Examples
///
/// ```
/// use kernel::dma_buf::FdFlags;
///
/// let flags = FdFlags::new(FdFlags::RDWR.as_raw() | FdFlags::CLOEXEC.as_raw())?;
/// assert_eq!(flags.as_raw(), FdFlags::RDWR.as_raw() | FdFlags::CLOEXEC.as_raw());
///
/// // Anything else is refused.
/// assert_eq!(FdFlags::new(FdFlags::RDWR.as_raw() | 0x8000).err(), Some(EINVAL));
/// # Ok::<(), Error>(())
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct FdFlags(u32);

impl FdFlags {
    /// Read-only access.
    pub const RDONLY: Self = Self(bindings::O_RDONLY);
    /// Read and write access.
    pub const RDWR: Self = Self(bindings::O_RDWR);
    /// Close the file descriptor on `exec`.
    pub const CLOEXEC: Self = Self(bindings::O_CLOEXEC);

    const VALID: u32 = bindings::O_ACCMODE | bindings::O_CLOEXEC;

    /// Validates raw flags, as user space passes them.
    ///
    /// Returns [`EINVAL`] if any bit other than an access mode or `O_CLOEXEC` is set.
    pub fn new(flags: u32) -> Result<Self> {
        if flags & !Self::VALID != 0 {
            return Err(EINVAL);
        }
        // INVARIANT: Checked above.
        Ok(Self(flags))
    }

    /// Returns the raw flags.
    pub fn as_raw(self) -> u32 {
        self.0
    }
}

/// A reference to a `struct dma_buf`, whoever exported it.
///
/// `ARef<DmaBuf>` holds a reference on the buffer's file; dropping it is `dma_buf_put()`.
///
/// # Invariants
///
/// `self.0` is a valid `struct dma_buf`, created by `dma_buf_export()`, whose file reference count
/// is non-zero for as long as `self` is reachable.
#[repr(transparent)]
pub struct DmaBuf(Opaque<bindings::dma_buf>);

// SAFETY: A `struct dma_buf` may be used and released from any thread.
unsafe impl Send for DmaBuf {}
// SAFETY: All `&self` methods are safe to call concurrently; the C API locks what it must.
unsafe impl Sync for DmaBuf {}

// SAFETY: `get_dma_buf()` and `dma_buf_put()` take and drop a reference on the buffer's file,
// which keeps the `struct dma_buf` alive.
unsafe impl AlwaysRefCounted for DmaBuf {
    fn inc_ref(&self) {
        // SAFETY: The buffer is valid and has a non-zero reference count by the type invariants.
        unsafe { bindings::get_dma_buf(self.as_raw()) };
    }

    unsafe fn dec_ref(obj: NonNull<Self>) {
        // SAFETY: The caller owns a reference, which this gives up.
        unsafe { bindings::dma_buf_put(obj.cast().as_ptr()) };
    }
}

impl DmaBuf {
    /// Returns the raw `struct dma_buf` pointer.
    pub(crate) fn as_raw(&self) -> *mut bindings::dma_buf {
        self.0.get()
    }

    /// Creates a reference to a [`DmaBuf`] from a valid pointer.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a valid `struct dma_buf` whose file holds a reference for at least the
    /// lifetime `'a`.
    pub unsafe fn from_raw<'a>(ptr: *mut bindings::dma_buf) -> &'a Self {
        // SAFETY: `DmaBuf` is a transparent wrapper of `struct dma_buf`, valid for `'a` by the
        // safety requirements of this function.
        unsafe { &*ptr.cast() }
    }

    /// Returns the size of the buffer in bytes.
    pub fn size(&self) -> usize {
        // SAFETY: `size` is set at export time and never changes.
        unsafe { (*self.as_raw()).size }
    }

    /// Returns the name of the exporter, as shown in `/sys/kernel/debug/dma_buf/bufinfo`.
    pub fn exporter_name(&self) -> &CStr {
        // SAFETY: `exp_name` is set at export time to a string that outlives the buffer.
        unsafe { CStr::from_char_ptr((*self.as_raw()).exp_name) }
    }

    /// Takes a reference to the dma-buf behind the file descriptor `fd`.
    ///
    /// Returns [`EBADF`] if `fd` is not an open file descriptor and [`EINVAL`] if its file is not
    /// a dma-buf.
    pub fn from_fd(fd: i32) -> Result<ARef<Self>> {
        // SAFETY: `dma_buf_get()` accepts any integer and returns a new reference or an error.
        let ptr = from_err_ptr(unsafe { bindings::dma_buf_get(fd) })?;
        // SAFETY: `dma_buf_get()` succeeded, so `ptr` is a valid dma-buf whose reference is ours.
        Ok(unsafe { ARef::from_raw(NonNull::new_unchecked(ptr.cast())) })
    }

    /// Installs a new file descriptor for the buffer in the current task and returns it.
    ///
    /// The reference `this` is moved into the file descriptor table. On failure it is dropped,
    /// which may release the buffer.
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::{
    ///     dma::DataDirection,
    ///     dma_buf::{
    ///         Attachment,
    ///         DmaBuf,
    ///         Exported,
    ///         Exporter,
    ///         FdFlags,
    ///         Locked,
    ///         NoSgTable, //
    ///     },
    ///     page::PAGE_SIZE, //
    /// };
    ///
    /// struct Empty;
    ///
    /// #[vtable]
    /// impl Exporter for Empty {
    ///     type SgTable<'a> = NoSgTable;
    /// }
    ///
    /// let buf = Exported::new(Empty, PAGE_SIZE, FdFlags::RDWR, c"doctest-fd")?;
    /// let fd = DmaBuf::install_fd(Exported::into_dma_buf(buf.clone()), FdFlags::CLOEXEC)?;
    ///
    /// // The descriptor leads back to the same buffer, which knows its exporter.
    /// let found = DmaBuf::from_fd(fd as i32)?;
    /// assert!(core::ptr::eq(&*found, &**buf));
    /// assert_eq!(found.exporter_name(), c"doctest-fd");
    ///
    /// // Not an open file descriptor.
    /// assert_eq!(DmaBuf::from_fd(-1).err(), Some(EBADF));
    ///
    /// // This exporter has no kernel mapping.
    /// assert_eq!(found.vmap().err(), Some(EINVAL));
    /// # // SAFETY: `fd` was installed above and is not used again.
    /// # unsafe { kernel::bindings::close_fd(fd) };
    /// # Ok::<(), Error>(())
    /// ```
    pub fn install_fd(this: ARef<Self>, flags: FdFlags) -> Result<u32> {
        // INVARIANT (of `FdFlags`): only an access mode and `O_CLOEXEC`; the cast is lossless.
        // SAFETY: `this` is a valid dma-buf and the reference it owns is handed over below.
        let fd = unsafe { bindings::dma_buf_fd(this.as_raw(), flags.as_raw() as c_int) };
        to_result(fd)?;
        // The file descriptor table now owns the reference that `this` held.
        let _ = ARef::into_raw(this);
        // CAST: `dma_buf_fd()` returned a non-negative file descriptor.
        Ok(fd as u32)
    }

    /// Zaps every user space mapping of the buffer: the next access faults again.
    ///
    /// Exporters that map on demand
    /// ([`VmaNew::set_fault_handler`](crate::mm::virt::VmaNew::set_fault_handler)) use it when
    /// they revoke the memory, so that later faults see the revocation.
    pub fn zap_user_mappings(&self) {
        // SAFETY: The buffer's file, and so its address space, live as long as the buffer. A
        // hole length of 0 means up to the end of the file; `even_cows` also drops private
        // copies.
        unsafe { bindings::unmap_mapping_range((*(*self.as_raw()).file).f_mapping, 0, 0, 1) };
    }

    /// Returns whether the buffer's file was opened for writing (`O_WRONLY` or `O_RDWR`).
    pub fn is_writable(&self) -> bool {
        // SAFETY: The buffer's file lives as long as the buffer; its access mode is set when the
        // file is made and never changes.
        let flags = unsafe { (*(*self.as_raw()).file).f_flags };
        flags & bindings::O_ACCMODE != bindings::O_RDONLY
    }

    /// Returns the inode number of the buffer's file, as `fstat()` on a file descriptor of the
    /// buffer and `/sys/kernel/debug/dma_buf/bufinfo` show it.
    pub fn ino(&self) -> u64 {
        // SAFETY: The buffer's file and its inode live as long as the buffer; `i_ino` is set
        // when the file is made and never changes.
        unsafe { (*(*(*self.as_raw()).file).f_inode).i_ino }
    }

    /// Prepares the buffer for CPU access in direction `dir`, waiting for its fences as the
    /// exporter requires.
    pub fn begin_cpu_access(&self, dir: DataDirection) -> Result {
        // SAFETY: `self` is a valid dma-buf.
        to_result(unsafe { bindings::dma_buf_begin_cpu_access(self.as_raw(), dir.into()) })
    }

    /// Ends CPU access begun with [`DmaBuf::begin_cpu_access`].
    pub fn end_cpu_access(&self, dir: DataDirection) -> Result {
        // SAFETY: `self` is a valid dma-buf.
        to_result(unsafe { bindings::dma_buf_end_cpu_access(self.as_raw(), dir.into()) })
    }

    /// Returns an iterator over every dma-buf of the system whose file is not on its way to
    /// release.
    ///
    /// An exporter uses it to reach the live buffers it exported without keeping a list of its
    /// own, for example to revoke their memory: [`Exported::from_dma_buf`] tells its buffers
    /// apart. Only for code built into the kernel: the walk is not exported to modules.
    pub fn all() -> AllBuffers {
        // INVARIANT: Null.
        AllBuffers {
            at: core::ptr::null_mut(),
            started: false,
        }
    }
}

/// Every dma-buf of the system whose file is not on its way to release, newest first: what
/// `/sys/kernel/debug/dma_buf/bufinfo` lists. Made by [`DmaBuf::all`].
///
/// Each step takes the dma-buf core's list lock (`dma_buf_iter_next()`) and holds a reference
/// to the buffer it stands on, so that the buffer stays in the list; a buffer exported or
/// released meanwhile may or may not be seen. No lock is held between steps.
///
/// # Invariants
///
/// `at` is null, or a buffer of the core's list on which the iterator owns a reference.
pub struct AllBuffers {
    at: *mut bindings::dma_buf,
    started: bool,
}

impl Iterator for AllBuffers {
    type Item = ARef<DmaBuf>;

    fn next(&mut self) -> Option<ARef<DmaBuf>> {
        let next = if !self.started {
            self.started = true;
            // SAFETY: No precondition.
            unsafe { bindings::dma_buf_iter_begin() }
        } else if self.at.is_null() {
            return None;
        } else {
            // SAFETY: By the type invariants `at` is in the list and its reference is ours,
            // which this gives up.
            unsafe { bindings::dma_buf_iter_next(self.at) }
        };
        // INVARIANT: `dma_buf_iter_begin()` and `dma_buf_iter_next()` return a buffer of the list
        // with a reference taken for the caller, or null.
        self.at = next;
        let next = NonNull::new(next)?;
        // SAFETY: `next` is a buffer on which the iterator holds a reference for the borrow.
        let buf = unsafe { DmaBuf::from_raw(next.as_ptr()) };
        // The caller's reference: the iterator gives its own up at the next step.
        Some(buf.into())
    }
}

impl Drop for AllBuffers {
    fn drop(&mut self) {
        if !self.at.is_null() {
            // SAFETY: By the type invariants the reference is ours.
            unsafe { bindings::dma_buf_put(self.at) };
        }
    }
}

/// Returns the `len` bytes at `offset` of `io`, or [`EINVAL`] if they do not fit in it.
///
/// The one bounds check of this module's kernel mappings ([`Vmap`], [`iomem::IoMemory`]); the
/// projection itself is `kernel::io`'s.
fn io_range(io: IoSysMap<'_, [u8]>, offset: usize, len: usize) -> Result<IoSysMap<'_, [u8]>> {
    let end = offset.checked_add(len).ok_or(EINVAL)?;
    let project = || -> Result<_, OutOfBound> { Ok(io_project!(io, [try: offset..end])) };
    project().map_err(|_| EINVAL)
}
