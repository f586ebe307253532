// SPDX-License-Identifier: GPL-2.0

//! edu's DMA engine: its registers, a bounce buffer in RAM, and the transfers between user data
//! and a bus address.
//!
//! BAR0 holds the DMA registers. A transfer moves up to [`CHUNK`] bytes between the device's
//! 4 KiB internal buffer and a bus address, and runs about 100 ms of virtual time after the
//! command is written. Moving user data to a bus address takes two transfers: from the bounce
//! buffer into the internal buffer, then out to the bus address; the way back is the reverse.

use core::sync::atomic::{
    AtomicBool,
    AtomicU64,
    Ordering::Relaxed, //
};
use kernel::{
    device::{
        Bound,
        Core,
        Device, //
    },
    dma::{
        Coherent,
        Device as _,
        DmaMask, //
    },
    io::{
        poll::read_poll_timeout,
        Io, //
    },
    new_mutex, pci,
    prelude::*,
    sync::{
        aref::ARef,
        Mutex,
        MutexGuard, //
    },
    time::Delta,
};

/// The DMA registers in BAR0.
const REG_DMA_SRC: usize = 0x80;
const REG_DMA_DST: usize = 0x88;
const REG_DMA_COUNT: usize = 0x90;
const REG_DMA_CMD: usize = 0x98;
/// The registers this driver uses end here.
const BAR0_SIZE: usize = 0x100;

/// Command bits: start; direction (set: internal buffer to the bus address).
const CMD_RUN: u32 = 1 << 0;
const CMD_TO_PCI: u32 = 1 << 1;

/// The device address of the internal buffer.
const INTERNAL_BUF: u64 = 0x40000;

/// Bytes per transfer. QEMU 7.2 refuses a transfer that reaches the end of the 4 KiB internal
/// buffer, and kills the VM for it; half of it is safe.
pub(crate) const CHUNK: usize = 2048;

/// The device's DMA address width, as QEMU is told with `dma_mask`: with its default 28 bits it
/// silently truncates the addresses of a BAR into guest RAM.
const DMA_BITS: u32 = 32;
/// The device's DMA mask.
pub(crate) const DMA_MASK: u64 = (1 << DMA_BITS) - 1;

/// A transfer that has not finished after this long is a dead device.
const TRANSFER_TIMEOUT: Delta = Delta::from_secs(5);

/// The engine of a bound device.
#[pin_data]
pub(crate) struct Engine {
    dev: ARef<pci::Device>,
    /// `None` once stopped: the device is unbound, or about to be.
    #[pin]
    hw: Mutex<Option<Hardware>>,
    /// Transfers started.
    transfers: AtomicU64,
    /// Set when stopping starts: a request in progress stops at its next chunk.
    stopping: AtomicBool,
}

/// What a transfer needs, while the device is bound.
struct Hardware {
    bar: pci::DevresBar<BAR0_SIZE>,
    bounce: Coherent<[u8]>,
    /// A transfer timed out: the device may still be moving bytes, so it is used no more.
    wedged: bool,
}

impl Engine {
    /// Sets the device up for DMA (bus master, 32-bit mask) and maps its registers.
    pub(crate) fn new(pdev: &pci::Device<Core<'_>>) -> Result<impl PinInit<Self, Error>> {
        pdev.set_master();
        // SAFETY: In probe, before any DMA allocation or mapping for the device.
        unsafe { pdev.dma_set_mask_and_coherent(DmaMask::new::<DMA_BITS>())? };
        let bar = pdev
            .iomap_region_sized::<BAR0_SIZE>(0, c"edu_p2p")?
            .into_devres()?;
        let bounce = Coherent::zeroed_slice(pdev.as_ref(), CHUNK, GFP_KERNEL)?;
        let dev: ARef<pci::Device> = pdev.into();
        Ok(try_pin_init!(Self {
            dev,
            hw <- new_mutex!(Some(Hardware {
                bar,
                bounce,
                wedged: false,
            })),
            transfers: AtomicU64::new(0),
            stopping: AtomicBool::new(false),
        }))
    }

    /// Returns the number of transfers started.
    pub(crate) fn transfers(&self) -> u64 {
        self.transfers.load(Relaxed)
    }

    /// Takes the engine for a request; returns [`ENODEV`] once it is stopped.
    pub(crate) fn start(&self) -> Result<Running<'_>> {
        let hw = self.hw.lock();
        if hw.is_none() {
            return Err(ENODEV);
        }
        // INVARIANT: Checked above, under the lock the guard keeps.
        Ok(Running { engine: self, hw })
    }

    /// Stops the engine, for unbinding: waits for the request in progress (it stops at its next
    /// chunk) and lets go of the registers and the bounce buffer.
    pub(crate) fn stop(&self) {
        self.stopping.store(true, Relaxed);
        self.hw.lock().take();
    }
}

