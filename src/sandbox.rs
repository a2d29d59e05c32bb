//! The sandbox: a simulated i'mport (PortOne) V1 API for developing, demonstrating, testing and
//! benchmarking verigate offline.
//!
//! It follows `spec/iamport-api.md` to the letter (gateway.md §8): `POST /users/getToken` (JSON or
//! form body; ONE live token per key, reused until expiry, extended by 5 minutes when asked for in
//! its last minute, 30-minute lifetime), `GET` and `DELETE /certifications/{imp_uid}` (raw,
//! `Bearer` and `X-ImpTokenHeader` tokens, `Authorization` winning when both are sent; the exact
//! 401 and 404 envelopes). Its default credentials are PortOne's public test key and secret
//! ([`TEST_IMP_KEY`], [`TEST_IMP_SECRET`]), so an official client library works unchanged.
//!
//! Records come from a people file ([`load_people`]), from [`Sandbox::insert`] and from the
//! control endpoints under `/__sandbox/`, which need no token and are never counted, faulted or
//! recorded as API calls:
//! - `POST /__sandbox/certifications` (§8): a JSON record, any fields omitted; answers 201 with the
//!   stored record. Fields unknown to [`SandboxRecord`] are kept and echoed verbatim, so a test can
//!   prove a client ignores new fields.
//! - `POST /__sandbox/faults` (§8): `{"latency_ms": N, "status": S, "times": K}` replaces the
//!   current fault; `{}` clears it. Answers 200 with the fault state ([`Fault`]).
//!
//! Extensions beyond §8, for tests, the demo and the benchmark:
//! - `GET /__sandbox/faults`: the current fault state, `times` being the calls still to fault.
//! - Random faults, for soak tests: `POST /__sandbox/faults` also takes `"jitter_ms": J` (a
//!   uniform extra 0..=J ms on top of `latency_ms`) and `"error_rate": P` (each faulted call answers
//!   `status`, 500 by default, with probability P; the others are answered normally). The state
//!   echoes these two fields only when they are set ([`RandomFault`]).
//! - `GET /__sandbox/stats`: the counters of [`SandboxStats`] as JSON.
//! - `POST /__sandbox/clock` with `{"advance_secs": N}`: moves the sandbox clock (the one behind
//!   `now`, `expired_at` and `certified_at`) by N seconds, so token expiry and extension can be
//!   tested without waiting. Answers `{"now": …, "offset_secs": …}`.
//! - `POST /__sandbox/tokens/revoke`: forgets the live token; its next use gets 401 and the next
//!   `getToken` issues a new one. Answers `{"revoked": 0|1}`.
//!
//! Every other request is an API call: its raw path and query are recorded
//! ([`Sandbox::requested_paths`]), it is counted, and the current fault applies to it. The
//! sandbox is not on the gateway's hot path, so its state sits behind plain `std` mutexes that are
//! never held across an `.await`. It logs no personal data.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use aws_lc_rs::digest::{SHA384, SHA512, digest};
use axum::Json;
use axum::Router;
use axum::body::{Bytes, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::{Offset, TimeZone};
use rand::Rng;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;

/// PortOne's public test API key (from its guides); the sandbox's default `imp_key`.
pub const TEST_IMP_KEY: &str = "imp_apikey";

/// PortOne's public test API secret (from its guides); the sandbox's default `imp_secret`.
pub const TEST_IMP_SECRET: &str =
    "ekKoeW8RyKuT0zgaZsUtXXTLQ4AhPFW3ZGseDA6bkA5lamv9OqDMnxyeB9wqOsuO9W3Mx9YSJ4dTqJ3f";

/// Message of the 401 envelope for a wrong `imp_key` or `imp_secret` (iamport-api.md).
pub const MSG_AUTH_FAILED: &str = "인증에 실패하였습니다. API키와 secret을 확인하세요.";

/// Message of the 400 envelope for a missing `imp_key` or `imp_secret` (iamport-api.md).
pub const MSG_MISSING_PARAMS: &str = "imp_key, imp_secret 파라메터가 누락되었습니다.";

/// Message of the 404 envelope for an unknown imp_uid (iamport-api.md).
pub const MSG_CERTIFICATION_NOT_FOUND: &str = "인증결과가 존재하지 않습니다.";

/// Message of the 401 envelope for a missing, unknown or expired access token. The real API does
/// not say which, so neither does the sandbox.
pub const MSG_UNAUTHORIZED: &str = "Unauthorized";

/// Message of the 404 envelope for a path the API does not have.
pub const MSG_NO_SUCH_PATH: &str = "Not Found";

/// Lifetime of a fresh access token.
const TOKEN_LIFETIME_SECS: i64 = 30 * 60;
/// A token asked for with this many seconds or fewer left is extended instead of reused as is.
const TOKEN_EXTENSION_WINDOW_SECS: i64 = 60;
/// How far such a token's `expired_at` moves.
const TOKEN_EXTENSION_SECS: i64 = 5 * 60;
/// Largest `getToken` body read; credentials are a few hundred bytes.
const TOKEN_BODY_LIMIT: usize = 64 * 1024;
/// Most recent API request paths kept by [`Sandbox::requested_paths`], so a long benchmark run
/// cannot grow the list without bound.
const REQUESTED_PATHS_KEPT: usize = 100_000;

/// Korea Standard Time, the zone of `birth`, `birthday` and `pg_tid`.
fn kst() -> TimeZone {
    TimeZone::fixed(Offset::constant(9))
}

/// One verification result, with every field of the table in iamport-api.md.
///
/// As input (people file, control endpoint, [`Sandbox::insert`]) every field may be omitted; the
/// sandbox fills plausible values (see [`Sandbox::insert`]). As output the known fields are always
/// present, `null` where absent, and any extra input fields follow verbatim.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SandboxRecord {
    /// The verification id, `imp_` + 12 digits when generated.
    pub imp_uid: Option<String>,
    /// The merchant's own id for the attempt.
    pub merchant_uid: Option<String>,
    /// The provider's transaction id.
    pub pg_tid: Option<String>,
    /// `danal`, `inicis_unified`, `inicis`, `kcp_v2`.
    pub pg_provider: Option<String>,
    /// Verified real name.
    pub name: Option<String>,
    /// `male` / `female`.
    pub gender: Option<String>,
    /// `YYYY-MM-DD`.
    pub birthday: Option<String>,
    /// UNIX seconds of 00:00 KST on the birth date; 0 when unknown.
    pub birth: Option<i64>,
    /// Foreigner flag.
    pub foreigner: Option<bool>,
    /// Foreigner flag of the provider add-on; null without it.
    pub foreigner_v2: Option<bool>,
    /// Digits only.
    pub phone: Option<String>,
    /// `SKT`, `KT`, `LGT`, `SKT_MVNO`, `KT_MVNO`, `LGT_MVNO`.
    pub carrier: Option<String>,
    /// Whether the verification succeeded.
    pub certified: Option<bool>,
    /// UNIX seconds of the verification; 0 when not certified.
    pub certified_at: Option<i64>,
    /// CI: the person's cross-site key.
    pub unique_key: Option<String>,
    /// DI: the site-specific key.
    pub unique_in_site: Option<String>,
    /// URL of the page the verification ran on.
    pub origin: Option<String>,
    /// Fields the table does not know, kept and echoed as given.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl SandboxRecord {
    /// A certified person with a name and a `YYYY-MM-DD` birthday; every other field gets the
    /// defaults of [`Sandbox::insert`].
    pub fn person(name: &str, birthday: &str) -> SandboxRecord {
        SandboxRecord {
            name: Some(name.to_owned()),
            birthday: Some(birthday.to_owned()),
            ..SandboxRecord::default()
        }
    }
}

/// Construction options of a [`Sandbox`].
#[derive(Debug, Clone)]
pub struct SandboxOptions {
    /// The only API key `getToken` accepts.
    pub imp_key: String,
    /// The secret that goes with `imp_key`.
    pub imp_secret: String,
    /// Records present from the start, completed like [`Sandbox::insert`] does.
    pub people: Vec<SandboxRecord>,
}

impl Default for SandboxOptions {
    /// PortOne's public test credentials and no records.
    fn default() -> Self {
        SandboxOptions {
            imp_key: TEST_IMP_KEY.to_owned(),
            imp_secret: TEST_IMP_SECRET.to_owned(),
            people: Vec::new(),
        }
    }
}

