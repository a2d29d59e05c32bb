//! Prometheus metrics (gateway.md §6), with bounded label sets: route names from the config and
//! fixed outcome names, never an imp_uid or a path.
//!
//! Counters on the request path are resolved to their label children once per configuration
//! ([`RouteCounters`]), so counting a request is one atomic add with no lock and no hashing.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts,
    Registry, TextEncoder,
};

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
    /// `verigate_iamport_requests_total{endpoint,status}`.
    pub iamport_requests: IntCounterVec,
    /// `verigate_iamport_request_seconds{endpoint}`.
    pub iamport_seconds: HistogramVec,
    pub cache_hits: IntCounter,
    pub cache_misses: IntCounter,
    pub cache_entries: IntGauge,
    pub token_refreshes: IntCounter,
    pub upstream_errors: IntCounter,
}

/// The request counters of one configuration: per route (and one row for unrouted requests),
/// per outcome.
pub struct RouteCounters {
    rows: Vec<[IntCounter; 6]>,
}

impl RouteCounters {
    /// Counts one request on route `index` (`None` = no route).
    pub fn count(&self, route: Option<usize>, outcome: RequestOutcome) {
        let row = route.map_or(0, |i| i + 1);
        if let Some(r) = self.rows.get(row) {
            r[outcome as usize].inc();
        }
    }
}

fn must<T>(r: prometheus::Result<T>) -> T {
    // Registration fails only for invalid or duplicate names, which are constants here.
    match r {
        Ok(v) => v,
        Err(e) => panic!("metric definition: {e}"),
    }
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Self {
        let registry = Registry::new();
        let requests = must(IntCounterVec::new(
            Opts::new(
                "verigate_requests_total",
                "Requests by route and verdict (or outcome)",
            ),
            &["route", "verdict"],
        ));
        let iamport_requests = must(IntCounterVec::new(
            Opts::new(
                "verigate_iamport_requests_total",
                "Calls to the i'mport API by endpoint and HTTP status (or error)",
            ),
            &["endpoint", "status"],
        ));
        let iamport_seconds = must(HistogramVec::new(
            HistogramOpts::new(
                "verigate_iamport_request_seconds",
                "Duration of calls to the i'mport API",
            )
            .buckets(vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            &["endpoint"],
        ));
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
        for c in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
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
            iamport_requests,
            iamport_seconds,
            cache_hits,
            cache_misses,
            cache_entries,
            token_refreshes,
            upstream_errors,
        }
    }

    /// The request counters for a configuration with these route names, in order.
    pub fn route_counters<'a>(&self, routes: impl Iterator<Item = &'a str>) -> RouteCounters {
        let row = |route: &str| {
            RequestOutcome::ALL.map(|o| self.requests.with_label_values(&[route, o.as_str()]))
        };
        let mut rows = vec![row("-")];
        rows.extend(routes.map(row));
        RouteCounters { rows }
    }

    /// The duration histogram of one API endpoint, resolved once.
    pub fn iamport_timer(&self, endpoint: &str) -> Histogram {
        self.iamport_seconds.with_label_values(&[endpoint])
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
        m.cache_hits.inc();
        let text = String::from_utf8(m.render()).unwrap();
        for line in [
            "verigate_requests_total{route=\"popup\",verdict=\"allow\"} 2",
            "verigate_requests_total{route=\"redirect\",verdict=\"deny\"} 1",
            "verigate_requests_total{route=\"-\",verdict=\"passthrough\"} 1",
            "verigate_cache_hits_total 1",
            "verigate_cache_misses_total 0",
            "verigate_token_refreshes_total 0",
            "verigate_upstream_errors_total 0",
            "verigate_cache_entries 0",
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
    }
}
