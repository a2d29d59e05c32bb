//! The gateway's own answers: a [`GatewayError`] written to the client (JSON, or HTML for a
//! browser), and what a request pingora failed is answered and logged as, decided in one match.

use http::HeaderValue;
use pingora::http::ResponseHeader;
use pingora::proxy::{FailToProxy, Session};
use pingora::{ErrorSource, ErrorType};

use super::ctx::RequestCtx;
use crate::error::{GatewayError, RETRY_AFTER_SECS, prefers_html};
use crate::metrics::RequestOutcome;
use crate::state::GatewayState;

/// The header carrying the request id, to the app and in every answer.
pub(super) const X_REQUEST_ID: &str = "x-request-id";

/// Why a request is not forwarded.
pub(super) enum Refusal {
    /// Answered by the gateway.
    Answer(GatewayError),
    /// The client connection failed while its body was read: nothing can be answered.
    Broken(Box<pingora::Error>),
}

impl From<GatewayError> for Refusal {
    fn from(e: GatewayError) -> Self {
        Refusal::Answer(e)
    }
}

/// Answers the client with `error` and ends the request.
pub(super) async fn answer(
    session: &mut Session,
    request_id: &str,
    error: GatewayError,
) -> pingora::Result<()> {
    let html = prefers_html(
        session
            .req_header()
            .headers
            .get(http::header::ACCEPT)
            .map(HeaderValue::as_bytes),
    );
    let rendered = error.render(request_id, html);
    let mut resp = ResponseHeader::build(rendered.status, Some(5))?;
    resp.insert_header(http::header::CONTENT_TYPE, rendered.content_type)?;
    resp.insert_header(http::header::CONTENT_LENGTH, rendered.body.len())?;
    resp.insert_header(http::header::CACHE_CONTROL, "no-store")?;
    resp.insert_header(X_REQUEST_ID, request_id)?;
    if error == GatewayError::VerificationUnavailable {
        resp.insert_header(http::header::RETRY_AFTER, RETRY_AFTER_SECS)?;
    }
    if matches!(
        error,
        GatewayError::BodyTooLarge | GatewayError::RequestTimeout
    ) {
        // The rest of the body was never read: this connection cannot carry another request.
        session.set_keepalive(None);
    }
    session.write_response_header(Box::new(resp), false).await?;
    session.write_response_body(Some(rendered.body), true).await
}

/// Refuses the request with `error`, counted as `outcome`; `Ok(true)`: the request is finished.
pub(super) async fn refuse(
    session: &mut Session,
    ctx: &mut RequestCtx,
    error: GatewayError,
    outcome: Option<RequestOutcome>,
) -> pingora::Result<bool> {
    ctx.outcome = outcome;
    ctx.error = Some(error.code());
    answer(session, &ctx.request_id, error).await?;
    Ok(true)
}

/// How a request pingora failed is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    /// One of the gateway's own answers.
    Ours(GatewayError),
    /// pingora's plain answer with this status; 0 when the client is gone.
    Plain(u16),
}

/// How a pingora failure is answered, and the access log's `error` for it (the plain
/// answers' codes never reach a client's body: pingora answers with its own page, or nothing).
fn classify(e: &pingora::Error) -> (Answer, &'static str) {
    use ErrorSource::{Downstream, Upstream};
    use ErrorType::{ConnectionClosed, HTTPStatus, ReadError, WriteError};
    match (e.esource(), e.etype()) {
        (Downstream, HTTPStatus(c)) => (Answer::Plain(*c), "bad_request"),
        (Upstream, HTTPStatus(c)) => (Answer::Plain(*c), "upstream_unavailable"),
        (_, HTTPStatus(c)) => (Answer::Plain(*c), "internal_error"),
        (Downstream, ReadError | WriteError | ConnectionClosed) => {
            (Answer::Plain(0), "client_closed")
        }
        (Downstream, _) => (Answer::Plain(400), "bad_request"),
        (Upstream, _) => (
            Answer::Ours(GatewayError::UpstreamUnavailable),
            "upstream_unavailable",
        ),
        _ => (Answer::Plain(500), "internal_error"),
    }
}

/// `fail_to_proxy`: answers (when the client is still there) and records why.
pub(super) async fn failed(
    state: &GatewayState,
    session: &mut Session,
    e: &pingora::Error,
    ctx: &mut RequestCtx,
) -> FailToProxy {
    let (answer, code) = classify(e);
    // pingora does not reuse a connection after a failure: say so, so clients do not send
    // their next request into a closing socket.
    session.set_keepalive(None);
    // A refusal whose answer could not be written keeps its own code.
    ctx.error = ctx.error.or(Some(code));
    let error_code = match answer {
        Answer::Ours(err) => {
            state.metrics.upstream_errors.inc();
            match self::answer(session, &ctx.request_id, err).await {
                Ok(()) => err.status(),
                Err(_) => 0,
            }
        }
        Answer::Plain(0) => 0,
        Answer::Plain(status) => {
            let _ = session.respond_error(status).await;
            status
        }
    };
    FailToProxy {
        error_code,
        can_reuse_downstream: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_pingora_failure_has_one_answer_and_one_log_code() {
        use ErrorSource::{Downstream, Internal, Unset, Upstream};
        use ErrorType::*;
        let ours = Answer::Ours(GatewayError::UpstreamUnavailable);
        let cases = [
            (Upstream, ConnectRefused, ours, "upstream_unavailable"),
            (Upstream, ConnectTimedout, ours, "upstream_unavailable"),
            (Upstream, ReadTimedout, ours, "upstream_unavailable"),
            (Upstream, ConnectNoRoute, ours, "upstream_unavailable"),
            (
                Upstream,
                HTTPStatus(502),
                Answer::Plain(502),
                "upstream_unavailable",
            ),
            (Downstream, ReadError, Answer::Plain(0), "client_closed"),
            (Downstream, WriteError, Answer::Plain(0), "client_closed"),
            (
                Downstream,
                ConnectionClosed,
                Answer::Plain(0),
                "client_closed",
            ),
            (
                Downstream,
                InvalidHTTPHeader,
                Answer::Plain(400),
                "bad_request",
            ),
            (
                Downstream,
                HTTPStatus(413),
                Answer::Plain(413),
                "bad_request",
            ),
            (
                Internal,
                InternalError,
                Answer::Plain(500),
                "internal_error",
            ),
            (
                Internal,
                HTTPStatus(500),
                Answer::Plain(500),
                "internal_error",
            ),
            (Unset, ReadError, Answer::Plain(500), "internal_error"),
        ];
        for (source, etype, want, code) in cases {
            let e = pingora::Error::create(etype.clone(), source.clone(), None, None);
            assert_eq!(classify(&e), (want, code), "{source:?} {etype:?}");
        }
    }
}
