// SPDX-License-Identifier: GPL-2.0

//! KUnit suite of the devmem-heap core: regions of system memory standing in for a device,
//! registered from a faux device, with no ivshmem present.

use crate::{
    buffer::Buffer,
    layout::{
        Placement,
        Ranges, //
    },
    memory::{
        Caching,
        DeviceMemory,
        KernelMapping, //
    },
    region::{
        Region,
        RegionConfig, //
    },
    registration::register,
    registry::Nodes, //
};
use core::{
    ptr::NonNull,
    sync::atomic::{
        AtomicBool,
        AtomicU32,
        Ordering::Relaxed, //
    },
};
use kernel::{
    device::{
        Bound,
        Device, //
    },
    dma::DataDirection,
    dma_buf::{
        DmaBuf,
        DynamicAttachment,
        Exported,
        FdFlags,
        Importer,
        VmapAddr, //
    },
    faux,
    io::{
        io_project,
        Io,
        PhysAddr,
        SysMem, //
    },
    page::PAGE_SIZE,
    prelude::*,
    ptr::{
        projection::OutOfBound,
        Alignment, //
    },
    sizes::*,
    sync::{
        aref::ARef,
        Arc, //
    },
    time::{
        delay::fsleep,
        Delta, //
    },
    workqueue, //
};

/// System memory standing in for a device's memory, shared by the region and the test.
///
/// # Invariants
///
/// `ptr` points to the `size` bytes owned by `_mem`, only ever accessed through `ptr`.
struct Backing {
    _mem: KVVec<u8>,
    ptr: NonNull<u8>,
    size: usize,
}

// SAFETY: The memory is plain bytes; the allocator hands disjoint ranges to buffers.
unsafe impl Send for Backing {}
// SAFETY: See above; accesses are raw copies that tolerate concurrent readers.
unsafe impl Sync for Backing {}

impl Backing {
    /// Allocates `size` bytes, filled with `0xa5` so that missing zeroing shows.
    fn new(size: usize) -> Result<Arc<Self>> {
        let mut mem = KVVec::from_elem(0xa5u8, size, GFP_KERNEL)?;
        let ptr = NonNull::new(mem.as_mut_ptr()).ok_or(ENOMEM)?;
        // INVARIANT: `ptr` is the start of `mem`'s `size` bytes.
        Ok(Arc::new(
            Self {
                _mem: mem,
                ptr,
                size,
            },
            GFP_KERNEL,
        )?)
    }

    /// Returns the `len` bytes at `offset` as a view for the kernel's I/O accessors, or
    /// [`EINVAL`] if they are out of bounds.
    fn range(&self, offset: usize, len: usize) -> Result<SysMem<'_, [u8]>> {
        let bytes = core::ptr::slice_from_raw_parts_mut(self.ptr.as_ptr(), self.size);
        // SAFETY: `ptr` points to `size` bytes owned by `self`, which the view cannot outlive.
        let whole = unsafe { SysMem::new(bytes) };
        let end = offset.checked_add(len).ok_or(EINVAL)?;
        let project = || -> Result<_, OutOfBound> { Ok(io_project!(whole, [try: offset..end])) };
        project().map_err(|_| EINVAL)
    }

    fn read(&self, offset: usize, out: &mut [u8]) -> Result {
        self.range(offset, out.len())?.copy_to_slice(out);
        Ok(())
    }

    fn write(&self, offset: usize, data: &[u8]) -> Result {
        self.range(offset, data.len())?.copy_from_slice(data);
        Ok(())
    }
}

/// The region's view of a [`Backing`]: system memory, so no physical address for user or
/// peer-to-peer mappings, and kernel mappings of contiguous buffers only.
struct SystemMemory(Arc<Backing>);

impl DeviceMemory for SystemMemory {
    fn size(&self) -> usize {
        self.0.size
    }

    fn phys(&self) -> Option<PhysAddr> {
        None
    }

    fn fill(&self, _dev: &Device<Bound>, offset: usize, len: usize, byte: u8) -> Result {
        let range = self.0.range(offset, len)?;
        range.copy_from_slice(&KVVec::from_elem(byte, len, GFP_KERNEL)?);
        Ok(())
    }

