//! Verification sessions over HTTP against the real binary, the sandbox and the echo app
//! (docs/sessions.md): gated paths in every spelling, the round trip, the cookie's life, and
//! the attacks the design exists to stop.

mod common;

use std::time::Duration;

use common::sessions::*;
use common::{Gate, Policy, Stack, birthday_years_ago};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn stack() -> Stack {
    Stack::with(|p| session_cfg(p, &[SECRET_A])).await
}

/// Sends `target` as the raw request target (no client-side normalisation) and returns the
/// status and the whole answer.
async fn raw(stack: &Stack, method: &str, target: &str, headers: &str) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(stack.gateway_addr)
        .await
        .unwrap();
    let req = format!(
        "{method} {target} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n{headers}\r\n",
        stack.gateway_addr
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, text)
}

fn adult() -> String {
    birthday_years_ago(30, 0)
}

fn minor() -> String {
    birthday_years_ago(15, 0)
}

#[tokio::test]
async fn a_gated_visit_without_a_session_is_sent_to_verify_or_refused() {
    let s = stack().await;
    let resp = client()
        .get(format!("{}/adult/videos?page=2", s.base))
        .header("accept", "text/html,application/xhtml+xml")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302);
    assert_eq!(
        resp.headers()["location"],
        "/.verigate/verify?rd=%2Fadult%2Fvideos%3Fpage%3D2"
    );
    // An API call, a form post and a HEAD from a script get 401 verification_required.
    let resp = get_with(&s, "/adult/videos", "").await;
    assert_eq!(resp.status(), 401);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "verification_required");
    let resp = client()
        .post(format!("{}/adult/comment", s.base))
        .header("accept", "text/html")
        .body("x=1")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let (status, _) = raw(&s, "HEAD", "/adult/videos", "Accept: */*\r\n").await;
    assert_eq!(status, 401);
    assert!(s.app_saw().is_empty(), "nothing gated reached the app");
    // Outside the gate nothing changes.
    let resp = get_with(&s, "/adultery", "").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(s.last().path, "/adultery");
}

