//! The config module's tests: the shared fixtures (the full example, the minimal file, a fake
//! environment) and the tests of the whole pipeline; each pass has its own file beside this one.

mod check;
mod describe;
mod gates;
mod interpolate;
mod providers;
mod sessions;
mod store;
mod structure;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::extract::ImpUidSource;
use crate::policy::AgeBasis;

/// 32 zero bytes, base64.
const HMAC32: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

/// The example of README, "Configuration", every key written out.
const FULL_EXAMPLE: &str = r#"
[server]
listen = ["0.0.0.0:8080"]          # plain HTTP listeners
threads = 2
admin_listen = "127.0.0.1:9901"
max_body_bytes = 65536
grace_period_secs = 30

[server.tls]
listen = "0.0.0.0:8443"
cert = "certs/edge.pem"
key = "certs/edge.key"

[upstream]
addrs = ["127.0.0.1:3000", "127.0.0.1:3001"]
tls = false
sni = ""
connect_timeout_ms = 2000
read_timeout_ms = 60000

[upstream.health_check]
path = "/"
interval_secs = 5

[iamport]
base_url = "https://api.iamport.kr"
imp_key = "${IMP_KEY}"
imp_secret = "${IMP_SECRET}"
timeout_ms = 3000
tier = "abc"

[cache]
capacity = 100000
ttl_secs = 600
negative_ttl_secs = 10

[headers]
prefix = "x-verified-"
forward = ["phone", "gender"]

[signing]
active_key = "edge-1"
signature_ttl_secs = 60
jwt = true
issuer = "verigate"
audience = "legacy-app"

[[signing.keys]]
id = "edge-1"
alg = "ed25519"
private_key_file = "keys/edge-1.pem"

[[signing.keys]]
id = "shared-1"
alg = "hmac-sha256"
secret = "${VERIGATE_HMAC_SECRET}" # base64, at least 32 bytes decoded

[policies.teen]
min_age = 13
max_age = 18
age_basis = "full"
timezone = "UTC"
max_certification_age_secs = 0

[policies.adult]
min_age = 19
age_basis = "year"
timezone = "Asia/Seoul"
max_certification_age_secs = 600

[[routes]]
name = "popup"
method = "POST"
path = "/certifications"
imp_uid_from = "body"
imp_uid_field = "imp_uid"
policy = "adult"
on_deny = "forward"
on_failure = "reject"
single_use = false

[[routes]]
name = "redirect"
method = "GET"
path = "/certifications/redirect"
imp_uid_from = "query"
policy = "adult"

[[routes]]
name = "teens"
method = "post"
path = "/teens"
imp_uid_from = "auto"
imp_uid_field = "uid"
policy = "teen"
on_deny = "reject"
on_failure = "forward"
single_use = true
"#;

/// The smallest useful file: everything else is a default.
const MINIMAL: &str = r#"
[policies.adult]

[[routes]]
name = "popup"
method = "POST"
path = "/certifications"
policy = "adult"
"#;

fn env(name: &str) -> Option<String> {
    match name {
        "IMP_KEY" => Some("imp_apikey".to_string()),
        "IMP_SECRET" => Some("super-secret-value".to_string()),
        "VERIGATE_HMAC_SECRET" => Some(HMAC32.to_string()),
        "VERIGATE_SESSION_SECRET" => Some(HMAC32.to_string()),
        "VERIGATE_STORE_SECRET" => Some(HMAC32.to_string()),
        "STORE_PASSWORD" => Some("store-password-value".to_string()),
        "PORTONE_API_SECRET" => Some("portone-secret-value".to_string()),
        "QUOTED" => Some("a\" \n[server]\nthreads = 0 # \"".to_string()),
        "PORT" => Some("9000".to_string()),
        "HOST" => Some("127.0.0.1".to_string()),
        _ => None,
    }
}

fn ok(text: &str) -> Config {
    match parse(text, "gateway.toml", &env) {
        Ok(c) => c,
        Err(e) => panic!("expected a valid config, got:\n{e}"),
    }
}

