//! The i'mport V1 API client: one access token for the whole process, and certification lookups.
//!
//! The token is read lock-free on every lookup ([`ArcSwapOption`]); only a refresh takes a mutex,
//! so one request at a time asks `getToken` while the others wait for its answer. The token's
//! deadline is computed from the API's own `now` (never its `expired_at` against our clock) and
//! it is refreshed a minute early. A 401 on a lookup drops the token, refreshes it and retries
//! once. Connect errors and 5xx are retried with backoff while the caller's deadline allows; any
//! other failure is returned at once, and every failure is an [`ApiError`], never a guess.
//!
//! Failures, timeouts, rejected credentials and circuit-breaker transitions are logged at `warn`
//! through [`Warnings`] (rate-limited, with the imp_uid and the error kind only).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use http::HeaderValue;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use crate::breaker::{Breaker, Transition};
use crate::config::IamportSettings;
use crate::headers::percent_encode;
use crate::identity::Certification;
use crate::imp_uid::ImpUid;
use crate::metrics::Metrics;
use crate::warnings::{WarnKind, Warnings};

/// How early before its expiry the token is replaced.
const REFRESH_MARGIN: Duration = Duration::from_secs(60);
/// The largest API answer read; anything longer is treated as garbage.
const MAX_RESPONSE_BYTES: usize = 1 << 20;
/// First pause before retrying a transient failure; doubled each time.
const FIRST_BACKOFF: Duration = Duration::from_millis(25);

/// Why the API could not give an answer. Every variant makes the gateway answer 503.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    #[error("the i'mport API could not be reached")]
    Unreachable,
    #[error("the i'mport API did not answer within the time budget")]
    Timeout,
    #[error("the i'mport API answered HTTP {0}")]
    Status(u16),
    #[error("the i'mport API's answer could not be parsed")]
    Unparseable,
    #[error("the i'mport API answered code {0} without a result")]
    ApiCode(i64),
    #[error("the i'mport API rejected verigate's imp_key/imp_secret")]
    CredentialsRejected,
    #[error("the i'mport API failed repeatedly; calls are paused (circuit open)")]
    CircuitOpen,
}

impl ApiError {
    /// Failures worth another try within the budget.
    fn is_transient(&self) -> bool {
        matches!(self, ApiError::Unreachable) || matches!(self, ApiError::Status(s) if *s >= 500)
    }
}

/// A failure of one call, before retry policy is applied.
enum CallError {
    /// 401 on a lookup: the token is no longer valid.
    Unauthorized,
    Api(ApiError),
}

impl From<ApiError> for CallError {
    fn from(e: ApiError) -> Self {
        CallError::Api(e)
    }
}

/// The live access token.
struct Token {
    header: HeaderValue,
    /// After this instant the token is replaced before use.
    refresh_at: Instant,
}

/// Counters of the client's traffic, read by the metrics and the tests.
#[derive(Debug, Default)]
pub struct ApiCounters {
    pub token_requests: AtomicU64,
    pub certification_requests: AtomicU64,
}

/// A client of the i'mport V1 API, shared by the whole process.
pub struct IamportClient {
    http: reqwest::Client,
    token_url: String,
    certification_base: String,
    credentials: serde_json::Value,
    tier: Option<HeaderValue>,
    token: ArcSwapOption<Token>,
    refresh: tokio::sync::Mutex<()>,
    credentials_rejected: AtomicBool,
    /// Set once the first credentials check (at start) has had an answer, whatever it was.
    credentials_checked: AtomicBool,
    pub counters: ApiCounters,
    metrics: Arc<Metrics>,
    breaker: Breaker,
    warnings: Warnings,
    /// Bounds the calls in flight: a burst of cache misses cannot open unbounded connections.
    slots: tokio::sync::Semaphore,
}

/// Most API calls in flight at once.
pub const MAX_CONCURRENT_CALLS: usize = 64;

#[derive(Deserialize)]
struct Envelope<T> {
    code: Option<i64>,
    response: Option<T>,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    now: i64,
    expired_at: i64,
}