    unsafe fn vmap(&self, ranges: &[(usize, usize)], size: usize) -> Result<KernelMapping> {
        let [(offset, _)] = ranges else {
            return Err(EOPNOTSUPP);
        };
        let ptr = self.0.range(*offset, size)?.as_ptr();
        Ok(KernelMapping {
            // SAFETY: `ptr` maps the buffer in system memory for as long as `self`, which the
            // caller keeps alive while the address is used.
            addr: unsafe { VmapAddr::from_vaddr(ptr.cast()) },
            stitched: None,
        })
    }
}

/// Calls `f` with where `buf`, a buffer of `region`, lies in the region; [`ENOENT`] if it is not
/// one.
fn with_ranges<R>(
    region: &Region,
    buf: &DmaBuf,
    f: impl FnOnce(&Ranges) -> Result<R>,
) -> Result<R> {
    let allocation = Exported::<Buffer>::from_dma_buf(buf)
        .ok_or(ENOENT)?
        .data()
        .get_ref()
        .allocation();
    if !core::ptr::eq(&**allocation.region(), region) {
        return Err(ENOENT);
    }
    f(allocation.ranges())
}

/// Copies `out.len()` bytes at `offset` of `buf`, a buffer of `region`, out of `mem`, the
/// region's memory.
fn read(
    region: &Region,
    mem: &Backing,
    buf: &DmaBuf,
    mut offset: usize,
    mut out: &mut [u8],
) -> Result {
    with_ranges(region, buf, move |ranges| {
        while !out.is_empty() {
            let run = ranges.locate(buf.size(), offset).ok_or(EINVAL)?;
            let n = run.after.min(out.len());
            let (head, tail) = core::mem::take(&mut out).split_at_mut(n);
            mem.read(run.at, head)?;
            out = tail;
            offset += n;
        }
        Ok(())
    })
}

/// Copies `data` into `buf`, a buffer of `region`, at `offset`, in `mem`, the region's memory.
fn write(
    region: &Region,
    mem: &Backing,
    buf: &DmaBuf,
    mut offset: usize,
    mut data: &[u8],
) -> Result {
    with_ranges(region, buf, |ranges| {
        while !data.is_empty() {
            let run = ranges.locate(buf.size(), offset).ok_or(EINVAL)?;
            let n = run.after.min(data.len());
            mem.write(run.at, &data[..n])?;
            data = &data[n..];
            offset += n;
        }
        Ok(())
    })
}

#[kunit_tests(devmem_heap)]
mod cases {
    use super::*;

    /// A faux device with a region of `size` bytes of system memory named `name`.
    struct Fixture {
        region: Arc<Region>,
        mem: Arc<Backing>,
        _dev: faux::Registration,
    }

    /// Registers a region of `mem` for `dev`, with the heap nodes `nodes` says.
    fn register_system(
        dev: &faux::Registration,
        mem: &Arc<Backing>,
        config: RegionConfig<'_>,
        nodes: Nodes,
    ) -> Result<Arc<Region>> {
        register(
            dev.as_ref().as_ref(),
            KBox::new(SystemMemory(mem.clone()), GFP_KERNEL)?,
            None,
            config,
            nodes,
        )
    }

    impl Fixture {
        fn new(name: &CStr, size: usize, chunk: Alignment) -> Result<Self> {
            let dev = faux::Registration::new(name, None)?;
            let mem = Backing::new(size)?;
            let config = RegionConfig {
                name,
                chunk_size: chunk,
                caching: Caching::WriteCombined,
            };
            let region = register_system(&dev, &mem, config, Nodes::Omit)?;
            Ok(Self {
                region,
                mem,
                _dev: dev,
            })
        }

        fn alloc(&self, len: usize, placement: Placement) -> Result<ARef<Exported<Buffer>>> {
            self.region.allocate_exported(len, placement, FdFlags::RDWR)
        }
    }

