//! Assembling the pingora server from a validated configuration.

use std::path::PathBuf;
use std::sync::Arc;

use pingora::http::RequestHeader;
use pingora::lb::health_check::HttpHealthCheck;
use pingora::server::Server;
use pingora::server::configuration::{Opt, ServerConf};

use crate::access_log::AccessLog;
use crate::admin::Admin;
use crate::config::{Config, UpstreamSettings};
use crate::metrics::Metrics;
use crate::provider::iamport_v1::IamportV1;
use crate::provider::portone_v2::PortOneV2;
use crate::provider::{Provider, ProviderSet};
use crate::proxy::Gateway;
use crate::reload::Reloader;
use crate::resolve::Resolver;
use crate::state::{GatewayState, Runtime, Upstreams};
use crate::store::StoreSettingsError;
use crate::store::health::StoreWatch;
use crate::store::valkey::ValkeyStore;

mod checks;

pub use checks::check_private_dirs;
use checks::{check_binds, check_tls_files};

/// The upstream balancer; with `upstream.health_check`, a background service keeps it current.
fn upstreams(
    settings: &UpstreamSettings,
    server: &mut Server,
) -> Result<Arc<Upstreams>, StartError> {
    let mut lb = Upstreams::try_from_iter(settings.addrs.iter()).map_err(StartError::Upstreams)?;
    let Some(hc) = &settings.health_check else {
        return Ok(Arc::new(lb));
    };
    let host = if settings.sni.is_empty() {
        settings.addrs[0].ip().to_string()
    } else {
        settings.sni.clone()
    };
    let mut check = HttpHealthCheck::new(&host, settings.tls);
    let mut req = RequestHeader::build("GET", hc.path.as_bytes(), None)
        .map_err(|_| StartError::HealthCheckPath)?;
    req.insert_header(http::header::HOST, host.as_str())
        .map_err(|_| StartError::HealthCheckPath)?;
    req.insert_header("user-agent", "verigate-health-check")
        .map_err(|_| StartError::HealthCheckPath)?;
    check.req = req;
    check.peer_template.options.connection_timeout = Some(settings.connect_timeout);
    check.peer_template.options.read_timeout = Some(settings.connect_timeout);
    lb.set_health_check(Box::new(check));
    lb.health_check_frequency = Some(hc.interval);
    let service = pingora::services::background::background_service("upstream-health", lb);
    let lb = service.task();
    server.add_service(service);
    Ok(lb)
}

/// One client per configured API: `[iamport]` builds the V1 provider, `[portone]` the V2 one.
pub fn providers(config: &Config, metrics: &Arc<Metrics>) -> Result<ProviderSet, StartError> {
    let mut set: Vec<Arc<dyn Provider>> = Vec::new();
    if let Some(settings) = &config.iamport {
        set.push(Arc::new(IamportV1::new(settings, metrics.clone())?));
    }
    if let Some(settings) = &config.portone {
        set.push(Arc::new(PortOneV2::new(settings, metrics.clone())?));
    }
    Ok(ProviderSet::new(set))
}

/// Follows pingora's lifecycle: drains keep-alive connections as soon as a graceful stop
/// (SIGTERM) or an upgrade hand-over (SIGQUIT) begins, and ends the process as soon as the
/// requests in flight are done.
///
/// pingora itself sleeps the whole grace period after a graceful stop, busy or idle
/// (pingora-core 0.9 `server/mod.rs`, `thread::sleep(exit_timeout)`), then drops whatever is
/// still running. Here the grace period is only the upper bound: once the listeners are closed
/// and nothing is in flight, the access log is flushed and the process exits. It is a
/// background service, not a thread, so that it exists in a `--daemon` process too (pingora
/// forks after `build`, and threads do not survive a fork).
struct StopWatch {
    phases:
        std::sync::Mutex<Option<tokio::sync::broadcast::Receiver<pingora::server::ExecutionPhase>>>,
    state: Arc<GatewayState>,
}

impl StopWatch {
    /// Exits once nothing is in flight; returns when the grace period is over first (pingora
    /// then ends the process).
    async fn exit_when_idle(&self, grace: std::time::Duration) {
        let deadline = tokio::time::Instant::now() + grace;
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(10));
        while tokio::time::Instant::now() < deadline {
            tick.tick().await;
            if self.state.in_flight() == 0 {
                tracing::info!("graceful stop: nothing in flight, exiting");
                self.state.close_access_log();
                std::process::exit(0);
            }
        }
        tracing::warn!(
            "graceful stop: {} requests still in flight at the end of the grace period",
            self.state.in_flight()
        );
        self.state.close_access_log();
    }
}

