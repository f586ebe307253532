// SPDX-License-Identifier: GPL-2.0

//! DMA-buf: buffers shared between drivers, and with user space as file descriptors.
//!
//! C header: [`include/linux/dma-buf.h`](srctree/include/linux/dma-buf.h)
//!
//! An exporter implements [`Exporter`] for the data it keeps per buffer, and calls
//! [`Exported::new`] to wrap that data in a new `struct dma_buf`. The data is pinned inside the
//! exported object and is dropped when the last reference to the buffer goes away, which is the
//! C `release` callback.
//!
//! The locking rules of `struct dma_buf_ops` are part of the types:
//!
//! - callbacks that run with the buffer's reservation lock held (`pin`, `unpin`, `map_dma_buf`,
//!   `unmap_dma_buf`, `vmap`, `vunmap`) receive a [`Locked`] view: a proof that the lock is held,
//!   with no way to take it again;
//! - the other callbacks receive an [`Exported`] view, from which [`DmaBuf::lock_resv`] is
//!   reachable;
//! - `pin` and `unpin` come as a pair: an exporter implementing one without the other does not
//!   build;
//! - `map_dma_buf` hands an owned [`MappedSgTable`] to the importer and `unmap_dma_buf` gets it
//!   back.
//!
//! Reference: <https://docs.kernel.org/driver-api/dma-buf.html>

use crate::{
    bindings,
    dma::DataDirection,
    error::{
        from_err_ptr,
        from_result,
        to_result,
        VTABLE_DEFAULT_ERROR, //
    },
    mm::virt::VmaNew,
    module::this_module,
    prelude::*,
    sync::aref::{
        ARef,
        AlwaysRefCounted, //
    },
    types::{
        ForeignOwnable,
        NotThreadSafe,
        Opaque, //
    }, //
};
use core::{
    marker::PhantomData,
    ptr::NonNull, //
};

pub mod attachment;
pub mod iomem;
pub mod iosys_map;
#[cfg(CONFIG_PCI_P2PDMA)]
pub mod mmio;

pub use attachment::{
    Attachment,
    ImporterAttachment,
    ImporterMapping, //
};
pub use iosys_map::{
    Vmap,
    VmapAddr, //
};

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
    ///     type SgTable = NoSgTable;
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

    /// Takes the buffer's reservation lock.
    ///
    /// Must not be called from a callback that already runs with it held; such callbacks get a
    /// [`Locked`] view instead of a [`DmaBuf`], so they cannot.
    pub fn lock_resv(&self) -> ResvGuard<'_> {
        // SAFETY: `resv` is valid for the buffer's lifetime; a NULL context takes the lock
        // without a ww acquire context, which cannot fail with -EDEADLK.
        unsafe { bindings::dma_resv_lock((*self.as_raw()).resv, core::ptr::null_mut()) };
        ResvGuard {
            buf: self,
            _not_send: NotThreadSafe,
        }
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
}

/// The reservation lock of a dma-buf, taken with [`DmaBuf::lock_resv`] and released on drop.
///
/// # Examples
///
/// ```
/// use kernel::{
///     dma::DataDirection,
///     dma_buf::{
///         Attachment,
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
///     type SgTable = NoSgTable;
/// }
///
/// let buf = Exported::new(Empty, PAGE_SIZE, FdFlags::RDWR, c"doctest-resv")?;
/// {
///     let resv = buf.lock_resv();
///     // Revocation, step one: importers learn that their mappings are stale.
///     resv.invalidate_mappings();
/// }
/// // The guard dropped the lock: it can be taken again.
/// drop(buf.lock_resv());
/// // No exporter callback for CPU access: the core has nothing to wait for.
/// buf.begin_cpu_access(DataDirection::FromDevice)?;
/// buf.end_cpu_access(DataDirection::FromDevice)?;
/// # Ok::<(), Error>(())
/// ```
pub struct ResvGuard<'a> {
    buf: &'a DmaBuf,
    _not_send: NotThreadSafe,
}

