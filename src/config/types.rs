//! The validated configuration: what the rest of the gateway sees of `gateway.toml`.
//!
//! Every value here has passed the checks of [`super::check`], so no other module holds a raw
//! string that could be invalid. Rooms that own their settings (the providers, the cache) define
//! them where they live; this file holds the rest and ties them together in [`Config`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::forwarded::TrustedProxies;
use crate::identity::ForwardField;
use crate::policy::Policy;
use crate::provider::ProviderName;
use crate::provider::iamport_v1::IamportSettings;
use crate::provider::portone_v2::PortOneSettings;
use crate::resolve::CacheSettings;
use crate::route::Gate;
use crate::session::SessionSettings;
use crate::signing::{KeyMaterial, SigningSettings};
use crate::store::StoreSettings;

/// The whole validated configuration. Compared by value (`PartialEq`, which sees a changed
/// secret although `Debug` redacts it) when a reload decides what it can apply.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `[server]`: where the gateway listens.
    pub server: ServerSettings,
    /// `[upstream]`: the app behind the gateway.
    pub upstream: UpstreamSettings,
    /// `[iamport]`: the i'mport V1 API. Present when the file has the table, or when it has
    /// neither provider table (then with its defaults).
    pub iamport: Option<IamportSettings>,
    /// `[portone]`: the PortOne V2 API, when the file has the table.
    pub portone: Option<PortOneSettings>,
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
    /// `[session]` with `[session.page]`; present whenever `gates` is not empty.
    pub session: Option<SessionSettings>,
    /// `[[gates]]` in file order: names unique, prefixes apart from each other, from every
    /// route and from `/.verigate`.
    pub gates: Vec<Gate>,
    /// `[store]`: the state a fleet shares (single use, sessions, the verification cache);
    /// `None` keeps it in process.
    pub store: Option<StoreSettings>,
}

impl Config {
    /// The providers the file configures, in config order (never empty).
    pub fn providers(&self) -> Vec<ProviderName> {
        let mut names = Vec::new();
        if self.iamport.is_some() {
            names.push(ProviderName::Iamport);
        }
        if self.portone.is_some() {
            names.push(ProviderName::Portone);
        }
        names
    }
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
    /// The admin listener (README, "Admin listener"); `None` when disabled with `admin_listen = ""`.
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
    /// Peers whose `X-Forwarded-*` and `Forwarded` headers are believed (README, "Forwarding headers").
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

/// `[headers]`, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct HeaderSettings {
    /// Lower-case, e.g. `x-verified-`.
    pub prefix: String,
    /// Sorted in the order of README, "What the app receives", no duplicates.
    pub forward: Vec<ForwardField>,
}

pub use crate::route::{OnDeny, OnFailure, Route};

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
