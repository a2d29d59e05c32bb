//! The gateway's own answers for sessions: a page, a redirect or a refusal, each with
//! `Cache-Control: no-store` and the request id, and whatever cookies the answer sets.

use bytes::Bytes;
use http::{HeaderName, HeaderValue};
use pingora::http::ResponseHeader;
use pingora::proxy::Session;

use super::ctx::RequestCtx;
use super::respond::X_REQUEST_ID;
use crate::error::{GatewayError, RETRY_AFTER_SECS, prefers_html};
use crate::metrics::RequestOutcome;
use crate::session::{Refusal, refusal};

/// One answer verigate writes itself.
pub(super) struct Reply {
    pub status: u16,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub content_type: Option<&'static str>,
    pub body: Bytes,
}

impl Reply {
    /// An answer without a body.
    pub fn empty(status: u16) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            content_type: None,
            body: Bytes::new(),
        }
    }

    /// A redirect to `location` (303 after a form post, 302 to the verification page).
    pub fn redirect(status: u16, location: &str) -> Self {
        let mut r = Reply::empty(status);
        r.header(http::header::LOCATION, location);
        r
    }

    /// Adds a header; a value that is not a header value (never the case for what verigate
    /// builds) is left out.
    pub fn header(&mut self, name: HeaderName, value: &str) {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.push((name, v));
        }
    }

    /// Adds a `Set-Cookie`.
    pub fn cookie(&mut self, set_cookie: &str) {
        self.header(http::header::SET_COOKIE, set_cookie);
    }
}

/// Writes `reply` and ends the request; `Ok(true)`: the request is finished.
pub(super) async fn send(
    session: &mut Session,
    ctx: &RequestCtx,
    reply: Reply,
) -> pingora::Result<bool> {
    let mut resp = ResponseHeader::build(reply.status, Some(reply.headers.len() + 4))?;
    if let Some(ct) = reply.content_type {
        resp.insert_header(http::header::CONTENT_TYPE, ct)?;
    }
    resp.insert_header(http::header::CONTENT_LENGTH, reply.body.len())?;
    resp.insert_header(http::header::CACHE_CONTROL, "no-store")?;
    resp.insert_header(X_REQUEST_ID, ctx.request_id.as_str())?;
    for (name, value) in reply.headers {
        resp.append_header(name, value)?;
    }
    let head = session.req_header().method == http::Method::HEAD;
    session
        .write_response_header(Box::new(resp), reply.body.is_empty() || head)
        .await?;
    if !reply.body.is_empty() && !head {
        session.write_response_body(Some(reply.body), true).await?;
    }
    Ok(true)
}

/// Whether the client prefers a page to JSON.
pub(super) fn wants_html(session: &Session) -> bool {
    prefers_html(
        session
            .req_header()
            .headers
            .get(http::header::ACCEPT)
            .map(HeaderValue::as_bytes),
    )
}

/// The answer refusing with `refusal`: a Korean page for a browser, else JSON; `cookies` are
/// set on it (the state cookie cleared, for instance).
pub(super) fn refusal_reply(refusal: &Refusal, request_id: &str, html: bool) -> Reply {
    let rendered = refusal.render(request_id, html);
    let mut reply = Reply {
        status: rendered.status,
        headers: Vec::new(),
        content_type: Some(rendered.content_type),
        body: rendered.body,
    };
    if html {
        reply.header(
            HeaderName::from_static("content-security-policy"),
            refusal::CSP,
        );
    }
    if refusal.error == GatewayError::VerificationUnavailable {
        reply.header(http::header::RETRY_AFTER, &RETRY_AFTER_SECS.to_string());
    }
    reply
}

/// Refuses with `refusal` (counted as `outcome`), setting `cookies`.
pub(super) async fn refuse(
    session: &mut Session,
    ctx: &mut RequestCtx,
    refusal: &Refusal,
    outcome: RequestOutcome,
    cookies: &[String],
) -> pingora::Result<bool> {
    ctx.outcome = Some(outcome);
    ctx.error = Some(refusal.error.code());
    let mut reply = refusal_reply(refusal, &ctx.request_id, wants_html(session));
    for c in cookies {
        reply.cookie(c);
    }
    send(session, ctx, reply).await
}
