//! The test stack: a sandbox i'mport API and an echo app in-process, and the real `verigate`
//! binary as a child process in front of the echo app, all on 127.0.0.1 ephemeral ports.
//! Readiness is awaited by polling, never by sleeping a fixed time; when the stack is dropped,
//! the gateway's whole output is scanned for the personal values the test seeded.

use std::net::{SocketAddr, TcpStream};
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::Duration;

use verigate::echo::{Echo, Received};
use verigate::sandbox::{
    Sandbox, SandboxIdentityVerification, SandboxOptions, SandboxRecord, TEST_IMP_SECRET,
    TEST_PORTONE_SECRET,
};

use super::cfg::Cfg;
use super::client::{GatewayClient, KillOnDrop, signal, verigate_command, wait_exit};
use super::{eventually, free_port};

/// Addresses a configuration is written for.
pub struct Ports {
    pub gateway: u16,
    pub admin: u16,
    /// For an HTTPS listener, when the configuration has one ([`Cfg::tls_listener`]).
    pub tls: u16,
    /// The stack's private directory (pid file, upgrade socket, logs).
    pub dir: PathBuf,
    pub echo: SocketAddr,
    pub sandbox: SocketAddr,
}

impl Ports {
    /// Ports for a file that is only checked or whose start is meant to fail: listeners on
    /// port 0 and the app and API on the discard port, runtime files in `dir`.
    pub fn offline(dir: &Path) -> Ports {
        let nowhere: SocketAddr = ([127, 0, 0, 1], 9).into();
        Ports {
            gateway: 0,
            admin: 0,
            tls: 0,
            dir: dir.to_owned(),
            echo: nowhere,
            sandbox: nowhere,
        }
    }

    /// Fresh free ports for the listeners, with `echo` as the app and `sandbox` as the API.
    pub fn fresh(dir: &Path, echo: SocketAddr, sandbox: SocketAddr) -> Ports {
        Ports {
            gateway: free_port(),
            admin: free_port(),
            tls: free_port(),
            dir: dir.to_owned(),
            echo,
            sandbox,
        }
    }

    pub fn tls_addr(&self) -> SocketAddr {
        ([127, 0, 0, 1], self.tls).into()
    }
}

/// The in-process sandbox API and echo app behind a gateway.
#[derive(Clone)]
pub struct Backends {
    pub sandbox: Sandbox,
    pub sandbox_addr: SocketAddr,
    pub echo: Echo,
    pub echo_addr: SocketAddr,
}

impl Backends {
    /// A fresh sandbox (the default credentials, no records) and a recording echo app.
    pub async fn start() -> Backends {
        verigate::server::install_crypto_provider();
        let sandbox = Sandbox::new(SandboxOptions::default());
        let sandbox_addr = sandbox.spawn("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let echo = Echo::recording();
        let echo_addr = echo.spawn("127.0.0.1:0".parse().unwrap()).await.unwrap();
        Backends {
            sandbox,
            sandbox_addr,
            echo,
            echo_addr,
        }
    }
}

pub struct Stack {
    pub sandbox: Sandbox,
    pub echo: Echo,
    /// Requests to the gateway; the stack derefs to it (`s.verify(…)`, `s.client`, `s.base`).
    pub gateway: GatewayClient,
    pub gateway_addr: SocketAddr,
    /// The HTTPS listener's address (listening only when the configuration has one).
    pub tls_addr: SocketAddr,
    /// The configuration the gateway started with.
    cfg: Cfg,
    /// Personal values seeded into the sandbox: none may appear in the gateway's output.
    seeded: std::sync::Mutex<Vec<String>>,
    child: Child,
    dir: tempfile::TempDir,
}

impl Deref for Stack {
    type Target = GatewayClient;

    fn deref(&self) -> &GatewayClient {
        &self.gateway
    }
}

impl Stack {
    /// The standard stack ([`Cfg::standard`]: the standard routes, a 1 s API budget).
    pub async fn start() -> Stack {
        Stack::with(Cfg::standard).await
    }

    /// A stack whose gateway runs the configuration `make` builds.
    pub async fn with(make: impl Fn(&Ports) -> Cfg) -> Stack {
        Stack::with_upstream(None, make).await
    }

    /// Like [`Stack::with`], with the echo app replaced by `upstream` when given.
    pub async fn with_upstream(
        upstream: Option<SocketAddr>,
        make: impl Fn(&Ports) -> Cfg,
    ) -> Stack {
        let backends = Backends::start().await;
        let echo_addr = upstream.unwrap_or(backends.echo_addr);
        Stack::on(&backends, echo_addr, make).await
    }

