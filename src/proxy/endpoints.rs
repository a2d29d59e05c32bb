//! The gateway's own paths under `/.verigate/`: the verification page, the session callback
//! ([`super::callback`]), sign-out and forward-auth. Nothing here is ever forwarded; without
//! `[session]`, and for any other path, the answer is 404 `not_found`.

use bytes::Bytes;
use http::HeaderName;
use pingora::proxy::Session;

use super::callback;
use super::ctx::RequestCtx;
use super::gated::cookie_headers;
use super::reply::{self, Reply};
use crate::error::GatewayError;
use crate::metrics::RequestOutcome;
use crate::policy::Verdict;
use crate::route::Endpoint;
use crate::session::forward_auth::{self, AuthRequest, AuthSettings};
use crate::session::page::{self, CspNonce, PageInput};
use crate::session::redirect::rd_from_query;
use crate::session::{Origin, Refusal};
use crate::state::{GatewayState, Runtime, Sessions};
use crate::verify::{self, Judged, Request};

/// Answers one of the gateway's own paths; `Ok(true)`: the request is finished.
pub(super) async fn serve(
    state: &GatewayState,
    session: &mut Session,
    ctx: &mut RequestCtx,
    rt: &Runtime,
    endpoint: Endpoint,
) -> pingora::Result<bool> {
    let Some(sessions) = rt.sessions() else {
        return not_found(session, ctx).await;
    };
    match endpoint {
        Endpoint::VerifyPage => verify_page(session, ctx, sessions).await,
        Endpoint::Callback => callback::serve(state, session, ctx, rt, sessions).await,
        Endpoint::SignOut => {
            ctx.outcome = Some(RequestOutcome::Passthrough);
            let rd = rd_from_query(session.req_header().uri.query());
            let mut reply = Reply::redirect(303, &rd);
            reply.cookie(&sessions.cookies.clear_session());
            reply::send(session, ctx, reply).await
        }
        Endpoint::Auth => {
            auth(
                state,
                session,
                ctx,
                rt,
                sessions,
                forward_auth::Endpoint::Auth,
            )
            .await
        }
        Endpoint::ForwardAuth => {
            let which = forward_auth::Endpoint::ForwardAuth;
            auth(state, session, ctx, rt, sessions, which).await
        }
        Endpoint::Unknown => not_found(session, ctx).await,
    }
}

async fn not_found(session: &mut Session, ctx: &mut RequestCtx) -> pingora::Result<bool> {
    let refusal = Refusal::new(GatewayError::NotFound);
    reply::refuse(session, ctx, &refusal, RequestOutcome::Invalid, &[]).await
}

/// The first value of a header, as text.
fn header<'h>(session: &'h Session, name: &str) -> Option<&'h str> {
    session.req_header().headers.get(name)?.to_str().ok()
}

/// The origin the browser used: `session.public_url`, else the forwarding headers (which the
/// first phase rewrote: a trusted proxy's, or this hop's own).
fn origin(session: &Session, sessions: &Sessions) -> Option<Origin> {
    if let Some(o) = &sessions.public_url {
        return Some(o.clone());
    }
    let proto = header(session, "x-forwarded-proto").unwrap_or("http");
    let host = header(session, "x-forwarded-host").or_else(|| header(session, "host"))?;
    Origin::from_request(
        proto.split(',').next()?.trim(),
        host.split(',').next()?.trim(),
    )
}

