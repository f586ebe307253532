// SPDX-License-Identifier: GPL-2.0

//! The reservation lock of a dma-buf, taken by its exporter outside the callbacks.
//!
//! C header: [`include/linux/dma-resv.h`](srctree/include/linux/dma-resv.h)
//!
//! Callbacks that the core calls with the lock held get a [`Locked`](super::Locked) view of
//! the buffer, which cannot take it again. Everywhere else an exporter takes it with
//! [`DmaBuf::lock_resv`], for example to revoke the memory behind a buffer.

use super::DmaBuf;
use crate::{
    bindings,
    prelude::*,
    time::{
        msecs_to_jiffies,
        Delta, //
    },
    types::NotThreadSafe, //
};

impl DmaBuf {
    /// Takes the buffer's reservation lock.
    ///
    /// Must not be called from a callback that already runs with it held; such callbacks get a
    /// [`Locked`](super::Locked) view instead of a [`DmaBuf`], so they cannot.
    pub fn lock_resv(&self) -> ResvGuard<'_> {
        // SAFETY: `resv` is valid for the buffer's lifetime; a NULL context takes the lock
        // without a ww acquire context, which cannot fail with -EDEADLK.
        unsafe { bindings::dma_resv_lock((*self.as_raw()).resv, core::ptr::null_mut()) };
        ResvGuard {
            buf: self,
            _not_send: NotThreadSafe,
        }
    }
}

/// The reservation lock of a dma-buf, taken with [`DmaBuf::lock_resv`] and released on drop.
///
/// # Examples
///
/// ```
/// use kernel::{
///     dma::DataDirection,
///     dma_buf::{
///         Attachment,
///         Exported,
///         Exporter,
///         FdFlags,
///         Locked,
///         NoSgTable, //
///     },
///     page::PAGE_SIZE, //
/// };
///
/// struct Empty;
///
/// #[vtable]
/// impl Exporter for Empty {
///     type SgTable<'a> = NoSgTable;
/// }
///
/// let buf = Exported::new(Empty, PAGE_SIZE, FdFlags::RDWR, c"doctest-resv")?;
/// {
///     let resv = buf.lock_resv();
///     // Revocation, step one: importers learn that their mappings are stale.
///     resv.invalidate_mappings();
/// }
/// // The guard dropped the lock: it can be taken again.
/// drop(buf.lock_resv());
/// // No exporter callback for CPU access: the core has nothing to wait for.
/// buf.begin_cpu_access(DataDirection::FromDevice)?;
/// buf.end_cpu_access(DataDirection::FromDevice)?;
/// # Ok::<(), Error>(())
/// ```
pub struct ResvGuard<'a> {
    buf: &'a DmaBuf,
    _not_send: NotThreadSafe,
}

impl ResvGuard<'_> {
    /// Tells every importer that its mappings of the buffer are stale (revocation).
    ///
    /// See `dma_buf_invalidate_mappings()`: importers may still access the memory until their
    /// fences signal and they unmap.
    pub fn invalidate_mappings(&self) {
        // SAFETY: The reservation lock is held, as `dma_buf_invalidate_mappings()` requires.
        unsafe { bindings::dma_buf_invalidate_mappings(self.buf.as_raw()) };
    }

    /// Waits, uninterruptibly and for at most `timeout`, until every fence of the buffer has
    /// signalled, whatever its usage (`DMA_RESV_USAGE_BOOKKEEP`): the work importers queued on
    /// it, which may still reach its memory, is done.
    ///
    /// Returns [`ETIMEDOUT`] if a fence is still unsignalled at the end.
    pub fn wait_idle(&self, timeout: Delta) -> Result {
        // A negative timeout is none; one beyond `u32` milliseconds (49 days) is the longest.
        let millis = u32::try_from(timeout.as_millis().max(0)).unwrap_or(u32::MAX);
        // CAST: A jiffies count fits the unsigned long the C function takes.
        let jiffies = msecs_to_jiffies(millis) as usize;
        // SAFETY: The reservation lock is held; `resv` is valid for the buffer's lifetime.
        let ret = unsafe {
            bindings::dma_resv_wait_timeout(
                (*self.buf.as_raw()).resv,
                bindings::dma_resv_usage_DMA_RESV_USAGE_BOOKKEEP,
                false,
                jiffies,
            )
        };
        match ret {
            // Uninterruptible: no error but a timeout is possible.
            0 => Err(ETIMEDOUT),
            _ => Ok(()),
        }
    }
}

impl Drop for ResvGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: The lock was taken in `DmaBuf::lock_resv` and is held by this guard.
        unsafe { bindings::dma_resv_unlock((*self.buf.as_raw()).resv) };
    }
}
