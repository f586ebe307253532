// SPDX-License-Identifier: GPL-2.0

//! User mappings of buffers, filled in on demand.
//!
//! `mmap` maps nothing. A fault maps, after entering the region, the contiguous run of the
//! region it falls in, as far as the area reaches: all of it when that is at most 2 MiB (even
//! across two page tables), else the part in the faulting page's page table. So a buffer of up
//! to 2 MiB in one run takes one fault, wherever the area starts, and larger ones one per 2 MiB,
//! not one per page. Where the area and the run allow it (2 MiB of the run, aligned in both the
//! area and the device's address space), and transparent huge pages are enabled, the core asks
//! for one PMD mapping of the 2 MiB instead. When the region is withdrawn its buffers' user
//! mappings are zapped, whatever their size (`crate::revoke`), so the next access faults again
//! and gets `SIGBUS`.

use crate::{
    buffer::Buffer,
    region::RegionGuard, //
};
use kernel::{
    io::PhysAddr,
    mm::virt::fault::{
        FaultHandler,
        VmFault,
        VmFaultResult,
        PMD_ORDER, //
    },
    page::{
        PAGE_SHIFT,
        PAGE_SIZE, //
    },
    prelude::*,
    sync::ArcBorrow, //
};

/// The bytes one page table maps (those a PMD maps): what a fault maps at most with page-sized
/// entries.
const PAGE_TABLE_SPAN: usize = PAGE_SIZE << PMD_ORDER;

/// Returns the page frame of byte `at` of the region, entered as `guard`.
fn pfn(guard: &RegionGuard<'_>, at: usize) -> Option<usize> {
    // CAST: An offset in the region fits a physical address.
    let phys = guard.memory().phys()? + at as PhysAddr;
    usize::try_from(phys >> PAGE_SHIFT).ok()
}

#[vtable]
impl FaultHandler for Buffer {
    fn fault(this: ArcBorrow<'_, Self>, vmf: &VmFault) -> VmFaultResult {
        let this = this.allocation();
        let Some(run) = vmf
            .pgoff()
            .checked_mul(PAGE_SIZE)
            .and_then(|offset| this.locate(offset))
        else {
            return VmFaultResult::SIGBUS;
        };
        // The run within the area; if that is more than one page table maps, the part of it in
        // the faulting page's page table. Each fault then maps at most 2 MiB.
        let address = vmf.address();
        let vma = vmf.vma();
        // Clamped before the arithmetic: an area may start lower in memory than its offset
        // into the buffer, so `run.before` may exceed `address`.
        let (mut start, mut end) = (
            address - run.before.min(address - vma.start()),
            address + run.after.min(vma.end() - address),
        );
        if end - start > PAGE_TABLE_SPAN {
            let span_start = address & !(PAGE_TABLE_SPAN - 1);
            start = start.max(span_start);
            end = end.min(span_start + PAGE_TABLE_SPAN);
        }
        let Ok(guard) = this.region().enter() else {
            return VmFaultResult::SIGBUS;
        };
        let Some(first) = pfn(&guard, run.at - (address - start)) else {
            return VmFaultResult::SIGBUS;
        };
        // SAFETY: The page frames are the buffer's, in the region's device memory, from
        // `start` to `end` of the area: the run around the faulting page, which the buffer
        // holds for as long as the area is mapped. The region is entered: its device is bound.
        // Withdrawal zaps every mapping of the buffer after waiting for this guard.
        unsafe { vmf.insert_pfns(start, first, (end - start) / PAGE_SIZE) }
    }

    #[cfg(CONFIG_ARCH_SUPPORTS_PMD_PFNMAP)]
    fn huge_fault(this: ArcBorrow<'_, Self>, vmf: &VmFault, order: u32) -> VmFaultResult {
        let this = this.allocation();
        let size = PAGE_TABLE_SPAN;
        if order != PMD_ORDER {
            return VmFaultResult::FALLBACK;
        }
        // The buffer offset of the aligned 2 MiB the fault falls in.
        let address = vmf.address();
        let below = (address & (size - 1)) / PAGE_SIZE;
        let Some(run) = vmf
            .pgoff()
            .checked_sub(below)
            .and_then(|pgoff| pgoff.checked_mul(PAGE_SIZE))
            .and_then(|offset| this.locate(offset))
        else {
            return VmFaultResult::FALLBACK;
        };
        if run.after < size {
            return VmFaultResult::FALLBACK;
        }
        let Ok(guard) = this.region().enter() else {
            return VmFaultResult::SIGBUS;
        };
        let Some(first) = pfn(&guard, run.at) else {
            return VmFaultResult::SIGBUS;
        };
        // SAFETY: As in `fault`: the 2 MiB from `first` on are the buffer's, one run of the
        // region, and the region is entered. `insert_pfn_pmd` falls back unless `first` is
        // aligned and the aligned range lies inside the area.
        unsafe { vmf.insert_pfn_pmd(first) }
    }
}
