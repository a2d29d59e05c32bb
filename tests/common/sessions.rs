//! Verification sessions over HTTP: a configuration with a gate, and a visitor walking the
//! page → stand-in → callback round trip with a plain HTTP client (cookies handled by hand, so
//! every `Set-Cookie` can be checked).

use std::time::Duration;

use jiff::Timestamp;
use verigate::identity::Identity;
use verigate::imp_uid::ImpUid;
use verigate::sandbox::{SandboxIdentityVerification, SandboxRecord};
use verigate::seal::{Sealer, decode_secret};
use verigate::session::{CookieSettings, Provider, SameSite, Session, SessionCookies};

use super::{Cfg, Gate, Ports, Session as CfgSession, SessionPage, Stack};

/// Session secrets (base64 of 32 bytes each).
pub const SECRET_A: &str = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=";
pub const SECRET_B: &str = "CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=";
pub const SECRET_C: &str = "CwsLCwsLCwsLCwsLCwsLCwsLCwsLCwsLCwsLCwsLCws=";

/// The session cookie's name with the default `secure = true`.
pub const COOKIE: &str = "__Host-verigate";
pub const STATE_COOKIE: &str = "__Host-verigate_state";

/// The standard stack plus `[session]` sealed by `secrets`, the page on the sandbox's stand-in
/// SDK, and the gate `adult-area` over `/adult` (policy `adult`).
pub fn session_cfg(p: &Ports, secrets: &[&str]) -> Cfg {
    let mut cfg = Cfg::standard(p);
    cfg.session = Some(CfgSession {
        secrets: secrets.iter().map(|s| (*s).to_owned()).collect(),
        secure: None,
        ttl_secs: None,
        page: SessionPage {
            sdk: None,
            imp_code: "imp12345678".to_owned(),
            store_id: None,
            sdk_url: format!("http://{}/__sandbox/sdk/iamport.js", p.sandbox),
            window: None,
        },
    });
    cfg.gates.push(Gate {
        name: "adult-area".to_owned(),
        prefix: "/adult".to_owned(),
        policy: "adult".to_owned(),
    });
    cfg
}

/// The PortOne page's `storeId` in the tests.
pub const STORE_ID: &str = "store-4d3c2b1a-0000-4000-8000-000000000000";

/// As [`session_cfg`] with both providers configured ([`Cfg::both_providers`]) and the page on
/// PortOne V2 (`sdk = "portone"`, the sandbox's `browser-sdk.js`, [`STORE_ID`]).
pub fn v2_session_cfg(p: &Ports, secrets: &[&str]) -> Cfg {
    let mut cfg = session_cfg(p, secrets);
    let both = Cfg::both_providers(p);
    cfg.portone = both.portone;
    cfg.routes = both.routes;
    let page = &mut cfg.session.as_mut().expect("a session").page;
    page.sdk = Some("portone".to_owned());
    page.imp_code = String::new();
    page.store_id = Some(STORE_ID.to_owned());
    page.sdk_url = format!("http://{}/__sandbox/sdk/browser-sdk.js", p.sandbox);
    cfg
}

/// A client that never follows redirects and keeps no cookies.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// Every `Set-Cookie` of a response.
pub fn set_cookies(resp: &reqwest::Response) -> Vec<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

/// `name=value` of the `Set-Cookie` for `name` (value non-empty), if any.
pub fn cookie_pair(set: &[String], name: &str) -> Option<String> {
    set.iter()
        .map(|c| c.split(';').next().unwrap().to_owned())
        .find(|p| {
            p.split_once('=')
                .is_some_and(|(n, v)| n == name && !v.is_empty())
        })
}

/// The `merchant_uid` the page minted for this visit.
pub fn minted_id(html: &str) -> String {
    let at = html
        .find("\"merchant_uid\":\"")
        .expect("the page names its merchant_uid")
        + 16;
    html[at..].split('"').next().unwrap().to_owned()
}

/// The `identityVerificationId` a PortOne page minted for this visit.
pub fn minted_v2_id(html: &str) -> String {
    let key = "\"identityVerificationId\":\"";
    let at = html
        .find(key)
        .expect("the page names its identityVerificationId")
        + key.len();
    html[at..].split('"').next().unwrap().to_owned()
}

