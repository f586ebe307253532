// SPDX-License-Identifier: GPL-2.0

//! The heap nodes of every region that ever registered, by name.
//!
//! The dma-buf heap core cannot remove a heap, so a node outlives its region: when the region
//! goes away its node stays, allocation from it fails with `ENODEV`, and a region registering the
//! same name later brings the node back. The registry refuses a name that is in use, or whose
//! heap names would clash with another region's (`foo-contiguous` against `foo`), before the
//! core sees it; the core refuses a name any other heap has (`system`) with `EEXIST`.
//!
//! A name is free again as soon as its region is withdrawn, even while buffers of that region
//! live: withdrawal revoked them, so nothing of theirs reaches the memory a new region under
//! the name (on the same device bound again, or another) hands out. If the revocation was not
//! clean (an importer kept a table or its fences past the bound), the name stays taken
//! (`EBUSY`) until every buffer of that region is gone.

use crate::{
    debugfs,
    heap::HeapBackend,
    layout::Placement,
    region::{
        HeapNames,
        Region, //
    },
};
use kernel::{
    debugfs::{
        Dir,
        Scope, //
    },
    dma_heap::Heap,
    prelude::*,
    str::CString,
    sync::Arc, //
};

/// The suffix of the name of a region's heap of contiguous buffers.
const CONTIGUOUS_SUFFIX: &str = "-contiguous";

/// The longest region name, in bytes.
pub(crate) const NAME_MAX: usize = 48;

kernel::sync::global_lock! {
    // SAFETY: `init` runs in the module initialiser, before any region can register.
    pub(crate) unsafe(uninit) static REGISTRY: Mutex<Registry> = Registry {
        entries: KVec::new(),
        root: None,
        #[cfg(CONFIG_DEVMEM_HEAP_VMAP_CHECK)]
        vmap_check: None,
    };
}

/// Whether a region gets heap nodes in `/dev/dma_heap`.
#[derive(Copy, Clone, PartialEq, Eq)]
pub(crate) enum Nodes {
    /// The region's two heaps are published (every region a driver registers).
    Publish,
    /// No heap nodes: nodes cannot be removed, so short-lived test regions get none.
    #[cfg_attr(not(CONFIG_DEVMEM_HEAP_KUNIT_TEST), expect(dead_code))]
    Omit,
}

pub(crate) struct Registry {
    entries: KVec<Entry>,
    root: Option<Dir>,
    #[cfg(CONFIG_DEVMEM_HEAP_VMAP_CHECK)]
    vmap_check: Option<Pin<KBox<kernel::debugfs::File<crate::vmap_check::Slots>>>>,
}

struct Entry {
    names: HeapNames,
    scattered: Option<&'static Heap<HeapBackend>>,
    contiguous: Option<&'static Heap<HeapBackend>>,
    region: Option<Arc<Region>>,
    /// A region withdrawn under the name whose revocation was not clean, while it may have
    /// live buffers that importers still reach.
    quarantined: Option<Arc<Region>>,
    debugfs: Option<Pin<KBox<Scope<Arc<Region>>>>>,
}

/// Sets the registry up. Called once, from the module initialiser.
pub(crate) fn init() {
    // SAFETY: Called once, from the module initialiser, before any other use of `REGISTRY`.
    unsafe { REGISTRY.init() };
    let root = Dir::new(c"devmem_heap");
    let mut reg = REGISTRY.lock();
    // debugfs is best effort: the framework works without it.
    #[cfg(CONFIG_DEVMEM_HEAP_VMAP_CHECK)]
    {
        reg.vmap_check = crate::vmap_check::create(&root).ok();
    }
    reg.root = Some(root);
}

/// Checks that `name` is a valid region name: 1 to [`NAME_MAX`] bytes of ASCII letters, digits,
/// `_`, `-` and `.`, not starting with `.`. Returns [`EINVAL`] otherwise.
pub(crate) fn validate(name: &CStr) -> Result {
    let bytes = name.to_bytes();
    if bytes.is_empty() || bytes.len() > NAME_MAX || bytes[0] == b'.' {
        return Err(EINVAL);
    }
    if bytes
        .iter()
        .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.'))
    {
        Ok(())
    } else {
        Err(EINVAL)
    }
}

fn leak(name: CString) -> Result<&'static CStr> {
    let name: &'static CString = KBox::leak(KBox::new(name, GFP_KERNEL)?);
    Ok(name)
}

impl Registry {
    fn find(&self, name: &CStr) -> Option<usize> {
        self.entries.iter().position(|e| e.names.scattered == name)
    }

