// SPDX-License-Identifier: GPL-2.0

//! GEM objects whose memory is a dma-buf.
//!
//! C header: [`include/drm/drm_gem.h`](srctree/include/drm/drm_gem.h)
//!
//! An [`Object`] is a GEM object of any DRM driver, C or Rust, backed by a dma-buf it holds a
//! reference to, for drivers that place buffers in memory another subsystem exports (a dma-buf
//! heap of device memory, say) and want them to behave as their own objects:
//!
//! - PRIME export returns that same dma-buf, so every process and importer sees one buffer (one
//!   inode), however it got there;
//! - the object shares the dma-buf's reservation object, so fences and locking are the buffer's;
//! - `vmap` and `mmap` forward to the dma-buf (`dma_buf_vmap()`, `dma_buf_mmap()`), as the shmem
//!   helper does for imported objects, so the exporter's rules hold for the driver's mappings
//!   too: a user mapping made through the DRM file belongs to the dma-buf's file, and the
//!   exporter can zap it;
//! - unlike an imported object it has no attachment, so `DRM_IOCTL_MODE_MAP_DUMB` accepts it.
//!
//! The object's data `T` is the driver's; [`ObjectData::free`] runs when the last reference
//! goes.

use crate::{
    bindings,
    dma_buf::DmaBuf,
    error::to_result,
    prelude::*,
    sync::aref::{
        ARef,
        AlwaysRefCounted, //
    },
    types::Opaque,
};
use core::{
    marker::PhantomData,
    ptr::NonNull, //
};

/// A DRM device of any driver.
///
/// # Invariants
///
/// The device is valid for the lifetime of the reference.
#[repr(transparent)]
pub struct Device(Opaque<bindings::drm_device>);

impl Device {
    /// # Safety
    ///
    /// `ptr` must point to a valid DRM device that stays valid for `'a`.
    pub unsafe fn from_raw<'a>(ptr: *mut bindings::drm_device) -> &'a Self {
        // SAFETY: `Device` is a transparent `drm_device`; validity is the caller's promise.
        unsafe { &*ptr.cast() }
    }

    /// Returns the raw `struct drm_device`.
    pub fn as_raw(&self) -> *mut bindings::drm_device {
        self.0.get()
    }
}

/// An open file of a DRM device of any driver.
///
/// # Invariants
///
/// The file is valid for the lifetime of the reference.
#[repr(transparent)]
pub struct File(Opaque<bindings::drm_file>);

impl File {
    /// # Safety
    ///
    /// `ptr` must point to a valid DRM file that stays valid for `'a`.
    pub unsafe fn from_raw<'a>(ptr: *mut bindings::drm_file) -> &'a Self {
        // SAFETY: `File` is a transparent `drm_file`; validity is the caller's promise.
        unsafe { &*ptr.cast() }
    }

    /// Returns the raw `struct drm_file`.
    pub fn as_raw(&self) -> *mut bindings::drm_file {
        self.0.get()
    }
}

/// The driver's data of an [`Object`].
pub trait ObjectData: Send + Sync + Sized + 'static {
    /// Called when the object's last reference is gone, before the object is released and its
    /// dma-buf reference dropped. Nothing can take a new reference to the object any more.
    fn free(_obj: &Object<Self>) {}
}

/// A GEM object backed by a dma-buf.
///
/// # Invariants
///
/// - `obj` is an initialised GEM object whose `funcs` are `T`'s vtable, whose `resv` is `buf`'s
///   and whose size is `buf`'s.
/// - `obj.dma_buf`, when not null, is `buf` and holds a reference of its own, as the DRM core's
///   PRIME code expects.
/// - The object lives in a `KBox` until its reference count drops to zero.
#[repr(C)]
pub struct Object<T: ObjectData> {
    obj: Opaque<bindings::drm_gem_object>,
    buf: ARef<DmaBuf>,
    data: T,
}

// SAFETY: The GEM object is reached through the DRM core's locking and reference counting; `buf`
// and `data` are `Send`.
unsafe impl<T: ObjectData> Send for Object<T> {}
// SAFETY: See above; `data` is `Sync`.
unsafe impl<T: ObjectData> Sync for Object<T> {}

// SAFETY: The reference count is the GEM object's.
unsafe impl<T: ObjectData> AlwaysRefCounted for Object<T> {
    fn inc_ref(&self) {
        // SAFETY: A shared reference proves the count is non-zero.
        unsafe { bindings::drm_gem_object_get(self.as_raw()) };
    }

