//! `[session]` and `[[gates]]` as this room takes them, validated by the config module: the
//! cookie's attributes, the sealing secrets (the first seals, all open), the verification page's
//! settings (`page::PageSettings`), and the gated prefixes with their policies.
//!
//! Everything here is `PartialEq`, so a reload sees a changed secret although `Debug` never
//! prints one; the settings travel in the running configuration and a SIGHUP replaces them.

use std::sync::Arc;
use std::time::Duration;

use super::{CookieSettings, PageSettings};
use crate::path::Prefix;
use crate::policy::Policy;
use crate::seal::{SealError, Sealer, decode_secret};
use crate::secret::Secret;

/// `[session]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSettings {
    /// Name, `Secure`, `SameSite` and lifetime of the session cookie.
    pub cookie: CookieSettings,
    /// Each the base64 text of exactly 32 bytes, no two alike; the first seals, every one
    /// opens (rotation: put the new one first). [`SessionSettings::sealer`] makes the keys.
    pub secrets: Vec<Secret>,
    /// A verification older than this cannot start a session; `None` = no limit.
    pub max_certification_age: Option<Duration>,
    /// `https://shop.example` (no trailing slash): the origin of the absolute URLs the page and
    /// forward-auth build; `None` means from `Host` and trusted `X-Forwarded-*`.
    pub public_url: Option<String>,
    /// `[session.page]`: the SDK, its codes, the page's texts.
    pub page: PageSettings,
}

impl SessionSettings {
    /// The sealer of these secrets, in order. The config module has checked every secret, so
    /// this fails only if that check was bypassed.
    pub fn sealer(&self) -> Result<Sealer, SealError> {
        let keys = self
            .secrets
            .iter()
            .enumerate()
            .map(|(i, s)| decode_secret(i, s.expose()))
            .collect::<Result<Vec<_>, _>>()?;
        Sealer::new(&keys)
    }
}

/// One `[[gates]]` entry: requests whose normalised path falls under `prefix` need a session
/// whose person passes `policy`.
#[derive(Debug, Clone, PartialEq)]
pub struct Gate {
    /// Unique; `?gate=NAME` of the forward-auth endpoints, and the logs.
    pub name: Arc<str>,
    /// Matched on segment boundaries, case-insensitively when the gate says so.
    pub prefix: Prefix,
    /// Judged on every request, from the birth date in the session.
    pub policy: Arc<Policy>,
}
