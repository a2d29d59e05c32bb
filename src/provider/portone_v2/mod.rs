//! The PortOne V2 provider: `GET {base_url}/identity-verifications/{id}` (the id
//! percent-encoded as one segment, `?storeId=` when a store is set) with
//! `Authorization: PortOne <api_secret>`, read by [`wire::interpret`].
//!
//! V2 has no token: the secret itself is the credential, so a 401 or 403 on a lookup means the
//! secret is rejected, which `/readyz` reports until an answer shows it accepted again. Connect
//! errors and 5xx are retried with backoff while the deadline allows, through the provider's own
//! [`Outbound`] (its own breaker and call slots: a sick V1 API never opens this circuit).

pub mod wire;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use http::HeaderValue;
use tokio::time::Instant;

use super::http::{FIRST_BACKOFF, Outbound, path_segment, pause_before_retry};
use super::{Health, Provider, ProviderError, ProviderName, Record};
use crate::metrics::Metrics;
use crate::secret::Secret;
use crate::verification_id::VerificationId;

/// The `endpoint` label of identity-verification lookups.
pub const ENDPOINT: &str = "identity_verification";

/// An id no verification has: asking for it checks the secret without touching a record.
const CREDENTIALS_PROBE_ID: &str = "verigate-credentials-check";

/// `[portone]`, validated. Its `Debug` leaves out the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortOneSettings {
    /// `http` or `https` URL without a trailing slash (`https://api.portone.io`).
    pub base_url: String,
    /// The V2 API secret (non-empty, a valid header value).
    pub api_secret: Secret,
    /// Sent as `?storeId=` when set.
    pub store_id: Option<String>,
    /// The whole budget for resolving one id.
    pub timeout: Duration,
}

/// Why the provider cannot be built from its settings.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("the HTTP client for the PortOne API could not be built: {0}")]
    HttpClient(#[from] reqwest::Error),
    #[error("portone.api_secret cannot be sent in an Authorization header")]
    Secret,
}

/// The PortOne V2 API, shared by the whole process.
pub struct PortOneV2 {
    out: Outbound,
    /// `{base_url}/identity-verifications/`.
    base: String,
    /// `?storeId=…` or empty.
    query: String,
    authorization: HeaderValue,
    timeout: Duration,
    credentials_rejected: AtomicBool,
    /// Set once the first credentials check (at start) has had an answer, whatever it was.
    credentials_checked: AtomicBool,
    /// Lookups sent, read by the tests.
    pub requests: AtomicU64,
}

impl PortOneV2 {
    /// A client for the configured API.
    pub fn new(settings: &PortOneSettings, metrics: Arc<Metrics>) -> Result<Self, SetupError> {
        let mut authorization =
            HeaderValue::from_str(&format!("PortOne {}", settings.api_secret.expose()))
                .map_err(|_| SetupError::Secret)?;
        authorization.set_sensitive(true);
        let query = match settings.store_id.as_deref().filter(|s| !s.is_empty()) {
            Some(store) => format!(
                "?{}",
                form_urlencoded::Serializer::new(String::new())
                    .append_pair("storeId", store)
                    .finish()
            ),
            None => String::new(),
        };
        Ok(PortOneV2 {
            out: Outbound::new(ProviderName::Portone, metrics)?,
            base: format!("{}/identity-verifications/", settings.base_url),
            query,
            authorization,
            timeout: settings.timeout,
            credentials_rejected: AtomicBool::new(false),
            credentials_checked: AtomicBool::new(false),
            requests: AtomicU64::new(0),
        })
    }

    /// The lookup URL of `id`.
    fn url(&self, id: &str) -> String {
        format!("{}{}{}", self.base, path_segment(id), self.query)
    }

    /// Whether the API's last word on the secret was a rejection.
    pub fn credentials_rejected(&self) -> bool {
        self.credentials_rejected.load(Ordering::Relaxed)
    }

    /// Asks for an id no verification has, within `budget`, so that `/readyz` knows whether
    /// the secret is accepted before a user's lookup does: any answer but 401/403 accepts it.
    pub async fn check_credentials(&self, budget: Duration) -> Result<(), ProviderError> {
        let deadline = Instant::now() + budget;
        let probe =
            VerificationId::parse_max(CREDENTIALS_PROBE_ID, ProviderName::Portone.max_id_len())
                .map_err(|_| ProviderError::Unparseable)?;
        let result = match self.get(&self.url(probe.as_str()), &probe, deadline).await {
            Ok(_) => Ok(()),
            Err(e) => Err(e),
        };
        self.credentials_checked.store(true, Ordering::Release);
        result
    }

    /// One lookup, retried while transient failures leave time.
    async fn get(
        &self,
        url: &str,
        id: &VerificationId,
        deadline: Instant,
    ) -> Result<Record, ProviderError> {
        let mut backoff = FIRST_BACKOFF;
        loop {
            match self.get_once(url, id, deadline).await {
                Ok(record) => return Ok(record),
                Err(e) => {
                    self.out.warn_failure(&e, ENDPOINT, Some(id));
                    backoff = pause_before_retry(e, backoff, deadline).await?;
                }
            }
        }
    }

    async fn get_once(
        &self,
        url: &str,
        id: &VerificationId,
        deadline: Instant,
    ) -> Result<Record, ProviderError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let req = self
            .out
            .client()
            .get(url)
            .header(http::header::AUTHORIZATION, self.authorization.clone());
        let (status, body) = self.out.call(ENDPOINT, req, deadline).await?;
        let read = wire::interpret(status, &body, id);
        match &read {
            Err(ProviderError::CredentialsRejected) => {
                self.credentials_rejected.store(true, Ordering::Relaxed)
            }
            // The API read the request as ours: the secret is accepted.
            Ok(_) => self.credentials_rejected.store(false, Ordering::Relaxed),
            Err(_) => {}
        }
        read
    }
}

#[async_trait]
impl Provider for PortOneV2 {
    fn name(&self) -> ProviderName {
        ProviderName::Portone
    }

    fn budget(&self) -> Duration {
        self.timeout
    }

    async fn lookup(
        &self,
        id: &VerificationId,
        deadline: Instant,
    ) -> Result<Record, ProviderError> {
        self.get(&self.url(id.as_str()), id, deadline).await
    }

    fn health(&self) -> Health {
        Health {
            credentials_checked: self.credentials_checked.load(Ordering::Acquire),
            credentials_rejected: self.credentials_rejected(),
            circuit_open: self.out.circuit_open(),
        }
    }

    /// V2 holds nothing that could be stale: every check asks.
    async fn check_credentials(&self, _fresh: bool) -> Result<(), ProviderError> {
        PortOneV2::check_credentials(self, self.timeout).await
    }
}

#[cfg(test)]
mod tests;
