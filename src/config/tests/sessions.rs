//! [session] and [session.page]: defaults, the secrets, the cookie, the page's SDK and texts.

use super::*;
use crate::session::page::{IAMPORT_SDK_URL, PORTONE_SDK_URL};
use crate::session::{PageSettings, Provider, SameSite, WindowMode};

/// 32 bytes of 0x01, base64: a second secret.
const SECRET2: &str = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";

/// The smallest session setup of README, "Sessions": three tables.
const SESSION: &str = "[session]\nsecrets = [\"${VERIGATE_SESSION_SECRET}\"]\n\
                       [session.page]\nimp_code = \"imp12345678\"\n\
                       [[gates]]\nname = \"adult-area\"\nprefix = \"/adult\"\npolicy = \"adult\"\n";

#[test]
fn the_smallest_session_setup_gets_the_documented_defaults() {
    let c = ok(&format!("{SESSION}{MINIMAL}"));
    let s = c.session.as_ref().unwrap();
    assert_eq!(s.cookie.name, "verigate");
    assert!(s.cookie.secure);
    assert_eq!(s.cookie.same_site, SameSite::Lax);
    assert_eq!(s.cookie.ttl, Duration::from_secs(3600));
    assert_eq!(s.max_certification_age, Some(Duration::from_secs(600)));
    assert_eq!(s.public_url, None);
    assert_eq!(s.secrets.len(), 1);
    assert_eq!(s.secrets[0].expose(), HMAC32);
    assert!(s.sealer().is_ok());
    let p = &s.page;
    assert_eq!(p.provider, Provider::IamportV1);
    assert_eq!(p.sdk_src(), IAMPORT_SDK_URL);
    assert_eq!(p.imp_code, "imp12345678");
    assert_eq!((p.store_id.as_str(), p.channel_key.as_str()), ("", ""));
    // Everything else is the page room's Korean default.
    let defaults = PageSettings {
        imp_code: "imp12345678".into(),
        ..PageSettings::new(Provider::IamportV1)
    };
    assert_eq!(*p, defaults);
    assert_eq!(p.title, "성인 인증");
    assert_eq!(c.gates.len(), 1);
    let g = &c.gates[0];
    assert_eq!((&*g.name, g.prefix.as_str()), ("adult-area", "/adult"));
    assert!(Arc::ptr_eq(&g.policy, &c.policies[0]));
    assert!(g.prefix.matches("/adult/x") && !g.prefix.matches("/adultery"));
}

#[test]
fn every_session_and_page_key_is_taken() {
    let text = format!(
        "[session]\nsecrets = [\"{SECRET2}\", \"${{VERIGATE_SESSION_SECRET}}\"]\n\
         cookie_name = \"vg\"\nttl_secs = 600\nsecure = false\nsame_site = \"strict\"\n\
         max_certification_age_secs = 0\npublic_url = \"https://shop.example/\"\n\
         [session.page]\nsdk = \"iamport\"\nimp_code = \"imp1\"\nchannel_key = \"channel-key-1\"\n\
         sdk_url = \"http://127.0.0.1:8089/__sandbox/sdk/iamport.js\"\ntitle = \"Adults only\"\n\
         intro = \"Verify your age.\"\nbutton = \"Verify\"\nfailure = \"That did not work.\"\n\
         retry = \"Again\"\nwindow = \"redirect\"\n\
         [[gates]]\nname = \"a\"\nprefix = \"/Adult\"\npolicy = \"adult\"\ncase_insensitive = true\n\
         {MINIMAL}"
    );
    let c = ok(&text);
    let s = c.session.unwrap();
    assert_eq!(
        (s.cookie.name.as_str(), s.cookie.secure, s.cookie.same_site),
        ("vg", false, SameSite::Strict)
    );
    assert_eq!(s.cookie.ttl, Duration::from_secs(600));
    assert_eq!(s.max_certification_age, None);
    assert_eq!(s.public_url.as_deref(), Some("https://shop.example"));
    // Order is kept: the first seals.
    assert_eq!(s.secrets[0].expose(), SECRET2);
    let p = s.page;
    assert_eq!(
        p.sdk_src(),
        "http://127.0.0.1:8089/__sandbox/sdk/iamport.js"
    );
    assert_eq!(p.channel_key, "channel-key-1");
    assert_eq!(p.window, WindowMode::Redirect);
    let texts = [&p.title, &p.intro, &p.button, &p.failure, &p.retry];
    assert_eq!(
        texts,
        [
            "Adults only",
            "Verify your age.",
            "Verify",
            "That did not work.",
            "Again"
        ]
    );
    assert_eq!(p.channel_key, "channel-key-1");
    assert_eq!(
        (&*p.title, &*p.intro, &*p.button, &*p.failure, &*p.retry),
        (
            "Adults only",
            "Verify your age.",
            "Verify",
            "That did not work.",
            "Again"
        )
    );
    assert_eq!(p.window, crate::session::WindowMode::Redirect);
    assert!(c.gates[0].prefix.matches("/ADULT/x"));
}

