// SPDX-License-Identifier: GPL-2.0

//! Mapping MMIO (a PCI BAR) for dma-buf importers, peer to peer.
//!
//! C headers: [`include/linux/dma-buf-mapping.h`](srctree/include/linux/dma-buf-mapping.h),
//! [`include/linux/pci-p2pdma.h`](srctree/include/linux/pci-p2pdma.h)
//!
//! MMIO has no `struct page`, so an exporter of a BAR hands importers DMA-only sg tables, made
//! by `dma_buf_phys_vec_to_sgt()` from physical ranges and the BAR's p2pdma provider. Whether an
//! importer can reach the BAR at all is [`P2pProvider::map_type`]'s answer.

use super::{
    Attachment,
    Exporter,
    Locked,
    MappedSgTable, //
};
use crate::{
    bindings,
    device::{
        Bound,
        Device, //
    },
    dma::DataDirection,
    error::{
        from_err_ptr,
        to_result, //
    },
    io::PhysAddr,
    pci,
    prelude::*,
    scatterlist::SGTable,
    sync::aref::ARef, //
};
use core::{
    mem::ManuallyDrop,
    ptr::NonNull, //
};

/// How a device reaches a p2pdma provider's memory (`enum pci_p2pdma_map_type`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum P2pMapType {
    /// The device cannot reach the memory peer to peer.
    NotSupported,
    /// Directly, through a PCI switch, with PCI bus addresses.
    BusAddr,
    /// Through a host bridge that is known to forward peer-to-peer traffic.
    ThruHostBridge,
}

/// A physical address range of MMIO (`struct phys_vec`).
///
/// # Examples
///
/// ```
/// use kernel::dma_buf::mmio::PhysRange;
///
/// let range = PhysRange::new(0xf400_0000, 0x10_0000);
/// assert_eq!(range.addr(), 0xf400_0000);
/// assert_eq!(range.len(), 0x10_0000);
/// assert!(!range.is_empty());
/// assert!(PhysRange::new(0xf400_0000, 0).is_empty());
/// ```
#[repr(transparent)]
#[derive(Copy, Clone)]
pub struct PhysRange(bindings::phys_vec);

impl PhysRange {
    /// A range of `len` bytes at physical address `addr`.
    pub fn new(addr: PhysAddr, len: usize) -> Self {
        Self(bindings::phys_vec { paddr: addr, len })
    }

    /// Returns the range's physical address.
    pub fn addr(&self) -> PhysAddr {
        self.0.paddr
    }

    /// Returns the range's length in bytes.
    pub fn len(&self) -> usize {
        self.0.len
    }

    /// Returns whether the range is empty.
    pub fn is_empty(&self) -> bool {
        self.0.len == 0
    }
}

/// The p2pdma provider of one memory BAR of a PCI device.
///
/// The provider is device-managed: it is valid while its device is bound, which every use
/// proves by passing that `pci::Device<Bound>`.
///
/// # Examples
///
/// How an exporter of BAR memory maps a buffer for an importer (needs the hardware):
///
/// ```no_run
/// use kernel::{
///     device::Bound,
///     dma::DataDirection,
///     dma_buf::{
///         mmio::{
///             P2pMapType,
///             P2pProvider,
///             PhysRange,
///             PhysSgt, //
///         },
///         Attachment,
///         Exporter,
///         Locked, //
///     },
///     io::PhysAddr,
///     pci, //
/// };
///
/// fn map_bar<'a, T: Exporter>(
///     buf: &Locked<'a, T>,
///     attach: &'a Attachment,
///     pdev: &pci::Device<Bound>,
///     provider: &P2pProvider,
///     start: PhysAddr,
///     dir: DataDirection,
/// ) -> Result<PhysSgt<'a>> {
///     // Only importers that take MMIO addresses and can reach the BAR.
///     if !attach.peer2peer() {
///         return Err(EOPNOTSUPP);
///     }
///     match provider.map_type(pdev, attach.device())? {
///         P2pMapType::BusAddr | P2pMapType::ThruHostBridge => {}
///         P2pMapType::NotSupported => return Err(EOPNOTSUPP),
///     }
///     PhysSgt::new(buf, attach, provider, pdev, &[PhysRange::new(start, buf.size())], dir)
/// }
/// ```
///
/// # Invariants
///
/// `ptr` is the provider `pcim_p2pdma_provider()` returned for a BAR of `dev`; it is valid
/// while `dev` is bound to the driver that made it.
pub struct P2pProvider {
    dev: ARef<pci::Device>,
    ptr: NonNull<bindings::p2pdma_provider>,
}

