// SPDX-License-Identifier: GPL-2.0

//! QEMU's edu device (1234:11e8) as a peer-to-peer importer of dma-bufs, for tests.
//!
//! Each bound edu device gets a misc device, `/dev/edu_p2p<N>`, whose uAPI
//! (`edu_p2p_uapi.h`) imports a dma-buf as a dynamic importer that takes peer-to-peer memory
//! (revocable or not), reports its DMA table, and has the device DMA user data into the buffer
//! and back out through the table's bus addresses. QEMU must start the device with
//! `dma_mask=0xffffffff`.
//!
//! The files, each using only the ones before it: `uapi` (the ioctl arguments), `engine` (the
//! device's DMA engine), `import` (an imported dma-buf and the transfers through its table),
//! and this one: the PCI driver and the misc device's files.
//!
//! Lock order: a file's import, then the engine, then the buffer's reservation lock. User
//! memory is copied with none of them held.

#[path = "edu_p2p/uapi.rs"]
mod uapi;

#[path = "edu_p2p/engine.rs"]
mod engine;

#[path = "edu_p2p/import.rs"]
mod import;

use crate::{
    engine::{
        Engine,
        DMA_MASK, //
    },
    import::Import,
    uapi::*,
};
use core::sync::atomic::{
    AtomicU32,
    Ordering::Relaxed, //
};
use kernel::{
    device::Core,
    dma_buf::DmaBuf,
    fs::File,
    miscdevice::{
        MiscDevice,
        MiscDeviceOptions,
        MiscDeviceRegistration, //
    },
    new_mutex, pci,
    prelude::*,
    sync::{
        aref::ARef,
        Arc,
        ArcBorrow,
        Mutex, //
    },
    uaccess::{
        UserPtr,
        UserSlice, //
    },
};

/// The most edu devices with a misc device.
const MAX_DEVICES: usize = 4;
const MISC_NAMES: [&CStr; MAX_DEVICES] = [c"edu_p2p0", c"edu_p2p1", c"edu_p2p2", c"edu_p2p3"];
/// Which of [`MISC_NAMES`] are taken, one bit each.
static MISC_SLOTS: AtomicU32 = AtomicU32::new(0);

kernel::pci_device_table!(
    EDU_TABLE,
    <EduDriver as pci::Driver>::IdInfo,
    [(
        pci::DeviceId::from_id(pci::Vendor::from_raw(0x1234), 0x11e8),
        ()
    )]
);

/// A bound edu device, shared with the files open on its misc device.
#[pin_data]
struct Edu {
    pdev: ARef<pci::Device>,
    #[pin]
    engine: Engine,
    /// Every open file, so that unbinding can drop their imports.
    #[pin]
    sessions: Mutex<KVec<Arc<Session>>>,
}

impl Edu {
    /// Stops the device: no new import or transfer, and every import dropped (unmapped and
    /// detached).
    fn shut_down(&self) {
        self.engine.stop();
        let sessions = core::mem::take(&mut *self.sessions.lock());
        for session in sessions.iter() {
            session.import.lock().take();
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
    fn import_buf(&self, args: ImportArgs) -> Result {
        if args.flags & !IMPORT_REVOCABLE != 0 || args.pad != 0 || args.dma_bits > 64 {
            return Err(EINVAL);
        }
        let mask = match args.dma_bits {
            0 | 64.. => DMA_MASK,
            bits => DMA_MASK.min((1u64 << bits) - 1),
        };
        let buf = DmaBuf::from_fd(args.fd)?;
        let mut slot = self.import.lock();
        if slot.is_some() {
            return Err(EBUSY);
        }
        // Held across the import: unbinding waits for it, then drops it with the others.
        let engine = self.edu.engine.start()?;
        let revocable = args.flags & IMPORT_REVOCABLE != 0;
        *slot = Some(Import::new(&engine, buf, revocable, mask)?);
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
        info.dma_mask = DMA_MASK;
        info.transfers = self.edu.engine.transfers();
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
            let mut engine = self.edu.engine.start()?;
            import.dma(&mut engine, args.offset, &mut data, to_buf)?;
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
            let engine = Engine::new(pdev)?;
            let slot = MiscSlot::take()?;
            let edu = Arc::pin_init(
                try_pin_init!(Edu {
                    pdev: pdev.into(),
                    engine <- engine,
                    sessions <- new_mutex!(KVec::new()),
                }),
                GFP_KERNEL,
            )?;
            let name = MISC_NAMES[slot.0];
            dev_info!(
                pdev,
                "edu: DMA mask {DMA_MASK:#x}, /dev/{}\n",
                name.to_str()?
            );
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
