//! PortOne V2 callback routes end to end: the real binary in front of the echo app, the sandbox
//! speaking the V2 API (`GET /identity-verifications/{id}`, `Authorization: PortOne …`). Each
//! test proves one behaviour of README, "PortOne V2", on V2 routes: the id read from
//! `identityVerificationId`, forwarded as `x-verified-identity-verification-id`, every status
//! and error mapped, one API call per id, and V1 and V2 kept apart when both are configured.

mod common;

use std::time::{Duration, Instant};

use common::{Cfg, Stack, birthday_years_ago, eventually_every, now_secs, secs, single_use_route};
use verigate::sandbox::{Fault, SandboxIdentityVerification, SandboxRecord};

async fn json(resp: reqwest::Response) -> (u16, serde_json::Value) {
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

/// POSTs `{"identityVerificationId": id}` to `path`.
async fn verify_v2(s: &Stack, path: &str, id: &str) -> reqwest::Response {
    let body = serde_json::json!({ "identityVerificationId": id }).to_string();
    s.post_json(path, &body).await
}

/// The V2 lookups the sandbox has answered so far (the start-up credentials probe included).
fn v2_calls(s: &Stack) -> u64 {
    s.sandbox.stats().identity_verification_requests
}

fn failed(status: &str) -> SandboxIdentityVerification {
    SandboxIdentityVerification {
        status: Some(status.to_owned()),
        ..SandboxIdentityVerification::default()
    }
}

#[tokio::test]
async fn an_adult_is_allowed_with_the_v2_id_in_the_imp_uids_place() {
    let s = Stack::with(Cfg::portone_only).await;
    let id = s.person_v2("홍길동", "1976-11-07");
    let body = format!(r#"{{"identityVerificationId":"{id}","merchant":"kept"}}"#);
    let (status, app) = json(s.post_json("/identity-verifications", &body).await).await;
    assert_eq!(status, 200);
    let h = &app["headers"];
    assert_eq!(h["x-verified-verdict"], "allow");
    assert_eq!(h["x-verified-identity-verification-id"], id.as_str());
    assert!(h.get("x-verified-imp-uid").is_none());
    assert_eq!(h["x-verified-name"], "%ED%99%8D%EA%B8%B8%EB%8F%99");
    assert_eq!(h["x-verified-birth"], "1976-11-07");
    assert_eq!(h["x-verified-policy"], "adult");
    let certified_at: i64 = h["x-verified-certified-at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((now_secs() - certified_at).abs() < 60, "{certified_at}");
    assert_eq!(
        s.last().body,
        body.as_bytes(),
        "the body reaches the app intact"
    );

    // The same id from a form, a multipart body and the query of the redirect route.
    let form = format!("identityVerificationId={id}");
    let boundary = "vg-boundary";
    let multipart = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"identityVerificationId\"\r\n\r\n\
         {id}\r\n--{boundary}--\r\n"
    );
    let ct = format!("multipart/form-data; boundary={boundary}");
    let bodies = [
        ("application/x-www-form-urlencoded", form),
        (ct.as_str(), multipart),
    ];
    for (ct, body) in bodies {
        let resp = s
            .post("/identity-verifications", ct, body.into_bytes())
            .await;
        let (status, app) = json(resp).await;
        assert_eq!(status, 200, "{ct}");
        assert_eq!(
            app["headers"]["x-verified-identity-verification-id"],
            id.as_str()
        );
    }
    let q = format!("/identity-verifications/redirect?identityVerificationId={id}");
    let (status, app) = json(s.get(&q).await).await;
    assert_eq!(
        (status, &app["headers"]["x-verified-verdict"]),
        (200, &"allow".into())
    );
    // One lookup after the start-up probe: the rest came from the cache.
    assert_eq!(v2_calls(&s), 2);
    assert_eq!(s.sandbox.stats().token_requests, 0, "V2 needs no token");
}

#[tokio::test]
async fn a_minor_is_forwarded_as_deny_or_rejected_as_the_route_says() {
    let s = Stack::with(Cfg::portone_only).await;
    let id = s.person_v2("김영희", &birthday_years_ago(15, 0));
    let (status, app) = json(verify_v2(&s, "/identity-verifications", &id).await).await;
    assert_eq!(status, 200);
    assert_eq!(app["headers"]["x-verified-verdict"], "deny");
    assert_eq!(app["headers"]["x-verified-reason"], "underage");
    assert_eq!(
        app["headers"]["x-verified-identity-verification-id"],
        id.as_str()
    );

    let q = format!("/identity-verifications/redirect?identityVerificationId={id}");
    let (status, body) = json(s.get(&q).await).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("age_requirement_not_met"))
    );
    assert_eq!(s.app_saw().len(), 1);
}

