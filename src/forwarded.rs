//! Forwarding headers (README, "Forwarding headers"): what the app learns about the client and the hop.
//!
//! verigate appends the TCP peer to `X-Forwarded-For` and sets `X-Forwarded-Proto` (by
//! listener) and `X-Forwarded-Host` (the request's authority). What a client sent under the
//! forwarding names is believed only from a peer in `server.trusted_proxies`: from anyone else
//! every `X-Forwarded-*` and `Forwarded` header is removed before verigate sets its own, so an
//! app that reads them reads verigate's word. Names are matched as the app reads them (see
//! [`headers::app_reading`]): `X_Forwarded_For` is `HTTP_X_FORWARDED_FOR` to PHP, so such
//! spellings are removed even from a trusted peer, which would send the plain one.
//!
//! Pure: the peer, the listener's scheme and the trusted set come in as arguments.

use std::net::{IpAddr, SocketAddr};

use http::{HeaderName, HeaderValue};
use ipnet::IpNet;
use pingora::http::RequestHeader;

use crate::headers;

/// `server.trusted_proxies`: the peers whose forwarding headers are believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// The set of these networks (a single address is a /32 or /128).
    pub fn new(nets: Vec<IpNet>) -> Self {
        TrustedProxies(nets)
    }

    /// Reads one `trusted_proxies` entry: an address (`192.0.2.7`, `::1`) or a CIDR
    /// (`10.0.0.0/8`; host bits are ignored).
    pub fn parse_entry(s: &str) -> Option<IpNet> {
        let s = s.trim();
        s.parse::<IpNet>()
            .map(|n| n.trunc())
            .or_else(|_| s.parse::<IpAddr>().map(|ip| IpNet::from(ip.to_canonical())))
            .ok()
    }

    /// Whether `ip` is in one of the networks (an IPv4-mapped IPv6 address counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// No peer is trusted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The networks, as written back by `verigate check`.
    pub fn nets(&self) -> &[IpNet] {
        &self.0
    }
}

/// The connection a request came in on.
#[derive(Debug, Clone, Copy)]
pub struct Hop {
    /// The TCP peer; `None` when it is not an IP socket.
    pub peer: Option<IpAddr>,
    /// Whether the listener is the TLS one.
    pub https: bool,
}

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// Whether `name` is one of the forwarding headers, read as the app reads it.
fn is_forwarding(name: &str) -> bool {
    headers::reads_as_prefixed(name, "x-forwarded-") || headers::reads_as(name, "forwarded")
}

/// One `X-Forwarded-For` element as an address: `192.0.2.7`, `2001:db8::1`, or with a port
/// (`192.0.2.7:5000`, `[2001:db8::1]:5000`) as some proxies write it.
fn element_ip(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    s.parse::<IpAddr>()
        .or_else(|_| s.parse::<SocketAddr>().map(|a| a.ip()))
        .ok()
        .map(|ip| ip.to_canonical())
}

/// The client verigate believes in: the rightmost element of `chain` that is not a trusted
/// proxy. An element that is not an address stops the walk at the trusted proxy that passed it
/// on (whatever lies left of it cannot be told apart from a forgery).
fn believed_client(chain: &str, trusted: &TrustedProxies) -> Option<String> {
    let mut last_trusted = None;
    for element in chain.rsplit(',').map(str::trim).filter(|e| !e.is_empty()) {
        match element_ip(element) {
            Some(ip) if trusted.contains(ip) => last_trusted = Some(ip),
            Some(ip) => return Some(ip.to_string()),
            None => break,
        }
    }
    last_trusted.map(|ip| ip.to_string())
}

/// Rewrites the forwarding headers of `req` for the hop it came in on; returns the believed
/// client (for the access log), `None` when there is no peer address.
pub fn apply(req: &mut RequestHeader, hop: Hop, trusted: &TrustedProxies) -> Option<String> {
    rewrite(req, hop, trusted);
    client(req, trusted)
}

/// The client verigate believes in, read from the `X-Forwarded-For` that [`rewrite`] left on
/// `req`. Only the access log needs it, so the proxy asks only when it writes one.
pub fn client(req: &RequestHeader, trusted: &TrustedProxies) -> Option<String> {
    let chain = req.headers.get(&X_FORWARDED_FOR)?.to_str().ok()?;
    believed_client(chain, trusted)
}

