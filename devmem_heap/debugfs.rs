// SPDX-License-Identifier: GPL-2.0

//! `/sys/kernel/debug/devmem_heap/<region>/`: a region's state.
//!
//! - `stats`: name, device, BAR and physical base, size, used, free, largest free block, live
//!   buffers, and allocation, free, failure and refused-mapping counters, one `key: value` per
//!   line;
//! - `buffers`: one line per live buffer: inode number of its file (as `fstat()` shows it),
//!   size, placement, then the `offset+length` ranges of the region it occupies, in buffer
//!   order.

use crate::region::Region;
use kernel::{
    debugfs::ScopedDir,
    sync::Arc, //
};

/// Fills the debugfs directory of `region`.
pub(crate) fn populate<'data, 'dir>(region: &'data Arc<Region>, dir: &'dir ScopedDir<'data, 'dir>) {
    dir.read_callback_file(c"stats", region, &|r: &Arc<Region>, f| r.fmt_stats(f));
    dir.read_callback_file(c"buffers", region, &|r: &Arc<Region>, f| r.fmt_buffers(f));
}
