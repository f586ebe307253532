// SPDX-License-Identifier: GPL-2.0

//! What an exporter implements: the buffer's data and its `struct dma_buf_ops`.
//!
//! C header: [`include/linux/dma-buf.h`](srctree/include/linux/dma-buf.h)
//!
//! An exporter implements [`Exporter`] for the data it keeps per buffer, and calls
//! [`Exported::new`] to wrap that data in a new `struct dma_buf`. The core calls the callbacks
//! through one static vtable per exporter type, filled from what the exporter implements.

use super::{
    Attachment,
    DmaBuf,
    FdFlags, //
};
use crate::{
    bindings,
    dma::DataDirection,
    error::{
        from_err_ptr,
        from_result,
        VTABLE_DEFAULT_ERROR, //
    },
    io::{
        IoBackend,
        IoSysMap,
        Mmio,
        MmioBackend,
        MmioRaw,
        Region,
        SysMem, //
    },
    mm::virt::VmaNew,
    module::this_module,
    prelude::*,
    sync::{
        aref::{
            ARef,
            AlwaysRefCounted, //
        },
        Arc, //
    },
    types::{
        ForeignOwnable,
        NotThreadSafe, //
    }, //
};
use core::{
    marker::PhantomData,
    ptr::NonNull, //
};

/// The address an exporter's `vmap` returns: a kernel mapping of a whole dma-buf, and whether
/// it is I/O memory.
///
/// It mirrors `struct iosys_map`: I/O memory must be accessed with the I/O accessors, never
/// dereferenced.
///
/// # Examples
///
/// ```
/// use kernel::dma_buf::VmapAddr;
///
/// let mem = KVec::<u8>::with_capacity(64, GFP_KERNEL)?;
/// let vaddr = mem.as_ptr().cast_mut().cast();
/// // SAFETY: Only inspected here, never handed to an importer.
/// let map = unsafe { VmapAddr::from_vaddr(vaddr) };
/// assert!(!map.is_iomem());
/// assert_eq!(map.addr(), vaddr);
/// // SAFETY: As above.
/// let io = unsafe { VmapAddr::from_vaddr_iomem(vaddr) };
/// assert!(io.is_iomem());
/// # Ok::<(), Error>(())
/// ```
pub struct VmapAddr(bindings::iosys_map);

impl VmapAddr {
    /// A mapping in system memory.
    ///
    /// # Safety
    ///
    /// `vaddr` must map the whole buffer, in system memory, until the exporter's `vunmap` gets
    /// this mapping back.
    pub unsafe fn from_vaddr(vaddr: *mut c_void) -> Self {
        Self(bindings::iosys_map {
            __bindgen_anon_1: bindings::iosys_map__bindgen_ty_1 { vaddr },
            is_iomem: false,
        })
    }

    /// A mapping in I/O memory.
    ///
    /// # Safety
    ///
    /// `vaddr_iomem` must map the whole buffer, in I/O memory, until the exporter's `vunmap`
    /// gets this mapping back.
    pub unsafe fn from_vaddr_iomem(vaddr_iomem: *mut c_void) -> Self {
        Self(bindings::iosys_map {
            __bindgen_anon_1: bindings::iosys_map__bindgen_ty_1 { vaddr_iomem },
            is_iomem: true,
        })
    }

    /// Returns whether the mapping is of I/O memory.
    pub fn is_iomem(&self) -> bool {
        self.0.is_iomem
    }

    /// Returns the mapping's address, in system or I/O memory as [`VmapAddr::is_iomem`] says.
    pub fn addr(&self) -> *mut c_void {
        // SAFETY: Both members of the union are pointers of the same size and either is valid
        // to read as an address.
        unsafe { self.0.__bindgen_anon_1.vaddr }
    }

    pub(crate) fn into_raw(self) -> bindings::iosys_map {
        self.0
    }

