//! Forward-auth, row by row: each endpoint with an adult's, a minor's and no session; the gate
//! named by `?gate=`; the original URI believed only from a trusted proxy; absolute `Location`s
//! from `public_url` or the trusted forwarded host; never 3xx from `/auth`, never 202.

use http::{HeaderMap, HeaderName, HeaderValue};
use jiff::Timestamp;
use jiff::civil::date;

use super::gate::{adult_policy, session};
use crate::headers::HeaderNames;
use crate::policy::{Policy, Verdict};
use crate::session::forward_auth::*;
use crate::session::{Origin, Session};

const NOW: i64 = 1_779_980_400;
const HTML: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    h
}

/// What nginx sends for a browser's `GET /adult/x?y=1`.
fn nginx(accept: &str) -> HeaderMap {
    headers(&[
        ("host", "shop.example"),
        ("accept", accept),
        ("x-original-uri", "/adult/x?y=1"),
        ("x-original-method", "GET"),
    ])
}

/// What Traefik sends for a browser's `method /adult/x?y=1` on `https://shop.example`.
fn traefik(method: &str, accept: &str) -> HeaderMap {
    headers(&[
        ("host", "verigate.internal:8080"),
        ("accept", accept),
        ("x-forwarded-method", method),
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "shop.example"),
        ("x-forwarded-uri", "/adult/x?y=1"),
    ])
}

struct Case<'a> {
    endpoint: Endpoint,
    query: &'a str,
    headers: HeaderMap,
    trusted: bool,
    session: Option<&'a Session>,
    public_url: Option<&'a Origin>,
}

fn run(c: &Case<'_>) -> AuthAnswer {
    let policy = adult_policy();
    let names = HeaderNames::new("x-verified-", &[]).unwrap();
    let gate = |name: &str| -> Option<&Policy> { (name == "adult-area").then_some(&policy) };
    let req = AuthRequest {
        endpoint: c.endpoint,
        method: "GET",
        query: Some(c.query),
        headers: &c.headers,
        trusted_peer: c.trusted,
        https: false,
    };
    let settings = AuthSettings {
        names: &names,
        public_url: c.public_url,
    };
    let answer = answer(
        &req,
        gate,
        c.session,
        &settings,
        Timestamp::from_second(NOW).unwrap(),
    );
    // Whatever the row: never 202 (Envoy's denial), never a redirect from /auth (nginx's 500).
    assert_ne!(answer.status, 202);
    if c.endpoint == Endpoint::Auth {
        assert!(!(300..400).contains(&answer.status), "{}", answer.status);
    }
    answer
}

fn header<'a>(a: &'a AuthAnswer, name: &str) -> Option<&'a str> {
    a.headers
        .iter()
        .find(|(k, _)| k.as_str() == name)
        .map(|(_, v)| v.to_str().unwrap())
}

const VERIFY: &str = "/.verigate/verify?rd=%2Fadult%2Fx%3Fy%3D1";

#[test]
fn auth_answers_200_403_or_401_with_the_redirect_header() {
    let adult = session(date(1990, 1, 1), NOW - 60);
    let minor = session(date(2010, 1, 1), NOW - 60);
    let row = |session, accept| Case {
        endpoint: Endpoint::Auth,
        query: "gate=adult-area",
        headers: nginx(accept),
        trusted: true,
        session,
        public_url: None,
    };
    let allow = run(&row(Some(&adult), HTML));
    assert_eq!(allow.status, 200);
    assert_eq!(header(&allow, "x-verified-verdict"), Some("allow"));
    assert_eq!(
        header(&allow, "x-verified-name"),
        Some("%ED%99%8D%EA%B8%B8%EB%8F%99")
    );
    assert_eq!(header(&allow, "x-verified-policy"), Some("adult"));
    assert_eq!(allow.refusal, None);
    assert_eq!(allow.original.method, "GET");
    assert_eq!(
        (allow.original.path(), allow.original.query()),
        ("/adult/x", Some("y=1"))
    );

    let deny = run(&row(Some(&minor), HTML));
    assert_eq!(deny.status, 403);
    assert!(deny.headers.is_empty(), "no identity headers on a denial");
    assert_eq!(
        deny.refusal.unwrap().error.code(),
        "age_requirement_not_met"
    );
    assert!(matches!(deny.judgement.unwrap().verdict, Verdict::Deny(_)));

    for accept in [HTML, "application/json"] {
        let none = run(&row(None, accept));
        assert_eq!(none.status, 401);
        assert_eq!(header(&none, "x-verigate-redirect"), Some(VERIFY));
        assert_eq!(header(&none, "location"), None);
        assert_eq!(none.refusal.unwrap().error.code(), "verification_required");
        assert_eq!(none.html, accept == HTML);
    }
}

