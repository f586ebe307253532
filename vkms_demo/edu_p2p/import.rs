// SPDX-License-Identifier: GPL-2.0

//! A dma-buf imported by edu: a dynamic attachment that takes peer-to-peer memory, revocable or
//! not, mapped for DMA in both directions, and the transfers through its table.
//!
//! Every transfer that touches the buffer runs with its reservation lock held and the table
//! checked against a DMA mask, so an invalidation (revocation) waits for the transfer in flight
//! and no DMA ever uses a table once it is given back.

use crate::{
    engine::{
        Running,
        CHUNK, //
    },
    uapi::{
        InfoArgs,
        RangeArgs,
        INFO_IMPORTED,
        INFO_MAPPED,
        INFO_REVOCABLE,
        INFO_REVOKED, //
    },
};
use core::sync::atomic::{
    AtomicU32,
    Ordering::Relaxed, //
};
use kernel::{
    dma::DataDirection,
    dma_buf::{
        DmaBuf,
        DynamicAttachment,
        Importer, //
    },
    prelude::*,
    scatterlist::SGTable,
    sync::aref::ARef, //
};

/// The importer operations: count invalidations; the table goes right after. Transfers hold the
/// reservation lock, so none is in flight when this runs.
struct Revocable {
    invalidations: AtomicU32,
}

#[vtable]
impl Importer for Revocable {
    const PEER2PEER: bool = true;

    fn invalidate_mappings(&self) {
        self.invalidations.fetch_add(1, Relaxed);
    }
}

/// A peer-to-peer importer without `invalidate_mappings`: it pins what it maps.
struct Pinned;

#[vtable]
impl Importer for Pinned {
    const PEER2PEER: bool = true;
}

/// What the driver needs of both kinds of importer.
trait Counted: Importer {
    fn invalidations(&self) -> u32;
}

impl Counted for Revocable {
    fn invalidations(&self) -> u32 {
        self.invalidations.load(Relaxed)
    }
}

impl Counted for Pinned {
    fn invalidations(&self) -> u32 {
        0
    }
}

/// An imported dma-buf.
pub(crate) struct Import(Kind);

/// The two kinds of import.
enum Kind {
    Revocable(Imported<Revocable>),
    Pinned(Imported<Pinned>),
}

/// A dma-buf attached to the device, and the mask its table must fit.
struct Imported<T: Counted> {
    attachment: DynamicAttachment<T>,
    mask: u64,
}

/// Returns whether every entry of `sgt` lies below `mask`.
fn fits(sgt: &SGTable, mask: u64) -> bool {
    sgt.iter().all(|e| {
        e.dma_len() > 0
            && e.dma_address()
                .checked_add(e.dma_len() - 1)
                .is_some_and(|last| last <= mask)
    })
}

/// Returns the bus address of `offset` in the buffer behind `sgt`, and the bytes from there to
/// the end of its entry.
fn locate(sgt: &SGTable, offset: u64) -> Result<(u64, u64)> {
    let mut start = 0u64;
    for e in sgt.iter() {
        if offset < start + e.dma_len() {
            return Ok((
                e.dma_address() + (offset - start),
                start + e.dma_len() - offset,
            ));
        }
        start += e.dma_len();
    }
    Err(EINVAL)
}

impl<T: Counted> Imported<T> {
    /// Attaches `buf` to the running engine's device and maps it; the table must fit `mask`.
    fn new(engine: &Running<'_>, buf: ARef<DmaBuf>, importer: T, mask: u64) -> Result<Self> {
        let attachment = DynamicAttachment::new(buf, engine.device(), importer)?;
        {
            let mut locked = attachment.lock();
            let sgt = locked.map(DataDirection::Bidirectional)?;
            // A table the device cannot reach would send its DMA elsewhere (the device
            // truncates addresses): refuse it before any transfer.
            if !fits(sgt, mask) {
                dev_info!(
                    engine.device(),
                    "DMA table beyond the mask {mask:#x}: refused\n"
                );
                locked.unmap();
                return Err(EINVAL);
            }
        }
        Ok(Self { attachment, mask })
    }

