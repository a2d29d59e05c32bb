//! The seam between resolving and the identity-verification APIs: a [`Provider`] turns a
//! [`VerificationId`] into what its API says, inside a deadline, and never guesses.
//!
//! Two implementations: [`iamport_v1::IamportV1`] (i'mport V1: token, then
//! `GET /certifications/{imp_uid}`) and [`portone_v2::PortOneV2`] (PortOne V2: a static
//! `PortOne <secret>` header, `GET /identity-verifications/{id}`). Both sit on the
//! provider-neutral outbound machinery of [`http`] (breaker, call slots, deadline, jittered
//! retries, bounded reads, metrics, rate-limited warnings), each with its own breaker, so one sick
//! API never opens the other's circuit. What each API's answer means is a pure
//! `wire::interpret(status, body, asked)` per provider, tested as a table of canned answers.
//!
//! Every failure is a [`ProviderError`], which the gateway answers with 503.

pub mod breaker;
pub mod http;
pub mod iamport_v1;
pub mod portone_v2;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use crate::identity::Identity;
use crate::verification_id::{IdError, V1_MAX_LEN, V2_MAX_LEN, VerificationId};

/// Which API a route, a cache entry or a metric is about: the config name and metrics label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderName {
    /// i'mport V1 (`[iamport]`).
    Iamport,
    /// PortOne V2 (`[portone]`).
    Portone,
}

impl ProviderName {
    /// Every provider, in config order.
    pub const ALL: [ProviderName; 2] = [ProviderName::Iamport, ProviderName::Portone];

    /// The config name and the `provider` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderName::Iamport => "iamport",
            ProviderName::Portone => "portone",
        }
    }

    /// The API's name in operator messages ("the i'mport API …").
    pub fn api(self) -> &'static str {
        match self {
            ProviderName::Iamport => "i'mport",
            ProviderName::Portone => "PortOne",
        }
    }

    /// The credentials' config keys, in operator messages.
    pub fn credentials(self) -> &'static str {
        match self {
            ProviderName::Iamport => "imp_key/imp_secret",
            ProviderName::Portone => "api_secret",
        }
    }

    /// The longest id this provider's routes accept.
    pub fn max_id_len(self) -> usize {
        match self {
            ProviderName::Iamport => V1_MAX_LEN,
            ProviderName::Portone => V2_MAX_LEN,
        }
    }

    /// Validates `s` as an id of this provider.
    pub fn parse_id(self, s: &str) -> Result<VerificationId, IdError> {
        VerificationId::parse_max(s, self.max_id_len())
    }
}

impl fmt::Display for ProviderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why the API could not give an answer. Every variant makes the gateway answer 503.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    #[error("the API could not be reached")]
    Unreachable,
    #[error("the API did not answer within the time budget")]
    Timeout,
    #[error("the API answered HTTP {0}")]
    Status(u16),
    #[error("the API's answer could not be parsed")]
    Unparseable,
    #[error("the API answered code {0} without a result")]
    ApiCode(i64),
    #[error("the API rejected verigate's credentials")]
    CredentialsRejected,
    #[error("the API failed repeatedly; calls are paused (circuit open)")]
    CircuitOpen,
}

impl ProviderError {
    /// Failures worth another try within the budget: connect errors and 5xx.
    pub fn is_transient(&self) -> bool {
        matches!(self, ProviderError::Unreachable)
            || matches!(self, ProviderError::Status(s) if *s >= 500)
    }

    /// A short fixed name for logs and labels.
    pub fn label(&self) -> &'static str {
        match self {
            ProviderError::Unreachable => "unreachable",
            ProviderError::Timeout => "timeout",
            ProviderError::Status(_) => "status",
            ProviderError::Unparseable => "garbage",
            ProviderError::ApiCode(_) => "api_code",
            ProviderError::CredentialsRejected => "credentials_rejected",
            ProviderError::CircuitOpen => "circuit_open",
        }
    }

    /// The error as an operator sentence naming the API and its credentials.
    pub fn described(&self, provider: ProviderName) -> Described<'_> {
        Described {
            provider,
            error: self,
        }
    }
}

/// A [`ProviderError`] said with its provider: "the i'mport API answered HTTP 503".
pub struct Described<'a> {
    provider: ProviderName,
    error: &'a ProviderError,
}

