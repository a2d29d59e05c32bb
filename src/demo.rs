//! `verigate demo`: the whole product on loopback in one process.
//!
//! A sandbox i'mport API and an echo app (standing for the legacy app) run on a tokio runtime;
//! the gateway runs in front of the echo app on pingora, exactly as `verigate run` would. A
//! walkthrough then sends the flows a newcomer needs to see and prints what the app received.

use std::fmt::Write as _;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use crate::echo::Echo;
use crate::sandbox::{
    Fault, Sandbox, SandboxOptions, SandboxRecord, TEST_IMP_KEY, TEST_IMP_SECRET,
};

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

[policies.adult]
min_age = 19
age_basis = "year"

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
        + &crate::demo_sessions::config(sandbox_addr).map_err(|e| e.to_string())?;
    let config = crate::config::parse(&text, "demo.toml", &|_| None)?;
    let server = crate::server::build(config, crate::server::Lifecycle::default(), None, None)?;
    let gateway: SocketAddr = ([127, 0, 0, 1], port).into();

    println!("verigate demo");
    println!("  sandbox i'mport API  http://{sandbox_addr}");
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
    println!("  curl -s http://{gateway}/anything -H 'x-verified-verdict: allow'");
    println!(
        "\nOpen http://{gateway}{} in a browser: verigate's page, the sandbox's stand-in, back to \
         the echo app with the identity headers.",
        crate::demo_sessions::GATED
    );
}

/// One step's outcome, printed as it happens.
pub(crate) struct Step {
    ok: bool,
}

impl Step {
    pub(crate) fn check(&mut self, cond: bool, what: &str) {
        println!("   {} {what}", if cond { "✓" } else { "✗" });
        self.ok &= cond;
    }
}

/// The verified headers the app received, decoded for reading.
pub(crate) fn app_view(app: &serde_json::Value) -> String {
    let mut out = String::new();
    let Some(headers) = app["headers"].as_object() else {
        return "   (the app received nothing)\n".into();
    };
    let mut any = false;
    for (k, v) in headers {
        if k.starts_with("x-verified-") || k == "content-digest" {
            any = true;
            let v = v.as_str().unwrap_or_default();
            let decoded = percent_encoding::percent_decode_str(v).decode_utf8_lossy();
            let note = if decoded != v {
                format!("   ({decoded})")
            } else {
                String::new()
            };
            let _ = writeln!(out, "       {k}: {v}{note}");
        }
    }
    if !any {
        out.push_str("       (no x-verified-* headers)\n");
    }
    out
}

