//! The origin (`scheme://host[:port]`) that verigate's absolute URLs start with: the callback
//! URL the verification page hands the SDK for redirect mode (`m_redirect_url`, `redirectUrl`)
//! and the `Location` forward-auth sends (Traefik resolves a relative one against verigate's own
//! address, not the browser's).
//!
//! `session.public_url` wins when it is set. Otherwise the origin is the request's: the
//! `X-Forwarded-Proto` and `X-Forwarded-Host` of a trusted proxy, else the listener's scheme and
//! the `Host` header. Whatever the source, an [`Origin`] holds only a scheme (`http` or `https`)
//! and a checked host and port, so a forged header can never put a path, a second URL, a quote
//! or a line break into a `Location` or a page.

use std::fmt;

/// Longest host (with port) accepted.
const MAX_HOST_LEN: usize = 255;

/// `http://` or `https://` and a host, lower-case, without a trailing `/`.
#[derive(Clone, PartialEq, Eq)]
pub struct Origin(Box<str>);

/// Why `public_url` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OriginError {
    #[error("must start with https:// or http://")]
    Scheme,
    #[error(
        "must be a scheme and a host only (e.g. \"https://shop.example\"): no path, query, \
         fragment or user name"
    )]
    NotAnOrigin,
    #[error("the host is not a valid host name, IPv4 or [IPv6] address with an optional port")]
    Host,
}

impl Origin {
    /// `session.public_url` as configured: `https://shop.example`, a trailing `/` allowed.
    pub fn parse_public_url(url: &str) -> Result<Origin, OriginError> {
        let (scheme, rest) = url.split_once("://").ok_or(OriginError::Scheme)?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "https" && scheme != "http" {
            return Err(OriginError::Scheme);
        }
        let host = rest.strip_suffix('/').unwrap_or(rest);
        if host.contains(['/', '?', '#', '@']) {
            return Err(OriginError::NotAnOrigin);
        }
        Origin::new(&scheme, host).ok_or(OriginError::Host)
    }

    /// The origin a request names: `proto` `http` or `https` (any case) and `host` a host with
    /// an optional port, as a `Host` or `X-Forwarded-Host` header carries them.
    pub fn from_request(proto: &str, host: &str) -> Option<Origin> {
        let proto = proto.trim();
        let scheme = if proto.eq_ignore_ascii_case("https") {
            "https"
        } else if proto.eq_ignore_ascii_case("http") {
            "http"
        } else {
            return None;
        };
        Origin::new(scheme, host.trim())
    }

    fn new(scheme: &str, host: &str) -> Option<Origin> {
        valid_host(host)
            .then(|| Origin(format!("{scheme}://{}", host.to_ascii_lowercase()).into_boxed_str()))
    }

    /// The origin itself, e.g. `https://shop.example`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The absolute URL of a local `path_and_query` (which starts with `/`).
    pub fn url(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.0)
    }
}

impl fmt::Debug for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Origin").field(&self.0).finish()
    }
}

/// A host name (letters, digits, `-`, `.`, `_`), an IPv4 address or a bracketed IPv6 address,
/// then optionally `:` and a port of 1 to 5 digits.
fn valid_host(host: &str) -> bool {
    if host.is_empty() || host.len() > MAX_HOST_LEN {
        return false;
    }
    let (name_ok, after) = if let Some(v6) = host.strip_prefix('[') {
        let Some((inside, after)) = v6.split_once(']') else {
            return false;
        };
        let ok = !inside.is_empty()
            && inside
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
        (ok, after)
    } else {
        let (name, after) = host.find(':').map_or((host, ""), |i| host.split_at(i));
        let ok = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
        (ok, after)
    };
    let port_ok = after.is_empty()
        || after.strip_prefix(':').is_some_and(|p| {
            (1..=5).contains(&p.len())
                && p.bytes().all(|b| b.is_ascii_digit())
                && p.parse::<u16>().is_ok()
        });
    name_ok && port_ok
}
