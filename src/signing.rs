//! Signatures on forwarded requests: RFC 9421 HTTP Message Signatures and the JWT assertion
//! (gateway.md §5), and the keys that make them.
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
//! This is a pure room apart from randomness (the `nonce` and `jti`): "now" is an argument.
//! Key material is never printed: errors name the key id and the file, and `Debug` is written by
//! hand.

use std::cell::RefCell;
use std::fmt;
use std::path::{Path, PathBuf};

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use http::{HeaderName, HeaderValue};
use rand::RngCore;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Value, json};
use sfv::{DictSerializer, Integer, ItemSerializer, KeyRef, StringRef};
use zeroize::Zeroizing;

use crate::config::{HmacSecretError, KeyAlg, KeyMaterial, SigningSettings, decode_hmac_secret};
use crate::headers::HeaderList;

/// The signature label in `signature-input` and `signature`.
const LABEL: &KeyRef = KeyRef::constant("verigate");
/// The `tag` parameter: lets an app tell verigate's signature from any other on the request.
const TAG: &StringRef = StringRef::constant("verigate");

const METHOD: &StringRef = StringRef::constant("@method");
const PATH: &StringRef = StringRef::constant("@path");
const QUERY: &StringRef = StringRef::constant("@query");

const P_CREATED: &KeyRef = KeyRef::constant("created");
const P_EXPIRES: &KeyRef = KeyRef::constant("expires");
const P_KEYID: &KeyRef = KeyRef::constant("keyid");
const P_ALG: &KeyRef = KeyRef::constant("alg");
const P_NONCE: &KeyRef = KeyRef::constant("nonce");
const P_TAG: &KeyRef = KeyRef::constant("tag");

const ALG_ED25519: &StringRef = StringRef::constant("ed25519");
const ALG_HMAC_SHA256: &StringRef = StringRef::constant("hmac-sha256");

/// Bytes of randomness in a `nonce` or `jti` (22 base64url characters).
const RANDOM_TOKEN_BYTES: usize = 16;

/// JWT claim names the assertion sets itself; an `extra` field by one of these names is dropped
/// rather than emitted twice.
const RESERVED_CLAIMS: [&str; 18] = [
    "iss",
    "aud",
    "iat",
    "exp",
    "jti",
    "sub",
    "name",
    "birthdate",
    "age",
    "verdict",
    "reason",
    "policy",
    "certified_at",
    "htm",
    "htu",
    "gender",
    "phone_number",
    "nbf",
];

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

/// A parsed private key.
enum Material {
    /// aws-lc's key pair, made once from the seed `ed25519-dalek` read from the file.
    Ed25519(Box<Ed25519KeyPair>),
    /// aws-lc's HMAC-SHA256 key, its pads hashed once; each message starts from that state.
    Hmac(Box<aws_lc_rs::hmac::Key>),
}

/// A signature's bytes: 64 for Ed25519, 32 for HMAC-SHA256.
struct SignatureBytes {
    buf: [u8; 64],
    len: usize,
}

