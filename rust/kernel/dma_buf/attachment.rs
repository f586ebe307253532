// SPDX-License-Identifier: GPL-2.0

//! Attachments of devices to dma-bufs.
//!
//! C header: [`include/linux/dma-buf.h`](srctree/include/linux/dma-buf.h)

use super::DmaBuf;
use crate::{
    bindings,
    device::Device,
    dma::DataDirection,
    error::from_err_ptr,
    prelude::*,
    scatterlist::SGTable,
    types::Opaque, //
};
use core::{
    marker::PhantomData,
    ops::Deref,
    ptr::NonNull, //
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
    pub fn dma_buf(&self) -> &DmaBuf {
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

/// A static attachment of a device to a dma-buf, made by an importer; detached on drop.
///
/// # Invariants
///
/// `attach` was returned by `dma_buf_attach()` for a buffer and device that outlive `'a`.
pub struct ImporterAttachment<'a> {
    attach: NonNull<bindings::dma_buf_attachment>,
    _p: PhantomData<(&'a DmaBuf, &'a Device)>,
}

impl DmaBuf {
    /// Attaches `dev` to the buffer, as a static importer that does not use peer-to-peer.
    ///
    /// Returns the exporter's error if it refuses the device.
    pub fn attach<'a>(&'a self, dev: &'a Device) -> Result<ImporterAttachment<'a>> {
        // SAFETY: `self` and `dev` are valid and outlive the attachment by the lifetime `'a`.
        let ptr = from_err_ptr(unsafe { bindings::dma_buf_attach(self.as_raw(), dev.as_raw()) })?;
        // INVARIANT: `dma_buf_attach()` succeeded.
        Ok(ImporterAttachment {
            // SAFETY: `from_err_ptr` returned a valid, non-error pointer.
            attach: unsafe { NonNull::new_unchecked(ptr) },
            _p: PhantomData,
        })
    }
}

impl Deref for ImporterAttachment<'_> {
    type Target = Attachment;

    fn deref(&self) -> &Attachment {
        // SAFETY: The attachment is valid until `self` is dropped.
        unsafe { Attachment::from_raw(self.attach.as_ptr()) }
    }
}

impl Drop for ImporterAttachment<'_> {
    fn drop(&mut self) {
        // SAFETY: The attachment was made by `dma_buf_attach()` on this buffer and is detached
        // exactly once, here.
        unsafe { bindings::dma_buf_detach(self.dma_buf().as_raw(), self.attach.as_ptr()) };
    }
}

/// A DMA mapping of a buffer for an attached device, made by an importer; unmapped on drop.
///
/// # Invariants
///
/// `sgt` was returned by `dma_buf_map_attachment_unlocked()` for `attach` in direction `dir`.
pub struct ImporterMapping<'a> {
    attach: &'a Attachment,
    sgt: NonNull<bindings::sg_table>,
    dir: DataDirection,
}

impl ImporterAttachment<'_> {
    /// Maps the buffer for the attached device in direction `dir`.
    ///
    /// Returns the exporter's error if it cannot map the buffer for this device.
    pub fn map(&self, dir: DataDirection) -> Result<ImporterMapping<'_>> {
        // SAFETY: The attachment is valid while `self` lives.
        let sgt = from_err_ptr(unsafe {
            bindings::dma_buf_map_attachment_unlocked(self.attach.as_ptr(), dir.into())
        })?;
        // INVARIANT: The mapping succeeded.
        Ok(ImporterMapping {
            attach: self,
            // SAFETY: `from_err_ptr` returned a valid, non-error pointer.
            sgt: unsafe { NonNull::new_unchecked(sgt) },
            dir,
        })
    }
}

impl ImporterMapping<'_> {
    /// Returns the mapped table.
    pub fn sg_table(&self) -> &SGTable {
        // SAFETY: The table is valid and unchanged until it is unmapped, when `self` drops.
        unsafe { SGTable::from_raw(self.sgt.as_ptr()) }
    }
}

impl Drop for ImporterMapping<'_> {
    fn drop(&mut self) {
        // SAFETY: By the type invariants the table came from mapping `attach` in `dir`; it is
        // unmapped exactly once, here.
        unsafe {
            bindings::dma_buf_unmap_attachment_unlocked(
                self.attach.as_raw(),
                self.sgt.as_ptr(),
                self.dir.into(),
            )
        };
    }
}
