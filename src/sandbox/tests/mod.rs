//! Unit tests of the sandbox, one file per room, against a real server on a loopback port: the V1
//! API's tokens and envelopes (`v1`), faults (`faults`), records and people files (`records`),
//! and the other control endpoints (`controls`). The helpers here start a sandbox and speak to it.

use super::*;
use axum::http::Method;
use reqwest::Client;
use serde_json::Value;
use serde_json::json;
use std::net::{Ipv4Addr, SocketAddrV4};

use super::v1::new_token_value;

mod browser;
mod controls;
mod faults;
mod records;
mod v1;
mod v2;

const LOOPBACK: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0));

/// A sandbox with the test credentials on a free loopback port, its base URL and a client.
async fn start() -> (Sandbox, String, Client) {
    start_with(SandboxOptions::default()).await
}

async fn start_with(opts: SandboxOptions) -> (Sandbox, String, Client) {
    let sandbox = Sandbox::new(opts);
    let addr = sandbox.spawn(LOOPBACK).await.expect("bind loopback");
    (sandbox, format!("http://{addr}"), Client::new())
}

/// Stores a certified person and returns the record as stored and its certification URL.
fn person_url(sandbox: &Sandbox, base: &str) -> (SandboxRecord, String) {
    let rec = sandbox.insert(SandboxRecord::person("홍길동", "1991-11-11"));
    let url = format!(
        "{base}/certifications/{}",
        rec.imp_uid.as_deref().expect("imp_uid")
    );
    (rec, url)
}

async fn token_response(client: &Client, base: &str) -> Value {
    let resp = client
        .post(format!("{base}/users/getToken"))
        .json(&json!({"imp_key": TEST_IMP_KEY, "imp_secret": TEST_IMP_SECRET}))
        .send()
        .await
        .expect("getToken");
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["code"], 0);
    assert_eq!(body["message"], Value::Null);
    body["response"].clone()
}

async fn token(client: &Client, base: &str) -> String {
    token_response(client, base).await["access_token"]
        .as_str()
        .expect("access_token string")
        .to_owned()
}

/// Status and body text of a certification request with the given headers.
async fn certification(
    client: &Client,
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
) -> (u16, String) {
    let mut req = client.request(method, url);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let resp = req.send().await.expect("certification request");
    let status = resp.status().as_u16();
    (status, resp.text().await.expect("body"))
}

fn unauthorized_body() -> String {
    format!(r#"{{"code":-1,"message":"{MSG_UNAUTHORIZED}","response":null}}"#)
}

fn temp_file(ext: &str, contents: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!(
        "verigate-sandbox-people-{}-{}.{ext}",
        std::process::id(),
        new_token_value()
    ));
    std::fs::write(&path, contents).expect("write temp file");
    path
}

#[test]
fn startup_banner_says_where_it_listens_then_one_provider_a_line() {
    let addr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 8089));
    let banner = startup_banner(addr, &SandboxOptions::default());
    let lines: Vec<&str> = banner.lines().collect();
    assert_eq!(
        lines,
        [
            "sandbox listening on http://127.0.0.1:8089".to_owned(),
            format!("iamport imp_key={TEST_IMP_KEY} imp_secret={TEST_IMP_SECRET}"),
            format!("portone api_secret={TEST_PORTONE_SECRET}"),
        ]
    );
    assert!(banner.ends_with('\n'));
}
