//! The resolver's tests: the local cache and its coalescing here, the shared cache and the
//! fleet's single flight against a real redis-server in `shared`.

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
    use crate::store::scratch::{Reply, ScratchServer};
    use crate::store::valkey::ValkeyStore;
    use crate::store::{SharedCache, StoreSettings};

    /// A provider answering every id with one record after `delay`, counting its calls.
    struct Scripted {
        record: Record,
        calls: AtomicU32,
        delay: Duration,
        budget: Duration,
    }

    #[async_trait]
    impl Provider for Scripted {
        fn name(&self) -> ProviderName {
            ProviderName::Iamport
        }
        fn budget(&self) -> Duration {
            self.budget
        }
        async fn lookup(
            &self,
            _: &VerificationId,
            deadline: Instant,
        ) -> Result<Record, ProviderError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            // As a real provider does: no answer after the deadline.
            tokio::time::timeout_at(deadline, tokio::time::sleep(self.delay))
                .await
                .map_err(|_| ProviderError::Timeout)?;
            Ok(self.record.clone())
        }
        fn health(&self) -> Health {
            Health::default()
        }
        async fn check_credentials(&self, _fresh: bool) -> Result<(), ProviderError> {
            Ok(())
        }
    }

    const HOUR: Duration = Duration::from_secs(3600);

    fn adult(id: &VerificationId) -> Record {
        let mut i = Identity::empty(id.clone());
        i.certified = true;
        i.name = Some("홍길동".into());
        i.birth_date = Some(jiff::civil::date(1976, 11, 7));
        Record::Found(i)
    }

    fn store_at(url: &str) -> Arc<ValkeyStore> {
        counted_store(url, Arc::new(Metrics::new()))
    }

    /// [`store_at`], counting its calls in `metrics`.
    fn counted_store(url: &str, metrics: Arc<Metrics>) -> Arc<ValkeyStore> {
        let settings = StoreSettings {
            url: crate::secret::Secret::new(url),
            key_prefix: "verigate:resolve:".into(),
            timeout: Duration::from_millis(500),
            secret: crate::secret::Secret::new(base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                [3u8; 32],
            )),
        };
        Arc::new(ValkeyStore::new(&settings, metrics).unwrap())
    }

    /// One gateway instance: its own provider, local cache and store client.
    fn instance(url: &str, record: Record, ttl: Duration) -> (Resolver, Arc<Scripted>) {
        timed_instance(url, record, ttl, Duration::ZERO, Duration::from_secs(5))
    }

    /// [`instance`] with a provider taking `delay` per call, within `budget`.
    fn timed_instance(
        url: &str,
        record: Record,
        ttl: Duration,
        delay: Duration,
        budget: Duration,
    ) -> (Resolver, Arc<Scripted>) {
        instance_on(store_at(url), record, ttl, delay, budget)
    }

    /// [`timed_instance`] with the store client `store`.
    fn instance_on(
        store: Arc<ValkeyStore>,
        record: Record,
        ttl: Duration,
        delay: Duration,
        budget: Duration,
    ) -> (Resolver, Arc<Scripted>) {
        let p = Arc::new(Scripted {
            record,
            calls: AtomicU32::new(0),
            delay,
            budget,
        });
        let settings = CacheSettings {
            capacity: 100,
            ttl,
            negative_ttl: Duration::from_secs(30),
        };
        let set = ProviderSet::new([p.clone() as Arc<dyn Provider>]);
        let r = Resolver::new(set, &settings).with_shared_cache(store);
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

    #[tokio::test]
    async fn a_store_that_fails_a_read_sends_the_lookup_to_the_api_without_a_claim() {
        let server = ScratchServer::start();
        // This user may not GET: every read fails, while a claim (SET) would be taken.
        let acl = [
            "ACL", "SETUSER", "noget", "on", ">pw", "~*", "+@all", "-get",
        ];
        assert_eq!(server.raw(&acl), Reply::Status("OK".into()));
        let url = format!("redis://noget:pw@127.0.0.1:{}/0", server.port());
        let metrics = Arc::new(Metrics::new());
        let store = counted_store(&url, metrics.clone());
        let id = VerificationId::parse("imp_000000000105").unwrap();
        let (a, pa) = instance_on(store, adult(&id), HOUR, Duration::ZERO, HOUR);
        let (v, s) = a.resolve(ProviderName::Iamport, &id).await.unwrap();
        assert!(v.is_positive());
        assert_eq!(s, CacheStatus::Miss);
        assert_eq!(pa.calls.load(Ordering::SeqCst), 1);
        let text = String::from_utf8(metrics.render()).unwrap();
        assert!(
            text.contains("verigate_store_requests_total{op=\"get\""),
            "{text}"
        );
        assert!(!text.contains("op=\"claim\""), "a claim was made:\n{text}");
    }

    #[tokio::test]
    async fn a_frozen_store_takes_no_more_than_the_lookups_budget() {
        let server = ScratchServer::start();
        // Each store call may wait 500 ms; the whole lookup has 300.
        let budget = Duration::from_millis(300);
        let id = VerificationId::parse("imp_000000000106").unwrap();
        let (a, _) = timed_instance(&server.url(), adult(&id), HOUR, Duration::ZERO, budget);
        server.pause();
        let started = Instant::now();
        let answer = a.resolve(ProviderName::Iamport, &id).await;
        let took = started.elapsed();
        server.resume();
        assert_eq!(answer.map(|_| ()), Err(ProviderError::Timeout));
        assert!(took < budget + Duration::from_millis(150), "{took:?}");
    }

    /// The fleet's single flight: of instances looking one id up at once, one asks the API.
    mod flight {
        use super::*;
        use crate::store::Peek;

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn thirty_first_lookups_over_three_instances_make_one_api_call() {
            let server = ScratchServer::start();
            let id = VerificationId::parse("imp_000000000201").unwrap();
            // Slow enough for every first lookup to overlap the holder's call, and well inside
            // a waiter's patience (250 ms) so that a loaded machine cannot make it give up.
            let slow = Duration::from_millis(80);
            let instances: Vec<_> = (0..3)
                .map(|_| {
                    let (r, p) = timed_instance(&server.url(), adult(&id), HOUR, slow, HOUR);
                    (Arc::new(r), p)
                })
                .collect();
            let tasks: Vec<_> = (0..30)
                .map(|i| {
                    let (r, id) = (instances[i % 3].0.clone(), id.clone());
                    tokio::spawn(async move { r.resolve(ProviderName::Iamport, &id).await })
                })
                .collect();
            for t in tasks {
                let (value, _) = t.await.unwrap().unwrap();
                assert!(value.is_positive());
            }
            let calls: u32 = instances
                .iter()
                .map(|(_, p)| p.calls.load(Ordering::SeqCst))
                .sum();
            assert_eq!(calls, 1, "API calls for the fleet");
        }

        #[tokio::test]
        async fn a_waiter_takes_the_holders_answer_without_an_api_call() {
            let server = ScratchServer::start();
            let id = VerificationId::parse("imp_000000000202").unwrap();
            let ghost = store_at(&server.url());
            let claim = ghost.claim(&key(&id), HOUR).await.unwrap().unwrap();
            assert_eq!(ghost.claim(&key(&id), HOUR).await, Ok(None), "held");
            let (b, pb) = instance(&server.url(), adult(&id), HOUR);
            let looked_up = id.clone();
            let waiting = tokio::spawn(async move {
                let got = b.resolve(ProviderName::Iamport, &looked_up).await.unwrap();
                (got, pb)
            });
            let Record::Found(person) = adult(&id) else {
                unreachable!()
            };
            // The holder writes its answer back, then lets the claim go.
            let value = Resolved::Found(Arc::new(person));
            ghost.put(&key(&id), &value, HOUR).await.unwrap();
            ghost.release(&key(&id), &claim).await.unwrap();
            let ((value, status), pb) = waiting.await.unwrap();
            assert!(value.is_positive());
            assert_eq!(status, CacheStatus::Hit);
            assert_eq!(pb.calls.load(Ordering::SeqCst), 0);
            assert!(matches!(ghost.peek(&key(&id)).await, Ok(Peek::Stored(_))));
        }

        #[tokio::test]
        async fn an_abandoned_claim_sends_the_waiter_to_the_api_at_once() {
            let server = ScratchServer::start();
            let id = VerificationId::parse("imp_000000000203").unwrap();
            let ghost = store_at(&server.url());
            let claim = ghost.claim(&key(&id), HOUR).await.unwrap().unwrap();
            let (b, pb) = timed_instance(&server.url(), adult(&id), HOUR, Duration::ZERO, HOUR);
            let started = Instant::now();
            let looked_up = id.clone();
            let waiting = tokio::spawn(async move {
                b.resolve(ProviderName::Iamport, &looked_up).await.unwrap();
                pb
            });
            assert!(matches!(ghost.peek(&key(&id)).await, Ok(Peek::Pending)));
            // The holder's API call failed: nothing is stored, the claim is given up.
            ghost.release(&key(&id), &claim).await.unwrap();
            let pb = waiting.await.unwrap();
            assert_eq!(pb.calls.load(Ordering::SeqCst), 1);
            // Far less than the half hour of patience it had.
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "{:?}",
                started.elapsed()
            );
        }

        /// Polls until `p` has been asked `n` times.
        async fn asked(p: &Scripted, n: u32) {
            let started = std::time::Instant::now();
            while p.calls.load(Ordering::SeqCst) < n {
                assert!(
                    started.elapsed() < Duration::from_secs(10),
                    "the API was not asked"
                );
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }

        #[tokio::test]
        async fn a_slow_holder_does_not_turn_a_waiters_answer_into_an_error() {
            let server = ScratchServer::start();
            let id = VerificationId::parse("imp_000000000205").unwrap();
            let ghost = store_at(&server.url());
            let claim = ghost.claim(&key(&id), HOUR).await.unwrap().unwrap();
            // The API takes 60 % of the budget: a call started after half of it cannot answer.
            let budget = Duration::from_secs(2);
            let slow = budget * 3 / 5;
            let (b, pb) = timed_instance(&server.url(), adult(&id), HOUR, slow, budget);
            let (value, status) = b.resolve(ProviderName::Iamport, &id).await.unwrap();
            assert!(value.is_positive());
            assert_eq!(status, CacheStatus::Miss);
            assert_eq!(pb.calls.load(Ordering::SeqCst), 1);
            // The waiter's answer is shared like a holder's.
            assert!(stored(&server.url(), &id).await.value.is_positive());
            ghost.release(&key(&id), &claim).await.unwrap();
        }

        #[tokio::test]
        async fn the_holders_answer_wins_over_the_waiters_own_call_still_running() {
            let server = ScratchServer::start();
            let id = VerificationId::parse("imp_000000000206").unwrap();
            let ghost = store_at(&server.url());
            let claim = ghost.claim(&key(&id), HOUR).await.unwrap().unwrap();
            // This instance's API would answer only after an hour.
            let (b, pb) = timed_instance(&server.url(), adult(&id), HOUR, HOUR, 2 * HOUR);
            let looked_up = id.clone();
            let waiting =
                tokio::spawn(async move { b.resolve(ProviderName::Iamport, &looked_up).await });
            asked(&pb, 1).await;
            let started = Instant::now();
            let Record::Found(person) = adult(&id) else {
                unreachable!()
            };
            ghost
                .put(&key(&id), &Resolved::Found(Arc::new(person)), HOUR)
                .await
                .unwrap();
            ghost.release(&key(&id), &claim).await.unwrap();
            let (value, status) = waiting.await.unwrap().unwrap();
            assert!(value.is_positive());
            assert_eq!(status, CacheStatus::Hit);
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "{:?}",
                started.elapsed()
            );
        }

        #[tokio::test]
        async fn a_holder_cancelled_mid_call_gives_its_claim_up_at_once() {
            let server = ScratchServer::start();
            let id = VerificationId::parse("imp_000000000207").unwrap();
            // The API would answer after an hour; the claim is leased longer still.
            let (a, pa) = timed_instance(&server.url(), adult(&id), HOUR, HOUR, HOUR);
            let looked_up = id.clone();
            let holder = tokio::spawn(async move {
                a.resolve(ProviderName::Iamport, &looked_up).await.map(drop)
            });
            asked(&pa, 1).await;
            let ghost = store_at(&server.url());
            let held = ghost.peek(&key(&id)).await;
            assert!(matches!(held, Ok(Peek::Pending)), "{held:?}");
            // The client went away: the request's future is dropped mid-call.
            holder.abort();
            assert!(holder.await.unwrap_err().is_cancelled());
            let started = std::time::Instant::now();
            loop {
                match ghost.peek(&key(&id)).await {
                    Ok(Peek::Abandoned) => break,
                    Ok(Peek::Pending) => assert!(
                        started.elapsed() < Duration::from_secs(10),
                        "the claim waits out its lease"
                    ),
                    other => panic!("{other:?}"),
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            // Another instance may take the call at once.
            assert!(ghost.claim(&key(&id), HOUR).await.unwrap().is_some());
        }

        #[tokio::test]
        async fn a_claim_never_answered_costs_a_waiter_its_patience_then_one_call() {
            let server = ScratchServer::start();
            let id = VerificationId::parse("imp_000000000204").unwrap();
            let ghost = store_at(&server.url());
            let claim = ghost.claim(&key(&id), HOUR).await.unwrap().unwrap();
            let budget = Duration::from_millis(600);
            let (b, pb) = timed_instance(&server.url(), adult(&id), HOUR, Duration::ZERO, budget);
            let started = Instant::now();
            let (value, status) = b.resolve(ProviderName::Iamport, &id).await.unwrap();
            let waited = started.elapsed();
            assert!(value.is_positive());
            assert_eq!(status, CacheStatus::Miss);
            assert_eq!(pb.calls.load(Ordering::SeqCst), 1);
            assert!(
                waited >= PATIENCE.min(budget / 4) && waited < budget,
                "{waited:?}"
            );
            // Another's claim is not released by a stranger's token.
            let stranger = crate::store::Claim("not-the-token".into());
            ghost.release(&key(&id), &stranger).await.unwrap();
            assert_eq!(ghost.claim(&key(&id), HOUR).await, Ok(None));
            ghost.release(&key(&id), &claim).await.unwrap();
        }
    }
}
