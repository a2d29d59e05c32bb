//! The pingora proxy: verigate's request path, one `ProxyHttp` phase at a time.
//!
//! `request_filter` strips the verified namespace from every request, fixes the request id, and
//! for an intercepted route runs extract → resolve → judge → annotate, either answering the
//! client itself (a [`GatewayError`]) or leaving the identity headers in the context for
//! `upstream_request_filter` to add. The body of an intercepted request is read whole (it is at
//! most 64 KiB) with pingora's retry buffer enabled, so pingora replays the exact bytes upstream.

use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use http::{HeaderName, HeaderValue};
use jiff::Timestamp;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::*;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::{ErrorSource, ErrorType};

use crate::access_log::{AccessLog, AccessRecord};
use crate::config::{Config, OnDeny, OnFailure, Route, UpstreamSettings};
use crate::error::{GatewayError, RETRY_AFTER_SECS, prefers_html};
use crate::extract;
use crate::forwarded::{self, Hop, TrustedProxies};
use crate::headers::{self, Annotation, HeaderList, HeaderNames};
use crate::imp_uid::ImpUid;
use crate::metrics::{Metrics, RequestOutcome, RouteCounters};
use crate::policy::{FailureReason, Judgement, Verdict};
use crate::provider::ProviderName;
use crate::resolve::{CacheKey, CacheStatus, Resolved, Resolver};
use crate::signing::{AssertionClaims, SignInput, Signer, SigningError};

