// SPDX-License-Identifier: GPL-2.0

//! The ledger of a region: its live buffers and its counters.
//!
//! Every buffer is entered here when it is exported and leaves when its blocks are freed, so
//! the region can always reach each of its live buffers: debugfs lists them, and withdrawal
//! takes a reference to each of them that is not already on its way to release, one at a time.
//!
//! The live buffers are an rbtree keyed by allocation: entering, finding and leaving are
//! O(log n), and no allocation grows with the number of buffers (each record is a node of its
//! own), so a region holds as many buffers as its memory allows.

use crate::layout::{
    Placement,
    Ranges, //
};
use core::ptr::NonNull;
use kernel::{
    dma_buf::DmaBuf,
    prelude::*,
    rbtree::{
        RBTree,
        RBTreeNode, //
    }, //
};

/// A live buffer of a region.
///
/// # Invariants
///
/// `ranges` points to the ranges of the allocation the record is of, which takes the record out
/// of the ledger before they are dropped: while the record is in the ledger, it is valid.
pub(crate) struct Record {
    /// The size of the buffer in bytes.
    pub(crate) size: usize,
    pub(crate) placement: Placement,
    ranges: NonNull<Ranges>,
    /// The inode number of the buffer's file.
    pub(crate) ino: u64,
    /// The dma-buf the allocation was exported as, while it exists.
    buf: Option<ExportedBuf>,
}

// SAFETY: A record only reads the ranges it points to, which may be read from any thread
// (`Ranges` is `Sync`), and names a dma-buf (see `ExportedBuf`).
unsafe impl Send for Record {}

impl Record {
    /// Returns the ranges of the region the buffer occupies.
    pub(crate) fn ranges(&self) -> &Ranges {
        // SAFETY: By the type invariants the ranges are valid while the record is in the
        // ledger, which it is for as long as `&self` borrows the ledger.
        unsafe { self.ranges.as_ref() }
    }
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

/// Live buffers and counters of a region. The region keeps it under a mutex.
pub(crate) struct Ledger {
    pub(crate) allocs: u64,
    pub(crate) frees: u64,
    pub(crate) failures: u64,
    pub(crate) refused_maps: u64,
    /// The live buffers by allocation key; keys grow with every allocation.
    buffers: RBTree<u64, Record>,
    live: usize,
}

impl Ledger {
    /// An empty ledger.
    pub(crate) fn new() -> Self {
        Self {
            allocs: 0,
            frees: 0,
            failures: 0,
            refused_maps: 0,
            buffers: RBTree::new(),
            live: 0,
        }
    }

    /// Enters the live buffer `id` of `size` bytes laid out as `placement` in `ranges`, just
    /// exported as `buf`.
    ///
    /// # Safety
    ///
    /// `ranges` must be the ranges of the allocation `id`, which must call [`Ledger::leave`]
    /// before they are dropped; `buf` must be the dma-buf whose data owns that allocation, and
    /// that data must call [`Ledger::unexported`] when it is dropped.
    pub(crate) unsafe fn enter(
        &mut self,
        id: u64,
        size: usize,
        placement: Placement,
        ranges: &Ranges,
        buf: &DmaBuf,
    ) -> Result {
        // INVARIANT: The caller promises that the allocation takes the record out before its
        // ranges go, and that the buffer takes itself out before it is freed.
        let record = Record {
            size,
            placement,
            ranges: NonNull::from(ranges),
            ino: buf.ino(),
            buf: Some(ExportedBuf(NonNull::from(buf))),
        };
        self.buffers
            .insert(RBTreeNode::new(id, record, GFP_KERNEL)?);
        self.live += 1;
        self.allocs += 1;
        Ok(())
    }

    /// Records that the dma-buf of the buffer `id` is being released.
    pub(crate) fn unexported(&mut self, id: u64) {
        if let Some(record) = self.buffers.get_mut(&id) {
            record.buf = None;
        }
    }

    /// Takes the buffer `id` out, if it was entered: its blocks are being freed.
    pub(crate) fn leave(&mut self, id: u64) {
        if self.buffers.remove(&id).is_some() {
            self.live -= 1;
            self.frees += 1;
        }
    }

    /// Calls `f` with the key and dma-buf of each exported live buffer entered after the buffer
    /// `after` (all of them for `None`), oldest first, until it returns `Some`, and returns that.
    ///
    /// Each `struct dma_buf` stays allocated while the ledger's lock, which `&self` proves, is
    /// held, but its file may already be on its way to release: take a reference with
    /// [`DmaBuf::try_get`] before the lock goes. Needs no memory.
    pub(crate) fn find_exported_after<R>(
        &self,
        after: Option<u64>,
        mut f: impl FnMut(u64, NonNull<DmaBuf>) -> Option<R>,
    ) -> Option<R> {
        let mut from = after.map_or(0, |id| id + 1);
        loop {
            let cursor = self.buffers.cursor_lower_bound(&from)?;
            let (&id, record) = cursor.current();
            if let Some(buf) = &record.buf {
                if let Some(found) = f(id, buf.0) {
                    return Some(found);
                }
            }
            from = id + 1;
        }
    }

    /// Returns the live buffers, oldest first.
    pub(crate) fn buffers(&self) -> impl Iterator<Item = &Record> {
        self.buffers.values()
    }

    /// Returns the number of live buffers.
    pub(crate) fn len(&self) -> usize {
        self.live
    }

    /// Returns whether the region has no live buffer.
    pub(crate) fn is_empty(&self) -> bool {
        self.live == 0
    }
}
