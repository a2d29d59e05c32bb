//! Talking to a gateway: a cloneable HTTP client a spawned task can own, a raw-socket exchange
//! for what an HTTP client will not send, and the one way tests run the `verigate` binary.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// Requests to one gateway's listener and admin listener. Cheap to clone (the connection pool
/// is shared), so a spawned task takes its own.
#[derive(Clone)]
pub struct GatewayClient {
    pub client: reqwest::Client,
    /// `http://127.0.0.1:PORT`, the plain listener.
    pub base: String,
    /// `http://127.0.0.1:PORT`, the admin listener.
    pub admin: String,
}

impl GatewayClient {
    pub fn new(gateway: SocketAddr, admin_port: u16) -> GatewayClient {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap();
        GatewayClient {
            client,
            base: format!("http://{gateway}"),
            admin: format!("http://127.0.0.1:{admin_port}"),
        }
    }

    /// POSTs `body` to `path` as `content_type`.
    pub async fn post(&self, path: &str, content_type: &str, body: Vec<u8>) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.base))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// POSTs `body` as JSON to `path`.
    pub async fn post_json(&self, path: &str, body: &str) -> reqwest::Response {
        self.try_post_json(path, body).await.unwrap()
    }

    /// POSTs `body` as JSON to `path`; a transport error is returned, not a panic.
    pub async fn try_post_json(
        &self,
        path: &str,
        body: &str,
    ) -> reqwest::Result<reqwest::Response> {
        self.client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
    }

    /// POSTs `{"imp_uid": uid}` as JSON to `path`.
    pub async fn verify(&self, path: &str, uid: &str) -> reqwest::Response {
        self.try_verify(path, uid).await.unwrap()
    }

    /// Like [`GatewayClient::verify`]; a transport error is returned, not a panic.
    pub async fn try_verify(&self, path: &str, uid: &str) -> reqwest::Result<reqwest::Response> {
        self.try_post_json(path, &format!(r#"{{"imp_uid":"{uid}"}}"#))
            .await
    }

    pub async fn get(&self, path_and_query: &str) -> reqwest::Response {
        self.try_get(path_and_query).await.unwrap()
    }

    pub async fn try_get(&self, path_and_query: &str) -> reqwest::Result<reqwest::Response> {
        self.client
            .get(format!("{}{path_and_query}", self.base))
            .send()
            .await
    }

    /// GETs `path` from the admin listener.
    pub async fn admin_get(&self, path: &str) -> reqwest::Response {
        self.try_admin_get(path).await.unwrap()
    }

    pub async fn try_admin_get(&self, path: &str) -> reqwest::Result<reqwest::Response> {
        self.client
            .get(format!("{}{path}", self.admin))
            .send()
            .await
    }
}

/// Sends raw bytes on a fresh connection and reads the whole answer, until the gateway closes
/// or 10 s pass. A write the gateway cuts short is not an error: its answer is what counts.
pub fn raw_exchange(addr: SocketAddr, request: &[u8]) -> String {
    let mut conn = std::net::TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let _ = conn.write_all(request);
    let mut out = Vec::new();
    let _ = conn.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// [`raw_exchange`] on a blocking thread, for async tests.
pub async fn raw_exchange_async(addr: SocketAddr, request: Vec<u8>) -> String {
    tokio::task::spawn_blocking(move || raw_exchange(addr, &request))
        .await
        .unwrap()
}

/// The `verigate` binary, with stdin closed and without the operator's `IMP_KEY` /
/// `IMP_SECRET`, so a test sees only what it sets.
pub fn verigate_command() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_verigate"));
    cmd.env_remove("IMP_KEY")
        .env_remove("IMP_SECRET")
        .stdin(Stdio::null());
    cmd
}

/// Runs `verigate args…` with `env` to completion.
pub fn verigate(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = verigate_command();
    cmd.args(args).envs(env.iter().copied());
    cmd.output().expect("verigate runs")
}

/// Runs `verigate args…` with `env`, killing it if it has not exited `within`.
pub fn verigate_bounded(args: &[&str], env: &[(&str, &str)], within: Duration) -> Output {
    let mut child = verigate_command()
        .args(args)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("verigate runs");
    wait_exit(&mut child, within);
    let _ = child.kill();
    child.wait_with_output().unwrap()
}

/// Waits (bounded) for `child` to exit, looking every 10 ms from this (blocking) thread; its
/// exit status, or `None` if it is still running after `within`.
pub fn wait_exit(child: &mut Child, within: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + within;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Sends signal `name` (`HUP`, `TERM`, …) to process `pid`; whether `kill` succeeded.
pub fn signal(pid: u32, name: &str) -> bool {
    Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .is_ok_and(|s| s.success())
}

/// Lossy UTF-8 of a process's output.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A child process killed and reaped when dropped, however the test ends.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Whether process `pid` is running (not gone, not a zombie).
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| !stat.contains(") Z "))
}
