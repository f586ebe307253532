// SPDX-License-Identifier: GPL-2.0

//! Regions: device-local memory a driver registers, its allocator, and the proof that it is
//! still there.
//!
//! A [`Region`] lives as long as anything uses it: the driver's handle, its heaps' backends
//! and every allocation from it hold a reference. Its registration, though, is tied to the
//! driver's binding: when the device is unbound (or the driver unregisters the region) the
//! region is withdrawn, and from then on nothing reaches the device's memory through it (an
//! importer that does not let go in time is the exception [`crate::revoke`] logs and
//! quarantines).
//!
//! Everything that touches the memory or relies on the device being bound does so while
//! holding a [`RegionGuard`], from [`Region::enter`]. Withdrawal marks the region gone, waits
//! for every guard, and revokes its live buffers ([`crate::revoke`]); it runs before the device
//! is unbound, which then releases the memory at once, whatever buffers still live.
//!
//! `Region`'s methods for drivers live with what they do: registration and unregistration in
//! [`crate::registration`], in-kernel allocation ([`Region::allocate`]) in [`crate::buffer`].

use crate::{
    chunk_cache::ChunkCache,
    counters::Counters,
    layout::Placement,
    memory::{
        Caching,
        DeviceMemory, //
    },
    p2p::Peer,
    ratelimit::RateLimit, //
};
use kernel::{
    cgroup::dmem,
    device::{
        Bound,
        Device, //
    },
    gpu::buddy::{
        GpuBuddy,
        GpuBuddyParams, //
    },
    io::PhysAddr,
    new_mutex,
    new_srcu,
    page::PAGE_SIZE,
    pci,
    prelude::*,
    ptr::Alignment,
    revocable::Revocable,
    str::CString,
    sync::{
        aref::ARef,
        atomic::{
            Atomic,
            Relaxed, //
        },
        srcu,
        Arc,
        Mutex,
        MutexGuard,
        Srcu, //
    },
    time::Delta,
    workqueue::{
        impl_has_delayed_work,
        new_delayed_work,
        DelayedWork, //
    }, //
};

/// What a driver says about the memory it registers.
pub struct RegionConfig<'a> {
    /// The base name: the heaps are `/dev/dma_heap/<name>` and `/dev/dma_heap/<name>-contiguous`.
    pub name: &'a CStr,
    /// The smallest block the allocator hands out, a power of two of at least the page size.
    pub chunk_size: Alignment,
    /// The CPU caching of every mapping of the memory.
    pub caching: Caching,
}

impl<'a> RegionConfig<'a> {
    /// A configuration with the default page-sized chunks and write-combined mappings.
    pub fn new(name: &'a CStr) -> Self {
        Self {
            name,
            chunk_size: Alignment::new::<PAGE_SIZE>(),
            caching: Caching::WriteCombined,
        }
    }
}

/// The names of the two heaps of a region. They live forever, like the heap nodes.
#[derive(Clone, Copy)]
pub(crate) struct HeapNames {
    /// `<name>`: the region's name, and its heap of scattered buffers.
    pub(crate) scattered: &'static CStr,
    /// `<name>-contiguous`: its heap of contiguous buffers.
    pub(crate) contiguous: &'static CStr,
}

impl HeapNames {
    /// Returns the name of the heap of `placement`.
    pub(crate) fn of(&self, placement: Placement) -> &'static CStr {
        match placement {
            Placement::Scattered => self.scattered,
            Placement::Contiguous => self.contiguous,
        }
    }
}

