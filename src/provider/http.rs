//! The provider-neutral outbound machinery: one [`Outbound`] per provider, holding its reqwest
//! client, its own circuit breaker and its own bound on calls in flight.
//!
//! [`Outbound::call`] sends one request through the breaker and the call slots, with what is
//! left of the caller's deadline, reads at most [`MAX_RESPONSE_BYTES`] of the answer, and
//! counts and times it (`verigate_api_requests_total{provider,endpoint,status}` and
//! `verigate_api_request_seconds`; for i'mport V1 also the older `verigate_iamport_*` series).
//! [`pause_before_retry`] is the jittered backoff between tries of a transient failure.
//! Failures, timeouts, rejected credentials and breaker transitions are logged at `warn` through
//! [`Warnings`] (rate-limited, with the id and the error kind only, never personal data).

use std::sync::Arc;
use std::time::Duration;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, PercentEncode, utf8_percent_encode};
use prometheus::{Histogram, IntGauge};
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use super::breaker::{Breaker, Transition};
use super::{ProviderError, ProviderName};
use crate::metrics::Metrics;
use crate::verification_id::VerificationId;
use crate::warnings::{WarnKind, Warnings};

/// The largest API answer read; anything longer is treated as garbage.
pub const MAX_RESPONSE_BYTES: usize = 1 << 20;
/// First pause before retrying a transient failure; doubled each time.
pub const FIRST_BACKOFF: Duration = Duration::from_millis(25);
/// Most API calls in flight at once, per provider.
pub const MAX_CONCURRENT_CALLS: usize = 64;

/// One answer: HTTP status and body.
pub type Answer = (u16, Vec<u8>);

/// One provider's way out: client, breaker, call slots, metrics and warnings.
pub struct Outbound {
    provider: ProviderName,
    client: reqwest::Client,
    breaker: Breaker,
    /// Bounds the calls in flight: a burst of cache misses cannot open unbounded connections.
    slots: tokio::sync::Semaphore,
    warnings: Warnings,
    metrics: Arc<Metrics>,
    breaker_gauge: IntGauge,
}