    /// Waits for `region` to have `free` bytes free: a dropped buffer's file is released
    /// asynchronously, from a kthread, and its blocks with it.
    fn settles(region: &Region, free: usize) -> bool {
        for _ in 0..200 {
            if region.free_bytes() == free as u64 {
                return true;
            }
            fsleep(Delta::from_millis(5));
        }
        false
    }

    impl Drop for Fixture {
        fn drop(&mut self) {
            self.region.unregister();
        }
    }

    fn ranges(f: &Fixture, buf: &Exported<Buffer>) -> usize {
        with_ranges(&f.region, buf, |r| Ok(r.as_slice().len())).unwrap_or(0)
    }

    #[test]
    fn rounding_and_alignment() -> Result {
        let f = Fixture::new(c"kunit-round", SZ_1M, Alignment::new::<SZ_4K>())?;
        let buf = f.alloc(1, Placement::Scattered)?;
        assert_eq!(buf.size(), PAGE_SIZE);
        assert!(settles(&f.region, SZ_1M - PAGE_SIZE));
        drop(buf);
        assert!(settles(&f.region, SZ_1M));

        // With 64 KiB chunks a page-sized buffer takes a whole chunk, but stays page-sized.
        let g = Fixture::new(c"kunit-chunk", SZ_1M, Alignment::new::<SZ_64K>())?;
        let buf = g.alloc(PAGE_SIZE + 1, Placement::Contiguous)?;
        assert_eq!(buf.size(), 2 * PAGE_SIZE);
        assert!(settles(&g.region, SZ_1M - SZ_64K));
        drop(buf);
        assert!(settles(&g.region, SZ_1M));

        // Zero, and larger than the region.
        assert_eq!(f.alloc(0, Placement::Scattered).err(), Some(EINVAL));
        assert_eq!(f.alloc(SZ_1M + 1, Placement::Scattered).err(), Some(EINVAL));
        assert_eq!(
            f.alloc(usize::MAX, Placement::Contiguous).err(),
            Some(EINVAL)
        );
        assert!(settles(&f.region, SZ_1M));
        Ok(())
    }

    #[test]
    fn contiguous_and_scattered() -> Result {
        let f = Fixture::new(c"kunit-place", SZ_1M, Alignment::new::<SZ_4K>())?;
        // Seven pages: a 4 + 2 + 1 page set of blocks, one range if they happen to touch.
        let scattered = f.alloc(7 * PAGE_SIZE, Placement::Scattered)?;
        assert_eq!(scattered.size(), 7 * PAGE_SIZE);
        assert!(ranges(&f, &scattered) >= 1);
        let contiguous = f.alloc(7 * PAGE_SIZE, Placement::Contiguous)?;
        assert_eq!(ranges(&f, &contiguous), 1);
        assert!(settles(&f.region, SZ_1M - 14 * PAGE_SIZE));
        assert_eq!(contiguous.exporter_name(), c"kunit-place-contiguous");
        assert_eq!(scattered.exporter_name(), c"kunit-place");
        Ok(())
    }

