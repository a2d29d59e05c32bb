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
use crate::resolve::Resolver;
use crate::route::Router;
use crate::seal::SealError;
use crate::session::cookie::CookieError;
use crate::session::{Origin, PageSettings, SessionCookies};
use crate::signing::{Signer, SigningError};
use crate::store::health::StoreWatch;
use crate::store::memory::MemoryUsedSet;
use crate::store::{StoreError, UseKey, UsedSet};
use crate::verify::Annotator;

/// What `[session]` puts into service: the cookies (sealed by its secrets), the page, and the
/// checks the callback makes.
pub struct Sessions {
    pub cookies: SessionCookies,
    pub page: PageSettings,
    /// A verification older than this cannot start a session.
    pub max_certification_age: Option<Duration>,
    /// `session.public_url`, when set.
    pub public_url: Option<Origin>,
}

/// What a request needs from the configuration, swapped whole on reload.
pub struct Runtime {
    pub config: Config,
    pub names: HeaderNames,
    router: Router,
    counters: RouteCounters,
    /// Present when `[signing]` is configured.
    signer: Option<Signer>,
    /// Present when `[session]` is configured.
    sessions: Option<Sessions>,
}

/// Why a configuration cannot be put into service.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("the header prefix does not make valid header names")]
    HeaderName(#[from] http::header::InvalidHeaderName),
    #[error(transparent)]
    Signing(#[from] SigningError),
    #[error("the session secrets do not make keys: {0}")]
    SessionKeys(#[from] SealError),
    #[error("the session cookie cannot be built: {0}")]
    SessionCookie(#[from] CookieError),
    #[error("session.public_url is not an origin")]
    PublicUrl,
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
        let sessions = config.session.as_ref().map(sessions).transpose()?;
        let router = Router::new(config.routes.clone(), config.gates.clone());
        Ok(Runtime {
            config,
            names,
            router,
            counters,
            signer,
            sessions,
        })
    }

    /// The session machinery, when `[session]` is configured.
    pub fn sessions(&self) -> Option<&Sessions> {
        self.sessions.as_ref()
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

/// Builds the cookies and the page of `[session]`.
fn sessions(s: &crate::session::SessionSettings) -> Result<Sessions, RuntimeError> {
    let public_url = s
        .public_url
        .as_deref()
        .map(|u| Origin::parse_public_url(u).map_err(|_| RuntimeError::PublicUrl))
        .transpose()?;
    Ok(Sessions {
        cookies: SessionCookies::new(&s.cookie, s.sealer()?)?,
        page: s.page.clone(),
        max_certification_age: s.max_certification_age,
        public_url,
    })
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
    /// Ids that passed a `single_use` route or started a session, each kept for its freshness
    /// window. Keyed by provider and id: two providers' ids never collide.
    used: Arc<dyn UsedSet>,
    /// The store's last answer to a ping, with `[store]`: part of `/readyz`.
    store: Option<Arc<StoreWatch>>,
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
            used: Arc::new(MemoryUsedSet::default()),
            store: None,
        }
    }

    /// The same state marking single uses in `used` (a fleet's store) instead of in process.
    pub fn with_used_set(mut self, used: Arc<dyn UsedSet>) -> Self {
        self.used = used;
        self
    }

    /// The same state reporting the store's health (`[store]`) in `/readyz`.
    pub fn with_store_watch(mut self, watch: Arc<StoreWatch>) -> Self {
        self.store = Some(watch);
        self
    }

    /// Why the gateway is not ready: `(reason, detail)`. A provider's credentials come first
    /// (still being checked, or rejected), then the store (still being checked, or
    /// `store_unreachable`). `None` when ready.
    pub fn not_ready(&self) -> Option<(String, Option<String>)> {
        if let Some(reason) = self.resolver.providers().not_ready() {
            return Some((reason, None));
        }
        let (reason, detail) = self.store.as_ref()?.not_ready()?;
        Some((reason.to_string(), Some(detail)))
    }

    /// Marks `key` as used for `remember`; `Ok(false)` when it already was. Atomic: of
    /// concurrent requests for one key, exactly one gets `true`. An error: first use cannot be
    /// proven (503).
    pub async fn first_use(&self, key: &UseKey, remember: Duration) -> Result<bool, StoreError> {
        self.used.first_use(key, remember).await
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
