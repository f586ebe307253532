// SPDX-License-Identifier: GPL-2.0

//! Peer-to-peer DMA: who gets a DMA mapping of a buffer, and the table they get.
//!
//! Device memory has no `struct page`, so the only DMA mapping the framework hands out is a
//! DMA-only table of bus addresses, built by `dma_buf_phys_vec_to_sgt()` from the BAR's p2pdma
//! provider. An importer gets one if it takes peer-to-peer memory (`peer2peer`), can be revoked
//! (`dma_buf_attach_revocable()`: it unmaps when its mappings are invalidated) and has a route to
//! the BAR; everyone else is refused, with the reason. A kernel without `CONFIG_PCI_P2PDMA`
//! refuses everyone. This is the only file that knows whether the kernel has it.

use crate::layout::Ranges;
use kernel::{
    alloc::AllocError,
    dma::DataDirection,
    dma_buf::{
        Attachment,
        Exporter,
        Locked, //
    },
    io::PhysAddr,
    pci,
    prelude::*,
    sync::aref::ARef, //
};

#[cfg(CONFIG_PCI_P2PDMA)]
use kernel::{
    device::Bound,
    dma_buf::mmio::{
        P2pMapType,
        P2pProvider,
        PhysRange, //
    },
};

/// The table an importer gets from `map_dma_buf`.
#[cfg(CONFIG_PCI_P2PDMA)]
pub(crate) type SgTable<'a> = kernel::dma_buf::mmio::PhysSgt<'a>;
/// The table an importer gets from `map_dma_buf`: none, without peer-to-peer DMA.
#[cfg(not(CONFIG_PCI_P2PDMA))]
pub(crate) type SgTable<'a> = kernel::dma_buf::NoSgTable;

/// Why an importer gets no DMA mapping.
pub(crate) enum MapError {
    /// The importer cannot use the memory; the text says why, for the log.
    Refused(&'static str),
    /// Mapping failed.
    Failed(Error),
}

impl From<Error> for MapError {
    fn from(e: Error) -> Self {
        Self::Failed(e)
    }
}

impl From<AllocError> for MapError {
    fn from(e: AllocError) -> Self {
        Self::Failed(e.into())
    }
}

/// The PCI BAR a region's memory is, and its p2pdma provider when the kernel has one.
pub(crate) struct Peer {
    pdev: ARef<pci::Device>,
    bar: u32,
    #[cfg(CONFIG_PCI_P2PDMA)]
    provider: Option<P2pProvider>,
}

impl Peer {
    /// Describes BAR `bar` of `pdev`, setting up its p2pdma provider if the kernel has p2pdma.
    /// Without a provider the region's buffers are for CPU access only; that is logged, not an
    /// error.
    pub(crate) fn new(pdev: &pci::Device<kernel::device::Bound>, bar: u32) -> Self {
        #[cfg(CONFIG_PCI_P2PDMA)]
        let provider = P2pProvider::new(pdev, bar)
            .inspect_err(|e| {
                dev_warn!(
                    pdev,
                    "no p2pdma provider for BAR {bar} ({e:?}); CPU access only\n"
                );
            })
            .ok();
        Self {
            pdev: pdev.into(),
            bar,
            #[cfg(CONFIG_PCI_P2PDMA)]
            provider,
        }
    }

    /// Returns the device whose BAR the memory is.
    pub(crate) fn pdev(&self) -> &pci::Device {
        &self.pdev
    }

    /// Returns the BAR's index.
    pub(crate) fn bar(&self) -> u32 {
        self.bar
    }
}

/// Maps the buffer in `buf`, laid out in `ranges` of the memory at `base`, for the importer of
/// `attach`.
///
/// `peer` is the region's BAR with its device, proven bound by the caller; `None` if the region
/// is not a PCI BAR. `base` is `None` if the memory is not device memory.
#[cfg(CONFIG_PCI_P2PDMA)]
pub(crate) fn map<'a, T: Exporter>(
    buf: &Locked<'a, T>,
    attach: &'a Attachment,
    peer: Option<(&Peer, &pci::Device<Bound>)>,
    base: Option<PhysAddr>,
    ranges: &Ranges,
    dir: DataDirection,
) -> Result<SgTable<'a>, MapError> {
    if !attach.peer2peer() {
        return Err(MapError::Refused("it does not take peer-to-peer memory"));
    }
    // The region's memory goes with its device, at unbind or hot-unplug: only an importer that
    // gives its table back when told to may hold one.
    if !attach.is_revocable() {
        return Err(MapError::Refused(
            "it cannot be revoked (no invalidate_mappings)",
        ));
    }
    let (Some((peer, pdev)), Some(base)) = (peer, base) else {
        return Err(MapError::Refused("the region is not a PCI BAR"));
    };
    let Some(provider) = &peer.provider else {
        return Err(MapError::Refused("the BAR has no p2pdma provider"));
    };
    match provider.map_type(pdev, attach.device())? {
        P2pMapType::BusAddr | P2pMapType::ThruHostBridge => {}
        P2pMapType::NotSupported => {
            return Err(MapError::Refused("it has no peer-to-peer route to the BAR"));
        }
    }
    let mut phys = KVec::with_capacity(ranges.as_slice().len(), GFP_KERNEL)?;
    let mut left = buf.size();
    for &(offset, len) in ranges.as_slice() {
        let len = len.min(left);
        if len == 0 {
            break;
        }
        // CAST: An offset in the region fits a physical address.
        phys.push(PhysRange::new(base + offset as PhysAddr, len), GFP_KERNEL)?;
        left -= len;
    }
    Ok(SgTable::new(buf, attach, provider, pdev, &phys, dir)?)
}

/// Refuses every importer: the kernel has no PCI peer-to-peer DMA.
#[cfg(not(CONFIG_PCI_P2PDMA))]
pub(crate) fn map<'a, T: Exporter>(
    _buf: &Locked<'a, T>,
    _attach: &'a Attachment,
    _peer: Option<(&Peer, &pci::Device<kernel::device::Bound>)>,
    _base: Option<PhysAddr>,
    _ranges: &Ranges,
    _dir: DataDirection,
) -> Result<SgTable<'a>, MapError> {
    Err(MapError::Refused("the kernel has no PCI peer-to-peer DMA"))
}
