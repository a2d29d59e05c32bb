//! Signatures on forwarded requests: RFC 9421 HTTP Message Signatures and the JWT assertion
//! (README, "Signed headers"), and the keys that make them.
//!
//! A [`Signer`] is built once per configuration from `[signing]`: every key file is read and
//! parsed and every HMAC secret decoded (so a bad retired key fails the load, not a request), the
//! JWKS document is made from the Ed25519 public halves, and for the active key everything that
//! does not change between requests is prepared: the parsed key (for HMAC, the keyed inner and
//! outer hash states), the `keyid`/`alg` parameters, and the JWS header segment. Retired keys keep
//! only their public half. `ed25519-dalek` reads and writes the PKCS#8 PEM files; the signing
//! itself is aws-lc-rs's (already linked for rustls), which signs in about half the time.
//!
//! Per request, [`Signer::sign`] builds the signature base (RFC 9421 §2.5) over `@method`,
//! `@path`, `@query` and the forwarded identity headers in the order [`crate::headers::annotate`]
//! produced them, then `content-digest`; it signs the base with the active key and, when
//! `jwt = true`, adds a compact JWS carrying the same identity as claims. The structured-field
//! serialisation of `signature-input` and `signature` is `sfv`'s; the base and the JWS are
//! assembled here because both are a few fixed lines around the signing call and the key must
//! not be re-parsed per request (as `jsonwebtoken::encode` would).
//!
//! The room is split by concern: `rfc9421` builds the signature base and the structured
//! fields, `jwt` the assertion's claims and compact JWS, `keys` loads and makes keys (the room's
//! only file I/O); this file holds the [`Signer`] that ties them together per configuration.
//!
//! This is a pure room apart from randomness (the `nonce` and `jti`) and reading key files:
//! "now" is an argument. Key material is never printed: errors name the key id and the file, and
//! `Debug` is written by hand.

use std::cell::RefCell;
use std::fmt;
use std::path::PathBuf;

use aws_lc_rs::signature::KeyPair as _;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderName, HeaderValue};
use rand::RngCore;
use serde_json::{Value, json};
use sfv::StringRef;

use crate::headers::HeaderList;

mod jwt;
mod keys;
mod rfc9421;
mod settings;

#[cfg(test)]
mod tests;

pub use jwt::AssertionClaims;
pub use keys::{keygen, keygen_ed25519, keygen_hmac, write_private};
pub use settings::{
    HMAC_SECRET_MIN_BYTES, HmacSecretError, KeyAlg, KeyMaterial, SigningKey, SigningSettings,
    decode_hmac_secret,
};

use jwt::{ClaimSet, JwtSettings};
use keys::{ActiveKey, Material, public_jwk};
use rfc9421::{
    ComponentValue, LABEL, METHOD, PATH, QUERY, SignatureParams, TAG, message_signature,
};

/// Bytes of randomness in a `nonce` or `jti` (22 base64url characters).
const RANDOM_TOKEN_BYTES: usize = 16;

/// Why a [`Signer`] could not be built. Messages name the key and file, never key bytes.
#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    /// The Ed25519 key file could not be read.
    #[error("signing key `{id}`: cannot read private_key_file {}: {source}", path.display())]
    KeyFileUnreadable {
        /// The key's `id`.
        id: String,
        /// The file as configured.
        path: PathBuf,
        /// Why reading failed.
        source: std::io::Error,
    },
    /// The file was read but is not an Ed25519 private key in PKCS#8 PEM form.
    #[error(
        "signing key `{id}`: {} is not an Ed25519 private key in PKCS#8 PEM form \
         (`-----BEGIN PRIVATE KEY-----`; `verigate keygen --alg ed25519` makes one): {reason}",
        path.display()
    )]
    KeyFileInvalid {
        /// The key's `id`.
        id: String,
        /// The file as configured.
        path: PathBuf,
        /// The decoder's description of the problem (never the key's bytes).
        reason: String,
    },
    /// The HMAC secret is not usable.
    #[error("signing key `{id}`: the HMAC secret {source}")]
    BadHmacSecret {
        /// The key's `id`.
        id: String,
        /// What is wrong with it.
        source: HmacSecretError,
    },
    /// The key's `alg` and its material disagree (an Ed25519 key with a secret, or the reverse).
    #[error(
        "signing key `{id}`: alg `{}` does not match its material (ed25519 takes \
         private_key_file, hmac-sha256 takes secret)",
        alg.config_name()
    )]
    MaterialMismatch {
        /// The key's `id`.
        id: String,
        /// The configured algorithm.
        alg: KeyAlg,
    },
    /// The key id cannot be carried as an RFC 9421 `keyid` (a structured-field string).
    #[error("signing key id `{0}` must be printable ASCII to be sent as keyid and kid")]
    InvalidKeyId(String),
    /// `active_key` names no key in `signing.keys`.
    #[error("active_key `{0}` names no key in [[signing.keys]]")]
    ActiveKeyMissing(String),
}