impl fmt::Display for Described<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let api = self.provider.api();
        match self.error {
            ProviderError::CredentialsRejected => write!(
                f,
                "the {api} API rejected verigate's {}",
                self.provider.credentials()
            ),
            ProviderError::CircuitOpen => write!(
                f,
                "the {api} API failed repeatedly; calls are paused (circuit open)"
            ),
            // Every other sentence starts "the API …": name it.
            other => {
                let text = other.to_string();
                let rest = text.strip_prefix("the API").unwrap_or(&text);
                write!(f, "the {api} API{rest}")
            }
        }
    }
}

/// What the API says about one id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// A record: certified or not yet (V2 `READY`, V1 `certified: false`).
    Found(Identity),
    /// The API has no record of the id.
    NotFound,
    /// The verification was attempted and failed (V2 `FAILED`).
    Failed,
}

/// What `/readyz` needs to know of one provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Health {
    /// The credentials check at start has had its answer (accepted, rejected or trouble).
    pub credentials_checked: bool,
    /// The API's last word on the credentials was a rejection.
    pub credentials_rejected: bool,
    /// The circuit breaker is refusing calls.
    pub circuit_open: bool,
}

/// One identity-verification API. An implementation turns an id into what the API says, inside
/// `deadline`, and never guesses: every failure is a [`ProviderError`].
#[async_trait]
pub trait Provider: Send + Sync {
    /// `iamport` or `portone`: the config name, the metrics label, part of every cache key.
    fn name(&self) -> ProviderName;
    /// The whole budget of one resolution (`timeout_ms` of the provider's section).
    fn budget(&self) -> Duration;
    /// The API's record for `id`.
    async fn lookup(&self, id: &VerificationId, deadline: Instant)
    -> Result<Record, ProviderError>;
    /// For `/readyz`: credentials checked and rejected, circuit open.
    fn health(&self) -> Health;
    /// Asks the API whether the credentials are accepted, within [`Provider::budget`], so that
    /// `/readyz` knows before a user's lookup does. At start (`fresh = false`) a credential the
    /// provider already holds would do; on reload `fresh` asks again.
    async fn check_credentials(&self, fresh: bool) -> Result<(), ProviderError>;
}

/// The configured providers, by name (one or two).
#[derive(Clone, Default)]
pub struct ProviderSet {
    providers: Vec<Arc<dyn Provider>>,
}

impl ProviderSet {
    /// The set of `providers`; a later one of the same name replaces an earlier one.
    pub fn new(providers: impl IntoIterator<Item = Arc<dyn Provider>>) -> Self {
        let mut set = ProviderSet::default();
        for p in providers {
            set.providers.retain(|q| q.name() != p.name());
            set.providers.push(p);
        }
        set
    }

    /// The provider called `name`, when it is configured.
    pub fn get(&self, name: ProviderName) -> Option<&Arc<dyn Provider>> {
        self.providers.iter().find(|p| p.name() == name)
    }

