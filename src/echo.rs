//! A small echo app standing for the legacy app behind the gateway (demo, tests, benchmarks).
//!
//! It answers every request with JSON describing what it received — method, path, query,
//! headers, body length and SHA-256 — and keeps the received requests so a test can assert what
//! the app saw, and what it never saw.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::response::{IntoResponse, Response};
use base64::Engine;

/// One request as the app received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// Header names lower-case, values as bytes, in arrival order.
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Bytes,
}

impl Received {
    /// The first value of header `name` (lower-case) as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }
}

/// The echo app's shared state.
#[derive(Clone, Default)]
pub struct Echo {
    received: Arc<Mutex<Vec<Received>>>,
    /// Keep only the last request's body when false (benchmarks), else every request.
    record_all: bool,
}

impl Echo {
    /// An echo app that records every request (for tests and the demo).
    pub fn recording() -> Self {
        Echo {
            received: Arc::default(),
            record_all: true,
        }
    }

    /// An echo app that records nothing (for benchmarks).
    pub fn quiet() -> Self {
        Echo::default()
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Binds `addr` (port 0 for any), serves in the background and returns the bound address.
    pub async fn spawn(&self, addr: SocketAddr) -> std::io::Result<SocketAddr> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let bound = listener.local_addr()?;
        let app = self.router();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(bound)
    }

    fn router(&self) -> Router {
        Router::new()
            .fallback(echo)
            .layer(DefaultBodyLimit::disable())
            .with_state(self.clone())
    }
}

async fn echo(State(state): State<Echo>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body: Bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(_) => return (http::StatusCode::BAD_REQUEST, "unreadable body").into_response(),
    };
    let received = Received {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.as_bytes().to_vec()))
            .collect(),
        body,
    };
    let json = describe(&received);
    if state.record_all
        && let Ok(mut r) = state.received.lock()
    {
        r.push(received);
    }
    axum::Json(json).into_response()
}

/// The JSON the echo app answers with.
fn describe(r: &Received) -> serde_json::Value {
    let body_sha256 = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &r.body);
    let headers: serde_json::Map<String, serde_json::Value> = r
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), String::from_utf8_lossy(v).into_owned().into()))
        .collect();
    serde_json::json!({
        "method": r.method,
        "path": r.path,
        "query": r.query,
        "headers": headers,
        "body_len": r.body.len(),
        "body_sha256": base64::engine::general_purpose::STANDARD.encode(body_sha256),
    })
}
