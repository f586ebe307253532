// SPDX-License-Identifier: GPL-2.0

//! DMA-buf heaps: named allocators of dma-bufs in `/dev/dma_heap`.
//!
//! C header: [`include/linux/dma-heap.h`](srctree/include/linux/dma-heap.h)
//!
//! The core has no `dma_heap_remove()`: once added, a heap's device node exists until the
//! system shuts down. A [`Heap`] is therefore leaked by construction (its registration returns
//! a `&'static Heap`), and the memory behind it is a separate [`Backend`] that a driver sets
//! while it is bound and takes away when it goes away, as `drivers/tee/tee_heap.c` does. While
//! the heap has no backend, allocation fails with [`ENODEV`]; setting one again brings the same
//! node back.
//!
//! # Examples
//!
//! A backend of zero-filled system memory, allocating directly; `publish` shows how a module
//! would put it behind `/dev/dma_heap/<name>` (not run here: a heap node is never removed).
//!
//! ```
//! use kernel::{
//!     dma_buf::{
//!         DmaBuf,
//!         Exported,
//!         Exporter,
//!         FdFlags,
//!         NoSgTable, //
//!     },
//!     dma_heap::{
//!         Backend,
//!         Heap,
//!         HeapFlags, //
//!     },
//!     page::PAGE_SIZE,
//!     sync::{
//!         aref::ARef,
//!         Arc, //
//!     },
//! };
//!
//! struct Zeroed(KVVec<u8>);
//!
//! #[vtable]
//! impl Exporter for Zeroed {
//!     type SgTable<'a> = NoSgTable;
//! }
//!
//! struct SystemBackend;
//!
//! impl Backend for SystemBackend {
//!     fn allocate(
//!         &self,
//!         len: usize,
//!         fd_flags: FdFlags,
//!         _heap_flags: HeapFlags,
//!     ) -> Result<ARef<DmaBuf>> {
//!         let mem = KVVec::from_elem(0u8, len, GFP_KERNEL)?;
//!         let buf = Exported::new(Zeroed(mem), len, fd_flags, c"doctest-heap")?;
//!         Ok(Exported::into_dma_buf(buf))
//!     }
//! }
//!
//! # #[allow(dead_code)]
//! fn publish(module: &'static ThisModule) -> Result<&'static Heap<SystemBackend>> {
//!     let heap = Heap::register(c"doctest_system", module)?;
//!     heap.set_backend(Arc::new(SystemBackend, GFP_KERNEL)?)?;
//!     Ok(heap)
//! }
//!
//! let buf = SystemBackend.allocate(2 * PAGE_SIZE, FdFlags::RDWR, HeapFlags::NONE)?;
//! assert_eq!(buf.size(), 2 * PAGE_SIZE);
//! assert_eq!(buf.exporter_name(), c"doctest-heap");
//! # Ok::<(), Error>(())
//! ```
//!
//! Reference: <https://docs.kernel.org/userspace-api/dma-buf-heaps.html>

use crate::{
    bindings,
    dma_buf::{
        DmaBuf,
        FdFlags, //
    },
    error::from_err_ptr,
    new_spinlock,
    prelude::*,
    str::CString,
    sync::{
        aref::ARef,
        Arc,
        SpinLock, //
    }, //
};

/// Flags of a heap allocation (`dma_heap_allocation_data.heap_flags`).
///
/// # Invariants
///
/// Only bits of `DMA_HEAP_VALID_HEAP_FLAGS` are set; today there are none.
///
/// # Examples
///
/// ```
/// use kernel::dma_heap::HeapFlags;
///
/// assert_eq!(HeapFlags::new(0)?, HeapFlags::NONE);
/// assert_eq!(HeapFlags::NONE.as_raw(), 0);
/// // The uAPI defines no heap flag yet: any bit is invalid.
/// assert_eq!(HeapFlags::new(1).err(), Some(EINVAL));
/// assert_eq!(HeapFlags::new(1 << 63).err(), Some(EINVAL));
/// # Ok::<(), Error>(())
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct HeapFlags(u64);

impl HeapFlags {
    /// No flags.
    pub const NONE: Self = Self(0);

    /// Validates raw heap flags. Returns [`EINVAL`] for any bit the uAPI does not define.
    pub fn new(flags: u64) -> Result<Self> {
        // `DMA_HEAP_VALID_HEAP_FLAGS` is 0: no heap flag is defined yet.
        if flags != 0 {
            return Err(EINVAL);
        }
        // INVARIANT: Checked above.
        Ok(Self(flags))
    }

    /// Returns the raw flags.
    pub fn as_raw(self) -> u64 {
        self.0
    }
}

/// The memory behind a [`Heap`].
pub trait Backend: Send + Sync + 'static {
    /// Allocates a buffer of `len` bytes, a non-zero multiple of the page size.
    ///
    /// `fd_flags` are the flags of the file descriptor the buffer is about to get; exporters
    /// pass them to [`Exported::new`](crate::dma_buf::Exported::new).
    fn allocate(
        &self,
        len: usize,
        fd_flags: FdFlags,
        heap_flags: HeapFlags,
    ) -> Result<ARef<DmaBuf>>;
}

