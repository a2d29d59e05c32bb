//! The test stack: a sandbox i'mport API and an echo app in-process, and the real `verigate`
//! binary as a child process in front of the echo app, all on 127.0.0.1 ephemeral ports.
//! Readiness is awaited by polling, never by sleeping a fixed time.

#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub mod sessions;
pub mod webdriver;

use verigate::echo::{Echo, Received};
use verigate::sandbox::{Sandbox, SandboxOptions, SandboxRecord, TEST_IMP_KEY, TEST_IMP_SECRET};

/// Addresses a configuration is written for.
pub struct Ports {
    pub gateway: u16,
    pub admin: u16,
    /// The stack's private directory (pid file, upgrade socket, logs).
    pub dir: PathBuf,
    pub echo: SocketAddr,
    pub sandbox: SocketAddr,
}

/// The routes and policies most tests use.
pub const ROUTES: &str = r#"
[policies.adult]
min_age = 19
age_basis = "year"

[policies.adult_full]
min_age = 19
age_basis = "full"

[policies.working_age]
min_age = 19
max_age = 64
age_basis = "full"

[[routes]]
name = "popup"
method = "POST"
path = "/certifications"
imp_uid_from = "body"
policy = "adult"
on_deny = "forward"
on_failure = "reject"

[[routes]]
name = "redirect"
method = "GET"
path = "/certifications/redirect"
imp_uid_from = "query"
policy = "adult"
on_deny = "reject"

[[routes]]
name = "full"
method = "POST"
path = "/full"
imp_uid_from = "auto"
policy = "adult_full"

[[routes]]
name = "working"
method = "POST"
path = "/working"
policy = "working_age"

[[routes]]
name = "lenient"
method = "POST"
path = "/lenient"
policy = "adult"
on_failure = "forward"
"#;

/// The standard configuration: `extra` is appended (routes, policies, `[cache]`, …).
pub fn config(p: &Ports, iamport_extra: &str, extra: &str) -> String {
    format!(
        r#"
[server]
listen = ["127.0.0.1:{gw}"]
admin_listen = "127.0.0.1:{admin}"
pid_file = "{dir}/verigate.pid"
upgrade_sock = "{dir}/upgrade.sock"
threads = 2
max_body_bytes = 65536

[upstream]
addrs = ["{echo}"]
connect_timeout_ms = 500

[iamport]
base_url = "http://{sandbox}"
imp_key = "{key}"
imp_secret = "${{TEST_IMP_SECRET}}"
{iamport_extra}

{extra}
"#,
        gw = p.gateway,
        admin = p.admin,
        dir = p.dir.display(),
        echo = p.echo,
        sandbox = p.sandbox,
        key = TEST_IMP_KEY,
    )
}

