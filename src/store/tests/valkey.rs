//! The Valkey store against a real `redis-server` started by each test (`scratch`), including
//! the ways it fails: killed, paused, a wrong password, a TLS mismatch.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::settings;
use crate::metrics::Metrics;
use crate::provider::ProviderName;
use crate::resolve::Resolved;
use crate::store::conformance;
use crate::store::scratch::{Reply, ScratchOptions, ScratchServer};
use crate::store::valkey::ValkeyStore;
use crate::store::value::tests::person;
use crate::store::{
    CacheKey, Claim, Lookup, Peek, SharedCache, SharedEntry, StoreError, UseKey, UsedSet,
};

const PREFIX: &str = "verigate:test:";

fn store_at(url: &str, timeout: Duration) -> (Arc<ValkeyStore>, Arc<Metrics>) {
    let metrics = Arc::new(Metrics::new());
    let mut s = settings(url, PREFIX);
    s.timeout = timeout;
    (
        Arc::new(ValkeyStore::new(&s, metrics.clone()).unwrap()),
        metrics,
    )
}

fn store(server: &ScratchServer) -> Arc<ValkeyStore> {
    store_at(&server.url(), Duration::from_millis(500)).0
}

fn key(id: &str) -> CacheKey {
    CacheKey::new(
        ProviderName::Iamport,
        ProviderName::Iamport.parse_id(id).unwrap(),
    )
}

fn res_key(k: &CacheKey) -> String {
    format!("{PREFIX}v1:{{{}:{}}}:res", k.provider, k.id.as_str())
}

fn bulk(reply: Reply) -> Vec<u8> {
    match reply {
        Reply::Bulk(Some(b)) => b,
        other => panic!("expected a value, got {other:?}"),
    }
}

fn found(k: &CacheKey) -> Resolved {
    Resolved::Found(Arc::new(person(&k.id)))
}

