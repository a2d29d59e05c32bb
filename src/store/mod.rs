//! The store room: the state a fleet of gateways shares (`[store]`), behind two traits.
//!
//! - [`UsedSet`]: the ids that passed a `single_use` route. `first_use` is atomic across every
//!   gateway sharing the store: of concurrent callers for one key, exactly one gets `true`.
//! - [`SharedCache`]: resolved verifications shared by the fleet, each with the time it has left.
//!   The moka cache in `resolve` stays in front of it as the local tier, so a local hit never
//!   leaves the process.
//!
//! Two implementations: [`memory::MemoryUsedSet`] is the in-process set of a lone gateway (no
//! `[store]`), and [`valkey::ValkeyStore`] speaks to Valkey or Redis (`[store]`), implementing
//! both traits. [`scratch::ScratchServer`] starts a throwaway `redis-server` for the test suites,
//! and [`health::StoreWatch`] pings the store for `/readyz`.
//!
//! **The fail policy.** A [`UsedSet`] error means 503 `verification_unavailable`: first use
//! cannot be proven, so the gateway fails closed and never falls back to a per-instance set
//! (which would let each instance pass the same id once). A [`SharedCache`] error is logged
//! (rate-limited, by the store), counted in `verigate_store_requests_total`, and skipped: the
//! resolver asks the provider, so store trouble only costs API calls. Values in the shared cache
//! are sealed ([`crate::seal`]) under `store.secret`: they hold names and birth dates, and a
//! store is not a place for them in clear.

pub mod health;
pub mod memory;
pub mod scratch;
pub mod valkey;
mod value;

#[cfg(test)]
mod conformance;

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;

use crate::provider::ProviderName;
use crate::resolve::Resolved;
use crate::secret::Secret;
use crate::verification_id::VerificationId;

/// The key of one single-use mark: the provider beside the id, so two providers' ids of the
/// same text never collide.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UseKey {
    pub provider: ProviderName,
    pub id: VerificationId,
}

impl UseKey {
    pub fn new(provider: ProviderName, id: VerificationId) -> Self {
        UseKey { provider, id }
    }
}

/// The key of one shared verification: the provider beside the id, as in `resolve`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey {
    pub provider: ProviderName,
    pub id: VerificationId,
}

impl CacheKey {
    pub fn new(provider: ProviderName, id: VerificationId) -> Self {
        CacheKey { provider, id }
    }
}

/// A verification read from the shared cache, with the time it has left there: the local copy
/// must not outlive the shared one.
#[derive(Debug, Clone)]
pub struct SharedEntry {
    pub value: Resolved,
    pub ttl: Duration,
}

/// Ids that passed a single-use route. `first_use` is atomic across every gateway sharing the
/// store: of concurrent callers for one key, exactly one gets `true`. An error means the answer
/// is unknown: the caller answers 503 and does not forward.
#[async_trait]
pub trait UsedSet: Send + Sync {
    /// Marks `key` as used for `remember`; `Ok(false)` when it already was (a replay).
    async fn first_use(&self, key: &UseKey, remember: Duration) -> Result<bool, StoreError>;
}

/// The right, for one caller across the fleet, to ask the API for one key: the random token
/// stored under the key's `lock` (`SET … NX PX <lease>`), so only its holder releases it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim(pub(crate) String);

/// What a caller waiting on another instance's claim sees.
#[derive(Debug, Clone)]
pub enum Peek {
    /// The holder has written its answer back.
    Stored(SharedEntry),
    /// The claim is still held and nothing is stored yet.
    Pending,
    /// Neither: the holder gave up without an answer (the API failed; errors are not cached).
    Abandoned,
}

