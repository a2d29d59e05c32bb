//! A circuit breaker for a provider's API: when calls fail repeatedly, fail fast for a while.
//!
//! Closed, it lets every call through and counts consecutive failures. At [`THRESHOLD`] it opens:
//! calls are refused at once (the gateway answers 503 immediately instead of piling timeouts on
//! a sick API) for a jittered period that doubles with each consecutive opening, up to
//! [`MAX_OPEN`]. When the period ends, exactly one call goes through as a probe: success closes
//! the breaker, failure opens it again. State is a handful of atomics: no lock on any path.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Consecutive failures that open the breaker.
pub const THRESHOLD: u32 = 5;
/// The first open period (before jitter).
pub const BASE_OPEN: Duration = Duration::from_secs(2);
/// The longest open period.
pub const MAX_OPEN: Duration = Duration::from_secs(30);

/// The breaker's shared state.
pub struct Breaker {
    epoch: Instant,
    failures: AtomicU32,
    /// Milliseconds since `epoch` until which calls are refused; 0 = closed.
    open_until: AtomicU64,
    /// How many times in a row it opened (for the backoff).
    openings: AtomicU32,
    probing: AtomicBool,
}

/// The breaker refuses calls for now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Open;

/// A change of state caused by one reported outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Closed, or half-open after a failed probe, to open: calls are refused for `period`.
    Opened {
        period: Duration,
        probe_failed: bool,
    },
    /// Open (half-open) to closed: a probe succeeded.
    Closed,
}

/// Leave to make one call; report its outcome with [`Permit::success`] or [`Permit::failure`].
/// A permit dropped unreported (its call was cancelled) frees the probe slot.
pub struct Permit<'a> {
    breaker: &'a Breaker,
    probe: bool,
    reported: bool,
}

impl Default for Breaker {
    fn default() -> Self {
        Self::new()
    }
}

impl Breaker {
    /// A closed breaker.
    pub fn new() -> Self {
        Breaker {
            epoch: Instant::now(),
            failures: AtomicU32::new(0),
            open_until: AtomicU64::new(0),
            openings: AtomicU32::new(0),
            probing: AtomicBool::new(false),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Whether a call may go out now.
    pub fn admit(&self) -> Result<Permit<'_>, Open> {
        let until = self.open_until.load(Ordering::Acquire);
        if until == 0 {
            return Ok(Permit {
                breaker: self,
                probe: false,
                reported: false,
            });
        }
        if self.now_ms() < until {
            return Err(Open);
        }
        // Half-open: one probe at a time.
        if self
            .probing
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            Ok(Permit {
                breaker: self,
                probe: true,
                reported: false,
            })
        } else {
            Err(Open)
        }
    }

    /// Whether the breaker is refusing calls.
    pub fn is_open(&self) -> bool {
        let until = self.open_until.load(Ordering::Acquire);
        until != 0 && self.now_ms() < until
    }

    /// Opens the breaker if `open_until` still holds `from` (0 when closed, the expired
    /// deadline when a probe failed); `None` when another caller opened it first.
    fn open(&self, from: u64) -> Option<Duration> {
        let n = self.openings.load(Ordering::Acquire).min(8);
        let period = BASE_OPEN.saturating_mul(1 << n).min(MAX_OPEN);
        // ±25 % jitter, so that many gateways do not probe in lockstep.
        let jitter = rand::random_range(0.75..1.25);
        let ms = (period.as_millis() as f64 * jitter) as u64;
        let until = self.now_ms().saturating_add(ms).max(1);
        self.open_until
            .compare_exchange(from, until, Ordering::AcqRel, Ordering::Acquire)
            .ok()?;
        self.openings.fetch_add(1, Ordering::AcqRel);
        self.failures.store(0, Ordering::Release);
        Some(Duration::from_millis(ms))
    }
}

