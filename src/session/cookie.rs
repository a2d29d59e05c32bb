//! The session and state cookies: claims ↔ sealed values, `Set-Cookie` lines, `Cookie` headers.
//!
//! The session cookie holds only what a gated request needs (§9.4): the verification id, name,
//! birth date, `certified_at`, the `headers.forward` fields, and when it was issued and expires.
//! It is short-key JSON sealed by [`Sealer`] with the cookie name in the associated data; the
//! expiry that counts is the sealed one, checked here against "now" (an argument), never the
//! browser's `Max-Age`. A cookie that does not open, has expired, was issued in the future or
//! outlives today's `ttl` is simply no session.
//!
//! The state cookie binds one visit of the verification page to its callback: the minted
//! `merchant_uid` / `identityVerificationId` and the `rd` to return to, for at most
//! [`STATE_TTL`]. Both cookies are removed from the `Cookie` header sent upstream; every other
//! cookie is passed on byte for byte.

use std::borrow::Cow;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use super::Provider;
use crate::config::ForwardField;
use crate::identity::Identity;
use crate::imp_uid::ImpUid;
use crate::seal::{KeyStatus, Purpose, SealError, Sealer};

/// The longest a state cookie lives (§9.2: ≤ 15 minutes).
pub const STATE_TTL: Duration = Duration::from_secs(15 * 60);
/// How far in the future an `issued_at` may lie (clock skew across a fleet).
pub const ISSUED_SKEW: Duration = Duration::from_secs(5 * 60);
/// How many copies of one of our cookies are tried (duplicates from older paths or domains).
const MAX_TRIES: usize = 4;
/// Longest configurable cookie name.
pub const MAX_NAME_LEN: usize = 64;

/// The `SameSite` attribute of the session cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    Lax,
    Strict,
}

impl SameSite {
    fn as_str(self) -> &'static str {
        match self {
            SameSite::Lax => "Lax",
            SameSite::Strict => "Strict",
        }
    }
}

/// The `[session]` keys this room needs, as validated by the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieSettings {
    /// The base name (`verigate`), without prefix.
    pub name: String,
    /// `Secure` and the `__Host-` prefix.
    pub secure: bool,
    pub same_site: SameSite,
    /// How long a session lasts after it is issued.
    pub ttl: Duration,
}

/// Why cookie settings were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CookieError {
    #[error(
        "the cookie name must be 1 to {MAX_NAME_LEN} of A-Z a-z 0-9 _ - and not start with `__`"
    )]
    BadName,
    #[error("ttl_secs must be at least 1")]
    ZeroTtl,
    #[error("{0}")]
    Seal(#[from] SealError),
}

/// What a session holds: a verified person, as far as gated requests need to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub provider: Provider,
    /// Certified, with only the name, birth date, `certified_at` and the forwarded fields set.
    pub identity: Identity,
    pub issued_at: Timestamp,
    pub expires_at: Timestamp,
}

impl Session {
    /// A session for a certified `identity`, keeping only what the headers need.
    pub fn new(
        provider: Provider,
        identity: &Identity,
        forward: &[ForwardField],
        issued_at: Timestamp,
        ttl: Duration,
    ) -> Self {
        let mut kept = Identity::empty(identity.imp_uid.clone());
        kept.certified = true;
        kept.certified_at = identity.certified_at;
        kept.name = identity.name.clone();
        kept.birth_date = identity.birth_date;
        for field in forward {
            match field {
                ForwardField::Gender => kept.gender = identity.gender.clone(),
                ForwardField::Foreigner => kept.foreigner = identity.foreigner,
                ForwardField::UniqueKey => kept.unique_key = identity.unique_key.clone(),
                ForwardField::UniqueInSite => kept.unique_in_site = identity.unique_in_site.clone(),
                ForwardField::Phone => kept.phone = identity.phone.clone(),
                ForwardField::Carrier => kept.carrier = identity.carrier.clone(),
                ForwardField::PgProvider => kept.pg_provider = identity.pg_provider.clone(),
                ForwardField::MerchantUid => kept.merchant_uid = identity.merchant_uid.clone(),
            }
        }
        Session {
            provider,
            identity: kept,
            issued_at,
            expires_at: add(issued_at, ttl),
        }
    }

    /// Whole seconds left at `now` (0 once expired): the `Max-Age` of a re-sealed cookie.
    pub fn remaining_secs(&self, now: Timestamp) -> u64 {
        u64::try_from(self.expires_at.as_second() - now.as_second()).unwrap_or(0)
    }
}

