//! [iamport] and [portone] side by side: which providers a file configures, the `provider` of
//! each route, and [portone]'s own checks.

use super::*;
use crate::provider::ProviderName;

/// Both provider tables, with the credentials from the environment.
const BOTH: &str = "[iamport]\n[portone]\nstore_id = \"store-1\"\n";

/// A second route, on the V2 API.
const V2_ROUTE: &str = "[[routes]]\nname = \"v2\"\nmethod = \"POST\"\npath = \"/v2\"\n\
                        policy = \"adult\"\nprovider = \"portone\"\n";

#[test]
fn a_file_with_neither_provider_table_keeps_iamport_with_its_defaults() {
    let c = ok(MINIMAL);
    assert!(c.iamport.is_some());
    assert_eq!(c.portone, None);
    assert_eq!(c.providers(), [ProviderName::Iamport]);
    assert_eq!(c.routes[0].provider, ProviderName::Iamport);
    assert_eq!(c.routes[0].imp_uid_field, "imp_uid");
}

#[test]
fn portone_alone_is_the_only_provider_with_its_documented_defaults() {
    let c = ok(&format!("[portone]\n{MINIMAL}"));
    assert_eq!(c.iamport, None);
    assert_eq!(c.providers(), [ProviderName::Portone]);
    let p = c.portone.as_ref().unwrap();
    assert_eq!(p.base_url, "https://api.portone.io");
    assert_eq!(p.api_secret.expose(), "portone-secret-value");
    assert_eq!(p.store_id, None);
    assert_eq!(p.timeout, Duration::from_millis(3000));
    // The route takes the only provider, and reads V2's field by default.
    let r = &c.routes[0];
    assert_eq!(r.provider, ProviderName::Portone);
    assert_eq!(r.imp_uid_field, "identityVerificationId");
}

#[test]
fn every_portone_key_is_taken() {
    let c = ok(&format!(
        "[portone]\nbase_url = \"http://127.0.0.1:8089/\"\napi_secret = \"${{PORTONE_API_SECRET}}\"\n\
         store_id = \"store-4d3c2b1a\"\ntimeout_ms = 1500\n{MINIMAL}"
    ));
    let p = c.portone.unwrap();
    assert_eq!(p.base_url, "http://127.0.0.1:8089");
    assert_eq!(p.store_id.as_deref(), Some("store-4d3c2b1a"));
    assert_eq!(p.timeout, Duration::from_millis(1500));
}

#[test]
fn with_both_providers_each_route_names_its_own() {
    let (line, column, message) = one_error(&format!("{BOTH}{MINIMAL}"));
    // At the [[routes]] table of `popup`: line 4 of MINIMAL, after the three lines of BOTH.
    assert_eq!((line, column), (7, 1));
    assert_eq!(
        message,
        "missing key `provider` in [[routes]] `popup`: [iamport] and [portone] are configured, \
         so it must name one (\"iamport\" or \"portone\")"
    );
    let text = format!("{BOTH}{MINIMAL}provider = \"iamport\"\n{V2_ROUTE}");
    let c = ok(&text);
    assert_eq!(
        c.providers(),
        [ProviderName::Iamport, ProviderName::Portone]
    );
    let providers: Vec<_> = c.routes.iter().map(|r| r.provider).collect();
    assert_eq!(providers, [ProviderName::Iamport, ProviderName::Portone]);
    assert_eq!(c.routes[1].imp_uid_field, "identityVerificationId");
    // imp_uid_field still overrides the provider's default.
    let c = ok(&format!("{text}imp_uid_field = \"ivid\"\n"));
    assert_eq!(c.routes[1].imp_uid_field, "ivid");
}

#[test]
fn a_route_naming_a_provider_that_is_not_configured_is_located() {
    let (line, column, message) = one_error(&format!("{MINIMAL}provider = \"portone\"\n"));
    assert_eq!((line, column), (9, 12));
    assert_eq!(
        message,
        "`provider` in [[routes]] `popup`: \"portone\" is not configured (there is no [portone] \
         table); configured: [iamport]"
    );
    let (_, _, message) = one_error(&format!("[portone]\n{MINIMAL}provider = \"iamport\"\n"));
    assert!(
        message.contains(
            "\"iamport\" is not configured (there is no [iamport] table); configured: [portone]"
        ),
        "{message}"
    );
}

