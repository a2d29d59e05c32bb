//! `gateway.toml`: the operator's file, parsed once into validated, typed settings.
//!
//! [`parse`] makes four passes over one parsed document so that a single `verigate check`
//! reports every problem at once, each as `file:line:column: message`:
//!
//! 1. **Syntax**: toml's recoverable parser, which lists every syntax error it can find.
//! 2. **Interpolation**: `${NAME}` in every string value is replaced from the environment. It
//!    runs on the parsed values, never on the raw text, so an environment value holding quotes
//!    or newlines can never change the document's structure. An unset variable is an error at
//!    the place it is written; `$${` stands for a literal `${`.
//! 3. **Structure**: the private raw serde structs below (`deny_unknown_fields`, with the
//!    defaults of README, "Configuration"). serde stops at its first error, so the offending entry is
//!    removed from the document and deserialization tried again, which yields one error per
//!    bad key instead of one per file.
//! 4. **Meaning**: addresses, ranges, names that must refer to something. Every problem is
//!    collected; a value whose interpolation already failed is not blamed a second time.
//!
//! The raw structs never leave this file: the rest of the gateway sees only [`Config`], so no
//! other module holds a raw string that could be invalid. Nothing here reads key files (the
//! signing module does) and no message ever contains a secret.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::net::{SocketAddr, ToSocketAddrs};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use jiff::tz::TimeZone;
use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeArray, DeTable, DeValue};

use crate::extract::ImpUidSource;
use crate::forwarded::TrustedProxies;
use crate::policy::{AgeBasis, Policy};

/// The largest accepted `server.max_body_bytes`: pingora 0.9 keeps at most 64 KiB of a request
/// body for replaying it upstream, so a larger intercepted body could not be forwarded intact.
pub const MAX_BODY_BYTES_LIMIT: usize = 65_536;

/// Where the pid file and the upgrade socket go by default outside systemd, relative to the
/// config file's directory.
pub const DEFAULT_RUNTIME_DIR: &str = "run";

/// The shortest accepted HMAC secret, in decoded bytes (the SHA-256 block half, RFC 2104 §3).
pub const HMAC_SECRET_MIN_BYTES: usize = 32;

pub use crate::secret::Secret;

/// Why an HMAC secret was refused. The messages never contain the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HmacSecretError {
    /// Not standard base64 (`A-Z a-z 0-9 + /`, `=` padding).
    #[error("is not valid base64 (standard alphabet with `=` padding)")]
    NotBase64,
    /// Decodes, but to fewer than [`HMAC_SECRET_MIN_BYTES`] bytes.
    #[error("decodes to {0} bytes; at least {HMAC_SECRET_MIN_BYTES} are required")]
    TooShort(usize),
}

/// The key bytes of an HMAC secret as stored in [`KeyMaterial::HmacSecret`] (base64 text).
///
/// The config keeps the text rather than the bytes because [`Secret`] holds a string; this is
/// the one decoding both the validation here and the signer use, so they cannot disagree.
pub fn decode_hmac_secret(secret: &Secret) -> Result<Vec<u8>, HmacSecretError> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(secret.expose().trim())
        .map_err(|_| HmacSecretError::NotBase64)?;
    if bytes.len() < HMAC_SECRET_MIN_BYTES {
        return Err(HmacSecretError::TooShort(bytes.len()));
    }
    Ok(bytes)
}

/// The whole validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// `[server]`: where the gateway listens.
    pub server: ServerSettings,
    /// `[upstream]`: the app behind the gateway.
    pub upstream: UpstreamSettings,
    /// `[iamport]`: the verification API.
    pub iamport: IamportSettings,
    /// `[cache]`: resolved verifications kept in memory.
    pub cache: CacheSettings,
    /// `[headers]`: what is added to forwarded requests.
    pub headers: HeaderSettings,
    /// `[signing]`; `None` means forwarded headers are unsigned.
    pub signing: Option<SigningSettings>,
    /// Policies by name, in file order.
    pub policies: Vec<Arc<Policy>>,
    /// Routes in file order; (method, path) pairs are unique.
    pub routes: Vec<Route>,
}

/// `[server]`, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerSettings {
    /// Plain HTTP listeners (may be empty when `tls` is set).
    pub listen: Vec<SocketAddr>,
    /// The optional HTTPS listener.
    pub tls: Option<TlsSettings>,
    /// Worker threads, at least 1.
    pub threads: usize,
    /// The admin listener (§6); `None` when disabled with `admin_listen = ""`.
    pub admin_listen: Option<SocketAddr>,
    /// 1..=65536.
    pub max_body_bytes: usize,
    /// How long a graceful stop waits for requests in flight.
    pub grace_period: Duration,
    /// Where `run --daemon` writes its pid.
    pub pid_file: PathBuf,
    /// The socket over which `run --upgrade` takes the listeners from the running process.
    pub upgrade_sock: PathBuf,
    /// Where the access log goes.
    pub access_log: AccessLogTarget,
    /// Peers whose `X-Forwarded-*` and `Forwarded` headers are believed (§4.1).
    pub trusted_proxies: TrustedProxies,
}

/// Destination of the access log (`server.access_log`: `"stdout"`, `"off"` or a file path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessLogTarget {
    Stdout,
    Off,
    File(PathBuf),
}

/// `[server.tls]`: one HTTPS listener. The files are read by the server, not here.
#[derive(Debug, Clone, PartialEq)]
pub struct TlsSettings {
    /// Where the HTTPS listener binds.
    pub listen: SocketAddr,
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
}

/// `[upstream]`, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamSettings {
    /// Resolved at load time; at least one.
    pub addrs: Vec<SocketAddr>,
    /// Whether the gateway speaks TLS to the app.
    pub tls: bool,
    /// The server name sent in the TLS handshake (may be empty).
    pub sni: String,
    /// More than zero.
    pub connect_timeout: Duration,
    /// More than zero.
    pub read_timeout: Duration,
    /// Optional active health checks.
    pub health_check: Option<HealthCheck>,
    /// PEM file of the CAs that sign the app's certificate (`upstream.ca_file`); the system's
    /// roots when absent.
    pub ca_file: Option<PathBuf>,
}

/// `[upstream.health_check]`.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthCheck {
    /// Starts with `/`.
    pub path: String,
    /// At least one second.
    pub interval: Duration,
}

pub use crate::provider::iamport_v1::IamportSettings;
pub use crate::resolve::CacheSettings;

/// Optional identity fields an operator may forward (`headers.forward`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForwardField {
    /// `gender`.
    Gender,
    /// `foreigner`.
    Foreigner,
    /// `unique_key` (CI).
    UniqueKey,
    /// `unique_in_site` (DI).
    UniqueInSite,
    /// `phone`.
    Phone,
    /// `carrier`.
    Carrier,
    /// `pg_provider`.
    PgProvider,
    /// `merchant_uid`.
    MerchantUid,
}

impl ForwardField {
    /// All fields, in the order of README, "What the app receives".
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

/// `[headers]`, validated.
#[derive(Debug, Clone)]
pub struct HeaderSettings {
    /// Lower-case, e.g. `x-verified-`.
    pub prefix: String,
    /// Sorted in §4.2 order, no duplicates.
    pub forward: Vec<ForwardField>,
}

/// A signing key's algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAlg {
    /// `ed25519`: asymmetric; the public half is published on the JWKS endpoint.
    Ed25519,
    /// `hmac-sha256`: a secret shared with the app; never published.
    HmacSha256,
}

impl KeyAlg {
    /// The name in `signing.keys[].alg`, which is also RFC 9421's `alg` parameter.
    pub fn config_name(self) -> &'static str {
        match self {
            KeyAlg::Ed25519 => "ed25519",
            KeyAlg::HmacSha256 => "hmac-sha256",
        }
    }
}

/// Where a signing key comes from.
#[derive(Debug, Clone)]
pub enum KeyMaterial {
    /// Ed25519 PKCS#8 PEM file ([`load`] makes a relative path relative to the config file).
    PrivateKeyFile(PathBuf),
    /// HMAC secret as standard base64 text (surrounding whitespace trimmed), already checked to
    /// decode to at least [`HMAC_SECRET_MIN_BYTES`] bytes; [`decode_hmac_secret`] gives the bytes.
    HmacSecret(Secret),
}

/// One `[[signing.keys]]` entry.
#[derive(Debug, Clone)]
pub struct SigningKey {
    /// Unique; sent as RFC 9421 `keyid` and JWT `kid`.
    pub id: String,
    /// The algorithm, matching `material`.
    pub alg: KeyAlg,
    /// The key itself, or where to read it.
    pub material: KeyMaterial,
}

/// `[signing]`, validated.
#[derive(Debug, Clone)]
pub struct SigningSettings {
    /// Names one of `keys`.
    pub active_key: String,
    /// How long a signature is valid (`expires − created`), at least one second.
    pub signature_ttl: Duration,
    /// Whether to add the `x-verified-assertion` JWT.
    pub jwt: bool,
    /// JWT `iss`.
    pub issuer: String,
    /// JWT `aud`.
    pub audience: String,
    /// Every key, active and retired, in file order; ids are unique.
    pub keys: Vec<SigningKey>,
}

/// What a route does with a `deny` verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnDeny {
    /// Forward with verdict `deny` and the identity headers.
    Forward,
    /// Answer 403 `age_requirement_not_met`.
    Reject,
}

impl OnDeny {
    /// The name in the config file.
    pub fn as_str(self) -> &'static str {
        match self {
            OnDeny::Forward => "forward",
            OnDeny::Reject => "reject",
        }
    }
}

/// What a route does when there is no verified person (not found, not certified, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnFailure {
    /// Answer 403 with the failure's error code.
    Reject,
    /// Forward with verdict `unverified` and the reason.
    Forward,
}

impl OnFailure {
    /// The name in the config file.
    pub fn as_str(self) -> &'static str {
        match self {
            OnFailure::Reject => "reject",
            OnFailure::Forward => "forward",
        }
    }
}

/// One `[[routes]]` entry: a request the gateway intercepts and verifies.
#[derive(Debug, Clone)]
pub struct Route {
    /// Unique; labels logs and metrics.
    pub name: Arc<str>,
    /// Upper-case.
    pub method: http::Method,
    /// Exact path, starting with `/`, without query or fragment.
    pub path: String,
    /// Where the imp_uid is taken from.
    pub imp_uid_from: ImpUidSource,
    /// The query or body field holding the imp_uid (non-empty).
    pub imp_uid_field: String,
    /// The policy the person is judged against.
    pub policy: Arc<Policy>,
    /// What a `deny` verdict does.
    pub on_deny: OnDeny,
    /// What a failure does.
    pub on_failure: OnFailure,
    /// Whether an imp_uid may pass this route only once.
    pub single_use: bool,
}

/// One problem found in the file, located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The path as given to [`load`], or the name given to [`parse`].
    pub file: String,
    /// 1-based.
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
    /// What is wrong and what would be valid; never contains a secret.
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
///
/// Errors name the file as `path` is written. A file that cannot be read (missing, not UTF-8,
/// a directory) is one error at 1:1 carrying the OS error.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    let file_name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors(vec![ConfigError {
            file: file_name.clone(),
            line: 1,
            column: 1,
            message: format!("cannot read {file_name}: {e}"),
        }])
    })?;
    let mut config = parse(&text, &file_name, &|name| std::env::var(name).ok())?;
    config.resolve_paths(&config_dir(path));
    Ok(config)
}

/// The absolute directory of the config file at `path`: relative paths in it are relative to
/// this directory, whatever the working directory (`run --daemon` works from `/`).
pub fn config_dir(path: &Path) -> PathBuf {
    let dir = path.parent().unwrap_or(Path::new(""));
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    std::path::absolute(dir).unwrap_or_else(|_| dir.to_owned())
}

