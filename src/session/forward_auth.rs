//! Forward-auth (docs/sessions.md, "Forward-auth"): verigate behind nginx, Traefik, Caddy or Envoy,
//! answering only "may this request pass?".
//!
//! | endpoint | session, `allow` | session, `deny` | no session |
//! |---|---|---|---|
//! | `/.verigate/auth?gate=NAME` (nginx `auth_request`, Envoy) | 200 + identity headers | 403 | 401 + `x-verigate-redirect` |
//! | `/.verigate/forward-auth?gate=NAME` (Traefik, Caddy) | 200 + identity headers | 403 (page) | browser `GET`/`HEAD`: 302, absolute `Location`; else 401 |
//!
//! `/auth` never answers 3xx (nginx turns it into a 500) and nothing answers 202 (Envoy reads
//! it as a denial). The gate is named by `?gate=`, never re-derived from the forwarded URI: the
//! edge already chose what to protect (a missing or repeated `gate` is 400 `missing_gate`, an
//! unknown one 404 `unknown_gate`: the edge refuses the request either way). The original
//! request comes from `X-Original-URI` (nginx) or `X-Forwarded-{Uri,Method,Host,Proto}`
//! (Traefik, Caddy), believed only from a trusted proxy; it only decides where the visitor
//! returns after verifying and, for `/forward-auth`, whether the request is a navigation. The
//! identity headers travel as response headers; the edge copies them to the app
//! (`auth_request_set`, `authResponseHeaders`, `copy_headers`). The caller adds the JWT
//! assertion (from [`AuthAnswer::original`]) when `[signing] jwt` is on: verigate never sees
//! the upstream request, so there is no RFC 9421 signature here.

use http::{HeaderMap, HeaderName, HeaderValue};
use jiff::Timestamp;

use super::origin::Origin;
use super::redirect::{local_target, verify_location};
use super::refusal::Refusal;
use super::{Session, is_navigation};
use crate::error::{GatewayError, prefers_html};
use crate::headers::{HeaderList, HeaderNames, annotate_for};
use crate::policy::{Judgement, Policy, Verdict};

/// `/.verigate/auth`.
pub const AUTH_PATH: &str = "/.verigate/auth";
/// `/.verigate/forward-auth`.
pub const FORWARD_AUTH_PATH: &str = "/.verigate/forward-auth";

/// The header naming the verification page on a 401, for the edge's `error_page 401`.
pub const REDIRECT_HEADER: HeaderName = HeaderName::from_static("x-verigate-redirect");

/// Which forward-auth contract a request speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `/.verigate/auth`: a yes/no oracle (2xx, 401, 403), never a redirect.
    Auth,
    /// `/.verigate/forward-auth`: redirects a browser itself.
    ForwardAuth,
}

impl Endpoint {
    /// The endpoint at a normalised path, if it is one.
    pub fn from_path(path: &str) -> Option<Endpoint> {
        match path {
            AUTH_PATH => Some(Endpoint::Auth),
            FORWARD_AUTH_PATH => Some(Endpoint::ForwardAuth),
            _ => None,
        }
    }
}

/// The forward-auth request as verigate received it from the edge.
#[derive(Debug, Clone, Copy)]
pub struct AuthRequest<'a> {
    pub endpoint: Endpoint,
    /// The auth request's own method (nginx always sends `GET`).
    pub method: &'a str,
    /// The auth request's query, without `?` (where `gate=` is).
    pub query: Option<&'a str>,
    /// The request's headers: `Cookie` (opened by the caller), `Accept`, `Host` (over HTTP/2
    /// the caller puts the `:authority` there), and the forwarded ones.
    pub headers: &'a HeaderMap,
    /// Whether the TCP peer is in `server.trusted_proxies`: only then are the forwarded
    /// headers believed.
    pub trusted_peer: bool,
    /// Whether it came in on the TLS listener.
    pub https: bool,
}

/// What the edge said about the request it is asking for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Original {
    /// Its method (`X-Forwarded-Method` or `X-Original-Method` from a trusted proxy, else the
    /// auth request's own).
    pub method: String,
    /// Its normalised local path and query, `/` when unknown or not a local target.
    pub target: String,
}

impl Original {
    /// The path part of [`Original::target`].
    pub fn path(&self) -> &str {
        self.target.split_once('?').map_or(&self.target, |(p, _)| p)
    }

    /// The query part of [`Original::target`], without `?`.
    pub fn query(&self) -> Option<&str> {
        self.target.split_once('?').map(|(_, q)| q)
    }
}

/// The configuration forward-auth answers with.
#[derive(Debug, Clone, Copy)]
pub struct AuthSettings<'a> {
    pub names: &'a HeaderNames,
    /// `session.public_url`, when set.
    pub public_url: Option<&'a Origin>,
}

/// The answer: status, headers to add, and the body's refusal for a 4xx.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthAnswer {
    pub status: u16,
    /// On 200 the identity headers (in the order of the forwarded ones); on 401
    /// `x-verigate-redirect`; on 302 `location` and `x-verigate-redirect`.
    pub headers: HeaderList,
    /// The body of a 4xx, rendered as a Korean page when [`AuthAnswer::html`], else JSON.
    pub refusal: Option<Refusal>,
    /// Whether the browser prefers `text/html`.
    pub html: bool,
    pub original: Original,
    /// The gate's judgement of the session, when there was one.
    pub judgement: Option<Judgement>,
}

