//! The pingora proxy: verigate's request path, one `ProxyHttp` phase at a time.
//!
//! Each phase is a few lines that call the rooms. `request_filter` strips the verified namespace
//! from every request, fixes the forwarding headers and the request id, and asks the
//! configuration's [`Router`](crate::route::Router) where the request goes: proxied unchanged,
//! a callback route ([`intercept`]: the steps of [`crate::verify`] between the I/O calls), a gated
//! prefix or one of the gateway's own paths ([`endpoints`]). A refused request is answered by
//! [`respond`]; a forwarded one carries the identity headers the context holds into
//! `upstream_request_filter`, to a backend [`upstream`] chose.

use std::sync::Arc;

use async_trait::async_trait;
use http::HeaderName;
use pingora::http::RequestHeader;
use pingora::prelude::*;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};

use crate::forwarded::{self, Hop};
use crate::headers;
use crate::metrics::RequestOutcome;
use crate::route::{Matched, Route};
use crate::state::{GatewayState, Runtime};
use crate::verify;

mod body;
mod callback;
mod ctx;
mod endpoints;
mod gated;
mod intercept;
mod reply;
mod respond;
mod upstream;

pub use ctx::RequestCtx;
use respond::{Refusal, X_REQUEST_ID};

/// The pingora proxy over the shared state.
pub struct Gateway {
    state: Arc<GatewayState>,
}

impl Gateway {
    /// A proxy over `state`.
    pub fn new(state: Arc<GatewayState>) -> Self {
        Gateway { state }
    }

    /// What every request goes through first: draining, the reserved headers, the forwarding
    /// headers, the request id; then the configuration it will be served with.
    fn begin(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<Arc<Runtime>> {
        if self.state.is_draining() {
            session.set_keepalive(None);
        }
        let rt = self.state.runtime();
        strip_reserved(session.req_header_mut(), &rt.config.headers.prefix);
        let hop = Hop {
            peer: session
                .client_addr()
                .and_then(|a| a.as_inet())
                .map(|a| a.ip()),
            https: session.digest().is_some_and(|d| d.ssl_digest.is_some()),
        };
        forwarded::rewrite(session.req_header_mut(), hop, self.state.trusted_proxies());
        ctx.request_id = request_id(session.req_header());
        session
            .req_header_mut()
            .insert_header(X_REQUEST_ID, ctx.request_id.as_str())?;
        ctx.runtime = Some(rt.clone());
        Ok(rt)
    }

    /// A callback route: forwarded with the identity headers, or refused.
    async fn callback(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        rt: &Runtime,
        route: &Route,
    ) -> Result<bool> {
        match intercept::run(&self.state, session, ctx, rt, route).await {
            Ok(added) => {
                ctx.added = Some(added);
                ctx.outcome = verify::outcome(ctx.verdict, None);
                Ok(false)
            }
            Err(Refusal::Answer(e)) => {
                let outcome = verify::outcome(ctx.verdict, Some(e));
                respond::refuse(session, ctx, e, outcome).await
            }
            Err(Refusal::Broken(e)) => Err(e),
        }
    }
}

/// Removes every header only verigate may set.
fn strip_reserved(req: &mut RequestHeader, prefix: &str) {
    let doomed: Vec<HeaderName> = req
        .headers
        .keys()
        .filter(|name| headers::is_reserved(name.as_str(), prefix))
        .cloned()
        .collect();
    for name in doomed {
        // Repeated headers: remove_header takes one value at a time.
        while req.remove_header(&name).is_some() {}
    }
}

/// The client's request id when it is sane (1–128 of `[A-Za-z0-9._-]`), else a new one.
fn request_id(req: &RequestHeader) -> String {
    if let Some(v) = req.headers.get(X_REQUEST_ID) {
        let b = v.as_bytes();
        if (1..=128).contains(&b.len())
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
            && let Ok(s) = v.to_str()
        {
            return s.to_owned();
        }
    }
    format!("{:032x}", rand::random::<u128>())
}

#[async_trait]
impl ProxyHttp for Gateway {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> Self::CTX {
        RequestCtx::new(self.state.enter())
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut Self::CTX) -> Result<bool> {
        let rt = self.begin(session, ctx)?;
        // With gates, the normalised path is what is matched and what the app receives.
        if rt.router().has_gates()
            && let Err(e) = gated::normalise(session.req_header_mut())
        {
            return respond::refuse(session, ctx, e, Some(RequestOutcome::Invalid)).await;
        }
        let req = session.req_header();
        match rt.router().route(&req.method, req.uri.path()) {
            Matched::Pass => {
                ctx.outcome = Some(RequestOutcome::Passthrough);
                Ok(false)
            }
            Matched::Callback { index, route } => {
                ctx.route = Some(index);
                self.callback(session, ctx, &rt, route).await
            }
            Matched::Gated(gate) => gated::serve(session, ctx, &rt, gate).await,
            Matched::Endpoint(endpoint) => {
                endpoints::serve(&self.state, session, ctx, &rt, endpoint).await
            }
        }
    }

