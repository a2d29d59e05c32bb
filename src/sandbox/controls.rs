//! The control endpoints under `/__sandbox/`: insert a V1 record or a V2 identity verification,
//! set or read the fault, read the counters and the recorded request paths, move the clock,
//! revoke the token. They need no token and are never counted, faulted or recorded as API calls;
//! a bad body answers 400 with the V1 envelope (V2's `{"type","message"}` for the V2 insert).

use std::sync::atomic::Ordering;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use super::v1::envelope_error;
use super::v2::{self, TYPE_INVALID_REQUEST};
use super::{RandomFault, Sandbox, SandboxIdentityVerification, SandboxRecord};

/// How many recorded paths `GET /__sandbox/requests` answers by default.
const REQUESTS_SHOWN: usize = 100;

/// The control routes, to be merged before the API's fallback.
pub(super) fn routes() -> Router<Sandbox> {
    Router::new()
        .route("/__sandbox/certifications", post(control_insert))
        .route(
            "/__sandbox/identity-verifications",
            post(control_insert_identity_verification),
        )
        .route("/__sandbox/requests", get(control_requests))
        .route(
            "/__sandbox/faults",
            post(control_set_fault).get(control_get_fault),
        )
        .route("/__sandbox/stats", get(control_stats))
        .route("/__sandbox/clock", post(control_clock))
        .route("/__sandbox/tokens/revoke", post(control_revoke))
}

/// A control endpoint's error: the API envelope with status 400.
fn control_error(message: &str) -> Response {
    envelope_error(StatusCode::BAD_REQUEST, message)
}

/// Parses a control body, an empty body standing for `{}`; the error is the message to answer.
fn control_body<T: for<'de> Deserialize<'de>>(body: &Bytes) -> Result<T, String> {
    let text: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    serde_json::from_slice(text).map_err(|e| format!("invalid JSON body: {e}"))
}

async fn control_insert(State(sandbox): State<Sandbox>, body: Bytes) -> Response {
    match control_body::<SandboxRecord>(&body) {
        Ok(rec) => (StatusCode::CREATED, Json(sandbox.insert(rec))).into_response(),
        Err(message) => control_error(&message),
    }
}

async fn control_insert_identity_verification(
    State(sandbox): State<Sandbox>,
    body: Bytes,
) -> Response {
    match control_body::<SandboxIdentityVerification>(&body) {
        Ok(rec) => (
            StatusCode::CREATED,
            Json(sandbox.insert_identity_verification(rec)),
        )
            .into_response(),
        Err(message) => v2::error(StatusCode::BAD_REQUEST, TYPE_INVALID_REQUEST, &message),
    }
}

/// Query of `GET /__sandbox/requests`.
#[derive(Deserialize)]
struct RequestsQuery {
    last: Option<usize>,
}

async fn control_requests(
    State(sandbox): State<Sandbox>,
    Query(q): Query<RequestsQuery>,
) -> Response {
    let paths = sandbox.requested_paths();
    let keep = q.last.unwrap_or(REQUESTS_SHOWN).min(paths.len());
    let recent = paths.get(paths.len() - keep..).unwrap_or_default();
    Json(serde_json::json!({ "paths": recent })).into_response()
}

async fn control_set_fault(State(sandbox): State<Sandbox>, body: Bytes) -> Response {
    let fault = match control_body::<RandomFault>(&body) {
        Ok(f) => f,
        Err(message) => return control_error(&message),
    };
    if let Some(s) = fault.status
        && !(200..600).contains(&s)
    {
        return control_error("status must be between 200 and 599");
    }
    if let Some(p) = fault.error_rate
        && !(0.0..=1.0).contains(&p)
    {
        return control_error("error_rate must be between 0 and 1");
    }
    sandbox.set_random_fault(fault);
    Json(sandbox.random_fault()).into_response()
}

async fn control_get_fault(State(sandbox): State<Sandbox>) -> Response {
    Json(sandbox.random_fault()).into_response()
}

async fn control_stats(State(sandbox): State<Sandbox>) -> Response {
    Json(sandbox.stats()).into_response()
}

/// Body of `POST /__sandbox/clock`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClockAdvance {
    advance_secs: i64,
}

async fn control_clock(State(sandbox): State<Sandbox>, body: Bytes) -> Response {
    let advance = match control_body::<ClockAdvance>(&body) {
        Ok(a) => a,
        Err(message) => return control_error(&message),
    };
    sandbox.advance_clock(advance.advance_secs);
    Json(serde_json::json!({
        "now": sandbox.now(),
        "offset_secs": sandbox.inner.clock_offset_secs.load(Ordering::Relaxed),
    }))
    .into_response()
}

async fn control_revoke(State(sandbox): State<Sandbox>) -> Response {
    let revoked = u8::from(sandbox.take_token());
    Json(serde_json::json!({ "revoked": revoked })).into_response()
}