/// Validates `text` as the contents of `file_name`, with `env` looking up `${NAME}` values.
///
/// `env` returning `None` means the variable is unset, which is an error. On failure every
/// problem found is returned, sorted by position in the file.
pub fn parse(
    text: &str,
    file_name: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigErrors> {
    let (mut doc, syntax) = DeTable::parse_recoverable(text);
    let mut problems = Problems::default();
    if !syntax.is_empty() {
        // The recovered tree may be missing whole tables; judging it would only add noise.
        for e in &syntax {
            problems.push(e.span().map_or(0, |s| s.start), e.message().to_string());
        }
        return Err(problems.into_errors(text, file_name));
    }
    let mut poisoned = HashSet::new();
    interpolate_table(
        doc.get_mut(),
        text,
        env,
        &mut Vec::new(),
        &mut problems,
        &mut poisoned,
    );
    let Some(raw) = deserialize_document(doc, &mut problems) else {
        return Err(problems.into_errors(text, file_name));
    };
    let mut cx = Checker {
        problems,
        poisoned: &poisoned,
        env,
        text,
    };
    let config = cx.config(raw);
    if cx.problems.is_empty() {
        Ok(config)
    } else {
        Err(cx.problems.into_errors(text, file_name))
    }
}

impl Config {
    /// Makes every relative file path of the configuration relative to `base` (the config
    /// file's directory), as nginx does against its prefix: `check`, `run`, the daemon and a
    /// reload then all read the same files.
    pub fn resolve_paths(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() && !p.as_os_str().is_empty() {
                *p = base.join(&*p);
            }
        };
        let s = &mut self.server;
        fix(&mut s.pid_file);
        fix(&mut s.upgrade_sock);
        if let AccessLogTarget::File(p) = &mut s.access_log {
            fix(p);
        }
        if let Some(tls) = &mut s.tls {
            fix(&mut tls.cert);
            fix(&mut tls.key);
        }
        if let Some(ca) = &mut self.upstream.ca_file {
            fix(ca);
        }
        for key in self.signing.iter_mut().flat_map(|s| s.keys.iter_mut()) {
            if let KeyMaterial::PrivateKeyFile(p) = &mut key.material {
                fix(p);
            }
        }
    }

    /// Warnings `verigate check` prints (e.g. signing is off).
    pub fn warnings(&self) -> Vec<String> {
        let prefix = &self.headers.prefix;
        let mut warnings = Vec::new();
        if self.signing.is_none() {
            warnings.push(format!(
                "signing is off: forwarded {prefix}* headers are unsigned; an app can trust \
                 them only on a private network"
            ));
        }
        for route in &self.routes {
            if route.on_failure == OnFailure::Forward {
                warnings.push(format!(
                    "route `{}` has on_failure = \"forward\": requests that fail verification \
                     reach the app with verdict `unverified`, so the app must check \
                     {prefix}verdict",
                    route.name
                ));
            }
        }
        if self.upstream.tls && self.upstream.sni.is_empty() {
            warnings.push(
                "upstream.tls is on but upstream.sni is empty: the handshake with the app \
                 names no server, so its certificate cannot be checked against a name"
                    .to_string(),
            );
        }
        for route in &self.routes {
            if route.single_use && route.policy.max_certification_age.is_none() {
                warnings.push(format!(
                    "route `{}` is single_use but its policy `{}` has no freshness window \
                     (max_certification_age_secs = 0): used imp_uids are remembered 24 h, so an \
                     older replay would pass; set a window",
                    route.name, route.policy.name
                ));
            }
        }
        for policy in &self.policies {
            if !self.routes.iter().any(|r| Arc::ptr_eq(&r.policy, policy)) {
                warnings.push(format!("policy `{}` is not used by any route", policy.name));
            }
        }
        warnings
    }

    /// The effective routes and policies, for `verigate check`.
    pub fn describe(&self) -> String {
        // `write!` into a String cannot fail; the results are ignored for that reason.
        let mut out = String::new();
        let s = &self.server;
        for addr in &s.listen {
            let _ = writeln!(out, "listen    http://{addr}");
        }
        if let Some(tls) = &s.tls {
            let _ = writeln!(
                out,
                "listen    https://{} (cert {}, key {})",
                tls.listen,
                tls.cert.display(),
                tls.key.display()
            );
        }
        match s.admin_listen {
            Some(addr) => {
                let _ = writeln!(out, "admin     http://{addr}");
            }
            None => out.push_str("admin     off\n"),
        }
        let _ = writeln!(
            out,
            "server    {} threads, bodies up to {} bytes, grace period {} s",
            s.threads,
            s.max_body_bytes,
            s.grace_period.as_secs()
        );
        let trusted: Vec<String> = s
            .trusted_proxies
            .nets()
            .iter()
            .map(ToString::to_string)
            .collect();
        let _ = writeln!(
            out,
            "trusted   {}",
            if trusted.is_empty() {
                "no proxies (client X-Forwarded-* and Forwarded headers are replaced)".to_string()
            } else {
                format!("proxies {}", trusted.join(", "))
            }
        );
        let u = &self.upstream;
        let addrs: Vec<String> = u.addrs.iter().map(ToString::to_string).collect();
        let scheme = if u.tls { "https" } else { "http" };
        let sni = if u.tls && !u.sni.is_empty() {
            format!(", sni {}", u.sni)
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "upstream  {} ({scheme}{sni}, connect {} ms, read {} ms)",
            addrs.join(", "),
            u.connect_timeout.as_millis(),
            u.read_timeout.as_millis()
        );
        if let Some(hc) = &u.health_check {
            let _ = writeln!(
                out,
                "health    GET {} every {} s",
                hc.path,
                hc.interval.as_secs()
            );
        }
        let i = &self.iamport;
        let tier = i
            .tier
            .as_ref()
            .map_or(String::new(), |t| format!(", tier {t}"));
        let _ = writeln!(
            out,
            "i'mport   {} (budget {} ms{tier})",
            i.base_url,
            i.timeout.as_millis()
        );
        let c = &self.cache;
        let _ = writeln!(
            out,
            "cache     {} entries, ttl {} s, not-found ttl {} s",
            c.capacity,
            c.ttl.as_secs(),
            c.negative_ttl.as_secs()
        );
        let forward: Vec<&str> = self
            .headers
            .forward
            .iter()
            .map(|f| f.config_name())
            .collect();
        let _ = writeln!(
            out,
            "headers   prefix {}, extra fields: {}",
            self.headers.prefix,
            if forward.is_empty() {
                "none".to_string()
            } else {
                forward.join(", ")
            }
        );
        match &self.signing {
            None => out.push_str("signing   off (headers are unsigned)\n"),
            Some(sg) => {
                let keys: Vec<String> = sg
                    .keys
                    .iter()
                    .map(|k| format!("{} ({})", k.id, k.alg.config_name()))
                    .collect();
                let jwt = if sg.jwt {
                    format!("jwt on (iss {}, aud {})", sg.issuer, sg.audience)
                } else {
                    "jwt off".to_string()
                };
                let _ = writeln!(
                    out,
                    "signing   active key {}, ttl {} s, {jwt}; keys: {}",
                    sg.active_key,
                    sg.signature_ttl.as_secs(),
                    keys.join(", ")
                );
            }
        }
        out.push_str("routes:\n");
        for r in &self.routes {
            let _ = writeln!(
                out,
                "  {}  {} {}  imp_uid from {} field {}  policy {}  on_deny {}  on_failure {}{}",
                r.name,
                r.method,
                r.path,
                source_name(r.imp_uid_from),
                r.imp_uid_field,
                r.policy.name,
                r.on_deny.as_str(),
                r.on_failure.as_str(),
                if r.single_use { "  single_use" } else { "" }
            );
        }
        out.push_str("policies:\n");
        for p in &self.policies {
            let max = p.max_age.map_or("none".to_string(), |m| m.to_string());
            let fresh = p
                .max_certification_age
                .map_or("no limit".to_string(), |d| format!("{} s", d.as_secs()));
            let _ = writeln!(
                out,
                "  {}  min_age {}  max_age {}  basis {}  timezone {}  freshness {}",
                p.name,
                p.min_age,
                max,
                p.age_basis.as_str(),
                p.timezone.iana_name().unwrap_or("(fixed offset)"),
                fresh
            );
        }
        out
    }

    /// The index in `routes` of the route for this method and exact path, if any. A `GET`
    /// route also takes `HEAD` (a `HEAD` route of its own, when there is one, comes first).
    pub fn route_index(&self, method: &http::Method, path: &str) -> Option<usize> {
        let find = |m: &http::Method| {
            self.routes
                .iter()
                .position(|r| r.method == *m && r.path == path)
        };
        find(method).or_else(|| {
            (*method == http::Method::HEAD)
                .then(|| find(&http::Method::GET))
                .flatten()
        })
    }
}

fn source_name(source: ImpUidSource) -> &'static str {
    match source {
        ImpUidSource::Body => "body",
        ImpUidSource::Query => "query",
        ImpUidSource::Auto => "auto",
    }
}

// ---------------------------------------------------------------------------------------------
// Raw structs: the file's shape. Every value that validation may complain about is `Spanned`
// so the complaint can point at it. A default carries the empty span `0..0`, which no value in
// a file can have, and such complaints point at the enclosing table instead.
// ---------------------------------------------------------------------------------------------

type S<T> = Spanned<T>;

/// A defaulted value: no place in the file.
fn dv<T>(value: T) -> S<T> {
    Spanned::new(0..0, value)
}

/// A whole section left out of the file: its defaults, placed at the start of the file.
fn absent<T: Default>() -> S<T> {
    dv(T::default())
}

