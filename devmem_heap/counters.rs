// SPDX-License-Identifier: GPL-2.0

//! The counters of a region: its live allocations, and what became of allocations and DMA
//! mappings.
//!
//! Each is an atomic of its own, so allocation and release take no lock of the region to count,
//! and each touches one: every allocating CPU writes to these. Each count is exact but `live`,
//! which may include allocations made while it is read; two read one after the other may be of
//! different instants.
//!
//! The region keeps no list of its buffers: the dma-buf core keeps one of every buffer, which
//! debugfs and withdrawal walk (see `Region::for_each_buffer`).

use kernel::sync::atomic::{
    Acquire,
    Atomic,
    Relaxed,
    Release, //
};

/// What a region counts.
pub(crate) struct Counters {
    allocs: Atomic<u64>,
    frees: Atomic<u64>,
    failures: Atomic<u64>,
    refused_maps: Atomic<u64>,
}

impl Counters {
    /// All zero.
    pub(crate) fn new() -> Self {
        Self {
            allocs: Atomic::new(0),
            frees: Atomic::new(0),
            failures: Atomic::new(0),
            refused_maps: Atomic::new(0),
        }
    }

    /// Counts a new allocation, live until [`Counters::freed`].
    pub(crate) fn allocated(&self) {
        self.allocs.add(1, Relaxed);
    }

    /// Counts a freed allocation, counted by [`Counters::allocated`] before.
    pub(crate) fn freed(&self) {
        // Release: whoever reads this count sees the allocation counted too (see `live`).
        self.frees.fetch_add(1, Release);
    }

    /// Counts an allocation that failed for want of memory, or because the region was gone.
    pub(crate) fn failed(&self) {
        self.failures.add(1, Relaxed);
    }

    /// Counts a DMA mapping refused to an importer.
    pub(crate) fn refused_map(&self) {
        self.refused_maps.add(1, Relaxed);
    }

    /// Returns how many allocations were made.
    pub(crate) fn allocs(&self) -> u64 {
        self.allocs.load(Relaxed)
    }

    /// Returns how many allocations were freed.
    pub(crate) fn frees(&self) -> u64 {
        self.frees.load(Relaxed)
    }

    /// Returns how many allocations are live, or more if some are made meanwhile, never fewer.
    pub(crate) fn live(&self) -> u64 {
        // Frees first, with `Acquire`: each allocation counted freed is then seen counted made,
        // so the difference counts every live allocation, and those made meanwhile.
        let frees = self.frees.load(Acquire);
        self.allocs.load(Relaxed) - frees
    }

    /// Returns how many allocations failed.
    pub(crate) fn failures(&self) -> u64 {
        self.failures.load(Relaxed)
    }

    /// Returns how many DMA mappings were refused.
    pub(crate) fn refused_maps(&self) -> u64 {
        self.refused_maps.load(Relaxed)
    }
}
