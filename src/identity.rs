//! From the i'mport API's certification record to a typed [`Identity`].
//!
//! The API's JSON is parsed leniently (unknown fields ignored, `null` accepted anywhere but
//! `imp_uid`), then turned into an [`Identity`] whose `Debug` never prints personal data, so an
//! identity can travel through the code without ever risking a log line with a name in it.

use std::fmt;

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::{Offset, TimeZone};
use serde::Deserialize;

use crate::imp_uid::ImpUid;

/// One certification record as the V1 API returns it in `response` (`docs/iamport-api.md`).
#[derive(Clone, Default, Deserialize)]
#[serde(default)]
pub struct Certification {
    pub imp_uid: String,
    pub merchant_uid: Option<String>,
    pub pg_provider: Option<String>,
    pub name: Option<String>,
    pub gender: Option<String>,
    pub birthday: Option<String>,
    pub birth: Option<i64>,
    pub foreigner: Option<bool>,
    pub phone: Option<String>,
    pub carrier: Option<String>,
    pub certified: Option<bool>,
    pub certified_at: Option<i64>,
    pub unique_key: Option<String>,
    pub unique_in_site: Option<String>,
}

impl fmt::Debug for Certification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certification")
            .field("imp_uid", &self.imp_uid)
            .field("certified", &self.certified)
            .field("certified_at", &self.certified_at)
            .finish_non_exhaustive()
    }
}

/// A resolved verification: who the person is, as far as the API says.
#[derive(Clone, PartialEq, Eq)]
pub struct Identity {
    pub imp_uid: ImpUid,
    pub certified: bool,
    pub certified_at: Option<Timestamp>,
    pub name: Option<Box<str>>,
    pub birth_date: Option<Date>,
    pub gender: Option<Box<str>>,
    pub foreigner: Option<bool>,
    pub phone: Option<Box<str>>,
    pub carrier: Option<Box<str>>,
    /// CI.
    pub unique_key: Option<Box<str>>,
    /// DI.
    pub unique_in_site: Option<Box<str>>,
    pub pg_provider: Option<Box<str>>,
    pub merchant_uid: Option<Box<str>>,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Personal fields are never printed, only whether they are known.
        f.debug_struct("Identity")
            .field("imp_uid", &self.imp_uid)
            .field("certified", &self.certified)
            .field("certified_at", &self.certified_at)
            .field("name", &self.name.as_ref().map(|_| "<redacted>"))
            .field("birth_date", &self.birth_date.map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

/// Korea Standard Time, in which `birth` seconds are midnight of the birth date.
const KST: Offset = Offset::constant(9);

/// The birth date from `birthday` (`YYYY-MM-DD`) when present and well-formed, else from `birth`
/// read as UNIX seconds (never milliseconds) and taken as a date in KST. `birth = 0` is unknown.
pub fn birth_date(birthday: Option<&str>, birth: Option<i64>) -> Option<Date> {
    if let Some(date) = birthday.and_then(parse_birthday) {
        return Some(date);
    }
    let secs = birth.filter(|&s| s != 0)?;
    let ts = Timestamp::from_second(secs).ok()?;
    Some(ts.to_zoned(TimeZone::fixed(KST)).date())
}

/// Strict `YYYY-MM-DD`; anything else (empty, a time, another order) is not a birthday.
fn parse_birthday(s: &str) -> Option<Date> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    s.parse::<Date>().ok()
}

fn boxed(s: Option<String>) -> Option<Box<str>> {
    s.filter(|v| !v.is_empty()).map(String::into_boxed_str)
}

impl Identity {
    /// An uncertified identity with nothing known but the id.
    pub fn empty(imp_uid: ImpUid) -> Self {
        Identity {
            imp_uid,
            certified: false,
            certified_at: None,
            name: None,
            birth_date: None,
            gender: None,
            foreigner: None,
            phone: None,
            carrier: None,
            unique_key: None,
            unique_in_site: None,
            pg_provider: None,
            merchant_uid: None,
        }
    }

