//! Origins for absolute URLs: `public_url` as configured, a request's scheme and host, and
//! every form that could smuggle a path, a second host or a header break refused.

use crate::session::Origin;
use crate::session::origin::OriginError;

#[test]
fn public_urls_are_a_scheme_and_a_host_only() {
    let cases: &[(&str, Result<&str, OriginError>)] = &[
        ("https://shop.example", Ok("https://shop.example")),
        ("https://shop.example/", Ok("https://shop.example")),
        ("HTTPS://Shop.Example:8443", Ok("https://shop.example:8443")),
        ("http://127.0.0.1:8080", Ok("http://127.0.0.1:8080")),
        ("https://[2001:db8::1]:443", Ok("https://[2001:db8::1]:443")),
        ("shop.example", Err(OriginError::Scheme)),
        ("ftp://shop.example", Err(OriginError::Scheme)),
        ("https://shop.example/app", Err(OriginError::NotAnOrigin)),
        ("https://shop.example?x", Err(OriginError::NotAnOrigin)),
        ("https://shop.example#x", Err(OriginError::NotAnOrigin)),
        ("https://user@shop.example", Err(OriginError::NotAnOrigin)),
        ("https://", Err(OriginError::Host)),
        ("https://shop example", Err(OriginError::Host)),
        ("https://shop.example:", Err(OriginError::Host)),
        ("https://shop.example:123456", Err(OriginError::Host)),
        ("https://shop.example:80:80", Err(OriginError::Host)),
        ("https://[::1", Err(OriginError::Host)),
        ("https://[::1]x", Err(OriginError::Host)),
    ];
    for (url, want) in cases {
        let got = Origin::parse_public_url(url);
        assert_eq!(
            got.as_ref().map(Origin::as_str),
            want.as_ref().map(|s| *s),
            "{url}"
        );
    }
    let o = Origin::parse_public_url("https://shop.example").unwrap();
    assert_eq!(
        o.url("/.verigate/callback"),
        "https://shop.example/.verigate/callback"
    );
}

#[test]
fn a_requests_origin_takes_only_a_known_scheme_and_a_clean_host() {
    let cases: &[(&str, &str, Option<&str>)] = &[
        ("https", "shop.example", Some("https://shop.example")),
        (
            "HTTP",
            " Shop.Example:8080 ",
            Some("http://shop.example:8080"),
        ),
        ("https", "[::1]", Some("https://[::1]")),
        ("wss", "shop.example", None),
        ("https", "", None),
        ("https", "evil.example/x", None),
        ("https", "evil.example\r\nSet-Cookie: a=b", None),
        ("https", "a\"b", None),
        ("https", "a<b", None),
        ("https", "shop.example, evil.example", None),
    ];
    for (proto, host, want) in cases {
        assert_eq!(
            Origin::from_request(proto, host)
                .as_ref()
                .map(Origin::as_str),
            *want,
            "{proto} {host:?}"
        );
    }
}
