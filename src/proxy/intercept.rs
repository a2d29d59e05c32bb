//! A callback route: the pure steps of [`crate::verify`] alternating with the I/O calls (read
//! the body, resolve the id, mark a single use).

use std::time::Instant;

use http::HeaderValue;
use pingora::http::RequestHeader;
use pingora::proxy::Session;

use super::body;
use super::ctx::RequestCtx;
use super::respond::Refusal;
use crate::error::GatewayError;
use crate::headers::HeaderList;
use crate::imp_uid::ImpUid;
use crate::resolve::{CacheStatus, Resolved};
use crate::route::Route;
use crate::state::{GatewayState, Runtime};
use crate::store::UseKey;
use crate::verify::{self, Plan, Request};

/// Runs `route`: the headers to forward with, or why the request is not forwarded.
pub(super) async fn run(
    state: &GatewayState,
    session: &mut Session,
    ctx: &mut RequestCtx,
    rt: &Runtime,
    route: &Route,
) -> Result<HeaderList, Refusal> {
    let body = body::read(session, rt.config.server.max_body_bytes).await?;
    let req = request(session.req_header(), &body);
    let judged = match verify::plan(route, &req)? {
        Plan::BrowserFailed(id) => {
            ctx.imp_uid.clone_from(&id);
            verify::browser_failed(id)
        }
        Plan::Lookup(id) => {
            ctx.imp_uid = Some(id.clone());
            let resolved = resolve(state, ctx, route, &id).await?;
            verify::judge(route, id, resolved, ctx.now)
        }
    };
    ctx.verdict = Some(judged.verdict());
    if let Some(mark) = verify::consumes(route, &judged) {
        let key = UseKey::new(mark.key.0, mark.key.1);
        match state.first_use(&key, mark.remember).await {
            Ok(true) => {}
            Ok(false) => return Err(GatewayError::AlreadyUsed.into()),
            Err(_) => return Err(GatewayError::VerificationUnavailable.into()),
        }
    }
    verify::gate(route, judged.verdict())?;
    Ok(verify::annotate(
        rt.annotator(),
        route,
        &judged,
        &req,
        ctx.now,
    ))
}

/// What the decisions read of the request.
pub(super) fn request<'a>(req: &'a RequestHeader, body: &'a [u8]) -> Request<'a> {
    Request {
        method: req.method.as_str(),
        path: req.uri.path(),
        query: req.uri.query(),
        content_type: req
            .headers
            .get(http::header::CONTENT_TYPE)
            .map(HeaderValue::as_bytes),
        body,
    }
}

/// Resolves `id` from the cache or the route's API, timing it and counting the cache.
async fn resolve(
    state: &GatewayState,
    ctx: &mut RequestCtx,
    route: &Route,
    id: &ImpUid,
) -> Result<Resolved, GatewayError> {
    let asked = Instant::now();
    let resolution = state.resolver.resolve(route.provider(), id).await;
    ctx.api_time = Some(asked.elapsed());
    let (resolved, cache) = resolution.map_err(|_| GatewayError::VerificationUnavailable)?;
    ctx.cache = Some(cache);
    match cache {
        CacheStatus::Hit => state.metrics.cache_hits.inc(),
        CacheStatus::Miss => state.metrics.cache_misses.inc(),
    }
    Ok(resolved)
}
