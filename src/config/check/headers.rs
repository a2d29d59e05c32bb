//! [headers]: the prefix (which must not cover well-known headers, since everything under it is
//! stripped from requests) and the extra forwarded fields.

use super::Checker;
use crate::config::raw::{RawHeaders, S};
use crate::config::types::HeaderSettings;
use crate::identity::ForwardField;

/// Well-known request headers a `headers.prefix` must not cover.
const STANDARD_HEADERS: &[&str] = &[
    "accept-encoding",
    "accept-language",
    "access-control-request-method",
    "cache-control",
    "content-length",
    "content-type",
    "if-none-match",
    "proxy-authorization",
    "sec-fetch-mode",
    "transfer-encoding",
    "user-agent",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-real-ip",
    "x-request-id",
];

impl Checker<'_> {
    pub(super) fn headers(&mut self, raw: S<RawHeaders>) -> HeaderSettings {
        let t = raw.span();
        let r = raw.into_inner();
        let prefix = r.prefix.get_ref().trim().to_ascii_lowercase();
        let valid = prefix.len() >= 2
            && prefix.starts_with(|c: char| c.is_ascii_alphanumeric())
            && prefix.ends_with('-')
            && prefix
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        // Every request header under the prefix is stripped (README, "What the app receives"), so a broad prefix would
        // silently remove headers the app or the gateway itself depends on.
        let clobbered = STANDARD_HEADERS.iter().find(|h| h.starts_with(&prefix));
        if !valid {
            self.error(
                &r.prefix.span(),
                &t,
                format!(
                    "`prefix` in [headers] must be letters, digits and `-`, ending with `-` \
                     (such as x-verified-), not `{}`",
                    r.prefix.get_ref()
                ),
            );
        } else if let Some(header) = clobbered {
            self.error(
                &r.prefix.span(),
                &t,
                format!(
                    "`prefix` in [headers] `{prefix}` is too broad: headers under it are \
                     stripped from every request, which would remove `{header}`"
                ),
            );
        }
        let mut forward = Vec::new();
        for name in &r.forward {
            match ForwardField::ALL
                .iter()
                .find(|f| f.config_name() == name.get_ref().trim())
            {
                Some(f) => forward.push(*f),
                None => {
                    let valid: Vec<&str> =
                        ForwardField::ALL.iter().map(|f| f.config_name()).collect();
                    self.error(
                        &name.span(),
                        &t,
                        format!(
                            "`forward` in [headers]: unknown field `{}`; valid: {}",
                            name.get_ref(),
                            valid.join(", ")
                        ),
                    );
                }
            }
        }
        let forward = ForwardField::ALL
            .into_iter()
            .filter(|f| forward.contains(f))
            .collect();
        HeaderSettings { prefix, forward }
    }
}
