//! The file's shape for verification sessions: `[session]`, `[session.page]` and `[[gates]]`,
//! with the defaults of README, "Configuration". As in `raw.rs`, a value validation may blame is
//! `Spanned`, and a default has the empty span `0..0`.

use serde::Deserialize;

use super::raw::{S, default_true, dstr, dv};
use crate::provider::ProviderName;
use crate::session::{SameSite, WindowMode};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSession {
    /// No default: there is no safe one.
    pub(super) secrets: S<Vec<S<String>>>,
    #[serde(default = "default_cookie_name")]
    pub(super) cookie_name: S<String>,
    #[serde(default = "default_session_ttl")]
    pub(super) ttl_secs: S<u64>,
    #[serde(default = "default_true")]
    pub(super) secure: bool,
    #[serde(default = "default_same_site")]
    pub(super) same_site: SameSite,
    #[serde(default = "default_freshness")]
    pub(super) max_certification_age_secs: u64,
    #[serde(default = "default_empty")]
    pub(super) public_url: S<String>,
    #[serde(default)]
    pub(super) page: Option<S<RawPage>>,
}

fn default_cookie_name() -> S<String> {
    dstr("verigate")
}
fn default_session_ttl() -> S<u64> {
    dv(3600)
}
fn default_same_site() -> SameSite {
    SameSite::Lax
}
fn default_freshness() -> u64 {
    600
}
fn default_empty() -> S<String> {
    dstr("")
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawPage {
    /// `None`: the only configured provider.
    pub(super) sdk: Option<S<ProviderName>>,
    pub(super) imp_code: Option<S<String>>,
    pub(super) channel_key: Option<S<String>>,
    /// `None` on a V2 page: `portone.store_id`.
    pub(super) store_id: Option<S<String>>,
    pub(super) sdk_url: Option<S<String>>,
    pub(super) window: WindowMode,
    /// `None`: the Korean defaults of `session::PageSettings`.
    pub(super) title: Option<S<String>>,
    pub(super) intro: Option<S<String>>,
    pub(super) button: Option<S<String>>,
    pub(super) failure: Option<S<String>>,
    pub(super) retry: Option<S<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGate {
    pub(super) name: S<String>,
    pub(super) prefix: S<String>,
    pub(super) policy: S<String>,
    #[serde(default)]
    pub(super) case_insensitive: bool,
}
