//! Pass 4: meaning. Each section has its checker file (`server.rs`, `upstream.rs`,
//! `providers.rs`, `cache.rs`, `headers.rs`, `signing.rs`, `policies.rs`, `routes.rs`,
//! `sessions.rs`, `gates.rs`, `store.rs`), each an `impl Checker<'_>` block; this file holds
//! the [`Checker`] they share and the validators more than one section uses.
//!
//! Each check pushes a problem and goes on with a stand-in value, so that the whole file is
//! judged; the stand-ins never escape because any problem fails the parse.

mod cache;
mod gates;
mod headers;
mod policies;
mod providers;
mod routes;
mod server;
mod sessions;
mod signing;
mod store;
mod upstream;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::ops::Range;
use std::time::Duration;

use super::Config;
use super::document::{Problems, line_column};
use super::raw::{RawConfig, S, absent};
use crate::provider::ProviderName;

/// The state of pass 4: the problems found so far and what they need to be told apart.
pub(super) struct Checker<'a> {
    pub(super) problems: Problems,
    /// Value spans whose interpolation failed: already reported.
    pub(super) poisoned: &'a HashSet<usize>,
    pub(super) env: &'a dyn Fn(&str) -> Option<String>,
    /// The file, to name the line of an earlier duplicate.
    pub(super) text: &'a str,
}

/// Where a value is, falling back to its table when the value is a default.
fn place(span: &Range<usize>, table: &Range<usize>) -> usize {
    if span.is_empty() && span.start == 0 {
        table.start
    } else {
        span.start
    }
}

impl Checker<'_> {
    /// The 1-based line of a byte offset.
    fn line(&self, offset: usize) -> usize {
        line_column(self.text, offset).0
    }

    fn error(&mut self, span: &Range<usize>, table: &Range<usize>, message: String) {
        if !span.is_empty() && self.poisoned.contains(&span.start) {
            return;
        }
        self.problems.push(place(span, table), message);
    }

    /// Judges every section of `raw`.
    pub(super) fn config(&mut self, raw: RawConfig) -> Config {
        let server = self.server(raw.server);
        let upstream = self.upstream(raw.upstream);
        let (iamport, portone) = match (raw.iamport, raw.portone) {
            // Neither table: i'mport with its defaults, as before [portone] existed.
            (None, None) => (Some(self.iamport(absent())), None),
            (i, p) => (i.map(|i| self.iamport(i)), p.map(|p| self.portone(p))),
        };
        let configured: Vec<ProviderName> = [
            iamport.as_ref().map(|_| ProviderName::Iamport),
            portone.as_ref().map(|_| ProviderName::Portone),
        ]
        .into_iter()
        .flatten()
        .collect();
        let cache = self.cache(raw.cache);
        let headers = self.headers(raw.headers);
        let signing = raw.signing.map(|s| self.signing(s));
        let policies = self.policies(raw.policies);
        let routes = self.routes(raw.routes, &policies, &configured);
        let store_id = portone.as_ref().and_then(|p| p.store_id.as_deref());
        let session = raw.session.map(|s| self.session(s, &configured, store_id));
        let gates = self.gates(raw.gates, session.is_some(), &policies, &routes);
        let budgets: Vec<(&str, Duration)> = [
            iamport.as_ref().map(|i| ("iamport", i.timeout)),
            portone.as_ref().map(|p| ("portone", p.timeout)),
        ]
        .into_iter()
        .flatten()
        .collect();
        let store = raw.store.map(|s| self.store(s, &budgets));
        Config {
            server,
            upstream,
            iamport,
            portone,
            cache,
            headers,
            signing,
            policies,
            routes,
            session,
            gates,
            store,
        }
    }

    fn socket_addr(
        &mut self,
        s: &S<String>,
        table: &Range<usize>,
        what: &str,
    ) -> Option<SocketAddr> {
        match s.get_ref().trim().parse::<SocketAddr>() {
            Ok(addr) => Some(addr),
            Err(_) => {
                self.error(
                    &s.span(),
                    table,
                    format!(
                        "{what}: `{}` is not an IP address and port such as 0.0.0.0:8080 or \
                         [::]:8080",
                        s.get_ref()
                    ),
                );
                None
            }
        }
    }

    fn non_empty(&mut self, s: &S<String>, table: &Range<usize>, what: &str) {
        if s.get_ref().trim().is_empty() {
            self.error(&s.span(), table, format!("{what} must not be empty"));
        }
    }

    fn positive_ms(&mut self, v: &S<u64>, table: &Range<usize>, what: &str) -> Duration {
        if *v.get_ref() == 0 {
            self.error(
                &v.span(),
                table,
                format!("{what} must be more than 0 milliseconds"),
            );
        }
        Duration::from_millis(*v.get_ref())
    }

    /// Text for the operator's eyes (a page text): non-empty, at most `max` characters, no
    /// control characters. The value is never echoed.
    fn text(&mut self, s: &S<String>, table: &Range<usize>, what: &str, max: usize) -> String {
        let text = s.get_ref().trim();
        if text.is_empty() || text.chars().count() > max || text.chars().any(char::is_control) {
            self.error(
                &s.span(),
                table,
                format!("{what} must be 1 to {max} characters without control characters"),
            );
        }
        text.to_string()
    }
}

/// A name sent in a header, a query or a key id: 1–64 letters, digits, `.`, `_` or `-`.
fn is_token(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// What is wrong with a URL that should be `http(s)://host[:port][/path]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UrlProblem {
    NotUrl,
    Credentials,
    Query,
    /// A path other than `/` (not a problem for an API's base URL).
    Path,
    NotHttp,
}

impl std::fmt::Display for UrlProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            UrlProblem::NotUrl => "is not a URL",
            UrlProblem::Credentials => "must not carry credentials",
            UrlProblem::Query => "must not have a query string",
            UrlProblem::Path => "must not have a path",
            UrlProblem::NotHttp => "must be an http:// or https:// URL with a host",
        })
    }
}

/// The first problem of `url` (already without its trailing `/`), if any.
fn url_problem(url: &str) -> Option<UrlProblem> {
    let Ok(uri) = url.parse::<http::Uri>() else {
        return Some(UrlProblem::NotUrl);
    };
    match (uri.scheme_str(), uri.authority()) {
        (Some("http" | "https"), Some(auth)) if auth.as_str().contains('@') => {
            Some(UrlProblem::Credentials)
        }
        (Some("http" | "https"), Some(auth)) if !auth.host().is_empty() => {
            if uri.query().is_some() {
                Some(UrlProblem::Query)
            } else if !matches!(uri.path(), "" | "/") {
                Some(UrlProblem::Path)
            } else {
                None
            }
        }
        _ => Some(UrlProblem::NotHttp),
    }
}
