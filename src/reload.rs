//! SIGHUP: reload routes, policies, headers and signing keys without dropping a connection.
//!
//! The new file is loaded and validated off the request path; only when it is entirely valid
//! (config and keys) does it replace the running configuration, with one atomic pointer swap.
//! Requests already under way finish with the configuration they started with. A bad file is
//! refused and logged, and the old configuration keeps serving. Listeners, threads, the API
//! client, the cache, the upstream balancer and the store are fixed at start: changing them
//! needs a restart or a zero-downtime upgrade (`run --upgrade`), and a reload that changes them
//! says so.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use tokio::signal::unix::{SignalKind, signal};

use crate::config::{self, Config};
use crate::state::{GatewayState, Runtime};

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
        let fixed = fixed_changes(&old.config, &config);
        if !fixed.is_empty() {
            tracing::warn!(
                "reload: {} changed but {} fixed at start: restart or upgrade (run --upgrade) \
                 to apply; the rest of the file is applied",
                fixed.join(", "),
                if fixed.len() == 1 { "is" } else { "are" }
            );
        }
        let runtime = Runtime::new(config, &self.state.metrics).map_err(|e| e.to_string())?;
        self.state.swap_runtime(runtime);
        // Ask again (off the reload), so that `/readyz` shows a key revoked since.
        let state = self.state.clone();
        tokio::spawn(async move {
            let providers = state.resolver.providers();
            providers.check_credentials(true, "after reload").await;
        });
        Ok(())
    }
}

/// The keys that a reload cannot apply and that differ between `old` and `new`, by their
/// names in the file. Compared by value (`PartialEq`), never by `Debug` text, which redacts
/// the API key and secret.
pub fn fixed_changes(old: &Config, new: &Config) -> Vec<&'static str> {
    let mut changed = Vec::new();
    macro_rules! compare {
        ($old:expr, $new:expr; $($field:ident => $key:literal),* $(,)?) => {{
            $(if $old.$field != $new.$field {
                changed.push($key);
            })*
        }};
    }
    compare!(old.server, new.server;
        listen => "server.listen",
        tls => "server.tls",
        threads => "server.threads",
        admin_listen => "server.admin_listen",
        grace_period => "server.grace_period_secs",
        pid_file => "server.pid_file",
        upgrade_sock => "server.upgrade_sock",
        access_log => "server.access_log",
    );
    compare!(old.upstream, new.upstream;
        addrs => "upstream.addrs",
        tls => "upstream.tls",
        sni => "upstream.sni",
        connect_timeout => "upstream.connect_timeout_ms",
        read_timeout => "upstream.read_timeout_ms",
        health_check => "upstream.health_check",
        ca_file => "upstream.ca_file",
    );
    // The API clients are built at start: a provider added or removed needs a restart too.
    match (&old.iamport, &new.iamport) {
        (Some(o), Some(n)) => compare!(o, n;
            base_url => "iamport.base_url",
            imp_key => "iamport.imp_key",
            imp_secret => "iamport.imp_secret",
            timeout => "iamport.timeout_ms",
            tier => "iamport.tier",
        ),
        (None, None) => {}
        _ => changed.push("iamport"),
    }
    match (&old.portone, &new.portone) {
        (Some(o), Some(n)) => compare!(o, n;
            base_url => "portone.base_url",
            api_secret => "portone.api_secret",
            store_id => "portone.store_id",
            timeout => "portone.timeout_ms",
        ),
        (None, None) => {}
        _ => changed.push("portone"),
    }
    compare!(old.cache, new.cache;
        capacity => "cache.capacity",
        ttl => "cache.ttl_secs",
        negative_ttl => "cache.negative_ttl_secs",
    );
    // One store client per process, built at start: a store added, removed or moved needs a
    // restart (a rebuilt client would split single use between two stores mid-flight).
    match (&old.store, &new.store) {
        (Some(o), Some(n)) => compare!(o, n;
            url => "store.url",
            key_prefix => "store.key_prefix",
            timeout => "store.timeout_ms",
            secret => "store.secret",
        ),
        (None, None) => {}
        _ => changed.push("store"),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    const FILE: &str = r#"
[iamport]
imp_key = "k"
imp_secret = "s"

[policies.adult]

[[routes]]
name = "popup"
method = "POST"
path = "/certifications"
policy = "adult"
"#;

    fn config() -> Config {
        config::parse(FILE, "gateway.toml", &|_| None).unwrap()
    }

    #[test]
    fn a_changed_secret_is_seen_although_its_debug_text_is_redacted() {
        let (old, mut new) = (config(), config());
        assert!(fixed_changes(&old, &new).is_empty());
        let iamport = new.iamport.as_mut().unwrap();
        iamport.imp_secret = Secret::new("another");
        assert_eq!(format!("{:?}", old.iamport), format!("{:?}", new.iamport));
        assert_eq!(fixed_changes(&old, &new), ["iamport.imp_secret"]);
        new.iamport.as_mut().unwrap().imp_key = "another".into();
        new.server.threads += 1;
        new.cache.capacity += 1;
        assert_eq!(
            fixed_changes(&old, &new),
            [
                "server.threads",
                "iamport.imp_key",
                "iamport.imp_secret",
                "cache.capacity"
            ]
        );
    }

    #[test]
    fn a_provider_added_removed_or_changed_is_fixed_at_start() {
        let old = config();
        let both = config::parse(
            &format!(
                "[portone]\napi_secret = \"p\"\n{}provider = \"iamport\"\n",
                FILE
            ),
            "gateway.toml",
            &|_| None,
        )
        .unwrap();
        assert_eq!(fixed_changes(&old, &both), ["portone"]);
        assert_eq!(fixed_changes(&both, &old), ["portone"]);
        let mut rotated = both.clone();
        rotated.portone.as_mut().unwrap().api_secret = Secret::new("q");
        assert_eq!(fixed_changes(&both, &rotated), ["portone.api_secret"]);
        let mut v2_only = both.clone();
        v2_only.iamport = None;
        assert_eq!(fixed_changes(&both, &v2_only), ["iamport"]);
    }

    #[test]
    fn a_store_added_removed_or_changed_is_fixed_at_start() {
        let old = config();
        let table = "[store]\nurl = \"redis://127.0.0.1:6379/0\"\n\
                     secret = \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"\n";
        let with = config::parse(&format!("{table}{FILE}"), "gateway.toml", &|_| None).unwrap();
        assert_eq!(fixed_changes(&old, &with), ["store"]);
        assert_eq!(fixed_changes(&with, &old), ["store"]);
        let mut moved = with.clone();
        let s = moved.store.as_mut().unwrap();
        s.url = Secret::new("redis://:pw@127.0.0.1:6380/0");
        s.timeout = std::time::Duration::from_millis(50);
        assert_eq!(
            fixed_changes(&with, &moved),
            ["store.url", "store.timeout_ms"]
        );
    }

    #[test]
    fn settings_applied_live_are_not_reported() {
        let (old, mut new) = (config(), config());
        new.server.max_body_bytes = 1024;
        new.headers.prefix = "x-other-".into();
        assert!(fixed_changes(&old, &new).is_empty());
    }
}
