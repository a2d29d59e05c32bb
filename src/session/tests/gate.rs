//! The gated-request decision as a table (session or none × method × Accept), a birthday
//! crossed during a session, freshness left to the session's start, and the headers of a pass.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use jiff::civil::{Date, date};
use jiff::tz::TimeZone;

use crate::headers::{HeaderNames, annotate};
use crate::identity::Identity;
use crate::imp_uid::ImpUid;
use crate::policy::{AgeBasis, DenyReason, Judgement, Policy, Verdict};
use crate::session::gate::*;
use crate::session::{Provider, Session};

/// 2026-05-28T15:00:00Z: midnight of 29 May in Seoul.
const SEOUL_MIDNIGHT: i64 = 1_779_980_400;
const HTML: &[u8] = b"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

fn at(secs: i64) -> Timestamp {
    Timestamp::from_second(secs).unwrap()
}

pub(super) fn adult_policy() -> Policy {
    Policy {
        name: "adult".into(),
        min_age: 19,
        max_age: None,
        age_basis: AgeBasis::Full,
        timezone: TimeZone::get("Asia/Seoul").unwrap(),
        // Ten minutes: a session is days older than that, and still passes.
        max_certification_age: Some(Duration::from_secs(600)),
    }
}

/// A session of 홍길동, born on `birth`, verified two days before `issued`.
pub(super) fn session(birth: Date, issued: i64) -> Session {
    let mut id = Identity::empty(ImpUid::parse("imp_045262694732").unwrap());
    id.certified = true;
    id.certified_at = Some(at(issued - 2 * 86_400));
    id.name = Some("홍길동".into());
    id.birth_date = Some(birth);
    Session::new(
        Provider::IamportV1,
        &id,
        &[],
        at(issued),
        Duration::from_secs(30 * 86_400),
    )
}

fn req<'a>(method: &'a str, accept: Option<&'a [u8]>) -> GatedRequest<'a> {
    GatedRequest {
        method,
        accept,
        path: "/adult/x",
        query: Some("a=1&b=%2F"),
    }
}

/// (session, method, accept, status, kind) of the decision table.
type Row<'a> = (
    Option<&'a Session>,
    &'a str,
    Option<&'a [u8]>,
    Option<u16>,
    &'a str,
);

#[test]
fn the_decision_table() {
    let policy = adult_policy();
    let now = at(SEOUL_MIDNIGHT);
    let adult = session(date(1990, 1, 1), SEOUL_MIDNIGHT - 3600);
    let minor = session(date(2010, 1, 1), SEOUL_MIDNIGHT - 3600);
    let verify = "/.verigate/verify?rd=%2Fadult%2Fx%3Fa%3D1%26b%3D%252F";
    // (session, method, accept, status, kind)
    let cases: &[Row<'_>] = &[
        (Some(&adult), "GET", Some(HTML), None, "pass"),
        (Some(&adult), "POST", None, None, "pass"),
        (
            Some(&adult),
            "DELETE",
            Some(b"application/json"),
            None,
            "pass",
        ),
        (Some(&minor), "GET", Some(HTML), Some(403), "deny"),
        (Some(&minor), "POST", None, Some(403), "deny"),
        (None, "GET", Some(HTML), Some(302), "verify"),
        (None, "HEAD", Some(HTML), Some(302), "verify"),
        (
            None,
            "GET",
            Some(b"application/json"),
            Some(401),
            "unauthorized",
        ),
        (None, "GET", Some(b"*/*"), Some(401), "unauthorized"),
        (None, "GET", None, Some(401), "unauthorized"),
        (None, "HEAD", None, Some(401), "unauthorized"),
        (None, "POST", Some(HTML), Some(401), "unauthorized"),
        (None, "PUT", None, Some(401), "unauthorized"),
    ];
    for (session, method, accept, status, kind) in cases {
        let d = decide(*session, &policy, &req(method, *accept), now);
        let got = match &d {
            GateDecision::Pass(j) => {
                assert_eq!(j.verdict, Verdict::Allow);
                "pass"
            }
            GateDecision::Deny(j) => {
                assert_eq!(j.verdict, Verdict::Deny(DenyReason::Underage));
                assert_eq!(j.age, Some(16));
                "deny"
            }
            GateDecision::Verify { location } => {
                assert_eq!(location, verify);
                "verify"
            }
            GateDecision::Unauthorized(r) => {
                assert_eq!(r.error.code(), "verification_required");
                assert_eq!(r.retry_location(), Some(verify));
                "unauthorized"
            }
        };
        assert_eq!((got, d.status()), (*kind, *status), "{method} {accept:?}");
        let refusal = d.refusal().map(|r| r.error.code());
        let want = match *kind {
            "deny" => Some("age_requirement_not_met"),
            "unauthorized" => Some("verification_required"),
            _ => None,
        };
        assert_eq!(refusal, want, "{method} {accept:?}");
    }
}