    async fn upstream_peer(
        &self,
        _session: &mut Session,
        _ctx: &mut Self::CTX,
    ) -> Result<Box<HttpPeer>> {
        upstream::peer(&self.state)
    }

    async fn upstream_request_filter(
        &self,
        _session: &mut Session,
        upstream_request: &mut RequestHeader,
        ctx: &mut Self::CTX,
    ) -> Result<()> {
        // verigate's cookies never reach the app.
        if let Some(sessions) = ctx.runtime.as_ref().and_then(|rt| rt.sessions()) {
            gated::strip_cookies(upstream_request, &sessions.cookies);
        }
        let Some(added) = &ctx.added else {
            return Ok(());
        };
        // The body was already read and is replayed whole: the app must not wait for a second
        // go-ahead.
        upstream_request.remove_header(&http::header::EXPECT);
        for (name, value) in added {
            upstream_request.insert_header(name.clone(), value.clone())?;
        }
        Ok(())
    }

    async fn response_filter(
        &self,
        _session: &mut Session,
        upstream_response: &mut pingora::http::ResponseHeader,
        ctx: &mut Self::CTX,
    ) -> Result<()> {
        if let Some(cookie) = ctx.set_cookie.take() {
            upstream_response.append_header(http::header::SET_COOKIE, cookie)?;
        }
        Ok(())
    }

    fn fail_to_connect(
        &self,
        _session: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut Self::CTX,
        mut e: Box<pingora::Error>,
    ) -> Box<pingora::Error> {
        ctx.connect_attempts += 1;
        if upstream::may_retry(&self.state, ctx.connect_attempts) {
            e.set_retry(true);
        }
        e
    }

    async fn fail_to_proxy(
        &self,
        session: &mut Session,
        e: &pingora::Error,
        ctx: &mut Self::CTX,
    ) -> FailToProxy {
        respond::failed(&self.state, session, e, ctx).await
    }

    async fn logging(
        &self,
        session: &mut Session,
        _e: Option<&pingora::Error>,
        ctx: &mut Self::CTX,
    ) {
        let status = session.response_written().map_or(0, |r| r.status.as_u16());
        // A request pingora failed before `request_filter` has no runtime yet: it is counted,
        // as a passthrough, with the current one.
        let current = ctx.runtime.is_none().then(|| self.state.runtime());
        let Some(rt) = ctx.runtime.as_ref().or(current.as_ref()) else {
            return;
        };
        if let Some(outcome) = ctx.outcome {
            rt.counters().count(ctx.route, outcome);
        }
        rt.counters()
            .finish(ctx.route, status, ctx.started.elapsed());
        let Some(log) = self.state.access_log() else {
            return;
        };
        ctx.forwarded_for = forwarded::client(session.req_header(), self.state.trusted_proxies());
        let route = ctx
            .route
            .and_then(|i| ctx.runtime.as_ref()?.router().routes().get(i))
            .map(|r| &*r.name);
        log.write(&ctx.access_record(session, route, status));
    }
}
