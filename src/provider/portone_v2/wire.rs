//! What the PortOne V2 API says about one identity verification, read from its bytes:
//! [`interpret`] is the pure reading of one `GET /identity-verifications/{id}` answer
//! (PortOne's V2 API reference, `GET /identity-verifications/{identityVerificationId}`).
//!
//! | answer | reading |
//! |---|---|
//! | 200 `VERIFIED` | a certified [`Identity`] from `verifiedCustomer` and `verifiedAt` |
//! | 200 `READY`, or a status this code does not know | a record, not certified (`not_certified`) |
//! | 200 `FAILED` | [`Record::Failed`] (`failed`) |
//! | 404 `{"type":"IDENTITY_VERIFICATION_NOT_FOUND"}` | [`Record::NotFound`] |
//! | 401, 403 | the secret is rejected |
//! | any other status, a bare 404, garbage, a record for another id, a `VERIFIED` record without `verifiedCustomer.name` or an RFC 3339 `verifiedAt` | trouble (503) |
//!
//! Unknown fields are ignored (PortOne's compatibility policy lets the API add fields, enum
//! values and statuses). `gender` `MALE`/`FEMALE` become `male`/`female` as V1 says them; any
//! other gender is left unknown. The sandbox declares its own copy of these shapes on purpose:
//! it is the oracle the client is tested against.

use jiff::Timestamp;
use serde::Deserialize;

use crate::identity::{Identity, boxed, parse_ymd};
use crate::provider::http::parse;
use crate::provider::{ProviderError, Record};
use crate::verification_id::VerificationId;

/// The `type` of a 404 that means "no such identity verification".
pub const NOT_FOUND: &str = "IDENTITY_VERIFICATION_NOT_FOUND";

/// One identity verification, the fields verigate reads.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdentityVerification {
    pub status: String,
    pub id: String,
    pub verified_customer: Option<VerifiedCustomer>,
    /// RFC 3339.
    pub verified_at: Option<String>,
}

/// `verifiedCustomer` of a `VERIFIED` record; only `name` is required.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifiedCustomer {
    pub name: String,
    pub operator: Option<String>,
    pub phone_number: Option<String>,
    /// `yyyy-MM-dd`.
    pub birth_date: Option<String>,
    pub gender: Option<String>,
    pub is_foreigner: Option<bool>,
    pub ci: Option<String>,
    pub di: Option<String>,
}

/// Every V2 error body: `{"type": "...", "message"?: "..."}`.
#[derive(Deserialize)]
pub struct ErrorBody {
    #[serde(rename = "type")]
    pub kind: String,
}

/// What one `GET /identity-verifications/{asked}` answer says.
pub fn interpret(
    status: u16,
    body: &[u8],
    asked: &VerificationId,
) -> Result<Record, ProviderError> {
    match status {
        200 => {
            let record: IdentityVerification = parse(body)?;
            if record.id != asked.as_str() {
                return Err(ProviderError::Unparseable);
            }
            match record.status.as_str() {
                "VERIFIED" => verified(record, asked).map(Record::Found),
                "FAILED" => Ok(Record::Failed),
                // READY, and any status added later: a record, but not a verification.
                _ => Ok(Record::Found(Identity::empty(asked.clone()))),
            }
        }
        // "No such verification" only in the API's own words; a bare 404 (a wrong base_url, a
        // proxy in between) is trouble, not an answer.
        404 => match parse::<ErrorBody>(body) {
            Ok(e) if e.kind == NOT_FOUND => Ok(Record::NotFound),
            _ => Err(ProviderError::Status(404)),
        },
        401 | 403 => Err(ProviderError::CredentialsRejected),
        s => Err(ProviderError::Status(s)),
    }
}

