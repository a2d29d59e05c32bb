//! Oracles shared by the fuzz targets: the invariants an extracted `imp_uid` must satisfy, and an
//! independent reading of a JSON body's top-level fields to check `extract` against.
//!
//! The targets are in `fuzz_targets/`; `README.md` says how to run them on a stable toolchain.

use std::fmt;

use serde::de::{Deserializer as _, MapAccess, Visitor};
use verigate::extract::{BodyKind, ExtractError};
use verigate::imp_uid::{ImpUid, MAX_LEN};

/// Panics unless `uid` is 1–64 characters of `[A-Za-z0-9_-]` and so needs no escaping in an API
/// path or a header (README, "What the app receives").
pub fn assert_valid_imp_uid(uid: &ImpUid) {
    let s = uid.as_str();
    assert!(
        (1..=MAX_LEN).contains(&s.len()),
        "imp_uid of {} bytes accepted",
        s.len()
    );
    assert!(
        s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'),
        "imp_uid outside the alphabet accepted: {s:?}"
    );
    assert_eq!(
        verigate::headers::percent_encode(s),
        s,
        "an accepted imp_uid would be altered by percent-encoding"
    );
    assert_eq!(
        ImpUid::parse(s).as_ref(),
        Ok(uid),
        "parse is not idempotent"
    );
}

/// The result `extract` must give for a JSON body whose top-level object has these values for
/// the field, in document order: none is `Missing`; a first value that is not a string is
/// `NotAString` (seen before any later duplicate); two or more are `Ambiguous`; one string is
/// whatever [`ImpUid::parse`] says.
pub fn expected_from_occurrences(
    occurrences: &[serde_json::Value],
) -> Result<ImpUid, ExtractError> {
    match occurrences {
        [] => Err(ExtractError::Missing),
        [first, ..] if !first.is_string() => Err(ExtractError::NotAString),
        [_, _, ..] => Err(ExtractError::Ambiguous),
        [only] => {
            let s = only.as_str().unwrap_or_default();
            ImpUid::parse(s).map_err(ExtractError::from)
        }
    }
}

/// Every value of `field` in a top-level JSON object, in document order, duplicates kept.
/// `None` when the body is not a JSON object that `serde_json::Value` can represent whole.
pub fn field_occurrences(body: &[u8], field: &str) -> Option<Vec<serde_json::Value>> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let found = de.deserialize_map(Occurrences { field }).ok()?;
    de.end().ok()?;
    Some(found)
}

struct Occurrences<'f> {
    field: &'f str,
}

impl<'de> Visitor<'de> for Occurrences<'_> {
    type Value = Vec<serde_json::Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            let value: serde_json::Value = map.next_value()?;
            if key == self.field {
                found.push(value);
            }
        }
        Ok(found)
    }
}

/// The error `extract` gives for a body that is valid JSON but not an object.
pub const NOT_AN_OBJECT: ExtractError = ExtractError::Malformed(BodyKind::Json);
