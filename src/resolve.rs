//! Resolving a verification id: the moka cache first, then (in a fleet) the shared cache, then
//! the route's provider, inside the provider's time budget.
//!
//! Entries are keyed by `(provider, id)`, so a V1 `imp_uid` and a V2 id of the same text never
//! collide. Concurrent requests for the same key share one lookup (moka coalesces the
//! initialisation), so each instance asks the store and the API at most once per key at a time.
//! Found, certified verifications live `ttl`; "not found", failed and unfinished verifications
//! live only `negative_ttl` (an attempt may still complete); errors are never cached.
//!
//! With a [`SharedCache`] (`[store]`), a local miss asks the store before the API: a verification
//! another instance resolved is used as is, and kept locally no longer than it has left in the
//! store. What the API answers is written back with the same lifetimes, off the response path.
//! Store trouble is a miss (the store logs and counts it): it only costs API calls. Without a
//! store, behaviour is exactly the moka cache in front of the providers.
//!
//! Across the fleet, the first lookups of one id coalesce too, where that is cheap: on a store
//! miss an instance claims the API call (`SharedCache::claim`); the holder asks the API and
//! writes back, the others peek at the store every [`PEEK_EVERY`] until the answer is there.
//! A waiter gives up after half of what is left of its budget, or at once when the claim is
//! abandoned (errors are not cached), and asks the API itself: a duplicate call, never a
//! failed request. Each instance still makes at most one call per id at a time.

use std::sync::Arc;
use std::time::Duration;

use moka::Expiry;
use moka::future::Cache;
use tokio::time::Instant;

use crate::identity::Identity;
use crate::provider::{Provider, ProviderError, ProviderName, ProviderSet, Record};
use crate::store::{self, Peek, SharedCache};
use crate::verification_id::VerificationId;

/// `[cache]`, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct CacheSettings {
    /// At least 1.
    pub capacity: u64,
    /// How long a resolved verification is kept.
    pub ttl: Duration,
    /// How long "no such imp_uid" is remembered.
    pub negative_ttl: Duration,
}

/// What the API said about one id.
#[derive(Debug, Clone)]
pub enum Resolved {
    Found(Arc<Identity>),
    NotFound,
    /// The verification was attempted and failed (V2 `FAILED`).
    Failed,
}

impl Resolved {
    /// A found, certified verification: final, kept `ttl`. Everything else may still change
    /// (an attempt may complete) and is kept only `negative_ttl`.
    pub fn is_positive(&self) -> bool {
        matches!(self, Resolved::Found(id) if id.certified)
    }
}

/// How often a caller waiting on another instance's claim looks for its answer (plus a jitter of
/// up to as much again).
pub const PEEK_EVERY: Duration = Duration::from_millis(10);

/// How much longer than the provider's budget a claim is leased: a holder that dies holds the
/// claim no longer than that.
pub const LEASE_MARGIN: Duration = Duration::from_millis(500);

/// Whether an answer came from the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheStatus {
    Hit,
    Miss,
}

impl CacheStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CacheStatus::Hit => "hit",
            CacheStatus::Miss => "miss",
        }
    }
}

/// One cache entry's key: the provider beside the id.
pub type CacheKey = (ProviderName, VerificationId);

/// One cached answer: what the API said, how long it is kept here, and whether this process
/// asked the API for it (rather than the shared cache).
#[derive(Clone)]
struct Entry {
    value: Resolved,
    ttl: Duration,
    from_api: bool,
}

/// Each entry expires after the lifetime it was stored with.
struct Lifetimes;

impl Expiry<CacheKey, Entry> for Lifetimes {
    fn expire_after_create(
        &self,
        _key: &CacheKey,
        entry: &Entry,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        Some(entry.ttl)
    }
}

/// The cache in front of the providers.
pub struct Resolver {
    providers: ProviderSet,
    cache: Cache<CacheKey, Entry>,
    ttl: Duration,
    negative_ttl: Duration,
    /// The fleet's cache behind the local one; `None` without `[store]`.
    shared: Option<Arc<dyn SharedCache>>,
}

impl Resolver {
    /// A resolver over `providers` with the configured cache.
    pub fn new(providers: ProviderSet, settings: &CacheSettings) -> Self {
        let cache = Cache::builder()
            .max_capacity(settings.capacity)
            .expire_after(Lifetimes)
            .build();
        Resolver {
            providers,
            cache,
            ttl: settings.ttl,
            negative_ttl: settings.negative_ttl,
            shared: None,
        }
    }

    /// Puts the fleet's shared cache behind the local one (`[store]`).
    pub fn with_shared_cache(mut self, shared: Arc<dyn SharedCache>) -> Self {
        self.shared = Some(shared);
        self
    }

    /// How long an answer is kept: `ttl` if final, `negative_ttl` otherwise.
    fn lifetime(&self, value: &Resolved) -> Duration {
        if value.is_positive() {
            self.ttl
        } else {
            self.negative_ttl
        }
    }

