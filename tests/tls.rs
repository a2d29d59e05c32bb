//! TLS at both ends, with a CA and certificates generated at test time: HTTPS (HTTP/2 by ALPN)
//! from clients, and verified TLS to the app.

mod common;

use std::path::{Path, PathBuf};

use common::{Cfg, Ports, Stack, text, verigate};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};

/// A test CA and a `localhost`/127.0.0.1 certificate it signed, written to `dir`.
/// Returns the CA's PEM.
fn make_pki(dir: &Path) -> String {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &issuer)
        .unwrap();
    std::fs::write(dir.join("edge.pem"), leaf.pem()).unwrap();
    std::fs::write(dir.join("edge.key"), leaf_key.serialize_pem()).unwrap();
    std::fs::write(dir.join("ca.pem"), ca_cert.pem()).unwrap();
    ca_cert.pem()
}

/// The standard config plus an HTTPS listener on `p.tls`, certificates in `dir`.
fn with_tls(p: &Ports, dir: &Path) -> Cfg {
    Cfg::standard(p).tls_listener(p, dir)
}

#[tokio::test]
async fn https_listener_serves_http2_and_http1_with_the_same_verification() {
    let pki = tempfile::tempdir().unwrap();
    let ca = make_pki(pki.path());
    let s = Stack::with(|p| with_tls(p, pki.path())).await;
    let tls = s.tls_addr;
    let uid = s.person("홍길동", "1980-01-01");
    let root = reqwest::Certificate::from_pem(ca.as_bytes()).unwrap();
    for http2 in [true, false] {
        let builder = reqwest::Client::builder()
            .add_root_certificate(root.clone())
            .resolve("localhost", tls);
        let client = if http2 {
            builder.http2_prior_knowledge()
        } else {
            builder.http1_only()
        }
        .build()
        .unwrap();
        let resp = client
            .post(format!("https://localhost:{}/certifications", tls.port()))
            .header("content-type", "application/json")
            .body(format!(r#"{{"imp_uid":"{uid}"}}"#))
            .send()
            .await
            .unwrap();
        let version = resp.version();
        assert_eq!(resp.status(), 200);
        assert_eq!(
            version,
            if http2 {
                reqwest::Version::HTTP_2
            } else {
                reqwest::Version::HTTP_11
            }
        );
        let app: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(app["headers"]["x-verified-verdict"], "allow");
    }
    // ALPN: a client that offers both gets HTTP/2.
    let client = reqwest::Client::builder()
        .add_root_certificate(root)
        .resolve("localhost", tls)
        .build()
        .unwrap();
    let resp = client
        .get(format!("https://localhost:{}/plain", tls.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    // A forged header is stripped on HTTP/2 too.
    let resp = client
        .get(format!("https://localhost:{}/plain", tls.port()))
        .header("x-verified-verdict", "allow")
        .send()
        .await
        .unwrap();
    let app: serde_json::Value = resp.json().await.unwrap();
    assert!(app["headers"].get("x-verified-verdict").is_none());
}

#[tokio::test]
async fn upstream_tls_is_verified_against_the_configured_ca() {
    // The "app" is a second verigate terminating TLS in front of the echo app.
    let pki = tempfile::tempdir().unwrap();
    make_pki(pki.path());
    let app = Stack::with(|p| with_tls(p, pki.path())).await;
    let tls = app.tls_addr;
    let front =
        |ca: Option<PathBuf>| move |p: &Ports| Cfg::standard(p).upstream_tls(tls, ca.as_deref());
    let trusted = Stack::with(front(Some(pki.path().join("ca.pem")))).await;
    let resp = trusted.get("/through-tls").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(app.last().path, "/through-tls");

    // Without the CA the app's certificate is not trusted: nothing reaches it.
    let seen = app.app_saw().len();
    let untrusted = Stack::with(front(None)).await;
    let resp = untrusted.get("/through-tls").await;
    assert_eq!(resp.status(), 502);
    assert_eq!(app.app_saw().len(), seen);
}

#[test]
fn a_bad_certificate_file_is_refused_at_start_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("edge.pem"), "not a certificate").unwrap();
    std::fs::write(dir.path().join("edge.key"), "not a key").unwrap();
    let (cert, key) = (dir.path().join("edge.pem"), dir.path().join("edge.key"));
    let cfg = Cfg::standard(&Ports::offline(dir.path()))
        .secret("s")
        .tls_at("127.0.0.1:0", &cert, &key);
    let path = dir.path().join("gateway.toml");
    std::fs::write(&path, cfg.render()).unwrap();
    let out = verigate(&["run", "-c", path.to_str().unwrap()], &[]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("[server.tls]") && stderr.contains("edge.pem"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[tokio::test]
async fn the_tls_listener_forwards_https_and_the_authority_and_believes_only_trusted_peers() {
    let pki = tempfile::tempdir().unwrap();
    let ca = make_pki(pki.path());
    let root = reqwest::Certificate::from_pem(ca.as_bytes()).unwrap();
    for trusted in [&["10.0.0.0/8"], &["127.0.0.1"]] {
        let s = Stack::with(|p| with_tls(p, pki.path()).trusted_proxies(trusted)).await;
        let tls = s.tls_addr;
        let believed = trusted.contains(&"127.0.0.1");
        let uid = s.person("홍길동", "1980-01-01");
        for http2 in [true, false] {
            let builder = reqwest::Client::builder()
                .add_root_certificate(root.clone())
                .resolve("localhost", tls);
            let client = if http2 {
                builder.http2_prior_knowledge()
            } else {
                builder.http1_only()
            }
            .build()
            .unwrap();
            for path in ["/certifications", "/plain"] {
                let resp = client
                    .post(format!("https://localhost:{}{path}", tls.port()))
                    .header("content-type", "application/json")
                    .header("x-forwarded-for", "198.51.100.7")
                    .header("x-forwarded-proto", "http")
                    .header("x-forwarded-host", "shop.example")
                    .header("forwarded", "for=198.51.100.7")
                    .body(format!(r#"{{"imp_uid":"{uid}"}}"#))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status(), 200);
                let got = s.last();
                let h = |n: &str| got.header(n).map(str::to_owned);
                let what = format!("{trusted:?} http2={http2} {path}");
                if believed {
                    assert_eq!(
                        h("x-forwarded-for").as_deref(),
                        Some("198.51.100.7, 127.0.0.1"),
                        "{what}"
                    );
                    assert_eq!(h("x-forwarded-proto").as_deref(), Some("http"), "{what}");
                    assert_eq!(
                        h("x-forwarded-host").as_deref(),
                        Some("shop.example"),
                        "{what}"
                    );
                    assert_eq!(
                        h("forwarded").as_deref(),
                        Some("for=198.51.100.7"),
                        "{what}"
                    );
                } else {
                    assert_eq!(h("x-forwarded-for").as_deref(), Some("127.0.0.1"), "{what}");
                    assert_eq!(h("x-forwarded-proto").as_deref(), Some("https"), "{what}");
                    // HTTP/2's :authority, HTTP/1.1's Host: the same name either way.
                    let authority = format!("localhost:{}", tls.port());
                    assert_eq!(h("x-forwarded-host"), Some(authority), "{what}");
                    assert_eq!(h("forwarded"), None, "{what}");
                }
            }
        }
    }
}