/// Rewrites the forwarding headers of `req` for the hop it came in on (README, "Forwarding
/// headers").
pub fn rewrite(req: &mut RequestHeader, hop: Hop, trusted: &TrustedProxies) {
    let peer = hop.peer.map(|ip| ip.to_canonical());
    let believed = peer.is_some_and(|ip| trusted.contains(ip));

    // What a trusted peer already said (the plain spellings only).
    let prior_chain = if believed {
        let values: Vec<&str> = req
            .headers
            .get_all(&X_FORWARDED_FOR)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .collect();
        (!values.is_empty()).then(|| values.join(", "))
    } else {
        None
    };
    let keep_proto = believed && req.headers.contains_key(&X_FORWARDED_PROTO);
    let keep_host = believed && req.headers.contains_key(&X_FORWARDED_HOST);

    let doomed: Vec<HeaderName> = req
        .headers
        .keys()
        .filter(|name| {
            let name = name.as_str();
            is_forwarding(name) && (!believed || !app_spelling_is_plain(name))
        })
        .cloned()
        .collect();
    for name in doomed {
        req.remove_header(&name);
    }

    let chain = match (prior_chain, peer) {
        (Some(prior), Some(ip)) => Some(format!("{prior}, {ip}")),
        (None, Some(ip)) => Some(ip.to_string()),
        (Some(prior), None) => Some(prior),
        (None, None) => None,
    };
    if let Some(chain) = chain.and_then(|c| HeaderValue::try_from(c).ok()) {
        // Cannot fail: the name is valid and the value was checked above.
        let _ = req.insert_header(X_FORWARDED_FOR, chain);
    }
    if !keep_proto {
        let proto = if hop.https { "https" } else { "http" };
        let _ = req.insert_header(X_FORWARDED_PROTO, HeaderValue::from_static(proto));
    }
    if !keep_host && let Some(host) = authority(req) {
        let _ = req.insert_header(X_FORWARDED_HOST, host);
    }
}

/// Whether a (lower-case) header name is already what the app reads it as: only `a-z0-9-`.
fn app_spelling_is_plain(name: &str) -> bool {
    headers::app_reading(name).eq(name.bytes())
}