/// Walks the PortOne V2 round trip on a [`v2_session_cfg`] gateway for a person born on
/// `birthday`, returning to `rd`: the session cookie pair and the identityVerificationId.
pub async fn login_v2(stack: &Stack, birthday: &str, rd: &str) -> (String, String) {
    let (state, html) = open_page(stack, rd).await;
    let id = minted_v2_id(&html);
    stack.insert_v2(SandboxIdentityVerification {
        id: Some(id.clone()),
        store_id: Some(STORE_ID.to_owned()),
        ..SandboxIdentityVerification::person("홍길동", birthday)
    });
    let resp = client()
        .post(format!("{}/.verigate/callback", stack.base))
        .header("accept", "text/html")
        .header("cookie", &state)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("identityVerificationId={id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303, "{:?}", resp.headers());
    let session = cookie_pair(&set_cookies(&resp), COOKIE).expect("a session cookie");
    (session, id)
}

/// Opens the verification page returning to `rd` (sent form-encoded): the state cookie pair and
/// the page's HTML.
async fn open_page(stack: &Stack, rd: &str) -> (String, String) {
    let rd: String = form_urlencoded::byte_serialize(rd.as_bytes()).collect();
    let resp = client()
        .get(format!("{}/.verigate/verify?rd={rd}", stack.base))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let state = cookie_pair(&set_cookies(&resp), STATE_COOKIE).expect("a state cookie");
    (state, resp.text().await.unwrap())
}

/// One page visit: the state cookie pair and the minted `merchant_uid`.
pub struct Visit {
    pub state: String,
    pub merchant_uid: String,
}

/// Opens the verification page returning to `rd` (sent form-encoded).
pub async fn visit(stack: &Stack, rd: &str) -> Visit {
    let (state, html) = open_page(stack, rd).await;
    Visit {
        state,
        merchant_uid: minted_id(&html),
    }
}

/// The person the stand-in would record for this visit's `merchant_uid`; returns the imp_uid.
pub fn verified(stack: &Stack, visit: &Visit, birthday: &str) -> String {
    stack.insert(SandboxRecord {
        merchant_uid: Some(visit.merchant_uid.clone()),
        ..SandboxRecord::person("홍길동", birthday)
    })
}

/// Posts the popup result (`imp_uid`, `merchant_uid`) with the `cookie` header.
pub async fn callback(
    stack: &Stack,
    cookie: &str,
    imp_uid: &str,
    merchant_uid: &str,
) -> reqwest::Response {
    client()
        .post(format!("{}/.verigate/callback", stack.base))
        .header("accept", "text/html")
        .header("cookie", cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            form_urlencoded::Serializer::new(String::new())
                .append_pair("imp_uid", imp_uid)
                .append_pair("merchant_uid", merchant_uid)
                .finish(),
        )
        .send()
        .await
        .unwrap()
}

/// Walks the whole round trip for a person born on `birthday`, returning to `rd`: the session
/// cookie pair and the callback's `Location`.
pub async fn login(stack: &Stack, birthday: &str, rd: &str) -> (String, String) {
    let v = visit(stack, rd).await;
    let imp_uid = verified(stack, &v, birthday);
    let resp = callback(stack, &v.state, &imp_uid, &v.merchant_uid).await;
    assert_eq!(resp.status(), 303, "{:?}", resp.headers());
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    let session = cookie_pair(&set_cookies(&resp), COOKIE).expect("a session cookie");
    (session, location)
}

/// GETs `path` with the `cookie` header (`""`: none) as an API client (JSON).
pub async fn get_with(stack: &Stack, path: &str, cookie: &str) -> reqwest::Response {
    let mut req = client()
        .get(format!("{}{path}", stack.base))
        .header("accept", "application/json");
    if !cookie.is_empty() {
        req = req.header("cookie", cookie);
    }
    req.send().await.unwrap()
}

/// A session cookie pair for an adult sealed outside the gateway by `secret`, issued at
/// `issued_at` for `ttl_secs`, as the gateway with the default cookie settings would.
pub fn forged(secret: &str, issued_at: Timestamp, ttl_secs: u64) -> String {
    let settings = CookieSettings {
        name: "verigate".into(),
        secure: true,
        same_site: SameSite::Lax,
        ttl: Duration::from_secs(ttl_secs),
    };
    let key = decode_secret(0, secret).unwrap();
    let cookies = SessionCookies::new(&settings, Sealer::new(&[key]).unwrap()).unwrap();
    let mut person = Identity::empty(ImpUid::parse("imp_100000000001").unwrap());
    person.certified = true;
    person.name = Some("김철수".into());
    person.birth_date = Some(jiff::civil::date(1990, 1, 1));
    person.certified_at = Some(issued_at);
    let session = Session::new(
        Provider::IamportV1,
        &person,
        &[],
        issued_at,
        Duration::from_secs(ttl_secs),
    );
    format!("{COOKIE}={}", cookies.seal_session(&session).unwrap())
}
