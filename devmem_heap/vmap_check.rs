// SPDX-License-Identifier: GPL-2.0

//! `/sys/kernel/debug/devmem_heap/vmap_check`: an in-kernel importer, for tests only
//! (`CONFIG_DEVMEM_HEAP_VMAP_CHECK`).
//!
//! Writing `FD OFFSET HEX` imports the dma-buf behind the writer's file descriptor `FD` (from
//! any exporter), maps it with `dma_buf_vmap()` and compares the bytes at `OFFSET` with `HEX`.
//! The write fails with `EIO` if they differ, `EINVAL` for malformed input, and the import or
//! `vmap` error otherwise.

use kernel::{
    debugfs::{
        Dir,
        File, //
    },
    dma_buf::DmaBuf,
    prelude::*,
    uaccess::UserSliceReader, //
};

/// Adds `vmap_check` to the framework's debugfs directory `root`. The file goes away when the
/// returned handle is dropped.
pub(crate) fn create(root: &Dir) -> Result<Pin<KBox<File<()>>>> {
    KBox::pin_init(
        root.write_callback_file(c"vmap_check", (), &vmap_check),
        GFP_KERNEL,
    )
}

/// The longest pattern `vmap_check` compares, in bytes.
const CHECK_MAX: usize = 256;

fn hex_digit(c: u8) -> Result<u8> {
    match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        b'A'..=b'F' => Ok(c - b'A' + 10),
        _ => Err(EINVAL),
    }
}

/// The write handler of `vmap_check`.
fn vmap_check(_: &(), reader: &mut UserSliceReader) -> Result {
    let len = reader.len();
    if len > 32 + 2 * CHECK_MAX {
        return Err(EINVAL);
    }
    let mut input = [0u8; 32 + 2 * CHECK_MAX];
    reader.read_slice(&mut input[..len])?;
    let text = core::str::from_utf8(&input[..len]).map_err(|_| EINVAL)?;
    let mut words = text.split_ascii_whitespace();
    let mut next = || words.next().ok_or(EINVAL);
    let fd: i32 = next()?.parse().map_err(|_| EINVAL)?;
    let offset: usize = next()?.parse().map_err(|_| EINVAL)?;
    let hex = next()?.as_bytes();
    if hex.is_empty() || hex.len() % 2 != 0 || hex.len() > 2 * CHECK_MAX {
        return Err(EINVAL);
    }
    let mut want = [0u8; CHECK_MAX];
    let n = hex.len() / 2;
    for (i, pair) in hex.chunks_exact(2).enumerate() {
        want[i] = hex_digit(pair[0])? << 4 | hex_digit(pair[1])?;
    }

    let buf = DmaBuf::from_fd(fd)?;
    let map = buf.vmap()?;
    let mut got = [0u8; CHECK_MAX];
    map.read(offset, &mut got[..n])?;
    if got[..n] == want[..n] {
        Ok(())
    } else {
        Err(EIO)
    }
}
