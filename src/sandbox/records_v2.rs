//! The sandbox's V2 identity verifications (`docs/iamport-api.md`, V2): the record with PortOne's V2
//! field names, and the plausible values filled into omitted fields (a fresh id, status
//! `VERIFIED`, RFC 3339 times from the sandbox clock, a TEST channel, a derived CI/DI).
//!
//! Every field is optional on input and omitted on output when absent: PortOne's official Python
//! client raises on a `null` where a string is due, so the sandbox never sends one. Like
//! [`SandboxRecord`](super::SandboxRecord), the type restates the wire format apart from the
//! gateway's client on purpose: the sandbox is the oracle.

use std::fmt::Write as _;

use jiff::Timestamp;
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::Sandbox;
use super::records::{derived_ci, derived_di, person_seed};
use super::state::lock;

/// The status of a verified record.
pub const STATUS_VERIFIED: &str = "VERIFIED";
/// The status of a started, unfinished record.
pub const STATUS_READY: &str = "READY";
/// The status of a failed (or cancelled) record.
pub const STATUS_FAILED: &str = "FAILED";

/// One V2 identity verification as `GET /identity-verifications/{id}` answers it.
///
/// As input (people file, `POST /__sandbox/identity-verifications`,
/// [`Sandbox::insert_identity_verification`]) every field may be omitted; see
/// [`Sandbox::insert_identity_verification`] for what is filled in. As output, absent fields are
/// omitted (never `null`) and extra input fields follow verbatim.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SandboxIdentityVerification {
    /// `VERIFIED`, `READY` or `FAILED`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The merchant's identityVerificationId.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The channel the verification ran on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<SandboxChannel>,
    /// Who was verified (`VERIFIED`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified_customer: Option<SandboxVerifiedCustomer>,
    /// Who was asked for (`READY`, `FAILED`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requested_customer: Option<SandboxRequestedCustomer>,
    /// The merchant's custom data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_data: Option<String>,
    /// RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requested_at: Option<String>,
    /// RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    /// RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_changed_at: Option<String>,
    /// RFC 3339 (`VERIFIED`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified_at: Option<String>,
    /// The provider's transaction id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pg_tx_id: Option<String>,
    /// The provider's raw answer (`VERIFIED`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pg_raw_response: Option<String>,
    /// Why it failed (`FAILED`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<SandboxFailure>,
    /// `V1` or `V2`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Sandbox only: the store the record belongs to. When set, a lookup with another `?storeId=`
    /// is answered 403 `FORBIDDEN`; when absent every store may read it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store_id: Option<String>,
    /// Fields the sandbox does not know, kept and echoed as given.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `verifiedCustomer`: only `name` is required by the API.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct SandboxVerifiedCustomer {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `SKT`, `KT`, `LGU`, `SKT_MVNO`, `KT_MVNO`, `LGU_MVNO`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
    /// Digits only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    /// `yyyy-MM-dd`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub birth_date: Option<String>,
    /// `MALE`, `FEMALE`, `OTHER`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gender: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_foreigner: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ci: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub di: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `requestedCustomer`: every field optional; `{}` is valid.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct SandboxRequestedCustomer {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub birth_year: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub birth_month: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub birth_day: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `failure`: every field optional; `{}` is valid.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct SandboxFailure {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pg_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pg_message: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `channel`: `type`, `pgProvider` and `pgMerchantId` are required once a channel is sent, so
/// the sandbox fills them into a partial one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct SandboxChannel {
    /// `LIVE` or `TEST`.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `DANAL`, `INICIS_UNIFIED`, `KCP_V2`, …
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pg_provider: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pg_merchant_id: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl SandboxIdentityVerification {
    /// A verified person with a name and a `yyyy-MM-dd` birth date; every other field gets the
    /// defaults of [`Sandbox::insert_identity_verification`].
    pub fn person(name: &str, birth_date: &str) -> SandboxIdentityVerification {
        SandboxIdentityVerification {
            verified_customer: Some(SandboxVerifiedCustomer {
                name: Some(name.to_owned()),
                birth_date: Some(birth_date.to_owned()),
                ..SandboxVerifiedCustomer::default()
            }),
            ..SandboxIdentityVerification::default()
        }
    }

    /// A record of the given status (`READY`, `FAILED`, …) for `id`, the rest filled in.
    pub fn with_status(id: &str, status: &str) -> SandboxIdentityVerification {
        SandboxIdentityVerification {
            id: Some(id.to_owned()),
            status: Some(status.to_owned()),
            ..SandboxIdentityVerification::default()
        }
    }
}

/// An RFC 3339 time in UTC with milliseconds, as PortOne's V2 samples write it
/// (`2024-04-25T10:00:00.000Z`).
pub(super) fn rfc3339(t: Timestamp) -> String {
    format!("{t:.3}")
}