impl Permit<'_> {
    /// The call got a well-formed answer: the API is healthy. `Some(Closed)` when this closed
    /// the breaker.
    pub fn success(mut self) -> Option<Transition> {
        self.reported = true;
        let b = self.breaker;
        b.failures.store(0, Ordering::Release);
        let mut closed = None;
        let until = b.open_until.load(Ordering::Acquire);
        if (self.probe || until != 0)
            && b.open_until
                .compare_exchange(until, 0, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            b.openings.store(0, Ordering::Release);
            if until != 0 {
                closed = Some(Transition::Closed);
            }
        }
        if self.probe {
            b.probing.store(false, Ordering::Release);
        }
        closed
    }

    /// The call failed (unreachable, timed out, 5xx, garbage). `Some(Opened)` when this opened
    /// the breaker (or reopened it after a failed probe).
    pub fn failure(mut self) -> Option<Transition> {
        self.reported = true;
        let b = self.breaker;
        if self.probe {
            let until = b.open_until.load(Ordering::Acquire);
            let opened = b.open(until);
            b.probing.store(false, Ordering::Release);
            return opened.map(|period| Transition::Opened {
                period,
                probe_failed: true,
            });
        }
        let failures = b.failures.fetch_add(1, Ordering::AcqRel) + 1;
        if failures >= THRESHOLD {
            return b.open(0).map(|period| Transition::Opened {
                period,
                probe_failed: false,
            });
        }
        None
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if self.probe && !self.reported {
            self.breaker.probing.store(false, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A breaker whose clock has run for a while, so "the open period has passed" can be set.
    fn aged() -> Breaker {
        Breaker {
            epoch: Instant::now() - Duration::from_secs(3600),
            ..Breaker::new()
        }
    }

    fn force_half_open(b: &Breaker) {
        // Pretend the open period has passed.
        b.open_until.store(1, Ordering::Release);
    }

    #[test]
    fn opens_after_threshold_consecutive_failures_and_a_success_resets_the_count() {
        let b = aged();
        for _ in 0..THRESHOLD - 1 {
            b.admit().unwrap().failure();
        }
        b.admit().unwrap().success();
        for _ in 0..THRESHOLD - 1 {
            b.admit().unwrap().failure();
        }
        assert!(b.admit().is_ok(), "opened before the threshold");
        b.admit().unwrap().failure();
        assert!(b.is_open());
        assert_eq!(b.admit().err(), Some(Open));
    }

    #[test]
    fn half_open_admits_one_probe_whose_result_decides() {
        let b = aged();
        for _ in 0..THRESHOLD {
            b.admit().unwrap().failure();
        }
        force_half_open(&b);
        let probe = b.admit().expect("a probe");
        assert_eq!(b.admit().err(), Some(Open), "a second probe at once");
        probe.failure();
        assert!(b.is_open(), "a failed probe reopens");
        force_half_open(&b);
        b.admit().expect("a probe").success();
        assert!(!b.is_open());
        assert!(b.admit().is_ok() && b.admit().is_ok(), "closed again");
    }

    #[test]
    fn each_change_of_state_is_reported_once() {
        let b = aged();
        for _ in 0..THRESHOLD - 1 {
            assert_eq!(b.admit().unwrap().failure(), None);
        }
        // Two calls admitted while closed; the first failure to reach the threshold opens.
        let (late_a, late_b) = (b.admit().unwrap(), b.admit().unwrap());
        assert!(matches!(
            late_a.failure(),
            Some(Transition::Opened {
                probe_failed: false,
                ..
            })
        ));
        assert_eq!(late_b.failure(), None, "opened twice");
        force_half_open(&b);
        assert!(matches!(
            b.admit().unwrap().failure(),
            Some(Transition::Opened {
                probe_failed: true,
                ..
            })
        ));
        force_half_open(&b);
        assert_eq!(b.admit().unwrap().success(), Some(Transition::Closed));
        assert_eq!(b.admit().unwrap().success(), None, "closed twice");
    }

    #[test]
    fn a_cancelled_probe_frees_the_slot() {
        let b = aged();
        for _ in 0..THRESHOLD {
            b.admit().unwrap().failure();
        }
        force_half_open(&b);
        drop(b.admit().expect("a probe"));
        assert!(b.admit().is_ok(), "the probe slot stayed taken");
    }

    #[test]
    fn open_periods_grow_and_are_capped() {
        let b = aged();
        let mut last = 0;
        for round in 0..12 {
            force_half_open(&b);
            let before = b.now_ms();
            match b.admit() {
                Ok(p) => {
                    p.failure();
                }
                Err(_) => {
                    for _ in 0..THRESHOLD {
                        b.admit().unwrap().failure();
                    }
                }
            }
            let period = b.open_until.load(Ordering::Acquire) - before;
            assert!(
                period as u128 <= MAX_OPEN.as_millis() * 5 / 4 + 5,
                "round {round}: {period}"
            );
            if round < 3 {
                assert!(period >= last, "round {round}: {period} < {last}");
            }
            last = period;
        }
    }
}
