//! A small W3C WebDriver client over reqwest, for tests in a real browser: it starts Debian's
//! `chromedriver` on a free loopback port and one headless Chromium session, and drives it with
//! the plain HTTP API (session, url, execute, element click, windows, screenshot). A missing
//! `chromedriver` or `chromium` fails the test: scripts/prereqs.sh installs both.
//!
//! Every wait polls with a bound (`Browser::wait_for`); nothing sleeps as synchronisation.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

/// The W3C key of an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
/// How long any wait may take on a loaded machine.
pub const WAIT: Duration = Duration::from_secs(30);

/// One headless Chromium session behind its own chromedriver; both end on drop.
pub struct Browser {
    http: reqwest::Client,
    /// `http://127.0.0.1:PORT/session/ID`
    session: String,
    driver: Child,
    port: u16,
}

fn on_path(names: &[&str]) -> Option<String> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
        .map(|p| p.display().to_string())
}

impl Browser {
    /// On the sandbox's stand-in page: creates a person born on `birthday` and verifies as
    /// them (waits for the form, fills it, clicks "create").
    pub async fn create_person(&self, name: &str, birthday: &str) {
        self.wait_for("the stand-in's form", || async {
            self.execute("return !!document.getElementById('new-name')", json!([]))
                .await
                .as_bool()
                .filter(|ok| *ok)
        })
        .await;
        let script = "document.getElementById('new-name').value = arguments[0];
                      document.getElementById('new-birthday').value = arguments[1];";
        self.execute(script, json!([name, birthday])).await;
        self.click("#create").await;
    }

