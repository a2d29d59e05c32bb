//! The verification page: the SDK calls of V1 and V2 with the minted id and the absolute
//! callback URL, the window modes, the CSP and its nonce, the checked SDK URL, and escaping of
//! every value for its context (a `</script>` in a title, quotes, U+2028 in a channel key).

use jiff::Timestamp;
use serde_json::Value;

use crate::session::page::*;
use crate::session::{Origin, Provider, State};

const NOW: i64 = 1_780_000_000;

fn now() -> Timestamp {
    Timestamp::from_second(NOW).unwrap()
}

fn origin() -> Origin {
    Origin::parse_public_url("https://shop.example").unwrap()
}

fn nonce() -> CspNonce {
    CspNonce::from_bytes([9; 16])
}

fn v1() -> PageSettings {
    let mut s = PageSettings::new(Provider::IamportV1);
    s.imp_code = "imp12345678".into();
    s
}

fn v2() -> PageSettings {
    let mut s = PageSettings::new(Provider::PortOneV2);
    s.store_id = "store-4c1f0b5e-0000-4000-8000-000000000000".into();
    s.channel_key = "channel-key-9f1a".into();
    s
}

fn state(provider: Provider, rd: &str) -> State {
    State::with_nonce(provider, [7; 16], rd, now())
}

fn render_for(settings: &PageSettings, state: &State) -> Page {
    render(
        settings,
        &PageInput {
            state,
            origin: &origin(),
            nonce: &nonce(),
        },
    )
}

/// The object the page's script hands the SDK (`var VG = {…};`), parsed back.
fn config(page: &Page) -> Value {
    let line = page
        .html
        .lines()
        .find_map(|l| l.trim().strip_prefix("var VG = "))
        .expect("the page declares its config");
    serde_json::from_str(line.strip_suffix(';').unwrap()).unwrap()
}

#[test]
fn a_v1_page_initialises_imp_and_certifies_with_the_minted_merchant_uid() {
    let st = state(Provider::IamportV1, "/adult/x?y=1");
    let page = render_for(&v1(), &st);
    let c = config(&page);
    assert_eq!(c["sdk"], "v1");
    assert_eq!(c["impCode"], "imp12345678");
    assert_eq!(c["params"]["merchant_uid"], st.id.as_str());
    assert_eq!(
        c["params"]["m_redirect_url"],
        "https://shop.example/.verigate/callback"
    );
    // PortOne's default window (a popup on a PC, redirect on a phone); no channel key set.
    assert!(c["params"].get("popup").is_none() && c["params"].get("channelKey").is_none());
    for call in [
        "IMP.init(VG.impCode)",
        "IMP.certification(VG.params, function (rsp)",
        "rsp.success",
        "submit({ imp_uid: rsp.imp_uid, merchant_uid:",
    ] {
        assert!(page.html.contains(call), "{call}");
    }
    assert!(page.html.contains(&format!(
        "<script nonce=\"{}\" src=\"{IAMPORT_SDK_URL}\"></script>",
        nonce().as_str()
    )));
    assert!(
        page.html
            .contains("<form id=\"result\" method=\"post\" action=\"/.verigate/callback\" hidden>")
    );
}

#[test]
fn a_v2_page_requests_an_identity_verification_and_reads_code_as_failure() {
    let st = state(Provider::PortOneV2, "/adult");
    let page = render_for(&v2(), &st);
    let c = config(&page);
    assert_eq!(c["sdk"], "v2");
    let p = &c["params"];
    assert_eq!(p["storeId"], "store-4c1f0b5e-0000-4000-8000-000000000000");
    assert_eq!(p["channelKey"], "channel-key-9f1a");
    assert_eq!(p["redirectUrl"], "https://shop.example/.verigate/callback");
    let id = p["identityVerificationId"].as_str().unwrap();
    assert_eq!(id, st.page_id());
    assert!(
        id.len() <= 40 && id.bytes().all(|b| b.is_ascii_alphanumeric()),
        "{id}"
    );
    assert!(p.get("windowType").is_none());
    for call in [
        "PortOne.requestIdentityVerification(VG.params).then(function (r)",
        "r.code != null",
        "submit({ identityVerificationId:",
    ] {
        assert!(page.html.contains(call), "{call}");
    }
    assert!(page.html.contains(&format!("src=\"{PORTONE_SDK_URL}\"")));
}

