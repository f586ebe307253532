/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * The test uAPI of edu_p2p, QEMU's edu device as a peer-to-peer importer of
 * dma-bufs: /dev/edu_p2p<N>, one per bound edu device.
 *
 * An open file holds at most one import: a dma-buf attached to the edu
 * device and mapped for DMA (bidirectional) under its reservation lock.
 * EDU_P2P_IOCTL_DMA moves bytes between user memory and the buffer through
 * the device: user memory -> a DMA bounce buffer in RAM -> edu's internal
 * buffer -> the dma-buf's bus addresses, or the way back; every step is a
 * DMA transfer of at most EDU_P2P_CHUNK bytes that does not cross a table
 * entry. Closing the file drops the import.
 *
 * Errors: EBADF or EINVAL for an fd that is not a dma-buf; EINVAL for unknown
 * flags, non-zero padding, a zero, unaligned or too long length, a range
 * past the buffer, or a table entry outside the device's DMA mask (nothing
 * is imported then); EBUSY for a second import; ENOENT for DMA or DROP
 * without an import (unbinding the device drops every import); ENODEV for an
 * import once the device is unbound, or for DMA when the buffer's mapping is
 * revoked and cannot be made again; EIO once a transfer has timed out; the
 * exporter's errno when it refuses the mapping (for example EOPNOTSUPP).
 */
#ifndef EDU_P2P_UAPI_H
#define EDU_P2P_UAPI_H

#include <linux/ioctl.h>
#include <linux/types.h>

/* Bytes per DMA transfer (edu's internal buffer is 4 KiB). */
#define EDU_P2P_CHUNK		2048
/* Offsets and lengths of EDU_P2P_IOCTL_DMA are multiples of this. */
#define EDU_P2P_ALIGN		4
/* The longest EDU_P2P_IOCTL_DMA. */
#define EDU_P2P_MAX_LEN		0x100000

/* Import flags. */
/* Attach with invalidate_mappings (revocable); without it, a pinning importer. */
#define EDU_P2P_REVOCABLE	0x1

struct edu_p2p_import {
	__s32 fd;		/* in: the dma-buf */
	__u32 flags;		/* in: EDU_P2P_REVOCABLE */
	/*
	 * in: 0, or a DMA mask narrower than the device's, in bits, that
	 * every table entry must also fit (to test the check).
	 */
	__u32 dma_bits;
	__u32 pad;		/* must be 0 */
};

struct edu_p2p_range {
	__u64 addr;		/* bus address */
	__u64 len;		/* bytes */
};

/* Info flags. */
#define EDU_P2P_IMPORTED	0x1	/* the file holds an import */
#define EDU_P2P_MAPPED		0x2	/* it has a DMA table now */
#define EDU_P2P_REVOKED		0x4	/* invalidated and not mapped again */
#define EDU_P2P_IS_REVOCABLE	0x8	/* imported with EDU_P2P_REVOCABLE */

struct edu_p2p_info {
	__u64 ranges;		/* in: user pointer to struct edu_p2p_range[], or 0 */
	__u32 max_ranges;	/* in: room there (ignored if ranges is 0) */
	__u32 entries;		/* out: table entries (all, even past max_ranges) */
	__u64 size;		/* out: the buffer's size */
	__u64 dma_mask;		/* out: the device's DMA mask */
	__u64 transfers;	/* out: DMA transfers the device has run */
	__u32 flags;		/* out: EDU_P2P_IMPORTED, ... */
	__u32 invalidations;	/* out: invalidate_mappings calls seen */
};

/* DMA directions. */
#define EDU_P2P_TO_BUF		0	/* user memory -> the dma-buf */
#define EDU_P2P_FROM_BUF	1	/* the dma-buf -> user memory */

struct edu_p2p_dma {
	__u64 user;		/* user memory */
	__u64 offset;		/* in the dma-buf */
	__u64 len;		/* bytes */
	__u32 dir;		/* EDU_P2P_TO_BUF or EDU_P2P_FROM_BUF */
	__u32 pad;		/* must be 0 */
};

struct edu_p2p_device {
	char pci_name[32];	/* out: the edu device's PCI address */
};

#define EDU_P2P_IOCTL_BASE	0xED
#define EDU_P2P_IOCTL_IMPORT	_IOW(EDU_P2P_IOCTL_BASE, 1, struct edu_p2p_import)
#define EDU_P2P_IOCTL_INFO	_IOWR(EDU_P2P_IOCTL_BASE, 2, struct edu_p2p_info)
#define EDU_P2P_IOCTL_DMA	_IOW(EDU_P2P_IOCTL_BASE, 3, struct edu_p2p_dma)
#define EDU_P2P_IOCTL_DROP	_IO(EDU_P2P_IOCTL_BASE, 4)
#define EDU_P2P_IOCTL_DEVICE	_IOR(EDU_P2P_IOCTL_BASE, 5, struct edu_p2p_device)

#endif /* EDU_P2P_UAPI_H */