#[tokio::test]
async fn unknown_ready_failed_and_stale_verifications_are_refused_with_their_reason() {
    let s = Stack::with(Cfg::portone_only).await;
    let stale_at = jiff::Timestamp::from_second(now_secs() - 700).unwrap();
    let stale = s.insert_v2(SandboxIdentityVerification {
        verified_at: Some(stale_at.to_string()),
        ..SandboxIdentityVerification::person("오래된", "1980-01-01")
    });
    let cases = [
        (
            "iv-nobody-has-this".to_owned(),
            "verification_not_found",
            "not_found",
        ),
        (
            s.insert_v2(failed("READY")),
            "verification_not_certified",
            "not_certified",
        ),
        (
            s.insert_v2(failed("FAILED")),
            "verification_failed",
            "failed",
        ),
        (stale, "verification_stale", "stale"),
    ];
    for (id, error, reason) in &cases {
        let (status, body) = json(verify_v2(&s, "/identity-verifications", id).await).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (403, Some(*error)),
            "{id}"
        );
        // on_failure = "forward": the app sees verdict unverified and the reason.
        let (status, app) = json(verify_v2(&s, "/v2/lenient", id).await).await;
        assert_eq!(status, 200, "{id}");
        let h = &app["headers"];
        assert_eq!(h["x-verified-verdict"], "unverified", "{id}");
        assert_eq!(h["x-verified-reason"], *reason, "{id}");
        assert_eq!(h["x-verified-identity-verification-id"], id.as_str());
    }
    assert_eq!(
        s.app_saw().len(),
        cases.len(),
        "refusals never reach the app"
    );
    // Each id was asked for once (answers, negative ones included, are cached).
    assert_eq!(v2_calls(&s), 1 + cases.len() as u64);
}

#[tokio::test]
async fn a_rejected_secret_is_api_trouble_and_readyz_says_so() {
    let s = Stack::with(|p| Cfg::portone_only(p).portone_secret("wrong-secret")).await;
    let mut last = String::new();
    eventually_every(secs(10), Duration::from_millis(50), async || {
        let resp = s.admin_get("/readyz").await;
        assert_eq!(resp.status(), 503, "ready with a wrong secret");
        last = resp.text().await.unwrap();
        last.contains("rejected")
    })
    .await;
    assert!(last.contains("rejected"), "{last}");
    let id = s.person_v2("홍길동", "1980-01-01");
    let resp = verify_v2(&s, "/identity-verifications", &id).await;
    assert!(resp.headers().get("retry-after").is_some());
    let (status, body) = json(resp).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (503, Some("verification_unavailable"))
    );
    assert!(s.app_saw().is_empty());
}