    /// Returns the index of the entry of `name`, made if there is none yet.
    fn entry(&mut self, name: &CStr) -> Result<usize> {
        if let Some(i) = self.find(name) {
            let entry = &mut self.entries[i];
            if entry.region.is_some() {
                return Err(EEXIST);
            }
            if entry
                .quarantined
                .as_ref()
                .is_some_and(|r| r.has_live_buffers())
            {
                return Err(EBUSY);
            }
            entry.quarantined = None;
            return Ok(i);
        }
        let contiguous = CString::try_from_fmt(fmt!("{}{}", name.to_str()?, CONTIGUOUS_SUFFIX))?;
        // A new name must not make a heap name of another region: `foo-contiguous` vs `foo`.
        let clash = self
            .entries
            .iter()
            .any(|e| e.names.contiguous == name || e.names.scattered == &*contiguous);
        if clash {
            return Err(EEXIST);
        }
        let scattered = CString::try_from(name)?;
        // Names are only ever made once per distinct name and are never freed: heap nodes
        // and buffers' exporter names refer to them forever.
        let names = HeapNames {
            scattered: leak(scattered)?,
            contiguous: leak(contiguous)?,
        };
        self.entries.push(
            Entry {
                names,
                scattered: None,
                contiguous: None,
                region: None,
                quarantined: None,
                debugfs: None,
            },
            GFP_KERNEL,
        )?;
        Ok(self.entries.len() - 1)
    }
}

/// Returns the heap in `slot`, adding it to the dma-buf heap core the first time.
fn heap_in(
    slot: &mut Option<&'static Heap<HeapBackend>>,
    name: &'static CStr,
) -> Result<&'static Heap<HeapBackend>> {
    if let Some(heap) = slot {
        return Ok(heap);
    }
    let heap = Heap::register(name, kernel::module::this_module::<crate::LocalModule>())?;
    *slot = Some(heap);
    Ok(heap)
}

/// Publishes the region that `make` creates under the name `name`, with its debugfs directory
/// and the heap nodes `nodes` says.
///
/// Returns [`EINVAL`] for an invalid name, [`EEXIST`] if the name is taken, clashes with
/// another region's heaps or is the name of another heap, [`EBUSY`] while buffers of a region
/// the name quarantined live, and the errors of `make` and of adding the heaps.
pub(crate) fn publish(
    name: &CStr,
    nodes: Nodes,
    make: impl FnOnce(HeapNames) -> Result<Arc<Region>>,
) -> Result<Arc<Region>> {
    validate(name)?;
    let mut reg = REGISTRY.lock();
    let i = reg.entry(name)?;
    let names = reg.entries[i].names;
    let region = make(names)?;

    let entry = &mut reg.entries[i];
    if nodes == Nodes::Publish {
        back_nodes(entry, &region)?;
    }
    entry.region = Some(region.clone());

    // debugfs is best effort: a region works without it.
    let scope = reg.root.as_ref().map(|root| {
        KBox::pin_init(
            root.scope(region.clone(), names.scattered, debugfs::populate),
            GFP_KERNEL,
        )
    });
    if let Some(Ok(scope)) = scope {
        reg.entries[i].debugfs = Some(scope);
    }
    Ok(region)
}

/// Puts backends of `region` behind the heap nodes of `entry`, adding the nodes the first time.
fn back_nodes(entry: &mut Entry, region: &Arc<Region>) -> Result {
    let names = entry.names;
    let scattered = heap_in(&mut entry.scattered, names.scattered)?;
    let contiguous = heap_in(&mut entry.contiguous, names.contiguous)?;
    scattered.set_backend(Arc::new(
        HeapBackend::new(region.clone(), Placement::Scattered),
        GFP_KERNEL,
    )?)?;
    let contiguous_set = Arc::new(
        HeapBackend::new(region.clone(), Placement::Contiguous),
        GFP_KERNEL,
    )
    .map_err(Error::from)
    .and_then(|backend| contiguous.set_backend(backend));
    if contiguous_set.is_err() {
        scattered.take_backend();
    }
    contiguous_set
}

/// Takes `region` out of the registry: its heaps stay, with no backend, and its debugfs
/// directory goes. Unless its buffers were revoked `clean`ly, the name is quarantined until
/// they are gone.
pub(crate) fn withdraw(region: &Region, clean: bool) {
    let mut reg = REGISTRY.lock();
    let Some(i) = reg.find(region.name()) else {
        return;
    };
    let entry = &mut reg.entries[i];
    if !entry
        .region
        .as_deref()
        .is_some_and(|r| core::ptr::eq(r, region))
    {
        return;
    }
    for heap in [entry.scattered, entry.contiguous].into_iter().flatten() {
        heap.take_backend();
    }
    let scope = entry.debugfs.take();
    let region = entry.region.take();
    if !clean {
        entry.quarantined = region.clone();
    }
    drop(reg);
    drop(scope);
    drop(region);
}

/// Returns the region published under `name`, if there is one.
pub(crate) fn find(name: &CStr) -> Option<Arc<Region>> {
    let reg = REGISTRY.lock();
    reg.find(name).and_then(|i| reg.entries[i].region.clone())
}
