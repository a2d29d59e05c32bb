//! The PortOne V2 API's answer to `GET /identity-verifications/{id}`, from bytes to a record:
//! the body is read by the V2 provider's own `wire::interpret` as a 200, a 404 and a 401.
//!
//! Must never panic; a certified identity needs a `VERIFIED` record for the id asked for, with
//! a `verifiedAt` time; a 404 is "not found" only with the API's own error type; a 401 is always
//! the secret's rejection; an `Identity`'s `Debug` shows no personal field.

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use verigate::provider::portone_v2::wire::{self, NOT_FOUND};
use verigate::provider::{ProviderError, ProviderName, Record};
use verigate::verification_id::VerificationId;

/// The id asked for.
static ASKED: LazyLock<VerificationId> = LazyLock::new(|| {
    ProviderName::Portone
        .parse_id("identity-verification-39ecfa97")
        .expect("a valid id")
});

fuzz_target!(|data: &[u8]| {
    let value = serde_json::from_slice::<serde_json::Value>(data).ok();
    let field = |name: &str| value.as_ref().and_then(|v| v.get(name)).cloned();
    if let Ok(Record::Found(identity)) = wire::interpret(200, data, &ASKED) {
        assert_eq!(identity.imp_uid, *ASKED, "a record for another id");
        if identity.certified {
            assert_eq!(
                field("status"),
                Some("VERIFIED".into()),
                "certified, not VERIFIED"
            );
            assert!(
                identity.certified_at.is_some(),
                "certified without verifiedAt"
            );
        }
        // Debug reads the same whatever the personal fields hold.
        let scrubbed = verigate::identity::Identity {
            name: identity.name.as_ref().map(|_| "X".into()),
            birth_date: identity.birth_date.map(|_| jiff::civil::date(2000, 1, 1)),
            gender: None,
            foreigner: None,
            phone: None,
            carrier: None,
            unique_key: None,
            unique_in_site: None,
            ..identity.clone()
        };
        assert_eq!(
            format!("{identity:?}"),
            format!("{scrubbed:?}"),
            "Identity's Debug depends on a personal field"
        );
    }
    if wire::interpret(404, data, &ASKED) == Ok(Record::NotFound) {
        assert_eq!(
            field("type"),
            Some(NOT_FOUND.into()),
            "not found without its type"
        );
    }
    assert_eq!(
        wire::interpret(401, data, &ASKED),
        Err(ProviderError::CredentialsRejected)
    );
});
