//! [upstream] and [upstream.health_check]: the app's addresses (resolved here), timeouts.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use super::Checker;
use crate::config::raw::{RawUpstream, S};
use crate::config::types::{HealthCheck, UpstreamSettings};

impl Checker<'_> {
    pub(super) fn upstream(&mut self, raw: S<RawUpstream>) -> UpstreamSettings {
        let t = raw.span();
        let r = raw.into_inner();
        let mut addrs = Vec::new();
        if r.addrs.get_ref().is_empty() {
            self.error(
                &r.addrs.span(),
                &t,
                "`addrs` in [upstream] is empty: name at least one host:port of the app"
                    .to_string(),
            );
        }
        for a in r.addrs.get_ref() {
            let text = a.get_ref().trim();
            match text.to_socket_addrs() {
                Ok(found) => {
                    let found: Vec<SocketAddr> = found.collect();
                    // One entry is one backend: a name resolving to both families would
                    // otherwise double its share, and apps often listen on IPv4 only.
                    match found.iter().find(|x| x.is_ipv4()).or(found.first()) {
                        Some(addr) => addrs.push(*addr),
                        None => self.error(
                            &a.span(),
                            &t,
                            format!("`addrs` in [upstream]: `{text}` resolves to no address"),
                        ),
                    }
                }
                Err(e) => self.error(
                    &a.span(),
                    &t,
                    format!(
                        "`addrs` in [upstream]: `{text}` is not a reachable host:port \
                         (such as 127.0.0.1:3000 or app.internal:3000): {e}"
                    ),
                ),
            }
        }
        let connect_timeout = self.positive_ms(
            &r.connect_timeout_ms,
            &t,
            "`connect_timeout_ms` in [upstream]",
        );
        let read_timeout =
            self.positive_ms(&r.read_timeout_ms, &t, "`read_timeout_ms` in [upstream]");
        let health_check = r.health_check.map(|hc| {
            let ht = hc.span();
            let hc = hc.into_inner();
            if !hc.path.get_ref().starts_with('/') {
                self.error(
                    &hc.path.span(),
                    &ht,
                    "`path` in [upstream.health_check] must start with `/`".to_string(),
                );
            }
            if *hc.interval_secs.get_ref() == 0 {
                self.error(
                    &hc.interval_secs.span(),
                    &ht,
                    "`interval_secs` in [upstream.health_check] must be at least 1".to_string(),
                );
            }
            HealthCheck {
                path: hc.path.into_inner(),
                interval: Duration::from_secs(*hc.interval_secs.get_ref()),
            }
        });
        UpstreamSettings {
            addrs,
            tls: r.tls,
            sni: r.sni.trim().to_string(),
            connect_timeout,
            read_timeout,
            health_check,
            ca_file: Some(r.ca_file.trim())
                .filter(|f| !f.is_empty())
                .map(PathBuf::from),
        }
    }
}