/// Polls `f` until it returns `Some`, within `within`.
async fn poll<T, Fut: Future<Output = Option<T>>>(
    within: Duration,
    mut f: impl FnMut() -> Fut,
) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(start.elapsed() < within, "not within {within:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Polls until `s` answers: its first connect may be slow on a loaded machine, and a test with
/// a short `timeout_ms` should not fail on that.
async fn warm(s: &ValkeyStore) {
    poll(Duration::from_secs(10), || async { s.health().await.ok() }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn valkey_passes_the_used_set_suite() {
    let server = ScratchServer::start();
    conformance::used_set(store(&server)).await;
}

/// Flips the last character of what `server` holds for `k`'s `res`, keeping its lifetime.
fn tamper(server: &ScratchServer, k: &CacheKey) {
    let name = res_key(k);
    let mut sealed = bulk(server.raw(&["GET", &name]));
    let last = sealed.len() - 1;
    sealed[last] = if sealed[last] == b'A' { b'B' } else { b'A' };
    let sealed = String::from_utf8(sealed).unwrap();
    assert_eq!(
        server.raw(&["SET", &name, &sealed, "KEEPTTL"]),
        Reply::Status("OK".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn valkey_passes_the_shared_cache_suite() {
    let server = ScratchServer::start();
    conformance::shared_cache(store(&server), |k| tamper(&server, k)).await;
    conformance::single_flight(store(&server)).await;
}

/// The store through the trait's five basic calls only: the provided `get_or_claim` and
/// `settle` (one call each way) against the same server.
struct OneAtATime(Arc<ValkeyStore>);

#[async_trait::async_trait]
impl SharedCache for OneAtATime {
    async fn get(&self, key: &CacheKey) -> Result<Option<SharedEntry>, StoreError> {
        self.0.get(key).await
    }
    async fn put(&self, key: &CacheKey, value: &Resolved, ttl: Duration) -> Result<(), StoreError> {
        self.0.put(key, value, ttl).await
    }
    async fn claim(&self, key: &CacheKey, lease: Duration) -> Result<Option<Claim>, StoreError> {
        self.0.claim(key, lease).await
    }
    async fn peek(&self, key: &CacheKey) -> Result<Peek, StoreError> {
        self.0.peek(key).await
    }
    async fn release(&self, key: &CacheKey, claim: &Claim) -> Result<(), StoreError> {
        self.0.release(key, claim).await
    }
}

#[tokio::test]
async fn the_one_exchange_lookup_and_settle_mean_what_the_single_calls_do() {
    let server = ScratchServer::start();
    conformance::single_flight(Arc::new(OneAtATime(store(&server)))).await;
    // The store's own, one round trip each, is counted as the operations it stands for.
    let (s, metrics) = store_at(&server.url(), Duration::from_millis(500));
    let k = key("imp_000000000010");
    let Ok(Lookup::Claimed(claim)) = s.get_or_claim(&k, Duration::from_secs(5)).await else {
        panic!("a missing key is claimed");
    };
    s.settle(&k, Some((&found(&k), Duration::from_secs(5))), Some(&claim))
        .await
        .unwrap();
    let text = String::from_utf8(metrics.render()).unwrap();
    for (op, result) in [
        ("get", "miss"),
        ("claim", "claimed"),
        ("put", "ok"),
        ("release", "ok"),
    ] {
        let series = format!("verigate_store_requests_total{{op=\"{op}\",result=\"{result}\"}} 1");
        assert!(text.contains(&series), "{series} in\n{text}");
    }
}

/// A store on `server` as `user` (password `pw`), after `ACL SETUSER user <rules>`.
async fn store_as(server: &ScratchServer, user: &str, rules: &[&str]) -> Arc<ValkeyStore> {
    let mut acl = vec!["ACL", "SETUSER", user, "on", ">pw"];
    acl.extend_from_slice(rules);
    assert_eq!(server.raw(&acl), Reply::Status("OK".into()));
    let url = format!("redis://{user}:pw@127.0.0.1:{}/0", server.port());
    let s = store_at(&url, Duration::from_millis(500)).0;
    warm(&s).await;
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_acl_that_deploy_readme_shows_is_all_verigate_needs() {
    let server = ScratchServer::start();
    let acl = super::documented_acl();
    assert_eq!(acl[..2], ["ACL", "SETUSER"]);
    let rules: Vec<&str> = acl[3..]
        .iter()
        .copied()
        .filter(|w| !w.starts_with('>'))
        .collect();
    assert!(rules.contains(&"-@all"), "{rules:?}");
    let s = store_as(&server, acl[2], &rules).await;
    conformance::used_set(s.clone()).await;
    conformance::shared_cache(s.clone(), |k| tamper(&server, k)).await;
    conformance::single_flight(s.clone()).await;
    let k = key("imp_000000000009");
    let claim = s.claim(&k, Duration::from_secs(60)).await.unwrap().unwrap();
    assert!(matches!(s.peek(&k).await, Ok(Peek::Pending)));
    assert_eq!(s.release(&k, &claim).await, Ok(()));
    assert!(matches!(s.peek(&k).await, Ok(Peek::Abandoned)));
    // The ACL does limit: a command verigate never sends is refused.
    let url = format!("redis://{}:pw@127.0.0.1:{}/0", acl[2], server.port());
    let mut c = redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let flush = redis::cmd("FLUSHALL").query_async::<String>(&mut c).await;
    assert_eq!(
        flush.map_err(|e| e.code().map(str::to_string)),
        Err(Some("NOPERM".into()))
    );
}

#[tokio::test]
async fn a_refused_command_or_a_full_store_does_not_open_the_breaker_single_use_needs() {
    let server = ScratchServer::start();
    // This user may not run scripts: every release is refused (NOPERM).
    let s = store_as(&server, "noscript", &["~*", "+@all", "-eval"]).await;
    let k = key("imp_000000000010");
    let claim = s.claim(&k, Duration::from_secs(60)).await.unwrap().unwrap();
    for _ in 0..crate::provider::breaker::THRESHOLD * 2 {
        assert_eq!(s.release(&k, &claim).await, Err(StoreError::Denied));
    }
    // A store out of memory refuses every write (OOM).
    let full = |bytes: &str| {
        let set = server.raw(&["CONFIG", "SET", "maxmemory", bytes]);
        assert_eq!(set, Reply::Status("OK".into()));
    };
    full("1");
    for _ in 0..crate::provider::breaker::THRESHOLD * 2 {
        let put = s.put(&k, &found(&k), Duration::from_secs(60)).await;
        assert_eq!(put, Err(StoreError::Server("OOM")));
        // Settled in one exchange: the refused write is its own answer, the release's NOPERM
        // its own; neither is an outage.
        let settled = s
            .settle(
                &k,
                Some((&found(&k), Duration::from_secs(60))),
                Some(&claim),
            )
            .await;
        assert_eq!(settled, Err(StoreError::Server("OOM")));
    }
    full("0");
    // The store answered all along: single use still works, and /readyz is not told otherwise.
    let u = UseKey::new(k.provider, k.id.clone());
    assert_eq!(s.first_use(&u, Duration::from_secs(60)).await, Ok(true));
    assert_eq!(s.health().await, Ok(()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_racing_gateways_exactly_one_passes_an_id() {
    let server = ScratchServer::start();
    // Four gateways, each with its own connection, eight requests each, one id.
    let gateways: Vec<_> = (0..4).map(|_| store(&server)).collect();
    for g in &gateways {
        warm(g).await;
    }
    let k = UseKey::new(
        ProviderName::Portone,
        ProviderName::Portone.parse_id("iv-race").unwrap(),
    );
    let racers: Vec<_> = (0..32)
        .map(|i| {
            let (g, k) = (gateways[i % 4].clone(), k.clone());
            tokio::spawn(async move { g.first_use(&k, Duration::from_secs(60)).await })
        })
        .collect();
    let mut firsts = 0;
    for r in racers {
        firsts += usize::from(r.await.unwrap().unwrap());
    }
    assert_eq!(firsts, 1);
}

#[tokio::test]
async fn stored_values_are_sealed_and_bound_to_their_key() {
    let server = ScratchServer::start();
    let s = store(&server);
    let (a, b) = (key("imp_000000000001"), key("imp_000000000002"));
    s.put(&a, &found(&a), Duration::from_secs(60))
        .await
        .unwrap();
    let raw = bulk(server.raw(&["GET", &res_key(&a)]));
    let text = String::from_utf8(raw).unwrap();
    for clear in [
        "홍길동",
        "1976",
        "01012345678",
        "ci-ci-ci",
        "imp_000000000001",
        "found",
    ] {
        assert!(!text.contains(clear), "{clear:?} in clear in {text}");
    }
    // Someone with write access copies a's verification onto b: it does not open there.
    server.raw(&["SET", &res_key(&b), &text, "PX", "60000"]);
    assert_eq!(s.get(&b).await.map(|_| ()), Err(StoreError::Unreadable));
    // Nor under another fleet's secret.
    let mut other = settings(&server.url(), PREFIX);
    other.secret = crate::secret::Secret::new(base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        [9u8; 32],
    ));
    let foreign = ValkeyStore::new(&other, Arc::new(Metrics::new())).unwrap();
    assert_eq!(
        foreign.get(&a).await.map(|_| ()),
        Err(StoreError::Unreadable)
    );
}

#[tokio::test]
async fn a_retry_after_an_ambiguous_write_is_still_the_first_use() {
    let server = ScratchServer::start();
    let (s, _) = store_at(&server.url(), Duration::from_millis(300));
    let k = UseKey::new(
        ProviderName::Iamport,
        ProviderName::Iamport.parse_id("imp_1").unwrap(),
    );
    // Warm the connection, then hold every write for 450 ms: the first SET lands only after
    // its 300 ms timeout (an ambiguous outcome), and the retry is answered once writes resume.
    warm(&s).await;
    assert_eq!(
        server.raw(&["CLIENT", "PAUSE", "450", "WRITE"]),
        Reply::Status("OK".into())
    );
    assert_eq!(s.first_use(&k, Duration::from_secs(60)).await, Ok(true));
    assert_eq!(s.first_use(&k, Duration::from_secs(60)).await, Ok(false));
}

#[tokio::test]
async fn a_killed_store_fails_closed_then_recovers_after_a_restart() {
    let mut server = ScratchServer::start();
    let (s, metrics) = store_at(&server.url(), Duration::from_millis(200));
    let k = UseKey::new(
        ProviderName::Iamport,
        ProviderName::Iamport.parse_id("imp_2").unwrap(),
    );
    warm(&s).await;
    assert_eq!(s.first_use(&k, Duration::from_secs(60)).await, Ok(true));
    server.kill();
    let started = Instant::now();
    let e = s.first_use(&k, Duration::from_secs(60)).await.unwrap_err();
    assert!(matches!(e, StoreError::Unreachable), "{e:?}");
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(s.health().await, Err(StoreError::Unreachable));
    server.restart();
    // The restarted store is empty (no persistence): the id passes again, the documented risk.
    let again = poll(Duration::from_secs(10), || async {
        s.first_use(&k, Duration::from_secs(60)).await.ok()
    })
    .await;
    assert!(again);
    let text = String::from_utf8(metrics.render()).unwrap();
    for line in [
        "verigate_store_requests_total{op=\"first_use\",result=\"first\"}",
        "verigate_store_requests_total{op=\"first_use\",result=\"unreachable\"}",
        "verigate_store_requests_total{op=\"ping\",result=\"unreachable\"} 1",
        "verigate_store_requests_total{op=\"ping\",result=\"ok\"}",
        "verigate_store_request_seconds_count{op=\"first_use\"}",
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
}

#[tokio::test]
async fn a_paused_store_times_out_and_the_breaker_then_stops_asking() {
    let server = ScratchServer::start();
    let timeout = Duration::from_millis(100);
    let (s, metrics) = store_at(&server.url(), timeout);
    let k = key("imp_3");
    warm(&s).await;
    assert!(s.get(&k).await.unwrap().is_none());
    server.pause();
    for _ in 0..crate::provider::breaker::THRESHOLD {
        let started = Instant::now();
        assert_eq!(s.get(&k).await.map(|_| ()), Err(StoreError::Timeout));
        assert!(started.elapsed() < timeout * 3, "{:?}", started.elapsed());
    }
    let sent = metrics.store_timer("get").get_sample_count();
    let started = Instant::now();
    assert_eq!(s.get(&k).await.map(|_| ()), Err(StoreError::CircuitOpen));
    assert!(
        started.elapsed() < Duration::from_millis(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        metrics.store_timer("get").get_sample_count(),
        sent,
        "nothing was sent"
    );
    server.resume();
}

#[tokio::test]
async fn a_wrong_password_is_named_in_the_health_check() {
    let server = ScratchServer::start_with(ScratchOptions {
        password: Some("right-one".into()),
        ..ScratchOptions::default()
    });
    assert_eq!(store(&server).health().await, Ok(()));
    let wrong = server.url().replace("right-one", "wrong-one");
    let (s, _) = store_at(&wrong, Duration::from_millis(500));
    assert_eq!(s.health().await, Err(StoreError::AuthRejected));
    // The breaker opens on repeated failures; health still names the cause, not the breaker.
    for _ in 0..crate::provider::breaker::THRESHOLD {
        let _ = s.health().await;
    }
    assert_eq!(
        s.first_use(
            &UseKey::new(ProviderName::Iamport, key("imp_4").id),
            Duration::from_secs(1)
        )
        .await,
        Err(StoreError::CircuitOpen)
    );
    assert_eq!(s.health().await, Err(StoreError::AuthRejected));
    let none = format!("redis://127.0.0.1:{}/0", server.port());
    let (s, _) = store_at(&none, Duration::from_millis(500));
    assert_eq!(s.health().await, Err(StoreError::AuthRejected));
}

/// A self-signed `localhost` certificate and key, written to `dir`.
fn self_signed(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let (c, k) = (dir.join("store.pem"), dir.join("store.key"));
    std::fs::write(&c, cert.pem()).unwrap();
    std::fs::write(&k, key.serialize_pem()).unwrap();
    (c, k)
}

#[tokio::test]
async fn a_tls_mismatch_is_named_in_the_health_check() {
    let plain = ScratchServer::start();
    let tls_to_plain = plain.url().replace("redis://", "rediss://");
    let (s, _) = store_at(&tls_to_plain, Duration::from_millis(300));
    // A plain server waits for the end of a line that a ClientHello never sends.
    assert_eq!(s.health().await, Err(StoreError::Timeout));

    let dir = tempfile::tempdir().unwrap();
    let tls = ScratchServer::start_with(ScratchOptions {
        tls: Some(self_signed(dir.path())),
        ..ScratchOptions::default()
    });
    // The certificate is not signed by a trusted root.
    let (s, _) = store_at(&tls.url(), Duration::from_millis(500));
    assert_eq!(s.health().await, Err(StoreError::Tls));
    let plain_to_tls = tls.url().replace("rediss://", "redis://");
    let (s, _) = store_at(&plain_to_tls, Duration::from_millis(300));
    let e = s.health().await.unwrap_err();
    assert!(
        matches!(e, StoreError::Unreachable | StoreError::Timeout),
        "{e:?}"
    );
}

/// The server's id for the connection `s` uses on the calling thread.
async fn connection_id(s: &ValkeyStore) -> i64 {
    let mut conn = s.conn().unwrap();
    redis::cmd("CLIENT")
        .arg("ID")
        .query_async::<i64>(&mut conn)
        .await
        .unwrap()
}

#[test]
fn each_thread_sends_its_commands_on_its_own_connection_and_the_ping_checks_each() {
    // One connection driven by another thread's runtime made every command cross threads twice.
    let server = ScratchServer::start();
    let (s, metrics) = store_at(&server.url(), Duration::from_millis(500));
    let (asked, pinged) = (
        Arc::new(tokio::sync::Barrier::new(2)),
        Arc::new(tokio::sync::Barrier::new(2)),
    );
    let on_a_thread = |pings: bool| {
        let (s, asked, pinged) = (s.clone(), asked.clone(), pinged.clone());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            // Both threads' runtimes run while the other one asks: a shared connection driven
            // by the other thread would answer (or fail), not hang.
            rt.block_on(async {
                let ids = (connection_id(&s).await, connection_id(&s).await);
                asked.wait().await;
                if pings {
                    assert_eq!(s.health().await, Ok(()));
                }
                pinged.wait().await;
                ids
            })
        })
    };
    let (a, b) = (on_a_thread(true), on_a_thread(false));
    let (a, b) = (a.join().unwrap(), b.join().unwrap());
    assert_eq!(a.0, a.1, "a thread keeps its connection");
    assert_eq!(b.0, b.1, "a thread keeps its connection");
    assert_ne!(a.0, b.0, "two threads share no connection");
    // One health check pinged both threads' connections, the other thread's too.
    let text = String::from_utf8(metrics.render()).unwrap();
    let series = r#"verigate_store_requests_total{op="ping",result="ok"} 2"#;
    assert!(text.contains(series), "{series} in\n{text}");
}