/// The request's authority: the URI's (absolute form, HTTP/2 `:authority`), else `Host`.
fn authority(req: &RequestHeader) -> Option<HeaderValue> {
    match req.uri.authority() {
        Some(a) => HeaderValue::from_str(a.as_str()).ok(),
        None => req.headers.get(http::header::HOST).cloned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trusted(entries: &[&str]) -> TrustedProxies {
        TrustedProxies::new(
            entries
                .iter()
                .map(|e| TrustedProxies::parse_entry(e).unwrap())
                .collect(),
        )
    }

    fn request(headers: &[(&str, &str)]) -> RequestHeader {
        let mut req = RequestHeader::build("GET", b"/x", None).unwrap();
        for (k, v) in headers {
            req.append_header(k.to_string(), *v).unwrap();
        }
        req
    }

    fn values(req: &RequestHeader, name: &str) -> Vec<String> {
        req.headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }

    fn forwarding_names(req: &RequestHeader) -> Vec<String> {
        let mut names: Vec<String> = req
            .headers
            .keys()
            .map(|k| k.as_str().to_owned())
            .filter(|k| is_forwarding(k))
            .collect();
        names.sort();
        names
    }

    const PEER: Hop = Hop {
        peer: Some(IpAddr::V4(std::net::Ipv4Addr::new(203, 0, 113, 9))),
        https: false,
    };

    fn forged() -> Vec<(&'static str, &'static str)> {
        vec![
            ("host", "shop.example"),
            ("x-forwarded-for", "1.2.3.4"),
            ("X-Forwarded-For", "5.6.7.8"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "evil.example"),
            ("x-forwarded-port", "443"),
            ("x-forwarded-prefix", "/admin"),
            ("forwarded", "for=1.2.3.4;proto=https"),
            ("x_forwarded_for", "9.9.9.9"),
            ("X.Forwarded.Host", "evil.example"),
            ("x-forwarded~uri", "/x"),
        ]
    }

    #[test]
    fn an_untrusted_peer_gets_only_verigates_forwarding_headers() {
        let mut req = request(&forged());
        let client = apply(&mut req, PEER, &trusted(&["10.0.0.0/8"]));
        assert_eq!(client.as_deref(), Some("203.0.113.9"));
        assert_eq!(values(&req, "x-forwarded-for"), ["203.0.113.9"]);
        assert_eq!(values(&req, "x-forwarded-proto"), ["http"]);
        assert_eq!(values(&req, "x-forwarded-host"), ["shop.example"]);
        assert_eq!(
            forwarding_names(&req),
            ["x-forwarded-for", "x-forwarded-host", "x-forwarded-proto"]
        );
        // Nothing else is touched.
        assert_eq!(values(&req, "host"), ["shop.example"]);
    }

    #[test]
    fn a_trusted_peer_keeps_its_plain_headers_and_gets_itself_appended() {
        let mut req = request(&forged());
        let hop = Hop {
            peer: Some("10.1.2.3".parse().unwrap()),
            https: false,
        };
        let client = apply(&mut req, hop, &trusted(&["10.0.0.0/8"]));
        assert_eq!(
            values(&req, "x-forwarded-for"),
            ["1.2.3.4, 5.6.7.8, 10.1.2.3"]
        );
        assert_eq!(client.as_deref(), Some("5.6.7.8"));
        assert_eq!(values(&req, "x-forwarded-proto"), ["https"]);
        assert_eq!(values(&req, "x-forwarded-host"), ["evil.example"]);
        assert_eq!(values(&req, "forwarded"), ["for=1.2.3.4;proto=https"]);
        // Spellings only an app's variable mangling would merge are never believed.
        assert_eq!(
            forwarding_names(&req),
            [
                "forwarded",
                "x-forwarded-for",
                "x-forwarded-host",
                "x-forwarded-port",
                "x-forwarded-prefix",
                "x-forwarded-proto"
            ]
        );
    }

    #[test]
    fn a_trusted_peer_without_headers_gets_verigates() {
        let mut req = request(&[("host", "shop.example")]);
        let hop = Hop {
            peer: Some("::ffff:10.0.0.1".parse().unwrap()),
            https: true,
        };
        let client = apply(&mut req, hop, &trusted(&["10.0.0.1"]));
        assert_eq!(values(&req, "x-forwarded-for"), ["10.0.0.1"]);
        assert_eq!(client.as_deref(), Some("10.0.0.1"));
        assert_eq!(values(&req, "x-forwarded-proto"), ["https"]);
        assert_eq!(values(&req, "x-forwarded-host"), ["shop.example"]);
    }

    #[test]
    fn the_believed_client_is_the_rightmost_untrusted_address() {
        let t = trusted(&["10.0.0.0/8", "2001:db8::/32"]);
        let cases = [
            ("198.51.100.1, 10.0.0.2", Some("198.51.100.1")),
            (
                "6.6.6.6, 198.51.100.1, 10.0.0.2, 10.0.0.3",
                Some("198.51.100.1"),
            ),
            ("198.51.100.1:4711, 10.0.0.2", Some("198.51.100.1")),
            ("[2001:db9::1]:80, 2001:db8::5", Some("2001:db9::1")),
            ("10.0.0.5, 10.0.0.2", Some("10.0.0.5")),
            ("6.6.6.6, unknown, 10.0.0.2", Some("10.0.0.2")),
            ("6.6.6.6,,  ,10.0.0.2", Some("6.6.6.6")),
            ("", None),
        ];
        for (chain, want) in cases {
            assert_eq!(believed_client(chain, &t).as_deref(), want, "{chain}");
        }
    }

    #[test]
    fn http2_authority_is_the_forwarded_host() {
        let mut req = RequestHeader::build("GET", b"/x", None).unwrap();
        req.set_uri("https://shop.example:8443/x".parse().unwrap());
        apply(&mut req, PEER, &TrustedProxies::default());
        assert_eq!(values(&req, "x-forwarded-host"), ["shop.example:8443"]);
        // No authority, no Host: nothing is made up.
        let mut bare = RequestHeader::build("GET", b"/x", None).unwrap();
        apply(&mut bare, PEER, &TrustedProxies::default());
        assert!(values(&bare, "x-forwarded-host").is_empty());
    }

    #[test]
    fn entries_are_addresses_or_cidrs() {
        assert_eq!(
            TrustedProxies::parse_entry("10.1.2.3/8"),
            "10.0.0.0/8".parse().ok()
        );
        assert_eq!(
            TrustedProxies::parse_entry(" 192.0.2.7 "),
            "192.0.2.7/32".parse().ok()
        );
        assert_eq!(TrustedProxies::parse_entry("::1"), "::1/128".parse().ok());
        for bad in ["", "10.0.0.0/33", "localhost", "10.0.0", "1.2.3.4:80"] {
            assert_eq!(TrustedProxies::parse_entry(bad), None, "{bad}");
        }
        let t = trusted(&["::ffff:10.0.0.1"]);
        assert!(t.contains("10.0.0.1".parse().unwrap()));
    }
}
