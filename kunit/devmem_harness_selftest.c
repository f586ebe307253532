// SPDX-License-Identifier: GPL-2.0-only
/*
 * A KUnit suite that must fail.
 *
 * The devmem-heap harness loads this module in a boot of its own and checks
 * that the test summary reports the failure and that the run exits non-zero.
 * A harness that cannot report this case as failed cannot be trusted with
 * any other result. It is never loaded on the normal test path.
 */

#include <kunit/test.h>
#include <linux/module.h>

static void devmem_harness_must_fail(struct kunit *test)
{
	KUNIT_EXPECT_EQ_MSG(test, 1, 2,
			    "deliberate failure: the devmem-heap harness must report it");
}

static struct kunit_case devmem_harness_cases[] = {
	KUNIT_CASE(devmem_harness_must_fail),
	{}
};

static struct kunit_suite devmem_harness_suite = {
	.name = "devmem_harness_selftest",
	.test_cases = devmem_harness_cases,
};

kunit_test_suite(devmem_harness_suite);

MODULE_DESCRIPTION("devmem-heap test harness self-check: a KUnit case that always fails");
MODULE_LICENSE("GPL");
