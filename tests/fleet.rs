//! A fleet: several `verigate` processes sharing one real `redis-server` ([`ScratchServer`]) and
//! one sandbox API, whose counters count the whole fleet's API calls (README, "Running several
//! instances"). Single use and session starts hold across instances, also when they race; a
//! verification resolved on one instance serves the others; concurrent first lookups coalesce
//! across the fleet. Faults: the store killed, paused, behind a wrong password or a TLS URL to a
//! plain port. Every wait polls; nothing sleeps to synchronise.

mod common;

use std::time::{Duration, Instant};

use common::sessions::{SECRET_A, callback, session_cfg, verified, visit};
use common::{Backends, Cfg, Ports, Stack, Store, eventually, secs, single_use_route};
use verigate::sandbox::Fault;
use verigate::store::scratch::{ScratchOptions, ScratchServer};

/// Gateways sharing one store and one sandbox. The gateways go first, before the store.
struct Fleet {
    gateways: Vec<Stack>,
    backends: Backends,
    store: ScratchServer,
}

impl Fleet {
    /// `n` gateways on `store`, each running `make(ports, store_url)`, started at once.
    async fn start(n: usize, store: ScratchServer, make: impl Fn(&Ports, &str) -> Cfg) -> Fleet {
        let backends = Backends::start().await;
        let url = store.url();
        let starts = (0..n).map(|_| Stack::sharing(&backends, |p| make(p, &url)));
        let gateways = futures_util::future::join_all(starts).await;
        Fleet {
            gateways,
            backends,
            store,
        }
    }

    /// The standard routes plus the single-use `/once`, on a store with the default settings.
    async fn standard(n: usize) -> Fleet {
        Fleet::start(n, ScratchServer::start(), |p, url| {
            Cfg::standard(p)
                .route(single_use_route())
                .store(Store::at(url))
        })
        .await
    }

    /// Certification lookups the sandbox has answered, for the whole fleet.
    fn lookups(&self) -> u64 {
        self.backends.sandbox.stats().certification_requests
    }

    fn person(&self) -> String {
        self.gateways[0].person("홍길동", "1980-01-01")
    }
}

/// The status and `error` code of one verification.
async fn verify(gw: &Stack, path: &str, uid: &str) -> (u16, String) {
    let resp = gw.verify(path, uid).await;
    let status = resp.status().as_u16();
    let body: serde_json::Value = resp.json().await.unwrap_or_default();
    (status, body["error"].as_str().unwrap_or("").to_owned())
}

/// `/readyz`: status and body; `(0, null)` while the admin listener does not answer yet (under
/// load it may start after the proxy's, which is all the stack waits for).
async fn ready(gw: &Stack) -> (u16, serde_json::Value) {
    match gw.try_admin_get("/readyz").await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            (status, resp.json().await.unwrap_or_default())
        }
        Err(_) => (0, serde_json::Value::Null),
    }
}

