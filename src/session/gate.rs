//! The decision for a request whose normalised path falls under a gate (docs/sessions.md):
//! pass it on with the identity headers, refuse it, or send the visitor to verify.
//!
//! - A session: the gate's policy judges the sealed person at `now`, by age alone
//!   ([`Policy::judge_session`]): freshness (`max_certification_age`) was checked when the
//!   verification started the session, and a birthday during the session changes the verdict.
//!   `allow` → [`GateDecision::Pass`]; `deny` → [`GateDecision::Deny`] (403
//!   `age_requirement_not_met`, a Korean page for browsers, never forwarded).
//! - No session: a browser navigation (`GET`/`HEAD` preferring `text/html`) →
//!   [`GateDecision::Verify`], a 302 to `/.verigate/verify?rd=<path and query>`; anything else
//!   → [`GateDecision::Unauthorized`], 401 `verification_required`.
//!
//! Which gate a path falls under, and opening the cookie, happen before; building the headers
//! ([`annotation`] feeds [`crate::headers::annotate`]) and signing after.

use jiff::Timestamp;

use super::redirect::verify_location;
use super::refusal::Refusal;
use super::{Session, is_navigation};
use crate::error::GatewayError;
use crate::headers::Annotation;
use crate::policy::{Judgement, Policy, Verdict};

/// The parts of a gated request the decision reads.
#[derive(Debug, Clone, Copy)]
pub struct GatedRequest<'a> {
    pub method: &'a str,
    pub accept: Option<&'a [u8]>,
    /// The normalised path (as matched and forwarded).
    pub path: &'a str,
    /// The query, without `?`.
    pub query: Option<&'a str>,
}

/// What to do with a gated request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GateDecision {
    /// Forward it with the session's identity headers (verdict `allow`).
    Pass(Judgement),
    /// 403 `age_requirement_not_met`; the judgement says why (for the access log).
    Deny(Judgement),
    /// 302 to the verification page.
    Verify { location: String },
    /// 401 `verification_required`; the refusal page links to the verification page.
    Unauthorized(Refusal),
}

impl GateDecision {
    /// The status verigate answers with, `None` for a request that is forwarded.
    pub fn status(&self) -> Option<u16> {
        match self {
            GateDecision::Pass(_) => None,
            GateDecision::Deny(_) => Some(403),
            GateDecision::Verify { .. } => Some(302),
            GateDecision::Unauthorized(_) => Some(401),
        }
    }

    /// The refusal to render (a Korean page or JSON), for `Deny` and `Unauthorized`.
    pub fn refusal(&self) -> Option<Refusal> {
        match self {
            GateDecision::Deny(_) => Some(Refusal::new(GatewayError::AgeRequirementNotMet)),
            GateDecision::Unauthorized(r) => Some(r.clone()),
            GateDecision::Pass(_) | GateDecision::Verify { .. } => None,
        }
    }
}

/// Decides a request under a gate judged by `policy`, with the session it carried (if any).
pub fn decide(
    session: Option<&Session>,
    policy: &Policy,
    req: &GatedRequest<'_>,
    now: Timestamp,
) -> GateDecision {
    if let Some(session) = session {
        let judgement = policy.judge_session(&session.identity, now);
        match judgement.verdict {
            Verdict::Allow => return GateDecision::Pass(judgement),
            Verdict::Deny(_) => return GateDecision::Deny(judgement),
            // A session only ever holds a certified person; anything else is no session.
            Verdict::Unverified(_) => {}
        }
    }
    let query = req.query.filter(|q| !q.is_empty());
    if is_navigation(req.method, req.accept) {
        return GateDecision::Verify {
            location: verify_location(req.path, query),
        };
    }
    let target = match query {
        Some(q) => format!("{}?{q}", req.path),
        None => req.path.to_owned(),
    };
    GateDecision::Unauthorized(Refusal::with_retry(
        GatewayError::VerificationRequired,
        &target,
    ))
}

/// What [`crate::headers::annotate`] needs for a passed request: the session's person, judged
/// by the gate's policy.
pub fn annotation<'a>(
    session: &'a Session,
    policy: &'a Policy,
    judgement: Judgement,
) -> Annotation<'a> {
    Annotation {
        judgement,
        imp_uid: Some(&session.identity.imp_uid),
        identity: Some(&session.identity),
        policy,
    }
}
