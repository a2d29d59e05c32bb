//! Signals and the process's truthfulness (README, "Operations"): requests in flight survive SIGTERM,
//! SIGQUIT + upgrade and SIGHUP; an idle stop is immediate; a listener that cannot be bound
//! stops the start. Against the real binary, on loopback.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{
    Cfg, GatewayClient, Ports, Signing, Stack, alive, assert_clean, birthday_years_ago, eventually,
    free_addr, personal_values, signal, text, verigate, verigate_bounded, verigate_command,
    wait_exit,
};
use verigate::echo::Echo;
use verigate::sandbox::{Fault, Sandbox, SandboxOptions, SandboxRecord, TEST_IMP_SECRET};

/// The standard stack with the default 30 s grace period and a 5 s API budget.
async fn slow_api_stack() -> Stack {
    Stack::with(|p| Cfg::standard(p).api_timeout_ms(5000)).await
}

/// Makes every API call take `ms` milliseconds.
fn slow_api(s: &Stack, ms: u64) {
    s.sandbox.set_fault(Fault {
        latency_ms: Some(ms),
        status: None,
        times: None,
    });
}

/// Starts `n` verifications of `uid` and waits (bounded) until the API has seen `calls` calls,
/// so every request is inside the gateway.
async fn verifications_in_flight(
    s: &Arc<Stack>,
    uid: &str,
    n: usize,
) -> Vec<tokio::task::JoinHandle<Result<(u16, String), String>>> {
    let before = s.sandbox.stats().api_calls;
    let mut handles = Vec::new();
    for _ in 0..n {
        let (gw, uid) = (s.gateway.clone(), uid.to_owned());
        handles.push(tokio::spawn(async move {
            let resp = gw
                .try_verify("/certifications", &uid)
                .await
                .map_err(|e| format!("{e:?}"))?;
            let status = resp.status().as_u16();
            let text = resp.text().await.map_err(|e| format!("{e:?}"))?;
            Ok((status, text))
        }));
    }
    eventually(Duration::from_secs(10), async || {
        s.sandbox.stats().api_calls > before
    })
    .await;
    assert!(
        s.sandbox.stats().api_calls > before,
        "no lookup reached the API"
    );
    handles
}

async fn all_allowed(handles: Vec<tokio::task::JoinHandle<Result<(u16, String), String>>>) {
    for h in handles {
        let (status, body) = h
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("request failed: {e}"));
        assert_eq!(status, 200, "{body}");
        let echoed: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(echoed["headers"]["x-verified-verdict"], "allow", "{body}");
    }
}

