//! The file's shape: serde structs with `deny_unknown_fields` and the defaults of README,
//! "Configuration". They are the stable public face of `gateway.toml` and never leave the
//! config module; `check/` turns them into [`super::Config`].
//!
//! Every value that validation may complain about is `Spanned` so the complaint can point at
//! it. A default carries the empty span `0..0`, which no value in a file can have, and such
//! complaints point at the enclosing table instead.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

pub(super) use super::raw_session::{RawGate, RawPage, RawSession};
use super::types::{OnDeny, OnFailure};
use crate::extract::ImpUidSource;
use crate::policy::AgeBasis;
use crate::provider::ProviderName;
use crate::signing::KeyAlg;

pub(super) type S<T> = Spanned<T>;

/// A defaulted value: no place in the file.
pub(super) fn dv<T>(value: T) -> S<T> {
    Spanned::new(0..0, value)
}

/// A whole section left out of the file: its defaults, placed at the start of the file.
pub(super) fn absent<T: Default>() -> S<T> {
    dv(T::default())
}

pub(super) fn dstr(s: &str) -> S<String> {
    dv(s.to_string())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    #[serde(default = "absent")]
    pub(super) server: S<RawServer>,
    #[serde(default = "absent")]
    pub(super) upstream: S<RawUpstream>,
    /// `None` with `portone` also `None` means `[iamport]` with its defaults.
    #[serde(default)]
    pub(super) iamport: Option<S<RawIamport>>,
    #[serde(default)]
    pub(super) portone: Option<S<RawPortone>>,
    #[serde(default = "absent")]
    pub(super) cache: S<RawCache>,
    #[serde(default = "absent")]
    pub(super) headers: S<RawHeaders>,
    #[serde(default)]
    pub(super) signing: Option<S<RawSigning>>,
    #[serde(default)]
    pub(super) policies: BTreeMap<S<String>, S<RawPolicy>>,
    pub(super) routes: S<Vec<S<RawRoute>>>,
    #[serde(default)]
    pub(super) session: Option<S<RawSession>>,
    #[serde(default)]
    pub(super) gates: Vec<S<RawGate>>,
    #[serde(default)]
    pub(super) store: Option<S<RawStore>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawServer {
    pub(super) listen: S<Vec<S<String>>>,
    pub(super) tls: Option<S<RawTls>>,
    pub(super) threads: S<u64>,
    /// `""` disables the admin listener: the key has a default, so leaving it out cannot.
    pub(super) admin_listen: S<String>,
    pub(super) max_body_bytes: S<u64>,
    pub(super) grace_period_secs: S<u64>,
    pub(super) pid_file: S<String>,
    pub(super) upgrade_sock: S<String>,
    pub(super) access_log: S<String>,
    pub(super) trusted_proxies: S<Vec<S<String>>>,
}

impl Default for RawServer {
    fn default() -> Self {
        RawServer {
            listen: dv(vec![dstr("0.0.0.0:8080")]),
            tls: None,
            threads: dv(2),
            admin_listen: dstr("127.0.0.1:9901"),
            max_body_bytes: dv(65_536),
            grace_period_secs: dv(30),
            // "" is the default: `$RUNTIME_DIRECTORY` under systemd, else `run/` beside the file.
            pid_file: dstr(""),
            upgrade_sock: dstr(""),
            access_log: dstr("stdout"),
            trusted_proxies: dv(Vec::new()),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTls {
    #[serde(default = "default_tls_listen")]
    pub(super) listen: S<String>,
    pub(super) cert: S<String>,
    pub(super) key: S<String>,
}

fn default_tls_listen() -> S<String> {
    dstr("0.0.0.0:8443")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawUpstream {
    pub(super) addrs: S<Vec<S<String>>>,
    pub(super) tls: bool,
    pub(super) sni: String,
    pub(super) connect_timeout_ms: S<u64>,
    pub(super) read_timeout_ms: S<u64>,
    pub(super) health_check: Option<S<RawHealthCheck>>,
    pub(super) ca_file: String,
}

impl Default for RawUpstream {
    fn default() -> Self {
        RawUpstream {
            addrs: dv(vec![dstr("127.0.0.1:3000")]),
            tls: false,
            sni: String::new(),
            connect_timeout_ms: dv(2000),
            read_timeout_ms: dv(60_000),
            health_check: None,
            ca_file: String::new(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawHealthCheck {
    pub(super) path: S<String>,
    pub(super) interval_secs: S<u64>,
}

impl Default for RawHealthCheck {
    fn default() -> Self {
        RawHealthCheck {
            path: dstr("/"),
            interval_secs: dv(5),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawIamport {
    pub(super) base_url: S<String>,
    /// `None` means the default `"${IMP_KEY}"`, looked up during validation: defaults are not
    /// in the parsed document that interpolation walks.
    pub(super) imp_key: Option<S<String>>,
    /// `None` means the default `"${IMP_SECRET}"`.
    pub(super) imp_secret: Option<S<String>>,
    pub(super) timeout_ms: S<u64>,
    pub(super) tier: Option<S<String>>,
}

impl Default for RawIamport {
    fn default() -> Self {
        RawIamport {
            base_url: dstr("https://api.iamport.kr"),
            imp_key: None,
            imp_secret: None,
            timeout_ms: dv(3000),
            tier: None,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawPortone {
    pub(super) base_url: S<String>,
    /// `None` means the default `"${PORTONE_API_SECRET}"`, as for the i'mport credentials.
    pub(super) api_secret: Option<S<String>>,
    pub(super) store_id: S<String>,
    pub(super) timeout_ms: S<u64>,
}

impl Default for RawPortone {
    fn default() -> Self {
        RawPortone {
            base_url: dstr("https://api.portone.io"),
            api_secret: None,
            store_id: dstr(""),
            timeout_ms: dv(3000),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawCache {
    pub(super) capacity: S<u64>,
    pub(super) ttl_secs: u64,
    pub(super) negative_ttl_secs: u64,
}

impl Default for RawCache {
    fn default() -> Self {
        RawCache {
            capacity: dv(100_000),
            ttl_secs: 600,
            negative_ttl_secs: 10,
        }
    }
}

/// `[store]`: the fleet's shared state. `url` and `secret` have no safe default.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStore {
    pub(super) url: S<String>,
    #[serde(default = "default_key_prefix")]
    pub(super) key_prefix: S<String>,
    #[serde(default = "default_store_timeout")]
    pub(super) timeout_ms: S<u64>,
    pub(super) secret: S<String>,
}

fn default_key_prefix() -> S<String> {
    dstr("verigate:")
}
fn default_store_timeout() -> S<u64> {
    dv(100)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawHeaders {
    pub(super) prefix: S<String>,
    pub(super) forward: Vec<S<String>>,
}

impl Default for RawHeaders {
    fn default() -> Self {
        RawHeaders {
            prefix: dstr("x-verified-"),
            forward: Vec::new(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSigning {
    pub(super) active_key: S<String>,
    #[serde(default = "default_signature_ttl")]
    pub(super) signature_ttl_secs: S<u64>,
    #[serde(default = "default_true")]
    pub(super) jwt: bool,
    #[serde(default = "default_issuer")]
    pub(super) issuer: S<String>,
    #[serde(default = "default_audience")]
    pub(super) audience: S<String>,
    #[serde(default)]
    pub(super) keys: Vec<S<RawKey>>,
}

fn default_signature_ttl() -> S<u64> {
    dv(60)
}
pub(super) fn default_true() -> bool {
    true
}
fn default_issuer() -> S<String> {
    dstr("verigate")
}
fn default_audience() -> S<String> {
    dstr("legacy-app")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawKey {
    pub(super) id: S<String>,
    pub(super) alg: S<KeyAlg>,
    pub(super) private_key_file: Option<S<String>>,
    pub(super) secret: Option<S<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawPolicy {
    pub(super) min_age: S<i64>,
    pub(super) max_age: Option<S<i64>>,
    pub(super) age_basis: AgeBasis,
    pub(super) timezone: S<String>,
    pub(super) max_certification_age_secs: u64,
}

impl Default for RawPolicy {
    fn default() -> Self {
        RawPolicy {
            min_age: dv(19),
            max_age: None,
            age_basis: AgeBasis::Year,
            timezone: dstr("Asia/Seoul"),
            max_certification_age_secs: 600,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRoute {
    pub(super) name: S<String>,
    pub(super) method: S<String>,
    pub(super) path: S<String>,
    /// `None`: the only configured provider.
    #[serde(default)]
    pub(super) provider: Option<S<ProviderName>>,
    /// `None`: `query` for GET and HEAD (no body to read), `body` otherwise.
    #[serde(default)]
    pub(super) imp_uid_from: Option<ImpUidSource>,
    /// `None`: `imp_uid` on i'mport routes, `identityVerificationId` on PortOne routes.
    #[serde(default)]
    pub(super) imp_uid_field: Option<S<String>>,
    pub(super) policy: S<String>,
    #[serde(default = "default_on_deny")]
    pub(super) on_deny: OnDeny,
    #[serde(default = "default_on_failure")]
    pub(super) on_failure: OnFailure,
    #[serde(default)]
    pub(super) single_use: bool,
}

fn default_on_deny() -> OnDeny {
    OnDeny::Forward
}
fn default_on_failure() -> OnFailure {
    OnFailure::Reject
}

/// The allowed values of the string-enum keys, for the message when one is not a string.
pub(super) fn enum_values(key: &str) -> Option<&'static str> {
    Some(match key {
        "alg" => "\"ed25519\", \"hmac-sha256\"",
        "age_basis" => "\"year\", \"full\"",
        "imp_uid_from" => "\"body\", \"query\", \"auto\"",
        "on_deny" => "\"forward\", \"reject\"",
        "on_failure" => "\"reject\", \"forward\"",
        "provider" | "sdk" => "\"iamport\", \"portone\"",
        "same_site" => "\"lax\", \"strict\"",
        "window" => "\"auto\", \"popup\", \"redirect\"",
        _ => return None,
    })
}
