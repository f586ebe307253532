// SPDX-License-Identifier: GPL-2.0

//! Allocations: blocks of a region, cleared, and counted live in the region for as long as they
//! exist.
//!
//! An [`Allocation`] owns its blocks: dropping it gives them back to the allocator, dirty, for
//! the scrubber to clear (see [`crate::clearing`]), and then counts it freed. The buffer
//! exported for it holds it inline, so it goes with the buffer's data (see [`crate::buffer`]).
//! Allocations of one chunk take their block from the CPU's cache of cleared chunks (see
//! [`crate::chunk_cache`]).

use crate::{
    clearing::clear_dirty,
    layout::{
        Placement,
        Ranges,
        Run, //
    },
    region::{
        Region,
        RegionGuard, //
    },
};
use pin_init::stack_try_pin_init;

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
/// `ranges`, zero-filled when the allocation was made.
#[pin_data]
pub(crate) struct Allocation {
    #[pin]
    blocks: AllocatedBlocks,
    ranges: Ranges,
    size: usize,
    placement: Placement,
    // Fields drop in the order they are declared: the blocks are free when these go.
    /// The blocks charged to the allocating task's dmem cgroup.
    _charge: dmem::Charge,
    region: LiveIn,
}

/// The region an allocation is from, which counts it live while this exists. Dropped after the
/// allocation's blocks, which then are free and dirty, it counts the allocation freed and asks
/// the region's scrubber to look for dirty memory.
struct LiveIn(Arc<Region>);

impl LiveIn {
    fn new(region: &Arc<Region>) -> Self {
        region.counters().allocated();
        Self(region.clone())
    }
}

impl Drop for LiveIn {
    fn drop(&mut self) {
        self.0.counters().freed();
        self.0.scrub_soon();
    }
}

/// Allocates `len` bytes (a multiple of the chunk size) of `region` into the empty list
/// `blocks`, laid out as `placement`, zero-fills them, and returns the ranges they occupy.
fn fill(
    region: &Arc<Region>,
    mut blocks: Pin<&mut AllocatedBlocks>,
    len: usize,
    placement: Placement,
) -> Result<Ranges> {
    let buddy = region.buddy();
    let chunk = buddy.chunk_size();
    // One chunk is contiguous, whatever the placement: the CPU's cache serves both heaps.
    if len != chunk.as_usize() || !region.chunks().take(buddy, blocks.as_mut())? {
        // Cleared blocks first: only those that come out dirty are cleared here.
        let flags = match placement {
            Placement::Scattered => GpuBuddyAllocFlags::from(GpuBuddyAllocFlag::Clear),
            Placement::Contiguous => GpuBuddyAllocFlag::Clear | GpuBuddyAllocFlag::Contiguous,
        };
        // CAST: A byte count of the region fits a `u64`.
        stack_try_pin_init!(let allocated: AllocatedBlocks =? buddy.alloc_blocks(
            GpuBuddyAllocMode::Simple,
            len as u64,
            chunk,
            flags
        ));
        blocks.as_mut().append(allocated)?;
    }
    // Every buffer handed out is zero-filled: no byte of a previous owner is ever visible.
    // Dirty blocks here mean dirty free memory, perhaps of blocks merged in the allocator since
    // the scrubber last looked: have it look again.
    if clear_dirty(region, &blocks)? > 0 {
        region.scrub_soon();
    }
    Ranges::of_blocks(&blocks)
}

impl Allocation {
    /// Returns the size of a buffer of `len` bytes of `region`: `len` rounded up to the page
    /// size.
    ///
    /// Returns [`EINVAL`] for a length of zero or larger than the region.
    pub(crate) fn size_for(region: &Region, len: usize) -> Result<usize> {
        let size = kernel::page::page_align(len).ok_or(EINVAL)?;
        if size == 0 || size as u64 > region.size() {
            return Err(EINVAL);
        }
        Ok(size)
    }

    /// Returns an initialiser that allocates `size` bytes (a size from
    /// [`Allocation::size_for`]) of `region`, entered as `guard`, laid out as `placement`, and
    /// zero-fills them. A buffer of one chunk takes it from the CPU's cache of cleared chunks
    /// while the allocator has cleared chunks to refill it with.
    ///
    /// The initialiser fails with [`ENOSPC`] if the region has no free memory for the buffer
    /// now (for a contiguous buffer: no free range is large enough), [`ENOMEM`] if the blocks
    /// would take the task's dmem cgroup over its limit, [`EINTR`] if the task is killed while
    /// clearing, and [`ENODEV`] if the region is withdrawn meanwhile.
    pub(crate) fn new<'a>(
        guard: &'a RegionGuard<'_>,
        region: &'a Arc<Region>,
        size: usize,
        placement: Placement,
    ) -> Result<impl PinInit<Self, Error> + 'a> {
        let buddy = region.buddy();
        let chunk = buddy.chunk_size();
        let alloc_len = size
            .checked_next_multiple_of(chunk.as_usize())
            .ok_or(EINVAL)?;
        Ok(try_pin_init!(Self {
            // Charged first: a cgroup over its limit does not take blocks from others.
            _charge: guard.charge(alloc_len)?,
            blocks <- buddy.no_blocks(),
            ranges: fill(region, blocks, alloc_len, placement)?,
            size,
            placement,
            region: LiveIn::new(region),
        }? Error))
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

    /// Returns where byte `offset` of the buffer lies in the region, or `None` past its end.
    pub(crate) fn locate(&self, offset: usize) -> Option<Run> {
        self.ranges.locate(self.size, offset)
    }
}
