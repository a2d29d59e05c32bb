//! The id of one identity verification, as the browser hands it back: an i'mport V1 `imp_uid`
//! or a PortOne V2 `identityVerificationId`.
//!
//! A [`VerificationId`] that exists is already valid (1 to its provider's maximum of
//! `[A-Za-z0-9_-]`), so it can be placed in an API path, a header or a log line without further
//! checks. The maximum is the only difference between the providers' ids: 64 for a V1 `imp_uid`
//! ([`V1_MAX_LEN`], real ones are `imp_` + 12 digits), 128 for a V2 id ([`V2_MAX_LEN`]).
//! Which provider an id belongs to is not part of the id: the cache and the single-use set key
//! on the provider beside it, so the same text under two providers never collides.

use std::fmt;
use std::sync::Arc;

/// Longest `imp_uid` accepted (i'mport V1).
pub const V1_MAX_LEN: usize = 64;
/// Longest `identityVerificationId` accepted (PortOne V2).
pub const V2_MAX_LEN: usize = 128;
/// Longest `imp_uid` accepted; the name fuzz targets and older code use.
pub const MAX_LEN: usize = V1_MAX_LEN;

/// A validated verification id. Cheap to clone (shared string).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VerificationId(Arc<str>);

/// The V1 name of a [`VerificationId`]; [`ImpUid::parse`] applies the V1 maximum.
pub type ImpUid = VerificationId;

/// Why a candidate string is not a [`VerificationId`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("the id is empty")]
    Empty,
    #[error("the id is longer than its provider allows")]
    TooLong,
    #[error("the id may contain only letters, digits, '_' and '-'")]
    BadCharacter,
}

/// The V1 name of an [`IdError`].
pub type ImpUidError = IdError;

impl VerificationId {
    /// Validates `s` as an i'mport V1 `imp_uid` (at most [`V1_MAX_LEN`]).
    pub fn parse(s: &str) -> Result<Self, IdError> {
        Self::parse_max(s, V1_MAX_LEN)
    }

    /// Validates `s` as an id of at most `max` characters.
    pub fn parse_max(s: &str, max: usize) -> Result<Self, IdError> {
        if s.is_empty() {
            return Err(IdError::Empty);
        }
        if s.len() > max {
            return Err(IdError::TooLong);
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(IdError::BadCharacter);
        }
        Ok(Self(Arc::from(s)))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for VerificationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for VerificationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ImpUid({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imp_uid_accepts_only_the_safe_alphabet_up_to_64_chars() {
        let cases: &[(&str, Result<(), ImpUidError>)] = &[
            ("imp_045262694732", Ok(())),
            ("a", Ok(())),
            ("A-z_09", Ok(())),
            (&"x".repeat(64), Ok(())),
            (&"x".repeat(65), Err(ImpUidError::TooLong)),
            ("", Err(ImpUidError::Empty)),
            ("imp_1/../users", Err(ImpUidError::BadCharacter)),
            ("imp_1%2F", Err(ImpUidError::BadCharacter)),
            ("imp 1", Err(ImpUidError::BadCharacter)),
            ("imp_1?x=1", Err(ImpUidError::BadCharacter)),
            ("imp_\u{d64d}", Err(ImpUidError::BadCharacter)),
            ("imp_1\n", Err(ImpUidError::BadCharacter)),
            ("..", Err(ImpUidError::BadCharacter)),
        ];
        for (input, want) in cases {
            let got = ImpUid::parse(input).map(|_| ());
            assert_eq!(&got, want, "input {input:?}");
        }
    }

    #[test]
    fn v2_ids_take_the_same_alphabet_up_to_128_chars() {
        let cases: &[(&str, Result<(), IdError>)] = &[
            ("identity-verification-39ecfa97", Ok(())),
            (&"x".repeat(65), Ok(())),
            (&"x".repeat(128), Ok(())),
            (&"x".repeat(129), Err(IdError::TooLong)),
            ("", Err(IdError::Empty)),
            ("iv/../x", Err(IdError::BadCharacter)),
            ("iv%2F", Err(IdError::BadCharacter)),
            ("iv.1", Err(IdError::BadCharacter)),
        ];
        for (input, want) in cases {
            let got = VerificationId::parse_max(input, V2_MAX_LEN).map(|_| ());
            assert_eq!(&got, want, "input {input:?}");
        }
    }
}
