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
use crate::provider::{Provider, ProviderSet};
use crate::proxy::{Gateway, GatewayState, Runtime, Upstreams};
use crate::reload::Reloader;
use crate::resolve::Resolver;

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

/// Watches pingora's lifecycle and starts draining keep-alive connections as soon as a
/// graceful stop (SIGTERM) or an upgrade hand-over (SIGQUIT) begins.
fn drain_on_shutdown(server: &Server, state: Arc<GatewayState>) {
    use pingora::server::ExecutionPhase;
    use tokio::sync::broadcast::error::RecvError;
    let mut phases = server.watch_execution_phase();
    let spawned = std::thread::Builder::new()
        .name("verigate-drain".into())
        .spawn(move || {
            loop {
                match phases.blocking_recv() {
                    Ok(
                        ExecutionPhase::GracefulUpgradeTransferringFds
                        | ExecutionPhase::GracefulUpgradeCloseTimeout
                        | ExecutionPhase::GracefulTerminate
                        | ExecutionPhase::ShutdownStarted,
                    ) => {
                        state.start_draining();
                        return;
                    }
                    Ok(_) | Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => return,
                }
            }
        });
    if let Err(e) = spawned {
        tracing::warn!("cannot watch for shutdown, keep-alive connections will not drain: {e}");
    }
}

/// Refuses to start with a certificate or key that pingora would only reject later, at the
/// first handshake, with a panic.
fn check_tls_files(tls: &crate::config::TlsSettings) -> Result<(), StartError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(&tls.cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| StartError::Tls(format!("cert {}: {e}", tls.cert.display())))?;
    if certs.is_empty() {
        return Err(StartError::Tls(format!(
            "cert {} holds no PEM certificate",
            tls.cert.display()
        )));
    }
    PrivateKeyDer::from_pem_file(&tls.key)
        .map_err(|e| StartError::Tls(format!("key {}: {e}", tls.key.display())))?;
    Ok(())
}

/// Why the gateway could not be assembled.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("the HTTP client for the i'mport API could not be built: {0}")]
    HttpClient(#[from] reqwest::Error),
    #[error(transparent)]
    Runtime(#[from] crate::proxy::RuntimeError),
    #[error("the upstream addresses cannot be balanced: {0}")]
    Upstreams(std::io::Error),
    #[error("upstream.health_check.path is not a valid request path")]
    HealthCheckPath,
    #[error("[server.tls]: {0}")]
    Tls(String),
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

/// Builds the pingora server with the gateway service on the configured listeners, and the
/// admin service when `server.admin_listen` is set. Requests are logged to `access_log`.
pub fn build(
    config: Config,
    lifecycle: Lifecycle,
    access_log: Option<AccessLog>,
    reload_from: Option<PathBuf>,
) -> Result<Server, StartError> {
    install_crypto_provider();
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

    let metrics = Arc::new(Metrics::new());
    let v1: Arc<dyn Provider> = Arc::new(IamportV1::new(&config.iamport, metrics.clone())?);
    let resolver = Arc::new(Resolver::new(ProviderSet::new([v1]), &config.cache));
    let listen = config.server.listen.clone();
    let tls = config.server.tls.clone();
    let admin_listen = config.server.admin_listen;
    let upstreams = upstreams(&config.upstream, &mut server)?;
    let runtime = Runtime::new(config, &metrics)?;
    let state = Arc::new(GatewayState::new(
        runtime, resolver, metrics, access_log, upstreams,
    ));
    drain_on_shutdown(&server, state.clone());
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
