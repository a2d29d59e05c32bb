//! Every request that is not a control endpoint: its raw path and query are recorded, it is
//! counted (all calls, and per endpoint), the current fault applies to it, and then the V1 API
//! (`v1`) or the V2 API (`v2`, paths under `/identity-verifications`) answers it. An injected
//! error status is answered in the shape of the API it hit: V1's envelope, V2's
//! `{"type","message"}`.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::{Sandbox, v1, v2};

/// What an API request is for.
enum Call<'a> {
    V1(v1::Route<'a>),
    V2(v2::Route<'a>),
}

/// Every non-control request: recorded, counted, faulted, then answered.
pub(super) async fn api(State(sandbox): State<Sandbox>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let raw = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_owned(), |pq| pq.as_str().to_owned());
    sandbox.record_path(raw);
    let path = parts.uri.path();
    let call = match v2::Route::of(&parts.method, path) {
        Some(route) => Call::V2(route),
        None => Call::V1(v1::Route::of(&parts.method, path)),
    };
    sandbox.count_call(&call);
    if let Some(status) = sandbox.injected_fault().await {
        let message = format!("sandbox fault: injected HTTP {}", status.as_u16());
        return match call {
            Call::V1(_) => v1::envelope_error(status, &message),
            Call::V2(_) => v2::error(status, &v2::type_of(status), &message),
        };
    }
    match call {
        Call::V1(route) => sandbox.v1_call(route, &parts.headers, body).await,
        Call::V2(route) => sandbox.v2_call(route, &parts.headers, parts.uri.query().unwrap_or("")),
    }
}

impl Sandbox {
    /// Counts one API call, and one for its endpoint when it names one.
    fn count_call(&self, call: &Call<'_>) {
        let counters = &self.inner.counters;
        counters.api_calls.fetch_add(1, Ordering::Relaxed);
        let endpoint_counter: Option<&AtomicU64> = match call {
            Call::V1(v1::Route::GetToken) => Some(&counters.token_requests),
            Call::V1(v1::Route::GetCertification(_)) => Some(&counters.certification_requests),
            Call::V1(v1::Route::DeleteCertification(_)) => Some(&counters.certification_deletes),
            Call::V2(v2::Route::Get(_)) => Some(&counters.identity_verification_requests),
            Call::V1(v1::Route::MethodNotAllowed | v1::Route::NotFound)
            | Call::V2(v2::Route::MethodNotAllowed | v2::Route::NotFound) => None,
        };
        if let Some(counter) = endpoint_counter {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Applies one use of the current fault, if any: waits its delay, then returns its error
    /// status when the draw says so (`None`: answer normally).
    async fn injected_fault(&self) -> Option<StatusCode> {
        let fault = self.take_fault()?;
        let draw = fault.draw(&mut rand::rng());
        if !draw.delay.is_zero() {
            tokio::time::sleep(draw.delay).await;
        }
        let code = draw.status?;
        self.inner
            .counters
            .faults_served
            .fetch_add(1, Ordering::Relaxed);
        Some(
            StatusCode::from_u16(code)
                .ok()
                .filter(|s| (200..600).contains(&s.as_u16()))
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        )
    }
}
