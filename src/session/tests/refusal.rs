//! Korean refusal pages: the sentence, code and request id, a retry link where verifying again
//! can help, JSON unchanged for API clients, and nothing about the person on any of them.

use jiff::Timestamp;
use jiff::civil::date;

use super::gate::{adult_policy, session};
use crate::error::GatewayError;
use crate::policy::FailureReason;
use crate::session::gate::{GateDecision, GatedRequest, decide};
use crate::session::refusal::*;

fn text(r: &Refusal, html: bool) -> String {
    String::from_utf8(r.render("req-42", html).body.to_vec()).unwrap()
}

#[test]
fn each_refusal_page_is_korean_with_its_code_request_id_and_retry_where_it_helps() {
    use FailureReason::*;
    // (error, retry offered)
    let cases = [
        (GatewayError::AgeRequirementNotMet, false),
        (GatewayError::Verification(Failed), true),
        (GatewayError::Verification(NotFound), true),
        (GatewayError::Verification(NotCertified), true),
        (GatewayError::Verification(Stale), true),
        (GatewayError::InvalidState, true),
        (GatewayError::AlreadyUsed, true),
        (GatewayError::VerificationUnavailable, true),
        (GatewayError::VerificationRequired, true),
        (GatewayError::InvalidPath, false),
    ];
    for (error, retry) in cases {
        let r = Refusal::with_retry(error, "/adult/x?y=1");
        let rendered = r.render("req-42", true);
        assert_eq!(rendered.status, error.status(), "{error:?}");
        assert_eq!(rendered.content_type, "text/html; charset=utf-8");
        let page = text(&r, true);
        assert!(
            page.starts_with("<!doctype html>\n<html lang=\"ko\">"),
            "{error:?}"
        );
        assert!(page.contains("<meta name=\"viewport\""));
        assert!(page.contains(&format!("<p id=\"message\">{}</p>", error.message_ko())));
        assert!(page.contains(&format!("<code id=\"code\">{}</code>", error.code())));
        assert!(page.contains("<code id=\"request-id\">req-42</code>"));
        assert!(
            !page.contains("{{") && !page.contains("<script"),
            "{error:?}"
        );
        let link = "href=\"/.verigate/verify?rd=%2Fadult%2Fx%3Fy%3D1\"";
        assert_eq!(page.contains(link), retry, "{error:?}");
        assert_eq!(r.retry_location().is_some(), retry, "{error:?}");
        assert_eq!(offers_retry(error), retry, "{error:?}");
        // API clients keep the JSON answer.
        assert_eq!(r.render("req-42", false), error.render("req-42", false));
    }
}

#[test]
fn a_retry_only_ever_returns_to_a_local_path_and_values_are_escaped() {
    let r = Refusal::with_retry(GatewayError::InvalidState, "//evil.example/x");
    assert_eq!(r.retry_location(), Some("/.verigate/verify?rd=%2F"));
    let r = Refusal::with_retry(GatewayError::InvalidState, "/a?q=\"'<>&");
    let page = text(&r, true);
    assert!(page.contains("href=\"/.verigate/verify?rd=%2Fa%3Fq%3D%2522%27%253C%253E%26\""));
    // A request id is restricted upstream; escaped here anyway.
    let page = String::from_utf8(
        Refusal::new(GatewayError::AlreadyUsed)
            .render("<b>\"x\"</b>", true)
            .body
            .to_vec(),
    )
    .unwrap();
    assert!(page.contains("&lt;b&gt;&quot;x&quot;&lt;/b&gt;") && !page.contains("<b>"));
    assert!(!page.contains("id=\"retry\""), "no rd, no retry");
    assert!(CSP.starts_with("default-src 'none';") && CSP.contains("frame-ancestors 'none'"));
}

#[test]
fn no_refusal_says_anything_about_the_person() {
    let minor = session(date(2010, 3, 4), 1_779_980_400);
    let now = Timestamp::from_second(1_779_980_400).unwrap();
    let req = GatedRequest {
        method: "GET",
        accept: Some(b"text/html"),
        path: "/adult",
        query: None,
    };
    let d = decide(Some(&minor), &adult_policy(), &req, now);
    assert!(matches!(d, GateDecision::Deny(_)));
    let refusal = d.refusal().unwrap();
    for html in [true, false] {
        let body = text(&refusal, html);
        for personal in [
            "홍길동",
            "%ED%99%8D",
            "2010",
            "03-04",
            "16",
            "imp_045262694732",
        ] {
            assert!(!body.contains(personal), "{personal} in {body}");
        }
    }
}
