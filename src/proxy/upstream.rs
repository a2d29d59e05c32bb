//! The app behind the gateway: which backend a request goes to, and when a failed connect is
//! retried.

use pingora::ErrorType;
use pingora::prelude::HttpPeer;

use crate::state::GatewayState;

/// The next healthy backend, round-robin, with the configured timeouts.
pub(super) fn peer(state: &GatewayState) -> pingora::Result<Box<HttpPeer>> {
    let up = state.upstream();
    // Round-robin over the backends the health checks consider up.
    let Some(backend) = state.upstreams().select(b"", 256) else {
        return Err(pingora::Error::new_up(ErrorType::ConnectNoRoute));
    };
    let mut peer = HttpPeer::new(backend, up.tls, up.sni.clone());
    peer.options.connection_timeout = Some(up.connect_timeout);
    peer.options.read_timeout = Some(up.read_timeout);
    Ok(Box::new(peer))
}

/// Whether a request whose connect failed `attempts` times may try again: each upstream
/// address once.
pub(super) fn may_retry(state: &GatewayState, attempts: usize) -> bool {
    attempts < state.upstream().addrs.len()
}
