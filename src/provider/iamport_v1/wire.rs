//! What the i'mport V1 API says, read from its bytes: the `{code, message, response}` envelope,
//! the token answer, the certification record, and [`interpret`], the pure reading of one
//! `GET /certifications/{imp_uid}` answer.
//!
//! The record is parsed leniently (unknown fields ignored, `null` accepted anywhere but
//! `imp_uid`). The sandbox declares its own copy of these structs on purpose: it is the oracle
//! the client is tested against, and shares no code with it.

use std::fmt;

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::{Offset, TimeZone};
use serde::Deserialize;

use crate::identity::{Identity, boxed, parse_ymd};
use crate::provider::ProviderError;
use crate::provider::http::parse;
use crate::verification_id::VerificationId;

/// The envelope of every V1 answer.
#[derive(Deserialize)]
pub struct Envelope<T> {
    pub code: Option<i64>,
    pub response: Option<T>,
}

/// `response` of `POST /users/getToken`.
#[derive(Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    /// The API's clock, UNIX seconds.
    pub now: i64,
    /// UNIX seconds on the API's clock.
    pub expired_at: i64,
}

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

/// Why a certification answer is not a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// 401: the token is no longer valid (drop it, refresh, retry once).
    Unauthorized,
    /// Anything else that is not an answer.
    Failed(ProviderError),
}

impl From<ProviderError> for Refusal {
    fn from(e: ProviderError) -> Self {
        Refusal::Failed(e)
    }
}

/// What one `GET /certifications/{asked}` answer says: the identity, `None` for "no such
/// certification", or why it is no answer.
pub fn interpret(
    status: u16,
    body: &[u8],
    asked: &VerificationId,
) -> Result<Option<Identity>, Refusal> {
    match status {
        200 => {
            let env: Envelope<Certification> = parse(body)?;
            match (env.code, env.response) {
                (Some(0), Some(c)) if c.imp_uid == asked.as_str() => {
                    Ok(Some(to_identity(asked.clone(), c)))
                }
                (Some(0), _) => Err(ProviderError::Unparseable.into()),
                (code, _) => Err(ProviderError::ApiCode(code.unwrap_or(-1)).into()),
            }
        }
        // A 404 is "no such verification" only in the API's own envelope; a bare 404 (a wrong
        // base_url, a proxy in between) is trouble, not an answer.
        404 => match parse::<Envelope<serde_json::Value>>(body) {
            Ok(Envelope {
                code: Some(c),
                response: None,
            }) if c != 0 => Ok(None),
            _ => Err(ProviderError::Status(404).into()),
        },
        401 => Err(Refusal::Unauthorized),
        s => Err(ProviderError::Status(s).into()),
    }
}

/// What one `POST /users/getToken` answer says: the token, or why there is none. 401 and 403
/// are the credentials' rejection.
pub fn interpret_token(status: u16, body: &[u8]) -> Result<TokenResponse, ProviderError> {
    match status {
        200 => {}
        401 | 403 => return Err(ProviderError::CredentialsRejected),
        s => return Err(ProviderError::Status(s)),
    }
    let env: Envelope<TokenResponse> = parse(body)?;
    match (env.code, env.response) {
        (Some(0), Some(t)) => Ok(t),
        (code, _) => Err(ProviderError::ApiCode(code.unwrap_or(-1))),
    }
}

/// Korea Standard Time, in which `birth` seconds are midnight of the birth date.
const KST: Offset = Offset::constant(9);

/// The birth date from `birthday` (`YYYY-MM-DD`) when present and well-formed, else from `birth`
/// read as UNIX seconds (never milliseconds) and taken as a date in KST. `birth = 0` is unknown.
pub fn birth_date(birthday: Option<&str>, birth: Option<i64>) -> Option<Date> {
    if let Some(date) = birthday.and_then(parse_ymd) {
        return Some(date);
    }
    let secs = birth.filter(|&s| s != 0)?;
    let ts = Timestamp::from_second(secs).ok()?;
    Some(ts.to_zoned(TimeZone::fixed(KST)).date())
}

