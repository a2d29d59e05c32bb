//! The command line as an operator uses it: `check` (on every shipped configuration too),
//! `demo --once`, `sandbox --people`, `keygen`.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use common::{KillOnDrop, text, verigate, verigate_command};

#[test]
fn the_example_config_passes_check_and_shows_its_routes() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/gateway.toml");
    let out = verigate(
        &["check", "-c", path],
        &[
            ("IMP_KEY", "imp_apikey"),
            ("IMP_SECRET", "not-printed-secret"),
        ],
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    for expected in ["popup", "/certifications/redirect", "adult"] {
        assert!(
            stdout.contains(expected),
            "{expected} missing from:\n{stdout}"
        );
    }
    assert!(
        stdout.contains("signing is off"),
        "no signing warning:\n{stdout}"
    );
    assert!(!stdout.contains("not-printed-secret"));
}

#[test]
fn check_reports_every_problem_with_file_line_and_column_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "[server]\nmax_body_bytes = 70000\n\n[policies.adult]\ntimezone = \"Mars/Olympus\"\n\n[[routes]]\nname = \"p\"\nmethod = \"POST\"\npath = \"/c\"\npolicy = \"nope\"\n",
    )
    .unwrap();
    let out = verigate(&["check", "-c", path.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    let p = path.to_str().unwrap();
    for (line, what) in [(2, "max_body_bytes"), (5, "Mars/Olympus"), (11, "nope")] {
        assert!(
            stderr
                .lines()
                .any(|l| l.starts_with(&format!("{p}:{line}:")) && l.contains(what)),
            "no located error for line {line} ({what}) in:\n{stderr}"
        );
    }
    // The unset credentials are named too.
    assert!(stderr.contains("IMP_KEY"), "{stderr}");
}

#[test]
fn check_rejects_unknown_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("typo.toml");
    std::fs::write(&path, "[server]\nlisten_addr = [\"0.0.0.0:80\"]\n").unwrap();
    let out = verigate(&["check", "-c", path.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(":2:") && stderr.contains("listen_addr"),
        "{stderr}"
    );
}

#[test]
fn demo_once_walks_through_every_flow_and_exits_0() {
    let out = verigate(&["demo", "--once"], &[]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(stdout.contains("demo: every step behaved"));
    // Seven callback-route steps (PortOne V2 among them), and four of the session flow.
    assert_eq!(stdout.matches('✓').count(), 11, "{stdout}");
    assert!(
        stdout.contains("GET /.verigate/callback?… → 303 /adult/videos?page=2"),
        "{stdout}"
    );
    assert!(stdout.contains("x-verified-policy: adult"), "{stdout}");
    assert!(!stdout.contains('✗'));
}

/// Starts `verigate sandbox` with `args` and reads the first `n` lines it prints (within 30 s);
/// the process, killed when dropped, and the lines.
fn sandbox_lines(args: &[&str], n: usize) -> (KillOnDrop, Vec<String>) {
    let mut child = verigate_command()
        .arg("sandbox")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("verigate sandbox starts");
    let stdout = child.stdout.take().unwrap();
    let child = KillOnDrop(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let lines: Vec<String> = BufReader::new(stdout)
            .lines()
            .take(n)
            .map_while(Result::ok)
            .collect();
        let _ = tx.send(lines);
    });
    let lines = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the startup lines within 30 s");
    assert_eq!(lines.len(), n, "the sandbox printed only {lines:?}");
    (child, lines)
}

#[tokio::test]
async fn sandbox_prints_its_address_and_credentials_that_then_work() {
    let dir = tempfile::tempdir().unwrap();
    let people = dir.path().join("people.toml");
    std::fs::write(
        &people,
        "[[people]]\nimp_uid = \"imp_111111111111\"\nbirthday = \"1990-01-01\"\n\n\
         [[identity_verifications]]\nid = \"iv-from-file\"\n\
         verifiedCustomer = { name = \"홍길동\", birthDate = \"1991-11-11\" }\n",
    )
    .unwrap();
    let people = people.to_str().unwrap();
    let (_child, lines) = sandbox_lines(&["--listen", "127.0.0.1:0", "--people", people], 3);
    let [first, second, third] = &lines[..] else {
        unreachable!("three lines")
    };
    let base = first
        .strip_prefix("sandbox listening on ")
        .unwrap_or_else(|| panic!("first line: {first}"))
        .to_owned();
    // One provider a line: `iamport imp_key=… imp_secret=…`.
    let creds = second
        .strip_prefix("iamport ")
        .unwrap_or_else(|| panic!("second line: {second}"));
    let field = |name: &str| {
        creds
            .split(' ')
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
            .unwrap_or_else(|| panic!("{name} missing from: {second}"))
            .to_owned()
    };
    let (key, secret) = (field("imp_key"), field("imp_secret"));
    // And `portone api_secret=…` for V2.
    let api_secret = third
        .strip_prefix("portone api_secret=")
        .unwrap_or_else(|| panic!("third line: {third}"))
        .to_owned();

    // The printed credentials are the ones the API accepts, and the people file is served.
    let client = reqwest::Client::new();
    let token: serde_json::Value = client
        .post(format!("{base}/users/getToken"))
        .json(&serde_json::json!({"imp_key": key, "imp_secret": secret}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["response"]["access_token"].as_str().unwrap();
    let record: serde_json::Value = client
        .get(format!("{base}/certifications/imp_111111111111"))
        .header("Authorization", token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(record["response"]["birthday"], "1990-01-01");

    // The V2 secret printed is the one the V2 API accepts, and the file's V2 record is served.
    let resp = client
        .get(format!("{base}/identity-verifications/iv-from-file"))
        .header("Authorization", format!("PortOne {api_secret}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let record: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(record["verifiedCustomer"]["birthDate"], "1991-11-11");
}

#[tokio::test]
async fn sandbox_portone_secret_flag_sets_the_v2_secret_it_prints() {
    let args = [
        "--listen",
        "127.0.0.1:0",
        "--portone-secret",
        "my-v2-secret",
    ];
    let (_child, lines) = sandbox_lines(&args, 3);
    assert_eq!(lines[2], "portone api_secret=my-v2-secret");
    let base = lines[0].strip_prefix("sandbox listening on ").unwrap();
    let client = reqwest::Client::new();
    for (secret, status) in [("my-v2-secret", 404), ("sandbox-portone-api-secret", 401)] {
        let resp = client
            .get(format!("{base}/identity-verifications/none"))
            .header("Authorization", format!("PortOne {secret}"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), status, "{secret}");
    }
}

#[test]
fn keygen_prints_an_hmac_secret_and_writes_keys_only_to_new_private_files() {
    use base64::Engine as _;
    use std::os::unix::fs::PermissionsExt;

    let out = verigate(&["keygen", "--alg", "hmac-sha256"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let secret = base64::engine::general_purpose::STANDARD
        .decode(text(&out.stdout).trim())
        .expect("a base64 secret on stdout");
    assert_eq!(secret.len(), 32);

    // An Ed25519 key is never printed: it needs a file.
    let out = verigate(&["keygen", "--alg", "ed25519"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("edge-1.pem");
    let p = path.to_str().unwrap();
    let out = verigate(&["keygen", "--alg", "ed25519", "--out", p], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let jwk: serde_json::Value = serde_json::from_slice(&out.stdout).expect("the public JWK");
    assert_eq!(jwk["crv"], "Ed25519");
    let pem = std::fs::read_to_string(&path).unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"), "{pem}");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);

    // An existing file is never overwritten.
    let out = verigate(&["keygen", "--alg", "hmac-sha256", "--out", p], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), pem);
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The `*.toml` files directly in `dir`, sorted; none when there is no such folder.
fn toml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

/// Stand-in values for every variable a shipped configuration may name (`${NAME}`); a file that
/// names another one fails `check`, which names it. `ed25519_pem` is a real key file.
fn stand_in_env(ed25519_pem: &Path) -> Vec<(&'static str, String)> {
    let pem = ed25519_pem.display().to_string();
    [
        ("IMP_KEY", "imp_apikey"),
        ("IMP_SECRET", "stand-in-imp-secret"),
        ("IMP_CODE", "imp12345678"),
        ("PORTONE_API_SECRET", "stand-in-portone-api-secret"),
        ("PORTONE_STORE_ID", "store-4d3c2b1a"),
        ("PORTONE_CHANNEL_KEY", "channel-key-1"),
        (
            "VERIGATE_SESSION_SECRET",
            "bm90LXByaW50ZWQtc2Vzc2lvbi1zZWNyZXQtMzJieXQ=",
        ),
        (
            "VERIGATE_STORE_SECRET",
            "bm90LXByaW50ZWQtc3RvcmUtc2VjcmV0LW9mLTMyYnk=",
        ),
        ("STORE_PASSWORD", "stand-in-store-password"),
        ("VERIGATE_TEST_LISTEN", "127.0.0.1:18080"),
        ("VERIGATE_TEST_ADMIN_LISTEN", "127.0.0.1:18081"),
        ("VERIGATE_TEST_APP", "127.0.0.1:18082"),
        ("VERIGATE_TEST_SANDBOX_URL", "http://127.0.0.1:18083"),
        ("VERIGATE_TEST_IMP_KEY", "imp_apikey"),
        ("VERIGATE_TEST_IMP_SECRET", "stand-in-imp-secret"),
        ("VERIGATE_TEST_PORTONE_SECRET", "stand-in-portone-secret"),
        ("VERIGATE_TEST_ACTIVE_KEY", "edge-1"),
        ("VERIGATE_TEST_ED25519_PEM", pem.as_str()),
        (
            "VERIGATE_TEST_HMAC_SECRET",
            "c3RhbmQtaW4taG1hYy1zZWNyZXQtb2YtMzItYnl0ZXM=",
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.to_owned()))
    .collect()
}

#[test]
fn every_shipped_configuration_passes_check() {
    let keys = tempfile::tempdir().unwrap();
    let pem = keys.path().join("edge-1.pem");
    let made = verigate(
        &["keygen", "--alg", "ed25519", "--out", pem.to_str().unwrap()],
        &[],
    );
    assert!(made.status.success(), "{}", text(&made.stderr));
    let env = stand_in_env(&pem);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    // The root example, whatever examples/configs/ holds, and the fixtures tests share.
    let mut files = vec![repo().join("gateway.toml")];
    files.extend(toml_files(&repo().join("examples/configs")));
    for expected in [
        "both-providers.toml",
        "fleet.toml",
        "portone-v2.toml",
        "sessions.toml",
    ] {
        assert!(
            files.iter().any(|f| f.ends_with(expected)),
            "examples/configs/{expected} missing"
        );
    }
    files.extend(toml_files(&repo().join("tests/fixtures")));
    for file in &files {
        let out = verigate(&["check", "-c", file.to_str().unwrap()], &env);
        let stdout = text(&out.stdout);
        let shown = file.display();
        assert!(
            out.status.success(),
            "{shown}:\n{stdout}{}",
            text(&out.stderr)
        );
        assert!(stdout.contains(": ok\n"), "{shown}:\n{stdout}");
        for (name, value) in &env {
            if name.ends_with("SECRET") {
                assert!(!stdout.contains(value), "{shown}: check printed {name}");
            }
        }
    }
    eprintln!("checked {} files: {files:?}", files.len());
}
