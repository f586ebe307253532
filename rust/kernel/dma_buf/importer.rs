// SPDX-License-Identifier: GPL-2.0

//! What an importer does with a dma-buf: attach a device, map it for DMA, map it into the
//! kernel.
//!
//! C header: [`include/linux/dma-buf.h`](srctree/include/linux/dma-buf.h)
//!
//! Each step is an RAII object that undoes itself on drop: [`ImporterAttachment`] detaches,
//! [`ImporterMapping`] unmaps the DMA mapping, [`Vmap`] unmaps the kernel mapping.
//!
//! These are static importers: their mappings pin the buffer and cannot be revoked. Importers
//! that map under the reservation lock and give their mappings up when told to are dynamic
//! importers, in [`dynamic`](super::dynamic).
//!
//! # Examples
//!
//! An importer of a buffer of system memory: it attaches a faux device, is refused a DMA
//! mapping by this CPU-only exporter, and writes and reads through a kernel mapping.
//!
//! ```
//! use kernel::{
//!     dma::DataDirection,
//!     dma_buf::{
//!         Exported,
//!         Exporter,
//!         FdFlags,
//!         Locked,
//!         NoSgTable,
//!         VmapAddr, //
//!     },
//!     faux,
//!     page::PAGE_SIZE, //
//! };
//!
//! struct Bytes(KVVec<u8>);
//!
//! #[vtable]
//! impl Exporter for Bytes {
//!     type SgTable<'a> = NoSgTable;
//!
//!     fn vmap(buf: &Locked<'_, Self>) -> Result<VmapAddr> {
//!         let vaddr = buf.data().get_ref().0.as_ptr().cast_mut().cast();
//!         // SAFETY: The vector maps the whole buffer for as long as the buffer lives.
//!         Ok(unsafe { VmapAddr::from_vaddr(vaddr) })
//!     }
//!
//!     fn vunmap(_buf: &Locked<'_, Self>, _map: VmapAddr) {}
//! }
//!
//! let mem = KVVec::from_elem(0u8, PAGE_SIZE, GFP_KERNEL)?;
//! let buf = Exported::new(Bytes(mem), PAGE_SIZE, FdFlags::RDWR, c"doctest-importer")?;
//! let faux = faux::Registration::new(c"dma-buf-importer-doctest", None)?;
//!
//! // Attached until `attachment` drops.
//! let attachment = buf.attach(faux.as_ref().as_ref())?;
//! assert!(!attachment.peer2peer());
//! assert_eq!(
//!     attachment.map(DataDirection::FromDevice).err(),
//!     Some(EOPNOTSUPP)
//! );
//!
//! // Mapped into the kernel until `map` drops.
//! let map = buf.vmap()?;
//! assert!(!map.is_iomem());
//! map.write(PAGE_SIZE - 4, &[1, 2, 3, 4])?;
//! let mut out = [0u8; 4];
//! map.read(PAGE_SIZE - 4, &mut out)?;
//! assert_eq!(out, [1, 2, 3, 4]);
//! // One byte past the end of the buffer.
//! assert_eq!(map.read(PAGE_SIZE - 3, &mut out), Err(EINVAL));
//! # Ok::<(), Error>(())
//! ```

use super::{
    Attachment,
    DmaBuf,
    VmapAddr, //
};
use crate::{
    bindings,
    device::Device,
    dma::DataDirection,
    error::{
        from_err_ptr,
        to_result, //
    },
    io::{
        Io,
        IoSysMap, //
    },
    prelude::*,
    scatterlist::SGTable,
    sync::aref::ARef, //
};
use core::{
    marker::PhantomData,
    ops::Deref,
    ptr::NonNull, //
};

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

/// A kernel mapping of a whole dma-buf, taken by an importer; unmapped on drop. It holds a
/// reference to the buffer, so that it can be kept as long as the importer needs it.
///
/// [`Vmap::as_io`] gives the mapping to the kernel's I/O accessors ([`Io`]), whether it is
/// system or I/O memory; [`Vmap::read`] and [`Vmap::write`] copy bytes with a bounds check.
///
/// # Invariants
///
/// `map` was returned by `dma_buf_vmap_unlocked()` for `buf` and maps its whole size until it is
/// unmapped on drop; `io` is a view of those bytes, handed out only for borrows of `self`.
pub struct Vmap {
    buf: ARef<DmaBuf>,
    map: VmapAddr,
    io: IoSysMap<'static, [u8]>,
}

// SAFETY: The mapping is a kernel address, valid on every CPU; `dma_buf_vunmap_unlocked()` may
// be called from any thread.
unsafe impl Send for Vmap {}
// SAFETY: Accesses through shared references go through the I/O accessors, which tolerate
// concurrent use.
unsafe impl Sync for Vmap {}

impl DmaBuf {
    /// Maps the whole buffer into the kernel address space.
    ///
    /// Returns [`EINVAL`] if the exporter has no `vmap`, or the exporter's error.
    pub fn vmap(&self) -> Result<Vmap> {
        let mut map = bindings::iosys_map::default();
        // SAFETY: `self` is valid; `map` is valid for writes.
        to_result(unsafe { bindings::dma_buf_vmap_unlocked(self.as_raw(), &mut map) })?;
        // SAFETY: The exporter's `vmap` returned `map`, through the core.
        let mut map = unsafe { VmapAddr::from_raw(map) };
        // SAFETY: The mapping covers the whole buffer until the `Vmap` made here unmaps it on
        // drop; the view is only handed out for borrows of the `Vmap`.
        match unsafe { map.io_view(self.size()) } {
            // INVARIANT: `dma_buf_vmap_unlocked()` succeeded; `io` views the mapping.
            Ok(io) => Ok(Vmap {
                buf: self.into(),
                map,
                io,
            }),
            Err(e) => {
                // SAFETY: Mapped above and not used.
                unsafe { bindings::dma_buf_vunmap_unlocked(self.as_raw(), map.as_raw_mut()) };
                Err(e)
            }
        }
    }
}

impl Vmap {
    /// Returns whether the mapping is of I/O memory.
    pub fn is_iomem(&self) -> bool {
        self.map.is_iomem()
    }

    /// Returns the whole mapping as a view for the kernel's I/O accessors.
    pub fn as_io(&self) -> IoSysMap<'_, [u8]> {
        self.io
    }

    /// Copies `out.len()` bytes from `offset` in the buffer into `out`.
    ///
    /// Returns [`EINVAL`] if the range does not fit in the buffer.
    pub fn read(&self, offset: usize, out: &mut [u8]) -> Result {
        super::io_range(self.io, offset, out.len())?.copy_to_slice(out);
        Ok(())
    }

    /// Copies `data` to `offset` in the buffer.
    ///
    /// Returns [`EINVAL`] if the range does not fit in the buffer.
    pub fn write(&self, offset: usize, data: &[u8]) -> Result {
        super::io_range(self.io, offset, data.len())?.copy_from_slice(data);
        Ok(())
    }
}

impl Drop for Vmap {
    fn drop(&mut self) {
        // SAFETY: By the type invariants `map` came from `dma_buf_vmap_unlocked()` on `buf`.
        unsafe { bindings::dma_buf_vunmap_unlocked(self.buf.as_raw(), self.map.as_raw_mut()) };
    }
}
