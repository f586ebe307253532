// SPDX-License-Identifier: GPL-2.0

//! Attachments of devices to dma-bufs, as the exporter sees them.
//!
//! C header: [`include/linux/dma-buf.h`](srctree/include/linux/dma-buf.h)
//!
//! # Examples
//!
//! An exporter that takes only importers of peer-to-peer memory; a faux device, which attaches
//! as a plain static importer, is refused:
//!
//! ```
//! use kernel::{
//!     dma_buf::{
//!         Attachment,
//!         Exported,
//!         Exporter,
//!         FdFlags,
//!         NoSgTable, //
//!     },
//!     faux,
//!     page::PAGE_SIZE, //
//! };
//!
//! struct PeerOnly;
//!
//! #[vtable]
//! impl Exporter for PeerOnly {
//!     type SgTable<'a> = NoSgTable;
//!
//!     fn attach(_buf: &Exported<Self>, attach: &Attachment) -> Result {
//!         if !attach.peer2peer() {
//!             dev_dbg!(attach.device(), "refused: no peer-to-peer\n");
//!             return Err(EOPNOTSUPP);
//!         }
//!         Ok(())
//!     }
//! }
//!
//! let buf = Exported::new(PeerOnly, PAGE_SIZE, FdFlags::RDWR, c"doctest-peer-only")?;
//! let faux = faux::Registration::new(c"dma-buf-attachment-doctest", None)?;
//! assert_eq!(
//!     buf.attach(faux.as_ref().as_ref()).err(),
//!     Some(EOPNOTSUPP)
//! );
//! # Ok::<(), Error>(())
//! ```

use super::DmaBuf;
use crate::{
    bindings,
    device::Device,
    types::Opaque, //
};

/// A device attached to a dma-buf, as the exporter sees it.
///
/// # Invariants
///
/// `self.0` is a valid `struct dma_buf_attachment` whose buffer and device stay valid while it
/// is attached.
#[repr(transparent)]
pub struct Attachment(Opaque<bindings::dma_buf_attachment>);

impl Attachment {
    /// # Safety
    ///
    /// `ptr` must be a valid attachment that stays attached for `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut bindings::dma_buf_attachment) -> &'a Self {
        // SAFETY: `Attachment` is a transparent wrapper; validity is the caller's promise.
        unsafe { &*ptr.cast() }
    }

    /// Returns the raw `struct dma_buf_attachment` pointer.
    pub(crate) fn as_raw(&self) -> *mut bindings::dma_buf_attachment {
        self.0.get()
    }

    /// Returns the importing device.
    pub fn device(&self) -> &Device {
        // SAFETY: By the type invariants the device is valid while attached, which `&self`
        // outlives.
        unsafe { Device::from_raw((*self.as_raw()).dev) }
    }

    /// Returns the buffer this attachment is to.
    ///
    /// Crate-private: exporter callbacks that run with the reservation lock held get an
    /// `Attachment`, and a [`DmaBuf`] would let them take that lock again
    /// ([`DmaBuf::lock_resv`]). An exporter reaches its buffer through the view the callback
    /// gets, an importer through the buffer it attached to.
    pub(crate) fn dma_buf(&self) -> &DmaBuf {
        // SAFETY: By the type invariants the buffer is valid while attached.
        unsafe { DmaBuf::from_raw((*self.as_raw()).dmabuf) }
    }

    /// Returns whether the importer can handle peer-to-peer (MMIO) addresses without struct
    /// pages.
    pub fn peer2peer(&self) -> bool {
        // SAFETY: `peer2peer` is set before the exporter's `attach` and never changes.
        unsafe { (*self.as_raw()).peer2peer }
    }

    /// Returns whether the importer honours revocation within bounded time: it implements
    /// `invalidate_mappings` and unmaps as a result. See `dma_buf_attach_revocable()`.
    pub fn is_revocable(&self) -> bool {
        // SAFETY: The attachment is valid by the type invariants.
        unsafe { bindings::dma_buf_attach_revocable(self.as_raw()) }
    }
}