impl ResvGuard<'_> {
    /// Tells every importer that its mappings of the buffer are stale (revocation).
    ///
    /// See `dma_buf_invalidate_mappings()`: importers may still access the memory until their
    /// fences signal and they unmap.
    pub fn invalidate_mappings(&self) {
        // SAFETY: The reservation lock is held, as `dma_buf_invalidate_mappings()` requires.
        unsafe { bindings::dma_buf_invalidate_mappings(self.buf.as_raw()) };
    }
}

impl Drop for ResvGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: The lock was taken in `DmaBuf::lock_resv` and is held by this guard.
        unsafe { bindings::dma_resv_unlock((*self.buf.as_raw()).resv) };
    }
}

/// An sg table handed to an importer by [`Exporter::map_dma_buf`].
///
/// The importer owns the table until it unmaps the attachment, when [`Exporter::unmap_dma_buf`]
/// gets it back.
pub trait MappedSgTable: Sized + Send {
    /// Gives up ownership of the table to the importer.
    fn into_raw(self) -> NonNull<bindings::sg_table>;

    /// Takes back a table the importer returned.
    ///
    /// # Safety
    ///
    /// `sgt` must come from [`MappedSgTable::into_raw`] of this type, called for a mapping of
    /// `attach` in direction `dir`, and must not have been taken back before.
    unsafe fn from_raw(
        sgt: NonNull<bindings::sg_table>,
        attach: &Attachment,
        dir: DataDirection,
    ) -> Self;
}

/// The table type of an exporter whose buffers are for CPU access only.
///
/// Such an exporter keeps the default [`Exporter::map_dma_buf`], which refuses every importer:
/// no code outside this module can make a `NoSgTable`, so none is ever handed to an importer.
pub struct NoSgTable {
    sgt: NonNull<bindings::sg_table>,
}

// SAFETY: A `NoSgTable` is never made; it holds no data of its own.
unsafe impl Send for NoSgTable {}

impl MappedSgTable for NoSgTable {
    fn into_raw(self) -> NonNull<bindings::sg_table> {
        self.sgt
    }

    unsafe fn from_raw(
        sgt: NonNull<bindings::sg_table>,
        _attach: &Attachment,
        _dir: DataDirection,
    ) -> Self {
        Self { sgt }
    }
}