    /// # Safety
    ///
    /// `map` must be a mapping returned by an exporter's `vmap` (through `into_raw`).
    pub(crate) unsafe fn from_raw(map: bindings::iosys_map) -> Self {
        Self(map)
    }

    /// Returns the raw `struct iosys_map`, for the core to unmap it.
    pub(crate) fn as_raw_mut(&mut self) -> *mut bindings::iosys_map {
        &mut self.0
    }

    /// Returns a [`kernel::io`](crate::io) view of the first `size` bytes of the mapping, for the
    /// kernel's I/O accessors.
    ///
    /// Returns [`EINVAL`] if the mapping is of I/O memory and its address or `size` is not a
    /// multiple of 4, as [`io::Region`](crate::io::Region) requires.
    ///
    /// # Safety
    ///
    /// The mapping must cover `size` bytes, mapped for at least `'a`.
    pub(crate) unsafe fn io_view<'a>(&self, size: usize) -> Result<IoSysMap<'a, [u8]>> {
        let addr = self.addr();
        if !self.is_iomem() {
            let bytes = core::ptr::slice_from_raw_parts_mut(addr.cast::<u8>(), size);
            // SAFETY: `size` bytes of system memory are mapped at `addr` for `'a`, by the safety
            // requirements; bytes need no alignment.
            return Ok(IoSysMap::Sys(unsafe { SysMem::new(bytes) }));
        }
        let raw = MmioRaw::<Region>::new_region(addr.addr(), size)?;
        // SAFETY: `size` bytes of I/O memory are mapped at `addr` for `'a`, by the safety
        // requirements; `new_region` checked the alignment.
        let mmio = unsafe { Mmio::from_raw(raw) };
        let bytes =
            core::ptr::slice_from_raw_parts_mut(MmioBackend::as_ptr(mmio).cast::<u8>(), size);
        // SAFETY: `bytes` is the region itself, seen as bytes: an identity projection.
        Ok(IoSysMap::Io(unsafe {
            MmioBackend::project_view(mmio, bytes)
        }))
    }
}

/// An sg table handed to an importer by [`Exporter::map_dma_buf`], for an attachment that lives
/// for `'a`.
///
/// The importer owns the table until it unmaps the attachment, when [`Exporter::unmap_dma_buf`]
/// gets it back. A table may borrow its attachment for `'a`: it then cannot outlive the callback
/// that made it, except as the raw pointer handed to the importer.
pub trait MappedSgTable<'a>: Sized + Send {
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
        attach: &'a Attachment,
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

