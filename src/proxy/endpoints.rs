//! The gateway's own paths under `/.verigate/` and requests under a gate.
//!
//! Sessions are not configurable yet, so nothing here is served: every endpoint answers 404
//! `not_found` (as an unknown `/.verigate/` path always will), and so would a gated request,
//! though no gate can exist yet. The verification page, the session callback, sign-out and
//! forward-auth plug in here.

use pingora::proxy::Session;

use super::ctx::RequestCtx;
use super::respond;
use crate::error::GatewayError;
use crate::metrics::RequestOutcome;
use crate::route::{Endpoint, Gate};

/// Answers one of the gateway's own paths; `Ok(true)`: the request is finished.
pub(super) async fn serve(
    session: &mut Session,
    ctx: &mut RequestCtx,
    endpoint: Endpoint,
) -> pingora::Result<bool> {
    match endpoint {
        Endpoint::VerifyPage
        | Endpoint::Callback
        | Endpoint::SignOut
        | Endpoint::Auth
        | Endpoint::ForwardAuth
        | Endpoint::Unknown => not_found(session, ctx).await,
    }
}

/// Answers a request under `gate`; `Ok(true)`: the request is finished.
pub(super) async fn gated(
    session: &mut Session,
    ctx: &mut RequestCtx,
    _gate: &Gate,
) -> pingora::Result<bool> {
    not_found(session, ctx).await
}

async fn not_found(session: &mut Session, ctx: &mut RequestCtx) -> pingora::Result<bool> {
    respond::refuse(
        session,
        ctx,
        GatewayError::NotFound,
        Some(RequestOutcome::Invalid),
    )
    .await
}
