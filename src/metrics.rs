//! Prometheus metrics (README, "Operations"), with bounded label sets: route names from the config and
//! fixed outcome names, never an imp_uid or a path.
//!
//! Counters on the request path are resolved to their label children once per configuration
//! ([`RouteCounters`]), so counting a request is a few atomic adds with no lock and no hashing.
//! `route` is a route name from the configuration, or [`PASSTHROUGH`] for requests outside every
//! route; `status` is a status class (`1xx`…`5xx`), never a code a client could vary.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

/// The `route` label of requests that match no route.
pub const PASSTHROUGH: &str = "passthrough";

/// Status classes, as the `status` label of `verigate_responses_total` says them.
const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// Buckets of the whole-request histogram: a passthrough takes well under a millisecond, a
/// cold verification a few API round trips, a slow app up to its read timeout.
const REQUEST_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Buckets of the API call histograms.
const API_BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

/// Buckets of the store command histogram: one loopback or same-zone round trip is well under a
/// millisecond; `timeout_ms` bounds the slowest.
const STORE_BUCKETS: [f64; 11] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
];

/// What became of one request, as the `verdict` label says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestOutcome {
    Allow = 0,
    Deny = 1,
    Unverified = 2,
    /// Refused for its input (400, 409, 413, 415).
    Invalid = 3,
    /// The API was unavailable (503).
    Unavailable = 4,
    /// No route: proxied unchanged.
    Passthrough = 5,
}

impl RequestOutcome {
    const ALL: [RequestOutcome; 6] = [
        RequestOutcome::Allow,
        RequestOutcome::Deny,
        RequestOutcome::Unverified,
        RequestOutcome::Invalid,
        RequestOutcome::Unavailable,
        RequestOutcome::Passthrough,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestOutcome::Allow => "allow",
            RequestOutcome::Deny => "deny",
            RequestOutcome::Unverified => "unverified",
            RequestOutcome::Invalid => "invalid",
            RequestOutcome::Unavailable => "unavailable",
            RequestOutcome::Passthrough => "passthrough",
        }
    }
}

/// All of verigate's metrics, registered in one registry.
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    /// `verigate_api_requests_total{provider,endpoint,status}`: every provider's API calls.
    pub api_requests: IntCounterVec,
    /// `verigate_api_request_seconds{provider,endpoint}`.
    pub api_seconds: HistogramVec,
    /// `verigate_iamport_requests_total{endpoint,status}`: the i'mport V1 calls alone, the
    /// series from before the `provider` label.
    pub iamport_requests: IntCounterVec,
    /// `verigate_iamport_request_seconds{endpoint}`: i'mport V1 alone, as above.
    pub iamport_seconds: HistogramVec,
    pub cache_hits: IntCounter,
    pub cache_misses: IntCounter,
    pub cache_entries: IntGauge,
    pub token_refreshes: IntCounter,
    pub upstream_errors: IntCounter,
    responses: IntCounterVec,
    request_seconds: HistogramVec,
    /// `verigate_breaker_open{provider}`: 1 from the breaker's opening until a probe closes it.
    /// A provider's series exists once the provider is built.
    breaker_open: IntGaugeVec,
    reloads_applied: IntCounter,
    reloads_refused: IntCounter,
    /// `verigate_store_requests_total{op,result}`: calls to Valkey/Redis by operation and
    /// result (`first`, `replay`, `hit`, `miss`, `ok` or an error name).
    store_requests: IntCounterVec,
    /// `verigate_store_request_seconds{op}`: commands that were sent.
    store_seconds: HistogramVec,
}

/// The per-request metrics of one route (or of unrouted requests), resolved once.
struct RouteRow {
    outcomes: [IntCounter; 6],
    statuses: [IntCounter; 5],
    seconds: Histogram,
}

/// The request metrics of one configuration: per route (and one row for unrouted requests),
/// per outcome, per status class, and the whole-request duration.
pub struct RouteCounters {
    rows: Vec<RouteRow>,
}

impl RouteCounters {
    fn row(&self, route: Option<usize>) -> Option<&RouteRow> {
        self.rows.get(route.map_or(0, |i| i + 1))
    }

    /// Counts one request on route `index` (`None` = no route).
    pub fn count(&self, route: Option<usize>, outcome: RequestOutcome) {
        if let Some(r) = self.row(route) {
            r.outcomes[outcome as usize].inc();
        }
    }

    /// Counts the answer (`status` 0: none was written, the client went away) and the time the
    /// whole request took.
    pub fn finish(&self, route: Option<usize>, status: u16, took: std::time::Duration) {
        let Some(r) = self.row(route) else {
            return;
        };
        if let Some(class) = (status / 100).checked_sub(1).map(usize::from)
            && let Some(c) = r.statuses.get(class)
        {
            c.inc();
        }
        r.seconds.observe(took.as_secs_f64());
    }
}

