// SPDX-License-Identifier: GPL-2.0

//! Revocation: what withdrawal does to each live buffer of a region, so that nothing reaches
//! the device's memory through it afterwards.
//!
//! Once a region is withdrawn ([`Region::withdraw`]: new work fails with `ENODEV`, every
//! `RegionGuard` is gone), each of its live buffers whose file is not already on its way to
//! release is revoked, in the order of vfio-pci's dma-buf revocation:
//!
//! 1. under its reservation lock: its importers are told (`dma_buf_invalidate_mappings()`,
//!    after which a revocable importer unmaps), every fence on it is waited for, whatever its
//!    usage, and the kernel mapping an importer may hold is pointed at the scratch page (see
//!    [`crate::scratch`]);
//! 2. every DMA table handed out comes back (unmapped), waited for at most
//!    [`TABLES_TIMEOUT`];
//! 3. its user mappings are zapped: the dma-buf file's, which include the mappings importers
//!    forward with `dma_buf_mmap()`. The next access faults and gets `SIGBUS`.
//!
//! A revoked buffer stays a valid file, which closes normally later: close, `fstat`, the sync
//! ioctl and poll work; attach, map and mmap fail with `ENODEV`, a new `vmap` shows the scratch
//! page.

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

/// How long a buffer's fences may take to signal.
const FENCE_TIMEOUT: Delta = Delta::from_secs(5);

/// How long importers may take to give a buffer's DMA tables back.
pub(crate) const TABLES_TIMEOUT: Delta = Delta::from_secs(5);

/// How often the tables out are counted while waiting for them. Revocable importers unmap
/// from their `invalidate_mappings` callback or when their fences signal, so the wait is
/// normally over before it starts.
const TABLES_POLL: Delta = Delta::from_millis(1);

/// What revoking the buffers of a region did.
pub(crate) struct Revoked {
    /// How many buffers were revoked.
    pub(crate) buffers: u64,
    /// How long all of it took.
    pub(crate) total: Delta,
    /// How long the slowest buffer took.
    pub(crate) slowest: Delta,
}

/// Revokes every live buffer of `region`, which must be withdrawn.
pub(crate) fn revoke_buffers(region: &Region) -> Revoked {
    let start = Instant::<Monotonic>::now();
    let mut revoked = Revoked {
        buffers: 0,
        total: Delta::ZERO,
        slowest: Delta::ZERO,
    };
    let mut after = None;
    loop {
        // The ledger's lock goes at the end of the statement: the last reference to a buffer,
        // dropped below, releases it, which takes the lock.
        let next = region.lock_ledger().next_live_buffer(after);
        let Some((id, buf)) = next else {
            break;
        };
        after = Some(id);
        let began = Instant::<Monotonic>::now();
        revoke(region, &buf);
        let took = began.elapsed();
        if took > revoked.slowest {
            revoked.slowest = took;
        }
        revoked.buffers += 1;
    }
    revoked.total = start.elapsed();
    revoked
}

/// Revokes the buffer `buf` of the withdrawn region `region`.
fn revoke(region: &Region, buf: &Exported<Buffer>) {
    {
        let resv = buf.lock_resv();
        resv.invalidate_mappings();
        if resv.wait_idle(FENCE_TIMEOUT).is_err() {
            dev_warn!(
                region.device(),
                "devmem-heap: {}: buffer {}: fences unsignalled after {} ms; revoking anyway\n",
                region.name(),
                buf.ino(),
                FENCE_TIMEOUT.as_millis()
            );
        }
        if let Err(e) = buf.data().revoke_kernel_mapping() {
            dev_err!(
                region.device(),
                "devmem-heap: {}: buffer {}: kernel mapping not revoked ({e:?})\n",
                region.name(),
                buf.ino()
            );
        }
    }
    let waiting = Instant::<Monotonic>::now();
    loop {
        let out = buf.data().tables_out();
        if out == 0 {
            break;
        }
        if waiting.elapsed() > TABLES_TIMEOUT {
            dev_err!(
                region.device(),
                "devmem-heap: {}: buffer {}: importers kept {} DMA tables after {} ms\n",
                region.name(),
                buf.ino(),
                out,
                TABLES_TIMEOUT.as_millis()
            );
            break;
        }
        fsleep(TABLES_POLL);
    }
    buf.zap_user_mappings();
}
