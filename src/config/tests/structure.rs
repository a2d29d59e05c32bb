//! Pass 1 and 3: syntax and structure errors, located and in the operator's words.

use super::*;
use crate::config::document::line_column;

#[test]
fn unknown_key_is_located_and_lists_the_valid_keys() {
    let text = format!("[server]\nthreads = 2\nthread = 4\n{MINIMAL}");
    let (line, column, message) = one_error(&text);
    assert_eq!((line, column), (3, 1));
    assert!(
        message.contains("unknown key `thread` in [server]"),
        "{message}"
    );
    assert!(
            message
                .contains("listen, tls, threads, admin_listen, max_body_bytes, grace_period_secs, pid_file, upgrade_sock, access_log"),
            "{message}"
        );
}

#[test]
fn unknown_top_level_table_and_route_key_are_located() {
    let text = "[serverr]\nx = 1\n[policies.p]\n[[routes]]\nname = \"r\"\nmethod = \"GET\"\n\
                    path = \"/\"\npolicy = \"p\"\n  imp_uid = \"query\"\n";
    let all = located(text);
    assert_eq!(all.len(), 2, "{all:#?}");
    assert_eq!((all[0].0, all[0].1), (1, 2), "{all:#?}");
    assert!(
        all[0]
            .2
            .contains("unknown key `serverr` at the top level; valid keys: server, upstream"),
        "{all:#?}"
    );
    assert_eq!((all[1].0, all[1].1), (9, 3));
    assert!(
        all[1].2.contains("unknown key `imp_uid` in [[routes]]"),
        "{}",
        all[1].2
    );
    assert!(all[1].2.contains("imp_uid_from"), "{}", all[1].2);
}

#[test]
fn wrong_types_are_located_and_say_what_is_expected() {
    // (file prefix, line, column, expected message fragment)
    let cases = [
        (
            "[server]\nthreads = \"two\"\n",
            2,
            11,
            "`threads` in [server] must be a non-negative integer, not a string",
        ),
        (
            "[server]\nthreads = -1\n",
            2,
            11,
            "`threads` in [server] must be a non-negative integer, not -1",
        ),
        (
            "[server]\nlisten = \"0.0.0.0:80\"\n",
            2,
            10,
            "`listen` in [server] must be an array, not a string",
        ),
        (
            "[server]\nlisten = [8080]\n",
            2,
            11,
            "an element of `listen` in [server] must be a string, not an integer",
        ),
        (
            "[upstream]\ntls = \"yes\"\n",
            2,
            7,
            "`tls` in [upstream] must be true or false, not a string",
        ),
        (
            "server = 5\n",
            1,
            10,
            "`server` at the top level must be a table, not an integer",
        ),
        (
            "[cache]\nttl_secs = 1.5\n",
            2,
            12,
            "`ttl_secs` in [cache] must be a non-negative integer, not a float",
        ),
    ];
    for (prefix, line, column, fragment) in cases {
        let (l, c, message) = one_error(&format!("{prefix}{MINIMAL}"));
        assert!(message.contains(fragment), "{prefix:?}: {message}");
        assert_eq!((l, c), (line, column), "{prefix:?}: {message}");
    }
}

#[test]
fn wrong_enum_values_list_the_allowed_ones() {
    let cases = [
        (
            "[policies.p]\nage_basis = \"yearly\"\n",
            "`age_basis` in [policies.p] must be one of \"year\", \"full\", not \"yearly\"",
        ),
        (
            "[policies.p]\nage_basis = 1\n",
            "`age_basis` in [policies.p] must be one of \"year\", \"full\"",
        ),
    ];
    for (prefix, fragment) in cases {
        let text = format!(
            "{prefix}[[routes]]\nname = \"r\"\nmethod = \"GET\"\npath = \"/\"\npolicy = \"p\"\n"
        );
        let (line, _, message) = one_error(&text);
        assert_eq!(line, 2);
        assert!(message.contains(fragment), "{message}");
    }
    let text = format!("{MINIMAL}on_deny = \"allow\"\n");
    let (line, _, message) = one_error(&text);
    assert_eq!(line, 9);
    assert!(message.contains("\"forward\", \"reject\""), "{message}");
}

#[test]
fn several_structural_errors_are_reported_together_in_file_order() {
    let text = r#"[server]
threads = "x"
bogus = 1
[upstream]
read_timeout_ms = true
[policies.p]
[[routes]]
name = "a"
path = "/a"
policy = "p"
[[routes]]
name = "b"
method = 7
path = "/b"
policy = "p"
"#;
    let all = located(text);
    let lines: Vec<usize> = all.iter().map(|e| e.0).collect();
    assert_eq!(lines, [2, 3, 5, 7, 13], "{all:#?}");
    assert!(
        all[3].2.contains("missing key `method` in [[routes]]"),
        "{}",
        all[3].2
    );
    // The removed wrong-typed `method` of route b is not reported as missing as well.
    assert!(
        all[4].2.contains("`method` in [[routes]] must be a string"),
        "{}",
        all[4].2
    );
}

#[test]
fn every_missing_required_key_of_a_table_is_named() {
    let text = "[policies.p]\n[[routes]]\nname = \"a\"\nmethod = 7\n[[routes]]\n";
    let all = located(text);
    assert_eq!(all.len(), 3, "{all:#?}");
    assert!(
        all[0]
            .2
            .contains("missing keys `path`, `policy` in [[routes]]"),
        "{all:#?}"
    );
    assert_eq!((all[0].0, all[0].1), (2, 1));
    assert!(
        all[1].2.contains("`method` in [[routes]] must be a string"),
        "{all:#?}"
    );
    assert_eq!(
        (all[2].0, all[2].2.as_str()),
        (
            5,
            "missing keys `name`, `method`, `path`, `policy` in [[routes]], which have no default"
        )
    );
    let (_, _, message) = one_error(&format!(
        "[server.tls]\nlisten = \"0.0.0.0:8443\"\n{MINIMAL}"
    ));
    assert!(
        message.contains("missing keys `cert`, `key` in [server.tls]"),
        "{message}"
    );
}

#[test]
fn missing_routes_is_an_error_at_the_top_of_the_file() {
    let (line, column, message) = one_error("[policies.adult]\n");
    assert_eq!((line, column), (1, 1));
    assert!(message.contains("missing key `routes`"), "{message}");
    assert!(message.contains("at least one [[routes]]"), "{message}");
}

#[test]
fn syntax_errors_are_located() {
    let all = located("[server]\nthreads = = 2\n[upstream\n");
    assert_eq!((all[0].0, all[0].1), (2, 11), "{all:#?}");
    assert!(all[0].2.contains("extra `=`"), "{all:#?}");
    // Recovery goes on to later lines.
    assert!(all.iter().any(|e| e.0 == 3), "{all:#?}");
}

#[test]
fn columns_count_characters_not_bytes() {
    let text = "# 연령 확인\n[policies.\"성인\"]\nminn_age = 1\n";
    assert_eq!(line_column(text, text.find('[').unwrap()), (2, 1));
    let at = text.find("\"성인\"").unwrap() + "\"성인\"".len();
    assert_eq!(line_column(text, at), (2, 15));
}