fn add(t: Timestamp, d: Duration) -> Timestamp {
    let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    Timestamp::from_second(t.as_second().saturating_add(secs)).unwrap_or(Timestamp::MAX)
}

fn from_secs(s: i64) -> Option<Timestamp> {
    Timestamp::from_second(s).ok()
}

/// Whether `[issued, expires)` is live at `now`, at most `max_life` long, not issued ahead.
fn live(issued: Timestamp, expires: Timestamp, now: Timestamp, max_life: Duration) -> bool {
    now < expires && now < add(issued, max_life) && issued <= add(now, ISSUED_SKEW)
}

type Text<'a> = Option<Cow<'a, str>>;

/// The session's wire form: short keys, absent fields left out.
#[derive(Serialize, Deserialize)]
struct SessionWire<'a> {
    #[serde(borrow)]
    i: Cow<'a, str>,
    p: Provider,
    ia: i64,
    ex: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    c: Option<i64>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    n: Text<'a>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    b: Option<Date>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    g: Text<'a>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fo: Option<bool>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    ck: Text<'a>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    di: Text<'a>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    ph: Text<'a>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    ca: Text<'a>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pg: Text<'a>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    mu: Text<'a>,
}

fn text(v: &Option<Box<str>>) -> Text<'_> {
    v.as_deref().map(Cow::Borrowed)
}

fn boxed(v: Text<'_>) -> Option<Box<str>> {
    v.filter(|s| !s.is_empty())
        .map(|s| s.into_owned().into_boxed_str())
}

impl<'a> SessionWire<'a> {
    fn of(s: &'a Session) -> Self {
        let id = &s.identity;
        SessionWire {
            i: Cow::Borrowed(id.imp_uid.as_str()),
            p: s.provider,
            ia: s.issued_at.as_second(),
            ex: s.expires_at.as_second(),
            c: id.certified_at.map(Timestamp::as_second),
            n: text(&id.name),
            b: id.birth_date,
            g: text(&id.gender),
            fo: id.foreigner,
            ck: text(&id.unique_key),
            di: text(&id.unique_in_site),
            ph: text(&id.phone),
            ca: text(&id.carrier),
            pg: text(&id.pg_provider),
            mu: text(&id.merchant_uid),
        }
    }

    fn into_session(self) -> Option<Session> {
        let mut id = Identity::empty(ImpUid::parse(&self.i).ok()?);
        id.certified = true;
        id.certified_at = match self.c {
            Some(c) => Some(from_secs(c)?),
            None => None,
        };
        id.name = boxed(self.n);
        id.birth_date = self.b;
        id.gender = boxed(self.g);
        id.foreigner = self.fo;
        id.unique_key = boxed(self.ck);
        id.unique_in_site = boxed(self.di);
        id.phone = boxed(self.ph);
        id.carrier = boxed(self.ca);
        id.pg_provider = boxed(self.pg);
        id.merchant_uid = boxed(self.mu);
        Some(Session {
            provider: self.p,
            identity: id,
            issued_at: from_secs(self.ia)?,
            expires_at: from_secs(self.ex)?,
        })
    }
}

/// One visit of the verification page: what its callback must match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    pub provider: Provider,
    /// The `merchant_uid` (V1) or `identityVerificationId` (V2) verigate minted for the visit.
    pub id: ImpUid,
    /// Where to go afterwards: a local path and query, already validated by [`super::redirect`].
    pub rd: String,
    pub issued_at: Timestamp,
    pub expires_at: Timestamp,
}

impl State {
    /// A state for a visit at `now`, with a fresh random id `vg_<22 base64url chars>`.
    pub fn mint(provider: Provider, rd: &str, now: Timestamp) -> Result<Self, SealError> {
        let mut nonce = [0u8; 16];
        aws_lc_rs::rand::fill(&mut nonce).map_err(|_| SealError::Crypto)?;
        Ok(Self::with_nonce(provider, nonce, rd, now))
    }

    /// As [`State::mint`] with a given nonce (tests, reproducible demos).
    pub fn with_nonce(provider: Provider, nonce: [u8; 16], rd: &str, now: Timestamp) -> Self {
        let text = format!("vg_{}", URL_SAFE_NO_PAD.encode(nonce));
        // `vg_` and base64url are all in ImpUid's alphabet, 25 characters long.
        let id = ImpUid::parse(&text).unwrap_or_else(|_| unreachable!("vg_ + base64url"));
        State {
            provider,
            id,
            rd: rd.to_owned(),
            issued_at: now,
            expires_at: add(now, STATE_TTL),
        }
    }

