//! [[routes]]: names, methods, paths (one route per method and path), the provider, policy
//! references, where the id is read.

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::sync::Arc;

use super::{Checker, place};
use crate::config::raw::{RawRoute, S};
use crate::config::types::Route;
use crate::extract::ImpUidSource;
use crate::policy::Policy;
use crate::provider::ProviderName;
use crate::session::{RESERVED_PREFIX, is_reserved_path};

/// The field a route reads its id from unless `imp_uid_field` says otherwise.
fn default_id_field(provider: ProviderName) -> &'static str {
    match provider {
        ProviderName::Iamport => "imp_uid",
        ProviderName::Portone => "identityVerificationId",
    }
}

/// What earlier routes took: names, and (method, path) → (route name, offset of its path).
#[derive(Default)]
struct Taken {
    names: HashSet<String>,
    endpoints: HashMap<(String, String), (String, usize)>,
}

impl Checker<'_> {
    pub(super) fn routes(
        &mut self,
        raw: S<Vec<S<RawRoute>>>,
        policies: &[Arc<Policy>],
        configured: &[ProviderName],
    ) -> Vec<Route> {
        let all = raw.span();
        let raw = raw.into_inner();
        if raw.is_empty() {
            self.error(
                &all,
                &all,
                "`routes` is empty: at least one [[routes]] table is required".to_string(),
            );
        }
        let mut taken = Taken::default();
        raw.into_iter()
            .filter_map(|route| self.route(route, policies, configured, &mut taken))
            .collect()
    }

    /// One `[[routes]]` entry; `None` when its method or policy is unusable (already reported).
    fn route(
        &mut self,
        route: S<RawRoute>,
        policies: &[Arc<Policy>],
        configured: &[ProviderName],
        taken: &mut Taken,
    ) -> Option<Route> {
        let t = route.span();
        let r = route.into_inner();
        let name = self.route_name(&r.name, &t, &mut taken.names);
        let what = |key: &str| format!("`{key}` in [[routes]] `{name}`");
        let method = self.method(&r.method, &t, &what("method"));
        let path = r.path.get_ref().trim().to_string();
        if self.route_path(&r.path, &path, &t, &what("path"))
            && let Some(m) = &method
        {
            let endpoint = (m.as_str().to_string(), path.clone());
            if let Some((first, at)) = taken.endpoints.get(&endpoint) {
                let line = self.line(*at);
                self.error(
                    &r.path.span(),
                    &t,
                    format!(
                        "route `{name}` repeats {m} {path}, already taken by route `{first}` on \
                         line {line}; each method and path may have one route"
                    ),
                );
            } else {
                let at = place(&r.path.span(), &t);
                taken.endpoints.insert(endpoint, (name.clone(), at));
            }
        }
        let provider = self.provider_for(
            r.provider.as_ref(),
            configured,
            &t,
            "provider",
            &format!("in [[routes]] `{name}`"),
        );
        let imp_uid_field = match &r.imp_uid_field {
            Some(field) => {
                if field.get_ref().trim().is_empty() {
                    self.error(
                        &field.span(),
                        &t,
                        format!("{} must not be empty", what("imp_uid_field")),
                    );
                }
                field.get_ref().trim().to_string()
            }
            None => default_id_field(provider).to_string(),
        };
        let policy = self.policy_named(&r.policy, &t, policies, &what("policy"));
        let imp_uid_from = match r.imp_uid_from {
            Some(source) => source,
            None if matches!(method, Some(http::Method::GET | http::Method::HEAD)) => {
                ImpUidSource::Query
            }
            None => ImpUidSource::Body,
        };
        Some(Route {
            name: name.as_str().into(),
            method: method?,
            path,
            provider,
            imp_uid_from,
            imp_uid_field,
            policy: policy?,
            on_deny: r.on_deny,
            on_failure: r.on_failure,
            single_use: r.single_use,
        })
    }

    /// Whether `path` (as trimmed from `raw`) is a bare absolute path a request can carry;
    /// one under `/.verigate` is a problem too, but still a path.
    fn route_path(&mut self, raw: &S<String>, path: &str, t: &Range<usize>, what: &str) -> bool {
        let ok = path.starts_with('/')
            && path
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b'?' && b != b'#');
        if !ok {
            self.error(
                &raw.span(),
                t,
                format!(
                    "{what} must start with `/` and hold no spaces, `?` or `#` (the query is not \
                     part of the match; percent-encode other characters), not `{path}`"
                ),
            );
        } else if is_reserved_path(path) {
            self.error(
                &raw.span(),
                t,
                format!(
                    "{what} `{path}` is under {RESERVED_PREFIX}, which verigate answers itself and \
                     never forwards; the app's callback needs a path of its own"
                ),
            );
        }
        ok
    }

    /// A route's name: text without control characters, not the passthrough label, unique.
    fn route_name(
        &mut self,
        raw: &S<String>,
        t: &Range<usize>,
        names: &mut HashSet<String>,
    ) -> String {
        let name = raw.get_ref().trim().to_string();
        if name.is_empty() || name.chars().any(char::is_control) {
            self.error(
                &raw.span(),
                t,
                "`name` in [[routes]] must be non-empty text: it labels logs and metrics"
                    .to_string(),
            );
        } else if name == crate::metrics::PASSTHROUGH {
            self.error(
                &raw.span(),
                t,
                format!(
                    "route name `{name}` is reserved: it labels the metrics of requests outside \
                     every route"
                ),
            );
        } else if !names.insert(name.clone()) {
            self.error(
                &raw.span(),
                t,
                format!(
                    "route name `{name}` is used twice; names label logs and metrics and must be \
                     unique"
                ),
            );
        }
        name
    }

    /// An HTTP method, upper-cased.
    fn method(&mut self, raw: &S<String>, t: &Range<usize>, what: &str) -> Option<http::Method> {
        let text = raw.get_ref().trim().to_ascii_uppercase();
        match http::Method::from_bytes(text.as_bytes()) {
            Ok(m) if !text.is_empty() => Some(m),
            _ => {
                self.error(
                    &raw.span(),
                    t,
                    format!(
                        "{what}: `{}` is not an HTTP method (such as GET or POST)",
                        raw.get_ref()
                    ),
                );
                None
            }
        }
    }
}
