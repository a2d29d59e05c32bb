//! [store]: defaults, every problem located on its key, nothing secret echoed, what `check`
//! prints, and a changed store named by a reload.

use super::*;

const STORE: &str = "[store]\nurl = \"redis://:${STORE_PASSWORD}@10.0.0.5:6379/0\"\n\
                     secret = \"${VERIGATE_STORE_SECRET}\"\n";

#[test]
fn the_smallest_store_gets_the_documented_defaults() {
    let c = ok(&format!("{STORE}{MINIMAL}"));
    let s = c.store.as_ref().unwrap();
    assert_eq!(
        s.url.expose(),
        "redis://:store-password-value@10.0.0.5:6379/0"
    );
    assert_eq!(s.key_prefix, "verigate:");
    assert_eq!(s.timeout, Duration::from_millis(100));
    assert_eq!(s.secret.expose(), HMAC32);
    assert!(ok(MINIMAL).store.is_none(), "no table, no store");
}

#[test]
fn every_store_key_is_taken_and_unknown_ones_are_refused() {
    let c = ok(&format!(
        "[store]\nurl = \"rediss://cache.internal:6380\"\nkey_prefix = \"verigate:prod:\"\n\
         timeout_ms = 40\nsecret = \"{HMAC32}\"\n{MINIMAL}"
    ));
    let s = c.store.unwrap();
    assert_eq!(
        (s.key_prefix.as_str(), s.timeout),
        ("verigate:prod:", Duration::from_millis(40))
    );
    let (line, column, message) = one_error(&format!("{STORE}timeout = 5\n{MINIMAL}"));
    assert_eq!((line, column), (4, 1));
    assert!(
        message.starts_with("unknown key `timeout` in [store]; valid keys: url, key_prefix"),
        "{message}"
    );
    let (_, _, message) = one_error(&format!("[store]\nkey_prefix = \"v:\"\n{MINIMAL}"));
    assert!(
        message.contains("missing keys `url`, `secret` in [store]"),
        "{message}"
    );
}

#[test]
fn each_bad_value_is_located_on_its_key_and_never_echoed() {
    let text = format!(
        "[store]\nurl = \"http://:hunter2@cache\"\nkey_prefix = \"has space\"\ntimeout_ms = 0\n\
         secret = \"c2hvcnQtc2VjcmV0LXZhbHVl\"\n{MINIMAL}"
    );
    let all = located(&text);
    assert_eq!(
        all.iter().map(|e| (e.0, e.1)).collect::<Vec<_>>(),
        [(2, 7), (3, 14), (4, 14), (5, 10)],
        "{all:#?}"
    );
    assert!(all[0].2.contains("must start with redis:// or rediss://"));
    assert!(
        all[1].2.contains("store.key_prefix must be"),
        "{}",
        all[1].2
    );
    assert!(all[2].2.contains("store.timeout_ms must be at least 1"));
    assert_eq!(
        all[3].2,
        "`secret` in [store] must be standard base64 of exactly 32 random bytes, best as \
         \"${VARIABLE}\" (`verigate keygen --alg hmac-sha256` prints one): it is 18 bytes"
    );
    for e in &all {
        assert!(
            !e.2.contains("hunter2") && !e.2.contains("c2hvcnQ"),
            "{}",
            e.2
        );
    }
    // An unset variable is blamed once, by interpolation, not again as a bad secret.
    let (_, _, message) = one_error(&format!(
        "[store]\nurl = \"redis://h\"\nsecret = \"${{UNSET_STORE_SECRET}}\"\n{MINIMAL}"
    ));
    assert!(message.contains("UNSET_STORE_SECRET"), "{message}");
}

#[test]
fn the_store_timeout_is_capped_and_kept_below_every_providers_budget() {
    let (line, column, message) = one_error(&format!("{STORE}timeout_ms = 1001\n{MINIMAL}"));
    assert_eq!((line, column), (4, 14));
    assert!(
        message.contains("store.timeout_ms must be at most 1000 ms"),
        "{message}"
    );
    assert_eq!(
        ok(&format!("{STORE}timeout_ms = 1000\n{MINIMAL}"))
            .store
            .unwrap()
            .timeout,
        Duration::from_millis(1000)
    );
    // Every configured provider's budget bounds it, each named.
    let text = format!(
        "[iamport]\ntimeout_ms = 800\n[portone]\nstore_id = \"store-1\"\ntimeout_ms = 500\n\
         {STORE}timeout_ms = 800\n{MINIMAL}"
    );
    // (The route must name a provider too; that error is not this test's.)
    let all: Vec<_> = located(&text)
        .into_iter()
        .filter(|e| e.2.contains("[store]"))
        .collect();
    assert_eq!(
        all.iter().map(|e| (e.0, e.1)).collect::<Vec<_>>(),
        [(9, 14), (9, 14)],
        "{all:#?}"
    );
    assert_eq!(
        all[0].2,
        "`timeout_ms` in [store] (800 ms) must be below `timeout_ms` in [iamport] (800 ms): a \
         lookup asks the store before the API, within the provider's budget"
    );
    assert!(all[1].2.contains("in [portone] (500 ms)"), "{}", all[1].2);
    let fine = format!("[iamport]\ntimeout_ms = 800\n{STORE}timeout_ms = 799\n{MINIMAL}");
    assert_eq!(ok(&fine).store.unwrap().timeout, Duration::from_millis(799));
}

#[test]
fn check_prints_the_store_without_its_password_or_says_state_is_per_process() {
    let c = ok(&format!("{STORE}{MINIMAL}"));
    let d = c.describe();
    assert!(
        d.contains("store     redis://<redacted>@10.0.0.5:6379/0 (prefix verigate:, 100 ms"),
        "{d}"
    );
    assert!(
        !d.contains("store-password-value") && !d.contains(HMAC32),
        "{d}"
    );
    assert!(
        c.warnings()
            .iter()
            .any(|w| w.contains("redis:// to another host")),
        "{:?}",
        c.warnings()
    );
    let alone = ok(MINIMAL).describe();
    assert!(alone.contains("store     none: single use, sessions and the cache are per process"));
    let local = ok(&format!(
        "[store]\nurl = \"redis://127.0.0.1:6379\"\nsecret = \"{HMAC32}\"\n{MINIMAL}"
    ));
    assert!(!local.warnings().iter().any(|w| w.contains("store.url")));
}
