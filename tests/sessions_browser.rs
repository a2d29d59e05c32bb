//! A gated visit in a real browser (headless Chromium over WebDriver): the gated URL sends the
//! browser to verigate's page, the sandbox's stand-in SDK verifies a person (popup or redirect
//! mode), and the browser lands back on the gated page, which the echo app answers with the
//! identity headers it received. A minor sees the Korean refusal; a cancel shows the retry.
//! The same round trip runs on PortOne V2 (`sdk = "portone"`, both providers configured), whose
//! page calls `PortOne.requestIdentityVerification` of the sandbox's `browser-sdk.js`.

mod common;

use common::Stack;
use common::sessions::{SECRET_A, session_cfg, v2_session_cfg};
use common::webdriver::{Browser, keep_screenshot};
use serde_json::{Value, json};

/// One browser at a time: Chromium is heavy for a shared two-core machine.
static ONE_BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn stack(window: &str) -> Stack {
    Stack::with(|p| {
        let mut cfg = session_cfg(p, &[SECRET_A]);
        cfg.session.as_mut().unwrap().page.window = Some(window.to_owned());
        cfg
    })
    .await
}

/// Both providers configured, the page on PortOne V2.
async fn stack_v2(window: &str) -> Stack {
    Stack::with(|p| {
        let mut cfg = v2_session_cfg(p, &[SECRET_A]);
        cfg.session.as_mut().unwrap().page.window = Some(window.to_owned());
        cfg
    })
    .await
}

/// Opens the gated URL, waits for verigate's page, clicks its button.
async fn start(b: &Browser, s: &Stack) -> String {
    b.goto(&format!("{}/adult/videos?page=2", s.base)).await;
    let url = b
        .wait_for("the verification page", || async {
            Some(b.url().await).filter(|u| u.contains("/.verigate/verify?rd="))
        })
        .await;
    assert!(url.ends_with("rd=%2Fadult%2Fvideos%3Fpage%3D2"), "{url}");
    let title = b.execute("return document.title", json!([])).await;
    assert_eq!(title, "성인 인증");
    let main = b.window().await;
    b.click("#start").await;
    main
}

/// Creates a person with `birthday` on the stand-in's page and verifies as them.
async fn verify_as(b: &Browser, name: &str, birthday: &str) {
    b.create_person(name, birthday).await;
}

/// The echo app's answer, once the browser shows the gated page.
async fn landed(b: &Browser, s: &Stack) -> Value {
    let want = format!("{}/adult/videos?page=2", s.base);
    b.wait_for("back on the gated page", || async {
        Some(b.url().await).filter(|u| *u == want)
    })
    .await;
    let text = b.execute("return document.body.innerText", json!([])).await;
    serde_json::from_str(text.as_str().unwrap()).unwrap_or(Value::Null)
}

/// What the app received under the gate (the browser also asks for `/favicon.ico`).
fn gated_seen(s: &Stack) -> Vec<verigate::echo::Received> {
    s.app_saw()
        .into_iter()
        .filter(|r| r.path.starts_with("/adult"))
        .collect()
}

fn assert_identity(echo: &Value, s: &Stack) {
    assert_eq!(echo["path"], "/adult/videos", "{echo}");
    let app = gated_seen(s).pop().expect("the app saw the gated page");
    assert_eq!(app.header("x-verified-verdict"), Some("allow"));
    assert_eq!(app.header("x-verified-policy"), Some("adult"));
    // The policy counts years (age_basis = "year"), in Seoul.
    let seoul = jiff::tz::TimeZone::get("Asia/Seoul").unwrap();
    let age = jiff::Timestamp::now().to_zoned(seoul).year() - 1990;
    assert_eq!(app.header("x-verified-age"), Some(age.to_string().as_str()));
    assert!(app.header("x-verified-name").is_some());
    let cookie = app.header("cookie").unwrap_or("");
    assert!(
        !cookie.contains("verigate"),
        "our cookies are stripped: {cookie}"
    );
    assert!(echo.to_string().contains("x-verified-verdict"), "{echo}");
}

#[tokio::test]
async fn popup_mode_an_adult_lands_on_the_gated_page_with_the_identity_headers() {
    let _one = ONE_BROWSER.lock().await;
    let s = stack("popup").await;
    let b = Browser::start().await;
    let main = start(&b, &s).await;
    keep_screenshot("verify-page.png", &b.screenshot().await);
    b.switch_to_new_window(&main).await;
    verify_as(&b, "홍길동", "1990-01-01").await;
    b.switch_to(&main).await;
    let echo = landed(&b, &s).await;
    assert_identity(&echo, &s);
    // The browser's view of the session cookie: HttpOnly, Lax, whole-site.
    let cookies = b.execute("return document.cookie", json!([])).await;
    assert!(
        !cookies.as_str().unwrap().contains("verigate"),
        "HttpOnly: {cookies}"
    );
}

