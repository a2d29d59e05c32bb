//! The fleet's single flight on one id, for the resolver: of instances missing one id at once,
//! the one holding the claim asks the API and writes back; the others wait for its answer.
//!
//! A waiter watches alone for a short patience ([`PATIENCE`], or a quarter of what is left of
//! its budget if less), then starts its own API call with everything that is left and keeps
//! watching beside it: the first answer wins (should its own call fail, the holder's answer is
//! still taken if it comes within the budget). A slow holder therefore costs a duplicate call,
//! never the request; an abandoned claim (the holder's call failed: errors are not cached)
//! sends the waiter to the API at once.
//!
//! What a lookup owes the fleet, its answer to write back and its claim to give up, is a guard
//! ([`Holding`]), so a request cancelled mid-call (its client went away) gives the claim up at
//! once instead of leaving the others to wait out its lease.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::{Entry, Resolved, Resolver};
use crate::provider::{Provider, ProviderError};
use crate::store::{CacheKey, Claim, Peek, SharedCache, SharedEntry};
use crate::verification_id::VerificationId;

/// How often a caller waiting on another instance's claim looks for its answer (plus a jitter of
/// up to as much again).
pub const PEEK_EVERY: Duration = Duration::from_millis(10);

/// How much longer than the provider's budget a claim is leased: a holder that dies holds the
/// claim no longer than that.
pub const LEASE_MARGIN: Duration = Duration::from_millis(500);

/// How long a waiter watches another instance's claim before it asks the API as well (or a
/// quarter of what is left of its budget, if less).
pub const PATIENCE: Duration = Duration::from_millis(250);

/// What watching another instance's claim came to.
enum Watched {
    /// Its answer is stored.
    Stored(SharedEntry),
    /// No answer will come: the claim was abandoned, or the store failed.
    Gone,
    /// Still pending when the watch ended.
    Pending,
}

/// Peeks at `key` until its answer is stored, its claim is gone, or `until`.
async fn watch(shared: &dyn SharedCache, key: &CacheKey, until: Instant) -> Watched {
    let every = u64::try_from(PEEK_EVERY.as_micros()).unwrap_or(u64::MAX);
    loop {
        // Jittered, so waiters on several instances do not peek in step.
        let jitter = Duration::from_micros(rand::random_range(0..=every));
        let next = Instant::now() + PEEK_EVERY + jitter;
        if next >= until {
            tokio::time::sleep_until(until).await;
            return Watched::Pending;
        }
        tokio::time::sleep_until(next).await;
        match tokio::time::timeout_at(until, shared.peek(key)).await {
            Ok(Ok(Peek::Stored(entry))) => return Watched::Stored(entry),
            Ok(Ok(Peek::Pending)) => {}
            Ok(Ok(Peek::Abandoned) | Err(_)) => return Watched::Gone,
            Err(_) => return Watched::Pending,
        }
    }
}

/// What this instance owes the fleet for one lookup: the API's answer to write back, and the
/// claim to give up, if it holds one. Dropped, it does both off the response path (the answer
/// never waits for the store), in that order, so a waiter never sees "no claim, nothing stored"
/// between. Dropped unanswered (the request was cancelled mid-call), it still gives the claim up
/// at once rather than leaving it to its lease.
pub(super) struct Holding {
    shared: Arc<dyn SharedCache>,
    key: CacheKey,
    claim: Option<Claim>,
    answer: Option<(Resolved, Duration)>,
}

impl Holding {
    pub(super) fn new(shared: &Arc<dyn SharedCache>, key: CacheKey, claim: Option<Claim>) -> Self {
        Holding {
            shared: shared.clone(),
            key,
            claim,
            answer: None,
        }
    }

    /// Keeps the API's answer, if it is one, to be written back.
    pub(super) fn answered(&mut self, answer: &Result<Entry, ProviderError>) {
        self.answer = answer.as_ref().ok().map(|e| (e.value.clone(), e.ttl));
    }
}

impl Drop for Holding {
    fn drop(&mut self) {
        let (claim, answer) = (self.claim.take(), self.answer.take());
        if claim.is_none() && answer.is_none() {
            return;
        }
        // Without a runtime (a process shutting down) nothing can be sent: the lease ends it.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (shared, key) = (self.shared.clone(), self.key.clone());
        runtime.spawn(async move {
            let answer = answer.as_ref().map(|(value, ttl)| (value, *ttl));
            let _ = shared.settle(&key, answer, claim.as_ref()).await;
        });
    }
}

impl Resolver {
    /// Another instance holds the claim on `id`: its answer if it comes first, else this
    /// instance's own (asked after [`PATIENCE`], with the whole of what is left until
    /// `deadline`).
    pub(super) async fn await_holder(
        &self,
        shared: &Arc<dyn SharedCache>,
        key: CacheKey,
        p: &dyn Provider,
        id: &VerificationId,
        deadline: Instant,
    ) -> Result<Entry, ProviderError> {
        let now = Instant::now();
        let patience = now + (deadline.saturating_duration_since(now) / 4).min(PATIENCE);
        match watch(&**shared, &key, patience).await {
            Watched::Stored(stored) => return Ok(self.kept_from_store(stored)),
            Watched::Gone => {
                let holding = Holding::new(shared, key, None);
                return self.ask_sharing(holding, p, id, deadline).await;
            }
            Watched::Pending => {}
        }
        let answer = {
            let own = self.ask(p, id, deadline);
            let watching = watch(&**shared, &key, deadline);
            tokio::pin!(own, watching);
            tokio::select! {
                answer = &mut own => match answer {
                    Ok(entry) => Ok(entry),
                    // This call failed; the holder's may still answer within the budget.
                    Err(e) => match watching.await {
                        Watched::Stored(stored) => return Ok(self.kept_from_store(stored)),
                        Watched::Gone | Watched::Pending => Err(e),
                    },
                },
                watched = &mut watching => match watched {
                    Watched::Stored(stored) => return Ok(self.kept_from_store(stored)),
                    Watched::Gone | Watched::Pending => own.await,
                },
            }
        };
        // Written back once `owed` drops, off the response path.
        let mut owed = Holding::new(shared, key, None);
        owed.answered(&answer);
        answer
    }
}
