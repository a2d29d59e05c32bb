//! How long finding a request's place takes: [`Router::route`] for a passthrough, a callback
//! route, a `HEAD` on a `GET` route and a `/.verigate/` path, beside the linear scan the proxy
//! used before the router (`Config::route_index`), restated here as the reference.
//!
//! `cargo bench --bench route` (add `-- --quick` for a short run). Time is the benchmark
//! thread's CPU time, as in the signing bench.

use std::hint::black_box;
use std::sync::Arc;

use criterion::measurement::WallTime;
use criterion::{Criterion, criterion_group, criterion_main};
use http::Method;
use verigate::extract::ImpUidSource;
use verigate::policy::{AgeBasis, Policy};
use verigate::route::{OnDeny, OnFailure, Route, Router};

mod common;
use common::ThreadCpuTime;

fn route(name: &str, method: Method, path: &str) -> Route {
    Route {
        name: name.into(),
        method,
        path: path.into(),
        provider: verigate::provider::ProviderName::Iamport,
        imp_uid_from: ImpUidSource::Auto,
        imp_uid_field: "imp_uid".into(),
        policy: Arc::new(Policy {
            name: "adult".into(),
            min_age: 19,
            max_age: None,
            age_basis: AgeBasis::Year,
            timezone: jiff::tz::TimeZone::UTC,
            max_certification_age: None,
        }),
        on_deny: OnDeny::Forward,
        on_failure: OnFailure::Reject,
        single_use: false,
    }
}

/// The routes of the README's example: the popup and the redirect flow, and a third.
fn routes() -> Vec<Route> {
    vec![
        route("popup", Method::POST, "/certifications"),
        route("redirect", Method::GET, "/certifications/redirect"),
        route("signup", Method::POST, "/members/signup"),
    ]
}

/// The proxy's lookup before the router, as `Config::route_index` still does it.
fn scan(routes: &[Route], method: &Method, path: &str) -> Option<usize> {
    let find = |m: &Method| routes.iter().position(|r| r.method == *m && r.path == path);
    find(method).or_else(|| {
        (*method == Method::HEAD)
            .then(|| find(&Method::GET))
            .flatten()
    })
}

fn bench_route(c: &mut Criterion<ThreadCpuTime>) {
    let router = Router::new(routes(), Vec::new());
    let cases = [
        ("passthrough", Method::GET, "/shop/items/42"),
        ("callback", Method::POST, "/members/signup"),
        ("head-on-get", Method::HEAD, "/certifications/redirect"),
        ("endpoint", Method::GET, "/.verigate/verify"),
    ];
    let mut group = c.benchmark_group("route");
    for (name, method, path) in &cases {
        group.bench_function(*name, |b| {
            b.iter(|| {
                let m = router.route(black_box(method), black_box(path));
                black_box(matches!(m, verigate::route::Matched::Pass))
            })
        });
    }
    group.finish();
    let mut group = c.benchmark_group("scan-before-router");
    for (name, method, path) in &cases[..3] {
        group.bench_function(*name, |b| {
            b.iter(|| scan(router.routes(), black_box(method), black_box(path)))
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(ThreadCpuTime(WallTime));
    targets = bench_route
}
criterion_main!(benches);
