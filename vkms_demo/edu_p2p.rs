// SPDX-License-Identifier: GPL-2.0

//! QEMU's edu device (1234:11e8) as a peer-to-peer importer of dma-bufs, for tests.
//!
//! Each bound edu device gets a misc device, `/dev/edu_p2p<N>`, whose uAPI
//! (`edu_p2p_uapi.h`) imports a dma-buf as a dynamic importer that takes peer-to-peer memory
//! (revocable or not), reports its DMA table, and has the device DMA user data into the buffer
//! and back out through the table's bus addresses.
//!
//! The device: BAR0 holds the DMA registers; a transfer moves up to [`CHUNK`] bytes between
//! its 4 KiB internal buffer and a bus address, and runs about 100 ms of virtual time after the
//! command is written. QEMU must start it with `dma_mask=0xffffffff`: with its default 28-bit
//! mask it silently truncates the addresses of a BAR into guest RAM.
//!
//! Every transfer that touches the dma-buf runs with the buffer's reservation lock held and the
//! table checked against the device's DMA mask, so an invalidation (revocation) waits for the
//! transfer in flight and no DMA ever uses a table once it is given back.

use core::sync::atomic::{
    AtomicBool,
    AtomicU32,
    AtomicU64,
    Ordering::Relaxed, //
};
use kernel::{
    device::Core,
    dma::{
        Coherent,
        DataDirection,
        Device as _,
        DmaMask, //
    },
    dma_buf::{
        DmaBuf,
        DynamicAttachment,
        Importer, //
    },
    fs::File,
    io::{
        poll::read_poll_timeout,
        Io, //
    },
    ioctl::{
        _IO,
        _IOR,
        _IOW,
        _IOWR, //
    },
    miscdevice::{
        MiscDevice,
        MiscDeviceOptions,
        MiscDeviceRegistration, //
    },
    new_mutex, pci,
    prelude::*,
    scatterlist::SGTable,
    sync::{
        aref::ARef,
        Arc,
        ArcBorrow,
        Mutex, //
    },
    time::Delta,
    transmute::{
        AsBytes,
        FromBytes, //
    },
    uaccess::{
        UserPtr,
        UserSlice, //
    },
};

/// The DMA registers in BAR0.
const REG_DMA_SRC: usize = 0x80;
const REG_DMA_DST: usize = 0x88;
const REG_DMA_COUNT: usize = 0x90;
const REG_DMA_CMD: usize = 0x98;
/// The registers this driver uses end here.
const BAR0_SIZE: usize = 0x100;

/// Command bits: start; direction (set: internal buffer to the bus address).
const CMD_RUN: u32 = 1 << 0;
const CMD_TO_PCI: u32 = 1 << 1;

/// The device address of the internal buffer.
const INTERNAL_BUF: u64 = 0x40000;

/// Bytes per transfer. QEMU 7.2 refuses a transfer that reaches the end of the 4 KiB internal
/// buffer, and kills the VM for it; half of it is safe.
const CHUNK: usize = 2048;

/// The device's DMA address width, as QEMU is told with `dma_mask`.
const DMA_BITS: u32 = 32;

/// Offsets and lengths of a DMA request are multiples of this; requests are at most
/// [`MAX_LEN`] bytes.
const ALIGN: u64 = 4;
const MAX_LEN: u64 = 1 << 20;

/// A transfer that has not finished after this long is a dead device.
const TRANSFER_TIMEOUT: Delta = Delta::from_secs(5);

/// The most edu devices with a misc device.
const MAX_DEVICES: usize = 4;
const MISC_NAMES: [&CStr; MAX_DEVICES] = [c"edu_p2p0", c"edu_p2p1", c"edu_p2p2", c"edu_p2p3"];
/// Which of [`MISC_NAMES`] are taken, one bit each.
static MISC_SLOTS: AtomicU32 = AtomicU32::new(0);

