//! Pass 4: the meaning of each section, every problem located.

use super::*;

#[test]
fn trusted_proxies_are_addresses_or_cidrs_and_none_by_default() {
    assert!(ok(MINIMAL).server.trusted_proxies.is_empty());
    let c = ok(&format!(
        "[server]\ntrusted_proxies = [\"10.0.0.0/8\", \"192.0.2.7\", \"fd00::/8\"]\n{MINIMAL}"
    ));
    let t = &c.server.trusted_proxies;
    for (ip, want) in [
        ("10.9.8.7", true),
        ("192.0.2.7", true),
        ("192.0.2.8", false),
        ("fd00::1", true),
        ("::ffff:10.0.0.1", true),
        ("127.0.0.1", false),
    ] {
        assert_eq!(t.contains(ip.parse().unwrap()), want, "{ip}");
    }
    assert!(
        c.describe()
            .contains("trusted   proxies 10.0.0.0/8, 192.0.2.7/32, fd00::/8"),
        "{}",
        c.describe()
    );
    assert!(ok(MINIMAL).describe().contains("trusted   no proxies"));
}

#[test]
fn a_bad_trusted_proxy_is_located_and_says_what_is_valid() {
    let text = format!(
        "[server]\ntrusted_proxies = [\"10.0.0.1\", \"edge.internal\", \"10.0.0.0/40\"]\n{MINIMAL}"
    );
    let all = located(&text);
    assert_eq!(all.len(), 2, "{all:#?}");
    assert_eq!((all[0].0, all[0].1), (2, 32));
    assert!(
        all[0]
            .2
            .contains("`edge.internal` is not an IP address or CIDR"),
        "{}",
        all[0].2
    );
    assert_eq!((all[1].0, all[1].1), (2, 49));
    assert!(all[1].2.contains("`10.0.0.0/40`"), "{}", all[1].2);
}

#[test]
fn semantic_errors_are_all_reported_in_file_order() {
    let text = r#"[server]
listen = ["nonsense"]
threads = 0
max_body_bytes = 70000
[iamport]
base_url = "ftp://example.com"
timeout_ms = 0
[cache]
capacity = 0
[headers]
prefix = "X_Verified"
[policies.p]
timezone = "Mars/Olympus"
min_age = 200
[[routes]]
name = "r"
method = "G E T"
path = "no-slash"
policy = "q"
imp_uid_field = ""
"#;
    let all = located(text);
    let lines: Vec<usize> = all.iter().map(|e| e.0).collect();
    assert_eq!(
        lines,
        [2, 3, 4, 6, 7, 9, 11, 13, 14, 17, 18, 19, 20],
        "{all:#?}"
    );
}

#[test]
fn route_naming_a_missing_policy_is_an_error_listing_the_defined_ones() {
    let text = MINIMAL.replace("policy = \"adult\"", "policy = \"adults\"");
    let (line, column, message) = one_error(&text);
    assert_eq!((line, column), (8, 10));
    assert!(
        message.contains("there is no policy `adults`; defined: adult"),
        "{message}"
    );
}

#[test]
fn max_body_bytes_above_64_kib_is_rejected_with_the_reason() {
    let (line, column, message) =
        one_error(&format!("[server]\nmax_body_bytes = 70000\n{MINIMAL}"));
    assert_eq!((line, column), (2, 18));
    assert!(message.contains("between 1 and 65536"), "{message}");
    assert!(message.contains("pingora 0.9"), "{message}");
    assert_eq!(
        ok(&format!("[server]\nmax_body_bytes = 65536\n{MINIMAL}"))
            .server
            .max_body_bytes,
        65536
    );
}

#[test]
fn unknown_time_zone_is_rejected() {
    let text = MINIMAL.replace(
        "[policies.adult]\n",
        "[policies.adult]\ntimezone = \"Asia/Seol\"\n",
    );
    let (line, column, message) = one_error(&text);
    assert_eq!((line, column), (3, 12));
    assert!(
        message.contains("`Asia/Seol` is not an IANA time zone"),
        "{message}"
    );
}

