//! Requests under a gate, and what every request goes through when gates exist: the path
//! normalised (matched and forwarded so), verigate's cookies kept from the app.
//!
//! A gated request opens the session cookie and asks [`gate::decide`]: forwarded with the
//! identity headers (and `content-digest` and the signatures, as a callback route is), or
//! refused (403 for a person the policy refuses, 302 to the verification page for a browser
//! without a session, 401 `verification_required` otherwise).

use std::borrow::Cow;
use std::sync::Arc;

use http::HeaderValue;
use pingora::http::RequestHeader;
use pingora::proxy::Session;

use super::body;
use super::ctx::RequestCtx;
use super::reply::{self, Reply};
use super::respond::Refusal as Broken;
use crate::error::GatewayError;
use crate::metrics::RequestOutcome;
use crate::path;
use crate::route::Gate;
use crate::session::gate::{self, GateDecision, GatedRequest};
use crate::session::{Provider, SessionCookies};
use crate::state::Runtime;
use crate::verify::{self, Judged};

/// Normalises the request's path in place (README, "Verification sessions"): the normalised
/// path is what is matched and what the app receives.
pub(super) fn normalise(req: &mut RequestHeader) -> Result<(), GatewayError> {
    let normal = match path::normalise(req.uri.path()) {
        Ok(Cow::Borrowed(_)) => return Ok(()),
        Ok(Cow::Owned(p)) => p,
        Err(_) => return Err(GatewayError::InvalidPath),
    };
    let target = match req.uri.query() {
        Some(q) => format!("{normal}?{q}"),
        None => normal,
    };
    let mut parts = req.uri.clone().into_parts();
    parts.path_and_query = Some(target.parse().map_err(|_| GatewayError::InvalidPath)?);
    let uri = http::Uri::from_parts(parts).map_err(|_| GatewayError::InvalidPath)?;
    req.set_uri(uri);
    Ok(())
}

/// A `Cookie` header as text: UTF-8, not only visible ASCII (`HeaderValue::to_str`), since
/// apps do set raw UTF-8 values (a Korean nickname), and a session beside one must still open
/// and still be kept from the app.
fn cookie_text(v: &HeaderValue) -> Option<&str> {
    std::str::from_utf8(v.as_bytes()).ok()
}

/// The request's `Cookie` headers, as text.
pub(super) fn cookie_headers(req: &RequestHeader) -> impl Iterator<Item = &str> {
    req.headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(cookie_text)
}

/// Removes verigate's cookies from the `Cookie` headers the app receives; every other cookie
/// is kept byte for byte. Nothing is copied when none of ours is there.
pub(super) fn strip_cookies(req: &mut RequestHeader, cookies: &SessionCookies) {
    // Most requests carry none of ours: nothing is copied then.
    let ours = |v: &HeaderValue| cookie_text(v).is_some_and(|v| cookies.holds_ours(v));
    if !req.headers.get_all(http::header::COOKIE).iter().any(ours) {
        return;
    }
    let kept: Vec<HeaderValue> = req
        .headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|value| match cookie_text(value).map(|v| cookies.strip(v)) {
            Some(Some(Cow::Borrowed(_))) | None => Some(value.clone()),
            Some(Some(Cow::Owned(rest))) => HeaderValue::from_str(&rest).ok(),
            Some(None) => None,
        })
        .collect();
    while req.remove_header(&http::header::COOKIE).is_some() {}
    for v in kept {
        let _ = req.append_header(http::header::COOKIE, v);
    }
}

/// Answers or forwards a request under `gate`; `Ok(true)`: the request is finished.
pub(super) async fn serve(
    session: &mut Session,
    ctx: &mut RequestCtx,
    rt: &Runtime,
    gate: &Gate,
) -> pingora::Result<bool> {
    let Some(sessions) = rt.sessions() else {
        // A gate without [session] is refused by the config check; never forward one.
        let refusal = crate::session::Refusal::new(GatewayError::NotFound);
        return reply::refuse(session, ctx, &refusal, RequestOutcome::Invalid, &[]).await;
    };
    let req = session.req_header();
    let opened = sessions.cookies.session_from(cookie_headers(req), ctx.now);
    let asked = GatedRequest {
        method: req.method.as_str(),
        accept: req
            .headers
            .get(http::header::ACCEPT)
            .map(HeaderValue::as_bytes),
        path: req.uri.path(),
        query: req.uri.query(),
    };
    let decision = gate::decide(
        opened.as_ref().map(|o| &*o.session),
        &gate.policy,
        &asked,
        ctx.now,
    );
    match decision {
        GateDecision::Pass(judgement) => {
            let Some(opened) = opened else {
                // `decide` passes only a session; should that ever break, fail closed.
                let refusal = crate::session::Refusal::new(GatewayError::VerificationRequired);
                return reply::refuse(session, ctx, &refusal, RequestOutcome::Invalid, &[]).await;
            };
            ctx.verdict = Some(judgement.verdict);
            // Re-sealed under the current key only when an older one opened it (rare). The
            // identity is shared with the kept session, never copied.
            let reseal = opened
                .reseal
                .then(|| sessions.cookies.issue(&opened.session, ctx.now).ok())
                .flatten();
            let provider = opened.session.provider;
            let identity = &opened.session.identity;
            let judged = Judged {
                judgement,
                id: Some(identity.imp_uid.clone()),
                identity: Some(Arc::clone(identity)),
            };
            pass(session, ctx, rt, gate, (provider, reseal), &judged).await
        }
        GateDecision::Deny(judgement) => {
            ctx.verdict = Some(judgement.verdict);
            let refusal = crate::session::Refusal::new(GatewayError::AgeRequirementNotMet);
            reply::refuse(session, ctx, &refusal, RequestOutcome::Deny, &[]).await
        }
        GateDecision::Verify { location } => {
            ctx.outcome = Some(RequestOutcome::Unverified);
            ctx.error = Some(GatewayError::VerificationRequired.code());
            reply::send(session, ctx, Reply::redirect(302, &location)).await
        }
        GateDecision::Unauthorized(refusal) => {
            reply::refuse(session, ctx, &refusal, RequestOutcome::Unverified, &[]).await
        }
    }
}

/// Forwards a passed request with the identity headers, and the cookie re-sealed under the
/// current key when an older one opened it.
async fn pass(
    session: &mut Session,
    ctx: &mut RequestCtx,
    rt: &Runtime,
    gate: &Gate,
    (provider, reseal): (Provider, Option<String>),
    judged: &Judged,
) -> pingora::Result<bool> {
    let body = match body::read(session, rt.config.server.max_body_bytes).await {
        Ok(body) => body,
        Err(Broken::Broken(e)) => return Err(e),
        Err(Broken::Answer(e)) => {
            let refusal = crate::session::Refusal::new(e);
            return reply::refuse(session, ctx, &refusal, RequestOutcome::Invalid, &[]).await;
        }
    };
    let asked = super::intercept::request(session.req_header(), &body);
    let with = rt.annotator();
    ctx.added = Some(verify::annotate_for(
        with,
        super::callback::provider_name(provider),
        &gate.policy,
        judged,
        &asked,
        ctx.now,
    ));
    ctx.outcome = Some(RequestOutcome::Allow);
    ctx.set_cookie = reseal;
    Ok(false)
}