#[tokio::test]
async fn api_errors_and_slowness_answer_503_within_the_budget_and_service_recovers() {
    let s = Stack::with(|p| Cfg::portone_only(p).portone_timeout_ms(800)).await;
    let warm = s.person_v2("홍길동", "1980-01-01");
    assert_eq!(
        verify_v2(&s, "/identity-verifications", &warm)
            .await
            .status(),
        200
    );
    let faults = [(None, Some(500)), (None, Some(503)), (Some(2000), None)];
    for (latency_ms, status) in faults {
        let fault = Fault {
            latency_ms,
            status,
            times: None,
        };
        s.sandbox.set_fault(fault);
        let id = s.person_v2("홍길동", "1980-01-01");
        let started = Instant::now();
        let resp = verify_v2(&s, "/identity-verifications", &id).await;
        let took = started.elapsed();
        assert_eq!(resp.status(), 503, "{fault:?}");
        assert!(resp.headers().get("retry-after").is_some());
        let (_, body) = json(resp).await;
        assert_eq!(body["error"], "verification_unavailable");
        assert!(
            took < Duration::from_millis(800 + 700),
            "{fault:?} took {took:?}"
        );
        s.sandbox.clear_faults();
        // Trouble is not cached: the same id resolves once the API is back (after the
        // breaker's probe, when repeated failures opened it).
        let mut got = 0;
        eventually_every(secs(15), Duration::from_millis(100), async || {
            got = verify_v2(&s, "/identity-verifications", &id)
                .await
                .status()
                .as_u16();
            if got != 200 {
                assert_eq!(got, 503, "{fault:?}");
            }
            got == 200
        })
        .await;
        assert_eq!(got, 200, "{fault:?}: no recovery");
    }
    // A cached verification is still served while the API is down.
    s.sandbox.set_fault(Fault {
        latency_ms: None,
        status: Some(500),
        times: None,
    });
    assert_eq!(
        verify_v2(&s, "/identity-verifications", &warm)
            .await
            .status(),
        200
    );
    let unjudged = s
        .app_saw()
        .iter()
        .filter(|r| r.header("x-verified-verdict").is_none())
        .count();
    assert_eq!(unjudged, 0, "API trouble never reaches the app");
}

#[tokio::test]
async fn fifty_concurrent_requests_for_one_id_make_one_api_call() {
    let s = Stack::with(Cfg::portone_only).await;
    let id = s.person_v2("홍길동", "1980-01-01");
    let before = v2_calls(&s);
    // Slow the API so the requests overlap.
    s.sandbox.set_fault(Fault {
        latency_ms: Some(300),
        status: None,
        times: None,
    });
    let body = serde_json::json!({ "identityVerificationId": id }).to_string();
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let (gw, body) = (s.gateway.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            gw.post_json("/identity-verifications", &body)
                .await
                .status()
                .as_u16()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    assert_eq!(v2_calls(&s) - before, 1);
    assert_eq!(s.app_saw().len(), 50);
}

#[tokio::test]
async fn ids_outside_the_v2_form_are_refused_before_any_api_call() {
    let s = Stack::with(Cfg::portone_only).await;
    let before = s.sandbox.stats().api_calls;
    let long_ok = "z".repeat(128);
    let too_long = "z".repeat(129);
    let attempts = [
        "../users/getToken".to_owned(),
        "iv-1/../../identity-verifications".to_owned(),
        "iv-1%2F..%2Fx".to_owned(),
        "iv-1?storeId=other".to_owned(),
        "iv-1#frag".to_owned(),
        "iv-1\r\nX-Injected: 1".to_owned(),
        "iv 1".to_owned(),
        "iv.1".to_owned(),
        "홍길동".to_owned(),
        String::new(),
        too_long,
    ];
    for id in &attempts {
        let (status, body) = json(verify_v2(&s, "/identity-verifications", id).await).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_imp_uid")),
            "{id:?}"
        );
    }
    for q in [
        "identityVerificationId=..%2Fx",
        "identityVerificationId=iv%00",
        "identityVerificationId=a&identityVerificationId=b",
    ] {
        let (status, body) = json(
            s.get(&format!("/identity-verifications/redirect?{q}"))
                .await,
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_imp_uid")),
            "{q}"
        );
    }
    // The V1 field is not the V2 one.
    let (status, body) = json(s.verify("/identity-verifications", "imp_1").await).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("missing_imp_uid"))
    );
    assert_eq!(
        s.sandbox.stats().api_calls,
        before,
        "an odd id reached the API"
    );
    assert!(s.app_saw().is_empty());

    // 128 characters are a V2 id (the API is asked, and has none; not hex, which would look
    // like a token in the output); every path it saw is plain.
    let (status, body) = json(verify_v2(&s, "/identity-verifications", &long_ok).await).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("verification_not_found"))
    );
    for p in s.sandbox.requested_paths() {
        let id = p
            .strip_prefix("/identity-verifications/")
            .unwrap_or_default();
        let plain = !id.is_empty()
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        assert!(plain, "the API was asked for {p}");
    }
}