impl IamportClient {
    /// A client for the configured API.
    pub fn new(settings: &IamportSettings, metrics: Arc<Metrics>) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("verigate/", env!("CARGO_PKG_VERSION")))
            .pool_idle_timeout(Duration::from_secs(90))
            .build()?;
        let tier = settings
            .tier
            .as_deref()
            .and_then(|t| HeaderValue::from_str(t).ok());
        Ok(IamportClient {
            http,
            token_url: format!("{}/users/getToken", settings.base_url),
            certification_base: format!("{}/certifications/", settings.base_url),
            credentials: serde_json::json!({
                "imp_key": settings.imp_key,
                "imp_secret": settings.imp_secret.expose(),
            }),
            tier,
            token: ArcSwapOption::empty(),
            refresh: tokio::sync::Mutex::new(()),
            credentials_rejected: AtomicBool::new(false),
            credentials_checked: AtomicBool::new(false),
            counters: ApiCounters::default(),
            metrics,
            breaker: Breaker::new(),
            warnings: Warnings::default(),
            slots: tokio::sync::Semaphore::new(MAX_CONCURRENT_CALLS),
        })
    }

    /// Whether the API's last answer to `getToken` was a rejection of our credentials.
    pub fn credentials_rejected(&self) -> bool {
        self.credentials_rejected.load(Ordering::Relaxed)
    }

    /// Logs a failed attempt at `warn`, at most once per [`crate::warnings::WARN_EVERY`] per
    /// kind. A refusal by the open breaker is not logged again: its opening was.
    fn warn_failure(&self, e: &ApiError, endpoint: &'static str, imp_uid: Option<&ImpUid>) {
        let kind = match e {
            ApiError::CircuitOpen => return,
            ApiError::Timeout => WarnKind::ApiTimeout,
            ApiError::CredentialsRejected => WarnKind::CredentialsRejected,
            ApiError::Unreachable
            | ApiError::Status(_)
            | ApiError::Unparseable
            | ApiError::ApiCode(_) => WarnKind::ApiFailure,
        };
        let Some(suppressed) = self.warnings.admit(kind) else {
            return;
        };
        let imp_uid = imp_uid.map(ImpUid::as_str);
        match kind {
            WarnKind::CredentialsRejected => tracing::warn!(
                endpoint,
                suppressed,
                "{e}: every verification answers 503 until imp_key/imp_secret are fixed"
            ),
            _ => tracing::warn!(endpoint, imp_uid, suppressed, "{e}"),
        }
    }

    /// Logs a change of the breaker's state (`cause`: the outcome of the call that caused it)
    /// and sets the `verigate_breaker_open` gauge.
    fn breaker_changed(&self, t: Transition, cause: &Result<(u16, Vec<u8>), ApiError>) {
        match t {
            Transition::Opened {
                period,
                probe_failed,
            } => {
                self.metrics.breaker_open.set(1);
                if let Some(suppressed) = self.warnings.admit(WarnKind::BreakerOpened) {
                    let why = if probe_failed {
                        "the probe call failed"
                    } else {
                        "consecutive calls failed"
                    };
                    let last = match cause {
                        Ok((status, _)) => format!("HTTP {status}"),
                        Err(e) => e.to_string(),
                    };
                    tracing::warn!(
                        provider = "iamport",
                        suppressed,
                        "circuit breaker opened ({why}, the last: {last}): i'mport API calls are \
                         refused for {} ms, verifications not in the cache answer 503",
                        period.as_millis()
                    );
                }
            }
            Transition::Closed => {
                self.metrics.breaker_open.set(0);
                if let Some(suppressed) = self.warnings.admit(WarnKind::BreakerClosed) {
                    tracing::warn!(
                        provider = "iamport",
                        suppressed,
                        "circuit breaker closed: the i'mport API answers again"
                    );
                }
            }
        }
    }

    /// Whether the credentials check at start has finished (accepted, rejected or unreachable).
    pub fn credentials_checked(&self) -> bool {
        self.credentials_checked.load(Ordering::Acquire)
    }

    /// Asks the API for a token within `budget`, so that `/readyz` knows whether the
    /// credentials are accepted before a user's lookup does (README, "Operations"). At start a held
    /// token would do (`fresh = false`: none is held yet, and the token is then used by the
    /// first lookups); on reload `fresh` asks again even though a token is held.
    pub async fn check_credentials(&self, fresh: bool, budget: Duration) -> Result<(), ApiError> {
        let deadline = Instant::now() + budget;
        let result = if fresh {
            match tokio::time::timeout_at(deadline, self.refresh.lock()).await {
                Ok(_guard) => self.refresh_locked(deadline).await.map(drop),
                Err(_) => Err(ApiError::Timeout),
            }
        } else {
            self.token(deadline).await.map(drop)
        };
        self.credentials_checked.store(true, Ordering::Release);
        result
    }

    /// The certification record for `imp_uid`, `None` when the API has none, all before
    /// `deadline`. Every failed attempt is logged (rate-limited), retried or not.
    pub async fn certification(
        &self,
        imp_uid: &ImpUid,
        deadline: Instant,
    ) -> Result<Option<Certification>, ApiError> {
        let url = format!(
            "{}{}",
            self.certification_base,
            percent_encode(imp_uid.as_str())
        );
        let mut retried_401 = false;
        let mut backoff = FIRST_BACKOFF;
        loop {
            // A failed token request was logged where it was made.
            let token = self.token(deadline).await?;
            match self.lookup(&url, imp_uid, &token.header, deadline).await {
                Ok(found) => return Ok(found),
                Err(CallError::Unauthorized) if !retried_401 => {
                    retried_401 = true;
                    self.drop_token(&token);
                }
                Err(CallError::Unauthorized) => {
                    let e = ApiError::Status(401);
                    self.warn_failure(&e, "certification", Some(imp_uid));
                    return Err(e);
                }
                Err(CallError::Api(e)) => {
                    self.warn_failure(&e, "certification", Some(imp_uid));
                    backoff = pause_before_retry(e, backoff, deadline).await?;
                }
            }
        }
    }

    async fn lookup(
        &self,
        url: &str,
        imp_uid: &ImpUid,
        token: &HeaderValue,
        deadline: Instant,
    ) -> Result<Option<Certification>, CallError> {
        self.counters
            .certification_requests
            .fetch_add(1, Ordering::Relaxed);
        let mut req = self
            .http
            .get(url)
            .header(http::header::AUTHORIZATION, token.clone());
        if let Some(tier) = &self.tier {
            req = req.header("Tier", tier.clone());
        }
        let (status, body) = self.call("certification", req, deadline).await?;
        match status {
            200 => {
                let env: Envelope<Certification> = parse(&body)?;
                match (env.code, env.response) {
                    (Some(0), Some(c)) if c.imp_uid == imp_uid.as_str() => Ok(Some(c)),
                    (Some(0), _) => Err(ApiError::Unparseable.into()),
                    (code, _) => Err(ApiError::ApiCode(code.unwrap_or(-1)).into()),
                }
            }
            // A 404 is "no such verification" only in the API's own envelope; a bare 404 (a
            // wrong base_url, a proxy in between) is trouble, not an answer.
            404 => match parse::<Envelope<serde_json::Value>>(&body) {
                Ok(Envelope {
                    code: Some(c),
                    response: None,
                }) if c != 0 => Ok(None),
                _ => Err(ApiError::Status(404).into()),
            },
            401 => Err(CallError::Unauthorized),
            s => Err(ApiError::Status(s).into()),
        }
    }

    /// A token valid now, refreshing it (one caller at a time) when due.
    async fn token(&self, deadline: Instant) -> Result<Arc<Token>, ApiError> {
        if let Some(t) = self.token.load_full()
            && Instant::now() < t.refresh_at
        {
            return Ok(t);
        }
        let _guard = tokio::time::timeout_at(deadline, self.refresh.lock())
            .await
            .map_err(|_| ApiError::Timeout)?;
        // Another caller may have refreshed while this one waited.
        if let Some(t) = self.token.load_full()
            && Instant::now() < t.refresh_at
        {
            return Ok(t);
        }
        self.refresh_locked(deadline).await
    }

    /// Fetches and stores a new token, retrying transient failures; the caller holds `refresh`.
    async fn refresh_locked(&self, deadline: Instant) -> Result<Arc<Token>, ApiError> {
        let mut backoff = FIRST_BACKOFF;
        loop {
            match self.fetch_token(deadline).await {
                Ok(t) => {
                    let t = Arc::new(t);
                    self.token.store(Some(t.clone()));
                    return Ok(t);
                }
                Err(e) => {
                    self.warn_failure(&e, "token", None);
                    backoff = pause_before_retry(e, backoff, deadline).await?;
                }
            }
        }
    }

    /// Forgets `stale` unless another caller already replaced it.
    fn drop_token(&self, stale: &Arc<Token>) {
        self.token.rcu(|current| match current {
            Some(t) if Arc::ptr_eq(t, stale) => None,
            other => other.clone(),
        });
    }

    async fn fetch_token(&self, deadline: Instant) -> Result<Token, ApiError> {
        self.counters.token_requests.fetch_add(1, Ordering::Relaxed);
        let mut req = self.http.post(&self.token_url).json(&self.credentials);
        if let Some(tier) = &self.tier {
            req = req.header("Tier", tier.clone());
        }
        let (status, body) = self.call("token", req, deadline).await?;
        let received = Instant::now();
        match status {
            200 => {}
            401 | 403 => {
                self.credentials_rejected.store(true, Ordering::Relaxed);
                return Err(ApiError::CredentialsRejected);
            }
            s => return Err(ApiError::Status(s)),
        }
        let env: Envelope<TokenResponse> = parse(&body)?;
        let t = match (env.code, env.response) {
            (Some(0), Some(t)) => t,
            (code, _) => return Err(ApiError::ApiCode(code.unwrap_or(-1))),
        };
        let header = HeaderValue::from_str(&t.access_token).map_err(|_| ApiError::Unparseable)?;
        self.credentials_rejected.store(false, Ordering::Relaxed);
        self.metrics.token_refreshes.inc();
        // The API's clock, not ours: the token lives `expired_at - now` seconds from receipt.
        let lifetime = Duration::from_secs(u64::try_from(t.expired_at - t.now).unwrap_or(0));
        let expires = received + lifetime;
        // Refresh a minute early, but never sooner than a second from now: an API that hands
        // back a nearly-expired token must not be asked again on every request.
        let refresh_at = expires
            .checked_sub(REFRESH_MARGIN)
            .unwrap_or(received)
            .max(received + Duration::from_secs(1))
            .min(expires);
        Ok(Token { header, refresh_at })
    }
}

