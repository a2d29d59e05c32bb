//! The gateway's own answers (README, "The gateway's own answers"): every refusal is one [`GatewayError`], which
//! maps to exactly one status, one error code and one sentence for a person.
//!
//! Messages never contain personal data or anything the client sent beyond the request id; the
//! body is JSON, or a small HTML page when the client (a browser on the redirect flow) prefers it.

use bytes::Bytes;

use crate::extract::ExtractError;
use crate::policy::FailureReason;

/// A request the gateway answers itself instead of forwarding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    #[error("missing imp_uid")]
    MissingImpUid,
    #[error("invalid imp_uid")]
    InvalidImpUid,
    #[error("malformed body")]
    MalformedBody,
    #[error("unsupported media type")]
    UnsupportedMediaType,
    #[error("body too large")]
    BodyTooLarge,
    #[error("request body too slow")]
    RequestTimeout,
    #[error("verification failure: {0:?}")]
    Verification(FailureReason),
    #[error("verification already used")]
    AlreadyUsed,
    #[error("age requirement not met")]
    AgeRequirementNotMet,
    #[error("verification unavailable")]
    VerificationUnavailable,
    #[error("upstream unavailable")]
    UpstreamUnavailable,
    #[error("invalid path")]
    InvalidPath,
    #[error("verification required")]
    VerificationRequired,
    #[error("invalid state")]
    InvalidState,
    #[error("missing gate")]
    MissingGate,
    #[error("unknown gate")]
    UnknownGate,
    #[error("not found")]
    NotFound,
}

/// Seconds a client is asked to wait after a 503.
pub const RETRY_AFTER_SECS: u32 = 5;

impl GatewayError {
    /// The HTTP status.
    pub fn status(self) -> u16 {
        match self {
            GatewayError::MissingImpUid
            | GatewayError::InvalidImpUid
            | GatewayError::MalformedBody
            | GatewayError::InvalidPath
            | GatewayError::MissingGate => 400,
            GatewayError::VerificationRequired => 401,
            GatewayError::NotFound => 404,
            GatewayError::UnsupportedMediaType => 415,
            GatewayError::BodyTooLarge => 413,
            GatewayError::RequestTimeout => 408,
            GatewayError::Verification(_)
            | GatewayError::AgeRequirementNotMet
            | GatewayError::InvalidState => 403,
            GatewayError::AlreadyUsed => 409,
            GatewayError::UnknownGate => 404,
            GatewayError::VerificationUnavailable => 503,
            GatewayError::UpstreamUnavailable => 502,
        }
    }

