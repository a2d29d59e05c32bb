//! What the shared cache stores for one verification, before sealing: a small JSON document
//! that names its own key (provider and id) beside the answer.
//!
//! Naming the key inside the sealed value binds it to its key: someone who can write to the
//! store cannot copy an adult's sealed verification onto another id, because the copy names the
//! wrong id and does not decode. Pure: no I/O, no clock.

use serde::{Deserialize, Serialize};

use super::CacheKey;
use crate::identity::Identity;
use crate::resolve::Resolved;
use std::sync::Arc;

/// The format of the stored document; a rolling deploy never reads one it cannot parse (the
/// key carries the same version, so a new format gets new keys).
const FORMAT: u8 = 1;

#[derive(Serialize, Deserialize)]
struct Stored {
    v: u8,
    provider: String,
    id: String,
    #[serde(flatten)]
    answer: Answer,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Answer {
    Found(Person),
    NotFound,
    Failed,
}

/// [`Identity`] without its id (the document names it once).
#[derive(Serialize, Deserialize)]
struct Person {
    certified: bool,
    certified_at: Option<jiff::Timestamp>,
    name: Option<Box<str>>,
    birth_date: Option<jiff::civil::Date>,
    gender: Option<Box<str>>,
    foreigner: Option<bool>,
    phone: Option<Box<str>>,
    carrier: Option<Box<str>>,
    unique_key: Option<Box<str>>,
    unique_in_site: Option<Box<str>>,
    pg_provider: Option<Box<str>>,
    merchant_uid: Option<Box<str>>,
}

/// The plaintext stored (sealed) under `key` for `value`.
pub(super) fn encode(key: &CacheKey, value: &Resolved) -> Vec<u8> {
    let answer = match value {
        Resolved::Found(i) => Answer::Found(Person {
            certified: i.certified,
            certified_at: i.certified_at,
            name: i.name.clone(),
            birth_date: i.birth_date,
            gender: i.gender.clone(),
            foreigner: i.foreigner,
            phone: i.phone.clone(),
            carrier: i.carrier.clone(),
            unique_key: i.unique_key.clone(),
            unique_in_site: i.unique_in_site.clone(),
            pg_provider: i.pg_provider.clone(),
            merchant_uid: i.merchant_uid.clone(),
        }),
        Resolved::NotFound => Answer::NotFound,
        Resolved::Failed => Answer::Failed,
    };
    let stored = Stored {
        v: FORMAT,
        provider: key.provider.as_str().into(),
        id: key.id.as_str().into(),
        answer,
    };
    // Serialising plain fields into a Vec cannot fail.
    serde_json::to_vec(&stored).unwrap_or_default()
}

/// The verification in `plaintext`, if it is a document of this format for exactly `key`.
pub(super) fn decode(key: &CacheKey, plaintext: &[u8]) -> Option<Resolved> {
    let stored: Stored = serde_json::from_slice(plaintext).ok()?;
    if stored.v != FORMAT
        || stored.provider != key.provider.as_str()
        || stored.id != key.id.as_str()
    {
        return None;
    }
    Some(match stored.answer {
        Answer::Found(p) => Resolved::Found(Arc::new(Identity {
            imp_uid: key.id.clone(),
            certified: p.certified,
            certified_at: p.certified_at,
            name: p.name,
            birth_date: p.birth_date,
            gender: p.gender,
            foreigner: p.foreigner,
            phone: p.phone,
            carrier: p.carrier,
            unique_key: p.unique_key,
            unique_in_site: p.unique_in_site,
            pg_provider: p.pg_provider,
            merchant_uid: p.merchant_uid,
        })),
        Answer::NotFound => Resolved::NotFound,
        Answer::Failed => Resolved::Failed,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::provider::ProviderName;
    use crate::verification_id::VerificationId;

    /// A certified adult with every field known.
    pub(crate) fn person(id: &VerificationId) -> Identity {
        Identity {
            certified: true,
            certified_at: Some("2026-11-30T08:15:42.123456789Z".parse().unwrap()),
            name: Some("홍길동".into()),
            birth_date: Some(jiff::civil::date(1976, 11, 7)),
            gender: Some("male".into()),
            foreigner: Some(false),
            phone: Some("01012345678".into()),
            carrier: Some("SKT".into()),
            unique_key: Some("ci-ci-ci".into()),
            unique_in_site: Some("di-di".into()),
            pg_provider: Some("danal".into()),
            merchant_uid: Some("order-1".into()),
            ..Identity::empty(id.clone())
        }
    }

    fn key(provider: ProviderName, id: &str) -> CacheKey {
        CacheKey::new(provider, provider.parse_id(id).unwrap())
    }

    #[test]
    fn every_answer_round_trips_under_its_own_key() {
        let k = key(ProviderName::Iamport, "imp_000000000001");
        let found = Resolved::Found(Arc::new(person(&k.id)));
        for value in [found, Resolved::NotFound, Resolved::Failed] {
            let back = decode(&k, &encode(&k, &value)).unwrap();
            match (&value, &back) {
                (Resolved::Found(a), Resolved::Found(b)) => assert_eq!(a, b),
                (Resolved::NotFound, Resolved::NotFound) | (Resolved::Failed, Resolved::Failed) => {
                }
                _ => panic!("{value:?} came back as {back:?}"),
            }
        }
    }

    #[test]
    fn a_value_does_not_decode_under_another_key() {
        let k = key(ProviderName::Iamport, "imp_000000000001");
        let doc = encode(&k, &Resolved::Found(Arc::new(person(&k.id))));
        for other in [
            key(ProviderName::Iamport, "imp_000000000002"),
            key(ProviderName::Portone, "imp_000000000001"),
        ] {
            assert!(decode(&other, &doc).is_none(), "{other:?}");
        }
        assert!(decode(&k, b"{}").is_none());
        assert!(decode(&k, b"not json").is_none());
        let future = String::from_utf8(doc)
            .unwrap()
            .replace("\"v\":1", "\"v\":2");
        assert!(decode(&k, future.as_bytes()).is_none());
    }
}