impl IamportClient {
    /// Whether the circuit breaker is refusing calls.
    pub fn circuit_open(&self) -> bool {
        self.breaker.is_open()
    }

    /// One API call through the breaker and the concurrency bound.
    async fn call(
        &self,
        endpoint: &'static str,
        req: reqwest::RequestBuilder,
        deadline: Instant,
    ) -> Result<(u16, Vec<u8>), ApiError> {
        let permit = self.breaker.admit().map_err(|_| ApiError::CircuitOpen)?;
        let _slot = tokio::time::timeout_at(deadline, self.slots.acquire())
            .await
            .map_err(|_| ApiError::Timeout)?
            .map_err(|_| ApiError::Unreachable)?;
        let result = self.observe(endpoint, send(req, deadline)).await;
        let changed = match &result {
            Ok((status, _)) if *status >= 500 => permit.failure(),
            Ok(_) => permit.success(),
            Err(_) => permit.failure(),
        };
        if let Some(t) = changed {
            self.breaker_changed(t, &result);
        }
        result
    }

    /// Times one API call and counts it by endpoint and status.
    async fn observe(
        &self,
        endpoint: &'static str,
        call: impl Future<Output = Result<(u16, Vec<u8>), ApiError>>,
    ) -> Result<(u16, Vec<u8>), ApiError> {
        let timer = self.metrics.iamport_timer(endpoint).start_timer();
        let result = call.await;
        timer.observe_duration();
        let status = match &result {
            Ok((s, _)) => itoa_status(*s),
            Err(ApiError::Timeout) => "timeout",
            Err(ApiError::Unreachable) => "unreachable",
            Err(_) => "garbage",
        };
        self.metrics
            .iamport_requests
            .with_label_values(&[endpoint, status])
            .inc();
        result
    }
}

