//! The fleet's store on Valkey (7.2+) or Redis (6.2+): single use and the shared cache.
//!
//! One redis-rs `ConnectionManager` per thread ([`conns`]: the thread that asks drives the
//! exchange), cloned per call (one multiplexed connection each, no pool: nothing here blocks). Its defaults would let one command wait seconds on the
//! reconnect backoff, so it is tuned for a hot path: `response_timeout` is `timeout_ms`, a
//! connect gives up after [`CONNECT_TIMEOUT`] (or `timeout_ms` if longer), and a failed
//! reconnect is not retried in the background (the next command connects afresh). On top of
//! that every command is wrapped in `tokio::time::timeout(timeout_ms)`, and a circuit breaker
//! ([`crate::provider::breaker`]) stops sending while the store cannot be reached (refused,
//! timed out, TLS or credentials rejected), so a dead store costs a cache lookup nothing and a
//! single-use check an immediate 503. An error the store answers (a refused command, `OOM`)
//! fails only its own call: it does not open the breaker.
//!
//! Keys are `<key_prefix>v1:{<provider>:<id>}:<kind>`; the braces are a Cluster hash tag, so one
//! id's keys share a slot, and ids are `[A-Za-z0-9_-]`, so they cannot inject braces.
//! - `used`: `SET <key> <token> NX PX <remember>`; see [`ValkeyStore::mark`] for the retry.
//! - `res`: `SET <key> <sealed> PX <ttl>` for a certified verification, `… NX PX …` for a
//!   negative one, so a negative never overwrites what is there; read with `GET` and `PTTL` in
//!   one `MULTI`, so the local copy never outlives the shared one.
//! - `lock`: the fleet's claim on the API call for one id (`flight`): `SET <key> <token> NX PX
//!   <lease>`, released by a compare-and-delete script.
//!
//! Values are sealed under `store.secret` with their own purpose (names the key prefix), and
//! the sealed document names its provider and id (`value`), so a value copied onto another key
//! does not open. Every call is counted in `verigate_store_requests_total{op,result}` and timed
//! in `verigate_store_request_seconds{op}`; errors are logged at `warn`, rate-limited, with the
//! operation and the error kind only.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{IntoConnectionInfo, RedisResult};

use super::{
    CacheKey, Claim, Lookup, Peek, SharedCache, SharedEntry, StoreError, StoreSettings,
    StoreSettingsError, UseKey, UsedSet, value,
};
use crate::metrics::Metrics;
use crate::provider::ProviderName;
use crate::provider::breaker::{Breaker, Transition};
use crate::resolve::Resolved;
use crate::seal::{MAX_SEALED_LEN, Purpose, Sealer, decode_secret};
use crate::verification_id::VerificationId;
use crate::warnings::{Throttle, WARN_EVERY};

mod conns;
mod errors;
mod flight;

use conns::PerThread;
use errors::classify;

/// The shortest connect timeout: a TLS handshake to a store in the same zone fits well inside.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(250);

/// What a call was for: the `op` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    FirstUse,
    Get,
    Put,
    Ping,
    Claim,
    Peek,
    Release,
}

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Op::FirstUse => "first_use",
            Op::Get => "get",
            Op::Put => "put",
            Op::Ping => "ping",
            Op::Claim => "claim",
            Op::Peek => "peek",
            Op::Release => "release",
        }
    }
}

/// Valkey or Redis behind [`UsedSet`] and [`SharedCache`]. Cheap to share behind an `Arc`.
pub struct ValkeyStore {
    /// Made on first use by each thread, inside the runtime that sends the command: the store is
    /// built before pingora's runtimes exist (and before a daemon forks).
    conns: PerThread,
    prefix: String,
    timeout: Duration,
    sealer: Sealer,
    purpose: Purpose,
    breaker: Breaker,
    metrics: Arc<Metrics>,
    warnings: Throttle,
    /// Why the last failed command failed: what `health` reports while the breaker is open, so
    /// `/readyz` keeps naming a wrong password rather than "circuit open". Written on failures
    /// only.
    last_failure: std::sync::Mutex<Option<StoreError>>,
}

/// The `put` label of a `SET`'s answer: stored (`OK`), or kept what was there (nil).
fn put_label(set: Option<&String>) -> &'static str {
    if set.is_some() { "ok" } else { "kept" }
}