/// A registered range of device-local memory and its allocator.
///
/// # Invariants
///
/// - While `live` is true the region is registered and `dev` (and the device of `peer`, the
///   same device) is bound: withdrawal clears `live` and waits for every SRCU reader before the
///   device is unbound.
/// - `buddy` manages offsets `0..memory.size()`, rounded down to whole chunks.
#[pin_data]
pub struct Region {
    names: HeapNames,
    dev: ARef<Device>,
    peer: Option<Peer>,
    memory: KBox<dyn DeviceMemory>,
    buddy: GpuBuddy,
    /// The per-CPU caches of `buddy`'s chunks (see [`crate::chunk_cache`]).
    chunks: ChunkCache,
    caching: Caching,
    #[pin]
    srcu: Srcu,
    /// Cleared once, by withdrawal, under `withdrawal`; read inside SRCU read-side sections.
    live: Atomic<bool>,
    /// Held for the whole of a withdrawal, so that a second one waits for the first.
    #[pin]
    withdrawal: Mutex<()>,
    counters: Counters,
    #[pin]
    refusal_log: RateLimit,
    /// Held by the scrubber while it holds a block (see [`crate::clearing`]).
    #[pin]
    scrubbing: Mutex<()>,
    #[pin]
    scrub_work: DelayedWork<Region>,
    /// Set when the scrubber is queued, cleared when it starts: frees while it is set need not
    /// queue it again.
    pub(crate) scrub_queued: Atomic<bool>,
    /// The region's registration with the dmem cgroup controller, named [`Region::dmem_name`].
    /// Revoked by withdrawal, after every guard is gone: only guards use it.
    #[pin]
    dmem: Revocable<dmem::Region>,
    dmem_name: CString,
}

impl_has_delayed_work! {
    impl HasDelayedWork<Self> for Region { self.scrub_work }
}

/// Proof that a region is live, for as long as it is held.
///
/// Holding a `RegionGuard` proves that the region has not been withdrawn and, since withdrawal
/// waits for every guard before the driver's unbind goes on, that the device owning the memory
/// stays bound until the guard is dropped. The region's memory, and its PCI device as a bound
/// device, are reachable only through it. Get one with [`Region::enter`]; never withdraw a
/// region while holding one of its guards (withdrawal would wait for itself).
///
/// # Invariants
///
/// `region.live` was true after the SRCU read-side section `_srcu` of `region.srcu` began, and
/// the section lasts as long as the guard.
#[must_use = "the region may be withdrawn as soon as the guard is dropped"]
pub(crate) struct RegionGuard<'a> {
    region: &'a Region,
    _srcu: srcu::Guard<'a>,
}

impl RegionGuard<'_> {
    /// Charges `size` bytes of the region to the current task's dmem cgroup.
    ///
    /// Returns [`ENOMEM`] if that would take the cgroup, or one of its ancestors, over its
    /// `dmem.max`: like an allocation over `memory.max`, which is what the system heap gets.
    pub(crate) fn charge(&self, size: usize) -> Result<dmem::Charge> {
        // SAFETY: By the type invariants the region is live; withdrawal revokes the
        // registration only once every guard is gone.
        let dmem = unsafe { self.region.dmem.access() };
        // CAST: A byte count of the region fits a `u64`.
        dmem.try_charge(size as u64)
            .map_err(|e| if e == EAGAIN { ENOMEM } else { e })
    }

    /// Returns the region's memory.
    pub(crate) fn memory(&self) -> &dyn DeviceMemory {
        &*self.region.memory
    }

    /// Returns the device that owns the memory, bound.
    ///
    /// Only device-managed resources registered before the region are sure to be there: those
    /// registered after it are released before the region is withdrawn (devres releases in
    /// reverse order), while guards may still be held.
    pub(crate) fn device(&self) -> &Device<Bound> {
        // SAFETY: By the type invariants the region is live and withdrawal, which runs before
        // the driver's unbind completes, waits for the guard's section: the device is bound for
        // as long as the returned reference, which cannot outlive `self`.
        unsafe { self.region.dev.as_bound() }
    }

    /// Returns the region's BAR with its device, bound, if the region is a PCI BAR. The same
    /// limit as for [`RegionGuard::device`] holds; the BAR's p2pdma provider is set up before
    /// the region is registered.
    pub(crate) fn peer(&self) -> Option<(&Peer, &pci::Device<Bound>)> {
        let peer = self.region.peer.as_ref()?;
        let dev: &Device = peer.pdev().as_ref();
        // SAFETY: As in `device`: the peer's device is the region's device, bound for as long
        // as the returned reference, which cannot outlive `self`.
        let bound = unsafe { dev.as_bound() };
        Some((peer, bound.try_into().ok()?))
    }
}

