// SPDX-License-Identifier: GPL-2.0

//! Dynamic importers: devices that map a dma-buf under its reservation lock and give the
//! mapping up when the exporter invalidates it.
//!
//! C header: [`include/linux/dma-buf.h`](srctree/include/linux/dma-buf.h)
//!
//! A dynamic importer attaches with importer operations ([`Importer`], `struct
//! dma_buf_attach_ops`): whether it takes peer-to-peer memory (memory without `struct page`, such
//! as another device's BAR, reached by bus address), and, optionally, what it does when the
//! exporter invalidates its mappings, because the memory moves or goes away. An importer that
//! implements [`Importer::invalidate_mappings`] is *revocable* (`dma_buf_attach_revocable()`):
//! it stops its DMA when told, and its table is unmapped right after. Exporters of memory that
//! can disappear, such as a hot-pluggable device's BAR, hand tables only to revocable
//! importers.
//!
//! A [`DynamicAttachment`] holds at most one mapping, and only under the buffer's reservation
//! lock: [`DynamicAttachment::lock`] takes the lock and returns a [`LockedAttachment`], through
//! which the importer maps, reads the table and unmaps. An invalidation runs under the same
//! lock: [`Importer::invalidate_mappings`] is called, then the table is unmapped. The table is
//! therefore never seen without the lock, and an invalidation never races with a mapping being
//! made or used. An importer whose device finishes its work on the table before it drops the
//! lock (a synchronous engine) needs nothing else to stop its DMA when told to; one that queues
//! work and drops the lock must add a fence for it to the buffer's reservation object, which the
//! exporter waits for.
//!
//! Dropping a [`DynamicAttachment`] takes the reservation lock to unmap: it must not be dropped
//! with that lock held.
//!
//! A non-revocable dynamic importer (no [`Importer::invalidate_mappings`]) pins the buffer while
//! it holds a mapping (`dma_buf_pin()`), so that the exporter cannot move it.
//!
//! # Examples
//!
//! A revocable importer that counts invalidations, and a non-revocable one, attached from a faux
//! device to a CPU-only exporter: the exporter sees the difference, refuses both a DMA mapping,
//! and its invalidation reaches the revocable one.
//!
//! ```
//! use core::sync::atomic::{
//!     AtomicU32,
//!     Ordering::Relaxed, //
//! };
//! use kernel::{
//!     dma::DataDirection,
//!     dma_buf::{
//!         DynamicAttachment,
//!         Exported,
//!         Exporter,
//!         FdFlags,
//!         Importer,
//!         NoSgTable, //
//!     },
//!     faux,
//!     page::PAGE_SIZE, //
//! };
//!
//! struct CpuOnly;
//!
//! #[vtable]
//! impl Exporter for CpuOnly {
//!     type SgTable<'a> = NoSgTable;
//! }
//!
//! struct Revocable {
//!     invalidations: AtomicU32,
//! }
//!
//! #[vtable]
//! impl Importer for Revocable {
//!     const PEER2PEER: bool = true;
//!
//!     fn invalidate_mappings(&self) {
//!         // Nothing to stop: DMA only runs under the lock. The table goes after this.
//!         self.invalidations.fetch_add(1, Relaxed);
//!     }
//! }
//!
//! struct Pinned;
//!
//! #[vtable]
//! impl Importer for Pinned {
//!     const PEER2PEER: bool = false;
//! }
//!
//! let buf = Exported::new(CpuOnly, PAGE_SIZE, FdFlags::RDWR, c"doctest-dynamic")?;
//! let faux = faux::Registration::new(c"dma-buf-dynamic-doctest", None)?;
//! let dev = faux.as_ref().as_ref();
//!
//! let revocable = DynamicAttachment::new(
//!     Exported::into_dma_buf(buf.clone()),
//!     dev,
//!     Revocable { invalidations: AtomicU32::new(0) },
//! )?;
//! assert!(revocable.attachment().peer2peer());
//! assert!(revocable.attachment().is_revocable());
//!
//! let pinned = DynamicAttachment::new(Exported::into_dma_buf(buf.clone()), dev, Pinned)?;
//! assert!(!pinned.attachment().peer2peer());
//! assert!(!pinned.attachment().is_revocable());
//!
//! {
//!     let mut locked = revocable.lock();
//!     assert_eq!(locked.map(DataDirection::FromDevice).err(), Some(EOPNOTSUPP));
//!     assert!(locked.table().is_none());
//! }
//!
//! // The exporter revokes its memory: only the revocable importer hears of it.
//! buf.lock_resv().invalidate_mappings();
//! assert_eq!(revocable.importer().invalidations.load(Relaxed), 1);
//! # Ok::<(), Error>(())
//! ```

