//! Unit tests of the signing room, one file per concern (`rfc9421`: the Appendix B vectors and
//! the signature's shape; `jwt`: the assertion; `keys`: loading, JWKS and keygen), and the
//! fixtures they share: keys on disk, settings, the covered headers and claims of a typical
//! request, and verifiers written independently of the signing code (RustCrypto's HMAC,
//! `ed25519-dalek`'s verifier, `sfv`'s parser).

use super::*;
use crate::secret::Secret;
use crate::signing::{KeyMaterial, SigningKey};
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sfv::KeyRef;
use std::path::{Path, PathBuf};
use std::time::Duration;

mod jwt;
mod keys;
mod rfc9421;

/// RustCrypto's HMAC, an oracle independent of the aws-lc code that signs.
type HmacSha256 = Hmac<sha2::Sha256>;

// RFC 9421 Appendix B.1.4 (test-key-ed25519) and B.1.5 (test-shared-secret).
const RFC_ED25519_PEM: &str = "-----BEGIN PRIVATE KEY-----\n\
    MC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF\n\
    -----END PRIVATE KEY-----\n";
const RFC_SHARED_SECRET: &str = "uzvJfB4u3N0Jy4T7NZ75MDVcr8zSTInedJtkgcu46YW4XByzNJjxBdtjUk\
    dJPBtbmHhIDi6pcl8jsasjlTMtDQ==";

/// RFC 9421 Appendix B.2 test request: the field values the vectors cover.
const DATE: &str = "Tue, 20 Apr 2021 02:07:55 GMT";

// ---- fixtures ------------------------------------------------------------------------

struct Keys {
    _dir: tempfile::TempDir,
    ed_path: PathBuf,
    ed_jwk: Value,
    retired_path: PathBuf,
    hmac: String,
}

fn keys() -> Keys {
    let dir = tempfile::tempdir().unwrap();
    let (pem, ed_jwk) = keygen_ed25519();
    let ed_path = dir.path().join("edge-1.pem");
    std::fs::write(&ed_path, pem).unwrap();
    let (old_pem, _) = keygen_ed25519();
    let retired_path = dir.path().join("edge-0.pem");
    std::fs::write(&retired_path, old_pem).unwrap();
    Keys {
        _dir: dir,
        ed_path,
        ed_jwk,
        retired_path,
        hmac: keygen_hmac(),
    }
}

fn settings(k: &Keys, active: &str, jwt: bool) -> SigningSettings {
    SigningSettings {
        active_key: active.to_owned(),
        signature_ttl: Duration::from_secs(60),
        jwt,
        issuer: "verigate".to_owned(),
        audience: "legacy-app".to_owned(),
        keys: vec![
            SigningKey {
                id: "edge-0".to_owned(),
                alg: KeyAlg::Ed25519,
                material: KeyMaterial::PrivateKeyFile(k.retired_path.clone()),
            },
            SigningKey {
                id: "edge-1".to_owned(),
                alg: KeyAlg::Ed25519,
                material: KeyMaterial::PrivateKeyFile(k.ed_path.clone()),
            },
            SigningKey {
                id: "shared-1".to_owned(),
                alg: KeyAlg::HmacSha256,
                material: KeyMaterial::HmacSecret(Secret::new(k.hmac.clone())),
            },
        ],
    }
}

fn signer(k: &Keys, active: &str, jwt: bool) -> Signer {
    Signer::from_settings(&settings(k, active, jwt)).unwrap_or_else(|e| panic!("{e}"))
}

fn h(name: &'static str, value: &str) -> (HeaderName, HeaderValue) {
    (
        HeaderName::from_static(name),
        HeaderValue::from_str(value).unwrap(),
    )
}

fn covered() -> Vec<(HeaderName, HeaderValue)> {
    vec![
        h("x-verified-verdict", "allow"),
        h("x-verified-imp-uid", "imp_123456789012"),
        h("x-verified-name", "%ED%99%8D%EA%B8%B8%EB%8F%99"),
        h("x-verified-birth", "2000-01-01"),
        h("x-verified-age", "26"),
        h("x-verified-policy", "adult"),
        h("x-verified-certified-at", "1767225600"),
        h(
            "content-digest",
            "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:",
        ),
    ]
}