#[test]
fn age_bounds_are_checked() {
    let cases = [
        (
            "min_age = -1",
            "`min_age` in [policies.adult] must be between 0 and 150",
        ),
        (
            "min_age = 20\nmax_age = 19",
            "must be between min_age (20) and 150, not 19",
        ),
    ];
    for (lines, fragment) in cases {
        let text = MINIMAL.replace(
            "[policies.adult]\n",
            &format!("[policies.adult]\n{lines}\n"),
        );
        let (_, _, message) = one_error(&text);
        assert!(message.contains(fragment), "{message}");
    }
}

#[test]
fn duplicate_method_and_path_is_rejected_at_the_second_route() {
    let text = format!(
        "{MINIMAL}[[routes]]\nname = \"again\"\nmethod = \"post\"\npath = \"/certifications\"\npolicy = \"adult\"\n"
    );
    let (line, column, message) = one_error(&text);
    assert_eq!((line, column), (12, 8));
    assert!(
        message.contains("repeats POST /certifications, already taken by route `popup` on line 7"),
        "{message}"
    );
}

#[test]
fn duplicate_route_name_is_rejected() {
    let text = format!(
        "{MINIMAL}[[routes]]\nname = \"popup\"\nmethod = \"GET\"\npath = \"/other\"\npolicy = \"adult\"\n"
    );
    let (line, _, message) = one_error(&text);
    assert_eq!(line, 10);
    assert!(
        message.contains("route name `popup` is used twice"),
        "{message}"
    );
}

#[test]
fn the_passthrough_metrics_label_is_not_a_route_name() {
    let text = MINIMAL.replacen("name = \"popup\"", "name = \"passthrough\"", 1);
    assert_ne!(text, MINIMAL);
    let (_, _, message) = one_error(&text);
    assert!(message.contains("`passthrough` is reserved"), "{message}");
}

#[test]
fn route_path_must_be_a_bare_absolute_path() {
    for path in ["certifications", "/a?b=1", "/a#x", "/a b", ""] {
        let text = MINIMAL.replace("/certifications", path);
        let (_, _, message) = one_error(&text);
        assert!(message.contains("must start with `/`"), "{path}: {message}");
    }
}

#[test]
fn forward_fields_are_deduplicated_and_sorted_in_header_table_order() {
    let text = format!(
        "[headers]\nforward = [\"merchant_uid\", \"gender\", \"unique_key\", \"gender\"]\n{MINIMAL}"
    );
    assert_eq!(
        ok(&text).headers.forward,
        [
            ForwardField::Gender,
            ForwardField::UniqueKey,
            ForwardField::MerchantUid
        ]
    );
}

#[test]
fn unknown_forward_field_lists_the_valid_names() {
    let text = format!("[headers]\nforward = [\"gender\", \"ci\"]\n{MINIMAL}");
    let (line, column, message) = one_error(&text);
    assert_eq!((line, column), (2, 22));
    assert!(message.contains("unknown field `ci`"), "{message}");
    assert!(
            message.contains(
                "gender, foreigner, unique_key, unique_in_site, phone, carrier, pg_provider, merchant_uid"
            ),
            "{message}"
        );
}

#[test]
fn header_prefix_is_lower_cased_and_must_end_with_a_dash() {
    let c = ok(&format!("[headers]\nprefix = \"X-Checked-\"\n{MINIMAL}"));
    assert_eq!(c.headers.prefix, "x-checked-");
    for bad in [
        "",
        "-",
        "x-verified",
        "x_verified-",
        "x verified-",
        "x-",
        "content-",
    ] {
        let (_, _, message) = one_error(&format!("[headers]\nprefix = \"{bad}\"\n{MINIMAL}"));
        assert!(
            message.contains("`prefix` in [headers]"),
            "{bad:?}: {message}"
        );
    }
}

#[test]
fn base_url_must_be_http_with_a_host_and_loses_its_trailing_slash() {
    let c = ok(&format!(
        "[iamport]\nbase_url = \"http://127.0.0.1:9000/\"\n{MINIMAL}"
    ));
    assert_eq!(c.iamport.unwrap().base_url, "http://127.0.0.1:9000");
    for bad in [
        "api.iamport.kr",
        "ftp://api.iamport.kr",
        "https://",
        "https://u:p@h",
    ] {
        let (_, _, message) = one_error(&format!("[iamport]\nbase_url = \"{bad}\"\n{MINIMAL}"));
        assert!(
            message.contains("`base_url` in [iamport]"),
            "{bad}: {message}"
        );
    }
}