    unsafe fn dec_ref(obj: NonNull<Self>) {
        // SAFETY: The caller gives up a reference it holds.
        unsafe { bindings::drm_gem_object_put(obj.as_ref().as_raw()) };
    }
}

impl<T: ObjectData> Object<T> {
    /// Makes a GEM object of `dev` backed by `buf`, with the driver's data `data`.
    ///
    /// Returns [`EINVAL`] if `buf`'s size is not a multiple of the page size.
    pub fn new(dev: &Device, buf: ARef<DmaBuf>, data: T) -> Result<ARef<Self>> {
        let size = buf.size();
        if size == 0 || size % crate::page::PAGE_SIZE != 0 {
            return Err(EINVAL);
        }
        let this = KBox::new(
            Self {
                obj: Opaque::zeroed(),
                buf,
                data,
            },
            GFP_KERNEL,
        )?;
        let raw_buf = this.buf.as_raw();
        let obj = this.obj.get();
        // SAFETY: `obj` is a zeroed GEM object that nothing else knows of; `buf` is alive.
        unsafe {
            (*obj).funcs = &Vtable::<T>::FUNCS;
            (*obj).resv = (*raw_buf).resv;
            bindings::drm_gem_private_object_init(dev.as_raw(), obj, size);
            // PRIME export finds the buffer here and returns it, instead of exporting anew.
            bindings::get_dma_buf(raw_buf);
            (*obj).dma_buf = raw_buf;
        }
        let this = KBox::into_raw(this);
        // SAFETY: `drm_gem_private_object_init()` set the count to one, which is ours.
        // INVARIANT: `funcs`, `resv`, size and `dma_buf` are set as required above.
        Ok(unsafe { ARef::from_raw(NonNull::new_unchecked(this)) })
    }

    /// Returns the object behind `obj` if it is an `Object<T>`.
    ///
    /// Objects are told apart by the `free` function of their vtable, which is `T`'s own.
    ///
    /// # Safety
    ///
    /// `obj` must point to a valid GEM object that stays valid for `'a`.
    pub unsafe fn from_raw<'a>(obj: *mut bindings::drm_gem_object) -> Option<&'a Self> {
        let free: unsafe extern "C" fn(*mut bindings::drm_gem_object) = Vtable::<T>::free;
        // SAFETY: `obj` is valid by the safety requirements; GEM objects have a vtable.
        let funcs = unsafe { &*(*obj).funcs };
        if !funcs.free.is_some_and(|f| core::ptr::fn_addr_eq(f, free)) {
            return None;
        }
        // SAFETY: An object with `T`'s vtable is the `obj` field, at offset 0 of a
        // `#[repr(C)]` `Object<T>`.
        Some(unsafe { &*obj.cast::<Self>() })
    }

    /// Takes a reference to the object at `obj` unless its count has already dropped to zero.
    ///
    /// # Safety
    ///
    /// `obj` must point to an `Object<T>` that stays allocated for the duration of the call:
    /// its [`ObjectData::free`] has not returned yet.
    pub unsafe fn try_get(obj: NonNull<Self>) -> Option<ARef<Self>> {
        // SAFETY: The object is allocated, by the safety requirements.
        let refcount = unsafe { &raw mut (*obj.as_ref().as_raw()).refcount };
        // SAFETY: `refcount` is the object's `kref`, which is allocated.
        if unsafe { bindings::kref_get_unless_zero(refcount) } == 0 {
            return None;
        }
        // SAFETY: The reference just taken is the one the `ARef` owns.
        Some(unsafe { ARef::from_raw(obj) })
    }

    /// Returns the raw `struct drm_gem_object`.
    pub fn as_raw(&self) -> *mut bindings::drm_gem_object {
        self.obj.get()
    }

    /// Returns the object's device.
    pub fn dev(&self) -> &Device {
        // SAFETY: The object holds its device's `drm_device` valid while it lives.
        unsafe { Device::from_raw((*self.as_raw()).dev) }
    }

    /// Returns the dma-buf that backs the object.
    pub fn dma_buf(&self) -> &DmaBuf {
        &self.buf
    }

    /// Returns the driver's data.
    pub fn data(&self) -> &T {
        &self.data
    }

    /// Returns a handle of the object in `file`, a new one or the one it has there already.
    pub fn create_handle(&self, file: &File) -> Result<u32> {
        let mut handle = 0;
        // SAFETY: `file` and the object are valid; the handle holds its own reference.
        to_result(unsafe {
            bindings::drm_gem_handle_create(file.as_raw(), self.as_raw(), &mut handle)
        })?;
        Ok(handle)
    }
}

