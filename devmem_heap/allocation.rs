// SPDX-License-Identifier: GPL-2.0

//! Allocations: blocks of a region, cleared, and in its ledger from export for as long as they
//! live.
//!
//! An [`Allocation`] owns its blocks: dropping it takes it out of the region's ledger and gives
//! the blocks back to the allocator, dirty, for the scrubber to clear (see [`crate::clearing`]).
//! The buffer exported for it, and its user mappings, hold it; the buffer enters it in the
//! ledger once it is exported.

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
    cgroup::dmem,
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
/// `ranges`, zero-filled when the allocation was made. Once the buffer is exported, the ledger
/// of the region may hold a record `id` of it, which points to `ranges`: dropping the
/// allocation takes the record out first.
#[pin_data(PinnedDrop)]
pub(crate) struct Allocation {
    #[pin]
    blocks: AllocatedBlocks,
    ranges: Ranges,
    size: usize,
    placement: Placement,
    id: u64,
    // Fields drop in the order they are declared: the blocks are free when these go.
    /// The blocks charged to the allocating task's dmem cgroup.
    _charge: dmem::Charge,
    region: FreedTo,
}

/// The region an allocation is from, whose scrubber is asked to look for dirty memory when
/// this is dropped: after the allocation's blocks, which then are free and dirty.
struct FreedTo(Arc<Region>);

impl Drop for FreedTo {
    fn drop(&mut self) {
        self.0.scrub_soon();
    }
}

impl Allocation {
    /// Allocates `len` bytes (rounded up to the page size) of `region` laid out as `placement`,
    /// and zero-fills them.
    ///
    /// Returns [`EINVAL`] for a length of zero or larger than the region, [`ENODEV`] if the
    /// region is withdrawn, [`ENOMEM`] if the region cannot hold the buffer now (for a
    /// contiguous buffer: no free range is large enough) or the blocks would take the task's
    /// dmem cgroup over its limit, and [`EINTR`] if the task is killed while clearing.
    pub(crate) fn new(region: &Arc<Region>, len: usize, placement: Placement) -> Result<Arc<Self>> {
        let buddy = region.buddy();
        let chunk = buddy.chunk_size();
        let len = kernel::page::page_align(len).ok_or(EINVAL)?;
        if len == 0 || len as u64 > region.size() {
            return Err(EINVAL);
        }
        let alloc_len = len
            .checked_next_multiple_of(chunk.as_usize())
            .ok_or(EINVAL)?;
        let id = region.new_buffer_id();

        // Cleared blocks first: only those that come out dirty are cleared here.
        let flags = match placement {
            Placement::Scattered => GpuBuddyAllocFlags::from(GpuBuddyAllocFlag::Clear),
            Placement::Contiguous => GpuBuddyAllocFlag::Clear | GpuBuddyAllocFlag::Contiguous,
        };
        let new = || {
            Arc::pin_init(
                try_pin_init!(Self {
                    // Charged first: a cgroup over its limit does not take blocks from others.
                    _charge: region.enter()?.charge(alloc_len)?,
                    blocks <- buddy.alloc_blocks(
                        GpuBuddyAllocMode::Simple,
                        alloc_len as u64,
                        chunk,
                        flags,
                    ),
                    ranges: Ranges::of_blocks(&blocks)?,
                    size: len,
                    placement,
                    id,
                    // Every buffer handed out is zero-filled: no byte of a previous owner is
                    // ever visible. Dirty blocks here mean dirty free memory, perhaps of blocks
                    // merged in the allocator since the scrubber last looked: have it look
                    // again.
                    _: {
                        if clear_dirty(region, &blocks)? > 0 {
                            region.scrub_soon();
                        }
                    },
                    region: FreedTo(region.clone()),
                }? Error),
                GFP_KERNEL,
            )
        };
        match new() {
            // The scrubber may hold the block that is missing: wait for it, and keep it away.
            Err(e) if e == ENOSPC => {
                let _scrubbing = region.lock_scrubbing();
                new()
            }
            result => result,
        }
        .map_err(|e| if e == ENOSPC { ENOMEM } else { e })
    }

    /// Returns the region the allocation is from.
    pub(crate) fn region(&self) -> &Arc<Region> {
        &self.region.0
    }

    /// Returns the size of the buffer in bytes (a multiple of the page size, at most the size
    /// of the blocks).
    pub(crate) fn size(&self) -> usize {
        self.size
    }

    /// Returns how the buffer is laid out.
    pub(crate) fn placement(&self) -> Placement {
        self.placement
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

#[pinned_drop]
impl PinnedDrop for Allocation {
    fn drop(self: Pin<&mut Self>) {
        // Out of the ledger before `ranges`, which its record points to, go; the blocks go
        // back to the allocator dirty right after, and then the scrubber is asked to look.
        self.region().lock_ledger().leave(self.id);
    }
}
