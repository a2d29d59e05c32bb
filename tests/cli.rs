//! The command line as an operator uses it: `check`, `demo --once`, `sandbox --people`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

fn verigate(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_verigate"));
    cmd.args(args)
        .env_remove("IMP_KEY")
        .env_remove("IMP_SECRET");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("verigate runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

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
fn every_example_config_passes_check() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/configs");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("examples/configs exists")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    let names: Vec<_> = files
        .iter()
        .filter_map(|p| p.file_name()?.to_str())
        .collect();
    for expected in ["both-providers.toml", "portone-v2.toml", "sessions.toml"] {
        assert!(names.contains(&expected), "{expected} missing: {names:?}");
    }
    // Every variable the examples use, as an operator would set them.
    let secrets = [
        ("IMP_KEY", "imp_apikey"),
        ("IMP_SECRET", "not-printed-imp-secret"),
        ("IMP_CODE", "imp12345678"),
        ("PORTONE_API_SECRET", "not-printed-portone-secret"),
        ("PORTONE_STORE_ID", "store-4d3c2b1a"),
        ("PORTONE_CHANNEL_KEY", "channel-key-1"),
        (
            "VERIGATE_SESSION_SECRET",
            "bm90LXByaW50ZWQtc2Vzc2lvbi1zZWNyZXQtMzJieXQ=",
        ),
    ];
    for file in &files {
        let out = verigate(&["check", "-c", file.to_str().unwrap()], &secrets);
        let stdout = text(&out.stdout);
        assert!(
            out.status.success(),
            "{}:\n{stdout}{}",
            file.display(),
            text(&out.stderr)
        );
        assert!(stdout.contains(": ok\n"), "{stdout}");
        for (name, value) in &secrets[..] {
            if name.contains("SECRET") {
                assert!(!stdout.contains(value), "{} prints {name}", file.display());
            }
        }
    }
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
    // Six callback-route steps, and four of the session flow (issue 13).
    assert_eq!(stdout.matches('✓').count(), 10, "{stdout}");
    assert!(stdout.contains("GET /.verigate/callback?… → 303 /adult/videos?page=2"), "{stdout}");
    assert!(stdout.contains("x-verified-policy: adult"), "{stdout}");
    assert!(!stdout.contains('✗'));
}

/// A child process killed (and reaped) when the test ends, however it ends.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
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
    let mut child = Command::new(env!("CARGO_BIN_EXE_verigate"))
        .args(["sandbox", "--listen", "127.0.0.1:0", "--people"])
        .arg(&people)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("verigate sandbox starts");
    let stdout = child.stdout.take().unwrap();
    let _child = KillOnDrop(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let line = || {
        rx.recv_timeout(Duration::from_secs(30))
            .expect("a startup line within 30 s")
    };
    let (first, second, third) = (line(), line(), line());
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
    let mut child = Command::new(env!("CARGO_BIN_EXE_verigate"))
        .args([
            "sandbox",
            "--listen",
            "127.0.0.1:0",
            "--portone-secret",
            "my-v2-secret",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("verigate sandbox starts");
    let stdout = child.stdout.take().unwrap();
    let _child = KillOnDrop(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let lines: Vec<String> = BufReader::new(stdout)
            .lines()
            .take(3)
            .map_while(Result::ok)
            .collect();
        let _ = tx.send(lines);
    });
    let lines = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the startup lines within 30 s");
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
