//! [`RequestCtx`]: what one request carries from phase to phase, and the access-log record it
//! yields at the end.

use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use pingora::proxy::Session;

use crate::access_log::AccessRecord;
use crate::headers::HeaderList;
use crate::imp_uid::ImpUid;
use crate::metrics::RequestOutcome;
use crate::policy::Verdict;
use crate::resolve::CacheStatus;
use crate::state::{InFlight, Runtime};

/// Per-request state, carried from phase to phase.
pub struct RequestCtx {
    /// The configuration the request started with; `None` until `request_filter`.
    pub(super) runtime: Option<Arc<Runtime>>,
    pub(super) request_id: String,
    /// The wall clock, read once when the request began: every decision about it uses this.
    pub(super) now: Timestamp,
    /// The monotonic clock at the same moment, for durations.
    pub(super) started: Instant,
    /// Headers to add upstream (identity, digest, signatures); set only by a callback route.
    pub(super) added: Option<HeaderList>,
    pub(super) connect_attempts: usize,
    /// The index of the callback route, for its counters and the access log.
    pub(super) route: Option<usize>,
    pub(super) outcome: Option<RequestOutcome>,
    pub(super) api_time: Option<Duration>,
    pub(super) verdict: Option<Verdict>,
    pub(super) imp_uid: Option<ImpUid>,
    pub(super) cache: Option<CacheStatus>,
    /// The access log's `error`: the code of a refusal, or why pingora failed the request.
    pub(super) error: Option<&'static str>,
    /// The client verigate believes in (README, "Forwarding headers"), for the access log.
    pub(super) forwarded_for: Option<String>,
    /// Counts the request in flight until the context is dropped, after logging.
    _in_flight: InFlight,
}

impl RequestCtx {
    /// A request that began just now, counted in flight by `in_flight`.
    pub(super) fn new(in_flight: InFlight) -> Self {
        RequestCtx {
            runtime: None,
            request_id: String::new(),
            now: Timestamp::now(),
            started: Instant::now(),
            added: None,
            connect_attempts: 0,
            route: None,
            outcome: None,
            api_time: None,
            verdict: None,
            imp_uid: None,
            cache: None,
            error: None,
            forwarded_for: None,
            _in_flight: in_flight,
        }
    }

    /// The access-log line of the finished request, answered with `status` (0: none).
    pub(super) fn access_record<'a>(
        &'a self,
        session: &'a Session,
        route: Option<&'a str>,
        status: u16,
    ) -> AccessRecord<'a> {
        let req = session.req_header();
        let took = self.started.elapsed();
        AccessRecord {
            // The end of the request, from the one wall-clock reading and the monotonic clock.
            time: self.now.checked_add(took).unwrap_or(self.now),
            request_id: &self.request_id,
            method: req.method.as_str(),
            path: req.uri.path(),
            route,
            status,
            verdict: self.verdict.map(Verdict::as_str),
            reason: self.verdict.and_then(Verdict::reason),
            error: self.error,
            imp_uid: self.imp_uid.as_ref().map(ImpUid::as_str),
            cache: self.cache.map(CacheStatus::as_str),
            api_ms: self.api_time.map(|d| d.as_secs_f64() * 1000.0),
            total_ms: took.as_secs_f64() * 1000.0,
            client: session.client_addr().map(ToString::to_string),
            forwarded_for: self.forwarded_for.as_deref(),
        }
    }
}
