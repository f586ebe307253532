// SPDX-License-Identifier: GPL-2.0

//! User mappings of buffers, filled in on demand.
//!
//! `mmap` maps nothing; each fault maps the one page it needs, after checking that the region
//! is still there. When the region is withdrawn, faults get `SIGBUS`; once its mappings are
//! zapped, nothing of the device's memory stays reachable from user space.

use crate::buffer::BufferInner;
use kernel::{
    mm::virt::fault::{
        FaultHandler,
        VmFault,
        VmFaultResult, //
    },
    page::PAGE_SIZE,
    sync::ArcBorrow,
};

impl FaultHandler for BufferInner {
    fn fault(this: ArcBorrow<'_, Self>, vmf: &VmFault) -> VmFaultResult {
        let Some(offset) = vmf.pgoff().checked_mul(PAGE_SIZE) else {
            return VmFaultResult::SIGBUS;
        };
        let Some((at, _)) = this.locate(offset) else {
            return VmFaultResult::SIGBUS;
        };
        let region = this.region();
        let Ok(entered) = region.enter() else {
            return VmFaultResult::SIGBUS;
        };
        let Some(mem) = entered.memory().io() else {
            return VmFaultResult::SIGBUS;
        };
        let Ok(pfn) = mem.pfn(at) else {
            return VmFaultResult::SIGBUS;
        };
        // SAFETY: `pfn` is a page of the region's device memory, inside this buffer, and the
        // region is live (entered): its device is bound. The page stays the buffer's while the
        // area holds the buffer.
        unsafe { vmf.insert_mixed(pfn) }
    }
}
