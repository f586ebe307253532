// SPDX-License-Identifier: GPL-2.0

//! The device memory controller of control groups: accounting of device memory per cgroup.
//!
//! C header: [`include/linux/cgroup_dmem.h`](srctree/include/linux/cgroup_dmem.h)
//!
//! A driver registers each region of its device memory as a [`Region`], named so that
//! `dmem.capacity` tells the device and the region apart (DRM uses `drm/<device>/<region>`).
//! Every allocation from the region is charged to the allocating task's cgroup with
//! [`Region::try_charge`], which fails once a `dmem.max` on the way to the root would be
//! exceeded, and the returned [`Charge`] uncharges it when dropped. `dmem.min` and `dmem.low`
//! matter only to drivers that evict; charges are all this module offers.
//!
//! A charge holds the cgroup state it was taken from, not the region: it may outlive the
//! region's registration, as buffers may outlive the device whose memory they were.
//!
//! Without `CONFIG_CGROUP_DMEM`, registration and charges succeed and account nothing.
//!
//! # Examples
//!
//! ```
//! use kernel::{
//!     cgroup::dmem::Region,
//!     sizes::{
//!         SZ_1M,
//!         SZ_4K, //
//!     },
//! };
//!
//! let region = Region::register(SZ_1M as u64, c"rust-doctest/vram")?;
//! // Charged to this task's cgroup, uncharged when dropped.
//! let charge = region.try_charge(SZ_4K as u64)?;
//! assert_eq!(charge.size(), SZ_4K as u64);
//! // A charge outlives the region's registration.
//! drop(region);
//! drop(charge);
//! # Ok::<(), Error>(())
//! ```

use crate::{
    bindings,
    error::{
        from_err_ptr,
        to_result, //
    },
    prelude::*, //
};
use core::ptr;

/// A region of device memory registered with the dmem controller; unregistered when dropped.
///
/// # Invariants
///
/// With `CONFIG_CGROUP_DMEM`, `raw` is a registered region owned by this value; without it,
/// `raw` is null.
pub struct Region {
    raw: *mut bindings::dmem_cgroup_region,
}

// SAFETY: A registered region is used and unregistered from any thread; the controller
// serialises what needs it.
unsafe impl Send for Region {}

// SAFETY: Charging takes only a shared reference and may run concurrently from many threads.
unsafe impl Sync for Region {}

impl Region {
    /// Registers a region of `size` bytes named `name`, which `dmem.capacity`, `dmem.current`,
    /// `dmem.max` and the other files of the controller show.
    ///
    /// Returns [`EINVAL`] for a size of zero or a name with a space or a newline (which the
    /// controller's files could not parse back), and [`ENOMEM`].
    pub fn register(size: u64, name: &CStr) -> Result<Self> {
        if size == 0 || name.to_bytes().iter().any(|&c| c == b' ' || c == b'\n') {
            return Err(EINVAL);
        }
        #[cfg(CONFIG_CGROUP_DMEM)]
        {
            let init = bindings::dmem_cgroup_init {
                size,
                ops: ptr::null(),
                reclaim_priv: ptr::null_mut(),
            };
            // SAFETY: `init` and the format string, which takes the name as its only argument,
            // are valid for the call; the controller copies the name.
            let raw = unsafe {
                bindings::dmem_cgroup_register_region(
                    &init,
                    c"%s".as_char_ptr(),
                    name.as_char_ptr(),
                )
            };
            // INVARIANT: A size other than zero always gives a region or an error.
            let raw = from_err_ptr(raw)?;
            Ok(Self { raw })
        }
        #[cfg(not(CONFIG_CGROUP_DMEM))]
        {
            // INVARIANT: Without the controller, `raw` is null.
            Ok(Self {
                raw: ptr::null_mut(),
            })
        }
    }

    /// Charges `size` bytes to the region's pool of the current task's cgroup.
    ///
    /// Returns [`EAGAIN`] if that would take the cgroup, or one of its ancestors, over its
    /// `dmem.max`; [`ENODEV`] if the controller has no pool of the region for the cgroup and
    /// can make none any more; [`ENOMEM`].
    pub fn try_charge(&self, size: u64) -> Result<Charge> {
        let mut pool = ptr::null_mut();
        #[cfg(CONFIG_CGROUP_DMEM)]
        {
            // SAFETY: By the type invariants `raw` is a registered region; `pool` is valid for
            // writes, and the limiting pool is not asked for.
            to_result(unsafe {
                bindings::dmem_cgroup_try_charge(self.raw, size, &mut pool, ptr::null_mut())
            })?;
        }
        // INVARIANT: The controller charged `size` bytes to `pool`, and gave a reference to it.
        Ok(Charge { pool, size })
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        #[cfg(CONFIG_CGROUP_DMEM)]
        // SAFETY: By the type invariants `raw` is a registered region this value owns; charges
        // hold the pools they were taken from, not the region.
        unsafe {
            bindings::dmem_cgroup_unregister_region(self.raw)
        };
    }
}

/// Bytes of device memory charged to a cgroup; uncharged when dropped.
///
/// # Invariants
///
/// With `CONFIG_CGROUP_DMEM`, `size` bytes are charged to `pool`, and this value owns the
/// reference to it the charge took; without it, `pool` is null.
pub struct Charge {
    pool: *mut bindings::dmem_cgroup_pool_state,
    size: u64,
}

// SAFETY: A charge may be dropped from any thread: uncharging takes no lock.
unsafe impl Send for Charge {}

// SAFETY: A shared `Charge` only reads its size.
unsafe impl Sync for Charge {}

impl Charge {
    /// Returns how many bytes are charged.
    pub fn size(&self) -> u64 {
        self.size
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        #[cfg(CONFIG_CGROUP_DMEM)]
        // SAFETY: By the type invariants `size` bytes are charged to `pool`, whose reference
        // this gives back.
        unsafe {
            bindings::dmem_cgroup_uncharge(self.pool, self.size)
        };
    }
}