    #[test]
    fn exhaustion_and_fragmentation() -> Result {
        let f = Fixture::new(c"kunit-frag", SZ_1M, Alignment::new::<SZ_4K>())?;
        // Sixteen 64 KiB buffers fill the region.
        let mut bufs = KVec::new();
        for _ in 0..16 {
            bufs.push(Some(f.alloc(SZ_64K, Placement::Contiguous)?), GFP_KERNEL)?;
        }
        assert_eq!(f.region.free_bytes(), 0);
        assert_eq!(f.region.largest_free_block(), 0);
        assert_eq!(f.alloc(PAGE_SIZE, Placement::Scattered).err(), Some(ENOMEM));
        assert_eq!(
            f.alloc(PAGE_SIZE, Placement::Contiguous).err(),
            Some(ENOMEM)
        );

        // Free every other one: half the region is free, in 64 KiB pieces that do not touch.
        for slot in bufs.iter_mut().step_by(2) {
            *slot = None;
        }
        assert!(settles(&f.region, SZ_1M / 2));
        assert_eq!(f.region.largest_free_block(), SZ_64K as u64);
        assert_eq!(
            f.alloc(2 * SZ_64K, Placement::Contiguous).err(),
            Some(ENOMEM)
        );
        let scattered = f.alloc(2 * SZ_64K, Placement::Scattered)?;
        assert_eq!(ranges(&f, &scattered), 2);
        // Each byte lies in the run of its range, which it splits in two.
        let size = scattered.size();
        with_ranges(&f.region, &scattered, |r| {
            let (first, second) = (r.as_slice()[0].0, r.as_slice()[1].0);
            let at = |offset| {
                r.locate(size, offset)
                    .map(|run| (run.at, run.before, run.after))
            };
            assert_eq!(at(0), Some((first, 0, SZ_64K)));
            assert_eq!(at(SZ_64K - 1), Some((first + SZ_64K - 1, SZ_64K - 1, 1)));
            assert_eq!(at(SZ_64K), Some((second, 0, SZ_64K)));
            assert_eq!(at(SZ_64K + 5), Some((second + 5, 5, SZ_64K - 5)));
            assert_eq!(at(2 * SZ_64K), None);
            Ok(())
        })?;
        assert!(settles(&f.region, SZ_1M / 2 - 2 * SZ_64K));

        drop(scattered);
        drop(bufs);
        assert!(settles(&f.region, SZ_1M));
        Ok(())
    }

    #[test]
    fn buffers_are_zero_filled() -> Result {
        let f = Fixture::new(c"kunit-zero", SZ_256K, Alignment::new::<SZ_4K>())?;
        // The whole region: the memory starts as 0xa5, then is dirtied by a first owner.
        let buf = f.alloc(SZ_256K, Placement::Scattered)?;
        let mut page = KVec::from_elem(0xffu8, PAGE_SIZE, GFP_KERNEL)?;
        for i in 0..SZ_256K / PAGE_SIZE {
            read(&f.region, &f.mem, &buf, i * PAGE_SIZE, &mut page)?;
            assert!(page.iter().all(|&b| b == 0));
        }
        let dirt = KVec::from_elem(0x5au8, PAGE_SIZE, GFP_KERNEL)?;
        for i in 0..SZ_256K / PAGE_SIZE {
            write(&f.region, &f.mem, &buf, i * PAGE_SIZE, &dirt)?;
        }
        drop(buf);
        assert!(settles(&f.region, SZ_256K));

        // The next owner, scattered or contiguous, sees none of it.
        let buf = f.alloc(SZ_128K, Placement::Contiguous)?;
        let other = f.alloc(SZ_128K, Placement::Scattered)?;
        for b in [&buf, &other] {
            for i in 0..SZ_128K / PAGE_SIZE {
                page.fill(0xff);
                read(&f.region, &f.mem, b, i * PAGE_SIZE, &mut page)?;
                assert!(page.iter().all(|&x| x == 0));
            }
        }
        // Out of bounds of the buffer.
        assert_eq!(
            read(&f.region, &f.mem, &buf, SZ_128K - 1, &mut page).err(),
            Some(EINVAL)
        );

        // The kernel mapping of a contiguous buffer sees the same memory.
        write(&f.region, &f.mem, &buf, 100, b"devmem")?;
        let map = buf.vmap()?;
        let mut word = [0u8; 6];
        map.read(100, &mut word)?;
        assert_eq!(&word, b"devmem");
        Ok(())
    }

    /// Clearing runs in steps of `CLEAR_STEP` (1 MiB): a buffer of several steps, with a partial
    /// last one, over dirtied memory comes back zero-filled at every step boundary.
    #[test]
    fn zero_fill_spans_clear_steps() -> Result {
        let f = Fixture::new(c"kunit-steps", SZ_4M, Alignment::new::<SZ_4K>())?;
        let len = 3 * SZ_1M + PAGE_SIZE;
        let buf = f.alloc(len, Placement::Contiguous)?;
        let dirt = KVec::from_elem(0x5au8, len, GFP_KERNEL)?;
        write(&f.region, &f.mem, &buf, 0, &dirt)?;
        drop(buf);
        assert!(settles(&f.region, SZ_4M));

        let buf = f.alloc(len, Placement::Contiguous)?;
        let mut back = KVec::from_elem(0xffu8, len, GFP_KERNEL)?;
        read(&f.region, &f.mem, &buf, 0, &mut back)?;
        for at in [0, SZ_1M - 1, SZ_1M, 2 * SZ_1M, 3 * SZ_1M, len - 1] {
            assert_eq!(back[at], 0);
        }
        assert!(back.iter().all(|&b| b == 0));
        Ok(())
    }

