// SPDX-License-Identifier: GPL-2.0

//! Kernel virtual mappings of dma-bufs, in system memory or in I/O memory.
//!
//! C header: [`include/linux/iosys-map.h`](srctree/include/linux/iosys-map.h)

use super::DmaBuf;
use crate::{
    bindings,
    error::to_result,
    prelude::*, //
};

/// The address an exporter's `vmap` returns: a kernel mapping of a whole dma-buf, and whether
/// it is I/O memory.
///
/// It mirrors `struct iosys_map`: I/O memory must be accessed with the I/O accessors, never
/// dereferenced.
///
/// # Examples
///
/// ```
/// use kernel::dma_buf::VmapAddr;
///
/// let mem = KVec::<u8>::with_capacity(64, GFP_KERNEL)?;
/// let vaddr = mem.as_ptr().cast_mut().cast();
/// // SAFETY: Only inspected here, never handed to an importer.
/// let map = unsafe { VmapAddr::from_vaddr(vaddr) };
/// assert!(!map.is_iomem());
/// assert_eq!(map.addr(), vaddr);
/// // SAFETY: As above.
/// let io = unsafe { VmapAddr::from_vaddr_iomem(vaddr) };
/// assert!(io.is_iomem());
/// # Ok::<(), Error>(())
/// ```
pub struct VmapAddr(bindings::iosys_map);

impl VmapAddr {
    /// A mapping in system memory.
    ///
    /// # Safety
    ///
    /// `vaddr` must map the whole buffer, in system memory, until the exporter's `vunmap` gets
    /// this mapping back.
    pub unsafe fn from_vaddr(vaddr: *mut c_void) -> Self {
        Self(bindings::iosys_map {
            __bindgen_anon_1: bindings::iosys_map__bindgen_ty_1 { vaddr },
            is_iomem: false,
        })
    }

    /// A mapping in I/O memory.
    ///
    /// # Safety
    ///
    /// `vaddr_iomem` must map the whole buffer, in I/O memory, until the exporter's `vunmap`
    /// gets this mapping back.
    pub unsafe fn from_vaddr_iomem(vaddr_iomem: *mut c_void) -> Self {
        Self(bindings::iosys_map {
            __bindgen_anon_1: bindings::iosys_map__bindgen_ty_1 { vaddr_iomem },
            is_iomem: true,
        })
    }

    /// Returns whether the mapping is of I/O memory.
    pub fn is_iomem(&self) -> bool {
        self.0.is_iomem
    }

    /// Returns the mapping's address, in system or I/O memory as [`VmapAddr::is_iomem`] says.
    pub fn addr(&self) -> *mut c_void {
        // SAFETY: Both members of the union are pointers of the same size and either is valid
        // to read as an address.
        unsafe { self.0.__bindgen_anon_1.vaddr }
    }

    pub(crate) fn into_raw(self) -> bindings::iosys_map {
        self.0
    }

    /// # Safety
    ///
    /// `map` must be a mapping returned by an exporter's `vmap` (through `into_raw`).
    pub(crate) unsafe fn from_raw(map: bindings::iosys_map) -> Self {
        Self(map)
    }
}

/// A kernel mapping of a whole dma-buf, taken by an importer; unmapped on drop.
///
/// # Invariants
///
/// `map` was returned by `dma_buf_vmap_unlocked()` for `buf` and maps its whole size.
pub struct Vmap<'a> {
    buf: &'a DmaBuf,
    map: bindings::iosys_map,
}

impl DmaBuf {
    /// Maps the whole buffer into the kernel address space.
    ///
    /// Returns [`EINVAL`] if the exporter has no `vmap`, or the exporter's error.
    pub fn vmap(&self) -> Result<Vmap<'_>> {
        let mut map = bindings::iosys_map::default();
        // SAFETY: `self` is valid; `map` is valid for writes.
        to_result(unsafe { bindings::dma_buf_vmap_unlocked(self.as_raw(), &mut map) })?;
        // INVARIANT: `dma_buf_vmap_unlocked()` succeeded.
        Ok(Vmap { buf: self, map })
    }
}

impl Vmap<'_> {
    /// Returns whether the mapping is of I/O memory.
    pub fn is_iomem(&self) -> bool {
        self.map.is_iomem
    }

    fn check(&self, offset: usize, len: usize) -> Result<*mut u8> {
        let end = offset.checked_add(len).ok_or(EINVAL)?;
        if end > self.buf.size() {
            return Err(EINVAL);
        }
        // SAFETY: Either member of the union is the mapping's address.
        let base = unsafe { self.map.__bindgen_anon_1.vaddr }.cast::<u8>();
        // SAFETY: `offset` is within the mapping, which covers the whole buffer.
        Ok(unsafe { base.add(offset) })
    }

    /// Copies `out.len()` bytes from `offset` in the buffer into `out`.
    ///
    /// Returns [`EINVAL`] if the range does not fit in the buffer.
    pub fn read(&self, offset: usize, out: &mut [u8]) -> Result {
        let src = self.check(offset, out.len())?;
        if self.map.is_iomem {
            // SAFETY: `src..src + out.len()` is mapped I/O memory of the buffer.
            unsafe { bindings::memcpy_fromio(out.as_mut_ptr().cast(), src.cast(), out.len()) };
        } else {
            // SAFETY: `src..src + out.len()` is mapped system memory of the buffer; it cannot
            // overlap `out`, which Rust owns.
            unsafe { core::ptr::copy_nonoverlapping(src, out.as_mut_ptr(), out.len()) };
        }
        Ok(())
    }

    /// Copies `data` to `offset` in the buffer.
    ///
    /// Returns [`EINVAL`] if the range does not fit in the buffer.
    pub fn write(&self, offset: usize, data: &[u8]) -> Result {
        let dst = self.check(offset, data.len())?;
        if self.map.is_iomem {
            // SAFETY: `dst..dst + data.len()` is mapped I/O memory of the buffer.
            unsafe { bindings::memcpy_toio(dst.cast(), data.as_ptr().cast(), data.len()) };
        } else {
            // SAFETY: `dst..dst + data.len()` is mapped system memory of the buffer; it cannot
            // overlap `data`, which Rust owns.
            unsafe { core::ptr::copy_nonoverlapping(data.as_ptr(), dst, data.len()) };
        }
        Ok(())
    }
}

impl Drop for Vmap<'_> {
    fn drop(&mut self) {
        // SAFETY: By the type invariants `map` came from `dma_buf_vmap_unlocked()` on `buf`.
        unsafe { bindings::dma_buf_vunmap_unlocked(self.buf.as_raw(), &mut self.map) };
    }
}
