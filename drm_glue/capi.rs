// SPDX-License-Identifier: GPL-2.0

//! The C face of the DRM glue: `include/drm/drm_devmem.h`.
//!
//! `exports.c` defines the C functions on top of these and exports them to modules. A
//! `*mut GemObject` is a `struct drm_gem_object *` in C: the GEM object is the first field of a
//! `#[repr(C)]` [`GemObject`], and each function returning one gives the caller a reference.

use crate::{
    drm_gem::{
        self as gem,
        GemObject, //
    },
    layout::Placement,
    region::Region, //
};
use kernel::{
    dma_buf::DmaBuf,
    drm::gem::dma_buf::Device,
    sync::{
        aref::ARef,
        Arc, //
    },
};

/// Allocates a zero-filled GEM object of `size` bytes of `region` for `dev`, in one block if
/// `contiguous`. See [`gem::create`].
///
/// Returns the object's only reference, or an `ERR_PTR()`.
///
/// # Safety
///
/// `dev` must be a valid DRM device and `region` a reference returned by the region API.
#[no_mangle]
pub(crate) unsafe extern "C" fn drm_devmem_capi_create(
    dev: *const Device,
    region: *mut Region,
    size: usize,
    contiguous: bool,
) -> *mut GemObject {
    // SAFETY: `region` came from `Arc::into_raw` and the caller still holds it; this borrows it
    // without taking its reference.
    let region = core::mem::ManuallyDrop::new(unsafe { Arc::from_raw(region) });
    let placement = if contiguous {
        Placement::Contiguous
    } else {
        Placement::Scattered
    };
    // SAFETY: `dev` is a valid DRM device, by the safety requirements.
    match gem::create(unsafe { &*dev }, &region, size, placement) {
        Ok(obj) => ARef::into_raw(obj).as_ptr(),
        Err(e) => e.to_ptr(),
    }
}

/// Returns `dev`'s GEM object for `buf` if `buf` is a buffer of a devmem-heap region: a new
/// reference, or an `ERR_PTR()`. Returns NULL if `buf` is not such a buffer.
///
/// # Safety
///
/// `dev` must be a valid DRM device and `buf` a valid dma-buf.
#[no_mangle]
pub(crate) unsafe extern "C" fn drm_devmem_capi_import(
    dev: *const Device,
    buf: *const DmaBuf,
) -> *mut GemObject {
    // SAFETY: `dev` and `buf` are valid, by the safety requirements.
    match gem::import(unsafe { &*dev }, unsafe { &*buf }) {
        None => core::ptr::null_mut(),
        Some(Ok(obj)) => ARef::into_raw(obj).as_ptr(),
        Some(Err(e)) => e.to_ptr(),
    }
}
