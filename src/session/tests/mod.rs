//! Unit tests of the session room, one file per concern (`cookie`: the session and state
//! cookies; `redirect`: the `rd` check; `page`, `gate`, `forward_auth`, `refusal`, `origin`,
//! `markup`); the small helpers of `session/mod.rs` are tested here.

use super::*;

mod cookie;
mod forward_auth;
mod gate;
mod markup;
mod origin;
mod page;
mod redirect;
mod refusal;

#[test]
fn the_reserved_prefix_is_matched_on_a_segment_boundary_in_any_case() {
    for p in [
        "/.verigate",
        "/.verigate/",
        "/.verigate/verify",
        "/.VeriGate/x",
    ] {
        assert!(is_reserved_path(p), "{p}");
    }
    for p in ["/", "/.verigatex", "/x/.verigate", "/verigate", "/.verigat"] {
        assert!(!is_reserved_path(p), "{p}");
    }
}

#[test]
fn only_html_navigations_are_sent_to_the_page() {
    let html: &[u8] = b"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
    let cases: &[(&str, Option<&[u8]>, bool)] = &[
        ("GET", Some(html), true),
        ("HEAD", Some(html), true),
        ("POST", Some(html), false),
        ("PUT", Some(html), false),
        ("get", Some(html), false),
        ("GET", Some(b"application/json"), false),
        ("GET", Some(b"*/*"), false),
        ("GET", None, false),
    ];
    for (method, accept, want) in cases {
        assert_eq!(is_navigation(method, *accept), *want, "{method} {accept:?}");
    }
}
