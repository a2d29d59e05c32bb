//! The simulated i'mport V1 API (`docs/iamport-api.md`): `POST /users/getToken` with its one live
//! token per key, `GET` and `DELETE /certifications/{imp_uid}` with the three ways of presenting
//! a token, and the API's envelopes, word for word.
//!
//! `api` records, counts and faults every request before it is answered here. The envelope and token types restate the V1 wire format apart from the
//! client's (`iamport.rs`) on purpose: the sandbox is the oracle the client is tested against.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::body::{Body, to_bytes};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rand::Rng;
use serde::Serialize;

use super::Sandbox;
use super::state::{LiveToken, lock};

/// Message of the 401 envelope for a wrong `imp_key` or `imp_secret` (`docs/iamport-api.md`).
pub const MSG_AUTH_FAILED: &str = "인증에 실패하였습니다. API키와 secret을 확인하세요.";

/// Message of the 400 envelope for a missing `imp_key` or `imp_secret` (`docs/iamport-api.md`).
pub const MSG_MISSING_PARAMS: &str = "imp_key, imp_secret 파라메터가 누락되었습니다.";

/// Message of the 404 envelope for an unknown imp_uid (`docs/iamport-api.md`).
pub const MSG_CERTIFICATION_NOT_FOUND: &str = "인증결과가 존재하지 않습니다.";

/// Message of the 401 envelope for a missing, unknown or expired access token. The real API does
/// not say which, so neither does the sandbox.
pub const MSG_UNAUTHORIZED: &str = "Unauthorized";

/// Message of the 404 envelope for a path the API does not have.
pub const MSG_NO_SUCH_PATH: &str = "Not Found";

/// Lifetime of a fresh access token.
const TOKEN_LIFETIME_SECS: i64 = 30 * 60;
/// A token asked for with this many seconds or fewer left is extended instead of reused as is.
const TOKEN_EXTENSION_WINDOW_SECS: i64 = 60;
/// How far such a token's `expired_at` moves.
const TOKEN_EXTENSION_SECS: i64 = 5 * 60;
/// Largest `getToken` body read; credentials are a few hundred bytes.
const TOKEN_BODY_LIMIT: usize = 64 * 1024;

impl Sandbox {
    /// Answers `getToken` for the given credentials.
    fn get_token(&self, imp_key: &str, imp_secret: &str) -> Response {
        if imp_key != self.inner.imp_key || imp_secret != self.inner.imp_secret {
            return envelope_error(StatusCode::UNAUTHORIZED, MSG_AUTH_FAILED);
        }
        let now = self.now();
        let mut slot = lock(&self.inner.token);
        let token = match slot.as_mut() {
            Some(live) if now < live.expired_at => {
                if live.expired_at - now <= TOKEN_EXTENSION_WINDOW_SECS {
                    live.expired_at += TOKEN_EXTENSION_SECS;
                }
                live
            }
            _ => {
                self.inner
                    .counters
                    .tokens_issued
                    .fetch_add(1, Ordering::Relaxed);
                slot.insert(LiveToken {
                    value: new_token_value(),
                    expired_at: now + TOKEN_LIFETIME_SECS,
                })
            }
        };
        let body = TokenResponse {
            access_token: token.value.clone(),
            now,
            expired_at: token.expired_at,
        };
        drop(slot);
        envelope_ok(body)
    }

    /// Whether `token` is the live, unexpired access token.
    fn token_is_live(&self, token: &str) -> bool {
        let now = self.now();
        lock(&self.inner.token)
            .as_ref()
            .is_some_and(|live| live.value == token && now < live.expired_at)
    }
}

