//! The JWT assertion (README, "Signed headers"): the identity claims a route forwards, serialised in the
//! order of the contract, and the compact JWS over them, signed with the active key.
//!
//! The claims are written straight into a reused buffer by a hand-written `Serialize` (no
//! intermediate map), and the JWS header segment is prepared once per key, so an assertion costs
//! one serialisation and one signature; `jsonwebtoken::encode` would re-parse the key each time.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;

use super::{SignInput, Signer};

/// JWT claim names the assertion sets itself; an `extra` field by one of these names is dropped
/// rather than emitted twice.
const RESERVED_CLAIMS: [&str; 19] = [
    "iss",
    "aud",
    "iat",
    "exp",
    "jti",
    "sub",
    "provider",
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

/// `iss` and `aud` of the assertion, present when `jwt = true`.
pub(super) struct JwtSettings {
    pub(super) issuer: Box<str>,
    pub(super) audience: Box<str>,
}

/// The identity claims of the JWT assertion (README, "Signed headers"). `None` fields are omitted.
pub struct AssertionClaims<'a> {
    /// `sub`: the verification id (an `imp_uid`, or a PortOne V2 `identityVerificationId`).
    pub imp_uid: Option<&'a str>,
    /// `provider`: `iamport` or `portone`, the API that resolved the id.
    pub provider: &'a str,
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

/// The claim set of one assertion, serialised in the order of README, "Signed headers".
pub(super) struct ClaimSet<'a> {
    pub(super) jwt: &'a JwtSettings,
    pub(super) iat: i64,
    pub(super) exp: i64,
    pub(super) jti: &'a str,
    pub(super) req: &'a SignInput<'a>,
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
        m.serialize_entry("provider", c.provider)?;
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

impl Signer {
    /// The compact JWS `header.claims.signature`.
    pub(super) fn assertion(
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
}
