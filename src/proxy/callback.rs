//! `/.verigate/callback`: the result of the page's SDK (a form or JSON post in popup mode, the
//! query in redirect mode) turned into a session cookie, or a refusal.
//!
//! The state cookie must be live and bound to the result's `merchant_uid` /
//! `identityVerificationId` (else 403 `invalid_state`: login CSRF); a failure the browser
//! reported is 403 `verification_failed` without an API call; the verification is resolved
//! with the page's provider, must be certified and fresh, and starts at most one session (409
//! on a second use). Then the cookie is set, the state cleared, and the browser sent (303) to
//! the local `rd` of the state, whatever the person's age: the gate judges.

use std::time::{Duration, Instant};

use jiff::Timestamp;
use pingora::proxy::Session;

use super::body;
use super::ctx::RequestCtx;
use super::gated::cookie_headers;
use super::reply::{self, Reply};
use super::respond::Refusal as Broken;
use crate::error::GatewayError;
use crate::identity::Identity;
use crate::metrics::RequestOutcome;
use crate::policy::FailureReason;
use crate::provider::ProviderName;
use crate::resolve::{CacheStatus, Resolved};
use crate::session::redirect::local_target;
use crate::session::{Provider, Refusal, Session as Sealed, State};
use crate::state::{GatewayState, Runtime, Sessions};
use crate::store::UseKey;
use crate::store::memory::UNBOUNDED_REPLAY_MEMORY;

/// What the callback read from the SDK's result.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Fields {
    pub imp_uid: Option<String>,
    pub merchant_uid: Option<String>,
    pub identity_verification_id: Option<String>,
    /// V1's `success`, as sent (`false` is a failure).
    pub success: Option<String>,
    /// V2's `code`: present on a failure.
    pub code: Option<String>,
}

impl Fields {
    /// Reads a query string or form body; a repeated field is refused (no guessing which one
    /// counts).
    pub fn from_form(text: &[u8]) -> Result<Fields, GatewayError> {
        let mut f = Fields::default();
        for (k, v) in form_urlencoded::parse(text) {
            let slot = match &*k {
                "imp_uid" => &mut f.imp_uid,
                "merchant_uid" => &mut f.merchant_uid,
                "identityVerificationId" => &mut f.identity_verification_id,
                "success" => &mut f.success,
                "code" => &mut f.code,
                _ => continue,
            };
            if slot.replace(v.into_owned()).is_some() {
                return Err(GatewayError::InvalidState);
            }
        }
        Ok(f)
    }

    /// Reads a JSON object body.
    pub fn from_json(body: &[u8]) -> Result<Fields, GatewayError> {
        let v: serde_json::Value =
            serde_json::from_slice(body).map_err(|_| GatewayError::InvalidState)?;
        let text = |name: &str| match v.get(name)? {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Bool(b) => Some(b.to_string()),
            serde_json::Value::Null => None,
            other => Some(other.to_string()),
        };
        Ok(Fields {
            imp_uid: text("imp_uid"),
            merchant_uid: text("merchant_uid"),
            identity_verification_id: text("identityVerificationId"),
            success: text("success"),
            code: text("code"),
        })
    }

    /// The id the page minted, as the result names it.
    fn bound_id(&self, provider: Provider) -> &str {
        let id = match provider {
            Provider::IamportV1 => &self.merchant_uid,
            Provider::PortOneV2 => &self.identity_verification_id,
        };
        id.as_deref().unwrap_or("")
    }

    /// Whether the browser already reported a failure (or a cancel).
    fn failed(&self, provider: Provider) -> bool {
        match provider {
            Provider::IamportV1 => self.success.as_deref() == Some("false"),
            Provider::PortOneV2 => self.code.as_deref().is_some_and(|c| !c.is_empty()),
        }
    }

    /// The id to resolve.
    fn lookup_id(&self, provider: Provider) -> &str {
        let id = match provider {
            Provider::IamportV1 => &self.imp_uid,
            Provider::PortOneV2 => &self.identity_verification_id,
        };
        id.as_deref().unwrap_or("")
    }
}

/// The provider the API calls go to for a page's SDK.
pub(super) fn provider_name(p: Provider) -> ProviderName {
    p.name()
}

/// Answers the callback; `Ok(true)`: the request is finished.
pub(super) async fn serve(
    state: &GatewayState,
    session: &mut Session,
    ctx: &mut RequestCtx,
    rt: &Runtime,
    sessions: &Sessions,
) -> pingora::Result<bool> {
    let clear = sessions.cookies.clear_state();
    let visit = sessions
        .cookies
        .state_from(cookie_headers(session.req_header()), ctx.now);
    let rd = visit
        .as_ref()
        .map_or_else(|| "/".to_owned(), |v| v.rd.clone());
    match run(state, session, ctx, rt, sessions, visit).await {
        Ok(set_cookie) => {
            ctx.outcome = Some(RequestOutcome::Allow);
            let mut reply = Reply::redirect(303, &local_target(&rd));
            reply.cookie(&set_cookie);
            reply.cookie(&clear);
            reply::send(session, ctx, reply).await
        }
        Err(Broken::Broken(e)) => Err(e),
        Err(Broken::Answer(e)) => {
            let outcome = match e {
                GatewayError::VerificationUnavailable => RequestOutcome::Unavailable,
                GatewayError::Verification(_) => RequestOutcome::Unverified,
                _ => RequestOutcome::Invalid,
            };
            let refusal = Refusal::with_retry(e, &rd);
            reply::refuse(session, ctx, &refusal, outcome, &[clear]).await
        }
    }
}