fn distinct_people(s: &Stack, n: usize) -> Vec<String> {
    (0..n).map(|_| s.person("김철수", "1990-01-01")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_several_lookups_in_flight_answers_all_of_them() {
    let s = Arc::new(slow_api_stack().await);
    slow_api(&s, 1000);
    let mut handles = Vec::new();
    for uid in distinct_people(&s, 4) {
        handles.extend(verifications_in_flight(&s, &uid, 1).await);
    }
    let asked = Instant::now();
    s.signal("TERM");
    all_allowed(handles).await;
    let mut s = Arc::into_inner(s).expect("no other owner");
    assert!(
        s.wait_exit(Duration::from_secs(10)).is_some(),
        "the gateway did not exit once its work was done: {}",
        s.gateway_output()
    );
    // The stop lasts as long as its work (lookups of about 1-2 s), not the 30 s grace period.
    eprintln!("busy SIGTERM: exited after {:?}", asked.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_with_a_lookup_in_flight_answers_it() {
    let s = Arc::new(slow_api_stack().await);
    let uid = s.person("김철수", "1990-01-01");
    slow_api(&s, 1000);
    let handles = verifications_in_flight(&s, &uid, 1).await;
    s.signal("HUP");
    all_allowed(handles).await;
    assert!(
        s.wait_output("applied", Duration::from_secs(5)).await,
        "{}",
        s.gateway_output()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrade_with_a_lookup_in_flight_answers_it_from_the_old_process() {
    let s = Arc::new(slow_api_stack().await);
    let uid = s.person("김철수", "1990-01-01");
    let old_pid = s.pid();
    let mut new = s.spawn_upgrade();
    let new = &mut new.0;
    let sock = s.dir().join("upgrade.sock");
    eventually(Duration::from_secs(10), async || sock.exists()).await;
    assert!(
        sock.exists(),
        "the new process never listened on the upgrade socket"
    );
    slow_api(&s, 1500);
    let handles = verifications_in_flight(&s, &uid, 1).await;
    s.signal("QUIT");
    all_allowed(handles).await;
    // The old process goes once its work is done; the new one serves on the same port.
    eventually(Duration::from_secs(20), async || !alive(old_pid)).await;
    assert!(!alive(old_pid), "the old process did not exit");
    slow_api(&s, 0);
    // A fresh client: no connection kept from the old process.
    let fresh = GatewayClient::new(s.gateway_addr, 0);
    let resp = fresh.get("/plain").await;
    assert_eq!(resp.status(), 200);
    let new_alive = new.try_wait().map(|st| st.is_none()).unwrap_or(false);
    // The new process is a full gateway: SIGTERM stops it at once (it is idle).
    let asked = Instant::now();
    signal(new.id(), "TERM");
    let stopped = eventually(Duration::from_secs(10), async || {
        matches!(new.try_wait(), Ok(Some(_)))
    })
    .await;
    assert!(
        new_alive,
        "the new process is not running: {}",
        s.gateway_output()
    );
    assert!(
        stopped && asked.elapsed() < Duration::from_secs(5),
        "the new process did not stop on SIGTERM"
    );
}

#[tokio::test]
async fn idle_sigterm_exits_at_once() {
    // The default 30 s grace period: an idle stop must not wait for it.
    let mut s = Stack::start().await;
    assert_eq!(s.get("/plain").await.status(), 200);
    let asked = Instant::now();
    s.signal("TERM");
    let status = s.wait_exit(Duration::from_secs(20));
    let took = asked.elapsed();
    assert!(status.is_some(), "the gateway did not exit");
    assert!(
        took < Duration::from_secs(3),
        "an idle SIGTERM took {took:?}"
    );
    eprintln!("idle SIGTERM: exited after {took:?}");
}

#[test]
fn a_port_in_use_stops_the_start_naming_the_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let free = || free_addr().to_string();
    let offline = Cfg::standard(&Ports::offline(dir.path())).secret("s");
    let (cert, key) = (Path::new("c.pem"), Path::new("k.pem"));
    for (what, cfg) in [
        (
            "listen",
            offline
                .clone()
                .listen(&addr.to_string())
                .admin_listen("127.0.0.1:0"),
        ),
        (
            "admin_listen",
            offline
                .clone()
                .listen(&free())
                .admin_listen(&addr.to_string()),
        ),
        (
            "tls",
            offline
                .clone()
                .listen(&free())
                .admin_listen(&free())
                .tls_at(&addr.to_string(), cert, key),
        ),
    ] {
        let path = dir.path().join(format!("{what}.toml"));
        std::fs::write(&path, cfg.render()).unwrap();
        let started = Instant::now();
        let out = run_bounded(
            &["run", "-c", path.to_str().unwrap()],
            Duration::from_secs(10),
        );
        let took = started.elapsed();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{what}: exit 0 with the port in use");
        assert!(
            stderr.contains(&addr.to_string()),
            "{what}: the message does not name {addr}: {stderr}"
        );
        assert!(took < Duration::from_secs(5), "{what}: took {took:?}");
    }
}

/// Runs the binary to completion (`TEST_IMP_SECRET=x`), killing it after `within`.
fn run_bounded(args: &[&str], within: Duration) -> std::process::Output {
    verigate_bounded(args, &[("TEST_IMP_SECRET", "x")], within)
}

#[tokio::test]
async fn readyz_is_503_with_a_wrong_secret_before_any_request() {
    let s = Stack::with(|p| Cfg::standard(p).api_timeout_ms(2000).secret("wrong-secret")).await;
    let mut last = String::new();
    eventually(Duration::from_secs(10), async || {
        let resp = s.admin_get("/readyz").await;
        assert_eq!(resp.status(), 503, "ready with a wrong secret");
        last = resp.text().await.unwrap();
        last.contains("rejected")
    })
    .await;
    assert!(last.contains("rejected"), "{last}");
    assert_eq!(s.sandbox.stats().certification_requests, 0);
}

#[tokio::test]
async fn readyz_is_200_once_correct_credentials_are_checked() {
    let s = Stack::start().await;
    let ready = eventually(Duration::from_secs(5), async || {
        s.admin_get("/readyz").await.status() == 200
    })
    .await;
    assert!(ready, "never ready: {}", s.gateway_output());
    // The token asked for at start serves the first lookup.
    let uid = s.person("홍길동", "1980-01-01");
    assert_eq!(s.verify("/certifications", &uid).await.status(), 200);
    assert_eq!(s.sandbox.stats().token_requests, 1);
}

#[tokio::test]
async fn a_sighup_that_changes_only_the_credentials_names_them() {
    let s = Stack::start().await;
    let mut changed = s.cfg().secret("another-secret");
    changed.iamport.imp_key = "another-key".to_owned();
    assert_ne!(changed.render(), s.cfg().render());
    s.write_config(&changed);
    s.signal("HUP");
    assert!(
        s.wait_output("restart", Duration::from_secs(5)).await,
        "{}",
        s.gateway_output()
    );
    let out = s.gateway_output();
    let line = out.lines().find(|l| l.contains("restart")).unwrap();
    assert!(line.contains("iamport.imp_key"), "{line}");
    assert!(line.contains("iamport.imp_secret"), "{line}");
    assert!(!line.contains("server."), "{line}");
    assert!(!out.contains("another-secret"));
}

#[tokio::test]
async fn a_world_writable_socket_directory_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let open = tempfile::tempdir().unwrap();
    std::fs::set_permissions(open.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.toml");
    std::fs::write(&path, Cfg::standard(&Ports::offline(open.path())).render()).unwrap();
    let out = run_bounded(
        &["run", "-c", path.to_str().unwrap()],
        Duration::from_secs(10),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("world-writable"), "{stderr}");
    assert!(
        stderr.contains(&open.path().display().to_string()),
        "{stderr}"
    );
    // `check` says so too, rather than passing a file `run` refuses.
    let out = run_bounded(
        &["check", "-c", path.to_str().unwrap()],
        Duration::from_secs(10),
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("world-writable"));
}

#[tokio::test]
async fn pid_file_and_upgrade_socket_default_to_a_private_directory_beside_the_config() {
    use std::os::unix::fs::PermissionsExt;
    let s = Stack::with(|p| Cfg::standard(p).default_runtime_paths()).await;
    let run = s.dir().join("run");
    let mode = std::fs::metadata(&run).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700, "{mode:o}");
    // A new process upgrading from it uses the same default socket.
    let new = s.spawn_upgrade();
    let sock = run.join("upgrade.sock");
    eventually(Duration::from_secs(10), async || sock.exists()).await;
    drop(new);
    assert!(sock.exists(), "no upgrade socket in {}", run.display());
}

#[tokio::test]
async fn relative_key_paths_are_relative_to_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let pem = dir.path().join("edge.pem");
    let keygen = verigate(
        &["keygen", "--alg", "ed25519", "--out", pem.to_str().unwrap()],
        &[],
    );
    assert!(keygen.status.success());
    let key_dir = dir.path().to_owned();
    // The stack's config lives in its own directory: copy the key beside it.
    let s = Stack::with(|p| {
        std::fs::copy(key_dir.join("edge.pem"), p.dir.join("edge.pem")).unwrap();
        Cfg::standard(p).signing(Signing::keys(Path::new(""), &["edge"], "edge"))
    })
    .await;
    // `check` from another working directory agrees with `run`.
    let check = verigate_command()
        .args(["check", "-c"])
        .arg(s.config_path())
        .current_dir("/")
        .env("TEST_IMP_SECRET", "x")
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", text(&check.stderr));
    let uid = s.person("홍길동", "1980-01-01");
    let resp = s.verify("/certifications", &uid).await;
    assert_eq!(resp.status(), 200);
    let echoed: serde_json::Value = resp.json().await.unwrap();
    assert!(echoed["headers"]["signature"].is_string(), "{echoed}");
}

#[test]
fn demo_exits_within_two_seconds_of_sigint_or_sigterm() {
    use std::io::{BufRead, BufReader};
    for sig in ["INT", "TERM"] {
        let mut child = verigate_command()
            .arg("demo")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        // The walkthrough is done once it prints how to try it.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains("keeps running") {
                    let _ = tx.send(());
                }
            }
        });
        let started = rx.recv_timeout(Duration::from_secs(30)).is_ok();
        if !started {
            let _ = child.kill();
        }
        assert!(started, "the demo did not finish its walkthrough");
        let asked = Instant::now();
        assert!(signal(child.id(), sig));
        let exited = wait_exit(&mut child, Duration::from_secs(10)).is_some();
        let took = asked.elapsed();
        let _ = child.kill();
        let _ = child.wait();
        assert!(
            exited && took < Duration::from_secs(2),
            "SIG{sig}: {took:?}"
        );
        eprintln!("demo SIG{sig}: exited after {took:?}");
    }
}

