//! Signing keys: the parsed private key of each `[[signing.keys]]` entry ([`Material`]), the
//! active key with its per-request constants, the public JWKs, and making new keys for
//! `verigate keygen`.
//!
//! This file is the signing room's only I/O: it reads the Ed25519 PKCS#8 PEM files named in the
//! configuration and writes new ones (mode 0600). `ed25519-dalek` reads and writes the PEM; the
//! signing itself is aws-lc-rs's (already linked for rustls), which signs in about half the time.
//! Key material is never printed: errors name the key id and the file.

use std::path::Path;
use std::process::ExitCode;

use aws_lc_rs::signature::Ed25519KeyPair;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use rand::RngCore;
use serde_json::{Value, json};
use sfv::StringRef;
use zeroize::Zeroizing;

use super::SigningError;
use super::rfc9421::{ALG_ED25519, ALG_HMAC_SHA256};
use super::settings::{KeyAlg, KeyMaterial, SigningKey, decode_hmac_secret};

/// A parsed private key.
pub(super) enum Material {
    /// aws-lc's key pair, made once from the seed `ed25519-dalek` read from the file.
    Ed25519(Box<Ed25519KeyPair>),
    /// aws-lc's HMAC-SHA256 key, its pads hashed once; each message starts from that state.
    Hmac(Box<aws_lc_rs::hmac::Key>),
}

/// A signature's bytes: 64 for Ed25519, 32 for HMAC-SHA256.
pub(super) struct SignatureBytes {
    buf: [u8; 64],
    len: usize,
}

impl AsRef<[u8]> for SignatureBytes {
    fn as_ref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Material {
    pub(super) fn from_pem(id: &str, path: &Path, pem: &str) -> Result<Material, SigningError> {
        let invalid = |reason: String| SigningError::KeyFileInvalid {
            id: id.to_owned(),
            path: path.to_owned(),
            reason,
        };
        // dalek checks the PKCS#8 structure and, for a v2 file, that the public key matches;
        // its key is zeroized when dropped at the end of this function.
        let key =
            ed25519_dalek::SigningKey::from_pkcs8_pem(pem).map_err(|e| invalid(e.to_string()))?;
        Ed25519KeyPair::from_seed_and_public_key(key.as_bytes(), key.verifying_key().as_bytes())
            .map(|pair| Material::Ed25519(Box::new(pair)))
            .map_err(|e| invalid(e.to_string()))
    }

    /// HMAC takes keys of any length (RFC 2104 §2); the length floor is the config's
    /// ([`decode_hmac_secret`]).
    pub(super) fn from_secret(secret: &[u8]) -> Material {
        Material::Hmac(Box::new(aws_lc_rs::hmac::Key::new(
            aws_lc_rs::hmac::HMAC_SHA256,
            secret,
        )))
    }

    /// Reads and parses one configured key.
    pub(super) fn load(key: &SigningKey) -> Result<Material, SigningError> {
        match (key.alg, &key.material) {
            (KeyAlg::Ed25519, KeyMaterial::PrivateKeyFile(path)) => {
                let pem = Zeroizing::new(std::fs::read_to_string(path).map_err(|source| {
                    SigningError::KeyFileUnreadable {
                        id: key.id.clone(),
                        path: path.clone(),
                        source,
                    }
                })?);
                Material::from_pem(&key.id, path, &pem)
            }
            (KeyAlg::HmacSha256, KeyMaterial::HmacSecret(secret)) => {
                let bytes = Zeroizing::new(decode_hmac_secret(secret).map_err(|source| {
                    SigningError::BadHmacSecret {
                        id: key.id.clone(),
                        source,
                    }
                })?);
                Ok(Material::from_secret(&bytes))
            }
            (alg, _) => Err(SigningError::MaterialMismatch {
                id: key.id.clone(),
                alg,
            }),
        }
    }

    pub(super) fn sign(&self, message: &[u8]) -> SignatureBytes {
        let mut buf = [0u8; 64];
        match self {
            Material::Ed25519(pair) => {
                buf.copy_from_slice(pair.sign(message).as_ref());
                SignatureBytes { buf, len: 64 }
            }
            Material::Hmac(key) => {
                buf[..32].copy_from_slice(aws_lc_rs::hmac::sign(key, message).as_ref());
                SignatureBytes { buf, len: 32 }
            }
        }
    }

    /// RFC 9421 `alg` parameter value.
    pub(super) fn rfc9421_alg(&self) -> &'static StringRef {
        match self {
            Material::Ed25519(_) => ALG_ED25519,
            Material::Hmac(_) => ALG_HMAC_SHA256,
        }
    }