#[async_trait::async_trait]
impl pingora::services::background::BackgroundService for StopWatch {
    async fn start(&self, _shutdown: pingora::server::ShutdownWatch) {
        use pingora::server::ExecutionPhase;
        use tokio::sync::broadcast::error::RecvError;
        let Some(mut phases) = self.phases.lock().ok().and_then(|mut p| p.take()) else {
            return;
        };
        let grace = self.state.runtime().config.server.grace_period;
        loop {
            match phases.recv().await {
                Ok(
                    ExecutionPhase::GracefulUpgradeTransferringFds
                    | ExecutionPhase::GracefulUpgradeCloseTimeout
                    | ExecutionPhase::GracefulTerminate
                    | ExecutionPhase::ShutdownStarted,
                ) => self.state.start_draining(),
                // Sent once the listeners are told to close, right before pingora's sleep.
                Ok(ExecutionPhase::ShutdownGracePeriod) => {
                    self.state.start_draining();
                    return self.exit_when_idle(grace).await;
                }
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return,
            }
        }
    }
}

/// Checks every provider's credentials at start, so that `/readyz` shows rejected credentials
/// before the first user does.
struct CredentialsCheck {
    state: Arc<GatewayState>,
}

#[async_trait::async_trait]
impl pingora::services::background::BackgroundService for CredentialsCheck {
    async fn start(&self, _shutdown: pingora::server::ShutdownWatch) {
        let providers = self.state.resolver.providers();
        providers.check_credentials(false, "at start").await;
    }
}

