//! The sandbox's browser-SDK stand-ins in a real browser (headless Chromium over WebDriver): a
//! small merchant page, served by the test on its own origin, loads `iamport.js` or
//! `browser-sdk.js` from the sandbox and starts a verification from a click; the test clicks
//! through the sandbox's page in the popup or, in redirect mode, in the same window, then checks
//! the result the SDK handed back and the record the API now serves.

mod common;

use std::net::SocketAddr;

use axum::extract::{Path, State};
use axum::response::Html;
use common::webdriver::{Browser, keep_screenshot};
use serde_json::{Value, json};
use verigate::sandbox::{
    Sandbox, SandboxOptions, SandboxRecord, TEST_IMP_KEY, TEST_IMP_SECRET, TEST_PORTONE_SECRET,
};

/// One browser at a time: Chromium is heavy for a shared two-core machine.
static ONE_BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// What the merchant page's `#start` button calls; `done(result)` records the SDK's answer.
fn start_call(kind: &str) -> &'static str {
    match kind {
        "v1-popup" => {
            r#"IMP.init("imp00000000"); IMP.certification({merchant_uid: "mid_popup_1", popup: true}, done);"#
        }
        "v1-redirect" => {
            r#"IMP.init("imp00000000"); IMP.certification({merchant_uid: "mid redirect 1", popup: false, m_redirect_url: "/landing?from=v1"}, done);"#
        }
        "v2-popup" => {
            r#"PortOne.requestIdentityVerification({storeId: "store-test", identityVerificationId: "ivPopup1", channelKey: "channel-key-test", windowType: {pc: "POPUP"}}).then(done);"#
        }
        _ => {
            r#"PortOne.requestIdentityVerification({storeId: "store-test", identityVerificationId: "ivRedirect1", windowType: {pc: "REDIRECTION"}, redirectUrl: location.origin + "/landing"}).then(done);"#
        }
    }
}

async fn merchant_page(
    State(sandbox): State<SocketAddr>,
    Path(kind): Path<String>,
) -> Html<String> {
    let script = if kind.starts_with("v1") {
        "iamport.js"
    } else {
        "browser-sdk.js"
    };
    Html(format!(
        r#"<!doctype html><html><head><meta charset="utf-8">
<script src="http://{sandbox}/__sandbox/sdk/{script}"></script></head>
<body><button id="start">본인인증</button><pre id="result"></pre>
<script>
window.__result = null;
function done(r) {{ window.__result = r; document.getElementById("result").textContent = JSON.stringify(r); }}
document.getElementById("start").addEventListener("click", function () {{ {call} }});
</script></body></html>"#,
        call = start_call(&kind)
    ))
}

/// A sandbox with one stored adult, the merchant site, and a browser.
struct Scene {
    sandbox: Sandbox,
    sandbox_base: String,
    site: String,
    browser: Browser,
    http: reqwest::Client,
}

impl Scene {
    async fn start() -> Scene {
        let sandbox = Sandbox::new(SandboxOptions::default());
        sandbox.insert(SandboxRecord::person("홍길동", "1980-01-01"));
        sandbox.insert(SandboxRecord::person("김영희", "2015-06-01"));
        let sandbox_addr = sandbox
            .spawn(([127, 0, 0, 1], 0).into())
            .await
            .expect("sandbox");
        let app = axum::Router::new()
            .route("/page/{kind}", axum::routing::get(merchant_page))
            .route(
                "/landing",
                axum::routing::get(|| async { Html("<!doctype html><p id=landed>landed</p>") }),
            )
            .with_state(sandbox_addr);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let site = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Scene {
            sandbox,
            sandbox_base: format!("http://{sandbox_addr}"),
            site,
            browser: Browser::start().await,
            http: reqwest::Client::new(),
        }
    }

    /// Opens the merchant page `kind` and clicks its button.
    async fn begin(&self, kind: &str) -> String {
        self.browser
            .goto(&format!("{}/page/{kind}", self.site))
            .await;
        let main = self.browser.window().await;
        self.browser.click("#start").await;
        main
    }

