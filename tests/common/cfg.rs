//! The typed configuration builder: every section tests write is a struct, rendered to TOML by
//! the `toml` serializer (quoting, escaping and table order are its job, not `format!`'s).
//!
//! `Cfg::standard(p)` is the stack every test starts from; a test says what it changes, e.g.
//! `Cfg::standard(p).api_timeout_ms(800).secret("wrong-secret")`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Serialize;
use verigate::sandbox::TEST_IMP_KEY;

use super::stack::Ports;

/// A `[policies.NAME]` table.
#[derive(Clone, Debug, Serialize)]
pub struct Policy {
    pub min_age: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_age: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age_basis: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
}

impl Policy {
    /// `min_age`, counted by `age_basis` (`"year"` or `"full"`).
    pub fn new(min_age: u8, age_basis: &str) -> Policy {
        Policy {
            min_age,
            max_age: None,
            age_basis: Some(age_basis.to_owned()),
            timezone: None,
        }
    }
}

/// A `[[routes]]` entry.
#[derive(Clone, Debug, Serialize)]
pub struct Route {
    pub name: String,
    pub method: String,
    pub path: String,
    /// `"iamport"` or `"portone"`; `None` leaves the default (the only provider configured).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub imp_uid_from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub imp_uid_field: Option<String>,
    pub policy: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_deny: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_failure: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub single_use: Option<bool>,
}

impl Route {
    /// `method path` checked against `policy`, every other key left to its default.
    pub fn new(name: &str, method: &str, path: &str, policy: &str) -> Route {
        Route {
            name: name.to_owned(),
            method: method.to_owned(),
            path: path.to_owned(),
            provider: None,
            imp_uid_from: None,
            imp_uid_field: None,
            policy: policy.to_owned(),
            on_deny: None,
            on_failure: None,
            single_use: None,
        }
    }

    /// The imp_uid's place: `"body"`, `"query"` or `"auto"`.
    pub fn imp_uid_from(mut self, from: &str) -> Route {
        self.imp_uid_from = Some(from.to_owned());
        self
    }

    /// The provider resolving its ids: `"iamport"` or `"portone"`.
    pub fn provider(mut self, provider: &str) -> Route {
        self.provider = Some(provider.to_owned());
        self
    }

    /// The query or body field holding the id.
    pub fn imp_uid_field(mut self, field: &str) -> Route {
        self.imp_uid_field = Some(field.to_owned());
        self
    }

    pub fn on_deny(mut self, action: &str) -> Route {
        self.on_deny = Some(action.to_owned());
        self
    }

    pub fn on_failure(mut self, action: &str) -> Route {
        self.on_failure = Some(action.to_owned());
        self
    }
}

/// The policies most tests use: `adult` (19 by year), `adult_full` (19 by full age) and
/// `working_age` (19 to 64, full age).
pub fn standard_policies() -> BTreeMap<String, Policy> {
    let working = Policy {
        max_age: Some(64),
        ..Policy::new(19, "full")
    };
    BTreeMap::from([
        ("adult".to_owned(), Policy::new(19, "year")),
        ("adult_full".to_owned(), Policy::new(19, "full")),
        ("working_age".to_owned(), working),
    ])
}

/// The routes most tests use: `popup` (POST /certifications, body, deny forwarded, failure
/// rejected), `redirect` (GET /certifications/redirect, query, deny rejected), `full` (POST
/// /full, auto, `adult_full`), `working` (POST /working, `working_age`) and `lenient` (POST
/// /lenient, failure forwarded).
pub fn standard_routes() -> Vec<Route> {
    vec![
        Route::new("popup", "POST", "/certifications", "adult")
            .imp_uid_from("body")
            .on_deny("forward")
            .on_failure("reject"),
        Route::new("redirect", "GET", "/certifications/redirect", "adult")
            .imp_uid_from("query")
            .on_deny("reject"),
        Route::new("full", "POST", "/full", "adult_full").imp_uid_from("auto"),
        Route::new("working", "POST", "/working", "working_age"),
        Route::new("lenient", "POST", "/lenient", "adult").on_failure("forward"),
    ]
}

/// PortOne V2 routes (ids from `identityVerificationId`, the provider left to its default):
/// `v2-popup` (POST /identity-verifications, body, deny forwarded, failure rejected),
/// `v2-redirect` (GET /identity-verifications/redirect, query, deny rejected), `v2-lenient`
/// (POST /v2/lenient, failure forwarded) and `v2-once` (POST /v2/once, single use).
pub fn v2_routes() -> Vec<Route> {
    vec![
        Route::new("v2-popup", "POST", "/identity-verifications", "adult")
            .imp_uid_from("body")
            .on_deny("forward")
            .on_failure("reject"),
        Route::new(
            "v2-redirect",
            "GET",
            "/identity-verifications/redirect",
            "adult",
        )
        .imp_uid_from("query")
        .on_deny("reject"),
        Route::new("v2-lenient", "POST", "/v2/lenient", "adult").on_failure("forward"),
        Route {
            single_use: Some(true),
            ..Route::new("v2-once", "POST", "/v2/once", "adult")
        },
    ]
}