// The uAPI, as in `edu_p2p_uapi.h`.
const IOCTL_BASE: u32 = 0xED;
const IOCTL_IMPORT: u32 = _IOW::<ImportArgs>(IOCTL_BASE, 1);
const IOCTL_INFO: u32 = _IOWR::<InfoArgs>(IOCTL_BASE, 2);
const IOCTL_DMA: u32 = _IOW::<DmaArgs>(IOCTL_BASE, 3);
const IOCTL_DROP: u32 = _IO(IOCTL_BASE, 4);
const IOCTL_DEVICE: u32 = _IOR::<DeviceArgs>(IOCTL_BASE, 5);

const IMPORT_REVOCABLE: u32 = 1 << 0;
const INFO_IMPORTED: u32 = 1 << 0;
const INFO_MAPPED: u32 = 1 << 1;
const INFO_REVOKED: u32 = 1 << 2;
const INFO_REVOCABLE: u32 = 1 << 3;
const DIR_TO_BUF: u32 = 0;
const DIR_FROM_BUF: u32 = 1;

#[repr(C)]
#[derive(Default)]
struct ImportArgs {
    fd: i32,
    flags: u32,
    dma_bits: u32,
    pad: u32,
}

#[repr(C)]
#[derive(Default)]
struct RangeArgs {
    addr: u64,
    len: u64,
}

#[repr(C)]
#[derive(Default)]
struct InfoArgs {
    ranges: u64,
    max_ranges: u32,
    entries: u32,
    size: u64,
    dma_mask: u64,
    transfers: u64,
    flags: u32,
    invalidations: u32,
}

#[repr(C)]
#[derive(Default)]
struct DmaArgs {
    user: u64,
    offset: u64,
    len: u64,
    dir: u32,
    pad: u32,
}

#[repr(C)]
struct DeviceArgs {
    pci_name: [u8; 32],
}

// SAFETY: Plain integers, any bit pattern is valid and there is no padding.
unsafe impl FromBytes for ImportArgs {}
// SAFETY: As above.
unsafe impl FromBytes for InfoArgs {}
// SAFETY: As above.
unsafe impl AsBytes for InfoArgs {}
// SAFETY: As above.
unsafe impl AsBytes for RangeArgs {}
// SAFETY: As above.
unsafe impl FromBytes for DmaArgs {}
// SAFETY: A byte array.
unsafe impl AsBytes for DeviceArgs {}

kernel::pci_device_table!(
    EDU_TABLE,
    <EduDriver as pci::Driver>::IdInfo,
    [(
        pci::DeviceId::from_id(pci::Vendor::from_raw(0x1234), 0x11e8),
        ()
    )]
);

/// The DMA engine of a bound device: its registers and a bounce buffer in RAM.
struct Engine {
    bar: pci::DevresBar<BAR0_SIZE>,
    bounce: Coherent<[u8]>,
    /// A transfer timed out: the device may still be moving bytes, so it is used no more.
    wedged: AtomicBool,
}

impl Engine {
    /// Runs one transfer of `len` bytes from `src` to `dst`, one of them the internal buffer,
    /// and waits for it.
    fn transfer(&self, edu: &Edu, src: u64, dst: u64, len: usize, cmd: u32) -> Result {
        if self.wedged.load(Relaxed) {
            return Err(EIO);
        }
        // CAST: `len` is at most `CHUNK`.
        let count = len as u32;
        // The BAR takes 32-bit accesses, which set a whole address register: with a 32-bit DMA
        // mask, every address fits.
        let src = u32::try_from(src).map_err(|_| EINVAL)?;
        let dst = u32::try_from(dst).map_err(|_| EINVAL)?;
        self.bar
            .try_access_with(|bar| {
                bar.write32(src, REG_DMA_SRC);
                bar.write32(dst, REG_DMA_DST);
                bar.write32(count, REG_DMA_COUNT);
                bar.write32(cmd | CMD_RUN, REG_DMA_CMD);
            })
            .ok_or(ENODEV)?;
        edu.transfers.fetch_add(1, Relaxed);
        read_poll_timeout(
            || {
                self.bar
                    .try_access_with(|bar| bar.read32(REG_DMA_CMD))
                    .ok_or(ENODEV)
            },
            |cmd| cmd & CMD_RUN == 0,
            Delta::from_millis(1),
            TRANSFER_TIMEOUT,
        )
        .inspect_err(|e| {
            self.wedged.store(true, Relaxed);
            dev_err!(
                edu.pdev,
                "DMA transfer did not finish ({e:?}): device not used again\n"
            );
        })?;
        Ok(())
    }

