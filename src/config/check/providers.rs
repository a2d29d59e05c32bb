//! [iamport]: the API's base URL, credentials (defaulting to `${IMP_KEY}` and `${IMP_SECRET}`),
//! the time budget and the optional tier.

use std::ops::Range;

use super::Checker;
use crate::config::raw::{RawIamport, S};
use crate::provider::iamport_v1::IamportSettings;
use crate::secret::Secret;

impl Checker<'_> {
    /// A credential that defaults to `${VAR}`: the value as written (already interpolated), or
    /// the variable itself when the key is left out.
    fn credential(
        &mut self,
        value: Option<S<String>>,
        var: &str,
        key: &str,
        table: &Range<usize>,
    ) -> String {
        let what = format!("`{key}` in [iamport]");
        match value {
            Some(v) => {
                // The message names the key only: the value may be the secret itself.
                self.non_empty(&v, table, &what);
                v.into_inner()
            }
            None => match (self.env)(var) {
                Some(v) if !v.trim().is_empty() => v,
                Some(_) => {
                    self.error(
                        &(0..0),
                        table,
                        format!("environment variable `{var}` is empty ({what} defaults to \"${{{var}}}\")"),
                    );
                    String::new()
                }
                None => {
                    self.error(
                        &(0..0),
                        table,
                        format!("environment variable `{var}` is not set ({what} defaults to \"${{{var}}}\")"),
                    );
                    String::new()
                }
            },
        }
    }

    pub(super) fn iamport(&mut self, raw: S<RawIamport>) -> IamportSettings {
        let t = raw.span();
        let r = raw.into_inner();
        let base_url = self.base_url(&r.base_url, &t);
        let imp_key = self.credential(r.imp_key, "IMP_KEY", "imp_key", &t);
        let imp_secret = Secret::new(self.credential(r.imp_secret, "IMP_SECRET", "imp_secret", &t));
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

    fn base_url(&mut self, raw: &S<String>, t: &Range<usize>) -> String {
        let text = raw.get_ref().trim();
        let url = text.trim_end_matches('/');
        let problem = match url.parse::<http::Uri>() {
            Err(_) => Some("is not a URL"),
            Ok(uri) => match (uri.scheme_str(), uri.authority()) {
                (Some("http" | "https"), Some(auth)) if auth.as_str().contains('@') => {
                    Some("must not carry credentials; they belong in imp_key and imp_secret")
                }
                (Some("http" | "https"), Some(auth)) if !auth.host().is_empty() => {
                    if uri.query().is_some() {
                        Some("must not have a query string")
                    } else {
                        None
                    }
                }
                _ => Some("must be an http:// or https:// URL with a host"),
            },
        };
        if let Some(problem) = problem {
            self.error(
                &raw.span(),
                t,
                format!(
                    "`base_url` in [iamport] {problem}, such as https://api.iamport.kr (found `{text}`)"
                ),
            );
        }
        url.to_string()
    }
}
