//! The gateway end to end: real sockets, the real binary, the sandbox speaking the i'mport
//! protocol. Each test proves one behaviour of README, "What the app receives" and "Resolving an imp_uid".

mod common;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use base64::Engine;
use common::{
    Cfg, Stack, birthday_years_ago, eventually_every, free_addr, now_secs, raw_exchange,
    raw_exchange_async, secs,
};
use sha2::{Digest, Sha256};
use verigate::sandbox::{Fault, SandboxRecord};

async fn json(resp: reqwest::Response) -> (u16, serde_json::Value) {
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

#[tokio::test]
async fn adult_is_allowed_and_the_app_receives_identity_headers() {
    let s = Stack::start().await;
    let uid = s.person("홍길동", "1976-11-07");
    let (status, app) = json(s.verify("/certifications", &uid).await).await;
    assert_eq!(status, 200);
    let h = &app["headers"];
    assert_eq!(h["x-verified-verdict"], "allow");
    assert!(h.get("x-verified-reason").is_none());
    assert_eq!(h["x-verified-imp-uid"], uid.as_str());
    assert_eq!(h["x-verified-name"], "%ED%99%8D%EA%B8%B8%EB%8F%99");
    assert_eq!(h["x-verified-birth"], "1976-11-07");
    assert_eq!(h["x-verified-policy"], "adult");
    let year = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::get("Asia/Seoul").unwrap())
        .year();
    assert_eq!(h["x-verified-age"], (year - 1976).to_string());
    assert!(
        h["x-verified-certified-at"]
            .as_str()
            .unwrap()
            .parse::<i64>()
            .is_ok()
    );
    // Nothing beyond name, birth and verdict unless the config asks for it.
    for absent in [
        "x-verified-gender",
        "x-verified-phone",
        "x-verified-unique-key",
    ] {
        assert!(h.get(absent).is_none(), "{absent} was forwarded");
    }
    assert_eq!(app["path"], "/certifications");
}

#[tokio::test]
async fn minor_is_forwarded_as_deny_or_rejected_as_the_route_says() {
    let s = Stack::start().await;
    let uid = s.person("김영희", &birthday_years_ago(15, 0));
    let (status, app) = json(s.verify("/certifications", &uid).await).await;
    assert_eq!(status, 200);
    assert_eq!(app["headers"]["x-verified-verdict"], "deny");
    assert_eq!(app["headers"]["x-verified-reason"], "underage");
    assert_eq!(app["headers"]["x-verified-age"], "15");

    let seen = s.app_saw().len();
    let (status, body) = json(
        s.get(&format!(
            "/certifications/redirect?imp_uid={uid}&success=true"
        ))
        .await,
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(body["error"], "age_requirement_not_met");
    assert!(body["request_id"].as_str().is_some_and(|r| !r.is_empty()));
    assert_eq!(
        s.app_saw().len(),
        seen,
        "a rejected request reached the app"
    );
}

#[tokio::test]
async fn age_boundaries_hold_on_both_bases() {
    let s = Stack::start().await;
    // (birthday, route, verdict): "/full" counts completed years, "/certifications" years.
    let cases = [
        (birthday_years_ago(19, 0), "/full", "allow"), // 19th birthday today
        (birthday_years_ago(19, 1), "/full", "deny"),  // 19th birthday tomorrow
        (birthday_years_ago(19, -1), "/full", "allow"),
        (birthday_years_ago(19, 1), "/working", "deny"),
        (birthday_years_ago(65, 0), "/working", "deny"), // 65 today: over max_age 64
        (birthday_years_ago(65, 1), "/working", "allow"), // still 64
    ];
    for (birthday, route, want) in &cases {
        let uid = s.person("테스트", birthday);
        let (status, app) = json(s.verify(route, &uid).await).await;
        assert_eq!(status, 200, "{birthday} on {route}");
        assert_eq!(
            app["headers"]["x-verified-verdict"], *want,
            "{birthday} on {route}"
        );
    }
    // Year basis: everyone born in (this year − 19) is 19 all year long.
    let year = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::get("Asia/Seoul").unwrap())
        .year();
    for (birthday, want) in [
        (format!("{}-12-31", year - 19), "allow"),
        (format!("{}-01-01", year - 18), "deny"),
    ] {
        let uid = s.person("테스트", &birthday);
        let (_, app) = json(s.verify("/certifications", &uid).await).await;
        assert_eq!(app["headers"]["x-verified-verdict"], want, "{birthday}");
    }
    // 29 February: whatever today is, the gateway agrees with the pure rule.
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::get("Asia/Seoul").unwrap())
        .date();
    let leap = (year - 25..=year - 17)
        .find(|y| jiff::civil::Date::new(*y, 2, 29).is_ok())
        .unwrap();
    let born = jiff::civil::date(leap, 2, 29);
    let age = verigate::policy::age_on(born, today, verigate::policy::AgeBasis::Full);
    let uid = s.person("윤년생", &born.to_string());
    let (_, app) = json(s.verify("/full", &uid).await).await;
    assert_eq!(app["headers"]["x-verified-age"], age.to_string());
    assert_eq!(
        app["headers"]["x-verified-verdict"],
        if age >= 19 { "allow" } else { "deny" }
    );
}