/// Counters of the API calls received (control endpoints excluded). A request answered by a
/// fault still counts for its endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxStats {
    /// `POST /users/getToken` requests.
    pub token_requests: u64,
    /// Access tokens minted (a reused or extended token is not a new one).
    pub tokens_issued: u64,
    /// `GET /certifications/{imp_uid}` requests.
    pub certification_requests: u64,
    /// `DELETE /certifications/{imp_uid}` requests.
    pub certification_deletes: u64,
    /// Requests answered with an injected fault status.
    pub faults_served: u64,
    /// Every non-control request, whatever its path.
    pub api_calls: u64,
}

/// An injected fault: the next `times` API calls (all of them when `None`) wait `latency_ms` and,
/// when `status` is set, answer that status with the error envelope. A fault with neither latency
/// nor status is no fault: it is what `{}` and [`Sandbox::clear_faults`] leave.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    /// Delay before answering, in milliseconds.
    pub latency_ms: Option<u64>,
    /// HTTP status to answer instead of the real response (200–599).
    pub status: Option<u16>,
    /// How many API calls are still to be faulted; `None` until cleared.
    pub times: Option<u32>,
}

impl Fault {
    /// Whether this fault does nothing (no latency, no status, or no calls left).
    pub fn is_clear(&self) -> bool {
        (self.latency_ms.is_none() && self.status.is_none()) || self.times == Some(0)
    }
}

/// A [`Fault`] with random parts, for soak tests: the next `times` API calls (all of them when
/// `None`) wait `latency_ms` plus a uniform `0..=jitter_ms`, and answer `status` (500 when unset)
/// with the error envelope with probability `error_rate` (always when `error_rate` is unset and
/// `status` is set, as a plain [`Fault`] does). `times` counts every faulted call, errored or not.
///
/// It is a type of its own rather than two more fields of [`Fault`] so that code building a
/// `Fault` literal keeps compiling; a `Fault` converts into it losslessly.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RandomFault {
    /// Fixed delay before answering, in milliseconds.
    pub latency_ms: Option<u64>,
    /// Largest random extra delay, in milliseconds (uniform, inclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter_ms: Option<u64>,
    /// HTTP status of an injected error (200–599); 500 when unset but `error_rate` is set.
    pub status: Option<u16>,
    /// Probability (0 to 1) that a faulted call answers the error status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_rate: Option<f64>,
    /// How many API calls are still to be faulted; `None` until cleared.
    pub times: Option<u32>,
}

/// What one faulted call does, as drawn by [`RandomFault::draw`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultDraw {
    /// How long to wait before answering.
    pub delay: Duration,
    /// The status to answer with the error envelope, or `None` to answer normally.
    pub status: Option<u16>,
}

impl From<Fault> for RandomFault {
    fn from(f: Fault) -> Self {
        RandomFault {
            latency_ms: f.latency_ms,
            jitter_ms: None,
            status: f.status,
            error_rate: None,
            times: f.times,
        }
    }
}

impl RandomFault {
    /// Whether this fault does nothing (no delay, no error, or no calls left).
    pub fn is_clear(&self) -> bool {
        let inert = self.latency_ms.is_none()
            && self.jitter_ms.is_none()
            && self.status.is_none()
            && self.error_rate.is_none();
        inert || self.times == Some(0)
    }

    /// The deterministic part, as the §8 fault state reports it.
    pub fn fixed_part(&self) -> Fault {
        Fault {
            latency_ms: self.latency_ms,
            status: self.status,
            times: self.times,
        }
    }

    /// Decides one faulted call with `rng`. An `error_rate` outside 0..=1 counts as the nearest
    /// bound and NaN as 0, so a bad value can neither panic nor fault every call by surprise.
    pub fn draw<R: Rng + ?Sized>(&self, rng: &mut R) -> FaultDraw {
        let jitter = self.jitter_ms.map_or(0, |j| rng.random_range(0..=j));
        let delay = Duration::from_millis(self.latency_ms.unwrap_or(0).saturating_add(jitter));
        let status = match self.error_rate {
            None => self.status,
            Some(p) => {
                let p = if p.is_nan() { 0.0 } else { p.clamp(0.0, 1.0) };
                // `random::<f64>()` is in [0, 1): p = 0 never errs, p = 1 always does.
                (rng.random::<f64>() < p).then_some(self.status.unwrap_or(500))
            }
        };
        FaultDraw { delay, status }
    }
}

/// What can go wrong loading people or serving the sandbox.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The people file could not be read.
    #[error("{}: cannot read people file: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The people file is not valid TOML/JSON or does not hold records.
    #[error("{}:{line}:{column}: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column of the problem.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// The people file's name ends in neither `.toml` nor `.json`.
    #[error(
        "{}: unsupported people file type; use a .toml file with [[people]] tables or a .json file with an array of records",
        path.display()
    )]
    UnsupportedFormat {
        /// The file.
        path: PathBuf,
    },
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The server stopped with an I/O error.
    #[error("sandbox server failed: {0}")]
    Serve(#[source] std::io::Error),
}

/// A TOML people file: `[[people]]` tables.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PeopleFile {
    #[serde(default)]
    people: Vec<SandboxRecord>,
}

/// Reads records from a people file: TOML with `[[people]]` tables (`.toml`), or JSON holding an
/// array of records (`.json`; an object `{"people": [...]}` is accepted too).
pub fn load_people(path: &Path) -> Result<Vec<SandboxRecord>, SandboxError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let is_toml = match ext.as_deref() {
        Some("toml") => true,
        Some("json") => false,
        _ => {
            return Err(SandboxError::UnsupportedFormat {
                path: path.to_owned(),
            });
        }
    };
    let text = std::fs::read_to_string(path).map_err(|source| SandboxError::Read {
        path: path.to_owned(),
        source,
    })?;
    if is_toml {
        toml::from_str::<PeopleFile>(&text)
            .map(|f| f.people)
            .map_err(|e| {
                let (line, column) = e
                    .span()
                    .map_or((1, 1), |span| line_column(&text, span.start));
                SandboxError::Parse {
                    path: path.to_owned(),
                    line,
                    column,
                    message: e.message().to_owned(),
                }
            })
    } else {
        let parsed = if text.trim_start().starts_with('{') {
            serde_json::from_str::<PeopleFile>(&text).map(|f| f.people)
        } else {
            serde_json::from_str::<Vec<SandboxRecord>>(&text)
        };
        parsed.map_err(|e| {
            let full = e.to_string();
            let suffix = format!(" at line {} column {}", e.line(), e.column());
            SandboxError::Parse {
                path: path.to_owned(),
                line: e.line(),
                column: e.column(),
                message: full.strip_suffix(&suffix).unwrap_or(&full).to_owned(),
            }
        })
    }
}