    /// A gateway in front of `backends`, which other stacks may share: a fleet of gateways
    /// asking one sandbox (whose counters then count the whole fleet's API calls).
    pub async fn sharing(backends: &Backends, make: impl Fn(&Ports) -> Cfg) -> Stack {
        Stack::on(backends, backends.echo_addr, make).await
    }

    async fn on(backends: &Backends, app: SocketAddr, make: impl Fn(&Ports) -> Cfg) -> Stack {
        let (sandbox, sandbox_addr) = (backends.sandbox.clone(), backends.sandbox_addr);
        let echo = backends.echo.clone();
        let dir = tempfile::tempdir().unwrap();
        // A port taken between our probe and the gateway's bind makes the child exit: retry,
        // with every port (the HTTPS one too) chosen afresh.
        for _ in 0..5 {
            let ports = Ports::fresh(dir.path(), app, sandbox_addr);
            let cfg = make(&ports);
            let path = dir.path().join("gateway.toml");
            std::fs::write(&path, cfg.render()).unwrap();
            let mut child = spawn_gateway(&path, dir.path());
            let addr: SocketAddr = ([127, 0, 0, 1], ports.gateway).into();
            let tls = cfg.server.tls.is_some();
            // The admin listener can come up after the proxy's under load: wait for it too, so
            // that no test reads /readyz or /metrics from a listener not bound yet.
            let admin = cfg.server.admin_listen.parse::<SocketAddr>().ok();
            if wait_listening(&mut child, addr).await
                && (!tls || wait_listening(&mut child, ports.tls_addr()).await)
                && match admin {
                    Some(admin) if admin.port() != 0 => wait_listening(&mut child, admin).await,
                    _ => true,
                }
            {
                let gateway = GatewayClient::new(addr, ports.admin);
                wait_credentials_checked(&gateway).await;
                return Stack {
                    sandbox,
                    echo,
                    gateway,
                    gateway_addr: addr,
                    tls_addr: ports.tls_addr(),
                    cfg,
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
        if let Ok(mut seeded) = self.seeded.lock() {
            seeded.extend(personal_values(&stored));
        }
        stored.imp_uid.expect("stored records have an imp_uid")
    }

    /// Stores a verified PortOne V2 person and returns the identityVerificationId.
    pub fn person_v2(&self, name: &str, birth_date: &str) -> String {
        self.insert_v2(SandboxIdentityVerification::person(name, birth_date))
    }

    /// Stores a PortOne V2 identity verification and returns its id.
    pub fn insert_v2(&self, rec: SandboxIdentityVerification) -> String {
        let stored = self.sandbox.insert_identity_verification(rec);
        if let (Ok(mut seeded), Some(c)) = (self.seeded.lock(), &stored.verified_customer) {
            let values = [&c.name, &c.birth_date, &c.phone_number, &c.ci, &c.di];
            seeded.extend(
                values
                    .into_iter()
                    .flatten()
                    .filter(|v| v.len() >= 3)
                    .cloned(),
            );
        }
        stored.id.expect("stored identity verifications have an id")
    }

    /// Asserts the gateway's output holds no seeded personal value, secret or token.
    pub fn assert_output_is_clean(&self) {
        let seeded = self.seeded.lock().map(|s| s.clone()).unwrap_or_default();
        assert_clean(&self.gateway_output(), &seeded);
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

    /// Everything the gateway process (and an upgrade's new one) wrote so far: stdout, stderr
    /// and the access log when it goes to a file.
    pub fn gateway_output(&self) -> String {
        let read = |n: &Path| std::fs::read_to_string(self.dir.path().join(n)).unwrap_or_default();
        let mut out = String::new();
        for name in [
            "stdout.log",
            "stderr.log",
            "new-stdout.log",
            "new-stderr.log",
        ] {
            out += &read(Path::new(name));
        }
        match self.cfg.server.access_log.as_deref() {
            Some("-") | None => {}
            Some(file) => out += &read(Path::new(file)),
        }
        out
    }

    pub fn dir(&self) -> PathBuf {
        self.dir.path().to_owned()
    }

    /// The gateway's configuration file (rewrite it, then [`Stack::signal`] `HUP`).
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("gateway.toml")
    }

    /// The configuration the gateway started with (not edits made to the file since).
    pub fn cfg(&self) -> Cfg {
        self.cfg.clone()
    }

    /// Replaces the configuration file with `cfg` (then [`Stack::signal`] `HUP` to apply it).
    pub fn write_config(&self, cfg: &Cfg) {
        std::fs::write(self.config_path(), cfg.render()).unwrap();
    }

    /// Sends a signal (`HUP`, `TERM`, `QUIT`) to the gateway process.
    pub fn signal(&self, name: &str) {
        assert!(signal(self.child.id(), name), "kill -{name} failed");
    }

    /// Starts a second gateway, `verigate run --upgrade` on the same configuration, logging to
    /// `new-stdout.log` / `new-stderr.log` (part of [`Stack::gateway_output`]). It waits on the
    /// upgrade socket until the first one is sent `QUIT`.
    pub fn spawn_upgrade(&self) -> KillOnDrop {
        KillOnDrop(spawn_gateway_with(
            &self.config_path(),
            self.dir.path(),
            &["--upgrade"],
            "new-",
        ))
    }

    /// The gateway process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits (bounded) for the gateway process to exit; its exit status.
    pub fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        wait_exit(&mut self.child, within)
    }

    /// Polls the gateway's output until it contains `needle` (bounded); whether it did.
    pub async fn wait_output(&self, needle: &str, within: Duration) -> bool {
        eventually(within, async || self.gateway_output().contains(needle)).await
    }
}

/// The personal values of a stored record a gateway must never print: name, birth date, phone,
/// CI and DI (the short ones, which could match anything, left out).
pub fn personal_values(stored: &SandboxRecord) -> Vec<String> {
    [
        &stored.name,
        &stored.birthday,
        &stored.phone,
        &stored.unique_key,
        &stored.unique_in_site,
    ]
    .into_iter()
    .flatten()
    .filter(|v| v.len() >= 3)
    .cloned()
    .collect()
}

/// Asserts a gateway's output `out` holds none of the `personal` values (as written or
/// percent-encoded), no API secret and nothing token-shaped. The messages never quote a value.
pub fn assert_clean(out: &str, personal: &[String]) {
    for value in personal {
        assert!(
            !out.contains(value.as_str()),
            "personal data reached the gateway's output"
        );
        let encoded = verigate::headers::percent_encode(value);
        assert!(
            !out.contains(&encoded),
            "personal data (encoded) reached the output"
        );
    }
    assert!(
        !out.contains(TEST_IMP_SECRET),
        "the API secret reached the output"
    );
    assert!(
        !out.contains(TEST_PORTONE_SECRET),
        "the PortOne API secret reached the output"
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

fn spawn_gateway(config: &Path, dir: &Path) -> Child {
    spawn_gateway_with(config, dir, &[], "")
}

/// Starts `verigate run -c config` with `extra` arguments, logging to `{prefix}stdout.log` and
/// `{prefix}stderr.log` in `dir`.
pub fn spawn_gateway_with(config: &Path, dir: &Path, extra: &[&str], prefix: &str) -> Child {
    let stdout = std::fs::File::create(dir.join(format!("{prefix}stdout.log"))).unwrap();
    let stderr = std::fs::File::create(dir.join(format!("{prefix}stderr.log"))).unwrap();
    verigate_command()
        .arg("run")
        .arg("-c")
        .arg(config)
        .args(extra)
        .env("TEST_IMP_SECRET", TEST_IMP_SECRET)
        .env("TEST_PORTONE_SECRET", TEST_PORTONE_SECRET)
        .env("RUST_LOG", "info")
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .expect("the verigate binary starts")
}

/// Waits (bounded) until the gateway has had the answer to the token request it makes at start
/// (its `/readyz` no longer says it is checking), so that tests count API calls from a settled
/// start. Returns at once when there is no admin listener.
async fn wait_credentials_checked(gateway: &GatewayClient) {
    eventually(Duration::from_secs(10), async || {
        match gateway.try_admin_get("/readyz").await {
            Ok(resp) => !resp.text().await.unwrap_or_default().contains("checking"),
            Err(_) => true,
        }
    })
    .await;
}

/// Polls until `addr` accepts a connection (true) or the child exits (false); at most 15 s.
pub async fn wait_listening(child: &mut Child, addr: SocketAddr) -> bool {
    let mut exited = false;
    let listening = eventually(Duration::from_secs(15), async || {
        exited = matches!(child.try_wait(), Ok(Some(_)));
        exited || TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok()
    })
    .await;
    listening && !exited
}
