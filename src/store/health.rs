//! The store in `/readyz`: a background service pings it every [`PING_EVERY`], off the request
//! path, and keeps the last answer; `/readyz` reads that answer and never waits on the store.
//!
//! While the store cannot be reached (refused, frozen, a wrong password, a TLS mismatch) the
//! gateway is not ready, with reason `store_unreachable` and the cause in `detail`. Every
//! instance of a fleet shares the store, so they all turn unready together; single-use routes
//! and sessions answer 503 meanwhile, and ordinary routes keep working from the API.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;

use super::StoreError;
use super::valkey::ValkeyStore;

/// How often the store is pinged. While its breaker is open a ping sends nothing and repeats
/// the last failure; the first ping after the open period is the breaker's probe.
pub const PING_EVERY: Duration = Duration::from_secs(1);

/// The reason `/readyz` gives while the store cannot be reached.
pub const UNREACHABLE: &str = "store_unreachable";

/// The last answer of the store to a ping.
pub struct StoreWatch {
    store: Arc<ValkeyStore>,
    /// `None` until the first ping has been answered (or has failed).
    last: Mutex<Option<Result<(), StoreError>>>,
}

impl StoreWatch {
    pub fn new(store: Arc<ValkeyStore>) -> Self {
        StoreWatch {
            store,
            last: Mutex::new(None),
        }
    }

    /// Pings once and keeps the answer.
    pub async fn check(&self) {
        let answer = self.store.health().await;
        if let Ok(mut last) = self.last.lock() {
            let was_down = matches!(*last, Some(Err(_)));
            match (&answer, was_down) {
                (Err(e), false) => tracing::warn!(error = %e, "the store cannot be reached"),
                (Ok(()), true) => tracing::info!("the store answers again"),
                _ => {}
            }
            *last = Some(answer);
        }
    }

    /// `(reason, detail)` while the gateway is not ready because of the store: still checking,
    /// or unreachable and why. `None` once the last ping was answered.
    pub fn not_ready(&self) -> Option<(&'static str, String)> {
        match self.last.lock().ok()?.as_ref() {
            None => Some(("checking the store", "the first ping is under way".into())),
            Some(Err(e)) => Some((UNREACHABLE, e.to_string())),
            Some(Ok(())) => None,
        }
    }
}

#[async_trait]
impl BackgroundService for StoreWatch {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        loop {
            self.check().await;
            tokio::select! {
                () = tokio::time::sleep(PING_EVERY) => {}
                _ = shutdown.changed() => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;
    use crate::store::scratch::ScratchServer;

    fn watch(url: &str) -> StoreWatch {
        let mut settings = crate::store::tests::settings(url, "verigate:health:");
        settings.timeout = Duration::from_millis(300);
        StoreWatch::new(Arc::new(
            ValkeyStore::new(&settings, Arc::new(Metrics::new())).unwrap(),
        ))
    }

    #[tokio::test]
    async fn readiness_follows_the_last_ping() {
        let mut server = ScratchServer::start();
        let w = watch(&server.url());
        assert_eq!(w.not_ready().map(|r| r.0), Some("checking the store"));
        w.check().await;
        assert_eq!(w.not_ready(), None);
        server.kill();
        w.check().await;
        let (reason, detail) = w.not_ready().unwrap();
        assert_eq!(reason, UNREACHABLE);
        assert!(detail.contains("could not be reached"), "{detail}");
        server.restart();
        w.check().await;
        assert_eq!(w.not_ready(), None);
    }
}