/// The steps; the session's `Set-Cookie`, or why not.
async fn run(
    state: &GatewayState,
    session: &mut Session,
    ctx: &mut RequestCtx,
    rt: &Runtime,
    sessions: &Sessions,
    visit: Option<State>,
) -> Result<String, Broken> {
    let fields = read(session, rt.config.server.max_body_bytes).await?;
    let visit = visit.ok_or(GatewayError::InvalidState)?;
    let provider = visit.provider;
    if !visit.binds(fields.bound_id(provider)) {
        return Err(GatewayError::InvalidState.into());
    }
    if fields.failed(provider) {
        return Err(GatewayError::Verification(FailureReason::Failed).into());
    }
    let name = provider_name(provider);
    let id = name
        .parse_id(fields.lookup_id(provider))
        .map_err(|_| GatewayError::InvalidState)?;
    ctx.imp_uid = Some(id.clone());
    let asked = Instant::now();
    let resolution = state.resolver.resolve(name, &id).await;
    ctx.api_time = Some(asked.elapsed());
    let (resolved, cache) = resolution.map_err(|_| GatewayError::VerificationUnavailable)?;
    ctx.cache = Some(cache);
    match cache {
        CacheStatus::Hit => state.metrics.cache_hits.inc(),
        CacheStatus::Miss => state.metrics.cache_misses.inc(),
    }
    let identity = match resolved {
        Resolved::NotFound => {
            return Err(GatewayError::Verification(FailureReason::NotFound).into());
        }
        Resolved::Failed => return Err(GatewayError::Verification(FailureReason::Failed).into()),
        Resolved::Found(identity) => identity,
    };
    check(&identity, &visit, sessions.max_certification_age, ctx.now)?;
    let remember = sessions
        .max_certification_age
        .unwrap_or(UNBOUNDED_REPLAY_MEMORY);
    match state.first_use(&UseKey::new(name, id), remember).await {
        Ok(true) => {}
        Ok(false) => return Err(GatewayError::AlreadyUsed.into()),
        Err(_) => return Err(GatewayError::VerificationUnavailable.into()),
    }
    let sealed = Sealed::new(
        provider,
        &identity,
        &rt.config.headers.forward,
        ctx.now,
        sessions.cookies.ttl(),
    );
    sessions
        .cookies
        .issue(&sealed, ctx.now)
        .map_err(|_| GatewayError::VerificationUnavailable.into())
}

/// The result's fields: the query of a `GET`, the form or JSON body of a `POST`.
async fn read(session: &mut Session, max: usize) -> Result<Fields, Broken> {
    if session.req_header().method != http::Method::POST {
        let query = session.req_header().uri.query().unwrap_or("");
        return Ok(Fields::from_form(query.as_bytes())?);
    }
    let body = body::read(session, max).await?;
    let json = session
        .req_header()
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/json")
        });
    Ok(if json {
        Fields::from_json(&body)?
    } else {
        Fields::from_form(&body)?
    })
}

/// A verification that may start a session: V1's record carries the page's `merchant_uid`,
/// certified, and not older than `max_age`.
fn check(
    identity: &Identity,
    visit: &State,
    max_age: Option<Duration>,
    now: Timestamp,
) -> Result<(), GatewayError> {
    if visit.provider == Provider::IamportV1
        && identity.merchant_uid.as_deref() != Some(&*visit.page_id())
    {
        return Err(GatewayError::InvalidState);
    }
    if !identity.certified {
        return Err(GatewayError::Verification(FailureReason::NotCertified));
    }
    if let Some(window) = max_age {
        let fresh = identity.certified_at.is_some_and(|at| {
            jiff::SignedDuration::try_from(window).is_ok_and(|w| now.duration_since(at) <= w)
        });
        if !fresh {
            return Err(GatewayError::Verification(FailureReason::Stale));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_from_forms_and_json_and_a_repeat_is_refused() {
        let f =
            Fields::from_form(b"imp_uid=imp_1&merchant_uid=vg_x&success=false&other=1").unwrap();
        assert_eq!(f.imp_uid.as_deref(), Some("imp_1"));
        assert!(f.failed(Provider::IamportV1));
        assert_eq!(f.bound_id(Provider::IamportV1), "vg_x");
        assert_eq!(
            Fields::from_form(b"imp_uid=a&imp_uid=b"),
            Err(GatewayError::InvalidState)
        );
        let j = Fields::from_json(br#"{"identityVerificationId":"vg00","code":"FAIL"}"#).unwrap();
        assert!(j.failed(Provider::PortOneV2));
        assert_eq!(j.lookup_id(Provider::PortOneV2), "vg00");
        let ok = Fields::from_json(br#"{"imp_uid":"imp_1","success":true}"#).unwrap();
        assert!(!ok.failed(Provider::IamportV1));
    }
}