#[test]
fn session_secrets_must_each_be_32_bytes_of_base64_and_are_never_echoed() {
    let short = "c2hvcnQtc2VjcmV0LXZhbHVl"; // "short-secret-value", 18 bytes
    let text = format!(
        "[session]\nsecrets = [\"{short}\", \"not base64!\", \"${{VERIGATE_SESSION_SECRET}}\"]\n\
         {}{MINIMAL}",
        &SESSION[SESSION.find("[session.page]").unwrap()..]
    );
    let all = located(&text);
    assert_eq!(
        all.iter().map(|e| (e.0, e.1)).collect::<Vec<_>>(),
        [(2, 12), (2, 40)],
        "{all:#?}"
    );
    assert_eq!(
        all[0].2,
        "an element of `secrets` in [session]: secret 0 is 18 bytes; exactly 32 are required"
    );
    assert_eq!(
        all[1].2,
        "an element of `secrets` in [session]: secret 1 is not valid base64 (standard alphabet)"
    );
    for e in &all {
        assert!(
            !e.2.contains(short) && !e.2.contains("not base64!"),
            "{}",
            e.2
        );
    }
}

#[test]
fn a_repeated_session_secret_is_refused_at_the_second() {
    let text = format!(
        "[session]\nsecrets = [\n  \"{HMAC32}\",\n  \"{SECRET2}\",\n  \"${{VERIGATE_SESSION_SECRET}}\",\n]\n\
         {}{MINIMAL}",
        &SESSION[SESSION.find("[session.page]").unwrap()..]
    );
    let (line, column, message) = one_error(&text);
    assert_eq!((line, column), (5, 3));
    assert_eq!(
        message,
        "secret 2 of `secrets` in [session] repeats the one on line 3; each secret must be \
         different"
    );
    assert!(!message.contains(HMAC32));
}

#[test]
fn secrets_are_required_and_not_empty() {
    let page = &SESSION[SESSION.find("[session.page]").unwrap()..];
    let (line, _, message) = one_error(&format!("[session]\ncookie_name = \"v\"\n{page}{MINIMAL}"));
    assert_eq!(line, 1);
    assert_eq!(
        message,
        "missing key `secrets` in [session], which has no default"
    );
    let (line, column, message) = one_error(&format!("[session]\nsecrets = []\n{page}{MINIMAL}"));
    assert_eq!((line, column), (2, 11));
    assert!(
        message.starts_with("`secrets` in [session] is empty"),
        "{message}"
    );
}

