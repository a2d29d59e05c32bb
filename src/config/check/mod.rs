//! Pass 4: meaning. Each section has its checker file (`server.rs`, `upstream.rs`,
//! `providers.rs`, `cache.rs`, `headers.rs`, `signing.rs`, `policies.rs`, `routes.rs`), each an
//! `impl Checker<'_>` block; this file holds the [`Checker`] they share and the validators more
//! than one section uses.
//!
//! Each check pushes a problem and goes on with a stand-in value, so that the whole file is
//! judged; the stand-ins never escape because any problem fails the parse.

mod cache;
mod headers;
mod policies;
mod providers;
mod routes;
mod server;
mod signing;
mod upstream;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::ops::Range;
use std::time::Duration;

use super::Config;
use super::document::{Problems, line_column};
use super::raw::{RawConfig, S};

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
        let iamport = self.iamport(raw.iamport);
        let cache = self.cache(raw.cache);
        let headers = self.headers(raw.headers);
        let signing = raw.signing.map(|s| self.signing(s));
        let policies = self.policies(raw.policies);
        let routes = self.routes(raw.routes, &policies);
        Config {
            server,
            upstream,
            iamport,
            cache,
            headers,
            signing,
            policies,
            routes,
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
}
