// SPDX-License-Identifier: GPL-2.0

//! The backend behind a region's heap nodes in `/dev/dma_heap`.

use crate::{
    layout::Placement,
    region::Region, //
};
use kernel::{
    dma_buf::{
        DmaBuf,
        FdFlags, //
    },
    dma_heap::{
        Backend,
        HeapFlags, //
    },
    prelude::*,
    sync::{
        aref::ARef,
        Arc, //
    },
};

/// Allocates the buffers of one heap of a region.
pub(crate) struct HeapBackend {
    region: Arc<Region>,
    placement: Placement,
}

impl HeapBackend {
    pub(crate) fn new(region: Arc<Region>, placement: Placement) -> Self {
        Self { region, placement }
    }
}

impl Backend for HeapBackend {
    fn allocate(
        &self,
        len: usize,
        fd_flags: FdFlags,
        _heap_flags: HeapFlags,
    ) -> Result<ARef<DmaBuf>> {
        // No heap flag is defined; `HeapFlags` has refused any bit already.
        self.region.allocate(len, self.placement, fd_flags)
    }
}