use super::{
    Attachment,
    DmaBuf,
    ResvGuard, //
};
use crate::{
    bindings,
    device::{
        Bound,
        Device, //
    },
    dma::DataDirection,
    error::{
        from_err_ptr,
        to_result,
        VTABLE_DEFAULT_ERROR, //
    },
    prelude::*,
    scatterlist::SGTable,
    sync::aref::ARef,
    types::NotThreadSafe, //
};
use core::{
    cell::UnsafeCell,
    ffi::c_long,
    marker::PhantomData,
    ptr::NonNull, //
};

/// The importer's side of a dynamic attachment (`struct dma_buf_attach_ops`).
///
/// The data of the implementing type lives as long as the attachment and is reachable from
/// [`DynamicAttachment::importer`] and [`LockedAttachment::importer`].
#[vtable]
pub trait Importer: Sized + Send + Sync {
    /// Whether the importer's device can DMA to memory without `struct page` (another device's
    /// BAR), through the bus addresses of the tables it gets (`allow_peer2peer`).
    const PEER2PEER: bool;

    /// The exporter invalidated the buffer's mappings (`invalidate_mappings`): the memory moves
    /// or is revoked.
    ///
    /// Runs with the reservation lock held, the one the importer maps and uses its table under.
    /// The importer stops DMA through its table (work it cannot stop at once must be covered by a
    /// fence in the buffer's reservation object); when this returns, the table is unmapped. The
    /// importer maps again before further DMA, which may fail if the memory is gone.
    /// Implementing this makes the attachment revocable; leaving it out makes the importer pin
    /// the buffer while mapped.
    ///
    /// It must not take locks that rank above the reservation lock, nor the exporter's.
    fn invalidate_mappings(&self) {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
}

/// A table mapped for the importer, with the direction to unmap it in.
struct Table {
    sgt: NonNull<bindings::sg_table>,
    dir: DataDirection,
}

/// What a dynamic attachment's `importer_priv` points to.
///
/// # Invariants
///
/// `table` is only read or written with the buffer's reservation lock held.
#[pin_data]
struct State<T> {
    #[pin]
    importer: T,
    table: UnsafeCell<Option<Table>>,
}

// SAFETY: `importer` is `Send`; the table is a mapping owned by the attachment, usable from any
// thread.
unsafe impl<T: Send> Send for State<T> {}
// SAFETY: `importer` is `Sync`; `table` is only touched under the reservation lock, by the type
// invariants.
unsafe impl<T: Sync> Sync for State<T> {}

/// A dynamic attachment of a device to a dma-buf; unmapped and detached on drop.
///
/// # Invariants
///
/// `attach` was returned by `dma_buf_dynamic_attach()` for `buf` and `dev`, with the operations
/// of `ImporterVTable<T>` and `state` as `importer_priv`; it stays attached until drop.
pub struct DynamicAttachment<T: Importer> {
    buf: ARef<DmaBuf>,
    _dev: ARef<Device>,
    attach: NonNull<bindings::dma_buf_attachment>,
    state: Pin<KBox<State<T>>>,
}

// SAFETY: The attachment may be used and detached from any thread; its state is `Send`.
unsafe impl<T: Importer> Send for DynamicAttachment<T> {}
// SAFETY: Shared access only reads `buf` and `attach`, or takes the reservation lock.
unsafe impl<T: Importer> Sync for DynamicAttachment<T> {}

impl<T: Importer> DynamicAttachment<T> {
    /// Attaches `dev` to `buf` as a dynamic importer with the operations of `T`.
    ///
    /// Returns the exporter's error if it refuses the device.
    ///
    /// `dev` is bound: its driver makes DMA mappings through the attachment, and must drop it
    /// before unbinding.
    pub fn new<E>(
        buf: ARef<DmaBuf>,
        dev: &Device<Bound>,
        importer: impl PinInit<T, E>,
    ) -> Result<Self>
    where
        Error: From<E>,
    {
        let state = KBox::pin_init(
            try_pin_init!(State {
                importer <- importer,
                table: UnsafeCell::new(None),
            }? E),
            GFP_KERNEL,
        )?;
        let ops: &'static bindings::dma_buf_attach_ops = &ImporterVTable::<T>::OPS;
        let priv_ = core::ptr::from_ref::<State<T>>(&state).cast_mut().cast();
        // SAFETY: `buf` and `dev` are valid, and the `DynamicAttachment` made here holds
        // references to both for as long as it is attached; `ops` is static; `priv_` points to
        // `state`, which is pinned and dropped only after the attachment is detached.
        let ptr = from_err_ptr(unsafe {
            bindings::dma_buf_dynamic_attach(buf.as_raw(), dev.as_raw(), ops, priv_)
        })?;
        // INVARIANT: `dma_buf_dynamic_attach()` succeeded with `T`'s operations and `state`.
        Ok(Self {
            buf,
            _dev: dev.into(),
            // SAFETY: `from_err_ptr` returned a valid, non-error pointer.
            attach: unsafe { NonNull::new_unchecked(ptr) },
            state,
        })
    }

