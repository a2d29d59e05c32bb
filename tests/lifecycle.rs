//! Reloads, balancing and health checks, against the real binary.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{
    Cfg, Load, Stack, alive, birthday_years_ago, eventually, eventually_every, free_addr, secs,
};
use verigate::echo::Echo;

#[tokio::test]
async fn sighup_applies_a_new_policy_and_refuses_a_bad_file() {
    let s = Stack::start().await;
    let uid = s.person("김철수", &birthday_years_ago(25, 0));
    let verdict = |resp: serde_json::Value| resp["headers"]["x-verified-verdict"].clone();
    let resp: serde_json::Value = s
        .verify("/certifications", &uid)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(verdict(resp), "allow");

    // Raise the bar to 30: the same person is now denied, with no restart.
    let mut raised = s.cfg();
    raised.policy_mut("adult").min_age = 30;
    assert_ne!(raised.render(), s.cfg().render());
    s.write_config(&raised);
    s.signal("HUP");
    assert!(
        s.wait_output("applied", Duration::from_secs(5)).await,
        "{}",
        s.gateway_output()
    );
    let resp: serde_json::Value = s
        .verify("/certifications", &uid)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(verdict(resp.clone()), "deny");
    assert_eq!(resp["headers"]["x-verified-reason"], "underage");

    // A broken file is refused; the last good configuration keeps serving.
    s.write_config(&raised.broken());
    s.signal("HUP");
    assert!(
        s.wait_output("refused", Duration::from_secs(5)).await,
        "{}",
        s.gateway_output()
    );
    let resp: serde_json::Value = s
        .verify("/certifications", &uid)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(verdict(resp), "deny");
    assert!(
        s.gateway_output().contains("missing"),
        "the refusal does not say why"
    );
}

#[tokio::test]
async fn no_request_fails_during_reloads_under_load() {
    let s = Stack::start().await;
    let uid = s.person("김철수", "1990-01-01");
    assert_eq!(s.verify("/certifications", &uid).await.status(), 200);
    let load = Load::start(&s.gateway, &uid, 8);
    let mut other = s.cfg();
    other.policy_mut("working_age").min_age = 20;
    for round in 0..10 {
        // Alternate between two valid files.
        let variant = if round % 2 == 0 {
            other.clone()
        } else {
            s.cfg()
        };
        s.write_config(&variant);
        s.signal("HUP");
        // Let some requests run under the new configuration before the next reload.
        let before = load.done();
        assert!(
            load.wait_done(before, 20, Duration::from_secs(30)).await,
            "requests stalled after reload {round}: {}",
            s.gateway_output()
        );
    }
    let done = load.done();
    let failures = load.stop().await;
    eprintln!(
        "reload: 10 SIGHUPs, {done} requests, {} failed",
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "requests failed during reloads: {failures:?}"
    );
    assert!(done >= 200);
}

#[tokio::test]
async fn several_upstreams_are_balanced_and_a_dead_one_is_skipped() {
    let second = Echo::recording();
    let second_addr = second.spawn("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let dead = free_addr();
    let s = Stack::with(|p| {
        Cfg::standard(p)
            .api_timeout_ms(800)
            .upstreams(&[p.echo, second_addr, dead])
    })
    .await;
    for _ in 0..30 {
        // A dead backend costs a retry on the next one, never a failed request.
        assert_eq!(s.get("/rr").await.status(), 200);
    }
    let (a, b) = (s.app_saw().len(), second.received().len());
    assert_eq!(a + b, 30);
    assert!(a >= 10 && b >= 10, "unbalanced: {a} / {b}");
}

#[tokio::test]
async fn health_checks_take_a_failing_backend_out_of_rotation() {
    let second = Echo::recording();
    let second_addr = second.spawn("127.0.0.1:0".parse().unwrap()).await.unwrap();
    // A backend that accepts connections but answers 500 to everything, health checks included.
    let sick = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sick_addr = sick.local_addr().unwrap();
    let sick_hits = Arc::new(AtomicUsize::new(0));
    let hits = sick_hits.clone();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut conn, _)) = sick.accept().await {
            let hits = hits.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                while let Ok(n) = conn.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    if buf[..n].windows(6).any(|w| w == b"GET /r") {
                        hits.fetch_add(1, Ordering::Relaxed);
                    }
                    let _ = conn
                        .write_all(
                            b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\n\r\n",
                        )
                        .await;
                }
            });
        }
    });
    let s = Stack::with(|p| {
        Cfg::standard(p)
            .api_timeout_ms(800)
            .upstreams(&[second_addr, sick_addr])
            .health_check("/healthz", 1)
    })
    .await;
    // Once the first check has run, every request lands on the healthy backend.
    let mut consecutive_ok = 0;
    eventually_every(secs(15), Duration::from_millis(20), async || {
        if s.get("/r").await.status() == 200 {
            consecutive_ok += 1;
        } else {
            consecutive_ok = 0;
        }
        consecutive_ok == 20
    })
    .await;
    assert_eq!(consecutive_ok, 20, "the sick backend stayed in rotation");
    let sick_before = sick_hits.load(Ordering::Relaxed);
    for _ in 0..20 {
        assert_eq!(s.get("/r").await.status(), 200);
    }
    assert_eq!(sick_hits.load(Ordering::Relaxed), sick_before);
}

