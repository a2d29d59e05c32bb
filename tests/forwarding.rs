//! Forwarding headers (plain HTTP; the TLS listener's are in tests/tls.rs): the app learns the
//! client's address, the scheme and the host from verigate, and what a client sent under those
//! names counts only from a peer in `server.trusted_proxies`.

mod common;

use std::time::Duration;

use common::{Cfg, Stack};

/// The standard stack with `server.trusted_proxies = trusted`.
async fn stack(trusted: &[&str]) -> Stack {
    Stack::with(|p| Cfg::standard(p).trusted_proxies(trusted)).await
}

/// Headers a client (or the proxy in front) sends under the forwarding names.
const SENT: [(&str, &str); 7] = [
    ("x-forwarded-for", "198.51.100.7, 10.0.0.1"),
    ("x-forwarded-proto", "https"),
    ("x-forwarded-host", "shop.example"),
    ("x-forwarded-port", "443"),
    ("forwarded", "for=198.51.100.7;proto=https"),
    // What PHP would read as HTTP_X_FORWARDED_FOR, next to the real one.
    ("x_forwarded_for", "6.6.6.6"),
    ("x-forwarded.host", "evil.example"),
];

/// Sends the [`SENT`] headers on an intercepted route and on an ordinary path; the app's view
/// and the access-log line of each.
async fn send_both(s: &Stack, uid: &str) -> Vec<(verigate::echo::Received, serde_json::Value)> {
    let mut out = Vec::new();
    for (i, path) in ["/certifications", "/account"].into_iter().enumerate() {
        // Each test has its own gateway: the id names one line of its access log.
        let request_id = format!("forwarding-test-{i}");
        let mut req = s
            .client
            .post(format!("{}{path}", s.base))
            .header("content-type", "application/json")
            .header("x-request-id", &request_id)
            .body(format!(r#"{{"imp_uid":"{uid}"}}"#));
        for (k, v) in SENT {
            req = req.header(k, v);
        }
        assert_eq!(req.send().await.unwrap().status(), 200, "{path}");
        let got = s.last();
        assert!(
            s.wait_output(&request_id, Duration::from_secs(10)).await,
            "no access-log line for {path}"
        );
        let line = s
            .gateway_output()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|l| l["request_id"] == request_id.as_str())
            .expect("the access-log line parses");
        out.push((got, line));
    }
    out
}

fn all(got: &verigate::echo::Received, name: &str) -> Vec<String> {
    got.headers
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
        .collect()
}

fn forwarding_names(got: &verigate::echo::Received) -> Vec<&str> {
    let mut names: Vec<&str> = got
        .headers
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| {
            let k = k.replace(|c: char| !c.is_ascii_alphanumeric(), "-");
            k.starts_with("x-forwarded-") || k == "forwarded"
        })
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn an_untrusted_peer_cannot_set_the_forwarding_headers() {
    // The list names someone else: the test client (127.0.0.1) is not trusted.
    let s = stack(&["10.0.0.0/8"]).await;
    let uid = s.person("홍길동", "1980-01-01");
    let host = s.base.trim_start_matches("http://").to_owned();
    for (got, log) in send_both(&s, &uid).await {
        let path = got.path.clone();
        assert_eq!(all(&got, "x-forwarded-for"), ["127.0.0.1"], "{path}");
        assert_eq!(all(&got, "x-forwarded-proto"), ["http"], "{path}");
        assert_eq!(all(&got, "x-forwarded-host"), [host.as_str()], "{path}");
        assert_eq!(
            forwarding_names(&got),
            ["x-forwarded-for", "x-forwarded-host", "x-forwarded-proto"],
            "{path}"
        );
        assert_eq!(log["forwarded_for"], "127.0.0.1", "{path}");
        assert!(
            log["client"]
                .as_str()
                .is_some_and(|c| c.starts_with("127.0.0.1:"))
        );
    }
}

#[tokio::test]
async fn a_trusted_peer_is_believed_and_appended() {
    let s = stack(&["127.0.0.1", "10.0.0.0/8"]).await;
    let uid = s.person("홍길동", "1980-01-01");
    for (got, log) in send_both(&s, &uid).await {
        let path = got.path.clone();
        assert_eq!(
            all(&got, "x-forwarded-for"),
            ["198.51.100.7, 10.0.0.1, 127.0.0.1"],
            "{path}"
        );
        assert_eq!(all(&got, "x-forwarded-proto"), ["https"], "{path}");
        assert_eq!(all(&got, "x-forwarded-host"), ["shop.example"], "{path}");
        assert_eq!(all(&got, "x-forwarded-port"), ["443"], "{path}");
        assert_eq!(
            all(&got, "forwarded"),
            ["for=198.51.100.7;proto=https"],
            "{path}"
        );
        // Spellings that only merge in an app's variable names are never believed.
        assert!(all(&got, "x_forwarded_for").is_empty(), "{path}");
        assert!(all(&got, "x-forwarded.host").is_empty(), "{path}");
        // The believed client: the rightmost address that is not a trusted proxy.
        assert_eq!(log["forwarded_for"], "198.51.100.7", "{path}");
    }
}

#[tokio::test]
async fn a_trusted_peer_without_forwarding_headers_gets_verigates() {
    let s = stack(&["127.0.0.0/8"]).await;
    let resp = s.get("/account").await;
    assert_eq!(resp.status(), 200);
    let got = s.last();
    assert_eq!(all(&got, "x-forwarded-for"), ["127.0.0.1"]);
    assert_eq!(all(&got, "x-forwarded-proto"), ["http"]);
    assert_eq!(
        all(&got, "x-forwarded-host"),
        [s.base.trim_start_matches("http://")]
    );
}
