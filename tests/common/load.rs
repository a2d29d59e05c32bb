//! Waiting and load: `eventually` polls a condition with a bound (a stalled gateway fails the
//! test instead of hanging it or spinning a core), and `Load` keeps workers sending requests
//! while a test reloads, upgrades or stops the gateway, collecting every failure.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

use super::client::GatewayClient;

/// How often [`eventually`] looks again.
const POLL: Duration = Duration::from_millis(5);

/// Polls `cond` until it holds (true) or `within` has passed (false), yielding to the runtime
/// between looks, so in-process servers (sandbox, echo app) keep answering meanwhile.
pub async fn eventually(within: Duration, cond: impl AsyncFnMut() -> bool) -> bool {
    eventually_every(within, POLL, cond).await
}

/// [`eventually`] looking every `interval`, for conditions that cost more to look at (a
/// WebDriver round trip to a browser).
pub async fn eventually_every(
    within: Duration,
    interval: Duration,
    mut cond: impl AsyncFnMut() -> bool,
) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if cond().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(interval).await;
    }
}

/// Workers sending requests in a loop until [`Load::stop`]: even ones verify `uid` on
/// `/certifications`, odd ones GET `/plain`. Anything but a 200 is a failure.
pub struct Load {
    stop: Arc<AtomicBool>,
    done: Arc<AtomicUsize>,
    workers: Vec<JoinHandle<Vec<String>>>,
}

impl Load {
    pub fn start(gateway: &GatewayClient, uid: &str, workers: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicUsize::new(0));
        let workers = (0..workers)
            .map(|i| {
                let (gw, stop, done, uid) =
                    (gateway.clone(), stop.clone(), done.clone(), uid.to_owned());
                tokio::spawn(async move {
                    let mut failures = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        let result = if i % 2 == 0 {
                            gw.try_verify("/certifications", &uid).await
                        } else {
                            gw.try_get("/plain").await
                        };
                        match result {
                            Ok(r) if r.status() == 200 => {}
                            Ok(r) => failures.push(format!("status {}", r.status())),
                            Err(e) => failures.push(format!("{e:?}")),
                        }
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    failures
                })
            })
            .collect();
        Load {
            stop,
            done,
            workers,
        }
    }

    /// Requests answered (or failed) so far.
    pub fn done(&self) -> usize {
        self.done.load(Ordering::Relaxed)
    }

    /// Waits (bounded by `within`) until `more` requests past `from` are done; whether they were.
    pub async fn wait_done(&self, from: usize, more: usize, within: Duration) -> bool {
        eventually(within, async || self.done() >= from + more).await
    }

    /// Stops the workers; every failure they saw.
    pub async fn stop(self) -> Vec<String> {
        self.stop.store(true, Ordering::Relaxed);
        let mut failures = Vec::new();
        for w in self.workers {
            failures.extend(w.await.unwrap());
        }
        failures
    }
}
