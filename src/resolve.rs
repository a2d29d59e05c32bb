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
//! Store trouble is a miss (the store logs and counts it), and no claim: it only costs API calls.
//! Every store call on the way is bounded by the lookup's deadline as well as by `timeout_ms`, so
//! a slow store never takes the API's share of the budget. Without a store, behaviour is exactly
//! the moka cache in front of the providers.
//!
//! Across the fleet, the first lookups of one id coalesce too, where that is cheap (`flight`):
//! the store's miss and the claim on the API call come in one exchange
//! (`SharedCache::get_or_claim`); the holder asks the API and writes back (answer and release in
//! one exchange, `SharedCache::settle`), the others watch the store for its answer. A waiter watches alone for a
//! short patience ([`PATIENCE`]), then asks the API itself with all of its remaining budget while
//! it keeps watching, and takes whichever answer comes first; an abandoned claim (errors are not
//! cached) sends it to the API at once. A slow or dead holder costs the patience and a duplicate
//! call, never the answer: the waiter's own call has all that is left of its budget. Each
//! instance still makes at most one call per id at a time.

use std::sync::Arc;
use std::time::Duration;

use moka::Expiry;
use moka::future::Cache;
use tokio::time::{Instant, timeout_at};

use crate::identity::Identity;
use crate::provider::{Provider, ProviderError, ProviderName, ProviderSet, Record};
use crate::store::{self, Lookup, SharedCache};
use crate::verification_id::VerificationId;

mod flight;

use flight::Holding;
pub use flight::{LEASE_MARGIN, PATIENCE, PEEK_EVERY};

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
    /// its answer and, if it is slow, ask as well (`flight`).
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
        // Store calls come out of the request's budget: none runs past its deadline. Store
        // trouble (logged and counted by the store) sends this caller straight to the API,
        // without a claim.
        let lease = p.budget() + LEASE_MARGIN;
        let claim = match timeout_at(deadline, shared.get_or_claim(&key, lease)).await {
            Ok(Ok(Lookup::Stored(stored))) => return Ok(self.kept_from_store(stored)),
            Ok(Ok(Lookup::Claimed(claim))) => Some(claim),
            Ok(Ok(Lookup::Held)) => return self.await_holder(shared, key, p, id, deadline).await,
            Ok(Err(_)) | Err(_) => None,
        };
        self.ask_sharing(Holding::new(shared, key, claim), p, id, deadline)
            .await
    }

    /// Asks the provider, then leaves `holding` to write the answer back and give its claim up.
    /// Cancelled mid-call, `holding` still gives the claim up.
    async fn ask_sharing(
        &self,
        mut holding: Holding,
        p: &dyn Provider,
        id: &VerificationId,
        deadline: Instant,
    ) -> Result<Entry, ProviderError> {
        let answer = self.ask(p, id, deadline).await;
        holding.answered(&answer);
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

#[cfg(test)]
mod tests;
