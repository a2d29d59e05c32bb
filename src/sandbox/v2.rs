//! The simulated PortOne V2 API (`docs/iamport-api.md`, V2; README, "The sandbox"):
//! `GET /identity-verifications/{id}` with `Authorization: PortOne <API secret>` and an optional
//! `?storeId=`, answering the stored record (status `VERIFIED`, `READY` or `FAILED`, optional
//! fields omitted) or a JSON error `{"type","message"}`: 400 `INVALID_REQUEST`, 401
//! `UNAUTHORIZED`, 403 `FORBIDDEN`, 404 `IDENTITY_VERIFICATION_NOT_FOUND`, and the same shape for
//! every other error status, injected faults included.
//!
//! What PortOne's official clients need (portone-server-sdk for Python, @portone/server-sdk for
//! JavaScript): success is exactly 200; `{id}` is one percent-encoded segment, decoded once
//! (`%2F` is part of the id); a leading `//` is tolerated (a `base_url` ending in `/`); `storeId`
//! is form-encoded (`+` is a space); unknown query parameters are ignored; `message` is always a
//! string; keep-alive and concurrent connections (hyper's).

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::Sandbox;
use super::state::lock;

/// `type` of a 400.
pub const TYPE_INVALID_REQUEST: &str = "INVALID_REQUEST";
/// `type` of a 401.
pub const TYPE_UNAUTHORIZED: &str = "UNAUTHORIZED";
/// `type` of a 403.
pub const TYPE_FORBIDDEN: &str = "FORBIDDEN";
/// `type` of a 404 for an unknown id.
pub const TYPE_NOT_FOUND: &str = "IDENTITY_VERIFICATION_NOT_FOUND";

/// The path prefix of the V2 identity-verification API.
const PREFIX: &str = "identity-verifications";

/// A V2 error body; `message` is always a string (a `null` turns the Python client's typed error
/// into `UnknownError`).
#[derive(Serialize)]
struct ErrorBody<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    message: &'a str,
}

/// A V2 JSON answer with PortOne's content type.
fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut resp = (status, body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    resp
}

/// A V2 error answer `{"type": kind, "message": message}`.
pub(super) fn error(status: StatusCode, kind: &str, message: &str) -> Response {
    let body = serde_json::to_vec(&ErrorBody { kind, message }).unwrap_or_default();
    json_response(status, body)
}

/// The V2 `type` the sandbox gives an error status (injected faults): the documented four, and
/// for any other status its reason in PortOne's style (`INTERNAL_SERVER_ERROR`, …), which the
/// official clients report as an unknown error.
pub(super) fn type_of(status: StatusCode) -> String {
    match status.as_u16() {
        400 => TYPE_INVALID_REQUEST.to_owned(),
        401 => TYPE_UNAUTHORIZED.to_owned(),
        403 => TYPE_FORBIDDEN.to_owned(),
        404 => TYPE_NOT_FOUND.to_owned(),
        _ => status
            .canonical_reason()
            .unwrap_or("UNKNOWN")
            .to_ascii_uppercase()
            .replace([' ', '-'], "_"),
    }
}

/// What a V2 request asks for.
pub(super) enum Route<'a> {
    /// `GET /identity-verifications/{seg}`, `seg` still percent-encoded.
    Get(&'a str),
    /// Another method on that path.
    MethodNotAllowed,
    /// Another path under `/identity-verifications`.
    NotFound,
}

impl<'a> Route<'a> {
    /// Classifies a raw path; `None` when it is not a V2 path. Leading slashes are merged (the
    /// Python client sends `//identity-verifications/…` for a `base_url` ending in `/`).
    pub(super) fn of(method: &Method, path: &'a str) -> Option<Route<'a>> {
        let rest = path.trim_start_matches('/').strip_prefix(PREFIX)?;
        if rest.is_empty() {
            return Some(Route::NotFound);
        }
        let seg = rest.strip_prefix('/')?;
        if seg.is_empty() || seg.contains('/') {
            return Some(Route::NotFound);
        }
        Some(if method == Method::GET {
            Route::Get(seg)
        } else {
            Route::MethodNotAllowed
        })
    }
}

impl Sandbox {
    /// Answers a V2 request (already recorded, counted and past the faults).
    pub(super) fn v2_call(&self, route: Route<'_>, headers: &HeaderMap, query: &str) -> Response {
        match route {
            Route::Get(seg) => self.get_identity_verification(headers, seg, query),
            Route::MethodNotAllowed => error(
                StatusCode::METHOD_NOT_ALLOWED,
                "METHOD_NOT_ALLOWED",
                "Method Not Allowed",
            ),
            Route::NotFound => error(StatusCode::NOT_FOUND, "NOT_FOUND", "Not Found"),
        }
    }

    /// Whether the request presents `Authorization: PortOne <the API secret>` (the scheme
    /// compared case-insensitively, as HTTP schemes are).
    fn portone_authorized(&self, headers: &HeaderMap) -> bool {
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            return false;
        };
        let value = value.to_str().unwrap_or("").trim();
        match value.split_once(' ') {
            Some((scheme, secret)) => {
                scheme.eq_ignore_ascii_case("PortOne")
                    && secret.trim_start() == self.inner.portone_secret
            }
            None => false,
        }
    }

    /// `GET /identity-verifications/{seg}[?storeId=…]`.
    fn get_identity_verification(&self, headers: &HeaderMap, seg: &str, query: &str) -> Response {
        if !self.portone_authorized(headers) {
            return error(
                StatusCode::UNAUTHORIZED,
                TYPE_UNAUTHORIZED,
                "인증 정보가 올바르지 않습니다.",
            );
        }
        let Ok(id) = percent_encoding::percent_decode_str(seg).decode_utf8() else {
            return error(
                StatusCode::BAD_REQUEST,
                TYPE_INVALID_REQUEST,
                "identityVerificationId is not valid UTF-8 once decoded",
            );
        };
        let store_id = form_urlencoded::parse(query.as_bytes())
            .find(|(name, _)| name == "storeId")
            .map(|(_, value)| value.into_owned());
        if store_id.as_deref() == Some("") {
            return error(
                StatusCode::BAD_REQUEST,
                TYPE_INVALID_REQUEST,
                "storeId must not be empty",
            );
        }
        let found = lock(&self.inner.identity_verifications)
            .get(id.as_ref())
            .cloned();
        let Some(rec) = found else {
            return error(
                StatusCode::NOT_FOUND,
                TYPE_NOT_FOUND,
                "요청된 본인인증 건이 존재하지 않습니다.",
            );
        };
        if let (Some(asked), Some(owner)) = (&store_id, &rec.store_id)
            && asked != owner
        {
            return error(
                StatusCode::FORBIDDEN,
                TYPE_FORBIDDEN,
                "요청이 거절되었습니다: 이 상점의 본인인증 건이 아닙니다.",
            );
        }
        match serde_json::to_vec(&rec) {
            Ok(body) => json_response(StatusCode::OK, body),
            Err(_) => error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL_SERVER_ERROR",
                "the record cannot be serialised",
            ),
        }
    }
}