    /// Moves `data` (at most [`CHUNK`] bytes) into the internal buffer, through the bounce
    /// buffer.
    fn load(&self, edu: &Edu, data: &[u8]) -> Result {
        // SAFETY: The engine is used under its lock and the device is idle: every transfer
        // finished (one that did not wedged the engine), so nothing else reads or writes the
        // bounce buffer.
        let bounce = unsafe { self.bounce.as_mut() };
        bounce[..data.len()].copy_from_slice(data);
        let bounce = self.bounce.dma_address();
        self.transfer(edu, bounce, INTERNAL_BUF, data.len(), 0)
    }

    /// Moves `out.len()` bytes (at most [`CHUNK`]) out of the internal buffer, through the
    /// bounce buffer.
    fn store(&self, edu: &Edu, out: &mut [u8]) -> Result {
        let bounce = self.bounce.dma_address();
        self.transfer(edu, INTERNAL_BUF, bounce, out.len(), CMD_TO_PCI)?;
        // SAFETY: As in `load`: the transfer has finished and the engine is locked.
        out.copy_from_slice(&unsafe { self.bounce.as_ref() }[..out.len()]);
        Ok(())
    }
}

/// A bound edu device, shared with the files open on its misc device.
#[pin_data]
struct Edu {
    pdev: ARef<pci::Device>,
    /// `None` once the device is unbound.
    #[pin]
    engine: Mutex<Option<Engine>>,
    /// Every open file, so that unbinding can drop their imports.
    #[pin]
    sessions: Mutex<KVec<Arc<Session>>>,
    /// Transfers run, for the uAPI.
    transfers: AtomicU64,
    /// Set when unbinding starts: a request in progress stops at its next chunk.
    stopping: AtomicBool,
}

impl Edu {
    /// Stops the device: no new import or transfer, and every import dropped (unmapped and
    /// detached).
    fn shut_down(&self) {
        self.stopping.store(true, Relaxed);
        // Waits for the request in progress, which stops at its next chunk.
        self.engine.lock().take();
        let sessions = core::mem::take(&mut *self.sessions.lock());
        for session in sessions.iter() {
            session.import.lock().take();
        }
    }
}

/// The importer operations: count invalidations; the table goes right after. Transfers hold the
/// reservation lock, so none is in flight when this runs.
struct Revocable {
    invalidations: AtomicU32,
}

#[vtable]
impl Importer for Revocable {
    const PEER2PEER: bool = true;

    fn invalidate_mappings(&self) {
        self.invalidations.fetch_add(1, Relaxed);
    }
}

/// A peer-to-peer importer without `invalidate_mappings`: it pins what it maps.
struct Pinned;

#[vtable]
impl Importer for Pinned {
    const PEER2PEER: bool = true;
}

/// What the driver needs of both kinds of importer.
trait Counted: Importer {
    fn invalidations(&self) -> u32;
}

impl Counted for Revocable {
    fn invalidations(&self) -> u32 {
        self.invalidations.load(Relaxed)
    }
}

impl Counted for Pinned {
    fn invalidations(&self) -> u32 {
        0
    }
}

/// An imported dma-buf.
enum Import {
    Revocable(Imported<Revocable>),
    Pinned(Imported<Pinned>),
}

