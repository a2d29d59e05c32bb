//! The sandbox's verification records: the V1 record type with every field of the table in
//! `docs/iamport-api.md`, the plausible values filled into omitted fields (a fresh `imp_uid`,
//! `certified_at` now, `birth` from `birthday`, a derived CI/DI), and people files in TOML or
//! JSON.
//!
//! [`SandboxRecord`] states the V1 wire record a second time, apart from the client's own
//! (`identity::Certification`), on purpose: the sandbox is the oracle, and if it shared the
//! client's structs a misspelt field would pass every test. Keep the two apart.

use std::path::Path;

use aws_lc_rs::digest::{SHA384, SHA512, digest};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::{Offset, TimeZone};
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::state::lock;
use super::{Sandbox, SandboxError, SandboxIdentityVerification};

/// Korea Standard Time, the zone of `birth`, `birthday` and `pg_tid`.
fn kst() -> TimeZone {
    TimeZone::fixed(Offset::constant(9))
}

/// One verification result, with every field of the table in `docs/iamport-api.md`.
///
/// As input (people file, control endpoint, [`Sandbox::insert`]) every field may be omitted; the
/// sandbox fills plausible values (see [`Sandbox::insert`]). As output the known fields are always
/// present, `null` where absent, and any extra input fields follow verbatim.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SandboxRecord {
    /// The verification id, `imp_` + 12 digits when generated.
    pub imp_uid: Option<String>,
    /// The merchant's own id for the attempt.
    pub merchant_uid: Option<String>,
    /// The provider's transaction id.
    pub pg_tid: Option<String>,
    /// `danal`, `inicis_unified`, `inicis`, `kcp_v2`.
    pub pg_provider: Option<String>,
    /// Verified real name.
    pub name: Option<String>,
    /// `male` / `female`.
    pub gender: Option<String>,
    /// `YYYY-MM-DD`.
    pub birthday: Option<String>,
    /// UNIX seconds of 00:00 KST on the birth date; 0 when unknown.
    pub birth: Option<i64>,
    /// Foreigner flag.
    pub foreigner: Option<bool>,
    /// Foreigner flag of the provider add-on; null without it.
    pub foreigner_v2: Option<bool>,
    /// Digits only.
    pub phone: Option<String>,
    /// `SKT`, `KT`, `LGT`, `SKT_MVNO`, `KT_MVNO`, `LGT_MVNO`.
    pub carrier: Option<String>,
    /// Whether the verification succeeded.
    pub certified: Option<bool>,
    /// UNIX seconds of the verification; 0 when not certified.
    pub certified_at: Option<i64>,
    /// CI: the person's cross-site key.
    pub unique_key: Option<String>,
    /// DI: the site-specific key.
    pub unique_in_site: Option<String>,
    /// URL of the page the verification ran on.
    pub origin: Option<String>,
    /// Fields the table does not know, kept and echoed as given.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl SandboxRecord {
    /// A certified person with a name and a `YYYY-MM-DD` birthday; every other field gets the
    /// defaults of [`Sandbox::insert`].
    pub fn person(name: &str, birthday: &str) -> SandboxRecord {
        SandboxRecord {
            name: Some(name.to_owned()),
            birthday: Some(birthday.to_owned()),
            ..SandboxRecord::default()
        }
    }
}

/// What a people file holds: V1 records (`[[people]]`) and V2 identity verifications
/// (`[[identity_verifications]]`, with V2 field names).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct People {
    /// V1 certification records.
    #[serde(default)]
    pub people: Vec<SandboxRecord>,
    /// V2 identity verifications.
    #[serde(default)]
    pub identity_verifications: Vec<SandboxIdentityVerification>,
}

/// Reads the V1 records of a people file (see [`load_people_file`]).
pub fn load_people(path: &Path) -> Result<Vec<SandboxRecord>, SandboxError> {
    load_people_file(path).map(|p| p.people)
}

/// Reads a people file: TOML with `[[people]]` (V1) and `[[identity_verifications]]` (V2) tables
/// (`.toml`), or JSON (`.json`) holding an array of V1 records or an object
/// `{"people": [...], "identity_verifications": [...]}`.
pub fn load_people_file(path: &Path) -> Result<People, SandboxError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let is_toml = match ext.as_deref() {
        Some("toml") => true,
        Some("json") => false,
        _ => {
            return Err(SandboxError::UnsupportedFormat {
                path: path.to_owned(),
            });
        }
    };
    let text = std::fs::read_to_string(path).map_err(|source| SandboxError::Read {
        path: path.to_owned(),
        source,
    })?;
    if is_toml {
        toml::from_str::<People>(&text).map_err(|e| {
            let (line, column) = e
                .span()
                .map_or((1, 1), |span| line_column(&text, span.start));
            SandboxError::Parse {
                path: path.to_owned(),
                line,
                column,
                message: e.message().to_owned(),
            }
        })
    } else {
        let parsed = if text.trim_start().starts_with('{') {
            serde_json::from_str::<People>(&text)
        } else {
            serde_json::from_str::<Vec<SandboxRecord>>(&text).map(|people| People {
                people,
                identity_verifications: Vec::new(),
            })
        };
        parsed.map_err(|e| {
            let full = e.to_string();
            let suffix = format!(" at line {} column {}", e.line(), e.column());
            SandboxError::Parse {
                path: path.to_owned(),
                line: e.line(),
                column: e.column(),
                message: full.strip_suffix(&suffix).unwrap_or(&full).to_owned(),
            }
        })
    }
}

