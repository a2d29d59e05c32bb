//! What one sandbox remembers between requests: its credentials (V1 key and secret, V2 API
//! secret), the clock offset, the V1 records and the V2 identity verifications (apart: a V1 and a
//! V2 id of the same text are two records), the live token, the current fault, the recent request
//! paths and the call counters.
//!
//! The sandbox is not on the gateway's hot path, so the state sits behind plain `std` mutexes,
//! never held across an `.await`, and counters are relaxed atomics.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::{RandomFault, Sandbox, SandboxIdentityVerification, SandboxRecord};

/// Most recent API request paths kept by [`Sandbox::requested_paths`], so a long benchmark run
/// cannot grow the list without bound.
const REQUESTED_PATHS_KEPT: usize = 100_000;

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
    /// V2 `GET /identity-verifications/{id}` requests.
    #[serde(default)]
    pub identity_verification_requests: u64,
    /// Requests answered with an injected fault status.
    pub faults_served: u64,
    /// Every non-control request, whatever its path.
    pub api_calls: u64,
}

/// The live access token of the sandbox's one key.
pub(super) struct LiveToken {
    pub(super) value: String,
    pub(super) expired_at: i64,
}

/// Counters behind [`SandboxStats`].
#[derive(Default)]
pub(super) struct Counters {
    pub(super) token_requests: AtomicU64,
    pub(super) tokens_issued: AtomicU64,
    pub(super) certification_requests: AtomicU64,
    pub(super) certification_deletes: AtomicU64,
    pub(super) identity_verification_requests: AtomicU64,
    pub(super) faults_served: AtomicU64,
    pub(super) api_calls: AtomicU64,
}

/// Shared state of a sandbox.
pub(super) struct Inner {
    pub(super) imp_key: String,
    pub(super) imp_secret: String,
    pub(super) portone_secret: String,
    pub(super) clock_offset_secs: AtomicI64,
    pub(super) records: Mutex<HashMap<String, SandboxRecord>>,
    pub(super) identity_verifications: Mutex<HashMap<String, SandboxIdentityVerification>>,
    pub(super) token: Mutex<Option<LiveToken>>,
    pub(super) fault: Mutex<RandomFault>,
    pub(super) paths: Mutex<VecDeque<String>>,
    pub(super) counters: Counters,
}

impl Inner {
    /// A fresh state for one V1 key and secret and one V2 API secret: no records, no token, no
    /// fault, clock untouched.
    pub(super) fn new(imp_key: String, imp_secret: String, portone_secret: String) -> Inner {
        Inner {
            imp_key,
            imp_secret,
            portone_secret,
            clock_offset_secs: AtomicI64::new(0),
            records: Mutex::new(HashMap::new()),
            identity_verifications: Mutex::new(HashMap::new()),
            token: Mutex::new(None),
            fault: Mutex::new(RandomFault::default()),
            paths: Mutex::new(VecDeque::new()),
            counters: Counters::default(),
        }
    }
}

/// Locks a mutex, carrying on past poisoning: every critical section leaves the state valid.
pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Sandbox {
    /// A snapshot of the counters.
    pub fn stats(&self) -> SandboxStats {
        let c = &self.inner.counters;
        SandboxStats {
            token_requests: c.token_requests.load(Ordering::Relaxed),
            tokens_issued: c.tokens_issued.load(Ordering::Relaxed),
            certification_requests: c.certification_requests.load(Ordering::Relaxed),
            certification_deletes: c.certification_deletes.load(Ordering::Relaxed),
            identity_verification_requests: c
                .identity_verification_requests
                .load(Ordering::Relaxed),
            faults_served: c.faults_served.load(Ordering::Relaxed),
            api_calls: c.api_calls.load(Ordering::Relaxed),
        }
    }

    /// Path and query, exactly as received (not decoded), of every API request (control
    /// endpoints excluded), oldest first. The most recent 100,000 are kept.
    pub fn requested_paths(&self) -> Vec<String> {
        lock(&self.inner.paths).iter().cloned().collect()
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

    /// The sandbox clock as a timestamp (with the system clock's sub-second part), for the V2
    /// API's RFC 3339 times.
    pub fn now_timestamp(&self) -> Timestamp {
        let offset = self.inner.clock_offset_secs.load(Ordering::Relaxed);
        Timestamp::now()
            .checked_add(jiff::SignedDuration::from_secs(offset))
            .unwrap_or_else(|_| Timestamp::now())
    }

    /// Forgets the live access token: its next use gets 401, the next `getToken` mints a new one.
    pub fn revoke_tokens(&self) {
        self.take_token();
    }

    /// Drops the live token; whether there was one.
    pub(super) fn take_token(&self) -> bool {
        lock(&self.inner.token).take().is_some()
    }

    /// Remembers one API request's raw path and query, forgetting the oldest beyond the limit.
    pub(super) fn record_path(&self, path: String) {
        let mut paths = lock(&self.inner.paths);
        if paths.len() == REQUESTED_PATHS_KEPT {
            paths.pop_front();
        }
        paths.push_back(path);
    }
}