#[tokio::test]
async fn a_single_use_v2_route_passes_an_id_once() {
    let s = Stack::with(Cfg::portone_only).await;
    let id = s.person_v2("홍길동", "1980-01-01");
    assert_eq!(verify_v2(&s, "/v2/once", &id).await.status(), 200);
    let (status, body) = json(verify_v2(&s, "/v2/once", &id).await).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("verification_already_used"))
    );
    // Other routes are not single use.
    assert_eq!(
        verify_v2(&s, "/identity-verifications", &id).await.status(),
        200
    );
}

/// Both providers, with the standard V1 routes (and `/once`) on i'mport and the V2 routes on
/// PortOne.
fn both(p: &common::Ports) -> Cfg {
    Cfg::both_providers(p).route(single_use_route().provider("iamport"))
}

#[tokio::test]
async fn both_providers_serve_their_own_routes() {
    let s = Stack::with(both).await;
    let v1 = s.person("홍길동", "1976-11-07");
    let v2 = s.person_v2("김철수", "1980-02-03");
    let (status, app) = json(s.verify("/certifications", &v1).await).await;
    assert_eq!(status, 200);
    assert_eq!(app["headers"]["x-verified-imp-uid"], v1.as_str());
    assert!(
        app["headers"]
            .get("x-verified-identity-verification-id")
            .is_none()
    );
    let (status, app) = json(verify_v2(&s, "/identity-verifications", &v2).await).await;
    assert_eq!(status, 200);
    assert_eq!(
        app["headers"]["x-verified-identity-verification-id"],
        v2.as_str()
    );
    assert_eq!(app["headers"]["x-verified-birth"], "1980-02-03");
    assert!(app["headers"].get("x-verified-imp-uid").is_none());
    // Each id exists only at its own API: asked of the other, it is not found.
    let (status, _) = json(s.verify("/certifications", &v2).await).await;
    assert_eq!(status, 403);
    let (status, _) = json(verify_v2(&s, "/identity-verifications", &v1).await).await;
    assert_eq!(status, 403);
    let ready = s.admin_get("/readyz").await;
    assert_eq!(ready.status(), 200, "{}", ready.text().await.unwrap());
}

#[tokio::test]
async fn a_v1_and_a_v2_id_of_the_same_text_are_cached_and_used_apart() {
    let s = Stack::with(both).await;
    let text = "imp_000000000777";
    s.insert(SandboxRecord {
        imp_uid: Some(text.to_owned()),
        ..SandboxRecord::person("홍길동", "1976-11-07")
    });
    s.insert_v2(SandboxIdentityVerification {
        id: Some(text.to_owned()),
        ..SandboxIdentityVerification::person("김영희", &birthday_years_ago(15, 0))
    });
    let (v1_before, v2_before) = (s.sandbox.stats().certification_requests, v2_calls(&s));
    for _ in 0..3 {
        let (_, app) = json(s.verify("/certifications", text).await).await;
        assert_eq!(app["headers"]["x-verified-verdict"], "allow");
        assert_eq!(app["headers"]["x-verified-birth"], "1976-11-07");
        let (_, app) = json(verify_v2(&s, "/identity-verifications", text).await).await;
        assert_eq!(app["headers"]["x-verified-verdict"], "deny");
        assert_eq!(app["headers"]["x-verified-reason"], "underage");
    }
    let stats = s.sandbox.stats();
    assert_eq!(stats.certification_requests - v1_before, 1, "V1 asked once");
    assert_eq!(v2_calls(&s) - v2_before, 1, "V2 asked once");

    // Single use is kept apart too: the V1 use does not spend the V2 id, nor the reverse.
    let adult_v2 = "iv_same_text_1";
    s.insert(SandboxRecord {
        imp_uid: Some(adult_v2.to_owned()),
        ..SandboxRecord::person("홍길동", "1976-11-07")
    });
    s.insert_v2(SandboxIdentityVerification {
        id: Some(adult_v2.to_owned()),
        ..SandboxIdentityVerification::person("홍길동", "1976-11-07")
    });
    assert_eq!(s.verify("/once", adult_v2).await.status(), 200);
    assert_eq!(verify_v2(&s, "/v2/once", adult_v2).await.status(), 200);
    assert_eq!(s.verify("/once", adult_v2).await.status(), 409);
    assert_eq!(verify_v2(&s, "/v2/once", adult_v2).await.status(), 409);
}