/// 1-based line and column (in characters) of byte offset `at` in `text`.
fn line_column(text: &str, at: usize) -> (usize, usize) {
    let before = text.get(..at).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

impl Sandbox {
    /// Stores a record (replacing one with the same imp_uid) and returns it as stored.
    ///
    /// Omitted fields get plausible values: `imp_uid` a fresh `imp_` + 12 digits, `merchant_uid`
    /// `mid_<millis>`, `pg_provider` `danal`, `foreigner` false, `certified` true. When certified:
    /// `certified_at` now (sandbox clock), `birth` 00:00 KST of `birthday` (or `birthday` from
    /// `birth`), a `pg_tid`, and a CI/DI derived from the person's data. When not certified:
    /// `birth` 0 and `certified_at` 0, as the API answers for unfinished attempts. `name` and the
    /// other fields stay null unless given.
    pub fn insert(&self, rec: SandboxRecord) -> SandboxRecord {
        let rec = self.complete(rec);
        let imp_uid = rec.imp_uid.clone().unwrap_or_default();
        lock(&self.inner.records).insert(imp_uid, rec.clone());
        rec
    }

    /// Fills the omitted fields of a record (see [`Sandbox::insert`]).
    fn complete(&self, mut rec: SandboxRecord) -> SandboxRecord {
        let now = self.now();
        let mut rng = rand::rng();
        let imp_uid = rec.imp_uid.get_or_insert_with(|| {
            let mut id = String::from("imp_");
            for _ in 0..12 {
                id.push(char::from(b'0' + rng.random_range(0..10u8)));
            }
            id
        });
        let imp_uid = imp_uid.clone();
        rec.merchant_uid.get_or_insert_with(|| {
            let millis = now * 1000 + i64::from(Timestamp::now().subsec_millisecond());
            format!("mid_{millis}")
        });
        rec.pg_provider.get_or_insert_with(|| "danal".to_owned());
        rec.foreigner.get_or_insert(false);
        let certified = *rec.certified.get_or_insert(true);
        if rec.birthday.is_none() {
            rec.birthday = rec.birth.filter(|b| *b != 0).and_then(kst_date_of);
        }
        if !certified {
            rec.birth.get_or_insert(0);
            rec.certified_at.get_or_insert(0);
            return rec;
        }
        let birth = rec.birthday.as_deref().and_then(kst_midnight).unwrap_or(0);
        rec.birth.get_or_insert(birth);
        let certified_at = *rec.certified_at.get_or_insert(now);
        rec.pg_tid.get_or_insert_with(|| {
            let mut tid = Timestamp::from_second(certified_at)
                .map(|t| t.to_zoned(kst()).strftime("%Y%m%d%H%M%S").to_string())
                .unwrap_or_default();
            for _ in 0..10 {
                tid.push(char::from(b'0' + rng.random_range(0..10u8)));
            }
            tid
        });
        let unique_key = rec
            .unique_key
            .get_or_insert_with(|| match (&rec.name, &rec.birthday) {
                (None, None) => derived_ci(&imp_uid),
                (name, birthday) => derived_ci(&person_seed(
                    name.as_deref(),
                    birthday.as_deref(),
                    rec.phone.as_deref(),
                    rec.gender.as_deref(),
                )),
            })
            .clone();
        rec.unique_in_site
            .get_or_insert_with(|| derived_di(&self.inner.imp_key, &unique_key));
        rec
    }
}

/// What identifies a person for the derived CI: the same name, birthday, phone and gender give
/// the same CI, in V1 and V2 alike (gender compared case-insensitively: `male` is V2's `MALE`).
pub(super) fn person_seed(
    name: Option<&str>,
    birthday: Option<&str>,
    phone: Option<&str>,
    gender: Option<&str>,
) -> String {
    format!(
        "{}|{}|{}|{}",
        name.unwrap_or(""),
        birthday.unwrap_or(""),
        phone.unwrap_or(""),
        gender.unwrap_or("").to_ascii_lowercase()
    )
}

/// A CI (88 base64 characters) derived from `seed`: deterministic, so one person inserted twice
/// keeps one CI, like the real thing.
pub(super) fn derived_ci(seed: &str) -> String {
    BASE64.encode(digest(
        &SHA512,
        format!("verigate-sandbox-ci|{seed}").as_bytes(),
    ))
}

/// A DI (64 base64 characters): site-specific, so derived from the merchant's key and the CI.
pub(super) fn derived_di(site_key: &str, ci: &str) -> String {
    BASE64.encode(digest(
        &SHA384,
        format!("verigate-sandbox-di|{site_key}|{ci}").as_bytes(),
    ))
}

/// `YYYY-MM-DD` (strictly) to UNIX seconds of 00:00 KST on that date.
pub(super) fn kst_midnight(birthday: &str) -> Option<i64> {
    let b = birthday.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let year: i16 = birthday.get(0..4)?.parse().ok()?;
    let month: i8 = birthday.get(5..7)?.parse().ok()?;
    let day: i8 = birthday.get(8..10)?.parse().ok()?;
    let date = Date::new(year, month, day).ok()?;
    Some(date.to_zoned(kst()).ok()?.timestamp().as_second())
}

/// UNIX seconds to the `YYYY-MM-DD` date they fall on in KST.
pub(super) fn kst_date_of(secs: i64) -> Option<String> {
    let date = Timestamp::from_second(secs).ok()?.to_zoned(kst()).date();
    Some(date.to_string())
}
