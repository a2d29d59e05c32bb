//! `[signing]` as this room takes it: the keys (their algorithm and where the material is), the
//! active key, the JWT claims. The config module validates the file into these; the signer
//! reads the key files and decodes the secrets.

use std::path::PathBuf;
use std::time::Duration;

use base64::Engine as _;

use crate::secret::Secret;

/// The shortest accepted HMAC secret, in decoded bytes (the SHA-256 block half, RFC 2104 §3).
pub const HMAC_SECRET_MIN_BYTES: usize = 32;

/// Why an HMAC secret was refused. The messages never contain the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HmacSecretError {
    /// Not standard base64 (`A-Z a-z 0-9 + /`, `=` padding).
    #[error("is not valid base64 (standard alphabet with `=` padding)")]
    NotBase64,
    /// Decodes, but to fewer than [`HMAC_SECRET_MIN_BYTES`] bytes.
    #[error("decodes to {0} bytes; at least {HMAC_SECRET_MIN_BYTES} are required")]
    TooShort(usize),
}

/// The key bytes of an HMAC secret as stored in [`KeyMaterial::HmacSecret`] (base64 text).
///
/// The config keeps the text rather than the bytes because [`Secret`] holds a string; this is
/// the one decoding both the validation here and the signer use, so they cannot disagree.
pub fn decode_hmac_secret(secret: &Secret) -> Result<Vec<u8>, HmacSecretError> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(secret.expose().trim())
        .map_err(|_| HmacSecretError::NotBase64)?;
    if bytes.len() < HMAC_SECRET_MIN_BYTES {
        return Err(HmacSecretError::TooShort(bytes.len()));
    }
    Ok(bytes)
}

/// A signing key's algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
pub enum KeyAlg {
    /// `ed25519`: asymmetric; the public half is published on the JWKS endpoint.
    #[serde(rename = "ed25519")]
    Ed25519,
    /// `hmac-sha256`: a secret shared with the app; never published.
    #[serde(rename = "hmac-sha256")]
    HmacSha256,
}

impl KeyAlg {
    /// The name in `signing.keys[].alg`, which is also RFC 9421's `alg` parameter.
    pub fn config_name(self) -> &'static str {
        match self {
            KeyAlg::Ed25519 => "ed25519",
            KeyAlg::HmacSha256 => "hmac-sha256",
        }
    }
}

/// Where a signing key comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyMaterial {
    /// Ed25519 PKCS#8 PEM file (`config::load` makes a relative path relative to the config file).
    PrivateKeyFile(PathBuf),
    /// HMAC secret as standard base64 text (surrounding whitespace trimmed), already checked to
    /// decode to at least [`HMAC_SECRET_MIN_BYTES`] bytes; [`decode_hmac_secret`] gives the bytes.
    HmacSecret(Secret),
}

/// One `[[signing.keys]]` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct SigningKey {
    /// Unique; sent as RFC 9421 `keyid` and JWT `kid`.
    pub id: String,
    /// The algorithm, matching `material`.
    pub alg: KeyAlg,
    /// The key itself, or where to read it.
    pub material: KeyMaterial,
}

/// `[signing]`, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct SigningSettings {
    /// Names one of `keys`.
    pub active_key: String,
    /// How long a signature is valid (`expires − created`), at least one second.
    pub signature_ttl: Duration,
    /// Whether to add the `x-verified-assertion` JWT.
    pub jwt: bool,
    /// JWT `iss`.
    pub issuer: String,
    /// JWT `aud`.
    pub audience: String,
    /// Every key, active and retired, in file order; ids are unique.
    pub keys: Vec<SigningKey>,
}
