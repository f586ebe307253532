// SPDX-License-Identifier: GPL-2.0

//! A once-per-interval limit on log lines.
//!
//! 7.3's kernel crate has no abstraction of `struct ratelimit_state`; this is the one piece of
//! it the framework needs: at most one line per interval, the rest counted elsewhere.

use kernel::{
    new_spinlock,
    prelude::*,
    sync::SpinLock,
    time::{
        Delta,
        Instant,
        Monotonic, //
    },
};

/// Lets one event through per interval.
#[pin_data]
pub(crate) struct RateLimit {
    interval: Delta,
    #[pin]
    last: SpinLock<Option<Instant<Monotonic>>>,
}

impl RateLimit {
    /// A limit of one event per `interval`.
    pub(crate) fn new(interval: Delta) -> impl PinInit<Self> {
        pin_init!(Self {
            interval,
            last <- new_spinlock!(None),
        })
    }

    /// Returns whether an event may go through now, and if so starts a new interval.
    pub(crate) fn allow(&self) -> bool {
        let mut last = self.last.lock();
        if let Some(when) = *last {
            if when.elapsed() < self.interval {
                return false;
            }
        }
        *last = Some(Instant::now());
        true
    }
}