#[tokio::test]
async fn birth_seconds_alone_are_read_as_a_kst_date() {
    let s = Stack::start().await;
    // 689785200 is 1991-11-11 00:00 KST (1991-11-10 in UTC).
    let uid = s.insert(SandboxRecord {
        name: Some("박보검".into()),
        birth: Some(689785200),
        ..SandboxRecord::default()
    });
    let (_, app) = json(s.verify("/certifications", &uid).await).await;
    assert_eq!(app["headers"]["x-verified-birth"], "1991-11-11");
    assert_eq!(app["headers"]["x-verified-verdict"], "allow");

    let unknown = s.insert(SandboxRecord {
        name: Some("무명".into()),
        birth: Some(0),
        ..SandboxRecord::default()
    });
    let (_, app) = json(s.verify("/certifications", &unknown).await).await;
    assert_eq!(app["headers"]["x-verified-verdict"], "deny");
    assert_eq!(app["headers"]["x-verified-reason"], "birth_unknown");
    assert!(app["headers"].get("x-verified-birth").is_none());
}

#[tokio::test]
async fn unknown_imp_uid_is_refused_and_remembered_for_the_negative_ttl() {
    let s = Stack::start().await;
    let before = s.sandbox.stats().certification_requests;
    for _ in 0..3 {
        let (status, body) = json(s.verify("/certifications", "imp_999999999999").await).await;
        assert_eq!(status, 403);
        assert_eq!(body["error"], "verification_not_found");
    }
    assert_eq!(s.sandbox.stats().certification_requests - before, 1);
    assert!(s.app_saw().is_empty());

    // on_failure = "forward": the app gets verdict unverified with the reason.
    let (status, app) = json(s.verify("/lenient", "imp_999999999999").await).await;
    assert_eq!(status, 200);
    assert_eq!(app["headers"]["x-verified-verdict"], "unverified");
    assert_eq!(app["headers"]["x-verified-reason"], "not_found");
    assert!(app["headers"].get("x-verified-name").is_none());
}

#[tokio::test]
async fn unfinished_and_stale_verifications_are_refused() {
    let s = Stack::start().await;
    let unfinished = s.insert(SandboxRecord {
        certified: Some(false),
        ..SandboxRecord::default()
    });
    let (status, body) = json(s.verify("/certifications", &unfinished).await).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("verification_not_certified"))
    );

    let stale = s.insert(SandboxRecord {
        certified_at: Some(now_secs() - 700),
        ..SandboxRecord::person("오래된", "1980-01-01")
    });
    let (status, body) = json(s.verify("/certifications", &stale).await).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("verification_stale"))
    );
    assert!(s.app_saw().is_empty());
}

