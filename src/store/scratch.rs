//! A throwaway `redis-server` for the test suites: a child process on a free loopback port, with
//! no persistence (`--save "" --appendonly no`), killed when dropped.
//!
//! The binary is `redis-server` (Debian's, installed by `scripts/prereqs.sh`) or whatever
//! `VERIGATE_TEST_SERVER_BIN` names (a `valkey-server`, say). A missing binary is a panic that
//! says so, never a skipped test. The failure cases use [`ScratchServer::kill`],
//! [`ScratchServer::restart`] and [`ScratchServer::pause`] (SIGSTOP: connections are still
//! accepted by the kernel, but nothing answers). [`ScratchServer::raw`] speaks RESP directly, so
//! a test can read or overwrite what the gateway stored without going through it.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The environment variable naming another server binary.
pub const SERVER_BIN_VAR: &str = "VERIGATE_TEST_SERVER_BIN";

/// How long a server may take to accept connections.
const READY_WITHIN: Duration = Duration::from_secs(10);

/// How a scratch server is started.
#[derive(Debug, Clone, Default)]
pub struct ScratchOptions {
    /// `--requirepass`: clients must AUTH (the raw client does).
    pub password: Option<String>,
    /// A certificate and key (PEM files): the server speaks TLS only.
    pub tls: Option<(PathBuf, PathBuf)>,
}

/// One running server; killed on drop.
pub struct ScratchServer {
    child: Option<Child>,
    port: u16,
    options: ScratchOptions,
}

/// A reply of the raw client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Status(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    l.local_addr().expect("local address").port()
}

impl ScratchServer {
    /// A plain server without a password.
    pub fn start() -> Self {
        Self::start_with(ScratchOptions::default())
    }

    /// A server started with `options`, on a free port (another port is tried when the one
    /// picked was taken in the meantime).
    pub fn start_with(options: ScratchOptions) -> Self {
        for _ in 0..5 {
            let mut s = ScratchServer {
                child: None,
                port: free_port(),
                options: options.clone(),
            };
            if s.spawn() {
                return s;
            }
        }
        panic!("redis-server did not start on a free port in 5 tries");
    }

    /// `redis://` (or `rediss://` for TLS) URL of the server, with the password if any.
    pub fn url(&self) -> String {
        let scheme = if self.options.tls.is_some() {
            "rediss"
        } else {
            "redis"
        };
        match &self.options.password {
            Some(p) => format!("{scheme}://:{p}@127.0.0.1:{}/0", self.port),
            None => format!("{scheme}://127.0.0.1:{}/0", self.port),
        }
    }

    /// The loopback port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    fn binary() -> String {
        std::env::var(SERVER_BIN_VAR).unwrap_or_else(|_| "redis-server".into())
    }

    /// Starts the process on `self.port`; `false` when it exited (the port was taken).
    fn spawn(&mut self) -> bool {
        let port = self.port.to_string();
        let dir = std::env::temp_dir();
        let mut cmd = Command::new(Self::binary());
        cmd.args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--daemonize", "no", "--loglevel", "warning"])
            .arg("--dir")
            .arg(&dir);
        match &self.options.tls {
            Some((cert, key)) => {
                cmd.args([
                    "--port",
                    "0",
                    "--tls-port",
                    &port,
                    "--tls-auth-clients",
                    "no",
                ])
                .arg("--tls-cert-file")
                .arg(cert)
                .arg("--tls-key-file")
                .arg(key);
            }
            None => {
                cmd.args(["--port", &port]);
            }
        }
        if let Some(p) = &self.options.password {
            cmd.args(["--requirepass", p]);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run {} ({e}): install redis-server (scripts/prereqs.sh) or set {SERVER_BIN_VAR}",
                    Self::binary()
                )
            });
        self.child = Some(child);
        self.wait_ready()
    }

    /// Polls until the server accepts connections (and answers PING, without TLS).
    fn wait_ready(&mut self) -> bool {
        let started = Instant::now();
        while started.elapsed() < READY_WITHIN {
            if let Some(child) = &mut self.child
                && let Ok(Some(_)) = child.try_wait()
            {
                self.child = None;
                return false;
            }
            let ready = if self.options.tls.is_some() {
                TcpStream::connect(self.addr()).is_ok()
            } else {
                matches!(self.try_raw(&["PING"]), Ok(Reply::Status(s)) if s == "PONG")
            };
            if ready {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!(
            "redis-server on port {} was not ready within {READY_WITHIN:?}",
            self.port
        );
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    fn signal(&self, signal: &str) {
        if let Some(child) = &self.child {
            let status = Command::new("kill")
                .args([signal, &child.id().to_string()])
                .status()
                .expect("run kill");
            assert!(status.success(), "kill {signal} failed");
        }
    }

    /// SIGKILL: existing connections break, new ones are refused.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port, empty (there is no persistence).
    pub fn restart(&mut self) {
        self.kill();
        assert!(
            self.spawn(),
            "redis-server did not restart on port {}",
            self.port
        );
    }

    /// SIGSTOP: the kernel still accepts connections, but no command is answered.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// SIGCONT after [`ScratchServer::pause`].
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    /// Sends one command over a fresh plain connection (after AUTH if there is a password).
    /// Panics on I/O errors: this is for tests of a running server.
    pub fn raw(&self, args: &[&str]) -> Reply {
        self.try_raw(args).expect("talk to redis-server")
    }

    fn try_raw(&self, args: &[&str]) -> std::io::Result<Reply> {
        let stream = TcpStream::connect_timeout(&self.addr(), Duration::from_secs(1))?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut reader = BufReader::new(stream.try_clone()?);
        let mut writer = stream;
        if let Some(p) = &self.options.password {
            send(&mut writer, &["AUTH", p])?;
            read_reply(&mut reader)?;
        }
        send(&mut writer, args)?;
        read_reply(&mut reader)
    }
}

fn send(w: &mut impl Write, args: &[&str]) -> std::io::Result<()> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    w.write_all(&out)
}

fn read_reply(r: &mut impl BufRead) -> std::io::Result<Reply> {
    let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "unexpected reply");
    let mut line = String::new();
    r.read_line(&mut line)?;
    let line = line.trim_end_matches("\r\n");
    let (kind, rest) = line.split_at_checked(1).ok_or_else(bad)?;
    Ok(match kind {
        "+" => Reply::Status(rest.into()),
        "-" => Reply::Error(rest.into()),
        ":" => Reply::Int(rest.parse().map_err(|_| bad())?),
        "$" => {
            let len: i64 = rest.parse().map_err(|_| bad())?;
            if len < 0 {
                Reply::Bulk(None)
            } else {
                let mut buf = vec![0u8; usize::try_from(len).map_err(|_| bad())? + 2];
                r.read_exact(&mut buf)?;
                buf.truncate(buf.len() - 2);
                Reply::Bulk(Some(buf))
            }
        }
        _ => return Err(bad()),
    })
}

impl Drop for ScratchServer {
    fn drop(&mut self) {
        // A paused server still dies of SIGKILL.
        self.kill();
    }
}