/// The daemon's verdict for `uid` on `/certifications`, or `None` while it does not answer.
async fn daemon_verdict(gw: &GatewayClient, uid: &str) -> Option<String> {
    let resp = gw.try_verify("/certifications", uid).await.ok()?;
    let v: serde_json::Value = resp.json().await.ok()?;
    v["headers"]["x-verified-verdict"]
        .as_str()
        .map(str::to_owned)
}

/// Runs `verigate run -d -c gateway.toml` from `dir`, its streams in files there (a daemon keeps
/// the ones it was given: files, not pipes to wait on); the daemon's pid, once its pid file
/// names it.
async fn start_daemon(dir: &Path) -> u32 {
    let stderr = || std::fs::read_to_string(dir.join("stderr.log")).unwrap_or_default();
    let status = verigate_command()
        .args(["run", "-d", "-c", "gateway.toml"])
        .current_dir(dir)
        .env("TEST_IMP_SECRET", TEST_IMP_SECRET)
        .stdout(std::fs::File::create(dir.join("stdout.log")).unwrap())
        .stderr(std::fs::File::create(dir.join("stderr.log")).unwrap())
        .status()
        .unwrap();
    assert!(status.success(), "{}", stderr());
    let pid_file = dir.join("run/verigate.pid");
    let pid = || {
        std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|p| p.trim().parse::<u32>().ok())
    };
    eventually(Duration::from_secs(15), async || pid().is_some()).await;
    pid().unwrap_or_else(|| panic!("no pid file at {}: {}", pid_file.display(), stderr()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_logs_reloads_with_a_relative_config_and_stops_on_sigterm() {
    verigate::server::install_crypto_provider();
    let sandbox = Sandbox::new(SandboxOptions::default());
    let sandbox_addr = sandbox.spawn("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let echo = Echo::recording();
    let echo_addr = echo.spawn("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ports = Ports::fresh(dir.path(), echo_addr, sandbox_addr);
    // Relative paths only: the daemon works from `/`, they are relative to the config file.
    let cfg = Cfg::standard(&ports)
        .api_timeout_ms(2000)
        .default_runtime_paths()
        .access_log("logs/access.log");
    std::fs::create_dir(dir.path().join("logs")).unwrap();
    std::fs::write(dir.path().join("gateway.toml"), cfg.render()).unwrap();
    let pid = start_daemon(dir.path()).await;
    // Whatever happens, the daemon does not outlive the test.
    let _reaper = KillDaemonOnDrop(pid);
    let gw = GatewayClient::new(([127, 0, 0, 1], ports.gateway).into(), ports.admin);
    let record = SandboxRecord::person("김철수", &birthday_years_ago(25, 0));
    let stored = sandbox.insert(record);
    let uid = stored.imp_uid.clone().unwrap();
    let mut first = None;
    eventually(Duration::from_secs(15), async || {
        first = daemon_verdict(&gw, &uid).await;
        first.is_some()
    })
    .await;
    assert_eq!(first.as_deref(), Some("allow"), "the daemon does not serve");
    // The access log is written.
    let log = dir.path().join("logs/access.log");
    let logged = || std::fs::read_to_string(&log).is_ok_and(|l| l.contains("/certifications"));
    eventually(Duration::from_secs(5), async || logged()).await;
    assert!(logged(), "the daemon wrote no access log");
    // SIGHUP rereads the relative config.
    let mut raised = cfg.clone();
    raised.policy_mut("adult").min_age = 30;
    std::fs::write(dir.path().join("gateway.toml"), raised.render()).unwrap();
    assert!(signal(pid, "HUP"));
    let mut now = None;
    eventually(Duration::from_secs(10), async || {
        now = daemon_verdict(&gw, &uid).await;
        now.as_deref() == Some("deny")
    })
    .await;
    assert_eq!(now.as_deref(), Some("deny"), "SIGHUP was not applied");
    // SIGTERM stops it, at once when idle.
    let asked = Instant::now();
    assert!(signal(pid, "TERM"));
    eventually(Duration::from_secs(10), async || !alive(pid)).await;
    assert!(!alive(pid), "the daemon ignored SIGTERM");
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "{:?}",
        asked.elapsed()
    );
    // Nothing personal in what the daemon wrote, access log included.
    let read = |n: &str| std::fs::read_to_string(dir.path().join(n)).unwrap_or_default();
    let out = read("stdout.log") + &read("stderr.log") + &read("logs/access.log");
    assert_clean(&out, &personal_values(&stored));
}

/// Kills a daemon (not our child: it forked away) left running by a failed test.
struct KillDaemonOnDrop(u32);

impl Drop for KillDaemonOnDrop {
    fn drop(&mut self) {
        if alive(self.0) {
            signal(self.0, "KILL");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_while_the_app_is_answering_lets_its_answer_through() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // An app that tells the test when a request reached it, then takes a second to answer.
    let app = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let app_addr = app.local_addr().unwrap();
    let (reached, mut reached_rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = app.accept().await {
            let reached = reached.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let mut seen = Vec::new();
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                if seen.starts_with(b"GET /slow") {
                    let _ = reached.send(());
                    tokio::time::sleep(Duration::from_millis(1000)).await;
                }
                let _ = conn
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\nconnection: close\r\n\r\nslow",
                    )
                    .await;
            });
        }
    });
    let mut s = Stack::with_upstream(Some(app_addr), Cfg::standard).await;
    let gw = s.gateway.clone();
    let answer = tokio::spawn(async move {
        let resp = gw.try_get("/slow").await.map_err(|e| format!("{e:?}"))?;
        let status = resp.status().as_u16();
        Ok::<_, String>((status, resp.text().await.map_err(|e| format!("{e:?}"))?))
    });
    tokio::time::timeout(Duration::from_secs(10), reached_rx.recv())
        .await
        .expect("the request never reached the app");
    s.signal("TERM");
    let (status, body) = answer
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("request failed: {e}"));
    assert_eq!((status, body.as_str()), (200, "slow"));
    assert!(
        s.wait_exit(Duration::from_secs(10)).is_some(),
        "the gateway did not exit"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_while_a_body_is_still_arriving_lets_the_request_finish() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // An app that tells the test when a request's headers reached it, then reads the whole
    // 10-byte body before it answers with it.
    let app = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let app_addr = app.local_addr().unwrap();
    let (reached, mut reached_rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = app.accept().await {
            let reached = reached.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let mut seen = Vec::new();
                let mut told = false;
                loop {
                    if let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                        if !told && seen.starts_with(b"POST /upload") {
                            told = true;
                            let _ = reached.send(());
                        }
                        if seen.len() >= end + 4 + 10 {
                            let body = seen[end + 4..end + 14].to_vec();
                            let head = "HTTP/1.1 200 OK\r\ncontent-length: 10\r\nconnection: close\r\n\r\n";
                            let _ = conn.write_all(&[head.as_bytes(), &body].concat()).await;
                            return;
                        }
                    }
                    match conn.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
            });
        }
    });
    let mut s = Stack::with_upstream(Some(app_addr), Cfg::standard).await;
    let mut conn = tokio::net::TcpStream::connect(s.gateway_addr)
        .await
        .unwrap();
    conn.write_all(
        b"POST /upload HTTP/1.1\r\nhost: x\r\ncontent-type: application/octet-stream\r\n\
          content-length: 10\r\n\r\nhello",
    )
    .await
    .unwrap();
    tokio::time::timeout(Duration::from_secs(10), reached_rx.recv())
        .await
        .expect("the request never reached the app");
    s.signal("TERM");
    // The signal is being handled while the rest of the body is on its way.
    assert!(
        s.wait_output("SIGTERM", Duration::from_secs(5)).await,
        "{}",
        s.gateway_output()
    );
    conn.write_all(b"world").await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), conn.read_to_end(&mut answer))
        .await
        .expect("no answer")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("helloworld"), "{answer}");
    assert!(
        s.wait_exit(Duration::from_secs(10)).is_some(),
        "the gateway did not exit"
    );
}