    /// Starts chromedriver and a headless session (`--headless=new --no-sandbox --disable-gpu
    /// --disable-dev-shm-usage`, 1200×900).
    pub async fn start() -> Browser {
        let driver_bin = std::env::var("CHROMEDRIVER")
            .ok()
            .or_else(|| on_path(&["chromedriver"]))
            .expect("chromedriver not found: install chromium-driver (scripts/prereqs.sh)");
        let chrome = std::env::var("CHROME_BIN")
            .ok()
            .or_else(|| on_path(&["chromium", "chromium-browser", "google-chrome"]))
            .expect("chromium not found: install chromium (scripts/prereqs.sh)");
        let port = super::free_port();
        let driver = Command::new(driver_bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("client");
        let base = format!("http://127.0.0.1:{port}");
        let mut browser = Browser {
            http,
            session: String::new(),
            driver,
            port,
        };
        let status = format!("{base}/status");
        browser
            .wait_for("chromedriver ready", || async {
                let resp = browser.http.get(&status).send().await.ok()?;
                let v: Value = resp.json().await.ok()?;
                v["value"]["ready"].as_bool().filter(|r| *r)
            })
            .await;
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chrome, "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1200,900"]}
        }}});
        let v = browser
            .call("POST", &format!("{base}/session"), Some(caps))
            .await;
        let id = v["sessionId"].as_str().expect("a session id").to_owned();
        browser.session = format!("{base}/session/{id}");
        browser
    }

    /// One WebDriver command; panics on a WebDriver error. Returns `value`.
    async fn call(&self, method: &str, url: &str, body: Option<Value>) -> Value {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let resp = self
            .http
            .request(method, url)
            .json(&body.unwrap_or_else(|| json!({})))
            .send()
            .await
            .unwrap_or_else(|e| panic!("WebDriver {url}: {e}"));
        let v: Value = resp.json().await.expect("WebDriver JSON");
        assert!(v["value"]["error"].is_null(), "WebDriver {url}: {v}");
        v["value"].clone()
    }

    async fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.call(method, &format!("{}{path}", self.session), body)
            .await
    }

    /// Navigates to `url`.
    pub async fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({ "url": url }))).await;
    }

    /// The current window's URL.
    pub async fn url(&self) -> String {
        self.cmd("GET", "/url", None)
            .await
            .as_str()
            .unwrap_or("")
            .to_owned()
    }

    /// Runs `script` (a function body; `arguments` are `args`) and returns its value.
    pub async fn execute(&self, script: &str, args: Value) -> Value {
        let body = json!({ "script": script, "args": args });
        self.cmd("POST", "/execute/sync", Some(body)).await
    }

    /// Clicks the element matching the CSS selector, once it exists (a real click: popups opened
    /// by it are not blocked).
    pub async fn click(&self, css: &str) {
        let find = json!({ "using": "css selector", "value": css });
        let el = self
            .wait_for(&format!("element {css}"), || async {
                let resp = self
                    .http
                    .post(format!("{}/element", self.session))
                    .json(&find);
                let v: Value = resp.send().await.ok()?.json().await.ok()?;
                v["value"][ELEMENT].as_str().map(str::to_owned)
            })
            .await;
        self.cmd("POST", &format!("/element/{el}/click"), None)
            .await;
    }

    /// The handles of the open windows.
    pub async fn windows(&self) -> Vec<String> {
        let v = self.cmd("GET", "/window/handles", None).await;
        serde_json::from_value(v).expect("handles")
    }

    /// The current window's handle.
    pub async fn window(&self) -> String {
        self.cmd("GET", "/window", None)
            .await
            .as_str()
            .unwrap_or("")
            .to_owned()
    }

    /// Switches to the window `handle`.
    pub async fn switch_to(&self, handle: &str) {
        self.cmd("POST", "/window", Some(json!({ "handle": handle })))
            .await;
    }

    /// Waits for a window other than `current` to open, and switches to it.
    pub async fn switch_to_new_window(&self, current: &str) -> String {
        let handle = self
            .wait_for("a new window", || async {
                self.windows().await.into_iter().find(|h| h != current)
            })
            .await;
        self.switch_to(&handle).await;
        handle
    }

    /// A PNG of the current window.
    pub async fn screenshot(&self) -> Vec<u8> {
        use base64::Engine as _;
        let v = self.cmd("GET", "/screenshot", None).await;
        base64::engine::general_purpose::STANDARD
            .decode(v.as_str().expect("base64 PNG"))
            .expect("base64")
    }

    /// Polls `check` until it gives a value, for at most [`WAIT`].
    pub async fn wait_for<T, F, Fut>(&self, what: &str, check: F) -> T
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let mut found = None;
        super::eventually_every(WAIT, Duration::from_millis(50), async || {
            found = check().await;
            found.is_some()
        })
        .await;
        found.unwrap_or_else(|| panic!("{what}: not within {WAIT:?}"))
    }
}

impl Drop for Browser {
    /// Ends the session (so Chromium exits) with a blocking DELETE, then stops chromedriver.
    fn drop(&mut self) {
        if let Some(path) = self
            .session
            .split_once(&format!(":{}", self.port))
            .map(|(_, p)| p)
            && let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port))
        {
            let _ = s.set_read_timeout(Some(Duration::from_secs(20)));
            let req = format!(
                "DELETE {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            let _ = s.write_all(req.as_bytes());
            read_response(&mut s);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Reads one HTTP response: its head, then `Content-Length` bytes of body. chromedriver says
/// `Connection: close` and then keeps the connection open, so reading to the end would wait
/// for the socket's read timeout; once Chromium has quit the answer is complete.
fn read_response(s: &mut TcpStream) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        let complete = buf
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .is_some_and(|end| {
                let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                let len = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                buf.len() >= end + 4 + len
            });
        if complete {
            return;
        }
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Saves a screenshot as `<$VERIGATE_SCREENSHOTS>/<name>` when that variable names a folder
/// (how docs/ pictures are made), and checks it is a PNG either way.
pub fn keep_screenshot(name: &str, png: &[u8]) {
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    if let Some(dir) = std::env::var_os("VERIGATE_SCREENSHOTS") {
        let path = std::path::Path::new(&dir).join(name);
        std::fs::write(&path, png).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}
