//! `gateway.toml`: the operator's file, parsed once into validated, typed settings.
//!
//! INTERFACE PINNED — implementation to be filled in (raw serde structs, `${VAR}`
//! interpolation, validation reporting every problem as `file:line:column: message`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::extract::ImpUidSource;
use crate::policy::Policy;

/// A secret string (API secret, HMAC key): its `Debug` and `Display` never print it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The secret itself, for the one place that must send or use it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// The whole validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerSettings,
    pub upstream: UpstreamSettings,
    pub iamport: IamportSettings,
    pub cache: CacheSettings,
    pub headers: HeaderSettings,
    pub signing: Option<SigningSettings>,
    /// Policies by name, in file order.
    pub policies: Vec<Arc<Policy>>,
    /// Routes in file order; (method, path) pairs are unique.
    pub routes: Vec<Route>,
}

#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub listen: Vec<SocketAddr>,
    pub tls: Option<TlsSettings>,
    pub threads: usize,
    pub admin_listen: Option<SocketAddr>,
    /// 1..=65536.
    pub max_body_bytes: usize,
    pub grace_period: Duration,
}

#[derive(Debug, Clone)]
pub struct TlsSettings {
    pub listen: SocketAddr,
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone)]
pub struct UpstreamSettings {
    /// Resolved at load time; at least one.
    pub addrs: Vec<SocketAddr>,
    pub tls: bool,
    pub sni: String,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    pub health_check: Option<HealthCheck>,
}

#[derive(Debug, Clone)]
pub struct HealthCheck {
    pub path: String,
    pub interval: Duration,
}

#[derive(Debug, Clone)]
pub struct IamportSettings {
    /// `http` or `https` URL without a trailing slash.
    pub base_url: String,
    pub imp_key: String,
    pub imp_secret: Secret,
    /// The whole budget for resolving one imp_uid, token included.
    pub timeout: Duration,
    pub tier: Option<String>,
}

#[derive(Debug, Clone)]
pub struct CacheSettings {
    pub capacity: u64,
    pub ttl: Duration,
    pub negative_ttl: Duration,
}

/// Optional identity fields an operator may forward (`headers.forward`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForwardField {
    Gender,
    Foreigner,
    UniqueKey,
    UniqueInSite,
    Phone,
    Carrier,
    PgProvider,
    MerchantUid,
}

impl ForwardField {
    /// All fields, in the order of gateway.md §4.2.
    pub const ALL: [ForwardField; 8] = [
        ForwardField::Gender,
        ForwardField::Foreigner,
        ForwardField::UniqueKey,
        ForwardField::UniqueInSite,
        ForwardField::Phone,
        ForwardField::Carrier,
        ForwardField::PgProvider,
        ForwardField::MerchantUid,
    ];

    /// The name in `headers.forward` (`unique_key`, …).
    pub fn config_name(self) -> &'static str {
        match self {
            ForwardField::Gender => "gender",
            ForwardField::Foreigner => "foreigner",
            ForwardField::UniqueKey => "unique_key",
            ForwardField::UniqueInSite => "unique_in_site",
            ForwardField::Phone => "phone",
            ForwardField::Carrier => "carrier",
            ForwardField::PgProvider => "pg_provider",
            ForwardField::MerchantUid => "merchant_uid",
        }
    }

    /// The header suffix after the prefix (`unique-key`, …).
    pub fn header_suffix(self) -> &'static str {
        match self {
            ForwardField::Gender => "gender",
            ForwardField::Foreigner => "foreigner",
            ForwardField::UniqueKey => "unique-key",
            ForwardField::UniqueInSite => "unique-in-site",
            ForwardField::Phone => "phone",
            ForwardField::Carrier => "carrier",
            ForwardField::PgProvider => "pg-provider",
            ForwardField::MerchantUid => "merchant-uid",
        }
    }
}

#[derive(Debug, Clone)]
pub struct HeaderSettings {
    /// Lower-case, e.g. `x-verified-`.
    pub prefix: String,
    /// Sorted in §4.2 order, no duplicates.
    pub forward: Vec<ForwardField>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAlg {
    Ed25519,
    HmacSha256,
}

#[derive(Debug, Clone)]
pub enum KeyMaterial {
    /// Ed25519 PKCS#8 PEM file (path as written, relative to the working directory).
    PrivateKeyFile(PathBuf),
    /// HMAC secret, base64, at least 32 bytes decoded (already decoded here).
    HmacSecret(Secret),
}

#[derive(Debug, Clone)]
pub struct SigningKey {
    pub id: String,
    pub alg: KeyAlg,
    pub material: KeyMaterial,
}

#[derive(Debug, Clone)]
pub struct SigningSettings {
    pub active_key: String,
    pub signature_ttl: Duration,
    pub jwt: bool,
    pub issuer: String,
    pub audience: String,
    pub keys: Vec<SigningKey>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnDeny {
    Forward,
    Reject,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnFailure {
    Reject,
    Forward,
}

#[derive(Debug, Clone)]
pub struct Route {
    pub name: Arc<str>,
    pub method: http::Method,
    pub path: String,
    pub imp_uid_from: ImpUidSource,
    pub imp_uid_field: String,
    pub policy: Arc<Policy>,
    pub on_deny: OnDeny,
    pub on_failure: OnFailure,
    pub single_use: bool,
}

/// One problem found in the file, located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    /// 1-based.
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )
    }
}

/// Every problem found, in file order. Never empty.
#[derive(Debug, Clone)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl std::fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Reads and validates the file at `path`, taking `${NAME}` values from the process environment.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    let _ = path;
    todo!()
}

/// Validates `text` as the contents of `file_name`, with `env` looking up `${NAME}` values.
pub fn parse(
    text: &str,
    file_name: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigErrors> {
    let _ = (text, file_name, env);
    todo!()
}

impl Config {
    /// Warnings `verigate check` prints (e.g. signing is off).
    pub fn warnings(&self) -> Vec<String> {
        todo!()
    }

    /// The effective routes and policies, for `verigate check`.
    pub fn describe(&self) -> String {
        todo!()
    }

    /// The route for this method and exact path, if any.
    pub fn route(&self, method: &http::Method, path: &str) -> Option<&Route> {
        self.routes
            .iter()
            .find(|r| r.method == *method && r.path == path)
    }
}
