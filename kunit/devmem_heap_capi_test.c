// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit suite of the C face of devmem-heap (<linux/devmem_heap.h>): a C
 * driver's in-kernel allocation from a live region, read through the
 * importer's dma_buf_vmap(). It needs the "ivshmem" region of QEMU's
 * ivshmem device and skips without it.
 */

#include <kunit/test.h>
#include <linux/devmem_heap.h>
#include <linux/dma-buf.h>
#include <linux/err.h>
#include <linux/fcntl.h>
#include <linux/iosys-map.h>
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/sizes.h>

#define REGION "ivshmem"
#define IVSHMEM_DEVICE 0x1110

static struct devmem_region *get_region(struct kunit *test)
{
	struct devmem_region *region = devmem_region_find(REGION);

	if (!region)
		kunit_skip(test, "no region %s: no ivshmem device", REGION);
	return region;
}

static void devmem_capi_alloc_vmap(struct kunit *test)
{
	static const char msg[] = "written from C";
	struct devmem_region *region = get_region(test);
	static const unsigned int flags[] = { 0, DEVMEM_ALLOC_CONTIGUOUS };
	static const char * const names[] = { REGION, REGION "-contiguous" };
	char back[sizeof(msg)];
	struct iosys_map map;
	struct dma_buf *buf;
	size_t off;
	int i;

	for (i = 0; i < ARRAY_SIZE(flags); i++) {
		buf = devmem_region_alloc(region, 3 * PAGE_SIZE - 1, O_RDWR, flags[i]);
		KUNIT_ASSERT_FALSE(test, IS_ERR(buf));
		KUNIT_EXPECT_EQ(test, buf->size, 3 * PAGE_SIZE);
		KUNIT_EXPECT_STREQ(test, buf->exp_name, names[i]);

		KUNIT_ASSERT_EQ(test, dma_buf_vmap_unlocked(buf, &map), 0);
		KUNIT_EXPECT_TRUE(test, map.is_iomem);
		/* Zero-filled, all of it. */
		for (off = 0; off < buf->size; off += sizeof(u64))
			KUNIT_EXPECT_EQ(test, iosys_map_rd(&map, off, u64), 0);
		iosys_map_memcpy_to(&map, PAGE_SIZE - 4, msg, sizeof(msg));
		iosys_map_memcpy_from(back, &map, PAGE_SIZE - 4, sizeof(back));
		KUNIT_EXPECT_MEMEQ(test, back, msg, sizeof(msg));
		dma_buf_vunmap_unlocked(buf, &map);
		dma_buf_put(buf);
	}
	devmem_region_put(region);
}

static void devmem_capi_errors(struct kunit *test)
{
	struct devmem_region *region = get_region(test);

	KUNIT_EXPECT_EQ(test, PTR_ERR(devmem_region_alloc(region, 0, O_RDWR, 0)), -EINVAL);
	KUNIT_EXPECT_EQ(test, PTR_ERR(devmem_region_alloc(region, SZ_1G, O_RDWR, 0)), -EINVAL);
	KUNIT_EXPECT_EQ(test,
			PTR_ERR(devmem_region_alloc(region, PAGE_SIZE, O_RDWR | O_NONBLOCK, 0)),
			-EINVAL);
	KUNIT_EXPECT_EQ(test, PTR_ERR(devmem_region_alloc(region, PAGE_SIZE, O_RDWR, BIT(7))),
			-EINVAL);
	KUNIT_EXPECT_NULL(test, devmem_region_find("no-such-region"));
	devmem_region_put(region);
}

/*
 * Only the six standard BARs, decoding memory, become regions: the ROM
 * (6), SR-IOV BARs and bridge windows (7 to 16) and anything past the
 * resource array are refused before any of them is looked at; a BAR that
 * is taken is busy.
 */
static void devmem_capi_register_pci_bars(struct kunit *test)
{
	static const int bad[] = { -1, 6, 7, 12, 16, 17, 100 };
	struct pci_dev *pdev = pci_get_device(PCI_VENDOR_ID_REDHAT_QUMRANET,
					      IVSHMEM_DEVICE, NULL);
	int i;

	if (!pdev)
		kunit_skip(test, "no ivshmem device");
	for (i = 0; i < ARRAY_SIZE(bad); i++)
		KUNIT_EXPECT_EQ(test,
				PTR_ERR(devmem_region_register_pci(pdev, bad[i], "kunit-bar", 0)),
				-EINVAL);
	/* BAR 2 is the ivshmem driver's region already. */
	KUNIT_EXPECT_EQ(test, PTR_ERR(devmem_region_register_pci(pdev, 2, "kunit-bar", 0)),
			-EBUSY);
	KUNIT_EXPECT_EQ(test, PTR_ERR(devmem_region_register_pci(pdev, 2, "kunit-bar", BIT(5))),
			-EINVAL);
	KUNIT_EXPECT_NULL(test, devmem_region_find("kunit-bar"));
	pci_dev_put(pdev);
}

static struct kunit_case devmem_capi_cases[] = {
	KUNIT_CASE(devmem_capi_alloc_vmap),
	KUNIT_CASE(devmem_capi_errors),
	KUNIT_CASE(devmem_capi_register_pci_bars),
	{}
};

static struct kunit_suite devmem_capi_suite = {
	.name = "devmem_heap_capi",
	.test_cases = devmem_capi_cases,
};

kunit_test_suite(devmem_capi_suite);

MODULE_DESCRIPTION("KUnit tests of the C face of devmem-heap");
MODULE_LICENSE("GPL");
MODULE_IMPORT_NS("DMA_BUF");