/// A route whose imp_uid passes once (`/once`, policy `adult`), to add to the standard ones.
pub fn single_use_route() -> Route {
    Route {
        single_use: Some(true),
        ..Route::new("once", "POST", "/once", "adult")
    }
}

/// A whole gateway configuration. Fields are public: a test may set one directly.
#[derive(Clone, Debug, Serialize)]
pub struct Cfg {
    pub server: Server,
    pub upstream: Upstream,
    /// `None`: no `[iamport]` section (a PortOne-only gateway, [`Cfg::portone_only`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iamport: Option<Iamport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub portone: Option<Portone>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing: Option<Signing>,
    pub policies: BTreeMap<String, Policy>,
    pub routes: Vec<Route>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<Session>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub gates: Vec<Gate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store: Option<Store>,
}

/// `[store]`: the state a fleet of gateways shares.
#[derive(Clone, Debug, Serialize)]
pub struct Store {
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_prefix: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    pub secret: String,
}

impl Store {
    /// The store at `url` (`redis://` or `rediss://`), sealing with 32 bytes of 0x05, every
    /// other key left to its default.
    pub fn at(url: &str) -> Store {
        Store {
            url: url.to_owned(),
            key_prefix: None,
            timeout_ms: None,
            secret: "BQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQU=".to_owned(),
        }
    }
}

/// `[session]` with its `[session.page]`.
#[derive(Clone, Debug, Serialize)]
pub struct Session {
    pub secrets: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secure: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl_secs: Option<u64>,
    pub page: SessionPage,
}

/// `[session.page]`.
#[derive(Clone, Debug, Serialize)]
pub struct SessionPage {
    /// `None`: the only configured provider (required when both are).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sdk: Option<String>,
    /// The i'mport page's merchant code; empty (left out) on a PortOne page.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub imp_code: String,
    /// The PortOne page's `storeId`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store_id: Option<String>,
    pub sdk_url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<String>,
}

/// A `[[gates]]` entry.
#[derive(Clone, Debug, Serialize)]
pub struct Gate {
    pub name: String,
    pub prefix: String,
    pub policy: String,
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

/// `[portone]`: the PortOne V2 API.
#[derive(Clone, Debug, Serialize)]
pub struct Portone {
    pub base_url: String,
    pub api_secret: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Signing {
    pub active_key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature_ttl_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwt: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    pub keys: Vec<SigningKey>,
}

#[derive(Clone, Debug, Serialize)]
pub struct SigningKey {
    pub id: String,
    pub alg: String,
    pub private_key_file: PathBuf,
}

impl Signing {
    /// Ed25519 keys `ids`, each in `{dir}/{id}.pem` (relative to the file when `dir` is
    /// empty), with `active` signing; every other key left to its default.
    pub fn keys(dir: &Path, ids: &[&str], active: &str) -> Signing {
        Signing {
            active_key: active.to_owned(),
            signature_ttl_secs: None,
            jwt: None,
            issuer: None,
            audience: None,
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

    /// [`Signing::keys`] with a 60 s signature lifetime and a JWT for issuer `verigate`,
    /// audience `legacy-app`.
    pub fn ed25519(dir: &Path, ids: &[&str], active: &str) -> Signing {
        Signing {
            signature_ttl_secs: Some(60),
            jwt: Some(true),
            issuer: Some("verigate".to_owned()),
            audience: Some("legacy-app".to_owned()),
            ..Signing::keys(dir, ids, active)
        }
    }
}

impl Cfg {
    /// The standard stack: the gateway on `p`'s ports in front of the echo app, the sandbox as
    /// the API (secret from `${TEST_IMP_SECRET}`, 1 s budget), [`standard_policies`] and
    /// [`standard_routes`].
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
            iamport: Some(Iamport {
                base_url: format!("http://{}", p.sandbox),
                imp_key: TEST_IMP_KEY.to_owned(),
                imp_secret: "${TEST_IMP_SECRET}".to_owned(),
                timeout_ms: Some(1000),
            }),
            portone: None,
            signing: None,
            policies: standard_policies(),
            routes: standard_routes(),
            session: None,
            gates: Vec::new(),
            store: None,
        }
    }

