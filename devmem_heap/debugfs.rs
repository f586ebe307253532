// SPDX-License-Identifier: GPL-2.0

//! `/sys/kernel/debug/devmem_heap/<region>/`: the state of a region.
//!
//! - `stats`: name, device, BAR and physical base, whether the region is live, its name in the
//!   dmem cgroup controller, caching, chunk size, size, used, free, free and cleared already
//!   (see [`crate::clearing`]), largest free block, live buffers, and allocation, free, failure
//!   and refused-mapping counters, one `key: value` per line;
//! - `buffers`: one line per live buffer: inode number of its file (as `fstat()` shows it),
//!   size, placement, then the `offset+length` ranges of the region it occupies, in buffer
//!   order.

use crate::region::Region;
use core::fmt;
use kernel::{
    debugfs::ScopedDir,
    sync::Arc, //
};

/// Fills the debugfs directory of `region`.
pub(crate) fn populate<'data, 'dir>(region: &'data Arc<Region>, dir: &'dir ScopedDir<'data, 'dir>) {
    dir.read_callback_file(c"stats", region, &|r: &Arc<Region>, f| stats(r, f));
    dir.read_callback_file(c"buffers", region, &|r: &Arc<Region>, f| buffers(r, f));
}

fn stats(region: &Region, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let size = region.size();
    let free = region.free_bytes();
    writeln!(f, "name: {}", region.name().to_str().unwrap_or("?"))?;
    writeln!(
        f,
        "device: {}",
        region.device().name().to_str().unwrap_or("?")
    )?;
    if let Some(bar) = region.bar() {
        writeln!(f, "bar: {bar}")?;
    }
    if let Some(phys) = region.phys_base() {
        writeln!(f, "phys: {phys:#x}")?;
    }
    writeln!(f, "live: {}", region.is_live())?;
    writeln!(f, "dmem: {}", region.dmem_name().to_str().unwrap_or("?"))?;
    writeln!(f, "caching: {:?}", region.caching())?;
    writeln!(f, "chunk_size: {}", region.buddy().chunk_size().as_usize())?;
    writeln!(f, "size: {size}")?;
    writeln!(f, "used: {}", size - free)?;
    writeln!(f, "free: {free}")?;
    writeln!(f, "cleared: {}", region.cleared_bytes())?;
    writeln!(f, "largest_free_block: {}", region.largest_free_block())?;
    let ledger = region.lock_ledger();
    writeln!(f, "live_buffers: {}", ledger.len())?;
    writeln!(f, "allocs: {}", ledger.allocs)?;
    writeln!(f, "frees: {}", ledger.frees)?;
    writeln!(f, "failures: {}", ledger.failures)?;
    writeln!(f, "refused_maps: {}", ledger.refused_maps)
}

fn buffers(region: &Region, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    for record in region.lock_ledger().buffers() {
        write!(
            f,
            "{} {} {}",
            record.ino,
            record.size,
            record.placement.as_str()
        )?;
        for &(offset, len) in record.ranges().as_slice() {
            write!(f, " {offset:#x}+{len:#x}")?;
        }
        writeln!(f)?;
    }
    Ok(())
}