impl Region {
    /// Makes a region of `memory`, owned by `dev` (and, for a PCI BAR, described by `peer`),
    /// with the heap names `names`. It is live until [`Region::withdraw`].
    ///
    /// Returns [`EINVAL`] for a chunk size below the page size or larger than the memory.
    pub(crate) fn new(
        dev: &Device<Bound>,
        memory: KBox<dyn DeviceMemory>,
        peer: Option<Peer>,
        names: HeapNames,
        config: &RegionConfig<'_>,
    ) -> Result<Arc<Self>> {
        let chunk = config.chunk_size;
        if chunk.as_usize() < PAGE_SIZE || memory.size() < chunk.as_usize() {
            return Err(EINVAL);
        }
        let size = memory.size() - memory.size() % chunk.as_usize();
        let buddy = GpuBuddy::new(GpuBuddyParams {
            base_offset: 0,
            size: size as u64,
            chunk_size: chunk,
        })?;
        let dmem_name =
            CString::try_from_fmt(fmt!("devmem_heap/{}/{}", dev.name(), names.scattered))?;
        let dmem = dmem::Region::register(size as u64, &dmem_name)?;
        let chunks = ChunkCache::new(&buddy)?;
        Arc::pin_init(
            try_pin_init!(Self {
                names,
                dev: dev.into(),
                peer,
                memory,
                buddy,
                chunks,
                caching: config.caching,
                srcu <- new_srcu!("devmem_heap_region"),
                live: Atomic::new(true),
                withdrawal <- new_mutex!(()),
                counters: Counters::new(),
                refusal_log <- RateLimit::new(Delta::from_secs(1)),
                scrubbing <- new_mutex!(()),
                scrub_work <- new_delayed_work!("Region::scrub_work"),
                scrub_queued: Atomic::new(false),
                dmem <- Revocable::new(dmem),
                dmem_name,
            }),
            GFP_KERNEL,
        )
    }

