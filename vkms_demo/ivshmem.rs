// SPDX-License-Identifier: GPL-2.0

//! QEMU's ivshmem-plain device (1af4:1110) as a devmem-heap region: BAR2, the shared memory,
//! becomes "VRAM" in `/dev/dma_heap/ivshmem` and `/dev/dma_heap/ivshmem-contiguous`.
//!
//! The base name is the `devmem_heap.ivshmem_name` parameter. The first ivshmem device the
//! driver binds gets the base name, the next ones `<base>1`, `<base>2`, ... in order of first
//! binding; a device keeps its name when it is unbound and bound again, so its heaps come back
//! under the same name. At boot, PCI probes devices in bus order, so names follow the topology.

use crate::region::{
    Region,
    RegionConfig, //
};
use kernel::{
    device::Core,
    driver,
    pci,
    prelude::*,
    str::{
        BStr,
        CString, //
    },
    sync::Arc, //
};

/// The BAR that holds the shared memory.
const SHMEM_BAR: u32 = 2;

/// The most devices that get a name: the first `<base>`, then `<base>1` to `<base>99`.
const MAX_DEVICES: usize = 100;

/// The longest base name: room for the two-digit suffix within a region name.
const BASE_MAX: usize = crate::registry::NAME_MAX - 2;

kernel::sync::global_lock! {
    // SAFETY: `register` initialises it before the driver can probe.
    unsafe(uninit) static NAMES: Mutex<KVec<CString>> = KVec::new();
}

kernel::pci_device_table!(
    IVSHMEM_TABLE,
    <Ivshmem as pci::Driver>::IdInfo,
    [(
        pci::DeviceId::from_id(pci::Vendor::REDHAT_QUMRANET, 0x1110),
        ()
    )]
);

/// The driver.
pub(crate) struct Ivshmem;

/// A bound ivshmem device: the driver's handle on its region.
pub(crate) struct IvshmemData {
    region: Arc<Region>,
}

/// Registers the driver.
pub(crate) fn register(
    module: &'static ThisModule,
) -> Result<Pin<KBox<driver::Registration<pci::Adapter<Ivshmem>>>>> {
    // SAFETY: Called once, from the module initialiser, before the driver is registered.
    unsafe { NAMES.init() };
    KBox::pin_init(
        driver::Registration::new(c"devmem_ivshmem", module),
        GFP_KERNEL,
    )
}

/// Returns the region name of the device named `dev_name` (its PCI address).
///
/// Returns [`EINVAL`] if the base name is longer than [`BASE_MAX`] and [`ENOSPC`] once
/// [`MAX_DEVICES`] devices have names.
fn region_name(dev_name: &CStr) -> Result<CString> {
    let param = crate::module_parameters::ivshmem_name.value();
    if param.as_bytes().len() > BASE_MAX {
        pr_err!("devmem_heap.ivshmem_name is longer than {BASE_MAX} bytes\n");
        return Err(EINVAL);
    }
    let mut names = NAMES.lock();
    let index = match names
        .iter()
        .position(|n| n.to_bytes() == dev_name.to_bytes())
    {
        Some(index) => index,
        None if names.len() < MAX_DEVICES => {
            names.push(CString::try_from(dev_name)?, GFP_KERNEL)?;
            names.len() - 1
        }
        None => return Err(ENOSPC),
    };
    let base = BStr::from_bytes(param.as_bytes());
    if index == 0 {
        CString::try_from_fmt(fmt!("{base}"))
    } else {
        CString::try_from_fmt(fmt!("{base}{index}"))
    }
}

impl pci::Driver for Ivshmem {
    type IdInfo = ();
    type Data<'bound> = IvshmemData;

    const ID_TABLE: pci::IdTable<Self::IdInfo> = &IVSHMEM_TABLE;

    fn probe<'bound>(
        pdev: &'bound pci::Device<Core<'_>>,
        _info: Option<&'bound Self::IdInfo>,
    ) -> impl PinInit<Self::Data<'bound>, Error> + 'bound {
        pdev.enable_device_mem()?;
        let dev: &kernel::device::Device = pdev.as_ref();
        let name = region_name(dev.name())?;
        let region = Region::register_pci(pdev, SHMEM_BAR, RegionConfig::new(&name))?;
        dev_info!(
            pdev,
            "ivshmem BAR{} published as region {}\n",
            SHMEM_BAR,
            region.name()
        );
        Ok(IvshmemData { region })
    }

    fn unbind<'bound>(_pdev: &'bound pci::Device<Core<'_>>, this: Pin<&Self::Data<'bound>>) {
        this.region.unregister();
    }
}
