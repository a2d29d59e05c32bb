//! Injected faults: what the next API calls suffer (a delay, an error status, or both, for a
//! number of calls or until cleared), in the plain form of README, "The sandbox" ([`Fault`]) and with the
//! random parts soak tests use ([`RandomFault`]: jitter and an error rate).
//!
//! The two types stay apart, although a merged one would serve the control endpoint alike:
//! tests and the demo build `Fault` literals with all three fields named, and a fourth field would
//! break every one of them. `Fault` converts into `RandomFault` losslessly, and the sandbox keeps
//! only the latter.

use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};

use super::Sandbox;
use super::state::lock;

/// An injected fault: the next `times` API calls (all of them when `None`) wait `latency_ms` and,
/// when `status` is set, answer that status with the error envelope. A fault with neither latency
/// nor status is no fault: it is what `{}` and [`Sandbox::clear_faults`] leave.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    /// Delay before answering, in milliseconds.
    pub latency_ms: Option<u64>,
    /// HTTP status to answer instead of the real response (200–599).
    pub status: Option<u16>,
    /// How many API calls are still to be faulted; `None` until cleared.
    pub times: Option<u32>,
}

impl Fault {
    /// Whether this fault does nothing (no latency, no status, or no calls left).
    pub fn is_clear(&self) -> bool {
        (self.latency_ms.is_none() && self.status.is_none()) || self.times == Some(0)
    }
}

/// A [`Fault`] with random parts, for soak tests: the next `times` API calls (all of them when
/// `None`) wait `latency_ms` plus a uniform `0..=jitter_ms`, and answer `status` (500 when unset)
/// with the error envelope with probability `error_rate` (always when `error_rate` is unset and
/// `status` is set, as a plain [`Fault`] does). `times` counts every faulted call, errored or not.
///
/// It is a type of its own rather than two more fields of [`Fault`] so that code building a
/// `Fault` literal keeps compiling; a `Fault` converts into it losslessly.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RandomFault {
    /// Fixed delay before answering, in milliseconds.
    pub latency_ms: Option<u64>,
    /// Largest random extra delay, in milliseconds (uniform, inclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter_ms: Option<u64>,
    /// HTTP status of an injected error (200–599); 500 when unset but `error_rate` is set.
    pub status: Option<u16>,
    /// Probability (0 to 1) that a faulted call answers the error status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_rate: Option<f64>,
    /// How many API calls are still to be faulted; `None` until cleared.
    pub times: Option<u32>,
}

/// What one faulted call does, as drawn by [`RandomFault::draw`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultDraw {
    /// How long to wait before answering.
    pub delay: Duration,
    /// The status to answer with the error envelope, or `None` to answer normally.
    pub status: Option<u16>,
}

impl From<Fault> for RandomFault {
    fn from(f: Fault) -> Self {
        RandomFault {
            latency_ms: f.latency_ms,
            jitter_ms: None,
            status: f.status,
            error_rate: None,
            times: f.times,
        }
    }
}

impl RandomFault {
    /// Whether this fault does nothing (no delay, no error, or no calls left).
    pub fn is_clear(&self) -> bool {
        let inert = self.latency_ms.is_none()
            && self.jitter_ms.is_none()
            && self.status.is_none()
            && self.error_rate.is_none();
        inert || self.times == Some(0)
    }

    /// The deterministic part, as the §8 fault state reports it.
    pub fn fixed_part(&self) -> Fault {
        Fault {
            latency_ms: self.latency_ms,
            status: self.status,
            times: self.times,
        }
    }

    /// Decides one faulted call with `rng`. An `error_rate` outside 0..=1 counts as the nearest
    /// bound and NaN as 0, so a bad value can neither panic nor fault every call by surprise.
    pub fn draw<R: Rng + ?Sized>(&self, rng: &mut R) -> FaultDraw {
        let jitter = self.jitter_ms.map_or(0, |j| rng.random_range(0..=j));
        let delay = Duration::from_millis(self.latency_ms.unwrap_or(0).saturating_add(jitter));
        let status = match self.error_rate {
            None => self.status,
            Some(p) => {
                let p = if p.is_nan() { 0.0 } else { p.clamp(0.0, 1.0) };
                // `random::<f64>()` is in [0, 1): p = 0 never errs, p = 1 always does.
                (rng.random::<f64>() < p).then_some(self.status.unwrap_or(500))
            }
        };
        FaultDraw { delay, status }
    }
}

impl Sandbox {
    /// status outside 200–599 is served as 500.
    pub fn set_fault(&self, f: Fault) {
        self.set_random_fault(f.into());
    }

    /// Replaces the current fault with one that has random parts. A fault that does nothing
    /// ([`RandomFault::is_clear`]) clears it.
    pub fn set_random_fault(&self, f: RandomFault) {
        *lock(&self.inner.fault) = if f.is_clear() {
            RandomFault::default()
        } else {
            f
        };
    }

    /// Removes the current fault.
    pub fn clear_faults(&self) {
        self.set_fault(Fault::default());
    }

    /// The current fault, `times` being the calls still to fault (without its random parts; see
    /// [`Sandbox::random_fault`]).
    pub fn fault(&self) -> Fault {
        lock(&self.inner.fault).fixed_part()
    }

    /// The current fault with its random parts, `times` being the calls still to fault.
    pub fn random_fault(&self) -> RandomFault {
        *lock(&self.inner.fault)
    }

    /// Takes one use of the current fault, if any.
    pub(super) fn take_fault(&self) -> Option<RandomFault> {
        let mut slot = lock(&self.inner.fault);
        if slot.is_clear() {
            return None;
        }
        let taken = *slot;
        if let Some(times) = slot.times.as_mut() {
            *times -= 1;
            if *times == 0 {
                *slot = RandomFault::default();
            }
        }
        Some(taken)
    }
}