    /// Returns the importer's data.
    pub fn importer(&self) -> &T {
        &self.state.importer
    }

    /// Returns the buffer.
    pub fn dma_buf(&self) -> &DmaBuf {
        &self.buf
    }

    /// Returns the attachment as the exporter sees it.
    pub fn attachment(&self) -> &Attachment {
        // SAFETY: The attachment is valid until `self` is dropped.
        unsafe { Attachment::from_raw(self.attach.as_ptr()) }
    }

    /// Takes the buffer's reservation lock, to map, use or unmap the attachment's table.
    pub fn lock(&self) -> LockedAttachment<'_, T> {
        let guard = self.buf.lock_resv();
        // INVARIANT: The lock is held by `guard`, which the view keeps.
        LockedAttachment {
            attach: self.attachment(),
            state: &self.state,
            _guard: Some(guard),
            _not_send: NotThreadSafe,
        }
    }
}

impl<T: Importer> Drop for DynamicAttachment<T> {
    fn drop(&mut self) {
        self.lock().unmap();
        // SAFETY: The attachment was made by `dma_buf_dynamic_attach()` on this buffer and is
        // detached exactly once, here. The core stops calling the importer's operations before
        // this returns, so `state` may go after it.
        unsafe { bindings::dma_buf_detach(self.buf.as_raw(), self.attach.as_ptr()) };
    }
}

/// A dynamic attachment while its buffer's reservation lock is held: the only access to its
/// table.
///
/// # Invariants
///
/// The reservation lock of `attach`'s buffer is held for `'a`, by `_guard` or, during an
/// invalidation, by the core. `state` is the attachment's `importer_priv`.
pub struct LockedAttachment<'a, T: Importer> {
    attach: &'a Attachment,
    state: &'a State<T>,
    _guard: Option<ResvGuard<'a>>,
    _not_send: NotThreadSafe,
}

