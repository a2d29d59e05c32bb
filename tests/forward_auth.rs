//! Forward-auth behind real edge proxies: Debian's nginx (`auth_request`) and Caddy
//! (`forward_auth`), each started by the test on free ports from the configuration in
//! `examples/configs/` (the one README shows), in front of verigate and the echo app.

mod common;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::sessions::*;
use common::{Signing, Stack, birthday_years_ago, verigate};

/// A proxy process, stopped when dropped.
struct Edge {
    child: Child,
    base: String,
}

impl Drop for Edge {
    fn drop(&mut self) {
        // SIGTERM, so nginx's master stops its workers (a SIGKILLed master leaves them running);
        // SIGKILL only if it has not exited within a few seconds.
        if let Ok(pid) = i32::try_from(self.child.id()) {
            // SAFETY: kill(2) with our own child's pid and a valid signal has no memory effects.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
}

/// Fills the `{{placeholders}}` of an example configuration.
fn template(
    file: &str,
    dir: &Path,
    listen: SocketAddr,
    verigate: SocketAddr,
    app: SocketAddr,
) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/configs")
        .join(file);
    std::fs::read_to_string(path)
        .unwrap()
        .replace("{{dir}}", &dir.display().to_string())
        .replace("{{listen}}", &listen.to_string())
        .replace("{{verigate}}", &verigate.to_string())
        .replace("{{app}}", &app.to_string())
}

/// Polls (bounded) until `addr` accepts connections; panics with `log` when the process died.
fn wait_listening(child: &mut Child, addr: SocketAddr, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "the edge proxy exited ({status}): {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("the edge proxy did not listen on {addr}");
}

fn nginx(dir: &Path, verigate: SocketAddr, app: SocketAddr) -> Edge {
    let listen = free_addr();
    let conf = dir.join("nginx.conf");
    std::fs::write(
        &conf,
        template("nginx-forward-auth.conf", dir, listen, verigate, app),
    )
    .unwrap();
    let log = dir.join("nginx.log");
    let mut child = Command::new("nginx")
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::File::create(dir.join("nginx.stderr")).unwrap())
        .spawn()
        .expect("nginx is installed (scripts/prereqs.sh)");
    wait_listening(&mut child, listen, &dir.join("nginx.stderr"));
    Edge {
        child,
        base: format!("http://{listen}"),
    }
}

fn caddy(dir: &Path, verigate: SocketAddr, app: SocketAddr) -> Edge {
    caddy_for(dir, verigate, app, false)
}

