//! A resolved verification, whichever provider it came from: a typed [`Identity`].
//!
//! The providers' records (V1 `Certification`, V2 `IdentityVerification`) live in their rooms
//! (`provider::*::wire`) and are turned into an [`Identity`] there. Its `Debug` never prints
//! personal data, so an identity can travel through the code without ever risking a log line
//! with a name in it.

use std::fmt;

use jiff::Timestamp;
use jiff::civil::Date;

use crate::verification_id::VerificationId;

/// A resolved verification: who the person is, as far as the API says.
#[derive(Clone, PartialEq, Eq)]
pub struct Identity {
    /// The verification id asked for (an `imp_uid` or a V2 `identityVerificationId`).
    pub imp_uid: VerificationId,
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

/// Strict `YYYY-MM-DD`; anything else (empty, a time, another order) is not a date.
pub fn parse_ymd(s: &str) -> Option<Date> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    s.parse::<Date>().ok()
}

/// An optional text field as the identity keeps it: empty is unknown.
pub fn boxed(s: Option<String>) -> Option<Box<str>> {
    s.filter(|v| !v.is_empty()).map(String::into_boxed_str)
}

impl Identity {
    /// An uncertified identity with nothing known but the id.
    pub fn empty(imp_uid: VerificationId) -> Self {
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
}

/// Optional identity fields an operator may forward (`headers.forward`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForwardField {
    /// `gender`.
    Gender,
    /// `foreigner`.
    Foreigner,
    /// `unique_key` (CI).
    UniqueKey,
    /// `unique_in_site` (DI).
    UniqueInSite,
    /// `phone`.
    Phone,
    /// `carrier`.
    Carrier,
    /// `pg_provider`.
    PgProvider,
    /// `merchant_uid`.
    MerchantUid,
}

impl ForwardField {
    /// All fields, in the order of README, "What the app receives".
    pub const ALL: [ForwardField; 8] = [
        ForwardField::Gender,
        ForwardField::Foreigner,
        ForwardField::UniqueKey,
        ForwardField::UniqueInSite,
        ForwardField::Phone,
        ForwardField::Carrier,
        ForwardField::PgProvider,
        ForwardField::MerchantUid,
    ];

    /// The name in `headers.forward` (`unique_key`, …).
    pub fn config_name(self) -> &'static str {
        match self {
            ForwardField::Gender => "gender",
            ForwardField::Foreigner => "foreigner",
            ForwardField::UniqueKey => "unique_key",
            ForwardField::UniqueInSite => "unique_in_site",
            ForwardField::Phone => "phone",
            ForwardField::Carrier => "carrier",
            ForwardField::PgProvider => "pg_provider",
            ForwardField::MerchantUid => "merchant_uid",
        }
    }

    /// The header suffix after the prefix (`unique-key`, …).
    pub fn header_suffix(self) -> &'static str {
        match self {
            ForwardField::Gender => "gender",
            ForwardField::Foreigner => "foreigner",
            ForwardField::UniqueKey => "unique-key",
            ForwardField::UniqueInSite => "unique-in-site",
            ForwardField::Phone => "phone",
            ForwardField::Carrier => "carrier",
            ForwardField::PgProvider => "pg-provider",
            ForwardField::MerchantUid => "merchant-uid",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn only_strict_dates_are_dates() {
        let cases = [
            ("1976-11-07", Some(date(1976, 11, 7))),
            ("2004-02-29", Some(date(2004, 2, 29))),
            ("1991-02-30", None),
            ("1991/11/11", None),
            ("1991-11-11T00:00", None),
            ("19911111", None),
            ("", None),
        ];
        for (input, want) in cases {
            assert_eq!(parse_ymd(input), want, "{input:?}");
        }
    }
}