// SAFETY: The provider is plain data owned by the device, usable from any thread.
unsafe impl Send for P2pProvider {}
// SAFETY: See above; nothing in it is mutated after creation.
unsafe impl Sync for P2pProvider {}

impl P2pProvider {
    /// Gets the p2pdma provider of memory BAR `bar` of `dev`, setting up p2pdma on first use.
    ///
    /// Returns [`EINVAL`] if `bar` is not a standard BAR (index 6 and up: ROM, SR-IOV, bridge
    /// windows) or not a memory BAR, checked before any call into p2pdma, and the errors of
    /// `pcim_p2pdma_init()`.
    pub fn new(dev: &pci::Device<Bound>, bar: u32) -> Result<Self> {
        dev.check_memory_bar(bar)?;
        let bar = c_int::try_from(bar)?;
        // SAFETY: `dev` is a bound PCI device.
        to_result(unsafe { bindings::pcim_p2pdma_init(dev.as_raw()) })?;
        // SAFETY: `dev` is a bound PCI device with p2pdma set up.
        let ptr = unsafe { bindings::pcim_p2pdma_provider(dev.as_raw(), bar) };
        // INVARIANT: The provider of a BAR of `dev`, valid while it stays bound.
        Ok(Self {
            dev: dev.into(),
            ptr: NonNull::new(ptr).ok_or(EINVAL)?,
        })
    }

    fn check_owner(&self, owner: &pci::Device<Bound>) -> Result {
        if core::ptr::eq(owner.as_raw(), self.dev.as_raw()) {
            Ok(())
        } else {
            Err(EINVAL)
        }
    }

    /// Returns how `dev` reaches the provider's memory.
    ///
    /// `owner` proves the provider's device is still bound. Returns [`EINVAL`] if it is not the
    /// provider's device.
    pub fn map_type(&self, owner: &pci::Device<Bound>, dev: &Device) -> Result<P2pMapType> {
        self.check_owner(owner)?;
        // SAFETY: The provider is valid while `owner` is bound; `dev` is a valid device.
        let t = unsafe { bindings::pci_p2pdma_map_type(self.ptr.as_ptr(), dev.as_raw()) };
        Ok(match t {
            bindings::pci_p2pdma_map_type_PCI_P2PDMA_MAP_BUS_ADDR => P2pMapType::BusAddr,
            bindings::pci_p2pdma_map_type_PCI_P2PDMA_MAP_THRU_HOST_BRIDGE => {
                P2pMapType::ThruHostBridge
            }
            _ => P2pMapType::NotSupported,
        })
    }
}

/// A DMA-only sg table of MMIO ranges, made for one attachment by `dma_buf_phys_vec_to_sgt()`.
///
/// It has no `struct page`s: importers may only use its DMA addresses.
///
/// It borrows its attachment for `'a`, the duration of the callback that made it, with the
/// buffer's reservation lock held ([`Locked`]): safe code cannot keep it past that callback,
/// other than by returning it from [`Exporter::map_dma_buf`], which hands it to the importer.
/// It comes back in [`Exporter::unmap_dma_buf`], also with the lock held. So it is always freed
/// with `dma_buf_free_sgt()` while its attachment is attached and the lock is held, as the C
/// side requires (lockdep checks the lock).
///
/// # Invariants
///
/// `sgt` was returned by `dma_buf_phys_vec_to_sgt()` for `attach` in direction `dir`, and
/// `attach` stays attached, with its buffer's reservation lock held, whenever the table is
/// dropped.
pub struct PhysSgt<'a> {
    attach: &'a Attachment,
    sgt: NonNull<bindings::sg_table>,
    dir: DataDirection,
}