    /// Every configured provider.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<dyn Provider>> {
        self.providers.iter()
    }

    /// Why the gateway is not ready: a provider's credentials are still being checked, or were
    /// rejected. The first such provider's reason.
    pub fn not_ready(&self) -> Option<String> {
        let checking = self
            .providers
            .iter()
            .find(|p| !p.health().credentials_checked);
        if let Some(p) = checking {
            let name = p.name();
            return Some(format!(
                "checking {} with the {} API",
                name.credentials(),
                name.api()
            ));
        }
        self.providers
            .iter()
            .find(|p| p.health().credentials_rejected)
            .map(|p| {
                let name = p.name();
                format!("the {} API rejected {}", name.api(), name.credentials())
            })
    }

    /// Checks every provider's credentials at once (see [`Provider::check_credentials`]) and
    /// logs each answer at `info` (`when`: at start, after a reload); a failure was already
    /// logged at `warn` by the attempt that met it.
    pub async fn check_credentials(&self, fresh: bool, when: &str) {
        let checks = self.providers.iter().map(|p| async move {
            let name = p.name();
            match p.check_credentials(fresh).await {
                Ok(()) => tracing::info!(
                    provider = name.as_str(),
                    "the {} API accepted {}",
                    name.api(),
                    name.credentials()
                ),
                // The failed attempt itself was logged at `warn` (rate-limited) where it was made.
                Err(e) => tracing::info!(
                    provider = name.as_str(),
                    "credentials check {when}: {}",
                    e.described(name)
                ),
            }
        });
        futures_util::future::join_all(checks).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_their_api_and_credentials() {
        let cases = [
            (
                ProviderName::Iamport,
                ProviderError::Status(400),
                "the i'mport API answered HTTP 400",
            ),
            (
                ProviderName::Portone,
                ProviderError::Status(503),
                "the PortOne API answered HTTP 503",
            ),
            (
                ProviderName::Iamport,
                ProviderError::CredentialsRejected,
                "the i'mport API rejected verigate's imp_key/imp_secret",
            ),
            (
                ProviderName::Portone,
                ProviderError::CredentialsRejected,
                "the PortOne API rejected verigate's api_secret",
            ),
            (
                ProviderName::Iamport,
                ProviderError::Unparseable,
                "the i'mport API's answer could not be parsed",
            ),
            (
                ProviderName::Portone,
                ProviderError::Timeout,
                "the PortOne API did not answer within the time budget",
            ),
        ];
        for (p, e, want) in cases {
            assert_eq!(e.described(p).to_string(), want);
        }
    }

    #[test]
    fn provider_names_read_from_config_in_lowercase() {
        #[derive(serde::Deserialize)]
        struct R {
            provider: ProviderName,
        }
        let r: R = toml::from_str(r#"provider = "portone""#).unwrap();
        assert_eq!(r.provider, ProviderName::Portone);
        let r: R = toml::from_str(r#"provider = "iamport""#).unwrap();
        assert_eq!(r.provider.as_str(), "iamport");
        assert!(toml::from_str::<R>(r#"provider = "Iamport""#).is_err());
        assert!(toml::from_str::<R>(r#"provider = "toss""#).is_err());
    }

    #[test]
    fn ids_follow_their_providers_maximum() {
        let long = "x".repeat(100);
        assert_eq!(ProviderName::Iamport.parse_id(&long), Err(IdError::TooLong));
        assert!(ProviderName::Portone.parse_id(&long).is_ok());
        assert!(ProviderName::Portone.parse_id(&"x".repeat(129)).is_err());
    }

    /// A provider whose health the test sets.
    struct Stub {
        name: ProviderName,
        health: std::sync::Mutex<Health>,
    }

    #[async_trait]
    impl Provider for Stub {
        fn name(&self) -> ProviderName {
            self.name
        }
        fn budget(&self) -> Duration {
            Duration::from_secs(1)
        }
        async fn lookup(&self, _: &VerificationId, _: Instant) -> Result<Record, ProviderError> {
            Err(ProviderError::Unreachable)
        }
        fn health(&self) -> Health {
            *self.health.lock().unwrap()
        }
        async fn check_credentials(&self, _fresh: bool) -> Result<(), ProviderError> {
            self.health.lock().unwrap().credentials_checked = true;
            Ok(())
        }
    }

    #[tokio::test]
    async fn readiness_waits_for_every_check_then_names_a_rejected_provider() {
        let stub = |name| {
            Arc::new(Stub {
                name,
                health: std::sync::Mutex::new(Health::default()),
            })
        };
        let (v1, v2) = (stub(ProviderName::Iamport), stub(ProviderName::Portone));
        let set = ProviderSet::new([v1.clone() as Arc<dyn Provider>, v2.clone()]);
        assert_eq!(
            set.not_ready().as_deref(),
            Some("checking imp_key/imp_secret with the i'mport API")
        );
        v1.health.lock().unwrap().credentials_checked = true;
        assert_eq!(
            set.not_ready().as_deref(),
            Some("checking api_secret with the PortOne API")
        );
        set.check_credentials(false, "at start").await;
        assert_eq!(set.not_ready(), None);
        v2.health.lock().unwrap().credentials_rejected = true;
        assert_eq!(
            set.not_ready().as_deref(),
            Some("the PortOne API rejected api_secret")
        );
        // An open circuit is trouble for lookups, not unreadiness.
        v2.health.lock().unwrap().credentials_rejected = false;
        v1.health.lock().unwrap().circuit_open = true;
        assert_eq!(set.not_ready(), None);
        assert_eq!(
            set.get(ProviderName::Portone).map(|p| p.name()),
            Some(ProviderName::Portone)
        );
    }
}
