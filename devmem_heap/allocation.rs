// SPDX-License-Identifier: GPL-2.0

//! Allocations: blocks of a region, cleared, and entered in its ledger for as long as they live.
//!
//! An [`Allocation`] owns its blocks: dropping it takes it out of the region's ledger and gives
//! the blocks back to the allocator. The buffer exported for it, and its user mappings, hold it.

use crate::{
    layout::{
        Placement,
        Ranges, //
    },
    region::Region, //
};
use kernel::{
    current,
    gpu::buddy::{
        AllocatedBlocks,
        GpuBuddyAllocFlag,
        GpuBuddyAllocFlags,
        GpuBuddyAllocMode, //
    },
    prelude::*,
    sizes::SZ_1M,
    sync::Arc,
    task::cond_resched, //
};

/// How many bytes are cleared between two checks for rescheduling, fatal signals and
/// withdrawal: a multi-GiB allocation neither stalls the CPU nor holds up unbind for longer
/// than one step.
const CLEAR_STEP: usize = SZ_1M;

/// The blocks of one buffer.
///
/// # Invariants
///
/// `blocks` are blocks of `region`'s allocator covering at least `size` bytes, laid out as
/// `ranges`, zero-filled when the allocation was made; the ledger of `region` holds a record
/// `id` of them until the allocation is dropped.
pub(crate) struct Allocation {
    region: Arc<Region>,
    _blocks: Pin<KBox<AllocatedBlocks>>,
    ranges: Arc<Ranges>,
    size: usize,
    id: u64,
}

impl Allocation {
    /// Allocates `len` bytes (rounded up to the page size) of `region` laid out as `placement`,
    /// and zero-fills them.
    ///
    /// Returns [`EINVAL`] for a length of zero or larger than the region, [`ENODEV`] if the
    /// region is withdrawn (also while clearing), [`ENOMEM`] if the region cannot hold the
    /// buffer now (for a contiguous buffer: no free range is large enough), and [`EINTR`] if the
    /// task is killed while clearing.
    pub(crate) fn new(region: &Arc<Region>, len: usize, placement: Placement) -> Result<Self> {
        let buddy = region.buddy();
        let chunk = buddy.chunk_size();
        let len = kernel::page::page_align(len).ok_or(EINVAL)?;
        if len == 0 || len as u64 > region.size() {
            return Err(EINVAL);
        }
        let alloc_len = len
            .checked_next_multiple_of(chunk.as_usize())
            .ok_or(EINVAL)?;
        drop(region.enter()?);

        let flags = match placement {
            Placement::Scattered => GpuBuddyAllocFlags::default(),
            Placement::Contiguous => GpuBuddyAllocFlags::from(GpuBuddyAllocFlag::Contiguous),
        };
        let blocks = KBox::pin_init(
            buddy.alloc_blocks(GpuBuddyAllocMode::Simple, alloc_len as u64, chunk, flags),
            GFP_KERNEL,
        )
        .map_err(|e| if e == ENOSPC { ENOMEM } else { e })?;
        let ranges = Arc::new(Ranges::of_blocks(&blocks)?, GFP_KERNEL)?;

        // Every buffer handed out is zero-filled: no byte of a previous owner is ever visible.
        clear(region, &ranges)?;

        let id = region.lock_ledger().enter(len, placement, ranges.clone())?;
        // INVARIANT: The blocks were cleared above and are now in the ledger as `id`.
        Ok(Self {
            region: region.clone(),
            _blocks: blocks,
            ranges,
            size: len,
            id,
        })
    }

    /// Returns the region the allocation is from.
    pub(crate) fn region(&self) -> &Arc<Region> {
        &self.region
    }

    /// Returns the size of the buffer in bytes (a multiple of the page size, at most the size
    /// of the blocks).
    pub(crate) fn size(&self) -> usize {
        self.size
    }

    /// Returns the ranges of the region the allocation occupies, in buffer order.
    pub(crate) fn ranges(&self) -> &Ranges {
        &self.ranges
    }

    /// Returns the allocation's key in the region's ledger.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// Returns the offset in the region of byte `offset` of the buffer, and how many bytes
    /// of the buffer from there on are contiguous in the region.
    pub(crate) fn locate(&self, offset: usize) -> Option<(usize, usize)> {
        self.ranges.locate(self.size, offset)
    }
}

impl Drop for Allocation {
    fn drop(&mut self) {
        // The blocks go back to the allocator when `_blocks` drops, right after this.
        self.region.lock_ledger().leave(self.id);
    }
}

/// Zero-fills `ranges` of `region`, one bounded step at a time, entering the region for each.
fn clear(region: &Region, ranges: &Ranges) -> Result {
    for &(offset, len) in ranges.as_slice() {
        let mut done = 0;
        while done < len {
            let step = (len - done).min(CLEAR_STEP);
            let guard = region.enter()?;
            guard
                .memory()
                .fill(guard.device(), offset + done, step, 0)?;
            drop(guard);
            done += step;
            if current!().fatal_signal_pending() {
                return Err(EINTR);
            }
            cond_resched();
        }
    }
    Ok(())
}
