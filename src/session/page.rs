//! The verification page (`GET /.verigate/verify?rd=…`): one HTML file (`assets/page.html`)
//! that runs PortOne's browser SDK and hands the result to the callback.
//!
//! - V1 (`iamport.js`): `IMP.init(imp_code)`, then `IMP.certification({merchant_uid,
//!   m_redirect_url, popup?, channelKey?}, callback)`; `rsp.success` false is a failure.
//! - V2 (`browser-sdk.js`): `PortOne.requestIdentityVerification({storeId,
//!   identityVerificationId, channelKey?, redirectUrl, windowType?})`; a `code` in the result
//!   is a failure.
//!
//! The id (`merchant_uid` / `identityVerificationId`) is the one minted for the visit's
//! [`State`] cookie ([`State::page_id`]), so the callback can tell this browser's verification
//! from anyone else's. Popup mode posts the result to `POST /.verigate/callback` as a form the
//! browser follows (the callback's 303 then lands on `rd`); redirect mode (a phone, by
//! PortOne's default) sends the browser to the absolute `/.verigate/callback` URL the page
//! passes as `m_redirect_url` / `redirectUrl`. On a failure or cancel the page shows the
//! failure text, the SDK's own message, and a retry button that loads the page again (a fresh
//! state and id).
//!
//! Korean by default; title, intro, button, failure and retry texts are the operator's. Every
//! value is escaped for its context (`markup`); the page is built for a phone (viewport, one
//! large button, no external CSS). [`render`] returns the page with its
//! `Content-Security-Policy`: scripts only with the per-response nonce or from the SDK's origin.
//! The caller sends it with `Cache-Control: no-store` and the state cookie's `Set-Cookie`.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use jiff::Timestamp;
use serde_json::{Value, json};

use super::markup::{fill, html, js_json};
use super::origin::Origin;
use super::redirect::verify_location;
use super::{Provider, State};
use crate::seal::SealError;

const TEMPLATE: &str = include_str!("assets/page.html");

/// Where both modes send the result.
pub const CALLBACK_PATH: &str = "/.verigate/callback";
/// PortOne's V1 browser SDK.
pub const IAMPORT_SDK_URL: &str = "https://cdn.iamport.kr/v1/iamport.js";
/// PortOne's V2 browser SDK.
pub const PORTONE_SDK_URL: &str = "https://cdn.portone.io/v2/browser-sdk.js";

/// Shown (with the failure text) when the SDK script did not load.
const SDK_MISSING: &str = "본인인증 모듈을 불러오지 못했습니다. 네트워크 연결을 확인해 주세요.";

/// How the SDK opens the verification (`session.page.window`: `"auto"`, `"popup"`, `"redirect"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WindowMode {
    /// PortOne's default: a popup on a PC, redirect on a phone (V1 `popup` and V2 `windowType`
    /// left out).
    #[default]
    Auto,
    /// A popup everywhere (V1 `popup: true`, V2 `windowType` `POPUP`).
    Popup,
    /// Redirect everywhere (V1 `popup: false`, V2 `windowType` `REDIRECTION`).
    Redirect,
}

/// A checked SDK script URL: `https://` (or `http://`, for the sandbox) with a host and a path
/// that need no escaping in a URL.
#[derive(Clone, PartialEq, Eq)]
pub struct SdkUrl {
    url: Box<str>,
    origin: Origin,
}

/// Why an `sdk_url` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "sdk_url must be an absolute http(s) URL of a script, e.g. \"{IAMPORT_SDK_URL}\", without \
     spaces, quotes, `<`, `>` or `\\`"
)]
pub struct SdkUrlError;

