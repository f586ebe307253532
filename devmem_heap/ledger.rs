// SPDX-License-Identifier: GPL-2.0

//! The ledger of a region: its live buffers and its counters.
//!
//! Every allocation is entered here when it is made and leaves when its blocks are freed, so
//! the region can always reach each of its live buffers: debugfs lists them, and withdrawal
//! takes a reference to each of them that is not already on its way to release, one at a time.

use crate::layout::{
    Placement,
    Ranges, //
};
use core::ptr::NonNull;
use kernel::{
    dma_buf::DmaBuf,
    prelude::*,
    sync::Arc, //
};

/// A live buffer of a region.
pub(crate) struct Record {
    /// The allocation's key in the ledger.
    pub(crate) id: u64,
    /// The size of the buffer in bytes.
    pub(crate) size: usize,
    pub(crate) placement: Placement,
    /// The ranges of the region the buffer occupies, shared with its allocation.
    pub(crate) ranges: Arc<Ranges>,
    /// The inode number of the buffer's file, 0 until it is exported.
    pub(crate) ino: u64,
    /// The dma-buf the allocation was exported as, while it exists.
    buf: Option<ExportedBuf>,
}

/// The dma-buf of a record.
///
/// # Invariants
///
/// `0` is the `struct dma_buf` whose data owns the allocation of the record. The data takes it
/// out of the record when it is dropped, in the buffer's `release` callback, before the
/// `struct dma_buf` is freed: while it is in the record, it points to an allocated `struct
/// dma_buf`, whose file may already be on its way to release.
struct ExportedBuf(NonNull<DmaBuf>);

// SAFETY: `ExportedBuf` only names a `struct dma_buf`, which may be used from any thread.
unsafe impl Send for ExportedBuf {}

/// Live buffers and counters of a region. The region keeps it under a mutex.
pub(crate) struct Ledger {
    pub(crate) allocs: u64,
    pub(crate) frees: u64,
    pub(crate) failures: u64,
    pub(crate) refused_maps: u64,
    next_id: u64,
    buffers: KVec<Record>,
}

impl Ledger {
    /// An empty ledger.
    pub(crate) const fn new() -> Self {
        Self {
            allocs: 0,
            frees: 0,
            failures: 0,
            refused_maps: 0,
            next_id: 0,
            buffers: KVec::new(),
        }
    }

    /// Enters a new live buffer and returns its key.
    pub(crate) fn enter(
        &mut self,
        size: usize,
        placement: Placement,
        ranges: Arc<Ranges>,
    ) -> Result<u64> {
        let id = self.next_id;
        self.buffers.push(
            Record {
                id,
                size,
                placement,
                ranges,
                ino: 0,
                buf: None,
            },
            GFP_KERNEL,
        )?;
        self.next_id += 1;
        self.allocs += 1;
        Ok(id)
    }

    /// Records that the buffer `id` was exported as `buf`.
    ///
    /// # Safety
    ///
    /// `buf` must be the dma-buf whose data owns the allocation `id`, and that data must call
    /// [`Ledger::unexported`] when it is dropped.
    pub(crate) unsafe fn exported(&mut self, id: u64, buf: &DmaBuf) {
        if let Some(record) = self.buffers.iter_mut().find(|r| r.id == id) {
            record.ino = buf.ino();
            // INVARIANT: The caller passes the buffer that owns the allocation, which takes it
            // out again when its data is dropped.
            record.buf = Some(ExportedBuf(NonNull::from(buf)));
        }
    }

    /// Records that the dma-buf of the buffer `id` is being released.
    pub(crate) fn unexported(&mut self, id: u64) {
        if let Some(record) = self.buffers.iter_mut().find(|r| r.id == id) {
            record.buf = None;
        }
    }

    /// Takes the buffer `id` out: its blocks are being freed.
    pub(crate) fn leave(&mut self, id: u64) {
        if let Some(i) = self.buffers.iter().position(|r| r.id == id) {
            drop(self.buffers.remove(i));
        }
        self.frees += 1;
    }

    /// Returns the keys and dma-bufs of the exported live buffers entered after the buffer
    /// `after` (all of them for `None`), oldest first.
    ///
    /// Each `struct dma_buf` stays allocated while the ledger's lock, which `&self` proves, is
    /// held, but its file may already be on its way to release: take a reference with
    /// [`DmaBuf::try_get`] before the lock goes.
    pub(crate) fn exported_after(
        &self,
        after: Option<u64>,
    ) -> impl Iterator<Item = (u64, NonNull<DmaBuf>)> + '_ {
        // Keys grow with every entry and records keep their order. `None` is below every
        // `Some`.
        self.buffers
            .iter()
            .filter(move |r| Some(r.id) > after)
            .filter_map(|r| Some((r.id, r.buf.as_ref()?.0)))
    }

    /// Returns the live buffers, oldest first.
    pub(crate) fn buffers(&self) -> &[Record] {
        &self.buffers
    }
}