/// Signs forwarded requests with the active key of one configuration.
///
/// Built once per configuration (and again on reload); `Send + Sync`, so one instance serves
/// every worker thread. Each [`sign`](Signer::sign) allocates only its output.
pub struct Signer {
    active: ActiveKey,
    ttl_secs: i64,
    jwt: Option<JwtSettings>,
    /// `{"keys":[…]}`, made at construction.
    jwks: Value,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Key material stays out: only what an operator may see in a log.
        f.debug_struct("Signer")
            .field("active_key", &self.active.id)
            .field("alg", &self.active.material.rfc9421_alg().as_str())
            .field("ttl_secs", &self.ttl_secs)
            .field("jwt", &self.jwt.is_some())
            .finish_non_exhaustive()
    }
}

/// The request being signed, as it will be forwarded.
pub struct SignInput<'a> {
    /// The request method, e.g. `POST`.
    pub method: &'a str,
    /// The request path as forwarded (still percent-encoded), e.g. `/certifications`.
    pub path: &'a str,
    /// The query string without `?`, when there is one.
    pub query: Option<&'a str>,
    /// The x-verified-* headers in §4.2 order, then content-digest if present, exactly as
    /// forwarded (the output of headers::annotate + digest).
    pub covered: &'a [(HeaderName, HeaderValue)],
    /// The prefixed `…assertion` header name ([`crate::headers::HeaderNames::assertion`]).
    pub assertion_name: &'a HeaderName,
    /// What the JWT assertion states; unused when `jwt = false`.
    pub claims: &'a AssertionClaims<'a>,
}

/// Per-thread buffers for the parts of a signature that do not leave [`Signer::sign`].
struct Scratch {
    base: Vec<u8>,
    identifier: String,
    claims: Vec<u8>,
}

/// Beyond this a buffer is given back rather than kept for the thread's next request.
const SCRATCH_KEEP_BYTES: usize = 64 * 1024;

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch {
        base: Vec::with_capacity(1024),
        identifier: String::with_capacity(64),
        claims: Vec::with_capacity(512),
    });
}

/// Random bytes as unpadded base64url, on the stack.
struct RandomToken {
    buf: [u8; 24],
    len: usize,
}

impl RandomToken {
    fn new(rng: &mut impl RngCore) -> RandomToken {
        let mut raw = [0u8; RANDOM_TOKEN_BYTES];
        rng.fill_bytes(&mut raw);
        let mut buf = [0u8; 24];
        // 16 bytes need 22 characters; the buffer holds 24, so this always fits.
        let len = URL_SAFE_NO_PAD.encode_slice(raw, &mut buf).unwrap_or(0);
        RandomToken { buf, len }
    }