fn errors(text: &str) -> Vec<ConfigError> {
    match parse(text, "gateway.toml", &env) {
        Ok(_) => panic!("expected errors, the config was accepted"),
        Err(e) => {
            assert!(!e.0.is_empty(), "ConfigErrors must never be empty");
            e.0
        }
    }
}

/// `(line, column, message)` of each error, for compact assertions.
fn located(text: &str) -> Vec<(usize, usize, String)> {
    errors(text)
        .into_iter()
        .map(|e| (e.line, e.column, e.message))
        .collect()
}

fn one_error(text: &str) -> (usize, usize, String) {
    let mut all = located(text);
    assert_eq!(all.len(), 1, "expected one error, got {all:#?}");
    all.remove(0)
}

#[test]
fn full_example_parses_with_every_value_taken() {
    let c = ok(FULL_EXAMPLE);
    assert_eq!(c.server.listen, vec!["0.0.0.0:8080".parse().unwrap()]);
    let tls = c.server.tls.as_ref().unwrap();
    assert_eq!(tls.listen, "0.0.0.0:8443".parse().unwrap());
    assert_eq!(tls.cert, PathBuf::from("certs/edge.pem"));
    assert_eq!(c.upstream.addrs.len(), 2);
    assert_eq!(c.upstream.health_check.as_ref().unwrap().path, "/");
    let iamport = c.iamport.as_ref().unwrap();
    assert_eq!(iamport.imp_key, "imp_apikey");
    assert_eq!(iamport.imp_secret.expose(), "super-secret-value");
    assert_eq!(iamport.tier.as_deref(), Some("abc"));
    assert_eq!(
        c.headers.forward,
        vec![ForwardField::Gender, ForwardField::Phone]
    );
    let signing = c.signing.as_ref().unwrap();
    assert_eq!(signing.active_key, "edge-1");
    assert_eq!(signing.keys.len(), 2);
    assert_eq!(signing.keys[1].alg, KeyAlg::HmacSha256);
    match &signing.keys[1].material {
        KeyMaterial::HmacSecret(s) => {
            assert_eq!(s.expose(), HMAC32);
            assert_eq!(decode_hmac_secret(s).unwrap(), vec![0u8; 32]);
        }
        other => panic!("expected an HMAC secret, got {other:?}"),
    }
    // Policies keep file order, not name order.
    let names: Vec<&str> = c.policies.iter().map(|p| &*p.name).collect();
    assert_eq!(names, ["teen", "adult"]);
    let teen = &c.policies[0];
    assert_eq!((teen.min_age, teen.max_age), (13, Some(18)));
    assert_eq!(teen.age_basis, AgeBasis::Full);
    assert_eq!(teen.max_certification_age, None);
    assert_eq!(c.routes.len(), 3);
    let teens = &c.routes[2];
    assert_eq!(teens.method, http::Method::POST);
    assert_eq!(teens.imp_uid_from, ImpUidSource::Auto);
    assert_eq!(teens.imp_uid_field, "uid");
    assert!(Arc::ptr_eq(&teens.policy, teen));
    assert_eq!(
        (teens.on_deny, teens.on_failure, teens.single_use),
        (OnDeny::Reject, OnFailure::Forward, true)
    );
    let redirect = c.route_index(&http::Method::GET, "/certifications/redirect");
    assert_eq!(redirect.map(|i| &*c.routes[i].name), Some("redirect"));
    assert!(
        c.route_index(&http::Method::GET, "/certifications")
            .is_none()
    );
    // A GET route takes HEAD; a POST route does not take GET or HEAD.
    assert_eq!(
        c.route_index(&http::Method::HEAD, "/certifications/redirect"),
        redirect
    );
    assert!(
        c.route_index(&http::Method::HEAD, "/certifications")
            .is_none()
    );
}

#[test]
fn a_head_route_of_its_own_comes_before_the_get_route() {
    let c = ok("[policies.p]\n\
             [[routes]]\nname = \"g\"\nmethod = \"GET\"\npath = \"/x\"\npolicy = \"p\"\n\
             [[routes]]\nname = \"h\"\nmethod = \"HEAD\"\npath = \"/x\"\npolicy = \"p\"\n");
    let name = |m: http::Method| c.route_index(&m, "/x").map(|i| &*c.routes[i].name);
    assert_eq!(name(http::Method::GET), Some("g"));
    assert_eq!(name(http::Method::HEAD), Some("h"));
    assert_eq!(name(http::Method::POST), None);
}

