//! What `verigate check` prints: the description, the warnings, and never a secret.

use super::*;

#[test]
fn secrets_never_appear_in_debug_describe_or_errors() {
    let c = ok(FULL_EXAMPLE);
    let debug = format!("{c:?}");
    let described = c.describe();
    for secret in ["super-secret-value", HMAC32, "imp_apikey"] {
        assert!(!debug.contains(secret), "Debug leaks a secret");
        assert!(!described.contains(secret), "describe leaks a secret");
    }
    assert!(
        !described.contains("imp_apikey"),
        "describe shows the API key"
    );
    assert_eq!(format!("{}", Secret::new("x")), "<redacted>");
    // A secret where a number belongs is not echoed in the type error.
    let (_, _, message) = one_error(&format!(
        "[server]\nthreads = \"${{IMP_SECRET}}\"\n{MINIMAL}"
    ));
    assert!(!message.contains("super-secret-value"), "{message}");
}

#[test]
fn describe_lists_listeners_upstreams_routes_and_policies() {
    let d = ok(FULL_EXAMPLE).describe();
    for line in [
        "http://0.0.0.0:8080",
        "https://0.0.0.0:8443",
        "admin     http://127.0.0.1:9901",
        "127.0.0.1:3000, 127.0.0.1:3001",
        "https://api.iamport.kr",
        "popup  POST /certifications  imp_uid from body field imp_uid  policy adult  on_deny forward  on_failure reject",
        "teens  POST /teens  imp_uid from auto field uid  policy teen  on_deny reject  on_failure forward  single_use",
        "adult  min_age 19  max_age none  basis year  timezone Asia/Seoul  freshness 600 s",
        "teen  min_age 13  max_age 18  basis full  timezone UTC  freshness no limit",
    ] {
        assert!(d.contains(line), "missing {line:?} in:\n{d}");
    }
}

#[test]
fn warnings_cover_unsigned_headers_forwarded_failures_and_missing_sni() {
    let w = ok(MINIMAL).warnings();
    assert_eq!(
        w,
        [
            "signing is off: forwarded x-verified-* headers are unsigned; an app can trust them only on a private network"
        ]
    );
    let w = ok(FULL_EXAMPLE).warnings();
    assert_eq!(w.len(), 2, "{w:#?}");
    assert!(w[0].contains("route `teens`") && w[0].contains("x-verified-verdict"));
    // teens is single_use with a policy that has no freshness window.
    assert!(w[1].contains("route `teens` is single_use") && w[1].contains("freshness window"));
    let w = ok(&format!("[upstream]\ntls = true\n{MINIMAL}")).warnings();
    assert!(
        w.iter().any(|x| x.contains("upstream.sni is empty")),
        "{w:#?}"
    );
}
