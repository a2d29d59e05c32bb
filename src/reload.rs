//! SIGHUP: reload routes, policies, headers and signing keys without dropping a connection.
//!
//! The new file is loaded and validated off the request path; only when it is entirely valid
//! (config and keys) does it replace the running configuration, with one atomic pointer swap.
//! Requests already under way finish with the configuration they started with. A bad file is
//! refused and logged, and the old configuration keeps serving. Listeners, threads, the API
//! client, the cache and the upstream balancer are fixed at start: changing them needs a
//! restart or a zero-downtime upgrade (`run --upgrade`), and a reload that changes them says so.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use tokio::signal::unix::{SignalKind, signal};

use crate::config::{self, Config};
use crate::proxy::{GatewayState, Runtime};

/// The background service that reloads on SIGHUP.
pub struct Reloader {
    path: PathBuf,
    state: Arc<GatewayState>,
}

impl Reloader {
    /// Reloads `path` into `state` on every SIGHUP.
    pub fn new(path: PathBuf, state: Arc<GatewayState>) -> Self {
        Reloader { path, state }
    }

    /// Loads, validates and swaps in the file; `Err` says why it was refused.
    pub async fn reload(&self) -> Result<(), String> {
        let path = self.path.clone();
        // Reading the file and resolving upstream names block: keep them off the runtime.
        let loaded = tokio::task::spawn_blocking(move || config::load(&path))
            .await
            .map_err(|e| format!("the reload task failed: {e}"))?;
        let config = loaded.map_err(|e| e.to_string())?;
        let old = self.state.runtime();
        for section in fixed_changes(&old.config, &config) {
            tracing::warn!(
                "reload: [{section}] changed but is fixed at start; restart or upgrade to apply it"
            );
        }
        let runtime = Runtime::new(config, &self.state.metrics).map_err(|e| e.to_string())?;
        self.state.swap_runtime(runtime);
        Ok(())
    }
}

/// The sections that a reload cannot apply and that differ between `old` and `new`.
fn fixed_changes(old: &Config, new: &Config) -> Vec<&'static str> {
    let mut changed = Vec::new();
    if format!("{:?}", old.server) != format!("{:?}", new.server) {
        changed.push("server");
    }
    if format!("{:?}", old.upstream) != format!("{:?}", new.upstream) {
        changed.push("upstream");
    }
    if format!("{:?}", old.iamport) != format!("{:?}", new.iamport) {
        changed.push("iamport");
    }
    if format!("{:?}", old.cache) != format!("{:?}", new.cache) {
        changed.push("cache");
    }
    changed
}

#[async_trait]
impl BackgroundService for Reloader {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut hangups = match signal(SignalKind::hangup()) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("cannot listen for SIGHUP, reloads are off: {e}");
                return;
            }
        };
        loop {
            tokio::select! {
                Some(()) = hangups.recv() => match self.state.metrics.count_reload(self.reload().await) {
                    Ok(()) => tracing::info!("reload: {} applied", self.path.display()),
                    Err(e) => tracing::error!(
                        "reload: {} refused, the previous configuration keeps serving:\n{e}",
                        self.path.display()
                    ),
                },
                _ = shutdown.changed() => return,
            }
        }
    }
}
