// SPDX-License-Identifier: GPL-2.0

//! GEM objects on device memory: the DRM glue of devmem-heap.
//!
//! A DRM driver, C or Rust, gets GEM objects whose memory is a buffer of a devmem-heap region
//! ([`kernel::drm::gem::dma_buf::Object`]): new ones, allocated from a region in the kernel
//! ([`create`]), and ones wrapping a region's dma-buf that user space hands it ([`import`]).
//! Either way PRIME export gives back the region's own dma-buf, the inode the region's debugfs
//! `buffers` lists, and the buffer's rules (zero-filled, revoked with its region) hold for the
//! driver's mappings.
//!
//! Self-import identity: each buffer has at most one object per DRM device, so importing a
//! region's dma-buf into a driver that already holds an object for it, from any file, gives
//! back that object, as `drm_gem_prime_import()` does for a driver's own exports. The objects
//! are kept by their buffer's inode number in [`OBJECTS`], an rbtree; an object leaves it when
//! it is freed. A buffer is found in the tree for the first device that wrapped it; another
//! device importing it meanwhile gets an object of its own, without identity.

use crate::{
    buffer::Buffer,
    layout::Placement,
    region::Region, //
};
use core::ptr::NonNull;
use kernel::{
    dma_buf::{
        DmaBuf,
        Exported,
        FdFlags, //
    },
    drm::gem::dma_buf::{
        Device,
        Object,
        ObjectData, //
    },
    prelude::*,
    rbtree::{
        RBTree,
        RBTreeNode, //
    },
    sync::{
        aref::ARef,
        Arc, //
    },
};

/// The GEM object of a region's buffer.
pub(crate) type GemObject = Object<DevmemGem>;

/// The glue's data of a [`GemObject`]: nothing but its leaving [`OBJECTS`] when freed.
pub(crate) struct DevmemGem;

/// An object in [`OBJECTS`]: a weak pointer, made strong with [`Object::try_get`].
pub(crate) struct Entry(NonNull<GemObject>);

// SAFETY: The pointer is only dereferenced under `OBJECTS`' lock, while the object is allocated
// (it leaves the tree in `DevmemGem::free`, before it is freed).
unsafe impl Send for Entry {}

kernel::sync::global_lock! {
    // SAFETY: `init` runs in the module initialiser, before any object can be made.
    unsafe(uninit) static OBJECTS: Mutex<Option<RBTree<u64, Entry>>> = None;
}

/// Readies the glue; called once, from the module initialiser.
pub(crate) fn init() {
    // SAFETY: Called once, from the module initialiser, before any other use of `OBJECTS`.
    unsafe { OBJECTS.init() };
}

impl ObjectData for DevmemGem {
    fn free(obj: &GemObject) {
        let mut objects = OBJECTS.lock();
        let Some(tree) = objects.as_mut() else {
            return;
        };
        let ino = obj.dma_buf().ino();
        if tree
            .get(&ino)
            .is_some_and(|entry| core::ptr::eq(entry.0.as_ptr(), obj))
        {
            // Freed after the lock is dropped: the node holds no reference.
            let node = tree.remove_node(&ino);
            drop(objects);
            drop(node);
        }
    }
}

/// Allocates `size` bytes of `region` (rounded up to the page size) as a new GEM object of
/// `dev`: zero-filled, in one block if `placement` says so.
///
/// Returns [`EINVAL`] for a zero or larger-than-the-region size, [`ENODEV`] if the region is
/// withdrawn, [`ENOMEM`] if it cannot hold the buffer now.
pub(crate) fn create(
    dev: &Device,
    region: &Arc<Region>,
    size: usize,
    placement: Placement,
) -> Result<ARef<GemObject>> {
    let flags = FdFlags::new(FdFlags::RDWR.as_raw() | FdFlags::CLOEXEC.as_raw())?;
    let buf = region.allocate(size, placement, flags)?;
    wrap(dev, buf)
}

/// Returns `dev`'s GEM object for `buf`, the one it has or a new one, if `buf` is a buffer of
/// a devmem-heap region; `None` if it is not, for the driver to import it its own way.
pub(crate) fn import(dev: &Device, buf: &DmaBuf) -> Option<Result<ARef<GemObject>>> {
    Exported::<Buffer>::from_dma_buf(buf)?;
    if let Some(obj) = lookup(dev, buf.ino()) {
        return Some(Ok(obj));
    }
    Some(wrap(dev, buf.into()))
}

/// Returns `dev`'s live object for the buffer with inode number `ino`, if it is in the tree.
fn lookup(dev: &Device, ino: u64) -> Option<ARef<GemObject>> {
    let objects = OBJECTS.lock();
    let entry = objects.as_ref()?.get(&ino)?;
    // SAFETY: An entry's object is allocated while it is in the tree and the lock is held.
    let obj = unsafe { entry.0.as_ref() };
    if !core::ptr::eq(obj.dev(), dev) {
        return None;
    }
    // SAFETY: As above; the object may be on its way to `free`, which `try_get` sees.
    let obj = unsafe { Object::try_get(entry.0) };
    drop(objects);
    obj
}

/// Makes a new object of `dev` for `buf` and enters it in the tree, unless a live object of
/// the buffer is there already (one of another device).
fn wrap(dev: &Device, buf: ARef<DmaBuf>) -> Result<ARef<GemObject>> {
    let ino = buf.ino();
    let obj = GemObject::new(dev, buf, DevmemGem)?;
    let node = RBTreeNode::new(ino, Entry(NonNull::from(&*obj)), GFP_KERNEL)?;
    let mut objects = OBJECTS.lock();
    let tree = objects.get_or_insert_with(RBTree::new);
    // An entry whose count is zero is on its way out of the tree: replace it.
    let other = tree.get(&ino).and_then(|entry| {
        // SAFETY: An entry's object is allocated while it is in the tree and the lock is held.
        unsafe { Object::try_get(entry.0) }
    });
    let replaced = if other.is_some() {
        None
    } else {
        tree.insert(node)
    };
    // References and nodes go after the lock: freeing an object takes it.
    drop(objects);
    drop(other);
    drop(replaced);
    Ok(obj)
}