/// 1-based line and column (in characters) of byte offset `at` in `text`.
fn line_column(text: &str, at: usize) -> (usize, usize) {
    let before = text.get(..at).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// The live access token of the sandbox's one key.
struct LiveToken {
    value: String,
    expired_at: i64,
}

/// Counters behind [`SandboxStats`].
#[derive(Default)]
struct Counters {
    token_requests: AtomicU64,
    tokens_issued: AtomicU64,
    certification_requests: AtomicU64,
    certification_deletes: AtomicU64,
    faults_served: AtomicU64,
    api_calls: AtomicU64,
}

/// Shared state of a sandbox.
struct Inner {
    imp_key: String,
    imp_secret: String,
    clock_offset_secs: AtomicI64,
    records: Mutex<HashMap<String, SandboxRecord>>,
    token: Mutex<Option<LiveToken>>,
    fault: Mutex<RandomFault>,
    paths: Mutex<VecDeque<String>>,
    counters: Counters,
}

/// A simulated i'mport V1 API. Cheap to clone: clones share one state, so a test can keep a
/// handle while the server runs.
#[derive(Clone)]
pub struct Sandbox {
    inner: Arc<Inner>,
}

/// Locks a mutex, carrying on past poisoning: every critical section leaves the state valid.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Sandbox {
    /// A sandbox with the given credentials and records.
    pub fn new(opts: SandboxOptions) -> Sandbox {
        let sandbox = Sandbox {
            inner: Arc::new(Inner {
                imp_key: opts.imp_key,
                imp_secret: opts.imp_secret,
                clock_offset_secs: AtomicI64::new(0),
                records: Mutex::new(HashMap::new()),
                token: Mutex::new(None),
                fault: Mutex::new(RandomFault::default()),
                paths: Mutex::new(VecDeque::new()),
                counters: Counters::default(),
            }),
        };
        for rec in opts.people {
            sandbox.insert(rec);
        }
        sandbox
    }

    /// Serves the API on `listener` until the returned future is dropped.
    pub async fn serve(&self, listener: TcpListener) -> std::io::Result<()> {
        axum::serve(listener, self.router()).await
    }

    /// Binds `addr` (port 0 picks a free one), serves in a background task for the life of the
    /// tokio runtime, and returns the bound address.
    pub async fn spawn(&self, addr: SocketAddr) -> std::io::Result<SocketAddr> {
        let listener = TcpListener::bind(addr).await?;
        let bound = listener.local_addr()?;
        let sandbox = self.clone();
        tokio::spawn(async move {
            if let Err(e) = sandbox.serve(listener).await {
                tracing::error!(error = %e, "sandbox server stopped");
            }
        });
        Ok(bound)
    }

    /// Stores a record (replacing one with the same imp_uid) and returns it as stored.
    ///
    /// Omitted fields get plausible values: `imp_uid` a fresh `imp_` + 12 digits, `merchant_uid`
    /// `mid_<millis>`, `pg_provider` `danal`, `foreigner` false, `certified` true. When certified:
    /// `certified_at` now (sandbox clock), `birth` 00:00 KST of `birthday` (or `birthday` from
    /// `birth`), a `pg_tid`, and a CI/DI derived from the person's data. When not certified:
    /// `birth` 0 and `certified_at` 0, as the API answers for unfinished attempts. `name` and the
    /// other fields stay null unless given.
    pub fn insert(&self, rec: SandboxRecord) -> SandboxRecord {
        let rec = self.complete(rec);
        let imp_uid = rec.imp_uid.clone().unwrap_or_default();
        lock(&self.inner.records).insert(imp_uid, rec.clone());
        rec
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> SandboxStats {
        let c = &self.inner.counters;
        SandboxStats {
            token_requests: c.token_requests.load(Ordering::Relaxed),
            tokens_issued: c.tokens_issued.load(Ordering::Relaxed),
            certification_requests: c.certification_requests.load(Ordering::Relaxed),
            certification_deletes: c.certification_deletes.load(Ordering::Relaxed),
            faults_served: c.faults_served.load(Ordering::Relaxed),
            api_calls: c.api_calls.load(Ordering::Relaxed),
        }
    }

    /// Path and query, exactly as received (not decoded), of every API request (control
    /// endpoints excluded), oldest first. The most recent 100,000 are kept.
    pub fn requested_paths(&self) -> Vec<String> {
        lock(&self.inner.paths).iter().cloned().collect()
    }

    /// Replaces the current fault. A fault that does nothing ([`Fault::is_clear`]) clears it. A
    /// status outside 200–599 is served as 500.
    pub fn set_fault(&self, f: Fault) {
        self.set_random_fault(f.into());
    }

    /// Replaces the current fault with one that has random parts. A fault that does nothing
    /// ([`RandomFault::is_clear`]) clears it.
    pub fn set_random_fault(&self, f: RandomFault) {
        *lock(&self.inner.fault) = if f.is_clear() {
            RandomFault::default()
        } else {
            f
        };
    }

    /// Removes the current fault.
    pub fn clear_faults(&self) {
        self.set_fault(Fault::default());
    }

    /// The current fault, `times` being the calls still to fault (without its random parts; see
    /// [`Sandbox::random_fault`]).
    pub fn fault(&self) -> Fault {
        lock(&self.inner.fault).fixed_part()
    }

    /// The current fault with its random parts, `times` being the calls still to fault.
    pub fn random_fault(&self) -> RandomFault {
        *lock(&self.inner.fault)
    }

    /// Moves the sandbox clock by `secs` (negative moves it back).
    pub fn advance_clock(&self, secs: i64) {
        self.inner
            .clock_offset_secs
            .fetch_add(secs, Ordering::Relaxed);
    }

    /// The sandbox clock, in UNIX seconds: the system clock plus every advance.
    pub fn now(&self) -> i64 {
        Timestamp::now().as_second() + self.inner.clock_offset_secs.load(Ordering::Relaxed)
    }

    /// Forgets the live access token: its next use gets 401, the next `getToken` mints a new one.
    pub fn revoke_tokens(&self) {
        self.take_token();
    }

    fn take_token(&self) -> bool {
        lock(&self.inner.token).take().is_some()
    }

    fn router(&self) -> Router {
        Router::new()
            .route("/__sandbox/certifications", post(control_insert))
            .route(
                "/__sandbox/faults",
                post(control_set_fault).get(control_get_fault),
            )
            .route("/__sandbox/stats", get(control_stats))
            .route("/__sandbox/clock", post(control_clock))
            .route("/__sandbox/tokens/revoke", post(control_revoke))
            .fallback(api)
            .with_state(self.clone())
    }

    /// Fills the omitted fields of a record (see [`Sandbox::insert`]).
    fn complete(&self, mut rec: SandboxRecord) -> SandboxRecord {
        let now = self.now();
        let mut rng = rand::rng();
        let imp_uid = rec.imp_uid.get_or_insert_with(|| {
            let mut id = String::from("imp_");
            for _ in 0..12 {
                id.push(char::from(b'0' + rng.random_range(0..10u8)));
            }
            id
        });
        let imp_uid = imp_uid.clone();
        rec.merchant_uid.get_or_insert_with(|| {
            let millis = now * 1000 + i64::from(Timestamp::now().subsec_millisecond());
            format!("mid_{millis}")
        });
        rec.pg_provider.get_or_insert_with(|| "danal".to_owned());
        rec.foreigner.get_or_insert(false);
        let certified = *rec.certified.get_or_insert(true);
        if rec.birthday.is_none() {
            rec.birthday = rec.birth.filter(|b| *b != 0).and_then(kst_date_of);
        }
        if !certified {
            rec.birth.get_or_insert(0);
            rec.certified_at.get_or_insert(0);
            return rec;
        }
        let birth = rec.birthday.as_deref().and_then(kst_midnight).unwrap_or(0);
        rec.birth.get_or_insert(birth);
        let certified_at = *rec.certified_at.get_or_insert(now);
        rec.pg_tid.get_or_insert_with(|| {
            let mut tid = Timestamp::from_second(certified_at)
                .map(|t| t.to_zoned(kst()).strftime("%Y%m%d%H%M%S").to_string())
                .unwrap_or_default();
            for _ in 0..10 {
                tid.push(char::from(b'0' + rng.random_range(0..10u8)));
            }
            tid
        });
        let unique_key = rec
            .unique_key
            .get_or_insert_with(|| {
                // Deterministic, so one person inserted twice keeps one CI, like the real thing.
                let seed = match (&rec.name, &rec.birthday) {
                    (None, None) => imp_uid.clone(),
                    (name, birthday) => format!(
                        "{}|{}|{}|{}",
                        name.as_deref().unwrap_or(""),
                        birthday.as_deref().unwrap_or(""),
                        rec.phone.as_deref().unwrap_or(""),
                        rec.gender.as_deref().unwrap_or("")
                    ),
                };
                BASE64.encode(digest(
                    &SHA512,
                    format!("verigate-sandbox-ci|{seed}").as_bytes(),
                ))
            })
            .clone();
        rec.unique_in_site.get_or_insert_with(|| {
            let seed = format!("verigate-sandbox-di|{}|{unique_key}", self.inner.imp_key);
            BASE64.encode(digest(&SHA384, seed.as_bytes()))
        });
        rec
    }

    /// Answers `getToken` for the given credentials.
    fn get_token(&self, imp_key: &str, imp_secret: &str) -> Response {
        if imp_key != self.inner.imp_key || imp_secret != self.inner.imp_secret {
            return envelope_error(StatusCode::UNAUTHORIZED, MSG_AUTH_FAILED);
        }
        let now = self.now();
        let mut slot = lock(&self.inner.token);
        let token = match slot.as_mut() {
            Some(live) if now < live.expired_at => {
                if live.expired_at - now <= TOKEN_EXTENSION_WINDOW_SECS {
                    live.expired_at += TOKEN_EXTENSION_SECS;
                }
                live
            }
            _ => {
                self.inner
                    .counters
                    .tokens_issued
                    .fetch_add(1, Ordering::Relaxed);
                slot.insert(LiveToken {
                    value: new_token_value(),
                    expired_at: now + TOKEN_LIFETIME_SECS,
                })
            }
        };
        let body = TokenResponse {
            access_token: token.value.clone(),
            now,
            expired_at: token.expired_at,
        };
        drop(slot);
        envelope_ok(body)
    }

    /// Whether `token` is the live, unexpired access token.
    fn token_is_live(&self, token: &str) -> bool {
        let now = self.now();
        lock(&self.inner.token)
            .as_ref()
            .is_some_and(|live| live.value == token && now < live.expired_at)
    }

    /// Takes one use of the current fault, if any.
    fn take_fault(&self) -> Option<RandomFault> {
        let mut slot = lock(&self.inner.fault);
        if slot.is_clear() {
            return None;
        }
        let taken = *slot;
        if let Some(times) = slot.times.as_mut() {
            *times -= 1;
            if *times == 0 {
                *slot = RandomFault::default();
            }
        }
        Some(taken)
    }

    fn record_path(&self, path: String) {
        let mut paths = lock(&self.inner.paths);
        if paths.len() == REQUESTED_PATHS_KEPT {
            paths.pop_front();
        }
        paths.push_back(path);
    }
}

/// `YYYY-MM-DD` (strictly) to UNIX seconds of 00:00 KST on that date.
fn kst_midnight(birthday: &str) -> Option<i64> {
    let b = birthday.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let year: i16 = birthday.get(0..4)?.parse().ok()?;
    let month: i8 = birthday.get(5..7)?.parse().ok()?;
    let day: i8 = birthday.get(8..10)?.parse().ok()?;
    let date = Date::new(year, month, day).ok()?;
    Some(date.to_zoned(kst()).ok()?.timestamp().as_second())
}

/// UNIX seconds to the `YYYY-MM-DD` date they fall on in KST.
fn kst_date_of(secs: i64) -> Option<String> {
    let date = Timestamp::from_second(secs).ok()?.to_zoned(kst()).date();
    Some(date.to_string())
}

/// 40 lowercase hex characters from 20 random bytes.
fn new_token_value() -> String {
    let mut bytes = [0u8; 20];
    rand::rng().fill(&mut bytes);
    bytes.iter().fold(String::with_capacity(40), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The `response` of a successful `getToken`.
#[derive(Serialize)]
struct TokenResponse {
    access_token: String,
    now: i64,
    expired_at: i64,
}

/// The API's envelope; field order is the API's.
#[derive(Serialize)]
struct Envelope<'a, T: Serialize> {
    code: i32,
    message: Option<&'a str>,
    response: Option<T>,
}

fn envelope_ok<T: Serialize>(response: T) -> Response {
    Json(Envelope {
        code: 0,
        message: None,
        response: Some(response),
    })
    .into_response()
}

fn envelope_error(status: StatusCode, message: &str) -> Response {
    let body = Envelope::<()> {
        code: -1,
        message: Some(message),
        response: None,
    };
    (status, Json(body)).into_response()
}

/// What an API request asks for.
enum Route<'a> {
    GetToken,
    GetCertification(&'a str),
    DeleteCertification(&'a str),
    MethodNotAllowed,
    NotFound,
}

impl<'a> Route<'a> {
    /// Classifies a raw (still percent-encoded) path.
    fn of(method: &Method, path: &'a str) -> Route<'a> {
        if path == "/users/getToken" {
            return if method == Method::POST {
                Route::GetToken
            } else {
                Route::MethodNotAllowed
            };
        }
        match path.strip_prefix("/certifications/") {
            Some(seg) if !seg.is_empty() && !seg.contains('/') => match *method {
                Method::GET => Route::GetCertification(seg),
                Method::DELETE => Route::DeleteCertification(seg),
                _ => Route::MethodNotAllowed,
            },
            _ => Route::NotFound,
        }
    }
}

/// Every non-control request: recorded, counted, faulted, then answered.
async fn api(State(sandbox): State<Sandbox>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let raw = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_owned(), |pq| pq.as_str().to_owned());
    sandbox.record_path(raw);
    let counters = &sandbox.inner.counters;
    counters.api_calls.fetch_add(1, Ordering::Relaxed);
    let route = Route::of(&parts.method, parts.uri.path());
    let endpoint_counter = match route {
        Route::GetToken => Some(&counters.token_requests),
        Route::GetCertification(_) => Some(&counters.certification_requests),
        Route::DeleteCertification(_) => Some(&counters.certification_deletes),
        Route::MethodNotAllowed | Route::NotFound => None,
    };
    if let Some(counter) = endpoint_counter {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    if let Some(fault) = sandbox.take_fault() {
        let draw = fault.draw(&mut rand::rng());
        if !draw.delay.is_zero() {
            tokio::time::sleep(draw.delay).await;
        }
        if let Some(code) = draw.status {
            counters.faults_served.fetch_add(1, Ordering::Relaxed);
            let status = StatusCode::from_u16(code)
                .ok()
                .filter(|s| (200..600).contains(&s.as_u16()))
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let message = format!("sandbox fault: injected HTTP {}", status.as_u16());
            return envelope_error(status, &message);
        }
    }

    match route {
        Route::GetToken => {
            let content_type = parts
                .headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let Ok(body) = to_bytes(body, TOKEN_BODY_LIMIT).await else {
                return envelope_error(StatusCode::BAD_REQUEST, MSG_MISSING_PARAMS);
            };
            match credentials(content_type.as_deref(), &body) {
                Some((key, secret)) => sandbox.get_token(&key, &secret),
                None => envelope_error(StatusCode::BAD_REQUEST, MSG_MISSING_PARAMS),
            }
        }
        Route::GetCertification(seg) | Route::DeleteCertification(seg) => {
            let authorized =
                presented_token(&parts.headers).is_some_and(|token| sandbox.token_is_live(token));
            if !authorized {
                return envelope_error(StatusCode::UNAUTHORIZED, MSG_UNAUTHORIZED);
            }
            let Ok(imp_uid) = percent_encoding::percent_decode_str(seg).decode_utf8() else {
                return envelope_error(StatusCode::NOT_FOUND, MSG_CERTIFICATION_NOT_FOUND);
            };
            let found = {
                let mut records = lock(&sandbox.inner.records);
                if matches!(route, Route::DeleteCertification(_)) {
                    records.remove(imp_uid.as_ref())
                } else {
                    records.get(imp_uid.as_ref()).cloned()
                }
            };
            match found {
                Some(rec) => envelope_ok(rec),
                None => envelope_error(StatusCode::NOT_FOUND, MSG_CERTIFICATION_NOT_FOUND),
            }
        }
        Route::MethodNotAllowed => {
            envelope_error(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
        }
        Route::NotFound => envelope_error(StatusCode::NOT_FOUND, MSG_NO_SUCH_PATH),
    }
}

/// `imp_key` and `imp_secret` from a JSON or form body; `None` when either is missing or empty.
fn credentials(content_type: Option<&str>, body: &[u8]) -> Option<(String, String)> {
    let is_form = content_type.is_some_and(|ct| {
        ct.trim_start()
            .to_ascii_lowercase()
            .starts_with("application/x-www-form-urlencoded")
    });
    let json = if is_form {
        None
    } else {
        serde_json::from_slice::<serde_json::Value>(body).ok()
    };
    let (key, secret) = match json {
        Some(v) => {
            let field = |name: &str| v.get(name).and_then(|f| f.as_str()).map(str::to_owned);
            (field("imp_key"), field("imp_secret"))
        }
        None => {
            let (mut key, mut secret) = (None, None);
            for (name, value) in form_urlencoded::parse(body) {
                match name.as_ref() {
                    "imp_key" => key = Some(value.into_owned()),
                    "imp_secret" => secret = Some(value.into_owned()),
                    _ => {}
                }
            }
            (key, secret)
        }
    };
    match (key, secret) {
        (Some(k), Some(s)) if !k.is_empty() && !s.is_empty() => Some((k, s)),
        _ => None,
    }
}

/// The access token a request presents: `Authorization` (raw or `Bearer`) when that header is
/// sent at all, otherwise `X-ImpTokenHeader`. `None` when neither is sent.
fn presented_token(headers: &HeaderMap) -> Option<&str> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        // A non-UTF-8 value presents a token that can never match.
        let value = value.to_str().unwrap_or("").trim();
        let token = match value.split_once(' ') {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
            _ => value,
        };
        return Some(token);
    }
    headers
        .get("x-imptokenheader")
        .map(|v| v.to_str().unwrap_or("").trim())
}

/// A control endpoint's error: the API envelope with status 400.
fn control_error(message: &str) -> Response {
    envelope_error(StatusCode::BAD_REQUEST, message)
}

/// Parses a control body, an empty body standing for `{}`; the error is the message to answer.
fn control_body<T: for<'de> Deserialize<'de>>(body: &Bytes) -> Result<T, String> {
    let text: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    serde_json::from_slice(text).map_err(|e| format!("invalid JSON body: {e}"))
}

async fn control_insert(State(sandbox): State<Sandbox>, body: Bytes) -> Response {
    match control_body::<SandboxRecord>(&body) {
        Ok(rec) => (StatusCode::CREATED, Json(sandbox.insert(rec))).into_response(),
        Err(message) => control_error(&message),
    }
}

async fn control_set_fault(State(sandbox): State<Sandbox>, body: Bytes) -> Response {
    let fault = match control_body::<RandomFault>(&body) {
        Ok(f) => f,
        Err(message) => return control_error(&message),
    };
    if let Some(s) = fault.status
        && !(200..600).contains(&s)
    {
        return control_error("status must be between 200 and 599");
    }
    if let Some(p) = fault.error_rate
        && !(0.0..=1.0).contains(&p)
    {
        return control_error("error_rate must be between 0 and 1");
    }
    sandbox.set_random_fault(fault);
    Json(sandbox.random_fault()).into_response()
}

async fn control_get_fault(State(sandbox): State<Sandbox>) -> Response {
    Json(sandbox.random_fault()).into_response()
}

async fn control_stats(State(sandbox): State<Sandbox>) -> Response {
    Json(sandbox.stats()).into_response()
}

/// Body of `POST /__sandbox/clock`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClockAdvance {
    advance_secs: i64,
}

async fn control_clock(State(sandbox): State<Sandbox>, body: Bytes) -> Response {
    let advance = match control_body::<ClockAdvance>(&body) {
        Ok(a) => a,
        Err(message) => return control_error(&message),
    };
    sandbox.advance_clock(advance.advance_secs);
    Json(serde_json::json!({
        "now": sandbox.now(),
        "offset_secs": sandbox.inner.clock_offset_secs.load(Ordering::Relaxed),
    }))
    .into_response()
}

async fn control_revoke(State(sandbox): State<Sandbox>) -> Response {
    let revoked = u8::from(sandbox.take_token());
    Json(serde_json::json!({ "revoked": revoked })).into_response()
}

/// `verigate sandbox`: loads the people file if any, binds `listen`, prints
/// `sandbox listening on http://ADDR (imp_key=…)` on stdout and serves until the process ends.
pub async fn run_cli(listen: SocketAddr, people: Option<&Path>) -> Result<(), SandboxError> {
    let people = match people {
        Some(path) => load_people(path)?,
        None => Vec::new(),
    };
    let opts = SandboxOptions {
        people,
        ..SandboxOptions::default()
    };
    let imp_key = opts.imp_key.clone();
    let sandbox = Sandbox::new(opts);
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|source| SandboxError::Bind {
            addr: listen,
            source,
        })?;
    let bound = listener.local_addr().map_err(|source| SandboxError::Bind {
        addr: listen,
        source,
    })?;
    println!("sandbox listening on http://{bound} (imp_key={imp_key})");
    sandbox.serve(listener).await.map_err(SandboxError::Serve)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::Client;
    use serde_json::{Value, json};
    use std::net::{Ipv4Addr, SocketAddrV4};
    use std::time::Instant;

    const LOOPBACK: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0));

    /// A sandbox with the test credentials on a free loopback port, its base URL and a client.
    async fn start() -> (Sandbox, String, Client) {
        start_with(SandboxOptions::default()).await
    }

    async fn start_with(opts: SandboxOptions) -> (Sandbox, String, Client) {
        let sandbox = Sandbox::new(opts);
        let addr = sandbox.spawn(LOOPBACK).await.expect("bind loopback");
        (sandbox, format!("http://{addr}"), Client::new())
    }

    async fn token_response(client: &Client, base: &str) -> Value {
        let resp = client
            .post(format!("{base}/users/getToken"))
            .json(&json!({"imp_key": TEST_IMP_KEY, "imp_secret": TEST_IMP_SECRET}))
            .send()
            .await
            .expect("getToken");
        assert_eq!(resp.status(), 200);
        let body: Value = resp.json().await.expect("json");
        assert_eq!(body["code"], 0);
        assert_eq!(body["message"], Value::Null);
        body["response"].clone()
    }

    async fn token(client: &Client, base: &str) -> String {
        token_response(client, base).await["access_token"]
            .as_str()
            .expect("access_token string")
            .to_owned()
    }

    /// Status and body text of a certification request with the given headers.
    async fn certification(
        client: &Client,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
    ) -> (u16, String) {
        let mut req = client.request(method, url);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let resp = req.send().await.expect("certification request");
        let status = resp.status().as_u16();
        (status, resp.text().await.expect("body"))
    }

    fn unauthorized_body() -> String {
        format!(r#"{{"code":-1,"message":"{MSG_UNAUTHORIZED}","response":null}}"#)
    }

    fn temp_file(ext: &str, contents: &str) -> PathBuf {
        let path = std::env::temp_dir().join(format!(
            "verigate-sandbox-people-{}-{}.{ext}",
            std::process::id(),
            new_token_value()
        ));
        std::fs::write(&path, contents).expect("write temp file");
        path
    }

    #[test]
    fn kst_midnight_of_birthday_is_unix_seconds() {
        assert_eq!(kst_midnight("1991-11-11"), Some(689_785_200));
        assert_eq!(kst_midnight("1976-11-07"), Some(216_140_400));
        assert_eq!(kst_date_of(689_785_200).as_deref(), Some("1991-11-11"));
        assert_eq!(kst_midnight("1991-1-11"), None);
        assert_eq!(kst_midnight("1991-02-30"), None);
    }

    #[test]
    fn token_value_is_40_lowercase_hex() {
        let t = new_token_value();
        assert_eq!(t.len(), 40);
        assert!(
            t.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
    }

    #[tokio::test]
    async fn token_is_reused_with_the_same_expiry() {
        let (sandbox, base, client) = start().await;
        let first = token_response(&client, &base).await;
        let access = first["access_token"].as_str().expect("token");
        assert_eq!(access.len(), 40);
        let now = first["now"].as_i64().expect("now");
        assert_eq!(first["expired_at"].as_i64(), Some(now + 1800));

        sandbox.advance_clock(1000);
        let second = token_response(&client, &base).await;
        assert_eq!(second["access_token"], first["access_token"]);
        assert_eq!(second["expired_at"], first["expired_at"]);
        assert!(second["now"].as_i64().expect("now") >= now + 1000);
        assert_eq!(sandbox.stats().tokens_issued, 1);
        assert_eq!(sandbox.stats().token_requests, 2);
    }

    #[tokio::test]
    async fn token_request_accepts_a_form_body() {
        let (_sandbox, base, client) = start().await;
        let json_token = token(&client, &base).await;
        let body = format!("imp_key={TEST_IMP_KEY}&imp_secret={TEST_IMP_SECRET}");
        let resp = client
            .post(format!("{base}/users/getToken"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .expect("getToken");
        assert_eq!(resp.status(), 200);
        let body: Value = resp.json().await.expect("json");
        assert_eq!(
            body["response"]["access_token"].as_str(),
            Some(&*json_token)
        );
    }

    #[tokio::test]
    async fn token_asked_for_in_its_last_minute_is_extended_by_five_minutes() {
        let (sandbox, base, client) = start().await;
        let first = token_response(&client, &base).await;
        let expired_at = first["expired_at"].as_i64().expect("expired_at");

        sandbox.advance_clock(1800 - 60);
        let extended = token_response(&client, &base).await;
        assert_eq!(extended["access_token"], first["access_token"]);
        assert_eq!(extended["expired_at"].as_i64(), Some(expired_at + 300));

        // Once extended it is outside its last minute again: no second extension.
        let again = token_response(&client, &base).await;
        assert_eq!(again["access_token"], first["access_token"]);
        assert_eq!(again["expired_at"].as_i64(), Some(expired_at + 300));
        assert_eq!(sandbox.stats().tokens_issued, 1);
    }

    #[tokio::test]
    async fn expired_token_is_refused_and_replaced_by_a_new_one() {
        let (sandbox, base, client) = start().await;
        let rec = sandbox.insert(SandboxRecord::person("홍길동", "1991-11-11"));
        let url = format!("{base}/certifications/{}", rec.imp_uid.expect("imp_uid"));
        let old = token(&client, &base).await;

        sandbox.advance_clock(1800);
        let (status, body) =
            certification(&client, Method::GET, &url, &[("Authorization", &old)]).await;
        assert_eq!((status, body), (401, unauthorized_body()));

        let fresh = token_response(&client, &base).await;
        assert_ne!(fresh["access_token"].as_str(), Some(&*old));
        assert_eq!(
            fresh["expired_at"].as_i64(),
            fresh["now"].as_i64().map(|n| n + 1800)
        );
        assert_eq!(sandbox.stats().tokens_issued, 2);
        let (status, _) =
            certification(&client, Method::GET, &url, &[("Authorization", &old)]).await;
        assert_eq!(status, 401, "the old token died with the new one");
    }

    #[tokio::test]
    async fn all_three_token_header_forms_are_accepted() {
        let (sandbox, base, client) = start().await;
        let rec = sandbox.insert(SandboxRecord::person("홍길동", "1991-11-11"));
        let url = format!(
            "{base}/certifications/{}",
            rec.imp_uid.clone().expect("imp_uid")
        );
        let t = token(&client, &base).await;
        let bearer = format!("Bearer {t}");
        for headers in [
            [("Authorization", t.as_str())],
            [("Authorization", bearer.as_str())],
            [("X-ImpTokenHeader", t.as_str())],
        ] {
            let (status, body) = certification(&client, Method::GET, &url, &headers).await;
            assert_eq!(status, 200, "{headers:?}");
            let body: Value = serde_json::from_str(&body).expect("json");
            assert_eq!(body["code"], 0);
            assert_eq!(body["message"], Value::Null);
            assert_eq!(
                body["response"],
                serde_json::to_value(&rec).expect("record json")
            );
        }
        assert_eq!(sandbox.stats().certification_requests, 3);
    }

    #[tokio::test]
    async fn authorization_header_wins_over_x_imp_token_header() {
        let (sandbox, base, client) = start().await;
        let rec = sandbox.insert(SandboxRecord::person("홍길동", "1991-11-11"));
        let url = format!("{base}/certifications/{}", rec.imp_uid.expect("imp_uid"));
        let t = token(&client, &base).await;
        let bogus = "0".repeat(40);

        let (status, _) = certification(
            &client,
            Method::GET,
            &url,
            &[("Authorization", &t), ("X-ImpTokenHeader", &bogus)],
        )
        .await;
        assert_eq!(status, 200);
        let (status, body) = certification(
            &client,
            Method::GET,
            &url,
            &[("Authorization", &bogus), ("X-ImpTokenHeader", &t)],
        )
        .await;
        assert_eq!((status, body), (401, unauthorized_body()));
    }

    #[tokio::test]
    async fn missing_or_unknown_token_gets_the_exact_401_envelope() {
        let (sandbox, base, client) = start().await;
        let rec = sandbox.insert(SandboxRecord::person("홍길동", "1991-11-11"));
        let url = format!("{base}/certifications/{}", rec.imp_uid.expect("imp_uid"));
        let expected = (401, unauthorized_body());
        assert_eq!(
            certification(&client, Method::GET, &url, &[]).await,
            expected
        );
        let unknown = "ab".repeat(20);
        assert_eq!(
            certification(&client, Method::GET, &url, &[("Authorization", &unknown)]).await,
            expected
        );
        assert_eq!(
            certification(&client, Method::DELETE, &url, &[("X-ImpTokenHeader", "x")]).await,
            expected
        );
    }

    #[tokio::test]
    async fn unknown_imp_uid_gets_the_exact_404_envelope() {
        let (_sandbox, base, client) = start().await;
        let t = token(&client, &base).await;
        let expected = (
            404,
            r#"{"code":-1,"message":"인증결과가 존재하지 않습니다.","response":null}"#.to_owned(),
        );
        for path in ["imp_000000000000", "imp%2F..%2Fusers", "%FF%FE"] {
            let url = format!("{base}/certifications/{path}");
            assert_eq!(
                certification(&client, Method::GET, &url, &[("Authorization", &t)]).await,
                expected,
                "{path}"
            );
        }
    }

    #[tokio::test]
    async fn unknown_path_gets_a_404_envelope() {
        let (_sandbox, base, client) = start().await;
        let (status, body) =
            certification(&client, Method::GET, &format!("{base}/payments/imp_1"), &[]).await;
        assert_eq!(status, 404);
        assert_eq!(body, r#"{"code":-1,"message":"Not Found","response":null}"#);
    }

    #[tokio::test]
    async fn wrong_key_or_secret_gets_the_exact_401_envelope() {
        let (_sandbox, base, client) = start().await;
        let expected = r#"{"code":-1,"message":"인증에 실패하였습니다. API키와 secret을 확인하세요.","response":null}"#;
        for body in [
            json!({"imp_key": TEST_IMP_KEY, "imp_secret": "wrong"}),
            json!({"imp_key": "wrong", "imp_secret": TEST_IMP_SECRET}),
        ] {
            let resp = client
                .post(format!("{base}/users/getToken"))
                .json(&body)
                .send()
                .await
                .expect("getToken");
            assert_eq!(resp.status(), 401);
            assert_eq!(resp.text().await.expect("body"), expected);
        }
    }

    #[tokio::test]
    async fn missing_or_unparseable_credentials_get_400() {
        let (sandbox, base, client) = start().await;
        let expected = r#"{"code":-1,"message":"imp_key, imp_secret 파라메터가 누락되었습니다.","response":null}"#;
        let cases: [(&str, String); 5] = [
            (
                "application/json",
                json!({"imp_key": TEST_IMP_KEY}).to_string(),
            ),
            (
                "application/json",
                json!({"imp_secret": TEST_IMP_SECRET}).to_string(),
            ),
            ("application/json", "{not json".to_owned()),
            (
                "application/x-www-form-urlencoded",
                "imp_key=imp_apikey".to_owned(),
            ),
            ("text/plain", String::new()),
        ];
        for (content_type, body) in cases {
            let resp = client
                .post(format!("{base}/users/getToken"))
                .header("content-type", content_type)
                .body(body.clone())
                .send()
                .await
                .expect("getToken");
            assert_eq!(resp.status(), 400, "{body}");
            assert_eq!(resp.text().await.expect("body"), expected);
        }
        assert_eq!(sandbox.stats().tokens_issued, 0);
    }

    #[tokio::test]
    async fn status_fault_answers_the_next_calls_then_counts_down_to_nothing() {
        let (sandbox, base, client) = start().await;
        let resp = client
            .post(format!("{base}/__sandbox/faults"))
            .json(&json!({"status": 503, "times": 2}))
            .send()
            .await
            .expect("faults");
        assert_eq!(resp.status(), 200);
        let state: Value = resp.json().await.expect("json");
        assert_eq!(
            state,
            json!({"latency_ms": null, "status": 503, "times": 2})
        );

        let rec = sandbox.insert(SandboxRecord::person("홍길동", "1991-11-11"));
        let url = format!("{base}/certifications/{}", rec.imp_uid.expect("imp_uid"));
        let (status, body) = certification(&client, Method::GET, &url, &[]).await;
        assert_eq!(status, 503);
        let body: Value = serde_json::from_str(&body).expect("json");
        assert_eq!(body["code"], -1);
        assert!(body["message"].is_string());
        assert_eq!(body["response"], Value::Null);
        assert_eq!(sandbox.fault().times, Some(1));

        let resp = client
            .post(format!("{base}/users/getToken"))
            .json(&json!({"imp_key": TEST_IMP_KEY, "imp_secret": TEST_IMP_SECRET}))
            .send()
            .await
            .expect("getToken");
        assert_eq!(resp.status(), 503);
        assert!(sandbox.fault().is_clear());

        let t = token(&client, &base).await;
        let (status, _) = certification(&client, Method::GET, &url, &[("Authorization", &t)]).await;
        assert_eq!(status, 200);
        let stats = sandbox.stats();
        assert_eq!(stats.faults_served, 2);
        assert_eq!(stats.token_requests, 2);
        assert_eq!(stats.certification_requests, 2);
        assert_eq!(stats.api_calls, 4);
    }

    #[tokio::test]
    async fn latency_fault_delays_calls_until_cleared() {
        let (sandbox, base, client) = start().await;
        sandbox.set_fault(Fault {
            latency_ms: Some(150),
            ..Fault::default()
        });
        for _ in 0..2 {
            let started = Instant::now();
            token(&client, &base).await;
            assert!(started.elapsed() >= Duration::from_millis(150));
        }
        let resp = client
            .post(format!("{base}/__sandbox/faults"))
            .body("{}")
            .send()
            .await
            .expect("faults");
        assert_eq!(resp.status(), 200);
        let state: Value = resp.json().await.expect("json");
        assert_eq!(
            state,
            json!({"latency_ms": null, "status": null, "times": null})
        );
        assert!(sandbox.fault().is_clear());
    }

    #[tokio::test]
    async fn bad_fault_bodies_are_refused() {
        let (sandbox, base, client) = start().await;
        for body in [r#"{"status": 42}"#, r#"{"latency": 5}"#, "nope"] {
            let resp = client
                .post(format!("{base}/__sandbox/faults"))
                .body(body)
                .send()
                .await
                .expect("faults");
            assert_eq!(resp.status(), 400, "{body}");
        }
        assert!(sandbox.fault().is_clear());
    }

    #[test]
    fn random_fault_draws_errors_at_the_rate_and_delays_within_the_jitter() {
        use rand::SeedableRng;
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
        let fault = RandomFault {
            latency_ms: Some(1),
            jitter_ms: Some(19),
            error_rate: Some(0.05),
            ..RandomFault::default()
        };
        let n = 20_000;
        let (mut errors, mut min, mut max) = (0u32, Duration::MAX, Duration::ZERO);
        for _ in 0..n {
            let d = fault.draw(&mut rng);
            match d.status {
                Some(500) => errors += 1,
                None => {}
                other => panic!("unexpected status {other:?}"),
            }
            min = min.min(d.delay);
            max = max.max(d.delay);
        }
        // 5 % of 20,000 is 1,000 (σ ≈ 31); the bounds are ±8σ, so only a broken draw fails.
        assert!((750..=1250).contains(&errors), "{errors} errors in {n}");
        // Both ends of 1..=20 ms are reached (each has probability 1/20 per draw).
        assert_eq!(min, Duration::from_millis(1));
        assert_eq!(max, Duration::from_millis(20));
    }

    #[test]
    fn random_fault_edge_rates_and_plain_faults_are_deterministic() {
        use rand::SeedableRng;
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let cases: &[(RandomFault, Option<u16>)] = &[
            // A plain fault, converted: always its status, exactly its latency.
            (
                Fault {
                    latency_ms: Some(7),
                    status: Some(503),
                    times: None,
                }
                .into(),
                Some(503),
            ),
            (
                RandomFault {
                    error_rate: Some(0.0),
                    status: Some(502),
                    ..RandomFault::default()
                },
                None,
            ),
            (
                RandomFault {
                    error_rate: Some(1.0),
                    ..RandomFault::default()
                },
                Some(500),
            ),
            (
                RandomFault {
                    error_rate: Some(1.0),
                    status: Some(429),
                    ..RandomFault::default()
                },
                Some(429),
            ),
            // Out-of-range rates from the Rust API are clamped, NaN never errs.
            (
                RandomFault {
                    error_rate: Some(7.5),
                    ..RandomFault::default()
                },
                Some(500),
            ),
            (
                RandomFault {
                    error_rate: Some(f64::NAN),
                    ..RandomFault::default()
                },
                None,
            ),
        ];
        for (fault, want) in cases {
            for _ in 0..200 {
                let d = fault.draw(&mut rng);
                assert_eq!(d.status, *want, "{fault:?}");
                let latency = Duration::from_millis(fault.latency_ms.unwrap_or(0));
                assert_eq!(d.delay, latency, "{fault:?}");
            }
        }
        assert!(RandomFault::default().is_clear());
        assert!(
            !RandomFault {
                jitter_ms: Some(5),
                ..RandomFault::default()
            }
            .is_clear()
        );
        assert!(
            RandomFault {
                error_rate: Some(0.5),
                times: Some(0),
                ..RandomFault::default()
            }
            .is_clear()
        );
    }

    #[tokio::test]
    async fn random_fault_over_http_errs_at_its_rate_and_counts_down_every_call() {
        let (sandbox, base, client) = start().await;
        let set = |body: Value| {
            let client = client.clone();
            let url = format!("{base}/__sandbox/faults");
            async move {
                let resp = client.post(url).json(&body).send().await.expect("faults");
                let status = resp.status().as_u16();
                (status, resp.json::<Value>().await.expect("json"))
            }
        };
        for bad in [
            json!({"error_rate": 1.5}),
            json!({"error_rate": -0.1}),
            json!({"jitter_ms": -1}),
            json!({"error_rate": "often"}),
        ] {
            assert_eq!(set(bad.clone()).await.0, 400, "{bad}");
        }
        assert!(sandbox.random_fault().is_clear());

        // Half the calls err; every call, errored or not, uses up one of `times`.
        let n = 200;
        let (status, state) = set(json!({"error_rate": 0.5, "jitter_ms": 2, "times": n})).await;
        assert_eq!(status, 200);
        assert_eq!(
            state,
            json!({"latency_ms": null, "jitter_ms": 2, "status": null, "error_rate": 0.5, "times": n})
        );
        let mut errors = 0;
        for _ in 0..n {
            let resp = client
                .post(format!("{base}/users/getToken"))
                .json(&json!({"imp_key": TEST_IMP_KEY, "imp_secret": TEST_IMP_SECRET}))
                .send()
                .await
                .expect("getToken");
            match resp.status().as_u16() {
                200 => {}
                500 => {
                    let body: Value = resp.json().await.expect("json");
                    assert_eq!(body["code"], -1);
                    errors += 1;
                }
                other => panic!("unexpected status {other}"),
            }
        }
        // Mean 100, σ ≈ 7: ±60 is over 8σ.
        assert!((40..=160).contains(&errors), "{errors} errors in {n}");
        assert_eq!(sandbox.stats().faults_served, errors);
        assert!(sandbox.random_fault().is_clear());
        assert!(sandbox.fault().is_clear());

        // After a random fault is cleared, the state reads exactly as a plain one does.
        let (_, state) = set(json!({})).await;
        assert_eq!(
            state,
            json!({"latency_ms": null, "status": null, "times": null})
        );
    }

    #[tokio::test]
    async fn control_insert_fills_plausible_defaults() {
        let (sandbox, base, client) = start().await;
        let before = sandbox.now();
        let resp = client
            .post(format!("{base}/__sandbox/certifications"))
            .json(&json!({"name": "홍길동", "birthday": "1991-11-11", "gender": "male", "new_field": [1]}))
            .send()
            .await
            .expect("insert");
        assert_eq!(resp.status(), 201);
        let rec: Value = resp.json().await.expect("json");
        let imp_uid = rec["imp_uid"].as_str().expect("imp_uid");
        assert!(imp_uid.starts_with("imp_") && imp_uid.len() == 16);
        assert!(imp_uid[4..].bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(rec["birth"], 689_785_200);
        assert_eq!(rec["certified"], true);
        let certified_at = rec["certified_at"].as_i64().expect("certified_at");
        assert!((before..=sandbox.now()).contains(&certified_at));
        assert_eq!(rec["pg_provider"], "danal");
        assert_eq!(rec["foreigner"], false);
        assert_eq!(rec["foreigner_v2"], Value::Null);
        assert_eq!(rec["phone"], Value::Null);
        assert!(
            rec["merchant_uid"]
                .as_str()
                .is_some_and(|m| m.starts_with("mid_"))
        );
        assert_eq!(rec["unique_key"].as_str().map(str::len), Some(88));
        assert_eq!(rec["unique_in_site"].as_str().map(str::len), Some(64));
        assert_eq!(rec["new_field"], json!([1]));
        for field in [
            "imp_uid",
            "merchant_uid",
            "pg_tid",
            "pg_provider",
            "name",
            "gender",
            "birthday",
            "birth",
            "foreigner",
            "foreigner_v2",
            "phone",
            "carrier",
            "certified",
            "certified_at",
            "unique_key",
            "unique_in_site",
            "origin",
        ] {
            assert!(rec.get(field).is_some(), "{field} missing");
        }

        // What the API serves is what the control endpoint answered.
        let t = token(&client, &base).await;
        let url = format!("{base}/certifications/{imp_uid}");
        let (status, body) =
            certification(&client, Method::GET, &url, &[("Authorization", &t)]).await;
        assert_eq!(status, 200);
        let body: Value = serde_json::from_str(&body).expect("json");
        assert_eq!(body["response"], rec);
        assert_eq!(
            sandbox
                .requested_paths()
                .iter()
                .filter(|p| p.contains("__sandbox"))
                .count(),
            0
        );
    }

    #[tokio::test]
    async fn unfinished_attempt_has_zero_birth_and_certified_at_and_no_name() {
        let sandbox = Sandbox::new(SandboxOptions::default());
        let rec = sandbox.insert(SandboxRecord {
            imp_uid: Some("imp_000000000001".to_owned()),
            birthday: Some("1991-11-11".to_owned()),
            certified: Some(false),
            ..SandboxRecord::default()
        });
        assert_eq!(rec.birth, Some(0));
        assert_eq!(rec.certified_at, Some(0));
        assert_eq!(rec.name, None);
        assert_eq!(rec.unique_key, None);
        assert_eq!(rec.imp_uid.as_deref(), Some("imp_000000000001"));
    }

    #[tokio::test]
    async fn delete_returns_the_record_and_removes_it() {
        let (sandbox, base, client) = start().await;
        let rec = sandbox.insert(SandboxRecord::person("홍길동", "1991-11-11"));
        let url = format!(
            "{base}/certifications/{}",
            rec.imp_uid.clone().expect("imp_uid")
        );
        let t = token(&client, &base).await;
        let (status, body) =
            certification(&client, Method::DELETE, &url, &[("Authorization", &t)]).await;
        assert_eq!(status, 200);
        let body: Value = serde_json::from_str(&body).expect("json");
        assert_eq!(body["response"], serde_json::to_value(&rec).expect("json"));
        let (status, _) = certification(&client, Method::GET, &url, &[("Authorization", &t)]).await;
        assert_eq!(status, 404);
        let (status, _) =
            certification(&client, Method::DELETE, &url, &[("Authorization", &t)]).await;
        assert_eq!(status, 404);
        assert_eq!(sandbox.stats().certification_deletes, 2);
    }

    #[tokio::test]
    async fn lookup_percent_decodes_and_requested_paths_stay_raw() {
        let (sandbox, base, client) = start().await;
        sandbox.insert(SandboxRecord {
            imp_uid: Some("imp 1/2".to_owned()),
            ..SandboxRecord::default()
        });
        let t = token(&client, &base).await;
        let url = format!("{base}/certifications/imp%201%2F2?x=%41");
        let (status, body) =
            certification(&client, Method::GET, &url, &[("Authorization", &t)]).await;
        assert_eq!(status, 200);
        let body: Value = serde_json::from_str(&body).expect("json");
        assert_eq!(body["response"]["imp_uid"], "imp 1/2");
        assert_eq!(
            sandbox.requested_paths(),
            ["/users/getToken", "/certifications/imp%201%2F2?x=%41"]
        );
    }

    #[tokio::test]
    async fn revoked_token_is_refused_and_replaced() {
        let (sandbox, base, client) = start().await;
        let rec = sandbox.insert(SandboxRecord::person("홍길동", "1991-11-11"));
        let url = format!("{base}/certifications/{}", rec.imp_uid.expect("imp_uid"));
        let old = token(&client, &base).await;
        let resp = client
            .post(format!("{base}/__sandbox/tokens/revoke"))
            .send()
            .await
            .expect("revoke");
        assert_eq!(
            resp.json::<Value>().await.expect("json"),
            json!({"revoked": 1})
        );
        let (status, _) =
            certification(&client, Method::GET, &url, &[("Authorization", &old)]).await;
        assert_eq!(status, 401);
        assert_ne!(token(&client, &base).await, old);
        assert_eq!(sandbox.stats().tokens_issued, 2);
    }

    #[tokio::test]
    async fn clock_and_stats_control_endpoints_answer_json() {
        let (sandbox, base, client) = start().await;
        let before = sandbox.now();
        let resp = client
            .post(format!("{base}/__sandbox/clock"))
            .json(&json!({"advance_secs": 3600}))
            .send()
            .await
            .expect("clock");
        assert_eq!(resp.status(), 200);
        let clock: Value = resp.json().await.expect("json");
        assert_eq!(clock["offset_secs"], 3600);
        assert!(clock["now"].as_i64().expect("now") >= before + 3600);
        token(&client, &base).await;
        let stats: SandboxStats = client
            .get(format!("{base}/__sandbox/stats"))
            .send()
            .await
            .expect("stats")
            .json()
            .await
            .expect("json");
        assert_eq!(stats, sandbox.stats());
        assert_eq!(
            (stats.token_requests, stats.tokens_issued, stats.api_calls),
            (1, 1, 1)
        );
    }

    #[tokio::test]
    async fn people_files_load_from_toml_and_json() {
        let toml_path = temp_file(
            "toml",
            r#"
[[people]]
imp_uid = "imp_111111111111"
name = "홍길동"
birthday = "1991-11-11"

[[people]]
imp_uid = "imp_222222222222"
certified = false
"#,
        );
        let json_path = temp_file(
            "json",
            r#"[{"imp_uid": "imp_333333333333", "name": "김철수", "birthday": "2010-01-01", "phone": "01012345678"}]"#,
        );
        let from_toml = load_people(&toml_path);
        let from_json = load_people(&json_path);
        let _ = std::fs::remove_file(&toml_path);
        let _ = std::fs::remove_file(&json_path);
        let from_toml = from_toml.expect("toml people");
        let from_json = from_json.expect("json people");
        assert_eq!(from_toml.len(), 2);
        assert_eq!(from_toml[0].name.as_deref(), Some("홍길동"));
        assert_eq!(from_toml[1].certified, Some(false));
        assert_eq!(from_json[0].phone.as_deref(), Some("01012345678"));

        let people = from_toml.into_iter().chain(from_json).collect();
        let (_sandbox, base, client) = start_with(SandboxOptions {
            people,
            ..SandboxOptions::default()
        })
        .await;
        let t = token(&client, &base).await;
        for (imp_uid, birth) in [
            ("imp_111111111111", 689_785_200),
            ("imp_222222222222", 0),
            ("imp_333333333333", 1_262_271_600),
        ] {
            let url = format!("{base}/certifications/{imp_uid}");
            let (status, body) =
                certification(&client, Method::GET, &url, &[("Authorization", &t)]).await;
            assert_eq!(status, 200, "{imp_uid}");
            let body: Value = serde_json::from_str(&body).expect("json");
            assert_eq!(body["response"]["birth"], birth, "{imp_uid}");
        }
    }

    #[test]
    fn people_file_errors_name_the_file_and_position() {
        let bad_ext = load_people(Path::new("people.yaml"));
        assert!(matches!(
            bad_ext,
            Err(SandboxError::UnsupportedFormat { .. })
        ));

        let path = temp_file("toml", "[[people]]\nbirth = \"soon\"\n");
        let err = load_people(&path);
        let _ = std::fs::remove_file(&path);
        match err {
            Err(SandboxError::Parse { line, .. }) => assert_eq!(line, 2),
            other => panic!("expected a parse error, got {other:?}"),
        }

        let path = temp_file("json", "[\n{\"certified\": \"yes\"}]");
        let err = load_people(&path);
        let _ = std::fs::remove_file(&path);
        let err = err.expect_err("bad json");
        assert!(err.to_string().contains(":2:"), "{err}");

        let missing = load_people(Path::new("/nonexistent/people.json"));
        assert!(matches!(missing, Err(SandboxError::Read { .. })));
    }
}
