# SPDX-License-Identifier: GPL-2.0-only
#
# kbuild makefile of devmem-heap. The harness targets (make demo, make
# check, ...) live in GNUmakefile, which make reads first at the repo root.

# One crate: the framework, with the ivshmem driver and the KUnit suite as
# Kconfig-gated modules of it; exports.c exports its C face. The edu test
# importer is a crate of its own: it uses only the kernel crate.
obj-$(CONFIG_DEVMEM_HEAP) += devmem_heap/devmem_heap.o devmem_heap/exports.o
obj-$(CONFIG_DEVMEM_HEAP_DRM) += drm_glue/exports.o
obj-$(CONFIG_DEVMEM_HEAP_EDU_P2P) += vkms_demo/edu_p2p.o
obj-$(CONFIG_DEVMEM_HEAP_KUNIT_TEST) += kunit/devmem_heap_capi_test.o
obj-$(CONFIG_DEVMEM_HEAP_DRM_KUNIT_TEST) += kunit/devmem_drm_test.o
obj-$(CONFIG_DEVMEM_HEAP_HARNESS_SELFTEST) += kunit/devmem_harness_selftest.o
obj-$(CONFIG_DEVMEM_HEAP_RUST_TEST_HEAP) += kunit/rust_dma_heap_test.o
