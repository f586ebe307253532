// SPDX-License-Identifier: GPL-2.0

//! Regions: device-local memory a driver registers, and allocation from it.
//!
//! A [`Region`] is registered from a driver's probe and lives as long as anything uses it: the
//! driver's handle, its heaps' backends and every buffer allocated from it hold a reference. Its
//! registration, though, is tied to the driver's binding: when the device is unbound (or the
//! driver calls [`Region::unregister`]) the region is withdrawn. From then on nothing touches the
//! device's memory through it: allocation fails with [`ENODEV`], new user-space faults get
//! `SIGBUS`, `vmap` and `map_dma_buf` fail. Buffers still alive keep their blocks until they are
//! released.
//!
//! Code that touches the device's memory or proves the device is bound does so inside the
//! region's SRCU read-side section ([`Region::enter`]); withdrawal marks the region gone, then
//! waits for every such section, and runs before the device is unbound.

use crate::{
    buffer::{
        Buffer,
        BufferInner, //
    },
    registry::{
        self,
        Names, //
    },
};
use core::fmt;
use kernel::{
    device::{
        Bound,
        Device, //
    },
    devres,
    dma_buf::{
        iomem::IoMemory,
        DmaBuf,
        Exported,
        FdFlags, //
    },
    gpu::buddy::{
        AllocatedBlocks,
        GpuBuddy,
        GpuBuddyAllocFlag,
        GpuBuddyAllocFlags,
        GpuBuddyAllocMode,
        GpuBuddyParams, //
    },
    io::PhysAddr,
    new_mutex, new_spinlock, new_srcu,
    page::PAGE_SIZE,
    pci,
    prelude::*,
    ptr::Alignment,
    sync::{
        aref::ARef,
        srcu,
        Arc,
        Mutex,
        SpinLock,
        Srcu, //
    },
    time::{
        Instant,
        Monotonic, //
    },
};

pub use kernel::dma_buf::iomem::Caching;

/// How a buffer's memory may be laid out.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Placement {
    /// Any number of blocks, anywhere in the region.
    Scattered,
    /// One block: the buffer is contiguous in the device's address space.
    Contiguous,
}

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

/// Where a region's memory is and how the framework reaches it.
pub(crate) enum Memory {
    /// Device memory, mapped into the kernel.
    Io(IoMemory),
    /// System memory standing in for a device, for the KUnit tests.
    #[cfg(CONFIG_DEVMEM_HEAP_KUNIT_TEST)]
    System(crate::tests::SystemMemory),
}

impl Memory {
    /// Returns the device memory, or `None` for system memory.
    pub(crate) fn io(&self) -> Option<&IoMemory> {
        match self {
            Self::Io(mem) => Some(mem),
            #[cfg(CONFIG_DEVMEM_HEAP_KUNIT_TEST)]
            Self::System(_) => None,
        }
    }

    fn size(&self) -> usize {
        match self {
            Self::Io(mem) => mem.size(),
            #[cfg(CONFIG_DEVMEM_HEAP_KUNIT_TEST)]
            Self::System(mem) => mem.size(),
        }
    }

    pub(crate) fn fill(&self, offset: usize, len: usize, byte: u8) -> Result {
        match self {
            Self::Io(mem) => mem.fill(offset, len, byte),
            #[cfg(CONFIG_DEVMEM_HEAP_KUNIT_TEST)]
            Self::System(mem) => mem.fill(offset, len, byte),
        }
    }

    #[cfg(CONFIG_DEVMEM_HEAP_KUNIT_TEST)]
    pub(crate) fn read(&self, offset: usize, out: &mut [u8]) -> Result {
        match self {
            Self::Io(mem) => mem.read(offset, out),
            #[cfg(CONFIG_DEVMEM_HEAP_KUNIT_TEST)]
            Self::System(mem) => mem.read(offset, out),
        }
    }

    #[cfg(CONFIG_DEVMEM_HEAP_KUNIT_TEST)]
    pub(crate) fn write(&self, offset: usize, data: &[u8]) -> Result {
        match self {
            Self::Io(mem) => mem.write(offset, data),
            #[cfg(CONFIG_DEVMEM_HEAP_KUNIT_TEST)]
            Self::System(mem) => mem.write(offset, data),
        }
    }
}