/// Status codes as label values without allocating for the common ones.
fn itoa_status(s: u16) -> &'static str {
    match s {
        200 => "200",
        401 => "401",
        404 => "404",
        500 => "500",
        502 => "502",
        503 => "503",
        504 => "504",
        400..=499 => "4xx",
        501..=599 => "5xx",
        _ => "other",
    }
}

/// Sleeps before a retry of a transient failure, or gives the failure back when it is not
/// transient or the next try would not fit before `deadline`.
async fn pause_before_retry(
    e: ApiError,
    backoff: Duration,
    deadline: Instant,
) -> Result<Duration, ApiError> {
    // Full jitter around the nominal backoff, so that retries from many requests spread out.
    let pause = backoff.mul_f64(rand::random_range(0.5..1.5));
    if !e.is_transient() || Instant::now() + pause >= deadline {
        return Err(e);
    }
    tokio::time::sleep(pause).await;
    Ok(backoff * 2)
}

/// Sends `req` with what is left of the budget and reads at most [`MAX_RESPONSE_BYTES`].
async fn send(req: reqwest::RequestBuilder, deadline: Instant) -> Result<(u16, Vec<u8>), ApiError> {
    let remaining = deadline.saturating_duration_since(Instant::now());
    if remaining.is_zero() {
        return Err(ApiError::Timeout);
    }
    let exchange = async {
        let mut resp = req.send().await.map_err(classify)?;
        let status = resp.status().as_u16();
        if resp
            .content_length()
            .is_some_and(|n| n > MAX_RESPONSE_BYTES as u64)
        {
            return Err(ApiError::Unparseable);
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(classify)? {
            if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(ApiError::Unparseable);
            }
            body.extend_from_slice(&chunk);
        }
        Ok((status, body))
    };
    tokio::time::timeout(remaining, exchange)
        .await
        .map_err(|_| ApiError::Timeout)?
}

fn classify(e: reqwest::Error) -> ApiError {
    if e.is_timeout() {
        ApiError::Timeout
    } else if e.is_connect() || e.is_request() {
        ApiError::Unreachable
    } else {
        // A connection cut mid-answer, a broken chunk: the answer is garbage.
        ApiError::Unparseable
    }
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|_| ApiError::Unparseable)
}