async fn walkthrough(
    gateway: SocketAddr,
    sandbox_addr: SocketAddr,
    sandbox: &Sandbox,
    echo: &Echo,
) -> Result<bool, Box<dyn std::error::Error + Send + Sync>> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    let base = format!("http://{gateway}");
    wait_ready(&client, &base).await?;
    let mut step = Step { ok: true };

    let this_year = jiff::Zoned::now().year();
    let adult = sandbox.insert(SandboxRecord::person("홍길동", "1990-05-05"));
    let minor_birthday = format!("{}-01-01", this_year - 15);
    let minor = sandbox.insert(SandboxRecord::person("김영희", &minor_birthday));
    let post = |uid: &str| {
        client
            .post(format!("{base}/certifications"))
            .header("content-type", "application/json")
            .body(format!(
                "{{\"imp_uid\":\"{uid}\",\"merchant_uid\":\"order-1\"}}"
            ))
            .send()
    };

    let uid = adult.imp_uid.clone().unwrap_or_default();
    println!("1. An adult (born 1990-05-05) verifies in the popup flow");
    println!("   POST /certifications {{\"imp_uid\":\"{uid}\", ...}}");
    let resp = post(&uid).await?;
    let status = resp.status().as_u16();
    let app: serde_json::Value = resp.json().await?;
    println!("   gateway forwarded it ({status}); the app received:");
    print!("{}", app_view(&app));
    step.check(
        status == 200 && app["headers"]["x-verified-verdict"] == "allow",
        "verdict allow, with the name and birth date; the app needs no i'mport code",
    );

    let uid = minor.imp_uid.clone().unwrap_or_default();
    println!("\n2. A minor (born {minor_birthday}) verifies");
    println!("   POST /certifications (route popup: on_deny = \"forward\")");
    let resp = post(&uid).await?;
    let status = resp.status().as_u16();
    let app: serde_json::Value = resp.json().await?;
    print!("{}", app_view(&app));
    step.check(
        status == 200
            && app["headers"]["x-verified-verdict"] == "deny"
            && app["headers"]["x-verified-reason"] == "underage",
        "forwarded with verdict deny, reason underage: the app decides what to show",
    );
    println!("   GET /certifications/redirect?imp_uid=… (route redirect: on_deny = \"reject\")");
    let resp = client
        .get(format!(
            "{base}/certifications/redirect?imp_uid={uid}&success=true"
        ))
        .send()
        .await?;
    let status = resp.status().as_u16();
    let body: serde_json::Value = resp.json().await?;
    println!("   gateway answered {status}: {body}");
    step.check(
        status == 403 && body["error"] == "age_requirement_not_met",
        "refused by the gateway; the app never saw it",
    );

    println!("\n3. A client forges the verdict on an ordinary route");
    println!(
        "   GET /account with 'x-verified-verdict: allow', 'X_Verified_Name: admin' and \
         'X-Verified.Age: 99' (PHP reads all three as HTTP_X_VERIFIED_*)"
    );
    let resp = client
        .get(format!("{base}/account"))
        .header("x-verified-verdict", "allow")
        .header("X_Verified_Name", "admin")
        .header("X-Verified.Age", "99")
        .send()
        .await?;
    let app: serde_json::Value = resp.json().await?;
    print!("{}", app_view(&app));
    step.check(
        ["x-verified-verdict", "x_verified_name", "x-verified.age"]
            .iter()
            .all(|h| app["headers"].get(h).is_none()),
        "stripped: only verigate can set x-verified-* headers, however they are spelled",
    );

    println!("\n4. An imp_uid the API does not know");
    let resp = post("imp_000000000000").await?;
    let status = resp.status().as_u16();
    let body: serde_json::Value = resp.json().await?;
    println!("   gateway answered {status}: {body}");
    step.check(
        status == 403 && body["error"] == "verification_not_found",
        "refused (on_failure = \"reject\")",
    );

    crate::demo_sessions::walkthrough(&base, sandbox_addr, &mut step).await?;

    println!("\n8. The i'mport API is down (the sandbox answers 500 to everything)");
    sandbox.set_fault(Fault {
        latency_ms: None,
        status: Some(500),
        times: None,
    });
    sandbox.revoke_tokens();
    let fresh = sandbox.insert(SandboxRecord::person("이몽룡", "1985-02-02"));
    let resp = post(fresh.imp_uid.as_deref().unwrap_or_default()).await?;
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body: serde_json::Value = resp.json().await?;
    sandbox.clear_faults();
    println!(
        "   gateway answered {status} (Retry-After: {}): {body}",
        retry_after.as_deref().unwrap_or("-")
    );
    step.check(
        status == 503 && body["error"] == "verification_unavailable",
        "fails closed: no guess, nothing forwarded",
    );

    let seen = echo.received().len();
    println!(
        "\nThe app received {seen} requests in all; the sandbox API saw {} lookups and {} token requests.",
        sandbox.stats().certification_requests,
        sandbox.stats().token_requests
    );
    Ok(step.ok)
}

/// Polls the gateway until it accepts connections (bounded).
async fn wait_ready(
    client: &reqwest::Client,
    base: &str,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    for _ in 0..200 {
        if client.get(format!("{base}/")).send().await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    Err("the gateway did not start listening within 5 s".into())
}