/// A fresh id in the shape of PortOne's examples: `identity-verification-` + 8 hex digits.
pub(super) fn fresh_id() -> String {
    let bytes: [u8; 4] = rand::rng().random();
    bytes
        .iter()
        .fold(String::from("identity-verification-"), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

impl Sandbox {
    /// Stores a V2 identity verification (replacing one with the same id) and returns it as
    /// stored.
    ///
    /// Omitted fields get plausible values: `id` a fresh `identity-verification-<hex>`, `status`
    /// `VERIFIED`, `version` `V2`, a TEST Danal `channel` (a partial channel is completed), and
    /// the three times `requestedAt`, `updatedAt`, `statusChangedAt` = now on the sandbox clock
    /// (or `verifiedAt` when given). `VERIFIED`: `verifiedAt` now, `pgTxId`, `pgRawResponse`
    /// `"{}"`, and a `verifiedCustomer` whose `name` defaults to 홍길동, `birthDate` to
    /// 1990-01-01 (only for `version` `V2`, as PortOne says it is always present there),
    /// `isForeigner` false and `ci`/`di` derived from the person. `READY` and `FAILED`:
    /// `requestedCustomer` `{}`; `FAILED` also a `failure` with a `reason`. Anything else stays
    /// omitted unless given.
    pub fn insert_identity_verification(
        &self,
        rec: SandboxIdentityVerification,
    ) -> SandboxIdentityVerification {
        let rec = self.complete_v2(rec);
        let id = rec.id.clone().unwrap_or_default();
        lock(&self.inner.identity_verifications).insert(id, rec.clone());
        rec
    }

    /// The stored V2 record for `id`, if any.
    pub fn identity_verification(&self, id: &str) -> Option<SandboxIdentityVerification> {
        lock(&self.inner.identity_verifications).get(id).cloned()
    }

    /// Fills the omitted fields of a V2 record (see [`Sandbox::insert_identity_verification`]).
    fn complete_v2(&self, mut rec: SandboxIdentityVerification) -> SandboxIdentityVerification {
        let now = rfc3339(self.now_timestamp());
        rec.id.get_or_insert_with(fresh_id);
        let status = rec
            .status
            .get_or_insert_with(|| STATUS_VERIFIED.to_owned())
            .clone();
        let version = rec.version.get_or_insert_with(|| "V2".to_owned()).clone();
        complete_channel(rec.channel.get_or_insert_with(SandboxChannel::default));
        let anchor = match (status.as_str(), &rec.verified_at) {
            (STATUS_VERIFIED, Some(at)) => at.clone(),
            _ => now,
        };
        rec.requested_at.get_or_insert_with(|| anchor.clone());
        rec.updated_at.get_or_insert_with(|| anchor.clone());
        rec.status_changed_at.get_or_insert_with(|| anchor.clone());
        match status.as_str() {
            STATUS_VERIFIED => {
                rec.verified_at.get_or_insert_with(|| anchor.clone());
                rec.pg_tx_id.get_or_insert_with(|| pg_tx_id(&anchor));
                rec.pg_raw_response.get_or_insert_with(|| "{}".to_owned());
                let customer = rec
                    .verified_customer
                    .get_or_insert_with(SandboxVerifiedCustomer::default);
                self.complete_customer(customer, version == "V2");
            }
            STATUS_READY | STATUS_FAILED => {
                rec.requested_customer
                    .get_or_insert_with(SandboxRequestedCustomer::default);
                if status == STATUS_FAILED {
                    rec.failure.get_or_insert_with(|| SandboxFailure {
                        reason: Some("본인인증에 실패했습니다.".to_owned()),
                        ..SandboxFailure::default()
                    });
                }
            }
            _ => {}
        }
        rec
    }

    /// The verified person's defaults: a name, a birth date (V2 records), not a foreigner, and a
    /// CI/DI derived from the person like V1's, so one person has one CI in both APIs.
    fn complete_customer(&self, c: &mut SandboxVerifiedCustomer, birth_date: bool) {
        c.name.get_or_insert_with(|| "홍길동".to_owned());
        if birth_date {
            c.birth_date.get_or_insert_with(|| "1990-01-01".to_owned());
        }
        c.is_foreigner.get_or_insert(false);
        let ci =
            c.ci.get_or_insert_with(|| {
                derived_ci(&person_seed(
                    c.name.as_deref(),
                    c.birth_date.as_deref(),
                    c.phone_number.as_deref(),
                    c.gender.as_deref(),
                ))
            })
            .clone();
        c.di.get_or_insert_with(|| derived_di(&self.inner.portone_secret, &ci));
    }
}

/// A partial channel completed: a TEST Danal channel by default.
fn complete_channel(ch: &mut SandboxChannel) {
    ch.kind.get_or_insert_with(|| "TEST".to_owned());
    ch.id.get_or_insert_with(|| "channel-id-sandbox".to_owned());
    ch.key
        .get_or_insert_with(|| "channel-key-00000000-0000-0000-0000-000000000000".to_owned());
    ch.name.get_or_insert_with(|| "sandbox 본인인증".to_owned());
    ch.pg_provider.get_or_insert_with(|| "DANAL".to_owned());
    ch.pg_merchant_id
        .get_or_insert_with(|| "A010002002".to_owned());
}

/// A provider transaction id: the time's digits (`yyyyMMddHHmmss`, as far as `at` has them) and
/// ten random digits.
fn pg_tx_id(at: &str) -> String {
    let mut tid: String = at.chars().filter(char::is_ascii_digit).take(14).collect();
    let mut rng = rand::rng();
    for _ in 0..10 {
        tid.push(char::from(b'0' + rng.random_range(0..10u8)));
    }
    tid
}