/// The BAR a region's memory is, with what mapping it for peers needs.
pub(crate) struct PciOwner {
    bar: u32,
    #[cfg(CONFIG_PCI_P2PDMA)]
    p2p: Option<P2p>,
}

/// The device of a BAR and its p2pdma provider.
#[cfg(CONFIG_PCI_P2PDMA)]
struct P2p {
    pdev: ARef<pci::Device>,
    provider: kernel::dma_buf::mmio::P2pProvider,
}

/// Counters and live buffers of a region, shown in debugfs.
struct State {
    allocs: u64,
    frees: u64,
    failures: u64,
    refused_maps: u64,
    next_id: u64,
    buffers: KVec<Record>,
}

/// A live buffer, as debugfs lists it.
struct Record {
    id: u64,
    ino: u64,
    size: usize,
    placement: Placement,
    ranges: Arc<KVec<(usize, usize)>>,
}

/// A registered range of device-local memory and its allocator.
///
/// # Invariants
///
/// - While `live` is true the region is registered and, if it has a `pci` owner, that device is
///   bound: withdrawal clears `live` and waits for every SRCU reader before the device is
///   unbound.
/// - `buddy` manages offsets `0..memory.size()`.
#[pin_data]
pub struct Region {
    names: Names,
    dev: ARef<Device>,
    pci: Option<PciOwner>,
    memory: Memory,
    buddy: GpuBuddy,
    caching: Caching,
    #[pin]
    srcu: Srcu,
    #[pin]
    live: SpinLock<bool>,
    #[pin]
    state: Mutex<State>,
    #[pin]
    last_refusal_log: SpinLock<Option<Instant<Monotonic>>>,
}

/// Proof that a region is live, for as long as it is held. See [`Region::enter`]. The region's
/// memory is only reachable through it.
pub(crate) struct Entered<'a> {
    region: &'a Region,
    _srcu: srcu::Guard<'a>,
}

impl Entered<'_> {
    /// Returns the region's memory.
    pub(crate) fn memory(&self) -> &Memory {
        &self.region.memory
    }

    /// Returns the region's PCI device as a bound device, with the p2pdma provider of its BAR,
    /// if the region is a PCI BAR with one.
    #[cfg(CONFIG_PCI_P2PDMA)]
    pub(crate) fn p2p(&self) -> Option<(&pci::Device<Bound>, &kernel::dma_buf::mmio::P2pProvider)> {
        let p2p = self.region.pci.as_ref()?.p2p.as_ref()?;
        let dev: &Device = p2p.pdev.as_ref();
        // SAFETY: By the type invariants of `Region`, the device is bound while the region is
        // live, and `Entered` holds the SRCU read section that withdrawal waits for before the
        // device can be unbound. The reference does not outlive `self`.
        let bound = unsafe { dev.as_bound() };
        let pdev: &pci::Device<Bound> = bound.try_into().ok()?;
        Some((pdev, &p2p.provider))
    }
}

/// Withdraws a region when its device is unbound.
struct Unregister(Arc<Region>);

impl Drop for Unregister {
    fn drop(&mut self) {
        self.0.unregister();
    }
}

impl Region {
    /// Registers memory BAR `bar` of `pdev` as a region and publishes its heaps.
    ///
    /// The region is withdrawn when `pdev` is unbound; the returned reference is the driver's
    /// handle for in-kernel allocation.
    ///
    /// Returns [`EINVAL`] for an invalid name, chunk size or BAR, [`EEXIST`] if the name is in
    /// use, and the errors of mapping the BAR and of the allocator.
    pub fn register_pci(
        pdev: &pci::Device<Bound>,
        bar: u32,
        config: RegionConfig<'_>,
    ) -> Result<Arc<Self>> {
        let memory = IoMemory::map_pci_bar(pdev, bar, c"devmem-heap", config.caching)?;
        #[cfg(CONFIG_PCI_P2PDMA)]
        let p2p = match kernel::dma_buf::mmio::P2pProvider::new(pdev, bar) {
            Ok(provider) => Some(P2p {
                pdev: pdev.into(),
                provider,
            }),
            Err(e) => {
                dev_warn!(
                    pdev,
                    "no p2pdma provider for BAR {bar} ({e:?}); CPU access only\n"
                );
                None
            }
        };
        let owner = PciOwner {
            bar,
            #[cfg(CONFIG_PCI_P2PDMA)]
            p2p,
        };
        Self::register(pdev.as_ref(), Memory::Io(memory), Some(owner), config, true)
    }