/// Resolved verifications shared by a fleet. An error is only a miss to the caller.
///
/// `claim`, `peek` and `release` coalesce the first lookups of one key across the fleet: of
/// concurrent claimers exactly one gets the claim and asks the API; the others peek until its
/// answer is stored, and ask the API themselves once the claim is abandoned or their patience
/// runs out (still peeking beside that call). It only saves API calls: any error means "ask the
/// API".
#[async_trait]
pub trait SharedCache: Send + Sync {
    /// The verification stored under `key`, if any, with the time it has left.
    async fn get(&self, key: &CacheKey) -> Result<Option<SharedEntry>, StoreError>;
    /// Stores `value` for `ttl`. A negative value (not found, failed, not certified) never
    /// replaces what is already stored, so a slow instance cannot hide a fresher "found".
    async fn put(&self, key: &CacheKey, value: &Resolved, ttl: Duration) -> Result<(), StoreError>;
    /// Claims the API call for `key` for at most `lease`: `Some` for the one caller that got it.
    async fn claim(&self, key: &CacheKey, lease: Duration) -> Result<Option<Claim>, StoreError>;
    /// What is stored under `key`, and whether its claim is still held.
    async fn peek(&self, key: &CacheKey) -> Result<Peek, StoreError>;
    /// Gives `claim` up, if it still holds (an expired lease may have passed to another).
    async fn release(&self, key: &CacheKey, claim: &Claim) -> Result<(), StoreError>;

    /// What a local miss asks: `get`, and on a miss `claim` for `lease`. A store answers both in
    /// one exchange where it can (a lookup's round trips are most of what a store costs).
    async fn get_or_claim(&self, key: &CacheKey, lease: Duration) -> Result<Lookup, StoreError> {
        if let Some(entry) = self.get(key).await? {
            return Ok(Lookup::Stored(entry));
        }
        Ok(match self.claim(key, lease).await? {
            Some(claim) => Lookup::Claimed(claim),
            None => Lookup::Held,
        })
    }

    /// What a caller that asked the API owes: `put` of its answer, if any, then `release` of its
    /// claim, if any, in that order (a waiter never sees "no claim, nothing stored" between),
    /// in one exchange where the store can. The release is attempted even if the put failed.
    async fn settle(
        &self,
        key: &CacheKey,
        answer: Option<(&Resolved, Duration)>,
        claim: Option<&Claim>,
    ) -> Result<(), StoreError> {
        let put = match answer {
            Some((value, ttl)) => self.put(key, value, ttl).await,
            None => Ok(()),
        };
        let released = match claim {
            Some(claim) => self.release(key, claim).await,
            None => Ok(()),
        };
        put.and(released)
    }
}

/// What a local miss finds in the shared cache ([`SharedCache::get_or_claim`]).
#[derive(Debug, Clone)]
pub enum Lookup {
    /// An answer is stored.
    Stored(SharedEntry),
    /// Nothing is stored, and this caller now holds the claim: it asks the API.
    Claimed(Claim),
    /// Nothing is stored, and another caller holds the claim.
    Held,
}

/// Why the store gave no answer. Never holds a key's value, a password or personal data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error(
        "the store could not be reached (refused or reset; a redis:// URL to a TLS port is reset)"
    )]
    Unreachable,
    #[error(
        "the store did not answer within timeout_ms (frozen or overloaded; a rediss:// URL to a plain port waits like this)"
    )]
    Timeout,
    #[error("the store rejected verigate's credentials (wrong user or password in store.url)")]
    AuthRejected,
    #[error(
        "the store refused a command verigate needs (its ACL must allow {})",
        ACL_COMMANDS
    )]
    Denied,
    #[error(
        "the TLS handshake with the store failed (rediss:// against a plain port, or the reverse, or an untrusted certificate)"
    )]
    Tls,
    #[error("the store answered an error ({0})")]
    Server(&'static str),
    #[error("the store failed repeatedly; calls are paused (circuit open)")]
    CircuitOpen,
    #[error(
        "a stored value did not open (tampered, sealed under another store.secret, or another key's)"
    )]
    Unreadable,
    #[error("the value is too large to store")]
    TooLarge,
}

impl StoreError {
    /// A short fixed name: the `result` label of `verigate_store_requests_total`.
    pub fn label(&self) -> &'static str {
        match self {
            StoreError::Unreachable => "unreachable",
            StoreError::Timeout => "timeout",
            StoreError::AuthRejected => "auth_rejected",
            StoreError::Denied => "denied",
            StoreError::Tls => "tls",
            StoreError::Server(_) => "server_error",
            StoreError::CircuitOpen => "circuit_open",
            StoreError::Unreadable => "unreadable",
            StoreError::TooLarge => "too_large",
        }
    }

    /// Whether the store cannot be reached or talked to (no connection, no answer in time, a
    /// failed handshake, rejected credentials): what counts against its circuit breaker. An
    /// error the store answered (a refused command, `OOM`, `READONLY`) is not: the store is
    /// there, and single use must not close because a cache command was refused.
    pub fn is_outage(&self) -> bool {
        matches!(
            self,
            StoreError::Unreachable
                | StoreError::Timeout
                | StoreError::Tls
                | StoreError::AuthRejected
        )
    }

    /// Whether the command may have run although no answer came: retrying it must be
    /// idempotent.
    pub fn is_ambiguous(&self) -> bool {
        matches!(self, StoreError::Unreachable | StoreError::Timeout)
    }
}

