//! The `imp_uid`: the id of one identity verification, as the browser hands it back.
//!
//! An [`ImpUid`] that exists is already valid (1–64 characters of `[A-Za-z0-9_-]`), so it can be
//! placed in an API path, a header or a log line without further checks.

use std::fmt;
use std::sync::Arc;

/// Longest `imp_uid` accepted; real ones are `imp_` + 12 digits.
pub const MAX_LEN: usize = 64;

/// A validated verification id. Cheap to clone (shared string).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ImpUid(Arc<str>);

/// Why a candidate string is not an [`ImpUid`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ImpUidError {
    #[error("the imp_uid is empty")]
    Empty,
    #[error("the imp_uid is longer than 64 characters")]
    TooLong,
    #[error("the imp_uid may contain only letters, digits, '_' and '-'")]
    BadCharacter,
}

impl ImpUid {
    /// Validates `s` as an imp_uid.
    pub fn parse(s: &str) -> Result<Self, ImpUidError> {
        if s.is_empty() {
            return Err(ImpUidError::Empty);
        }
        if s.len() > MAX_LEN {
            return Err(ImpUidError::TooLong);
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(ImpUidError::BadCharacter);
        }
        Ok(Self(Arc::from(s)))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ImpUid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ImpUid {
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
}
