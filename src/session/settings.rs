//! `[session]`, `[session.page]` and `[[gates]]` as this room takes them, validated by the
//! config module: the cookie's attributes, the sealing secrets (the first seals, all open), the
//! verification page's SDK and texts, and the gated prefixes with their policies.
//!
//! Everything here is `PartialEq`, so a reload sees a changed secret although `Debug` never
//! prints one; the settings travel in the running configuration and a SIGHUP replaces them.

use std::sync::Arc;
use std::time::Duration;

use super::{CookieSettings, Provider};
use crate::path::Prefix;
use crate::policy::Policy;
use crate::seal::{SealError, Sealer, decode_secret};
use crate::secret::Secret;

/// PortOne's V1 browser SDK (`IMP`), the page's default for `sdk = "iamport"`.
pub const IAMPORT_SDK_URL: &str = "https://cdn.iamport.kr/v1/iamport.js";
/// PortOne's V2 browser SDK (`PortOne`), the page's default for `sdk = "portone"`.
pub const PORTONE_SDK_URL: &str = "https://cdn.portone.io/v2/browser-sdk.js";

/// `[session]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSettings {
    /// Name, `Secure`, `SameSite` and lifetime of the session cookie.
    pub cookie: CookieSettings,
    /// Each the base64 text of exactly 32 bytes, no two alike; the first seals, every one
    /// opens (rotation: put the new one first). [`SessionSettings::sealer`] makes the keys.
    pub secrets: Vec<Secret>,
    /// A verification older than this cannot start a session; `None` = no limit.
    pub max_certification_age: Option<Duration>,
    /// `https://shop.example` (no trailing slash): the origin of the absolute URLs the page and
    /// forward-auth build; `None` means from `Host` and trusted `X-Forwarded-*`.
    pub public_url: Option<String>,
    /// `[session.page]`.
    pub page: PageSettings,
}

impl SessionSettings {
    /// The sealer of these secrets, in order. The config module has checked every secret, so
    /// this fails only if that check was bypassed.
    pub fn sealer(&self) -> Result<Sealer, SealError> {
        let keys = self
            .secrets
            .iter()
            .enumerate()
            .map(|(i, s)| decode_secret(i, s.expose()))
            .collect::<Result<Vec<_>, _>>()?;
        Sealer::new(&keys)
    }
}

/// `[session.page]`, validated: the verification page verigate serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageSettings {
    /// Which browser SDK the page runs, and so which API its verifications are resolved with.
    pub sdk: Provider,
    /// The script URL of the SDK: the configured `sdk_url`, else PortOne's CDN
    /// ([`IAMPORT_SDK_URL`], [`PORTONE_SDK_URL`]).
    pub sdk_url: String,
    /// V1: the merchant code for `IMP.init` (`imp` and digits); present exactly when `sdk` is V1.
    pub imp_code: Option<String>,
    /// V2: the `storeId`; present exactly when `sdk` is V2.
    pub store_id: Option<String>,
    /// V1 `channelKey` or V2 `channelKey`, when set.
    pub channel_key: Option<String>,
    /// What the page says.
    pub texts: PageTexts,
}

/// The page's texts, Korean by default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageTexts {
    /// The heading (and the document title).
    pub title: String,
    /// The sentence under the heading.
    pub intro: String,
    /// The label of the button that starts (or retries) the verification.
    pub button: String,
    /// Shown when the verification failed or was cancelled, above the retry button.
    pub failure: String,
}

impl Default for PageTexts {
    fn default() -> Self {
        PageTexts {
            title: "성인 인증".to_string(),
            intro:
                "이 페이지는 성인만 이용할 수 있습니다. 휴대폰 본인인증으로 나이를 확인해 주세요."
                    .to_string(),
            button: "휴대폰 본인인증".to_string(),
            failure: "본인인증을 마치지 못했습니다. 다시 시도해 주세요.".to_string(),
        }
    }
}

impl Provider {
    /// PortOne's CDN URL of this provider's browser SDK.
    pub fn default_sdk_url(self) -> &'static str {
        match self {
            Provider::IamportV1 => IAMPORT_SDK_URL,
            Provider::PortOneV2 => PORTONE_SDK_URL,
        }
    }
}

/// One `[[gates]]` entry: requests whose normalised path falls under `prefix` need a session
/// whose person passes `policy`.
#[derive(Debug, Clone, PartialEq)]
pub struct Gate {
    /// Unique; `?gate=NAME` of the forward-auth endpoints, and the logs.
    pub name: Arc<str>,
    /// Matched on segment boundaries, case-insensitively when the gate says so.
    pub prefix: Prefix,
    /// Judged on every request, from the birth date in the session.
    pub policy: Arc<Policy>,
}
