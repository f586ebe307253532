// SPDX-License-Identifier: GPL-2.0

//! The misc device's uAPI, as `edu_p2p_uapi.h` defines it for user space.

use kernel::{
    ioctl::{
        _IO,
        _IOR,
        _IOW,
        _IOWR, //
    },
    transmute::{
        AsBytes,
        FromBytes, //
    },
};

pub(crate) const IOCTL_BASE: u32 = 0xED;
pub(crate) const IOCTL_IMPORT: u32 = _IOW::<ImportArgs>(IOCTL_BASE, 1);
pub(crate) const IOCTL_INFO: u32 = _IOWR::<InfoArgs>(IOCTL_BASE, 2);
pub(crate) const IOCTL_DMA: u32 = _IOW::<DmaArgs>(IOCTL_BASE, 3);
pub(crate) const IOCTL_DROP: u32 = _IO(IOCTL_BASE, 4);
pub(crate) const IOCTL_DEVICE: u32 = _IOR::<DeviceArgs>(IOCTL_BASE, 5);

/// Import flag: attach with `invalidate_mappings`.
pub(crate) const IMPORT_REVOCABLE: u32 = 1 << 0;

/// Info flags.
pub(crate) const INFO_IMPORTED: u32 = 1 << 0;
pub(crate) const INFO_MAPPED: u32 = 1 << 1;
pub(crate) const INFO_REVOKED: u32 = 1 << 2;
pub(crate) const INFO_REVOCABLE: u32 = 1 << 3;

/// DMA directions.
pub(crate) const DIR_TO_BUF: u32 = 0;
pub(crate) const DIR_FROM_BUF: u32 = 1;

/// Offsets and lengths of a DMA request are multiples of this; requests are at most
/// [`MAX_LEN`] bytes.
pub(crate) const ALIGN: u64 = 4;
pub(crate) const MAX_LEN: u64 = 1 << 20;

/// `struct edu_p2p_import`.
#[repr(C)]
#[derive(Default)]
pub(crate) struct ImportArgs {
    pub(crate) fd: i32,
    pub(crate) flags: u32,
    pub(crate) dma_bits: u32,
    pub(crate) pad: u32,
}

/// `struct edu_p2p_range`.
#[repr(C)]
#[derive(Default)]
pub(crate) struct RangeArgs {
    pub(crate) addr: u64,
    pub(crate) len: u64,
}

/// `struct edu_p2p_info`.
#[repr(C)]
#[derive(Default)]
pub(crate) struct InfoArgs {
    pub(crate) ranges: u64,
    pub(crate) max_ranges: u32,
    pub(crate) entries: u32,
    pub(crate) size: u64,
    pub(crate) dma_mask: u64,
    pub(crate) transfers: u64,
    pub(crate) flags: u32,
    pub(crate) invalidations: u32,
}

/// `struct edu_p2p_dma`.
#[repr(C)]
#[derive(Default)]
pub(crate) struct DmaArgs {
    pub(crate) user: u64,
    pub(crate) offset: u64,
    pub(crate) len: u64,
    pub(crate) dir: u32,
    pub(crate) pad: u32,
}

/// `struct edu_p2p_device`.
#[repr(C)]
pub(crate) struct DeviceArgs {
    pub(crate) pci_name: [u8; 32],
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