impl<T: Importer> LockedAttachment<'_, T> {
    /// Returns the importer's data.
    pub fn importer(&self) -> &T {
        &self.state.importer
    }

    /// Returns the attachment as the exporter sees it.
    pub fn attachment(&self) -> &Attachment {
        self.attach
    }

    fn table_slot(&mut self) -> &mut Option<Table> {
        // SAFETY: The reservation lock is held (type invariants), which `table` requires, and
        // `&mut self` excludes every other use of it through this view.
        unsafe { &mut *self.state.table.get() }
    }

    /// Maps the buffer for the attached device in direction `dir` and returns the table.
    ///
    /// Returns [`EBUSY`] if the attachment is already mapped, or the exporter's error: for example
    /// [`EOPNOTSUPP`] if it cannot map the buffer for this device.
    pub fn map(&mut self, dir: DataDirection) -> Result<&SGTable> {
        if self.table_slot().is_some() {
            return Err(EBUSY);
        }
        let attach = self.attach.as_raw();
        if !T::HAS_INVALIDATE_MAPPINGS {
            // SAFETY: The attachment is dynamic and its reservation lock is held.
            to_result(unsafe { bindings::dma_buf_pin(attach) })?;
        }
        // SAFETY: The attachment is valid and its reservation lock is held.
        let sgt = from_err_ptr(unsafe { bindings::dma_buf_map_attachment(attach, dir.into()) })
            .inspect_err(|_| {
                if !T::HAS_INVALIDATE_MAPPINGS {
                    // SAFETY: Pinned above, under the same lock.
                    unsafe { bindings::dma_buf_unpin(attach) };
                }
            })?;
        let table = self.table_slot().insert(Table {
            // SAFETY: `from_err_ptr` returned a valid, non-error pointer.
            sgt: unsafe { NonNull::new_unchecked(sgt) },
            dir,
        });
        // SAFETY: The table stays mapped until `unmap`, which needs `&mut self`.
        Ok(unsafe { SGTable::from_raw(table.sgt.as_ptr()) })
    }

    /// Returns the mapped table, if the attachment is mapped.
    pub fn table(&self) -> Option<&SGTable> {
        // SAFETY: The reservation lock is held (type invariants); the table stays mapped until
        // `unmap`, which needs `&mut self`.
        unsafe { &*self.state.table.get() }
            .as_ref()
            // SAFETY: As above.
            .map(|t| unsafe { SGTable::from_raw(t.sgt.as_ptr()) })
    }

    /// Unmaps the attachment's table, if it is mapped.
    pub fn unmap(&mut self) {
        let attach = self.attach.as_raw();
        if let Some(table) = self.table_slot().take() {
            // SAFETY: `table` was mapped for this attachment in `table.dir` and is unmapped once;
            // the reservation lock is held.
            unsafe {
                bindings::dma_buf_unmap_attachment(attach, table.sgt.as_ptr(), table.dir.into())
            };
            if !T::HAS_INVALIDATE_MAPPINGS {
                // SAFETY: `map` pinned the buffer for this mapping, under this lock.
                unsafe { bindings::dma_buf_unpin(attach) };
            }
        }
    }

    /// Waits, interruptibly, until the buffer's fences allow the importer's device to access it:
    /// every writer's if it reads, every reader's and writer's if it `writes`.
    ///
    /// Dynamic importers must do this before their DMA: the core does not wait for them. Returns
    /// [`ERESTARTSYS`] if a signal arrives.
    pub fn wait_for_fences(&self, writes: bool) -> Result {
        let usage = if writes {
            bindings::dma_resv_usage_DMA_RESV_USAGE_READ
        } else {
            bindings::dma_resv_usage_DMA_RESV_USAGE_WRITE
        };
        // CAST: `MAX_SCHEDULE_TIMEOUT` is `LONG_MAX`, which fits an unsigned long.
        let forever = c_long::MAX as usize;
        // SAFETY: The buffer and its `resv` are valid while attached.
        let ret = unsafe {
            bindings::dma_resv_wait_timeout(
                (*self.attach.dma_buf().as_raw()).resv,
                usage,
                true,
                forever,
            )
        };
        match ret {
            // CAST: A negative return is an errno, which fits an `i32`.
            r if r < 0 => to_result(r as i32),
            // Not with an infinite timeout; never report success for it.
            0 => Err(ETIMEDOUT),
            _ => Ok(()),
        }
    }
}

struct ImporterVTable<T: Importer>(PhantomData<T>);

impl<T: Importer> ImporterVTable<T> {
    const OPS: bindings::dma_buf_attach_ops = bindings::dma_buf_attach_ops {
        allow_peer2peer: T::PEER2PEER,
        invalidate_mappings: if T::HAS_INVALIDATE_MAPPINGS {
            Some(Self::invalidate_mappings)
        } else {
            None
        },
    };

    /// Tells the importer, then unmaps its table: a revocable importer never keeps one past an
    /// invalidation.
    ///
    /// # Safety
    ///
    /// `attach` must be an attachment made by [`DynamicAttachment::new`] with these operations,
    /// whose reservation lock is held.
    unsafe extern "C" fn invalidate_mappings(attach: *mut bindings::dma_buf_attachment) {
        // SAFETY: `importer_priv` is the attachment's `State<T>`, alive while it is attached.
        let state = unsafe { &*(*attach).importer_priv.cast::<State<T>>() };
        T::invalidate_mappings(&state.importer);
        // INVARIANT: The core calls `invalidate_mappings` with the reservation lock held.
        let mut locked = LockedAttachment {
            // SAFETY: The attachment stays attached while the core calls its operations.
            attach: unsafe { Attachment::from_raw(attach) },
            state,
            _guard: None,
            _not_send: NotThreadSafe,
        };
        locked.unmap();
    }
}