impl SdkUrl {
    /// Checks a configured `sdk_url`.
    pub fn parse(url: &str) -> Result<SdkUrl, SdkUrlError> {
        let (scheme, rest) = url.split_once("://").ok_or(SdkUrlError)?;
        let (host, path) = rest.find('/').map_or((rest, ""), |i| rest.split_at(i));
        let origin = Origin::from_request(scheme, host)
            .filter(|_| scheme == "https" || scheme == "http")
            .ok_or(SdkUrlError)?;
        let clean =
            |b: u8| b.is_ascii_graphic() && !matches!(b, b'"' | b'\'' | b'<' | b'>' | b'\\' | b'`');
        if path.is_empty() || !path.bytes().all(clean) {
            return Err(SdkUrlError);
        }
        Ok(SdkUrl {
            url: format!("{}{path}", origin.as_str()).into_boxed_str(),
            origin,
        })
    }

    /// The URL, as the page loads it.
    pub fn as_str(&self) -> &str {
        &self.url
    }

    /// Its origin, which the page's CSP allows scripts from.
    pub fn origin(&self) -> &Origin {
        &self.origin
    }
}

impl fmt::Debug for SdkUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SdkUrl").field(&self.url).finish()
    }
}

/// `[session.page]`: which SDK, its codes, and the page's texts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageSettings {
    pub provider: Provider,
    /// V1: the merchant code for `IMP.init` (`imp` + digits).
    pub imp_code: String,
    /// V2: the `storeId`.
    pub store_id: String,
    /// V1 `channelKey`, V2 `channelKey`; empty: not sent.
    pub channel_key: String,
    /// `None`: PortOne's CDN for the provider.
    pub sdk_url: Option<SdkUrl>,
    pub window: WindowMode,
    /// The page's `<title>` and heading.
    pub title: String,
    /// The sentence under the heading.
    pub intro: String,
    /// The button that starts the verification.
    pub button: String,
    /// Shown when the verification failed or was cancelled.
    pub failure: String,
    /// The button that starts over after a failure.
    pub retry: String,
}

impl PageSettings {
    /// Settings for `provider` with the Korean texts and no codes yet.
    pub fn new(provider: Provider) -> Self {
        PageSettings {
            provider,
            imp_code: String::new(),
            store_id: String::new(),
            channel_key: String::new(),
            sdk_url: None,
            window: WindowMode::Auto,
            title: "성인 인증".into(),
            intro: "이 페이지는 나이 확인이 필요합니다. 휴대폰 본인인증을 진행해 주세요.".into(),
            button: "휴대폰 본인인증".into(),
            failure: "본인인증이 완료되지 않았습니다. 다시 시도해 주세요.".into(),
            retry: "다시 시도".into(),
        }
    }

    /// The script the page loads: the configured one, else PortOne's.
    pub fn sdk_src(&self) -> &str {
        match (&self.sdk_url, self.provider) {
            (Some(url), _) => url.as_str(),
            (None, Provider::IamportV1) => IAMPORT_SDK_URL,
            (None, Provider::PortOneV2) => PORTONE_SDK_URL,
        }
    }

    fn sdk_origin(&self) -> &str {
        match (&self.sdk_url, self.provider) {
            (Some(url), _) => url.origin().as_str(),
            (None, Provider::IamportV1) => "https://cdn.iamport.kr",
            (None, Provider::PortOneV2) => "https://cdn.portone.io",
        }
    }

    /// The state of a new page visit at `now` returning to `rd`, for this page's provider.
    pub fn mint_state(&self, rd: &str, now: Timestamp) -> Result<State, SealError> {
        State::mint(self.provider, rd, now)
    }
}

impl Default for PageSettings {
    fn default() -> Self {
        PageSettings::new(Provider::IamportV1)
    }
}

/// A CSP nonce: 16 random bytes, base64. One per response.
#[derive(Clone, PartialEq, Eq)]
pub struct CspNonce(String);

impl CspNonce {
    /// A fresh nonce from the system's random source.
    pub fn fresh() -> Result<Self, SealError> {
        let mut bytes = [0u8; 16];
        aws_lc_rs::rand::fill(&mut bytes).map_err(|_| SealError::Crypto)?;
        Ok(Self::from_bytes(bytes))
    }

