//! How many forwarded requests one core can sign: RFC 9421 signature alone and with the JWT
//! assertion, for each key algorithm, over the header set of a typical allowed adult.
//!
//! `jsonwebtoken::encode` of the same claims is measured alongside, as the reference for what
//! the hand-assembled JWS saves by not re-parsing the key per request.
//!
//! `cargo bench --bench signing` (add `-- --quick` for a short run). Time is the benchmark
//! thread's CPU time, not wall time, so the figures are per core even on a busy machine; the
//! throughput criterion prints (elements per second) is signatures per second per core.

use std::hint::black_box;

use criterion::measurement::WallTime;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use http::{HeaderName, HeaderValue};
use verigate::config::{KeyAlg, KeyMaterial, Secret, SigningKey};
use verigate::signing::{AssertionClaims, SignInput, keygen_ed25519, keygen_hmac};

mod common;
use common::{ThreadCpuTime, signer};

fn header(name: &'static str, value: &str) -> (HeaderName, HeaderValue) {
    (
        HeaderName::from_static(name),
        HeaderValue::from_str(value).expect("bench header value"),
    )
}

/// What `headers::annotate` and the digest produce for an allowed adult on the popup route.
fn typical_headers() -> Vec<(HeaderName, HeaderValue)> {
    vec![
        header("x-verified-verdict", "allow"),
        header("x-verified-imp-uid", "imp_123456789012"),
        header("x-verified-name", "%ED%99%8D%EA%B8%B8%EB%8F%99"),
        header("x-verified-birth", "2000-01-01"),
        header("x-verified-age", "26"),
        header("x-verified-policy", "adult"),
        header("x-verified-certified-at", "1767225600"),
        header(
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
        gender: None,
        phone_number: None,
        extra: &[],
    }
}

fn bench_sign(c: &mut Criterion<ThreadCpuTime>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (pem, _) = keygen_ed25519();
    let pem_path = dir.path().join("edge-1.pem");
    std::fs::write(&pem_path, &pem).expect("write key");
    let ed_key = || SigningKey {
        id: "edge-1".to_owned(),
        alg: KeyAlg::Ed25519,
        material: KeyMaterial::PrivateKeyFile(pem_path.clone()),
    };
    let hmac_secret = keygen_hmac();
    let hmac_key = || SigningKey {
        id: "shared-1".to_owned(),
        alg: KeyAlg::HmacSha256,
        material: KeyMaterial::HmacSecret(Secret::new(hmac_secret.clone())),
    };

    let covered = typical_headers();
    let claims = claims();
    let assertion = HeaderName::from_static("x-verified-assertion");
    let input = SignInput {
        method: "POST",
        path: "/certifications",
        query: None,
        covered: &covered,
        assertion_name: &assertion,
        claims: &claims,
    };
    let now = jiff::Timestamp::now();

    let mut group = c.benchmark_group("sign");
    group.throughput(Throughput::Elements(1));
    for (name, signer) in [
        ("ed25519/jwt-off", signer(ed_key(), false)),
        ("ed25519/jwt-on", signer(ed_key(), true)),
        ("hmac-sha256/jwt-off", signer(hmac_key(), false)),
        ("hmac-sha256/jwt-on", signer(hmac_key(), true)),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| signer.sign(black_box(&input), black_box(now)))
        });
    }
    group.finish();

    // Reference: the same assertion through jsonwebtoken, which parses the key on every call.
    let mut group = c.benchmark_group("jsonwebtoken-encode");
    group.throughput(Throughput::Elements(1));
    let der = {
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, body).expect("PEM body")
    };
    let ed = jsonwebtoken::EncodingKey::from_ed_der(&der);
    let hs = jsonwebtoken::EncodingKey::from_base64_secret(&hmac_secret).expect("secret");
    let iat = now.as_second();
    let payload = serde_json::json!({
        "iss": "verigate", "aud": "legacy-app", "iat": iat, "exp": iat + 60,
        "jti": "AAAAAAAAAAAAAAAAAAAAAA", "sub": "imp_123456789012", "name": "홍길동",
        "birthdate": "2000-01-01", "age": 26, "verdict": "allow", "policy": "adult",
        "certified_at": 1767225600, "htm": "POST", "htu": "/certifications",
    });
    for (name, alg, key) in [
        ("eddsa", jsonwebtoken::Algorithm::EdDSA, &ed),
        ("hs256", jsonwebtoken::Algorithm::HS256, &hs),
    ] {
        let mut header = jsonwebtoken::Header::new(alg);
        header.kid = Some("edge-1".to_owned());
        group.bench_function(name, |b| {
            b.iter(|| jsonwebtoken::encode(black_box(&header), black_box(&payload), key))
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(ThreadCpuTime(WallTime));
    targets = bench_sign
}
criterion_main!(benches);