#[test]
fn a_birthday_crossed_during_a_session_changes_the_verdict() {
    let policy = adult_policy();
    // Nineteen at midnight of 29 May 2026 in Seoul; the session began a week before.
    let s = session(date(2007, 5, 29), SEOUL_MIDNIGHT - 7 * 86_400);
    let get = req("GET", Some(HTML));
    // (now, decision's judgement)
    let cases = [
        (
            SEOUL_MIDNIGHT - 1,
            GateDecision::Deny(Judgement {
                verdict: Verdict::Deny(DenyReason::Underage),
                age: Some(18),
            }),
        ),
        (
            SEOUL_MIDNIGHT,
            GateDecision::Pass(Judgement {
                verdict: Verdict::Allow,
                age: Some(19),
            }),
        ),
        (
            SEOUL_MIDNIGHT + 86_400,
            GateDecision::Pass(Judgement {
                verdict: Verdict::Allow,
                age: Some(19),
            }),
        ),
    ];
    for (now, want) in cases {
        assert_eq!(decide(Some(&s), &policy, &get, at(now)), want, "{now}");
    }
    // A maximum age is crossed the same way.
    let mut young = adult_policy();
    young.min_age = 0;
    young.max_age = Some(18);
    assert!(matches!(
        decide(Some(&s), &young, &get, at(SEOUL_MIDNIGHT - 1)),
        GateDecision::Pass(_)
    ));
    assert!(matches!(
        decide(Some(&s), &young, &get, at(SEOUL_MIDNIGHT)),
        GateDecision::Deny(Judgement {
            verdict: Verdict::Deny(DenyReason::Overage),
            ..
        })
    ));
}

#[test]
fn freshness_is_checked_when_a_session_starts_not_on_its_requests() {
    let policy = adult_policy();
    let s = session(date(1990, 1, 1), SEOUL_MIDNIGHT);
    let now = at(SEOUL_MIDNIGHT + 3600);
    // The same person on a callback route would be stale: certified two days ago.
    assert_eq!(
        policy.judge(&s.identity, now).verdict.reason(),
        Some("stale")
    );
    assert!(matches!(
        decide(Some(&s), &policy, &req("GET", None), now),
        GateDecision::Pass(_)
    ));
}

#[test]
fn a_session_without_a_birth_date_is_denied() {
    let policy = adult_policy();
    let mut s = session(date(1990, 1, 1), SEOUL_MIDNIGHT);
    Arc::make_mut(&mut s.identity).birth_date = None;
    let d = decide(
        Some(&s),
        &policy,
        &req("GET", Some(HTML)),
        at(SEOUL_MIDNIGHT),
    );
    assert_eq!(
        d,
        GateDecision::Deny(Judgement {
            verdict: Verdict::Deny(DenyReason::BirthUnknown),
            age: None
        })
    );
}

#[test]
fn a_request_without_a_query_returns_to_its_path() {
    let r = GatedRequest {
        method: "GET",
        accept: Some(HTML),
        path: "/adult",
        query: Some(""),
    };
    let d = decide(None, &adult_policy(), &r, at(SEOUL_MIDNIGHT));
    assert_eq!(
        d,
        GateDecision::Verify {
            location: "/.verigate/verify?rd=%2Fadult".into()
        }
    );
}

#[test]
fn a_pass_carries_the_sessions_identity_judged_by_the_gates_policy() {
    let policy = adult_policy();
    let s = session(date(1990, 1, 1), SEOUL_MIDNIGHT);
    let now = at(SEOUL_MIDNIGHT);
    let GateDecision::Pass(j) = decide(Some(&s), &policy, &req("GET", None), now) else {
        panic!("an adult passes");
    };
    let names = HeaderNames::new("x-verified-", &[]).unwrap();
    let headers: Vec<(String, String)> = annotate(&names, &annotation(&s, &policy, j))
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_owned()))
        .collect();
    let want = [
        ("x-verified-verdict", "allow".to_owned()),
        ("x-verified-imp-uid", "imp_045262694732".to_owned()),
        ("x-verified-name", "%ED%99%8D%EA%B8%B8%EB%8F%99".to_owned()),
        ("x-verified-birth", "1990-01-01".to_owned()),
        ("x-verified-age", "36".to_owned()),
        ("x-verified-policy", "adult".to_owned()),
        (
            "x-verified-certified-at",
            (SEOUL_MIDNIGHT - 2 * 86_400).to_string(),
        ),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    assert_eq!(headers, want);
}
