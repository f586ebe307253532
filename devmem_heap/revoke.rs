// SPDX-License-Identifier: GPL-2.0

//! Revocation: what withdrawal does to the live buffers of a region, so that nothing reaches
//! the device's memory through them afterwards.
//!
//! Once a region is withdrawn ([`Region::withdraw`]: new work fails with `ENODEV`, every
//! `RegionGuard` is gone), its live buffers whose files are not already on their way to
//! release are revoked in the order of vfio-pci's dma-buf revocation, in two passes:
//!
//! 1. every buffer's importers are told, under its reservation lock
//!    (`dma_buf_invalidate_mappings()`, after which a revocable importer unmaps, at once or
//!    once its work is done), so that they all wind down together;
//! 2. then, buffer by buffer: under its reservation lock every fence on it is waited for,
//!    whatever its usage, and the kernel mapping an importer may hold is pointed at a page of
//!    system memory; every DMA table handed out comes back (unmapped); and its user mappings
//!    are zapped, the dma-buf file's, which include the mappings importers forward with
//!    `dma_buf_mmap()`. The next access faults and gets `SIGBUS`.
//!
//! The waits share one bound per withdrawal: [`FENCE_TIMEOUT`] for the fences, and as long
//! again for the tables. A buffer still waited for then, or whose kernel mapping could not be
//! redirected, is not clean: its importer may still reach the memory. The revocation goes on
//! (unbind cannot be refused), says so in the log, and the region's name stays taken until
//! every buffer of the region is gone, so that no new region hands out that memory meanwhile.
//!
//! A revoked buffer stays a valid file, which closes normally later: close, `fstat`, the sync
//! ioctl and poll work; attach, map and mmap fail with `ENODEV`, a new `vmap` shows a zeroed
//! page of system memory.

use crate::{
    buffer::Buffer,
    region::Region, //
};
use kernel::{
    dma_buf::Exported,
    prelude::*,
    time::{
        delay::fsleep,
        Delta,
        Instant,
        Monotonic, //
    },
};

/// How long the fences of a region's buffers may take to signal, all together; the tables
/// importers hold get as long again.
const FENCE_TIMEOUT: Delta = Delta::from_secs(5);

/// How often the tables out are counted while waiting for them. Revocable importers unmap
/// from their `invalidate_mappings` callback or when their fences signal, so the wait is
/// normally over before it starts.
const TABLES_POLL: Delta = Delta::from_millis(1);

/// What revoking the buffers of a region did.
pub(crate) struct Revoked {
    /// How many buffers were revoked.
    pub(crate) buffers: u64,
    /// How many of them were not revoked cleanly: an importer may still reach their memory.
    pub(crate) unclean: u64,
    /// How long all of it took.
    pub(crate) total: Delta,
    /// How long the slowest buffer took in the second pass.
    pub(crate) slowest: Delta,
}

/// Revokes every live buffer of `region`, which must be withdrawn.
pub(crate) fn revoke_buffers(region: &Region) -> Revoked {
    let start = Instant::<Monotonic>::now();
    let mut revoked = Revoked {
        buffers: 0,
        unclean: 0,
        total: Delta::ZERO,
        slowest: Delta::ZERO,
    };
    region.for_each_buffer(|buf| buf.lock_resv().invalidate_mappings());
    let deadlines = Deadlines {
        fences: start + FENCE_TIMEOUT,
        tables: start + FENCE_TIMEOUT + FENCE_TIMEOUT,
    };
    region.for_each_buffer(|buf| {
        let began = Instant::<Monotonic>::now();
        if !revoke(region, buf, &deadlines) {
            revoked.unclean += 1;
        }
        let took = began.elapsed();
        if took > revoked.slowest {
            revoked.slowest = took;
        }
        revoked.buffers += 1;
    });
    revoked.total = start.elapsed();
    revoked
}

/// When the waits of a withdrawal end.
struct Deadlines {
    fences: Instant<Monotonic>,
    tables: Instant<Monotonic>,
}

/// Returns how long is left until `deadline`, zero once it has passed.
fn left(deadline: Instant<Monotonic>) -> Delta {
    let left = deadline - Instant::<Monotonic>::now();
    if left > Delta::ZERO {
        left
    } else {
        Delta::ZERO
    }
}

/// Revokes the buffer `buf` of the withdrawn region `region`, whose importers were told.
/// Returns whether it was revoked cleanly: nothing of its importers reaches the memory.
fn revoke(region: &Region, buf: &Exported<Buffer>, deadlines: &Deadlines) -> bool {
    let mut clean = true;
    {
        let resv = buf.lock_resv();
        if resv.wait_idle(left(deadlines.fences)).is_err() {
            dev_err!(
                region.device(),
                "devmem-heap: {}: buffer {}: fences unsignalled after {} ms\n",
                region.name(),
                buf.ino(),
                FENCE_TIMEOUT.as_millis()
            );
            clean = false;
        }
        if let Err(e) = buf.data().revoke_kernel_mapping() {
            dev_err!(
                region.device(),
                "devmem-heap: {}: buffer {}: kernel mapping not revoked ({e:?})\n",
                region.name(),
                buf.ino()
            );
            clean = false;
        }
    }
    loop {
        let out = buf.data().tables_out();
        if out == 0 {
            break;
        }
        if left(deadlines.tables) == Delta::ZERO {
            dev_err!(
                region.device(),
                "devmem-heap: {}: buffer {}: importers kept {} DMA tables\n",
                region.name(),
                buf.ino(),
                out
            );
            clean = false;
            break;
        }
        fsleep(TABLES_POLL);
    }
    buf.zap_user_mappings();
    clean
}
