// SPDX-License-Identifier: GPL-2.0

//! User mappings of buffers, filled in on demand.
//!
//! `mmap` maps nothing; each fault maps the one page it needs, after entering the region. When
//! the region is withdrawn its buffers' user mappings are zapped (`crate::revoke`), so the
//! next access faults again and gets `SIGBUS`.

use crate::allocation::Allocation;
use kernel::{
    mm::virt::fault::{
        FaultHandler,
        VmFault,
        VmFaultResult, //
    },
    page::{
        PAGE_SHIFT,
        PAGE_SIZE, //
    },
    sync::ArcBorrow, //
};

impl FaultHandler for Allocation {
    fn fault(this: ArcBorrow<'_, Self>, vmf: &VmFault) -> VmFaultResult {
        let Some(offset) = vmf.pgoff().checked_mul(PAGE_SIZE) else {
            return VmFaultResult::SIGBUS;
        };
        let Some((at, _)) = this.locate(offset) else {
            return VmFaultResult::SIGBUS;
        };
        let Ok(guard) = this.region().enter() else {
            return VmFaultResult::SIGBUS;
        };
        let Some(phys) = guard.memory().phys() else {
            return VmFaultResult::SIGBUS;
        };
        // CAST: An offset in the region fits a physical address.
        let Ok(pfn) = usize::try_from((phys + at as kernel::io::PhysAddr) >> PAGE_SHIFT) else {
            return VmFaultResult::SIGBUS;
        };
        // SAFETY: `pfn` is a page of the region's device memory, inside this buffer, and the
        // region is entered: its device is bound. Withdrawal zaps every mapping of it after
        // waiting for this guard.
        unsafe { vmf.insert_mixed(pfn) }
    }
}
