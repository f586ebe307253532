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
//! region's dma-buf into a device that already holds an object for it, from any file, gives back
//! that object, as `drm_gem_prime_import()` does for a driver's own exports. The objects are kept
//! in [`static@OBJECTS`], an rbtree keyed by the buffer's inode number and the device; an object
//! leaves it when it is freed.

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

/// The glue's data of a [`GemObject`]: nothing but its leaving [`static@OBJECTS`] when freed.
pub(crate) struct DevmemGem;

/// An object in [`static@OBJECTS`]: a weak pointer, made strong with [`Object::try_get`].
pub(crate) struct Entry(NonNull<GemObject>);

// SAFETY: The pointer is only dereferenced under `OBJECTS`' lock, while the object is allocated
// (it leaves the tree in `DevmemGem::free`, before it is freed).
unsafe impl Send for Entry {}

/// The key of an object in [`static@OBJECTS`]: its buffer's inode number and its device's address.
type Key = (u64, usize);

fn key(dev: &Device, buf: &DmaBuf) -> Key {
    (buf.ino(), dev.as_raw() as usize)
}

kernel::sync::global_lock! {
    // SAFETY: `init` runs in the module initialiser, before any object can be made.
    unsafe(uninit) static OBJECTS: Mutex<Option<RBTree<Key, Entry>>> = None;
}

/// Readies the glue; called once, from the module initialiser.
pub(crate) fn init() {
    // SAFETY: Called once, from the module initialiser, before any other use of `OBJECTS`.
    unsafe { OBJECTS.init() };
}

impl ObjectData for DevmemGem {
    fn free(obj: &GemObject) {
        let key = key(obj.dev(), obj.dma_buf());
        let mut objects = OBJECTS.lock();
        let Some(tree) = objects.as_mut() else {
            return;
        };
        // The entry may be a newer object's, which replaced this one while it was dying.
        if tree
            .get(&key)
            .is_some_and(|entry| core::ptr::eq(entry.0.as_ptr(), obj))
        {
            let node = tree.remove_node(&key);
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
    let objects = OBJECTS.lock();
    let obj = objects
        .as_ref()
        .and_then(|tree| tree.get(&key(dev, buf)))
        .and_then(|entry| {
            // SAFETY: An entry's object is allocated while it is in the tree and the lock is
            // held; it may be on its way to `free`, which `try_get` sees.
            unsafe { Object::try_get(entry.0) }
        });
    drop(objects);
    Some(obj.map_or_else(|| wrap(dev, buf.into()), Ok))
}

/// Makes a new object of `dev` for `buf` and enters it in the tree.
///
/// A live object of the same device and buffer found there instead is returned, and the new
/// one dropped: DRM imports one buffer at a time per device (under `object_name_lock`), so only
/// an in-kernel caller racing an import gets there.
fn wrap(dev: &Device, buf: ARef<DmaBuf>) -> Result<ARef<GemObject>> {
    let key = key(dev, &buf);
    let obj = GemObject::new(dev, buf, DevmemGem)?;
    let node = RBTreeNode::new(key, Entry(NonNull::from(&*obj)), GFP_KERNEL)?;
    let mut objects = OBJECTS.lock();
    let tree = objects.get_or_insert_with(RBTree::new);
    // An entry whose count is zero is on its way out of the tree: replace it.
    let other = tree.get(&key).and_then(|entry| {
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
    drop(replaced);
    Ok(match other {
        Some(other) => other,
        None => obj,
    })
}