/// Every command verigate sends the store, as deploy/README.md lists them for its ACL (`DEL`
/// runs inside the release script; `SELECT` only for a database other than 0).
pub const ACL_COMMANDS: &str = "GET, SET, PTTL, EXISTS, DEL, EVAL, MULTI, EXEC and PING (and SELECT for a database other than 0)";

/// The longest `key_prefix`.
pub const MAX_PREFIX_LEN: usize = 64;

/// The longest `timeout_ms`: each store command of a request may wait this long, and a lookup's
/// store calls come out of its provider's budget.
pub const MAX_TIMEOUT: Duration = Duration::from_millis(1000);

/// `[store]`: where the shared state lives. The room owns its settings; config builds them.
#[derive(Clone, PartialEq)]
pub struct StoreSettings {
    /// `redis://` or `rediss://` (TLS), with user and password if the store wants them.
    pub url: Secret,
    /// Put before every key, e.g. `verigate:prod:`, so that one store serves several fleets.
    pub key_prefix: String,
    /// The bound on every command.
    pub timeout: Duration,
    /// Base64 of 32 bytes: the key that seals cached verifications.
    pub secret: Secret,
}

impl fmt::Debug for StoreSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreSettings")
            .field("url", &redacted_url(self.url.expose()))
            .field("key_prefix", &self.key_prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// `url` without its user and password, for logs and `verigate check`.
pub fn redacted_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((_, host)) => format!("{scheme}://<redacted>@{host}"),
            None => url.to_string(),
        },
        None => "<not a URL>".into(),
    }
}

/// Whether `url` is plain `redis://` to a host other than this machine (`verigate check` warns:
/// the password and the single-use marks would cross a network in clear).
pub fn is_plain_to_another_host(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("redis://") else {
        return false;
    };
    let at_host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let authority = at_host.split('/').next().unwrap_or("");
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.split(':').next().unwrap_or(""),
    };
    let loopback = host
        .parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.to_canonical().is_loopback());
    !(loopback || host.eq_ignore_ascii_case("localhost"))
}

/// Why `[store]` cannot be used. Never holds the password or the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreSettingsError {
    #[error("store.url must start with redis:// or rediss://")]
    Scheme,
    #[error("store.url is not a valid Redis URL")]
    Url,
    #[error(
        "store.key_prefix must be 1 to {MAX_PREFIX_LEN} printable ASCII characters without spaces or braces"
    )]
    Prefix,
    #[error("store.timeout_ms must be at least 1")]
    Timeout,
    #[error(
        "store.timeout_ms must be at most {} ms: every store command of a request waits that long at worst",
        MAX_TIMEOUT.as_millis()
    )]
    TimeoutTooLong,
    #[error("store.secret: {0}")]
    Secret(crate::seal::SealError),
}

impl StoreSettings {
    /// Checks everything that can be checked without the store: the URL's scheme and form, the
    /// prefix, the timeout and the secret.
    pub fn check(&self) -> Result<(), StoreSettingsError> {
        let url = self.url.expose();
        if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
            return Err(StoreSettingsError::Scheme);
        }
        redis::Client::open(url).map_err(|_| StoreSettingsError::Url)?;
        let p = &self.key_prefix;
        if p.is_empty()
            || p.len() > MAX_PREFIX_LEN
            || !p
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b'{' && b != b'}')
        {
            return Err(StoreSettingsError::Prefix);
        }
        if self.timeout.is_zero() {
            return Err(StoreSettingsError::Timeout);
        }
        if self.timeout > MAX_TIMEOUT {
            return Err(StoreSettingsError::TimeoutTooLong);
        }
        crate::seal::decode_secret(0, self.secret.expose()).map_err(StoreSettingsError::Secret)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