#[test]
fn cookie_name_ttl_same_site_and_public_url_are_located() {
    let session = "[session]\nsecrets = [\"${VERIGATE_SESSION_SECRET}\"]\n";
    let page = &SESSION[SESSION.find("[session.page]").unwrap()..];
    let cases = [
        (
            "cookie_name = \"__Host-x\"",
            15,
            "`cookie_name` in [session] must be 1 to 64",
        ),
        ("cookie_name = \"my cookie\"", 15, "not `my cookie`"),
        (
            "ttl_secs = 0",
            12,
            "`ttl_secs` in [session] must be between 1 and 34560000",
        ),
        ("ttl_secs = 40000000", 12, "not 40000000"),
        (
            "same_site = \"none\"",
            13,
            "`same_site` in [session] must be one of \"lax\", \"strict\", not \"none\"",
        ),
        (
            "public_url = \"https://shop.example/app\"",
            14,
            "`public_url` in [session] must not have a path",
        ),
        (
            "public_url = \"shop.example\"",
            14,
            "`public_url` in [session] must be an http:// or https:// URL with a host",
        ),
        (
            "public_url = \"https://shop.example/?a=1\"",
            14,
            "must not have a query string",
        ),
    ];
    for (line, column, fragment) in cases {
        let (l, c, message) = one_error(&format!("{session}{line}\n{page}{MINIMAL}"));
        assert_eq!((l, c), (3, column), "{line}: {message}");
        assert!(message.contains(fragment), "{line}: {message}");
    }
}

#[test]
fn the_iamport_page_needs_a_merchant_code_of_imp_and_digits() {
    let session = "[session]\nsecrets = [\"${VERIGATE_SESSION_SECRET}\"]\n";
    // Without [session.page] the problem is the [session] table's.
    let (line, column, message) = one_error(&format!("{session}{MINIMAL}"));
    assert_eq!((line, column), (1, 1));
    assert!(
        message.starts_with("missing key `imp_code` in [session.page]"),
        "{message}"
    );
    let (line, _, _) = one_error(&format!(
        "{session}[session.page]\ntitle = \"x\"\n{MINIMAL}"
    ));
    assert_eq!(line, 3);
    for bad in ["12345678", "imp", "imp12a", "IMP123"] {
        let (line, column, message) = one_error(&format!(
            "{session}[session.page]\nimp_code = \"{bad}\"\n{MINIMAL}"
        ));
        assert_eq!((line, column), (4, 12), "{bad}");
        assert!(
            message.contains("`imp_code` in [session.page] must be \"imp\" and digits"),
            "{bad}: {message}"
        );
    }
    let (_, _, message) = one_error(&format!(
        "{session}[session.page]\nimp_code = \"imp1\"\nstore_id = \"store-1\"\n{MINIMAL}"
    ));
    assert!(
        message.contains("`store_id` in [session.page] is for sdk = \"portone\""),
        "{message}"
    );
}

#[test]
fn the_portone_page_takes_a_store_from_the_page_or_from_portone() {
    let session = "[session]\nsecrets = [\"${VERIGATE_SESSION_SECRET}\"]\n";
    let (line, _, message) = one_error(&format!("[portone]\n{session}{MINIMAL}"));
    assert_eq!(line, 2);
    assert!(
        message.contains("the PortOne page needs a store"),
        "{message}"
    );
    // [portone]'s store serves the page too.
    let c = ok(&format!(
        "[portone]\nstore_id = \"store-1\"\n{session}[session.page]\nchannel_key = \"ck\"\n{MINIMAL}"
    ));
    let p = c.session.unwrap().page;
    assert_eq!(p.provider, Provider::PortOneV2);
    assert_eq!(p.sdk_src(), PORTONE_SDK_URL);
    assert_eq!(p.store_id, "store-1");
    assert_eq!(p.imp_code, "");
    assert_eq!(p.channel_key, "ck");
    // The page's own store wins.
    let c = ok(&format!(
        "[portone]\nstore_id = \"store-1\"\n{session}[session.page]\nstore_id = \"store-2\"\n{MINIMAL}"
    ));
    assert_eq!(c.session.unwrap().page.store_id, "store-2");
    let (_, _, message) = one_error(&format!(
        "[portone]\nstore_id = \"s\"\n{session}[session.page]\nimp_code = \"imp1\"\n{MINIMAL}"
    ));
    assert!(
        message.contains("`imp_code` in [session.page] is for sdk = \"iamport\""),
        "{message}"
    );
}