    /// Registers the `size` bytes of device memory at `phys` as a region of `dev` and publishes
    /// its heaps. The region is withdrawn when `dev` is unbound.
    ///
    /// Returns [`EINVAL`] for an invalid name or chunk size, or a range that is not page
    /// aligned, [`EEXIST`] if the name is in use, and the errors of mapping the range and of
    /// the allocator.
    ///
    /// # Safety
    ///
    /// The range must be device memory (never system RAM) of `dev`, unused by anything else
    /// while `dev` is bound.
    pub unsafe fn register_phys(
        dev: &Device<Bound>,
        phys: PhysAddr,
        size: usize,
        config: RegionConfig<'_>,
    ) -> Result<Arc<Self>> {
        // SAFETY: The caller's promise is the one `IoMemory::map` needs.
        let memory = unsafe { IoMemory::map(phys, size, config.caching)? };
        Self::register(dev, Memory::Io(memory), None, config, true)
    }

    pub(crate) fn register(
        dev: &Device<Bound>,
        memory: Memory,
        pci: Option<PciOwner>,
        config: RegionConfig<'_>,
        nodes: bool,
    ) -> Result<Arc<Self>> {
        let chunk = config.chunk_size;
        if chunk.as_usize() < PAGE_SIZE || memory.size() < chunk.as_usize() {
            return Err(EINVAL);
        }
        let size = memory.size() - memory.size() % chunk.as_usize();
        let region = registry::publish(config.name, nodes, |names| {
            let buddy = GpuBuddy::new(GpuBuddyParams {
                base_offset: 0,
                size: size as u64,
                chunk_size: chunk,
            })?;
            Arc::pin_init(
                try_pin_init!(Self {
                    names,
                    dev: dev.into(),
                    pci,
                    memory,
                    buddy,
                    caching: config.caching,
                    srcu <- new_srcu!("devmem_heap_region"),
                    live <- new_spinlock!(true),
                    state <- new_mutex!(State {
                        allocs: 0,
                        frees: 0,
                        failures: 0,
                        refused_maps: 0,
                        next_id: 0,
                        buffers: KVec::new(),
                    }),
                    last_refusal_log <- new_spinlock!(None),
                }),
                GFP_KERNEL,
            )
        })?;
        if let Err(e) = devres::register(dev, Unregister(region.clone()), GFP_KERNEL) {
            region.unregister();
            return Err(e);
        }
        dev_info!(
            dev,
            "devmem-heap: region {} ({} KiB) as /dev/dma_heap/{{{},{}}}\n",
            region.name(),
            size / 1024,
            region.names.plain,
            region.names.contiguous,
        );
        Ok(region)
    }

    /// Withdraws the region: its heaps stay but fail with [`ENODEV`], and nothing reaches the
    /// device's memory through the region any more. Idempotent; also done when the device is
    /// unbound. Must not be called from inside an entered section.
    pub fn unregister(&self) {
        {
            let mut live = self.live.lock();
            if !*live {
                return;
            }
            *live = false;
        }
        self.srcu.synchronize();
        registry::withdraw(self.names.plain);
        dev_info!(self.dev, "devmem-heap: region {} withdrawn\n", self.name());
    }