#[tokio::test]
async fn redirect_mode_an_adult_lands_on_the_gated_page_with_the_identity_headers() {
    let _one = ONE_BROWSER.lock().await;
    let s = stack("redirect").await;
    let b = Browser::start().await;
    start(&b, &s).await;
    verify_as(&b, "성춘향", "1990-03-01").await;
    let echo = landed(&b, &s).await;
    assert_identity(&echo, &s);
}

#[tokio::test]
async fn a_minor_sees_the_korean_refusal_page() {
    let _one = ONE_BROWSER.lock().await;
    let s = stack("redirect").await;
    let b = Browser::start().await;
    start(&b, &s).await;
    verify_as(&b, "김영희", "2015-06-01").await;
    let want = format!("{}/adult/videos?page=2", s.base);
    b.wait_for("back on the gated URL", || async {
        Some(b.url().await).filter(|u| *u == want)
    })
    .await;
    let text = b.execute("return document.body.innerText", json!([])).await;
    let text = text.as_str().unwrap();
    assert!(text.contains("이용할 수 없는 페이지입니다"), "{text}");
    assert!(text.contains("age_requirement_not_met"), "{text}");
    keep_screenshot("refusal-page.png", &b.screenshot().await);
    assert!(gated_seen(&s).is_empty(), "the app never saw the minor");
}

#[tokio::test]
async fn a_cancel_shows_the_failure_and_the_retry_starts_over() {
    let _one = ONE_BROWSER.lock().await;
    let s = stack("popup").await;
    let b = Browser::start().await;
    let main = start(&b, &s).await;
    b.switch_to_new_window(&main).await;
    b.wait_for("the stand-in's cancel button", || async {
        b.execute("return !!document.getElementById('cancel')", json!([]))
            .await
            .as_bool()
            .filter(|ok| *ok)
    })
    .await;
    b.click("#cancel").await;
    b.switch_to(&main).await;
    b.wait_for("the failure and the retry button", || async {
        b.execute(
            "return !document.getElementById('failure').hidden && !!document.getElementById('retry')",
            json!([]),
        )
        .await
        .as_bool()
        .filter(|ok| *ok)
    })
    .await;
    keep_screenshot("verify-page-failure.png", &b.screenshot().await);
    let first = b.url().await;
    b.click("#retry").await;
    b.wait_for("the page again, with a fresh state", || async {
        let fresh = b
            .execute(
                "return document.getElementById('failure').hidden",
                json!([]),
            )
            .await
            .as_bool()
            == Some(true);
        (fresh && b.url().await.contains("/.verigate/verify?rd=")).then_some(())
    })
    .await;
    assert!(first.contains("rd=%2Fadult%2Fvideos%3Fpage%3D2"), "{first}");
    assert!(gated_seen(&s).is_empty());
}

/// The V2 id reached the app in the imp-uid place, and it is the id the stand-in verified.
fn assert_v2_id(echo: &Value, s: &Stack) {
    let app = gated_seen(s).pop().expect("the app saw the gated page");
    let id = app
        .header("x-verified-identity-verification-id")
        .expect("the V2 id header");
    assert!(
        id.starts_with("vg") && id.len() <= 40 && id.bytes().all(|b| b.is_ascii_alphanumeric()),
        "{id}"
    );
    assert_eq!(app.header("x-verified-imp-uid"), None);
    assert!(echo.to_string().contains(id), "the echo shows it: {echo}");
}

#[tokio::test]
async fn v2_popup_mode_an_adult_lands_on_the_gated_page_with_the_identity_headers() {
    let _one = ONE_BROWSER.lock().await;
    let s = stack_v2("popup").await;
    let b = Browser::start().await;
    let main = start(&b, &s).await;
    keep_screenshot("verify-page-v2.png", &b.screenshot().await);
    b.switch_to_new_window(&main).await;
    verify_as(&b, "홍길동", "1990-01-01").await;
    b.switch_to(&main).await;
    let echo = landed(&b, &s).await;
    assert_identity(&echo, &s);
    assert_v2_id(&echo, &s);
}

#[tokio::test]
async fn v2_redirect_mode_an_adult_lands_on_the_gated_page_with_the_identity_headers() {
    let _one = ONE_BROWSER.lock().await;
    let s = stack_v2("redirect").await;
    let b = Browser::start().await;
    start(&b, &s).await;
    verify_as(&b, "성춘향", "1990-03-01").await;
    let echo = landed(&b, &s).await;
    assert_identity(&echo, &s);
    assert_v2_id(&echo, &s);
}
