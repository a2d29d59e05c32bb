//! Rate-limited operator warnings (README, "Operations"): API failures, timeouts, rejected credentials
//! and circuit-breaker transitions are logged at `warn`, at most one line per kind per
//! [`WARN_EVERY`], each line saying how many of its kind were suppressed since the last one.
//!
//! An outage fails every request at once; logging each would flood stderr and slow the very
//! requests that are failing. The limiter is two atomics per kind: no lock on any path. What is
//! logged is chosen by the callers and holds no personal data (an imp_uid and an error kind at
//! most; never a name, birth date, token or secret).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The shortest interval between two lines of one kind.
pub const WARN_EVERY: Duration = Duration::from_secs(5);

/// What a warning is about; each kind is limited on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WarnKind {
    /// The API was unreachable, answered 5xx or garbage.
    ApiFailure = 0,
    /// The API did not answer within the time budget.
    ApiTimeout = 1,
    /// The API rejected imp_key/imp_secret.
    CredentialsRejected = 2,
    /// The circuit breaker opened (or stayed open after a failed probe).
    BreakerOpened = 3,
    /// The circuit breaker closed: the API answers again.
    BreakerClosed = 4,
}

const KINDS: usize = 5;

/// Lets one event through per `every`, counting the others.
#[derive(Debug)]
pub struct Throttle {
    epoch: Instant,
    every_ms: u64,
    /// Milliseconds since `epoch` before which events are suppressed.
    next_ms: AtomicU64,
    suppressed: AtomicU64,
}

impl Throttle {
    /// A throttle whose first event passes.
    pub fn new(epoch: Instant, every: Duration) -> Self {
        Throttle {
            epoch,
            every_ms: u64::try_from(every.as_millis()).unwrap_or(u64::MAX),
            next_ms: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// An event at `now`: `Some(suppressed since the last one that passed)` when it may be
    /// logged, `None` when it is suppressed (and counted).
    pub fn admit(&self, now: Instant) -> Option<u64> {
        let now_ms = u64::try_from(now.saturating_duration_since(self.epoch).as_millis())
            .unwrap_or(u64::MAX);
        let next = self.next_ms.load(Ordering::Relaxed);
        // Of events racing at the end of a window, exactly one wins the exchange.
        if now_ms >= next
            && self
                .next_ms
                .compare_exchange(
                    next,
                    now_ms.saturating_add(self.every_ms),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
        {
            Some(self.suppressed.swap(0, Ordering::Relaxed))
        } else {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            None
        }
    }
}

/// One [`Throttle`] per [`WarnKind`].
#[derive(Debug)]
pub struct Warnings {
    kinds: [Throttle; KINDS],
}

impl Default for Warnings {
    fn default() -> Self {
        Self::new(WARN_EVERY)
    }
}

impl Warnings {
    /// Throttles letting one line of each kind through per `every`.
    pub fn new(every: Duration) -> Self {
        let epoch = Instant::now();
        Warnings {
            kinds: std::array::from_fn(|_| Throttle::new(epoch, every)),
        }
    }

    /// Whether a warning of `kind` may be logged now; `Some(suppressed)` when it may.
    pub fn admit(&self, kind: WarnKind) -> Option<u64> {
        self.kinds[kind as usize].admit(Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_event_per_window_passes_and_reports_the_suppressed_count() {
        let t0 = Instant::now();
        let t = Throttle::new(t0, Duration::from_secs(5));
        assert_eq!(t.admit(t0), Some(0));
        for s in 1..=3 {
            assert_eq!(t.admit(t0 + Duration::from_secs(s)), None);
        }
        assert_eq!(t.admit(t0 + Duration::from_millis(4999)), None);
        assert_eq!(t.admit(t0 + Duration::from_secs(5)), Some(4));
        assert_eq!(t.admit(t0 + Duration::from_secs(6)), None);
        assert_eq!(t.admit(t0 + Duration::from_secs(60)), Some(1));
        assert_eq!(t.admit(t0 + Duration::from_secs(120)), Some(0));
    }

    #[test]
    fn kinds_are_limited_independently() {
        let w = Warnings::new(Duration::from_secs(3600));
        assert_eq!(w.admit(WarnKind::BreakerOpened), Some(0));
        assert_eq!(w.admit(WarnKind::BreakerClosed), Some(0));
        assert_eq!(w.admit(WarnKind::BreakerOpened), None);
        assert_eq!(w.admit(WarnKind::ApiFailure), Some(0));
        assert_eq!(w.admit(WarnKind::ApiFailure), None);
        assert_eq!(w.admit(WarnKind::ApiTimeout), Some(0));
        assert_eq!(w.admit(WarnKind::CredentialsRejected), Some(0));
    }

    #[test]
    fn of_many_threads_at_once_exactly_one_is_let_through() {
        let w = std::sync::Arc::new(Warnings::new(Duration::from_secs(3600)));
        let passed: u64 = (0..8)
            .map(|_| {
                let w = w.clone();
                std::thread::spawn(move || {
                    (0..1000)
                        .filter(|_| w.admit(WarnKind::ApiFailure).is_some())
                        .count() as u64
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap_or(0))
            .sum();
        assert_eq!(passed, 1);
    }
}
