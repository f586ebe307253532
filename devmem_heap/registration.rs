// SPDX-License-Identifier: GPL-2.0

//! Registering and unregistering regions: the drivers' API.
//!
//! A driver registers a range of its device memory from probe, with [`Region::register_pci`]
//! for a BAR or [`Region::register_phys`] for any range; the region is published in the
//! registry (its heap nodes and debugfs directory) and its withdrawal is tied to the driver's
//! binding with devres. [`Region::unregister`] withdraws it earlier.
//!
//! # Examples
//!
//! A PCI driver that publishes BAR 2 as `vram` (`/dev/dma_heap/vram` and
//! `/dev/dma_heap/vram-contiguous`), allocates from it in the kernel, and withdraws it in
//! `unbind`; the ivshmem driver (`vkms_demo/ivshmem.rs`) is the complete one:
//!
//! ```ignore
//! fn probe<'bound>(
//!     pdev: &'bound pci::Device<Core<'_>>,
//!     _info: Option<&'bound Self::IdInfo>,
//! ) -> impl PinInit<Self::Data<'bound>, Error> + 'bound {
//!     pdev.enable_device_mem()?;
//!     let region = Region::register_pci(pdev, 2, RegionConfig::new(c"vram"))?;
//!     // A zero-filled dma-buf of the region, charged to this task's dmem cgroup.
//!     let buf = region.allocate(SZ_1M, Placement::Scattered, FdFlags::RDWR)?;
//!     Ok(VramData { region, buf })
//! }
//!
//! fn unbind<'bound>(_pdev: &'bound pci::Device<Core<'_>>, this: Pin<&Self::Data<'bound>>) {
//!     this.region.unregister();
//! }
//! ```

use crate::{
    memory::{
        BarMemory,
        DeviceMemory, //
    },
    p2p::Peer,
    region::{
        Region,
        RegionConfig, //
    },
    registry::{
        self,
        Nodes, //
    },
    revoke,
};
use kernel::{
    device::{
        Bound,
        Device, //
    },
    devres,
    dma_buf::iomem::IoMemory,
    io::PhysAddr,
    pci,
    prelude::*,
    sync::Arc, //
};

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
    /// The region is withdrawn when `pdev` is unbound, and the BAR released right after; the
    /// returned reference is the driver's handle for in-kernel allocation.
    ///
    /// Returns [`EINVAL`] for an invalid name or chunk size, or a BAR that is not a standard
    /// memory BAR, [`EEXIST`] if the name is in use, [`EBUSY`] if the BAR is claimed or the
    /// name is quarantined (see [`Region::unregister`]), and the errors of mapping the BAR and
    /// of the allocator.
    pub fn register_pci(
        pdev: &pci::Device<Bound>,
        bar: u32,
        config: RegionConfig<'_>,
    ) -> Result<Arc<Self>> {
        let memory = BarMemory::new(pdev, bar, config.caching)?;
        let peer = Peer::new(pdev, bar);
        register(
            pdev.as_ref(),
            KBox::new(memory, GFP_KERNEL)?,
            Some(peer),
            config,
            Nodes::Publish,
        )
    }

    /// Registers the `size` bytes of device memory at `phys` as a region of `dev` and publishes
    /// its heaps. The region is withdrawn when `dev` is unbound.
    ///
    /// Returns [`EINVAL`] for an invalid name or chunk size, or a range that is not page
    /// aligned, [`EEXIST`] if the name is in use, [`EBUSY`] if it is quarantined, and the
    /// errors of mapping the range and of the allocator.
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
        register(
            dev,
            KBox::new(memory, GFP_KERNEL)?,
            None,
            config,
            Nodes::Publish,
        )
    }

    /// Withdraws the region: its heaps stay but fail with [`ENODEV`], and the region's buffers
    /// are revoked (see [`crate::revoke`]): importers' DMA tables are invalidated and come
    /// back, their kernel mappings show a page of system memory, user mappings fault with
    /// `SIGBUS`. The region's name is free again at once, unless an importer did not let go in
    /// time: then it stays taken until the region's buffers are gone.
    ///
    /// Idempotent; also done when the device is unbound. A concurrent second call returns
    /// once the first is done. Must not be called from inside the framework's own callbacks,
    /// nor with a buffer's reservation lock held.
    pub fn unregister(&self) {
        let Some(withdrawal) = self.withdraw() else {
            return;
        };
        let revoked = revoke::revoke_buffers(self);
        registry::withdraw(self, revoked.unclean == 0);
        drop(withdrawal);
        dev_info!(
            self.device(),
            "devmem-heap: region {} withdrawn: {} buffers revoked in {} us (slowest {} us)\n",
            self.name(),
            revoked.buffers,
            revoked.total.as_micros_ceil(),
            revoked.slowest.as_micros_ceil()
        );
        if revoked.unclean != 0 {
            dev_err!(
                self.device(),
                "devmem-heap: region {}: {} buffers not revoked cleanly; the name is kept until they are gone\n",
                self.name(),
                revoked.unclean
            );
        }
    }
}

/// Registers `memory` of `dev` as a region, with the heap nodes `nodes` says, and ties its
/// withdrawal to `dev`'s binding.
pub(crate) fn register(
    dev: &Device<Bound>,
    memory: KBox<dyn DeviceMemory>,
    peer: Option<Peer>,
    config: RegionConfig<'_>,
    nodes: Nodes,
) -> Result<Arc<Region>> {
    let region = registry::publish(config.name, nodes, |names| {
        Region::new(dev, memory, peer, names, &config)
    })?;
    if let Err(e) = devres::register(dev, Unregister(region.clone()), GFP_KERNEL) {
        region.unregister();
        return Err(e);
    }
    // The memory holds whatever was there before. Only now: a region that failed to register
    // is gone before its memory is released, while a queued scrubber would keep it.
    region.scrub_soon();
    let names = region.heap_names();
    dev_info!(
        dev,
        "devmem-heap: region {} ({} KiB) as /dev/dma_heap/{{{},{}}}\n",
        region.name(),
        region.size() / 1024,
        names.scattered,
        names.contiguous,
    );
    Ok(region)
}