#[test]
fn with_both_providers_the_page_names_its_sdk() {
    let session = "[session]\nsecrets = [\"${VERIGATE_SESSION_SECRET}\"]\n";
    let text = format!(
        "[iamport]\n[portone]\nstore_id = \"s\"\n{session}[session.page]\nimp_code = \"imp1\"\n\
         {MINIMAL}provider = \"iamport\"\n"
    );
    let (line, _, message) = one_error(&text);
    assert_eq!(line, 6);
    assert_eq!(
        message,
        "missing key `sdk` in [session.page]: [iamport] and [portone] are configured, so it \
         must name one (\"iamport\" or \"portone\")"
    );
    let text = text.replace("[session.page]\n", "[session.page]\nsdk = \"portone\"\n");
    let (line, _, message) = one_error(&text);
    // Now the V1 merchant code is the odd one out.
    assert_eq!(line, 8);
    assert!(message.contains("is for sdk = \"iamport\""), "{message}");
    let c = ok(&text.replace("imp_code = \"imp1\"\n", ""));
    assert_eq!(c.session.unwrap().page.provider, Provider::PortOneV2);
}

#[test]
fn page_texts_and_the_sdk_url_are_checked() {
    let session = "[session]\nsecrets = [\"${VERIGATE_SESSION_SECRET}\"]\n\
                   [session.page]\nimp_code = \"imp1\"\n";
    let long = "가".repeat(501);
    let cases = [
        (
            "title = \"\"".to_string(),
            "`title` in [session.page] must be 1 to 500 characters",
        ),
        (
            format!("intro = \"{long}\""),
            "`intro` in [session.page] must be 1 to 500",
        ),
        (
            "button = \"a\\u0007b\"".to_string(),
            "`button` in [session.page]",
        ),
        (
            "sdk_url = \"cdn.iamport.kr/v1/iamport.js\"".to_string(),
            "`sdk_url` in [session.page]: sdk_url must be an absolute http(s) URL of a script",
        ),
        (
            "sdk_url = \"ftp://cdn.example/sdk.js\"".to_string(),
            "(found `ftp://cdn.example/sdk.js`)",
        ),
        (
            "sdk_url = \"https://cdn.example\"".to_string(),
            "`sdk_url` in [session.page]: sdk_url must be",
        ),
        (
            "window = \"tab\"".to_string(),
            "`window` in [session.page] must be one of \"auto\", \"popup\", \"redirect\", not \"tab\"",
        ),
    ];
    for (line, fragment) in cases {
        let (l, _, message) = one_error(&format!("{session}{line}\n{MINIMAL}"));
        assert_eq!(l, 5, "{line}");
        assert!(message.contains(fragment), "{line}: {message}");
    }
    // `""` is "the default" for the optional strings, as the example writes them.
    let c = ok(&format!(
        "{session}sdk_url = \"\"\nchannel_key = \"\"\n{MINIMAL}"
    ));
    let p = c.session.unwrap().page;
    assert_eq!((p.sdk_src(), p.channel_key.as_str()), (IAMPORT_SDK_URL, ""));
}

#[test]
fn changed_session_secrets_are_a_change_a_reload_applies() {
    let first = ok(&format!("{SESSION}{MINIMAL}"));
    let rotated = ok(&format!("{SESSION}{MINIMAL}").replace(
        "secrets = [\"${VERIGATE_SESSION_SECRET}\"]",
        &format!("secrets = [\"{SECRET2}\", \"${{VERIGATE_SESSION_SECRET}}\"]"),
    ));
    assert_ne!(first, rotated);
    assert_eq!(
        format!("{:?}", first.session.as_ref().unwrap().secrets[0]),
        "Secret(<redacted>)"
    );
    // Not fixed at start: the running configuration takes them on SIGHUP.
    assert!(crate::reload::fixed_changes(&first, &rotated).is_empty());
    assert_eq!(first, ok(&format!("{SESSION}{MINIMAL}")));
}