impl Outbound {
    /// The outbound side of `provider`, counting into `metrics`.
    pub fn new(provider: ProviderName, metrics: Arc<Metrics>) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("verigate/", env!("CARGO_PKG_VERSION")))
            .pool_idle_timeout(Duration::from_secs(90))
            .build()?;
        Ok(Outbound {
            provider,
            client,
            breaker: Breaker::new(),
            slots: tokio::sync::Semaphore::new(MAX_CONCURRENT_CALLS),
            warnings: Warnings::default(),
            breaker_gauge: metrics.breaker_gauge(provider.as_str()),
            metrics,
        })
    }

    /// The HTTP client, to build requests with.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Whether the circuit breaker is refusing calls.
    pub fn circuit_open(&self) -> bool {
        self.breaker.is_open()
    }

    /// One API call through the breaker and the concurrency bound.
    pub async fn call(
        &self,
        endpoint: &'static str,
        req: reqwest::RequestBuilder,
        deadline: Instant,
    ) -> Result<Answer, ProviderError> {
        let permit = self
            .breaker
            .admit()
            .map_err(|_| ProviderError::CircuitOpen)?;
        let _slot = tokio::time::timeout_at(deadline, self.slots.acquire())
            .await
            .map_err(|_| ProviderError::Timeout)?
            .map_err(|_| ProviderError::Unreachable)?;
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
        call: impl Future<Output = Result<Answer, ProviderError>>,
    ) -> Result<Answer, ProviderError> {
        let started = Instant::now();
        let result = call.await;
        let took = started.elapsed().as_secs_f64();
        let status = match &result {
            Ok((s, _)) => itoa_status(*s),
            Err(ProviderError::Timeout) => "timeout",
            Err(ProviderError::Unreachable) => "unreachable",
            Err(_) => "garbage",
        };
        let m = &self.metrics;
        let provider = self.provider.as_str();
        m.api_timer(provider, endpoint).observe(took);
        m.api_requests
            .with_label_values(&[provider, endpoint, status])
            .inc();
        if self.provider == ProviderName::Iamport {
            // The series from before the provider label, kept for dashboards and alerts.
            let legacy: Histogram = m.iamport_timer(endpoint);
            legacy.observe(took);
            m.iamport_requests
                .with_label_values(&[endpoint, status])
                .inc();
        }
        result
    }

    /// Logs a failed attempt at `warn`, at most once per [`crate::warnings::WARN_EVERY`] per
    /// kind. A refusal by the open breaker is not logged again: its opening was.
    pub fn warn_failure(
        &self,
        e: &ProviderError,
        endpoint: &'static str,
        id: Option<&VerificationId>,
    ) {
        let kind = match e {
            ProviderError::CircuitOpen => return,
            ProviderError::Timeout => WarnKind::ApiTimeout,
            ProviderError::CredentialsRejected => WarnKind::CredentialsRejected,
            ProviderError::Unreachable
            | ProviderError::Status(_)
            | ProviderError::Unparseable
            | ProviderError::ApiCode(_) => WarnKind::ApiFailure,
        };
        let Some(suppressed) = self.warnings.admit(kind) else {
            return;
        };
        let provider = self.provider.as_str();
        let said = e.described(self.provider);
        match kind {
            WarnKind::CredentialsRejected => tracing::warn!(
                provider,
                endpoint,
                suppressed,
                "{said}: every verification answers 503 until {} are fixed",
                self.provider.credentials()
            ),
            _ => {
                let imp_uid = id.map(VerificationId::as_str);
                tracing::warn!(provider, endpoint, imp_uid, suppressed, "{said}")
            }
        }
    }

    /// Logs a change of the breaker's state (`cause`: the outcome of the call that caused it)
    /// and sets the `verigate_breaker_open` gauge.
    fn breaker_changed(&self, t: Transition, cause: &Result<Answer, ProviderError>) {
        let provider = self.provider.as_str();
        let api = self.provider.api();
        match t {
            Transition::Opened {
                period,
                probe_failed,
            } => {
                self.breaker_gauge.set(1);
                if let Some(suppressed) = self.warnings.admit(WarnKind::BreakerOpened) {
                    let why = if probe_failed {
                        "the probe call failed"
                    } else {
                        "consecutive calls failed"
                    };
                    let last = match cause {
                        Ok((status, _)) => format!("HTTP {status}"),
                        Err(e) => e.described(self.provider).to_string(),
                    };
                    tracing::warn!(
                        provider,
                        suppressed,
                        "circuit breaker opened ({why}, the last: {last}): {api} API calls are \
                         refused for {} ms, verifications not in the cache answer 503",
                        period.as_millis()
                    );
                }
            }
            Transition::Closed => {
                self.breaker_gauge.set(0);
                if let Some(suppressed) = self.warnings.admit(WarnKind::BreakerClosed) {
                    tracing::warn!(
                        provider,
                        suppressed,
                        "circuit breaker closed: the {api} API answers again"
                    );
                }
            }
        }
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
pub async fn pause_before_retry(
    e: ProviderError,
    backoff: Duration,
    deadline: Instant,
) -> Result<Duration, ProviderError> {
    // Full jitter around the nominal backoff, so that retries from many requests spread out.
    let pause = backoff.mul_f64(rand::random_range(0.5..1.5));
    if !e.is_transient() || Instant::now() + pause >= deadline {
        return Err(e);
    }
    tokio::time::sleep(pause).await;
    Ok(backoff * 2)
}

/// Sends `req` with what is left of the budget and reads at most [`MAX_RESPONSE_BYTES`].
async fn send(req: reqwest::RequestBuilder, deadline: Instant) -> Result<Answer, ProviderError> {
    let remaining = deadline.saturating_duration_since(Instant::now());
    if remaining.is_zero() {
        return Err(ProviderError::Timeout);
    }
    let exchange = async {
        let mut resp = req.send().await.map_err(classify)?;
        let status = resp.status().as_u16();
        if resp
            .content_length()
            .is_some_and(|n| n > MAX_RESPONSE_BYTES as u64)
        {
            return Err(ProviderError::Unparseable);
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(classify)? {
            if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(ProviderError::Unparseable);
            }
            body.extend_from_slice(&chunk);
        }
        Ok((status, body))
    };
    tokio::time::timeout(remaining, exchange)
        .await
        .map_err(|_| ProviderError::Timeout)?
}

fn classify(e: reqwest::Error) -> ProviderError {
    if e.is_timeout() {
        ProviderError::Timeout
    } else if e.is_connect() || e.is_request() {
        ProviderError::Unreachable
    } else {
        // A connection cut mid-answer, a broken chunk: the answer is garbage.
        ProviderError::Unparseable
    }
}

/// Everything but RFC 3986's unreserved characters is escaped in a path segment.
const NON_UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `s` percent-encoded as one URL path segment (a `/` in it is `%2F`, never a separator).
pub fn path_segment(s: &str) -> PercentEncode<'_> {
    utf8_percent_encode(s, NON_UNRESERVED)
}

/// `body` as JSON of type `T`; anything else is garbage.
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ProviderError> {
    serde_json::from_slice(body).map_err(|_| ProviderError::Unparseable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_segment_escapes_all_but_the_unreserved_characters() {
        let cases = [
            ("imp_045262694732", "imp_045262694732"),
            ("A-z_0.9~", "A-z_0.9~"),
            ("a/b", "a%2Fb"),
            ("..", ".."),
            ("a b?c#d", "a%20b%3Fc%23d"),
            ("가", "%EA%B0%80"),
        ];
        for (input, want) in cases {
            assert_eq!(path_segment(input).to_string(), want, "{input:?}");
        }
    }
}
