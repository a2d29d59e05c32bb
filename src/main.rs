//! The `verigate` command line: parses arguments and hands over.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc instead of glibc's malloc: the proxy path allocates and frees many small buffers per
/// request, where glibc's arenas cost about a tenth of the CPU (bench/RESULTS.md, profile).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "verigate",
    version,
    about = "i'mport identity verification at the edge"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway.
    Run {
        /// The configuration file.
        #[arg(short, long, default_value = "gateway.toml")]
        config: PathBuf,
        /// Run in the background (pingora).
        #[arg(short, long)]
        daemon: bool,
        /// Take over the sockets of a running verigate for a zero-downtime upgrade (pingora).
        #[arg(short, long)]
        upgrade: bool,
    },
    /// Validate the configuration and print the effective routes and policies.
    Check {
        #[arg(short, long, default_value = "gateway.toml")]
        config: PathBuf,
    },
    /// Start a sandbox API, an echo app and the gateway, and walk through the flows.
    Demo {
        /// Walk through once and exit 0 only if every step behaved.
        #[arg(long)]
        once: bool,
    },
    /// Make a new signing key.
    Keygen {
        /// `ed25519` (a PKCS#8 PEM file; prints its public JWK) or `hmac-sha256` (a random
        /// 32-byte secret in base64).
        #[arg(long, value_parser = ["ed25519", "hmac-sha256"])]
        alg: String,
        /// Where to write the key (mode 0600). Required for ed25519; an HMAC secret is printed
        /// when omitted.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Serve the echo app alone (the stand-in app of the demo, tests and benchmarks).
    #[command(hide = true)]
    Echo {
        #[arg(long, default_value = "127.0.0.1:3000")]
        listen: SocketAddr,
    },
    /// Serve the simulated i'mport V1 and PortOne V2 APIs alone.
    Sandbox {
        #[arg(long, default_value = "127.0.0.1:8089")]
        listen: SocketAddr,
        /// Records to serve (TOML or JSON list).
        #[arg(long)]
        people: Option<PathBuf>,
        /// The V2 API secret to accept (default `sandbox-portone-api-secret`).
        #[arg(long)]
        portone_secret: Option<String>,
    },
}

/// Logs to stderr, at `RUST_LOG`'s level when set, else `default`.
fn init_logging(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, never into a file or a journal.
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The demo's output is the walkthrough; the server's own chatter would drown it.
    init_logging(match cli.command {
        Command::Demo { .. } => "warn",
        _ => "info",
    });
    match cli.command {
        Command::Run {
            config,
            daemon,
            upgrade,
        } => run(config, verigate::server::Lifecycle { upgrade, daemon }),
        Command::Check { config } => check(&config),
        Command::Demo { once } => verigate::demo::run(once),
        Command::Keygen { alg, out } => verigate::signing::keygen(&alg, out.as_deref()),
        Command::Echo { listen } => echo(listen),
        Command::Sandbox {
            listen,
            people,
            portone_secret,
        } => sandbox(listen, people.as_deref(), portone_secret),
    }
}

/// `verigate run`: loads the file, opens the access log and serves until stopped.
fn run(config: PathBuf, lifecycle: verigate::server::Lifecycle) -> ExitCode {
    // Absolute before anything else: a daemon works from `/`, and SIGHUP rereads this.
    let config = std::path::absolute(&config).unwrap_or(config);
    let cfg = match verigate::config::load(&config) {
        Ok(c) => c,
        Err(errors) => {
            eprintln!("{errors}");
            return ExitCode::from(2);
        }
    };
    for w in cfg.warnings() {
        tracing::warn!("{w}");
    }
    let log = match &cfg.server.access_log {
        verigate::config::AccessLogTarget::Stdout => {
            Some(verigate::access_log::AccessLog::stdout())
        }
        verigate::config::AccessLogTarget::Off => None,
        verigate::config::AccessLogTarget::File(path) => {
            match verigate::access_log::AccessLog::file(path) {
                Ok(log) => Some(log),
                Err(e) => {
                    eprintln!("verigate: cannot open access log {}: {e}", path.display());
                    return ExitCode::FAILURE;
                }
            }
        }
    };
    match verigate::server::build(cfg, lifecycle, log, Some(config)) {
        Ok(server) => server.run_forever(),
        Err(e) => {
            eprintln!("verigate: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `verigate check`: the file's problems (exit 2), or its routes, policies and warnings.
fn check(config: &Path) -> ExitCode {
    match verigate::config::load(config) {
        Ok(cfg) => {
            if let Err(e) = verigate::server::check_private_dirs(&cfg.server, false) {
                eprintln!("{}: {e}", config.display());
                return ExitCode::from(2);
            }
            println!("{}: ok", config.display());
            print!("{}", cfg.describe());
            for w in cfg.warnings() {
                println!("warning: {w}");
            }
            ExitCode::SUCCESS
        }
        Err(errors) => {
            eprintln!("{errors}");
            ExitCode::from(2)
        }
    }
}

/// `verigate echo`: the stand-in app alone, until stopped.
fn echo(listen: SocketAddr) -> ExitCode {
    let served = tokio::runtime::Runtime::new().and_then(|rt| {
        rt.block_on(async {
            let addr = verigate::echo::Echo::quiet().spawn(listen).await?;
            println!("echo app listening on http://{addr}");
            std::future::pending::<std::io::Result<()>>().await
        })
    });
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("verigate echo: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `verigate sandbox`: the simulated APIs alone, until stopped.
fn sandbox(listen: SocketAddr, people: Option<&Path>, portone_secret: Option<String>) -> ExitCode {
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("verigate: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(verigate::sandbox::run_cli(listen, people, portone_secret)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("verigate sandbox: {e}");
            ExitCode::FAILURE
        }
    }
}
