//! The admin listener (README, "Operations"): health, readiness, Prometheus metrics and the JWKS.
//!
//! It runs as its own pingora service on `server.admin_listen`, separate from the proxied
//! traffic, and reads the same shared state as the proxy.

use std::sync::Arc;

use async_trait::async_trait;
use http::{Response, StatusCode};
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;

use crate::state::GatewayState;

/// The admin HTTP app.
pub struct Admin {
    state: Arc<GatewayState>,
}

impl Admin {
    /// The admin app over the gateway's shared state.
    pub fn new(state: Arc<GatewayState>) -> Self {
        Admin { state }
    }

    /// Status, content type and body for one admin request.
    pub async fn answer(
        &self,
        method: &http::Method,
        path: &str,
    ) -> (StatusCode, &'static str, Vec<u8>) {
        const JSON: &str = "application/json";
        if method != http::Method::GET && method != http::Method::HEAD {
            return (
                StatusCode::METHOD_NOT_ALLOWED,
                JSON,
                br#"{"error":"method_not_allowed"}"#.to_vec(),
            );
        }
        match path {
            "/healthz" => (StatusCode::OK, JSON, br#"{"status":"ok"}"#.to_vec()),
            "/readyz" => match self.state.not_ready() {
                Some((reason, detail)) => {
                    let mut body = serde_json::json!({ "status": "not_ready", "reason": reason });
                    if let Some(detail) = detail {
                        body["detail"] = detail.into();
                    }
                    (
                        StatusCode::SERVICE_UNAVAILABLE,
                        JSON,
                        body.to_string().into_bytes(),
                    )
                }
                None => (StatusCode::OK, JSON, br#"{"status":"ready"}"#.to_vec()),
            },
            "/metrics" => {
                let m = &self.state.metrics;
                let entries = self.state.resolver.entries().await;
                m.cache_entries
                    .set(i64::try_from(entries).unwrap_or(i64::MAX));
                (
                    StatusCode::OK,
                    "text/plain; version=0.0.4; charset=utf-8",
                    m.render(),
                )
            }
            "/.well-known/jwks.json" => {
                let jwks = self.state.runtime().jwks();
                (StatusCode::OK, JSON, jwks.to_string().into_bytes())
            }
            _ => (
                StatusCode::NOT_FOUND,
                JSON,
                br#"{"error":"not_found"}"#.to_vec(),
            ),
        }
    }
}

#[async_trait]
impl ServeHttp for Admin {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let req = session.req_header();
        let (status, content_type, body) = self.answer(&req.method, req.uri.path()).await;
        Response::builder()
            .status(status)
            .header(http::header::CONTENT_TYPE, content_type)
            .header(http::header::CONTENT_LENGTH, body.len())
            .header(http::header::CACHE_CONTROL, "no-store")
            .body(body)
            .unwrap_or_default()
    }
}
