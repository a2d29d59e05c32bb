//! Injected faults: status and latency faults, random faults, and the fault control endpoint.

use super::*;
use std::time::{Duration, Instant};

#[tokio::test]
async fn status_fault_answers_the_next_calls_then_counts_down_to_nothing() {
    let (sandbox, base, client) = start().await;
    let resp = client
        .post(format!("{base}/__sandbox/faults"))
        .json(&json!({"status": 503, "times": 2}))
        .send()
        .await
        .expect("faults");
    assert_eq!(resp.status(), 200);
    let state: Value = resp.json().await.expect("json");
    assert_eq!(
        state,
        json!({"latency_ms": null, "status": 503, "times": 2})
    );

    let (_, url) = person_url(&sandbox, &base);
    let (status, body) = certification(&client, Method::GET, &url, &[]).await;
    assert_eq!(status, 503);
    let body: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(body["code"], -1);
    assert!(body["message"].is_string());
    assert_eq!(body["response"], Value::Null);
    assert_eq!(sandbox.fault().times, Some(1));

    let resp = client
        .post(format!("{base}/users/getToken"))
        .json(&json!({"imp_key": TEST_IMP_KEY, "imp_secret": TEST_IMP_SECRET}))
        .send()
        .await
        .expect("getToken");
    assert_eq!(resp.status(), 503);
    assert!(sandbox.fault().is_clear());

    let t = token(&client, &base).await;
    let (status, _) = certification(&client, Method::GET, &url, &[("Authorization", &t)]).await;
    assert_eq!(status, 200);
    let stats = sandbox.stats();
    assert_eq!(stats.faults_served, 2);
    assert_eq!(stats.token_requests, 2);
    assert_eq!(stats.certification_requests, 2);
    assert_eq!(stats.api_calls, 4);
}

#[tokio::test]
async fn latency_fault_delays_calls_until_cleared() {
    let (sandbox, base, client) = start().await;
    sandbox.set_fault(Fault {
        latency_ms: Some(150),
        ..Fault::default()
    });
    for _ in 0..2 {
        let started = Instant::now();
        token(&client, &base).await;
        assert!(started.elapsed() >= Duration::from_millis(150));
    }
    let resp = client
        .post(format!("{base}/__sandbox/faults"))
        .body("{}")
        .send()
        .await
        .expect("faults");
    assert_eq!(resp.status(), 200);
    let state: Value = resp.json().await.expect("json");
    assert_eq!(
        state,
        json!({"latency_ms": null, "status": null, "times": null})
    );
    assert!(sandbox.fault().is_clear());
}

#[tokio::test]
async fn bad_fault_bodies_are_refused() {
    let (sandbox, base, client) = start().await;
    for body in [r#"{"status": 42}"#, r#"{"latency": 5}"#, "nope"] {
        let resp = client
            .post(format!("{base}/__sandbox/faults"))
            .body(body)
            .send()
            .await
            .expect("faults");
        assert_eq!(resp.status(), 400, "{body}");
    }
    assert!(sandbox.fault().is_clear());
}

#[test]
fn random_fault_draws_errors_at_the_rate_and_delays_within_the_jitter() {
    use rand::SeedableRng;
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
    let fault = RandomFault {
        latency_ms: Some(1),
        jitter_ms: Some(19),
        error_rate: Some(0.05),
        ..RandomFault::default()
    };
    let n = 20_000;
    let (mut errors, mut min, mut max) = (0u32, Duration::MAX, Duration::ZERO);
    for _ in 0..n {
        let d = fault.draw(&mut rng);
        match d.status {
            Some(500) => errors += 1,
            None => {}
            other => panic!("unexpected status {other:?}"),
        }
        min = min.min(d.delay);
        max = max.max(d.delay);
    }
    // 5 % of 20,000 is 1,000 (σ ≈ 31); the bounds are ±8σ, so only a broken draw fails.
    assert!((750..=1250).contains(&errors), "{errors} errors in {n}");
    // Both ends of 1..=20 ms are reached (each has probability 1/20 per draw).
    assert_eq!(min, Duration::from_millis(1));
    assert_eq!(max, Duration::from_millis(20));
}

