//! What the proxy, the admin service and the reloader share: [`GatewayState`], one per process,
//! and [`Runtime`], one per configuration, swapped whole on reload.
//!
//! A request loads the current [`Runtime`] once, in its first phase, and keeps it to the end:
//! a reload never changes the routes, keys or header names under a request already under way.
//! Everything else here is fixed at start (the balancer, the resolver, `[server]`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;

use crate::access_log::AccessLog;
use crate::config::{Config, UpstreamSettings};
use crate::forwarded::TrustedProxies;
use crate::headers::HeaderNames;
use crate::metrics::{Metrics, RouteCounters};
use crate::resolve::{CacheKey, Resolver};
use crate::route::Router;
use crate::signing::{Signer, SigningError};
use crate::verify::Annotator;

/// What a request needs from the configuration, swapped whole on reload.
pub struct Runtime {
    pub config: Config,
    pub names: HeaderNames,
    router: Router,
    counters: RouteCounters,
    /// Present when `[signing]` is configured.
    signer: Option<Signer>,
}

/// Why a configuration cannot be put into service.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("the header prefix does not make valid header names")]
    HeaderName(#[from] http::header::InvalidHeaderName),
    #[error(transparent)]
    Signing(#[from] SigningError),
}

impl Runtime {
    /// Precomputes the router, the header names, the per-route counters and the signing keys
    /// of `config`.
    pub fn new(config: Config, metrics: &Metrics) -> Result<Self, RuntimeError> {
        let names = HeaderNames::new(&config.headers.prefix, &config.headers.forward)?;
        let counters = metrics.route_counters(config.routes.iter().map(|r| &*r.name));
        let signer = config
            .signing
            .as_ref()
            .map(Signer::from_settings)
            .transpose()?;
        // Gates are not configurable yet.
        let router = Router::new(config.routes.clone(), Vec::new());
        Ok(Runtime {
            config,
            names,
            router,
            counters,
            signer,
        })
    }

    /// Where requests go under this configuration.
    pub fn router(&self) -> &Router {
        &self.router
    }

    /// The per-route request counters, indexed as [`Router::routes`].
    pub fn counters(&self) -> &RouteCounters {
        &self.counters
    }

    /// What annotating a forwarded request needs: the header names and the signer.
    pub fn annotator(&self) -> Annotator<'_> {
        Annotator {
            names: &self.names,
            signer: self.signer.as_ref(),
        }
    }

    /// The published keys: every Ed25519 verification key of the configuration.
    pub fn jwks(&self) -> serde_json::Value {
        self.signer
            .as_ref()
            .map_or_else(|| serde_json::json!({ "keys": [] }), Signer::jwks)
    }
}

/// The app's addresses, balanced round-robin over the healthy ones.
pub type Upstreams = pingora::lb::LoadBalancer<pingora::lb::selection::RoundRobin>;

/// Everything the proxy and the admin service share.
pub struct GatewayState {
    runtime: ArcSwap<Runtime>,
    pub resolver: Arc<Resolver>,
    pub metrics: Arc<Metrics>,
    access_log: Option<AccessLog>,
    upstreams: Arc<Upstreams>,
    /// Fixed at start: the balancer and its health checks are built from it.
    upstream: UpstreamSettings,
    /// Fixed at start, like the rest of `[server]`.
    trusted_proxies: TrustedProxies,
    /// imp_uids that passed a `single_use` route, each kept for its freshness window.
    /// Keyed by provider and id, as the cache is: two providers' ids never collide.
    used: moka::future::Cache<CacheKey, Duration>,
    /// Set once a graceful stop or upgrade has begun: every answer then closes its connection,
    /// so clients move to the new process before pingora drops idle keep-alive connections.
    draining: AtomicBool,
    /// Requests between their first phase and the end of their logging phase.
    in_flight: Arc<AtomicUsize>,
}

impl GatewayState {
    /// State serving `runtime`, forwarding to `upstreams`.
    pub fn new(
        runtime: Runtime,
        resolver: Arc<Resolver>,
        metrics: Arc<Metrics>,
        access_log: Option<AccessLog>,
        upstreams: Arc<Upstreams>,
    ) -> Self {
        let upstream = runtime.config.upstream.clone();
        let trusted_proxies = runtime.config.server.trusted_proxies.clone();
        GatewayState {
            runtime: ArcSwap::from_pointee(runtime),
            resolver,
            metrics,
            access_log,
            upstreams,
            upstream,
            trusted_proxies,
            draining: AtomicBool::new(false),
            in_flight: Arc::default(),
            used: moka::future::Cache::builder()
                .max_capacity(USED_CAPACITY)
                .expire_after(RememberFor)
                .build(),
        }
    }

    /// Marks `key` as used by a single-use route for `remember`; `false` when it already was.
    /// Atomic: of concurrent requests for one key, exactly one gets `true`.
    pub async fn first_use(&self, key: CacheKey, remember: Duration) -> bool {
        self.used
            .entry(key)
            .or_insert_with(async { remember })
            .await
            .is_fresh()
    }

    /// Whether a graceful stop or upgrade has begun.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// From now on, answer every request with `Connection: close`.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    /// Requests under way: read, waiting on the API, the app or the client.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Counts one more request in flight until the returned guard is dropped.
    pub fn enter(&self) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(self.in_flight.clone())
    }

    /// The access log, when one is configured.
    pub fn access_log(&self) -> Option<&AccessLog> {
        self.access_log.as_ref()
    }

    /// Flushes the access log and stops its writer; lines written later are dropped.
    pub fn close_access_log(&self) {
        if let Some(log) = &self.access_log {
            log.close();
        }
    }

    /// The balancer over the app's addresses.
    pub fn upstreams(&self) -> &Upstreams {
        &self.upstreams
    }

    /// `[upstream]` as the process started with it.
    pub fn upstream(&self) -> &UpstreamSettings {
        &self.upstream
    }

    /// `server.trusted_proxies` as the process started with it.
    pub fn trusted_proxies(&self) -> &TrustedProxies {
        &self.trusted_proxies
    }

    /// The configuration requests start with now.
    pub fn runtime(&self) -> Arc<Runtime> {
        self.runtime.load_full()
    }

    /// Replaces the configuration for requests that start from now on.
    pub fn swap_runtime(&self, runtime: Runtime) {
        self.runtime.store(Arc::new(runtime));
    }
}

/// One request in [`GatewayState::in_flight`] while it lives.
pub struct InFlight(Arc<AtomicUsize>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Single-use imp_uids remembered at most (a verification costs a real person a phone
/// check, so this bound is far above any real traffic of fresh verifications).
const USED_CAPACITY: u64 = 1_000_000;

/// Each used imp_uid expires after the window it was stored with.
struct RememberFor;

impl moka::Expiry<CacheKey, Duration> for RememberFor {
    fn expire_after_create(
        &self,
        _key: &CacheKey,
        value: &Duration,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        Some(*value)
    }
}