fn signing(keys: &str) -> String {
    format!("[signing]\nactive_key = \"k\"\n{keys}{MINIMAL}")
}

#[test]
fn hmac_secret_shorter_than_32_bytes_is_rejected_without_echoing_it() {
    let short = "c2hvcnQtc2VjcmV0LXZhbHVl"; // "short-secret-value", 18 bytes
    let text = signing(&format!(
        "[[signing.keys]]\nid = \"k\"\nalg = \"hmac-sha256\"\nsecret = \"{short}\"\n"
    ));
    let (line, column, message) = one_error(&text);
    assert_eq!((line, column), (6, 10));
    assert!(
        message.contains("decodes to 18 bytes; at least 32"),
        "{message}"
    );
    assert!(!message.contains(short));
    let text =
        signing("[[signing.keys]]\nid = \"k\"\nalg = \"hmac-sha256\"\nsecret = \"not base64!\"\n");
    let (_, _, message) = one_error(&text);
    assert!(message.contains("is not valid base64"), "{message}");
    assert!(!message.contains("not base64!"));
}

#[test]
fn signing_keys_are_checked_against_their_algorithm_and_the_active_key() {
    let cases = [
        (
            "[[signing.keys]]\nid = \"k\"\nalg = \"ed25519\"\n",
            "needs `private_key_file`",
        ),
        (
            &format!(
                "[[signing.keys]]\nid = \"k\"\nalg = \"ed25519\"\nprivate_key_file = \"a\"\nsecret = \"{HMAC32}\"\n"
            ),
            "takes `private_key_file`, not `secret`",
        ),
        (
            "[[signing.keys]]\nid = \"k\"\nalg = \"hmac-sha256\"\n",
            "needs `secret`",
        ),
        (
            "[[signing.keys]]\nid = \"k\"\nalg = \"ed25519\"\nprivate_key_file = \"\"\n",
            "must not be empty",
        ),
        (
            "[[signing.keys]]\nid = \"other\"\nalg = \"ed25519\"\nprivate_key_file = \"a\"\n",
            "names no key: `k`; keys: other",
        ),
        ("", "there is no [[signing.keys]] table"),
        (
            "[[signing.keys]]\nid = \"k\"\nalg = \"rsa\"\n",
            "must be one of \"ed25519\", \"hmac-sha256\"",
        ),
    ];
    for (keys, fragment) in cases {
        let (_, _, message) = one_error(&signing(keys));
        assert!(message.contains(fragment), "{keys:?}: {message}");
    }
    let twice = "[[signing.keys]]\nid = \"k\"\nalg = \"ed25519\"\nprivate_key_file = \"a\"\n";
    let (line, _, message) = one_error(&signing(&format!("{twice}{twice}")));
    assert_eq!(line, 8);
    assert!(
        message.contains("already used by the key on line 4"),
        "{message}"
    );
}

#[test]
fn listener_addresses_must_parse_and_not_collide() {
    let (_, _, message) = one_error(&format!(
        "[server]\nlisten = [\"127.0.0.1:9901\"]\n{MINIMAL}"
    ));
    assert!(
        message.contains("127.0.0.1:9901 is already a listener (line 2)"),
        "{message}"
    );
    // Port 0 is a fresh port each time (tests use it), never a collision.
    let c = ok(&format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\nadmin_listen = \"127.0.0.1:0\"\n{MINIMAL}"
    ));
    assert_eq!(c.server.listen.len(), 1);
    let (_, _, message) = one_error(&format!("[server]\nlisten = []\n{MINIMAL}"));
    assert!(message.contains("would accept no connections"), "{message}");
}

#[test]
fn upstream_addresses_must_resolve() {
    let (line, column, message) =
        one_error(&format!("[upstream]\naddrs = [\"127.0.0.1\"]\n{MINIMAL}"));
    assert_eq!((line, column), (2, 10));
    assert!(
        message.contains("`127.0.0.1` is not a reachable host:port"),
        "{message}"
    );
    let (_, _, message) = one_error(&format!("[upstream]\naddrs = []\n{MINIMAL}"));
    assert!(
        message.contains("`addrs` in [upstream] is empty"),
        "{message}"
    );
}
