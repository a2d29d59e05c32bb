//! `rd`: local paths kept (normalised), every open-redirect form turned into `/`, one decoding
//! from the query, the verification page's `Location` round trip, and seeded random `rd`s.

use std::borrow::Cow;

use crate::session::is_reserved_path;
use crate::session::redirect::*;

#[test]
fn local_paths_are_kept_normalised() {
    let cases: &[(&str, &str)] = &[
        ("/", "/"),
        ("/adult/x", "/adult/x"),
        ("/adult/x?y=1&z=%2F", "/adult/x?y=1&z=%2F"),
        ("/adult?next=//evil", "/adult?next=//evil"),
        ("/adult?", "/adult"),
        ("/adult#frag", "/adult"),
        ("/adult?q=1#frag", "/adult?q=1"),
        ("/a/./b/../c", "/a/c"),
        ("/%61dult", "/adult"),
        ("/adult;jsessionid=1/x", "/adult/x"),
        ("/.//evil", "/evil"),
        ("/a//b", "/a/b"),
        ("/@evil.com", "/@evil.com"),
        ("/성인?q=한", "/%EC%84%B1%EC%9D%B8?q=%ED%95%9C"),
        ("/a?q=\"<x>\"", "/a?q=%22%3Cx%3E%22"),
        // one escaped character alone (found by fuzz/gate_path)
        ("/?]", "/?%5D"),
        ("/a?\u{e9}", "/a?%C3%A9"),
        ("/a?b]", "/a?b%5D"),
        ("/\u{FF0F}evil", "/%EF%BC%8Fevil"),
        ("/\u{202E}lmth.exe", "/%E2%80%AElmth.exe"),
        ("/.verigates", "/.verigates"),
    ];
    for (rd, want) in cases {
        assert_eq!(local_target(rd), *want, "{rd:?}");
    }
    assert!(matches!(
        local_target("/adult/x?y=1"),
        Cow::Borrowed("/adult/x?y=1")
    ));
}

#[test]
fn every_open_redirect_form_becomes_the_root() {
    let cases = [
        "",
        "//evil.com",
        "///evil.com",
        "/\\evil.com",
        "\\/evil.com",
        "\\\\evil.com",
        "https://evil.com",
        "http:/evil.com",
        "javascript:alert(1)",
        "evil.com",
        " /evil",
        "/ /evil.com",
        "/\t/evil.com",
        "/\n/evil.com",
        "/\r\n/evil.com",
        "/\u{b}\\evil.com",
        "/\r\\",
        "/./\\evil.com",
        "/./../../\\evil.com",
        "/..//evil.com",
        "/../evil",
        "/%2e%2e/evil",
        "/a%2F%2Fevil",
        "/%2F/evil",
        "/%5Cevil",
        "/%09/evil",
        "/%0D%0ASet-Cookie:x=1",
        "/x\u{0}",
        "/x\u{85}",
        "/\u{3000}/evil.com",
        "/\u{2028}/evil.com",
        "/\u{a0}/evil.com",
        "\u{FF0F}\u{FF0F}evil.com",
        "/.verigate/verify?rd=/adult",
        "/.verigate",
        "/.VERIGATE/callback",
        "/%2Everigate/verify",
        "/x/../.verigate/sign_out",
        "/.verigate;x/auth",
    ];
    for rd in cases {
        assert_eq!(local_target(rd), "/", "{rd:?}");
    }
    assert_eq!(local_target(&format!("/{}", "a".repeat(MAX_RD_LEN))), "/");
    // Short enough raw, too long once encoded (found by fuzz/gate_path).
    assert_eq!(local_target(&format!("/{}", "\u{fffd}".repeat(300))), "/");
}