/// The standard stack with a short grace period, so stops and upgrades finish quickly.
async fn quick_grace_stack() -> Stack {
    Stack::with(|p| Cfg::standard(p).api_timeout_ms(3000).grace_secs(2)).await
}

#[tokio::test]
async fn sigterm_lets_in_flight_requests_finish_then_exits() {
    let mut s = quick_grace_stack().await;
    let uid = s.person("김철수", "1990-01-01");
    // The API answers slowly, so the request is in flight when the signal arrives.
    s.sandbox.set_fault(verigate::sandbox::Fault {
        latency_ms: Some(800),
        status: None,
        times: None,
    });
    let calls_at_start = s.sandbox.stats().api_calls;
    let (gw, asked) = (s.gateway.clone(), uid.clone());
    let in_flight = tokio::spawn(async move {
        gw.try_verify("/certifications", &asked)
            .await
            .map(|r| r.status().as_u16())
    });
    // Wait until the gateway is asking the API (the request is inside the gateway); the token
    // asked for at start was answered before the stack was handed over.
    assert!(
        eventually(Duration::from_secs(10), async || s
            .sandbox
            .stats()
            .api_calls
            > calls_at_start)
        .await,
        "the request never reached the API"
    );
    s.signal("TERM");
    assert_eq!(in_flight.await.unwrap().unwrap(), 200);
    let status = s.wait_exit(Duration::from_secs(15));
    assert!(status.is_some(), "the gateway did not exit after SIGTERM");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_request_fails_during_a_zero_downtime_upgrade() {
    let s = quick_grace_stack().await;
    let uid = s.person("김철수", "1990-01-01");
    assert_eq!(s.verify("/certifications", &uid).await.status(), 200);
    let old_pid = s.pid();
    let load = Load::start(&s.gateway, &uid, 6);

    // The new binary waits on the upgrade socket; the old one hands over on SIGQUIT.
    let mut new = s.spawn_upgrade();
    let sock = s.dir().join("upgrade.sock");
    assert!(
        eventually(Duration::from_secs(10), async || sock.exists()).await,
        "the new process never listened on the upgrade socket"
    );
    let before = load.done();
    s.signal("QUIT");
    // Keep the load on until the old process has gone and the new one has served for a while.
    let old_gone = eventually(Duration::from_secs(30), async || !alive(old_pid)).await;
    let after_quit = load.done();
    let served = load
        .wait_done(after_quit, 100, Duration::from_secs(30))
        .await;
    let done = load.done();
    let failures = load.stop().await;
    eprintln!(
        "upgrade: {done} requests on new connections, {} failed",
        failures.len()
    );
    let new_alive = new.0.try_wait().map(|s| s.is_none()).unwrap_or(false);
    drop(new);
    assert!(old_gone, "the old process did not exit after handing over");
    assert!(
        new_alive,
        "the new process is not running: {}",
        s.gateway_output()
    );
    assert!(
        served && done > before + 100,
        "the new process served too few requests"
    );
    assert!(
        failures.is_empty(),
        "{} requests failed during the upgrade: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
}