    /// Clicks the stored person's button on the sandbox page.
    async fn pick(&self, name: &str) {
        let b = &self.browser;
        let id = b
            .wait_for("the stored person's button", || async {
                let script = "const b = [...document.querySelectorAll('button[id^=person-]')]
                    .find(b => b.dataset.name === arguments[0]); return b ? b.id : null;";
                b.execute(script, json!([name]))
                    .await
                    .as_str()
                    .map(str::to_owned)
            })
            .await;
        b.click(&format!("#{id}")).await;
    }

    /// Fills the new-person form and clicks `#create`.
    async fn create(&self, name: &str, birthday: &str) {
        self.browser.create_person(name, birthday).await;
    }

    /// Back on the merchant page `main`, what the SDK handed to `done`.
    async fn result(&self, main: &str) -> Value {
        let b = &self.browser;
        b.switch_to(main).await;
        b.wait_for("the SDK's result", || async {
            Some(b.execute("return window.__result", json!([])).await).filter(|v| !v.is_null())
        })
        .await
    }

    /// The query of the landing page the redirect mode ends on.
    async fn landing_query(&self) -> Vec<(String, String)> {
        let b = &self.browser;
        let prefix = format!("{}/landing", self.site);
        let url = b
            .wait_for("the redirect to the landing page", || async {
                Some(b.url().await).filter(|u| u.starts_with(&prefix))
            })
            .await;
        let query = url.split_once('?').map_or("", |(_, q)| q);
        form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect()
    }

    /// The V1 API's record for `imp_uid` (over HTTP, with a token).
    async fn v1_record(&self, imp_uid: &str) -> Value {
        let token: Value = self
            .http
            .post(format!("{}/users/getToken", self.sandbox_base))
            .json(&json!({"imp_key": TEST_IMP_KEY, "imp_secret": TEST_IMP_SECRET}))
            .send()
            .await
            .expect("getToken")
            .json()
            .await
            .expect("json");
        let token = token["response"]["access_token"].as_str().expect("token");
        let body: Value = self
            .http
            .get(format!("{}/certifications/{imp_uid}", self.sandbox_base))
            .header("Authorization", token)
            .send()
            .await
            .expect("certification")
            .json()
            .await
            .expect("json");
        body["response"].clone()
    }

    /// The V2 API's record for `id` (over HTTP, with the API secret).
    async fn v2_record(&self, id: &str) -> Value {
        let resp = self
            .http
            .get(format!("{}/identity-verifications/{id}", self.sandbox_base))
            .header("Authorization", format!("PortOne {TEST_PORTONE_SECRET}"))
            .send()
            .await
            .expect("identity verification");
        assert_eq!(resp.status(), 200);
        resp.json().await.expect("json")
    }
}

fn param<'a>(query: &'a [(String, String)], key: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn v1_popup_picks_a_stored_person_and_calls_back_with_a_real_certification() {
    let _one = ONE_BROWSER.lock().await;
    let s = Scene::start().await;
    let main = s.begin("v1-popup").await;
    s.browser.switch_to_new_window(&main).await;
    s.pick("홍길동").await;
    let rsp = s.result(&main).await;
    assert_eq!(rsp["success"], true, "{rsp}");
    assert_eq!(rsp["merchant_uid"], "mid_popup_1");
    assert!(
        rsp["error_code"].is_null() && rsp["error_msg"].is_null(),
        "{rsp}"
    );
    let imp_uid = rsp["imp_uid"].as_str().expect("imp_uid");
    let rec = s.v1_record(imp_uid).await;
    assert_eq!(rec["certified"], true);
    assert_eq!(rec["name"], "홍길동");
    assert_eq!(rec["birthday"], "1980-01-01");
    assert_eq!(rec["merchant_uid"], "mid_popup_1");
    assert_eq!(rec["origin"], s.site.as_str());
    // The opener closed the popup once it had the result.
    s.browser
        .wait_for("the popup closed", || async {
            (s.browser.windows().await.len() == 1).then_some(())
        })
        .await;
}

