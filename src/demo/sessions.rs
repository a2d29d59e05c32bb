//! The demo's session flow (docs/sessions.md): `/adult/…` on the echo app is gated, and the
//! walkthrough goes round it with an HTTP client as a browser would: the gated URL → the
//! verification page → the sandbox's stand-in → the callback → the cookie → the gated page with
//! the identity headers; then a minor refused, and a tampered cookie that is no session.

use std::time::Duration;

use base64::Engine as _;
use serde_json::json;

use super::walk::{Step, app_view};

type DemoError = Box<dyn std::error::Error + Send + Sync>;

/// The gated prefix.
pub const GATED: &str = "/adult/videos?page=2";

/// `[session]`, `[session.page]` and `[[gates]]` of the demo: a fresh secret per run, the
/// sandbox's stand-in SDK, plain HTTP (so `secure = false`: this is loopback).
pub fn config(sandbox: std::net::SocketAddr) -> Result<String, DemoError> {
    let mut secret = [0u8; 32];
    aws_lc_rs::rand::fill(&mut secret).map_err(|_| "no random bytes")?;
    let secret = base64::engine::general_purpose::STANDARD.encode(secret);
    Ok(format!(
        r#"
[session]
secrets = ["{secret}"]
secure = false

[session.page]
sdk = "iamport"
imp_code = "imp00000000"
sdk_url = "http://{sandbox}/__sandbox/sdk/iamport.js"

[[gates]]
name = "adult-area"
prefix = "/adult"
policy = "adult"
"#
    ))
}

/// `name=value` of the `Set-Cookie` for `name`, when it sets a value.
fn set_cookie(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(|c| c.split(';').next().unwrap_or_default().to_owned())
        .find(|p| {
            p.split_once('=')
                .is_some_and(|(n, v)| n == name && !v.is_empty())
        })
}

/// One visitor born on `birthday`, from the gated URL to a session cookie.
async fn round_trip(
    client: &reqwest::Client,
    base: &str,
    sandbox: std::net::SocketAddr,
    name: &str,
    birthday: &str,
) -> Result<Option<String>, DemoError> {
    let resp = client
        .get(format!("{base}{GATED}"))
        .header("accept", "text/html")
        .send()
        .await?;
    let page = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    println!("   GET {GATED} → {} {page}", resp.status().as_u16());
    let resp = client.get(format!("{base}{page}")).send().await?;
    let state = set_cookie(&resp, "verigate_state").unwrap_or_default();
    let html = resp.text().await?;
    let mid = html
        .split("\"merchant_uid\":\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or_default()
        .to_owned();
    println!("   the page minted merchant_uid {mid} and set the state cookie");
    // What the stand-in page posts when the tester creates a person and verifies.
    let done: serde_json::Value = client
        .post(format!("http://{sandbox}/__sandbox/verify"))
        .json(&json!({
            "request": {"sdk": "v1", "mode": "redirect", "merchant_uid": mid,
                        "imp_code": "imp00000000",
                        "redirect": format!("{base}/.verigate/callback")},
            "action": "verify",
            "person": {"name": name, "birthday": birthday},
        }))
        .send()
        .await?
        .json()
        .await?;
    let back = done["redirect"].as_str().unwrap_or_default();
    println!("   the stand-in verified {birthday} and sends the browser back to the callback");
    let resp = client.get(back).header("cookie", &state).send().await?;
    let location = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    println!(
        "   GET /.verigate/callback?… → {} {location} + the session cookie",
        resp.status().as_u16()
    );
    Ok(set_cookie(&resp, "verigate").filter(|_| location == GATED))
}

/// The session walkthrough, each step checked into `step`.
pub async fn walkthrough(
    base: &str,
    sandbox_addr: std::net::SocketAddr,
    step: &mut Step,
) -> Result<(), DemoError> {
    let mut check = |ok: bool, what: &str| step.check(ok, what);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()?;
    println!("\n5. A legacy app gated with no code: an adult visits {GATED}");
    let adult = round_trip(&client, base, sandbox_addr, "홍길동", "1990-05-05").await?;
    check(
        adult.is_some(),
        "a sealed session cookie, and back to where the visitor was going",
    );
    let cookie = adult.unwrap_or_default();
    let resp = client
        .get(format!("{base}{GATED}"))
        .header("cookie", format!("theme=dark; {cookie}"))
        .send()
        .await?;
    let status = resp.status().as_u16();
    let app: serde_json::Value = resp.json().await.unwrap_or_default();
    println!("   GET {GATED} with the cookie → {status}; the app received:");
    print!("{}", app_view(&app));
    check(
        status == 200
            && app["headers"]["x-verified-verdict"] == "allow"
            && app["headers"]["cookie"] == "theme=dark",
        "identity headers on every gated request; verigate's cookie kept from the app",
    );

    let this_year = jiff::Zoned::now().year();
    let minor_birthday = format!("{}-01-01", this_year - 15);
    println!("\n6. A minor (born {minor_birthday}) visits");
    let minor = round_trip(&client, base, sandbox_addr, "김영희", &minor_birthday).await?;
    let resp = client
        .get(format!("{base}{GATED}"))
        .header("cookie", minor.unwrap_or_default())
        .header("accept", "text/html")
        .send()
        .await?;
    let status = resp.status().as_u16();
    let page = resp.text().await?;
    println!("   GET {GATED} with the minor's cookie → {status} (a Korean page)");
    check(
        status == 403 && page.contains("이용할 수 없는 페이지입니다"),
        "refused by the gateway in Korean; the app never saw it",
    );

    println!("\n7. A tampered cookie");
    let (name, value) = cookie.split_once('=').unwrap_or_default();
    let flipped: String = value
        .chars()
        .enumerate()
        .map(|(i, c)| match (i == value.len() / 2, c) {
            (true, 'A') => 'B',
            (true, _) => 'A',
            _ => c,
        })
        .collect();
    let resp = client
        .get(format!("{base}{GATED}"))
        .header("cookie", format!("{name}={flipped}"))
        .send()
        .await?;
    let status = resp.status().as_u16();
    println!("   GET {GATED} (an API client) → {status}");
    check(
        status == 401,
        "no session: verification_required, nothing forwarded",
    );
    Ok(())
}