#[test]
fn a_provider_that_does_not_exist_lists_the_two_that_do() {
    for (value, fragment) in [
        (
            "\"toss\"",
            "`provider` in [[routes]] must be one of \"iamport\", \"portone\", not \"toss\"",
        ),
        (
            "\"PortOne\"",
            "must be one of \"iamport\", \"portone\", not \"PortOne\"",
        ),
        (
            "2",
            "`provider` in [[routes]] must be one of \"iamport\", \"portone\"",
        ),
    ] {
        let (line, _, message) = one_error(&format!("{MINIMAL}provider = {value}\n"));
        assert_eq!(line, 9, "{value}");
        assert!(message.contains(fragment), "{value}: {message}");
    }
}

#[test]
fn the_portone_secret_defaults_to_its_variable_as_the_iamport_credentials_do() {
    let none = |_: &str| None;
    let err = parse(&format!("\n[portone]\n{MINIMAL}"), "gateway.toml", &none).unwrap_err();
    assert_eq!(err.0.len(), 1, "{err}");
    let e = &err.0[0];
    assert_eq!((e.line, e.column), (2, 1));
    assert_eq!(
        e.message,
        "environment variable `PORTONE_API_SECRET` is not set (`api_secret` in [portone] \
         defaults to \"${PORTONE_API_SECRET}\")"
    );
    // Written as a reference, an unset variable is located where it is written.
    let (line, column, message) = one_error(&format!(
        "[portone]\napi_secret = \"${{NOPE_V2}}\"\n{MINIMAL}"
    ));
    assert_eq!((line, column), (2, 15));
    assert!(
        message
            .contains("environment variable `NOPE_V2` is not set (in `api_secret` in [portone])"),
        "{message}"
    );
}

#[test]
fn a_portone_secret_that_cannot_be_sent_is_refused_without_being_echoed() {
    for (value, fragment) in [
        ("비밀", "must be visible ASCII"),
        ("", "`api_secret` in [portone] must not be empty"),
    ] {
        let (line, column, message) =
            one_error(&format!("[portone]\napi_secret = \"{value}\"\n{MINIMAL}"));
        assert_eq!((line, column), (2, 14), "{value:?}");
        assert!(message.contains(fragment), "{value:?}: {message}");
        if !value.is_empty() {
            assert!(!message.contains(value), "{message}");
        }
    }
}

#[test]
fn portone_base_url_store_id_and_timeout_are_located() {
    let text = format!(
        "[portone]\nbase_url = \"ftp://api.portone.io\"\nstore_id = \"store 1\"\ntimeout_ms = 0\n{MINIMAL}"
    );
    let all = located(&text);
    assert_eq!(
        all.iter().map(|e| (e.0, e.1)).collect::<Vec<_>>(),
        [(2, 12), (3, 12), (4, 14)],
        "{all:#?}"
    );
    assert_eq!(
        all[0].2,
        "`base_url` in [portone] must be an http:// or https:// URL with a host, such as \
         https://api.portone.io (found `ftp://api.portone.io`)"
    );
    assert!(
        all[1]
            .2
            .starts_with("`store_id` in [portone] must be 1–128 letters, digits, `-` or `_`"),
        "{}",
        all[1].2
    );
    assert_eq!(
        all[2].2,
        "`timeout_ms` in [portone] must be more than 0 milliseconds"
    );
    let (_, _, message) = one_error(&format!(
        "[portone]\nbase_url = \"https://key:secret@api.portone.io\"\n{MINIMAL}"
    ));
    assert!(
        message.contains("must not carry credentials; they belong in api_secret"),
        "{message}"
    );
    assert!(
        !format!("{:?}", ok(&format!("[portone]\n{MINIMAL}"))).contains("portone-secret-value"),
        "Debug shows the V2 secret"
    );
}

#[test]
fn describe_shows_each_provider_and_the_provider_of_each_route() {
    let text = format!("{BOTH}{MINIMAL}provider = \"iamport\"\n{V2_ROUTE}");
    let d = ok(&text).describe();
    for line in [
        "i'mport   https://api.iamport.kr (budget 3000 ms)",
        "PortOne   https://api.portone.io (budget 3000 ms, store store-1)",
        "popup  POST /certifications  imp_uid from body field imp_uid  policy adult  on_deny \
         forward  on_failure reject  provider iamport",
        "v2  POST /v2  imp_uid from body field identityVerificationId  policy adult  on_deny \
         forward  on_failure reject  provider portone",
    ] {
        assert!(d.contains(line), "missing {line:?} in:\n{d}");
    }
    assert!(!d.contains("portone-secret-value"), "{d}");
    let d = ok(&format!("[portone]\n{MINIMAL}")).describe();
    assert!(!d.contains("i'mport "), "{d}");
}