    /// Whether a callback's `merchant_uid` / `identityVerificationId` is the one minted here.
    pub fn binds(&self, id: &str) -> bool {
        self.id.as_str() == id
    }
}

#[derive(Serialize, Deserialize)]
struct StateWire<'a> {
    p: Provider,
    #[serde(borrow)]
    i: Cow<'a, str>,
    #[serde(borrow)]
    r: Cow<'a, str>,
    ia: i64,
    ex: i64,
}

/// A session that opened, and whether it should be re-sealed under the current key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    pub session: Session,
    pub reseal: bool,
}

/// The session and state cookies of one configuration: names, attributes, and the sealer.
#[derive(Debug)]
pub struct SessionCookies {
    session_name: Box<str>,
    state_name: Box<str>,
    /// Our names in both forms (with and without `__Host-`), removed from upstream requests.
    ours: [Box<str>; 4],
    session_purpose: Purpose,
    state_purpose: Purpose,
    secure: bool,
    same_site: SameSite,
    ttl: Duration,
    sealer: Sealer,
}

fn valid_name(name: &str) -> bool {
    (1..=MAX_NAME_LEN).contains(&name.len())
        && !name.starts_with("__")
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl SessionCookies {
    /// The cookies for `settings`, sealed by `sealer`.
    pub fn new(settings: &CookieSettings, sealer: Sealer) -> Result<Self, CookieError> {
        if !valid_name(&settings.name) {
            return Err(CookieError::BadName);
        }
        if settings.ttl.as_secs() == 0 {
            return Err(CookieError::ZeroTtl);
        }
        let base = settings.name.as_str();
        let state = format!("{base}_state");
        let host = |n: &str| format!("__Host-{n}").into_boxed_str();
        let (session_name, state_name) = if settings.secure {
            (host(base), host(&state))
        } else {
            (base.into(), state.as_str().into())
        };
        Ok(SessionCookies {
            // The format version is part of the purpose: a new wire form never misreads an old one.
            session_purpose: Purpose::new(&format!("session v1 {session_name}"))?,
            state_purpose: Purpose::new(&format!("state v1 {state_name}"))?,
            ours: [host(base), host(&state), base.into(), state.into()],
            session_name,
            state_name,
            secure: settings.secure,
            same_site: settings.same_site,
            ttl: settings.ttl,
            sealer,
        })
    }

    /// The session cookie's name (`__Host-verigate` or `verigate`).
    pub fn session_name(&self) -> &str {
        &self.session_name
    }

    /// The state cookie's name (`__Host-verigate_state` or `verigate_state`).
    pub fn state_name(&self) -> &str {
        &self.state_name
    }

    /// The sealer (key ids for logs and `verigate check`).
    pub fn sealer(&self) -> &Sealer {
        &self.sealer
    }

    /// The session lifetime.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The sealed value of `session`.
    pub fn seal_session(&self, session: &Session) -> Result<String, SealError> {
        let json = zeroize::Zeroizing::new(
            serde_json::to_vec(&SessionWire::of(session)).map_err(|_| SealError::Crypto)?,
        );
        self.sealer.seal(&self.session_purpose, &json)
    }

    /// The session in a sealed value, if it opens and is live at `now`.
    pub fn open_session(&self, value: &str, now: Timestamp) -> Option<Opened> {
        let (json, status) = self.sealer.open(&self.session_purpose, value)?;
        let session = serde_json::from_slice::<SessionWire<'_>>(&json)
            .ok()?
            .into_session()?;
        live(session.issued_at, session.expires_at, now, self.ttl).then_some(Opened {
            session,
            reseal: status == KeyStatus::Previous,
        })
    }

    /// The first live session among the request's `Cookie` headers.
    pub fn session_from<'h>(
        &self,
        cookie_headers: impl IntoIterator<Item = &'h str>,
        now: Timestamp,
    ) -> Option<Opened> {
        values(cookie_headers, &self.session_name)
            .take(MAX_TRIES)
            .find_map(|v| self.open_session(v, now))
    }

    /// `Set-Cookie` for a new session (or a re-sealed one), `Max-Age` its remaining lifetime.
    pub fn issue(&self, session: &Session, now: Timestamp) -> Result<String, SealError> {
        let sealed = self.seal_session(session)?;
        Ok(self.set_cookie(
            &self.session_name,
            &sealed,
            self.same_site,
            session.remaining_secs(now),
        ))
    }

    /// `Set-Cookie` that removes the session (sign-out).
    pub fn clear_session(&self) -> String {
        self.set_cookie(&self.session_name, "", self.same_site, 0)
    }

    /// `Set-Cookie` for the state of one page visit. Always `SameSite=Lax`: the redirect flow
    /// comes back from the provider's site as a top-level navigation.
    pub fn issue_state(&self, state: &State, now: Timestamp) -> Result<String, SealError> {
        let wire = StateWire {
            p: state.provider,
            i: Cow::Borrowed(state.id.as_str()),
            r: Cow::Borrowed(&state.rd),
            ia: state.issued_at.as_second(),
            ex: state.expires_at.as_second(),
        };
        let json = serde_json::to_vec(&wire).map_err(|_| SealError::Crypto)?;
        let sealed = self.sealer.seal(&self.state_purpose, &json)?;
        let max_age = u64::try_from(state.expires_at.as_second() - now.as_second()).unwrap_or(0);
        Ok(self.set_cookie(&self.state_name, &sealed, SameSite::Lax, max_age))
    }

    /// `Set-Cookie` that removes the state (after the callback used it).
    pub fn clear_state(&self) -> String {
        self.set_cookie(&self.state_name, "", SameSite::Lax, 0)
    }

    /// The state in a sealed value, if it opens and is live at `now`.
    pub fn open_state(&self, value: &str, now: Timestamp) -> Option<State> {
        let (json, _) = self.sealer.open(&self.state_purpose, value)?;
        let w: StateWire<'_> = serde_json::from_slice(&json).ok()?;
        let state = State {
            provider: w.p,
            id: ImpUid::parse(&w.i).ok()?,
            rd: w.r.into_owned(),
            issued_at: from_secs(w.ia)?,
            expires_at: from_secs(w.ex)?,
        };
        live(state.issued_at, state.expires_at, now, STATE_TTL).then_some(state)
    }

    /// The first live state among the request's `Cookie` headers.
    pub fn state_from<'h>(
        &self,
        cookie_headers: impl IntoIterator<Item = &'h str>,
        now: Timestamp,
    ) -> Option<State> {
        values(cookie_headers, &self.state_name)
            .take(MAX_TRIES)
            .find_map(|v| self.open_state(v, now))
    }

    fn set_cookie(&self, name: &str, value: &str, same_site: SameSite, max_age: u64) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!(
            "{name}={value}; Path=/; HttpOnly{secure}; SameSite={}; Max-Age={max_age}",
            same_site.as_str()
        )
    }

    /// A `Cookie` header without verigate's cookies: `Some(header)` unchanged (borrowed) when
    /// none of ours is in it, `Some(rest)` with ours removed and every other pair kept byte for
    /// byte, `None` when nothing is left (drop the header).
    pub fn strip<'h>(&self, header: &'h str) -> Option<Cow<'h, str>> {
        let is_ours = |piece: &str| {
            let name = piece.split_once('=').map_or(piece, |(n, _)| n).trim();
            self.ours.iter().any(|o| **o == *name)
        };
        if !pieces(header).any(is_ours) {
            return Some(Cow::Borrowed(header));
        }
        let mut out = String::with_capacity(header.len());
        for piece in pieces(header).filter(|p| !is_ours(p)) {
            if !out.is_empty() {
                out.push_str("; ");
            }
            out.push_str(piece);
        }
        (!out.is_empty()).then_some(Cow::Owned(out))
    }
}

/// The non-empty `name=value` pieces of a `Cookie` header, trimmed of optional whitespace.
fn pieces(header: &str) -> impl Iterator<Item = &str> {
    header
        .split(';')
        .map(|p| p.trim_matches([' ', '\t']))
        .filter(|p| !p.is_empty())
}

/// Every value of the cookie `name` in the headers, quotes (RFC 6265 §4.1.1) removed.
fn values<'h>(
    headers: impl IntoIterator<Item = &'h str>,
    name: &str,
) -> impl Iterator<Item = &'h str> {
    headers
        .into_iter()
        .flat_map(pieces)
        .filter_map(|p| p.split_once('='))
        .filter(move |(n, _)| n.trim() == name)
        .map(|(_, v)| {
            let v = v.trim();
            v.strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v)
        })
}

#[cfg(test)]
mod tests;
