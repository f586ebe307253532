// SPDX-License-Identifier: GPL-2.0

//! Clearing: no byte of a buffer's previous owner is ever readable by the next, and as little
//! clearing as possible happens while an allocation waits.
//!
//! Freed blocks go back to the region's allocator dirty. A worker, the scrubber, clears dirty
//! free memory in the background: it takes one dirty block at a time from the allocator (which
//! hands out dirty blocks first when not asked for cleared ones), zero-fills it and frees it
//! marked cleared. It starts shortly after a buffer is freed. Allocations ask for cleared blocks
//! first ([`GpuBuddyAllocFlag::Clear`]) and zero-fill only those that come out dirty
//! ([`clear_dirty`]); those of one chunk take one from their CPU's cache of cleared chunks while
//! it has any ([`crate::chunk_cache`]). The memory of a new region counts as dirty: the scrubber
//! starts on it as soon as the region is registered.
//!
//! The scrubber holds a block only under `Region::scrubbing`. An allocation the region cannot
//! satisfy takes that lock and tries again: memory being scrubbed never makes an allocation
//! fail. The scrubber yields between blocks and stops when the region is withdrawn.
//!
//! [`GpuBuddyAllocFlag::Clear`]: kernel::gpu::buddy::GpuBuddyAllocFlag::Clear

use crate::region::Region;
use kernel::{
    current,
    gpu::buddy::{
        AllocatedBlocks,
        GpuBuddyAllocFlags,
        GpuBuddyAllocMode, //
    },
    prelude::*,
    ptr::Alignment,
    sizes::{
        SZ_1M,
        SZ_2M, //
    },
    sync::{
        atomic::Relaxed,
        Arc, //
    },
    task::cond_resched,
    time::msecs_to_jiffies,
    workqueue::{
        self,
        WorkItem, //
    },
};

/// How many bytes are cleared between two checks for rescheduling, fatal signals and
/// withdrawal: a multi-GiB allocation neither stalls the CPU nor holds up unbind for longer
/// than one step.
const CLEAR_STEP: usize = SZ_1M;

/// The largest block the scrubber takes at once: an allocation that waits for it waits for at
/// most this much clearing.
const SCRUB_BLOCK: usize = SZ_2M;

/// How long the scrubber waits after it is first asked to look: blocks freed together (say,
/// by a process that exits) merge in the allocator meanwhile and are cleared in fewer, larger
/// steps, and a burst of frees does not wake it once per buffer.
const SCRUB_DELAY_MS: u32 = 10;

/// Zero-fills the `len` bytes at `offset` of `region`, one bounded step at a time, entering the
/// region for each.
///
/// Returns [`ENODEV`] if the region is withdrawn and [`EINTR`] if the task is killed.
fn clear(region: &Region, offset: usize, len: usize) -> Result {
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
    Ok(())
}

/// Zero-fills the blocks of `blocks`, allocated from `region`, that did not come out cleared.
/// Returns how many bytes it cleared, or the error of [`clear`].
pub(crate) fn clear_dirty(region: &Region, blocks: &AllocatedBlocks) -> Result<usize> {
    let mut cleared = 0;
    for block in blocks.iter().filter(|block| !block.is_clear()) {
        // CAST: Blocks lie inside the region, whose size is a `usize`.
        let (offset, size) = (block.offset() as usize, block.size() as usize);
        clear(region, offset, size)?;
        cleared += size;
    }
    Ok(cleared)
}

impl Region {
    /// Has the scrubber look for dirty free memory of the region soon, unless the region is
    /// withdrawn.
    pub(crate) fn scrub_soon(self: &Arc<Self>) {
        // Most frees find the scrubber queued: they only read the flag, and leave the cache line
        // shared between the CPUs that allocate.
        if !self.is_live()
            || self.scrub_queued.load(Relaxed)
            || self.scrub_queued.xchg(true, Relaxed)
        {
            return;
        }
        // An error means the scrubber is queued already: this reference is not needed.
        let _ = workqueue::system_dfl_long()
            .enqueue_delayed(self.clone(), msecs_to_jiffies(SCRUB_DELAY_MS));
    }

    /// Takes one dirty free block of `size` bytes, clears it and frees it marked cleared.
    ///
    /// Returns whether there was one, or the error of [`clear`].
    fn scrub_one(&self, size: usize) -> Result<bool> {
        let align = Alignment::new_checked(size).ok_or(EINVAL)?;
        let _scrubbing = self.lock_scrubbing();
        let blocks = KBox::pin_init(
            self.buddy().alloc_blocks(
                GpuBuddyAllocMode::Simple,
                size as u64,
                align,
                GpuBuddyAllocFlags::default(),
            ),
            GFP_KERNEL,
        );
        let mut blocks = match blocks {
            Ok(blocks) => blocks,
            Err(e) if e == ENOSPC => return Ok(false),
            Err(e) => return Err(e),
        };
        // Cleared blocks come out only once no dirty one of this size is left. If clearing
        // fails, the blocks go back dirty.
        let cleared = clear_dirty(self, &blocks)?;
        blocks.as_mut().mark_cleared();
        Ok(cleared > 0)
    }
}

impl WorkItem for Region {
    type Pointer = Arc<Region>;

    /// Scrubs the dirty free memory there is when it starts, largest blocks first. What is
    /// freed meanwhile is the next run's.
    fn run(region: Arc<Region>) {
        // Before looking for dirty memory: what is freed from now on queues the scrubber again.
        // The blocks are freed under the allocator's lock, which the look below takes after this
        // store: either it sees them, or their free sees this store.
        region.scrub_queued.store(false, Relaxed);
        let chunk = region.buddy().chunk_size().as_usize();
        let mut size = SCRUB_BLOCK.max(chunk);
        // What is dirty now, counted down as blocks are cleared. Buffers freed meanwhile have
        // queued the scrubber again: their chunks merge for SCRUB_DELAY_MS and are cleared in
        // the next run, in larger blocks than if this run chased each one as it is freed.
        let mut dirty = region.dirty_bytes();
        while size >= chunk {
            if dirty < chunk {
                return;
            }
            // No block is larger than all the dirty free memory.
            while size > dirty {
                size /= 2;
            }
            match region.scrub_one(size) {
                Ok(true) => {
                    dirty = dirty.saturating_sub(size);
                    cond_resched();
                }
                Ok(false) => size /= 2,
                // Withdrawn: what is left goes with the region.
                Err(_) => return,
            }
        }
    }
}