/// Builds the identity for `requested` from the API's record. The record's own `imp_uid` is
/// not trusted to be well-formed; the one that was asked for is kept.
pub fn to_identity(requested: VerificationId, c: Certification) -> Identity {
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

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn uid(s: &str) -> VerificationId {
        VerificationId::parse(s).unwrap()
    }

    #[test]
    fn certification_answers_read_as_the_api_means_them() {
        use ProviderError as E;
        let asked = uid("imp_000000000001");
        let ok = br#"{"code":0,"message":null,"response":{"imp_uid":"imp_000000000001",
            "certified":true,"birthday":"1990-01-02","name":"x"}}"#;
        let uncertified = br#"{"code":0,"response":{"imp_uid":"imp_000000000001",
            "certified":false}}"#;
        let other = br#"{"code":0,"response":{"imp_uid":"imp_000000000002","certified":true}}"#;
        type Found = Result<Option<(bool, Option<Date>)>, Refusal>;
        let cases: &[(u16, &[u8], Found)] = &[
            (200, ok, Ok(Some((true, Some(date(1990, 1, 2)))))),
            (200, uncertified, Ok(Some((false, None)))),
            // Another record than the one asked for is no answer.
            (200, other, Err(Refusal::Failed(E::Unparseable))),
            (
                200,
                br#"{"code":0,"response":null}"#,
                Err(Refusal::Failed(E::Unparseable)),
            ),
            (
                200,
                br#"{"code":-1,"message":"x","response":null}"#,
                Err(Refusal::Failed(E::ApiCode(-1))),
            ),
            (
                200,
                br#"{"response":null}"#,
                Err(Refusal::Failed(E::ApiCode(-1))),
            ),
            (200, b"<html>", Err(Refusal::Failed(E::Unparseable))),
            (200, b"", Err(Refusal::Failed(E::Unparseable))),
            (
                404,
                br#"{"code":-1,"message":"not found","response":null}"#,
                Ok(None),
            ),
            // A bare 404 (a wrong base_url, a proxy) is trouble, not "no such record".
            (404, b"Not Found", Err(Refusal::Failed(E::Status(404)))),
            (
                404,
                br#"{"code":0,"response":null}"#,
                Err(Refusal::Failed(E::Status(404))),
            ),
            (
                404,
                br#"{"code":-1,"response":{"imp_uid":"x"}}"#,
                Err(Refusal::Failed(E::Status(404))),
            ),
            (
                401,
                br#"{"code":-1,"message":"Unauthorized","response":null}"#,
                Err(Refusal::Unauthorized),
            ),
            (400, b"{}", Err(Refusal::Failed(E::Status(400)))),
            (403, b"{}", Err(Refusal::Failed(E::Status(403)))),
            (500, b"{}", Err(Refusal::Failed(E::Status(500)))),
            (503, b"", Err(Refusal::Failed(E::Status(503)))),
        ];
        for (status, body, want) in cases {
            let got = interpret(*status, body, &asked)
                .map(|found| found.map(|id| (id.certified, id.birth_date)));
            assert_eq!(&got, want, "{status} {}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn token_answers_read_as_the_api_means_them() {
        use ProviderError as E;
        let ok = br#"{"code":0,"response":{"access_token":"t","now":100,"expired_at":1900}}"#;
        type Lifetime = Result<(i64, i64), ProviderError>;
        let cases: &[(u16, &[u8], Lifetime)] = &[
            (200, ok, Ok((100, 1900))),
            (
                200,
                br#"{"code":-1,"message":"bad","response":null}"#,
                Err(E::ApiCode(-1)),
            ),
            (
                200,
                br#"{"code":0,"response":{"access_token":"t"}}"#,
                Err(E::Unparseable),
            ),
            (200, b"garbage", Err(E::Unparseable)),
            (401, b"{}", Err(E::CredentialsRejected)),
            (403, b"", Err(E::CredentialsRejected)),
            (500, b"{}", Err(E::Status(500))),
            (404, b"{}", Err(E::Status(404))),
        ];
        for (status, body, want) in cases {
            let got = interpret_token(*status, body).map(|t| (t.now, t.expired_at));
            assert_eq!(&got, want, "{status} {}", String::from_utf8_lossy(body));
        }
    }

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
        let id = to_identity(uid("imp_000000000007"), c);
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
        let id = to_identity(uid("imp_1"), c);
        let printed = printed + &format!("{id:?}");
        for secret in ["홍길동", "1976", "01012345678", "CI-SECRET"] {
            assert!(!printed.contains(secret), "{secret} leaked: {printed}");
        }
    }
}