#[test]
fn repo_root_gateway_toml_parses_when_present() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("gateway.toml");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return;
    };
    // Any variable the file uses gets a value that also passes as an HMAC secret.
    let any = |_: &str| Some(HMAC32.to_string());
    if let Err(e) = parse(&text, "gateway.toml", &any) {
        panic!("{} does not validate:\n{e}", path.display());
    }
}

#[test]
fn minimal_file_gets_the_documented_defaults() {
    let c = ok(MINIMAL);
    let s = &c.server;
    assert_eq!(s.listen, vec!["0.0.0.0:8080".parse().unwrap()]);
    assert!(s.tls.is_none());
    assert_eq!(s.threads, 2);
    assert_eq!(s.admin_listen, Some("127.0.0.1:9901".parse().unwrap()));
    assert_eq!(s.max_body_bytes, 65536);
    assert_eq!(s.grace_period, Duration::from_secs(30));
    let u = &c.upstream;
    assert_eq!(u.addrs, vec!["127.0.0.1:3000".parse().unwrap()]);
    assert!(!u.tls);
    assert_eq!(u.sni, "");
    assert_eq!(u.connect_timeout, Duration::from_millis(2000));
    assert_eq!(u.read_timeout, Duration::from_millis(60000));
    assert!(u.health_check.is_none());
    let i = c.iamport.as_ref().unwrap();
    assert_eq!(i.base_url, "https://api.iamport.kr");
    assert_eq!(i.imp_key, "imp_apikey");
    assert_eq!(i.imp_secret.expose(), "super-secret-value");
    assert_eq!(i.timeout, Duration::from_millis(3000));
    assert!(i.tier.is_none());
    assert_eq!(c.cache.capacity, 100_000);
    assert_eq!(c.cache.ttl, Duration::from_secs(600));
    assert_eq!(c.cache.negative_ttl, Duration::from_secs(10));
    assert_eq!(c.headers.prefix, "x-verified-");
    assert!(c.headers.forward.is_empty());
    assert!(c.signing.is_none());
    let p = &c.policies[0];
    assert_eq!((p.min_age, p.max_age), (19, None));
    assert_eq!(p.age_basis, AgeBasis::Year);
    assert_eq!(p.timezone.iana_name(), Some("Asia/Seoul"));
    assert_eq!(p.max_certification_age, Some(Duration::from_secs(600)));
    let r = &c.routes[0];
    assert_eq!(r.imp_uid_from, ImpUidSource::Body);
    assert_eq!(r.imp_uid_field, "imp_uid");
    assert_eq!(
        (r.on_deny, r.on_failure, r.single_use),
        (OnDeny::Forward, OnFailure::Reject, false)
    );
}

#[test]
fn signing_section_defaults() {
    let c = ok(&format!(
        "[signing]\nactive_key = \"k\"\n[[signing.keys]]\nid = \"k\"\nalg = \"ed25519\"\n\
             private_key_file = \"k.pem\"\n{MINIMAL}"
    ));
    let s = c.signing.unwrap();
    assert_eq!(s.signature_ttl, Duration::from_secs(60));
    assert!(s.jwt);
    assert_eq!(
        (s.issuer.as_str(), s.audience.as_str()),
        ("verigate", "legacy-app")
    );
}

#[test]
fn imp_uid_source_defaults_to_query_for_get_and_head_else_body() {
    let cases = [
        ("GET", ImpUidSource::Query),
        ("head", ImpUidSource::Query),
        ("POST", ImpUidSource::Body),
        ("PUT", ImpUidSource::Body),
    ];
    for (method, want) in cases {
        let text = format!(
            "[policies.p]\n[[routes]]\nname = \"r\"\nmethod = \"{method}\"\npath = \"/x\"\npolicy = \"p\"\n"
        );
        assert_eq!(ok(&text).routes[0].imp_uid_from, want, "{method}");
    }
}