    /// Withdraws the region: marks it gone, so that every new use fails, and waits for every
    /// [`RegionGuard`].
    ///
    /// Returns the region's withdrawal lock to the call that withdrew it, which revokes the
    /// region's buffers (see [`crate::revoke`]) before dropping it; a concurrent second call
    /// waits for that and returns `None`, as does any later one. Must not be called while
    /// holding a guard of the region.
    pub(crate) fn withdraw(&self) -> Option<MutexGuard<'_, ()>> {
        let withdrawal = self.withdrawal.lock();
        if !self.live.load(Relaxed) {
            return None;
        }
        // A section that began before the grace period may still see the region live, and is
        // waited for; one that begins after it sees it gone.
        self.live.store(false, Relaxed);
        self.srcu.synchronize();
        // Nothing charges the region any more: off the controller with it. The charges of its
        // live buffers stay until they are freed.
        self.dmem.revoke();
        Some(withdrawal)
    }

    /// Returns whether allocations of the region are still alive.
    pub(crate) fn has_live_buffers(&self) -> bool {
        self.counters.live() > 0
    }

    /// Enters the region: returns a proof that it is live, or [`ENODEV`].
    pub(crate) fn enter(&self) -> Result<RegionGuard<'_>> {
        let guard = self.srcu.read_lock();
        if !self.live.load(Relaxed) {
            return Err(ENODEV);
        }
        // INVARIANT: `live` was checked inside the section.
        Ok(RegionGuard {
            region: self,
            _srcu: guard,
        })
    }

    /// Returns whether the region is registered.
    pub fn is_live(&self) -> bool {
        self.live.load(Relaxed)
    }

    /// Returns the name of the region in the dmem cgroup controller's files:
    /// `devmem_heap/<device>/<region>`.
    pub fn dmem_name(&self) -> &CStr {
        &self.dmem_name
    }

    /// Returns the region's name, which is also the name of its heap of scattered buffers.
    pub fn name(&self) -> &'static CStr {
        self.names.scattered
    }

    /// Returns the names of the region's heaps.
    pub(crate) fn heap_names(&self) -> HeapNames {
        self.names
    }

    /// Returns the device that registered the region.
    pub(crate) fn device(&self) -> &Device {
        &self.dev
    }

    /// Returns the region's BAR, if it is a PCI BAR.
    pub(crate) fn bar(&self) -> Option<u32> {
        self.peer.as_ref().map(Peer::bar)
    }

    /// Returns the size of the region in bytes.
    pub fn size(&self) -> u64 {
        self.buddy.size()
    }

    // The figures below count the block the scrubber may be clearing as free, as it is: they
    // are read with the scrubber locked out. They count the blocks of the per-CPU caches as
    // free too: the caches are drained into the allocator first.

    /// Gives every block of the per-CPU caches back to the allocator and returns the scrubber's
    /// lock, held: until it is dropped, the allocator's figures are the region's, but for what
    /// allocations take meanwhile (a refill of a cache included).
    pub(crate) fn drain_chunks(&self) -> MutexGuard<'_, ()> {
        let scrubbing = self.lock_scrubbing();
        // Draining fails only for lists of another allocator, which the caches never hold.
        let _ = self.chunks.drain(&self.buddy);
        scrubbing
    }

    /// Returns the number of free bytes.
    pub fn free_bytes(&self) -> u64 {
        let _drained = self.drain_chunks();
        self.buddy.avail()
    }

    /// Returns the number of free bytes that are cleared already (see [`crate::clearing`]).
    pub fn cleared_bytes(&self) -> u64 {
        let _drained = self.drain_chunks();
        self.buddy.clear_avail()
    }

    /// Returns the number of free bytes that are not cleared yet. The per-CPU caches hold none.
    pub(crate) fn dirty_bytes(&self) -> usize {
        let _scrubbing = self.lock_scrubbing();
        // CAST: Byte counts of the region fit a `usize`, its memory's size.
        self.buddy.avail().saturating_sub(self.buddy.clear_avail()) as usize
    }

    /// Returns the size of the largest free block: the largest contiguous buffer that can
    /// surely be allocated now.
    pub fn largest_free_block(&self) -> u64 {
        let _drained = self.drain_chunks();
        self.buddy.largest_free_block()
    }

    /// Returns the region's allocator.
    pub(crate) fn buddy(&self) -> &GpuBuddy {
        &self.buddy
    }

    /// Returns the per-CPU caches of the allocator's chunks.
    pub(crate) fn chunks(&self) -> &ChunkCache {
        &self.chunks
    }

    /// Returns the CPU caching of mappings of the region.
    pub(crate) fn caching(&self) -> Caching {
        self.caching
    }

    /// Returns the physical address of offset 0 of the region, if its memory has one.
    pub(crate) fn phys_base(&self) -> Option<PhysAddr> {
        self.memory.phys()
    }

    /// Locks out the scrubber: while the guard is held, it holds no block of the region.
    pub(crate) fn lock_scrubbing(&self) -> MutexGuard<'_, ()> {
        self.scrubbing.lock()
    }

    /// Returns the region's counters.
    pub(crate) fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Returns how many DMA mappings were refused to importers.
    pub fn refused_maps(&self) -> u64 {
        self.counters.refused_maps()
    }

    /// Counts a DMA mapping refused to the importer `importer`, and logs why, at most once a
    /// second.
    pub(crate) fn note_refused_map(&self, importer: &Device, why: &str) {
        self.counters.refused_map();
        if self.refusal_log.allow() {
            dev_warn!(
                self.dev,
                "devmem-heap: {}: no DMA mapping for importer {}: {}\n",
                self.name(),
                importer.name(),
                why
            );
        }
    }
}
