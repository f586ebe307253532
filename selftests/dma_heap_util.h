/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers the project's selftests share.
 */
#ifndef DMA_HEAP_UTIL_H
#define DMA_HEAP_UTIL_H

#include <errno.h>
#include <sys/ioctl.h>
#include <linux/dma-heap.h>

/* DMA_HEAP_IOCTL_ALLOC on @heap: the new buffer's fd, or -errno. */
static inline int heap_alloc(int heap, unsigned long long len,
			     unsigned int fd_flags,
			     unsigned long long heap_flags)
{
	struct dma_heap_allocation_data data = {
		.len = len,
		.fd_flags = fd_flags,
		.heap_flags = heap_flags,
	};

	if (ioctl(heap, DMA_HEAP_IOCTL_ALLOC, &data) < 0)
		return -errno;
	return data.fd;
}

#endif /* DMA_HEAP_UTIL_H */