    /// A PortOne-only gateway: no `[iamport]`, `[portone]` on the sandbox (secret from
    /// `${TEST_PORTONE_SECRET}`, 1 s budget) and only [`v2_routes`].
    pub fn portone_only(p: &Ports) -> Cfg {
        Cfg {
            iamport: None,
            routes: v2_routes(),
            ..Cfg::standard(p).with_portone(p)
        }
    }

    /// Both providers: `[portone]` on the sandbox beside `[iamport]`, every route so far
    /// naming `iamport`, then [`v2_routes`] naming `portone`.
    pub fn both_providers(p: &Ports) -> Cfg {
        let mut cfg = Cfg::standard(p).with_portone(p);
        for r in &mut cfg.routes {
            r.provider = Some("iamport".to_owned());
        }
        cfg.routes
            .extend(v2_routes().into_iter().map(|r| r.provider("portone")));
        cfg
    }

    /// `[portone]` on the sandbox (secret from `${TEST_PORTONE_SECRET}`, 1 s budget), routes
    /// untouched.
    pub fn with_portone(mut self, p: &Ports) -> Cfg {
        self.portone = Some(Portone {
            base_url: format!("http://{}", p.sandbox),
            api_secret: "${TEST_PORTONE_SECRET}".to_owned(),
            store_id: None,
            timeout_ms: Some(1000),
        });
        self
    }

    fn iamport_mut(&mut self) -> &mut Iamport {
        self.iamport
            .as_mut()
            .expect("the configuration has [iamport]")
    }

    fn portone_mut(&mut self) -> &mut Portone {
        self.portone
            .as_mut()
            .expect("the configuration has [portone]")
    }

    /// The whole budget for resolving one imp_uid (`iamport.timeout_ms`).
    pub fn api_timeout_ms(mut self, ms: u64) -> Cfg {
        self.iamport_mut().timeout_ms = Some(ms);
        self
    }

    /// `iamport.imp_secret` written in the file (instead of `${TEST_IMP_SECRET}`).
    pub fn secret(mut self, secret: &str) -> Cfg {
        self.iamport_mut().imp_secret = secret.to_owned();
        self
    }

    /// The i'mport API at `addr` instead of the sandbox.
    pub fn api_at(mut self, addr: SocketAddr) -> Cfg {
        self.iamport_mut().base_url = format!("http://{addr}");
        self
    }

    /// `portone.timeout_ms`.
    pub fn portone_timeout_ms(mut self, ms: u64) -> Cfg {
        self.portone_mut().timeout_ms = Some(ms);
        self
    }

    /// `portone.api_secret` written in the file (instead of `${TEST_PORTONE_SECRET}`).
    pub fn portone_secret(mut self, secret: &str) -> Cfg {
        self.portone_mut().api_secret = secret.to_owned();
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
    pub fn tls_listener(self, p: &Ports, dir: &Path) -> Cfg {
        self.tls_at(
            &p.tls_addr().to_string(),
            &dir.join("edge.pem"),
            &dir.join("edge.key"),
        )
    }

    /// An HTTPS listener on `listen` with certificate `cert` and key `key`.
    pub fn tls_at(mut self, listen: &str, cert: &Path, key: &Path) -> Cfg {
        self.server.tls = Some(ServerTls {
            listen: listen.to_owned(),
            cert: cert.to_owned(),
            key: key.to_owned(),
        });
        self
    }

    /// The plain listener (`server.listen`) on `addr` alone.
    pub fn listen(mut self, addr: &str) -> Cfg {
        self.server.listen = vec![addr.to_owned()];
        self
    }

    /// `server.admin_listen`.
    pub fn admin_listen(mut self, addr: &str) -> Cfg {
        self.server.admin_listen = addr.to_owned();
        self
    }

    /// `server.access_log` (a path, relative to the file, or `"-"`).
    pub fn access_log(mut self, path: &str) -> Cfg {
        self.server.access_log = Some(path.to_owned());
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

    /// `[store]`: state shared with every gateway on the same store.
    pub fn store(mut self, store: Store) -> Cfg {
        self.store = Some(store);
        self
    }

    /// One more route, after the others.
    pub fn route(mut self, route: Route) -> Cfg {
        self.routes.push(route);
        self
    }

    /// Policy `name`, to change it (it must exist).
    pub fn policy_mut(&mut self, name: &str) -> &mut Policy {
        self.policies
            .get_mut(name)
            .unwrap_or_else(|| panic!("no policy {name}"))
    }

    /// The same file with every route of policy `adult` naming `missing`, which no table
    /// defines: a file `check` and reloads refuse.
    pub fn broken(mut self) -> Cfg {
        for r in self.routes.iter_mut().filter(|r| r.policy == "adult") {
            r.policy = "missing".to_owned();
        }
        self
    }

    /// The configuration file's text.
    pub fn render(&self) -> String {
        toml::to_string(self).expect("the configuration renders as TOML")
    }
}
