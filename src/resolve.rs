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

use std::sync::Arc;
use std::time::Duration;

use moka::Expiry;
use moka::future::Cache;
use tokio::time::Instant;

use crate::identity::Identity;
use crate::provider::{Provider, ProviderError, ProviderName, ProviderSet, Record};
use crate::store::{self, SharedCache};
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

    /// A local miss: the shared cache, then the provider (writing its answer back).
    async fn fill(
        &self,
        p: &dyn Provider,
        id: &VerificationId,
        deadline: Instant,
    ) -> Result<Entry, ProviderError> {
        let key = store::CacheKey::new(p.name(), id.clone());
        // A store error is a miss here; the store has logged and counted it.
        if let Some(shared) = &self.shared
            && let Ok(Some(stored)) = shared.get(&key).await
        {
            let ttl = self.lifetime(&stored.value).min(stored.ttl);
            return Ok(Entry {
                value: stored.value,
                ttl,
                from_api: false,
            });
        }
        let value = match p.lookup(id, deadline).await? {
            Record::Found(identity) => Resolved::Found(Arc::new(identity)),
            Record::NotFound => Resolved::NotFound,
            Record::Failed => Resolved::Failed,
        };
        let ttl = self.lifetime(&value);
        if let Some(shared) = &self.shared {
            let (shared, value) = (shared.clone(), value.clone());
            // Off the response path: the answer never waits for the store.
            tokio::spawn(async move { shared.put(&key, &value, ttl).await });
        }
        Ok(Entry {
            value,
            ttl,
            from_api: true,
        })
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

    /// The shared cache behind the local one, against a real redis-server.
    mod shared {
        use super::*;
        use crate::metrics::Metrics;
        use crate::store::scratch::ScratchServer;
        use crate::store::valkey::ValkeyStore;
        use crate::store::{SharedCache, StoreSettings};

        /// A provider answering every id with one record, counting its calls.
        struct Scripted {
            record: Record,
            calls: AtomicU32,
        }

        #[async_trait]
        impl Provider for Scripted {
            fn name(&self) -> ProviderName {
                ProviderName::Iamport
            }
            fn budget(&self) -> Duration {
                Duration::from_secs(5)
            }
            async fn lookup(
                &self,
                _: &VerificationId,
                _: Instant,
            ) -> Result<Record, ProviderError> {
                self.calls.fetch_add(1, Ordering::SeqCst);
                Ok(self.record.clone())
            }
            fn health(&self) -> Health {
                Health::default()
            }
            async fn check_credentials(&self, _fresh: bool) -> Result<(), ProviderError> {
                Ok(())
            }
        }

        fn adult(id: &VerificationId) -> Record {
            let mut i = Identity::empty(id.clone());
            i.certified = true;
            i.name = Some("홍길동".into());
            i.birth_date = Some(jiff::civil::date(1976, 11, 7));
            Record::Found(i)
        }

        fn store_at(url: &str) -> Arc<ValkeyStore> {
            let settings = StoreSettings {
                url: crate::secret::Secret::new(url),
                key_prefix: "verigate:resolve:".into(),
                timeout: Duration::from_millis(500),
                secret: crate::secret::Secret::new(base64::Engine::encode(
                    &base64::engine::general_purpose::STANDARD,
                    [3u8; 32],
                )),
            };
            Arc::new(ValkeyStore::new(&settings, Arc::new(Metrics::new())).unwrap())
        }

        /// One gateway instance: its own provider, local cache and store client.
        fn instance(url: &str, record: Record, ttl: Duration) -> (Resolver, Arc<Scripted>) {
            let p = Arc::new(Scripted {
                record,
                calls: AtomicU32::new(0),
            });
            let settings = CacheSettings {
                capacity: 100,
                ttl,
                negative_ttl: Duration::from_secs(30),
            };
            let set = ProviderSet::new([p.clone() as Arc<dyn Provider>]);
            let r = Resolver::new(set, &settings).with_shared_cache(store_at(url));
            (r, p)
        }

        fn key(id: &VerificationId) -> store::CacheKey {
            store::CacheKey::new(ProviderName::Iamport, id.clone())
        }

        /// Polls the store until it holds `id`, returning the entry.
        async fn stored(url: &str, id: &VerificationId) -> store::SharedEntry {
            let s = store_at(url);
            let started = std::time::Instant::now();
            loop {
                if let Ok(Some(e)) = s.get(&key(id)).await {
                    return e;
                }
                assert!(
                    started.elapsed() < Duration::from_secs(10),
                    "never written back"
                );
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }

        #[tokio::test]
        async fn a_second_instance_uses_what_the_first_resolved_without_an_api_call() {
            let server = ScratchServer::start();
            let id = VerificationId::parse("imp_000000000101").unwrap();
            let hour = Duration::from_secs(3600);
            let (a, pa) = instance(&server.url(), adult(&id), hour);
            let (b, pb) = instance(&server.url(), adult(&id), hour);
            let (va, sa) = a.resolve(ProviderName::Iamport, &id).await.unwrap();
            assert_eq!(sa, CacheStatus::Miss);
            let written = stored(&server.url(), &id).await;
            assert!(written.value.is_positive());
            assert!(written.ttl <= hour && written.ttl > hour - Duration::from_secs(60));
            let (vb, sb) = b.resolve(ProviderName::Iamport, &id).await.unwrap();
            assert_eq!(sb, CacheStatus::Hit, "the shared cache saved the call");
            assert_eq!(pb.calls.load(Ordering::SeqCst), 0);
            assert_eq!(pa.calls.load(Ordering::SeqCst), 1);
            match (va, vb) {
                (Resolved::Found(x), Resolved::Found(y)) => assert_eq!(x, y),
                other => panic!("{other:?}"),
            }
            // And B's local tier now answers alone.
            let (_, again) = b.resolve(ProviderName::Iamport, &id).await.unwrap();
            assert_eq!(again, CacheStatus::Hit);
            assert_eq!(pb.calls.load(Ordering::SeqCst), 0);
        }

        #[tokio::test]
        async fn a_negative_answer_is_shared_for_the_negative_ttl_only() {
            let server = ScratchServer::start();
            let id = VerificationId::parse("imp_000000000102").unwrap();
            let (a, _) = instance(&server.url(), Record::NotFound, Duration::from_secs(3600));
            a.resolve(ProviderName::Iamport, &id).await.unwrap();
            let written = stored(&server.url(), &id).await;
            assert!(matches!(written.value, Resolved::NotFound));
            assert!(written.ttl <= Duration::from_secs(30), "{:?}", written.ttl);
        }

        #[tokio::test]
        async fn a_local_copy_does_not_outlive_the_shared_one() {
            let server = ScratchServer::start();
            let id = VerificationId::parse("imp_000000000103").unwrap();
            let Record::Found(person) = adult(&id) else {
                unreachable!()
            };
            let left = Duration::from_millis(200);
            let started = std::time::Instant::now();
            store_at(&server.url())
                .put(&key(&id), &Resolved::Found(Arc::new(person)), left)
                .await
                .unwrap();
            let (b, pb) = instance(&server.url(), adult(&id), Duration::from_secs(3600));
            let (_, status) = b.resolve(ProviderName::Iamport, &id).await.unwrap();
            assert_eq!(status, CacheStatus::Hit);
            // Kept an hour, the local copy would answer every poll; it expires with the store's.
            while pb.calls.load(Ordering::SeqCst) == 0 {
                assert!(
                    started.elapsed() < Duration::from_secs(10),
                    "the local copy outlived"
                );
                tokio::time::sleep(Duration::from_millis(5)).await;
                b.resolve(ProviderName::Iamport, &id).await.unwrap();
            }
            assert!(started.elapsed() >= left - Duration::from_millis(5));
        }

        #[tokio::test]
        async fn a_dead_store_only_costs_api_calls() {
            let mut server = ScratchServer::start();
            let url = server.url();
            server.kill();
            let id = VerificationId::parse("imp_000000000104").unwrap();
            let (a, pa) = instance(&url, adult(&id), Duration::from_secs(3600));
            let (v, s) = a.resolve(ProviderName::Iamport, &id).await.unwrap();
            assert!(v.is_positive());
            assert_eq!(s, CacheStatus::Miss);
            assert_eq!(pa.calls.load(Ordering::SeqCst), 1);
        }
    }
}
