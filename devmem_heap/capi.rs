// SPDX-License-Identifier: GPL-2.0

//! The C face of the framework: `include/linux/devmem_heap.h`.
//!
//! C drivers register regions and allocate from them with the same semantics as Rust drivers.
//! A `struct devmem_region *` is a counted reference to a [`Region`]; every function returning
//! one gives the caller a reference, which `devmem_region_put()` drops.
//!
//! `exports.c` defines the C functions on top of these and exports them to modules. It also
//! checks their flags, whose bits are defined once, in the header, and hands the meaning of
//! each over here as a `bool`.

use crate::{
    layout::Placement,
    memory::Caching,
    region::{
        Region,
        RegionConfig, //
    },
};
use kernel::{
    device::{
        Bound,
        Device, //
    },
    dma_buf::{
        DmaBuf,
        FdFlags, //
    },
    io::PhysAddr,
    pci,
    prelude::*,
    ptr::Alignment,
    sync::{
        aref::ARef,
        Arc, //
    },
};

/// Registers the `size` bytes of device memory at `base` as a region of `dev` named `name`,
/// mapped uncached if `uncached`, else write-combined.
///
/// Returns a reference to the region, or an `ERR_PTR()`.
///
/// # Safety
///
/// `dev` must be a device bound to the calling driver (the call comes from its probe), `name` a
/// NUL-terminated string, and the range device memory of `dev` that nothing else uses.
#[no_mangle]
pub(crate) unsafe extern "C" fn devmem_heap_capi_register(
    dev: *const Device,
    base: PhysAddr,
    size: u64,
    name: *const c_char,
    chunk_size: u64,
    uncached: bool,
) -> *mut Region {
    let result = (|| {
        // SAFETY: `dev` is a valid device, bound for the whole call, by the safety requirements.
        let dev = unsafe { (*dev).as_bound() };
        // SAFETY: `name` is a NUL-terminated string, by the safety requirements.
        let name = unsafe { CStr::from_char_ptr(name) };
        let chunk_size = usize::try_from(chunk_size).map_err(|_| EINVAL)?;
        let config = RegionConfig {
            name,
            chunk_size: Alignment::new_checked(chunk_size).ok_or(EINVAL)?,
            caching: if uncached {
                Caching::Uncached
            } else {
                Caching::WriteCombined
            },
        };
        let size = usize::try_from(size).map_err(|_| EINVAL)?;
        // SAFETY: The range is device memory of `dev` that nothing else uses, by the safety
        // requirements.
        unsafe { Region::register_phys(dev, base, size, config) }
    })();
    match result {
        Ok(region) => Arc::into_raw(region).cast_mut(),
        Err(e) => e.to_ptr(),
    }
}

/// Registers memory BAR `bar` of the PCI device `dev` as a region named `name`, mapped
/// uncached if `uncached`, else write-combined.
///
/// Returns a reference to the region, or an `ERR_PTR()`.
///
/// # Safety
///
/// `dev` must be the device of a PCI device bound to the calling driver (the call comes from
/// its probe), and `name` a NUL-terminated string.
#[no_mangle]
pub(crate) unsafe extern "C" fn devmem_heap_capi_register_pci(
    dev: *const Device,
    bar: c_int,
    name: *const c_char,
    uncached: bool,
) -> *mut Region {
    let result = (|| {
        // SAFETY: `dev` is a valid device, bound for the whole call, by the safety requirements.
        let dev = unsafe { (*dev).as_bound() };
        let pdev: &pci::Device<Bound> = dev.try_into()?;
        // SAFETY: `name` is a NUL-terminated string, by the safety requirements.
        let name = unsafe { CStr::from_char_ptr(name) };
        let mut config = RegionConfig::new(name);
        if uncached {
            config.caching = Caching::Uncached;
        }
        Region::register_pci(pdev, u32::try_from(bar)?, config)
    })();
    match result {
        Ok(region) => Arc::into_raw(region).cast_mut(),
        Err(e) => e.to_ptr(),
    }
}

/// Returns a reference to the live region named `name`, or NULL.
///
/// # Safety
///
/// `name` must be a NUL-terminated string.
#[no_mangle]
pub(crate) unsafe extern "C" fn devmem_heap_capi_find(name: *const c_char) -> *mut Region {
    // SAFETY: `name` is a NUL-terminated string, by the safety requirements.
    let name = unsafe { CStr::from_char_ptr(name) };
    match crate::registry::find(name) {
        Some(region) => Arc::into_raw(region).cast_mut(),
        None => core::ptr::null_mut(),
    }
}

/// Drops a reference to a region.
///
/// # Safety
///
/// `region` must be a reference returned by this module's functions, not used afterwards.
#[no_mangle]
pub(crate) unsafe extern "C" fn devmem_heap_capi_put(region: *mut Region) {
    // SAFETY: The caller gives up the reference it got from `Arc::into_raw`.
    drop(unsafe { Arc::from_raw(region) });
}

/// Withdraws a region before its device is unbound. See [`Region::unregister`].
///
/// # Safety
///
/// `region` must be a reference returned by this module's functions.
#[no_mangle]
pub(crate) unsafe extern "C" fn devmem_heap_capi_unregister(region: *mut Region) {
    // SAFETY: `region` is a live reference, by the safety requirements.
    unsafe { (*region).unregister() };
}

/// Allocates a zero-filled dma-buf of `len` bytes from `region`, in one block if `contiguous`.
/// See [`Region::allocate`].
///
/// Returns the buffer's only reference, or an `ERR_PTR()`.
///
/// # Safety
///
/// `region` must be a reference returned by this module's functions.
#[no_mangle]
pub(crate) unsafe extern "C" fn devmem_heap_capi_alloc(
    region: *mut Region,
    len: usize,
    fd_flags: u32,
    contiguous: bool,
) -> *mut DmaBuf {
    // SAFETY: `region` came from `Arc::into_raw` and the caller still holds it; this borrows
    // it without taking its reference.
    let region = unsafe { Arc::from_raw(region) };
    let region = core::mem::ManuallyDrop::new(region);
    let result = (|| {
        let placement = if contiguous {
            Placement::Contiguous
        } else {
            Placement::Scattered
        };
        region.allocate(len, placement, FdFlags::new(fd_flags)?)
    })();
    match result {
        Ok(buf) => ARef::into_raw(buf).as_ptr(),
        Err(e) => e.to_ptr(),
    }
}
