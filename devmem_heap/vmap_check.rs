// SPDX-License-Identifier: GPL-2.0

//! `/sys/kernel/debug/devmem_heap/vmap_check`: an in-kernel importer, for tests only
//! (`CONFIG_DEVMEM_HEAP_VMAP_CHECK`).
//!
//! It maps dma-bufs (from any exporter) with `dma_buf_vmap()`, as importers such as vkms do,
//! and reads and writes through the mapping. Each write to the file is one command; `FD` is
//! a file descriptor of the writer, `SLOT` one of [`SLOTS`] held mappings:
//!
//! - `FD OFFSET HEX`: maps the buffer, compares the bytes at `OFFSET` with `HEX`, unmaps;
//! - `hold SLOT FD`: maps the buffer and keeps the mapping in `SLOT` (`EBUSY` if taken);
//! - `check SLOT OFFSET HEX`: compares the bytes at `OFFSET` of the held mapping with `HEX`;
//! - `write SLOT OFFSET HEX`: writes `HEX` at `OFFSET` through the held mapping;
//! - `drop SLOT`: unmaps (`ENOENT` if the slot is empty).
//!
//! A comparison that differs fails with `EIO`; malformed input with `EINVAL`; otherwise the
//! import's or `vmap`'s error. Held mappings stay until dropped, across the exporter's
//! revocation of the buffer: that is what they are for.

use kernel::{
    debugfs::{
        Dir,
        File, //
    },
    dma_buf::{
        DmaBuf,
        Vmap, //
    },
    new_mutex,
    prelude::*,
    sync::Mutex,
    uaccess::UserSliceReader, //
};

/// How many mappings can be held at once.
pub(crate) const SLOTS: usize = 8;

/// The held mappings.
pub(crate) type Slots = Mutex<[Option<Vmap>; SLOTS]>;

/// Adds `vmap_check` to the framework's debugfs directory `root`. The file, and every mapping it
/// holds, goes away when the returned handle is dropped.
pub(crate) fn create(root: &Dir) -> Result<Pin<KBox<File<Slots>>>> {
    KBox::pin_init(
        root.write_callback_file(
            c"vmap_check",
            new_mutex!([const { None }; SLOTS]),
            &vmap_check,
        ),
        GFP_KERNEL,
    )
}

/// The longest pattern `vmap_check` compares or writes, in bytes.
const CHECK_MAX: usize = 256;

fn hex_digit(c: u8) -> Result<u8> {
    match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        b'A'..=b'F' => Ok(c - b'A' + 10),
        _ => Err(EINVAL),
    }
}

/// The bytes of a command's `HEX` argument.
struct Pattern {
    bytes: [u8; CHECK_MAX],
    len: usize,
}

impl Pattern {
    fn parse(hex: &str) -> Result<Self> {
        let hex = hex.as_bytes();
        if hex.is_empty() || hex.len() % 2 != 0 || hex.len() > 2 * CHECK_MAX {
            return Err(EINVAL);
        }
        let mut bytes = [0u8; CHECK_MAX];
        for (i, pair) in hex.chunks_exact(2).enumerate() {
            bytes[i] = hex_digit(pair[0])? << 4 | hex_digit(pair[1])?;
        }
        Ok(Self {
            bytes,
            len: hex.len() / 2,
        })
    }

    fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// Compares the bytes at `offset` of `map` with the pattern: [`EIO`] if they differ.
    fn check(&self, map: &Vmap, offset: usize) -> Result {
        let mut got = [0u8; CHECK_MAX];
        map.read(offset, &mut got[..self.len])?;
        if got[..self.len] == *self.as_slice() {
            Ok(())
        } else {
            Err(EIO)
        }
    }
}

fn number<T: core::str::FromStr>(word: Option<&str>) -> Result<T> {
    word.ok_or(EINVAL)?.parse().map_err(|_| EINVAL)
}

fn slot(word: Option<&str>) -> Result<usize> {
    let slot = number(word)?;
    if slot < SLOTS {
        Ok(slot)
    } else {
        Err(EINVAL)
    }
}

/// The write handler of `vmap_check`.
fn vmap_check(slots: &Slots, reader: &mut UserSliceReader) -> Result {
    let len = reader.len();
    let mut input = [0u8; 32 + 2 * CHECK_MAX];
    if len > input.len() {
        return Err(EINVAL);
    }
    reader.read_slice(&mut input[..len])?;
    let text = core::str::from_utf8(&input[..len]).map_err(|_| EINVAL)?;
    // A command and at most three arguments; anything more is malformed.
    let mut words = [None; 5];
    let mut count = 0;
    for word in text.split_ascii_whitespace() {
        *words.get_mut(count).ok_or(EINVAL)? = Some(word);
        count += 1;
    }
    match (words[0].ok_or(EINVAL)?, count) {
        ("hold", 3) => {
            let slot = slot(words[1])?;
            let buf = DmaBuf::from_fd(number(words[2])?)?;
            let mut slots = slots.lock();
            if slots[slot].is_some() {
                return Err(EBUSY);
            }
            slots[slot] = Some(buf.vmap()?);
            Ok(())
        }
        (command @ ("check" | "write"), 4) => {
            let slot = slot(words[1])?;
            let offset = number(words[2])?;
            let pattern = Pattern::parse(words[3].ok_or(EINVAL)?)?;
            let slots = slots.lock();
            let map = slots[slot].as_ref().ok_or(ENOENT)?;
            if command == "check" {
                pattern.check(map, offset)
            } else {
                map.write(offset, pattern.as_slice())
            }
        }
        ("drop", 2) => {
            let map = slots.lock()[slot(words[1])?].take().ok_or(ENOENT)?;
            drop(map);
            Ok(())
        }
        (fd, 3) if fd.starts_with(|c: char| c.is_ascii_digit()) => {
            let buf = DmaBuf::from_fd(number(Some(fd))?)?;
            let offset = number(words[1])?;
            let pattern = Pattern::parse(words[2].ok_or(EINVAL)?)?;
            pattern.check(&buf.vmap()?, offset)
        }
        _ => Err(EINVAL),
    }
}