/// A registered dma-buf heap: a device node in `/dev/dma_heap`, and the backend behind it.
///
/// # Synchronization
///
/// The backend slot is a spinlock, held only to set, take or reference the backend: an
/// allocation runs on its own reference to the backend, without the lock, so it may sleep and
/// may race with [`Heap::take_backend`], which then returns before that allocation ends. Every
/// allocation takes the lock, from any CPU, for as long as a reference count increment.
///
/// # Invariants
///
/// A `Heap` only exists as the `'static` data of a heap added with `dma_heap_add()`; it is never
/// freed or moved.
#[pin_data]
pub struct Heap<T: Backend> {
    name: CString,
    #[pin]
    backend: SpinLock<Option<Arc<T>>>,
}

impl<T: Backend> Heap<T> {
    /// Adds the heap `/dev/dma_heap/<name>`, with no backend.
    ///
    /// The heap is never removed, so it is leaked, and so is a reference to `module`, which
    /// holds the heap's code: a module that registers a heap can no longer be unloaded.
    ///
    /// Names must be unique. The core finds a duplicate only when it creates the device node,
    /// which fails with [`EEXIST`] and makes the driver core log the clash with a stack dump;
    /// frameworks that register heaps on behalf of drivers should refuse duplicates first.
    pub fn register(name: &CStr, module: &'static ThisModule) -> Result<&'static Self> {
        let heap = KBox::pin_init(
            try_pin_init!(Self {
                name: CString::try_from(name)?,
                backend <- new_spinlock!(None),
            }),
            GFP_KERNEL,
        )?;
        let info = bindings::dma_heap_export_info {
            name: heap.name.as_char_ptr(),
            ops: &Self::OPS,
            priv_: core::ptr::from_ref::<Self>(&heap).cast_mut().cast(),
        };
        // SAFETY: `info` is fully initialised; `name` and `priv_` point into `heap`, which is
        // leaked below if the heap is added.
        from_err_ptr(unsafe { bindings::dma_heap_add(&info) })?;
        // SAFETY: `module` is the live module calling this (or NULL when built in); the
        // reference is never dropped, because the heap's callbacks are in its code.
        unsafe { bindings::__module_get(module.as_ptr()) };
        // SAFETY: The heap is never moved out of its allocation: it is leaked here.
        let heap = unsafe { Pin::into_inner_unchecked(heap) };
        // INVARIANT: The heap was added and is leaked, so it lives forever and never moves.
        Ok(KBox::leak(heap))
    }

    /// Returns the heap's name.
    pub fn name(&self) -> &CStr {
        &self.name
    }

    /// Sets `backend`: allocations go to it from now on.
    ///
    /// Returns [`EBUSY`] if the heap has a backend already.
    pub fn set_backend(&self, backend: Arc<T>) -> Result {
        let mut slot = self.backend.lock();
        if slot.is_some() {
            return Err(EBUSY);
        }
        *slot = Some(backend);
        Ok(())
    }

    /// Detaches the backend and returns it. Allocation fails with [`ENODEV`] from now on.
    ///
    /// An allocation that has already started holds its own reference to the backend and
    /// completes; buffers allocated before stay valid as long as their backend keeps them so.
    pub fn take_backend(&self) -> Option<Arc<T>> {
        self.backend.lock().take()
    }

    /// Returns whether the heap has a backend.
    pub fn has_backend(&self) -> bool {
        self.backend.lock().is_some()
    }

    /// Allocates a buffer from the heap, as `DMA_HEAP_IOCTL_ALLOC` does but from the kernel.
    ///
    /// Returns [`EINVAL`] for a zero length, [`ENODEV`] if the heap has no backend, and the
    /// backend's errors.
    pub fn allocate(
        &self,
        len: usize,
        fd_flags: FdFlags,
        heap_flags: HeapFlags,
    ) -> Result<ARef<DmaBuf>> {
        let len = crate::page::page_align(len).ok_or(EINVAL)?;
        if len == 0 {
            return Err(EINVAL);
        }
        let backend = self.backend.lock().clone().ok_or(ENODEV)?;
        backend.allocate(len, fd_flags, heap_flags)
    }

    const OPS: bindings::dma_heap_ops = bindings::dma_heap_ops {
        allocate: Some(Self::allocate_callback),
    };

    /// # Safety
    ///
    /// `heap` must be a heap added by [`Heap::register`] for this `T`.
    unsafe extern "C" fn allocate_callback(
        heap: *mut bindings::dma_heap,
        len: c_ulong,
        fd_flags: u32,
        heap_flags: u64,
    ) -> *mut bindings::dma_buf {
        // SAFETY: `heap` is a heap added by `register`, whose data is the leaked `Self`.
        let this = unsafe { &*bindings::dma_heap_get_drvdata(heap).cast::<Self>() };
        let result = (|| {
            let fd_flags = FdFlags::new(fd_flags)?;
            let heap_flags = HeapFlags::new(heap_flags)?;
            this.allocate(len, fd_flags, heap_flags)
        })();
        match result {
            Ok(buf) => ARef::into_raw(buf).as_ptr().cast(),
            Err(e) => e.to_ptr(),
        }
    }
}