    /// Buffers of one chunk come from per-CPU caches of cleared chunks, refilled a few at a
    /// time: the region's figures, and an allocation that finds the region full, count cached
    /// chunks as free, and a cached chunk is zero-filled like any other buffer.
    #[test]
    fn cached_chunks_count_as_free() -> Result {
        let f = Fixture::new(c"kunit-chunks", SZ_64K, Alignment::new::<SZ_4K>())?;
        // The memory starts as 0xa5, and the first refill may find it dirty.
        let one = f.alloc(PAGE_SIZE, Placement::Scattered)?;
        let mut page = KVec::from_elem(0xffu8, PAGE_SIZE, GFP_KERNEL)?;
        read(&f.region, &f.mem, &one, 0, &mut page)?;
        assert!(page.iter().all(|&b| b == 0));
        drop(one);
        assert!(settles(&f.region, SZ_64K));
        assert!(scrubbed(&f.region));

        // The refill for `one` leaves cleared chunks in its CPU's cache: free, as far as the
        // figures go.
        let one = f.alloc(PAGE_SIZE, Placement::Contiguous)?;
        assert_eq!(f.region.free_bytes(), (SZ_64K - PAGE_SIZE) as u64);
        assert_eq!(f.region.cleared_bytes(), (SZ_64K - PAGE_SIZE) as u64);
        assert_eq!(f.region.largest_free_block(), SZ_32K as u64);

        // Cached again; then the rest of the region, as one buffer, needs them.
        drop(one);
        assert!(settles(&f.region, SZ_64K));
        assert!(scrubbed(&f.region));
        let one = f.alloc(PAGE_SIZE, Placement::Scattered)?;
        let rest = f.alloc(SZ_64K - PAGE_SIZE, Placement::Scattered)?;
        assert_eq!(f.region.free_bytes(), 0);
        assert_eq!(f.alloc(PAGE_SIZE, Placement::Scattered).err(), Some(ENOMEM));
        drop((one, rest));
        assert!(settles(&f.region, SZ_64K));
        Ok(())
    }

    /// Waits for all of `region`'s free memory to count as cleared.
    fn scrubbed(region: &Region) -> bool {
        for _ in 0..400 {
            if region.cleared_bytes() == region.free_bytes() {
                return true;
            }
            fsleep(Delta::from_millis(5));
        }
        false
    }

    /// The scrubber clears a new region's memory and freed buffers' in the background: the
    /// memory is zero without any allocation having cleared it.
    #[test]
    fn freed_memory_is_scrubbed() -> Result {
        let f = Fixture::new(c"kunit-scrub", SZ_4M, Alignment::new::<SZ_4K>())?;
        let mut back = KVec::from_elem(0xffu8, SZ_4M, GFP_KERNEL)?;
        // The memory starts as 0xa5.
        assert!(scrubbed(&f.region));
        assert_eq!(f.region.cleared_bytes(), SZ_4M as u64);
        f.mem.read(0, &mut back)?;
        assert!(back.iter().all(|&b| b == 0));

        // Dirtied and freed: cleared again, by the scrubber alone.
        let buf = f.alloc(SZ_1M + PAGE_SIZE, Placement::Scattered)?;
        let dirt = KVec::from_elem(0x5au8, SZ_1M + PAGE_SIZE, GFP_KERNEL)?;
        write(&f.region, &f.mem, &buf, 0, &dirt)?;
        drop(buf);
        assert!(settles(&f.region, SZ_4M));
        assert!(scrubbed(&f.region));
        back.fill(0xff);
        f.mem.read(0, &mut back)?;
        assert!(back.iter().all(|&b| b == 0));

        // Withdrawn, the region is left as it is.
        let buf = f.alloc(SZ_64K, Placement::Contiguous)?;
        write(&f.region, &f.mem, &buf, 0, &dirt[..SZ_64K])?;
        f.region.unregister();
        drop(buf);
        assert!(settles(&f.region, SZ_4M));
        fsleep(Delta::from_millis(50));
        assert_eq!(f.region.cleared_bytes(), (SZ_4M - SZ_64K) as u64);
        Ok(())
    }