/// The engine, taken for a request: proof that the device is bound.
///
/// # Invariants
///
/// `hw` is `Some`: the engine is not stopped, so the device is bound.
pub(crate) struct Running<'a> {
    engine: &'a Engine,
    hw: MutexGuard<'a, Option<Hardware>>,
}

impl Running<'_> {
    /// Returns the device, bound.
    pub(crate) fn device(&self) -> &Device<Bound> {
        let dev: &Device = self.engine.dev.as_ref();
        // SAFETY: By the type invariants the engine is not stopped; unbinding stops it, under
        // the lock `self` holds, before the device is unbound.
        unsafe { dev.as_bound() }
    }

    /// Returns whether the engine is being stopped: a request should end.
    pub(crate) fn stopping(&self) -> bool {
        self.engine.stopping.load(Relaxed)
    }

    fn hw(&mut self) -> Result<&mut Hardware> {
        Option::as_mut(&mut *self.hw).ok_or(ENODEV)
    }

    /// Runs one transfer of `len` bytes from `src` to `dst`, one of them the internal buffer,
    /// and waits for it.
    fn transfer(&mut self, src: u64, dst: u64, len: usize, cmd: u32) -> Result {
        let dev = self.engine.dev.clone();
        let transfers = &self.engine.transfers;
        let hw = self.hw()?;
        if hw.wedged {
            return Err(EIO);
        }
        // CAST: `len` is at most `CHUNK`.
        let count = len as u32;
        // The BAR takes 32-bit accesses, which set a whole address register: with a 32-bit DMA
        // mask, every address fits.
        let src = u32::try_from(src).map_err(|_| EINVAL)?;
        let dst = u32::try_from(dst).map_err(|_| EINVAL)?;
        hw.bar
            .try_access_with(|bar| {
                bar.write32(src, REG_DMA_SRC);
                bar.write32(dst, REG_DMA_DST);
                bar.write32(count, REG_DMA_COUNT);
                bar.write32(cmd | CMD_RUN, REG_DMA_CMD);
            })
            .ok_or(ENODEV)?;
        transfers.fetch_add(1, Relaxed);
        let done = read_poll_timeout(
            || {
                hw.bar
                    .try_access_with(|bar| bar.read32(REG_DMA_CMD))
                    .ok_or(ENODEV)
            },
            |cmd| cmd & CMD_RUN == 0,
            Delta::from_millis(1),
            TRANSFER_TIMEOUT,
        );
        if let Err(e) = done {
            hw.wedged = true;
            dev_err!(
                dev,
                "DMA transfer did not finish ({e:?}): device not used again\n"
            );
            return Err(e);
        }
        Ok(())
    }

    /// Moves `data` (at most [`CHUNK`] bytes) to the bus address `bus`.
    pub(crate) fn copy_to_bus(&mut self, data: &[u8], bus: u64) -> Result {
        if data.is_empty() || data.len() > CHUNK {
            return Err(EINVAL);
        }
        let hw = self.hw()?;
        // SAFETY: `&mut self` holds the engine's lock and the device is idle: every transfer
        // finished (one that did not wedged the engine), so nothing else reads or writes the
        // bounce buffer.
        let bounce = unsafe { hw.bounce.as_mut() };
        bounce[..data.len()].copy_from_slice(data);
        let bounce = hw.bounce.dma_address();
        self.transfer(bounce, INTERNAL_BUF, data.len(), 0)?;
        self.transfer(INTERNAL_BUF, bus, data.len(), CMD_TO_PCI)
    }

    /// Moves `out.len()` bytes (at most [`CHUNK`]) from the bus address `bus` into `out`.
    pub(crate) fn copy_from_bus(&mut self, bus: u64, out: &mut [u8]) -> Result {
        let len = out.len();
        if len == 0 || len > CHUNK {
            return Err(EINVAL);
        }
        self.transfer(bus, INTERNAL_BUF, len, 0)?;
        let bounce = self.hw()?.bounce.dma_address();
        self.transfer(INTERNAL_BUF, bounce, len, CMD_TO_PCI)?;
        // SAFETY: As in `copy_to_bus`: the transfers have finished and `&mut self` holds the lock.
        let bounce = unsafe { self.hw()?.bounce.as_ref() };
        out.copy_from_slice(&bounce[..len]);
        Ok(())
    }
}
