//! Verification sessions (docs/sessions.md): the pure parts.
//!
//! A person verifies once on verigate's own page ([`page`]); the callback seals what gated
//! requests need into a cookie ([`cookie`], its claims in `claims.rs`), and every gated request
//! opens it again and is judged afresh from the sealed birth date ([`gate`]); behind another
//! edge proxy, [`forward_auth`] answers the same question. [`redirect`] keeps the page's `rd` a
//! local path, so the round trip can never be turned into an open redirect; [`origin`] builds
//! the absolute URLs from checked parts only; [`refusal`] is what a refused visitor sees, in
//! Korean; `settings.rs` holds what the config makes of `[session]`, `[session.page]` and
//! `[[gates]]`. Nothing here reads a clock, a socket or a global: "now" (and any randomness) is an
//! argument, and the I/O (the proxy phases) lives elsewhere.

use serde::{Deserialize, Serialize};

mod claims;
pub mod cookie;
pub mod forward_auth;
pub mod gate;
mod markup;
pub mod origin;
pub mod page;
pub mod redirect;
pub mod refusal;
mod settings;

pub use claims::{Session, State};
pub use cookie::{CookieSettings, Opened, SameSite, SessionCookies};
pub use forward_auth::{AuthAnswer, AuthRequest, AuthSettings, Endpoint};
pub use gate::{GateDecision, GatedRequest};
pub use origin::Origin;
pub use page::{CspNonce, Page, PageInput, PageSettings, SdkUrl, WindowMode};
pub use refusal::Refusal;
pub use settings::{Gate, SessionSettings};

/// The paths verigate answers itself; never forwarded, never a redirect target.
pub const RESERVED_PREFIX: &str = "/.verigate";

/// Whether a normalised path is `/.verigate` or below it. ASCII case is ignored, so no spelling
/// of it can be a redirect target.
pub fn is_reserved_path(path: &str) -> bool {
    let p = RESERVED_PREFIX.as_bytes();
    let b = path.as_bytes();
    b.get(..p.len()).is_some_and(|h| h.eq_ignore_ascii_case(p))
        && matches!(b.get(p.len()), None | Some(b'/'))
}

/// Whether a request without a session is a browser navigation, to be sent to the verification
/// page (302) rather than refused with 401 `verification_required`: `GET` or `HEAD` whose
/// `Accept` prefers `text/html`.
pub fn is_navigation(method: &str, accept: Option<&[u8]>) -> bool {
    matches!(method, "GET" | "HEAD") && crate::error::prefers_html(accept)
}

/// Which API a verification id belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Provider {
    /// i'mport V1 (`IMP.certification`, `imp_uid`).
    #[serde(rename = "v1")]
    IamportV1,
    /// PortOne V2 (`requestIdentityVerification`, `identityVerificationId`).
    #[serde(rename = "v2")]
    PortOneV2,
}

impl Provider {
    /// The provider's config name, which picks the id header (`imp-uid` or
    /// `identity-verification-id`), the JWT `provider` claim and the API calls.
    pub fn name(self) -> crate::provider::ProviderName {
        match self {
            Provider::IamportV1 => crate::provider::ProviderName::Iamport,
            Provider::PortOneV2 => crate::provider::ProviderName::Portone,
        }
    }
}

#[cfg(test)]
mod tests;
