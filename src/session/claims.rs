//! What the session and state cookies hold, and their wire forms (docs/sessions.md, "The cookie").
//!
//! A [`Session`] is a certified [`Identity`] cut down to what gated requests need (name, birth
//! date, `certified_at`, the `headers.forward` fields) plus when it was issued and expires; a
//! [`State`] is one visit of the verification page. Both travel as short-key JSON (absent
//! fields left out) inside a sealed cookie, so a session with every field stays far below the
//! 4 KiB a browser keeps. Liveness is judged here from the sealed times and "now", an argument.

use std::borrow::Cow;
use std::fmt::Write;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::Provider;
use super::redirect::local_target;
use crate::identity::ForwardField;
use crate::identity::Identity;
use crate::imp_uid::ImpUid;
use crate::seal::SealError;

/// The longest a state cookie lives (at most 15 minutes).
pub const STATE_TTL: Duration = Duration::from_secs(15 * 60);
/// How far in the future an `issued_at` may lie (clock skew across a fleet).
pub const ISSUED_SKEW: Duration = Duration::from_secs(5 * 60);

/// What a session holds: a verified person, as far as gated requests need to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub provider: Provider,
    /// Certified, with only the name, birth date, `certified_at` and the forwarded fields set;
    /// shared, so a gated request hands it on without copying its strings.
    pub identity: Arc<Identity>,
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
            identity: Arc::new(kept),
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
pub(super) fn live(
    issued: Timestamp,
    expires: Timestamp,
    now: Timestamp,
    max_life: Duration,
) -> bool {
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
            identity: Arc::new(id),
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
    /// Where to go afterwards: always a local path and query ([`local_target`] is applied when
    /// the state is made and again when it is read back).
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
            rd: local_target(rd).into_owned(),
            issued_at: now,
            expires_at: add(now, STATE_TTL),
        }
    }

    /// The id the page hands the SDK for this visit. V1's `merchant_uid` is the minted id
    /// itself; a V2 `identityVerificationId` must be letters and digits only, at most 40 (KCP's
    /// rule, the strictest PortOne documents), so it is `vg` and the minted nonce in hex
    /// (34 characters), the same nonce in another spelling.
    pub fn page_id(&self) -> Cow<'_, str> {
        let id = self.id.as_str();
        match self.provider {
            Provider::IamportV1 => Cow::Borrowed(id),
            Provider::PortOneV2 => {
                let nonce = id
                    .strip_prefix("vg_")
                    .and_then(|b| URL_SAFE_NO_PAD.decode(b).ok())
                    .filter(|n| n.len() == 16);
                Cow::Owned(match nonce {
                    Some(n) => n.iter().fold(String::from("vg"), |mut s, b| {
                        let _ = write!(s, "{b:02x}");
                        s
                    }),
                    // Not minted here (a state sealed by another version): its letters and
                    // digits, which still only this state can name.
                    None => id
                        .chars()
                        .filter(char::is_ascii_alphanumeric)
                        .take(40)
                        .collect(),
                })
            }
        }
    }

    /// Whether a callback's `merchant_uid` / `identityVerificationId` is the one this visit's
    /// page handed the SDK ([`State::page_id`]).
    pub fn binds(&self, id: &str) -> bool {
        !id.is_empty() && self.page_id() == id
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

/// The plaintext of a session cookie.
pub(super) fn encode_session(s: &Session) -> Result<Zeroizing<Vec<u8>>, SealError> {
    serde_json::to_vec(&SessionWire::of(s))
        .map(Zeroizing::new)
        .map_err(|_| SealError::Crypto)
}

/// The session in a cookie's plaintext, if it is one.
pub(super) fn decode_session(json: &[u8]) -> Option<Session> {
    serde_json::from_slice::<SessionWire<'_>>(json)
        .ok()?
        .into_session()
}

/// The plaintext of a state cookie.
pub(super) fn encode_state(s: &State) -> Result<Vec<u8>, SealError> {
    let wire = StateWire {
        p: s.provider,
        i: Cow::Borrowed(s.id.as_str()),
        r: Cow::Borrowed(&s.rd),
        ia: s.issued_at.as_second(),
        ex: s.expires_at.as_second(),
    };
    serde_json::to_vec(&wire).map_err(|_| SealError::Crypto)
}

/// The state in a cookie's plaintext, if it is one.
pub(super) fn decode_state(json: &[u8]) -> Option<State> {
    let w: StateWire<'_> = serde_json::from_slice(json).ok()?;
    Some(State {
        provider: w.p,
        id: ImpUid::parse(&w.i).ok()?,
        rd: local_target(&w.r).into_owned(),
        issued_at: from_secs(w.ia)?,
        expires_at: from_secs(w.ex)?,
    })
}
