//! [[gates]]: names, prefixes (the path rules, `/.verigate`, routes, other gates), policies, and
//! what `verigate check` prints and warns about sessions.

use super::*;

/// `[session]` with a V1 page: what every gate needs.
const SESSION: &str = "[session]\nsecrets = [\"${VERIGATE_SESSION_SECRET}\"]\n\
                       [session.page]\nimp_code = \"imp1\"\n";

/// A `[[gates]]` table (4 lines, or 5 with `extra`).
fn gate(name: &str, prefix: &str, extra: &str) -> String {
    format!("[[gates]]\nname = \"{name}\"\nprefix = \"{prefix}\"\npolicy = \"adult\"\n{extra}")
}

#[test]
fn gates_need_a_session() {
    let (line, column, message) = one_error(&format!("{}{MINIMAL}", gate("g", "/adult", "")));
    assert_eq!((line, column), (1, 1));
    assert!(
        message.starts_with("[[gates]] needs a [session] table"),
        "{message}"
    );
}

#[test]
fn gate_names_are_tokens_and_unique() {
    let text = format!(
        "{SESSION}{}{}{}{MINIMAL}",
        gate("adult area", "/a", ""),
        gate("g", "/b", ""),
        gate("g", "/c", "")
    );
    let all = located(&text);
    assert_eq!(
        all.iter().map(|e| (e.0, e.1)).collect::<Vec<_>>(),
        [(6, 8), (14, 8)],
        "{all:#?}"
    );
    assert!(
        all[0]
            .2
            .starts_with("`name` in [[gates]] must be 1–64 letters, digits"),
        "{}",
        all[0].2
    );
    assert_eq!(
        all[1].2,
        "gate name `g` is already used on line 10; names must be unique"
    );
}

#[test]
fn gate_prefixes_follow_the_path_rules() {
    let cases = [
        ("adult", "the path does not start with `/`"),
        ("/adult/", "must not end with `/`"),
        ("/a//b", "must not contain `;`, empty segments, `.` or `..`"),
        ("/a;v=1", "must not contain `;`"),
        (
            "/a/../b",
            "must not contain `;`, empty segments, `.` or `..`",
        ),
        ("/a%zz", "a `%` is not followed by two hex digits"),
        ("/a%2Fb", "encoded slash"),
        ("/a\\\\b", "backslash"),
    ];
    for (prefix, fragment) in cases {
        let (line, column, message) =
            one_error(&format!("{SESSION}{}{MINIMAL}", gate("g", prefix, "")));
        assert_eq!((line, column), (7, 10), "{prefix}: {message}");
        assert!(
            message.starts_with("`prefix` in [[gates]] `g` "),
            "{prefix}: {message}"
        );
        assert!(message.contains(fragment), "{prefix}: {message}");
    }
    // Escapes of unreserved characters are stored decoded, as requests are matched.
    let c = ok(&format!("{SESSION}{}{MINIMAL}", gate("g", "/%61dult", "")));
    assert_eq!(c.gates[0].prefix.as_str(), "/adult");
}

#[test]
fn gates_stay_out_of_the_gateways_own_paths() {
    for prefix in ["/.verigate", "/.verigate/verify", "/.VeriGate", "/"] {
        let all = located(&format!("{SESSION}{}{MINIMAL}", gate("g", prefix, "")));
        assert!(
            all[0]
                .2
                .contains("overlaps /.verigate, verigate's own paths"),
            "{prefix}: {all:#?}"
        );
        // `/` covers the callback route as well, and says so.
        assert_eq!(all.len(), if prefix == "/" { 2 } else { 1 }, "{all:#?}");
    }
    // A case-insensitive gate would cover /.verigate in any spelling.
    let (_, _, message) = one_error(&format!(
        "{SESSION}{}{MINIMAL}",
        gate("g", "/.Verigate", "case_insensitive = true\n")
    ));
    assert!(message.contains("overlaps /.verigate"), "{message}");
    ok(&format!(
        "{SESSION}{}{MINIMAL}",
        gate("g", "/.verigatex", "")
    ));
}

#[test]
fn a_gate_may_not_cover_a_callback_route() {
    let (line, column, message) = one_error(&format!(
        "{SESSION}{}{MINIMAL}",
        gate("g", "/certifications", "")
    ));
    assert_eq!((line, column), (7, 10));
    assert_eq!(
        message,
        "`prefix` in [[gates]] `g` `/certifications` covers route `popup` (POST \
         /certifications): a callback route is verified by its own imp_uid and cannot also be \
         gated"
    );
    // Case-insensitively, `/CERT…` covers it too; `/cert` is another segment.
    let (_, _, message) = one_error(&format!(
        "{SESSION}{}{MINIMAL}",
        gate("g", "/CERTIFICATIONS", "case_insensitive = true\n")
    ));
    assert!(message.contains("covers route `popup`"), "{message}");
    ok(&format!("{SESSION}{}{MINIMAL}", gate("g", "/cert", "")));
}

