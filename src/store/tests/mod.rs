//! The store room's tests: settings here, the Valkey store against a real server in `valkey`.

mod valkey;

use super::*;
use base64::Engine;

pub(super) fn settings(url: &str, prefix: &str) -> StoreSettings {
    StoreSettings {
        url: Secret::new(url),
        key_prefix: prefix.into(),
        timeout: Duration::from_millis(100),
        secret: Secret::new(base64::engine::general_purpose::STANDARD.encode([7u8; 32])),
    }
}

#[test]
fn settings_are_checked_before_any_connection() {
    assert_eq!(
        settings("redis://127.0.0.1:6379/0", "verigate:").check(),
        Ok(())
    );
    assert_eq!(
        settings("rediss://u:p@cache.internal:6380", "v:").check(),
        Ok(())
    );
    assert_eq!(
        settings("http://127.0.0.1", "v:").check(),
        Err(StoreSettingsError::Scheme)
    );
    for prefix in ["", "has space", "{tag}", &"p".repeat(MAX_PREFIX_LEN + 1)] {
        assert_eq!(
            settings("redis://h", prefix).check(),
            Err(StoreSettingsError::Prefix),
            "{prefix:?}"
        );
    }
    let mut s = settings("redis://h", "v:");
    s.timeout = Duration::ZERO;
    assert_eq!(s.check(), Err(StoreSettingsError::Timeout));
    s.timeout = MAX_TIMEOUT + Duration::from_millis(1);
    assert_eq!(s.check(), Err(StoreSettingsError::TimeoutTooLong));
    s.timeout = Duration::from_millis(5);
    s.secret = Secret::new("c2hvcnQ=");
    assert!(matches!(s.check(), Err(StoreSettingsError::Secret(_))));
}

#[test]
fn debug_never_prints_the_password_or_the_secret() {
    let s = settings("rediss://gw:hunter2@cache.internal:6380/0", "v:");
    let printed = format!("{s:?}");
    assert!(!printed.contains("hunter2"), "{printed}");
    assert!(!printed.contains(s.secret.expose()), "{printed}");
    assert!(printed.contains("cache.internal:6380"), "{printed}");
    assert_eq!(redacted_url("redis://h:1/0"), "redis://h:1/0");
    assert_eq!(redacted_url("nonsense"), "<not a URL>");
}

#[test]
fn only_plain_urls_to_other_hosts_count_as_in_clear() {
    for (url, clear) in [
        ("redis://10.0.0.5:6379/0", true),
        ("redis://:pw@cache.internal/0", true),
        ("redis://127.0.0.1:6379/0", false),
        ("redis://u:p@localhost", false),
        ("redis://[::1]:6379", false),
        ("redis://127.8.9.10:6379", false),
        ("redis://[::ffff:127.0.0.1]:6379", false),
        ("redis://LocalHost/0", false),
        // A name is not an address: this one can be anywhere.
        ("redis://127.cache.example.com:6379", true),
        ("redis://u:p@127.0.0.1.example.net/0", true),
        ("redis://[::2]:6379", true),
        ("rediss://cache.internal:6380", false),
    ] {
        assert_eq!(is_plain_to_another_host(url), clear, "{url}");
    }
}

/// The example ACL of deploy/README.md (`ACL SETUSER …`), word by word.
pub(super) fn documented_acl() -> Vec<&'static str> {
    let readme = include_str!("../../../deploy/README.md");
    let start = readme
        .find("`ACL SETUSER ")
        .expect("deploy/README.md shows an ACL")
        + 1;
    let len = readme[start..].find('`').expect("a closing backtick");
    readme[start..start + len].split_whitespace().collect()
}

/// The words of `words` that are command names (upper-case letters).
fn commands<'a>(words: impl Iterator<Item = &'a str>) -> std::collections::BTreeSet<String> {
    words
        .filter(|w| w.len() > 1 && w.bytes().all(|b| b.is_ascii_uppercase()))
        .map(str::to_string)
        .collect()
}

#[test]
fn the_denied_message_and_deploy_readme_name_the_same_commands() {
    let named = commands(ACL_COMMANDS.split([',', ' ', '(', ')']));
    assert!(StoreError::Denied.to_string().contains(ACL_COMMANDS));
    // The prose of the Credentials paragraph: every command in backticks.
    let readme = include_str!("../../../deploy/README.md");
    let start = readme
        .find("- **Credentials**")
        .expect("a Credentials paragraph");
    let len = readme[start + 1..]
        .find("\n- ")
        .map_or(readme.len() - start, |e| e + 1);
    let prose = commands(readme[start..start + len].split('`').skip(1).step_by(2));
    assert_eq!(
        prose, named,
        "deploy/README.md's list and StoreError::Denied"
    );
    // The example ACL allows them all but SELECT (its URL uses database 0).
    let allowed: Vec<String> = documented_acl()
        .into_iter()
        .filter_map(|w| w.strip_prefix('+'))
        .map(str::to_ascii_uppercase)
        .collect();
    let mut without_select = named;
    without_select.remove("SELECT");
    assert_eq!(
        commands(allowed.iter().map(String::as_str)),
        without_select,
        "the example ACL"
    );
}
