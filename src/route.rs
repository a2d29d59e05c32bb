//! Which part of verigate a request belongs to: a callback route, a gated prefix, one of the
//! gateway's own `/.verigate/` endpoints, or none (proxied unchanged).
//!
//! A [`Router`] is built once per configuration and asked once per request. Callback routes are
//! matched by exact method and exact path (a `GET` route also takes `HEAD`), in file order, with
//! no allocation: a handful of routes is faster to scan than to hash. Everything under
//! `/.verigate/` is the gateway's own and never forwarded (an unknown one is 404); gates match
//! prefixes on segment boundaries of the normalised path (see [`crate::path`]).
//! Pure: no clock, no socket, no global.

use std::sync::Arc;

use http::Method;

use crate::extract::ImpUidSource;
use crate::policy::Policy;
use crate::provider::ProviderName;
use crate::session;

/// What a route does with a `deny` verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnDeny {
    /// Forward with verdict `deny` and the identity headers.
    Forward,
    /// Answer 403 `age_requirement_not_met`.
    Reject,
}

impl OnDeny {
    /// The name in the config file.
    pub fn as_str(self) -> &'static str {
        match self {
            OnDeny::Forward => "forward",
            OnDeny::Reject => "reject",
        }
    }
}

/// What a route does when there is no verified person (not found, not certified, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnFailure {
    /// Answer 403 with the failure's error code.
    Reject,
    /// Forward with verdict `unverified` and the reason.
    Forward,
}

impl OnFailure {
    /// The name in the config file.
    pub fn as_str(self) -> &'static str {
        match self {
            OnFailure::Reject => "reject",
            OnFailure::Forward => "forward",
        }
    }
}

/// One `[[routes]]` entry: a request the gateway intercepts and verifies.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// Unique; labels logs and metrics.
    pub name: Arc<str>,
    /// Upper-case.
    pub method: http::Method,
    /// Exact path, starting with `/`, without query or fragment.
    pub path: String,
    /// The API its ids are resolved with (`provider`, or the only one configured).
    pub provider: ProviderName,
    /// Where the imp_uid is taken from.
    pub imp_uid_from: ImpUidSource,
    /// The query or body field holding the id (non-empty; by default `imp_uid` on i'mport
    /// routes, `identityVerificationId` on PortOne routes).
    pub imp_uid_field: String,
    /// The policy the person is judged against.
    pub policy: Arc<Policy>,
    /// What a `deny` verdict does.
    pub on_deny: OnDeny,
    /// What a failure does.
    pub on_failure: OnFailure,
    /// Whether an imp_uid may pass this route only once.
    pub single_use: bool,
}

impl Route {
    /// The API that resolves this route's ids.
    pub fn provider(&self) -> ProviderName {
        self.provider
    }
}

/// One gated prefix (`[[gates]]`), defined by the session room that judges it.
pub use crate::session::Gate;

/// The gateway's own paths under `/.verigate/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `GET /.verigate/verify?rd=…`: the verification page.
    VerifyPage,
    /// `GET` (redirect mode) or `POST` (popup) `/.verigate/callback`.
    Callback,
    /// `GET` or `POST /.verigate/sign_out?rd=…`.
    SignOut,
    /// `GET /.verigate/auth?gate=…`: forward-auth for nginx `auth_request` and Envoy.
    Auth,
    /// `GET /.verigate/forward-auth?gate=…`: forward-auth for Traefik and Caddy.
    ForwardAuth,
    /// Any other path (or method) under `/.verigate`: 404.
    Unknown,
}

/// The gateway's endpoints: exact path, then the methods each takes (`HEAD` wherever `GET` is
/// a read without effect).
const ENDPOINTS: [(&str, Endpoint, &[Method]); 5] = [
    (
        "/.verigate/verify",
        Endpoint::VerifyPage,
        &[Method::GET, Method::HEAD],
    ),
    (
        "/.verigate/callback",
        Endpoint::Callback,
        &[Method::GET, Method::POST],
    ),
    (
        "/.verigate/sign_out",
        Endpoint::SignOut,
        &[Method::GET, Method::POST],
    ),
    (
        "/.verigate/auth",
        Endpoint::Auth,
        &[Method::GET, Method::HEAD],
    ),
    (
        "/.verigate/forward-auth",
        Endpoint::ForwardAuth,
        &[Method::GET, Method::HEAD],
    ),
];