/// Why the gateway could not be assembled.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("the HTTP client for the i'mport API could not be built: {0}")]
    HttpClient(#[from] reqwest::Error),
    #[error(transparent)]
    PortOne(#[from] crate::provider::portone_v2::SetupError),
    #[error(transparent)]
    Runtime(#[from] crate::state::RuntimeError),
    #[error("[store]: {0}")]
    Store(#[from] StoreSettingsError),
    #[error("the upstream addresses cannot be balanced: {0}")]
    Upstreams(std::io::Error),
    #[error("upstream.health_check.path is not a valid request path")]
    HealthCheckPath,
    #[error("[server.tls]: {0}")]
    Tls(String),
    #[error("cannot listen on {addr} ({key}): {error}")]
    Bind {
        key: &'static str,
        addr: std::net::SocketAddr,
        error: std::io::Error,
    },
    #[error("{key}: the directory {} {why}", dir.display())]
    PrivateDir {
        key: &'static str,
        dir: PathBuf,
        why: String,
    },
}

/// Command-line switches pingora handles itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct Lifecycle {
    /// Take the listening sockets over from a running verigate (`-u/--upgrade`).
    pub upgrade: bool,
    /// Run in the background (`-d/--daemon`).
    pub daemon: bool,
}

/// Installs the process-wide TLS crypto provider (both pingora and reqwest use rustls).
pub fn install_crypto_provider() {
    // Err means one is already installed, which is what we want.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// pingora's server for `config`: threads, grace periods, pid file and upgrade socket, daemon.
fn pingora_server(config: &Config, lifecycle: &Lifecycle) -> Server {
    let grace = config.server.grace_period.as_secs();
    let conf = ServerConf {
        threads: config.server.threads,
        grace_period_seconds: Some(grace),
        graceful_shutdown_timeout_seconds: Some(grace),
        pid_file: config.server.pid_file.to_string_lossy().into_owned(),
        upgrade_sock: config.server.upgrade_sock.to_string_lossy().into_owned(),
        daemon: lifecycle.daemon,
        ca_file: config
            .upstream
            .ca_file
            .as_ref()
            .map(|p| p.to_string_lossy().into_owned()),
        ..ServerConf::default()
    };
    let opt = Opt {
        upgrade: lifecycle.upgrade,
        daemon: lifecycle.daemon,
        ..Opt::default()
    };
    let mut server = Server::new_with_opt_and_conf(opt, conf);
    server.bootstrap();
    server
}

/// Builds the pingora server with the gateway service on the configured listeners, and the
/// admin service when `server.admin_listen` is set. Requests are logged to `access_log`.
pub fn build(
    config: Config,
    lifecycle: Lifecycle,
    access_log: Option<AccessLog>,
    reload_from: Option<PathBuf>,
) -> Result<Server, StartError> {
    install_crypto_provider();
    check_private_dirs(&config.server, true)?;
    if !lifecycle.upgrade {
        // An upgrade takes the bound sockets over from the running process instead.
        check_binds(&config)?;
    }
    let mut server = pingora_server(&config, &lifecycle);

    let metrics = Arc::new(Metrics::new());
    let store = config
        .store
        .as_ref()
        .map(|s| ValkeyStore::new(s, metrics.clone()).map(Arc::new))
        .transpose()?;
    let mut resolver = Resolver::new(providers(&config, &metrics)?, &config.cache);
    if let Some(store) = &store {
        resolver = resolver.with_shared_cache(store.clone());
    }
    let resolver = Arc::new(resolver);
    let listen = config.server.listen.clone();
    let tls = config.server.tls.clone();
    let admin_listen = config.server.admin_listen;
    let upstreams = upstreams(&config.upstream, &mut server)?;
    let runtime = Runtime::new(config, &metrics)?;
    let mut state = GatewayState::new(runtime, resolver, metrics, access_log, upstreams);
    if let Some(store) = store {
        // One client serves single use and session starts as well as the shared cache.
        let watch = pingora::services::background::background_service(
            "verigate-store",
            StoreWatch::new(store.clone()),
        );
        state = state.with_used_set(store).with_store_watch(watch.task());
        server.add_service(watch);
    }
    let state = Arc::new(state);
    server.add_service(pingora::services::background::background_service(
        "verigate-lifecycle",
        StopWatch {
            phases: std::sync::Mutex::new(Some(server.watch_execution_phase())),
            state: state.clone(),
        },
    ));
    server.add_service(pingora::services::background::background_service(
        "verigate-credentials",
        CredentialsCheck {
            state: state.clone(),
        },
    ));
    if let Some(path) = reload_from {
        server.add_service(pingora::services::background::background_service(
            "verigate-reload",
            Reloader::new(path, state.clone()),
        ));
    }

    let mut proxy = pingora::proxy::http_proxy_service_with_name(
        &server.configuration,
        Gateway::new(state.clone()),
        "verigate",
    );
    for addr in &listen {
        proxy.add_tcp(&addr.to_string());
    }
    if let Some(tls) = &tls {
        check_tls_files(tls)?;
        let (cert, key) = (tls.cert.to_string_lossy(), tls.key.to_string_lossy());
        let mut settings = pingora::listeners::tls::TlsSettings::intermediate(&cert, &key)
            .map_err(|e| StartError::Tls(e.to_string()))?;
        // HTTP/2 for clients that offer it (ALPN), HTTP/1.1 for the rest.
        settings.enable_h2();
        proxy.add_tls_with_settings(&tls.listen.to_string(), None, settings);
    }
    server.add_service(proxy);

    if let Some(addr) = admin_listen {
        let mut admin = pingora::services::listening::Service::new(
            "verigate-admin".to_owned(),
            Admin::new(state),
        );
        admin.add_tcp(&addr.to_string());
        server.add_service(admin);
    }
    Ok(server)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::ProviderName;

    fn names(sections: &str, route: &str) -> Vec<ProviderName> {
        let text = format!(
            "{sections}[policies.p]\n[[routes]]\nname = \"r\"\nmethod = \"POST\"\n\
             path = \"/r\"\npolicy = \"p\"\n{route}"
        );
        let config = crate::config::parse(&text, "gateway.toml", &|_| None).unwrap();
        install_crypto_provider();
        let set = super::providers(&config, &Arc::new(Metrics::new())).unwrap();
        set.iter().map(|p| p.name()).collect()
    }

    #[test]
    fn each_configured_section_builds_its_provider() {
        let v1 = "[iamport]\nimp_key = \"k\"\nimp_secret = \"s\"\n";
        let v2 = "[portone]\napi_secret = \"secret\"\n";
        assert_eq!(names(v1, ""), [ProviderName::Iamport]);
        assert_eq!(names(v2, ""), [ProviderName::Portone]);
        assert_eq!(
            names(&format!("{v1}{v2}"), "provider = \"portone\"\n"),
            [ProviderName::Iamport, ProviderName::Portone]
        );
    }
}
