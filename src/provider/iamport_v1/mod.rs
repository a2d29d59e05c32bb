//! The i'mport V1 provider: one access token for the whole process ([`token`]), then
//! `GET /certifications/{imp_uid}`, read by [`wire::interpret`].
//!
//! A 401 on a lookup drops the token, refreshes it and retries once. Connect errors and 5xx are
//! retried with backoff while the caller's deadline allows; any other failure is returned at
//! once. Every failed attempt is logged (rate-limited) by the provider's [`Outbound`].

pub mod token;
pub mod wire;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use http::HeaderValue;
use tokio::time::Instant;

use self::token::{Token, TokenCell};
use self::wire::Refusal;
use super::http::{FIRST_BACKOFF, Outbound, path_segment, pause_before_retry};
use super::{Health, Provider, ProviderError, ProviderName, Record};
use crate::metrics::Metrics;
use crate::secret::Secret;
use crate::verification_id::VerificationId;

/// `[iamport]`, validated. Its `Debug` leaves out the API key as well as the secret.
#[derive(Clone, PartialEq)]
pub struct IamportSettings {
    /// `http` or `https` URL without a trailing slash.
    pub base_url: String,
    /// The REST API key (non-empty).
    pub imp_key: String,
    /// The REST API secret (non-empty).
    pub imp_secret: Secret,
    /// The whole budget for resolving one imp_uid, token included.
    pub timeout: Duration,
    /// Sent as the `Tier` header when set; a valid header value.
    pub tier: Option<String>,
}

impl std::fmt::Debug for IamportSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IamportSettings")
            .field("base_url", &self.base_url)
            .field("imp_key", &"<redacted>")
            .field("imp_secret", &self.imp_secret)
            .field("timeout", &self.timeout)
            .field("tier", &self.tier)
            .finish()
    }
}

/// Counters of the client's traffic, read by the tests.
#[derive(Debug, Default)]
pub struct ApiCounters {
    pub token_requests: AtomicU64,
    pub certification_requests: AtomicU64,
}

/// The i'mport V1 API, shared by the whole process.
pub struct IamportV1 {
    out: Outbound,
    token_url: String,
    certification_base: String,
    credentials: serde_json::Value,
    tier: Option<HeaderValue>,
    timeout: Duration,
    token: TokenCell,
    credentials_rejected: AtomicBool,
    /// Set once the first credentials check (at start) has had an answer, whatever it was.
    credentials_checked: AtomicBool,
    pub counters: ApiCounters,
    metrics: Arc<Metrics>,
}

impl IamportV1 {
    /// A client for the configured API.
    pub fn new(settings: &IamportSettings, metrics: Arc<Metrics>) -> Result<Self, reqwest::Error> {
        let tier = settings
            .tier
            .as_deref()
            .and_then(|t| HeaderValue::from_str(t).ok());
        Ok(IamportV1 {
            out: Outbound::new(ProviderName::Iamport, metrics.clone())?,
            token_url: format!("{}/users/getToken", settings.base_url),
            certification_base: format!("{}/certifications/", settings.base_url),
            credentials: serde_json::json!({
                "imp_key": settings.imp_key,
                "imp_secret": settings.imp_secret.expose(),
            }),
            tier,
            timeout: settings.timeout,
            token: TokenCell::default(),
            credentials_rejected: AtomicBool::new(false),
            credentials_checked: AtomicBool::new(false),
            counters: ApiCounters::default(),
            metrics,
        })
    }

    /// Whether the API's last answer to `getToken` was a rejection of our credentials.
    pub fn credentials_rejected(&self) -> bool {
        self.credentials_rejected.load(Ordering::Relaxed)
    }

    /// Whether the credentials check at start has finished (accepted, rejected or unreachable).
    pub fn credentials_checked(&self) -> bool {
        self.credentials_checked.load(Ordering::Acquire)
    }

    /// Asks the API for a token within `budget`, so that `/readyz` knows whether the
    /// credentials are accepted before a user's lookup does. At start a held token would do
    /// (`fresh = false`: none is held yet, and the token is then used by the first lookups); on
    /// reload `fresh` asks again even though a token is held.
    pub async fn check_credentials(
        &self,
        fresh: bool,
        budget: Duration,
    ) -> Result<(), ProviderError> {
        let deadline = Instant::now() + budget;
        let result = if fresh {
            match tokio::time::timeout_at(deadline, self.token.refresh.lock()).await {
                Ok(_guard) => self.refresh_locked(deadline).await.map(drop),
                Err(_) => Err(ProviderError::Timeout),
            }
        } else {
            self.token(deadline).await.map(drop)
        };
        self.credentials_checked.store(true, Ordering::Release);
        result
    }

    /// Whether the circuit breaker is refusing calls.
    pub fn circuit_open(&self) -> bool {
        self.out.circuit_open()
    }