/// The gate named by the auth request's query: exactly one non-empty `gate` parameter.
pub fn gate_name(query: Option<&str>) -> Result<String, GatewayError> {
    let mut names = query
        .into_iter()
        .flat_map(|q| form_urlencoded::parse(q.as_bytes()))
        .filter(|(k, _)| k == "gate")
        .map(|(_, v)| v);
    match (names.next(), names.next()) {
        (Some(name), None) if !name.is_empty() => Ok(name.into_owned()),
        _ => Err(GatewayError::MissingGate),
    }
}

/// The answer to a forward-auth request. `gate` finds the policy of a gate by name (`None`:
/// not configured); `session` is the one the forwarded `Cookie` opened, if any.
pub fn answer<'p>(
    req: &AuthRequest<'_>,
    gate: impl FnOnce(&str) -> Option<&'p Policy>,
    session: Option<&Session>,
    settings: &AuthSettings<'_>,
    now: Timestamp,
) -> AuthAnswer {
    let original = original(req);
    let html = prefers_html(req.headers.get(http::header::ACCEPT).map(|v| v.as_bytes()));
    let mut out = AuthAnswer {
        status: 200,
        headers: HeaderList::new(),
        refusal: None,
        html,
        original,
        judgement: None,
    };
    let policy = match gate_name(req.query).and_then(|n| gate(&n).ok_or(GatewayError::UnknownGate))
    {
        Ok(policy) => policy,
        Err(e) => return out.refuse(Refusal::new(e)),
    };
    if let Some(session) = session {
        let judgement = policy.judge_session(&session.identity, now);
        out.judgement = Some(judgement);
        match judgement.verdict {
            Verdict::Allow => {
                let a = super::gate::annotation(session, policy, judgement);
                out.headers = annotate_for(settings.names, session.provider.name(), &a);
                return out;
            }
            Verdict::Deny(_) => {
                return out.refuse(Refusal::new(GatewayError::AgeRequirementNotMet));
            }
            // A session only ever holds a certified person; anything else is no session.
            Verdict::Unverified(_) => out.judgement = None,
        }
    }
    no_session(out, req, settings)
}

impl AuthAnswer {
    fn refuse(mut self, refusal: Refusal) -> AuthAnswer {
        self.status = refusal.error.status();
        self.refusal = Some(refusal);
        self
    }
}

/// 401 with the verification page in `x-verigate-redirect`, or for a browser navigation on
/// `/forward-auth` a 302 to its absolute URL.
fn no_session(
    mut out: AuthAnswer,
    req: &AuthRequest<'_>,
    settings: &AuthSettings<'_>,
) -> AuthAnswer {
    let location = verify_location(out.original.path(), out.original.query());
    let accept = req.headers.get(http::header::ACCEPT).map(|v| v.as_bytes());
    let navigation = is_navigation(&out.original.method, accept);
    let origin = settings.public_url.cloned().or_else(|| request_origin(req));
    if let Some(relative) = ascii(&location) {
        out.headers.push((REDIRECT_HEADER, relative));
    }
    if req.endpoint == Endpoint::ForwardAuth
        && navigation
        && let Some(absolute) = origin.and_then(|o| ascii(&o.url(&location)))
    {
        out.status = 302;
        out.headers.insert(0, (http::header::LOCATION, absolute));
        return out;
    }
    let target = out.original.target.clone();
    out.refuse(Refusal::with_retry(
        GatewayError::VerificationRequired,
        &target,
    ))
}

fn ascii(s: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(s).ok()
}

/// The first value of a header, trimmed, when it is visible ASCII; for a comma-separated
/// list (proxies append), its first element, which the outermost proxy wrote.
fn first<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    let v = headers.get(name)?.to_str().ok()?;
    let v = v.split(',').next().unwrap_or_default().trim();
    (!v.is_empty()).then_some(v)
}

/// The original request: method and local target from a trusted proxy's headers.
fn original(req: &AuthRequest<'_>) -> Original {
    let told = |name| req.trusted_peer.then(|| first(req.headers, name)).flatten();
    let method = told("x-forwarded-method")
        .or_else(|| told("x-original-method"))
        .filter(|m| (1..=16).contains(&m.len()) && m.bytes().all(|b| b.is_ascii_alphabetic()))
        .unwrap_or(req.method);
    // The URI is one value, never a list: a comma in it is part of it.
    let uri = req
        .trusted_peer
        .then(|| {
            ["x-original-uri", "x-forwarded-uri"]
                .into_iter()
                .find_map(|n| req.headers.get(n)?.to_str().ok())
        })
        .flatten();
    Original {
        method: method.to_owned(),
        target: uri.map_or_else(|| "/".to_owned(), |u| local_target(u.trim()).into_owned()),
    }
}

/// The origin the browser used: a trusted proxy's `X-Forwarded-Proto` and `X-Forwarded-Host`,
/// else the listener's scheme and `Host`.
fn request_origin(req: &AuthRequest<'_>) -> Option<Origin> {
    let own = if req.https { "https" } else { "http" };
    let host = first(req.headers, "host");
    if req.trusted_peer {
        let proto = first(req.headers, "x-forwarded-proto").unwrap_or(own);
        if let Some(host) = first(req.headers, "x-forwarded-host").or(host) {
            return Origin::from_request(proto, host);
        }
    }
    Origin::from_request(own, host?)
}
