// SPDX-License-Identifier: GPL-2.0

//! Control groups.
//!
//! C header: [`include/linux/cgroup.h`](srctree/include/linux/cgroup.h)

pub mod dmem;