#[tokio::test]
async fn success_false_on_the_redirect_fails_without_an_api_call() {
    let s = Stack::start().await;
    let uid = s.person("홍길동", "1980-01-01");
    // The token asked for at start is the only call before.
    let before = s.sandbox.stats().api_calls;
    let (status, body) = json(
        s.get(&format!(
            "/certifications/redirect?imp_uid={uid}&success=false&error_code=F0000&error_msg=%EC%B7%A8%EC%86%8C"
        ))
        .await,
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(body["error"], "verification_failed");
    assert_eq!(s.sandbox.stats().api_calls, before);
}

#[tokio::test]
async fn forged_verified_headers_are_stripped_on_every_route() {
    let s = Stack::start().await;
    // A minor: the gateway's own verdict (deny) differs from the forged one (allow).
    let uid = s.person("김영희", &birthday_years_ago(15, 0));
    let forged = [
        ("x-verified-verdict", "allow"),
        ("X-Verified-Name", "admin"),
        ("x_verified_age", "99"),
        ("X_VERIFIED-policy", "none"),
        ("x-verified-assertion", "eyJforged"),
        ("signature", "verigate=:AAAA:"),
        ("signature-input", "verigate=()"),
        ("content-digest", "sha-256=:AAAA:"),
    ];
    for path in ["/account", "/certifications"] {
        let mut req = s
            .client
            .post(format!("{}{path}", s.base))
            .header("content-type", "application/json")
            .body(format!(r#"{{"imp_uid":"{uid}"}}"#));
        for (k, v) in forged {
            req = req.header(k, v);
        }
        assert_eq!(req.send().await.unwrap().status(), 200);
        let got = s.last();
        for (name, value) in &got.headers {
            let forged_value = forged.iter().any(|(_, v)| v.as_bytes() == value.as_slice());
            assert!(!forged_value, "{path}: forged {name} reached the app");
        }
        let verified: Vec<&str> = got
            .headers
            .iter()
            .map(|(k, _)| k.as_str())
            .filter(|k| k.replace('_', "-").starts_with("x-verified-"))
            .collect();
        if path == "/account" {
            assert!(verified.is_empty(), "{verified:?}");
        } else {
            let verdicts: Vec<_> = got
                .headers
                .iter()
                .filter(|(k, _)| k == "x-verified-verdict")
                .collect();
            assert_eq!(verdicts.len(), 1);
            assert_eq!(got.header("x-verified-verdict"), Some("deny"));
            assert_eq!(got.header("x-verified-age"), Some("15"));
        }
    }
}

fn chunked(body: &[u8], size: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for c in body.chunks(size) {
        out.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        out.extend_from_slice(c);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

#[tokio::test]
async fn intercepted_bodies_reach_the_app_byte_for_byte_with_a_digest() {
    let s = Stack::start().await;
    let uid = s.person("홍길동", "1980-01-01");
    let json_body =
        format!("{{ \"merchant_uid\" : \"m 1\",\n \"imp_uid\":\"{uid}\", \"x\": \"\\u00e9\" }}");
    let form_body = format!("merchant_uid=m+1&imp_uid={uid}&note=%ED%99%8D");
    let cases: [(&str, Vec<u8>, bool); 3] = [
        ("application/json", json_body.clone().into_bytes(), false),
        (
            "application/x-www-form-urlencoded",
            form_body.into_bytes(),
            false,
        ),
        ("application/json", json_body.into_bytes(), true),
    ];
    for (ct, body, is_chunked) in cases {
        let addr = s.gateway_addr;
        let b = body.clone();
        let answer = tokio::task::spawn_blocking(move || {
            let mut req = format!(
                "POST /certifications?keep=1&x=%20 HTTP/1.1\r\nHost: app\r\nContent-Type: {ct}\r\nConnection: close\r\n"
            )
            .into_bytes();
            if is_chunked {
                req.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
                req.extend_from_slice(&chunked(&b, 7));
            } else {
                req.extend_from_slice(format!("Content-Length: {}\r\n\r\n", b.len()).as_bytes());
                req.extend_from_slice(&b);
            }
            raw_exchange(addr, &req)
        })
        .await
        .unwrap();
        assert!(
            answer.starts_with("HTTP/1.1 200"),
            "{ct} chunked={is_chunked}: {answer}"
        );
        let got = s.last();
        assert_eq!(
            got.body.as_ref(),
            body.as_slice(),
            "{ct} chunked={is_chunked}"
        );
        assert_eq!(got.query.as_deref(), Some("keep=1&x=%20"));
        assert_eq!(got.method, "POST");
        let digest = format!(
            "sha-256=:{}:",
            base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&body))
        );
        assert_eq!(got.header("content-digest"), Some(digest.as_str()));
        assert_eq!(got.header("x-verified-verdict"), Some("allow"));
    }
}

#[tokio::test]
async fn expect_100_continue_is_answered_before_the_body_is_sent() {
    let s = Stack::start().await;
    let uid = s.person("홍길동", "1980-01-01");
    let body = format!(r#"{{"imp_uid":"{uid}"}}"#);
    let addr = s.gateway_addr;
    let answer = tokio::task::spawn_blocking(move || {
        let mut conn = std::net::TcpStream::connect(addr).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let head = format!(
            "POST /certifications HTTP/1.1\r\nHost: app\r\nContent-Type: application/json\r\nContent-Length: {}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
            body.len()
        );
        conn.write_all(head.as_bytes()).unwrap();
        // Nothing of the body is sent until the gateway says go on.
        let mut first = [0u8; 25];
        conn.read_exact(&mut first).unwrap();
        let interim = String::from_utf8_lossy(&first).into_owned();
        conn.write_all(body.as_bytes()).unwrap();
        let mut rest = Vec::new();
        let _ = conn.read_to_end(&mut rest);
        (interim, String::from_utf8_lossy(&rest).into_owned())
    })
    .await
    .unwrap();
    assert_eq!(answer.0, "HTTP/1.1 100 Continue\r\n\r\n");
    assert!(answer.1.starts_with("HTTP/1.1 200"), "{}", answer.1);
    assert_eq!(s.last().header("x-verified-verdict"), Some("allow"));
    assert!(s.last().header("expect").is_none());
}

#[tokio::test]
async fn a_one_megabyte_body_passes_through_an_ordinary_route() {
    let s = Stack::start().await;
    let body: Vec<u8> = (0..1_048_576u32).map(|i| (i % 251) as u8).collect();
    let resp = s
        .client
        .put(format!("{}/upload", s.base))
        .header("content-type", "application/octet-stream")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let got = s.last();
    assert_eq!(got.body.len(), body.len());
    assert!(got.body.as_ref() == body.as_slice());
    assert!(got.header("content-digest").is_none());
}

/// Bodies the popup route must refuse: content type, body, status and error code.
fn bad_bodies() -> Vec<(&'static str, Vec<u8>, u16, &'static str)> {
    let big = format!(r#"{{"imp_uid":"imp_1","pad":"{}"}}"#, "x".repeat(70_000));
    let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let deep_obj = format!(r#"{{"a":{}{}}}"#, "{\"b\":".repeat(3000), "}".repeat(3000));
    vec![
        (
            "application/json",
            br#"{"imp_uid":"#.to_vec(),
            400,
            "malformed_body",
        ),
        ("application/json", b"[1,2]".to_vec(), 400, "malformed_body"),
        (
            "application/json",
            b"{\"imp_uid\":\"\xff\xfe\"}".to_vec(),
            400,
            "malformed_body",
        ),
        (
            "application/json",
            br#"{"other":1}"#.to_vec(),
            400,
            "missing_imp_uid",
        ),
        ("application/json", b"".to_vec(), 400, "missing_imp_uid"),
        (
            "application/json",
            br#"{"imp_uid":42}"#.to_vec(),
            400,
            "invalid_imp_uid",
        ),
        (
            "application/json",
            br#"{"imp_uid":"a","imp_uid":"b"}"#.to_vec(),
            400,
            "invalid_imp_uid",
        ),
        ("application/json", deep.into_bytes(), 400, "malformed_body"),
        (
            "application/json",
            deep_obj.into_bytes(),
            400,
            "malformed_body",
        ),
        (
            "application/json",
            br#"{"imp_uid":true}"#.to_vec(),
            400,
            "invalid_imp_uid",
        ),
        (
            "text/html",
            b"imp_uid=imp_1".to_vec(),
            415,
            "unsupported_media_type",
        ),
        ("application/json", big.into_bytes(), 413, "body_too_large"),
    ]
}

#[tokio::test]
async fn bad_bodies_get_the_contract_status_and_never_reach_the_app() {
    let s = Stack::start().await;
    let cases = bad_bodies();
    for (ct, body, status, code) in cases {
        let (got, resp) = json(s.post("/certifications", ct, body.clone()).await).await;
        assert_eq!(
            (got, resp["error"].as_str()),
            (status, Some(code)),
            "{ct} {:?}",
            String::from_utf8_lossy(&body[..body.len().min(40)])
        );
        assert!(resp["message"].as_str().is_some_and(|m| m.len() > 10));
    }
    // Over the limit without a declared length (chunked): refused as it streams in.
    let mut req = b"POST /certifications HTTP/1.1\r\nHost: app\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_vec();
    req.extend_from_slice(&chunked(&vec![b' '; 80_000], 8192));
    let answer = raw_exchange_async(s.gateway_addr, req).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("body_too_large"));
    assert!(s.app_saw().is_empty(), "a refused request reached the app");
    // The gateway is still serving.
    let uid = s.person("홍길동", "1980-01-01");
    assert_eq!(s.verify("/certifications", &uid).await.status(), 200);
}

#[tokio::test]
async fn path_injection_attempts_never_reach_an_odd_api_path() {
    let s = Stack::start().await;
    let attempts = [
        r#"{"imp_uid":"../users/getToken"}"#,
        r#"{"imp_uid":"imp_1/../../users/getToken"}"#,
        r#"{"imp_uid":"imp_1%2F..%2Fx"}"#,
        r#"{"imp_uid":"imp_1?x=1"}"#,
        r#"{"imp_uid":"imp_1#frag"}"#,
        r#"{"imp_uid":"imp_1\r\nX-Injected: 1"}"#,
        r#"{"imp_uid":"imp_1 HTTP/1.1"}"#,
        r#"{"imp_uid":"%69mp_1"}"#,
    ];
    for body in attempts {
        let (status, resp) = json(s.post_json("/certifications", body).await).await;
        assert_eq!(
            (status, resp["error"].as_str()),
            (400, Some("invalid_imp_uid")),
            "{body}"
        );
    }
    for q in [
        "imp_uid=..%2Fusers",
        "imp_uid=imp_1%2F..",
        "imp_uid=imp%00_1",
        "imp_uid=imp_1&imp_uid=imp_2",
    ] {
        let (status, resp) = json(s.get(&format!("/certifications/redirect?{q}")).await).await;
        assert_eq!(
            (status, resp["error"].as_str()),
            (400, Some("invalid_imp_uid")),
            "{q}"
        );
    }
    // A valid lookup, so the API was used at all, then: every path it saw is a plain one.
    let uid = s.person("홍길동", "1980-01-01");
    assert_eq!(s.verify("/certifications", &uid).await.status(), 200);
    let paths = s.sandbox.requested_paths();
    assert!(!paths.is_empty());
    for p in paths {
        let ok = p == "/users/getToken"
            || p.strip_prefix("/certifications/").is_some_and(|id| {
                !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            });
        assert!(ok, "the API was asked for {p}");
    }
}

#[tokio::test]
async fn fifty_concurrent_requests_for_one_imp_uid_make_one_api_call() {
    let s = Stack::start().await;
    let uid = s.person("홍길동", "1980-01-01");
    // Slow the API so the requests overlap.
    s.sandbox.set_fault(Fault {
        latency_ms: Some(300),
        status: None,
        times: None,
    });
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let (gw, uid) = (s.gateway.clone(), uid.clone());
        tasks.push(tokio::spawn(async move {
            gw.verify("/certifications", &uid).await.status().as_u16()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    let stats = s.sandbox.stats();
    assert_eq!(stats.certification_requests, 1);
    assert_eq!(stats.token_requests, 1);
    assert_eq!(s.app_saw().len(), 50);
}

#[tokio::test]
async fn one_token_serves_many_lookups_and_a_revoked_token_is_refreshed_once() {
    let s = Stack::start().await;
    for _ in 0..5 {
        let uid = s.person("홍길동", "1980-01-01");
        assert_eq!(s.verify("/certifications", &uid).await.status(), 200);
    }
    let stats = s.sandbox.stats();
    assert_eq!((stats.token_requests, stats.certification_requests), (1, 5));

    s.sandbox.revoke_tokens();
    let uid = s.person("홍길동", "1980-01-01");
    assert_eq!(s.verify("/certifications", &uid).await.status(), 200);
    let stats = s.sandbox.stats();
    // One 401, one refresh, one retry.
    assert_eq!((stats.token_requests, stats.certification_requests), (2, 7));
    assert_eq!(stats.tokens_issued, 2);
}

#[tokio::test]
async fn token_is_refreshed_before_expiry_by_the_apis_clock() {
    let s = Stack::start().await;
    let uid = s.person("홍길동", "1980-01-01");
    assert_eq!(s.verify("/certifications", &uid).await.status(), 200);
    // The sandbox's clock runs 29.5 minutes ahead: the token it issued has 30 s left by ITS
    // clock. The gateway learnt the lifetime from `now`/`expired_at` at issue (30 min), so it
    // still uses it, and the sandbox still accepts it.
    s.sandbox.advance_clock(29 * 60 + 30);
    let uid = s.person("홍길동", "1980-01-01");
    assert_eq!(s.verify("/certifications", &uid).await.status(), 200);
    assert_eq!(s.sandbox.stats().token_requests, 1);
    // Past expiry by the sandbox's clock: the stale token is refused, refreshed once.
    s.sandbox.advance_clock(60);
    let uid = s.person("홍길동", "1980-01-01");
    assert_eq!(s.verify("/certifications", &uid).await.status(), 200);
    assert_eq!(s.sandbox.stats().token_requests, 2);
}

#[tokio::test]
async fn api_errors_answer_503_within_the_budget_and_service_recovers() {
    let s = Stack::with(|p| Cfg::standard(p).api_timeout_ms(800)).await;
    let warm = s.person("홍길동", "1980-01-01");
    assert_eq!(s.verify("/certifications", &warm).await.status(), 200);

    for fault in [
        Fault {
            latency_ms: None,
            status: Some(500),
            times: None,
        },
        Fault {
            latency_ms: None,
            status: Some(502),
            times: None,
        },
        Fault {
            latency_ms: Some(2000),
            status: None,
            times: None,
        },
    ] {
        s.sandbox.set_fault(fault);
        let uid = s.person("홍길동", "1980-01-01");
        let started = Instant::now();
        let resp = s.verify("/certifications", &uid).await;
        let took = started.elapsed();
        assert_eq!(resp.status(), 503, "{fault:?}");
        assert!(resp.headers().get("retry-after").is_some());
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["error"], "verification_unavailable");
        assert!(
            took < Duration::from_millis(800 + 700),
            "{fault:?} took {took:?}"
        );
        s.sandbox.clear_faults();
        // Errors are not cached: the same imp_uid resolves once the API is back (after the
        // circuit breaker's probe, when repeated failures opened it).
        let mut status = 0;
        eventually_every(secs(15), Duration::from_millis(100), async || {
            status = s.verify("/certifications", &uid).await.status().as_u16();
            if status != 200 {
                assert_eq!(status, 503, "{fault:?}");
            }
            status == 200
        })
        .await;
        assert_eq!(status, 200, "{fault:?}: no recovery");
    }
    // A cached verification is still served while the API is down.
    s.sandbox.set_fault(Fault {
        latency_ms: None,
        status: Some(500),
        times: None,
    });
    assert_eq!(s.verify("/certifications", &warm).await.status(), 200);
    assert_eq!(
        s.app_saw()
            .iter()
            .filter(|r| r.header("x-verified-verdict").is_none())
            .count(),
        0
    );
}

#[tokio::test]
async fn rejected_credentials_are_api_trouble_not_a_verdict() {
    let s = Stack::with(|p| Cfg::standard(p).api_timeout_ms(800).secret("wrong-secret")).await;
    let uid = s.person("홍길동", "1980-01-01");
    let (status, body) = json(s.verify("/certifications", &uid).await).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (503, Some("verification_unavailable"))
    );
    assert!(s.app_saw().is_empty());
}

#[tokio::test]
async fn paths_under_dot_verigate_are_the_gateways_own_and_never_reach_the_app() {
    let s = Stack::start().await;
    // Sessions are not configured: every one of them, known or not, is 404 `not_found`.
    for path in [
        "/.verigate/verify?rd=/adult",
        "/.verigate/callback?imp_uid=imp_1&merchant_uid=m",
        "/.verigate/auth?gate=adult",
        "/.verigate/forward-auth?gate=adult",
        "/.verigate/sign_out",
        "/.verigate/nothing/here",
        "/.VERIGATE/verify",
        "/.verigate",
    ] {
        let (status, body) = json(s.get(path).await).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (404, Some("not_found")),
            "{path}"
        );
        assert!(body["request_id"].as_str().is_some_and(|id| !id.is_empty()));
    }
    let resp = s
        .verify("/.verigate/callback", &s.person("홍길동", "1980-01-01"))
        .await;
    assert_eq!(resp.status(), 404);
    assert!(s.app_saw().is_empty(), "a /.verigate path reached the app");
    // Only the segment is reserved.
    assert_eq!(s.get("/.verigatex/page").await.status(), 200);
    assert_eq!(s.last().path, "/.verigatex/page");
}

#[tokio::test]
async fn upstream_down_is_a_502() {
    // An address nothing listens on.
    let dead = free_addr();
    let s = Stack::with_upstream(Some(dead), |p| Cfg::standard(p).api_timeout_ms(800)).await;
    let (status, body) = json(s.get("/anything").await).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (502, Some("upstream_unavailable"))
    );
    let uid = s.person("홍길동", "1980-01-01");
    let (status, body) = json(s.verify("/certifications", &uid).await).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (502, Some("upstream_unavailable"))
    );
}

#[tokio::test]
async fn browsers_get_an_html_page_and_every_answer_carries_the_request_id() {
    let s = Stack::start().await;
    let resp = s
        .client
        .get(format!(
            "{}/certifications/redirect?imp_uid=imp_404404404404",
            s.base
        ))
        .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8")
        .header("x-request-id", "trace-123.abc_X")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert_eq!(resp.headers()["x-request-id"], "trace-123.abc_X");
    let page = resp.text().await.unwrap();
    assert!(page.contains("No identity verification with this imp_uid exists."));
    assert!(page.contains("trace-123.abc_X"));

    // An insane request id is replaced, and the app sees the one the gateway uses.
    let resp = s
        .client
        .get(format!("{}/plain", s.base))
        .header("x-request-id", "bad id with spaces")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let id = s.last().header("x-request-id").unwrap().to_owned();
    assert_ne!(id, "bad id with spaces");
    assert!(id.len() >= 16 && id.bytes().all(|b| b.is_ascii_alphanumeric()));
}