    fn info(&self, info: &mut InfoArgs, ranges: &mut KVec<RangeArgs>) -> Result {
        let locked = self.attachment.lock();
        let invalidations = self.attachment.importer().invalidations();
        info.size = self.attachment.dma_buf().size() as u64;
        info.invalidations = invalidations;
        info.flags = INFO_IMPORTED;
        if self.attachment.attachment().is_revocable() {
            info.flags |= INFO_REVOCABLE;
        }
        match locked.table() {
            Some(sgt) => {
                info.flags |= INFO_MAPPED;
                for e in sgt.iter() {
                    info.entries += 1;
                    if ranges.len() < info.max_ranges as usize {
                        ranges.push(
                            RangeArgs {
                                addr: e.dma_address(),
                                len: e.dma_len(),
                            },
                            GFP_KERNEL,
                        )?;
                    }
                }
            }
            None if invalidations > 0 => info.flags |= INFO_REVOKED,
            None => {}
        }
        Ok(())
    }

    /// Moves `data.len()` bytes between `data` and `offset` in the buffer, chunk by chunk, each
    /// within one table entry.
    fn dma(&self, engine: &mut Running<'_>, offset: u64, data: &mut [u8], to_buf: bool) -> Result {
        let mut done = 0usize;
        while done < data.len() {
            // A long request stops for a signal, and for unbinding, between chunks.
            if current!().signal_pending() {
                return Err(ERESTARTSYS);
            }
            if engine.stopping() {
                return Err(ENODEV);
            }
            let mut locked = self.attachment.lock();
            if locked.table().is_none() {
                // Invalidated: map again, as a dynamic importer must before further DMA.
                let sgt = locked.map(DataDirection::Bidirectional)?;
                if !fits(sgt, self.mask) {
                    locked.unmap();
                    return Err(EINVAL);
                }
            }
            locked.wait_for_fences(to_buf)?;
            let sgt = locked.table().ok_or(ENODEV)?;
            let (bus, left) = locate(sgt, offset + done as u64)?;
            // CAST: At most `CHUNK`.
            let len = ((data.len() - done).min(CHUNK) as u64).min(left) as usize;
            let chunk = &mut data[done..done + len];
            if to_buf {
                engine.copy_to_bus(chunk, bus)?;
            } else {
                engine.copy_from_bus(bus, chunk)?;
            }
            done += len;
        }
        Ok(())
    }
}

impl Import {
    /// Imports `buf` into the running engine's device, revocable or not; its table must fit
    /// `mask`.
    pub(crate) fn new(
        engine: &Running<'_>,
        buf: ARef<DmaBuf>,
        revocable: bool,
        mask: u64,
    ) -> Result<Self> {
        Ok(Self(if revocable {
            let importer = Revocable {
                invalidations: AtomicU32::new(0),
            };
            Kind::Revocable(Imported::new(engine, buf, importer, mask)?)
        } else {
            Kind::Pinned(Imported::new(engine, buf, Pinned, mask)?)
        }))
    }

    /// Fills the import's part of `info`, and `ranges` with up to `info.max_ranges` entries.
    pub(crate) fn info(&self, info: &mut InfoArgs, ranges: &mut KVec<RangeArgs>) -> Result {
        match &self.0 {
            Kind::Revocable(i) => i.info(info, ranges),
            Kind::Pinned(i) => i.info(info, ranges),
        }
    }

    /// Returns the buffer's size.
    pub(crate) fn size(&self) -> usize {
        match &self.0 {
            Kind::Revocable(i) => i.attachment.dma_buf().size(),
            Kind::Pinned(i) => i.attachment.dma_buf().size(),
        }
    }

    /// Moves `data` into the buffer at `offset` (`to_buf`), or out of it.
    pub(crate) fn dma(
        &self,
        engine: &mut Running<'_>,
        offset: u64,
        data: &mut [u8],
        to_buf: bool,
    ) -> Result {
        match &self.0 {
            Kind::Revocable(i) => i.dma(engine, offset, data, to_buf),
            Kind::Pinned(i) => i.dma(engine, offset, data, to_buf),
        }
    }
}
