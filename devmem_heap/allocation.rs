// SPDX-License-Identifier: GPL-2.0

//! Allocations: blocks of a region, cleared, and entered in its ledger for as long as they live.
//!
//! An [`Allocation`] owns its blocks: dropping it takes it out of the region's ledger and gives
//! the blocks back to the allocator, dirty, for the scrubber to clear (see [`crate::clearing`]).
//! The buffer exported for it, and its user mappings, hold it.

use crate::{
    clearing::clear_dirty,
    layout::{
        Placement,
        Ranges,
        Run, //
    },
    region::Region, //
};
use kernel::{
    gpu::buddy::{
        AllocatedBlocks,
        GpuBuddyAllocFlag,
        GpuBuddyAllocFlags,
        GpuBuddyAllocMode, //
    },
    prelude::*,
    sync::Arc, //
};

/// The blocks of one buffer.
///
/// # Invariants
///
/// `blocks` are blocks of `region`'s allocator covering at least `size` bytes, laid out as
/// `ranges`, zero-filled when the allocation was made; the ledger of `region` holds a record
/// `id` of them until the allocation is dropped. `blocks` is `None` only while it is dropped.
pub(crate) struct Allocation {
    region: Arc<Region>,
    blocks: Option<Pin<KBox<AllocatedBlocks>>>,
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

        // Cleared blocks first: only those that come out dirty are cleared here.
        let flags = match placement {
            Placement::Scattered => GpuBuddyAllocFlags::from(GpuBuddyAllocFlag::Clear),
            Placement::Contiguous => GpuBuddyAllocFlag::Clear | GpuBuddyAllocFlag::Contiguous,
        };
        let alloc = || {
            KBox::pin_init(
                buddy.alloc_blocks(GpuBuddyAllocMode::Simple, alloc_len as u64, chunk, flags),
                GFP_KERNEL,
            )
        };
        let blocks = match alloc() {
            // The scrubber may hold the block that is missing: wait for it, and keep it away.
            Err(e) if e == ENOSPC => {
                let _scrubbing = region.lock_scrubbing();
                alloc()
            }
            result => result,
        }
        .map_err(|e| if e == ENOSPC { ENOMEM } else { e })?;
        let ranges = Arc::new(Ranges::of_blocks(&blocks)?, GFP_KERNEL)?;

        // Every buffer handed out is zero-filled: no byte of a previous owner is ever visible.
        // Dirty blocks here mean dirty free memory, perhaps of blocks merged in the allocator
        // since the scrubber last looked: have it look again.
        if clear_dirty(region, &blocks)? > 0 {
            region.scrub_soon();
        }

        let id = region.lock_ledger().enter(len, placement, ranges.clone())?;
        // INVARIANT: The blocks were cleared above and are now in the ledger as `id`.
        Ok(Self {
            region: region.clone(),
            blocks: Some(blocks),
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

    /// Returns where byte `offset` of the buffer lies in the region, or `None` past its end.
    pub(crate) fn locate(&self, offset: usize) -> Option<Run> {
        self.ranges.locate(self.size, offset)
    }
}

impl Drop for Allocation {
    fn drop(&mut self) {
        self.region.lock_ledger().leave(self.id);
        // Back to the allocator dirty; then the scrubber, which would not find them before.
        drop(self.blocks.take());
        self.region.scrub_soon();
    }
}
