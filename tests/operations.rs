//! The admin listener, metrics and the access log, against the real binary.

mod common;

use std::time::{Duration, Instant};

use common::{Cfg, Stack, eventually, free_addr, single_use_route};
use verigate::sandbox::Fault;

/// The admin listener's `/metrics` text.
async fn metrics(s: &Stack) -> String {
    s.admin_get("/metrics").await.text().await.unwrap()
}

/// Polls `/metrics` (bounded) until it holds every line of `want`; the last text read.
/// Requests are counted in pingora's logging phase, after the answer has left.
async fn metrics_with(s: &Stack, want: &[&str]) -> String {
    let mut text = String::new();
    eventually(Duration::from_secs(10), async || {
        text = metrics(s).await;
        want.iter().all(|l| text.contains(l))
    })
    .await;
    for line in want {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
    text
}

/// The gateway's `warn` lines (stderr) that contain `needle`.
fn warn_lines(s: &Stack, needle: &str) -> Vec<String> {
    s.gateway_output()
        .lines()
        .filter(|l| l.contains(" WARN ") && l.contains(needle))
        .map(str::to_owned)
        .collect()
}

/// Polls (bounded) for the access-log line of `request_id`.
async fn access_line(s: &Stack, request_id: &str) -> serde_json::Value {
    let mut found = None;
    eventually(Duration::from_secs(10), async || {
        found = s
            .gateway_output()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|v| v["request_id"] == request_id);
        found.is_some()
    })
    .await;
    found.unwrap_or_else(|| {
        panic!(
            "no access-log line for {request_id}:\n{}",
            s.gateway_output()
        )
    })
}