    /// The nonce of given bytes (tests).
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        CspNonce(STANDARD.encode(bytes))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for CspNonce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CspNonce(..)")
    }
}

/// What one page view needs besides the settings.
#[derive(Debug, Clone, Copy)]
pub struct PageInput<'a> {
    /// The visit's state (its id and `rd`), sent as the state cookie with the page.
    pub state: &'a State,
    /// The origin of the absolute callback URL (redirect mode).
    pub origin: &'a Origin,
    pub nonce: &'a CspNonce,
}

/// A rendered page and the `Content-Security-Policy` header value to send with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub html: String,
    pub csp: String,
}

/// The verification page for one visit.
pub fn render(settings: &PageSettings, input: &PageInput<'_>) -> Page {
    let config = js_json(&sdk_config(settings, input));
    let rd = input.state.rd.as_str();
    let retry_href = match rd.split_once('?') {
        Some((path, query)) => verify_location(path, Some(query)),
        None => verify_location(rd, None),
    };
    let nonce = html(input.nonce.as_str());
    let page = fill(
        TEMPLATE,
        &[
            ("title", &html(&settings.title)),
            ("intro", &html(&settings.intro)),
            ("button", &html(&settings.button)),
            ("failure", &html(&settings.failure)),
            ("retry", &html(&settings.retry)),
            ("retry_href", &html(&retry_href)),
            ("callback_path", CALLBACK_PATH),
            ("nonce", &nonce),
            ("sdk_url", &html(settings.sdk_src())),
            ("config", &config),
        ],
    );
    Page {
        html: page,
        csp: csp(settings, input.nonce),
    }
}

/// The page's `Content-Security-Policy`. Scripts run only with the nonce or from the SDK's
/// origin; `'strict-dynamic'` lets the SDK load its own parts (browsers that know it then
/// ignore the origin). Frames, popups, styles and form targets are left to the SDK: PortOne's
/// scripts open their own windows and frames on the providers' sites.
pub fn csp(settings: &PageSettings, nonce: &CspNonce) -> String {
    format!(
        "script-src 'nonce-{}' 'strict-dynamic' {}; object-src 'none'; base-uri 'none'; \
         frame-ancestors 'none'",
        nonce.as_str(),
        settings.sdk_origin()
    )
}

/// What the page's script hands the SDK, as one JSON object.
fn sdk_config(settings: &PageSettings, input: &PageInput<'_>) -> Value {
    let callback = input.origin.url(CALLBACK_PATH);
    let id = input.state.page_id();
    let channel_key = Some(settings.channel_key.as_str()).filter(|k| !k.is_empty());
    let mut config = match settings.provider {
        Provider::IamportV1 => {
            let mut params = json!({ "merchant_uid": id, "m_redirect_url": callback });
            let popup = match settings.window {
                WindowMode::Auto => None,
                WindowMode::Popup => Some(true),
                WindowMode::Redirect => Some(false),
            };
            if let Some(popup) = popup {
                params["popup"] = popup.into();
            }
            if let Some(key) = channel_key {
                params["channelKey"] = key.into();
            }
            json!({ "sdk": "v1", "impCode": settings.imp_code, "params": params })
        }
        Provider::PortOneV2 => {
            let mut params = json!({
                "storeId": settings.store_id,
                "identityVerificationId": id,
                "redirectUrl": callback,
            });
            if let Some(key) = channel_key {
                params["channelKey"] = key.into();
            }
            let window = match settings.window {
                WindowMode::Auto => None,
                WindowMode::Popup => Some("POPUP"),
                WindowMode::Redirect => Some("REDIRECTION"),
            };
            if let Some(w) = window {
                params["windowType"] = json!({ "pc": w, "mobile": w });
            }
            json!({ "sdk": "v2", "params": params })
        }
    };
    config["sdkMissing"] = SDK_MISSING.into();
    config
}
