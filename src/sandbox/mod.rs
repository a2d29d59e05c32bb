//! The sandbox: a simulated i'mport (PortOne) V1 API and PortOne V2 identity-verification API,
//! with stand-ins for both browser SDKs, for developing, demonstrating, testing and benchmarking
//! verigate offline.
//!
//! It follows `docs/iamport-api.md` to the letter (README, "The sandbox"): `POST /users/getToken` (JSON or
//! form body; ONE live token per key, reused until expiry, extended by 5 minutes when asked for in
//! its last minute, 30-minute lifetime), `GET` and `DELETE /certifications/{imp_uid}` (raw,
//! `Bearer` and `X-ImpTokenHeader` tokens, `Authorization` winning when both are sent; the exact
//! 401 and 404 envelopes). Its default credentials are PortOne's public test key and secret
//! ([`TEST_IMP_KEY`], [`TEST_IMP_SECRET`]), so an official client library works unchanged.
//!
//! It serves V2 at the same time (`v2`): `GET /identity-verifications/{id}`
//! with `Authorization: PortOne <secret>` ([`TEST_PORTONE_SECRET`] by default) and an optional
//! `?storeId=`, the three statuses with every required field present and optional ones omitted,
//! RFC 3339 times, and `{"type","message"}` JSON for every error status. V1 and V2 records are
//! kept apart.
//!
//! Records come from a people file ([`load_people`]), from [`Sandbox::insert`] and from the
//! control endpoints under `/__sandbox/`, which need no token and are never counted, faulted or
//! recorded as API calls:
//! - `POST /__sandbox/certifications` (§8): a JSON record, any fields omitted; answers 201 with the
//!   stored record. Fields unknown to [`SandboxRecord`] are kept and echoed verbatim, so a test can
//!   prove a client ignores new fields.
//! - `POST /__sandbox/identity-verifications` (§8): a JSON V2 record, any fields omitted; answers
//!   201 with the stored record ([`SandboxIdentityVerification`]).
//! - `POST /__sandbox/faults` (§8): `{"latency_ms": N, "status": S, "times": K}` replaces the
//!   current fault; `{}` clears it. Answers 200 with the fault state ([`Fault`]). Faults apply
//!   to V1 and V2 calls alike, each answered in its API's error shape.
//! - The browser-SDK stand-ins (`browser`, §8): `GET /__sandbox/sdk/iamport.js` and
//!   `GET /__sandbox/sdk/browser-sdk.js`, and the page they open, `/__sandbox/verify`.
//!
//! Extensions beyond §8, for tests, the demo and the benchmark:
//! - `GET /__sandbox/faults`: the current fault state, `times` being the calls still to fault.
//! - Random faults, for soak tests: `POST /__sandbox/faults` also takes `"jitter_ms": J` (a
//!   uniform extra 0..=J ms on top of `latency_ms`) and `"error_rate": P` (each faulted call answers
//!   `status`, 500 by default, with probability P; the others are answered normally). The state
//!   echoes these two fields only when they are set ([`RandomFault`]).
//! - `GET /__sandbox/stats`: the counters of [`SandboxStats`] as JSON.
//! - `GET /__sandbox/requests`: the recorded API request paths with their queries (the most
//!   recent 100, or `?last=N`), so a test can see what a client sent (`?storeId=`, encoding).
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
//!
//! It prints its credentials when it starts, one provider a line ([`startup_banner`]), so a
//! developer can paste them into `[iamport]` and `[portone]`.
//!
//! The rooms: `state` holds what a sandbox remembers, `records` the V1 record and people
//! files, `records_v2` the V2 record, `faults` the injected faults, `api` the dispatch of every
//! API call, `v1` and `v2` the two APIs, `controls` the `/__sandbox/` endpoints and `browser`
//! the browser-SDK stand-ins. The sandbox imports nothing from the gateway crate: it is the
//! oracle the gateway is tested against.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::net::TcpListener;

mod api;
mod browser;
mod controls;
mod faults;
mod records;
mod records_v2;
mod state;
mod v1;
mod v2;

#[cfg(test)]
mod tests;

pub use faults::{Fault, FaultDraw, RandomFault};
pub use records::{People, SandboxRecord, load_people, load_people_file};
pub use records_v2::{
    STATUS_FAILED, STATUS_READY, STATUS_VERIFIED, SandboxChannel, SandboxFailure,
    SandboxIdentityVerification, SandboxRequestedCustomer, SandboxVerifiedCustomer,
};
pub use state::SandboxStats;
pub use v1::{
    MSG_AUTH_FAILED, MSG_CERTIFICATION_NOT_FOUND, MSG_MISSING_PARAMS, MSG_NO_SUCH_PATH,
    MSG_UNAUTHORIZED,
};
pub use v2::{TYPE_FORBIDDEN, TYPE_INVALID_REQUEST, TYPE_NOT_FOUND, TYPE_UNAUTHORIZED};