fn claims() -> AssertionClaims<'static> {
    AssertionClaims {
        imp_uid: Some("imp_123456789012"),
        provider: "iamport",
        name: Some("홍길동"),
        birthdate: Some(jiff::civil::date(2000, 1, 1)),
        age: Some(26),
        verdict: "allow",
        reason: None,
        policy: "adult",
        certified_at: Some(1767225600),
        gender: Some("male"),
        phone_number: None,
        extra: &[],
    }
}

fn assertion_name() -> HeaderName {
    HeaderName::from_static("x-verified-assertion")
}

fn get<'a>(out: &'a HeaderList, name: &str) -> Option<&'a str> {
    out.iter()
        .find(|(n, _)| n.as_str() == name)
        .map(|(_, v)| v.to_str().unwrap())
}

fn now() -> jiff::Timestamp {
    jiff::Timestamp::from_second(1_767_225_700).unwrap()
}

/// An RFC 9421 verifier written against the parsed header fields, independent of the
/// signing code: it rebuilds the base from the inner list it parses and the request it sees.
fn verify(
    out: &HeaderList,
    method: &str,
    path: &str,
    query: Option<&str>,
    headers: &[(HeaderName, HeaderValue)],
    check: impl Fn(&[u8], &[u8]) -> bool,
) -> bool {
    let input: sfv::Dictionary = sfv::Parser::new(get(out, "signature-input").unwrap())
        .parse()
        .unwrap();
    let signature: sfv::Dictionary = sfv::Parser::new(get(out, "signature").unwrap())
        .parse()
        .unwrap();
    let label = KeyRef::from_str("verigate").unwrap();
    let Some(sfv::ListEntry::InnerList(list)) = input.get(label) else {
        panic!("no verigate inner list");
    };
    let Some(sfv::ListEntry::Item(sig)) = signature.get(label) else {
        panic!("no verigate signature");
    };
    let sfv::BareItem::ByteSequence(sig) = &sig.bare_item else {
        panic!("signature is not a byte sequence");
    };
    let mut base = String::new();
    for item in &list.items {
        let sfv::BareItem::String(name) = &item.bare_item else {
            panic!("component is not a string");
        };
        let value = match name.as_str() {
            "@method" => method.to_owned(),
            "@path" => path.to_owned(),
            "@query" => format!("?{}", query.unwrap_or("")),
            field => headers
                .iter()
                .find(|(n, _)| n.as_str() == field)
                .map(|(_, v)| v.to_str().unwrap().to_owned())
                .unwrap_or_else(|| panic!("covered header {field} missing")),
        };
        base.push_str(&format!("\"{}\": {value}\n", name.as_str()));
    }
    let mut params = String::new();
    let mut ser = sfv::ListSerializer::with_buffer(&mut params);
    {
        let mut inner = ser.inner_list();
        inner.items(&list.items);
        let _ = inner.finish().parameters(&list.params);
    }
    let _ = ser.finish();
    base.push_str(&format!("\"@signature-params\": {params}"));
    check(base.as_bytes(), sig)
}

fn ed25519_check(jwk: &Value) -> impl Fn(&[u8], &[u8]) -> bool {
    let x: [u8; 32] = URL_SAFE_NO_PAD
        .decode(jwk["x"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let key = ed25519_dalek::VerifyingKey::from_bytes(&x).unwrap();
    move |base, sig| {
        let Ok(sig) = ed25519_dalek::Signature::from_slice(sig) else {
            return false;
        };
        key.verify_strict(base, &sig).is_ok()
    }
}

fn hmac_check(secret_b64: &str) -> impl Fn(&[u8], &[u8]) -> bool {
    let secret = STANDARD.decode(secret_b64).unwrap();
    move |base, sig| {
        let mut mac = HmacSha256::new_from_slice(&secret).unwrap();
        mac.update(base);
        mac.verify_slice(sig).is_ok()
    }
}

fn sign_typical(s: &Signer, covered: &[(HeaderName, HeaderValue)]) -> HeaderList {
    let claims = claims();
    let name = assertion_name();
    s.sign(
        &SignInput {
            method: "POST",
            path: "/certifications",
            query: Some("a=1&b=%20"),
            covered,
            assertion_name: &name,
            claims: &claims,
        },
        now(),
    )
}