/// A dma-buf attached to the device, and the mask its table must fit.
struct Imported<T: Counted> {
    attachment: DynamicAttachment<T>,
    mask: u64,
}

/// Returns whether every entry of `sgt` lies below `mask`.
fn fits(sgt: &SGTable, mask: u64) -> bool {
    sgt.iter().all(|e| {
        e.dma_len() > 0
            && e.dma_address()
                .checked_add(e.dma_len() - 1)
                .is_some_and(|last| last <= mask)
    })
}

/// Returns the bus address of `offset` in the buffer behind `sgt`, and the bytes from there to
/// the end of its entry.
fn locate(sgt: &SGTable, offset: u64) -> Result<(u64, u64)> {
    let mut start = 0u64;
    for e in sgt.iter() {
        if offset < start + e.dma_len() {
            return Ok((
                e.dma_address() + (offset - start),
                start + e.dma_len() - offset,
            ));
        }
        start += e.dma_len();
    }
    Err(EINVAL)
}

impl<T: Counted> Imported<T> {
    /// Attaches `buf` to the device and maps it. `engine` is the device's engine, locked: the
    /// device is bound.
    fn new(edu: &Edu, _engine: &Engine, buf: ARef<DmaBuf>, importer: T, mask: u64) -> Result<Self> {
        let dev: &kernel::device::Device = edu.pdev.as_ref();
        // SAFETY: The engine exists, and is locked by the caller, only while the device is
        // bound: unbinding takes it under the same lock before the device is unbound.
        let dev = unsafe { dev.as_bound() };
        let attachment = DynamicAttachment::new(buf, dev, importer)?;
        {
            let mut locked = attachment.lock();
            let sgt = locked.map(DataDirection::Bidirectional)?;
            // A table the device cannot reach would send its DMA elsewhere (the device
            // truncates addresses): refuse it before any transfer.
            if !fits(sgt, mask) {
                dev_info!(edu.pdev, "DMA table beyond the mask {mask:#x}: refused\n");
                locked.unmap();
                return Err(EINVAL);
            }
        }
        Ok(Self { attachment, mask })
    }

    fn info(&self, info: &mut InfoArgs, ranges: &mut KVec<RangeArgs>) -> Result {
        let locked = self.attachment.lock();
        let invalidations = self.attachment.importer().invalidations();
        info.size = self.attachment.dma_buf().size() as u64;
        info.invalidations = invalidations;
        info.flags = INFO_IMPORTED;
        if self.attachment.attachment().is_revocable() {
            info.flags |= INFO_REVOCABLE;
        }
        match locked.table() {
            Some(sgt) => {
                info.flags |= INFO_MAPPED;
                info.entries = 0;
                for e in sgt.iter() {
                    info.entries += 1;
                    if ranges.len() < info.max_ranges as usize {
                        ranges.push(
                            RangeArgs {
                                addr: e.dma_address(),
                                len: e.dma_len(),
                            },
                            GFP_KERNEL,
                        )?;
                    }
                }
            }
            None if invalidations > 0 => info.flags |= INFO_REVOKED,
            None => {}
        }
        Ok(())
    }

    /// Moves `data.len()` bytes between `data` and `offset` in the buffer, chunk by chunk, each
    /// within one table entry.
    fn dma(
        &self,
        edu: &Edu,
        engine: &Engine,
        offset: u64,
        data: &mut [u8],
        to_buf: bool,
    ) -> Result {
        let mut done = 0usize;
        while done < data.len() {
            // A long request stops for a signal, and for unbinding, between chunks.
            if current!().signal_pending() {
                return Err(ERESTARTSYS);
            }
            if edu.stopping.load(Relaxed) {
                return Err(ENODEV);
            }
            let mut locked = self.attachment.lock();
            if locked.table().is_none() {
                // Invalidated: map again, as a dynamic importer must before further DMA.
                let sgt = locked.map(DataDirection::Bidirectional)?;
                if !fits(sgt, self.mask) {
                    locked.unmap();
                    return Err(EINVAL);
                }
            }
            locked.wait_for_fences(to_buf)?;
            let sgt = locked.table().ok_or(ENODEV)?;
            let (bus, left) = locate(sgt, offset + done as u64)?;
            // CAST: At most `CHUNK`.
            let len = ((data.len() - done).min(CHUNK) as u64).min(left) as usize;
            let chunk = &mut data[done..done + len];
            if to_buf {
                engine.load(edu, chunk)?;
                engine.transfer(edu, INTERNAL_BUF, bus, len, CMD_TO_PCI)?;
            } else {
                engine.transfer(edu, bus, INTERNAL_BUF, len, 0)?;
                engine.store(edu, chunk)?;
            }
            done += len;
        }
        Ok(())
    }
}