    /// JWS `alg` header value (RFC 8037 / RFC 7518).
    pub(super) fn jws_alg(&self) -> &'static str {
        match self {
            Material::Ed25519(_) => "EdDSA",
            Material::Hmac(_) => "HS256",
        }
    }
}

/// The key that signs, with its per-request constants prepared.
pub(super) struct ActiveKey {
    pub(super) id: Box<str>,
    /// The `keyid` parameter, checked once to be a structured-field string.
    pub(super) keyid: sfv::String,
    /// base64url of `{"alg":…,"kid":…,"typ":"JWT"}`, the first segment of every assertion.
    pub(super) jws_header: Box<str>,
    pub(super) material: Material,
}

impl ActiveKey {
    pub(super) fn new(id: &str, material: Material) -> Result<ActiveKey, SigningError> {
        let keyid = StringRef::from_str(id)
            .map_err(|_| SigningError::InvalidKeyId(id.to_owned()))?
            .to_owned();
        let header = json!({ "alg": material.jws_alg(), "kid": id, "typ": "JWT" });
        let jws_header = URL_SAFE_NO_PAD.encode(header.to_string()).into_boxed_str();
        Ok(ActiveKey {
            id: id.into(),
            keyid,
            jws_header,
            material,
        })
    }
}

/// The public JWK of an Ed25519 key (its 32 public bytes); `kid` when it has one.
pub(super) fn public_jwk(public_key: &[u8], kid: Option<&str>) -> Value {
    let mut jwk = json!({
        "kty": "OKP",
        "crv": "Ed25519",
        "x": URL_SAFE_NO_PAD.encode(public_key),
        "alg": "EdDSA",
        "use": "sig",
    });
    if let (Some(kid), Some(obj)) = (kid, jwk.as_object_mut()) {
        obj.insert("kid".to_owned(), Value::String(kid.to_owned()));
    }
    jwk
}

/// A new Ed25519 signing key: its PKCS#8 PEM (v2, with the public key) and its public JWK,
/// without `kid` (the operator names the key in `gateway.toml`).
pub fn keygen_ed25519() -> (String, Value) {
    let mut seed = Zeroizing::new([0u8; 32]);
    rand::rng().fill_bytes(&mut *seed);
    let key = ed25519_dalek::SigningKey::from_bytes(&seed);
    // Encoding a key held in memory cannot fail: the DER is fixed-size.
    let pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .expect("PKCS#8 encoding of an in-memory Ed25519 key");
    (
        pem.as_str().to_owned(),
        public_jwk(key.verifying_key().as_bytes(), None),
    )
}

/// A new HMAC-SHA256 secret: 32 random bytes, standard base64.
pub fn keygen_hmac() -> String {
    let mut secret = Zeroizing::new([0u8; 32]);
    rand::rng().fill_bytes(&mut *secret);
    STANDARD.encode(*secret)
}

/// Writes `contents` to a new file only its owner can read (mode 0600); an existing file is
/// never overwritten.
pub fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(contents.as_bytes())
}

/// `verigate keygen --alg ALG [--out FILE]`: makes a new key and writes it to `out` (mode 0600),
/// printing an Ed25519 key's public JWK on stdout; an HMAC secret without `out` is printed
/// instead. An Ed25519 key needs `out` (exit 2 without it); a file that cannot be created is
/// exit 1.
pub fn keygen(alg: &str, out: Option<&Path>) -> ExitCode {
    let (secret, public) = match alg {
        "ed25519" => {
            let (pem, jwk) = keygen_ed25519();
            (pem, Some(jwk))
        }
        _ => (keygen_hmac(), None),
    };
    match (out, public) {
        (None, Some(_)) => {
            eprintln!("verigate keygen: --out FILE is required for an ed25519 key");
            ExitCode::from(2)
        }
        (None, None) => {
            println!("{secret}");
            ExitCode::SUCCESS
        }
        (Some(path), public) => match write_private(path, &format!("{}\n", secret.trim_end())) {
            Ok(()) => {
                eprintln!("wrote {}", path.display());
                if let Some(jwk) = public {
                    println!("{jwk}");
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("verigate keygen: cannot create {}: {e}", path.display());
                ExitCode::FAILURE
            }
        },
    }
}