#[test]
fn admin_listen_empty_string_turns_the_admin_listener_off() {
    let c = ok(&format!("[server]\nadmin_listen = \"\"\n{MINIMAL}"));
    assert_eq!(c.server.admin_listen, None);
}

#[test]
fn load_names_the_file_and_the_os_error_when_unreadable() {
    let path = Path::new("/nonexistent/verigate/gateway.toml");
    let err = load(path).unwrap_err();
    assert_eq!(err.0.len(), 1);
    let e = &err.0[0];
    assert_eq!(
        (e.file.as_str(), e.line, e.column),
        (path.to_str().unwrap(), 1, 1)
    );
    assert!(
        e.message.contains("/nonexistent/verigate/gateway.toml"),
        "{}",
        e.message
    );
    assert!(
        e.to_string()
            .starts_with("/nonexistent/verigate/gateway.toml:1:1: ")
    );
}

#[test]
fn load_reads_and_validates_a_file() {
    let dir = std::env::temp_dir().join(format!("verigate-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("gateway.toml");
    let text = MINIMAL.replace("[policies.adult]\n", "[policies.adult]\nmin_age = 200\n")
        + "[iamport]\nimp_key = \"k\"\nimp_secret = \"s\"\n";
    std::fs::write(&path, text).unwrap();
    let err = load(&path).unwrap_err();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(err.0.len(), 1, "{err}");
    assert_eq!(err.0[0].file, path.display().to_string());
    assert_eq!((err.0[0].line, err.0[0].column), (3, 11));
}

#[test]
fn pid_file_and_upgrade_socket_default_to_the_runtime_directory_never_tmp() {
    let c = ok(MINIMAL);
    assert_eq!(c.server.pid_file, Path::new("run/verigate.pid"));
    assert_eq!(c.server.upgrade_sock, Path::new("run/upgrade.sock"));
    let systemd = |name: &str| match name {
        "RUNTIME_DIRECTORY" => Some("/run/verigate:/run/other".to_string()),
        other => env(other),
    };
    let c = parse(MINIMAL, "gateway.toml", &systemd).unwrap();
    assert_eq!(c.server.pid_file, Path::new("/run/verigate/verigate.pid"));
    assert_eq!(
        c.server.upgrade_sock,
        Path::new("/run/verigate/upgrade.sock")
    );
}

#[test]
fn relative_paths_are_resolved_against_the_config_directory() {
    let text = format!(
        "[server]\naccess_log = \"logs/a.log\"\npid_file = \"/abs/v.pid\"\n\
             [server.tls]\ncert = \"tls/c.pem\"\nkey = \"tls/k.pem\"\n\
             [upstream]\nca_file = \"ca.pem\"\n\
             [signing]\nactive_key = \"e\"\n[[signing.keys]]\nid = \"e\"\nalg = \"ed25519\"\n\
             private_key_file = \"keys/e.pem\"\n{MINIMAL}"
    );
    let mut c = ok(&text);
    c.resolve_paths(Path::new("/etc/verigate"));
    let s = &c.server;
    assert_eq!(
        s.access_log,
        AccessLogTarget::File("/etc/verigate/logs/a.log".into())
    );
    assert_eq!(s.pid_file, Path::new("/abs/v.pid"));
    assert_eq!(s.upgrade_sock, Path::new("/etc/verigate/run/upgrade.sock"));
    let tls = s.tls.as_ref().unwrap();
    assert_eq!(tls.cert, Path::new("/etc/verigate/tls/c.pem"));
    assert_eq!(tls.key, Path::new("/etc/verigate/tls/k.pem"));
    assert_eq!(
        c.upstream.ca_file.as_deref(),
        Some(Path::new("/etc/verigate/ca.pem"))
    );
    let key = &c.signing.as_ref().unwrap().keys[0].material;
    assert!(
        matches!(key, KeyMaterial::PrivateKeyFile(p) if p == Path::new("/etc/verigate/keys/e.pem")),
        "{key:?}"
    );
    assert_eq!(
        config_dir(Path::new("/etc/verigate/gateway.toml")),
        Path::new("/etc/verigate")
    );
    assert!(config_dir(Path::new("gateway.toml")).is_absolute());
}