impl Import {
    fn info(&self, info: &mut InfoArgs, ranges: &mut KVec<RangeArgs>) -> Result {
        match self {
            Self::Revocable(i) => i.info(info, ranges),
            Self::Pinned(i) => i.info(info, ranges),
        }
    }

    fn size(&self) -> usize {
        match self {
            Self::Revocable(i) => i.attachment.dma_buf().size(),
            Self::Pinned(i) => i.attachment.dma_buf().size(),
        }
    }

    fn dma(
        &self,
        edu: &Edu,
        engine: &Engine,
        offset: u64,
        data: &mut [u8],
        to_buf: bool,
    ) -> Result {
        match self {
            Self::Revocable(i) => i.dma(edu, engine, offset, data, to_buf),
            Self::Pinned(i) => i.dma(edu, engine, offset, data, to_buf),
        }
    }
}

/// An open file of the misc device: at most one import.
#[pin_data]
struct Session {
    edu: Arc<Edu>,
    #[pin]
    import: Mutex<Option<Import>>,
}

impl Session {
    /// The device's DMA mask.
    const DMA_MASK: u64 = (1 << DMA_BITS) - 1;

    fn import_buf(&self, args: ImportArgs) -> Result {
        if args.flags & !IMPORT_REVOCABLE != 0 || args.pad != 0 || args.dma_bits > 64 {
            return Err(EINVAL);
        }
        let mask = match args.dma_bits {
            0 | 64.. => Self::DMA_MASK,
            bits => Self::DMA_MASK.min((1u64 << bits) - 1),
        };
        let buf = DmaBuf::from_fd(args.fd)?;
        let mut slot = self.import.lock();
        if slot.is_some() {
            return Err(EBUSY);
        }
        // Held across the import: unbinding waits for it, then drops it with the others.
        let engine = self.edu.engine.lock();
        let engine = engine.as_ref().ok_or(ENODEV)?;
        let edu = &*self.edu;
        *slot = Some(if args.flags & IMPORT_REVOCABLE != 0 {
            let importer = Revocable {
                invalidations: AtomicU32::new(0),
            };
            Import::Revocable(Imported::new(edu, engine, buf, importer, mask)?)
        } else {
            Import::Pinned(Imported::new(edu, engine, buf, Pinned, mask)?)
        });
        Ok(())
    }

    fn info(&self, arg: UserPtr) -> Result {
        let (mut reader, mut writer) =
            UserSlice::new(arg, core::mem::size_of::<InfoArgs>()).reader_writer();
        let request: InfoArgs = reader.read()?;
        // Only the two inputs are kept; no ranges without a place to put them.
        let mut info = InfoArgs {
            ranges: request.ranges,
            max_ranges: if request.ranges == 0 {
                0
            } else {
                request.max_ranges
            },
            ..InfoArgs::default()
        };
        let mut ranges = KVec::new();
        if let Some(import) = &*self.import.lock() {
            import.info(&mut info, &mut ranges)?;
        }
        info.dma_mask = Self::DMA_MASK;
        info.transfers = self.edu.transfers.load(Relaxed);
        if !ranges.is_empty() {
            let bytes = ranges.len() * core::mem::size_of::<RangeArgs>();
            // CAST: A user address.
            let mut out = UserSlice::new(UserPtr::from_addr(info.ranges as usize), bytes).writer();
            for range in ranges.iter() {
                out.write(range)?;
            }
        }
        writer.write(&info)
    }