#[test]
fn the_window_mode_is_v1_popup_and_v2_window_type() {
    let st1 = state(Provider::IamportV1, "/");
    let st2 = state(Provider::PortOneV2, "/");
    for (mode, popup, window) in [
        (WindowMode::Popup, true, "POPUP"),
        (WindowMode::Redirect, false, "REDIRECTION"),
    ] {
        let mut s1 = v1();
        s1.window = mode;
        assert_eq!(config(&render_for(&s1, &st1))["params"]["popup"], popup);
        let mut s2 = v2();
        s2.window = mode;
        let c = config(&render_for(&s2, &st2));
        assert_eq!(c["params"]["windowType"]["pc"], window);
        assert_eq!(c["params"]["windowType"]["mobile"], window);
    }
}

#[test]
fn the_page_is_korean_fits_a_phone_and_fills_every_placeholder() {
    let st = state(Provider::IamportV1, "/adult");
    let page = render_for(&v1(), &st);
    let h = &page.html;
    assert!(h.starts_with("<!doctype html>\n<html lang=\"ko\">"));
    assert!(h.contains("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"));
    assert!(
        h.contains("<title>성인 인증</title>") && h.contains("<h1 id=\"title\">성인 인증</h1>")
    );
    assert!(h.contains(">휴대폰 본인인증</button>"));
    assert!(h.contains("본인인증이 완료되지 않았습니다."));
    // The retry button loads the page again for the same target: a fresh state and id.
    assert!(h.contains(
        "<a class=\"button\" id=\"retry\" href=\"/.verigate/verify?rd=%2Fadult\">다시 시도</a>"
    ));
    assert!(
        !h.contains("{{") && !h.contains("}}"),
        "a placeholder is left"
    );
    assert!(
        !h.contains("<link") && !h.contains("stylesheet"),
        "no external CSS"
    );
}

#[test]
fn the_csp_allows_scripts_by_nonce_and_from_the_sdk_origin_only() {
    let st = state(Provider::IamportV1, "/");
    let page = render_for(&v1(), &st);
    let n = nonce();
    assert_eq!(
        page.csp,
        format!(
            "script-src 'nonce-{}' 'strict-dynamic' https://cdn.iamport.kr; object-src 'none'; \
             base-uri 'none'; frame-ancestors 'none'",
            n.as_str()
        )
    );
    assert_eq!(
        page.html
            .matches(&format!("<script nonce=\"{}\"", n.as_str()))
            .count(),
        2
    );
    assert_eq!(
        page.html.matches("<script").count(),
        2,
        "every script carries the nonce"
    );
    let st2 = state(Provider::PortOneV2, "/");
    assert!(
        render_for(&v2(), &st2)
            .csp
            .contains(" https://cdn.portone.io;")
    );
    // The sandbox's stand-in: its origin is the one allowed.
    let mut s = v1();
    s.sdk_url = Some(SdkUrl::parse("http://127.0.0.1:8089/__sandbox/sdk/iamport.js").unwrap());
    let page = render_for(&s, &st);
    assert!(
        page.csp.contains("'strict-dynamic' http://127.0.0.1:8089;"),
        "{}",
        page.csp
    );
    assert!(
        page.html
            .contains("src=\"http://127.0.0.1:8089/__sandbox/sdk/iamport.js\"")
    );
    // Nonces are fresh per response.
    let (a, b) = (CspNonce::fresh().unwrap(), CspNonce::fresh().unwrap());
    assert_ne!(a, b);
    assert_eq!(a.as_str().len(), 24);
}