    /// The `error` code of the body.
    pub fn code(self) -> &'static str {
        match self {
            GatewayError::MissingImpUid => "missing_imp_uid",
            GatewayError::InvalidImpUid => "invalid_imp_uid",
            GatewayError::MalformedBody => "malformed_body",
            GatewayError::UnsupportedMediaType => "unsupported_media_type",
            GatewayError::BodyTooLarge => "body_too_large",
            GatewayError::RequestTimeout => "request_timeout",
            GatewayError::Verification(FailureReason::NotFound) => "verification_not_found",
            GatewayError::Verification(FailureReason::NotCertified) => "verification_not_certified",
            GatewayError::Verification(FailureReason::Failed) => "verification_failed",
            GatewayError::Verification(FailureReason::Stale) => "verification_stale",
            GatewayError::AlreadyUsed => "verification_already_used",
            GatewayError::AgeRequirementNotMet => "age_requirement_not_met",
            GatewayError::VerificationUnavailable => "verification_unavailable",
            GatewayError::UpstreamUnavailable => "upstream_unavailable",
            GatewayError::InvalidPath => "invalid_path",
            GatewayError::VerificationRequired => "verification_required",
            GatewayError::InvalidState => "invalid_state",
            GatewayError::MissingGate => "missing_gate",
            GatewayError::UnknownGate => "unknown_gate",
            GatewayError::NotFound => "not_found",
        }
    }

    /// One sentence for a person.
    pub fn message(self) -> &'static str {
        match self {
            GatewayError::MissingImpUid => {
                "The request does not say which identity verification to check (no imp_uid)."
            }
            GatewayError::InvalidImpUid => {
                "The imp_uid is not valid: it must be one string of 1 to 64 letters, digits, '_' or '-'."
            }
            GatewayError::MalformedBody => {
                "The request body could not be read as its content type says (a JSON object or form data)."
            }
            GatewayError::UnsupportedMediaType => {
                "The request body must be JSON (application/json) or form data (application/x-www-form-urlencoded)."
            }
            GatewayError::BodyTooLarge => {
                "The request body is larger than this verification endpoint accepts."
            }
            GatewayError::RequestTimeout => {
                "The request body did not arrive in time; please try again."
            }
            GatewayError::Verification(FailureReason::NotFound) => {
                "No identity verification with this imp_uid exists."
            }
            GatewayError::Verification(FailureReason::NotCertified) => {
                "This identity verification was not completed."
            }
            GatewayError::Verification(FailureReason::Failed) => {
                "The identity verification did not succeed in the browser."
            }
            GatewayError::Verification(FailureReason::Stale) => {
                "This identity verification is too old; please verify again."
            }
            GatewayError::AlreadyUsed => {
                "This identity verification has already been used; please verify again."
            }
            GatewayError::AgeRequirementNotMet => {
                "The verified person does not meet the age requirement for this service."
            }
            GatewayError::VerificationUnavailable => {
                "Identity verification is temporarily unavailable; please try again shortly."
            }
            GatewayError::UpstreamUnavailable => {
                "The service behind this gateway is unavailable; please try again shortly."
            }
            GatewayError::InvalidPath => {
                "The address of this page is not valid; please check the link and try again."
            }
            GatewayError::VerificationRequired => {
                "This page is only for verified visitors; please verify your identity with your phone first."
            }
            GatewayError::InvalidState => {
                "This verification does not belong to this browser's visit; please start the verification again."
            }
            GatewayError::MissingGate => {
                "A forward-auth request must name exactly one gate (?gate=NAME)."
            }
            GatewayError::UnknownGate => {
                "The forward-auth request names a gate that is not configured."
            }
            GatewayError::NotFound => "There is nothing at this address of the gateway.",
        }
    }

    /// The same sentence in Korean, for the pages a visitor's browser shows (docs/sessions.md).
    pub fn message_ko(self) -> &'static str {
        match self {
            GatewayError::MissingImpUid => "확인할 본인인증 정보(imp_uid)가 요청에 없습니다.",
            GatewayError::InvalidImpUid => "본인인증 번호(imp_uid) 형식이 올바르지 않습니다.",
            GatewayError::MalformedBody => "요청 내용을 읽을 수 없습니다.",
            GatewayError::UnsupportedMediaType => {
                "요청 내용은 JSON 또는 폼 데이터 형식이어야 합니다."
            }
            GatewayError::BodyTooLarge => "요청 내용이 너무 큽니다.",
            GatewayError::RequestTimeout => {
                "요청이 제시간에 도착하지 않았습니다. 다시 시도해 주세요."
            }
            GatewayError::Verification(FailureReason::NotFound) => {
                "해당 본인인증 기록을 찾을 수 없습니다."
            }
            GatewayError::Verification(FailureReason::NotCertified) => {
                "본인인증이 완료되지 않았습니다."
            }
            GatewayError::Verification(FailureReason::Failed) => {
                "본인인증에 실패했습니다. 다시 시도해 주세요."
            }
            GatewayError::Verification(FailureReason::Stale) => {
                "본인인증 후 시간이 너무 지났습니다. 다시 인증해 주세요."
            }
            GatewayError::AlreadyUsed => "이미 사용된 본인인증입니다. 다시 인증해 주세요.",
            GatewayError::AgeRequirementNotMet => "이 서비스의 이용 연령 기준을 충족하지 않습니다.",
            GatewayError::VerificationUnavailable => {
                "본인인증을 일시적으로 사용할 수 없습니다. 잠시 후 다시 시도해 주세요."
            }
            GatewayError::UpstreamUnavailable => {
                "서비스에 일시적으로 연결할 수 없습니다. 잠시 후 다시 시도해 주세요."
            }
            GatewayError::InvalidPath => "페이지 주소가 올바르지 않습니다. 링크를 확인해 주세요.",
            GatewayError::VerificationRequired => {
                "본인인증을 마친 분만 이용할 수 있는 페이지입니다. 먼저 휴대폰 본인인증을 해 주세요."
            }
            GatewayError::InvalidState => {
                "이 브라우저에서 시작한 본인인증이 아닙니다. 처음부터 다시 인증해 주세요."
            }
            GatewayError::MissingGate => "인증 요청에 확인할 영역(gate)이 지정되지 않았습니다.",
            GatewayError::UnknownGate => "인증 요청이 설정되지 않은 영역(gate)을 가리킵니다.",
            GatewayError::NotFound => "요청하신 주소를 찾을 수 없습니다.",
        }
    }
}

impl From<ExtractError> for GatewayError {
    fn from(e: ExtractError) -> Self {
        match e {
            ExtractError::Missing => GatewayError::MissingImpUid,
            ExtractError::Invalid(_) | ExtractError::NotAString | ExtractError::Ambiguous => {
                GatewayError::InvalidImpUid
            }
            ExtractError::Malformed(_) => GatewayError::MalformedBody,
            ExtractError::UnsupportedMediaType => GatewayError::UnsupportedMediaType,
        }
    }
}

impl From<crate::path::PathError> for GatewayError {
    /// Every refusal of §9.5 is one answer: 400 `invalid_path`.
    fn from(_: crate::path::PathError) -> Self {
        GatewayError::InvalidPath
    }
}