pub struct Stack {
    pub sandbox: Sandbox,
    pub echo: Echo,
    pub base: String,
    pub client: reqwest::Client,
    pub gateway_addr: SocketAddr,
    pub admin: String,
    /// Personal values seeded into the sandbox: none may appear in the gateway's output.
    seeded: std::sync::Mutex<Vec<String>>,
    child: Child,
    dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Stack {
    /// The standard stack with [`ROUTES`] and a 1 s API budget.
    pub async fn start() -> Stack {
        Stack::with(|p| config(p, "timeout_ms = 1000", ROUTES)).await
    }

    /// A stack whose gateway runs the configuration `make` writes.
    pub async fn with(make: impl Fn(&Ports) -> String) -> Stack {
        Stack::with_upstream(None, make).await
    }

    /// Like [`Stack::with`], with the echo app replaced by `upstream` when given.
    pub async fn with_upstream(
        upstream: Option<SocketAddr>,
        make: impl Fn(&Ports) -> String,
    ) -> Stack {
        verigate::server::install_crypto_provider();
        let sandbox = Sandbox::new(SandboxOptions::default());
        let sandbox_addr = sandbox.spawn("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let echo = Echo::recording();
        let echo_addr = echo.spawn("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        // A port taken between our probe and the gateway's bind makes the child exit: retry.
        for _ in 0..5 {
            let ports = Ports {
                gateway: free_port(),
                admin: free_port(),
                dir: dir.path().to_owned(),
                echo: upstream.unwrap_or(echo_addr),
                sandbox: sandbox_addr,
            };
            let path = dir.path().join("gateway.toml");
            std::fs::write(&path, make(&ports)).unwrap();
            let mut child = spawn_gateway(&path, dir.path());
            let addr: SocketAddr = ([127, 0, 0, 1], ports.gateway).into();
            if wait_listening(&mut child, addr) {
                let client = reqwest::Client::builder()
                    .timeout(Duration::from_secs(20))
                    .build()
                    .unwrap();
                let admin = format!("http://127.0.0.1:{}", ports.admin);
                wait_credentials_checked(&client, &admin).await;
                return Stack {
                    sandbox,
                    echo,
                    base: format!("http://{addr}"),
                    client,
                    gateway_addr: addr,
                    admin,
                    seeded: std::sync::Mutex::default(),
                    child,
                    dir,
                };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!(
            "the gateway did not start; its stderr:\n{}",
            std::fs::read_to_string(dir.path().join("stderr.log")).unwrap_or_default()
        );
    }

    /// Stores a certified person and returns the imp_uid.
    pub fn person(&self, name: &str, birthday: &str) -> String {
        self.insert(SandboxRecord::person(name, birthday))
    }

    /// Stores a record and returns the imp_uid.
    pub fn insert(&self, rec: SandboxRecord) -> String {
        let stored = self.sandbox.insert(rec);
        let personal = [
            stored.name.clone(),
            stored.birthday.clone(),
            stored.phone.clone(),
            stored.unique_key.clone(),
            stored.unique_in_site.clone(),
        ];
        if let Ok(mut seeded) = self.seeded.lock() {
            seeded.extend(personal.into_iter().flatten().filter(|v| v.len() >= 3));
        }
        stored.imp_uid.expect("stored records have an imp_uid")
    }

    /// Asserts the gateway's output holds no seeded personal value, secret or token.
    pub fn assert_output_is_clean(&self) {
        let out = self.gateway_output();
        for value in self.seeded.lock().map(|s| s.clone()).unwrap_or_default() {
            assert!(
                !out.contains(&value),
                "personal data reached the gateway's output"
            );
            let encoded = verigate::headers::percent_encode(&value);
            assert!(
                !out.contains(&encoded),
                "personal data (encoded) reached the output"
            );
        }
        assert!(
            !out.contains(TEST_IMP_SECRET),
            "the API secret reached the output"
        );
        // Access tokens are 40 hex characters; nothing in our output is that long a hex run.
        let longest_hex_run = out
            .split(|c: char| !c.is_ascii_hexdigit())
            .map(str::len)
            .max()
            .unwrap_or(0);
        assert!(
            longest_hex_run < 40,
            "something token-shaped reached the output"
        );
    }

    /// POSTs `{"imp_uid": uid}` as JSON to `path`.
    pub async fn post_json(&self, path: &str, body: &str) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .unwrap()
    }

    pub async fn verify(&self, path: &str, uid: &str) -> reqwest::Response {
        self.post_json(path, &format!(r#"{{"imp_uid":"{uid}"}}"#))
            .await
    }

    pub async fn get(&self, path_and_query: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path_and_query}", self.base))
            .send()
            .await
            .unwrap()
    }

    /// Requests the echo app has received.
    pub fn app_saw(&self) -> Vec<Received> {
        self.echo.received()
    }

    /// The last request the app received.
    pub fn last(&self) -> Received {
        self.echo
            .received()
            .pop()
            .expect("the app received a request")
    }

    /// Everything the gateway process wrote to stdout and stderr so far.
    pub fn gateway_output(&self) -> String {
        let read = |n| std::fs::read_to_string(self.dir.path().join(n)).unwrap_or_default();
        read("stdout.log") + &read("stderr.log") + &read("new-stdout.log") + &read("new-stderr.log")
    }

    pub fn dir(&self) -> PathBuf {
        self.dir.path().to_owned()
    }

    /// The gateway's configuration file (rewrite it, then [`Stack::signal`] `HUP`).
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("gateway.toml")
    }

    /// Sends a signal (`HUP`, `TERM`, `QUIT`) to the gateway process.
    pub fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "kill -{name} failed");
    }

    /// The gateway process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits (bounded) for the gateway process to exit; its exit status.
    pub fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    /// Polls the gateway's output until it contains `needle` (bounded); whether it did.
    pub async fn wait_output(&self, needle: &str, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if self.gateway_output().contains(needle) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Every test's traffic is checked for leaks, unless the test already failed.
        if !std::thread::panicking() {
            self.assert_output_is_clean();
        }
    }
}

fn spawn_gateway(config: &std::path::Path, dir: &std::path::Path) -> Child {
    spawn_gateway_with(config, dir, &[], "")
}

/// Starts `verigate run -c config` with `extra` arguments, logging to `{prefix}stdout.log` and
/// `{prefix}stderr.log` in `dir`.
pub fn spawn_gateway_with(
    config: &std::path::Path,
    dir: &std::path::Path,
    extra: &[&str],
    prefix: &str,
) -> Child {
    let stdout = std::fs::File::create(dir.join(format!("{prefix}stdout.log"))).unwrap();
    let stderr = std::fs::File::create(dir.join(format!("{prefix}stderr.log"))).unwrap();
    Command::new(env!("CARGO_BIN_EXE_verigate"))
        .arg("run")
        .arg("-c")
        .arg(config)
        .args(extra)
        .env("TEST_IMP_SECRET", TEST_IMP_SECRET)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .expect("the verigate binary starts")
}

/// Waits (bounded) until the gateway has had the answer to the token request it makes at start
/// (its `/readyz` no longer says it is checking), so that tests count API calls from a settled
/// start. Returns at once when there is no admin listener.
async fn wait_credentials_checked(client: &reqwest::Client, admin: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let Ok(resp) = client.get(format!("{admin}/readyz")).send().await else {
            return;
        };
        if !resp.text().await.unwrap_or_default().contains("checking") {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Polls until `addr` accepts a connection (true) or the child exits (false); at most 15 s.
fn wait_listening(child: &mut Child, addr: SocketAddr) -> bool {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
            return true;
        }
        std::thread::yield_now();
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

/// The birthday of someone who turns `years` on `today` (Seoul) plus `days` days.
pub fn birthday_years_ago(years: i16, days: i64) -> String {
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::get("Asia/Seoul").unwrap())
        .date();
    let date = today
        .checked_sub(jiff::Span::new().years(years))
        .unwrap()
        .checked_add(jiff::Span::new().days(days))
        .unwrap();
    date.to_string()
}

pub fn now_secs() -> i64 {
    jiff::Timestamp::now().as_second()
}
