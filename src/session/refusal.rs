//! Refusal pages for visitors, in Korean: what a browser shows when verigate answers a gated
//! request, the callback or forward-auth with a refusal (an age requirement not met, a failed,
//! used, stale or foreign verification, the API unavailable, no session).
//!
//! A page carries one sentence ([`GatewayError::message_ko`]), the error code and the request
//! id, and, when verifying again can help, a button back to the verification page that returns
//! to the same local target. Nothing about the person is on it: no name, birth date or age, and
//! nothing the client sent besides the request id (restricted to `[A-Za-z0-9._-]`) and the
//! `rd` target (checked as a local path and escaped). API clients get the JSON answer as before
//! ([`GatewayError::render`]). The page has no script; [`CSP`] says so to the browser. The
//! caller adds `Cache-Control: no-store` (and `Retry-After` to a 503) as for every answer.

use bytes::Bytes;

use super::markup::{fill, html};
use super::redirect::{local_target, verify_location};
use crate::error::{GatewayError, Rendered};
use crate::policy::FailureReason;

const TEMPLATE: &str = include_str!("assets/refusal.html");

/// The `Content-Security-Policy` of a refusal page: nothing loads, nothing runs, only its own
/// inline style applies.
pub const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; \
                       form-action 'none'; frame-ancestors 'none'";

/// A refusal to show a visitor, with the verification page to retry on when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub error: GatewayError,
    retry: Option<String>,
}

/// Whether verifying again can change the answer: a failed, unfinished, stale, used or foreign
/// verification, the API's trouble, or no session yet. An age requirement not met is not one
/// of them (the person's age does not change by verifying again, and each verification costs
/// the merchant).
pub fn offers_retry(error: GatewayError) -> bool {
    matches!(
        error,
        GatewayError::Verification(_)
            | GatewayError::AlreadyUsed
            | GatewayError::InvalidState
            | GatewayError::VerificationUnavailable
            | GatewayError::VerificationRequired
    )
}

impl Refusal {
    /// A refusal without a way back.
    pub fn new(error: GatewayError) -> Self {
        Refusal { error, retry: None }
    }

    /// A refusal whose page links to the verification page returning to `rd` (any `rd` that is
    /// not a local target becomes `/`), when [`offers_retry`] holds for `error`.
    pub fn with_retry(error: GatewayError, rd: &str) -> Self {
        let retry = offers_retry(error).then(|| {
            let target = local_target(rd);
            match target.split_once('?') {
                Some((path, query)) => verify_location(path, Some(query)),
                None => verify_location(&target, None),
            }
        });
        Refusal { error, retry }
    }

    /// `/.verigate/verify?rd=…`, when the page offers to verify again.
    pub fn retry_location(&self) -> Option<&str> {
        self.retry.as_deref()
    }

    /// The answer: the Korean page for a browser (`html`), else the JSON body.
    pub fn render(&self, request_id: &str, html_page: bool) -> Rendered {
        if !html_page {
            return self.error.render(request_id, false);
        }
        let retry = self.retry.as_deref().map_or_else(String::new, |href| {
            format!(
                "<p><a class=\"button\" id=\"retry\" href=\"{}\">{}</a></p>",
                html(href),
                button_label(self.error)
            )
        });
        let heading = heading(self.error);
        let message = html(self.error.message_ko());
        let request_id = html(request_id);
        let body = fill(
            TEMPLATE,
            &[
                ("heading", heading),
                ("message", &message),
                ("retry", &retry),
                ("code", self.error.code()),
                ("request_id", &request_id),
            ],
        );
        Rendered {
            status: self.error.status(),
            content_type: "text/html; charset=utf-8",
            body: Bytes::from(body),
        }
    }
}

/// The page's heading: what happened, in a few words.
fn heading(error: GatewayError) -> &'static str {
    match error {
        GatewayError::AgeRequirementNotMet => "이용할 수 없는 페이지입니다",
        GatewayError::VerificationRequired => "본인인증이 필요합니다",
        GatewayError::InvalidState => "본인인증을 다시 시작해 주세요",
        GatewayError::AlreadyUsed | GatewayError::Verification(FailureReason::Stale) => {
            "본인인증을 다시 해 주세요"
        }
        GatewayError::Verification(_) => "본인인증을 완료하지 못했습니다",
        GatewayError::VerificationUnavailable | GatewayError::UpstreamUnavailable => {
            "잠시 후 다시 시도해 주세요"
        }
        _ => "요청을 처리할 수 없습니다",
    }
}

fn button_label(error: GatewayError) -> &'static str {
    match error {
        GatewayError::VerificationRequired => "휴대폰 본인인증 하기",
        GatewayError::VerificationUnavailable => "다시 시도",
        _ => "다시 인증하기",
    }
}