impl AsRef<[u8]> for SignatureBytes {
    fn as_ref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Material {
    fn from_pem(id: &str, path: &Path, pem: &str) -> Result<Material, SigningError> {
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
    fn from_secret(secret: &[u8]) -> Material {
        Material::Hmac(Box::new(aws_lc_rs::hmac::Key::new(
            aws_lc_rs::hmac::HMAC_SHA256,
            secret,
        )))
    }

    /// Reads and parses one configured key.
    fn load(key: &crate::config::SigningKey) -> Result<Material, SigningError> {
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

    fn sign(&self, message: &[u8]) -> SignatureBytes {
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
    fn rfc9421_alg(&self) -> &'static StringRef {
        match self {
            Material::Ed25519(_) => ALG_ED25519,
            Material::Hmac(_) => ALG_HMAC_SHA256,
        }
    }

    /// JWS `alg` header value (RFC 8037 / RFC 7518).
    fn jws_alg(&self) -> &'static str {
        match self {
            Material::Ed25519(_) => "EdDSA",
            Material::Hmac(_) => "HS256",
        }
    }
}

/// The key that signs, with its per-request constants prepared.
struct ActiveKey {
    id: Box<str>,
    /// The `keyid` parameter, checked once to be a structured-field string.
    keyid: sfv::String,
    /// base64url of `{"alg":…,"kid":…,"typ":"JWT"}`, the first segment of every assertion.
    jws_header: Box<str>,
    material: Material,
}

impl ActiveKey {
    fn new(id: &str, material: Material) -> Result<ActiveKey, SigningError> {
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

/// `iss` and `aud` of the assertion, present when `jwt = true`.
struct JwtSettings {
    issuer: Box<str>,
    audience: Box<str>,
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

/// The identity claims of the JWT assertion (gateway.md §5.2). `None` fields are omitted.
pub struct AssertionClaims<'a> {
    /// `sub`: the imp_uid.
    pub imp_uid: Option<&'a str>,
    /// `name`, plain UTF-8 (not percent-encoded as in the header).
    pub name: Option<&'a str>,
    /// `birthdate`, written `YYYY-MM-DD`.
    pub birthdate: Option<jiff::civil::Date>,
    /// `age`, by the policy's basis.
    pub age: Option<i32>,
    /// `verdict`: `allow`, `deny` or `unverified`.
    pub verdict: &'a str,
    /// `reason`, for `deny` and `unverified`.
    pub reason: Option<&'a str>,
    /// `policy`: the policy's name.
    pub policy: &'a str,
    /// `certified_at`, UNIX seconds.
    pub certified_at: Option<i64>,
    /// `gender` (OpenID Connect name), when forwarded.
    pub gender: Option<&'a str>,
    /// `phone_number` (OpenID Connect name), when forwarded.
    pub phone_number: Option<&'a str>,
    /// Other forwarded fields by their config name (`foreigner`, `carrier`, …). A name the
    /// assertion already uses, or a `null` value, is left out.
    pub extra: &'a [(&'a str, Value)],
}

/// The value of one covered component.
#[derive(Clone, Copy)]
enum ComponentValue<'a> {
    /// A field value or a derived value taken as is (surrounding whitespace trimmed, §2.1).
    Plain(&'a [u8]),
    /// `@query` (§2.2.7): `?` and the query, or `?` alone when there is none.
    Query(Option<&'a str>),
}

impl ComponentValue<'_> {
    fn write_to(self, out: &mut Vec<u8>) {
        match self {
            ComponentValue::Plain(v) => out.extend_from_slice(v.trim_ascii()),
            ComponentValue::Query(q) => {
                out.push(b'?');
                out.extend_from_slice(q.unwrap_or("").as_bytes());
            }
        }
    }
}

/// Signature parameters (RFC 9421 §2.3), serialised in this order; `None` ones are left out.
struct SignatureParams<'a> {
    created: i64,
    expires: Option<i64>,
    keyid: &'a StringRef,
    alg: Option<&'a StringRef>,
    nonce: Option<&'a StringRef>,
    tag: Option<&'a StringRef>,
}

/// What one message signature produced: the two header values, member `label=…` each.
struct MessageSignature {
    input: String,
    signature: String,
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

fn sf_integer(v: i64) -> Integer {
    // Structured-field integers reach ±999,999,999,999,999; UNIX seconds stay far below.
    Integer::try_from(v).unwrap_or(if v < 0 { Integer::MIN } else { Integer::MAX })
}

/// Serialises `label=(components);params` (the `signature-input` member) and builds the
/// signature base (RFC 9421 §2.5) into `base`: one `"identifier": value` line per component, then
/// `"@signature-params": ` and the same inner list, with no trailing newline.
fn input_and_base<'c>(
    label: &KeyRef,
    components: impl IntoIterator<Item = (&'c StringRef, ComponentValue<'c>)>,
    params: &SignatureParams<'_>,
    base: &mut Vec<u8>,
    identifier: &mut String,
) -> String {
    base.clear();
    let mut input = String::with_capacity(256);
    {
        let mut dict = DictSerializer::with_buffer(&mut input);
        let mut list = dict.inner_list(label);
        for (id, value) in components {
            list.bare_item(id);
            identifier.clear();
            let _ = ItemSerializer::with_buffer(identifier)
                .bare_item(id)
                .finish();
            base.extend_from_slice(identifier.as_bytes());
            base.extend_from_slice(b": ");
            value.write_to(base);
            base.push(b'\n');
        }
        let mut p = list
            .finish()
            .parameter(P_CREATED, sf_integer(params.created));
        if let Some(expires) = params.expires {
            p = p.parameter(P_EXPIRES, sf_integer(expires));
        }
        p = p.parameter(P_KEYID, params.keyid);
        if let Some(alg) = params.alg {
            p = p.parameter(P_ALG, alg);
        }
        if let Some(nonce) = params.nonce {
            p = p.parameter(P_NONCE, nonce);
        }
        if let Some(tag) = params.tag {
            p = p.parameter(P_TAG, tag);
        }
        let _ = p.finish();
        let _ = dict.finish();
    }
    // The signature-params value is the member's value: everything after `label=`.
    base.extend_from_slice(b"\"@signature-params\": ");
    base.extend_from_slice(&input.as_bytes()[label.as_str().len() + 1..]);
    input
}

/// Signs `components` under `label` with explicit parameters: the whole of RFC 9421 signing,
/// shared by [`Signer::sign`] and the Appendix B test vectors.
fn message_signature<'c>(
    material: &Material,
    label: &KeyRef,
    components: impl IntoIterator<Item = (&'c StringRef, ComponentValue<'c>)>,
    params: &SignatureParams<'_>,
    base: &mut Vec<u8>,
    identifier: &mut String,
) -> MessageSignature {
    let input = input_and_base(label, components, params, base, identifier);
    let sig = material.sign(base);
    let mut signature = String::with_capacity(label.as_str().len() + 4 + 88);
    let mut dict = DictSerializer::with_buffer(&mut signature);
    let _ = dict.bare_item(label, sig.as_ref());
    let _ = dict.finish();
    MessageSignature { input, signature }
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

/// `Display` through serde's `collect_str`, so dates and `htu` are written without a `String`.
struct Collect<T>(T);

impl<T: fmt::Display> Serialize for Collect<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

/// `htu`: the path, and `?query` when there is one.
struct Htu<'a>(&'a str, Option<&'a str>);

impl fmt::Display for Htu<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)?;
        if let Some(q) = self.1 {
            f.write_str("?")?;
            f.write_str(q)?;
        }
        Ok(())
    }
}

/// The claim set of one assertion, serialised in the order of gateway.md §5.2.
struct ClaimSet<'a> {
    jwt: &'a JwtSettings,
    iat: i64,
    exp: i64,
    jti: &'a str,
    req: &'a SignInput<'a>,
}