/// The gateway's `/metrics` text; empty while the admin listener does not answer yet.
async fn metrics(gw: &Stack) -> String {
    match gw.try_admin_get("/metrics").await {
        Ok(resp) => resp.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

#[tokio::test]
async fn an_id_used_on_one_instance_is_refused_on_the_others_also_when_the_uses_race() {
    let f = Fleet::standard(3).await;
    let uid = f.person();
    assert_eq!(verify(&f.gateways[0], "/once", &uid).await.0, 200);
    for gw in &f.gateways {
        assert_eq!(
            verify(gw, "/once", &uid).await,
            (409, "verification_already_used".to_owned())
        );
    }
    // Twelve uses of one fresh id at once, four on each instance: exactly one passes.
    let raced = f.person();
    let tasks: Vec<_> = (0..12)
        .map(|i| {
            let (gw, uid) = (f.gateways[i % 3].gateway.clone(), raced.clone());
            tokio::spawn(async move { gw.verify("/once", &uid).await.status().as_u16() })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    statuses.sort_unstable();
    let mut expected = vec![409; 11];
    expected.insert(0, 200);
    assert_eq!(statuses, expected);
    assert_eq!(f.backends.echo.received().len(), 2, "one forward per id");
}

#[tokio::test]
async fn a_session_started_on_one_instance_cannot_be_started_on_another() {
    let f = Fleet::start(2, ScratchServer::start(), |p, url| {
        session_cfg(p, &[SECRET_A]).store(Store::at(url))
    })
    .await;
    let (a, b) = (&f.gateways[0], &f.gateways[1]);
    let v = visit(a, "/adult/x").await;
    let uid = verified(a, &v, "1980-01-01");
    let started = callback(a, &v.state, &uid, &v.merchant_uid).await;
    assert_eq!(started.status(), 303);
    // The same state and verification on the other instance (its secrets are the same).
    let again = callback(b, &v.state, &uid, &v.merchant_uid).await;
    assert_eq!(again.status(), 409);
    assert!(
        again
            .text()
            .await
            .unwrap()
            .contains("verification_already_used")
    );
}

#[tokio::test]
async fn a_verification_resolved_on_one_instance_is_served_by_the_others_without_an_api_call() {
    let f = Fleet::standard(3).await;
    let uid = f.person();
    assert_eq!(verify(&f.gateways[0], "/certifications", &uid).await.0, 200);
    assert_eq!(f.lookups(), 1);
    // Written back and its claim released (off the response path): then the others ask.
    let released = eventually(secs(10), async || {
        metrics(&f.gateways[0])
            .await
            .contains(r#"verigate_store_requests_total{op="release",result="ok"} 1"#)
    })
    .await;
    assert!(released, "never written back");
    for gw in &f.gateways[1..] {
        assert_eq!(verify(gw, "/certifications", &uid).await.0, 200);
    }
    assert_eq!(f.lookups(), 1, "the others asked the store, not the API");
}

#[tokio::test]
async fn thirty_concurrent_first_requests_over_three_instances_make_at_most_three_lookups() {
    let f = Fleet::standard(3).await;
    let uid = f.person();
    // A realistic API: every concurrent request arrives while the first call is under way.
    f.backends.sandbox.set_fault(Fault {
        latency_ms: Some(150),
        status: None,
        times: None,
    });
    let before = f.lookups();
    let tasks: Vec<_> = (0..30)
        .map(|i| {
            let (gw, uid) = (f.gateways[i % 3].gateway.clone(), uid.clone());
            tokio::spawn(async move { gw.verify("/certifications", &uid).await.status() })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    let calls = f.lookups() - before;
    eprintln!("fleet-wide API calls for 30 concurrent first requests over 3 instances: {calls}");
    assert!(
        (1..=3).contains(&calls),
        "{calls} API calls; at most one per instance"
    );
}

#[tokio::test]
async fn a_killed_store_fails_single_use_closed_at_once_and_recovers_on_the_same_port() {
    let mut f = Fleet::standard(1).await;
    let gw = &f.gateways[0];
    assert_eq!(verify(gw, "/once", &f.person()).await.0, 200);
    f.store.kill();
    let uid = f.person();
    let started = Instant::now();
    let resp = gw.verify("/once", &uid).await;
    let took = started.elapsed();
    assert_eq!(resp.status(), 503);
    assert!(resp.headers().get("retry-after").is_some());
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "verification_unavailable");
    assert!(took < Duration::from_secs(1), "not at once: {took:?}");
    // Ordinary verification keeps working from the API.
    assert_eq!(verify(gw, "/certifications", &f.person()).await.0, 200);
    let unready = eventually(secs(5), async || {
        let (status, body) = ready(gw).await;
        status == 503 && body["reason"] == "store_unreachable"
    })
    .await;
    assert!(unready, "/readyz never said store_unreachable");
    f.store.restart();
    let gw = &f.gateways[0];
    // The breaker lets a probe through within its open period; then single use works again.
    let back = eventually(secs(20), async || verify(gw, "/once", &uid).await.0 == 200).await;
    assert!(back, "single use never recovered");
    assert!(eventually(secs(5), async || ready(gw).await.0 == 200).await);
}

#[tokio::test]
async fn a_paused_store_bounds_every_answer_and_nothing_piles_up() {
    let timeout_ms = 100;
    let f = Fleet::start(1, ScratchServer::start(), |p, url| {
        let store = Store {
            timeout_ms: Some(timeout_ms),
            ..Store::at(url)
        };
        Cfg::standard(p).route(single_use_route()).store(store)
    })
    .await;
    let gw = &f.gateways[0];
    assert_eq!(verify(gw, "/once", &f.person()).await.0, 200);
    // Resolved (and so cached in this process) before the store freezes.
    let cached = f.person();
    assert_eq!(verify(gw, "/certifications", &cached).await.0, 200);
    let fresh: Vec<String> = (0..4).map(|_| f.person()).collect();
    f.store.pause();
    let started = Instant::now();
    let once: Vec<_> = (0..16)
        .map(|_| {
            let (gw, uid) = (gw.gateway.clone(), cached.clone());
            tokio::spawn(async move {
                let status = gw.verify("/once", &uid).await.status().as_u16();
                (status, started.elapsed())
            })
        })
        .collect();
    let ordinary: Vec<_> = fresh
        .iter()
        .map(|uid| {
            let (gw, uid) = (gw.gateway.clone(), uid.clone());
            tokio::spawn(async move {
                let status = gw.verify("/certifications", &uid).await.status().as_u16();
                (status, started.elapsed())
            })
        })
        .collect();
    // Each answer costs at most a few commands of timeout_ms (then the breaker answers at
    // once); sixteen answers one after another would take several times this.
    let bound = Duration::from_millis(4 * timeout_ms + 1000);
    let mut slowest = Duration::ZERO;
    for t in once {
        let (status, at) = t.await.unwrap();
        assert_eq!(status, 503, "single use fails closed");
        assert!(at < bound, "a single-use answer took {at:?}");
        slowest = slowest.max(at);
    }
    for t in ordinary {
        let (status, at) = t.await.unwrap();
        assert_eq!(status, 200, "an ordinary route works from the API");
        assert!(at < bound, "an ordinary answer took {at:?}");
        slowest = slowest.max(at);
    }
    eprintln!("paused store: the slowest of 20 concurrent answers came after {slowest:?}");
    f.store.resume();
    let uid = f.person();
    let back = eventually(secs(20), async || verify(gw, "/once", &uid).await.0 == 200).await;
    assert!(back, "single use never recovered after the pause");
}

#[tokio::test]
async fn a_wrong_password_or_tls_to_a_plain_port_makes_readyz_503_store_unreachable() {
    let guarded = ScratchServer::start_with(ScratchOptions {
        password: Some("right-password".into()),
        ..ScratchOptions::default()
    });
    let wrong = guarded.url().replace("right-password", "wrong-password");
    let plain = ScratchServer::start();
    let tls_to_plain = plain.url().replace("redis://", "rediss://");
    let backends = Backends::start().await;
    let (a, b) = futures_util::future::join(
        Stack::sharing(&backends, |p| {
            Cfg::standard(p)
                .route(single_use_route())
                .store(Store::at(&wrong))
        }),
        Stack::sharing(&backends, |p| {
            Cfg::standard(p).store(Store::at(&tls_to_plain))
        }),
    )
    .await;
    for (gw, cause) in [
        (&a, "rejected verigate's credentials"),
        (&b, "did not answer"),
    ] {
        let mut last = serde_json::Value::Null;
        let unready = eventually(secs(10), async || {
            let (status, body) = ready(gw).await;
            last = body;
            status == 503 && last["reason"] == "store_unreachable"
        })
        .await;
        assert!(unready, "{last}");
        assert!(last["detail"].as_str().unwrap().contains(cause), "{last}");
    }
    let uid = a.person("홍길동", "1980-01-01");
    assert_eq!(
        verify(&a, "/once", &uid).await,
        (503, "verification_unavailable".to_owned())
    );
    assert!(!a.gateway_output().contains("wrong-password"));
}