#[test]
fn a_v2_session_answers_the_identity_verification_id_in_the_imp_uid_place() {
    let mut v2 = session(date(1990, 1, 1), NOW - 60);
    v2.provider = crate::session::Provider::PortOneV2;
    let v1 = session(date(1990, 1, 1), NOW - 60);
    for endpoint in [Endpoint::Auth, Endpoint::ForwardAuth] {
        let row = |session| Case {
            endpoint,
            query: "gate=adult-area",
            headers: nginx(HTML),
            trusted: true,
            session,
            public_url: None,
        };
        let names = |a: &AuthAnswer| -> Vec<String> {
            a.headers
                .iter()
                .map(|(k, _)| k.as_str().to_owned())
                .collect()
        };
        let (old, new) = (run(&row(Some(&v1))), run(&row(Some(&v2))));
        assert_eq!((old.status, new.status), (200, 200));
        let id = "imp_045262694732";
        assert_eq!(header(&old, "x-verified-imp-uid"), Some(id));
        assert_eq!(header(&old, "x-verified-identity-verification-id"), None);
        assert_eq!(
            header(&new, "x-verified-identity-verification-id"),
            Some(id)
        );
        assert_eq!(header(&new, "x-verified-imp-uid"), None);
        // The same place in the list: only the id header's name differs.
        let swapped: Vec<String> = names(&old)
            .into_iter()
            .map(|n| match n.as_str() {
                "x-verified-imp-uid" => "x-verified-identity-verification-id".to_owned(),
                _ => n,
            })
            .collect();
        assert_eq!(names(&new), swapped);
    }
}

#[test]
fn forward_auth_redirects_a_browser_navigation_with_an_absolute_location() {
    let adult = session(date(1990, 1, 1), NOW - 60);
    let minor = session(date(2010, 1, 1), NOW - 60);
    let row = |session, method, accept| Case {
        endpoint: Endpoint::ForwardAuth,
        query: "gate=adult-area",
        headers: traefik(method, accept),
        trusted: true,
        session,
        public_url: None,
    };
    let allow = run(&row(Some(&adult), "GET", HTML));
    assert_eq!(allow.status, 200);
    assert_eq!(header(&allow, "x-verified-verdict"), Some("allow"));

    let deny = run(&row(Some(&minor), "GET", HTML));
    assert_eq!((deny.status, deny.html), (403, true));
    assert_eq!(
        deny.refusal.unwrap().error.code(),
        "age_requirement_not_met"
    );

    for method in ["GET", "HEAD"] {
        let nav = run(&row(None, method, HTML));
        assert_eq!(nav.status, 302, "{method}");
        assert_eq!(
            header(&nav, "location").unwrap(),
            format!("https://shop.example{VERIFY}")
        );
        assert_eq!(nav.refusal, None);
    }
    // Not a navigation: 401, the page's address in the header for the edge.
    for (method, accept) in [("POST", HTML), ("GET", "application/json"), ("PUT", "*/*")] {
        let api = run(&row(None, method, accept));
        assert_eq!(api.status, 401, "{method} {accept}");
        assert_eq!(header(&api, "location"), None);
        assert_eq!(header(&api, "x-verigate-redirect"), Some(VERIFY));
    }
}

#[test]
fn the_gate_is_named_once_in_the_query() {
    let adult = session(date(1990, 1, 1), NOW - 60);
    // (query, status, error)
    let cases = [
        ("", 400, "missing_gate"),
        ("gate=", 400, "missing_gate"),
        ("gates=adult-area", 400, "missing_gate"),
        ("gate=adult-area&gate=adult-area", 400, "missing_gate"),
        ("gate=other", 404, "unknown_gate"),
        ("gate=ADULT-AREA", 404, "unknown_gate"),
    ];
    for endpoint in [Endpoint::Auth, Endpoint::ForwardAuth] {
        for (query, status, code) in cases {
            let a = run(&Case {
                endpoint,
                query,
                headers: nginx(HTML),
                trusted: true,
                session: Some(&adult),
                public_url: None,
            });
            assert_eq!(a.status, status, "{query}");
            assert_eq!(a.refusal.unwrap().error.code(), code, "{query}");
            assert!(a.headers.is_empty(), "{query}");
        }
    }
    assert_eq!(
        gate_name(Some("x=1&gate=adult%2Darea")),
        Ok("adult-area".into())
    );
    assert_eq!(
        gate_name(None),
        Err(crate::error::GatewayError::MissingGate)
    );
}