/// Caddy from the example; for a PortOne V2 page (`v2`) with the change its comment asks for,
/// `X-Verified-Identity-Verification-Id` in `X-Verified-Imp-Uid`'s place.
fn caddy_for(dir: &Path, verigate: SocketAddr, app: SocketAddr, v2: bool) -> Edge {
    let listen = free_addr();
    let conf = dir.join("Caddyfile");
    let mut text = template("Caddyfile.forward-auth", dir, listen, verigate, app);
    if v2 {
        let v1 = " X-Verified-Imp-Uid ";
        assert!(text.contains(v1), "the example copies the V1 id");
        text = text.replace(v1, " X-Verified-Identity-Verification-Id ");
    }
    std::fs::write(&conf, text).unwrap();
    let log = dir.join("caddy.log");
    let mut child = Command::new("caddy")
        .args(["run", "--adapter", "caddyfile", "--config"])
        .arg(&conf)
        .env("HOME", dir)
        .env("XDG_DATA_HOME", dir)
        .env("XDG_CONFIG_HOME", dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("caddy is installed (scripts/prereqs.sh)");
    wait_listening(&mut child, listen, &log);
    Edge {
        child,
        base: format!("http://{listen}"),
    }
}

/// verigate with the gate, the edge (on loopback) trusted, and `[signing]` with a JWT.
async fn stack(keys: &Path) -> (Stack, SocketAddr) {
    stack_of(keys, session_cfg).await
}

/// As [`stack`], with the configuration `make` builds from the ports and session secrets.
async fn stack_of(
    keys: &Path,
    make: fn(&common::Ports, &[&str]) -> common::Cfg,
) -> (Stack, SocketAddr) {
    let out = verigate(
        &[
            "keygen",
            "--alg",
            "ed25519",
            "--out",
            keys.join("k1.pem").to_str().unwrap(),
        ],
        &[],
    );
    assert!(out.status.success());
    let app = Mutex::new(None);
    let s = Stack::with(|p| {
        *app.lock().unwrap() = Some(p.echo);
        make(p, &[SECRET_A])
            .trusted_proxies(&["127.0.0.1"])
            .signing(Signing::ed25519(keys, &["k1"], "k1"))
    })
    .await;
    let app = app.lock().unwrap().unwrap();
    (s, app)
}

fn browser() -> reqwest::Client {
    client()
}

/// The session of a person born on `birthday`, made through the edge's `/.verigate/` route.
async fn session_through(edge: &Edge, stack: &Stack, birthday: &str) -> String {
    let c = browser();
    let resp = c
        .get(format!("{}/.verigate/verify?rd=%2Fadult%2Fx", edge.base))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let state = cookie_pair(&set_cookies(&resp), STATE_COOKIE).unwrap();
    let v = Visit {
        state,
        merchant_uid: minted_id(&resp.text().await.unwrap()),
    };
    let imp_uid = verified(stack, &v, birthday);
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("imp_uid", &imp_uid)
        .append_pair("merchant_uid", &v.merchant_uid)
        .finish();
    let resp = c
        .post(format!("{}/.verigate/callback", edge.base))
        .header("cookie", &v.state)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    assert_eq!(resp.headers()["location"], "/adult/x");
    cookie_pair(&set_cookies(&resp), COOKIE).unwrap()
}

async fn the_edge_gates_the_app(edge: &Edge, s: &Stack) {
    let c = browser();
    // No session: a browser is sent to the verification page, back to where it was going.
    let resp = c
        .get(format!("{}/adult/x?page=2", edge.base))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302);
    let location = resp.headers()["location"].to_str().unwrap();
    assert!(
        location.ends_with("/.verigate/verify?rd=%2Fadult%2Fx%3Fpage%3D2"),
        "{location}"
    );
    assert!(s.app_saw().is_empty(), "nothing gated reached the app");
    // An adult's session: the app receives the identity headers the edge copied.
    let pair = session_through(edge, s, &birthday_years_ago(30, 0)).await;
    let resp = c
        .get(format!("{}/adult/x", edge.base))
        .header("cookie", &pair)
        .header("x-verified-verdict", "forged")
        .header("x-verified-reason", "forged")
        .header("x-verified-identity-verification-id", "forged")
        .header("x-verified-certified-at", "1")
        // PHP and CGI read `_` as `-`: these spellings must not reach the app either.
        .header("x_verified_name", "forged")
        .header("X-Verified_Reason", "forged")
        .header("x_verified-birth", "forged")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let app = s.last();
    let underscored: Vec<&str> = app
        .headers
        .iter()
        .map(|(name, _)| name.as_str())
        .filter(|name| name.contains('_'))
        .collect();
    assert!(underscored.is_empty(), "{underscored:?} reached the app");
    assert_eq!(app.path, "/adult/x");
    assert_eq!(app.header("x-verified-verdict"), Some("allow"));
    assert_eq!(app.header("x-verified-policy"), Some("adult"));
    assert_eq!(app.header("x-verified-age"), Some("30"));
    // A client's own copy of a header verigate did not send this time never reaches the app.
    assert!(app.header("x-verified-imp-uid").is_some());
    assert_eq!(app.header("x-verified-reason"), None);
    assert_eq!(app.header("x-verified-identity-verification-id"), None);
    let at = app.header("x-verified-certified-at").expect("certified-at");
    assert_ne!(at, "1");
    let jwt = app
        .header("x-verified-assertion")
        .expect("the JWT assertion");
    assert_eq!(jwt.split('.').count(), 3);
    // A minor's session: 403, and the app sees nothing.
    let seen = s.app_saw().len();
    let pair = session_through(edge, s, &birthday_years_ago(15, 0)).await;
    let resp = c
        .get(format!("{}/adult/x", edge.base))
        .header("cookie", &pair)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(s.app_saw().len(), seen);
    the_edge_gates_every_spelling(edge, s, &c, seen).await;
}

