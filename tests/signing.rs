//! Signed forwarding end to end: signature headers on intercepted requests only, the JWKS on
//! the admin listener, and key rotation by SIGHUP with the old key still published.
//! (Third-party verification of these signatures is in tests/python/test_signatures.py.)

mod common;

use std::time::Duration;

use common::{ROUTES, Stack, config};

fn keygen(path: &std::path::Path) -> serde_json::Value {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_verigate"))
        .args(["keygen", "--alg", "ed25519", "--out"])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn signing(dir: &std::path::Path, active: &str) -> String {
    format!(
        r#"
[signing]
active_key = "{active}"
signature_ttl_secs = 60
jwt = true
issuer = "verigate"
audience = "legacy-app"

[[signing.keys]]
id = "edge-1"
alg = "ed25519"
private_key_file = "{d}/edge-1.pem"

[[signing.keys]]
id = "edge-2"
alg = "ed25519"
private_key_file = "{d}/edge-2.pem"
"#,
        d = dir.display()
    )
}

async fn jwks(s: &Stack) -> Vec<String> {
    let v: serde_json::Value = s
        .client
        .get(format!("{}/.well-known/jwks.json", s.admin))
        .send()
        .await
        .unwrap()
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
    let s =
        Stack::with(|p| config(p, "timeout_ms = 1000", ROUTES) + &signing(keys.path(), "edge-1"))
            .await;
    assert_eq!(jwks(&s).await, ["edge-1", "edge-2"]);
    let v: serde_json::Value = s
        .client
        .get(format!("{}/.well-known/jwks.json", s.admin))
        .send()
        .await
        .unwrap()
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
    let text = std::fs::read_to_string(s.config_path()).unwrap();
    std::fs::write(
        s.config_path(),
        text.replace("active_key = \"edge-1\"", "active_key = \"edge-2\""),
    )
    .unwrap();
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
    let s =
        Stack::with(|p| config(p, "timeout_ms = 1000", ROUTES) + &signing(keys.path(), "edge-1"))
            .await;
    std::fs::remove_file(keys.path().join("edge-2.pem")).unwrap();
    s.signal("HUP");
    assert!(s.wait_output("refused", Duration::from_secs(5)).await);
    assert!(s.gateway_output().contains("edge-2.pem"));
    // The old keys keep signing.
    let uid = s.person("홍길동", "1980-01-01");
    assert_eq!(s.verify("/certifications", &uid).await.status(), 200);
    assert!(s.last().header("signature").is_some());
}
