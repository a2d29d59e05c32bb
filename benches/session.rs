//! What a gated request with a valid session costs verigate itself, step by step: opening the
//! sealed session cookie, judging it by the gate's policy, and building the headers the app
//! receives (unsigned, signed with HMAC-SHA256, signed with Ed25519 plus the JWT assertion),
//! then the three together as `proxy/gated.rs` runs them.
//!
//! - `open/cookie-header`: the session among other cookies in a `Cookie` header, as the proxy
//!   finds it (`SessionCookies::session_from`): after the first use, one of the sessions the
//!   configuration keeps; `open/warm-scratch`: the value alone opened (AEAD and decoding) into
//!   a reused buffer (`open_session_in`), what a session's first use costs.
//! - `judge`: `Policy::judge_session` (age on today's date in Seoul, by years).
//! - `headers/*`: `verify::annotate_for` for a `GET` without a body: the `x-verified-*` set,
//!   then the RFC 9421 signature (and JWT) when signing.
//! - `gated/*`: open (kept) + judge + the judged identity (the session's person, shared) +
//!   headers.
//!
//! `cargo bench --bench session -- --warm-up-time 1 --measurement-time 3`. Time is the
//! benchmark thread's CPU time, as in the signing bench.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use jiff::Timestamp;
use verigate::config::{KeyAlg, KeyMaterial, Secret, SigningKey};
use verigate::headers::HeaderNames;
use verigate::identity::Identity;
use verigate::imp_uid::ImpUid;
use verigate::policy::{AgeBasis, Policy};
use verigate::seal::Sealer;
use verigate::session::{CookieSettings, Provider, SameSite, Session, SessionCookies};
use verigate::signing::{Signer, keygen_ed25519, keygen_hmac};
use verigate::verify::{self, Annotator, Judged, Request};

mod common;
use common::{ThreadCpuTime, signer};

fn cookies() -> SessionCookies {
    let settings = CookieSettings {
        name: "verigate".into(),
        secure: true,
        same_site: SameSite::Lax,
        ttl: Duration::from_secs(3600),
    };
    SessionCookies::new(&settings, Sealer::new(&[[7u8; 32]]).expect("key")).expect("cookies")
}

/// The sealed session of an adult (name, birth date, `certified_at`), issued a minute ago.
fn session(now: Timestamp) -> Session {
    let issued = Timestamp::from_second(now.as_second() - 60).expect("time");
    let mut id = Identity::empty(ImpUid::parse("imp_045262694732").expect("id"));
    id.certified = true;
    id.certified_at = Some(issued);
    id.name = Some("홍길동".into());
    id.birth_date = Some(jiff::civil::date(1990, 1, 1));
    Session::new(
        Provider::IamportV1,
        &id,
        &[],
        issued,
        Duration::from_secs(3600),
    )
}

fn policy() -> Policy {
    Policy {
        name: "adult".into(),
        min_age: 19,
        max_age: None,
        age_basis: AgeBasis::Year,
        timezone: jiff::tz::TimeZone::get("Asia/Seoul").expect("Asia/Seoul"),
        max_certification_age: None,
    }
}

/// An HMAC-SHA256 signer without the JWT, and an Ed25519 one with it.
fn signers(dir: &std::path::Path) -> (Signer, Signer) {
    let hmac = signer(
        SigningKey {
            id: "shared-1".to_owned(),
            alg: KeyAlg::HmacSha256,
            material: KeyMaterial::HmacSecret(Secret::new(keygen_hmac())),
        },
        false,
    );
    let (pem, _) = keygen_ed25519();
    let path = dir.join("edge-1.pem");
    std::fs::write(&path, &pem).expect("write key");
    let ed = signer(
        SigningKey {
            id: "edge-1".to_owned(),
            alg: KeyAlg::Ed25519,
            material: KeyMaterial::PrivateKeyFile(path),
        },
        true,
    );
    (hmac, ed)
}

const REQUEST: Request<'static> = Request {
    method: "GET",
    path: "/adult/videos",
    query: Some("page=2"),
    content_type: None,
    body: &[],
};

fn bench_session(c: &mut Criterion<ThreadCpuTime>) {
    let now = Timestamp::now();
    let cookies = cookies();
    let sealed = cookies.seal_session(&session(now)).expect("seal");
    let header = format!("theme=dark; _ga=GA1.2.3.4; __Host-verigate={sealed}");
    let policy = policy();
    let names = HeaderNames::new("x-verified-", &[]).expect("names");
    let dir = tempfile::tempdir().expect("temp dir");
    let (hmac, ed) = signers(dir.path());
    let opened = cookies
        .session_from([header.as_str()], now)
        .expect("the session opens");
    let judgement = policy.judge_session(&opened.session.identity, now);
    assert!(matches!(
        judgement.verdict,
        verigate::policy::Verdict::Allow
    ));
    let judged = Judged {
        judgement,
        id: Some(opened.session.identity.imp_uid.clone()),
        identity: Some(Arc::clone(&opened.session.identity)),
    };
    let provider = opened.session.provider.name();
    let annotator = |signer| Annotator {
        names: &names,
        signer,
    };
    let annotators = [
        ("unsigned", annotator(None)),
        ("hmac-sha256", annotator(Some(&hmac))),
        ("ed25519-jwt", annotator(Some(&ed))),
    ];

    let mut group = c.benchmark_group("session");
    group.throughput(Throughput::Elements(1));
    group.bench_function("open/cookie-header", |b| {
        b.iter(|| cookies.session_from([black_box(header.as_str())], black_box(now)))
    });
    let mut scratch = Vec::with_capacity(4096);
    group.bench_function("open/warm-scratch", |b| {
        b.iter(|| cookies.open_session_in(black_box(&sealed), black_box(now), &mut scratch))
    });
    group.bench_function("judge", |b| {
        b.iter(|| policy.judge_session(black_box(&opened.session.identity), black_box(now)))
    });
    for (name, with) in annotators {
        group.bench_function(format!("headers/{name}"), |b| {
            b.iter(|| {
                verify::annotate_for(with, provider, &policy, black_box(&judged), &REQUEST, now)
            })
        });
    }
    for (name, with) in annotators {
        group.bench_function(format!("gated/{name}"), |b| {
            b.iter(|| {
                let opened = cookies.session_from([black_box(header.as_str())], now)?;
                let identity = &opened.session.identity;
                let judged = Judged {
                    judgement: policy.judge_session(identity, now),
                    id: Some(identity.imp_uid.clone()),
                    identity: Some(Arc::clone(identity)),
                };
                let provider = opened.session.provider.name();
                Some(verify::annotate_for(
                    with, provider, &policy, &judged, &REQUEST, now,
                ))
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(ThreadCpuTime(WallTime));
    targets = bench_session
}
criterion_main!(benches);
