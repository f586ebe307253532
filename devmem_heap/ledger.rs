// SPDX-License-Identifier: GPL-2.0

//! The ledger of a region: its live buffers and its counters.
//!
//! Every allocation is entered here when it is made and leaves when its blocks are freed, so
//! the region can always reach each of its live buffers: debugfs lists them, and withdrawal
//! walks them.

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
    /// The dma-buf the allocation was exported as, once it is.
    exported: Option<Exported>,
}

/// The dma-buf of a record.
///
/// # Invariants
///
/// `buf` is the `struct dma_buf` whose data owns the allocation of the record. The record leaves
/// the ledger when that allocation is dropped, in the buffer's release, before the `struct
/// dma_buf` is freed: while the record is in the ledger, `buf` points to a valid `struct dma_buf`
/// (whose file may already be on its way to release).
struct Exported {
    buf: NonNull<DmaBuf>,
    ino: u64,
}

// SAFETY: `Exported` only names a `struct dma_buf`, which may be used from any thread.
unsafe impl Send for Exported {}

impl Record {
    /// Returns the inode number of the buffer's file, or 0 before it is exported.
    pub(crate) fn ino(&self) -> u64 {
        self.exported.as_ref().map_or(0, |e| e.ino)
    }
}

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
                exported: None,
            },
            GFP_KERNEL,
        )?;
        self.next_id += 1;
        self.allocs += 1;
        Ok(id)
    }

    /// Records that the buffer `id` was exported as `buf`.
    ///
    /// `buf` must be the dma-buf whose data owns the allocation `id` (see [`Exported`]).
    pub(crate) fn exported(&mut self, id: u64, buf: &DmaBuf) {
        if let Some(record) = self.buffers.iter_mut().find(|r| r.id == id) {
            // INVARIANT: The caller passes the buffer that owns the allocation.
            record.exported = Some(Exported {
                buf: NonNull::from(buf),
                ino: buf.ino(),
            });
        }
    }

    /// Takes the buffer `id` out: its blocks are being freed.
    pub(crate) fn leave(&mut self, id: u64) {
        if let Some(i) = self.buffers.iter().position(|r| r.id == id) {
            drop(self.buffers.remove(i));
        }
        self.frees += 1;
    }

    /// Zaps every user mapping of every live buffer: the next access faults again and finds
    /// out whether the region is still there.
    pub(crate) fn zap_user_mappings(&self) {
        for exported in self.buffers.iter().filter_map(|r| r.exported.as_ref()) {
            // SAFETY: By the invariants of `Exported`, the `struct dma_buf` is valid while its
            // record is in the ledger, which `&self` keeps it in.
            let buf = unsafe { exported.buf.as_ref() };
            buf.zap_user_mappings();
        }
    }

    /// Returns the live buffers, oldest first.
    pub(crate) fn buffers(&self) -> &[Record] {
        &self.buffers
    }
}