    /// The providers behind the cache.
    pub fn providers(&self) -> &ProviderSet {
        &self.providers
    }

    /// Entries currently cached, after moka's pending maintenance (so the count is current).
    pub async fn entries(&self) -> u64 {
        self.cache.run_pending_tasks().await;
        self.cache.entry_count()
    }

    /// Resolves `id` with `provider` from the cache or, once for all concurrent callers, from
    /// the API. A provider that is not configured is trouble (503), never a guess.
    pub async fn resolve(
        &self,
        provider: ProviderName,
        id: &VerificationId,
    ) -> Result<(Resolved, CacheStatus), ProviderError> {
        let Some(p) = self.providers.get(provider) else {
            return Err(ProviderError::Unreachable);
        };
        let deadline = Instant::now() + p.budget();
        let entry = self
            .cache
            .entry((provider, id.clone()))
            .or_try_insert_with(self.fill(&**p, id, deadline))
            .await
            .map_err(|e: Arc<ProviderError>| (*e).clone())?;
        // Only the caller that asked the API saw a miss: the shared cache saved the call too.
        let status = if entry.is_fresh() && entry.value().from_api {
            CacheStatus::Miss
        } else {
            CacheStatus::Hit
        };
        Ok((entry.into_value().value, status))
    }

    /// A local miss: the shared cache, then the provider (writing its answer back). With a
    /// store, the fleet's claim decides who asks the API: the holder asks, the others wait for
    /// its answer (within half of what is left of the budget) and only then ask themselves.
    async fn fill(
        &self,
        p: &dyn Provider,
        id: &VerificationId,
        deadline: Instant,
    ) -> Result<Entry, ProviderError> {
        let Some(shared) = &self.shared else {
            return self.ask(p, id, deadline).await;
        };
        let key = store::CacheKey::new(p.name(), id.clone());
        // A store error is a miss here, and no claim; the store has logged and counted it.
        if let Ok(Some(stored)) = shared.get(&key).await {
            return Ok(self.kept_from_store(stored));
        }
        let claim = match shared.claim(&key, p.budget() + LEASE_MARGIN).await {
            Ok(Some(claim)) => Some(claim),
            Ok(None) => match wait_for_holder(&**shared, &key, deadline).await {
                Some(stored) => return Ok(self.kept_from_store(stored)),
                None => None,
            },
            Err(_) => None,
        };
        let answer = self.ask(p, id, deadline).await;
        let written = answer.as_ref().ok().map(|e| (e.value.clone(), e.ttl));
        let shared = shared.clone();
        // Off the response path: the answer never waits for the store. The claim goes only
        // once the answer is stored, so a waiter never sees "no claim, nothing stored" between.
        tokio::spawn(async move {
            if let Some((value, ttl)) = written {
                let _ = shared.put(&key, &value, ttl).await;
            }
            if let Some(claim) = claim {
                let _ = shared.release(&key, &claim).await;
            }
        });
        answer
    }

    /// Asks the provider: an entry kept `ttl` or `negative_ttl`.
    async fn ask(
        &self,
        p: &dyn Provider,
        id: &VerificationId,
        deadline: Instant,
    ) -> Result<Entry, ProviderError> {
        let value = match p.lookup(id, deadline).await? {
            Record::Found(identity) => Resolved::Found(Arc::new(identity)),
            Record::NotFound => Resolved::NotFound,
            Record::Failed => Resolved::Failed,
        };
        Ok(Entry {
            ttl: self.lifetime(&value),
            value,
            from_api: true,
        })
    }

    /// A shared entry kept here no longer than it has left in the store.
    fn kept_from_store(&self, stored: store::SharedEntry) -> Entry {
        Entry {
            ttl: self.lifetime(&stored.value).min(stored.ttl),
            value: stored.value,
            from_api: false,
        }
    }
}

/// Waits for another instance's answer to be stored: until it is, until its claim is abandoned
/// (its API call failed) or the store fails, or for half of what is left of the budget, so that
/// a call of this instance's own still fits. `None`: ask the API.
async fn wait_for_holder(
    shared: &dyn SharedCache,
    key: &store::CacheKey,
    deadline: Instant,
) -> Option<store::SharedEntry> {
    let now = Instant::now();
    let patience = now + deadline.saturating_duration_since(now) / 2;
    let every = u64::try_from(PEEK_EVERY.as_micros()).unwrap_or(u64::MAX);
    loop {
        // Jittered, so waiters on several instances do not peek in step.
        let jitter = Duration::from_micros(rand::random_range(0..=every));
        tokio::time::sleep(PEEK_EVERY + jitter).await;
        if Instant::now() >= patience {
            return None;
        }
        match shared.peek(key).await {
            Ok(Peek::Stored(entry)) => return Some(entry),
            Ok(Peek::Pending) => {}
            Ok(Peek::Abandoned) | Err(_) => return None,
        }
    }
}

#[cfg(test)]
mod tests;