    /// The certification record for `imp_uid`, `None` when the API has none, all before
    /// `deadline`. Every failed attempt is logged (rate-limited), retried or not.
    pub async fn certification(
        &self,
        imp_uid: &VerificationId,
        deadline: Instant,
    ) -> Result<Option<crate::identity::Identity>, ProviderError> {
        let url = format!(
            "{}{}",
            self.certification_base,
            path_segment(imp_uid.as_str())
        );
        let mut retried_401 = false;
        let mut backoff = FIRST_BACKOFF;
        loop {
            // A failed token request was logged where it was made.
            let token = self.token(deadline).await?;
            match self
                .lookup_once(&url, imp_uid, &token.header, deadline)
                .await
            {
                Ok(found) => return Ok(found),
                Err(Refusal::Unauthorized) if !retried_401 => {
                    retried_401 = true;
                    self.token.forget(&token);
                }
                Err(Refusal::Unauthorized) => {
                    let e = ProviderError::Status(401);
                    self.out.warn_failure(&e, "certification", Some(imp_uid));
                    return Err(e);
                }
                Err(Refusal::Failed(e)) => {
                    self.out.warn_failure(&e, "certification", Some(imp_uid));
                    backoff = pause_before_retry(e, backoff, deadline).await?;
                }
            }
        }
    }

    async fn lookup_once(
        &self,
        url: &str,
        imp_uid: &VerificationId,
        token: &HeaderValue,
        deadline: Instant,
    ) -> Result<Option<crate::identity::Identity>, Refusal> {
        self.counters
            .certification_requests
            .fetch_add(1, Ordering::Relaxed);
        let mut req = self
            .out
            .client()
            .get(url)
            .header(http::header::AUTHORIZATION, token.clone());
        if let Some(tier) = &self.tier {
            req = req.header("Tier", tier.clone());
        }
        let (status, body) = self.out.call("certification", req, deadline).await?;
        wire::interpret(status, &body, imp_uid)
    }

    /// A token valid now, refreshing it (one caller at a time) when due.
    async fn token(&self, deadline: Instant) -> Result<Arc<Token>, ProviderError> {
        if let Some(t) = self.token.valid(Instant::now()) {
            return Ok(t);
        }
        let _guard = tokio::time::timeout_at(deadline, self.token.refresh.lock())
            .await
            .map_err(|_| ProviderError::Timeout)?;
        // Another caller may have refreshed while this one waited.
        if let Some(t) = self.token.valid(Instant::now()) {
            return Ok(t);
        }
        self.refresh_locked(deadline).await
    }

    /// Fetches and stores a new token, retrying transient failures; the caller holds the
    /// refresh lock.
    async fn refresh_locked(&self, deadline: Instant) -> Result<Arc<Token>, ProviderError> {
        let mut backoff = FIRST_BACKOFF;
        loop {
            match self.fetch_token(deadline).await {
                Ok(t) => {
                    let t = Arc::new(t);
                    self.token.store(t.clone());
                    return Ok(t);
                }
                Err(e) => {
                    self.out.warn_failure(&e, "token", None);
                    backoff = pause_before_retry(e, backoff, deadline).await?;
                }
            }
        }
    }

    async fn fetch_token(&self, deadline: Instant) -> Result<Token, ProviderError> {
        self.counters.token_requests.fetch_add(1, Ordering::Relaxed);
        let mut req = self
            .out
            .client()
            .post(&self.token_url)
            .json(&self.credentials);
        if let Some(tier) = &self.tier {
            req = req.header("Tier", tier.clone());
        }
        let (status, body) = self.out.call("token", req, deadline).await?;
        let received = Instant::now();
        let t = wire::interpret_token(status, &body).inspect_err(|e| {
            if *e == ProviderError::CredentialsRejected {
                self.credentials_rejected.store(true, Ordering::Relaxed);
            }
        })?;
        let header =
            HeaderValue::from_str(&t.access_token).map_err(|_| ProviderError::Unparseable)?;
        self.credentials_rejected.store(false, Ordering::Relaxed);
        self.metrics.token_refreshes.inc();
        Ok(Token {
            header,
            refresh_at: token::refresh_at(received, t.now, t.expired_at),
        })
    }
}

#[async_trait]
impl Provider for IamportV1 {
    fn name(&self) -> ProviderName {
        ProviderName::Iamport
    }

    fn budget(&self) -> Duration {
        self.timeout
    }

    async fn lookup(
        &self,
        id: &VerificationId,
        deadline: Instant,
    ) -> Result<Record, ProviderError> {
        Ok(match self.certification(id, deadline).await? {
            Some(identity) => Record::Found(identity),
            None => Record::NotFound,
        })
    }

    fn health(&self) -> Health {
        Health {
            credentials_checked: self.credentials_checked(),
            credentials_rejected: self.credentials_rejected(),
            circuit_open: self.circuit_open(),
        }
    }

    async fn check_credentials(&self, fresh: bool) -> Result<(), ProviderError> {
        IamportV1::check_credentials(self, fresh, self.timeout).await
    }
}
