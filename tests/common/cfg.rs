//! The typed configuration builder: the sections tests change are structs, rendered to TOML by
//! the `toml` serializer (quoting, escaping and table order are its job, not `format!`'s); the
//! policies and routes, which tests read as a table, stay TOML text appended after them.
//!
//! `Cfg::standard(p)` is the stack every test starts from; a test says what it changes, e.g.
//! `Cfg::standard(p).api_timeout_ms(800).secret("wrong-secret")`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Serialize;
use verigate::sandbox::TEST_IMP_KEY;

use super::stack::Ports;

/// The policies and routes most tests use.
pub const ROUTES: &str = r#"
[policies.adult]
min_age = 19
age_basis = "year"

[policies.adult_full]
min_age = 19
age_basis = "full"

[policies.working_age]
min_age = 19
max_age = 64
age_basis = "full"

[[routes]]
name = "popup"
method = "POST"
path = "/certifications"
imp_uid_from = "body"
policy = "adult"
on_deny = "forward"
on_failure = "reject"

[[routes]]
name = "redirect"
method = "GET"
path = "/certifications/redirect"
imp_uid_from = "query"
policy = "adult"
on_deny = "reject"

[[routes]]
name = "full"
method = "POST"
path = "/full"
imp_uid_from = "auto"
policy = "adult_full"

[[routes]]
name = "working"
method = "POST"
path = "/working"
policy = "working_age"

[[routes]]
name = "lenient"
method = "POST"
path = "/lenient"
policy = "adult"
on_failure = "forward"
"#;

/// A route whose imp_uid passes once (`/once`, policy `adult`), to append to [`ROUTES`].
pub const SINGLE_USE_ROUTE: &str = r#"
[[routes]]
name = "once"
method = "POST"
path = "/once"
policy = "adult"
single_use = true
"#;