/// PortOne's public test API key (from its guides); the sandbox's default `imp_key`.
pub const TEST_IMP_KEY: &str = "imp_apikey";

/// PortOne's public test API secret (from its guides); the sandbox's default `imp_secret`.
pub const TEST_IMP_SECRET: &str =
    "ekKoeW8RyKuT0zgaZsUtXXTLQ4AhPFW3ZGseDA6bkA5lamv9OqDMnxyeB9wqOsuO9W3Mx9YSJ4dTqJ3f";

/// The sandbox's default V2 API secret; `--portone-secret` sets another.
pub const TEST_PORTONE_SECRET: &str = "sandbox-portone-api-secret";

/// Construction options of a [`Sandbox`].
#[derive(Debug, Clone)]
pub struct SandboxOptions {
    /// The only API key `getToken` accepts.
    pub imp_key: String,
    /// The secret that goes with `imp_key`.
    pub imp_secret: String,
    /// The only V2 API secret `Authorization: PortOne …` accepts.
    pub portone_secret: String,
    /// Records present from the start, completed like [`Sandbox::insert`] does.
    pub people: Vec<SandboxRecord>,
    /// V2 records present from the start, completed like
    /// [`Sandbox::insert_identity_verification`] does.
    pub identity_verifications: Vec<SandboxIdentityVerification>,
}

impl Default for SandboxOptions {
    /// PortOne's public test credentials, the sandbox's V2 secret and no records.
    fn default() -> Self {
        SandboxOptions {
            imp_key: TEST_IMP_KEY.to_owned(),
            imp_secret: TEST_IMP_SECRET.to_owned(),
            portone_secret: TEST_PORTONE_SECRET.to_owned(),
            people: Vec::new(),
            identity_verifications: Vec::new(),
        }
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

/// A simulated i'mport V1 and PortOne V2 API. Cheap to clone: clones share one state, so a test can keep a
/// handle while the server runs.
#[derive(Clone)]
pub struct Sandbox {
    inner: Arc<state::Inner>,
}

impl Sandbox {
    /// A sandbox with the given credentials and records.
    pub fn new(opts: SandboxOptions) -> Sandbox {
        let sandbox = Sandbox {
            inner: Arc::new(state::Inner::new(
                opts.imp_key,
                opts.imp_secret,
                opts.portone_secret,
            )),
        };
        for rec in opts.people {
            sandbox.insert(rec);
        }
        for rec in opts.identity_verifications {
            sandbox.insert_identity_verification(rec);
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

    /// The control routes and the browser stand-ins, then the APIs for every other request.
    fn router(&self) -> axum::Router {
        controls::routes()
            .merge(browser::routes())
            .fallback(api::api)
            .with_state(self.clone())
    }
}

/// What `verigate sandbox` prints when it starts: where it listens, then its credentials, one
/// provider a line (README, "The sandbox"): `iamport imp_key=… imp_secret=…` and
/// `portone api_secret=…`. Printing the secrets is fine because `verigate sandbox` only ever
/// runs with PortOne's public test credentials and a V2 secret of the developer's choosing.
pub fn startup_banner(bound: SocketAddr, opts: &SandboxOptions) -> String {
    format!(
        "sandbox listening on http://{bound}\niamport imp_key={} imp_secret={}\nportone api_secret={}\n",
        opts.imp_key, opts.imp_secret, opts.portone_secret
    )
}

/// `verigate sandbox`: loads the people file if any, binds `listen`, prints the
/// [`startup_banner`] on stdout and serves V1 and V2 until the process ends. `portone_secret`
/// replaces [`TEST_PORTONE_SECRET`] when given.
pub async fn run_cli(
    listen: SocketAddr,
    people: Option<&Path>,
    portone_secret: Option<String>,
) -> Result<(), SandboxError> {
    let people = match people {
        Some(path) => load_people_file(path)?,
        None => People::default(),
    };
    let defaults = SandboxOptions::default();
    let opts = SandboxOptions {
        people: people.people,
        identity_verifications: people.identity_verifications,
        portone_secret: portone_secret.unwrap_or(defaults.portone_secret.clone()),
        ..defaults
    };
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
    print!("{}", startup_banner(bound, &opts));
    Sandbox::new(opts)
        .serve(listener)
        .await
        .map_err(SandboxError::Serve)
}