    fn dma(&self, args: DmaArgs) -> Result {
        let to_buf = match args.dir {
            DIR_TO_BUF => true,
            DIR_FROM_BUF => false,
            _ => return Err(EINVAL),
        };
        if args.pad != 0
            || args.len == 0
            || args.len > MAX_LEN
            || args.len % ALIGN != 0
            || args.offset % ALIGN != 0
        {
            return Err(EINVAL);
        }
        let end = args.offset.checked_add(args.len).ok_or(EINVAL)?;
        // CAST: At most `MAX_LEN`.
        let len = args.len as usize;
        // CAST: A user address.
        let user = UserSlice::new(UserPtr::from_addr(args.user as usize), len);
        // User memory is copied outside the locks: a fault may take `mmap_lock`, which ranks
        // above a reservation lock.
        let (reader, writer) = user.reader_writer();
        let mut data = if to_buf {
            let mut data = KVVec::with_capacity(len, GFP_KERNEL)?;
            reader.read_all(&mut data, GFP_KERNEL)?;
            data
        } else {
            KVVec::from_elem(0u8, len, GFP_KERNEL)?
        };
        {
            let import = self.import.lock();
            let import = import.as_ref().ok_or(ENOENT)?;
            if end > import.size() as u64 {
                return Err(EINVAL);
            }
            let engine = self.edu.engine.lock();
            let engine = engine.as_ref().ok_or(ENODEV)?;
            import.dma(&self.edu, engine, args.offset, &mut data, to_buf)?;
        }
        if !to_buf {
            let mut writer = writer;
            writer.write_slice(&data)?;
        }
        Ok(())
    }

    fn device(&self, arg: UserPtr) -> Result {
        let mut out = DeviceArgs { pci_name: [0; 32] };
        let dev: &kernel::device::Device = self.edu.pdev.as_ref();
        let name = dev.name().to_bytes();
        let n = name.len().min(out.pci_name.len() - 1);
        out.pci_name[..n].copy_from_slice(&name[..n]);
        UserSlice::new(arg, core::mem::size_of::<DeviceArgs>())
            .writer()
            .write(&out)
    }
}

#[vtable]
impl MiscDevice for Session {
    type Ptr = Arc<Session>;

    fn open(_file: &File, misc: &MiscDeviceRegistration<Self>) -> Result<Arc<Session>> {
        let misc = core::ptr::from_ref(misc).cast_mut();
        // SAFETY: Every registration of this misc device type is the `misc` field of an
        // `EduData`, which stays registered, and therefore alive, while a file is being opened.
        let data = unsafe { &*kernel::container_of!(misc, EduData, misc) };
        let edu = &data.edu;
        let session = Arc::pin_init(
            try_pin_init!(Session {
                edu: edu.clone(),
                import <- new_mutex!(None),
            }),
            GFP_KERNEL,
        )?;
        data.edu.sessions.lock().push(session.clone(), GFP_KERNEL)?;
        Ok(session)
    }

    fn release(session: Arc<Session>, _file: &File) {
        session
            .edu
            .sessions
            .lock()
            .retain(|s| !Arc::ptr_eq(s, &session));
        session.import.lock().take();
    }

    fn ioctl(session: ArcBorrow<'_, Session>, _file: &File, cmd: u32, arg: usize) -> Result<isize> {
        let arg = UserPtr::from_addr(arg);
        match cmd {
            IOCTL_IMPORT => session.import_buf(
                UserSlice::new(arg, core::mem::size_of::<ImportArgs>())
                    .reader()
                    .read()?,
            )?,
            IOCTL_INFO => session.info(arg)?,
            IOCTL_DMA => session.dma(
                UserSlice::new(arg, core::mem::size_of::<DmaArgs>())
                    .reader()
                    .read()?,
            )?,
            IOCTL_DROP => drop(session.import.lock().take().ok_or(ENOENT)?),
            IOCTL_DEVICE => session.device(arg)?,
            _ => return Err(ENOTTY),
        }
        Ok(0)
    }
}