impl Serialize for ClaimSet<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let c = self.req.claims;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("iss", &*self.jwt.issuer)?;
        m.serialize_entry("aud", &*self.jwt.audience)?;
        m.serialize_entry("iat", &self.iat)?;
        m.serialize_entry("exp", &self.exp)?;
        m.serialize_entry("jti", self.jti)?;
        if let Some(v) = c.imp_uid {
            m.serialize_entry("sub", v)?;
        }
        if let Some(v) = c.name {
            m.serialize_entry("name", v)?;
        }
        if let Some(v) = c.birthdate {
            m.serialize_entry("birthdate", &Collect(v))?;
        }
        if let Some(v) = c.age {
            m.serialize_entry("age", &v)?;
        }
        m.serialize_entry("verdict", c.verdict)?;
        if let Some(v) = c.reason {
            m.serialize_entry("reason", v)?;
        }
        m.serialize_entry("policy", c.policy)?;
        if let Some(v) = c.certified_at {
            m.serialize_entry("certified_at", &v)?;
        }
        m.serialize_entry("htm", self.req.method)?;
        m.serialize_entry("htu", &Collect(Htu(self.req.path, self.req.query)))?;
        if let Some(v) = c.gender {
            m.serialize_entry("gender", v)?;
        }
        if let Some(v) = c.phone_number {
            m.serialize_entry("phone_number", v)?;
        }
        for (name, value) in c.extra {
            if !value.is_null() && !RESERVED_CLAIMS.contains(name) {
                m.serialize_entry(name, value)?;
            }
        }
        m.end()
    }
}

