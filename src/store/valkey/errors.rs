//! What a redis-rs error means for the gateway: a [`StoreError`] kind, never the error's text
//! (it may quote the server, or the URL).

use std::sync::Arc;

use redis::{ErrorKind, RedisError, ServerErrorKind};

use crate::store::StoreError;

/// What a redis-rs error means for the gateway. Its text is not kept: it may quote the server.
pub(super) fn classify(e: &RedisError) -> StoreError {
    if e.is_timeout() {
        return StoreError::Timeout;
    }
    match e.kind() {
        ErrorKind::AuthenticationFailed => return StoreError::AuthRejected,
        ErrorKind::Server(ServerErrorKind::NoPerm) => return StoreError::Denied,
        _ => {}
    }
    match e.code() {
        Some("NOAUTH" | "WRONGPASS") => return StoreError::AuthRejected,
        Some("NOPERM") => return StoreError::Denied,
        Some(code) => return StoreError::Server(server_code(code)),
        None => {}
    }
    if is_tls(e) {
        return StoreError::Tls;
    }
    match e.kind() {
        ErrorKind::Parse | ErrorKind::UnexpectedReturnType => StoreError::Server("unparseable"),
        _ => StoreError::Unreachable,
    }
}

/// The server's error codes worth naming in a log line; any other is `ERR`.
fn server_code(code: &str) -> &'static str {
    const KNOWN: [&str; 9] = [
        "READONLY",
        "MOVED",
        "ASK",
        "CLUSTERDOWN",
        "CROSSSLOT",
        "LOADING",
        "MASTERDOWN",
        "OOM",
        "EXECABORT",
    ];
    KNOWN.into_iter().find(|k| *k == code).unwrap_or("ERR")
}

/// Whether a rustls error is somewhere in `e`'s chain: a failed handshake (an untrusted
/// certificate, a server that does not speak TLS answering garbage).
fn is_tls(e: &RedisError) -> bool {
    use std::error::Error;
    fn tls_in(mut source: Option<&(dyn Error + 'static)>) -> bool {
        while let Some(s) = source {
            if s.is::<rustls::Error>() {
                return true;
            }
            // redis-rs keeps the cause as an `Arc<dyn Error>`; tokio-rustls wraps rustls's error
            // in an `io::Error`, whose `source` skips it.
            if let Some(inner) = s.downcast_ref::<Arc<dyn Error + Send + Sync>>() {
                return tls_in(Some(&**inner));
            }
            if let Some(io) = s.downcast_ref::<std::io::Error>()
                && io
                    .get_ref()
                    .is_some_and(|inner| inner.is::<rustls::Error>())
            {
                return true;
            }
            source = s.source();
        }
        false
    }
    tls_in(Some(e))
}