/// A dma-buf exporter: the data a driver keeps per exported buffer, and the buffer's operations.
///
/// Every method has a default. Leaving a callback out leaves its slot in `struct dma_buf_ops`
/// empty, except [`Exporter::map_dma_buf`], whose default refuses DMA mappings.
///
/// # Examples
///
/// An exporter of system memory that counts its attachments, attached from a faux device,
/// mapped into the kernel, read back and released:
///
/// ```
/// use core::sync::atomic::{
///     AtomicUsize,
///     Ordering::Relaxed, //
/// };
/// use kernel::{
///     dma::DataDirection,
///     dma_buf::{
///         Attachment,
///         Exported,
///         Exporter,
///         FdFlags,
///         Locked,
///         NoSgTable,
///         VmapAddr, //
///     },
///     faux,
///     page::PAGE_SIZE,
///     sync::Arc,
///     time::delay::fsleep,
///     time::Delta, //
/// };
///
/// struct SysBuf {
///     mem: KVVec<u8>,
///     attached: Arc<AtomicUsize>,
///     dropped: Arc<AtomicUsize>,
/// }
///
/// impl Drop for SysBuf {
///     fn drop(&mut self) {
///         self.dropped.fetch_add(1, Relaxed);
///     }
/// }
///
/// #[vtable]
/// impl Exporter for SysBuf {
///     type SgTable = NoSgTable;
///
///     // One importer at a time.
///     fn attach(buf: &Exported<Self>, _attach: &Attachment) -> Result {
///         let attached = &buf.data().get_ref().attached;
///         attached
///             .compare_exchange(0, 1, Relaxed, Relaxed)
///             .map(|_| ())
///             .map_err(|_| EBUSY)
///     }
///
///     fn detach(buf: &Exported<Self>, _attach: &Attachment) {
///         buf.data().attached.fetch_sub(1, Relaxed);
///     }
///
///
///     fn vmap(buf: &Locked<'_, Self>) -> Result<VmapAddr> {
///         let vaddr = buf.data().get_ref().mem.as_ptr().cast_mut().cast();
///         // SAFETY: `mem` maps the whole buffer for as long as the buffer lives.
///         Ok(unsafe { VmapAddr::from_vaddr(vaddr) })
///     }
///
///     fn vunmap(_buf: &Locked<'_, Self>, _map: VmapAddr) {}
/// }
///
/// let attached = Arc::new(AtomicUsize::new(0), GFP_KERNEL)?;
/// let dropped = Arc::new(AtomicUsize::new(0), GFP_KERNEL)?;
/// let mut mem = KVVec::from_elem(0u8, 2 * PAGE_SIZE, GFP_KERNEL)?;
/// mem[PAGE_SIZE + 7] = 0xa5;
/// let data = SysBuf {
///     mem,
///     attached: attached.clone(),
///     dropped: dropped.clone(),
/// };
/// let buf = Exported::new(data, 2 * PAGE_SIZE, FdFlags::RDWR, c"doctest-sysbuf")?;
/// assert_eq!(buf.size(), 2 * PAGE_SIZE);
/// assert_eq!(buf.exporter_name(), c"doctest-sysbuf");
///
/// let faux = faux::Registration::new(c"dma-buf-doctest", None)?;
/// {
///     let attachment = buf.attach(faux.as_ref().as_ref())?;
///     assert_eq!(attached.load(Relaxed), 1);
///     // The exporter refuses a second importer; its count is untouched.
///     assert_eq!(buf.attach(faux.as_ref().as_ref()).err(), Some(EBUSY));
///     assert_eq!(attached.load(Relaxed), 1);
///     assert!(!attachment.peer2peer());
///     assert!(!attachment.is_revocable());
///
///     let map = buf.vmap()?;
///     assert!(!map.is_iomem());
///     let mut byte = [0u8; 1];
///     map.read(PAGE_SIZE + 7, &mut byte)?;
///     assert_eq!(byte[0], 0xa5);
///     // Out of bounds.
///     assert_eq!(map.read(2 * PAGE_SIZE, &mut byte), Err(EINVAL));
///     assert_eq!(map.read(usize::MAX, &mut byte), Err(EINVAL));
///
///     // This exporter refuses DMA mappings.
///     assert_eq!(attachment.map(DataDirection::ToDevice).err(), Some(EOPNOTSUPP));
/// }
/// assert_eq!(attached.load(Relaxed), 0);
///
/// // The last reference goes away; the file is released asynchronously from a kthread.
/// assert_eq!(dropped.load(Relaxed), 0);
/// drop(buf);
/// for _ in 0..100 {
///     if dropped.load(Relaxed) == 1 {
///         break;
///     }
///     fsleep(Delta::from_millis(10));
/// }
/// assert_eq!(dropped.load(Relaxed), 1);
///
/// // Errors an exporter can see.
/// let data = SysBuf {
///     mem: KVVec::new(),
///     attached: attached.clone(),
///     dropped: dropped.clone(),
/// };
/// assert_eq!(
///     Exported::new(data, PAGE_SIZE + 1, FdFlags::RDWR, c"doctest-sysbuf").err(),
///     Some(EINVAL)
/// );
/// let data = SysBuf {
///     mem: KVVec::new(),
///     attached: attached.clone(),
///     dropped: dropped.clone(),
/// };
/// assert_eq!(
///     Exported::new(data, 0, FdFlags::RDWR, c"doctest-sysbuf").err(),
///     Some(EINVAL)
/// );
/// # Ok::<(), Error>(())
/// ```
#[vtable]
pub trait Exporter: Sized + Send + Sync + 'static {
    /// The table [`Exporter::map_dma_buf`] hands out.
    type SgTable: MappedSgTable;

    /// Decides whether the device of `attach` may attach. The default accepts every importer.
    ///
    /// Called without the reservation lock.
    fn attach(_buf: &Exported<Self>, _attach: &Attachment) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Undoes [`Exporter::attach`]. Called without the reservation lock.
    fn detach(_buf: &Exported<Self>, _attach: &Attachment) {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Pins the buffer in place for a dynamic importer. Requires [`Exporter::unpin`].
    fn pin(_buf: &Locked<'_, Self>, _attach: &Attachment) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Undoes [`Exporter::pin`]. Requires [`Exporter::pin`].
    fn unpin(_buf: &Locked<'_, Self>, _attach: &Attachment) {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Maps the buffer for the device of `attach`, returning a new table each call.
    ///
    /// The default refuses every importer with [`EOPNOTSUPP`]: the exporter is for CPU access
    /// only, and its `SgTable` is [`NoSgTable`]. The core always gets this callback, because
    /// `dma_buf_export()` requires it.
    fn map_dma_buf(
        _buf: &Locked<'_, Self>,
        _attach: &Attachment,
        _dir: DataDirection,
    ) -> Result<Self::SgTable> {
        Err(EOPNOTSUPP)
    }

    /// Unmaps a table returned by [`Exporter::map_dma_buf`]. The default drops it.
    fn unmap_dma_buf(
        _buf: &Locked<'_, Self>,
        _attach: &Attachment,
        sgt: Self::SgTable,
        _dir: DataDirection,
    ) {
        drop(sgt);
    }

    /// Maps the buffer into a user address space. Called without the reservation lock.
    ///
    /// The core has checked that the range fits in the buffer.
    fn mmap(_buf: &Exported<Self>, _vma: &VmaNew) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Maps the whole buffer into the kernel address space.
    fn vmap(_buf: &Locked<'_, Self>) -> Result<VmapAddr> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Undoes [`Exporter::vmap`].
    fn vunmap(_buf: &Locked<'_, Self>, _map: VmapAddr) {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Prepares for CPU access; waits for fences as `dir` requires. Called without the
    /// reservation lock.
    fn begin_cpu_access(_buf: &Exported<Self>, _dir: DataDirection) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Ends CPU access. Called without the reservation lock.
    fn end_cpu_access(_buf: &Exported<Self>, _dir: DataDirection) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
}

/// A dma-buf exported by `T`, with typed access to `T`'s data.
///
/// # Synchronization
///
/// `T` is `Send + Sync` and reached through shared references only: callbacks run concurrently
/// from importers and user space, and `T` locks what it mutates. The reservation lock is held
/// where [`Locked`] says so.
///
/// # Invariants
///
/// The buffer was created by [`Exported::new`]: its `ops` are `T`'s vtable and its `priv` is a
/// `Pin<KBox<T>>` that lives until the buffer is released.
#[repr(transparent)]
pub struct Exported<T: Exporter>(DmaBuf, PhantomData<T>);

// SAFETY: `Exported<T>` is a `DmaBuf` whose data `T` is `Send + Sync`.
unsafe impl<T: Exporter> Send for Exported<T> {}
// SAFETY: See above.
unsafe impl<T: Exporter> Sync for Exported<T> {}

// SAFETY: The reference count is the `DmaBuf`'s.
unsafe impl<T: Exporter> AlwaysRefCounted for Exported<T> {
    fn inc_ref(&self) {
        self.0.inc_ref();
    }

    unsafe fn dec_ref(obj: NonNull<Self>) {
        // SAFETY: `Exported<T>` is a transparent `DmaBuf`; the caller gives up its reference.
        unsafe { DmaBuf::dec_ref(obj.cast()) };
    }
}

impl<T: Exporter> core::ops::Deref for Exported<T> {
    type Target = DmaBuf;

    fn deref(&self) -> &DmaBuf {
        &self.0
    }
}

impl<T: Exporter> Exported<T> {
    /// Exports a new dma-buf of `size` bytes holding the data `data`.
    ///
    /// `name` is the exporter's name in `/sys/kernel/debug/dma_buf/bufinfo`. The buffer holds a
    /// reference on `T`'s owner module, so that module cannot be unloaded while it lives.
    ///
    /// Returns [`EINVAL`] for a size of zero or not a multiple of the page size, and any error of
    /// `data`'s initialiser or of `dma_buf_export()`.
    pub fn new<E>(
        data: impl PinInit<T, E>,
        size: usize,
        flags: FdFlags,
        name: &'static CStr,
    ) -> Result<ARef<Self>>
    where
        Error: From<E>,
    {
        if size == 0 || size % crate::page::PAGE_SIZE != 0 {
            return Err(EINVAL);
        }
        let data = KBox::pin_init(data, GFP_KERNEL)?;
        let info = bindings::dma_buf_export_info {
            exp_name: name.as_char_ptr(),
            owner: this_module::<T::OwnerModule>().as_ptr(),
            ops: ExporterVTable::<T>::build(),
            size,
            // CAST: `FdFlags` holds only an access mode and `O_CLOEXEC`, which fit an int.
            flags: flags.as_raw() as c_int,
            resv: core::ptr::null_mut(),
            priv_: data.into_foreign(),
        };
        // SAFETY: `info` is fully initialised, with the vtable `dma_buf_export()` requires.
        let ptr = match from_err_ptr(unsafe { bindings::dma_buf_export(&info) }) {
            Ok(ptr) => ptr,
            Err(e) => {
                // SAFETY: The export failed, so `priv_` was not taken over and is still ours.
                drop(unsafe { <Pin<KBox<T>> as ForeignOwnable>::from_foreign(info.priv_) });
                return Err(e);
            }
        };
        // SAFETY: `dma_buf_export()` returned a new buffer whose single reference is ours.
        // INVARIANT: Its `ops` and `priv` are `T`'s.
        Ok(unsafe { ARef::from_raw(NonNull::new_unchecked(ptr.cast())) })
    }

    /// # Safety
    ///
    /// `ptr` must be a buffer exported by [`Exported::<T>::new`] that stays alive for `'a`.
    unsafe fn from_raw<'a>(ptr: *mut bindings::dma_buf) -> &'a Self {
        // SAFETY: `Exported<T>` is a transparent `DmaBuf`; validity is the caller's promise.
        unsafe { &*ptr.cast() }
    }

    /// Returns the exporter's data.
    pub fn data(&self) -> Pin<&T> {
        // SAFETY: By the type invariants `priv` holds a `Pin<KBox<T>>` that lives as long as the
        // buffer, which outlives `&self`.
        unsafe { <Pin<KBox<T>> as ForeignOwnable>::borrow((*self.as_raw()).priv_) }
    }

    /// Converts the reference into one to a [`DmaBuf`].
    pub fn into_dma_buf(this: ARef<Self>) -> ARef<DmaBuf> {
        // SAFETY: `Exported<T>` is a transparent `DmaBuf`; the reference moves over.
        unsafe { ARef::from_raw(ARef::into_raw(this).cast()) }
    }
}

/// A dma-buf exported by `T`, seen from a callback that runs with its reservation lock held.
///
/// It proves the lock is held, and offers no way to take it again.
pub struct Locked<'a, T: Exporter> {
    buf: &'a Exported<T>,
    _not_send: NotThreadSafe,
}

impl<'a, T: Exporter> Locked<'a, T> {
    /// # Safety
    ///
    /// The reservation lock of `buf` must be held for `'a`.
    unsafe fn new(buf: &'a Exported<T>) -> Self {
        Self {
            buf,
            _not_send: NotThreadSafe,
        }
    }

    /// Returns the exporter's data.
    pub fn data(&self) -> Pin<&T> {
        self.buf.data()
    }

    /// Returns the size of the buffer in bytes.
    pub fn size(&self) -> usize {
        self.buf.size()
    }

    /// Tells every importer that its mappings of the buffer are stale. See
    /// [`ResvGuard::invalidate_mappings`].
    pub fn invalidate_mappings(&self) {
        // SAFETY: The reservation lock is held by the invariant of `Locked`.
        unsafe { bindings::dma_buf_invalidate_mappings(self.buf.as_raw()) };
    }
}

fn direction_from_raw(dir: bindings::dma_data_direction) -> DataDirection {
    match dir {
        bindings::dma_data_direction::DMA_BIDIRECTIONAL => DataDirection::Bidirectional,
        bindings::dma_data_direction::DMA_TO_DEVICE => DataDirection::ToDevice,
        bindings::dma_data_direction::DMA_FROM_DEVICE => DataDirection::FromDevice,
        _ => DataDirection::None,
    }
}

struct ExporterVTable<T: Exporter>(PhantomData<T>);

impl<T: Exporter> ExporterVTable<T> {
    const VTABLE: bindings::dma_buf_ops = {
        assert!(
            T::HAS_PIN == T::HAS_UNPIN,
            "a dma-buf exporter implements both pin and unpin, or neither"
        );
        bindings::dma_buf_ops {
            attach: if T::HAS_ATTACH {
                Some(Self::attach)
            } else {
                None
            },
            detach: if T::HAS_DETACH {
                Some(Self::detach)
            } else {
                None
            },
            pin: if T::HAS_PIN { Some(Self::pin) } else { None },
            unpin: if T::HAS_UNPIN {
                Some(Self::unpin)
            } else {
                None
            },
            map_dma_buf: Some(Self::map_dma_buf),
            unmap_dma_buf: Some(Self::unmap_dma_buf),
            release: Some(Self::release),
            begin_cpu_access: if T::HAS_BEGIN_CPU_ACCESS {
                Some(Self::begin_cpu_access)
            } else {
                None
            },
            end_cpu_access: if T::HAS_END_CPU_ACCESS {
                Some(Self::end_cpu_access)
            } else {
                None
            },
            mmap: if T::HAS_MMAP { Some(Self::mmap) } else { None },
            vmap: if T::HAS_VMAP { Some(Self::vmap) } else { None },
            vunmap: if T::HAS_VUNMAP {
                Some(Self::vunmap)
            } else {
                None
            },
        }
    };

    const fn build() -> &'static bindings::dma_buf_ops {
        &Self::VTABLE
    }

    /// # Safety
    ///
    /// `attach` must be a valid attachment of a buffer exported by [`Exported::<T>::new`].
    unsafe fn parts<'a>(
        attach: *mut bindings::dma_buf_attachment,
    ) -> (&'a Exported<T>, &'a Attachment) {
        // SAFETY: The caller passes a valid attachment.
        let attach = unsafe { Attachment::from_raw(attach) };
        // SAFETY: The attachment's buffer was exported by `Exported::<T>::new` and is alive
        // while it is attached.
        let buf = unsafe { Exported::from_raw(attach.dma_buf().as_raw()) };
        (buf, attach)
    }

    /// # Safety
    ///
    /// `dmabuf` must be a live buffer of this vtable and `attach` a new attachment to it.
    unsafe extern "C" fn attach(
        dmabuf: *mut bindings::dma_buf,
        attach: *mut bindings::dma_buf_attachment,
    ) -> c_int {
        // SAFETY: The core calls `attach` with a buffer of this vtable and a new attachment.
        let (buf, attach) = unsafe {
            (
                Exported::<T>::from_raw(dmabuf),
                Attachment::from_raw(attach),
            )
        };
        from_result(|| T::attach(buf, attach).map(|()| 0))
    }

    /// # Safety
    ///
    /// `dmabuf` must be a live buffer of this vtable and `attach` one of its attachments.
    unsafe extern "C" fn detach(
        dmabuf: *mut bindings::dma_buf,
        attach: *mut bindings::dma_buf_attachment,
    ) {
        // SAFETY: The core calls `detach` with a buffer of this vtable and its attachment.
        let (buf, attach) = unsafe {
            (
                Exported::<T>::from_raw(dmabuf),
                Attachment::from_raw(attach),
            )
        };
        T::detach(buf, attach);
    }

    /// # Safety
    ///
    /// `attach` must be an attachment of a buffer of this vtable, whose reservation lock is held.
    unsafe extern "C" fn pin(attach: *mut bindings::dma_buf_attachment) -> c_int {
        // SAFETY: The core calls `pin` with an attachment of a buffer of this vtable.
        let (buf, attach) = unsafe { Self::parts(attach) };
        // SAFETY: The core calls `pin` with the reservation lock held.
        let locked = unsafe { Locked::new(buf) };
        from_result(|| T::pin(&locked, attach).map(|()| 0))
    }

    /// # Safety
    ///
    /// `attach` must be an attachment of a buffer of this vtable, whose reservation lock is held.
    unsafe extern "C" fn unpin(attach: *mut bindings::dma_buf_attachment) {
        // SAFETY: The core calls `unpin` with an attachment of a buffer of this vtable.
        let (buf, attach) = unsafe { Self::parts(attach) };
        // SAFETY: The core calls `unpin` with the reservation lock held.
        let locked = unsafe { Locked::new(buf) };
        T::unpin(&locked, attach);
    }

    /// # Safety
    ///
    /// `attach` must be an attachment of a buffer of this vtable, whose reservation lock is held.
    unsafe extern "C" fn map_dma_buf(
        attach: *mut bindings::dma_buf_attachment,
        dir: bindings::dma_data_direction,
    ) -> *mut bindings::sg_table {
        // SAFETY: The core calls `map_dma_buf` with an attachment of a buffer of this vtable.
        let (buf, attach) = unsafe { Self::parts(attach) };
        // SAFETY: The core calls `map_dma_buf` with the reservation lock held.
        let locked = unsafe { Locked::new(buf) };
        match T::map_dma_buf(&locked, attach, direction_from_raw(dir)) {
            Ok(sgt) => sgt.into_raw().as_ptr(),
            Err(e) => e.to_ptr(),
        }
    }

    /// # Safety
    ///
    /// `attach` must be an attachment of a buffer of this vtable, whose reservation lock is held,
    /// and `sgt` a table `map_dma_buf` returned for it in direction `dir`.
    unsafe extern "C" fn unmap_dma_buf(
        attach: *mut bindings::dma_buf_attachment,
        sgt: *mut bindings::sg_table,
        dir: bindings::dma_data_direction,
    ) {
        // SAFETY: The core calls `unmap_dma_buf` with an attachment of a buffer of this vtable.
        let (buf, attach) = unsafe { Self::parts(attach) };
        // SAFETY: The core calls `unmap_dma_buf` with the reservation lock held.
        let locked = unsafe { Locked::new(buf) };
        let Some(sgt) = NonNull::new(sgt) else {
            return;
        };
        let dir = direction_from_raw(dir);
        // SAFETY: The importer returns a table `map_dma_buf` gave it for this attachment and
        // direction, exactly once.
        let sgt = unsafe { T::SgTable::from_raw(sgt, attach, dir) };
        T::unmap_dma_buf(&locked, attach, sgt, dir);
    }

    /// # Safety
    ///
    /// `dmabuf` must be a buffer of this vtable whose last reference is gone.
    unsafe extern "C" fn release(dmabuf: *mut bindings::dma_buf) {
        // SAFETY: `release` is the last callback of a buffer of this vtable: `priv` holds the
        // `Pin<KBox<T>>` given to `dma_buf_export()`, which nothing else uses any more.
        drop(unsafe { <Pin<KBox<T>> as ForeignOwnable>::from_foreign((*dmabuf).priv_) });
    }

    /// # Safety
    ///
    /// `dmabuf` must be a live buffer of this vtable.
    unsafe extern "C" fn begin_cpu_access(
        dmabuf: *mut bindings::dma_buf,
        dir: bindings::dma_data_direction,
    ) -> c_int {
        // SAFETY: The core calls this with a live buffer of this vtable.
        let buf = unsafe { Exported::<T>::from_raw(dmabuf) };
        from_result(|| T::begin_cpu_access(buf, direction_from_raw(dir)).map(|()| 0))
    }

    /// # Safety
    ///
    /// `dmabuf` must be a live buffer of this vtable.
    unsafe extern "C" fn end_cpu_access(
        dmabuf: *mut bindings::dma_buf,
        dir: bindings::dma_data_direction,
    ) -> c_int {
        // SAFETY: The core calls this with a live buffer of this vtable.
        let buf = unsafe { Exported::<T>::from_raw(dmabuf) };
        from_result(|| T::end_cpu_access(buf, direction_from_raw(dir)).map(|()| 0))
    }

    /// # Safety
    ///
    /// `dmabuf` must be a live buffer of this vtable and `vma` a VMA under initial setup.
    unsafe extern "C" fn mmap(
        dmabuf: *mut bindings::dma_buf,
        vma: *mut bindings::vm_area_struct,
    ) -> c_int {
        // SAFETY: The core calls this with a live buffer of this vtable.
        let buf = unsafe { Exported::<T>::from_raw(dmabuf) };
        // SAFETY: The core calls `mmap` while setting up a new VMA, from `mmap()` on the
        // buffer's file or from `dma_buf_mmap()` in an importer's own `mmap`.
        let vma = unsafe { VmaNew::from_raw(vma) };
        from_result(|| T::mmap(buf, vma).map(|()| 0))
    }

    /// # Safety
    ///
    /// `dmabuf` must be a live buffer of this vtable whose reservation lock is held, and `map`
    /// valid for writes.
    unsafe extern "C" fn vmap(
        dmabuf: *mut bindings::dma_buf,
        map: *mut bindings::iosys_map,
    ) -> c_int {
        // SAFETY: The core calls this with a live buffer of this vtable.
        let buf = unsafe { Exported::<T>::from_raw(dmabuf) };
        // SAFETY: The core calls `vmap` with the reservation lock held.
        let locked = unsafe { Locked::new(buf) };
        from_result(|| {
            let out = T::vmap(&locked)?;
            // SAFETY: `map` is valid for writes for the duration of the call.
            unsafe { map.write(out.into_raw()) };
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// `dmabuf` must be a live buffer of this vtable whose reservation lock is held, and `map`
    /// a mapping `vmap` returned.
    unsafe extern "C" fn vunmap(dmabuf: *mut bindings::dma_buf, map: *mut bindings::iosys_map) {
        // SAFETY: The core calls this with a live buffer of this vtable.
        let buf = unsafe { Exported::<T>::from_raw(dmabuf) };
        // SAFETY: The core calls `vunmap` with the reservation lock held.
        let locked = unsafe { Locked::new(buf) };
        // SAFETY: `map` holds the mapping `vmap` returned.
        let map = unsafe { VmapAddr::from_raw(map.read()) };
        T::vunmap(&locked, map);
    }
}

#[cfg(CONFIG_RUST_DMA_BUF_KUNIT_TEST)]
#[kunit_tests(rust_dma_buf)]
mod tests {
    use super::*;
    use crate::{
        mm::virt::fault::{
            FaultHandler,
            VmFault,
            VmFaultResult, //
        },
        page::{
            Page,
            PAGE_SIZE, //
        },
        sync::{
            Arc,
            ArcBorrow, //
        },
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
        type SgTable = NoSgTable;

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