fn must<T>(r: prometheus::Result<T>) -> T {
    // Registration fails only for invalid or duplicate names, which are constants here.
    match r {
        Ok(v) => v,
        Err(e) => panic!("metric definition: {e}"),
    }
}

/// A counter family (its name and labels are constants, so this cannot fail).
fn counters(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    must(IntCounterVec::new(Opts::new(name, help), labels))
}

/// A histogram family with `buckets`.
fn histograms(name: &str, help: &str, buckets: Vec<f64>, labels: &[&str]) -> HistogramVec {
    must(HistogramVec::new(
        HistogramOpts::new(name, help).buckets(buckets),
        labels,
    ))
}

/// The store's families: requests by `op` and `result`, command durations by `op`.
fn store_families() -> (IntCounterVec, HistogramVec) {
    let requests = counters(
        "verigate_store_requests_total",
        "Calls to the shared store (Valkey/Redis) by operation and result",
        &["op", "result"],
    );
    let seconds = histograms(
        "verigate_store_request_seconds",
        "Duration of commands sent to the shared store",
        STORE_BUCKETS.to_vec(),
        &["op"],
    );
    (requests, seconds)
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Self {
        let registry = Registry::new();
        let requests = counters(
            "verigate_requests_total",
            "Requests by route and verdict (or outcome)",
            &["route", "verdict"],
        );
        let api_requests = counters(
            "verigate_api_requests_total",
            "Calls to an identity provider's API by provider, endpoint and HTTP status (or error)",
            &["provider", "endpoint", "status"],
        );
        let api_seconds = histograms(
            "verigate_api_request_seconds",
            "Duration of calls to an identity provider's API",
            API_BUCKETS.to_vec(),
            &["provider", "endpoint"],
        );
        let iamport_requests = counters(
            "verigate_iamport_requests_total",
            "Calls to the i'mport API by endpoint and HTTP status (or error)",
            &["endpoint", "status"],
        );
        let iamport_seconds = histograms(
            "verigate_iamport_request_seconds",
            "Duration of calls to the i'mport API",
            API_BUCKETS.to_vec(),
            &["endpoint"],
        );
        let cache_hits = must(IntCounter::new(
            "verigate_cache_hits_total",
            "Verifications answered from the cache",
        ));
        let cache_misses = must(IntCounter::new(
            "verigate_cache_misses_total",
            "Verifications resolved through the API",
        ));
        let cache_entries = must(IntGauge::new(
            "verigate_cache_entries",
            "Verifications currently cached",
        ));
        let token_refreshes = must(IntCounter::new(
            "verigate_token_refreshes_total",
            "Access tokens obtained from the i'mport API",
        ));
        let upstream_errors = must(IntCounter::new(
            "verigate_upstream_errors_total",
            "Requests that failed to reach or be answered by the app",
        ));
        let responses = counters(
            "verigate_responses_total",
            "Answers by route and status class (1xx..5xx)",
            &["route", "status"],
        );
        let request_seconds = histograms(
            "verigate_request_duration_seconds",
            "Duration of whole requests, from the request head to the end of the answer",
            REQUEST_BUCKETS.to_vec(),
            &["route"],
        );
        let breaker = must(IntGaugeVec::new(
            Opts::new(
                "verigate_breaker_open",
                "1 while the circuit breaker in front of an identity provider's API is open",
            ),
            &["provider"],
        ));
        let reloads = counters(
            "verigate_reloads_total",
            "Configuration reloads (SIGHUP) by result: applied or refused",
            &["result"],
        );
        let (store_requests, store_seconds) = store_families();
        for c in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(store_requests.clone()),
            Box::new(store_seconds.clone()),
            Box::new(responses.clone()),
            Box::new(request_seconds.clone()),
            Box::new(breaker.clone()),
            Box::new(reloads.clone()),
            Box::new(api_requests.clone()),
            Box::new(api_seconds.clone()),
            Box::new(iamport_requests.clone()),
            Box::new(iamport_seconds.clone()),
            Box::new(cache_hits.clone()),
            Box::new(cache_misses.clone()),
            Box::new(cache_entries.clone()),
            Box::new(token_refreshes.clone()),
            Box::new(upstream_errors.clone()),
        ] {
            must(registry.register(c));
        }
        Metrics {
            registry,
            requests,
            api_requests,
            api_seconds,
            iamport_requests,
            iamport_seconds,
            cache_hits,
            cache_misses,
            cache_entries,
            token_refreshes,
            upstream_errors,
            responses,
            request_seconds,
            breaker_open: breaker,
            reloads_applied: reloads.with_label_values(&["applied"]),
            reloads_refused: reloads.with_label_values(&["refused"]),
            store_requests,
            store_seconds,
        }
    }

    /// Counts one SIGHUP reload by its result (`Ok`: applied), and passes the result on.
    pub fn count_reload<T, E>(&self, result: Result<T, E>) -> Result<T, E> {
        match &result {
            Ok(_) => self.reloads_applied.inc(),
            Err(_) => self.reloads_refused.inc(),
        }
        result
    }

    /// The request counters for a configuration with these route names, in order.
    pub fn route_counters<'a>(&self, routes: impl Iterator<Item = &'a str>) -> RouteCounters {
        // Every series exists (at 0) from the start, so rates and alerts need no special case.
        let row = |route: &str| RouteRow {
            outcomes: RequestOutcome::ALL
                .map(|o| self.requests.with_label_values(&[route, o.as_str()])),
            statuses: STATUS_CLASSES.map(|c| self.responses.with_label_values(&[route, c])),
            seconds: self.request_seconds.with_label_values(&[route]),
        };
        let mut rows = vec![row(PASSTHROUGH)];
        rows.extend(routes.map(row));
        RouteCounters { rows }
    }

    /// The `verigate_breaker_open` gauge of one provider (its series appears at 0).
    pub fn breaker_gauge(&self, provider: &str) -> IntGauge {
        self.breaker_open.with_label_values(&[provider])
    }

    /// The duration histogram of one provider's API endpoint.
    pub fn api_timer(&self, provider: &str, endpoint: &str) -> Histogram {
        self.api_seconds.with_label_values(&[provider, endpoint])
    }

    /// The duration histogram of one i'mport V1 endpoint (the series without `provider`).
    pub fn iamport_timer(&self, endpoint: &str) -> Histogram {
        self.iamport_seconds.with_label_values(&[endpoint])
    }

    /// Counts one call to the store: `op` and `result` are fixed names, never a key.
    pub fn count_store(&self, op: &str, result: &str) {
        self.store_requests.with_label_values(&[op, result]).inc();
    }

    /// The duration histogram of one store operation.
    pub fn store_timer(&self, op: &str) -> Histogram {
        self.store_seconds.with_label_values(&[op])
    }

    /// Everything, in the Prometheus text format.
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::new();
        // Encoding into a Vec cannot fail for well-formed metrics.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_render_with_bounded_labels() {
        let m = Metrics::new();
        let rc = m.route_counters(["popup", "redirect"].into_iter());
        rc.count(Some(0), RequestOutcome::Allow);
        rc.count(Some(0), RequestOutcome::Allow);
        rc.count(Some(1), RequestOutcome::Deny);
        rc.count(None, RequestOutcome::Passthrough);
        rc.count(Some(9), RequestOutcome::Allow); // out of range: ignored, never a panic
        let ms = std::time::Duration::from_millis(3);
        rc.finish(Some(0), 200, ms);
        rc.finish(Some(0), 503, ms);
        rc.finish(None, 404, ms);
        rc.finish(None, 0, ms); // no answer: timed, not counted
        rc.finish(None, 999, ms); // no such class: timed, not counted
        rc.finish(Some(9), 200, ms);
        m.breaker_gauge("iamport").set(1);
        let _ = m.count_reload(Ok::<(), ()>(()));
        assert_eq!(m.count_reload(Err::<(), _>(7)), Err(7));
        let _ = m.count_reload(Err::<(), ()>(()));
        m.cache_hits.inc();
        let text = String::from_utf8(m.render()).unwrap();
        for line in [
            "verigate_requests_total{route=\"popup\",verdict=\"allow\"} 2",
            "verigate_requests_total{route=\"redirect\",verdict=\"deny\"} 1",
            "verigate_requests_total{route=\"passthrough\",verdict=\"passthrough\"} 1",
            "verigate_responses_total{route=\"popup\",status=\"2xx\"} 1",
            "verigate_responses_total{route=\"popup\",status=\"5xx\"} 1",
            "verigate_responses_total{route=\"passthrough\",status=\"4xx\"} 1",
            "verigate_responses_total{route=\"redirect\",status=\"1xx\"} 0",
            "verigate_request_duration_seconds_count{route=\"popup\"} 2",
            "verigate_request_duration_seconds_count{route=\"passthrough\"} 3",
            "verigate_request_duration_seconds_count{route=\"redirect\"} 0",
            "verigate_breaker_open{provider=\"iamport\"} 1",
            "verigate_reloads_total{result=\"applied\"} 1",
            "verigate_reloads_total{result=\"refused\"} 2",
            "verigate_cache_hits_total 1",
            "verigate_cache_misses_total 0",
            "verigate_token_refreshes_total 0",
            "verigate_upstream_errors_total 0",
            "verigate_cache_entries 0",
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
        // Bounded: 3 rows × 5 classes, whatever statuses were seen.
        let series = text
            .lines()
            .filter(|l| l.starts_with("verigate_responses_total{"))
            .count();
        assert_eq!(series, 15, "{text}");
    }
}