/// 40 lowercase hex characters from 20 random bytes.
pub(super) fn new_token_value() -> String {
    let mut bytes = [0u8; 20];
    rand::rng().fill(&mut bytes);
    bytes.iter().fold(String::with_capacity(40), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The `response` of a successful `getToken`.
#[derive(Serialize)]
struct TokenResponse {
    access_token: String,
    now: i64,
    expired_at: i64,
}

/// The API's envelope; field order is the API's.
#[derive(Serialize)]
struct Envelope<'a, T: Serialize> {
    code: i32,
    message: Option<&'a str>,
    response: Option<T>,
}

fn envelope_ok<T: Serialize>(response: T) -> Response {
    Json(Envelope {
        code: 0,
        message: None,
        response: Some(response),
    })
    .into_response()
}

pub(super) fn envelope_error(status: StatusCode, message: &str) -> Response {
    let body = Envelope::<()> {
        code: -1,
        message: Some(message),
        response: None,
    };
    (status, Json(body)).into_response()
}

/// What a V1 request asks for.
pub(super) enum Route<'a> {
    GetToken,
    GetCertification(&'a str),
    DeleteCertification(&'a str),
    MethodNotAllowed,
    NotFound,
}

impl<'a> Route<'a> {
    /// Classifies a raw (still percent-encoded) path.
    pub(super) fn of(method: &Method, path: &'a str) -> Route<'a> {
        if path == "/users/getToken" {
            return if method == Method::POST {
                Route::GetToken
            } else {
                Route::MethodNotAllowed
            };
        }
        match path.strip_prefix("/certifications/") {
            Some(seg) if !seg.is_empty() && !seg.contains('/') => match *method {
                Method::GET => Route::GetCertification(seg),
                Method::DELETE => Route::DeleteCertification(seg),
                _ => Route::MethodNotAllowed,
            },
            _ => Route::NotFound,
        }
    }
}

impl Sandbox {
    /// Answers a V1 request (already recorded, counted and past the faults).
    pub(super) async fn v1_call(
        &self,
        route: Route<'_>,
        headers: &HeaderMap,
        body: Body,
    ) -> Response {
        match route {
            Route::GetToken => self.token_call(headers, body).await,
            Route::GetCertification(seg) => self.certification_call(headers, seg, false),
            Route::DeleteCertification(seg) => self.certification_call(headers, seg, true),
            Route::MethodNotAllowed => {
                envelope_error(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
            }
            Route::NotFound => envelope_error(StatusCode::NOT_FOUND, MSG_NO_SUCH_PATH),
        }
    }

    /// `POST /users/getToken`: credentials from a JSON or form body of bounded size.
    async fn token_call(&self, headers: &HeaderMap, body: Body) -> Response {
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let Ok(body) = to_bytes(body, TOKEN_BODY_LIMIT).await else {
            return envelope_error(StatusCode::BAD_REQUEST, MSG_MISSING_PARAMS);
        };
        match credentials(content_type.as_deref(), &body) {
            Some((key, secret)) => self.get_token(&key, &secret),
            None => envelope_error(StatusCode::BAD_REQUEST, MSG_MISSING_PARAMS),
        }
    }

    /// `GET` (or, with `delete`, `DELETE`) `/certifications/{seg}`, `seg` still percent-encoded.
    fn certification_call(&self, headers: &HeaderMap, seg: &str, delete: bool) -> Response {
        let authorized = presented_token(headers).is_some_and(|token| self.token_is_live(token));
        if !authorized {
            return envelope_error(StatusCode::UNAUTHORIZED, MSG_UNAUTHORIZED);
        }
        let Ok(imp_uid) = percent_encoding::percent_decode_str(seg).decode_utf8() else {
            return envelope_error(StatusCode::NOT_FOUND, MSG_CERTIFICATION_NOT_FOUND);
        };
        let found = {
            let mut records = lock(&self.inner.records);
            if delete {
                records.remove(imp_uid.as_ref())
            } else {
                records.get(imp_uid.as_ref()).cloned()
            }
        };
        match found {
            Some(rec) => envelope_ok(rec),
            None => envelope_error(StatusCode::NOT_FOUND, MSG_CERTIFICATION_NOT_FOUND),
        }
    }
}

/// `imp_key` and `imp_secret` from a JSON or form body; `None` when either is missing or empty.
fn credentials(content_type: Option<&str>, body: &[u8]) -> Option<(String, String)> {
    let is_form = content_type.is_some_and(|ct| {
        ct.trim_start()
            .to_ascii_lowercase()
            .starts_with("application/x-www-form-urlencoded")
    });
    let json = if is_form {
        None
    } else {
        serde_json::from_slice::<serde_json::Value>(body).ok()
    };
    let (key, secret) = match json {
        Some(v) => {
            let field = |name: &str| v.get(name).and_then(|f| f.as_str()).map(str::to_owned);
            (field("imp_key"), field("imp_secret"))
        }
        None => {
            let (mut key, mut secret) = (None, None);
            for (name, value) in form_urlencoded::parse(body) {
                match name.as_ref() {
                    "imp_key" => key = Some(value.into_owned()),
                    "imp_secret" => secret = Some(value.into_owned()),
                    _ => {}
                }
            }
            (key, secret)
        }
    };
    match (key, secret) {
        (Some(k), Some(s)) if !k.is_empty() && !s.is_empty() => Some((k, s)),
        _ => None,
    }
}

/// The access token a request presents: `Authorization` (raw or `Bearer`) when that header is
/// sent at all, otherwise `X-ImpTokenHeader`. `None` when neither is sent.
fn presented_token(headers: &HeaderMap) -> Option<&str> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        // A non-UTF-8 value presents a token that can never match.
        let value = value.to_str().unwrap_or("").trim();
        let token = match value.split_once(' ') {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
            _ => value,
        };
        return Some(token);
    }
    headers
        .get("x-imptokenheader")
        .map(|v| v.to_str().unwrap_or("").trim())
}