#[test]
fn a_route_may_not_live_under_the_gateways_own_paths() {
    for path in ["/.verigate/callback", "/.VERIGATE"] {
        let (line, column, message) = one_error(&MINIMAL.replace("/certifications", path));
        assert_eq!((line, column), (7, 8), "{path}");
        assert!(
            message.contains(&format!(
                "`path` in [[routes]] `popup` `{path}` is under /.verigate, which verigate \
                 answers itself"
            )),
            "{message}"
        );
    }
}

#[test]
fn gates_may_neither_repeat_nor_nest() {
    for (first, second, extra) in [
        ("/adult", "/adult", ""),
        ("/adult", "/adult/vip", ""),
        ("/adult/vip", "/adult", ""),
        ("/Adult", "/adult", "case_insensitive = true\n"),
    ] {
        let text = format!(
            "{SESSION}{}{}{MINIMAL}",
            gate("a", first, ""),
            gate("b", second, extra)
        );
        let (line, column, message) = one_error(&text);
        assert_eq!((line, column), (11, 10), "{first} {second}");
        assert_eq!(
            message,
            format!(
                "`prefix` in [[gates]] `b` `{second}` overlaps gate `a` (`{first}`, line 7); \
                 one path is under one gate, so gates may neither repeat nor nest"
            )
        );
    }
    let c = ok(&format!(
        "{SESSION}{}{}{}{MINIMAL}",
        gate("a", "/adult", ""),
        gate("b", "/adultery", ""),
        gate("c", "/Adult", "")
    ));
    assert_eq!(c.gates.len(), 3);
}

#[test]
fn a_gate_names_an_existing_policy() {
    let text = format!("{SESSION}{}{MINIMAL}", gate("g", "/a", ""))
        .replace("policy = \"adult\"\n[[gates]]", "");
    let text = text.replacen("policy = \"adult\"", "policy = \"adults\"", 1);
    let (line, column, message) = one_error(&text);
    assert_eq!((line, column), (8, 10));
    assert_eq!(
        message,
        "`policy` in [[gates]] `g`: there is no policy `adults`; defined: adult"
    );
}

#[test]
fn describe_lists_the_session_the_page_and_each_gate_with_its_provider() {
    let text = format!(
        "{SESSION}{}{}{MINIMAL}",
        gate("adult-area", "/adult", ""),
        gate("shop", "/Shop", "case_insensitive = true\n")
    );
    let c = ok(&text);
    let d = c.describe();
    let ids: Vec<String> = c
        .session
        .as_ref()
        .unwrap()
        .sealer()
        .unwrap()
        .key_ids()
        .collect();
    for line in [
        format!(
            "session   cookie __Host-verigate (SameSite=Lax, Secure, ttl 3600 s), seal keys {} \
             (the first seals), verifications up to 600 s old, public url from the request",
            ids[0]
        ),
        "page      /.verigate/verify: sdk iamport (https://cdn.iamport.kr/v1/iamport.js), \
         imp_code imp1, window Auto, title 성인 인증"
            .to_string(),
        "gates:\n  adult-area  /adult  policy adult  provider iamport\n  shop  /Shop (any case)  \
         policy adult  provider iamport\n"
            .to_string(),
    ] {
        assert!(d.contains(&line), "missing {line:?} in:\n{d}");
    }
    assert!(!d.contains(HMAC32), "{d}");
    let d = ok(MINIMAL).describe();
    assert!(!d.contains("session ") && !d.contains("gates:"), "{d}");
}

#[test]
fn check_warns_on_insecure_cookies_and_on_a_session_without_gates() {
    let gated = format!("{SESSION}{}{MINIMAL}", gate("g", "/adult", ""));
    let signing_off = ok(MINIMAL).warnings();
    assert_eq!(ok(&gated).warnings(), signing_off);
    let insecure = gated.replace("[session]\n", "[session]\nsecure = false\n");
    let w = ok(&insecure).warnings();
    assert_eq!(w.len(), 2, "{w:#?}");
    assert!(
        w[1].starts_with("session.secure = false: the session cookie goes without Secure"),
        "{w:#?}"
    );
    let http = gated.replace(
        "[session]\n",
        "[session]\npublic_url = \"http://shop.example\"\n",
    );
    assert!(
        ok(&http)
            .warnings()
            .iter()
            .any(|x| x.starts_with("session.public_url is http://")),
    );
    let w = ok(&format!("{SESSION}{MINIMAL}")).warnings();
    assert!(
        w.iter()
            .any(|x| x == "[session] is set but there is no [[gates]] table: no path is gated"),
        "{w:#?}"
    );
}

#[test]
fn a_policy_used_only_by_a_gate_is_used() {
    let text = format!(
        "[policies.teen]\nmin_age = 13\n{SESSION}{}{MINIMAL}",
        gate("g", "/teen", "").replace("policy = \"adult\"", "policy = \"teen\"")
    );
    let w = ok(&text).warnings();
    assert!(!w.iter().any(|x| x.contains("not used")), "{w:#?}");
    let w = ok(&format!("[policies.teen]\n{MINIMAL}")).warnings();
    assert!(
        w.iter()
            .any(|x| x == "policy `teen` is not used by any route or gate"),
        "{w:#?}"
    );
}