/// The certified identity of a `VERIFIED` record.
fn verified(
    record: IdentityVerification,
    asked: &VerificationId,
) -> Result<Identity, ProviderError> {
    let (Some(c), Some(at)) = (record.verified_customer, record.verified_at) else {
        return Err(ProviderError::Unparseable);
    };
    let certified_at: Timestamp = at.parse().map_err(|_| ProviderError::Unparseable)?;
    let gender = match c.gender.as_deref() {
        Some("MALE") => Some("male".into()),
        Some("FEMALE") => Some("female".into()),
        _ => None,
    };
    Ok(Identity {
        imp_uid: asked.clone(),
        certified: true,
        certified_at: Some(certified_at),
        name: boxed(Some(c.name)),
        birth_date: c.birth_date.as_deref().and_then(parse_ymd),
        gender,
        foreigner: c.is_foreigner,
        phone: boxed(c.phone_number),
        carrier: boxed(c.operator),
        unique_key: boxed(c.ci),
        unique_in_site: boxed(c.di),
        pg_provider: None,
        merchant_uid: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    const VERIFIED: &str = r#"{"status":"VERIFIED","id":"iv-1",
        "channel":{"type":"TEST","pgProvider":"DANAL","pgMerchantId":"A010002002"},
        "verifiedCustomer":{"name":"홍길동","operator":"LGU","phoneNumber":"01012345678",
            "birthDate":"1990-01-02","gender":"FEMALE","isForeigner":false,"ci":"CI-1","di":"DI-1",
            "id":"customer-1"},
        "customData":"{}","requestedAt":"2024-01-01T00:00:00.000Z",
        "updatedAt":"2024-01-01T00:01:00.000Z","statusChangedAt":"2024-01-01T00:01:00.000Z",
        "verifiedAt":"2024-01-01T00:01:00.000Z","pgTxId":"tx","pgRawResponse":"{}",
        "version":"V2","someFieldAddedLater":[1]}"#;

    fn iv1() -> VerificationId {
        VerificationId::parse_max("iv-1", 128).unwrap()
    }

    #[test]
    fn a_verified_record_gives_every_field() {
        let Ok(Record::Found(id)) = interpret(200, VERIFIED.as_bytes(), &iv1()) else {
            panic!("not found");
        };
        assert!(id.certified);
        assert_eq!(id.imp_uid, iv1());
        assert_eq!(
            id.certified_at,
            Some("2024-01-01T00:01:00Z".parse().unwrap())
        );
        assert_eq!(id.name.as_deref(), Some("홍길동"));
        assert_eq!(id.birth_date, Some(date(1990, 1, 2)));
        assert_eq!(id.gender.as_deref(), Some("female"));
        assert_eq!(id.foreigner, Some(false));
        assert_eq!(id.phone.as_deref(), Some("01012345678"));
        assert_eq!(id.carrier.as_deref(), Some("LGU"));
        assert_eq!(id.unique_key.as_deref(), Some("CI-1"));
        assert_eq!(id.unique_in_site.as_deref(), Some("DI-1"));
        assert_eq!((id.pg_provider, id.merchant_uid), (None, None));
    }

    #[test]
    fn a_verified_record_with_only_the_required_fields_is_certified_with_unknowns() {
        let body = br#"{"status":"VERIFIED","id":"iv-1","verifiedCustomer":{"name":"x"},
            "verifiedAt":"2024-01-01T09:01:00+09:00"}"#;
        let Ok(Record::Found(id)) = interpret(200, body, &iv1()) else {
            panic!("not found");
        };
        assert!(id.certified);
        assert_eq!(
            id.certified_at,
            Some("2024-01-01T00:01:00Z".parse().unwrap())
        );
        assert_eq!((id.birth_date, id.gender, id.foreigner), (None, None, None));
    }

    #[derive(Debug, PartialEq)]
    enum Want {
        Certified,
        NotCertified,
        Failed,
        NotFound,
        Err(ProviderError),
    }

    fn reading(status: u16, body: &[u8]) -> Want {
        match interpret(status, body, &iv1()) {
            Ok(Record::Found(id)) if id.certified => Want::Certified,
            Ok(Record::Found(_)) => Want::NotCertified,
            Ok(Record::Failed) => Want::Failed,
            Ok(Record::NotFound) => Want::NotFound,
            Err(e) => Want::Err(e),
        }
    }

    #[test]
    fn every_status_and_error_reads_as_the_mapping_table_says() {
        use ProviderError as E;
        let ready = br#"{"status":"READY","id":"iv-1","requestedCustomer":{},
            "requestedAt":"2024-01-01T00:00:00Z","updatedAt":"2024-01-01T00:00:00Z",
            "statusChangedAt":"2024-01-01T00:00:00Z","version":"V2"}"#;
        let failed = br#"{"status":"FAILED","id":"iv-1","requestedCustomer":{"name":"x"},
            "failure":{"reason":"cancelled","pgCode":"X","pgMessage":"Y"},"version":"V2"}"#;
        let cases: &[(u16, &[u8], Want)] = &[
            (200, VERIFIED.as_bytes(), Want::Certified),
            (200, ready, Want::NotCertified),
            (200, failed, Want::Failed),
            (
                200,
                br#"{"status":"EXPIRED","id":"iv-1"}"#,
                Want::NotCertified,
            ),
            (
                404,
                br#"{"type":"IDENTITY_VERIFICATION_NOT_FOUND","message":"none"}"#,
                Want::NotFound,
            ),
            (
                404,
                br#"{"type":"IDENTITY_VERIFICATION_NOT_FOUND"}"#,
                Want::NotFound,
            ),
            (404, b"Not Found", Want::Err(E::Status(404))),
            (
                404,
                br#"{"type":"CHANNEL_NOT_FOUND"}"#,
                Want::Err(E::Status(404)),
            ),
            (
                401,
                br#"{"type":"UNAUTHORIZED","message":"bad secret"}"#,
                Want::Err(E::CredentialsRejected),
            ),
            (401, b"", Want::Err(E::CredentialsRejected)),
            (
                403,
                br#"{"type":"FORBIDDEN"}"#,
                Want::Err(E::CredentialsRejected),
            ),
            (
                400,
                br#"{"type":"INVALID_REQUEST"}"#,
                Want::Err(E::Status(400)),
            ),
            (
                500,
                br#"{"type":"INTERNAL","message":"x"}"#,
                Want::Err(E::Status(500)),
            ),
            (500, b"<html>oops</html>", Want::Err(E::Status(500))),
            (503, b"", Want::Err(E::Status(503))),
            (200, b"<html>", Want::Err(E::Unparseable)),
            (200, b"", Want::Err(E::Unparseable)),
            (200, b"[]", Want::Err(E::Unparseable)),
        ];
        for (status, body, want) in cases {
            let got = reading(*status, body);
            assert_eq!(&got, want, "{status} {}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn records_for_another_id_or_without_their_required_fields_are_trouble() {
        use ProviderError as E;
        let cases: &[(u16, &[u8], Want)] = &[
            // A record for another id is no answer to this one.
            (
                200,
                br#"{"status":"VERIFIED","id":"iv-2","verifiedCustomer":{"name":"x"},
                "verifiedAt":"2024-01-01T00:00:00Z"}"#,
                Want::Err(E::Unparseable),
            ),
            // Required fields missing, or of the wrong type.
            (200, br#"{"id":"iv-1"}"#, Want::Err(E::Unparseable)),
            (200, br#"{"status":"READY"}"#, Want::Err(E::Unparseable)),
            (
                200,
                br#"{"status":"VERIFIED","id":"iv-1","verifiedAt":"2024-01-01T00:00:00Z"}"#,
                Want::Err(E::Unparseable),
            ),
            (
                200,
                br#"{"status":"VERIFIED","id":"iv-1","verifiedCustomer":{"name":"x"}}"#,
                Want::Err(E::Unparseable),
            ),
            (
                200,
                br#"{"status":"VERIFIED","id":"iv-1","verifiedCustomer":{},
                "verifiedAt":"2024-01-01T00:00:00Z"}"#,
                Want::Err(E::Unparseable),
            ),
            (
                200,
                br#"{"status":"VERIFIED","id":"iv-1","verifiedCustomer":{"name":"x"},
                "verifiedAt":1704067200}"#,
                Want::Err(E::Unparseable),
            ),
            (
                200,
                br#"{"status":"VERIFIED","id":"iv-1","verifiedCustomer":{"name":"x"},
                "verifiedAt":"yesterday"}"#,
                Want::Err(E::Unparseable),
            ),
            (
                200,
                br#"{"status":"VERIFIED","id":"iv-1","verifiedCustomer":{"name":"x",
                "isForeigner":"no"},"verifiedAt":"2024-01-01T00:00:00Z"}"#,
                Want::Err(E::Unparseable),
            ),
        ];
        for (status, body, want) in cases {
            let got = reading(*status, body);
            assert_eq!(&got, want, "{status} {}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn genders_other_than_male_and_female_are_unknown_and_bad_dates_are_no_dates() {
        for (gender, want) in [
            ("MALE", Some("male")),
            ("FEMALE", Some("female")),
            ("OTHER", None),
            ("male", None),
        ] {
            let body = format!(
                r#"{{"status":"VERIFIED","id":"iv-1","verifiedCustomer":{{"name":"x",
                "gender":"{gender}","birthDate":"1990/01/02"}},"verifiedAt":"2024-01-01T00:00:00Z"}}"#
            );
            let Ok(Record::Found(id)) = interpret(200, body.as_bytes(), &iv1()) else {
                panic!("{gender}");
            };
            assert_eq!(id.gender.as_deref(), want, "{gender}");
            assert_eq!(id.birth_date, None);
        }
    }
}
