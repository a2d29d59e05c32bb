//! The admin listener, metrics and the access log, against the real binary.

mod common;

use common::{ROUTES, Stack, config};

#[tokio::test]
async fn health_readiness_and_metrics_are_served_on_the_admin_listener() {
    let s = Stack::start().await;
    let get = |path: &str| {
        let url = format!("{}{path}", s.admin);
        let client = s.client.clone();
        async move { client.get(url).send().await.unwrap() }
    };
    assert_eq!(get("/healthz").await.status(), 200);
    // Ready once the credentials asked for at start are accepted (a local round trip).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while get("/readyz").await.status() != 200 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
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
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let passthrough = "verigate_requests_total{route=\"-\",verdict=\"passthrough\"} 1";
    let mut text = get("/metrics").await.text().await.unwrap();
    while !text.contains(passthrough) && std::time::Instant::now() < deadline {
        tokio::task::yield_now().await;
        text = get("/metrics").await.text().await.unwrap();
    }
    for line in [
        "verigate_requests_total{route=\"popup\",verdict=\"allow\"} 3",
        "verigate_requests_total{route=\"popup\",verdict=\"unverified\"} 1",
        "verigate_requests_total{route=\"-\",verdict=\"passthrough\"} 1",
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
    let s = Stack::with(|p| {
        config(p, "timeout_ms = 800", ROUTES).replace("${TEST_IMP_SECRET}", "wrong-secret")
    })
    .await;
    let uid = s.person("홍길동", "1980-01-01");
    assert_eq!(s.verify("/certifications", &uid).await.status(), 503);
    let resp = s
        .client
        .get(format!("{}/readyz", s.admin))
        .send()
        .await
        .unwrap();
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
    for _ in 0..500 {
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
        if lines.len() == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(lines.len(), 2, "{}", s.gateway_output());
    let v = &lines[0];
    assert_eq!(v["request_id"], "log-test-1");
    assert_eq!(v["method"], "POST");
    assert_eq!(v["path"], "/certifications");
    assert_eq!(v["route"], "popup");
    assert_eq!(v["status"], 200);
    assert_eq!(v["verdict"], "allow");
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