impl Endpoint {
    /// The endpoint for a path under `/.verigate` (see [`session::is_reserved_path`]).
    fn of(method: &Method, path: &str) -> Endpoint {
        ENDPOINTS
            .iter()
            .find(|(p, _, methods)| *p == path && methods.contains(method))
            .map_or(Endpoint::Unknown, |(_, e, _)| *e)
    }
}

/// Where a request goes.
#[derive(Debug, Clone, Copy)]
pub enum Matched<'r> {
    /// No route, gate or endpoint: proxied unchanged.
    Pass,
    /// A callback route, with its index in the configuration's routes (for its counters).
    Callback { index: usize, route: &'r Route },
    /// Under a gate: needs a session.
    Gated(&'r Gate),
    /// One of the gateway's own paths.
    Endpoint(Endpoint),
}

/// The routing table of one configuration.
#[derive(Debug, Clone, Default)]
pub struct Router {
    routes: Vec<Route>,
    gates: Vec<Gate>,
}

impl Router {
    /// A router over `routes` (in file order, (method, path) pairs unique) and `gates`.
    pub fn new(routes: Vec<Route>, gates: Vec<Gate>) -> Self {
        Router { routes, gates }
    }

    /// The routes, in file order: [`Matched::Callback`]'s `index` points into this.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// The gate named `name` (forward-auth's `?gate=`).
    pub fn gate(&self, name: &str) -> Option<&Gate> {
        self.gates.iter().find(|g| &*g.name == name)
    }

    /// Whether any gate exists: only then must paths be normalised before [`Router::route`].
    pub fn has_gates(&self) -> bool {
        !self.gates.is_empty()
    }

    /// Where `method` on `path` (without query) goes. The gateway's own paths come first, so
    /// nothing under `/.verigate` is ever forwarded; then the exact routes; then the gates,
    /// which expect `path` normalised.
    #[inline]
    pub fn route(&self, method: &Method, path: &str) -> Matched<'_> {
        // Almost no path has `.` as its second byte: one comparison settles the common case.
        if path.as_bytes().get(1) == Some(&b'.') && session::is_reserved_path(path) {
            return Matched::Endpoint(Endpoint::of(method, path));
        }
        if let Some(index) = self.route_index(method, path) {
            return Matched::Callback {
                index,
                route: &self.routes[index],
            };
        }
        match self.gates.iter().find(|g| g.prefix.matches(path)) {
            Some(gate) => Matched::Gated(gate),
            None => Matched::Pass,
        }
    }

    /// The index of the route for this method and exact path. A `GET` route also takes `HEAD`
    /// (a `HEAD` route of its own, when there is one, comes first).
    #[inline]
    fn route_index(&self, method: &Method, path: &str) -> Option<usize> {
        // One pass: the path decides first (most lengths differ), then the method; a `GET`
        // route seen on the way is remembered for a `HEAD` without a route of its own.
        let head = *method == Method::HEAD;
        let mut get = None;
        for (i, r) in self.routes.iter().enumerate() {
            if r.path != path {
                continue;
            }
            if r.method == *method {
                return Some(i);
            }
            if head && get.is_none() && r.method == Method::GET {
                get = Some(i);
            }
        }
        get
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::path::Prefix;
    use crate::policy::AgeBasis;

    fn policy() -> Arc<Policy> {
        Arc::new(Policy {
            name: "adult".into(),
            min_age: 19,
            max_age: None,
            age_basis: AgeBasis::Year,
            timezone: jiff::tz::TimeZone::UTC,
            max_certification_age: None,
        })
    }

    fn route(name: &str, method: Method, path: &str) -> Route {
        Route {
            name: name.into(),
            method,
            path: path.into(),
            provider: ProviderName::Iamport,
            imp_uid_from: ImpUidSource::Body,
            imp_uid_field: "imp_uid".into(),
            policy: policy(),
            on_deny: OnDeny::Forward,
            on_failure: OnFailure::Reject,
            single_use: false,
        }
    }

    fn router(gates: Vec<Gate>) -> Router {
        Router::new(
            vec![
                route("popup", Method::POST, "/certifications"),
                route("redirect", Method::GET, "/certifications/redirect"),
                route("head", Method::HEAD, "/probe"),
                route("probe", Method::GET, "/probe"),
            ],
            gates,
        )
    }

    /// What a match says, as text, so a table can name it.
    fn said(m: Matched<'_>) -> String {
        match m {
            Matched::Pass => "pass".into(),
            Matched::Callback { index, route } => format!("route {index} {}", route.name),
            Matched::Gated(g) => format!("gate {}", g.name),
            Matched::Endpoint(e) => format!("{e:?}"),
        }
    }

    #[test]
    fn exact_routes_by_method_and_path_and_get_takes_head() {
        let r = router(Vec::new());
        let cases = [
            (Method::POST, "/certifications", "route 0 popup"),
            (Method::GET, "/certifications", "pass"),
            (Method::POST, "/certifications/", "pass"),
            (Method::POST, "/Certifications", "pass"),
            (Method::GET, "/certifications/redirect", "route 1 redirect"),
            (Method::HEAD, "/certifications/redirect", "route 1 redirect"),
            (Method::POST, "/certifications/redirect", "pass"),
            (Method::HEAD, "/probe", "route 2 head"),
            (Method::GET, "/probe", "route 3 probe"),
            (Method::GET, "/", "pass"),
        ];
        for (method, path, want) in cases {
            assert_eq!(said(r.route(&method, path)), want, "{method} {path}");
        }
        assert!(!r.has_gates());
    }

    #[test]
    fn everything_under_verigate_is_an_endpoint_and_unknown_ones_are_404() {
        let r = router(Vec::new());
        let cases = [
            (Method::GET, "/.verigate/verify", "VerifyPage"),
            (Method::HEAD, "/.verigate/verify", "VerifyPage"),
            (Method::POST, "/.verigate/verify", "Unknown"),
            (Method::GET, "/.verigate/callback", "Callback"),
            (Method::POST, "/.verigate/callback", "Callback"),
            (Method::PUT, "/.verigate/callback", "Unknown"),
            (Method::GET, "/.verigate/sign_out", "SignOut"),
            (Method::POST, "/.verigate/sign_out", "SignOut"),
            (Method::GET, "/.verigate/auth", "Auth"),
            (Method::GET, "/.verigate/forward-auth", "ForwardAuth"),
            (Method::HEAD, "/.verigate/forward-auth", "ForwardAuth"),
            (Method::GET, "/.verigate/sign-out", "Unknown"),
            (Method::GET, "/.verigate/verify/", "Unknown"),
            (Method::GET, "/.verigate", "Unknown"),
            (Method::GET, "/.verigate/", "Unknown"),
            (Method::GET, "/.VERIGATE/verify", "Unknown"),
            (Method::GET, "/.verigate/nothing/here", "Unknown"),
            (Method::GET, "/.verigatex", "pass"),
            (Method::GET, "/x/.verigate/verify", "pass"),
        ];
        for (method, path, want) in cases {
            assert_eq!(said(r.route(&method, path)), want, "{method} {path}");
        }
    }

    #[test]
    fn gates_match_prefixes_after_routes_and_endpoints() {
        let gate = |name: &str, prefix: &str| Gate {
            name: name.into(),
            prefix: Prefix::new(prefix, false).unwrap(),
            policy: policy(),
        };
        let r = router(vec![
            gate("adult", "/adult"),
            gate("shop", "/certifications"),
        ]);
        assert!(r.has_gates());
        let cases = [
            (Method::GET, "/adult", "gate adult"),
            (Method::POST, "/adult/x/y", "gate adult"),
            (Method::GET, "/adultery", "pass"),
            (Method::GET, "/Adult/x", "pass"),
            (Method::POST, "/certifications", "route 0 popup"),
            (Method::GET, "/certifications/other", "gate shop"),
            (Method::GET, "/.verigate/verify", "VerifyPage"),
        ];
        for (method, path, want) in cases {
            assert_eq!(said(r.route(&method, path)), want, "{method} {path}");
        }
    }
}
