//! Keys: keygen round trips, the JWKS, key files and secrets refused with their names, no key bytes in Debug.

use super::*;
use crate::signing::decode_hmac_secret;
use ed25519_dalek::pkcs8::DecodePrivateKey;

// ---- keys ------------------------------------------------------------------------------

#[test]
fn keygen_pem_round_trips_through_from_settings_and_matches_its_jwk() {
    let k = keys();
    let s = signer(&k, "edge-1", false);
    assert_eq!(s.active_key_id(), "edge-1");
    let jwks = s.jwks();
    let published = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["kid"] == "edge-1")
        .unwrap();
    assert_eq!(published["x"], k.ed_jwk["x"]);
    assert!(k.ed_jwk.get("kid").is_none());
    assert_eq!(k.ed_jwk["kty"], "OKP");
    assert_eq!(k.ed_jwk["crv"], "Ed25519");
    assert_eq!(k.ed_jwk["alg"], "EdDSA");
    assert_eq!(k.ed_jwk["use"], "sig");
}

#[test]
fn jwks_lists_every_ed25519_key_including_retired_and_never_hmac() {
    let k = keys();
    for active in ["edge-1", "shared-1"] {
        let jwks = signer(&k, active, true).jwks();
        let entries = jwks["keys"].as_array().unwrap();
        let kids: Vec<&str> = entries.iter().map(|j| j["kid"].as_str().unwrap()).collect();
        assert_eq!(kids, ["edge-0", "edge-1"]);
        for e in entries {
            let obj = e.as_object().unwrap();
            let mut fields: Vec<&str> = obj.keys().map(String::as_str).collect();
            fields.sort_unstable();
            assert_eq!(fields, ["alg", "crv", "kid", "kty", "use", "x"]);
        }
        let text = jwks.to_string();
        assert!(!text.contains(&k.hmac) && !text.contains("shared-1"));
    }
}

#[test]
fn keygen_hmac_makes_32_random_bytes_the_config_accepts() {
    let a = keygen_hmac();
    assert_eq!(STANDARD.decode(&a).unwrap().len(), 32);
    assert_eq!(
        decode_hmac_secret(&Secret::new(a.clone())).unwrap().len(),
        32
    );
    assert_ne!(a, keygen_hmac());
}

#[test]
fn rfc_test_key_pem_is_accepted_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rfc.pem");
    std::fs::write(&path, RFC_ED25519_PEM).unwrap();
    let s = Signer::from_settings(&SigningSettings {
        active_key: "test-key-ed25519".to_owned(),
        signature_ttl: Duration::from_secs(60),
        jwt: false,
        issuer: "verigate".to_owned(),
        audience: "legacy-app".to_owned(),
        keys: vec![SigningKey {
            id: "test-key-ed25519".to_owned(),
            alg: KeyAlg::Ed25519,
            material: KeyMaterial::PrivateKeyFile(path),
        }],
    })
    .unwrap_or_else(|e| panic!("{e}"));
    // B.1.4's public key, as a JWK `x`.
    assert_eq!(
        s.jwks()["keys"][0]["x"],
        "JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs"
    );
}

#[test]
fn a_missing_key_file_is_named_in_the_error() {
    let k = keys();
    let mut s = settings(&k, "edge-1", false);
    s.keys[0].material = KeyMaterial::PrivateKeyFile(PathBuf::from("keys/nowhere.pem"));
    let err = Signer::from_settings(&s).unwrap_err();
    assert!(matches!(err, SigningError::KeyFileUnreadable { .. }));
    let msg = err.to_string();
    assert!(
        msg.contains("edge-0") && msg.contains("keys/nowhere.pem"),
        "{msg}"
    );
}

#[test]
fn an_invalid_key_file_is_named_and_its_bytes_are_not_printed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hmac-as-pem.pem");
    // A PEM whose body is not an Ed25519 PKCS#8 key.
    let body = "c2VjcmV0LWJ5dGVzLXRoYXQtbXVzdC1uZXZlci1iZS1wcmludGVk";
    std::fs::write(
        &path,
        format!("-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n"),
    )
    .unwrap();
    let k = keys();
    let mut s = settings(&k, "edge-1", false);
    s.keys[1].material = KeyMaterial::PrivateKeyFile(path.clone());
    let err = Signer::from_settings(&s).unwrap_err();
    assert!(matches!(err, SigningError::KeyFileInvalid { .. }));
    let msg = err.to_string();
    assert!(
        msg.contains("edge-1") && msg.contains("hmac-as-pem.pem"),
        "{msg}"
    );
    assert!(!msg.contains(body) && !format!("{err:?}").contains(body));
}

#[test]
fn a_bad_hmac_secret_and_a_mismatched_alg_are_refused() {
    let k = keys();
    let mut s = settings(&k, "edge-1", false);
    s.keys[2].material = KeyMaterial::HmacSecret(Secret::new("c2hvcnQ="));
    let err = Signer::from_settings(&s).unwrap_err();
    assert!(matches!(
        err,
        SigningError::BadHmacSecret {
            source: HmacSecretError::TooShort(5),
            ..
        }
    ));
    assert!(err.to_string().contains("shared-1"));

    let mut s = settings(&k, "edge-1", false);
    s.keys[2].alg = KeyAlg::Ed25519;
    assert!(matches!(
        Signer::from_settings(&s),
        Err(SigningError::MaterialMismatch { .. })
    ));
}

#[test]
fn an_active_key_that_names_no_key_is_refused() {
    let k = keys();
    let err = Signer::from_settings(&settings(&k, "edge-9", false)).unwrap_err();
    assert!(matches!(err, SigningError::ActiveKeyMissing(ref id) if id == "edge-9"));
}

#[test]
fn debug_output_never_contains_key_material() {
    let k = keys();
    for active in ["edge-1", "shared-1"] {
        let s = signer(&k, active, true);
        let text = format!("{s:?}");
        assert!(text.contains(active), "{text}");
        assert!(!text.contains(&k.hmac));
        let secret = STANDARD.decode(&k.hmac).unwrap();
        assert!(!text.contains(&format!("{:?}", &secret[..4])));
        let pem = std::fs::read_to_string(&k.ed_path).unwrap();
        let seed = ed25519_dalek::SigningKey::from_pkcs8_pem(&pem)
            .unwrap()
            .to_bytes();
        let seed = format!("{seed:?}");
        assert!(!text.contains(&seed[1..seed.len() - 1]));
    }
}

#[test]
fn signer_can_be_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Signer>();
}
