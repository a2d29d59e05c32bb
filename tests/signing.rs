//! Signed forwarding end to end: signature headers on intercepted requests only, the JWKS on
//! the admin listener, and key rotation by SIGHUP with the old key still published.
//! (Third-party verification of these signatures is in tests/python/test_signatures.py.)

mod common;

use std::time::Duration;

use common::{Cfg, Signing, Stack, text, verigate};

fn keygen(path: &std::path::Path) -> serde_json::Value {
    let out = verigate(
        &[
            "keygen",
            "--alg",
            "ed25519",
            "--out",
            path.to_str().unwrap(),
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The standard stack signing with Ed25519 keys `edge-1` and `edge-2` from `dir`, `edge-1` active.
async fn signing_stack(dir: &std::path::Path) -> Stack {
    Stack::with(|p| {
        Cfg::standard(p).signing(Signing::ed25519(dir, &["edge-1", "edge-2"], "edge-1"))
    })
    .await
}

async fn jwks(s: &Stack) -> Vec<String> {
    let v: serde_json::Value = s
        .admin_get("/.well-known/jwks.json")
        .await
        .json()
        .await
        .unwrap();
    let mut kids: Vec<String> = v["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect();
    kids.sort();
    kids
}

#[tokio::test]
async fn keys_rotate_by_sighup_and_the_old_key_stays_published() {
    let keys = tempfile::tempdir().unwrap();
    let jwk1 = keygen(&keys.path().join("edge-1.pem"));
    keygen(&keys.path().join("edge-2.pem"));
    let s = signing_stack(keys.path()).await;
    assert_eq!(jwks(&s).await, ["edge-1", "edge-2"]);
    let v: serde_json::Value = s
        .admin_get("/.well-known/jwks.json")
        .await
        .json()
        .await
        .unwrap();
    let published = v["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == "edge-1")
        .unwrap();
    assert_eq!(
        published["x"], jwk1["x"],
        "the JWKS key is not the keygen'd one"
    );
    assert_eq!(published["alg"], "EdDSA");

    let uid = s.person("홍길동", "1980-01-01");
    assert_eq!(s.verify("/certifications", &uid).await.status(), 200);
    let got = s.last();
    assert!(
        got.header("signature-input")
            .unwrap()
            .contains("keyid=\"edge-1\"")
    );
    assert!(got.header("signature").unwrap().starts_with("verigate=:"));
    assert!(got.header("x-verified-assertion").is_some());
    // Ordinary routes carry no signature.
    assert_eq!(s.get("/plain").await.status(), 200);
    assert!(s.last().header("signature").is_none());

    // Switch the active key; both stay published.
    let mut cfg = s.cfg();
    cfg.signing.as_mut().unwrap().active_key = "edge-2".to_owned();
    s.write_config(&cfg);
    s.signal("HUP");
    assert!(s.wait_output("applied", Duration::from_secs(5)).await);
    assert_eq!(s.verify("/certifications", &uid).await.status(), 200);
    assert!(
        s.last()
            .header("signature-input")
            .unwrap()
            .contains("keyid=\"edge-2\"")
    );
    assert_eq!(jwks(&s).await, ["edge-1", "edge-2"]);
}

#[tokio::test]
async fn a_missing_key_file_is_refused_at_start_and_on_reload() {
    let keys = tempfile::tempdir().unwrap();
    keygen(&keys.path().join("edge-1.pem"));
    keygen(&keys.path().join("edge-2.pem"));
    let s = signing_stack(keys.path()).await;
    std::fs::remove_file(keys.path().join("edge-2.pem")).unwrap();
    s.signal("HUP");
    assert!(s.wait_output("refused", Duration::from_secs(5)).await);
    assert!(s.gateway_output().contains("edge-2.pem"));
    // The old keys keep signing.
    let uid = s.person("홍길동", "1980-01-01");
    assert_eq!(s.verify("/certifications", &uid).await.status(), 200);
    assert!(s.last().header("signature").is_some());
}