    #[test]
    fn names_are_unique() -> Result {
        let f = Fixture::new(c"kunit-dup", SZ_64K, Alignment::new::<SZ_4K>())?;
        let dev = faux::Registration::new(c"kunit-dup-2", None)?;
        let again = |name: &CStr| -> Result<Arc<Region>> {
            let mem = Backing::new(SZ_64K)?;
            register_system(&dev, &mem, RegionConfig::new(name), Nodes::Omit)
        };
        assert_eq!(again(c"kunit-dup").err(), Some(EEXIST));
        // Its heap names would clash with those of kunit-dup.
        assert_eq!(again(c"kunit-dup-contiguous").err(), Some(EEXIST));
        assert!(again(c"kunit-other").is_ok());
        for bad in [c"", c".hidden", c"a/b", c"sp ace"] {
            assert_eq!(again(bad).err(), Some(EINVAL));
        }
        // The first is untouched.
        assert!(f.region.is_live());
        drop(f.alloc(PAGE_SIZE, Placement::Scattered)?);
        Ok(())
    }

    #[test]
    fn withdrawn_region() -> Result {
        let f = Fixture::new(c"kunit-gone", SZ_64K, Alignment::new::<SZ_4K>())?;
        let kept = f.alloc(PAGE_SIZE, Placement::Scattered)?;
        f.region.unregister();
        assert!(!f.region.is_live());
        assert_eq!(f.alloc(PAGE_SIZE, Placement::Scattered).err(), Some(ENODEV));
        assert!(crate::registry::find(c"kunit-gone").is_none());
        // A buffer that outlives its region keeps its blocks until it goes, but no importer
        // can attach to it any more.
        let importer = faux::Registration::new(c"kunit-gone-importer", None)?;
        assert_eq!(kept.attach(importer.as_ref().as_ref()).err(), Some(ENODEV));
        // A kernel mapping of it shows the scratch page, never an error (`dma_buf_vmap()` would
        // WARN), and not the region's memory.
        {
            let map = kept.vmap()?;
            let mut byte = [0xffu8; 1];
            map.write(PAGE_SIZE - 1, &[0x5a])?;
            map.read(PAGE_SIZE - 1, &mut byte)?;
            assert_eq!(byte, [0x5a]);
            assert!(!map.is_iomem());
        }
        // The name comes back at once, while the buffer of the withdrawn region lives.
        let dev = faux::Registration::new(c"kunit-gone-again", None)?;
        let mem = Backing::new(SZ_64K)?;
        let again = register_system(&dev, &mem, RegionConfig::new(c"kunit-gone"), Nodes::Omit)?;
        assert!(crate::registry::find(c"kunit-gone").is_some());
        drop(again.allocate_exported(PAGE_SIZE, Placement::Contiguous, FdFlags::RDWR)?);
        again.unregister();
        drop(kept);
        assert!(settles(&f.region, SZ_64K));
        Ok(())
    }

    #[test]
    fn no_dma_mapping_for_cpu_importers() -> Result {
        let f = Fixture::new(c"kunit-map", SZ_64K, Alignment::new::<SZ_4K>())?;
        let buf = f.alloc(PAGE_SIZE, Placement::Contiguous)?;
        let importer = faux::Registration::new(c"kunit-importer", None)?;
        // Attaching works: vgem and vkms attach without mapping.
        let attach = buf.attach(importer.as_ref().as_ref())?;
        assert_eq!(
            attach.map(DataDirection::Bidirectional).err(),
            Some(EOPNOTSUPP)
        );
        assert_eq!(f.region.refused_maps(), 1);
        drop(attach);
        // CPU access waits for nothing here and succeeds.
        buf.begin_cpu_access(DataDirection::FromDevice)?;
        buf.end_cpu_access(DataDirection::FromDevice)?;
        Ok(())
    }