/// Milliseconds for `PX`: at least 1 (0 is refused by the server).
fn px(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

impl ValkeyStore {
    /// A store over `settings`, not yet connected (the first command connects), so the gateway
    /// starts while the store is down. Needs no runtime.
    pub fn new(
        settings: &StoreSettings,
        metrics: Arc<Metrics>,
    ) -> Result<Self, StoreSettingsError> {
        settings.check()?;
        // Both rustls providers are linked (pingora pulls ring); name the one verigate uses.
        crate::server::install_crypto_provider();
        let info = settings
            .url
            .expose()
            .into_connection_info()
            .map_err(|_| StoreSettingsError::Url)?
            .set_tcp_settings(redis::io::tcp::TcpSettings::default().set_nodelay(true));
        let client = redis::Client::open(info).map_err(|_| StoreSettingsError::Url)?;
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(settings.timeout))
            .set_connection_timeout(Some(settings.timeout.max(CONNECT_TIMEOUT)))
            .set_number_of_retries(0)
            .set_max_delay(CONNECT_TIMEOUT);
        let secret =
            decode_secret(0, settings.secret.expose()).map_err(StoreSettingsError::Secret)?;
        let sealer = Sealer::new(&[&secret[..]]).map_err(StoreSettingsError::Secret)?;
        let purpose = Purpose::new(&format!("verigate store {}v1 res", settings.key_prefix))
            .map_err(StoreSettingsError::Secret)?;
        // The process's first seal seeds aws-lc's random generator (tens of milliseconds in a
        // debug build): done here, it does not delay the first write-back, which waiters on
        // other instances are watching for.
        let _ = sealer.seal(&purpose, b"");
        Ok(ValkeyStore {
            conns: PerThread::new(client, config),
            prefix: settings.key_prefix.clone(),
            timeout: settings.timeout,
            sealer,
            purpose,
            breaker: Breaker::new(),
            metrics,
            warnings: Throttle::new(Instant::now(), WARN_EVERY),
            last_failure: std::sync::Mutex::new(None),
        })
    }

    /// For `/readyz`: `PING`, through the breaker (while it is open the store counts as
    /// unreachable; a ping after the open period is its probe); then, if the store answered,
    /// through every other thread's connection too ([`conns`]). The error says why: refused,
    /// timed out, wrong password, TLS mismatch.
    pub async fn health(&self) -> Result<(), StoreError> {
        let mut c = self.conn()?;
        let result = self
            .run(Op::Ping, async move {
                redis::cmd("PING").query_async::<String>(&mut c).await
            })
            .await
            .map(drop);
        self.count(Op::Ping, result.as_ref().map(|()| "ok"));
        match result {
            Ok(()) => {
                self.ping_the_others().await;
                Ok(())
            }
            Err(StoreError::CircuitOpen) => {
                let last = self.last_failure.lock().ok().and_then(|l| l.clone());
                Err(last.unwrap_or(StoreError::CircuitOpen))
            }
            Err(e) => Err(e),
        }
    }

    /// Pings the request threads' connections (counted, bounded by `timeout_ms`), outside the
    /// breaker: after a store restart each stale connection fails once and reconnects, and
    /// `threads` of them in a row must not open the breaker that single use answers 503 by.
    async fn ping_the_others(&self) {
        for mut c in self.conns.others() {
            let pinged = self
                .timed(Op::Ping, async move {
                    redis::cmd("PING").query_async::<String>(&mut c).await
                })
                .await;
            self.count(Op::Ping, pinged.as_ref().map(|_| "ok"));
        }
    }

    /// This thread's connection manager (a cheap clone), made on its first command.
    pub(in crate::store) fn conn(&self) -> Result<ConnectionManager, StoreError> {
        self.conns.get()
    }

    fn key(&self, provider: ProviderName, id: &VerificationId, kind: &str) -> String {
        format!("{}v1:{{{provider}:{}}}:{kind}", self.prefix, id.as_str())
    }

    /// Sends one command through the breaker, bounded by `timeout_ms`, timed.
    async fn run<T>(
        &self,
        op: Op,
        call: impl Future<Output = RedisResult<T>>,
    ) -> Result<T, StoreError> {
        let permit = self.breaker.admit().map_err(|_| StoreError::CircuitOpen)?;
        let result = self.timed(op, call).await;
        // A reply, even an error (NOPERM, OOM, READONLY), shows the store reachable: only a
        // store that cannot be reached or talked to opens the breaker single use relies on.
        let transition = match &result {
            Err(e) if e.is_outage() => {
                if let Ok(mut last) = self.last_failure.lock() {
                    *last = Some(e.clone());
                }
                permit.failure()
            }
            _ => permit.success(),
        };
        match transition {
            Some(Transition::Opened { period, .. }) => tracing::warn!(
                pause_ms = u64::try_from(period.as_millis()).unwrap_or(u64::MAX),
                "the store failed repeatedly: calls paused (circuit open)"
            ),
            Some(Transition::Closed) => tracing::info!("the store answers again: circuit closed"),
            None => {}
        }
        result
    }

    /// One command, bounded by `timeout_ms`, timed, its error classified; no breaker.
    async fn timed<T>(
        &self,
        op: Op,
        call: impl Future<Output = RedisResult<T>>,
    ) -> Result<T, StoreError> {
        let timer = self.metrics.store_timer(op.as_str()).start_timer();
        let result = match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(classify(&e)),
            Err(_) => Err(StoreError::Timeout),
        };
        timer.observe_duration();
        result
    }

    /// Counts the outcome of one operation (`Ok(result label)`), logging errors rate-limited.
    fn count(&self, op: Op, outcome: Result<&'static str, &StoreError>) {
        match outcome {
            Ok(label) => self.metrics.count_store(op.as_str(), label),
            Err(e) => {
                self.metrics.count_store(op.as_str(), e.label());
                if let Some(suppressed) = self.warnings.admit(Instant::now()) {
                    tracing::warn!(op = op.as_str(), error = %e, suppressed, "store call failed");
                }
            }
        }
    }

    /// Sets the `used` key if it is absent; `true` when this request set it.
    ///
    /// The value is a random token of this request. A first `SET … NX PX` either lands (`OK`),
    /// finds the key (nil: a replay), or leaves the outcome unknown (timed out, connection
    /// dropped: the server may have run it). In that last case the one retry asks, atomically
    /// (`MULTI`), "set it if absent, then what is there now?". Finding our own token means our
    /// first try landed, so this is still the first use and never a false replay; another token
    /// is a real replay. If the retry fails too, the error goes up and the request gets 503:
    /// never a guess either way.
    async fn mark(&self, key: &UseKey, remember: Duration) -> Result<bool, StoreError> {
        let k = self.key(key.provider, &key.id, "used");
        let token = format!("{:032x}", rand::random::<u128>());
        let set = || {
            let mut c = redis::cmd("SET");
            c.arg(&k).arg(&token).arg("NX").arg("PX").arg(px(remember));
            c
        };
        let mut conn = self.conn()?;
        let first = set();
        let tried = self
            .run(Op::FirstUse, async move {
                first.query_async::<Option<String>>(&mut conn).await
            })
            .await;
        match tried {
            Ok(set) => Ok(set.is_some()),
            Err(e) if e.is_ambiguous() => {
                let mut p = redis::pipe();
                p.atomic().add_command(set()).cmd("GET").arg(&k);
                let mut conn = self.conn()?;
                let (landed, now) = self
                    .run(Op::FirstUse, async move {
                        p.query_async::<(Option<String>, Option<String>)>(&mut conn)
                            .await
                    })
                    .await?;
                Ok(landed.is_some() || now.as_deref() == Some(token.as_str()))
            }
            Err(e) => Err(e),
        }
    }

    async fn read(&self, key: &CacheKey) -> Result<Option<SharedEntry>, StoreError> {
        let k = self.key(key.provider, &key.id, "res");
        let mut p = redis::pipe();
        p.atomic().cmd("GET").arg(&k).cmd("PTTL").arg(&k);
        let mut conn = self.conn()?;
        let (sealed, pttl) = self
            .run(Op::Get, async move {
                p.query_async::<(Option<String>, i64)>(&mut conn).await
            })
            .await?;
        self.entry(key, sealed, pttl)
    }

    /// Opens what `GET` and `PTTL` answered for `key`'s `res`.
    fn entry(
        &self,
        key: &CacheKey,
        sealed: Option<String>,
        pttl: i64,
    ) -> Result<Option<SharedEntry>, StoreError> {
        sealed
            .map(|sealed| self.opened(key, &sealed, pttl))
            .transpose()
    }

    /// Opens a value stored under `key` with `pttl` ms left.
    fn opened(&self, key: &CacheKey, sealed: &str, pttl: i64) -> Result<SharedEntry, StoreError> {
        let (plain, _) = self
            .sealer
            .open(&self.purpose, sealed)
            .ok_or(StoreError::Unreadable)?;
        let value = value::decode(key, &plain).ok_or(StoreError::Unreadable)?;
        // -1: no expiry (not written by verigate); the local lifetimes still bound the copy.
        let ttl = match pttl {
            -1 => Duration::MAX,
            ms => Duration::from_millis(u64::try_from(ms).unwrap_or(0)),
        };
        Ok(SharedEntry { value, ttl })
    }

    /// The `SET` that stores `value` sealed for `ttl`; answered `OK` (stored) or nil (kept).
    fn put_command(
        &self,
        key: &CacheKey,
        value: &Resolved,
        ttl: Duration,
    ) -> Result<redis::Cmd, StoreError> {
        let plain = zeroize::Zeroizing::new(value::encode(key, value));
        if Sealer::sealed_len(plain.len()) > MAX_SEALED_LEN {
            return Err(StoreError::TooLarge);
        }
        let sealed = self
            .sealer
            .seal(&self.purpose, &plain)
            .map_err(|_| StoreError::TooLarge)?;
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.key(key.provider, &key.id, "res")).arg(sealed);
        if !value.is_positive() {
            // A negative never replaces anything: not a fresher "found" of a faster instance.
            cmd.arg("NX");
        }
        cmd.arg("PX").arg(px(ttl));
        Ok(cmd)
    }

    async fn write(
        &self,
        key: &CacheKey,
        value: &Resolved,
        ttl: Duration,
    ) -> Result<&'static str, StoreError> {
        let cmd = self.put_command(key, value, ttl)?;
        let mut conn = self.conn()?;
        let set = self
            .run(Op::Put, async move {
                cmd.query_async::<Option<String>>(&mut conn).await
            })
            .await?;
        Ok(put_label(set.as_ref()))
    }
}

