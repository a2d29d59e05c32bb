//! [session] and [session.page]: the sealing secrets (each exactly 32 bytes, no two alike, never
//! printed), the cookie's name, lifetime and attributes, the public URL, and the verification
//! page's SDK, merchant code or store, and texts.

use std::ops::Range;
use std::time::Duration;

use super::{Checker, url_problem};
use crate::config::raw::{RawPage, RawSession, S};
use crate::provider::ProviderName;
use crate::seal::decode_secret;
use crate::secret::Secret;
use crate::session::cookie::{MAX_NAME_LEN, valid_name};
use crate::session::{CookieSettings, PageSettings, Provider, SdkUrl, SessionSettings};

/// Browsers keep a cookie at most 400 days (RFC 6265bis), so a longer session cannot exist.
const MAX_SESSION_TTL_SECS: u64 = 400 * 24 * 3600;
/// Longest page text, in characters.
const MAX_TEXT_CHARS: usize = 500;

impl Checker<'_> {
    pub(super) fn session(
        &mut self,
        raw: S<RawSession>,
        configured: &[ProviderName],
        portone_store: Option<&str>,
    ) -> SessionSettings {
        let t = raw.span();
        let r = raw.into_inner();
        let secrets = self.secrets(&r.secrets, &t);
        let name = r.cookie_name.get_ref().trim().to_string();
        if !valid_name(&name) {
            self.error(
                &r.cookie_name.span(),
                &t,
                format!(
                    "`cookie_name` in [session] must be 1 to {MAX_NAME_LEN} letters, digits, `_` \
                     or `-`, not starting with `__` (`__Host-` is added when secure = true), not \
                     `{name}`"
                ),
            );
        }
        let ttl = *r.ttl_secs.get_ref();
        if !(1..=MAX_SESSION_TTL_SECS).contains(&ttl) {
            self.error(
                &r.ttl_secs.span(),
                &t,
                format!(
                    "`ttl_secs` in [session] must be between 1 and {MAX_SESSION_TTL_SECS} (400 \
                     days, the longest a browser keeps a cookie), not {ttl}"
                ),
            );
        }
        let public_url = self.public_url(&r.public_url, &t);
        let page = match r.page {
            Some(page) => self.page(page, configured, portone_store),
            // No table: the page's defaults, blamed on [session].
            None => self.page(
                S::new(t.clone(), RawPage::default()),
                configured,
                portone_store,
            ),
        };
        SessionSettings {
            cookie: CookieSettings {
                name,
                secure: r.secure,
                same_site: r.same_site,
                ttl: Duration::from_secs(ttl),
            },
            secrets,
            // 0 is "no limit", as for a policy's freshness.
            max_certification_age: (r.max_certification_age_secs > 0)
                .then(|| Duration::from_secs(r.max_certification_age_secs)),
            public_url,
            page,
        }
    }

    /// Every secret decodes to exactly 32 bytes, and no two are alike. Never echoed.
    fn secrets(&mut self, raw: &S<Vec<S<String>>>, t: &Range<usize>) -> Vec<Secret> {
        if raw.get_ref().is_empty() {
            self.error(
                &raw.span(),
                t,
                "`secrets` in [session] is empty: name at least one (base64 of 32 random bytes, \
                 best as \"${VARIABLE}\"; `verigate keygen --alg hmac-sha256` prints one)"
                    .to_string(),
            );
        }
        // (decoded bytes, offset) of each good secret so far.
        let mut seen: Vec<(zeroize::Zeroizing<Vec<u8>>, usize)> = Vec::new();
        let mut secrets = Vec::new();
        for (i, s) in raw.get_ref().iter().enumerate() {
            let text = s.get_ref().trim();
            match decode_secret(i, text) {
                Err(e) => self.error(
                    &s.span(),
                    t,
                    format!("an element of `secrets` in [session]: {e}"),
                ),
                Ok(bytes) => {
                    if let Some((_, at)) = seen.iter().find(|(b, _)| **b == *bytes) {
                        let line = self.line(*at);
                        self.error(
                            &s.span(),
                            t,
                            format!(
                                "secret {i} of `secrets` in [session] repeats the one on line \
                                 {line}; each secret must be different"
                            ),
                        );
                    } else {
                        seen.push((bytes, super::place(&s.span(), t)));
                    }
                }
            }
            secrets.push(Secret::new(text));
        }
        secrets
    }

    /// `""` is none; else an `http(s)://host[:port]` origin, trailing `/` dropped.
    fn public_url(&mut self, raw: &S<String>, t: &Range<usize>) -> Option<String> {
        let text = raw.get_ref().trim();
        if text.is_empty() {
            return None;
        }
        let url = text.trim_end_matches('/');
        if let Some(problem) = url_problem(url) {
            self.error(
                &raw.span(),
                t,
                format!(
                    "`public_url` in [session] {problem}: it is the origin the browser uses, \
                     such as https://shop.example (found `{text}`)"
                ),
            );
        }
        Some(url.to_string())
    }

    fn page(
        &mut self,
        raw: S<RawPage>,
        configured: &[ProviderName],
        portone_store: Option<&str>,
    ) -> PageSettings {
        let t = raw.span();
        let r = raw.into_inner();
        let what = "in [session.page]";
        let sdk = match self.provider_for(r.sdk.as_ref(), configured, &t, "sdk", what) {
            ProviderName::Iamport => Provider::IamportV1,
            ProviderName::Portone => Provider::PortOneV2,
        };
        let mut page = PageSettings::new(sdk);
        page.sdk_url = set(&r.sdk_url).and_then(|url| self.sdk_url(url, &t));
        // `""` is "not set", as the commented example writes the optional keys.
        page.imp_code = self.imp_code(set(&r.imp_code), sdk, &t).unwrap_or_default();
        page.store_id = self
            .page_store(set(&r.store_id), sdk, portone_store, &t)
            .unwrap_or_default();
        if let Some(key) = set(&r.channel_key) {
            page.channel_key = self.text(key, &t, "`channel_key` in [session.page]", 200);
        }
        page.window = r.window;
        self.page_texts(&r, &t, &mut page);
        page
    }

    fn sdk_url(&mut self, raw: &S<String>, t: &Range<usize>) -> Option<SdkUrl> {
        let url = raw.get_ref().trim();
        match SdkUrl::parse(url) {
            Ok(url) => Some(url),
            Err(e) => {
                self.error(
                    &raw.span(),
                    t,
                    format!("`sdk_url` in [session.page]: {e} (found `{url}`)"),
                );
                None
            }
        }
    }

    /// V1 needs the merchant code (`imp` and digits); V2 has none.
    fn imp_code(
        &mut self,
        raw: Option<&S<String>>,
        sdk: Provider,
        t: &Range<usize>,
    ) -> Option<String> {
        let code = raw.map(|c| c.get_ref().trim().to_string());
        match (sdk, raw) {
            (Provider::IamportV1, None) => self.error(
                &(0..0),
                t,
                "missing key `imp_code` in [session.page]: the i'mport page passes the merchant \
                 code (\"imp\" and digits) to IMP.init; best as \"${IMP_CODE}\""
                    .to_string(),
            ),
            (Provider::IamportV1, Some(c)) => {
                let text = c.get_ref().trim();
                let digits = text.strip_prefix("imp").unwrap_or("");
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    self.error(
                        &c.span(),
                        t,
                        format!(
                            "`imp_code` in [session.page] must be \"imp\" and digits, such as \
                             imp12345678 (the merchant code of the i'mport console), not `{text}`"
                        ),
                    );
                }
            }
            (Provider::PortOneV2, Some(c)) => self.error(
                &c.span(),
                t,
                "`imp_code` in [session.page] is for sdk = \"iamport\"; the PortOne page takes \
                 `store_id` (or [portone] store_id)"
                    .to_string(),
            ),
            (Provider::PortOneV2, None) => {}
        }
        code.filter(|_| sdk == Provider::IamportV1)
    }

    /// V2 needs a `storeId`: the page's own, else `[portone]`'s; V1 has none.
    fn page_store(
        &mut self,
        raw: Option<&S<String>>,
        sdk: Provider,
        portone_store: Option<&str>,
        t: &Range<usize>,
    ) -> Option<String> {
        let what = "`store_id` in [session.page]";
        match (sdk, raw) {
            (Provider::IamportV1, Some(s)) => {
                self.error(
                    &s.span(),
                    t,
                    format!("{what} is for sdk = \"portone\"; the i'mport page takes `imp_code`"),
                );
                None
            }
            (Provider::IamportV1, None) => None,
            (Provider::PortOneV2, raw) => {
                let own = raw.and_then(|s| self.store_id(s, t, what));
                let store = own.or_else(|| portone_store.map(str::to_string));
                if store.is_none() {
                    self.error(
                        &raw.map_or(0..0, |s| s.span()),
                        t,
                        "the PortOne page needs a store: set `store_id` in [session.page] or in \
                         [portone] (PortOne.requestIdentityVerification requires storeId)"
                            .to_string(),
                    );
                }
                store
            }
        }
    }

    fn page_texts(&mut self, r: &RawPage, t: &Range<usize>, page: &mut PageSettings) {
        let fields = [
            (&r.title, &mut page.title, "title"),
            (&r.intro, &mut page.intro, "intro"),
            (&r.button, &mut page.button, "button"),
            (&r.failure, &mut page.failure, "failure"),
            (&r.retry, &mut page.retry, "retry"),
        ];
        for (raw, text, key) in fields {
            if let Some(raw) = raw {
                *text = self.text(
                    raw,
                    t,
                    &format!("`{key}` in [session.page]"),
                    MAX_TEXT_CHARS,
                );
            }
        }
    }
}

/// The value, unless it is missing or `""`.
fn set(v: &Option<S<String>>) -> Option<&S<String>> {
    v.as_ref().filter(|v| !v.get_ref().trim().is_empty())
}