    /// A revocable dynamic importer that counts invalidations.
    struct Counting(AtomicU32);

    #[vtable]
    impl Importer for Counting {
        const PEER2PEER: bool = true;

        fn invalidate_mappings(&self) {
            self.0.fetch_add(1, Relaxed);
        }
    }

    /// A dynamic importer of peer-to-peer memory that cannot be revoked.
    struct Unrevocable;

    #[vtable]
    impl Importer for Unrevocable {
        const PEER2PEER: bool = true;
    }

    #[test]
    fn dynamic_importers_and_withdrawal() -> Result {
        let f = Fixture::new(c"kunit-dynamic", SZ_64K, Alignment::new::<SZ_4K>())?;
        let buf = f.alloc(PAGE_SIZE, Placement::Contiguous)?;
        let importer = faux::Registration::new(c"kunit-dynamic-importer", None)?;
        let dev = importer.as_ref().as_ref();
        let dma_buf = || Exported::into_dma_buf(buf.clone());
        let revocable = DynamicAttachment::new(dma_buf(), dev, Counting(AtomicU32::new(0)))?;
        let pinned = DynamicAttachment::new(dma_buf(), dev, Unrevocable)?;
        // Neither gets a table of system memory: the pinned one for not being revocable, the
        // other for the region not being a BAR. Both are counted.
        let dir = DataDirection::Bidirectional;
        assert_eq!(pinned.lock().map(dir).err(), Some(EOPNOTSUPP));
        assert_eq!(revocable.lock().map(dir).err(), Some(EOPNOTSUPP));
        assert_eq!(f.region.refused_maps(), 2);
        // Withdrawal tells the revocable importer, once; a new mapping finds the region gone.
        f.region.unregister();
        assert_eq!(revocable.importer().0.load(Relaxed), 1);
        assert_eq!(revocable.lock().map(dir).err(), Some(ENODEV));
        assert_eq!(f.region.refused_maps(), 2);
        Ok(())
    }

    /// The name of a heap that is not a region's (the system heap) is refused with `EEXIST`
    /// before the heap core sees it twice, and nothing of the attempt stays behind.
    #[test]
    fn name_of_another_heap_is_eexist() -> Result {
        let dev = faux::Registration::new(c"kunit-system", None)?;
        let mem = Backing::new(SZ_64K)?;
        assert_eq!(
            register_system(&dev, &mem, RegionConfig::new(c"system"), Nodes::Publish).err(),
            Some(EEXIST)
        );
        assert!(crate::registry::find(c"system").is_none());
        Ok(())
    }

    /// A second `unregister()` while the first waits for a guard returns only after the first
    /// one's wait: until then the memory may still be in use.
    #[test]
    fn second_unregister_waits_for_the_first() -> Result {
        let f = Fixture::new(c"kunit-unreg", SZ_64K, Alignment::new::<SZ_4K>())?;
        let guard = f.region.enter()?;
        let mut done = KVec::new();
        for _ in 0..2 {
            let flag = Arc::new(AtomicBool::new(false), GFP_KERNEL)?;
            let (region, set) = (f.region.clone(), flag.clone());
            workqueue::system_long().try_spawn(GFP_KERNEL, move || {
                region.unregister();
                set.store(true, Relaxed);
            })?;
            done.push(flag, GFP_KERNEL)?;
            fsleep(Delta::from_millis(50));
        }
        // Both wait for the guard: neither may return while it is held.
        fsleep(Delta::from_millis(200));
        assert!(!f.region.is_live());
        assert!(!done[0].load(Relaxed));
        assert!(!done[1].load(Relaxed));
        drop(guard);
        for flag in done.iter() {
            let mut waited = 0;
            while !flag.load(Relaxed) && waited < 200 {
                fsleep(Delta::from_millis(10));
                waited += 1;
            }
            assert!(flag.load(Relaxed));
        }
        Ok(())
    }
}
