//! The certification API's answer, from bytes to headers: the body is read by the V1 provider's
//! own `wire::interpret` as a 200 and as a 404 answer, parsed as an `Envelope<Certification>`,
//! turned into an `Identity`, judged by two policies and annotated.
//!
//! Must never panic; the `Debug` of a `Certification` and of an `Identity` must not depend on any
//! personal field (so it can never print a parsed name, birth date, phone, CI or DI); a verdict
//! `allow` needs a certified, fresh person of age; every header value is non-empty ASCII and the
//! name header decodes back to the name.

#![no_main]

use std::sync::LazyLock;
use std::time::Duration;

use jiff::Timestamp;
use jiff::civil::date;
use jiff::tz::{Offset, TimeZone};
use libfuzzer_sys::fuzz_target;
use verigate::config::ForwardField;
use verigate::headers::{Annotation, HeaderNames, annotate};
use verigate::identity::Identity;
use verigate::imp_uid::ImpUid;
use verigate::policy::{AgeBasis, Policy, Verdict, age_on};
use verigate::provider::iamport_v1::wire::{self, Certification, Envelope};

/// The imp_uid asked for when the record's own is not a valid one.
static REQUESTED: LazyLock<ImpUid> =
    LazyLock::new(|| ImpUid::parse("imp_045262694732").expect("a valid imp_uid"));

/// 2025-06-15T15:06:40Z: a fixed "now", so a crash reproduces on any day.
static NOW: LazyLock<Timestamp> =
    LazyLock::new(|| Timestamp::from_second(1_750_000_000).expect("in range"));

static POLICIES: LazyLock<[Policy; 2]> = LazyLock::new(|| {
    let seoul =
        TimeZone::get("Asia/Seoul").unwrap_or_else(|_| TimeZone::fixed(Offset::constant(9)));
    [
        Policy {
            name: "adult".into(),
            min_age: 19,
            max_age: None,
            age_basis: AgeBasis::Year,
            timezone: seoul.clone(),
            max_certification_age: None,
        },
        Policy {
            name: "working age".into(),
            min_age: 19,
            max_age: Some(64),
            age_basis: AgeBasis::Full,
            timezone: seoul,
            max_certification_age: Some(Duration::from_secs(600)),
        },
    ]
});

static NAMES: LazyLock<HeaderNames> = LazyLock::new(|| {
    HeaderNames::new("x-verified-", &ForwardField::ALL).expect("valid header names")
});

fuzz_target!(|data: &[u8]| {
    // The provider's own reading of the bytes, as a 200 and as a 404, must never panic.
    let _ = wire::interpret(200, data, &REQUESTED);
    let _ = wire::interpret(404, data, &REQUESTED);
    let Ok(env) = serde_json::from_slice::<Envelope<Certification>>(data) else {
        return;
    };
    let _ = env.code;
    let Some(cert) = env.response else {
        return;
    };
    check_certification_debug(&cert);

    let requested = ImpUid::parse(&cert.imp_uid).unwrap_or_else(|_| REQUESTED.clone());
    let name = cert.name.clone();
    let identity = wire::to_identity(requested.clone(), cert);
    check_identity_debug(&identity, name.as_deref());

    for policy in POLICIES.iter() {
        let judgement = policy.judge(&identity, *NOW);
        assert_eq!(
            judgement.age,
            identity
                .birth_date
                .map(|b| age_on(b, policy.today(*NOW), policy.age_basis)),
        );
        if judgement.verdict == Verdict::Allow {
            let age = judgement.age.expect("allow without an age");
            assert!(identity.certified, "allow without certification");
            assert!(age >= policy.min_age, "allow under min_age");
            assert!(
                policy.max_age.is_none_or(|max| age <= max),
                "allow over max_age"
            );
            if let Some(window) = policy.max_certification_age {
                let at = identity.certified_at.expect("allow without certified_at");
                let since = NOW.duration_since(at);
                assert!(
                    since.as_secs() <= window.as_secs() as i64,
                    "allow when stale"
                );
            }
        }
        let headers = annotate(
            &NAMES,
            &Annotation {
                judgement,
                imp_uid: Some(&requested),
                identity: Some(&identity),
                policy,
            },
        );
        for (header, value) in &headers {
            let bytes = value.as_bytes();
            assert!(!bytes.is_empty(), "{header} is empty");
            assert!(
                bytes.iter().all(|b| b.is_ascii_graphic()),
                "{header} has a byte outside visible ASCII"
            );
        }
        let sent_name = headers.iter().find(|(h, _)| *h == NAMES.name);
        match (&identity.name, sent_name) {
            (Some(n), Some((_, v))) => {
                let decoded = percent_encoding::percent_decode(v.as_bytes()).decode_utf8();
                assert_eq!(
                    decoded.as_deref().ok(),
                    Some(&**n),
                    "name does not round-trip"
                );
            }
            (None, None) => {}
            (known, sent) => panic!(
                "name known: {}, name header sent: {}",
                known.is_some(),
                sent.is_some()
            ),
        }
    }
});

/// A `Certification`'s `Debug` must read the same whatever its personal fields hold.
fn check_certification_debug(cert: &Certification) {
    let scrubbed = Certification {
        name: cert.name.as_ref().map(|_| "X".to_owned()),
        gender: None,
        birthday: cert.birthday.as_ref().map(|_| "2000-01-01".to_owned()),
        birth: cert.birth.map(|_| 1),
        foreigner: None,
        phone: None,
        carrier: None,
        unique_key: None,
        unique_in_site: None,
        merchant_uid: None,
        pg_provider: None,
        ..cert.clone()
    };
    assert_eq!(
        format!("{cert:?}"),
        format!("{scrubbed:?}"),
        "Certification's Debug depends on a personal field"
    );
}

/// An `Identity`'s `Debug` must read the same whatever its personal fields hold, and so can
/// never contain the parsed name.
fn check_identity_debug(identity: &Identity, parsed_name: Option<&str>) {
    let shown = format!("{identity:?}");
    let scrubbed = Identity {
        name: identity.name.as_ref().map(|_| "X".into()),
        birth_date: identity.birth_date.map(|_| date(2000, 1, 1)),
        gender: None,
        foreigner: None,
        phone: None,
        carrier: None,
        unique_key: None,
        unique_in_site: None,
        ..identity.clone()
    };
    let neutral = format!("{scrubbed:?}");
    assert_eq!(
        shown, neutral,
        "Identity's Debug depends on a personal field"
    );
    // Said directly: a parsed name never shows, unless it is text the Debug holds anyway
    // ("Identity", "true", the imp_uid, …).
    if let Some(name) = parsed_name.filter(|n| !n.is_empty() && !neutral.contains(n)) {
        assert!(!shown.contains(name), "the name reached Debug");
    }
}