/// A header value from text this module made (sf-serialisations, base64url): always visible
/// ASCII, so the fallback is never taken.
fn ascii_value(s: String) -> HeaderValue {
    HeaderValue::try_from(s).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The public JWK of an Ed25519 key (its 32 public bytes); `kid` when it has one.
fn public_jwk(public_key: &[u8], kid: Option<&str>) -> Value {
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
            if let Some(jwt) = &self.jwt {
                let jti = RandomToken::new(&mut rng);
                let claims = ClaimSet {
                    jwt,
                    iat: created,
                    exp: expires,
                    jti: jti.as_str(),
                    req,
                };
                match self.assertion(&claims, &mut scratch.claims) {
                    Ok(token) => out.push((req.assertion_name.clone(), ascii_value(token))),
                    // Only a failing `Serialize` of an `extra` value could get here.
                    Err(e) => tracing::error!(error = %e, "could not build the JWT assertion"),
                }
            }
            for buf in [&mut scratch.base, &mut scratch.claims] {
                if buf.capacity() > SCRATCH_KEEP_BYTES {
                    *buf = Vec::new();
                }
            }
        });
        out
    }

    /// The compact JWS `header.claims.signature`.
    fn assertion(
        &self,
        claims: &ClaimSet<'_>,
        buf: &mut Vec<u8>,
    ) -> Result<String, serde_json::Error> {
        buf.clear();
        serde_json::to_writer(&mut *buf, claims)?;
        let mut token =
            String::with_capacity(self.active.jws_header.len() + 2 + buf.len() * 4 / 3 + 4 + 86);
        token.push_str(&self.active.jws_header);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&*buf, &mut token);
        let sig = self.active.material.sign(token.as_bytes());
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(sig.as_ref(), &mut token);
        Ok(token)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Secret, SigningKey};
    use hmac::{Hmac, Mac};
    use std::time::Duration;

    /// RustCrypto's HMAC, an oracle independent of the aws-lc code that signs.
    type HmacSha256 = Hmac<sha2::Sha256>;

    // RFC 9421 Appendix B.1.4 (test-key-ed25519) and B.1.5 (test-shared-secret).
    const RFC_ED25519_PEM: &str = "-----BEGIN PRIVATE KEY-----\n\
        MC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF\n\
        -----END PRIVATE KEY-----\n";
    const RFC_SHARED_SECRET: &str = "uzvJfB4u3N0Jy4T7NZ75MDVcr8zSTInedJtkgcu46YW4XByzNJjxBdtjUk\
        dJPBtbmHhIDi6pcl8jsasjlTMtDQ==";

    /// RFC 9421 Appendix B.2 test request: the field values the vectors cover.
    const DATE: &str = "Tue, 20 Apr 2021 02:07:55 GMT";

    fn rfc_components<'a>(
        names: &'a [&'a str],
        values: &'a [&'a str],
    ) -> impl Iterator<Item = (&'a StringRef, ComponentValue<'a>)> {
        names.iter().zip(values).map(|(n, v)| {
            (
                StringRef::from_str(n).unwrap(),
                ComponentValue::Plain(v.as_bytes()),
            )
        })
    }

    fn vector(
        material: &Material,
        label: &str,
        names: &[&str],
        values: &[&str],
        keyid: &str,
    ) -> (String, MessageSignature) {
        let params = SignatureParams {
            created: 1618884473,
            expires: None,
            keyid: StringRef::from_str(keyid).unwrap(),
            alg: None,
            nonce: None,
            tag: None,
        };
        let (mut base, mut ident) = (Vec::new(), String::new());
        let sig = message_signature(
            material,
            KeyRef::from_str(label).unwrap(),
            rfc_components(names, values),
            &params,
            &mut base,
            &mut ident,
        );
        (String::from_utf8(base).unwrap(), sig)
    }

    #[test]
    fn rfc9421_b_2_5_hmac_sha256_vector_is_reproduced() {
        let secret = STANDARD.decode(RFC_SHARED_SECRET).unwrap();
        let (base, sig) = vector(
            &Material::from_secret(&secret),
            "sig-b25",
            &["date", "@authority", "content-type"],
            &[DATE, "example.com", "application/json"],
            "test-shared-secret",
        );
        assert_eq!(
            base,
            "\"date\": Tue, 20 Apr 2021 02:07:55 GMT\n\
             \"@authority\": example.com\n\
             \"content-type\": application/json\n\
             \"@signature-params\": (\"date\" \"@authority\" \"content-type\")\
             ;created=1618884473;keyid=\"test-shared-secret\""
        );
        assert_eq!(
            sig.input,
            "sig-b25=(\"date\" \"@authority\" \"content-type\")\
             ;created=1618884473;keyid=\"test-shared-secret\""
        );
        assert_eq!(
            sig.signature,
            "sig-b25=:pxcQw6G3AjtMBQjwo8XzkZf/bws5LelbaMk5rGIGtE8=:"
        );
    }

    #[test]
    fn rfc9421_b_2_6_ed25519_vector_is_reproduced() {
        let material = Material::from_pem("test-key-ed25519", Path::new("rfc"), RFC_ED25519_PEM)
            .unwrap_or_else(|e| panic!("{e}"));
        let (base, sig) = vector(
            &material,
            "sig-b26",
            &[
                "date",
                "@method",
                "@path",
                "@authority",
                "content-type",
                "content-length",
            ],
            &[
                DATE,
                "POST",
                "/foo",
                "example.com",
                "application/json",
                "18",
            ],
            "test-key-ed25519",
        );
        assert_eq!(
            base,
            "\"date\": Tue, 20 Apr 2021 02:07:55 GMT\n\
             \"@method\": POST\n\
             \"@path\": /foo\n\
             \"@authority\": example.com\n\
             \"content-type\": application/json\n\
             \"content-length\": 18\n\
             \"@signature-params\": (\"date\" \"@method\" \"@path\" \"@authority\" \
             \"content-type\" \"content-length\");created=1618884473\
             ;keyid=\"test-key-ed25519\""
        );
        assert_eq!(
            sig.input,
            "sig-b26=(\"date\" \"@method\" \"@path\" \"@authority\" \
             \"content-type\" \"content-length\");created=1618884473\
             ;keyid=\"test-key-ed25519\""
        );
        assert_eq!(
            sig.signature,
            "sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1\
             u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:"
        );
    }

    // ---- fixtures ------------------------------------------------------------------------

    struct Keys {
        _dir: tempfile::TempDir,
        ed_path: PathBuf,
        ed_jwk: Value,
        retired_path: PathBuf,
        hmac: String,
    }

    fn keys() -> Keys {
        let dir = tempfile::tempdir().unwrap();
        let (pem, ed_jwk) = keygen_ed25519();
        let ed_path = dir.path().join("edge-1.pem");
        std::fs::write(&ed_path, pem).unwrap();
        let (old_pem, _) = keygen_ed25519();
        let retired_path = dir.path().join("edge-0.pem");
        std::fs::write(&retired_path, old_pem).unwrap();
        Keys {
            _dir: dir,
            ed_path,
            ed_jwk,
            retired_path,
            hmac: keygen_hmac(),
        }
    }

    fn settings(k: &Keys, active: &str, jwt: bool) -> SigningSettings {
        SigningSettings {
            active_key: active.to_owned(),
            signature_ttl: Duration::from_secs(60),
            jwt,
            issuer: "verigate".to_owned(),
            audience: "legacy-app".to_owned(),
            keys: vec![
                SigningKey {
                    id: "edge-0".to_owned(),
                    alg: KeyAlg::Ed25519,
                    material: KeyMaterial::PrivateKeyFile(k.retired_path.clone()),
                },
                SigningKey {
                    id: "edge-1".to_owned(),
                    alg: KeyAlg::Ed25519,
                    material: KeyMaterial::PrivateKeyFile(k.ed_path.clone()),
                },
                SigningKey {
                    id: "shared-1".to_owned(),
                    alg: KeyAlg::HmacSha256,
                    material: KeyMaterial::HmacSecret(Secret::new(k.hmac.clone())),
                },
            ],
        }
    }

    fn signer(k: &Keys, active: &str, jwt: bool) -> Signer {
        Signer::from_settings(&settings(k, active, jwt)).unwrap_or_else(|e| panic!("{e}"))
    }

    fn h(name: &'static str, value: &str) -> (HeaderName, HeaderValue) {
        (
            HeaderName::from_static(name),
            HeaderValue::from_str(value).unwrap(),
        )
    }

    fn covered() -> Vec<(HeaderName, HeaderValue)> {
        vec![
            h("x-verified-verdict", "allow"),
            h("x-verified-imp-uid", "imp_123456789012"),
            h("x-verified-name", "%ED%99%8D%EA%B8%B8%EB%8F%99"),
            h("x-verified-birth", "2000-01-01"),
            h("x-verified-age", "26"),
            h("x-verified-policy", "adult"),
            h("x-verified-certified-at", "1767225600"),
            h(
                "content-digest",
                "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:",
            ),
        ]
    }

    fn claims() -> AssertionClaims<'static> {
        AssertionClaims {
            imp_uid: Some("imp_123456789012"),
            name: Some("홍길동"),
            birthdate: Some(jiff::civil::date(2000, 1, 1)),
            age: Some(26),
            verdict: "allow",
            reason: None,
            policy: "adult",
            certified_at: Some(1767225600),
            gender: Some("male"),
            phone_number: None,
            extra: &[],
        }
    }

    fn assertion_name() -> HeaderName {
        HeaderName::from_static("x-verified-assertion")
    }

    fn get<'a>(out: &'a HeaderList, name: &str) -> Option<&'a str> {
        out.iter()
            .find(|(n, _)| n.as_str() == name)
            .map(|(_, v)| v.to_str().unwrap())
    }

    fn now() -> jiff::Timestamp {
        jiff::Timestamp::from_second(1_767_225_700).unwrap()
    }

    /// An RFC 9421 verifier written against the parsed header fields, independent of the
    /// signing code: it rebuilds the base from the inner list it parses and the request it sees.
    fn verify(
        out: &HeaderList,
        method: &str,
        path: &str,
        query: Option<&str>,
        headers: &[(HeaderName, HeaderValue)],
        check: impl Fn(&[u8], &[u8]) -> bool,
    ) -> bool {
        let input: sfv::Dictionary = sfv::Parser::new(get(out, "signature-input").unwrap())
            .parse()
            .unwrap();
        let signature: sfv::Dictionary = sfv::Parser::new(get(out, "signature").unwrap())
            .parse()
            .unwrap();
        let label = KeyRef::from_str("verigate").unwrap();
        let Some(sfv::ListEntry::InnerList(list)) = input.get(label) else {
            panic!("no verigate inner list");
        };
        let Some(sfv::ListEntry::Item(sig)) = signature.get(label) else {
            panic!("no verigate signature");
        };
        let sfv::BareItem::ByteSequence(sig) = &sig.bare_item else {
            panic!("signature is not a byte sequence");
        };
        let mut base = String::new();
        for item in &list.items {
            let sfv::BareItem::String(name) = &item.bare_item else {
                panic!("component is not a string");
            };
            let value = match name.as_str() {
                "@method" => method.to_owned(),
                "@path" => path.to_owned(),
                "@query" => format!("?{}", query.unwrap_or("")),
                field => headers
                    .iter()
                    .find(|(n, _)| n.as_str() == field)
                    .map(|(_, v)| v.to_str().unwrap().to_owned())
                    .unwrap_or_else(|| panic!("covered header {field} missing")),
            };
            base.push_str(&format!("\"{}\": {value}\n", name.as_str()));
        }
        let mut params = String::new();
        let mut ser = sfv::ListSerializer::with_buffer(&mut params);
        {
            let mut inner = ser.inner_list();
            inner.items(&list.items);
            let _ = inner.finish().parameters(&list.params);
        }
        let _ = ser.finish();
        base.push_str(&format!("\"@signature-params\": {params}"));
        check(base.as_bytes(), sig)
    }

    fn ed25519_check(jwk: &Value) -> impl Fn(&[u8], &[u8]) -> bool {
        let x: [u8; 32] = URL_SAFE_NO_PAD
            .decode(jwk["x"].as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap();
        let key = ed25519_dalek::VerifyingKey::from_bytes(&x).unwrap();
        move |base, sig| {
            let Ok(sig) = ed25519_dalek::Signature::from_slice(sig) else {
                return false;
            };
            key.verify_strict(base, &sig).is_ok()
        }
    }

    fn hmac_check(secret_b64: &str) -> impl Fn(&[u8], &[u8]) -> bool {
        let secret = STANDARD.decode(secret_b64).unwrap();
        move |base, sig| {
            let mut mac = HmacSha256::new_from_slice(&secret).unwrap();
            mac.update(base);
            mac.verify_slice(sig).is_ok()
        }
    }

    fn sign_typical(s: &Signer, covered: &[(HeaderName, HeaderValue)]) -> HeaderList {
        let claims = claims();
        let name = assertion_name();
        s.sign(
            &SignInput {
                method: "POST",
                path: "/certifications",
                query: Some("a=1&b=%20"),
                covered,
                assertion_name: &name,
                claims: &claims,
            },
            now(),
        )
    }

    // ---- the RFC 9421 signature ------------------------------------------------------------

    #[test]
    fn signature_input_covers_derived_components_then_headers_with_params_in_order() {
        let k = keys();
        let out = sign_typical(&signer(&k, "edge-1", false), &covered());
        let input = get(&out, "signature-input").unwrap();
        let expected_prefix = "verigate=(\"@method\" \"@path\" \"@query\" \"x-verified-verdict\" \
            \"x-verified-imp-uid\" \"x-verified-name\" \"x-verified-birth\" \"x-verified-age\" \
            \"x-verified-policy\" \"x-verified-certified-at\" \"content-digest\")\
            ;created=1767225700;expires=1767225760;keyid=\"edge-1\";alg=\"ed25519\";nonce=\"";
        assert!(input.starts_with(expected_prefix), "{input}");
        let rest = &input[expected_prefix.len()..];
        let (nonce, tail) = rest.split_once('"').unwrap();
        assert_eq!(tail, ";tag=\"verigate\"");
        assert_eq!(URL_SAFE_NO_PAD.decode(nonce).unwrap().len(), 16);
        let sig = get(&out, "signature").unwrap();
        assert!(sig.starts_with("verigate=:") && sig.ends_with(':'), "{sig}");
        let raw = STANDARD
            .decode(&sig["verigate=:".len()..sig.len() - 1])
            .unwrap();
        assert_eq!(raw.len(), 64);
    }

    #[test]
    fn hmac_key_signs_with_hmac_sha256_alg() {
        let k = keys();
        let out = sign_typical(&signer(&k, "shared-1", false), &covered());
        let input = get(&out, "signature-input").unwrap();
        assert!(
            input.contains(";keyid=\"shared-1\";alg=\"hmac-sha256\";nonce="),
            "{input}"
        );
        let sig = get(&out, "signature").unwrap();
        let raw = STANDARD
            .decode(&sig["verigate=:".len()..sig.len() - 1])
            .unwrap();
        assert_eq!(raw.len(), 32);
    }

    #[test]
    fn query_component_is_a_lone_question_mark_without_a_query() {
        let k = keys();
        let s = signer(&k, "edge-1", false);
        let claims = claims();
        let name = assertion_name();
        let covered = covered();
        let out = s.sign(
            &SignInput {
                method: "GET",
                path: "/certifications/redirect",
                query: None,
                covered: &covered,
                assertion_name: &name,
                claims: &claims,
            },
            now(),
        );
        let check = ed25519_check(&k.ed_jwk);
        assert!(verify(
            &out,
            "GET",
            "/certifications/redirect",
            None,
            &covered,
            &check
        ));
        // The verifier's "@query" for no query is "?"; "?x" must not verify.
        assert!(!verify(
            &out,
            "GET",
            "/certifications/redirect",
            Some("x"),
            &covered,
            &check
        ));
    }

    #[test]
    fn ed25519_signature_verifies_with_the_published_key_and_not_after_a_header_changes() {
        let k = keys();
        let s = signer(&k, "edge-1", false);
        let covered = covered();
        let out = sign_typical(&s, &covered);
        let check = ed25519_check(&k.ed_jwk);
        let q = Some("a=1&b=%20");
        assert!(verify(&out, "POST", "/certifications", q, &covered, &check));

        let mut forged = covered.clone();
        forged[0] = h("x-verified-verdict", "deny");
        assert!(!verify(&out, "POST", "/certifications", q, &forged, &check));
        let mut forged = covered.clone();
        forged[7] = h(
            "content-digest",
            "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:",
        );
        assert!(!verify(&out, "POST", "/certifications", q, &forged, &check));
        assert!(!verify(&out, "PUT", "/certifications", q, &covered, &check));
        assert!(!verify(&out, "POST", "/other", q, &covered, &check));
        assert!(!verify(
            &out,
            "POST",
            "/certifications",
            None,
            &covered,
            &check
        ));
    }

    #[test]
    fn hmac_signature_verifies_with_the_secret_and_not_after_the_digest_changes() {
        let k = keys();
        let s = signer(&k, "shared-1", false);
        let covered = covered();
        let out = sign_typical(&s, &covered);
        let check = hmac_check(&k.hmac);
        let q = Some("a=1&b=%20");
        assert!(verify(&out, "POST", "/certifications", q, &covered, &check));

        let mut forged = covered.clone();
        forged[7] = h(
            "content-digest",
            "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:",
        );
        assert!(!verify(&out, "POST", "/certifications", q, &forged, &check));
        let mut forged = covered.clone();
        forged[4] = h("x-verified-age", "19");
        assert!(!verify(&out, "POST", "/certifications", q, &forged, &check));
        // Another key does not verify it either.
        assert!(!verify(
            &out,
            "POST",
            "/certifications",
            q,
            &covered,
            hmac_check(&keygen_hmac())
        ));
    }

    #[test]
    fn every_signature_has_a_fresh_nonce() {
        let k = keys();
        let s = signer(&k, "edge-1", false);
        let a = sign_typical(&s, &covered());
        let b = sign_typical(&s, &covered());
        assert_ne!(get(&a, "signature-input"), get(&b, "signature-input"));
    }

    #[test]
    fn jwt_off_adds_only_the_two_signature_headers() {
        let k = keys();
        let out = sign_typical(&signer(&k, "edge-1", false), &covered());
        let names: Vec<&str> = out.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["signature-input", "signature"]);
    }

    // ---- the JWT assertion -----------------------------------------------------------------

    fn validation(alg: jsonwebtoken::Algorithm) -> jsonwebtoken::Validation {
        let mut v = jsonwebtoken::Validation::new(alg);
        v.set_audience(&["legacy-app"]);
        v.set_issuer(&["verigate"]);
        v.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        v
    }

    fn sign_now(s: &Signer, claims: &AssertionClaims<'_>) -> (HeaderList, i64) {
        let name = assertion_name();
        let covered = covered();
        let now = jiff::Timestamp::now();
        let out = s.sign(
            &SignInput {
                method: "POST",
                path: "/certifications",
                query: Some("from=popup"),
                covered: &covered,
                assertion_name: &name,
                claims,
            },
            now,
        );
        (out, now.as_second())
    }

    #[test]
    fn eddsa_assertion_decodes_with_the_jwks_key_and_carries_the_specified_claims() {
        let k = keys();
        let s = signer(&k, "edge-1", true);
        let (out, now) = sign_now(&s, &claims());
        let token = get(&out, "x-verified-assertion").unwrap();

        let header = jsonwebtoken::decode_header(token).unwrap();
        assert_eq!(header.alg, jsonwebtoken::Algorithm::EdDSA);
        assert_eq!(header.kid.as_deref(), Some("edge-1"));
        assert_eq!(header.typ.as_deref(), Some("JWT"));

        let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_value(s.jwks()).unwrap();
        let jwk = jwks.find("edge-1").unwrap();
        let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
        let data =
            jsonwebtoken::decode::<Value>(token, &key, &validation(jsonwebtoken::Algorithm::EdDSA))
                .unwrap_or_else(|e| panic!("{e}"));
        let c = data.claims;
        assert_eq!(c["iss"], "verigate");
        assert_eq!(c["aud"], "legacy-app");
        assert_eq!(c["iat"], now);
        assert_eq!(c["exp"], now + 60);
        assert_eq!(c["sub"], "imp_123456789012");
        assert_eq!(c["name"], "홍길동");
        assert_eq!(c["birthdate"], "2000-01-01");
        assert_eq!(c["age"], 26);
        assert_eq!(c["verdict"], "allow");
        assert_eq!(c["policy"], "adult");
        assert_eq!(c["certified_at"], 1767225600);
        assert_eq!(c["htm"], "POST");
        assert_eq!(c["htu"], "/certifications?from=popup");
        assert_eq!(c["gender"], "male");
        assert_eq!(
            URL_SAFE_NO_PAD
                .decode(c["jti"].as_str().unwrap())
                .unwrap()
                .len(),
            16
        );
        // Absent claims are omitted, never null.
        let obj = c.as_object().unwrap();
        assert!(!obj.contains_key("reason") && !obj.contains_key("phone_number"));
        assert!(obj.values().all(|v| !v.is_null()));

        // The wrong audience is refused.
        let mut wrong = validation(jsonwebtoken::Algorithm::EdDSA);
        wrong.set_audience(&["another-app"]);
        assert!(jsonwebtoken::decode::<Value>(token, &key, &wrong).is_err());
    }

    #[test]
    fn hs256_assertion_decodes_with_the_secret_and_keeps_reason_and_extra_fields() {
        let k = keys();
        let s = signer(&k, "shared-1", true);
        let extra = [
            ("foreigner", Value::Bool(false)),
            ("carrier", Value::String("SKT".to_owned())),
            ("name", Value::String("forged".to_owned())),
            ("unique_key", Value::Null),
        ];
        let claims = AssertionClaims {
            verdict: "deny",
            reason: Some("underage"),
            age: Some(17),
            phone_number: Some("01012345678"),
            extra: &extra,
            ..claims()
        };
        let (out, _) = sign_now(&s, &claims);
        let token = get(&out, "x-verified-assertion").unwrap();
        let header = jsonwebtoken::decode_header(token).unwrap();
        assert_eq!(header.alg, jsonwebtoken::Algorithm::HS256);
        assert_eq!(header.kid.as_deref(), Some("shared-1"));
        let key = jsonwebtoken::DecodingKey::from_base64_secret(&k.hmac).unwrap();
        let c =
            jsonwebtoken::decode::<Value>(token, &key, &validation(jsonwebtoken::Algorithm::HS256))
                .unwrap_or_else(|e| panic!("{e}"))
                .claims;
        assert_eq!(c["verdict"], "deny");
        assert_eq!(c["reason"], "underage");
        assert_eq!(c["age"], 17);
        assert_eq!(c["phone_number"], "01012345678");
        assert_eq!(c["foreigner"], false);
        assert_eq!(c["carrier"], "SKT");
        assert_eq!(c["name"], "홍길동", "an extra field cannot replace a claim");
        assert!(!c.as_object().unwrap().contains_key("unique_key"));
        // Another secret does not verify it.
        let other = jsonwebtoken::DecodingKey::from_base64_secret(&keygen_hmac()).unwrap();
        assert!(
            jsonwebtoken::decode::<Value>(
                token,
                &other,
                &validation(jsonwebtoken::Algorithm::HS256)
            )
            .is_err()
        );
    }

    #[test]
    fn assertion_is_not_covered_by_the_message_signature() {
        let k = keys();
        let (out, _) = sign_now(&signer(&k, "edge-1", true), &claims());
        assert!(get(&out, "x-verified-assertion").is_some());
        assert!(!get(&out, "signature-input").unwrap().contains("assertion"));
    }

    // ---- keys ------------------------------------------------------------------------------

    #[test]
    fn keygen_pem_round_trips_through_from_settings_and_matches_its_jwk() {
        let k = keys();
        let s = signer(&k, "edge-1", false);
        assert_eq!(s.active_key_id(), "edge-1");
        let jwks = s.jwks();
        let published = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["kid"] == "edge-1")
            .unwrap();
        assert_eq!(published["x"], k.ed_jwk["x"]);
        assert!(k.ed_jwk.get("kid").is_none());
        assert_eq!(k.ed_jwk["kty"], "OKP");
        assert_eq!(k.ed_jwk["crv"], "Ed25519");
        assert_eq!(k.ed_jwk["alg"], "EdDSA");
        assert_eq!(k.ed_jwk["use"], "sig");
    }

    #[test]
    fn jwks_lists_every_ed25519_key_including_retired_and_never_hmac() {
        let k = keys();
        for active in ["edge-1", "shared-1"] {
            let jwks = signer(&k, active, true).jwks();
            let entries = jwks["keys"].as_array().unwrap();
            let kids: Vec<&str> = entries.iter().map(|j| j["kid"].as_str().unwrap()).collect();
            assert_eq!(kids, ["edge-0", "edge-1"]);
            for e in entries {
                let obj = e.as_object().unwrap();
                let mut fields: Vec<&str> = obj.keys().map(String::as_str).collect();
                fields.sort_unstable();
                assert_eq!(fields, ["alg", "crv", "kid", "kty", "use", "x"]);
            }
            let text = jwks.to_string();
            assert!(!text.contains(&k.hmac) && !text.contains("shared-1"));
        }
    }

    #[test]
    fn keygen_hmac_makes_32_random_bytes_the_config_accepts() {
        let a = keygen_hmac();
        assert_eq!(STANDARD.decode(&a).unwrap().len(), 32);
        assert_eq!(
            decode_hmac_secret(&Secret::new(a.clone())).unwrap().len(),
            32
        );
        assert_ne!(a, keygen_hmac());
    }

    #[test]
    fn rfc_test_key_pem_is_accepted_from_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rfc.pem");
        std::fs::write(&path, RFC_ED25519_PEM).unwrap();
        let s = Signer::from_settings(&SigningSettings {
            active_key: "test-key-ed25519".to_owned(),
            signature_ttl: Duration::from_secs(60),
            jwt: false,
            issuer: "verigate".to_owned(),
            audience: "legacy-app".to_owned(),
            keys: vec![SigningKey {
                id: "test-key-ed25519".to_owned(),
                alg: KeyAlg::Ed25519,
                material: KeyMaterial::PrivateKeyFile(path),
            }],
        })
        .unwrap_or_else(|e| panic!("{e}"));
        // B.1.4's public key, as a JWK `x`.
        assert_eq!(
            s.jwks()["keys"][0]["x"],
            "JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs"
        );
    }

    #[test]
    fn a_missing_key_file_is_named_in_the_error() {
        let k = keys();
        let mut s = settings(&k, "edge-1", false);
        s.keys[0].material = KeyMaterial::PrivateKeyFile(PathBuf::from("keys/nowhere.pem"));
        let err = Signer::from_settings(&s).unwrap_err();
        assert!(matches!(err, SigningError::KeyFileUnreadable { .. }));
        let msg = err.to_string();
        assert!(
            msg.contains("edge-0") && msg.contains("keys/nowhere.pem"),
            "{msg}"
        );
    }

    #[test]
    fn an_invalid_key_file_is_named_and_its_bytes_are_not_printed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hmac-as-pem.pem");
        // A PEM whose body is not an Ed25519 PKCS#8 key.
        let body = "c2VjcmV0LWJ5dGVzLXRoYXQtbXVzdC1uZXZlci1iZS1wcmludGVk";
        std::fs::write(
            &path,
            format!("-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n"),
        )
        .unwrap();
        let k = keys();
        let mut s = settings(&k, "edge-1", false);
        s.keys[1].material = KeyMaterial::PrivateKeyFile(path.clone());
        let err = Signer::from_settings(&s).unwrap_err();
        assert!(matches!(err, SigningError::KeyFileInvalid { .. }));
        let msg = err.to_string();
        assert!(
            msg.contains("edge-1") && msg.contains("hmac-as-pem.pem"),
            "{msg}"
        );
        assert!(!msg.contains(body) && !format!("{err:?}").contains(body));
    }

    #[test]
    fn a_bad_hmac_secret_and_a_mismatched_alg_are_refused() {
        let k = keys();
        let mut s = settings(&k, "edge-1", false);
        s.keys[2].material = KeyMaterial::HmacSecret(Secret::new("c2hvcnQ="));
        let err = Signer::from_settings(&s).unwrap_err();
        assert!(matches!(
            err,
            SigningError::BadHmacSecret {
                source: HmacSecretError::TooShort(5),
                ..
            }
        ));
        assert!(err.to_string().contains("shared-1"));

        let mut s = settings(&k, "edge-1", false);
        s.keys[2].alg = KeyAlg::Ed25519;
        assert!(matches!(
            Signer::from_settings(&s),
            Err(SigningError::MaterialMismatch { .. })
        ));
    }

    #[test]
    fn an_active_key_that_names_no_key_is_refused() {
        let k = keys();
        let err = Signer::from_settings(&settings(&k, "edge-9", false)).unwrap_err();
        assert!(matches!(err, SigningError::ActiveKeyMissing(ref id) if id == "edge-9"));
    }

    #[test]
    fn debug_output_never_contains_key_material() {
        let k = keys();
        for active in ["edge-1", "shared-1"] {
            let s = signer(&k, active, true);
            let text = format!("{s:?}");
            assert!(text.contains(active), "{text}");
            assert!(!text.contains(&k.hmac));
            let secret = STANDARD.decode(&k.hmac).unwrap();
            assert!(!text.contains(&format!("{:?}", &secret[..4])));
            let pem = std::fs::read_to_string(&k.ed_path).unwrap();
            let seed = ed25519_dalek::SigningKey::from_pkcs8_pem(&pem)
                .unwrap()
                .to_bytes();
            let seed = format!("{seed:?}");
            assert!(!text.contains(&seed[1..seed.len() - 1]));
        }
    }

    #[test]
    fn signer_can_be_shared_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Signer>();
    }
}