/// Whether an `Accept` header prefers `text/html` over JSON (a browser navigating).
pub fn prefers_html(accept: Option<&[u8]>) -> bool {
    let Some(accept) = accept.and_then(|a| std::str::from_utf8(a).ok()) else {
        return false;
    };
    let mut html = 0.0_f32;
    let mut json = 0.0_f32;
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        match media.as_str() {
            "text/html" | "application/xhtml+xml" => html = html.max(q),
            "application/json" | "*/*" | "application/*" => json = json.max(q),
            _ => {}
        }
    }
    html > 0.0 && html > json
}

/// JSON string escaping for the one value that came from the client (the request id, already
/// restricted to `[A-Za-z0-9._-]`, so this is belt and braces).
fn json_string(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A rendered answer: status, content type and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Bytes,
}

impl GatewayError {
    /// The body for this error, as JSON or HTML.
    pub fn render(self, request_id: &str, html: bool) -> Rendered {
        let body = if html {
            format!(
                "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{status} {code}</title></head>\
                 <body><h1>{message}</h1><p>Error <code>{code}</code>, request <code>{id}</code>.</p></body></html>\n",
                status = self.status(),
                code = self.code(),
                message = html_escape(self.message()),
                id = html_escape(request_id),
            )
        } else {
            format!(
                "{{\"error\":\"{}\",\"message\":{},\"request_id\":{}}}",
                self.code(),
                json_string(self.message()),
                json_string(request_id)
            )
        };
        Rendered {
            status: self.status(),
            content_type: if html {
                "text/html; charset=utf-8"
            } else {
                "application/json"
            },
            body: Bytes::from(body),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_maps_to_its_contract_status_and_code() {
        use FailureReason::*;
        let cases = [
            (GatewayError::MissingImpUid, 400, "missing_imp_uid"),
            (GatewayError::InvalidImpUid, 400, "invalid_imp_uid"),
            (GatewayError::MalformedBody, 400, "malformed_body"),
            (
                GatewayError::UnsupportedMediaType,
                415,
                "unsupported_media_type",
            ),
            (GatewayError::BodyTooLarge, 413, "body_too_large"),
            (GatewayError::RequestTimeout, 408, "request_timeout"),
            (
                GatewayError::Verification(NotFound),
                403,
                "verification_not_found",
            ),
            (
                GatewayError::Verification(NotCertified),
                403,
                "verification_not_certified",
            ),
            (
                GatewayError::Verification(Failed),
                403,
                "verification_failed",
            ),
            (GatewayError::Verification(Stale), 403, "verification_stale"),
            (GatewayError::AlreadyUsed, 409, "verification_already_used"),
            (
                GatewayError::AgeRequirementNotMet,
                403,
                "age_requirement_not_met",
            ),
            (
                GatewayError::VerificationUnavailable,
                503,
                "verification_unavailable",
            ),
            (
                GatewayError::UpstreamUnavailable,
                502,
                "upstream_unavailable",
            ),
            (GatewayError::InvalidPath, 400, "invalid_path"),
            (
                GatewayError::VerificationRequired,
                401,
                "verification_required",
            ),
            (GatewayError::InvalidState, 403, "invalid_state"),
            (GatewayError::MissingGate, 400, "missing_gate"),
            (GatewayError::UnknownGate, 404, "unknown_gate"),
            (GatewayError::NotFound, 404, "not_found"),
        ];
        for (e, status, code) in cases {
            assert_eq!((e.status(), e.code()), (status, code));
            assert!(e.message_ko().ends_with('.'), "{code}");
            assert!(
                e.message_ko().chars().any(|c| ('가'..='힣').contains(&c)),
                "{code}"
            );
            let r = e.render("req-1", false);
            let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
            assert_eq!(v["error"], code);
            assert_eq!(v["request_id"], "req-1");
            assert!(v["message"].as_str().unwrap().ends_with('.'));
        }
    }

    #[test]
    fn browsers_get_html_and_api_clients_get_json() {
        let cases: &[(Option<&str>, bool)] = &[
            (
                Some("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
                true,
            ),
            (Some("application/json"), false),
            (Some("*/*"), false),
            (None, false),
            (Some("application/json, text/html;q=0.5"), false),
            (Some("text/html;q=0.9, application/json;q=0.8"), true),
            (Some("text/html;q=0"), false),
        ];
        for (accept, want) in cases {
            assert_eq!(prefers_html(accept.map(str::as_bytes)), *want, "{accept:?}");
        }
    }

    #[test]
    fn every_path_refusal_is_invalid_path() {
        for p in ["/a%2Fb", "/..", "/a\\b", "/%zz", "/a%00"] {
            let e = crate::path::normalise(p).unwrap_err();
            assert_eq!(GatewayError::from(e), GatewayError::InvalidPath, "{p}");
        }
    }

    #[test]
    fn html_page_carries_the_same_sentence() {
        let r = GatewayError::AgeRequirementNotMet.render("abc", true);
        let text = std::str::from_utf8(&r.body).unwrap();
        assert!(text.contains(GatewayError::AgeRequirementNotMet.message()));
        assert!(text.contains("age_requirement_not_met"));
        assert_eq!(r.content_type, "text/html; charset=utf-8");
    }
}