#[test]
fn rd_is_decoded_exactly_once_from_the_query() {
    let cases: &[(Option<&str>, &str)] = &[
        (None, "/"),
        (Some(""), "/"),
        (Some("x=1"), "/"),
        (Some("rd=%2Fadult%2Fx%3Fy%3D1"), "/adult/x?y=1"),
        (Some("rd=/adult/x&rd=//evil"), "/adult/x"),
        (Some("rd=%2F%2Fevil.com"), "/"),
        (Some("rd=/%2Fevil.com"), "/"),
        (Some("rd=%2F%5Cevil.com"), "/"),
        (Some("rd=/%5Cevil.com"), "/"),
        (Some("rd=/%09/evil.com"), "/"),
        (Some("rd=/+/evil.com"), "/"),
        (Some("rd=/%0D%0ALocation:%20//evil"), "/"),
        (Some("rd=https%3A%2F%2Fevil.com"), "/"),
        (Some("rd=%252F%252Fevil.com"), "/"), // one decoding leaves %2F%2F…: not a path
        (Some("rd=/%252F%252Fevil.com"), "/"), // …and /%2F%2F… is refused by the path normaliser
        (Some("rd=/%255Cevil.com"), "/"),
        (Some("rd=/%E3%80%80/evil.com"), "/"),
        (Some("rd=%2F.verigate%2Fverify"), "/"),
        (
            Some("rd=/adult%3Fq%3D%25ED%2595%259C"),
            "/adult?q=%ED%95%9C",
        ),
        (Some("rd=/%FF"), "/%EF%BF%BD"), // not UTF-8: the lossy decoding stays local
    ];
    for (query, want) in cases {
        assert_eq!(rd_from_query(*query), *want, "{query:?}");
    }
}

#[test]
fn the_verify_location_round_trips_the_request_target() {
    let cases: &[(&str, Option<&str>)] = &[
        ("/adult/x", None),
        ("/adult/x", Some("y=1&z=a+b%2F")),
        ("/adult/%EC%84%B1", Some("q=%ED%95%9C")),
        ("/adult", Some("")),
    ];
    for (path, query) in cases {
        let loc = verify_location(path, *query);
        let (page, q) = loc.split_once('?').unwrap();
        assert_eq!(page, "/.verigate/verify");
        let want = match query.filter(|q| !q.is_empty()) {
            Some(q) => format!("{path}?{q}"),
            None => (*path).to_owned(),
        };
        assert_eq!(rd_from_query(Some(q)), want, "{loc}");
    }
    assert_eq!(
        verify_location("/adult", None),
        "/.verigate/verify?rd=%2Fadult"
    );
}

/// Random `rd` values from the pieces of every known trick: the target is always local.
#[test]
fn any_rd_ends_on_a_local_path() {
    use rand::{Rng, SeedableRng};
    const PIECES: &[&str] = &[
        "/",
        "/",
        "\\",
        "//",
        "%2F",
        "%5C",
        "%09",
        "\t",
        "\n",
        "\r",
        " ",
        "\u{3000}",
        ".",
        "..",
        "evil.com",
        "https:",
        "?",
        "#",
        "&rd=",
        "@",
        ".verigate",
        ".VERIGATE",
        "%2e",
        "\u{FF0F}",
        "%25",
        "a",
        ";",
        "\u{202E}",
        "\u{0}",
        "%",
    ];
    let mut rng = rand::rngs::StdRng::seed_from_u64(13);
    for _ in 0..20_000 {
        let mut rd = String::new();
        for _ in 0..rng.random_range(0..8) {
            rd.push_str(PIECES[rng.random_range(0..PIECES.len())]);
        }
        let t = local_target(&rd);
        let b = t.as_bytes();
        assert_eq!(b.first(), Some(&b'/'), "{rd:?} → {t:?}");
        assert!(!matches!(b.get(1), Some(b'/' | b'\\')), "{rd:?} → {t:?}");
        assert!(b.iter().all(|c| c.is_ascii_graphic()), "{rd:?} → {t:?}");
        assert!(!t.contains('\\') && !t.contains('#'), "{rd:?} → {t:?}");
        let path = t.split_once('?').map_or(&*t, |(p, _)| p);
        assert!(!is_reserved_path(path), "{rd:?} → {t:?}");
        assert_eq!(local_target(&t), t, "{rd:?}: not a fixed point");
    }
}
