//! Stand-ins for the browser SDKs (placeholder).

use axum::Router;

use super::Sandbox;

/// The stand-ins' routes.
pub(super) fn routes() -> Router<Sandbox> {
    Router::new()
}