impl MappedSgTable<'_> for NoSgTable {
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
///     type SgTable<'a> = NoSgTable;
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
    /// The table [`Exporter::map_dma_buf`] hands out; it may borrow the attachment it maps, for
    /// the duration of the callback.
    type SgTable<'a>: MappedSgTable<'a>;

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
    fn map_dma_buf<'a>(
        _buf: &Locked<'a, Self>,
        _attach: &'a Attachment,
        _dir: DataDirection,
    ) -> Result<Self::SgTable<'a>> {
        Err(EOPNOTSUPP)
    }

    /// Unmaps a table returned by [`Exporter::map_dma_buf`]. The default drops it.
    fn unmap_dma_buf<'a>(
        _buf: &Locked<'a, Self>,
        _attach: &'a Attachment,
        sgt: Self::SgTable<'a>,
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

    /// Maps the whole buffer into the kernel address space. Requires [`Exporter::vunmap`].
    fn vmap(_buf: &Locked<'_, Self>) -> Result<VmapAddr> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Undoes [`Exporter::vmap`]. Requires [`Exporter::vmap`].
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
/// The buffer was created by [`Exported::new`]: its `ops` are `T`'s vtable and its `priv` is an
/// `Arc<T>` whose reference the buffer holds until it is released.
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
        let data = Arc::pin_init(data, GFP_KERNEL)?;
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
                drop(unsafe { <Arc<T> as ForeignOwnable>::from_foreign(info.priv_) });
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

    /// Returns `buf` as a buffer of `T` if `T` exported it, else `None`.
    ///
    /// Buffers are told apart by the `release` function of their `dma_buf_ops`, which is
    /// `T`'s own.
    pub fn from_dma_buf(buf: &DmaBuf) -> Option<&Self> {
        let release: unsafe extern "C" fn(*mut bindings::dma_buf) = ExporterVTable::<T>::release;
        // SAFETY: `buf` is valid; its `ops` are set at export and never change.
        let ops = unsafe { &*(*buf.as_raw()).ops };
        if !ops
            .release
            .is_some_and(|f| core::ptr::fn_addr_eq(f, release))
        {
            return None;
        }
        // SAFETY: `T`'s vtable means `Exported::<T>::new` made the buffer, which lives as long
        // as `buf`.
        Some(unsafe { Self::from_raw(buf.as_raw()) })
    }

    /// Returns the exporter's data.
    pub fn data(&self) -> Pin<&T> {
        // SAFETY: By the type invariants `priv` holds one reference count of an `Arc<T>`, which
        // the buffer gives up only when it is released, so after `&self` ends.
        let data = unsafe { <Arc<T> as ForeignOwnable>::borrow((*self.as_raw()).priv_) };
        let data: *const T = &*data;
        // SAFETY: `data` lives as long as the buffer (see above), and an `Arc` never moves it.
        unsafe { Pin::new_unchecked(&*data) }
    }

    /// Returns a reference of its own to the exporter's data, for what may outlive this borrow
    /// of the buffer: a user mapping's fault handler, say.
    ///
    /// `T`'s code must stay loaded for as long as the reference: the buffer holds its owner
    /// module, so a holder that keeps the buffer too (a mapping keeps the buffer's file) is safe.
    pub fn data_arc(&self) -> Arc<T> {
        // SAFETY: As in `data`.
        unsafe { <Arc<T> as ForeignOwnable>::borrow((*self.as_raw()).priv_) }.into()
    }

    /// Converts the reference into one to a [`DmaBuf`].
    pub fn into_dma_buf(this: ARef<Self>) -> ARef<DmaBuf> {
        // SAFETY: `Exported<T>` is a transparent `DmaBuf`; the reference moves over.
        unsafe { ARef::from_raw(ARef::into_raw(this).cast()) }
    }
}

/// A dma-buf exported by `T`, seen from a callback that runs with its reservation lock held.
///
/// It proves the lock is held, and offers no way to take it again: it does not dereference to
/// [`DmaBuf`], and neither it nor the [`Attachment`] passed along with it leads to one, so
/// [`DmaBuf::lock_resv`] is out of reach.
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

    /// Returns whether `attach` is an attachment to this buffer.
    #[cfg(CONFIG_PCI_P2PDMA)]
    pub(crate) fn is_attached(&self, attach: &Attachment) -> bool {
        core::ptr::eq(attach.dma_buf().as_raw(), self.buf.as_raw())
    }

    /// Tells every importer that its mappings of the buffer are stale. See
    /// [`ResvGuard::invalidate_mappings`](super::ResvGuard::invalidate_mappings).
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
        assert!(
            T::HAS_VMAP == T::HAS_VUNMAP,
            "a dma-buf exporter implements both vmap and vunmap, or neither"
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
        let sgt = unsafe { T::SgTable::<'_>::from_raw(sgt, attach, dir) };
        T::unmap_dma_buf(&locked, attach, sgt, dir);
    }

    /// # Safety
    ///
    /// `dmabuf` must be a buffer of this vtable whose last reference is gone.
    unsafe extern "C" fn release(dmabuf: *mut bindings::dma_buf) {
        // SAFETY: `release` is the last callback of a buffer of this vtable: `priv` holds the
        // reference count of the `Arc<T>` given to `dma_buf_export()`, given up here.
        drop(unsafe { <Arc<T> as ForeignOwnable>::from_foreign((*dmabuf).priv_) });
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
