//! [server] and [server.tls]: listeners (and their collisions, the admin listener's too), threads,
//! the body limit, trusted proxies, the runtime files.

use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{Checker, place};
use crate::config::raw::{RawServer, RawTls, S};
use crate::config::types::{AccessLogTarget, ServerSettings, TlsSettings};
use crate::config::{DEFAULT_RUNTIME_DIR, MAX_BODY_BYTES_LIMIT};
use crate::forwarded::TrustedProxies;

/// The three kinds of listener, validated.
struct Listeners {
    listen: Vec<SocketAddr>,
    tls: Option<TlsSettings>,
    admin: Option<SocketAddr>,
}

impl Checker<'_> {
    pub(super) fn server(&mut self, raw: S<RawServer>) -> ServerSettings {
        let t = raw.span();
        let mut r = raw.into_inner();
        let listeners = self.listeners(&mut r, &t);
        let threads = *r.threads.get_ref();
        if threads == 0 {
            self.error(
                &r.threads.span(),
                &t,
                "`threads` in [server] must be at least 1".to_string(),
            );
        }
        let max_body = *r.max_body_bytes.get_ref();
        if !(1..=MAX_BODY_BYTES_LIMIT as u64).contains(&max_body) {
            self.error(
                &r.max_body_bytes.span(),
                &t,
                format!(
                    "`max_body_bytes` in [server] must be between 1 and {MAX_BODY_BYTES_LIMIT}, \
                     not {max_body}: pingora 0.9 keeps at most 64 KiB of a request body to \
                     replay it upstream"
                ),
            );
        }
        let trusted_proxies = self.trusted_proxies(&r.trusted_proxies, &t);
        ServerSettings {
            listen: listeners.listen,
            tls: listeners.tls,
            threads: usize::try_from(threads).unwrap_or(usize::MAX),
            admin_listen: listeners.admin,
            max_body_bytes: usize::try_from(max_body).unwrap_or(MAX_BODY_BYTES_LIMIT),
            grace_period: Duration::from_secs(*r.grace_period_secs.get_ref()),
            pid_file: self.runtime_file(r.pid_file.get_ref(), "verigate.pid"),
            upgrade_sock: self.runtime_file(r.upgrade_sock.get_ref(), "upgrade.sock"),
            access_log: match r.access_log.get_ref().as_str() {
                "stdout" | "" => AccessLogTarget::Stdout,
                "off" => AccessLogTarget::Off,
                path => AccessLogTarget::File(PathBuf::from(path)),
            },
            trusted_proxies,
        }
    }

    /// The plain, HTTPS and admin listeners: each a valid address, no two on one socket.
    fn listeners(&mut self, r: &mut RawServer, t: &Range<usize>) -> Listeners {
        // (address, span) of every listener, to catch two of them on one socket.
        let mut bound: Vec<(SocketAddr, Range<usize>)> = Vec::new();
        let mut listen = Vec::new();
        for a in r.listen.get_ref() {
            if let Some(addr) = self.socket_addr(a, t, "`listen` in [server]") {
                listen.push(addr);
                bound.push((addr, a.span()));
            }
        }
        let tls = r.tls.take().map(|tls| self.tls(tls, &mut bound));
        if r.listen.get_ref().is_empty() && tls.is_none() {
            self.error(
                &r.listen.span(),
                t,
                "`listen` in [server] is empty and there is no [server.tls]: the gateway would \
                 accept no connections"
                    .to_string(),
            );
        }
        // Kept present by default; `admin_listen = ""` is the way to turn it off.
        let admin = if r.admin_listen.get_ref().trim().is_empty() {
            None
        } else {
            let addr = self.socket_addr(
                &r.admin_listen,
                t,
                "`admin_listen` in [server] (\"\" turns it off)",
            );
            if let Some(addr) = addr {
                bound.push((addr, r.admin_listen.span()));
            }
            addr
        };
        self.collisions(&bound, t);
        Listeners { listen, tls, admin }
    }

    fn tls(&mut self, raw: S<RawTls>, bound: &mut Vec<(SocketAddr, Range<usize>)>) -> TlsSettings {
        let tt = raw.span();
        let tls = raw.into_inner();
        let addr = self.socket_addr(&tls.listen, &tt, "`listen` in [server.tls]");
        if let Some(addr) = addr {
            bound.push((addr, tls.listen.span()));
        }
        self.non_empty(&tls.cert, &tt, "`cert` in [server.tls]");
        self.non_empty(&tls.key, &tt, "`key` in [server.tls]");
        TlsSettings {
            listen: addr.unwrap_or(SocketAddr::from(([0, 0, 0, 0], 8443))),
            cert: PathBuf::from(tls.cert.into_inner()),
            key: PathBuf::from(tls.key.into_inner()),
        }
    }

    /// Two listeners on one address (port 0 excepted) are an error at the second.
    fn collisions(&mut self, bound: &[(SocketAddr, Range<usize>)], t: &Range<usize>) {
        for (i, (addr, span)) in bound.iter().enumerate() {
            // Port 0 asks the OS for a fresh port each time, so it never collides.
            let earlier = bound[..i].iter().find(|(a, _)| a == addr);
            if let (true, Some((_, first))) = (addr.port() != 0, earlier) {
                let line = self.line(place(first, t));
                self.error(
                    span,
                    t,
                    format!(
                        "{addr} is already a listener (line {line}); each listener in [server] \
                         needs its own address"
                    ),
                );
            }
        }
    }

    fn trusted_proxies(&mut self, entries: &S<Vec<S<String>>>, t: &Range<usize>) -> TrustedProxies {
        let mut trusted = Vec::new();
        for entry in entries.get_ref() {
            match TrustedProxies::parse_entry(entry.get_ref()) {
                Some(net) => trusted.push(net),
                None => self.error(
                    &entry.span(),
                    t,
                    format!(
                        "`trusted_proxies` in [server]: `{}` is not an IP address or CIDR such \
                         as 192.0.2.7, 10.0.0.0/8 or fd00::/8",
                        entry.get_ref()
                    ),
                ),
            }
        }
        TrustedProxies::new(trusted)
    }

    /// `written`, or `name` in the default runtime directory when the key is left out or `""`:
    /// `$RUNTIME_DIRECTORY` (systemd's `RuntimeDirectory=`; its first entry), else `run/`
    /// beside the config file (resolved by `load`). Never `/tmp`: whoever can bind the
    /// upgrade socket there receives the listening sockets.
    fn runtime_file(&self, written: &str, name: &str) -> PathBuf {
        let written = written.trim();
        if !written.is_empty() {
            return PathBuf::from(written);
        }
        match (self.env)("RUNTIME_DIRECTORY") {
            Some(dirs) if !dirs.trim().is_empty() => {
                PathBuf::from(dirs.split(':').next().unwrap_or_default()).join(name)
            }
            _ => Path::new(DEFAULT_RUNTIME_DIR).join(name),
        }
    }
}