    fn as_str(&self) -> &str {
        // base64url output is ASCII.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

/// ASCII, so the fallback is never taken.
fn ascii_value(s: String) -> HeaderValue {
    HeaderValue::try_from(s).unwrap_or_else(|_| HeaderValue::from_static(""))
}

impl Signer {
    /// Builds the signer for `[signing]`: reads every Ed25519 PKCS#8 PEM file (relative paths
    /// as given, from the working directory) and decodes every HMAC secret, active or retired,
    /// so that a broken key fails here and not on a request.
    pub fn from_settings(s: &SigningSettings) -> Result<Signer, SigningError> {
        let mut active = None;
        let mut published = Vec::new();
        for key in &s.keys {
            let material = Material::load(key)?;
            if let Material::Ed25519(pair) = &material {
                published.push(public_jwk(pair.public_key().as_ref(), Some(&key.id)));
            }
            if key.id == s.active_key {
                active = Some(ActiveKey::new(&key.id, material)?);
            } else {
                // Retired keys are only published; checking their id keeps reloads honest.
                StringRef::from_str(&key.id)
                    .map_err(|_| SigningError::InvalidKeyId(key.id.clone()))?;
            }
        }
        let active = active.ok_or_else(|| SigningError::ActiveKeyMissing(s.active_key.clone()))?;
        Ok(Signer {
            active,
            ttl_secs: i64::try_from(s.signature_ttl.as_secs()).unwrap_or(i64::MAX),
            jwt: s.jwt.then(|| JwtSettings {
                issuer: s.issuer.as_str().into(),
                audience: s.audience.as_str().into(),
            }),
            jwks: json!({ "keys": published }),
        })
    }

    /// RFC 9421 `signature-input` + `signature` (label "verigate") over the request, and, when
    /// jwt is on, the `x-verified-assertion` JWT.
    ///
    /// Covered: `"@method" "@path" "@query"`, then every header of `req.covered` in its order.
    /// Parameters: `created` (`now`), `expires`, `keyid`, `alg`, a random `nonce`, `tag`.
    pub fn sign(&self, req: &SignInput<'_>, now: jiff::Timestamp) -> HeaderList {
        let created = now.as_second();
        let expires = created.saturating_add(self.ttl_secs);
        let mut rng = rand::rng();
        let nonce = RandomToken::new(&mut rng);
        let params = SignatureParams {
            created,
            expires: Some(expires),
            keyid: &self.active.keyid,
            alg: Some(self.active.material.rfc9421_alg()),
            nonce: StringRef::from_str(nonce.as_str()).ok(),
            tag: Some(TAG),
        };
        let path = if req.path.is_empty() { "/" } else { req.path };
        let derived = [
            (METHOD, ComponentValue::Plain(req.method.as_bytes())),
            (PATH, ComponentValue::Plain(path.as_bytes())),
            (QUERY, ComponentValue::Query(req.query)),
        ];
        // A header name is lower-case tchar, which never holds `"` or `\`, so it is always a
        // valid sf-string and no covered header is skipped here.
        let headers = req.covered.iter().filter_map(|(name, value)| {
            let id = StringRef::from_str(name.as_str()).ok()?;
            Some((id, ComponentValue::Plain(value.as_bytes())))
        });

        let mut out = HeaderList::with_capacity(3);
        SCRATCH.with_borrow_mut(|scratch| {
            let sig = message_signature(
                &self.active.material,
                LABEL,
                derived.into_iter().chain(headers),
                &params,
                &mut scratch.base,
                &mut scratch.identifier,
            );
            out.push((
                HeaderName::from_static("signature-input"),
                ascii_value(sig.input),
            ));
            out.push((
                HeaderName::from_static("signature"),
                ascii_value(sig.signature),
            ));
            out.extend(self.jwt_header(req, (created, expires), &mut rng, &mut scratch.claims));
            for buf in [&mut scratch.base, &mut scratch.claims] {
                if buf.capacity() > SCRATCH_KEEP_BYTES {
                    *buf = Vec::new();
                }
            }
        });
        out
    }

    /// The JWT assertion header alone, without the RFC 9421 signature (forward-auth: verigate
    /// never sees the upstream request, the assertion is the proof); `None` without `jwt`.
    pub fn assertion_header(
        &self,
        req: &SignInput<'_>,
        now: jiff::Timestamp,
    ) -> Option<(HeaderName, HeaderValue)> {
        let created = now.as_second();
        let expires = created.saturating_add(self.ttl_secs);
        SCRATCH.with_borrow_mut(|scratch| {
            let header = self.jwt_header(
                req,
                (created, expires),
                &mut rand::rng(),
                &mut scratch.claims,
            );
            if scratch.claims.capacity() > SCRATCH_KEEP_BYTES {
                scratch.claims = Vec::new();
            }
            header
        })
    }

    /// The assertion for `req`, issued at `iat` and expiring at `exp`, when `jwt` is on.
    fn jwt_header(
        &self,
        req: &SignInput<'_>,
        (iat, exp): (i64, i64),
        rng: &mut impl rand::Rng,
        buf: &mut Vec<u8>,
    ) -> Option<(HeaderName, HeaderValue)> {
        let jwt = self.jwt.as_ref()?;
        let jti = RandomToken::new(rng);
        let claims = ClaimSet {
            jwt,
            iat,
            exp,
            jti: jti.as_str(),
            req,
        };
        match self.assertion(&claims, buf) {
            Ok(token) => Some((req.assertion_name.clone(), ascii_value(token))),
            // Only a failing `Serialize` of an `extra` value could get here.
            Err(e) => {
                tracing::error!(error = %e, "could not build the JWT assertion");
                None
            }
        }
    }

    /// `{"keys":[...]}` with every Ed25519 key (active and retired), never HMAC, for
    /// `GET /.well-known/jwks.json`.
    pub fn jwks(&self) -> Value {
        self.jwks.clone()
    }

    /// The id of the key that signs (`keyid`, `kid`).
    pub fn active_key_id(&self) -> &str {
        &self.active.id
    }
}
