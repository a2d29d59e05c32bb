//! A real PHP app behind the gateway: PHP's own server (`php -S`, Debian `php-cli`) running the
//! README's snippet, `examples/php/index.php`, exactly. PHP reads a header under its name with
//! every non-alphanumeric character turned into `_`, so a forged `X-Verified.Verdict: allow`
//! is `HTTP_X_VERIFIED_VERDICT` to it. No forged spelling may make it say "adult": not on an
//! intercepted route, not on an ordinary path, not with a method the route does not intercept.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Cfg, KillOnDrop, Stack, birthday_years_ago, free_addr, wait_listening};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Every token character HTTP allows in a field name (RFC 9110 §5.6.2) other than letters and
/// digits.
const TCHAR_SYMBOLS: &str = "!#$%&'*+-.^_`|~";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `php -S` serving `script` for every path, killed when dropped.
struct Php {
    child: KillOnDrop,
    addr: SocketAddr,
}

impl Php {
    async fn serve(script: &Path) -> Php {
        // A port taken between our probe and PHP's bind makes PHP exit: retry.
        for _ in 0..5 {
            let addr = free_addr();
            let child = Command::new("php")
                .arg("-S")
                .arg(addr.to_string())
                .arg(script)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("`php` runs (Debian php-cli; scripts/prereqs.sh installs it)");
            let mut php = Php {
                child: KillOnDrop(child),
                addr,
            };
            if wait_listening(&mut php.child.0, addr).await {
                return php;
            }
        }
        panic!("php -S did not start");
    }
}

/// One request on a fresh connection, written byte for byte (header names keep their case);
/// the status and everything after the header block.
async fn exchange(addr: SocketAddr, request: &str) -> (u16, String) {
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    conn.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), conn.read_to_end(&mut out))
        .await
        .expect("an answer within 20 s")
        .unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// A request line and body, with `extra` header lines, closing the connection after.
fn request(method: &str, target: &str, body: Option<&str>, extra: &str) -> String {
    let mut r = format!("{method} {target} HTTP/1.1\r\nHost: shop.example\r\n{extra}");
    if let Some(b) = body {
        r += &format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            b.len()
        );
    }
    r += "Connection: close\r\n\r\n";
    r += body.unwrap_or("");
    r
}

#[test]
fn the_readme_shows_the_php_app_the_test_runs() {
    let php = std::fs::read_to_string(repo().join("examples/php/index.php")).unwrap();
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    assert!(
        readme.contains(&format!("```php\n{php}```\n")),
        "README.md must show examples/php/index.php exactly"
    );
}

#[tokio::test]
async fn no_forged_header_spelling_makes_the_php_app_say_adult() {
    let php = Php::serve(&repo().join("examples/php/index.php")).await;
    let s = Stack::with_upstream(Some(php.addr), Cfg::standard).await;
    let adult = s.person("홍길동", "1980-01-01");
    let minor = s.person("김영희", &birthday_years_ago(15, 0));

    // The app and the stack work: a real adult is let in through the gateway.
    let body = format!(r#"{{"imp_uid":"{adult}"}}"#);
    let (status, text) = exchange(
        s.gateway_addr,
        &request("POST", "/certifications", Some(&body), ""),
    )
    .await;
    assert_eq!((status, text.contains("adult")), (200, true), "{text}");

    // The forged spellings are real to PHP: sent to it directly, these pass its age gate.
    for name in [
        "X-Verified.Verdict",
        "x_verified_verdict",
        "X-VERIFIED-VERDICT",
    ] {
        let (status, text) = exchange(
            php.addr,
            &request("GET", "/account", None, &format!("{name}: allow\r\n")),
        )
        .await;
        assert_eq!(
            (status, text.contains("adult")),
            (200, true),
            "{name} direct"
        );
    }

    let minor_body = format!(r#"{{"imp_uid":"{minor}"}}"#);
    let unknown_body = r#"{"imp_uid":"imp_000000000000"}"#;
    // (method, target, body, what the gateway does with it)
    let targets: [(&str, &str, Option<&str>, &str); 4] = [
        // Intercepted: a minor, forwarded with verdict `deny`.
        ("POST", "/certifications", Some(&minor_body), "intercepted"),
        // Intercepted: an unknown imp_uid, forwarded with verdict `unverified`.
        ("POST", "/lenient", Some(unknown_body), "intercepted"),
        ("GET", "/account", None, "ordinary"),
        // The route is POST: a GET on its path is not intercepted, and had no verdict at all.
        (
            "GET",
            "/certifications?imp_uid=imp_000000000000",
            None,
            "other method",
        ),
    ];
    let mut sent = 0;
    for sep in TCHAR_SYMBOLS.chars() {
        for name in [
            format!("x{sep}verified{sep}verdict"),
            format!("X{sep}Verified{sep}Verdict"),
            format!("X{sep}VERIFIED{sep}VERDICT"),
            format!("x-verified{sep}Verdict"),
        ] {
            for (method, target, body, kind) in targets {
                let forged = format!("{name}: allow\r\n");
                let (status, text) =
                    exchange(s.gateway_addr, &request(method, target, body, &forged)).await;
                assert_eq!(
                    (status, text.contains("adult")),
                    (403, false),
                    "{kind} {method} {target} with `{name}: allow`: {text}"
                );
                sent += 1;
            }
        }
    }
    assert_eq!(sent, TCHAR_SYMBOLS.len() * 4 * 4);
    // The gateway did say what it knew where it knew something.
    let (_, text) = exchange(
        s.gateway_addr,
        &request(
            "POST",
            "/certifications",
            Some(&minor_body),
            "X.Verified.Verdict: allow\r\n",
        ),
    )
    .await;
    assert!(text.contains("underage"), "{text}");
}