#[tokio::test]
async fn v1_popup_cancel_calls_back_with_a_failure_and_an_uncertified_record() {
    let _one = ONE_BROWSER.lock().await;
    let s = Scene::start().await;
    let main = s.begin("v1-popup").await;
    s.browser.switch_to_new_window(&main).await;
    let png = s.browser.screenshot().await;
    keep_screenshot("sandbox-page.png", &png);
    s.browser.click("#cancel").await;
    let rsp = s.result(&main).await;
    assert_eq!(rsp["success"], false, "{rsp}");
    assert_eq!(rsp["error_code"], "F0000");
    assert!(rsp["error_msg"].is_string());
    assert_eq!(rsp["merchant_uid"], "mid_popup_1");
    let rec = s.v1_record(rsp["imp_uid"].as_str().expect("imp_uid")).await;
    assert_eq!(rec["certified"], false);
    assert_eq!(rec["merchant_uid"], "mid_popup_1");
}

#[tokio::test]
async fn v1_redirect_creates_a_person_and_lands_on_m_redirect_url_with_the_result() {
    let _one = ONE_BROWSER.lock().await;
    let s = Scene::start().await;
    s.begin("v1-redirect").await;
    s.create("이몽룡", "1985-02-02").await;
    let q = s.landing_query().await;
    assert_eq!(
        param(&q, "from"),
        Some("v1"),
        "the page's own query is kept: {q:?}"
    );
    assert_eq!(param(&q, "success"), Some("true"), "{q:?}");
    assert_eq!(param(&q, "merchant_uid"), Some("mid redirect 1"));
    assert_eq!(param(&q, "error_code"), None);
    let rec = s.v1_record(param(&q, "imp_uid").expect("imp_uid")).await;
    assert_eq!(rec["certified"], true);
    assert_eq!(rec["name"], "이몽룡");
    assert_eq!(rec["birthday"], "1985-02-02");
    assert_eq!(rec["merchant_uid"], "mid redirect 1");
}

#[tokio::test]
async fn v2_popup_resolves_with_the_given_id_and_the_record_is_verified() {
    let _one = ONE_BROWSER.lock().await;
    let s = Scene::start().await;
    let main = s.begin("v2-popup").await;
    s.browser.switch_to_new_window(&main).await;
    s.pick("김영희").await;
    let rsp = s.result(&main).await;
    assert_eq!(rsp["transactionType"], "IDENTITY_VERIFICATION", "{rsp}");
    assert_eq!(rsp["identityVerificationId"], "ivPopup1");
    assert!(
        rsp["identityVerificationTxId"]
            .as_str()
            .is_some_and(|t| !t.is_empty())
    );
    assert!(rsp.get("code").is_none(), "success has no code: {rsp}");
    let rec = s.v2_record("ivPopup1").await;
    assert_eq!(rec["status"], "VERIFIED");
    assert_eq!(rec["verifiedCustomer"]["name"], "김영희");
    assert_eq!(rec["verifiedCustomer"]["birthDate"], "2015-06-01");
    assert_eq!(rec["channel"]["key"], "channel-key-test");
    assert_eq!(s.sandbox.stats().identity_verification_requests, 1);
}

#[tokio::test]
async fn v2_redirect_creates_a_person_then_a_second_attempt_cannot_verify_the_id_again() {
    let _one = ONE_BROWSER.lock().await;
    let s = Scene::start().await;
    s.begin("v2-redirect").await;
    s.create("성춘향", "2001-04-05").await;
    let q = s.landing_query().await;
    assert_eq!(param(&q, "transactionType"), Some("IDENTITY_VERIFICATION"));
    assert_eq!(param(&q, "identityVerificationId"), Some("ivRedirect1"));
    assert!(param(&q, "identityVerificationTxId").is_some());
    assert_eq!(param(&q, "code"), None, "{q:?}");
    let rec = s.v2_record("ivRedirect1").await;
    assert_eq!(rec["status"], "VERIFIED");
    assert_eq!(rec["verifiedCustomer"]["name"], "성춘향");

    // Same id again, cancelled: a failure with a code, and the verified record stays.
    s.begin("v2-redirect").await;
    s.browser.click("#cancel").await;
    let q = s.landing_query().await;
    assert_eq!(param(&q, "identityVerificationId"), Some("ivRedirect1"));
    assert_eq!(
        param(&q, "code"),
        Some("IdentityVerificationAlreadyVerified"),
        "{q:?}"
    );
    assert!(param(&q, "message").is_some());
    assert_eq!(s.v2_record("ivRedirect1").await["status"], "VERIFIED");
}