// SAFETY: The table may be handed to and freed from any thread; the attachment is only used to
// free it.
unsafe impl Send for PhysSgt<'_> {}

impl<'a> PhysSgt<'a> {
    /// Maps `ranges` of the provider's BAR for the device of `attach`, in direction `dir`.
    ///
    /// `buf` proves the reservation lock is held, and `owner` that the provider's device is
    /// bound. A contiguous range becomes as few entries as the importer's DMA limits allow.
    ///
    /// Returns [`EINVAL`] if `attach` is not an attachment to `buf`, `owner` is not the
    /// provider's device, `ranges` is empty or its total length overflows, and if the importer
    /// cannot reach the BAR peer to peer.
    pub fn new<T: Exporter>(
        buf: &Locked<'a, T>,
        attach: &'a Attachment,
        provider: &P2pProvider,
        owner: &pci::Device<Bound>,
        ranges: &[PhysRange],
        dir: DataDirection,
    ) -> Result<Self> {
        if !buf.is_attached(attach) {
            return Err(EINVAL);
        }
        provider.check_owner(owner)?;
        if ranges.is_empty() {
            return Err(EINVAL);
        }
        let size = ranges
            .iter()
            .try_fold(0usize, |acc, r| acc.checked_add(r.len()))
            .ok_or(EINVAL)?;
        // SAFETY: The lock of the buffer `attach` is attached to is held (`buf`), the attachment
        // is live, the provider is valid while `owner` is bound, and `ranges` is a valid array
        // that the C side only reads.
        let sgt = from_err_ptr(unsafe {
            bindings::dma_buf_phys_vec_to_sgt(
                attach.as_raw(),
                provider.ptr.as_ptr(),
                ranges.as_ptr().cast_mut().cast(),
                ranges.len(),
                size,
                dir.into(),
            )
        })?;
        // INVARIANT: Made for `attach` in `dir`; `'a` ends with the callback that holds the lock
        // and the attachment.
        Ok(Self {
            attach,
            // SAFETY: `from_err_ptr` returned a valid, non-error pointer.
            sgt: unsafe { NonNull::new_unchecked(sgt) },
            dir,
        })
    }

    /// Returns the table.
    pub fn sg_table(&self) -> &SGTable {
        // SAFETY: The table is valid and unchanged until `self` drops.
        unsafe { SGTable::from_raw(self.sgt.as_ptr()) }
    }
}

impl<'a> MappedSgTable<'a> for PhysSgt<'a> {
    fn into_raw(self) -> NonNull<bindings::sg_table> {
        ManuallyDrop::new(self).sgt
    }

    unsafe fn from_raw(
        sgt: NonNull<bindings::sg_table>,
        attach: &'a Attachment,
        dir: DataDirection,
    ) -> Self {
        // INVARIANT: The caller passes a table `into_raw` gave away for `attach` in `dir`, from
        // `unmap_dma_buf`, which runs with the lock held.
        Self { attach, sgt, dir }
    }
}

impl Drop for PhysSgt<'_> {
    fn drop(&mut self) {
        // SAFETY: By the type invariants the table came from `dma_buf_phys_vec_to_sgt()` for
        // this attachment and direction, the lock is held, and the table is freed exactly once,
        // here.
        unsafe {
            bindings::dma_buf_free_sgt(self.attach.as_raw(), self.sgt.as_ptr(), self.dir.into())
        };
    }
}
