//! Resolving a verification id: the moka cache first, then the route's provider, inside the
//! provider's time budget.
//!
//! Entries are keyed by `(provider, id)`, so a V1 `imp_uid` and a V2 id of the same text never
//! collide. Concurrent requests for the same key share one API call (moka coalesces the
//! initialisation). Found, certified verifications live `ttl`; "not found", failed and
//! unfinished verifications live only `negative_ttl` (an attempt may still complete); errors are
//! never cached.

use std::sync::Arc;
use std::time::Duration;

use moka::Expiry;
use moka::future::Cache;
use tokio::time::Instant;

use crate::identity::Identity;
use crate::provider::{ProviderError, ProviderName, ProviderSet, Record};
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

struct Lifetimes {
    ttl: Duration,
    negative_ttl: Duration,
}

impl Expiry<CacheKey, Resolved> for Lifetimes {
    fn expire_after_create(
        &self,
        _key: &CacheKey,
        value: &Resolved,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        Some(match value {
            Resolved::Found(id) if id.certified => self.ttl,
            _ => self.negative_ttl,
        })
    }
}

/// The cache in front of the providers.
pub struct Resolver {
    providers: ProviderSet,
    cache: Cache<CacheKey, Resolved>,
}

impl Resolver {
    /// A resolver over `providers` with the configured cache.
    pub fn new(providers: ProviderSet, settings: &CacheSettings) -> Self {
        let cache = Cache::builder()
            .max_capacity(settings.capacity)
            .expire_after(Lifetimes {
                ttl: settings.ttl,
                negative_ttl: settings.negative_ttl,
            })
            .build();
        Resolver { providers, cache }
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
            .or_try_insert_with(async {
                Ok(match p.lookup(id, deadline).await? {
                    Record::Found(identity) => Resolved::Found(Arc::new(identity)),
                    Record::NotFound => Resolved::NotFound,
                    Record::Failed => Resolved::Failed,
                })
            })
            .await
            .map_err(|e: Arc<ProviderError>| (*e).clone())?;
        let status = if entry.is_fresh() {
            CacheStatus::Miss
        } else {
            CacheStatus::Hit
        };
        Ok((entry.into_value(), status))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    use async_trait::async_trait;

    use crate::provider::{Health, Provider};

    /// A provider answering every id with a record of its own name, counting its calls.
    struct Fixed {
        name: ProviderName,
        calls: AtomicU32,
    }

    #[async_trait]
    impl Provider for Fixed {
        fn name(&self) -> ProviderName {
            self.name
        }
        fn budget(&self) -> Duration {
            Duration::from_secs(5)
        }
        async fn lookup(
            &self,
            id: &VerificationId,
            _deadline: Instant,
        ) -> Result<Record, ProviderError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            // Long enough for every concurrent caller to join the first one's call.
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok(match self.name {
                ProviderName::Iamport => Record::Found(Identity::empty(id.clone())),
                ProviderName::Portone => Record::Failed,
            })
        }
        fn health(&self) -> Health {
            Health::default()
        }
        async fn check_credentials(&self, _fresh: bool) -> Result<(), ProviderError> {
            Ok(())
        }
    }

    fn resolver() -> (Resolver, Arc<Fixed>, Arc<Fixed>) {
        let v1 = Arc::new(Fixed {
            name: ProviderName::Iamport,
            calls: AtomicU32::new(0),
        });
        let v2 = Arc::new(Fixed {
            name: ProviderName::Portone,
            calls: AtomicU32::new(0),
        });
        let set = ProviderSet::new([v1.clone() as Arc<dyn Provider>, v2.clone()]);
        let settings = CacheSettings {
            capacity: 100,
            ttl: Duration::from_secs(60),
            negative_ttl: Duration::from_secs(60),
        };
        (Resolver::new(set, &settings), v1, v2)
    }

    #[tokio::test]
    async fn the_same_text_under_two_providers_is_cached_apart() {
        let (r, v1, v2) = resolver();
        let id = VerificationId::parse("same-text").unwrap();
        let (a, sa) = r.resolve(ProviderName::Iamport, &id).await.unwrap();
        let (b, sb) = r.resolve(ProviderName::Portone, &id).await.unwrap();
        assert!(matches!(a, Resolved::Found(_)), "{a:?}");
        assert!(matches!(b, Resolved::Failed), "{b:?}");
        assert_eq!((sa, sb), (CacheStatus::Miss, CacheStatus::Miss));
        let (_, again) = r.resolve(ProviderName::Portone, &id).await.unwrap();
        assert_eq!(again, CacheStatus::Hit);
        assert_eq!(v1.calls.load(Ordering::SeqCst), 1);
        assert_eq!(v2.calls.load(Ordering::SeqCst), 1);
        assert_eq!(r.entries().await, 2);
    }

    #[tokio::test]
    async fn concurrent_requests_for_one_key_make_one_call() {
        let (r, v1, _) = resolver();
        let r = Arc::new(r);
        let id = VerificationId::parse("imp_000000000001").unwrap();
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let (r, id) = (r.clone(), id.clone());
                tokio::spawn(async move { r.resolve(ProviderName::Iamport, &id).await.is_ok() })
            })
            .collect();
        for t in tasks {
            assert!(t.await.unwrap());
        }
        assert_eq!(v1.calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn an_unconfigured_provider_is_trouble_not_an_answer() {
        let settings = CacheSettings {
            capacity: 10,
            ttl: Duration::from_secs(1),
            negative_ttl: Duration::from_secs(1),
        };
        let r = Resolver::new(ProviderSet::default(), &settings);
        let id = VerificationId::parse("x").unwrap();
        assert_eq!(
            r.resolve(ProviderName::Portone, &id).await.map(|_| ()),
            Err(ProviderError::Unreachable)
        );
    }
}
