// SPDX-License-Identifier: GPL-2.0

//! Where a buffer lies in its region: its placement and the byte ranges it occupies.

use kernel::{
    gpu::buddy::AllocatedBlocks,
    prelude::*, //
};

/// How a buffer's memory may be laid out. Each placement is one heap of a region.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Placement {
    /// Any number of blocks, anywhere in the region: the heap `<name>`.
    Scattered,
    /// One block, contiguous in the device's address space: the heap `<name>-contiguous`.
    Contiguous,
}

impl Placement {
    /// Returns the word debugfs shows for the placement.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Scattered => "scattered",
            Self::Contiguous => "contiguous",
        }
    }
}

/// The byte ranges of a region that a buffer occupies, in buffer order, adjacent blocks merged.
///
/// # Invariants
///
/// The ranges are non-empty, page aligned, do not overlap, and no two neighbours touch.
pub(crate) struct Ranges(KVec<(usize, usize)>);

impl Ranges {
    /// Returns the ranges (offset in the region, length) of `blocks`, in the order the buffer
    /// uses them.
    pub(crate) fn of_blocks(blocks: &AllocatedBlocks) -> Result<Self> {
        let mut ranges: KVec<(usize, usize)> = KVec::new();
        for block in blocks.iter() {
            // CAST: Blocks lie inside the region, whose size is a `usize`.
            let (offset, size) = (block.offset() as usize, block.size() as usize);
            if let Some(last) = ranges.last_mut() {
                if last.0 + last.1 == offset {
                    last.1 += size;
                    continue;
                }
            }
            ranges.push((offset, size), GFP_KERNEL)?;
        }
        // INVARIANT: Buddy blocks are page aligned, disjoint and non-empty; touching neighbours
        // were merged above.
        Ok(Self(ranges))
    }

    /// Returns the ranges as (offset in the region, length) pairs.
    pub(crate) fn as_slice(&self) -> &[(usize, usize)] {
        &self.0
    }

    /// Returns the offset in the region of byte `offset` of a buffer of `size` bytes laid out
    /// in these ranges, and how many bytes from there on are contiguous in the region.
    pub(crate) fn locate(&self, size: usize, offset: usize) -> Option<(usize, usize)> {
        if offset >= size {
            return None;
        }
        let mut start = 0usize;
        for &(region_offset, len) in self.0.iter() {
            if offset < start + len {
                let within = offset - start;
                return Some((region_offset + within, (len - within).min(size - offset)));
            }
            start += len;
        }
        None
    }
}