struct Vtable<T: ObjectData>(PhantomData<T>);

impl<T: ObjectData> Vtable<T> {
    const FUNCS: bindings::drm_gem_object_funcs = bindings::drm_gem_object_funcs {
        free: Some(Self::free),
        open: None,
        close: None,
        print_info: None,
        export: Some(Self::export),
        pin: None,
        unpin: None,
        get_sg_table: None,
        vmap: Some(Self::vmap),
        vunmap: Some(Self::vunmap),
        mmap: Some(Self::mmap),
        evict: None,
        status: None,
        rss: None,
        vm_ops: core::ptr::null(),
    };

    /// # Safety
    ///
    /// `obj` must be a valid `Object<T>`.
    unsafe fn object<'a>(obj: *mut bindings::drm_gem_object) -> &'a Object<T> {
        // SAFETY: `obj` is the first field of a `#[repr(C)]` `Object<T>`, by the caller.
        unsafe { &*obj.cast::<Object<T>>() }
    }

    /// # Safety
    ///
    /// The DRM core calls this on an object with this vtable whose count dropped to zero.
    unsafe extern "C" fn free(obj: *mut bindings::drm_gem_object) {
        // SAFETY: The DRM core calls `free` on an object with this vtable, an `Object<T>`.
        T::free(unsafe { Self::object(obj) });
        // SAFETY: The count is zero: the object is ours alone. `dma_buf`, if set, holds its own
        // reference (type invariant), which goes first: `drm_gem_object_release()` WARNs about
        // an object that still has one.
        unsafe {
            let exported = (*obj).dma_buf;
            if !exported.is_null() {
                (*obj).dma_buf = core::ptr::null_mut();
                bindings::dma_buf_put(exported);
            }
            bindings::drm_gem_object_release(obj);
            drop(KBox::from_raw(obj.cast::<Object<T>>()));
        }
    }

    /// # Safety
    ///
    /// The DRM core calls this on a live object with this vtable.
    unsafe extern "C" fn export(
        obj: *mut bindings::drm_gem_object,
        _flags: c_int,
    ) -> *mut bindings::dma_buf {
        // SAFETY: The DRM core calls `export` on a live object with this vtable.
        let buf = unsafe { Self::object(obj) }.buf.as_raw();
        // SAFETY: `buf` is alive; the caller takes over the new reference.
        unsafe { bindings::get_dma_buf(buf) };
        buf
    }

    /// # Safety
    ///
    /// The DRM core calls this on a live object with this vtable, holding its reservation lock.
    unsafe extern "C" fn vmap(
        obj: *mut bindings::drm_gem_object,
        map: *mut bindings::iosys_map,
    ) -> c_int {
        // SAFETY: The DRM core calls `vmap` on a live object with this vtable, holding its
        // reservation lock, which is the buffer's (type invariant), as `dma_buf_vmap()` needs.
        unsafe { bindings::dma_buf_vmap(Self::object(obj).buf.as_raw(), map) }
    }

    /// # Safety
    ///
    /// As for `vmap`, with a `map` that `vmap` filled in.
    unsafe extern "C" fn vunmap(obj: *mut bindings::drm_gem_object, map: *mut bindings::iosys_map) {
        // SAFETY: As for `vmap`; `map` came from it.
        unsafe { bindings::dma_buf_vunmap(Self::object(obj).buf.as_raw(), map) }
    }

    /// # Safety
    ///
    /// `drm_gem_mmap_obj()` calls this on a live object with this vtable and a new mapping.
    unsafe extern "C" fn mmap(
        obj: *mut bindings::drm_gem_object,
        vma: *mut bindings::vm_area_struct,
    ) -> c_int {
        // SAFETY: `drm_gem_mmap_obj()` calls `mmap` on a live object with this vtable and a new
        // mapping of the DRM file, holding an object reference in `vm_private_data` for
        // `vm_ops`. The mapping becomes the dma-buf's: its file, its `vm_ops`, its reference.
        unsafe {
            (*vma).vm_private_data = core::ptr::null_mut();
            (*vma).vm_ops = core::ptr::null();
            let ret = bindings::dma_buf_mmap(Self::object(obj).buf.as_raw(), vma, 0);
            if ret == 0 {
                bindings::drm_gem_object_put(obj);
            }
            ret
        }
    }
}