/// A taken misc device name, given back on drop.
struct MiscSlot(usize);

impl MiscSlot {
    /// Takes the first free name, or returns [`ENOSPC`].
    fn take() -> Result<Self> {
        let mut taken = MISC_SLOTS.load(Relaxed);
        loop {
            let slot = (0..MAX_DEVICES)
                .find(|i| taken & (1 << i) == 0)
                .ok_or(ENOSPC)?;
            match MISC_SLOTS.compare_exchange(taken, taken | (1 << slot), Relaxed, Relaxed) {
                Ok(_) => return Ok(Self(slot)),
                Err(now) => taken = now,
            }
        }
    }
}

impl Drop for MiscSlot {
    fn drop(&mut self) {
        MISC_SLOTS.fetch_and(!(1 << self.0), Relaxed);
    }
}

/// The driver.
struct EduDriver;

/// A bound device: its state, and its misc device under a name of its own.
///
/// Fields drop in order: the misc device goes first, so that no `open` can run on the rest.
#[pin_data]
struct EduData {
    #[pin]
    misc: MiscDeviceRegistration<Session>,
    edu: Arc<Edu>,
    /// The misc device's name, free once it is gone.
    _slot: MiscSlot,
}

impl pci::Driver for EduDriver {
    type IdInfo = ();
    type Data<'bound> = EduData;

    const ID_TABLE: pci::IdTable<Self::IdInfo> = &EDU_TABLE;

    fn probe<'bound>(
        pdev: &'bound pci::Device<Core<'_>>,
        _info: Option<&'bound Self::IdInfo>,
    ) -> impl PinInit<Self::Data<'bound>, Error> + 'bound {
        pin_init::pin_init_scope(move || {
            pdev.enable_device_mem()?;
            pdev.set_master();
            // SAFETY: In probe, before any DMA allocation or mapping for the device.
            unsafe { pdev.dma_set_mask_and_coherent(DmaMask::new::<DMA_BITS>())? };
            let bar = pdev
                .iomap_region_sized::<BAR0_SIZE>(0, c"edu_p2p")?
                .into_devres()?;
            let bounce = Coherent::zeroed_slice(pdev.as_ref(), CHUNK, GFP_KERNEL)?;
            let slot = MiscSlot::take()?;
            let edu = Arc::pin_init(
                try_pin_init!(Edu {
                    pdev: pdev.into(),
                    engine <- new_mutex!(Some(Engine {
                        bar,
                        bounce,
                        wedged: AtomicBool::new(false),
                    })),
                    sessions <- new_mutex!(KVec::new()),
                    transfers: AtomicU64::new(0),
                    stopping: AtomicBool::new(false),
                }),
                GFP_KERNEL,
            )?;
            let name = MISC_NAMES[slot.0];
            dev_info!(pdev, "edu: {DMA_BITS}-bit DMA, /dev/{}\n", name.to_str()?);
            Ok(try_pin_init!(EduData {
                misc <- MiscDeviceRegistration::register(MiscDeviceOptions { name }),
                edu,
                _slot: slot,
            }))
        })
    }

    fn unbind<'bound>(_pdev: &'bound pci::Device<Core<'_>>, this: Pin<&Self::Data<'bound>>) {
        this.edu.shut_down();
    }
}

kernel::module_pci_driver! {
    type: EduDriver,
    name: "edu_p2p",
    authors: ["devmem-heap"],
    description: "QEMU edu as a peer-to-peer importer of dma-bufs, for tests",
    license: "GPL",
}
