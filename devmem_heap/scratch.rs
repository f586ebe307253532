// SPDX-License-Identifier: GPL-2.0

//! The scratch page: where kernel mappings of revoked buffers point.
//!
//! An importer that holds a kernel mapping (`dma_buf_vmap()`) cannot be told to drop it, and
//! `dma_buf_vmap()` WARNs when an exporter fails, so revoked buffers' kernel mappings are not
//! taken away or refused: they show this one page of system memory instead of device memory,
//! repeated over the whole buffer. Readers see junk, writers write into it; nothing reaches
//! the device, which can go.

use kernel::{
    page::Page,
    prelude::*,
    sync::SetOnce, //
};

static SCRATCH: SetOnce<&'static Page> = SetOnce::new();

/// Allocates the scratch page. Called once, from the module initialiser.
pub(crate) fn init() -> Result {
    let page = KBox::leak(KBox::new(
        Page::alloc_page(GFP_KERNEL | __GFP_ZERO)?,
        GFP_KERNEL,
    )?);
    SCRATCH.populate(page);
    Ok(())
}

/// Returns the scratch page. It is there from the module's initialisation on, which fails
/// without it.
pub(crate) fn page() -> Option<&'static Page> {
    SCRATCH.as_ref().copied()
}