#[tokio::test]
async fn an_adult_gets_a_session_and_the_app_the_identity_headers_without_our_cookies() {
    let s = stack().await;
    let v = visit(&s, "/adult/videos?page=2").await;
    let imp_uid = verified(&s, &v, &adult());
    let resp = callback(&s, &v.state, &imp_uid, &v.merchant_uid).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(resp.headers()["location"], "/adult/videos?page=2");
    let set = set_cookies(&resp);
    let session = set
        .iter()
        .find(|c| c.starts_with("__Host-verigate="))
        .unwrap();
    assert!(
        session.ends_with("; Path=/; HttpOnly; Secure; SameSite=Lax; Max-Age=3600"),
        "{session}"
    );
    assert!(
        session.len() < 1500,
        "the cookie is small: {}",
        session.len()
    );
    assert!(
        set.iter()
            .any(|c| c.starts_with("__Host-verigate_state=;") && c.ends_with("Max-Age=0")),
        "the state cookie is cleared: {set:?}"
    );
    let pair = cookie_pair(&set, COOKIE).unwrap();
    let resp = get_with(
        &s,
        "/adult/videos?page=2",
        &format!("theme=dark; {pair}; lang=ko"),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let app = s.last();
    assert_eq!(app.path, "/adult/videos");
    assert_eq!(app.header("x-verified-verdict"), Some("allow"));
    assert_eq!(app.header("x-verified-policy"), Some("adult"));
    assert_eq!(app.header("x-verified-imp-uid"), Some(imp_uid.as_str()));
    assert!(app.header("x-verified-age").is_some());
    assert_eq!(app.header("cookie"), Some("theme=dark; lang=ko"));
    // A cookie of the app's in raw UTF-8 (a Korean value, not percent-encoded): ours still
    // opens and is still removed, the app's is kept byte for byte.
    let resp = get_with(&s, "/adult/videos", &format!("nick=홍길동; {pair}")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(s.last().header("cookie"), Some("nick=홍길동"));
    // Only our cookies: the header is dropped.
    get_with(&s, "/adult/x", &pair).await;
    assert_eq!(s.last().header("cookie"), None);
    // A client's own x-verified-* never passes, gated or not.
    let resp = client()
        .get(format!("{}/adultery", s.base))
        .header("cookie", &pair)
        .header("x-verified-verdict", "allow")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(s.last().header("x-verified-verdict"), None);
    assert_eq!(
        s.last().header("cookie"),
        None,
        "our cookie is stripped everywhere"
    );
    s.assert_output_is_clean();
}

#[tokio::test]
async fn a_minor_gets_a_session_and_a_korean_refusal_never_the_app() {
    let s = stack().await;
    let (pair, location) = login(&s, &minor(), "/adult/x").await;
    assert_eq!(location, "/adult/x", "whatever the age, back to rd");
    let resp = get_with(&s, "/adult/x", &pair).await;
    assert_eq!(resp.status(), 403);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "age_requirement_not_met");
    let resp = client()
        .get(format!("{}/adult/x", s.base))
        .header("accept", "text/html")
        .header("cookie", &pair)
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
    let html = resp.text().await.unwrap();
    assert!(html.contains("이용할 수 없는 페이지입니다"), "{html}");
    assert!(!html.contains("홍길동"));
    assert!(s.app_saw().is_empty());
}

#[tokio::test]
async fn every_spelling_of_a_gated_path_is_gated_and_the_refused_ones_are_400() {
    let s = stack().await;
    let gated = [
        "/adult",
        "/adult/x",
        "//adult/x",
        "/./adult/x",
        "/x/../adult/x",
        "/%61dult/x",
        "/adult;p=1/x",
        "/adult/x?q=/../y",
        "/%2e/adult/x",
    ];
    for target in gated {
        let (status, text) = raw(&s, "GET", target, "Accept: application/json\r\n").await;
        assert_eq!(status, 401, "{target}: {text}");
    }
    let refused = [
        "/adult%2Fx",
        "/adult%5cx",
        "/adult%00x",
        "/adult%252Fx",
        "/%zz/adult",
        "/../adult/x",
        "/adult\\x",
        "/adult%ff",
    ];
    for target in refused {
        let (status, text) = raw(&s, "GET", target, "").await;
        assert_eq!(status, 400, "{target}: {text}");
        assert!(text.contains("invalid_path"), "{target}: {text}");
    }
    for target in ["/adultery", "/Adult/x", "/x/adult"] {
        let (status, _) = raw(&s, "GET", target, "").await;
        assert_eq!(status, 200, "{target}");
    }
    assert!(s.app_saw().iter().all(|r| !r.path.starts_with("/adult/")));
    // With a session, the normalised path is the one forwarded.
    let (pair, _) = login(&s, &adult(), "/").await;
    let (status, _) = raw(
        &s,
        "GET",
        "/x/../%61dult//y;p=1?a=%2F",
        &format!("Cookie: {pair}\r\n"),
    )
    .await;
    assert_eq!(status, 200);
    let app = s.last();
    assert_eq!(
        (app.path.as_str(), app.query.as_deref()),
        ("/adult/y", Some("a=%2F"))
    );
    assert_eq!(app.header("x-verified-verdict"), Some("allow"));
}

#[tokio::test]
async fn rd_is_only_ever_a_local_path() {
    let s = stack().await;
    let evil = [
        "//evil.example",
        "/\\evil.example",
        "https://evil.example",
        "http:evil.example",
        "%2F%2Fevil.example",
        "/%2F/evil.example",
        "/\t/evil.example",
        "\t//evil.example",
        "/x\r\nLocation: https://evil.example",
        "//evil.example/%2e%2e",
        "/.verigate/sign_out",
        "",
    ];
    for rd in evil {
        let (_, location) = login(&s, &adult(), rd).await;
        assert_eq!(location, "/", "{rd:?}");
    }
    let (_, location) = login(&s, &adult(), "/adult/a/../b?x=1&y=%20").await;
    assert_eq!(location, "/adult/b?x=1&y=%20");
    let resp = client()
        .get(format!(
            "{}/.verigate/sign_out?rd=%2F%2Fevil.example",
            s.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    assert_eq!(resp.headers()["location"], "/");
    assert!(set_cookies(&resp)[0].starts_with("__Host-verigate=;"));
}

#[tokio::test]
async fn tampered_expired_and_foreign_cookies_are_no_session() {
    let s = stack().await;
    let (pair, _) = login(&s, &adult(), "/").await;
    assert_eq!(get_with(&s, "/adult/x", &pair).await.status(), 200);
    let (name, value) = pair.split_once('=').unwrap();
    let mut bytes = value.as_bytes().to_vec();
    let mid = bytes.len() / 2;
    bytes[mid] = if bytes[mid] == b'A' { b'B' } else { b'A' };
    let tampered = format!("{name}={}", String::from_utf8(bytes).unwrap());
    let truncated = format!("{name}={}", &value[..value.len() - 4]);
    let now = jiff::Timestamp::now();
    let expired = forged(SECRET_A, now - jiff::SignedDuration::from_hours(2), 3600);
    let future = forged(SECRET_A, now + jiff::SignedDuration::from_hours(1), 3600);
    // Sealed to live a week, issued two hours ago: today's ttl (an hour) has passed.
    let too_long = forged(
        SECRET_A,
        now - jiff::SignedDuration::from_hours(2),
        7 * 24 * 3600,
    );
    let foreign = forged(SECRET_C, now, 3600);
    let renamed = pair.replace("__Host-verigate=", "verigate=");
    for (what, cookie) in [
        ("tampered", &tampered),
        ("truncated", &truncated),
        ("expired", &expired),
        ("issued in the future", &future),
        ("longer than ttl", &too_long),
        ("foreign secret", &foreign),
        ("other name", &renamed),
    ] {
        let resp = get_with(&s, "/adult/x", cookie).await;
        assert_eq!(resp.status(), 401, "{what}");
    }
    // A good one sealed outside the gateway with its secret opens (the forge helper is right).
    let good = forged(SECRET_A, now, 3600);
    assert_eq!(get_with(&s, "/adult/x", &good).await.status(), 200);
}

#[tokio::test]
async fn rotation_keeps_old_cookies_valid_and_reseals_them_and_a_retired_secret_is_no_session() {
    let s = Stack::with(|p| session_cfg(p, &[SECRET_B, SECRET_A])).await;
    let now = jiff::Timestamp::now();
    let old = forged(SECRET_A, now, 3600);
    let resp = get_with(&s, "/adult/x", &old).await;
    assert_eq!(resp.status(), 200);
    let resealed = cookie_pair(&set_cookies(&resp), COOKIE).expect("re-sealed under the new key");
    assert_ne!(resealed, old);
    assert_eq!(get_with(&s, "/adult/x", &resealed).await.status(), 200);
    // A cookie of the current key is not re-sealed.
    let current = forged(SECRET_B, now, 3600);
    let resp = get_with(&s, "/adult/x", &current).await;
    assert_eq!(resp.status(), 200);
    assert!(set_cookies(&resp).is_empty());
    // Retire A (SIGHUP): its cookies are no session, B's still are.
    let mut retired = s.cfg();
    retired.session.as_mut().unwrap().secrets = vec![SECRET_B.to_owned()];
    s.write_config(&retired);
    s.signal("HUP");
    assert!(
        s.wait_output("applied", Duration::from_secs(5)).await,
        "{}",
        s.gateway_output()
    );
    assert_eq!(get_with(&s, "/adult/x", &old).await.status(), 401);
    assert_eq!(get_with(&s, "/adult/x", &resealed).await.status(), 200);
}

#[tokio::test]
async fn login_csrf_and_replay_are_refused() {
    let s = stack().await;
    // The attacker verifies on their own visit; the victim's browser holds another state.
    let attacker = visit(&s, "/adult/x").await;
    let attacker_uid = verified(&s, &attacker, &adult());
    let victim = visit(&s, "/adult/x").await;
    for (what, cookie, mid) in [
        (
            "another state's merchant_uid",
            &victim.state,
            &attacker.merchant_uid,
        ),
        (
            "claiming the victim's merchant_uid",
            &victim.state,
            &victim.merchant_uid,
        ),
        ("no state cookie", &String::new(), &attacker.merchant_uid),
    ] {
        let resp = callback(&s, cookie, &attacker_uid, mid).await;
        assert_eq!(resp.status(), 403, "{what}");
        let html = resp.text().await.unwrap();
        assert!(html.contains("invalid_state"), "{what}: {html}");
    }
    // Its own state: a session, once; the same verification again → 409.
    let resp = callback(&s, &attacker.state, &attacker_uid, &attacker.merchant_uid).await;
    assert_eq!(resp.status(), 303);
    let resp = callback(&s, &attacker.state, &attacker_uid, &attacker.merchant_uid).await;
    assert_eq!(resp.status(), 409);
    assert!(cookie_pair(&set_cookies(&resp), COOKIE).is_none());
}

#[tokio::test]
async fn a_failure_the_browser_reports_is_403_without_an_api_call() {
    let s = stack().await;
    let v = visit(&s, "/adult/x").await;
    let before = s.sandbox.stats().api_calls;
    let resp = client()
        .get(format!(
            "{}/.verigate/callback?imp_uid=imp_123412341234&merchant_uid={}&success=false",
            s.base, v.merchant_uid
        ))
        .header("cookie", &v.state)
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "verification_failed");
    assert_eq!(s.sandbox.stats().api_calls, before);
    // Redirect mode: the same result in the query, successful.
    let uid = verified(&s, &v, &adult());
    let resp = client()
        .get(format!(
            "{}/.verigate/callback?imp_uid={uid}&merchant_uid={}&success=true",
            s.base, v.merchant_uid
        ))
        .header("cookie", &v.state)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    assert_eq!(resp.headers()["location"], "/adult/x");
}

#[tokio::test]
async fn a_birthday_crossed_during_a_session_changes_the_verdict() {
    // Today's date in the policy's zone is what ages a person. Kiritimati (UTC+14) is always a
    // day ahead of Pago Pago (UTC-11): someone born 19 years before Kiritimati's today is 18 in
    // Pago Pago and turns 19 when the date there moves on. Moving the policy's zone (a reload)
    // moves "today" under a live session, as midnight would.
    let with_zone = |mut cfg: common::Cfg, zone: &str| {
        cfg.policies.insert(
            "birthday".to_owned(),
            Policy {
                timezone: Some(zone.to_owned()),
                ..Policy::new(19, "full")
            },
        );
        cfg.gates.push(Gate {
            name: "birthday".to_owned(),
            prefix: "/party".to_owned(),
            policy: "birthday".to_owned(),
        });
        cfg
    };
    let s = Stack::with(|p| with_zone(session_cfg(p, &[SECRET_A]), "Pacific/Pago_Pago")).await;
    let east = jiff::tz::TimeZone::get("Pacific/Kiritimati").unwrap();
    let today = jiff::Timestamp::now().to_zoned(east).date();
    let birthday = today
        .checked_sub(jiff::Span::new().years(19))
        .unwrap()
        .to_string();
    let (pair, _) = login(&s, &birthday, "/party").await;
    assert_eq!(get_with(&s, "/party", &pair).await.status(), 403);
    let text = std::fs::read_to_string(s.config_path()).unwrap();
    std::fs::write(
        s.config_path(),
        text.replace("Pacific/Pago_Pago", "Pacific/Kiritimati"),
    )
    .unwrap();
    s.signal("HUP");
    assert!(
        s.wait_output("applied", Duration::from_secs(5)).await,
        "{}",
        s.gateway_output()
    );
    let resp = get_with(&s, "/party", &pair).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(s.last().header("x-verified-age"), Some("19"));
}

#[tokio::test]
async fn verigates_own_paths_are_never_forwarded() {
    let s = stack().await;
    for target in [
        "/.verigate/nothing",
        "/.verigate",
        "/.VERIGATE/verify",
        "/.verigate/verify/",
    ] {
        let (status, text) = raw(&s, "GET", target, "").await;
        assert_eq!(status, 404, "{target}: {text}");
    }
    let (status, _) = raw(&s, "POST", "/.verigate/verify", "Content-Length: 0\r\n").await;
    assert_eq!(status, 404);
    let resp = client()
        .get(format!("{}/.verigate/verify?rd=%2Fadult", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let csp = resp.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src"), "{csp}");
    let state = set_cookies(&resp)[0].clone();
    assert!(
        state.contains("HttpOnly") && state.contains("SameSite=Lax"),
        "{state}"
    );
    assert!(s.app_saw().is_empty());
}

#[tokio::test]
async fn api_trouble_at_the_callback_is_a_503_korean_page_and_no_session() {
    let s = stack().await;
    let v = visit(&s, "/adult/x").await;
    let uid = verified(&s, &v, &adult());
    s.sandbox.set_fault(verigate::sandbox::Fault {
        latency_ms: None,
        status: Some(500),
        times: None,
    });
    s.sandbox.revoke_tokens();
    let resp = callback(&s, &v.state, &uid, &v.merchant_uid).await;
    assert_eq!(resp.status(), 503);
    assert!(resp.headers().contains_key("retry-after"));
    assert!(cookie_pair(&set_cookies(&resp), COOKIE).is_none());
    let html = resp.text().await.unwrap();
    assert!(html.contains("잠시 후 다시 시도해 주세요"), "{html}");
    assert!(html.contains("verification_unavailable"), "{html}");
    assert!(s.app_saw().is_empty());
}

/// The claims of a JWT assertion (its middle part).
fn jwt_claims(jwt: &str) -> serde_json::Value {
    use base64::Engine as _;
    let payload = jwt.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn a_v2_session_names_the_identity_verification_id_on_gates_and_forward_auth() {
    let keys = tempfile::tempdir().unwrap();
    let key = keys.path().join("k1.pem");
    let out = common::verigate(
        &["keygen", "--alg", "ed25519", "--out", key.to_str().unwrap()],
        &[],
    );
    assert!(out.status.success());
    let s = Stack::with(|p| {
        v2_session_cfg(p, &[SECRET_A]).signing(common::Signing::ed25519(keys.path(), &["k1"], "k1"))
    })
    .await;
    let (pair, id) = login_v2(&s, &adult(), "/adult/x").await;
    let v2 = "x-verified-identity-verification-id";
    // The gate forwards the V2 id in the imp-uid place, and the JWT names the provider.
    let resp = get_with(&s, "/adult/x", &pair).await;
    assert_eq!(resp.status(), 200);
    let app = s.last();
    assert_eq!(app.header(v2), Some(id.as_str()));
    assert_eq!(app.header("x-verified-imp-uid"), None);
    let claims = jwt_claims(app.header("x-verified-assertion").expect("a JWT"));
    assert_eq!(
        (&claims["provider"], &claims["sub"]),
        (&"portone".into(), &id.clone().into())
    );
    // Forward-auth answers the same headers (the edge copies them to the app).
    for endpoint in ["auth", "forward-auth"] {
        let resp = get_with(&s, &format!("/.verigate/{endpoint}?gate=adult-area"), &pair).await;
        assert_eq!(resp.status(), 200, "{endpoint}");
        let h = resp.headers();
        assert_eq!(h["x-verified-verdict"], "allow", "{endpoint}");
        assert_eq!(h[v2], id.as_str(), "{endpoint}");
        assert!(h.get("x-verified-imp-uid").is_none(), "{endpoint}: {h:?}");
        let claims = jwt_claims(h["x-verified-assertion"].to_str().unwrap());
        assert_eq!(claims["provider"], "portone", "{endpoint}");
        assert_eq!(claims["sub"], id.as_str(), "{endpoint}");
    }
    s.assert_output_is_clean();
}