#[test]
fn only_plain_http_urls_are_sdk_urls() {
    for good in [
        "https://cdn.iamport.kr/v1/iamport.js",
        "https://CDN.example:8443/sdk.js?v=2",
        "http://[::1]:8089/__sandbox/sdk/browser-sdk.js",
    ] {
        assert!(SdkUrl::parse(good).is_ok(), "{good}");
    }
    assert_eq!(
        SdkUrl::parse("https://CDN.example:8443/sdk.js")
            .unwrap()
            .origin()
            .as_str(),
        "https://cdn.example:8443"
    );
    for bad in [
        "",
        "javascript:alert(1)",
        "//cdn.example/sdk.js",
        "ftp://cdn.example/sdk.js",
        "https://cdn.example",
        "https://cdn.example/a b.js",
        "https://cdn.example/\"onload=\"x",
        "https://cdn.example/'x",
        "https://cdn.example/<x>",
        "https://cdn.example;script-src */x.js",
        "https://user@cdn.example/x.js",
        "https://cdn.example:99999/x.js",
        "https://cdn.example/x\\y.js",
    ] {
        assert_eq!(SdkUrl::parse(bad), Err(SdkUrlError), "{bad}");
    }
}

#[test]
fn every_value_is_escaped_for_its_context() {
    let evil = "</script><script>alert(1)</script><!-- \"quoted\" 'single' & \u{2028}\u{2029}";
    let mut s = v1();
    s.title = evil.into();
    s.intro = evil.into();
    s.button = evil.into();
    s.failure = evil.into();
    s.retry = evil.into();
    s.imp_code = evil.into();
    s.channel_key = evil.into();
    // A state whose rd was forged past its checks still cannot break out of the attribute.
    let mut st = state(Provider::IamportV1, "/");
    st.rd = "/x?a=</script>\"'&".into();
    let page = render_for(&s, &st);
    let h = &page.html;
    // Only the page's own two scripts close; no value opens a comment or a tag.
    assert_eq!(h.matches("</script>").count(), 2);
    assert_eq!(h.matches("<script").count(), 2);
    assert!(!h.contains("<!--"));
    let text = "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;!-- &quot;quoted&quot; &#39;single&#39; &amp;";
    assert!(h.contains(&format!("<title>{text}")), "title");
    assert!(h.contains(&format!("<h1 id=\"title\">{text}")), "heading");
    assert!(h.contains(&format!("<p id=\"intro\">{text}")), "intro");
    // The JavaScript config holds the exact values, read back through JSON.
    let c = config(&page);
    assert_eq!(c["impCode"], evil);
    assert_eq!(c["params"]["channelKey"], evil);
    let line = h.lines().find(|l| l.contains("var VG = ")).unwrap();
    assert!(line.contains("\\u003c/script\\u003e") && line.contains("\\u2028\\u2029"));
    assert!(!line.contains(['<', '>', '&', '\u{2028}', '\u{2029}']));
    assert!(h.contains("href=\"/.verigate/verify?rd=%2Fx%3Fa%3D%3C%2Fscript%3E%22%27%26\""));
    // An rd as the page receives it: a `</script>` is percent-encoded, a U+2028 (whitespace)
    // makes it no local target at all.
    assert_eq!(
        state(Provider::IamportV1, "/x?a=</script>").rd,
        "/x?a=%3C/script%3E"
    );
    assert_eq!(state(Provider::IamportV1, "/x?a=\u{2028}").rd, "/");
    let page = render_for(&v1(), &state(Provider::IamportV1, "/x?a=</script>\"'"));
    assert!(
        page.html
            .contains("rd=%2Fx%3Fa%3D%253C%2Fscript%253E%2522%27\"")
    );
    assert_eq!(page.html.matches("</script>").count(), 2);
}

#[test]
fn a_v2_state_binds_only_its_letters_and_digits_id() {
    let st = state(Provider::PortOneV2, "/");
    let id = st.page_id();
    assert_eq!(id, format!("vg{}", "07".repeat(16)));
    assert!(st.binds(&id));
    // The V1 spelling of the same nonce is not what the page handed the SDK.
    assert!(!st.binds(st.id.as_str()) && !st.binds(""));
    let v1 = state(Provider::IamportV1, "/");
    assert_eq!(v1.page_id(), v1.id.as_str());
    let fresh = v2().mint_state("/adult", now()).unwrap();
    assert_eq!(fresh.provider, Provider::PortOneV2);
    assert_ne!(fresh.page_id(), id);
}
