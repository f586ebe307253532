// SPDX-License-Identifier: GPL-2.0

//! Per-CPU caches of cleared chunks: the smallest buffers, the most frequent, are allocated
//! without the allocator's lock.
//!
//! Each CPU has a cache of a region's chunk-sized blocks that came out of the allocator
//! cleared, as the page allocator has its per-CPU lists. A buffer of one chunk takes its block
//! from its CPU's cache; an empty cache is refilled with up to [`REFILL`] cleared chunks under
//! one hold of the allocator's lock. Chunks that come out dirty go back at once, so every cached
//! block is zero-filled and says so ([`AllocatedBlock::is_clear`]): the allocation path clears
//! nothing of it. Freed buffers give their blocks back to the allocator as any other.
//!
//! The allocator counts a cached block as allocated. So that nothing outside sees the
//! difference, the region drains the caches back into the allocator, cleared, before it reads
//! its figures and before an allocation that found the region full tries again (see
//! [`crate::region`] and [`crate::buffer`]). A task that migrates between picking its CPU's
//! cache and locking it uses another CPU's cache: slower, not wrong.
//!
//! [`AllocatedBlock::is_clear`]: kernel::gpu::buddy::AllocatedBlock::is_clear

use pin_init::{
    stack_pin_init,
    stack_try_pin_init, //
};

use kernel::{
    cpu::{
        nr_cpu_ids,
        CpuId, //
    },
    gpu::buddy::{
        AllocatedBlocks,
        GpuBuddy,
        GpuBuddyAllocFlag, //
    },
    new_spinlock,
    prelude::*,
    sync::SpinLock, //
};

/// How many chunks a refill asks the allocator for. Every allocation that refills waits for
/// them all: a few keep that wait short, and most allocations still take no allocator lock.
const REFILL: usize = 4;

/// The per-CPU caches of one region's allocator.
///
/// # Invariants
///
/// Every block of each list is a chunk of the allocator the cache was made for, allocated
/// cleared and not written since. Each list is marked cleared, so that its blocks go back as
/// such.
pub(crate) struct ChunkCache {
    cpus: KVec<Pin<KBox<SpinLock<AllocatedBlocks>>>>,
}

impl ChunkCache {
    /// Makes an empty cache for each possible CPU, for the blocks of `buddy`.
    pub(crate) fn new(buddy: &GpuBuddy) -> Result<Self> {
        let count = usize::try_from(nr_cpu_ids())?;
        let mut cpus = KVec::with_capacity(count, GFP_KERNEL)?;
        for _ in 0..count {
            let clean = buddy.no_blocks().pin_chain(|clean| {
                clean.mark_cleared();
                Ok(())
            });
            cpus.push(
                KBox::pin_init(new_spinlock!(clean, "ChunkCache::cpus"), GFP_KERNEL)?,
                GFP_KERNEL,
            )?;
        }
        // INVARIANT: The lists are empty, and marked cleared.
        Ok(Self { cpus })
    }

    /// Moves a cleared chunk of `buddy`, the allocator the cache was made for, into the list
    /// `into`, refilling this CPU's cache first if it is empty.
    ///
    /// Returns whether it did: not if the allocator has no cleared chunk left (or, which
    /// cannot happen, the CPU has no cache).
    pub(crate) fn take(
        &self,
        buddy: &GpuBuddy,
        mut into: Pin<&mut AllocatedBlocks>,
    ) -> Result<bool> {
        // CAST: A CPU number fits a `usize`. Every CPU has a cache: `nr_cpu_ids` bounds CPU
        // numbers. Looked up with `get()`, which cannot panic, as indexing and `%` could.
        let Some(local) = self.cpus.get(CpuId::current().as_u32() as usize) else {
            return Ok(false);
        };
        if local.lock().as_mut().move_first(into.as_mut())? {
            return Ok(true);
        }
        // Refilled outside the cache's lock: the allocator's is a mutex.
        stack_pin_init!(let clean = buddy.no_blocks());
        stack_pin_init!(let dirty = buddy.no_blocks());
        let refill = buddy.alloc_chunks(REFILL, GpuBuddyAllocFlag::Clear);
        stack_try_pin_init!(let fresh: AllocatedBlocks = refill);
        let mut fresh = match fresh {
            Ok(fresh) => fresh,
            Err(e) if e == ENOSPC => return Ok(false),
            Err(e) => return Err(e),
        };
        loop {
            let Some(is_clear) = fresh.iter().next().map(|block| block.is_clear()) else {
                break;
            };
            let to = if is_clear {
                clean.as_mut()
            } else {
                dirty.as_mut()
            };
            fresh.as_mut().move_first(to)?;
        }
        // Those that came out dirty go back as they are when `dirty` is dropped; the first
        // cleared one goes to `into`, the rest to the cache.
        if !clean.as_mut().move_first(into)? {
            return Ok(false);
        }
        // INVARIANT: `clean` holds only chunks that came out cleared.
        local.lock().as_mut().append(clean)?;
        Ok(true)
    }

    /// Gives every cached block back to `buddy`, the allocator the cache was made for,
    /// cleared.
    pub(crate) fn drain(&self, buddy: &GpuBuddy) -> Result {
        for cpu in self.cpus.iter() {
            stack_pin_init!(let clean = buddy.no_blocks());
            clean.as_mut().mark_cleared();
            clean.as_mut().append(cpu.lock().as_mut())?;
            // Freed here, outside the cache's lock, as `clean` is dropped.
        }
        Ok(())
    }
}