/// What a request needs from the configuration, swapped whole on reload.
pub struct Runtime {
    pub config: Config,
    pub names: HeaderNames,
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
    /// Precomputes the header names, the per-route counters and the signing keys of `config`.
    pub fn new(config: Config, metrics: &Metrics) -> Result<Self, RuntimeError> {
        let names = HeaderNames::new(&config.headers.prefix, &config.headers.forward)?;
        let counters = metrics.route_counters(config.routes.iter().map(|r| &*r.name));
        let signer = config
            .signing
            .as_ref()
            .map(Signer::from_settings)
            .transpose()?;
        Ok(Runtime {
            config,
            names,
            counters,
            signer,
        })
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
    used: moka::future::Cache<CacheKey, std::time::Duration>,
    /// Set once a graceful stop or upgrade has begun: every answer then closes its connection,
    /// so clients move to the new process before pingora drops idle keep-alive connections.
    draining: std::sync::atomic::AtomicBool,
    /// Requests between their first phase and the end of their logging phase.
    in_flight: Arc<std::sync::atomic::AtomicUsize>,
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
            draining: std::sync::atomic::AtomicBool::new(false),
            in_flight: Arc::default(),
            used: moka::future::Cache::builder()
                .max_capacity(USED_CAPACITY)
                .expire_after(RememberFor)
                .build(),
        }
    }

    /// Marks `uid` as used by a single-use route; `false` when it already was. Atomic: of
    /// concurrent requests for one imp_uid, exactly one gets `true`.
    async fn first_use(
        &self,
        provider: ProviderName,
        uid: &ImpUid,
        remember: std::time::Duration,
    ) -> bool {
        self.used
            .entry((provider, uid.clone()))
            .or_insert_with(async { remember })
            .await
            .is_fresh()
    }

    /// Whether a graceful stop or upgrade has begun.
    pub fn is_draining(&self) -> bool {
        self.draining.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// From now on, answer every request with `Connection: close`.
    pub fn start_draining(&self) {
        self.draining
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Requests under way: read, waiting on the API, the app or the client.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Flushes the access log and stops its writer; lines written later are dropped.
    pub fn close_access_log(&self) {
        if let Some(log) = &self.access_log {
            log.close();
        }
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

/// Single-use imp_uids remembered at most (a verification costs a real person a phone
/// check, so this bound is far above any real traffic of fresh verifications).
const USED_CAPACITY: u64 = 1_000_000;

/// How long a used imp_uid is remembered when its policy has no freshness window: a replay
/// older than this would pass again (`verigate check` warns about such routes).
pub const UNBOUNDED_REPLAY_MEMORY: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// Each used imp_uid expires after the window it was stored with.
struct RememberFor;

impl moka::Expiry<CacheKey, std::time::Duration> for RememberFor {
    fn expire_after_create(
        &self,
        _key: &CacheKey,
        value: &std::time::Duration,
        _created_at: std::time::Instant,
    ) -> Option<std::time::Duration> {
        Some(*value)
    }
}

/// The pingora proxy over the shared state.
pub struct Gateway {
    state: Arc<GatewayState>,
}

/// Per-request state, carried from phase to phase.
pub struct RequestCtx {
    runtime: Option<Arc<Runtime>>,
    request_id: String,
    intercepted: bool,
    /// Headers to add upstream (identity, digest).
    added: HeaderList,
    connect_attempts: usize,
    route: Option<usize>,
    outcome: Option<RequestOutcome>,
    started: Instant,
    api_time: Option<std::time::Duration>,
    verdict: Option<Verdict>,
    imp_uid: Option<ImpUid>,
    cache: Option<CacheStatus>,
    /// The access log's `error`: the §4.4 code of a refusal, or why pingora failed the request.
    error: Option<&'static str>,
    /// The client verigate believes in (§4.1), for the access log.
    forwarded_for: Option<String>,
    /// Counts the request in flight until the context is dropped, after logging.
    _in_flight: InFlight,
}

/// One request in [`GatewayState::in_flight`] while it lives.
struct InFlight(Arc<std::sync::atomic::AtomicUsize>);

impl InFlight {
    fn new(counter: &Arc<std::sync::atomic::AtomicUsize>) -> Self {
        counter.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        InFlight(counter.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

const X_REQUEST_ID: &str = "x-request-id";

impl Gateway {
    /// A proxy over `state`.
    pub fn new(state: Arc<GatewayState>) -> Self {
        Gateway { state }
    }

    /// Runs the intercepted route: the headers to forward with, or the error to answer.
    async fn intercept(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        rt: &Runtime,
        route: &Route,
    ) -> Result<HeaderList, Outcome> {
        let body = read_body(session, rt.config.server.max_body_bytes).await?;
        let req = session.req_header();
        let query = req.uri.query().unwrap_or("");

        let (judgement, identity) = if extract::query_reports_failure(query) {
            // The browser already said the verification failed: nothing to ask the API.
            ctx.imp_uid = extract::from_query(query, &route.imp_uid_field)
                .ok()
                .flatten();
            (failure(FailureReason::Failed), None)
        } else {
            let content_type = req
                .headers
                .get(http::header::CONTENT_TYPE)
                .map(HeaderValue::as_bytes);
            let uid = extract::extract(
                route.imp_uid_from,
                &route.imp_uid_field,
                query,
                content_type,
                &body,
            )
            .map_err(GatewayError::from)?;
            ctx.imp_uid = Some(uid.clone());
            let asked = Instant::now();
            let resolution = self
                .state
                .resolver
                .resolve(ProviderName::Iamport, &uid)
                .await;
            ctx.api_time = Some(asked.elapsed());
            let (resolved, cache) =
                resolution.map_err(|_| GatewayError::VerificationUnavailable)?;
            ctx.cache = Some(cache);
            match cache {
                CacheStatus::Hit => self.state.metrics.cache_hits.inc(),
                CacheStatus::Miss => self.state.metrics.cache_misses.inc(),
            }
            match resolved {
                Resolved::NotFound => (failure(FailureReason::NotFound), None),
                Resolved::Failed => (failure(FailureReason::Failed), None),
                Resolved::Found(id) => (route.policy.judge(&id, Timestamp::now()), Some(id)),
            }
        };
        ctx.verdict = Some(judgement.verdict);
        // A certified, fresh verification is consumed by a single-use route whatever the age
        // verdict: a replay of someone else's imp_uid must fail either way.
        if route.single_use
            && matches!(judgement.verdict, Verdict::Allow | Verdict::Deny(_))
            && let Some(uid) = &ctx.imp_uid
        {
            let remember = route
                .policy
                .max_certification_age
                .unwrap_or(UNBOUNDED_REPLAY_MEMORY);
            if !self
                .state
                .first_use(ProviderName::Iamport, uid, remember)
                .await
            {
                return Err(GatewayError::AlreadyUsed.into());
            }
        }
        gate(route, judgement.verdict)?;

        let mut added = headers::annotate(
            &rt.names,
            &Annotation {
                judgement,
                imp_uid: ctx.imp_uid.as_ref(),
                identity: identity.as_deref(),
                policy: &route.policy,
            },
        );
        if !body.is_empty() {
            added.push((
                HeaderName::from_static("content-digest"),
                headers::content_digest(&body),
            ));
        }
        if let Some(signer) = &rt.signer {
            let signed = sign(
                signer,
                session.req_header(),
                rt,
                route,
                &added,
                judgement,
                identity.as_deref(),
                ctx.imp_uid.as_ref(),
            );
            added.extend(signed);
        }
        Ok(added)
    }

    /// Answers the client with `error` and ends the request.
    async fn respond(
        &self,
        session: &mut Session,
        ctx: &RequestCtx,
        error: GatewayError,
    ) -> Result<()> {
        let html = prefers_html(
            session
                .req_header()
                .headers
                .get(http::header::ACCEPT)
                .map(HeaderValue::as_bytes),
        );
        let rendered = error.render(&ctx.request_id, html);
        let mut resp = ResponseHeader::build(rendered.status, Some(5))?;
        resp.insert_header(http::header::CONTENT_TYPE, rendered.content_type)?;
        resp.insert_header(http::header::CONTENT_LENGTH, rendered.body.len())?;
        resp.insert_header(http::header::CACHE_CONTROL, "no-store")?;
        resp.insert_header(X_REQUEST_ID, ctx.request_id.as_str())?;
        if error == GatewayError::VerificationUnavailable {
            resp.insert_header(http::header::RETRY_AFTER, RETRY_AFTER_SECS)?;
        }
        if matches!(
            error,
            GatewayError::BodyTooLarge | GatewayError::RequestTimeout
        ) {
            // The rest of the body was never read: this connection cannot carry another request.
            session.set_keepalive(None);
        }
        session.write_response_header(Box::new(resp), false).await?;
        session.write_response_body(Some(rendered.body), true).await
    }
}

/// Why an intercepted request is not forwarded.
enum Outcome {
    Refuse(GatewayError),
    /// The client connection failed while its body was read.
    Broken(Box<pingora::Error>),
}

impl From<GatewayError> for Outcome {
    fn from(e: GatewayError) -> Self {
        Outcome::Refuse(e)
    }
}

/// The signature headers (and JWT assertion) for a request about to be forwarded with `added`.
#[allow(clippy::too_many_arguments)]
fn sign(
    signer: &Signer,
    req: &RequestHeader,
    rt: &Runtime,
    route: &Route,
    added: &HeaderList,
    judgement: Judgement,
    identity: Option<&crate::identity::Identity>,
    imp_uid: Option<&ImpUid>,
) -> HeaderList {
    use crate::config::ForwardField;
    let forwarded = |f: ForwardField| rt.config.headers.forward.contains(&f);
    // Forwarded fields without an OpenID Connect name travel under their config name.
    let extra: Vec<(&str, serde_json::Value)> = identity
        .map(|id| {
            rt.config
                .headers
                .forward
                .iter()
                .filter_map(|f| {
                    let v = match f {
                        ForwardField::Gender | ForwardField::Phone => return None,
                        ForwardField::Foreigner => id.foreigner.map(serde_json::Value::from),
                        ForwardField::UniqueKey => id.unique_key.as_deref().map(Into::into),
                        ForwardField::UniqueInSite => id.unique_in_site.as_deref().map(Into::into),
                        ForwardField::Carrier => id.carrier.as_deref().map(Into::into),
                        ForwardField::PgProvider => id.pg_provider.as_deref().map(Into::into),
                        ForwardField::MerchantUid => id.merchant_uid.as_deref().map(Into::into),
                    }?;
                    Some((f.config_name(), v))
                })
                .collect()
        })
        .unwrap_or_default();
    let claims = AssertionClaims {
        imp_uid: imp_uid.map(ImpUid::as_str),
        name: identity.and_then(|i| i.name.as_deref()),
        birthdate: identity.and_then(|i| i.birth_date),
        age: judgement.age,
        verdict: judgement.verdict.as_str(),
        reason: judgement.verdict.reason(),
        policy: &route.policy.name,
        certified_at: identity.and_then(|i| i.certified_at).map(|t| t.as_second()),
        gender: identity
            .filter(|_| forwarded(ForwardField::Gender))
            .and_then(|i| i.gender.as_deref()),
        phone_number: identity
            .filter(|_| forwarded(ForwardField::Phone))
            .and_then(|i| i.phone.as_deref()),
        extra: &extra,
    };
    signer.sign(
        &SignInput {
            method: req.method.as_str(),
            path: req.uri.path(),
            query: req.uri.query(),
            covered: added,
            assertion_name: &rt.names.assertion,
            claims: &claims,
        },
        Timestamp::now(),
    )
}

/// The access log's `error` for a request pingora failed without one of our own answers
/// (these codes never reach a client's body: pingora answers with its own page, or nothing).
fn failure_code(e: &pingora::Error) -> &'static str {
    match (e.esource(), e.etype()) {
        (
            ErrorSource::Downstream,
            ErrorType::ReadError | ErrorType::WriteError | ErrorType::ConnectionClosed,
        ) => "client_closed",
        (ErrorSource::Downstream, _) => "bad_request",
        (ErrorSource::Upstream, _) => "upstream_unavailable",
        _ => "internal_error",
    }
}

/// The metrics outcome of a verdict.
fn outcome_of(v: Verdict) -> RequestOutcome {
    match v {
        Verdict::Allow => RequestOutcome::Allow,
        Verdict::Deny(_) => RequestOutcome::Deny,
        Verdict::Unverified(_) => RequestOutcome::Unverified,
    }
}

fn failure(reason: FailureReason) -> Judgement {
    Judgement {
        verdict: Verdict::Unverified(reason),
        age: None,
    }
}

/// The route's choice for a verdict: forward (with the verdict in the headers) or refuse.
pub fn gate(route: &Route, verdict: Verdict) -> Result<(), GatewayError> {
    match verdict {
        Verdict::Allow => Ok(()),
        Verdict::Deny(_) => match route.on_deny {
            OnDeny::Forward => Ok(()),
            OnDeny::Reject => Err(GatewayError::AgeRequirementNotMet),
        },
        Verdict::Unverified(reason) => match route.on_failure {
            OnFailure::Forward => Ok(()),
            OnFailure::Reject => Err(GatewayError::Verification(reason)),
        },
    }
}

/// The time an intercepted request's whole body may take to arrive.
const BODY_READ_BUDGET: std::time::Duration = std::time::Duration::from_secs(10);

/// Reads the whole request body, refusing more than `max` bytes. Answers
/// `Expect: 100-continue` first, and only when the declared length fits.
async fn read_body(session: &mut Session, max: usize) -> Result<Bytes, Outcome> {
    let declared = session
        .req_header()
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(GatewayError::BodyTooLarge.into());
    }
    if session.is_body_empty() {
        return Ok(Bytes::new());
    }
    let expects_continue = session
        .req_header()
        .headers
        .get(http::header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    if expects_continue {
        session
            .as_downstream_mut()
            .write_continue_response()
            .await
            .map_err(Outcome::Broken)?;
    }
    // pingora replays what it buffered here to the upstream (up to 64 KiB, our maximum).
    session.enable_retry_buffering();
    let read = async {
        let mut body = BytesMut::new();
        while let Some(chunk) = session.read_request_body().await.map_err(Outcome::Broken)? {
            if body.len() + chunk.len() > max {
                return Err(GatewayError::BodyTooLarge.into());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    };
    // A client trickling its body cannot hold the request (and its slot) open for long.
    match tokio::time::timeout(BODY_READ_BUDGET, read).await {
        Ok(result) => result,
        Err(_) => Err(GatewayError::RequestTimeout.into()),
    }
}

/// Removes every header only verigate may set.
fn strip_reserved(req: &mut RequestHeader, prefix: &str) {
    let doomed: Vec<HeaderName> = req
        .headers
        .keys()
        .filter(|name| headers::is_reserved(name.as_str(), prefix))
        .cloned()
        .collect();
    for name in doomed {
        // Repeated headers: remove_header takes one value at a time.
        while req.remove_header(&name).is_some() {}
    }
}

/// The client's request id when it is sane (1–128 of `[A-Za-z0-9._-]`), else a new one.
fn request_id(req: &RequestHeader) -> String {
    if let Some(v) = req.headers.get(X_REQUEST_ID) {
        let b = v.as_bytes();
        if (1..=128).contains(&b.len())
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
            && let Ok(s) = v.to_str()
        {
            return s.to_owned();
        }
    }
    format!("{:032x}", rand::random::<u128>())
}

#[async_trait]
impl ProxyHttp for Gateway {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> Self::CTX {
        RequestCtx {
            runtime: None,
            request_id: String::new(),
            intercepted: false,
            added: HeaderList::new(),
            connect_attempts: 0,
            route: None,
            outcome: None,
            started: Instant::now(),
            api_time: None,
            verdict: None,
            imp_uid: None,
            cache: None,
            error: None,
            forwarded_for: None,
            _in_flight: InFlight::new(&self.state.in_flight),
        }
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut Self::CTX) -> Result<bool> {
        if self.state.is_draining() {
            session.set_keepalive(None);
        }
        let rt = self.state.runtime();
        strip_reserved(session.req_header_mut(), &rt.config.headers.prefix);
        let hop = Hop {
            peer: session
                .client_addr()
                .and_then(|a| a.as_inet())
                .map(|a| a.ip()),
            https: session.digest().is_some_and(|d| d.ssl_digest.is_some()),
        };
        ctx.forwarded_for =
            forwarded::apply(session.req_header_mut(), hop, &self.state.trusted_proxies);
        ctx.request_id = request_id(session.req_header());
        session
            .req_header_mut()
            .insert_header(X_REQUEST_ID, ctx.request_id.as_str())?;

        let req = session.req_header();
        ctx.route = rt.config.route_index(&req.method, req.uri.path());
        ctx.runtime = Some(rt.clone());
        let Some(index) = ctx.route else {
            ctx.outcome = Some(RequestOutcome::Passthrough);
            return Ok(false);
        };
        let route = &rt.config.routes[index];
        ctx.intercepted = true;
        match self.intercept(session, ctx, &rt, route).await {
            Ok(added) => {
                ctx.added = added;
                ctx.outcome = ctx.verdict.map(outcome_of);
                Ok(false)
            }
            Err(Outcome::Refuse(e)) => {
                ctx.outcome = Some(match e {
                    GatewayError::VerificationUnavailable => RequestOutcome::Unavailable,
                    GatewayError::AlreadyUsed => RequestOutcome::Invalid,
                    _ => ctx.verdict.map_or(RequestOutcome::Invalid, outcome_of),
                });
                ctx.error = Some(e.code());
                self.respond(session, ctx, e).await?;
                Ok(true)
            }
            Err(Outcome::Broken(e)) => Err(e),
        }
    }

    async fn upstream_peer(
        &self,
        _session: &mut Session,
        _ctx: &mut Self::CTX,
    ) -> Result<Box<HttpPeer>> {
        let up = &self.state.upstream;
        // Round-robin over the backends the health checks consider up.
        let Some(backend) = self.state.upstreams.select(b"", 256) else {
            return Err(pingora::Error::new_up(ErrorType::ConnectNoRoute));
        };
        let mut peer = HttpPeer::new(backend, up.tls, up.sni.clone());
        peer.options.connection_timeout = Some(up.connect_timeout);
        peer.options.read_timeout = Some(up.read_timeout);
        Ok(Box::new(peer))
    }

    async fn upstream_request_filter(
        &self,
        _session: &mut Session,
        upstream_request: &mut RequestHeader,
        ctx: &mut Self::CTX,
    ) -> Result<()> {
        if ctx.intercepted {
            // The body was already read and is replayed whole: the app must not wait for a
            // second go-ahead.
            upstream_request.remove_header(&http::header::EXPECT);
        }
        for (name, value) in &ctx.added {
            upstream_request.insert_header(name.clone(), value.clone())?;
        }
        Ok(())
    }

    fn fail_to_connect(
        &self,
        _session: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut Self::CTX,
        mut e: Box<pingora::Error>,
    ) -> Box<pingora::Error> {
        // Try each upstream address once before giving up.
        ctx.connect_attempts += 1;
        if ctx.connect_attempts < self.state.upstream.addrs.len() {
            e.set_retry(true);
        }
        e
    }

    async fn fail_to_proxy(
        &self,
        session: &mut Session,
        e: &pingora::Error,
        ctx: &mut Self::CTX,
    ) -> FailToProxy {
        let error = match (e.esource(), e.etype()) {
            (_, ErrorType::HTTPStatus(_)) | (ErrorSource::Downstream, _) => None,
            (ErrorSource::Upstream, _) => Some(GatewayError::UpstreamUnavailable),
            _ => None,
        };
        if error.is_some() {
            self.state.metrics.upstream_errors.inc();
        }
        // pingora does not reuse a connection after a failure: say so, so clients do not send
        // their next request into a closing socket.
        session.set_keepalive(None);
        // A refusal whose answer could not be written keeps its own code.
        ctx.error = ctx.error.or(Some(match error {
            Some(err) => err.code(),
            None => failure_code(e),
        }));
        let code = match error {
            Some(err) => {
                if self.respond(session, ctx, err).await.is_err() {
                    0
                } else {
                    err.status()
                }
            }
            None => {
                let code = match (e.esource(), e.etype()) {
                    (_, ErrorType::HTTPStatus(c)) => *c,
                    (
                        ErrorSource::Downstream,
                        ErrorType::ReadError | ErrorType::WriteError | ErrorType::ConnectionClosed,
                    ) => 0,
                    (ErrorSource::Downstream, _) => 400,
                    _ => 500,
                };
                if code > 0 {
                    let _ = session.respond_error(code).await;
                }
                code
            }
        };
        FailToProxy {
            error_code: code,
            can_reuse_downstream: false,
        }
    }

    async fn logging(
        &self,
        session: &mut Session,
        _e: Option<&pingora::Error>,
        ctx: &mut Self::CTX,
    ) {
        let status = session.response_written().map_or(0, |r| r.status.as_u16());
        // A request pingora failed before `request_filter` has no runtime yet: it is counted,
        // as a passthrough, with the current one.
        let current;
        let rt = match &ctx.runtime {
            Some(rt) => rt,
            None => {
                current = self.state.runtime();
                &current
            }
        };
        if let Some(outcome) = ctx.outcome {
            rt.counters.count(ctx.route, outcome);
        }
        rt.counters.finish(ctx.route, status, ctx.started.elapsed());
        let Some(log) = &self.state.access_log else {
            return;
        };
        let req = session.req_header();
        let route = ctx.route.and_then(|i| {
            ctx.runtime
                .as_ref()
                .map(|rt| rt.config.routes[i].name.clone())
        });
        log.write(&AccessRecord {
            time: Timestamp::now(),
            request_id: &ctx.request_id,
            method: req.method.as_str(),
            path: req.uri.path(),
            route: route.as_deref(),
            status,
            verdict: ctx.verdict.map(Verdict::as_str),
            reason: ctx.verdict.and_then(Verdict::reason),
            error: ctx.error,
            imp_uid: ctx.imp_uid.as_ref().map(ImpUid::as_str),
            cache: ctx.cache.map(CacheStatus::as_str),
            api_ms: ctx.api_time.map(|d| d.as_secs_f64() * 1000.0),
            total_ms: ctx.started.elapsed().as_secs_f64() * 1000.0,
            client: session.client_addr().map(ToString::to_string),
            forwarded_for: ctx.forwarded_for.as_deref(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::ImpUidSource;
    use crate::policy::{AgeBasis, DenyReason, Policy};

    fn route(on_deny: OnDeny, on_failure: OnFailure) -> Route {
        Route {
            name: "popup".into(),
            method: http::Method::POST,
            path: "/certifications".into(),
            provider: ProviderName::Iamport,
            imp_uid_from: ImpUidSource::Body,
            imp_uid_field: "imp_uid".into(),
            policy: Arc::new(Policy {
                name: "adult".into(),
                min_age: 19,
                max_age: None,
                age_basis: AgeBasis::Year,
                timezone: jiff::tz::TimeZone::UTC,
                max_certification_age: None,
            }),
            on_deny,
            on_failure,
            single_use: false,
        }
    }

    #[test]
    fn gate_follows_on_deny_and_on_failure() {
        use OnDeny as D;
        use OnFailure as F;
        let deny = Verdict::Deny(DenyReason::Underage);
        let stale = Verdict::Unverified(FailureReason::Stale);
        let cases = [
            (D::Forward, F::Reject, Verdict::Allow, Ok(())),
            (D::Reject, F::Reject, Verdict::Allow, Ok(())),
            (D::Forward, F::Reject, deny, Ok(())),
            (
                D::Reject,
                F::Forward,
                deny,
                Err(GatewayError::AgeRequirementNotMet),
            ),
            (
                D::Forward,
                F::Reject,
                stale,
                Err(GatewayError::Verification(FailureReason::Stale)),
            ),
            (D::Reject, F::Forward, stale, Ok(())),
        ];
        for (d, f, verdict, want) in cases {
            assert_eq!(gate(&route(d, f), verdict), want, "{d:?} {f:?} {verdict:?}");
        }
    }
}
