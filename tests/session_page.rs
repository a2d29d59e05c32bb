//! verigate's verification page in a real browser (headless Chromium over WebDriver), with the
//! sandbox's SDK stand-ins and the page's own Content-Security-Policy: the test serves the
//! rendered page and a recording callback on its own origin, clicks through the stand-in in
//! popup and redirect mode, V1 and V2, and checks that the callback received the minted id
//! (and, in popup mode, that the browser followed the form post to `rd`); a cancel shows the
//! failure and the retry button, which starts a fresh visit.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Form, Query, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use common::webdriver::{Browser, keep_screenshot};
use serde_json::json;
use verigate::sandbox::{Sandbox, SandboxOptions, SandboxRecord};
use verigate::session::page::{CspNonce, PageInput, PageSettings, SdkUrl, WindowMode, render};
use verigate::session::redirect::rd_from_query;
use verigate::session::{Origin, Provider, State as Visit};

/// One browser at a time: Chromium is heavy for a shared two-core machine.
static ONE_BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// What the test's stand-in for verigate saw.
#[derive(Default)]
struct Seen {
    visits: Vec<Visit>,
    /// (method, fields) of each callback.
    callbacks: Vec<(&'static str, HashMap<String, String>)>,
}

struct App {
    settings: PageSettings,
    origin: Origin,
    seen: Mutex<Seen>,
}

type Shared = Arc<App>;

async fn verify_page(State(app): State<Shared>, RawQuery(q): RawQuery) -> Response {
    let rd = rd_from_query(q.as_deref());
    let visit = app
        .settings
        .mint_state(&rd, jiff::Timestamp::now())
        .expect("state");
    let nonce = CspNonce::fresh().expect("nonce");
    let input = PageInput {
        state: &visit,
        origin: &app.origin,
        nonce: &nonce,
    };
    let page = render(&app.settings, &input);
    app.seen.lock().unwrap().visits.push(visit);
    (
        [
            (header::CONTENT_SECURITY_POLICY, page.csp),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        Html(page.html),
    )
        .into_response()
}

/// Records the result and sends the browser to the last visit's `rd`, as the callback does.
fn callback(app: &App, method: &'static str, fields: HashMap<String, String>) -> Response {
    let mut seen = app.seen.lock().unwrap();
    seen.callbacks.push((method, fields));
    let rd = seen.visits.last().map_or("/".to_owned(), |v| v.rd.clone());
    (StatusCode::SEE_OTHER, [(header::LOCATION, rd)]).into_response()
}

async fn callback_post(
    State(app): State<Shared>,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    callback(&app, "POST", f)
}

async fn callback_get(
    State(app): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    callback(&app, "GET", q)
}

struct Scene {
    _sandbox: Sandbox,
    app: Shared,
    site: String,
    browser: Browser,
}

impl Scene {
    async fn start(provider: Provider, window: WindowMode) -> Scene {
        let sandbox = Sandbox::new(SandboxOptions::default());
        sandbox.insert(SandboxRecord::person("홍길동", "1980-01-01"));
        let sandbox_addr = sandbox
            .spawn(([127, 0, 0, 1], 0).into())
            .await
            .expect("sandbox");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let script = match provider {
            Provider::IamportV1 => "iamport.js",
            Provider::PortOneV2 => "browser-sdk.js",
        };
        let mut settings = PageSettings::new(provider);
        settings.imp_code = "imp00000000".into();
        settings.store_id = "store-test".into();
        settings.window = window;
        settings.sdk_url = Some(
            SdkUrl::parse(&format!("http://{sandbox_addr}/__sandbox/sdk/{script}")).expect("url"),
        );
        let app = Arc::new(App {
            settings,
            origin: Origin::from_request("http", &addr.to_string()).expect("origin"),
            seen: Mutex::default(),
        });
        let router = axum::Router::new()
            .route("/.verigate/verify", axum::routing::get(verify_page))
            .route(
                "/.verigate/callback",
                axum::routing::post(callback_post).get(callback_get),
            )
            .route(
                "/adult/x",
                axum::routing::get(|| async { Html("<!doctype html><p id=landed>landed</p>") }),
            )
            .with_state(app.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Scene {
            _sandbox: sandbox,
            app,
            site: format!("http://{addr}"),
            browser: Browser::start().await,
        }
    }

    /// Opens the verification page for `/adult/x?y=1` and clicks its button.
    async fn begin(&self) -> String {
        let rd = "%2Fadult%2Fx%3Fy%3D1";
        self.browser
            .goto(&format!("{}/.verigate/verify?rd={rd}", self.site))
            .await;
        let main = self.browser.window().await;
        self.browser.click("#start").await;
        main
    }

    async fn pick_the_stored_adult(&self) {
        let b = &self.browser;
        let id = b
            .wait_for("the stored person's button", || async {
                let script = "const b = document.querySelector('button[id^=person-]');
                              return b ? b.id : null;";
                b.execute(script, json!([]))
                    .await
                    .as_str()
                    .map(str::to_owned)
            })
            .await;
        b.click(&format!("#{id}")).await;
    }

    /// Waits for the browser to land on `rd`, then returns the one callback and the visit.
    async fn landed(&self, main: &str) -> ((&'static str, HashMap<String, String>), Visit) {
        let b = &self.browser;
        b.switch_to(main).await;
        let target = format!("{}/adult/x?y=1", self.site);
        b.wait_for("the landing on rd", || async {
            (b.url().await == target).then_some(())
        })
        .await;
        let seen = self.app.seen.lock().unwrap();
        assert_eq!(seen.callbacks.len(), 1, "one callback");
        assert_eq!(seen.visits.len(), 1, "one visit");
        (seen.callbacks[0].clone(), seen.visits[0].clone())
    }
}

fn field<'a>(f: &'a HashMap<String, String>, k: &str) -> Option<&'a str> {
    f.get(k).map(String::as_str)
}

#[tokio::test]
async fn v1_popup_posts_the_minted_merchant_uid_and_the_browser_follows_to_rd() {
    let _one = ONE_BROWSER.lock().await;
    let s = Scene::start(Provider::IamportV1, WindowMode::Auto).await;
    let main = s.begin().await;
    s.browser.switch_to_new_window(&main).await;
    s.pick_the_stored_adult().await;
    let ((method, f), visit) = s.landed(&main).await;
    assert_eq!(method, "POST");
    assert_eq!(field(&f, "merchant_uid"), Some(visit.page_id().as_ref()));
    assert!(visit.binds(field(&f, "merchant_uid").unwrap()));
    assert!(
        field(&f, "imp_uid").is_some_and(|u| u.starts_with("imp_")),
        "{f:?}"
    );
}

#[tokio::test]
async fn v1_redirect_mode_returns_to_the_absolute_callback_url() {
    let _one = ONE_BROWSER.lock().await;
    let s = Scene::start(Provider::IamportV1, WindowMode::Redirect).await;
    let main = s.begin().await;
    s.pick_the_stored_adult().await;
    let ((method, f), visit) = s.landed(&main).await;
    assert_eq!(method, "GET");
    assert_eq!(field(&f, "success"), Some("true"), "{f:?}");
    assert_eq!(field(&f, "merchant_uid"), Some(visit.page_id().as_ref()));
    assert!(field(&f, "imp_uid").is_some());
}

#[tokio::test]
async fn v2_popup_posts_the_letters_and_digits_id() {
    let _one = ONE_BROWSER.lock().await;
    let s = Scene::start(Provider::PortOneV2, WindowMode::Auto).await;
    let main = s.begin().await;
    s.browser.switch_to_new_window(&main).await;
    s.pick_the_stored_adult().await;
    let ((method, f), visit) = s.landed(&main).await;
    assert_eq!(method, "POST");
    let id = field(&f, "identityVerificationId").expect("id");
    assert!(visit.binds(id), "{id}");
    assert!(id.len() <= 40 && id.bytes().all(|b| b.is_ascii_alphanumeric()));
}

#[tokio::test]
async fn v2_redirect_mode_returns_to_the_absolute_callback_url() {
    let _one = ONE_BROWSER.lock().await;
    let s = Scene::start(Provider::PortOneV2, WindowMode::Redirect).await;
    let main = s.begin().await;
    s.pick_the_stored_adult().await;
    let ((method, f), visit) = s.landed(&main).await;
    assert_eq!(method, "GET");
    assert!(visit.binds(field(&f, "identityVerificationId").expect("id")));
    assert_eq!(field(&f, "code"), None, "{f:?}");
}

#[tokio::test]
async fn a_cancel_shows_the_failure_and_retry_starts_a_fresh_visit() {
    let _one = ONE_BROWSER.lock().await;
    let s = Scene::start(Provider::IamportV1, WindowMode::Auto).await;
    let b = &s.browser;
    let main = s.begin().await;
    b.switch_to_new_window(&main).await;
    b.click("#cancel").await;
    b.switch_to(&main).await;
    let shown = b
        .wait_for("the failure", || async {
            let script = "const f = document.getElementById('failure');
                return f.hidden ? null : [document.getElementById('failure-text').textContent,
                    document.getElementById('failure-detail').textContent,
                    document.getElementById('start').hidden,
                    document.getElementById('retry').getAttribute('href')];";
            Some(b.execute(script, json!([])).await).filter(|v| !v.is_null())
        })
        .await;
    assert_eq!(
        shown[0],
        "본인인증이 완료되지 않았습니다. 다시 시도해 주세요."
    );
    assert!(shown[1].as_str().is_some_and(|d| !d.is_empty()), "{shown}");
    assert_eq!(shown[2], true, "the start button gives way to retry");
    assert_eq!(shown[3], "/.verigate/verify?rd=%2Fadult%2Fx%3Fy%3D1");
    keep_screenshot("verify-page-failure.png", &b.screenshot().await);
    assert!(
        s.app.seen.lock().unwrap().callbacks.is_empty(),
        "a cancel calls nothing back"
    );
    b.click("#retry").await;
    b.wait_for("a second visit", || async {
        (s.app.seen.lock().unwrap().visits.len() == 2).then_some(())
    })
    .await;
    let seen = s.app.seen.lock().unwrap();
    assert_ne!(seen.visits[0].id, seen.visits[1].id, "a fresh id");
    assert_eq!(seen.visits[1].rd, "/adult/x?y=1");
}

#[tokio::test]
async fn the_page_has_its_title_and_a_large_tap_target() {
    let _one = ONE_BROWSER.lock().await;
    let s = Scene::start(Provider::IamportV1, WindowMode::Auto).await;
    let b = &s.browser;
    b.goto(&format!("{}/.verigate/verify?rd=%2Fadult", s.site))
        .await;
    let button = b
        .execute(
            "const r = document.getElementById('start').getBoundingClientRect();
             return [r.width, r.height, document.title,
                     getComputedStyle(document.getElementById('start')).fontSize];",
            json!([]),
        )
        .await;
    assert_eq!(button[2], "성인 인증");
    assert!(
        button[1].as_f64().unwrap() >= 48.0,
        "a large tap target: {button}"
    );
    keep_screenshot("verify-page.png", &b.screenshot().await);
}