#[test]
fn forwarded_headers_count_only_from_a_trusted_proxy() {
    // An untrusted peer's forged host, proto, URI and method are ignored: the Location is built
    // from its Host and the listener's scheme, and returns to `/`.
    let forged = Case {
        endpoint: Endpoint::ForwardAuth,
        query: "gate=adult-area",
        headers: headers(&[
            ("host", "shop.example:8080"),
            ("accept", HTML),
            ("x-forwarded-host", "evil.example"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-uri", "/adult/x?y=1"),
            ("x-forwarded-method", "POST"),
            ("x-original-uri", "/adult/x?y=1"),
        ]),
        trusted: false,
        session: None,
        public_url: None,
    };
    let a = run(&forged);
    assert_eq!(a.status, 302);
    assert_eq!(
        header(&a, "location"),
        Some("http://shop.example:8080/.verigate/verify?rd=%2F")
    );
    assert_eq!(a.original.method, "GET");
    // public_url wins over every header.
    let public = Origin::parse_public_url("https://www.shop.example/").unwrap();
    let a = run(&Case {
        public_url: Some(&public),
        trusted: true,
        headers: traefik("GET", HTML),
        ..forged
    });
    assert_eq!(
        header(&a, "location").unwrap(),
        format!("https://www.shop.example{VERIFY}")
    );
}

#[test]
fn without_a_believable_origin_forward_auth_answers_401() {
    let a = run(&Case {
        endpoint: Endpoint::ForwardAuth,
        query: "gate=adult-area",
        headers: headers(&[("host", "evil.example/x?"), ("accept", HTML)]),
        trusted: false,
        session: None,
        public_url: None,
    });
    assert_eq!(a.status, 401);
    assert_eq!(
        header(&a, "x-verigate-redirect"),
        Some("/.verigate/verify?rd=%2F")
    );
    let a = run(&Case {
        endpoint: Endpoint::ForwardAuth,
        query: "gate=adult-area",
        headers: traefik("GET", HTML),
        trusted: true,
        session: None,
        public_url: None,
    });
    assert_eq!(a.status, 302, "a trusted proxy's headers do make one");
}

#[test]
fn the_original_uri_is_normalised_and_kept_local() {
    // (X-Original-URI, the verification page's rd)
    let cases = [
        ("/x/../adult/%61?q=1", "%2Fadult%2Fa%3Fq%3D1"),
        ("//evil.example/adult", "%2F"),
        ("/\\evil.example", "%2F"),
        ("https://evil.example/adult", "%2F"),
        ("/adult%2Fx", "%2F"),
        ("/.verigate/verify?rd=/x", "%2F"),
        ("/adult?a=1,2", "%2Fadult%3Fa%3D1%2C2"),
    ];
    for (uri, rd) in cases {
        let a = run(&Case {
            endpoint: Endpoint::Auth,
            query: "gate=adult-area",
            headers: headers(&[("host", "shop.example"), ("x-original-uri", uri)]),
            trusted: true,
            session: None,
            public_url: None,
        });
        assert_eq!(
            header(&a, "x-verigate-redirect").unwrap(),
            format!("/.verigate/verify?rd={rd}"),
            "{uri}"
        );
    }
}

#[test]
fn endpoints_are_found_by_their_exact_paths() {
    assert_eq!(Endpoint::from_path("/.verigate/auth"), Some(Endpoint::Auth));
    assert_eq!(
        Endpoint::from_path("/.verigate/forward-auth"),
        Some(Endpoint::ForwardAuth)
    );
    for p in [
        "/.verigate/auth/",
        "/.verigate/Auth",
        "/auth",
        "/.verigate/forward_auth",
    ] {
        assert_eq!(Endpoint::from_path(p), None, "{p}");
    }
}
