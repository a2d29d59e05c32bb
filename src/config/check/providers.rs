//! [iamport] and [portone]: each API's base URL, credentials (defaulting to `${IMP_KEY}` and
//! `${IMP_SECRET}`, or `${PORTONE_API_SECRET}`), time budget, and the V1 tier or the V2 store;
//! and the `provider` (or `sdk`) a route or the session page names.
//!
//! Either section or both may be written. A file with neither gets `[iamport]` with its
//! defaults, as before `[portone]` existed, so "neither" never happens.

use std::ops::Range;

use super::{Checker, UrlProblem, url_problem};
use crate::config::raw::{RawIamport, RawPortone, S};
use crate::provider::ProviderName;
use crate::provider::iamport_v1::IamportSettings;
use crate::provider::portone_v2::PortOneSettings;
use crate::secret::Secret;

impl Checker<'_> {
    /// A credential that defaults to `${VAR}`: the value as written (already interpolated), or
    /// the variable itself when the key is left out. `what` names the key.
    fn credential(
        &mut self,
        value: Option<S<String>>,
        var: &str,
        what: &str,
        table: &Range<usize>,
    ) -> String {
        match value {
            Some(v) => {
                // The message names the key only: the value may be the secret itself.
                self.non_empty(&v, table, what);
                v.into_inner()
            }
            None => {
                let why = match (self.env)(var) {
                    Some(v) if !v.trim().is_empty() => return v,
                    Some(_) => "empty",
                    None => "not set",
                };
                self.error(
                    &(0..0),
                    table,
                    format!(
                        "environment variable `{var}` is {why} ({what} defaults to \"${{{var}}}\")"
                    ),
                );
                String::new()
            }
        }
    }

    pub(super) fn iamport(&mut self, raw: S<RawIamport>) -> IamportSettings {
        let t = raw.span();
        let r = raw.into_inner();
        let base_url = self.base_url(&r.base_url, &t, ProviderName::Iamport);
        let imp_key = self.credential(r.imp_key, "IMP_KEY", "`imp_key` in [iamport]", &t);
        let imp_secret = Secret::new(self.credential(
            r.imp_secret,
            "IMP_SECRET",
            "`imp_secret` in [iamport]",
            &t,
        ));
        let timeout = self.positive_ms(&r.timeout_ms, &t, "`timeout_ms` in [iamport]");
        let tier = r.tier.map(|tier| {
            let value = tier.get_ref().trim();
            if value.is_empty() || http::HeaderValue::from_str(value).is_err() {
                self.error(
                    &tier.span(),
                    &t,
                    "`tier` in [iamport] must be a non-empty header value (visible ASCII)"
                        .to_string(),
                );
            }
            value.to_string()
        });
        IamportSettings {
            base_url,
            imp_key,
            imp_secret,
            timeout,
            tier,
        }
    }

    pub(super) fn portone(&mut self, raw: S<RawPortone>) -> PortOneSettings {
        let t = raw.span();
        let r = raw.into_inner();
        let base_url = self.base_url(&r.base_url, &t, ProviderName::Portone);
        let what = "`api_secret` in [portone]";
        let span = r.api_secret.as_ref().map(|s| s.span());
        let secret = self.credential(r.api_secret, "PORTONE_API_SECRET", what, &t);
        let secret = secret.trim().to_string();
        // Sent as `Authorization: PortOne <api_secret>`; never echoed.
        if !secret.bytes().all(|b| b.is_ascii_graphic()) {
            self.error(
                &span.unwrap_or(0..0),
                &t,
                format!("{what} must be visible ASCII without spaces: it is sent in an Authorization header"),
            );
        }
        let store_id = self.store_id(&r.store_id, &t, "`store_id` in [portone]");
        PortOneSettings {
            base_url,
            api_secret: Secret::new(secret),
            store_id,
            timeout: self.positive_ms(&r.timeout_ms, &t, "`timeout_ms` in [portone]"),
        }
    }

    /// A V2 store id (`store-…`): `None` when empty, else 1–128 letters, digits, `-` or `_`.
    pub(super) fn store_id(
        &mut self,
        raw: &S<String>,
        t: &Range<usize>,
        what: &str,
    ) -> Option<String> {
        let id = raw.get_ref().trim();
        let ok = (1..=128).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !id.is_empty() && !ok {
            self.error(
                &raw.span(),
                t,
                format!(
                    "{what} must be 1–128 letters, digits, `-` or `_` (such as \
                     store-4d3c2b1a-0000-4000-8000-000000000000), not `{id}`"
                ),
            );
        }
        (!id.is_empty()).then(|| id.to_string())
    }

    fn base_url(&mut self, raw: &S<String>, t: &Range<usize>, provider: ProviderName) -> String {
        let text = raw.get_ref().trim();
        let url = text.trim_end_matches('/');
        let (section, example, credentials) = match provider {
            ProviderName::Iamport => (
                "[iamport]",
                "https://api.iamport.kr",
                "imp_key and imp_secret",
            ),
            ProviderName::Portone => ("[portone]", "https://api.portone.io", "api_secret"),
        };
        let problem = match url_problem(url) {
            None | Some(UrlProblem::Path) => None,
            Some(UrlProblem::Credentials) => Some(format!(
                "must not carry credentials; they belong in {credentials}"
            )),
            Some(p) => Some(p.to_string()),
        };
        if let Some(problem) = problem {
            self.error(
                &raw.span(),
                t,
                format!("`base_url` in {section} {problem}, such as {example} (found `{text}`)"),
            );
        }
        url.to_string()
    }

    /// The provider a route or the page names with `key` (`what` says where), or the only one
    /// configured. Naming is required when both are; a provider not configured is an error.
    pub(super) fn provider_for(
        &mut self,
        named: Option<&S<ProviderName>>,
        configured: &[ProviderName],
        t: &Range<usize>,
        key: &str,
        what: &str,
    ) -> ProviderName {
        let sections = |names: &[ProviderName]| {
            let s: Vec<String> = names.iter().map(|p| format!("[{p}]")).collect();
            s.join(" and ")
        };
        match (named, configured) {
            (Some(p), _) => {
                let name = *p.get_ref();
                if !configured.contains(&name) {
                    self.error(
                        &p.span(),
                        t,
                        format!(
                            "`{key}` {what}: \"{name}\" is not configured (there is no [{name}] \
                             table); configured: {}",
                            sections(configured)
                        ),
                    );
                }
                name
            }
            (None, [only]) => *only,
            (None, _) => {
                self.error(
                    &(0..0),
                    t,
                    format!(
                        "missing key `{key}` {what}: {} are configured, so it must name one \
                         (\"iamport\" or \"portone\")",
                        sections(configured)
                    ),
                );
                ProviderName::Iamport
            }
        }
    }
}