    /// Builds the identity for `requested` from the API's record. The record's own `imp_uid` is
    /// not trusted to be well-formed; the one that was asked for is kept.
    pub fn from_certification(requested: ImpUid, c: Certification) -> Self {
        let certified = c.certified.unwrap_or(false);
        let certified_at = c
            .certified_at
            .filter(|&s| s > 0)
            .and_then(|s| Timestamp::from_second(s).ok());
        Identity {
            imp_uid: requested,
            certified,
            certified_at,
            birth_date: birth_date(c.birthday.as_deref(), c.birth),
            name: boxed(c.name),
            gender: boxed(c.gender),
            foreigner: c.foreigner,
            phone: boxed(c.phone),
            carrier: boxed(c.carrier),
            unique_key: boxed(c.unique_key),
            unique_in_site: boxed(c.unique_in_site),
            pg_provider: boxed(c.pg_provider),
            merchant_uid: boxed(c.merchant_uid),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn birth_date_prefers_birthday_then_kst_seconds() {
        let cases: &[(Option<&str>, Option<i64>, Option<Date>)] = &[
            (Some("1976-11-07"), Some(216140400), Some(date(1976, 11, 7))),
            // birthday wins over a disagreeing birth
            (Some("1990-01-02"), Some(689785200), Some(date(1990, 1, 2))),
            // birth alone: KST midnight; in UTC it would be the day before
            (None, Some(689785200), Some(date(1991, 11, 11))),
            (None, Some(216140400), Some(date(1976, 11, 7))),
            // malformed birthday falls back to birth
            (
                Some("1991/11/11"),
                Some(689785200),
                Some(date(1991, 11, 11)),
            ),
            (Some(""), Some(689785200), Some(date(1991, 11, 11))),
            (Some("1991-11-11T00:00"), None, None),
            (Some("1991-02-30"), None, None),
            (Some("2004-02-29"), None, Some(date(2004, 2, 29))),
            (None, Some(0), None),
            (None, None, None),
            // milliseconds are never guessed: this is year ~23827, out of range → unknown
            (None, Some(689785200000), None),
        ];
        for (birthday, birth, want) in cases {
            assert_eq!(
                birth_date(*birthday, *birth),
                *want,
                "{birthday:?} {birth:?}"
            );
        }
    }

    #[test]
    fn record_with_nulls_and_unknown_fields_parses_leniently() {
        let json = r#"{"imp_uid":"imp_000000000007","name":null,"birth":0,"certified":false,
            "certified_at":0,"foreigner":false,"foreigner_v2":null,"new_field":{"x":1},
            "unique_key":"","pg_provider":"danal"}"#;
        let c: Certification = serde_json::from_str(json).unwrap();
        let id = Identity::from_certification(ImpUid::parse("imp_000000000007").unwrap(), c);
        assert!(!id.certified);
        assert_eq!(id.certified_at, None);
        assert_eq!(id.birth_date, None);
        assert_eq!(id.unique_key, None);
        assert_eq!(id.pg_provider.as_deref(), Some("danal"));
    }

    #[test]
    fn debug_output_never_contains_personal_data() {
        let c = Certification {
            imp_uid: "imp_1".into(),
            name: Some("홍길동".into()),
            birthday: Some("1976-11-07".into()),
            phone: Some("01012345678".into()),
            unique_key: Some("CI-SECRET".into()),
            certified: Some(true),
            ..Default::default()
        };
        let printed = format!("{c:?}");
        let id = Identity::from_certification(ImpUid::parse("imp_1").unwrap(), c);
        let printed = printed + &format!("{id:?}");
        for secret in ["홍길동", "1976", "01012345678", "CI-SECRET"] {
            assert!(!printed.contains(secret), "{secret} leaked: {printed}");
        }
    }
}
