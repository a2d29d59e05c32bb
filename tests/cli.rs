//! The command line as an operator uses it: `check`, `demo --once`, `sandbox --people`.

use std::process::{Command, Output};

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
    assert_eq!(stdout.matches('✓').count(), 6, "{stdout}");
    assert!(!stdout.contains('✗'));
}