/// A whole gateway configuration. Fields are public: a test may set one directly.
#[derive(Clone, Debug, Serialize)]
pub struct Cfg {
    pub server: Server,
    pub upstream: Upstream,
    pub iamport: Iamport,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing: Option<Signing>,
    /// Policies, routes and any other section, as TOML text after the typed sections.
    #[serde(skip)]
    pub tables: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Server {
    pub listen: Vec<String>,
    pub admin_listen: String,
    /// `None` leaves the default (a private `run/` beside the config file).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upgrade_sock: Option<PathBuf>,
    pub threads: u32,
    pub max_body_bytes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grace_period_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trusted_proxies: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_log: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<ServerTls>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ServerTls {
    pub listen: String,
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Clone, Debug, Serialize)]
pub struct Upstream {
    pub addrs: Vec<String>,
    pub connect_timeout_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sni: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheck>,
}

#[derive(Clone, Debug, Serialize)]
pub struct HealthCheck {
    pub path: String,
    pub interval_secs: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Iamport {
    pub base_url: String,
    pub imp_key: String,
    pub imp_secret: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Signing {
    pub active_key: String,
    pub signature_ttl_secs: u64,
    pub jwt: bool,
    pub issuer: String,
    pub audience: String,
    pub keys: Vec<SigningKey>,
}

#[derive(Clone, Debug, Serialize)]
pub struct SigningKey {
    pub id: String,
    pub alg: String,
    pub private_key_file: PathBuf,
}

impl Signing {
    /// Ed25519 keys `ids`, each in `{dir}/{id}.pem`, with `active` signing; a 60 s signature
    /// lifetime and a JWT for issuer `verigate`, audience `legacy-app`.
    pub fn ed25519(dir: &Path, ids: &[&str], active: &str) -> Signing {
        Signing {
            active_key: active.to_owned(),
            signature_ttl_secs: 60,
            jwt: true,
            issuer: "verigate".to_owned(),
            audience: "legacy-app".to_owned(),
            keys: ids
                .iter()
                .map(|id| SigningKey {
                    id: (*id).to_owned(),
                    alg: "ed25519".to_owned(),
                    private_key_file: dir.join(format!("{id}.pem")),
                })
                .collect(),
        }
    }
}

impl Cfg {
    /// The standard stack: the gateway on `p`'s ports in front of the echo app, the sandbox as
    /// the API (secret from `${TEST_IMP_SECRET}`, 1 s budget), [`ROUTES`].
    pub fn standard(p: &Ports) -> Cfg {
        Cfg {
            server: Server {
                listen: vec![format!("127.0.0.1:{}", p.gateway)],
                admin_listen: format!("127.0.0.1:{}", p.admin),
                pid_file: Some(p.dir.join("verigate.pid")),
                upgrade_sock: Some(p.dir.join("upgrade.sock")),
                threads: 2,
                max_body_bytes: 65536,
                grace_period_secs: None,
                trusted_proxies: None,
                access_log: None,
                tls: None,
            },
            upstream: Upstream {
                addrs: vec![p.echo.to_string()],
                connect_timeout_ms: 500,
                tls: None,
                sni: None,
                ca_file: None,
                health_check: None,
            },
            iamport: Iamport {
                base_url: format!("http://{}", p.sandbox),
                imp_key: TEST_IMP_KEY.to_owned(),
                imp_secret: "${TEST_IMP_SECRET}".to_owned(),
                timeout_ms: Some(1000),
            },
            signing: None,
            tables: ROUTES.to_owned(),
        }
    }

    /// The whole budget for resolving one imp_uid (`iamport.timeout_ms`).
    pub fn api_timeout_ms(mut self, ms: u64) -> Cfg {
        self.iamport.timeout_ms = Some(ms);
        self
    }

    /// `iamport.imp_secret` written in the file (instead of `${TEST_IMP_SECRET}`).
    pub fn secret(mut self, secret: &str) -> Cfg {
        self.iamport.imp_secret = secret.to_owned();
        self
    }

    /// The i'mport API at `addr` instead of the sandbox.
    pub fn api_at(mut self, addr: SocketAddr) -> Cfg {
        self.iamport.base_url = format!("http://{addr}");
        self
    }

    /// The app's addresses (`upstream.addrs`), balanced round-robin.
    pub fn upstreams(mut self, addrs: &[SocketAddr]) -> Cfg {
        self.upstream.addrs = addrs.iter().map(ToString::to_string).collect();
        self
    }

    /// TLS to the app at `addr` (SNI `localhost`), trusting `ca` or else the system roots.
    pub fn upstream_tls(mut self, addr: SocketAddr, ca: Option<&Path>) -> Cfg {
        self.upstream.addrs = vec![addr.to_string()];
        self.upstream.tls = Some(true);
        self.upstream.sni = Some("localhost".to_owned());
        self.upstream.ca_file = ca.map(Path::to_owned);
        self
    }

    /// Active health checks of the app (`[upstream.health_check]`).
    pub fn health_check(mut self, path: &str, interval_secs: u64) -> Cfg {
        self.upstream.health_check = Some(HealthCheck {
            path: path.to_owned(),
            interval_secs,
        });
        self
    }

    /// `server.grace_period_secs`.
    pub fn grace_secs(mut self, secs: u64) -> Cfg {
        self.server.grace_period_secs = Some(secs);
        self
    }

    /// `server.trusted_proxies`.
    pub fn trusted_proxies(mut self, peers: &[&str]) -> Cfg {
        self.server.trusted_proxies = Some(peers.iter().map(|p| (*p).to_owned()).collect());
        self
    }

    /// An HTTPS listener on `p.tls` with `edge.pem` / `edge.key` from `dir`.
    pub fn tls_listener(mut self, p: &Ports, dir: &Path) -> Cfg {
        self.server.tls = Some(ServerTls {
            listen: p.tls_addr().to_string(),
            cert: dir.join("edge.pem"),
            key: dir.join("edge.key"),
        });
        self
    }

    /// No `pid_file` / `upgrade_sock`: the defaults (a private `run/` beside the file) apply.
    pub fn default_runtime_paths(mut self) -> Cfg {
        self.server.pid_file = None;
        self.server.upgrade_sock = None;
        self
    }

    /// `[signing]`.
    pub fn signing(mut self, signing: Signing) -> Cfg {
        self.signing = Some(signing);
        self
    }

    /// Appends TOML `text` (routes, policies, `[cache]`, …) after the tables already there.
    pub fn with_tables(mut self, text: &str) -> Cfg {
        self.tables.push_str(text);
        self
    }

    /// The configuration file's text.
    pub fn render(&self) -> String {
        let typed = toml::to_string(self).expect("the typed sections render as TOML");
        format!("{typed}\n{}", self.tables)
    }
}