/// `GET /.verigate/verify?rd=…`: the page, with a fresh state cookie.
async fn verify_page(
    session: &mut Session,
    ctx: &mut RequestCtx,
    sessions: &Sessions,
) -> pingora::Result<bool> {
    ctx.outcome = Some(RequestOutcome::Passthrough);
    let rd = rd_from_query(session.req_header().uri.query());
    let made = sessions
        .page
        .mint_state(&rd, ctx.now)
        .ok()
        .and_then(|state| Some((CspNonce::fresh().ok()?, state)))
        .and_then(|(nonce, state)| {
            let cookie = sessions.cookies.issue_state(&state, ctx.now).ok()?;
            Some((nonce, state, cookie))
        });
    let (Some(origin), Some((nonce, state, cookie))) = (origin(session, sessions), made) else {
        let refusal = Refusal::new(GatewayError::VerificationUnavailable);
        return reply::refuse(session, ctx, &refusal, RequestOutcome::Invalid, &[]).await;
    };
    let rendered = page::render(
        &sessions.page,
        &PageInput {
            state: &state,
            origin: &origin,
            nonce: &nonce,
        },
    );
    let mut reply = Reply {
        status: 200,
        headers: Vec::new(),
        content_type: Some("text/html; charset=utf-8"),
        body: Bytes::from(rendered.html),
    };
    reply.header(
        HeaderName::from_static("content-security-policy"),
        &rendered.csp,
    );
    reply.cookie(&cookie);
    reply::send(session, ctx, reply).await
}

/// `/.verigate/auth` and `/.verigate/forward-auth`: may the edge's request pass?
async fn auth(
    state: &GatewayState,
    session: &mut Session,
    ctx: &mut RequestCtx,
    rt: &Runtime,
    sessions: &Sessions,
    endpoint: forward_auth::Endpoint,
) -> pingora::Result<bool> {
    let req = session.req_header();
    let opened = sessions.cookies.session_from(cookie_headers(req), ctx.now);
    let trusted_peer = session
        .client_addr()
        .and_then(|a| a.as_inet())
        .is_some_and(|a| state.trusted_proxies().contains(a.ip().to_canonical()));
    let asked = AuthRequest {
        endpoint,
        method: req.method.as_str(),
        query: req.uri.query(),
        headers: &req.headers,
        trusted_peer,
        https: session.digest().is_some_and(|d| d.ssl_digest.is_some()),
    };
    let settings = AuthSettings {
        names: &rt.names,
        public_url: sessions.public_url.as_ref(),
    };
    let policy_of = |name: &str| rt.router().gate(name).map(|g| &*g.policy);
    let session_of = opened.as_ref().map(|o| &*o.session);
    let mut answer = forward_auth::answer(&asked, policy_of, session_of, &settings, ctx.now);
    ctx.verdict = answer.judgement.map(|j| j.verdict);
    if let (Some(judgement), Some(opened), 200) = (answer.judgement, &opened, answer.status)
        && let Some(gate) = forward_auth::gate_name(asked.query)
            .ok()
            .and_then(|n| rt.router().gate(&n))
    {
        let judged = Judged {
            judgement,
            id: Some(opened.session.identity.imp_uid.clone()),
            identity: Some(std::sync::Arc::clone(&opened.session.identity)),
        };
        let original = Request {
            method: &answer.original.method,
            path: answer.original.path(),
            query: answer.original.query(),
            content_type: None,
            body: &[],
        };
        let with = rt.annotator();
        let covered = answer.headers.clone();
        let provider = super::callback::provider_name(opened.session.provider);
        if let Some(h) = verify::assertion(
            with,
            provider,
            &gate.policy,
            &judged,
            &original,
            &covered,
            ctx.now,
        ) {
            answer.headers.push(h);
        }
    }
    ctx.outcome = Some(match (answer.status, ctx.verdict) {
        (200, _) => RequestOutcome::Allow,
        (_, Some(Verdict::Deny(_))) => RequestOutcome::Deny,
        (401 | 302, _) => RequestOutcome::Unverified,
        _ => RequestOutcome::Invalid,
    });
    let mut reply = match &answer.refusal {
        Some(refusal) => {
            ctx.error = Some(refusal.error.code());
            reply::refusal_reply(refusal, &ctx.request_id, answer.html)
        }
        None => Reply::empty(answer.status),
    };
    reply.status = answer.status;
    reply.headers.extend(answer.headers);
    reply::send(session, ctx, reply).await
}
