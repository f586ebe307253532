// SPDX-License-Identifier: GPL-2.0

//! `/sys/kernel/debug/devmem_heap/<region>/`: the state of a region.
//!
//! - `stats`: name, device, BAR and physical base, whether the region is live, its name in the
//!   dmem cgroup controller, caching, chunk size, size, used, free, free and cleared already
//!   (see [`crate::clearing`]), largest free block, live buffers, and allocation, free, failure
//!   and refused-mapping counters, one `key: value` per line;
//! - `buffers`: one line per buffer whose file is open, newest first: inode number of its file
//!   (as `fstat()` shows it), size, placement, then the `offset+length` ranges of the region it
//!   occupies, in buffer order.

use crate::{
    buffer::Buffer,
    region::Region, //
};
use core::fmt;
use kernel::{
    debugfs::ScopedDir,
    dma_buf::Exported,
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
    let counters = region.counters();
    writeln!(f, "live_buffers: {}", counters.live())?;
    writeln!(f, "allocs: {}", counters.allocs())?;
    writeln!(f, "frees: {}", counters.frees())?;
    writeln!(f, "failures: {}", counters.failures())?;
    writeln!(f, "refused_maps: {}", counters.refused_maps())
}

fn buffers(region: &Region, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let mut result = Ok(());
    region.for_each_buffer(|buf| {
        if result.is_ok() {
            result = write_buffer(buf, f);
        }
    });
    result
}

fn write_buffer(buf: &Exported<Buffer>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let allocation = buf.data().get_ref().allocation();
    write!(
        f,
        "{} {} {}",
        buf.ino(),
        allocation.size(),
        allocation.placement().as_str()
    )?;
    for &(offset, len) in allocation.ranges().as_slice() {
        write!(f, " {offset:#x}+{len:#x}")?;
    }
    writeln!(f)
}
