// SPDX-License-Identifier: GPL-2.0

#include <linux/dma-buf.h>
#include <linux/mm.h>

__rust_helper void rust_helper_get_dma_buf(struct dma_buf *dmabuf)
{
	get_dma_buf(dmabuf);
}

/* The kernel's page protection made write-combined, for vmap_pfn() of device memory. */
__rust_helper pgprot_t rust_helper_pgprot_kernel_writecombine(void)
{
	return pgprot_writecombine(PAGE_KERNEL);
}

/* The kernel's page protection made uncached, for vmap_pfn() of device memory. */
__rust_helper pgprot_t rust_helper_pgprot_kernel_noncached(void)
{
	return pgprot_noncached(PAGE_KERNEL);
}

__rust_helper pgprot_t rust_helper_pgprot_noncached(pgprot_t prot)
{
	return pgprot_noncached(prot);
}

/* The kernel's own page protection, for kernel mappings of system memory. */
__rust_helper pgprot_t rust_helper_pgprot_kernel(void)
{
	return PAGE_KERNEL;
}