#[async_trait]
impl UsedSet for ValkeyStore {
    async fn first_use(&self, key: &UseKey, remember: Duration) -> Result<bool, StoreError> {
        let result = self.mark(key, remember).await;
        self.count(
            Op::FirstUse,
            result.as_ref().map(|&f| if f { "first" } else { "replay" }),
        );
        result
    }
}

#[async_trait]
impl SharedCache for ValkeyStore {
    async fn get(&self, key: &CacheKey) -> Result<Option<SharedEntry>, StoreError> {
        let result = self.read(key).await;
        self.count(
            Op::Get,
            result
                .as_ref()
                .map(|e| if e.is_some() { "hit" } else { "miss" }),
        );
        result
    }

    async fn put(&self, key: &CacheKey, value: &Resolved, ttl: Duration) -> Result<(), StoreError> {
        let result = self.write(key, value, ttl).await;
        self.count(Op::Put, result.as_ref().copied());
        result.map(drop)
    }

    async fn claim(&self, key: &CacheKey, lease: Duration) -> Result<Option<Claim>, StoreError> {
        let result = self.take_claim(key, lease).await;
        let label = |c: &Option<Claim>| if c.is_some() { "claimed" } else { "held" };
        self.count(Op::Claim, result.as_ref().map(label));
        result
    }

    async fn peek(&self, key: &CacheKey) -> Result<Peek, StoreError> {
        let result = self.look(key).await;
        let label = |p: &Peek| match p {
            Peek::Stored(_) => "stored",
            Peek::Pending => "pending",
            Peek::Abandoned => "abandoned",
        };
        self.count(Op::Peek, result.as_ref().map(label));
        result
    }

    async fn release(&self, key: &CacheKey, claim: &Claim) -> Result<(), StoreError> {
        let result = self.give_up(key, claim).await;
        self.count(Op::Release, result.as_ref().copied());
        result.map(drop)
    }

    async fn get_or_claim(&self, key: &CacheKey, lease: Duration) -> Result<Lookup, StoreError> {
        self.look_or_claim(key, lease).await
    }

    async fn settle(
        &self,
        key: &CacheKey,
        answer: Option<(&Resolved, Duration)>,
        claim: Option<&Claim>,
    ) -> Result<(), StoreError> {
        self.settle_at_once(key, answer, claim).await
    }
}
