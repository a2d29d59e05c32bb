//! Reading a callback route's body whole, before it is forwarded.
//!
//! The body is at most `max_body_bytes` (64 KiB at most), read with pingora's retry buffer
//! enabled so that pingora replays the exact bytes upstream. `Expect: 100-continue` is answered
//! first, and only when the declared length fits; a client trickling its body is cut off after
//! [`BODY_READ_BUDGET`].

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use pingora::proxy::Session;

use super::respond::Refusal;
use crate::error::GatewayError;

/// The time a callback route's whole body may take to arrive.
const BODY_READ_BUDGET: Duration = Duration::from_secs(10);

/// Reads the whole request body, refusing more than `max` bytes.
pub(super) async fn read(session: &mut Session, max: usize) -> Result<Bytes, Refusal> {
    let declared = session
        .req_header()
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(GatewayError::BodyTooLarge.into());
    }
    if session.is_body_empty() {
        return Ok(Bytes::new());
    }
    let expects_continue = session
        .req_header()
        .headers
        .get(http::header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    if expects_continue {
        session
            .as_downstream_mut()
            .write_continue_response()
            .await
            .map_err(Refusal::Broken)?;
    }
    // pingora replays what it buffered here to the upstream (up to 64 KiB, our maximum).
    session.enable_retry_buffering();
    let read = async {
        let mut body = BytesMut::new();
        while let Some(chunk) = session.read_request_body().await.map_err(Refusal::Broken)? {
            if body.len() + chunk.len() > max {
                return Err(GatewayError::BodyTooLarge.into());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    };
    // A client trickling its body cannot hold the request (and its slot) open for long.
    match tokio::time::timeout(BODY_READ_BUDGET, read).await {
        Ok(result) => result,
        Err(_) => Err(GatewayError::RequestTimeout.into()),
    }
}
