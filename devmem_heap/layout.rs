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
/// Most buffers occupy one range, which takes no allocation of its own.
///
/// # Invariants
///
/// The ranges are non-empty, page aligned, do not overlap, and no two neighbours touch. In
/// `Many`, there are at least two, and `ends[i]` is the sum of the lengths of `ranges[..=i]`:
/// the buffer offset range `i` ends at.
pub(crate) enum Ranges {
    /// A single range.
    One([(usize, usize); 1]),
    /// Several ranges, and where in the buffer each ends.
    Many {
        ranges: KVec<(usize, usize)>,
        ends: KVec<usize>,
    },
}

/// Where a byte of a buffer lies: the contiguous run of the region around it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct Run {
    /// The byte's offset in the region.
    pub(crate) at: usize,
    /// How many bytes before it, in the buffer, are contiguous with it in the region.
    pub(crate) before: usize,
    /// How many bytes from it on (itself included), up to the end of the buffer, are.
    pub(crate) after: usize,
}

impl Ranges {
    /// Returns the ranges (offset in the region, length) of `blocks`, in the order the buffer
    /// uses them.
    pub(crate) fn of_blocks(blocks: &AllocatedBlocks) -> Result<Self> {
        // Made only for a second range: even dropping an empty vector calls the allocator.
        let mut ranges: Option<KVec<(usize, usize)>> = None;
        let mut last: Option<(usize, usize)> = None;
        for block in blocks.iter() {
            // CAST: Blocks lie inside the region, whose size is a `usize`.
            let (offset, size) = (block.offset() as usize, block.size() as usize);
            match &mut last {
                Some(range) if range.0 + range.1 == offset => range.1 += size,
                Some(range) => {
                    ranges
                        .get_or_insert_with(KVec::new)
                        .push(*range, GFP_KERNEL)?;
                    *range = (offset, size);
                }
                None => last = Some((offset, size)),
            }
        }
        let last = last.ok_or(EINVAL)?;
        let Some(mut ranges) = ranges else {
            // INVARIANT: One buddy block, or several touching ones merged: page aligned and
            // non-empty.
            return Ok(Self::One([last]));
        };
        ranges.push(last, GFP_KERNEL)?;
        let mut ends = KVec::with_capacity(ranges.len(), GFP_KERNEL)?;
        let mut end = 0;
        for &(_, len) in ranges.iter() {
            end += len;
            ends.push(end, GFP_KERNEL)?;
        }
        // INVARIANT: Buddy blocks are page aligned, disjoint and non-empty; touching neighbours
        // were merged above, and `ends` sums their lengths.
        Ok(Self::Many { ranges, ends })
    }

    /// Returns the ranges as (offset in the region, length) pairs.
    pub(crate) fn as_slice(&self) -> &[(usize, usize)] {
        match self {
            Self::One(range) => range,
            Self::Many { ranges, .. } => ranges,
        }
    }

    /// Returns where byte `offset` of a buffer of `size` bytes laid out in these ranges lies,
    /// or `None` past the end of the buffer. Takes O(log n) for n ranges.
    pub(crate) fn locate(&self, size: usize, offset: usize) -> Option<Run> {
        if offset >= size {
            return None;
        }
        let (region_offset, len, start) = match self {
            Self::One([(region_offset, len)]) => (*region_offset, *len, 0),
            Self::Many { ranges, ends } => {
                let i = ends.partition_point(|&end| end <= offset);
                let &(region_offset, len) = ranges.get(i)?;
                (region_offset, len, ends[i] - len)
            }
        };
        let before = offset - start;
        if before >= len {
            return None;
        }
        Some(Run {
            at: region_offset + before,
            before,
            after: (len - before).min(size - offset),
        })
    }
}
