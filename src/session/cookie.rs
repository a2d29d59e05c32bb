//! The session and state cookies: sealed values, `Set-Cookie` lines, `Cookie` headers.
//!
//! The claims ([`Session`], [`State`]) are sealed by [`Sealer`] with the cookie name and format
//! version in the associated data. The expiry that counts is the sealed one, checked here
//! against "now" (an argument), never the browser's `Max-Age`: a cookie that does not open, has
//! expired, was issued in the future or outlives today's `ttl` is simply no session.
//!
//! Names (docs/sessions.md): `__Host-<name>` and `__Host-<name>_state` when `secure`, the
//! bare names otherwise. Both cookies, in either form, are removed from the `Cookie` header sent
//! upstream; every other cookie is passed on byte for byte.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use zeroize::{Zeroize, Zeroizing};

pub use super::claims::{ISSUED_SKEW, STATE_TTL, Session, State};
use super::claims::{decode_session, decode_state, encode_session, encode_state, live};
use crate::seal::{KeyStatus, Purpose, SealError, Sealer};

/// How many copies of one of our cookies are tried (duplicates from older paths or domains).
const MAX_TRIES: usize = 4;
/// Longest configurable cookie name.
pub const MAX_NAME_LEN: usize = 64;
/// Opened sessions kept per configuration ([`Opened`]): about 0.6 KiB each.
const OPENED_CAPACITY: u64 = 10_000;
/// An opened session not used for this long is dropped from memory.
const OPENED_IDLE: Duration = Duration::from_secs(5 * 60);

/// The `SameSite` attribute of the session cookie (`session.same_site`: `"lax"` or `"strict"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
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

/// A session that opened, and whether it should be re-sealed under the current key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    pub session: Arc<Session>,
    pub reseal: bool,
}

/// The sessions this configuration opened, by sealed value, so that a visitor's next requests
/// skip the AEAD open and the decoding (and allocate nothing). Only values that opened to a
/// live session are kept: a forged or stale cookie is opened, and refused, every time, and
/// cannot push a real one out. Liveness is judged again on every use; a reload builds new
/// [`SessionCookies`], so a removed secret's sessions are never served from here.
struct OpenedCache(moka::sync::Cache<Box<str>, Opened>);

impl fmt::Debug for OpenedCache {
    /// The count only: the entries hold names and birth dates.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OpenedCache({} sessions)", self.0.entry_count())
    }
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
    opened: OpenedCache,
}

/// Whether `name` can be the base name of the cookies: 1 to [`MAX_NAME_LEN`] of
/// `A-Z a-z 0-9 _ -`, not starting with `__` (the `__Host-` prefix is added when `secure`).
pub fn valid_name(name: &str) -> bool {
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
            opened: OpenedCache(
                moka::sync::Cache::builder()
                    .max_capacity(OPENED_CAPACITY)
                    .time_to_idle(OPENED_IDLE)
                    .build(),
            ),
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
        self.sealer
            .seal(&self.session_purpose, &encode_session(session)?)
    }

    /// The session in a sealed value, if it opens and is live at `now`: from the sessions
    /// this configuration already opened when it is one of them, else opened (and kept).
    pub fn open_session(&self, value: &str, now: Timestamp) -> Option<Opened> {
        if let Some(opened) = self.opened.0.get(value) {
            if self.is_live(&opened.session, now) {
                return Some(opened);
            }
            // No longer live: not kept (with its person) while it is presented again.
            self.opened.0.invalidate(value);
            return None;
        }
        let opened = self.open_session_in(value, now, &mut Zeroizing::new(Vec::new()))?;
        self.opened.0.insert(value.into(), opened.clone());
        Some(opened)
    }

    /// The sealed value opened (never from the kept sessions, and not kept), decrypting in the
    /// caller's scratch buffer; the buffer is zeroized afterwards and keeps its capacity.
    pub fn open_session_in(
        &self,
        value: &str,
        now: Timestamp,
        scratch: &mut Vec<u8>,
    ) -> Option<Opened> {
        let opened = self
            .sealer
            .open_with(&self.session_purpose, value, scratch)
            .and_then(|o| Some((decode_session(o.plaintext)?, o.status)));
        scratch.zeroize();
        let (session, status) = opened?;
        self.is_live(&session, now).then(|| Opened {
            session: Arc::new(session),
            reseal: status == KeyStatus::Previous,
        })
    }

    /// Whether the session sealed in `value` is among the kept ones.
    #[cfg(test)]
    pub(crate) fn keeps(&self, value: &str) -> bool {
        self.opened.0.contains_key(value)
    }

    /// Whether `session` is live at `now` under today's `ttl`, opened just now or kept.
    fn is_live(&self, session: &Session, now: Timestamp) -> bool {
        live(session.issued_at, session.expires_at, now, self.ttl)
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
        let sealed = self
            .sealer
            .seal(&self.state_purpose, &encode_state(state)?)?;
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
        let state = decode_state(&json)?;
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
        if !self.holds_ours(header) {
            return Some(Cow::Borrowed(header));
        }
        let mut out = String::with_capacity(header.len());
        for piece in pieces(header).filter(|p| !self.is_ours(p)) {
            if !out.is_empty() {
                out.push_str("; ");
            }
            out.push_str(piece);
        }
        (!out.is_empty()).then_some(Cow::Owned(out))
    }
}

impl SessionCookies {
    /// Whether a `Cookie` header holds one of verigate's cookies (then [`Self::strip`] changes it).
    pub fn holds_ours(&self, header: &str) -> bool {
        pieces(header).any(|p| self.is_ours(p))
    }

    fn is_ours(&self, piece: &str) -> bool {
        let name = piece.split_once('=').map_or(piece, |(n, _)| n).trim();
        self.ours.iter().any(|o| **o == *name)
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
