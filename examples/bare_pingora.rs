//! The framework limit for `bench/`: a pingora 0.9 reverse proxy that does nothing but pick its
//! one upstream (`ProxyHttp` with only `upstream_peer`), built with the same pingora version and
//! features as verigate. Whatever verigate's passthrough costs beyond this is verigate's own.
//!
//! ```text
//! cargo run --release --example bare_pingora -- 127.0.0.1:6190 127.0.0.1:8080 [threads]
//! ```
//! Upstream connections are kept alive and reused (pingora's default pool), as verigate's are.

use std::net::SocketAddr;

use async_trait::async_trait;
use pingora::prelude::*;
use pingora::server::configuration::ServerConf;

struct Bare {
    upstream: SocketAddr,
}

#[async_trait]
impl ProxyHttp for Bare {
    type CTX = ();

    fn new_ctx(&self) {}

    async fn upstream_peer(&self, _session: &mut Session, _ctx: &mut ()) -> Result<Box<HttpPeer>> {
        Ok(Box::new(HttpPeer::new(self.upstream, false, String::new())))
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let usage = "usage: bare_pingora <listen addr> <upstream addr> [threads]";
    let listen = args.next().expect(usage);
    let upstream: SocketAddr = args.next().expect(usage).parse().expect(usage);
    let threads = args.next().map_or(1, |t| t.parse().expect(usage));

    let conf = ServerConf {
        threads,
        grace_period_seconds: Some(0),
        graceful_shutdown_timeout_seconds: Some(0),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    let mut proxy = http_proxy_service(&server.configuration, Bare { upstream });
    proxy.add_tcp(&listen);
    server.add_service(proxy);
    server.run_forever();
}
