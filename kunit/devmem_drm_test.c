// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit suite of the DRM glue of devmem-heap (<drm/drm_devmem.h>): GEM
 * objects on buffers of the "ivshmem" region of QEMU's ivshmem device, for
 * mock DRM devices of the DRM KUnit helpers. It skips without the region.
 */

#include <drm/drm_devmem.h>
#include <drm/drm_drv.h>
#include <drm/drm_gem.h>
#include <drm/drm_kunit_helpers.h>
#include <kunit/test.h>
#include <linux/devmem_heap.h>
#include <linux/dma-buf.h>
#include <linux/dma-resv.h>
#include <linux/err.h>
#include <linux/iosys-map.h>
#include <linux/sizes.h>

#define REGION "ivshmem"

struct mock_drm {
	struct drm_device drm;
};

struct glue_test {
	struct drm_device *drm[2];
	struct devmem_region *region;
};

static int glue_test_init(struct kunit *test)
{
	struct glue_test *t;
	struct mock_drm *mock;
	struct device *dev;
	int i;

	t = kunit_kzalloc(test, sizeof(*t), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, t);
	/* One parent for both: the helper's device has a fixed name. */
	dev = drm_kunit_helper_alloc_device(test);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, dev);
	for (i = 0; i < ARRAY_SIZE(t->drm); i++) {
		mock = drm_kunit_helper_alloc_drm_device(test, dev, struct mock_drm, drm,
							 DRIVER_GEM);
		KUNIT_ASSERT_NOT_ERR_OR_NULL(test, mock);
		t->drm[i] = &mock->drm;
	}
	test->priv = t;

	t->region = devmem_region_find(REGION);
	if (!t->region)
		kunit_skip(test, "no region %s: no ivshmem device", REGION);
	return 0;
}

static void glue_test_exit(struct kunit *test)
{
	struct glue_test *t = test->priv;

	if (t && t->region)
		devmem_region_put(t->region);
}

/* An object is its buffer: same size, same reservation object, same memory. */
static void devmem_drm_gem_create(struct kunit *test)
{
	static const char msg[] = "written through the GEM object";
	static const unsigned int flags[] = { 0, DEVMEM_ALLOC_CONTIGUOUS };
	static const char * const names[] = { REGION, REGION "-contiguous" };
	struct glue_test *t = test->priv;
	struct iosys_map map, buf_map;
	struct drm_gem_object *obj;
	char back[sizeof(msg)];
	size_t off;
	int i;

	for (i = 0; i < ARRAY_SIZE(flags); i++) {
		obj = drm_devmem_gem_create(t->drm[0], t->region, 3 * PAGE_SIZE - 1, flags[i]);
		KUNIT_ASSERT_NOT_ERR_OR_NULL(test, obj);
		KUNIT_EXPECT_EQ(test, obj->size, 3 * PAGE_SIZE);
		KUNIT_ASSERT_NOT_NULL(test, obj->dma_buf);
		KUNIT_EXPECT_STREQ(test, obj->dma_buf->exp_name, names[i]);
		KUNIT_EXPECT_EQ(test, obj->dma_buf->size, obj->size);
		KUNIT_EXPECT_PTR_EQ(test, obj->resv, obj->dma_buf->resv);
		KUNIT_EXPECT_NULL(test, obj->import_attach);

		KUNIT_ASSERT_EQ(test, drm_gem_vmap(obj, &map), 0);
		KUNIT_EXPECT_TRUE(test, map.is_iomem);
		for (off = 0; off < obj->size; off += sizeof(u64))
			KUNIT_EXPECT_EQ(test, iosys_map_rd(&map, off, u64), 0);
		iosys_map_memcpy_to(&map, PAGE_SIZE - 8, msg, sizeof(msg));
		drm_gem_vunmap(obj, &map);

		/* The buffer's own mapping sees what the object's wrote. */
		KUNIT_ASSERT_EQ(test, dma_buf_vmap_unlocked(obj->dma_buf, &buf_map), 0);
		iosys_map_memcpy_from(back, &buf_map, PAGE_SIZE - 8, sizeof(back));
		KUNIT_EXPECT_MEMEQ(test, back, msg, sizeof(msg));
		dma_buf_vunmap_unlocked(obj->dma_buf, &buf_map);

		drm_gem_object_put(obj);
	}
}

static void devmem_drm_gem_create_errors(struct kunit *test)
{
	struct glue_test *t = test->priv;

	KUNIT_EXPECT_EQ(test, PTR_ERR(drm_devmem_gem_create(t->drm[0], t->region, 0, 0)),
			-EINVAL);
	KUNIT_EXPECT_EQ(test, PTR_ERR(drm_devmem_gem_create(t->drm[0], t->region, SZ_1G, 0)),
			-EINVAL);
	KUNIT_EXPECT_EQ(test,
			PTR_ERR(drm_devmem_gem_create(t->drm[0], t->region, PAGE_SIZE, BIT(5))),
			-EINVAL);
}

/*
 * Importing a buffer gives each device one object: the one it made, or the one the first
 * import made; another device gets its own. Once an object is freed, an import makes a new one.
 */
static void devmem_drm_prime_import_identity(struct kunit *test)
{
	struct glue_test *t = test->priv;
	struct drm_gem_object *obj, *again, *other, *other_again, *fresh;
	struct dma_buf *buf;

	obj = drm_devmem_gem_create(t->drm[0], t->region, PAGE_SIZE, 0);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, obj);
	buf = obj->dma_buf;
	get_dma_buf(buf);

	again = drm_devmem_prime_import(t->drm[0], buf);
	KUNIT_EXPECT_PTR_EQ(test, again, obj);
	KUNIT_EXPECT_EQ(test, kref_read(&obj->refcount), 2);

	other = drm_devmem_prime_import(t->drm[1], buf);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, other);
	KUNIT_EXPECT_PTR_NE(test, other, obj);
	KUNIT_EXPECT_PTR_EQ(test, other->dev, t->drm[1]);
	KUNIT_EXPECT_PTR_EQ(test, other->dma_buf, buf);
	KUNIT_EXPECT_PTR_EQ(test, other->resv, buf->resv);
	other_again = drm_devmem_prime_import(t->drm[1], buf);
	KUNIT_EXPECT_PTR_EQ(test, other_again, other);

	drm_gem_object_put(other_again);
	drm_gem_object_put(other);
	drm_gem_object_put(again);
	drm_gem_object_put(obj);

	/* Both objects are gone; the buffer lives on through this test's reference. */
	fresh = drm_devmem_prime_import(t->drm[0], buf);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, fresh);
	KUNIT_EXPECT_EQ(test, kref_read(&fresh->refcount), 1);
	KUNIT_EXPECT_PTR_EQ(test, fresh->dma_buf, buf);
	drm_gem_object_put(fresh);
	dma_buf_put(buf);
}

static struct kunit_case devmem_drm_test_cases[] = {
	KUNIT_CASE(devmem_drm_gem_create),
	KUNIT_CASE(devmem_drm_gem_create_errors),
	KUNIT_CASE(devmem_drm_prime_import_identity),
	{}
};

static struct kunit_suite devmem_drm_test_suite = {
	.name = "devmem_heap_drm",
	.init = glue_test_init,
	.exit = glue_test_exit,
	.test_cases = devmem_drm_test_cases,
};

kunit_test_suite(devmem_drm_test_suite);

MODULE_DESCRIPTION("KUnit tests of the DRM glue of devmem-heap");
MODULE_LICENSE("GPL");