#[test]
fn random_fault_edge_rates_and_plain_faults_are_deterministic() {
    use rand::SeedableRng;
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let cases: &[(RandomFault, Option<u16>)] = &[
        // A plain fault, converted: always its status, exactly its latency.
        (
            Fault {
                latency_ms: Some(7),
                status: Some(503),
                times: None,
            }
            .into(),
            Some(503),
        ),
        (
            RandomFault {
                error_rate: Some(0.0),
                status: Some(502),
                ..RandomFault::default()
            },
            None,
        ),
        (
            RandomFault {
                error_rate: Some(1.0),
                ..RandomFault::default()
            },
            Some(500),
        ),
        (
            RandomFault {
                error_rate: Some(1.0),
                status: Some(429),
                ..RandomFault::default()
            },
            Some(429),
        ),
        // Out-of-range rates from the Rust API are clamped, NaN never errs.
        (
            RandomFault {
                error_rate: Some(7.5),
                ..RandomFault::default()
            },
            Some(500),
        ),
        (
            RandomFault {
                error_rate: Some(f64::NAN),
                ..RandomFault::default()
            },
            None,
        ),
    ];
    for (fault, want) in cases {
        for _ in 0..200 {
            let d = fault.draw(&mut rng);
            assert_eq!(d.status, *want, "{fault:?}");
            let latency = Duration::from_millis(fault.latency_ms.unwrap_or(0));
            assert_eq!(d.delay, latency, "{fault:?}");
        }
    }
    assert!(RandomFault::default().is_clear());
    assert!(
        !RandomFault {
            jitter_ms: Some(5),
            ..RandomFault::default()
        }
        .is_clear()
    );
    assert!(
        RandomFault {
            error_rate: Some(0.5),
            times: Some(0),
            ..RandomFault::default()
        }
        .is_clear()
    );
}

#[tokio::test]
async fn random_fault_over_http_errs_at_its_rate_and_counts_down_every_call() {
    let (sandbox, base, client) = start().await;
    let set = |body: Value| {
        let client = client.clone();
        let url = format!("{base}/__sandbox/faults");
        async move {
            let resp = client.post(url).json(&body).send().await.expect("faults");
            let status = resp.status().as_u16();
            (status, resp.json::<Value>().await.expect("json"))
        }
    };
    for bad in [
        json!({"error_rate": 1.5}),
        json!({"error_rate": -0.1}),
        json!({"jitter_ms": -1}),
        json!({"error_rate": "often"}),
    ] {
        assert_eq!(set(bad.clone()).await.0, 400, "{bad}");
    }
    assert!(sandbox.random_fault().is_clear());

    // Half the calls err; every call, errored or not, uses up one of `times`.
    let n = 200;
    let (status, state) = set(json!({"error_rate": 0.5, "jitter_ms": 2, "times": n})).await;
    assert_eq!(status, 200);
    assert_eq!(
        state,
        json!({"latency_ms": null, "jitter_ms": 2, "status": null, "error_rate": 0.5, "times": n})
    );
    let mut errors = 0;
    for _ in 0..n {
        let resp = client
            .post(format!("{base}/users/getToken"))
            .json(&json!({"imp_key": TEST_IMP_KEY, "imp_secret": TEST_IMP_SECRET}))
            .send()
            .await
            .expect("getToken");
        match resp.status().as_u16() {
            200 => {}
            500 => {
                let body: Value = resp.json().await.expect("json");
                assert_eq!(body["code"], -1);
                errors += 1;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    // Mean 100, σ ≈ 7: ±60 is over 8σ.
    assert!((40..=160).contains(&errors), "{errors} errors in {n}");
    assert_eq!(sandbox.stats().faults_served, errors);
    assert!(sandbox.random_fault().is_clear());
    assert!(sandbox.fault().is_clear());

    // After a random fault is cleared, the state reads exactly as a plain one does.
    let (_, state) = set(json!({})).await;
    assert_eq!(
        state,
        json!({"latency_ms": null, "status": null, "times": null})
    );
}
