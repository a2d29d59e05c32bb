//! `verigate demo`: the whole product on loopback in one process.
//!
//! A sandbox i'mport V1 and PortOne V2 API and an echo app (standing for the legacy app) run on a tokio runtime;
//! the gateway runs in front of the echo app on pingora, exactly as `verigate run` would. A
//! walkthrough (`walk.rs`) then sends the flows a newcomer needs to see and prints what the app
//! received.

mod sessions;
mod walk;

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::echo::Echo;
use crate::sandbox::{Sandbox, SandboxOptions, TEST_IMP_KEY, TEST_IMP_SECRET, TEST_PORTONE_SECRET};
use walk::walkthrough;

/// A free loopback port (bound, then released for the gateway to take).
fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The configuration the demo gateway runs with.
fn demo_config(gateway: u16, echo: SocketAddr, sandbox: SocketAddr, run_dir: &Path) -> String {
    let run_dir = run_dir.display();
    format!(
        r#"# verigate demo configuration (generated)
[server]
listen = ["127.0.0.1:{gateway}"]
admin_listen = ""
threads = 2
pid_file = "{run_dir}/verigate.pid"
upgrade_sock = "{run_dir}/upgrade.sock"

[upstream]
addrs = ["{echo}"]

[iamport]
base_url = "http://{sandbox}"
imp_key = "{TEST_IMP_KEY}"
imp_secret = "{TEST_IMP_SECRET}"
timeout_ms = 1000

[portone]
base_url = "http://{sandbox}"
api_secret = "{TEST_PORTONE_SECRET}"
timeout_ms = 1000

[policies.adult]
min_age = 19
age_basis = "year"

[[routes]]
name = "popup"
method = "POST"
path = "/certifications"
provider = "iamport"
imp_uid_from = "body"
policy = "adult"
on_deny = "forward"
on_failure = "reject"

[[routes]]
name = "v2-popup"
method = "POST"
path = "/identity-verifications"
provider = "portone"
imp_uid_from = "body"
policy = "adult"
on_deny = "forward"
on_failure = "reject"

[[routes]]
name = "redirect"
method = "GET"
path = "/certifications/redirect"
provider = "iamport"
imp_uid_from = "query"
policy = "adult"
on_deny = "reject"
"#
    )
}

/// Runs the demo; with `once`, exits after the walkthrough with its verdict.
pub fn run(once: bool) -> ExitCode {
    match start(once) {
        Ok(never) => match never {},
        Err(e) => {
            eprintln!("verigate demo: {e}");
            ExitCode::FAILURE
        }
    }
}

fn start(once: bool) -> Result<std::convert::Infallible, Box<dyn std::error::Error>> {
    crate::server::install_crypto_provider();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let sandbox = Sandbox::new(SandboxOptions::default());
    let echo = Echo::recording();
    let (sandbox_addr, echo_addr) = rt.block_on(async {
        let s = sandbox.spawn("127.0.0.1:0".parse()?).await?;
        let e = echo.spawn("127.0.0.1:0".parse()?).await?;
        Ok::<_, Box<dyn std::error::Error>>((s, e))
    })?;
    let port = free_port()?;
    let run_dir = private_run_dir()?;
    // The demo is not a server: Ctrl-C or SIGTERM ends it at once (pingora would wait for its
    // grace period on SIGTERM).
    let cleanup = run_dir.clone();
    rt.spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            return;
        };
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
        let _ = std::fs::remove_dir_all(&cleanup);
        std::process::exit(0);
    });
    let text = demo_config(port, echo_addr, sandbox_addr, &run_dir)
        + &sessions::config(sandbox_addr).map_err(|e| e.to_string())?;
    let config = crate::config::parse(&text, "demo.toml", &|_| None)?;
    let server = crate::server::build(config, crate::server::Lifecycle::default(), None, None)?;
    let gateway: SocketAddr = ([127, 0, 0, 1], port).into();

    println!("verigate demo");
    println!("  sandbox API          http://{sandbox_addr}  (i'mport V1 and PortOne V2)");
    println!("  echo app (the app)   http://{echo_addr}");
    println!("  gateway              http://{gateway}  → forwards to the echo app\n");

    let walk_dir = run_dir.clone();
    rt.spawn(async move {
        let ok = match walkthrough(gateway, sandbox_addr, &sandbox, &echo).await {
            Ok(ok) => ok,
            Err(e) => {
                println!("the walkthrough could not run: {e}");
                false
            }
        };
        if once {
            println!(
                "\n{}",
                if ok {
                    "demo: every step behaved"
                } else {
                    "demo: SOME STEPS FAILED"
                }
            );
            let _ = std::fs::remove_dir_all(&walk_dir);
            std::process::exit(if ok { 0 } else { 1 });
        }
        print_try_it(gateway, sandbox_addr);
    });
    // `rt` stays alive: run_forever never returns.
    server.run_forever()
}

/// A new directory only this user can use, for the demo's pid file and upgrade socket.
fn private_run_dir() -> std::io::Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    let dir = std::env::temp_dir().join(format!("verigate-demo-{}", std::process::id()));
    std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
    Ok(dir)
}

fn print_try_it(gateway: SocketAddr, sandbox: SocketAddr) {
    println!("\nThe demo keeps running. Try it (Ctrl-C to stop):");
    println!(
        "  curl -s -XPOST http://{sandbox}/__sandbox/certifications -H 'content-type: application/json' \\\n       -d '{{\"name\":\"김철수\",\"birthday\":\"1995-03-01\"}}'"
    );
    println!(
        "  curl -s -XPOST http://{gateway}/certifications -H 'content-type: application/json' -d '{{\"imp_uid\":\"<imp_uid from above>\"}}'"
    );
    println!(
        "  curl -s 'http://{gateway}/certifications/redirect?imp_uid=<imp_uid>&success=true' -H 'accept: text/html'"
    );
    println!(
        "  curl -s -XPOST http://{sandbox}/__sandbox/identity-verifications -H 'content-type: application/json' \\\n       -d '{{\"verifiedCustomer\":{{\"name\":\"김철수\",\"birthDate\":\"1995-03-01\"}}}}'"
    );
    println!(
        "  curl -s -XPOST http://{gateway}/identity-verifications -H 'content-type: application/json' -d '{{\"identityVerificationId\":\"<id from above>\"}}'"
    );
    println!("  curl -s http://{gateway}/anything -H 'x-verified-verdict: allow'");
    println!(
        "\nOpen http://{gateway}{} in a browser: verigate's page, the sandbox's stand-in, back to \
         the echo app with the identity headers.",
        sessions::GATED
    );
}