/// The gate's other spellings are gated at the edge too (the prefix itself, doubled slashes,
/// an encoded letter); a longer word and other paths pass on untouched.
async fn the_edge_gates_every_spelling(edge: &Edge, s: &Stack, c: &reqwest::Client, seen: usize) {
    for target in ["/adult", "//adult/x", "/%61dult/x"] {
        let resp = c
            .get(format!("{}{target}", edge.base))
            .header("accept", "text/html")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 302, "{target} through {}", edge.base);
        assert_eq!(s.app_saw().len(), seen, "{target} reached the app");
    }
    for target in ["/free", "/adultery"] {
        let resp = c
            .get(format!("{}{target}", edge.base))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{target}");
        assert_eq!(s.last().path, target);
    }
}

#[tokio::test]
async fn nginx_auth_request_gates_the_app() {
    let keys = tempfile::tempdir().unwrap();
    let (s, app) = stack(keys.path()).await;
    let edge = nginx(&s.dir(), s.gateway_addr, app);
    the_edge_gates_the_app(&edge, &s).await;
    // The API contract nginx relies on: /auth never redirects; 401 names the page.
    let resp = browser()
        .get(format!("{}/.verigate/auth?gate=adult-area", s.base))
        .header("accept", "text/html")
        .header("x-original-uri", "/adult/y")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(
        resp.headers()["x-verigate-redirect"],
        "/.verigate/verify?rd=%2Fadult%2Fy"
    );
    let resp = browser()
        .get(format!("{}/.verigate/auth", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let resp = browser()
        .get(format!("{}/.verigate/auth?gate=nope", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
}

#[tokio::test]
async fn caddy_forward_auth_gates_the_app() {
    let keys = tempfile::tempdir().unwrap();
    let (s, app) = stack(keys.path()).await;
    let edge = caddy(&s.dir(), s.gateway_addr, app);
    the_edge_gates_the_app(&edge, &s).await;
}

#[tokio::test]
async fn a_v2_session_reaches_the_app_with_its_id_through_nginx_and_caddy() {
    let keys = tempfile::tempdir().unwrap();
    let (s, app) = stack_of(keys.path(), v2_session_cfg).await;
    let (pair, id) = login_v2(&s, &birthday_years_ago(30, 0), "/adult/x").await;
    let dir = s.dir();
    let nginx_dir = dir.join("nginx");
    let caddy_dir = dir.join("caddy");
    std::fs::create_dir_all(&nginx_dir).unwrap();
    std::fs::create_dir_all(&caddy_dir).unwrap();
    for edge in [
        nginx(&nginx_dir, s.gateway_addr, app),
        caddy_for(&caddy_dir, s.gateway_addr, app, true),
    ] {
        let resp = browser()
            .get(format!("{}/adult/x", edge.base))
            .header("cookie", &pair)
            .header("x-verified-imp-uid", "imp_forged")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{}", edge.base);
        let seen = s.last();
        assert_eq!(seen.header("x-verified-verdict"), Some("allow"));
        assert_eq!(
            seen.header("x-verified-identity-verification-id"),
            Some(id.as_str())
        );
        assert_eq!(seen.header("x-verified-imp-uid"), None, "{}", edge.base);
        assert!(seen.header("x-verified-assertion").is_some());
    }
}