    /// Enters the region: returns a proof that it is live, or [`ENODEV`].
    pub(crate) fn enter(&self) -> Result<Entered<'_>> {
        let guard = self.srcu.read_lock();
        if !*self.live.lock() {
            return Err(ENODEV);
        }
        Ok(Entered {
            region: self,
            _srcu: guard,
        })
    }

    /// Returns whether the region is registered.
    pub fn is_live(&self) -> bool {
        *self.live.lock()
    }

    /// Returns the region's name, which is also the name of its scattered heap.
    pub fn name(&self) -> &'static CStr {
        self.names.plain
    }

    /// Returns the name of the heap of `placement`, which buffers show as their exporter.
    pub(crate) fn heap_name(&self, placement: Placement) -> &'static CStr {
        match placement {
            Placement::Scattered => self.names.plain,
            Placement::Contiguous => self.names.contiguous,
        }
    }

    /// Returns the size of the region in bytes.
    pub fn size(&self) -> u64 {
        self.buddy.size()
    }

    /// Returns the number of free bytes.
    pub fn free(&self) -> u64 {
        self.buddy.avail()
    }

    /// Returns the size of the largest free block: the largest contiguous buffer that can
    /// surely be allocated now.
    pub fn largest_free_block(&self) -> u64 {
        self.buddy.largest_free_block()
    }

    /// Returns the CPU caching of mappings of the region.
    pub(crate) fn caching(&self) -> Caching {
        self.caching
    }

    /// Returns the physical address of offset 0 of the region, if its memory has one.
    pub(crate) fn phys_base(&self) -> Option<PhysAddr> {
        self.memory.io().map(IoMemory::phys)
    }

    /// Allocates a zero-filled buffer of `len` bytes (rounded up to the page size) and exports
    /// it as a dma-buf with the file flags `flags`. This is the in-kernel allocation API; the
    /// heaps call it too.
    ///
    /// Returns [`EINVAL`] for a length of zero or larger than the region, [`ENODEV`] if the
    /// region is withdrawn, and [`ENOMEM`] if the region cannot hold the buffer now (for a
    /// contiguous buffer: no free range is large enough).
    pub fn allocate(
        self: &Arc<Self>,
        len: usize,
        placement: Placement,
        flags: FdFlags,
    ) -> Result<ARef<DmaBuf>> {
        self.allocate_exported(len, placement, flags)
            .map(Exported::into_dma_buf)
    }

    /// [`Region::allocate`], keeping the exporter's view of the buffer.
    pub(crate) fn allocate_exported(
        self: &Arc<Self>,
        len: usize,
        placement: Placement,
        flags: FdFlags,
    ) -> Result<ARef<Exported<Buffer>>> {
        let result = self.try_allocate(len, placement, flags);
        if let Err(e) = &result {
            if *e != EINVAL {
                self.state.lock().failures += 1;
            }
        }
        result
    }

    fn try_allocate(
        self: &Arc<Self>,
        len: usize,
        placement: Placement,
        flags: FdFlags,
    ) -> Result<ARef<Exported<Buffer>>> {
        let chunk = self.buddy.chunk_size().as_usize();
        let len = kernel::page::page_align(len).ok_or(EINVAL)?;
        if len == 0 || len as u64 > self.size() {
            return Err(EINVAL);
        }
        let alloc_len = len.checked_next_multiple_of(chunk).ok_or(EINVAL)?;
        let entered = self.enter()?;

        let mut alloc_flags = GpuBuddyAllocFlags::default();
        if placement == Placement::Contiguous {
            alloc_flags = GpuBuddyAllocFlags::from(GpuBuddyAllocFlag::Contiguous);
        }
        let blocks = KBox::pin_init(
            self.buddy.alloc_blocks(
                GpuBuddyAllocMode::Simple,
                alloc_len as u64,
                self.buddy.chunk_size(),
                alloc_flags,
            ),
            GFP_KERNEL,
        )
        .map_err(|e| if e == ENOSPC { ENOMEM } else { e })?;

        let ranges = Arc::new(merged_ranges(&blocks)?, GFP_KERNEL)?;
        // Every buffer handed out is zero-filled: no byte of a previous owner is ever visible.
        for &(offset, size) in ranges.iter() {
            entered.memory().fill(offset, size, 0)?;
        }
        drop(entered);

        let id = {
            let mut state = self.state.lock();
            let id = state.next_id;
            state.buffers.push(
                Record {
                    id,
                    ino: 0,
                    size: len,
                    placement,
                    ranges: ranges.clone(),
                },
                GFP_KERNEL,
            )?;
            state.next_id += 1;
            state.allocs += 1;
            id
        };
        // From here on, dropping `inner` forgets the record and frees the blocks.
        let inner = BufferInner::new(self.clone(), blocks, ranges, len, id)?;
        let buf = Exported::new(Buffer::new(inner), len, flags, self.heap_name(placement))?;
        if let Some(record) = self.state.lock().buffers.iter_mut().find(|r| r.id == id) {
            record.ino = buf.ino();
        }
        Ok(buf)
    }

    /// Returns how many DMA mappings were refused to importers.
    pub fn refused_maps(&self) -> u64 {
        self.state.lock().refused_maps
    }

    /// Forgets the live buffer `id`, whose blocks are being freed.
    pub(crate) fn buffer_freed(&self, id: u64) {
        let mut state = self.state.lock();
        if let Some(i) = state.buffers.iter().position(|r| r.id == id) {
            drop(state.buffers.remove(i));
        }
        state.frees += 1;
    }

    /// Logs, at most once a second, that the importer `dev` was refused a DMA mapping.
    pub(crate) fn refused(&self, dev: &Device, why: &str) {
        self.state.lock().refused_maps += 1;
        {
            let mut last = self.last_refusal_log.lock();
            if let Some(when) = *last {
                if when.elapsed().as_millis() < 1000 {
                    return;
                }
            }
            *last = Some(Instant::now());
        }
        dev_warn!(
            self.dev,
            "devmem-heap: {}: no DMA mapping for importer {}: {}\n",
            self.name(),
            dev.name(),
            why
        );
    }

    /// Writes the region's statistics, as debugfs shows them.
    pub(crate) fn fmt_stats(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let size = self.size();
        let free = self.free();
        writeln!(f, "name: {}", self.name().to_str().unwrap_or("?"))?;
        writeln!(f, "device: {}", self.dev.name().to_str().unwrap_or("?"))?;
        if let Some(owner) = &self.pci {
            writeln!(f, "bar: {}", owner.bar)?;
        }
        if let Some(phys) = self.phys_base() {
            writeln!(f, "phys: {phys:#x}")?;
        }
        writeln!(f, "live: {}", self.is_live())?;
        writeln!(f, "caching: {:?}", self.caching)?;
        writeln!(f, "chunk_size: {}", self.buddy.chunk_size().as_usize())?;
        writeln!(f, "size: {size}")?;
        writeln!(f, "used: {}", size - free)?;
        writeln!(f, "free: {free}")?;
        writeln!(f, "largest_free_block: {}", self.largest_free_block())?;
        let state = self.state.lock();
        writeln!(f, "live_buffers: {}", state.buffers.len())?;
        writeln!(f, "allocs: {}", state.allocs)?;
        writeln!(f, "frees: {}", state.frees)?;
        writeln!(f, "failures: {}", state.failures)?;
        writeln!(f, "refused_maps: {}", state.refused_maps)
    }

    /// Writes one line per live buffer: inode number, size, placement and the byte ranges of
    /// the region it occupies, in buffer order.
    pub(crate) fn fmt_buffers(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.lock();
        for record in state.buffers.iter() {
            let placement = match record.placement {
                Placement::Scattered => "scattered",
                Placement::Contiguous => "contiguous",
            };
            write!(f, "{} {} {}", record.ino, record.size, placement)?;
            for &(offset, len) in record.ranges.iter() {
                write!(f, " {offset:#x}+{len:#x}")?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

/// Returns the byte ranges (offset, length) of `blocks`, adjacent blocks merged, in the order
/// the buffer uses them.
fn merged_ranges(blocks: &AllocatedBlocks) -> Result<KVec<(usize, usize)>> {
    let mut ranges: KVec<(usize, usize)> = KVec::new();
    for block in blocks.iter() {
        // CAST: Blocks lie inside the region, whose size is a `usize`.
        let (offset, size) = (block.offset() as usize, block.size() as usize);
        if let Some(last) = ranges.last_mut() {
            if last.0 + last.1 == offset {
                last.1 += size;
                continue;
            }
        }
        ranges.push((offset, size), GFP_KERNEL)?;
    }
    Ok(ranges)
}