/// POSTs `{"imp_uid": uid}` to `path` with the request id `id`; the status.
async fn verify_as(s: &Stack, path: &str, uid: &str, id: &str) -> u16 {
    s.client
        .post(format!("{}{path}", s.base))
        .header("content-type", "application/json")
        .header("x-request-id", id)
        .body(format!(r#"{{"imp_uid":"{uid}"}}"#))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn health_readiness_and_metrics_are_served_on_the_admin_listener() {
    let s = Stack::start().await;
    let get = |path: &'static str| s.admin_get(path);
    assert_eq!(get("/healthz").await.status(), 200);
    // Ready once the credentials asked for at start are accepted (a local round trip).
    eventually(Duration::from_secs(5), async || {
        get("/readyz").await.status() == 200
    })
    .await;
    assert_eq!(get("/readyz").await.status(), 200);
    assert_eq!(get("/nope").await.status(), 404);

    let uid = s.person("홍길동", "1980-01-01");
    for _ in 0..3 {
        assert_eq!(s.verify("/certifications", &uid).await.status(), 200);
    }
    assert_eq!(
        s.verify("/certifications", "imp_000000000404")
            .await
            .status(),
        403
    );
    assert_eq!(s.get("/plain").await.status(), 200);

    // Requests are counted in pingora's logging phase, which runs after the answer has left:
    // poll (bounded) until the last request's count is in.
    let passthrough = "verigate_requests_total{route=\"passthrough\",verdict=\"passthrough\"} 1";
    let mut text = String::new();
    eventually(Duration::from_secs(5), async || {
        text = get("/metrics").await.text().await.unwrap();
        text.contains(passthrough)
    })
    .await;
    for line in [
        "verigate_requests_total{route=\"popup\",verdict=\"allow\"} 3",
        "verigate_requests_total{route=\"popup\",verdict=\"unverified\"} 1",
        "verigate_requests_total{route=\"passthrough\",verdict=\"passthrough\"} 1",
        "verigate_cache_hits_total 2",
        "verigate_cache_misses_total 2",
        "verigate_token_refreshes_total 1",
        "verigate_iamport_requests_total{endpoint=\"certification\",status=\"200\"} 1",
        "verigate_iamport_requests_total{endpoint=\"certification\",status=\"404\"} 1",
        "verigate_iamport_requests_total{endpoint=\"token\",status=\"200\"} 1",
        "verigate_cache_entries 2",
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
    assert!(text.contains("verigate_iamport_request_seconds_bucket"));
    assert!(text.contains("verigate_upstream_errors_total 0"));
    // Bounded labels: no imp_uid or path ever becomes a label.
    assert!(!text.contains(&uid));
    assert!(!text.contains("/plain"));
}

#[tokio::test]
async fn readiness_fails_with_a_reason_while_credentials_are_rejected() {
    let s = Stack::with(|p| Cfg::standard(p).api_timeout_ms(800).secret("wrong-secret")).await;
    let uid = s.person("홍길동", "1980-01-01");
    assert_eq!(s.verify("/certifications", &uid).await.status(), 503);
    let resp = s.admin_get("/readyz").await;
    assert_eq!(resp.status(), 503);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert!(body["reason"].as_str().unwrap().contains("rejected"));
}

#[tokio::test]
async fn every_request_gets_one_json_access_log_line_without_personal_data() {
    let s = Stack::start().await;
    let uid = s.person("홍길동", "1980-01-01");
    let resp = s
        .client
        .post(format!("{}/certifications", s.base))
        .header("content-type", "application/json")
        .header("x-request-id", "log-test-1")
        .body(format!(r#"{{"imp_uid":"{uid}"}}"#))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let resp = s
        .client
        .get(format!("{}/other?x=1", s.base))
        .header("x-request-id", "log-test-2")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    // The log is written off the request path: poll for both lines.
    let mut lines: Vec<serde_json::Value> = Vec::new();
    eventually(Duration::from_secs(5), async || {
        lines = s
            .gateway_output()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| {
                v["request_id"]
                    .as_str()
                    .is_some_and(|r| r.starts_with("log-test-"))
            })
            .collect();
        lines.len() == 2
    })
    .await;
    assert_eq!(lines.len(), 2, "{}", s.gateway_output());
    let v = &lines[0];
    assert_eq!(v["request_id"], "log-test-1");
    assert_eq!(v["method"], "POST");
    assert_eq!(v["path"], "/certifications");
    assert_eq!(v["route"], "popup");
    assert_eq!(v["status"], 200);
    assert_eq!(v["verdict"], "allow");
    assert!(v["error"].is_null(), "{v}");
    assert_eq!(v["imp_uid"], uid.as_str());
    assert_eq!(v["cache"], "miss");
    assert!(v["api_ms"].as_f64().is_some());
    assert!(v["total_ms"].as_f64().is_some());
    assert!(v["client"].as_str().unwrap().starts_with("127.0.0.1:"));
    assert!(v["time"].as_str().is_some());
    let w = &lines[1];
    assert_eq!(
        (w["path"].as_str(), w["route"].is_null()),
        (Some("/other"), true)
    );
    s.assert_output_is_clean();
}

#[tokio::test]
async fn repeated_api_failures_log_one_rate_limited_warning_and_are_counted() {
    let s = Stack::start().await;
    let warm = s.person("홍길동", "1980-01-01");
    assert_eq!(s.verify("/certifications", &warm).await.status(), 200);
    // A 400 from the API is a failure (503) but not one the breaker counts: every request
    // reaches the API and fails, so only the rate limit keeps the log short.
    s.sandbox.set_fault(Fault {
        latency_ms: None,
        status: Some(400),
        times: None,
    });
    let started = Instant::now();
    let failures = 20;
    for i in 0..failures {
        let uid = format!("imp_9000000000{i:02}");
        let resp = s.verify("/certifications", &uid).await;
        assert_eq!(resp.status(), 503);
    }
    let took = started.elapsed();
    let text = metrics_with(
        &s,
        &[
            &format!("verigate_responses_total{{route=\"popup\",status=\"5xx\"}} {failures}"),
            "verigate_responses_total{route=\"popup\",status=\"2xx\"} 1",
            &format!(
                "verigate_iamport_requests_total{{endpoint=\"certification\",status=\"4xx\"}} {failures}"
            ),
            &format!("verigate_requests_total{{route=\"popup\",verdict=\"unavailable\"}} {failures}"),
            "verigate_breaker_open{provider=\"iamport\"} 0",
        ],
    )
    .await;
    assert!(text.contains("verigate_request_duration_seconds_count{route=\"popup\"} 21"));

    let lines = warn_lines(&s, "the i'mport API answered HTTP 400");
    assert!(!lines.is_empty(), "no warning:\n{}", s.gateway_output());
    // At most one line per 5 s window.
    let windows = 1 + took.as_secs() as usize / 5;
    assert!(
        lines.len() <= windows,
        "{} lines for {failures} failures in {took:?}:\n{lines:#?}",
        lines.len()
    );
    assert!(
        lines[0].contains("imp_uid=\"imp_900000000000\""),
        "{}",
        lines[0]
    );
    assert!(lines[0].contains("suppressed=0"), "{}", lines[0]);
    // Plain text for a file or a journal: no colour codes.
    assert!(
        !s.gateway_output().contains('\x1b'),
        "ANSI codes in the log"
    );
}

#[tokio::test]
async fn an_outage_logs_and_gauges_the_breaker_opening_then_its_closing() {
    let s = Stack::start().await;
    // A gateway that has served (it holds a token) when the API goes down.
    let warm = s.person("홍길동", "1980-01-01");
    assert_eq!(s.verify("/certifications", &warm).await.status(), 200);
    let uid = s.person("홍길동", "1980-01-01");
    metrics_with(&s, &["verigate_breaker_open{provider=\"iamport\"} 0"]).await;
    s.sandbox.set_fault(Fault {
        latency_ms: None,
        status: Some(503),
        times: None,
    });
    // Each request retries the 503 within its budget; a few requests open the breaker.
    let mut opened = false;
    let mut failed = 0;
    for _ in 0..10 {
        assert_eq!(s.verify("/certifications", &uid).await.status(), 503);
        failed += 1;
        if metrics(&s)
            .await
            .contains("verigate_breaker_open{provider=\"iamport\"} 1")
        {
            opened = true;
            break;
        }
    }
    assert!(opened, "the breaker did not open:\n{}", metrics(&s).await);
    let warned = warn_lines(&s, "the i'mport API answered HTTP 503");
    assert!(!warned.is_empty(), "{}", s.gateway_output());
    for field in ["endpoint=\"certification\"", &format!("imp_uid=\"{uid}\"")] {
        assert!(warned[0].contains(field), "{}", warned[0]);
    }
    let opened = warn_lines(&s, "circuit breaker opened");
    assert_eq!(opened.len(), 1, "{}", s.gateway_output());
    assert!(opened[0].contains("provider=\"iamport\""), "{}", opened[0]);
    metrics_with(
        &s,
        &[
            "verigate_iamport_requests_total{endpoint=\"certification\",status=\"503\"}",
            "verigate_responses_total{route=\"popup\",status=\"2xx\"} 1",
            &format!("verigate_responses_total{{route=\"popup\",status=\"5xx\"}} {failed}"),
            &format!("verigate_requests_total{{route=\"popup\",verdict=\"unavailable\"}} {failed}"),
        ],
    )
    .await;
    // While open, requests fail fast, and without another line each.
    let started = Instant::now();
    assert_eq!(s.verify("/certifications", &uid).await.status(), 503);
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );

    // Recovery: the probe after the open period succeeds and closes the breaker.
    s.sandbox.clear_faults();
    let mut status = 0;
    eventually(Duration::from_secs(20), async || {
        status = s.verify("/certifications", &uid).await.status().as_u16();
        status == 200
    })
    .await;
    assert_eq!(status, 200, "no recovery");
    metrics_with(&s, &["verigate_breaker_open{provider=\"iamport\"} 0"]).await;
    let closed = warn_lines(&s, "circuit breaker closed");
    assert_eq!(closed.len(), 1, "{}", s.gateway_output());
    assert!(
        !s.gateway_output().contains('\x1b'),
        "ANSI codes in the log"
    );
}

#[tokio::test]
async fn rejected_credentials_are_logged_as_a_warning() {
    let s = Stack::with(|p| Cfg::standard(p).api_timeout_ms(800).secret("wrong-secret")).await;
    let uid = s.person("홍길동", "1980-01-01");
    for _ in 0..3 {
        assert_eq!(s.verify("/certifications", &uid).await.status(), 503);
    }
    let lines = warn_lines(&s, "rejected verigate's imp_key/imp_secret");
    assert_eq!(lines.len(), 1, "{}", s.gateway_output());
    assert!(!lines[0].contains("wrong-secret"));
}

#[tokio::test]
async fn access_log_lines_carry_the_error_code_of_every_refusal() {
    let s = Stack::with(|p| {
        Cfg::standard(p)
            .api_timeout_ms(800)
            .route(single_use_route())
    })
    .await;
    let adult = s.person("홍길동", "1980-01-01");
    let minor = s.person("김영희", &common::birthday_years_ago(15, 0));
    let cases: [(&str, &str, &str, u16, Option<&str>); 6] = [
        ("e-200", "/certifications", adult.as_str(), 200, None),
        (
            "e-400",
            "/certifications",
            "bad uid!",
            400,
            Some("invalid_imp_uid"),
        ),
        (
            "e-403",
            "/certifications",
            "imp_000000000404",
            403,
            Some("verification_not_found"),
        ),
        ("e-once", "/once", adult.as_str(), 200, None),
        (
            "e-409",
            "/once",
            adult.as_str(),
            409,
            Some("verification_already_used"),
        ),
        ("e-deny", "/certifications", minor.as_str(), 200, None),
    ];
    for (id, path, uid, status, _) in cases {
        assert_eq!(verify_as(&s, path, uid, id).await, status, "{id}");
    }
    s.sandbox.set_fault(Fault {
        latency_ms: None,
        status: Some(503),
        times: None,
    });
    let down = s.person("홍길동", "1980-01-01");
    assert_eq!(verify_as(&s, "/certifications", &down, "e-503").await, 503);

    for (id, _, _, status, error) in cases {
        let line = access_line(&s, id).await;
        assert_eq!(line["status"], status, "{id}: {line}");
        assert_eq!(line["error"].as_str(), error, "{id}: {line}");
        if error.is_none() {
            assert!(line["error"].is_null(), "{id}: {line}");
        }
    }
    let line = access_line(&s, "e-deny").await;
    assert_eq!(
        (line["verdict"].as_str(), line["reason"].as_str()),
        (Some("deny"), Some("underage"))
    );
    let line = access_line(&s, "e-503").await;
    assert_eq!(line["status"], 503);
    assert_eq!(line["error"], "verification_unavailable", "{line}");
    assert_eq!(line["route"], "popup");
    assert_eq!(line["imp_uid"], down.as_str());

    // The app is down: 502, on an intercepted route and on a passthrough.
    app_down_lines_carry_upstream_unavailable().await;
}

/// With the app down, an intercepted route and a passthrough answer 502, each logged with
/// `upstream_unavailable` and counted as a 5xx of its route.
async fn app_down_lines_carry_upstream_unavailable() {
    let dead = free_addr();
    let s = Stack::with_upstream(Some(dead), |p| Cfg::standard(p).api_timeout_ms(800)).await;
    let uid = s.person("홍길동", "1980-01-01");
    assert_eq!(verify_as(&s, "/certifications", &uid, "e-502a").await, 502);
    let resp = s
        .client
        .get(format!("{}/anything", s.base))
        .header("x-request-id", "e-502b")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 502);
    for id in ["e-502a", "e-502b"] {
        let line = access_line(&s, id).await;
        assert_eq!(line["status"], 502, "{line}");
        assert_eq!(line["error"], "upstream_unavailable", "{line}");
    }
    metrics_with(
        &s,
        &[
            "verigate_responses_total{route=\"popup\",status=\"5xx\"} 1",
            "verigate_responses_total{route=\"passthrough\",status=\"5xx\"} 1",
        ],
    )
    .await;
}

#[tokio::test]
async fn operations_metrics_exist_from_the_start_with_bounded_labels() {
    let s = Stack::start().await;
    let text = metrics(&s).await;
    for line in [
        "verigate_responses_total{route=\"passthrough\",status=\"2xx\"} 0",
        "verigate_responses_total{route=\"popup\",status=\"5xx\"} 0",
        "verigate_responses_total{route=\"lenient\",status=\"4xx\"} 0",
        "verigate_request_duration_seconds_count{route=\"passthrough\"} 0",
        "verigate_request_duration_seconds_bucket{route=\"popup\",le=\"0.001\"} 0",
        "verigate_breaker_open{provider=\"iamport\"} 0",
        "verigate_reloads_total{result=\"applied\"} 0",
        "verigate_reloads_total{result=\"refused\"} 0",
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }

    // Many different paths and queries outside every route: still one passthrough row.
    let paths: Vec<String> = (0..40)
        .map(|i| format!("/r{:08x}/{i}?q={:06x}", rand::random::<u32>(), i * 7))
        .collect();
    for p in &paths {
        assert_eq!(s.get(p).await.status(), 200, "{p}");
    }
    let uid = s.person("홍길동", "1980-01-01");
    assert_eq!(s.verify("/certifications", &uid).await.status(), 200);
    assert_eq!(s.verify("/certifications", "bad uid!").await.status(), 400);
    let text = metrics_with(
        &s,
        &[
            "verigate_responses_total{route=\"passthrough\",status=\"2xx\"} 40",
            "verigate_request_duration_seconds_count{route=\"passthrough\"} 40",
            "verigate_responses_total{route=\"popup\",status=\"2xx\"} 1",
            "verigate_responses_total{route=\"popup\",status=\"4xx\"} 1",
            "verigate_request_duration_seconds_count{route=\"popup\"} 2",
        ],
    )
    .await;
    let series = |prefix: &str| text.lines().filter(|l| l.starts_with(prefix)).count();
    // 6 rows (5 routes + passthrough) × 5 status classes, whatever was requested.
    assert_eq!(series("verigate_responses_total{"), 30, "{text}");
    assert_eq!(series("verigate_responses_total{route=\"passthrough\""), 5);
    assert_eq!(series("verigate_request_duration_seconds_count{"), 6);
    assert_eq!(series("verigate_breaker_open{"), 1);
    assert_eq!(series("verigate_reloads_total{"), 2);
    for p in &paths {
        let path = p.split('?').next().unwrap_or_default();
        assert!(!text.contains(path), "{path} became a label");
    }
    assert!(!text.contains(&uid));
}

#[tokio::test]
async fn reloads_are_counted_applied_and_refused() {
    let s = Stack::start().await;
    let good = s.cfg();
    s.signal("HUP");
    metrics_with(&s, &["verigate_reloads_total{result=\"applied\"} 1"]).await;
    s.write_config(&good.clone().broken());
    s.signal("HUP");
    metrics_with(
        &s,
        &[
            "verigate_reloads_total{result=\"applied\"} 1",
            "verigate_reloads_total{result=\"refused\"} 1",
        ],
    )
    .await;
    s.write_config(&good);
    s.signal("HUP");
    let text = metrics_with(
        &s,
        &[
            "verigate_reloads_total{result=\"applied\"} 2",
            "verigate_reloads_total{result=\"refused\"} 1",
        ],
    )
    .await;
    // A reload re-resolves the per-route series: still one passthrough row after three.
    assert_eq!(
        text.lines()
            .filter(|l| l.starts_with("verigate_responses_total{route=\"passthrough\""))
            .count(),
        5
    );
    assert_eq!(s.get("/after-reloads").await.status(), 200);
    metrics_with(
        &s,
        &["verigate_responses_total{route=\"passthrough\",status=\"2xx\"} 1"],
    )
    .await;
}