fn dstr(s: &str) -> S<String> {
    dv(s.to_string())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default = "absent")]
    server: S<RawServer>,
    #[serde(default = "absent")]
    upstream: S<RawUpstream>,
    #[serde(default = "absent")]
    iamport: S<RawIamport>,
    #[serde(default = "absent")]
    cache: S<RawCache>,
    #[serde(default = "absent")]
    headers: S<RawHeaders>,
    #[serde(default)]
    signing: Option<S<RawSigning>>,
    #[serde(default)]
    policies: BTreeMap<S<String>, S<RawPolicy>>,
    routes: S<Vec<S<RawRoute>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawServer {
    listen: S<Vec<S<String>>>,
    tls: Option<S<RawTls>>,
    threads: S<u64>,
    /// `""` disables the admin listener: the key has a default, so leaving it out cannot.
    admin_listen: S<String>,
    max_body_bytes: S<u64>,
    grace_period_secs: S<u64>,
    pid_file: S<String>,
    upgrade_sock: S<String>,
    access_log: S<String>,
    trusted_proxies: S<Vec<S<String>>>,
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
struct RawTls {
    #[serde(default = "default_tls_listen")]
    listen: S<String>,
    cert: S<String>,
    key: S<String>,
}

fn default_tls_listen() -> S<String> {
    dstr("0.0.0.0:8443")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawUpstream {
    addrs: S<Vec<S<String>>>,
    tls: bool,
    sni: String,
    connect_timeout_ms: S<u64>,
    read_timeout_ms: S<u64>,
    health_check: Option<S<RawHealthCheck>>,
    ca_file: String,
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
struct RawHealthCheck {
    path: S<String>,
    interval_secs: S<u64>,
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
struct RawIamport {
    base_url: S<String>,
    /// `None` means the default `"${IMP_KEY}"`, looked up during validation: defaults are not
    /// in the parsed document that interpolation walks.
    imp_key: Option<S<String>>,
    /// `None` means the default `"${IMP_SECRET}"`.
    imp_secret: Option<S<String>>,
    timeout_ms: S<u64>,
    tier: Option<S<String>>,
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
struct RawCache {
    capacity: S<u64>,
    ttl_secs: u64,
    negative_ttl_secs: u64,
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawHeaders {
    prefix: S<String>,
    forward: Vec<S<String>>,
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
struct RawSigning {
    active_key: S<String>,
    #[serde(default = "default_signature_ttl")]
    signature_ttl_secs: S<u64>,
    #[serde(default = "default_true")]
    jwt: bool,
    #[serde(default = "default_issuer")]
    issuer: S<String>,
    #[serde(default = "default_audience")]
    audience: S<String>,
    #[serde(default)]
    keys: Vec<S<RawKey>>,
}

fn default_signature_ttl() -> S<u64> {
    dv(60)
}
fn default_true() -> bool {
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
struct RawKey {
    id: S<String>,
    alg: S<RawAlg>,
    private_key_file: Option<S<String>>,
    secret: Option<S<String>>,
}

#[derive(Deserialize, Clone, Copy)]
enum RawAlg {
    #[serde(rename = "ed25519")]
    Ed25519,
    #[serde(rename = "hmac-sha256")]
    HmacSha256,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawPolicy {
    min_age: S<i64>,
    max_age: Option<S<i64>>,
    age_basis: RawBasis,
    timezone: S<String>,
    max_certification_age_secs: u64,
}

impl Default for RawPolicy {
    fn default() -> Self {
        RawPolicy {
            min_age: dv(19),
            max_age: None,
            age_basis: RawBasis::Year,
            timezone: dstr("Asia/Seoul"),
            max_certification_age_secs: 600,
        }
    }
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum RawBasis {
    Year,
    Full,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    name: S<String>,
    method: S<String>,
    path: S<String>,
    /// `None`: `query` for GET and HEAD (no body to read), `body` otherwise.
    #[serde(default)]
    imp_uid_from: Option<RawSource>,
    #[serde(default = "default_imp_uid_field")]
    imp_uid_field: S<String>,
    policy: S<String>,
    #[serde(default = "default_on_deny")]
    on_deny: RawOnDeny,
    #[serde(default = "default_on_failure")]
    on_failure: RawOnFailure,
    #[serde(default)]
    single_use: bool,
}

fn default_imp_uid_field() -> S<String> {
    dstr("imp_uid")
}
fn default_on_deny() -> RawOnDeny {
    RawOnDeny::Forward
}
fn default_on_failure() -> RawOnFailure {
    RawOnFailure::Reject
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum RawSource {
    Body,
    Query,
    Auto,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum RawOnDeny {
    Forward,
    Reject,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum RawOnFailure {
    Reject,
    Forward,
}

/// The allowed values of the string-enum keys, for the message when one is not a string.
fn enum_values(key: &str) -> Option<&'static str> {
    Some(match key {
        "alg" => "\"ed25519\", \"hmac-sha256\"",
        "age_basis" => "\"year\", \"full\"",
        "imp_uid_from" => "\"body\", \"query\", \"auto\"",
        "on_deny" => "\"forward\", \"reject\"",
        "on_failure" => "\"reject\", \"forward\"",
        _ => return None,
    })
}

// ---------------------------------------------------------------------------------------------
// Problems and where they are.
// ---------------------------------------------------------------------------------------------

/// Problems found so far, each at a byte offset into the file.
#[derive(Default)]
struct Problems(Vec<(usize, String)>);

impl Problems {
    fn push(&mut self, offset: usize, message: String) {
        self.0.push((offset, message));
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn into_errors(mut self, text: &str, file: &str) -> ConfigErrors {
        // Stable: problems at one place keep the order they were found in.
        self.0.sort_by_key(|(offset, _)| *offset);
        ConfigErrors(
            self.0
                .into_iter()
                .map(|(offset, message)| {
                    let (line, column) = line_column(text, offset);
                    ConfigError {
                        file: file.to_string(),
                        line,
                        column,
                        message,
                    }
                })
                .collect(),
        )
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (
        before.matches('\n').count() + 1,
        before[line_start..].chars().count() + 1,
    )
}

/// One step of a path into the document.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

/// Where a table is, as written in the file: "in [server]", "in [[routes]]",
/// "in [policies.adult]", "at the top level".
fn in_table(path: &[Seg]) -> String {
    let keys: Vec<&str> = path
        .iter()
        .filter_map(|s| match s {
            Seg::Key(k) => Some(k.as_str()),
            Seg::Index(_) => None,
        })
        .collect();
    if keys.is_empty() {
        "at the top level".to_string()
    } else if matches!(path.last(), Some(Seg::Index(_))) {
        format!("in [[{}]]", keys.join("."))
    } else {
        format!("in [{}]", keys.join("."))
    }
}

/// "`threads` in [server]", or "an element of `listen` in [server]", for a path to a value.
fn value_phrase(path: &[Seg]) -> (String, String) {
    let element = matches!(path.last(), Some(Seg::Index(_)));
    let key_at = path.iter().rposition(|s| matches!(s, Seg::Key(_)));
    let Some(key_at) = key_at else {
        return ("the document".to_string(), String::new());
    };
    let key = match &path[key_at] {
        Seg::Key(k) => k.clone(),
        Seg::Index(_) => String::new(),
    };
    let table = in_table(&path[..key_at]);
    let phrase = if element {
        format!("an element of `{key}` {table}")
    } else {
        format!("`{key}` {table}")
    };
    (phrase, key)
}

/// The path to the innermost key or element at byte offset `at`.
fn path_to(table: &DeTable<'_>, at: usize) -> Vec<Seg> {
    let mut path = Vec::new();
    if find_in_table(table, at, &mut path) {
        path
    } else {
        Vec::new()
    }
}

fn find_in_table(table: &DeTable<'_>, at: usize, path: &mut Vec<Seg>) -> bool {
    for (key, value) in table.iter() {
        path.push(Seg::Key(key.get_ref().to_string()));
        if find_in_value(value, at, path) || key.span().contains(&at) {
            return true;
        }
        path.pop();
    }
    false
}

fn find_in_value(value: &Spanned<DeValue<'_>>, at: usize, path: &mut Vec<Seg>) -> bool {
    // Children first: a `[table]`'s own span is only its header, and an inline value's span
    // encloses its children's.
    match value.get_ref() {
        DeValue::Table(t) if find_in_table(t, at, path) => return true,
        DeValue::Array(a) => {
            for (i, item) in a.iter().enumerate() {
                path.push(Seg::Index(i));
                if find_in_value(item, at, path) {
                    return true;
                }
                path.pop();
            }
        }
        _ => {}
    }
    value.span().contains(&at)
}

/// Removes the key or array element at `path`; false when there is nothing to remove.
fn remove_at(table: &mut DeTable<'_>, path: &[Seg]) -> bool {
    match path {
        [Seg::Key(k)] => table.remove(k.as_str()).is_some(),
        [Seg::Key(k), rest @ ..] => table
            .get_mut(k.as_str())
            .is_some_and(|v| remove_in_value(v.get_mut(), rest)),
        _ => false,
    }
}

fn remove_in_value(value: &mut DeValue<'_>, path: &[Seg]) -> bool {
    match (value, path) {
        (DeValue::Table(t), _) => remove_at(t, path),
        (DeValue::Array(a), [Seg::Index(i)]) if *i < a.len() => {
            let old = std::mem::replace(a, DeArray::new());
            *a = old
                .into_iter()
                .enumerate()
                .filter(|(j, _)| j != i)
                .map(|(_, v)| v)
                .collect();
            true
        }
        (DeValue::Array(a), [Seg::Index(i), rest @ ..]) => a
            .get_mut(*i)
            .is_some_and(|v| remove_in_value(v.get_mut(), rest)),
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------------
// Pass 2: `${NAME}` interpolation on the parsed values.
// ---------------------------------------------------------------------------------------------

fn interpolate_table(
    table: &mut DeTable<'_>,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
    path: &mut Vec<Seg>,
    problems: &mut Problems,
    poisoned: &mut HashSet<usize>,
) {
    for (key, value) in table.iter_mut() {
        path.push(Seg::Key(key.get_ref().to_string()));
        interpolate_value(value, text, env, path, problems, poisoned);
        path.pop();
    }
}

fn interpolate_value(
    value: &mut Spanned<DeValue<'_>>,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
    path: &mut Vec<Seg>,
    problems: &mut Problems,
    poisoned: &mut HashSet<usize>,
) {
    let span = value.span();
    match value.get_mut() {
        DeValue::String(s) => {
            if !s.contains('$') {
                return;
            }
            let (expanded, errors) = expand(s, env);
            if !errors.is_empty() {
                // Point at each reference as written; escapes in the literal can shift it, in
                // which case the start of the value is the best place left.
                let token = text.get(span.clone()).unwrap_or("");
                let mut from = 0;
                let (phrase, _) = value_phrase(path);
                for e in errors {
                    let at = match token.get(from..).and_then(|t| t.find(&e.written)) {
                        Some(i) => {
                            from += i + e.written.len();
                            span.start + from - e.written.len()
                        }
                        None => span.start,
                    };
                    problems.push(at, format!("{} (in {phrase})", e.message));
                }
                poisoned.insert(span.start);
            }
            *s = std::borrow::Cow::Owned(expanded);
        }
        DeValue::Table(t) => interpolate_table(t, text, env, path, problems, poisoned),
        DeValue::Array(a) => {
            for (i, item) in a.iter_mut().enumerate() {
                path.push(Seg::Index(i));
                interpolate_value(item, text, env, path, problems, poisoned);
                path.pop();
            }
        }
        _ => {}
    }
}

/// A `${…}` that could not be replaced: as written, and why.
struct ExpandError {
    written: String,
    message: String,
}

/// Replaces every `${NAME}` in `s`; `$${` is a literal `${`. Unset variables become empty, so
/// that the caller can go on and report every one of them.
fn expand(s: &str, env: &dyn Fn(&str) -> Option<String>) -> (String, Vec<ExpandError>) {
    let mut out = String::with_capacity(s.len());
    let mut errors = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let here = &rest[i..];
        if let Some(tail) = here.strip_prefix("$${") {
            out.push_str("${");
            rest = tail;
        } else if let Some(tail) = here.strip_prefix("${") {
            match tail.find('}') {
                Some(end) => {
                    let name = &tail[..end];
                    let written = format!("${{{name}}}");
                    if !is_var_name(name) {
                        // The text is not echoed: it may be part of a secret written inline.
                        errors.push(ExpandError {
                            written,
                            message: "`${…}` must hold a variable name (letters, digits and \
                                      `_`, not starting with a digit); write `$${` for a \
                                      literal `${`"
                                .to_string(),
                        });
                    } else if let Some(v) = env(name) {
                        out.push_str(&v);
                    } else {
                        errors.push(ExpandError {
                            written,
                            message: format!("environment variable `{name}` is not set"),
                        });
                    }
                    rest = &tail[end + 1..];
                }
                None => {
                    errors.push(ExpandError {
                        written: "${".to_string(),
                        message: "`${` is not closed by `}`: write `${NAME}`, or `$${` for a \
                                  literal `${`"
                            .to_string(),
                    });
                    out.push_str(here);
                    rest = "";
                }
            }
        } else {
            out.push('$');
            rest = &here[1..];
        }
    }
    out.push_str(rest);
    (out, errors)
}

fn is_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

// ---------------------------------------------------------------------------------------------
// Pass 3: structure.
// ---------------------------------------------------------------------------------------------

/// Enough for any real file; a bound so that a pathological one cannot loop for long.
const MAX_STRUCTURAL_ERRORS: usize = 100;

/// Deserializes the raw structs, collecting one error per bad entry: after each serde error the
/// entry it points at is removed and the document tried again. `None` if anything was wrong.
fn deserialize_document(
    mut doc: Spanned<DeTable<'_>>,
    problems: &mut Problems,
) -> Option<RawConfig> {
    let root_span = doc.span();
    // Paths removed so far: a "missing key" that is only missing because we removed it is not
    // a second problem.
    let mut removed: Vec<Vec<Seg>> = Vec::new();
    let mut failed = false;
    for _ in 0..MAX_STRUCTURAL_ERRORS {
        let err = match RawConfig::deserialize(toml::de::Deserializer::from(doc.clone())) {
            Ok(raw) => return (!failed).then_some(raw),
            Err(e) => e,
        };
        failed = true;
        let span = err.span().unwrap_or(0..0);
        let path = if span == root_span {
            Vec::new()
        } else {
            path_to(doc.get_ref(), span.start)
        };
        let message = err.message();
        if let Some(field) = missing_field(message) {
            // serde names only the first missing key; name them all, but not the ones that
            // are only missing because an earlier error removed them.
            let present = |key: &str| {
                let mut p = path.clone();
                p.push(Seg::Key(key.to_string()));
                removed.contains(&p)
                    || table_at(doc.get_ref(), &path).is_some_and(|t| t.contains_key(key))
            };
            let mut missing: Vec<&str> = Vec::new();
            for key in std::iter::once(field).chain(required_keys(&path).iter().copied()) {
                if !present(key) && !missing.contains(&key) {
                    missing.push(key);
                }
            }
            if !missing.is_empty() {
                problems.push(span.start, missing_message(&missing, &path));
            }
        } else {
            problems.push(span.start, structural_message(message, &path));
        }
        if path.is_empty() || !remove_at(doc.get_mut(), &path) {
            return None;
        }
        if matches!(path.last(), Some(Seg::Index(_))) {
            // Later elements moved down by one; old paths into this array no longer mean the
            // same entries.
            let array = &path[..path.len() - 1];
            removed.retain(|p| !p.starts_with(array));
        }
        removed.push(path);
    }
    None
}

/// The keys without a default in the table at `path`, in the order the file example shows them.
fn required_keys(path: &[Seg]) -> &'static [&'static str] {
    let keys: Vec<&str> = path
        .iter()
        .filter_map(|s| match s {
            Seg::Key(k) => Some(k.as_str()),
            Seg::Index(_) => None,
        })
        .collect();
    match keys.as_slice() {
        [] => &["routes"],
        ["server", "tls"] => &["cert", "key"],
        ["signing"] => &["active_key"],
        ["signing", "keys"] => &["id", "alg"],
        ["routes"] => &["name", "method", "path", "policy"],
        _ => &[],
    }
}

fn missing_message(missing: &[&str], path: &[Seg]) -> String {
    let hint = if path.is_empty() && missing.contains(&"routes") {
        " (at least one [[routes]] table is required)"
    } else {
        ""
    };
    let names: Vec<String> = missing.iter().map(|k| format!("`{k}`")).collect();
    match names.as_slice() {
        [one] => format!(
            "missing key {one} {}, which has no default{hint}",
            in_table(path)
        ),
        _ => format!(
            "missing keys {} {}, which have no default{hint}",
            names.join(", "),
            in_table(path)
        ),
    }
}

/// The table at `path`, if that is one.
fn table_at<'d, 'i>(table: &'d DeTable<'i>, path: &[Seg]) -> Option<&'d DeTable<'i>> {
    let mut value: Option<&DeValue<'i>> = None;
    let mut current = table;
    for seg in path {
        let next = match (seg, value) {
            (Seg::Key(k), None) => current.get(k.as_str())?,
            (Seg::Index(i), Some(DeValue::Array(a))) => a.get(*i)?,
            _ => return None,
        };
        match next.get_ref() {
            DeValue::Table(t) => {
                current = t;
                value = None;
            }
            other => value = Some(other),
        }
    }
    match value {
        None => Some(current),
        Some(_) => None,
    }
}

fn missing_field(message: &str) -> Option<&str> {
    message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next())
}

/// Every `` `name` `` in `s`.
fn ticked(s: &str) -> Vec<&str> {
    s.split('`').skip(1).step_by(2).collect()
}

/// serde's message, rephrased for an operator: which key, where, and what would be valid.
/// String values are never echoed, since they may come from the environment.
fn structural_message(message: &str, path: &[Seg]) -> String {
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (name, tail) = rest.split_once('`').unwrap_or((rest, ""));
        let valid = ticked(tail);
        let table = in_table(path.get(..path.len().saturating_sub(1)).unwrap_or(&[]));
        return if valid.is_empty() {
            format!("unknown key `{name}` {table}, which takes no keys")
        } else {
            format!(
                "unknown key `{name}` {table}; valid keys: {}",
                valid.join(", ")
            )
        };
    }
    if let Some(name) = missing_field(message) {
        return missing_message(&[name], path);
    }
    let (what, key) = value_phrase(path);
    if let Some(rest) = message.strip_prefix("invalid type: ") {
        let (found, expected) = rest.split_once(", expected ").unwrap_or((rest, ""));
        let expected = match enum_values(&key) {
            Some(values) if expected.starts_with("enum") || expected.is_empty() => {
                format!("one of {values}")
            }
            _ => expected_phrase(expected),
        };
        return format!("{what} must be {expected}, not {}", found_phrase(found));
    }
    if let Some(rest) = message.strip_prefix("invalid value: ") {
        let (found, expected) = rest.split_once(", expected ").unwrap_or((rest, ""));
        let found = match found.strip_prefix("integer ") {
            Some(n) => n.trim_matches('`').to_string(),
            None => found_phrase(found),
        };
        return format!("{what} must be {}, not {found}", expected_phrase(expected));
    }
    if let Some(rest) = message.strip_prefix("unknown variant `") {
        let (name, tail) = rest.split_once('`').unwrap_or((rest, ""));
        let allowed: Vec<String> = ticked(tail).iter().map(|v| format!("\"{v}\"")).collect();
        return format!(
            "{what} must be one of {}, not \"{name}\"",
            allowed.join(", ")
        );
    }
    if message == "wanted string or table" {
        let values = enum_values(&key).unwrap_or("the documented values");
        return format!("{what} must be one of {values} (a string)");
    }
    if message.contains("overflowed") {
        return format!("{what} is too large");
    }
    format!("{what}: {message}")
}

fn expected_phrase(expected: &str) -> String {
    match expected {
        "u8" | "u16" | "u32" | "u64" | "usize" => "a non-negative integer".to_string(),
        "i8" | "i16" | "i32" | "i64" | "isize" => "an integer".to_string(),
        "a string" | "a borrowed string" => "a string".to_string(),
        "a boolean" => "true or false".to_string(),
        "a sequence" => "an array".to_string(),
        "a map" => "a table".to_string(),
        e if e.starts_with("struct ") => "a table".to_string(),
        e if e.starts_with("enum ") => "a string".to_string(),
        e => e.to_string(),
    }
}

fn found_phrase(found: &str) -> String {
    match found.split_whitespace().next().unwrap_or("") {
        "string" => "a string",
        "integer" => "an integer",
        "floating" => "a float",
        "boolean" => "a boolean",
        "map" => "a table (or date)",
        "sequence" => "an array",
        _ => "a value of another type",
    }
    .to_string()
}

/// Well-known request headers a `headers.prefix` must not cover.
const STANDARD_HEADERS: &[&str] = &[
    "accept-encoding",
    "accept-language",
    "access-control-request-method",
    "cache-control",
    "content-length",
    "content-type",
    "if-none-match",
    "proxy-authorization",
    "sec-fetch-mode",
    "transfer-encoding",
    "user-agent",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-real-ip",
    "x-request-id",
];

// ---------------------------------------------------------------------------------------------
// Pass 4: meaning. Each check pushes a problem and goes on with a stand-in value, so that the
// whole file is judged; the stand-ins never escape because any problem fails the parse.
// ---------------------------------------------------------------------------------------------

struct Checker<'a> {
    problems: Problems,
    /// Value spans whose interpolation failed: already reported.
    poisoned: &'a HashSet<usize>,
    env: &'a dyn Fn(&str) -> Option<String>,
    /// The file, to name the line of an earlier duplicate.
    text: &'a str,
}

/// Where a value is, falling back to its table when the value is a default.
fn place(span: &Range<usize>, table: &Range<usize>) -> usize {
    if span.is_empty() && span.start == 0 {
        table.start
    } else {
        span.start
    }
}

impl Checker<'_> {
    /// The 1-based line of a byte offset.
    fn line(&self, offset: usize) -> usize {
        line_column(self.text, offset).0
    }

    fn error(&mut self, span: &Range<usize>, table: &Range<usize>, message: String) {
        if !span.is_empty() && self.poisoned.contains(&span.start) {
            return;
        }
        self.problems.push(place(span, table), message);
    }

    fn config(&mut self, raw: RawConfig) -> Config {
        let server = self.server(raw.server);
        let upstream = self.upstream(raw.upstream);
        let iamport = self.iamport(raw.iamport);
        let cache = self.cache(raw.cache);
        let headers = self.headers(raw.headers);
        let signing = raw.signing.map(|s| self.signing(s));
        let policies = self.policies(raw.policies);
        let routes = self.routes(raw.routes, &policies);
        Config {
            server,
            upstream,
            iamport,
            cache,
            headers,
            signing,
            policies,
            routes,
        }
    }

    fn socket_addr(
        &mut self,
        s: &S<String>,
        table: &Range<usize>,
        what: &str,
    ) -> Option<SocketAddr> {
        match s.get_ref().trim().parse::<SocketAddr>() {
            Ok(addr) => Some(addr),
            Err(_) => {
                self.error(
                    &s.span(),
                    table,
                    format!(
                        "{what}: `{}` is not an IP address and port such as 0.0.0.0:8080 or \
                         [::]:8080",
                        s.get_ref()
                    ),
                );
                None
            }
        }
    }

    fn non_empty(&mut self, s: &S<String>, table: &Range<usize>, what: &str) {
        if s.get_ref().trim().is_empty() {
            self.error(&s.span(), table, format!("{what} must not be empty"));
        }
    }

    fn positive_ms(&mut self, v: &S<u64>, table: &Range<usize>, what: &str) -> Duration {
        if *v.get_ref() == 0 {
            self.error(
                &v.span(),
                table,
                format!("{what} must be more than 0 milliseconds"),
            );
        }
        Duration::from_millis(*v.get_ref())
    }

    fn server(&mut self, raw: S<RawServer>) -> ServerSettings {
        let t = raw.span();
        let r = raw.into_inner();
        // (address, span) of every listener, to catch two of them on one socket.
        let mut bound: Vec<(SocketAddr, Range<usize>)> = Vec::new();
        let mut listen = Vec::new();
        for a in r.listen.get_ref() {
            if let Some(addr) = self.socket_addr(a, &t, "`listen` in [server]") {
                listen.push(addr);
                bound.push((addr, a.span()));
            }
        }
        let tls = r.tls.map(|tls| {
            let tt = tls.span();
            let tls = tls.into_inner();
            let addr = self.socket_addr(&tls.listen, &tt, "`listen` in [server.tls]");
            if let Some(addr) = addr {
                bound.push((addr, tls.listen.span()));
            }
            self.non_empty(&tls.cert, &tt, "`cert` in [server.tls]");
            self.non_empty(&tls.key, &tt, "`key` in [server.tls]");
            TlsSettings {
                listen: addr.unwrap_or(SocketAddr::from(([0, 0, 0, 0], 8443))),
                cert: PathBuf::from(tls.cert.into_inner()),
                key: PathBuf::from(tls.key.into_inner()),
            }
        });
        if r.listen.get_ref().is_empty() && tls.is_none() {
            self.error(
                &r.listen.span(),
                &t,
                "`listen` in [server] is empty and there is no [server.tls]: the gateway would \
                 accept no connections"
                    .to_string(),
            );
        }
        // Kept present by default; `admin_listen = ""` is the way to turn it off.
        let admin_listen = if r.admin_listen.get_ref().trim().is_empty() {
            None
        } else {
            let addr = self.socket_addr(
                &r.admin_listen,
                &t,
                "`admin_listen` in [server] (\"\" turns it off)",
            );
            if let Some(addr) = addr {
                bound.push((addr, r.admin_listen.span()));
            }
            addr
        };
        for (i, (addr, span)) in bound.iter().enumerate() {
            // Port 0 asks the OS for a fresh port each time, so it never collides.
            let earlier = bound[..i].iter().find(|(a, _)| a == addr);
            if let (true, Some((_, first))) = (addr.port() != 0, earlier) {
                let line = self.line(place(first, &t));
                self.error(
                    span,
                    &t,
                    format!(
                        "{addr} is already a listener (line {line}); each listener in [server] \
                         needs its own address"
                    ),
                );
            }
        }
        let threads = *r.threads.get_ref();
        if threads == 0 {
            self.error(
                &r.threads.span(),
                &t,
                "`threads` in [server] must be at least 1".to_string(),
            );
        }
        let max_body = *r.max_body_bytes.get_ref();
        if !(1..=MAX_BODY_BYTES_LIMIT as u64).contains(&max_body) {
            self.error(
                &r.max_body_bytes.span(),
                &t,
                format!(
                    "`max_body_bytes` in [server] must be between 1 and {MAX_BODY_BYTES_LIMIT}, \
                     not {max_body}: pingora 0.9 keeps at most 64 KiB of a request body to \
                     replay it upstream"
                ),
            );
        }
        let mut trusted = Vec::new();
        for entry in r.trusted_proxies.get_ref() {
            match TrustedProxies::parse_entry(entry.get_ref()) {
                Some(net) => trusted.push(net),
                None => self.error(
                    &entry.span(),
                    &t,
                    format!(
                        "`trusted_proxies` in [server]: `{}` is not an IP address or CIDR such \
                         as 192.0.2.7, 10.0.0.0/8 or fd00::/8",
                        entry.get_ref()
                    ),
                ),
            }
        }
        ServerSettings {
            listen,
            tls,
            threads: usize::try_from(threads).unwrap_or(usize::MAX),
            admin_listen,
            max_body_bytes: usize::try_from(max_body).unwrap_or(MAX_BODY_BYTES_LIMIT),
            grace_period: Duration::from_secs(*r.grace_period_secs.get_ref()),
            pid_file: self.runtime_file(r.pid_file.get_ref(), "verigate.pid"),
            upgrade_sock: self.runtime_file(r.upgrade_sock.get_ref(), "upgrade.sock"),
            access_log: match r.access_log.get_ref().as_str() {
                "stdout" | "" => AccessLogTarget::Stdout,
                "off" => AccessLogTarget::Off,
                path => AccessLogTarget::File(PathBuf::from(path)),
            },
            trusted_proxies: TrustedProxies::new(trusted),
        }
    }

    /// `written`, or `name` in the default runtime directory when the key is left out or `""`:
    /// `$RUNTIME_DIRECTORY` (systemd's `RuntimeDirectory=`; its first entry), else `run/`
    /// beside the config file (resolved by [`load`]). Never `/tmp`: whoever can bind the
    /// upgrade socket there receives the listening sockets.
    fn runtime_file(&self, written: &str, name: &str) -> PathBuf {
        let written = written.trim();
        if !written.is_empty() {
            return PathBuf::from(written);
        }
        match (self.env)("RUNTIME_DIRECTORY") {
            Some(dirs) if !dirs.trim().is_empty() => {
                PathBuf::from(dirs.split(':').next().unwrap_or_default()).join(name)
            }
            _ => Path::new(DEFAULT_RUNTIME_DIR).join(name),
        }
    }

    fn upstream(&mut self, raw: S<RawUpstream>) -> UpstreamSettings {
        let t = raw.span();
        let r = raw.into_inner();
        let mut addrs = Vec::new();
        if r.addrs.get_ref().is_empty() {
            self.error(
                &r.addrs.span(),
                &t,
                "`addrs` in [upstream] is empty: name at least one host:port of the app"
                    .to_string(),
            );
        }
        for a in r.addrs.get_ref() {
            let text = a.get_ref().trim();
            match text.to_socket_addrs() {
                Ok(found) => {
                    let found: Vec<SocketAddr> = found.collect();
                    // One entry is one backend: a name resolving to both families would
                    // otherwise double its share, and apps often listen on IPv4 only.
                    match found.iter().find(|x| x.is_ipv4()).or(found.first()) {
                        Some(addr) => addrs.push(*addr),
                        None => self.error(
                            &a.span(),
                            &t,
                            format!("`addrs` in [upstream]: `{text}` resolves to no address"),
                        ),
                    }
                }
                Err(e) => self.error(
                    &a.span(),
                    &t,
                    format!(
                        "`addrs` in [upstream]: `{text}` is not a reachable host:port \
                         (such as 127.0.0.1:3000 or app.internal:3000): {e}"
                    ),
                ),
            }
        }
        let connect_timeout = self.positive_ms(
            &r.connect_timeout_ms,
            &t,
            "`connect_timeout_ms` in [upstream]",
        );
        let read_timeout =
            self.positive_ms(&r.read_timeout_ms, &t, "`read_timeout_ms` in [upstream]");
        let health_check = r.health_check.map(|hc| {
            let ht = hc.span();
            let hc = hc.into_inner();
            if !hc.path.get_ref().starts_with('/') {
                self.error(
                    &hc.path.span(),
                    &ht,
                    "`path` in [upstream.health_check] must start with `/`".to_string(),
                );
            }
            if *hc.interval_secs.get_ref() == 0 {
                self.error(
                    &hc.interval_secs.span(),
                    &ht,
                    "`interval_secs` in [upstream.health_check] must be at least 1".to_string(),
                );
            }
            HealthCheck {
                path: hc.path.into_inner(),
                interval: Duration::from_secs(*hc.interval_secs.get_ref()),
            }
        });
        UpstreamSettings {
            addrs,
            tls: r.tls,
            sni: r.sni.trim().to_string(),
            connect_timeout,
            read_timeout,
            health_check,
            ca_file: Some(r.ca_file.trim())
                .filter(|f| !f.is_empty())
                .map(PathBuf::from),
        }
    }

    /// A credential that defaults to `${VAR}`: the value as written (already interpolated), or
    /// the variable itself when the key is left out.
    fn credential(
        &mut self,
        value: Option<S<String>>,
        var: &str,
        key: &str,
        table: &Range<usize>,
    ) -> String {
        let what = format!("`{key}` in [iamport]");
        match value {
            Some(v) => {
                // The message names the key only: the value may be the secret itself.
                self.non_empty(&v, table, &what);
                v.into_inner()
            }
            None => match (self.env)(var) {
                Some(v) if !v.trim().is_empty() => v,
                Some(_) => {
                    self.error(
                        &(0..0),
                        table,
                        format!("environment variable `{var}` is empty ({what} defaults to \"${{{var}}}\")"),
                    );
                    String::new()
                }
                None => {
                    self.error(
                        &(0..0),
                        table,
                        format!("environment variable `{var}` is not set ({what} defaults to \"${{{var}}}\")"),
                    );
                    String::new()
                }
            },
        }
    }

    fn iamport(&mut self, raw: S<RawIamport>) -> IamportSettings {
        let t = raw.span();
        let r = raw.into_inner();
        let base_url = self.base_url(&r.base_url, &t);
        let imp_key = self.credential(r.imp_key, "IMP_KEY", "imp_key", &t);
        let imp_secret = Secret::new(self.credential(r.imp_secret, "IMP_SECRET", "imp_secret", &t));
        let timeout = self.positive_ms(&r.timeout_ms, &t, "`timeout_ms` in [iamport]");
        let tier = r.tier.map(|tier| {
            let value = tier.get_ref().trim();
            if value.is_empty() || http::HeaderValue::from_str(value).is_err() {
                self.error(
                    &tier.span(),
                    &t,
                    "`tier` in [iamport] must be a non-empty header value (visible ASCII)"
                        .to_string(),
                );
            }
            value.to_string()
        });
        IamportSettings {
            base_url,
            imp_key,
            imp_secret,
            timeout,
            tier,
        }
    }

    fn base_url(&mut self, raw: &S<String>, t: &Range<usize>) -> String {
        let text = raw.get_ref().trim();
        let url = text.trim_end_matches('/');
        let problem = match url.parse::<http::Uri>() {
            Err(_) => Some("is not a URL"),
            Ok(uri) => match (uri.scheme_str(), uri.authority()) {
                (Some("http" | "https"), Some(auth)) if auth.as_str().contains('@') => {
                    Some("must not carry credentials; they belong in imp_key and imp_secret")
                }
                (Some("http" | "https"), Some(auth)) if !auth.host().is_empty() => {
                    if uri.query().is_some() {
                        Some("must not have a query string")
                    } else {
                        None
                    }
                }
                _ => Some("must be an http:// or https:// URL with a host"),
            },
        };
        if let Some(problem) = problem {
            self.error(
                &raw.span(),
                t,
                format!(
                    "`base_url` in [iamport] {problem}, such as https://api.iamport.kr (found `{text}`)"
                ),
            );
        }
        url.to_string()
    }

    fn cache(&mut self, raw: S<RawCache>) -> CacheSettings {
        let t = raw.span();
        let r = raw.into_inner();
        if *r.capacity.get_ref() == 0 {
            self.error(
                &r.capacity.span(),
                &t,
                "`capacity` in [cache] must be at least 1".to_string(),
            );
        }
        CacheSettings {
            capacity: *r.capacity.get_ref(),
            ttl: Duration::from_secs(r.ttl_secs),
            negative_ttl: Duration::from_secs(r.negative_ttl_secs),
        }
    }

    fn headers(&mut self, raw: S<RawHeaders>) -> HeaderSettings {
        let t = raw.span();
        let r = raw.into_inner();
        let prefix = r.prefix.get_ref().trim().to_ascii_lowercase();
        let valid = prefix.len() >= 2
            && prefix.starts_with(|c: char| c.is_ascii_alphanumeric())
            && prefix.ends_with('-')
            && prefix
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        // Every request header under the prefix is stripped (§4.1), so a broad prefix would
        // silently remove headers the app or the gateway itself depends on.
        let clobbered = STANDARD_HEADERS.iter().find(|h| h.starts_with(&prefix));
        if !valid {
            self.error(
                &r.prefix.span(),
                &t,
                format!(
                    "`prefix` in [headers] must be letters, digits and `-`, ending with `-` \
                     (such as x-verified-), not `{}`",
                    r.prefix.get_ref()
                ),
            );
        } else if let Some(header) = clobbered {
            self.error(
                &r.prefix.span(),
                &t,
                format!(
                    "`prefix` in [headers] `{prefix}` is too broad: headers under it are \
                     stripped from every request, which would remove `{header}`"
                ),
            );
        }
        let mut forward = Vec::new();
        for name in &r.forward {
            match ForwardField::ALL
                .iter()
                .find(|f| f.config_name() == name.get_ref().trim())
            {
                Some(f) => forward.push(*f),
                None => {
                    let valid: Vec<&str> =
                        ForwardField::ALL.iter().map(|f| f.config_name()).collect();
                    self.error(
                        &name.span(),
                        &t,
                        format!(
                            "`forward` in [headers]: unknown field `{}`; valid: {}",
                            name.get_ref(),
                            valid.join(", ")
                        ),
                    );
                }
            }
        }
        let forward = ForwardField::ALL
            .into_iter()
            .filter(|f| forward.contains(f))
            .collect();
        HeaderSettings { prefix, forward }
    }

    fn signing(&mut self, raw: S<RawSigning>) -> SigningSettings {
        let t = raw.span();
        let r = raw.into_inner();
        let mut keys: Vec<SigningKey> = Vec::new();
        let mut seen: HashMap<String, usize> = HashMap::new();
        for key in r.keys {
            let kt = key.span();
            let k = key.into_inner();
            let id = k.id.get_ref().trim().to_string();
            let id_ok = (1..=64).contains(&id.len())
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
            if !id_ok {
                self.error(
                    &k.id.span(),
                    &kt,
                    format!(
                        "`id` in [[signing.keys]] must be 1–64 letters, digits, `.`, `_` or `-` \
                         (it is sent as keyid and kid), not `{}`",
                        k.id.get_ref()
                    ),
                );
            }
            if let Some(first) = seen.get(&id) {
                let line = self.line(*first);
                self.error(
                    &k.id.span(),
                    &kt,
                    format!(
                        "key id `{id}` is already used by the key on line {line}; ids in \
                         [[signing.keys]] must be unique"
                    ),
                );
            } else {
                seen.insert(id.clone(), k.id.span().start);
            }
            let alg = *k.alg.get_ref();
            let material = match alg {
                RawAlg::Ed25519 => {
                    if let Some(secret) = &k.secret {
                        self.error(
                            &secret.span(),
                            &kt,
                            format!(
                                "key `{id}` is ed25519: it takes `private_key_file`, not `secret`"
                            ),
                        );
                    }
                    match k.private_key_file {
                        Some(file) => {
                            self.non_empty(
                                &file,
                                &kt,
                                &format!("`private_key_file` of key `{id}`"),
                            );
                            KeyMaterial::PrivateKeyFile(PathBuf::from(file.into_inner()))
                        }
                        None => {
                            self.error(
                                &k.alg.span(),
                                &kt,
                                format!(
                                    "key `{id}` is ed25519 and needs `private_key_file` (an \
                                     Ed25519 PKCS#8 PEM file; `verigate keygen --alg ed25519` \
                                     makes one)"
                                ),
                            );
                            KeyMaterial::PrivateKeyFile(PathBuf::new())
                        }
                    }
                }
                RawAlg::HmacSha256 => {
                    if let Some(file) = &k.private_key_file {
                        self.error(
                            &file.span(),
                            &kt,
                            format!("key `{id}` is hmac-sha256: it takes `secret`, not `private_key_file`"),
                        );
                    }
                    match k.secret {
                        Some(secret) => {
                            let span = secret.span();
                            let secret = Secret::new(secret.into_inner().trim());
                            if let Err(e) = decode_hmac_secret(&secret) {
                                self.error(&span, &kt, format!("`secret` of key `{id}` {e}"));
                            }
                            KeyMaterial::HmacSecret(secret)
                        }
                        None => {
                            self.error(
                                &k.alg.span(),
                                &kt,
                                format!(
                                    "key `{id}` is hmac-sha256 and needs `secret` (base64, at \
                                     least {HMAC_SECRET_MIN_BYTES} bytes decoded; best as \
                                     \"${{VARIABLE}}\")"
                                ),
                            );
                            KeyMaterial::HmacSecret(Secret::new(""))
                        }
                    }
                }
            };
            keys.push(SigningKey {
                id,
                alg: match alg {
                    RawAlg::Ed25519 => KeyAlg::Ed25519,
                    RawAlg::HmacSha256 => KeyAlg::HmacSha256,
                },
                material,
            });
        }
        let active_key = r.active_key.get_ref().trim().to_string();
        if !keys.iter().any(|k| k.id == active_key) {
            let ids: Vec<&str> = keys.iter().map(|k| k.id.as_str()).collect();
            let known = if ids.is_empty() {
                "there is no [[signing.keys]] table".to_string()
            } else {
                format!("keys: {}", ids.join(", "))
            };
            self.error(
                &r.active_key.span(),
                &t,
                format!("`active_key` in [signing] names no key: `{active_key}`; {known}"),
            );
        }
        if *r.signature_ttl_secs.get_ref() == 0 {
            self.error(
                &r.signature_ttl_secs.span(),
                &t,
                "`signature_ttl_secs` in [signing] must be at least 1".to_string(),
            );
        }
        self.non_empty(&r.issuer, &t, "`issuer` in [signing]");
        self.non_empty(&r.audience, &t, "`audience` in [signing]");
        SigningSettings {
            active_key,
            signature_ttl: Duration::from_secs(*r.signature_ttl_secs.get_ref()),
            jwt: r.jwt,
            issuer: r.issuer.into_inner(),
            audience: r.audience.into_inner(),
            keys,
        }
    }

    fn policies(&mut self, raw: BTreeMap<S<String>, S<RawPolicy>>) -> Vec<Arc<Policy>> {
        let mut raw: Vec<(S<String>, S<RawPolicy>)> = raw.into_iter().collect();
        // The map is ordered by name; the contract wants file order.
        raw.sort_by_key(|(name, _)| name.span().start);
        let mut policies = Vec::new();
        for (name, policy) in raw {
            let t = policy.span();
            let p = policy.into_inner();
            let n = name.get_ref();
            let table = format!("[policies.{n}]");
            let name_ok = (1..=64).contains(&n.len())
                && n.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
            if !name_ok {
                self.error(
                    &name.span(),
                    &t,
                    format!(
                        "policy name `{n}` must be 1–64 letters, digits, `.`, `_` or `-`: it \
                         is sent in the {{prefix}}policy header"
                    ),
                );
            }
            let timezone = match TimeZone::get(p.timezone.get_ref().trim()) {
                Ok(tz) => tz,
                Err(_) => {
                    self.error(
                        &p.timezone.span(),
                        &t,
                        format!(
                            "`timezone` in {table}: `{}` is not an IANA time zone name (such as \
                             Asia/Seoul or UTC)",
                            p.timezone.get_ref()
                        ),
                    );
                    TimeZone::UTC
                }
            };
            let min_age = *p.min_age.get_ref();
            if !(0..=150).contains(&min_age) {
                self.error(
                    &p.min_age.span(),
                    &t,
                    format!("`min_age` in {table} must be between 0 and 150, not {min_age}"),
                );
            }
            let max_age = p.max_age.map(|max| {
                let m = *max.get_ref();
                if m < min_age || m > 150 {
                    self.error(
                        &max.span(),
                        &t,
                        format!(
                            "`max_age` in {table} must be between min_age ({min_age}) and 150, \
                             not {m}"
                        ),
                    );
                }
                i32::try_from(m).unwrap_or(i32::MAX)
            });
            policies.push(Arc::new(Policy {
                name: n.as_str().into(),
                min_age: i32::try_from(min_age).unwrap_or(i32::MAX),
                max_age,
                age_basis: match p.age_basis {
                    RawBasis::Year => AgeBasis::Year,
                    RawBasis::Full => AgeBasis::Full,
                },
                timezone,
                // 0 is the documented "no limit".
                max_certification_age: (p.max_certification_age_secs > 0)
                    .then(|| Duration::from_secs(p.max_certification_age_secs)),
            }));
        }
        policies
    }

    fn routes(&mut self, raw: S<Vec<S<RawRoute>>>, policies: &[Arc<Policy>]) -> Vec<Route> {
        let all = raw.span();
        let raw = raw.into_inner();
        if raw.is_empty() {
            self.error(
                &all,
                &all,
                "`routes` is empty: at least one [[routes]] table is required".to_string(),
            );
        }
        let mut routes: Vec<Route> = Vec::new();
        let mut names: HashSet<String> = HashSet::new();
        // (method, path) → (route name, offset of its path).
        let mut endpoints: HashMap<(String, String), (String, usize)> = HashMap::new();
        for route in raw {
            let t = route.span();
            let r = route.into_inner();
            let name = r.name.get_ref().trim().to_string();
            if name.is_empty() || name.chars().any(char::is_control) {
                self.error(
                    &r.name.span(),
                    &t,
                    "`name` in [[routes]] must be non-empty text: it labels logs and metrics"
                        .to_string(),
                );
            } else if name == crate::metrics::PASSTHROUGH {
                self.error(
                    &r.name.span(),
                    &t,
                    format!("route name `{name}` is reserved: it labels the metrics of requests outside every route"),
                );
            } else if !names.insert(name.clone()) {
                self.error(
                    &r.name.span(),
                    &t,
                    format!("route name `{name}` is used twice; names label logs and metrics and must be unique"),
                );
            }
            let what = |key: &str| format!("`{key}` in [[routes]] `{name}`");
            let method_text = r.method.get_ref().trim().to_ascii_uppercase();
            let method = match http::Method::from_bytes(method_text.as_bytes()) {
                Ok(m) if !method_text.is_empty() => Some(m),
                _ => {
                    self.error(
                        &r.method.span(),
                        &t,
                        format!(
                            "{}: `{}` is not an HTTP method (such as GET or POST)",
                            what("method"),
                            r.method.get_ref()
                        ),
                    );
                    None
                }
            };
            let path = r.path.get_ref().trim().to_string();
            let path_ok = path.starts_with('/')
                && path
                    .bytes()
                    .all(|b| b.is_ascii_graphic() && b != b'?' && b != b'#');
            if !path_ok {
                self.error(
                    &r.path.span(),
                    &t,
                    format!(
                        "{} must start with `/` and hold no spaces, `?` or `#` (the query is \
                         not part of the match; percent-encode other characters), not `{path}`",
                        what("path")
                    ),
                );
            }
            if let Some(m) = &method
                && path_ok
            {
                let endpoint = (m.as_str().to_string(), path.clone());
                if let Some((first, at)) = endpoints.get(&endpoint) {
                    let line = self.line(*at);
                    self.error(
                        &r.path.span(),
                        &t,
                        format!(
                            "route `{name}` repeats {m} {path}, already taken by route `{first}` \
                             on line {line}; each method and path may have one route"
                        ),
                    );
                } else {
                    endpoints.insert(endpoint, (name.clone(), place(&r.path.span(), &t)));
                }
            }
            if r.imp_uid_field.get_ref().trim().is_empty() {
                self.error(
                    &r.imp_uid_field.span(),
                    &t,
                    format!("{} must not be empty", what("imp_uid_field")),
                );
            }
            let policy_name = r.policy.get_ref().trim();
            let policy = policies.iter().find(|p| &*p.name == policy_name).cloned();
            if policy.is_none() {
                let defined: Vec<&str> = policies.iter().map(|p| &*p.name).collect();
                let defined = if defined.is_empty() {
                    "no [policies.NAME] table is defined".to_string()
                } else {
                    format!("defined: {}", defined.join(", "))
                };
                self.error(
                    &r.policy.span(),
                    &t,
                    format!(
                        "{}: there is no policy `{policy_name}`; {defined}",
                        what("policy")
                    ),
                );
            }
            let imp_uid_from = match r.imp_uid_from {
                Some(RawSource::Body) => ImpUidSource::Body,
                Some(RawSource::Query) => ImpUidSource::Query,
                Some(RawSource::Auto) => ImpUidSource::Auto,
                None if matches!(method, Some(http::Method::GET | http::Method::HEAD)) => {
                    ImpUidSource::Query
                }
                None => ImpUidSource::Body,
            };
            if let (Some(method), Some(policy)) = (method, policy) {
                routes.push(Route {
                    name: name.as_str().into(),
                    method,
                    path,
                    imp_uid_from,
                    imp_uid_field: r.imp_uid_field.get_ref().trim().to_string(),
                    policy,
                    on_deny: match r.on_deny {
                        RawOnDeny::Forward => OnDeny::Forward,
                        RawOnDeny::Reject => OnDeny::Reject,
                    },
                    on_failure: match r.on_failure {
                        RawOnFailure::Reject => OnFailure::Reject,
                        RawOnFailure::Forward => OnFailure::Forward,
                    },
                    single_use: r.single_use,
                });
            }
        }
        routes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 32 zero bytes, base64.
    const HMAC32: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

    /// The example of README, "Configuration", every key written out.
    const FULL_EXAMPLE: &str = r#"
[server]
listen = ["0.0.0.0:8080"]          # plain HTTP listeners
threads = 2
admin_listen = "127.0.0.1:9901"
max_body_bytes = 65536
grace_period_secs = 30

[server.tls]
listen = "0.0.0.0:8443"
cert = "certs/edge.pem"
key = "certs/edge.key"

[upstream]
addrs = ["127.0.0.1:3000", "127.0.0.1:3001"]
tls = false
sni = ""
connect_timeout_ms = 2000
read_timeout_ms = 60000

[upstream.health_check]
path = "/"
interval_secs = 5

[iamport]
base_url = "https://api.iamport.kr"
imp_key = "${IMP_KEY}"
imp_secret = "${IMP_SECRET}"
timeout_ms = 3000
tier = "abc"

[cache]
capacity = 100000
ttl_secs = 600
negative_ttl_secs = 10

[headers]
prefix = "x-verified-"
forward = ["phone", "gender"]

[signing]
active_key = "edge-1"
signature_ttl_secs = 60
jwt = true
issuer = "verigate"
audience = "legacy-app"

[[signing.keys]]
id = "edge-1"
alg = "ed25519"
private_key_file = "keys/edge-1.pem"

[[signing.keys]]
id = "shared-1"
alg = "hmac-sha256"
secret = "${VERIGATE_HMAC_SECRET}" # base64, at least 32 bytes decoded

[policies.teen]
min_age = 13
max_age = 18
age_basis = "full"
timezone = "UTC"
max_certification_age_secs = 0

[policies.adult]
min_age = 19
age_basis = "year"
timezone = "Asia/Seoul"
max_certification_age_secs = 600

[[routes]]
name = "popup"
method = "POST"
path = "/certifications"
imp_uid_from = "body"
imp_uid_field = "imp_uid"
policy = "adult"
on_deny = "forward"
on_failure = "reject"
single_use = false

[[routes]]
name = "redirect"
method = "GET"
path = "/certifications/redirect"
imp_uid_from = "query"
policy = "adult"

[[routes]]
name = "teens"
method = "post"
path = "/teens"
imp_uid_from = "auto"
imp_uid_field = "uid"
policy = "teen"
on_deny = "reject"
on_failure = "forward"
single_use = true
"#;

    /// The smallest useful file: everything else is a default.
    const MINIMAL: &str = r#"
[policies.adult]

[[routes]]
name = "popup"
method = "POST"
path = "/certifications"
policy = "adult"
"#;

    fn env(name: &str) -> Option<String> {
        match name {
            "IMP_KEY" => Some("imp_apikey".to_string()),
            "IMP_SECRET" => Some("super-secret-value".to_string()),
            "VERIGATE_HMAC_SECRET" => Some(HMAC32.to_string()),
            "QUOTED" => Some("a\" \n[server]\nthreads = 0 # \"".to_string()),
            "PORT" => Some("9000".to_string()),
            "HOST" => Some("127.0.0.1".to_string()),
            _ => None,
        }
    }

    fn ok(text: &str) -> Config {
        match parse(text, "gateway.toml", &env) {
            Ok(c) => c,
            Err(e) => panic!("expected a valid config, got:\n{e}"),
        }
    }

    fn errors(text: &str) -> Vec<ConfigError> {
        match parse(text, "gateway.toml", &env) {
            Ok(_) => panic!("expected errors, the config was accepted"),
            Err(e) => {
                assert!(!e.0.is_empty(), "ConfigErrors must never be empty");
                e.0
            }
        }
    }

    /// `(line, column, message)` of each error, for compact assertions.
    fn located(text: &str) -> Vec<(usize, usize, String)> {
        errors(text)
            .into_iter()
            .map(|e| (e.line, e.column, e.message))
            .collect()
    }

    fn one_error(text: &str) -> (usize, usize, String) {
        let mut all = located(text);
        assert_eq!(all.len(), 1, "expected one error, got {all:#?}");
        all.remove(0)
    }

    #[test]
    fn full_example_parses_with_every_value_taken() {
        let c = ok(FULL_EXAMPLE);
        assert_eq!(c.server.listen, vec!["0.0.0.0:8080".parse().unwrap()]);
        let tls = c.server.tls.as_ref().unwrap();
        assert_eq!(tls.listen, "0.0.0.0:8443".parse().unwrap());
        assert_eq!(tls.cert, PathBuf::from("certs/edge.pem"));
        assert_eq!(c.upstream.addrs.len(), 2);
        assert_eq!(c.upstream.health_check.as_ref().unwrap().path, "/");
        assert_eq!(c.iamport.imp_key, "imp_apikey");
        assert_eq!(c.iamport.imp_secret.expose(), "super-secret-value");
        assert_eq!(c.iamport.tier.as_deref(), Some("abc"));
        assert_eq!(
            c.headers.forward,
            vec![ForwardField::Gender, ForwardField::Phone]
        );
        let signing = c.signing.as_ref().unwrap();
        assert_eq!(signing.active_key, "edge-1");
        assert_eq!(signing.keys.len(), 2);
        assert_eq!(signing.keys[1].alg, KeyAlg::HmacSha256);
        match &signing.keys[1].material {
            KeyMaterial::HmacSecret(s) => {
                assert_eq!(s.expose(), HMAC32);
                assert_eq!(decode_hmac_secret(s).unwrap(), vec![0u8; 32]);
            }
            other => panic!("expected an HMAC secret, got {other:?}"),
        }
        // Policies keep file order, not name order.
        let names: Vec<&str> = c.policies.iter().map(|p| &*p.name).collect();
        assert_eq!(names, ["teen", "adult"]);
        let teen = &c.policies[0];
        assert_eq!((teen.min_age, teen.max_age), (13, Some(18)));
        assert_eq!(teen.age_basis, AgeBasis::Full);
        assert_eq!(teen.max_certification_age, None);
        assert_eq!(c.routes.len(), 3);
        let teens = &c.routes[2];
        assert_eq!(teens.method, http::Method::POST);
        assert_eq!(teens.imp_uid_from, ImpUidSource::Auto);
        assert_eq!(teens.imp_uid_field, "uid");
        assert!(Arc::ptr_eq(&teens.policy, teen));
        assert_eq!(
            (teens.on_deny, teens.on_failure, teens.single_use),
            (OnDeny::Reject, OnFailure::Forward, true)
        );
        let redirect = c.route_index(&http::Method::GET, "/certifications/redirect");
        assert_eq!(redirect.map(|i| &*c.routes[i].name), Some("redirect"));
        assert!(
            c.route_index(&http::Method::GET, "/certifications")
                .is_none()
        );
        // A GET route takes HEAD; a POST route does not take GET or HEAD.
        assert_eq!(
            c.route_index(&http::Method::HEAD, "/certifications/redirect"),
            redirect
        );
        assert!(
            c.route_index(&http::Method::HEAD, "/certifications")
                .is_none()
        );
    }

    #[test]
    fn a_head_route_of_its_own_comes_before_the_get_route() {
        let c = ok("[policies.p]\n\
             [[routes]]\nname = \"g\"\nmethod = \"GET\"\npath = \"/x\"\npolicy = \"p\"\n\
             [[routes]]\nname = \"h\"\nmethod = \"HEAD\"\npath = \"/x\"\npolicy = \"p\"\n");
        let name = |m: http::Method| c.route_index(&m, "/x").map(|i| &*c.routes[i].name);
        assert_eq!(name(http::Method::GET), Some("g"));
        assert_eq!(name(http::Method::HEAD), Some("h"));
        assert_eq!(name(http::Method::POST), None);
    }

    #[test]
    fn repo_root_gateway_toml_parses_when_present() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("gateway.toml");
        let Ok(text) = std::fs::read_to_string(&path) else {
            return;
        };
        // Any variable the file uses gets a value that also passes as an HMAC secret.
        let any = |_: &str| Some(HMAC32.to_string());
        if let Err(e) = parse(&text, "gateway.toml", &any) {
            panic!("{} does not validate:\n{e}", path.display());
        }
    }

    #[test]
    fn minimal_file_gets_the_documented_defaults() {
        let c = ok(MINIMAL);
        let s = &c.server;
        assert_eq!(s.listen, vec!["0.0.0.0:8080".parse().unwrap()]);
        assert!(s.tls.is_none());
        assert_eq!(s.threads, 2);
        assert_eq!(s.admin_listen, Some("127.0.0.1:9901".parse().unwrap()));
        assert_eq!(s.max_body_bytes, 65536);
        assert_eq!(s.grace_period, Duration::from_secs(30));
        let u = &c.upstream;
        assert_eq!(u.addrs, vec!["127.0.0.1:3000".parse().unwrap()]);
        assert!(!u.tls);
        assert_eq!(u.sni, "");
        assert_eq!(u.connect_timeout, Duration::from_millis(2000));
        assert_eq!(u.read_timeout, Duration::from_millis(60000));
        assert!(u.health_check.is_none());
        let i = &c.iamport;
        assert_eq!(i.base_url, "https://api.iamport.kr");
        assert_eq!(i.imp_key, "imp_apikey");
        assert_eq!(i.imp_secret.expose(), "super-secret-value");
        assert_eq!(i.timeout, Duration::from_millis(3000));
        assert!(i.tier.is_none());
        assert_eq!(c.cache.capacity, 100_000);
        assert_eq!(c.cache.ttl, Duration::from_secs(600));
        assert_eq!(c.cache.negative_ttl, Duration::from_secs(10));
        assert_eq!(c.headers.prefix, "x-verified-");
        assert!(c.headers.forward.is_empty());
        assert!(c.signing.is_none());
        let p = &c.policies[0];
        assert_eq!((p.min_age, p.max_age), (19, None));
        assert_eq!(p.age_basis, AgeBasis::Year);
        assert_eq!(p.timezone.iana_name(), Some("Asia/Seoul"));
        assert_eq!(p.max_certification_age, Some(Duration::from_secs(600)));
        let r = &c.routes[0];
        assert_eq!(r.imp_uid_from, ImpUidSource::Body);
        assert_eq!(r.imp_uid_field, "imp_uid");
        assert_eq!(
            (r.on_deny, r.on_failure, r.single_use),
            (OnDeny::Forward, OnFailure::Reject, false)
        );
    }

    #[test]
    fn signing_section_defaults() {
        let c = ok(&format!(
            "[signing]\nactive_key = \"k\"\n[[signing.keys]]\nid = \"k\"\nalg = \"ed25519\"\n\
             private_key_file = \"k.pem\"\n{MINIMAL}"
        ));
        let s = c.signing.unwrap();
        assert_eq!(s.signature_ttl, Duration::from_secs(60));
        assert!(s.jwt);
        assert_eq!(
            (s.issuer.as_str(), s.audience.as_str()),
            ("verigate", "legacy-app")
        );
    }

    #[test]
    fn imp_uid_source_defaults_to_query_for_get_and_head_else_body() {
        let cases = [
            ("GET", ImpUidSource::Query),
            ("head", ImpUidSource::Query),
            ("POST", ImpUidSource::Body),
            ("PUT", ImpUidSource::Body),
        ];
        for (method, want) in cases {
            let text = format!(
                "[policies.p]\n[[routes]]\nname = \"r\"\nmethod = \"{method}\"\npath = \"/x\"\npolicy = \"p\"\n"
            );
            assert_eq!(ok(&text).routes[0].imp_uid_from, want, "{method}");
        }
    }

    #[test]
    fn admin_listen_empty_string_turns_the_admin_listener_off() {
        let c = ok(&format!("[server]\nadmin_listen = \"\"\n{MINIMAL}"));
        assert_eq!(c.server.admin_listen, None);
    }

    #[test]
    fn trusted_proxies_are_addresses_or_cidrs_and_none_by_default() {
        assert!(ok(MINIMAL).server.trusted_proxies.is_empty());
        let c = ok(&format!(
            "[server]\ntrusted_proxies = [\"10.0.0.0/8\", \"192.0.2.7\", \"fd00::/8\"]\n{MINIMAL}"
        ));
        let t = &c.server.trusted_proxies;
        for (ip, want) in [
            ("10.9.8.7", true),
            ("192.0.2.7", true),
            ("192.0.2.8", false),
            ("fd00::1", true),
            ("::ffff:10.0.0.1", true),
            ("127.0.0.1", false),
        ] {
            assert_eq!(t.contains(ip.parse().unwrap()), want, "{ip}");
        }
        assert!(
            c.describe()
                .contains("trusted   proxies 10.0.0.0/8, 192.0.2.7/32, fd00::/8"),
            "{}",
            c.describe()
        );
        assert!(ok(MINIMAL).describe().contains("trusted   no proxies"));
    }

    #[test]
    fn a_bad_trusted_proxy_is_located_and_says_what_is_valid() {
        let text = format!(
            "[server]\ntrusted_proxies = [\"10.0.0.1\", \"edge.internal\", \"10.0.0.0/40\"]\n{MINIMAL}"
        );
        let all = located(&text);
        assert_eq!(all.len(), 2, "{all:#?}");
        assert_eq!((all[0].0, all[0].1), (2, 32));
        assert!(
            all[0]
                .2
                .contains("`edge.internal` is not an IP address or CIDR"),
            "{}",
            all[0].2
        );
        assert_eq!((all[1].0, all[1].1), (2, 49));
        assert!(all[1].2.contains("`10.0.0.0/40`"), "{}", all[1].2);
    }

    #[test]
    fn unknown_key_is_located_and_lists_the_valid_keys() {
        let text = format!("[server]\nthreads = 2\nthread = 4\n{MINIMAL}");
        let (line, column, message) = one_error(&text);
        assert_eq!((line, column), (3, 1));
        assert!(
            message.contains("unknown key `thread` in [server]"),
            "{message}"
        );
        assert!(
            message
                .contains("listen, tls, threads, admin_listen, max_body_bytes, grace_period_secs, pid_file, upgrade_sock, access_log"),
            "{message}"
        );
    }

    #[test]
    fn unknown_top_level_table_and_route_key_are_located() {
        let text = "[serverr]\nx = 1\n[policies.p]\n[[routes]]\nname = \"r\"\nmethod = \"GET\"\n\
                    path = \"/\"\npolicy = \"p\"\n  imp_uid = \"query\"\n";
        let all = located(text);
        assert_eq!(all.len(), 2, "{all:#?}");
        assert_eq!((all[0].0, all[0].1), (1, 2), "{all:#?}");
        assert!(
            all[0]
                .2
                .contains("unknown key `serverr` at the top level; valid keys: server, upstream"),
            "{all:#?}"
        );
        assert_eq!((all[1].0, all[1].1), (9, 3));
        assert!(
            all[1].2.contains("unknown key `imp_uid` in [[routes]]"),
            "{}",
            all[1].2
        );
        assert!(all[1].2.contains("imp_uid_from"), "{}", all[1].2);
    }

    #[test]
    fn wrong_types_are_located_and_say_what_is_expected() {
        // (file prefix, line, column, expected message fragment)
        let cases = [
            (
                "[server]\nthreads = \"two\"\n",
                2,
                11,
                "`threads` in [server] must be a non-negative integer, not a string",
            ),
            (
                "[server]\nthreads = -1\n",
                2,
                11,
                "`threads` in [server] must be a non-negative integer, not -1",
            ),
            (
                "[server]\nlisten = \"0.0.0.0:80\"\n",
                2,
                10,
                "`listen` in [server] must be an array, not a string",
            ),
            (
                "[server]\nlisten = [8080]\n",
                2,
                11,
                "an element of `listen` in [server] must be a string, not an integer",
            ),
            (
                "[upstream]\ntls = \"yes\"\n",
                2,
                7,
                "`tls` in [upstream] must be true or false, not a string",
            ),
            (
                "server = 5\n",
                1,
                10,
                "`server` at the top level must be a table, not an integer",
            ),
            (
                "[cache]\nttl_secs = 1.5\n",
                2,
                12,
                "`ttl_secs` in [cache] must be a non-negative integer, not a float",
            ),
        ];
        for (prefix, line, column, fragment) in cases {
            let (l, c, message) = one_error(&format!("{prefix}{MINIMAL}"));
            assert!(message.contains(fragment), "{prefix:?}: {message}");
            assert_eq!((l, c), (line, column), "{prefix:?}: {message}");
        }
    }

    #[test]
    fn wrong_enum_values_list_the_allowed_ones() {
        let cases = [
            (
                "[policies.p]\nage_basis = \"yearly\"\n",
                "`age_basis` in [policies.p] must be one of \"year\", \"full\", not \"yearly\"",
            ),
            (
                "[policies.p]\nage_basis = 1\n",
                "`age_basis` in [policies.p] must be one of \"year\", \"full\"",
            ),
        ];
        for (prefix, fragment) in cases {
            let text = format!(
                "{prefix}[[routes]]\nname = \"r\"\nmethod = \"GET\"\npath = \"/\"\npolicy = \"p\"\n"
            );
            let (line, _, message) = one_error(&text);
            assert_eq!(line, 2);
            assert!(message.contains(fragment), "{message}");
        }
        let text = format!("{MINIMAL}on_deny = \"allow\"\n");
        let (line, _, message) = one_error(&text);
        assert_eq!(line, 9);
        assert!(message.contains("\"forward\", \"reject\""), "{message}");
    }

    #[test]
    fn several_structural_errors_are_reported_together_in_file_order() {
        let text = r#"[server]
threads = "x"
bogus = 1
[upstream]
read_timeout_ms = true
[policies.p]
[[routes]]
name = "a"
path = "/a"
policy = "p"
[[routes]]
name = "b"
method = 7
path = "/b"
policy = "p"
"#;
        let all = located(text);
        let lines: Vec<usize> = all.iter().map(|e| e.0).collect();
        assert_eq!(lines, [2, 3, 5, 7, 13], "{all:#?}");
        assert!(
            all[3].2.contains("missing key `method` in [[routes]]"),
            "{}",
            all[3].2
        );
        // The removed wrong-typed `method` of route b is not reported as missing as well.
        assert!(
            all[4].2.contains("`method` in [[routes]] must be a string"),
            "{}",
            all[4].2
        );
    }

    #[test]
    fn every_missing_required_key_of_a_table_is_named() {
        let text = "[policies.p]\n[[routes]]\nname = \"a\"\nmethod = 7\n[[routes]]\n";
        let all = located(text);
        assert_eq!(all.len(), 3, "{all:#?}");
        assert!(
            all[0]
                .2
                .contains("missing keys `path`, `policy` in [[routes]]"),
            "{all:#?}"
        );
        assert_eq!((all[0].0, all[0].1), (2, 1));
        assert!(
            all[1].2.contains("`method` in [[routes]] must be a string"),
            "{all:#?}"
        );
        assert_eq!(
            (all[2].0, all[2].2.as_str()),
            (
                5,
                "missing keys `name`, `method`, `path`, `policy` in [[routes]], which have no default"
            )
        );
        let (_, _, message) = one_error(&format!(
            "[server.tls]\nlisten = \"0.0.0.0:8443\"\n{MINIMAL}"
        ));
        assert!(
            message.contains("missing keys `cert`, `key` in [server.tls]"),
            "{message}"
        );
    }

    #[test]
    fn missing_routes_is_an_error_at_the_top_of_the_file() {
        let (line, column, message) = one_error("[policies.adult]\n");
        assert_eq!((line, column), (1, 1));
        assert!(message.contains("missing key `routes`"), "{message}");
        assert!(message.contains("at least one [[routes]]"), "{message}");
    }

    #[test]
    fn syntax_errors_are_located() {
        let all = located("[server]\nthreads = = 2\n[upstream\n");
        assert_eq!((all[0].0, all[0].1), (2, 11), "{all:#?}");
        assert!(all[0].2.contains("extra `=`"), "{all:#?}");
        // Recovery goes on to later lines.
        assert!(all.iter().any(|e| e.0 == 3), "{all:#?}");
    }

    #[test]
    fn unset_environment_variables_are_each_named_and_located() {
        let text = format!(
            "[iamport]\nimp_key = \"${{NOPE_KEY}}\"\nimp_secret = \"x-${{NOPE_A}}-${{NOPE_B}}\"\n{MINIMAL}"
        );
        let all = located(&text);
        assert_eq!(
            all.iter().map(|e| (e.0, e.1)).collect::<Vec<_>>(),
            [(2, 12), (3, 17), (3, 27)],
            "{all:#?}"
        );
        assert!(
            all[0]
                .2
                .contains("environment variable `NOPE_KEY` is not set")
        );
        assert!(all[0].2.contains("`imp_key` in [iamport]"), "{}", all[0].2);
        assert!(all[1].2.contains("`NOPE_A`"));
        assert!(all[2].2.contains("`NOPE_B`"));
        // The values are not blamed again as empty credentials.
        assert!(!all.iter().any(|e| e.2.contains("must not be empty")));
    }

    #[test]
    fn default_credentials_come_from_imp_key_and_imp_secret() {
        let only_key = |name: &str| (name == "IMP_KEY").then(|| "k".to_string());
        let err = parse(MINIMAL, "gateway.toml", &only_key).unwrap_err();
        assert_eq!(err.0.len(), 1, "{err}");
        let e = &err.0[0];
        assert_eq!((e.line, e.column), (1, 1));
        assert!(
            e.message
                .contains("environment variable `IMP_SECRET` is not set")
        );
        assert!(e.message.contains("defaults to \"${IMP_SECRET}\""));
        // With an [iamport] table present the problem points at it.
        let text = format!("\n[iamport]\ntimeout_ms = 100\n{MINIMAL}");
        let err = parse(&text, "gateway.toml", &only_key).unwrap_err();
        assert_eq!((err.0[0].line, err.0[0].column), (2, 1));
    }

    #[test]
    fn interpolation_reaches_strings_inside_arrays_and_tables() {
        let text = format!(
            "[server]\nlisten = [\"${{HOST}}:${{PORT}}\", \"127.0.0.1:$${{x}}\"]\n{MINIMAL}"
        );
        let errs = located(&text);
        // `$${` is a literal `${`: not a variable, and then not an address either.
        assert_eq!(errs.len(), 1, "{errs:#?}");
        assert!(
            errs[0].2.contains("`127.0.0.1:${x}` is not an IP address"),
            "{}",
            errs[0].2
        );
        // The address check points at the value, the second string of the array.
        assert_eq!((errs[0].0, errs[0].1), (2, 30));
        let text = format!("[server]\nlisten = [\"${{HOST}}:${{PORT}}\"]\n{MINIMAL}");
        assert_eq!(
            ok(&text).server.listen,
            vec!["127.0.0.1:9000".parse().unwrap()]
        );
    }

    #[test]
    fn interpolated_quotes_and_newlines_cannot_change_the_document() {
        let text = format!("[upstream]\nsni = \"${{QUOTED}}\"\n{MINIMAL}");
        let c = ok(&text);
        assert_eq!(c.upstream.sni, env("QUOTED").unwrap().trim());
        assert_eq!(c.server.threads, 2);
    }

    #[test]
    fn semantic_errors_are_all_reported_in_file_order() {
        let text = r#"[server]
listen = ["nonsense"]
threads = 0
max_body_bytes = 70000
[iamport]
base_url = "ftp://example.com"
timeout_ms = 0
[cache]
capacity = 0
[headers]
prefix = "X_Verified"
[policies.p]
timezone = "Mars/Olympus"
min_age = 200
[[routes]]
name = "r"
method = "G E T"
path = "no-slash"
policy = "q"
imp_uid_field = ""
"#;
        let all = located(text);
        let lines: Vec<usize> = all.iter().map(|e| e.0).collect();
        assert_eq!(
            lines,
            [2, 3, 4, 6, 7, 9, 11, 13, 14, 17, 18, 19, 20],
            "{all:#?}"
        );
    }

    #[test]
    fn route_naming_a_missing_policy_is_an_error_listing_the_defined_ones() {
        let text = MINIMAL.replace("policy = \"adult\"", "policy = \"adults\"");
        let (line, column, message) = one_error(&text);
        assert_eq!((line, column), (8, 10));
        assert!(
            message.contains("there is no policy `adults`; defined: adult"),
            "{message}"
        );
    }

    #[test]
    fn max_body_bytes_above_64_kib_is_rejected_with_the_reason() {
        let (line, column, message) =
            one_error(&format!("[server]\nmax_body_bytes = 70000\n{MINIMAL}"));
        assert_eq!((line, column), (2, 18));
        assert!(message.contains("between 1 and 65536"), "{message}");
        assert!(message.contains("pingora 0.9"), "{message}");
        assert_eq!(
            ok(&format!("[server]\nmax_body_bytes = 65536\n{MINIMAL}"))
                .server
                .max_body_bytes,
            65536
        );
    }

    #[test]
    fn unknown_time_zone_is_rejected() {
        let text = MINIMAL.replace(
            "[policies.adult]\n",
            "[policies.adult]\ntimezone = \"Asia/Seol\"\n",
        );
        let (line, column, message) = one_error(&text);
        assert_eq!((line, column), (3, 12));
        assert!(
            message.contains("`Asia/Seol` is not an IANA time zone"),
            "{message}"
        );
    }

    #[test]
    fn age_bounds_are_checked() {
        let cases = [
            (
                "min_age = -1",
                "`min_age` in [policies.adult] must be between 0 and 150",
            ),
            (
                "min_age = 20\nmax_age = 19",
                "must be between min_age (20) and 150, not 19",
            ),
        ];
        for (lines, fragment) in cases {
            let text = MINIMAL.replace(
                "[policies.adult]\n",
                &format!("[policies.adult]\n{lines}\n"),
            );
            let (_, _, message) = one_error(&text);
            assert!(message.contains(fragment), "{message}");
        }
    }

    #[test]
    fn duplicate_method_and_path_is_rejected_at_the_second_route() {
        let text = format!(
            "{MINIMAL}[[routes]]\nname = \"again\"\nmethod = \"post\"\npath = \"/certifications\"\npolicy = \"adult\"\n"
        );
        let (line, column, message) = one_error(&text);
        assert_eq!((line, column), (12, 8));
        assert!(
            message
                .contains("repeats POST /certifications, already taken by route `popup` on line 7"),
            "{message}"
        );
    }

    #[test]
    fn duplicate_route_name_is_rejected() {
        let text = format!(
            "{MINIMAL}[[routes]]\nname = \"popup\"\nmethod = \"GET\"\npath = \"/other\"\npolicy = \"adult\"\n"
        );
        let (line, _, message) = one_error(&text);
        assert_eq!(line, 10);
        assert!(
            message.contains("route name `popup` is used twice"),
            "{message}"
        );
    }

    #[test]
    fn the_passthrough_metrics_label_is_not_a_route_name() {
        let text = MINIMAL.replacen("name = \"popup\"", "name = \"passthrough\"", 1);
        assert_ne!(text, MINIMAL);
        let (_, _, message) = one_error(&text);
        assert!(message.contains("`passthrough` is reserved"), "{message}");
    }

    #[test]
    fn route_path_must_be_a_bare_absolute_path() {
        for path in ["certifications", "/a?b=1", "/a#x", "/a b", ""] {
            let text = MINIMAL.replace("/certifications", path);
            let (_, _, message) = one_error(&text);
            assert!(message.contains("must start with `/`"), "{path}: {message}");
        }
    }

    #[test]
    fn forward_fields_are_deduplicated_and_sorted_in_header_table_order() {
        let text = format!(
            "[headers]\nforward = [\"merchant_uid\", \"gender\", \"unique_key\", \"gender\"]\n{MINIMAL}"
        );
        assert_eq!(
            ok(&text).headers.forward,
            [
                ForwardField::Gender,
                ForwardField::UniqueKey,
                ForwardField::MerchantUid
            ]
        );
    }

    #[test]
    fn unknown_forward_field_lists_the_valid_names() {
        let text = format!("[headers]\nforward = [\"gender\", \"ci\"]\n{MINIMAL}");
        let (line, column, message) = one_error(&text);
        assert_eq!((line, column), (2, 22));
        assert!(message.contains("unknown field `ci`"), "{message}");
        assert!(
            message.contains(
                "gender, foreigner, unique_key, unique_in_site, phone, carrier, pg_provider, merchant_uid"
            ),
            "{message}"
        );
    }

    #[test]
    fn header_prefix_is_lower_cased_and_must_end_with_a_dash() {
        let c = ok(&format!("[headers]\nprefix = \"X-Checked-\"\n{MINIMAL}"));
        assert_eq!(c.headers.prefix, "x-checked-");
        for bad in [
            "",
            "-",
            "x-verified",
            "x_verified-",
            "x verified-",
            "x-",
            "content-",
        ] {
            let (_, _, message) = one_error(&format!("[headers]\nprefix = \"{bad}\"\n{MINIMAL}"));
            assert!(
                message.contains("`prefix` in [headers]"),
                "{bad:?}: {message}"
            );
        }
    }

    #[test]
    fn base_url_must_be_http_with_a_host_and_loses_its_trailing_slash() {
        let c = ok(&format!(
            "[iamport]\nbase_url = \"http://127.0.0.1:9000/\"\n{MINIMAL}"
        ));
        assert_eq!(c.iamport.base_url, "http://127.0.0.1:9000");
        for bad in [
            "api.iamport.kr",
            "ftp://api.iamport.kr",
            "https://",
            "https://u:p@h",
        ] {
            let (_, _, message) = one_error(&format!("[iamport]\nbase_url = \"{bad}\"\n{MINIMAL}"));
            assert!(
                message.contains("`base_url` in [iamport]"),
                "{bad}: {message}"
            );
        }
    }

    fn signing(keys: &str) -> String {
        format!("[signing]\nactive_key = \"k\"\n{keys}{MINIMAL}")
    }

    #[test]
    fn hmac_secret_shorter_than_32_bytes_is_rejected_without_echoing_it() {
        let short = "c2hvcnQtc2VjcmV0LXZhbHVl"; // "short-secret-value", 18 bytes
        let text = signing(&format!(
            "[[signing.keys]]\nid = \"k\"\nalg = \"hmac-sha256\"\nsecret = \"{short}\"\n"
        ));
        let (line, column, message) = one_error(&text);
        assert_eq!((line, column), (6, 10));
        assert!(
            message.contains("decodes to 18 bytes; at least 32"),
            "{message}"
        );
        assert!(!message.contains(short));
        let text = signing(
            "[[signing.keys]]\nid = \"k\"\nalg = \"hmac-sha256\"\nsecret = \"not base64!\"\n",
        );
        let (_, _, message) = one_error(&text);
        assert!(message.contains("is not valid base64"), "{message}");
        assert!(!message.contains("not base64!"));
    }

    #[test]
    fn signing_keys_are_checked_against_their_algorithm_and_the_active_key() {
        let cases = [
            (
                "[[signing.keys]]\nid = \"k\"\nalg = \"ed25519\"\n",
                "needs `private_key_file`",
            ),
            (
                &format!(
                    "[[signing.keys]]\nid = \"k\"\nalg = \"ed25519\"\nprivate_key_file = \"a\"\nsecret = \"{HMAC32}\"\n"
                ),
                "takes `private_key_file`, not `secret`",
            ),
            (
                "[[signing.keys]]\nid = \"k\"\nalg = \"hmac-sha256\"\n",
                "needs `secret`",
            ),
            (
                "[[signing.keys]]\nid = \"k\"\nalg = \"ed25519\"\nprivate_key_file = \"\"\n",
                "must not be empty",
            ),
            (
                "[[signing.keys]]\nid = \"other\"\nalg = \"ed25519\"\nprivate_key_file = \"a\"\n",
                "names no key: `k`; keys: other",
            ),
            ("", "there is no [[signing.keys]] table"),
            (
                "[[signing.keys]]\nid = \"k\"\nalg = \"rsa\"\n",
                "must be one of \"ed25519\", \"hmac-sha256\"",
            ),
        ];
        for (keys, fragment) in cases {
            let (_, _, message) = one_error(&signing(keys));
            assert!(message.contains(fragment), "{keys:?}: {message}");
        }
        let twice = "[[signing.keys]]\nid = \"k\"\nalg = \"ed25519\"\nprivate_key_file = \"a\"\n";
        let (line, _, message) = one_error(&signing(&format!("{twice}{twice}")));
        assert_eq!(line, 8);
        assert!(
            message.contains("already used by the key on line 4"),
            "{message}"
        );
    }

    #[test]
    fn listener_addresses_must_parse_and_not_collide() {
        let (_, _, message) = one_error(&format!(
            "[server]\nlisten = [\"127.0.0.1:9901\"]\n{MINIMAL}"
        ));
        assert!(
            message.contains("127.0.0.1:9901 is already a listener (line 2)"),
            "{message}"
        );
        // Port 0 is a fresh port each time (tests use it), never a collision.
        let c = ok(&format!(
            "[server]\nlisten = [\"127.0.0.1:0\"]\nadmin_listen = \"127.0.0.1:0\"\n{MINIMAL}"
        ));
        assert_eq!(c.server.listen.len(), 1);
        let (_, _, message) = one_error(&format!("[server]\nlisten = []\n{MINIMAL}"));
        assert!(message.contains("would accept no connections"), "{message}");
    }

    #[test]
    fn upstream_addresses_must_resolve() {
        let (line, column, message) =
            one_error(&format!("[upstream]\naddrs = [\"127.0.0.1\"]\n{MINIMAL}"));
        assert_eq!((line, column), (2, 10));
        assert!(
            message.contains("`127.0.0.1` is not a reachable host:port"),
            "{message}"
        );
        let (_, _, message) = one_error(&format!("[upstream]\naddrs = []\n{MINIMAL}"));
        assert!(
            message.contains("`addrs` in [upstream] is empty"),
            "{message}"
        );
    }

    #[test]
    fn secrets_never_appear_in_debug_describe_or_errors() {
        let c = ok(FULL_EXAMPLE);
        let debug = format!("{c:?}");
        let described = c.describe();
        for secret in ["super-secret-value", HMAC32, "imp_apikey"] {
            assert!(!debug.contains(secret), "Debug leaks a secret");
            assert!(!described.contains(secret), "describe leaks a secret");
        }
        assert!(
            !described.contains("imp_apikey"),
            "describe shows the API key"
        );
        assert_eq!(format!("{}", Secret::new("x")), "<redacted>");
        // A secret where a number belongs is not echoed in the type error.
        let (_, _, message) = one_error(&format!(
            "[server]\nthreads = \"${{IMP_SECRET}}\"\n{MINIMAL}"
        ));
        assert!(!message.contains("super-secret-value"), "{message}");
    }

    #[test]
    fn describe_lists_listeners_upstreams_routes_and_policies() {
        let d = ok(FULL_EXAMPLE).describe();
        for line in [
            "http://0.0.0.0:8080",
            "https://0.0.0.0:8443",
            "admin     http://127.0.0.1:9901",
            "127.0.0.1:3000, 127.0.0.1:3001",
            "https://api.iamport.kr",
            "popup  POST /certifications  imp_uid from body field imp_uid  policy adult  on_deny forward  on_failure reject",
            "teens  POST /teens  imp_uid from auto field uid  policy teen  on_deny reject  on_failure forward  single_use",
            "adult  min_age 19  max_age none  basis year  timezone Asia/Seoul  freshness 600 s",
            "teen  min_age 13  max_age 18  basis full  timezone UTC  freshness no limit",
        ] {
            assert!(d.contains(line), "missing {line:?} in:\n{d}");
        }
    }

    #[test]
    fn warnings_cover_unsigned_headers_forwarded_failures_and_missing_sni() {
        let w = ok(MINIMAL).warnings();
        assert_eq!(
            w,
            [
                "signing is off: forwarded x-verified-* headers are unsigned; an app can trust them only on a private network"
            ]
        );
        let w = ok(FULL_EXAMPLE).warnings();
        assert_eq!(w.len(), 2, "{w:#?}");
        assert!(w[0].contains("route `teens`") && w[0].contains("x-verified-verdict"));
        // teens is single_use with a policy that has no freshness window.
        assert!(w[1].contains("route `teens` is single_use") && w[1].contains("freshness window"));
        let w = ok(&format!("[upstream]\ntls = true\n{MINIMAL}")).warnings();
        assert!(
            w.iter().any(|x| x.contains("upstream.sni is empty")),
            "{w:#?}"
        );
    }

    #[test]
    fn load_names_the_file_and_the_os_error_when_unreadable() {
        let path = Path::new("/nonexistent/verigate/gateway.toml");
        let err = load(path).unwrap_err();
        assert_eq!(err.0.len(), 1);
        let e = &err.0[0];
        assert_eq!(
            (e.file.as_str(), e.line, e.column),
            (path.to_str().unwrap(), 1, 1)
        );
        assert!(
            e.message.contains("/nonexistent/verigate/gateway.toml"),
            "{}",
            e.message
        );
        assert!(
            e.to_string()
                .starts_with("/nonexistent/verigate/gateway.toml:1:1: ")
        );
    }

    #[test]
    fn load_reads_and_validates_a_file() {
        let dir = std::env::temp_dir().join(format!("verigate-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("gateway.toml");
        let text = MINIMAL.replace("[policies.adult]\n", "[policies.adult]\nmin_age = 200\n")
            + "[iamport]\nimp_key = \"k\"\nimp_secret = \"s\"\n";
        std::fs::write(&path, text).unwrap();
        let err = load(&path).unwrap_err();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(err.0.len(), 1, "{err}");
        assert_eq!(err.0[0].file, path.display().to_string());
        assert_eq!((err.0[0].line, err.0[0].column), (3, 11));
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let text = "# 연령 확인\n[policies.\"성인\"]\nminn_age = 1\n";
        assert_eq!(line_column(text, text.find('[').unwrap()), (2, 1));
        let at = text.find("\"성인\"").unwrap() + "\"성인\"".len();
        assert_eq!(line_column(text, at), (2, 15));
    }

    #[test]
    fn expand_handles_escapes_unclosed_and_invalid_references() {
        let cases: [(&str, &str, usize); 6] = [
            ("plain $ sign", "plain $ sign", 0),
            ("${PORT}", "9000", 0),
            ("$${PORT}", "${PORT}", 0),
            ("a${PORT", "a${PORT", 1),
            ("${1X}", "", 1),
            ("${}", "", 1),
        ];
        for (input, want, n_errors) in cases {
            let (out, errs) = expand(input, &env);
            assert_eq!((out.as_str(), errs.len()), (want, n_errors), "{input}");
        }
    }

    #[test]
    fn pid_file_and_upgrade_socket_default_to_the_runtime_directory_never_tmp() {
        let c = ok(MINIMAL);
        assert_eq!(c.server.pid_file, Path::new("run/verigate.pid"));
        assert_eq!(c.server.upgrade_sock, Path::new("run/upgrade.sock"));
        let systemd = |name: &str| match name {
            "RUNTIME_DIRECTORY" => Some("/run/verigate:/run/other".to_string()),
            other => env(other),
        };
        let c = parse(MINIMAL, "gateway.toml", &systemd).unwrap();
        assert_eq!(c.server.pid_file, Path::new("/run/verigate/verigate.pid"));
        assert_eq!(
            c.server.upgrade_sock,
            Path::new("/run/verigate/upgrade.sock")
        );
    }

    #[test]
    fn relative_paths_are_resolved_against_the_config_directory() {
        let text = format!(
            "[server]\naccess_log = \"logs/a.log\"\npid_file = \"/abs/v.pid\"\n\
             [server.tls]\ncert = \"tls/c.pem\"\nkey = \"tls/k.pem\"\n\
             [upstream]\nca_file = \"ca.pem\"\n\
             [signing]\nactive_key = \"e\"\n[[signing.keys]]\nid = \"e\"\nalg = \"ed25519\"\n\
             private_key_file = \"keys/e.pem\"\n{MINIMAL}"
        );
        let mut c = ok(&text);
        c.resolve_paths(Path::new("/etc/verigate"));
        let s = &c.server;
        assert_eq!(
            s.access_log,
            AccessLogTarget::File("/etc/verigate/logs/a.log".into())
        );
        assert_eq!(s.pid_file, Path::new("/abs/v.pid"));
        assert_eq!(s.upgrade_sock, Path::new("/etc/verigate/run/upgrade.sock"));
        let tls = s.tls.as_ref().unwrap();
        assert_eq!(tls.cert, Path::new("/etc/verigate/tls/c.pem"));
        assert_eq!(tls.key, Path::new("/etc/verigate/tls/k.pem"));
        assert_eq!(
            c.upstream.ca_file.as_deref(),
            Some(Path::new("/etc/verigate/ca.pem"))
        );
        let key = &c.signing.as_ref().unwrap().keys[0].material;
        assert!(
            matches!(key, KeyMaterial::PrivateKeyFile(p) if p == Path::new("/etc/verigate/keys/e.pem")),
            "{key:?}"
        );
        assert_eq!(
            config_dir(Path::new("/etc/verigate/gateway.toml")),
            Path::new("/etc/verigate")
        );
        assert!(config_dir(Path::new("gateway.toml")).is_absolute());
    }
}
