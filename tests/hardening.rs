//! Hostile clients, a failing API and replays: each case answers a clear 4xx/5xx, forwards
//! nothing it should not, and leaves the gateway serving.

mod common;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{Cfg, Stack, eventually_every, raw_exchange_async, secs, single_use_route};
use verigate::sandbox::Fault;

async fn single_use_stack() -> Stack {
    Stack::with(|p| Cfg::standard(p).route(single_use_route())).await
}

async fn still_serving(s: &Stack) {
    let uid = s.person("홍길동", "1980-01-01");
    assert_eq!(
        s.verify("/certifications", &uid).await.status(),
        200,
        "the gateway stopped serving"
    );
}

#[tokio::test]
async fn a_single_use_imp_uid_passes_once_even_under_concurrency() {
    let s = single_use_stack().await;
    let uid = s.person("홍길동", "1980-01-01");
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (gw, uid) = (s.gateway.clone(), uid.clone());
        tasks.push(tokio::spawn(async move {
            let resp = gw.verify("/once", &uid).await;
            let status = resp.status().as_u16();
            let body: serde_json::Value = resp.json().await.unwrap();
            (status, body)
        }));
    }
    let mut passed = 0;
    for t in tasks {
        let (status, body) = t.await.unwrap();
        match status {
            200 => passed += 1,
            409 => assert_eq!(body["error"], "verification_already_used"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(passed, 1);
    assert_eq!(s.app_saw().len(), 1);
    // A replay later is refused too; a route without single_use is unaffected.
    assert_eq!(s.verify("/once", &uid).await.status(), 409);
    assert_eq!(s.verify("/certifications", &uid).await.status(), 200);
    // A minor's imp_uid is consumed as well (the verdict does not matter for replay).
    let minor = s.person("김영희", &common::birthday_years_ago(15, 0));
    assert_eq!(s.verify("/once", &minor).await.status(), 200);
    assert_eq!(s.verify("/once", &minor).await.status(), 409);
}

#[tokio::test]
async fn an_outage_makes_a_bounded_number_of_api_calls_and_recovers_by_itself() {
    let s = Stack::start().await;
    let people: Vec<String> = (0..100).map(|_| s.person("홍길동", "1980-01-01")).collect();
    s.sandbox.set_fault(Fault {
        latency_ms: None,
        status: Some(500),
        times: None,
    });
    let before = s.sandbox.stats().api_calls;
    let started = Instant::now();
    let mut statuses = Vec::new();
    let mut slowest = Duration::ZERO;
    // 10 clients at a time.
    for chunk in people.chunks(10) {
        let mut tasks = Vec::new();
        for uid in chunk {
            let (gw, uid) = (s.gateway.clone(), uid.clone());
            tasks.push(tokio::spawn(async move {
                let t = Instant::now();
                let status = gw.verify("/certifications", &uid).await.status().as_u16();
                (status, t.elapsed())
            }));
        }
        for t in tasks {
            let (status, took) = t.await.unwrap();
            statuses.push(status);
            slowest = slowest.max(took);
        }
    }
    let elapsed = started.elapsed();
    let calls = s.sandbox.stats().api_calls - before;
    eprintln!("outage: 100 requests in {elapsed:?}, slowest {slowest:?}, {calls} API calls");
    assert!(statuses.iter().all(|&st| st == 503), "{statuses:?}");
    // Bound: THRESHOLD failures open the breaker; at most the 10 requests in flight at that
    // moment have a call out; plus one probe if an open period ends within the test.
    assert!(
        calls <= verigate::breaker::THRESHOLD as u64 + 10 + 1,
        "{calls} API calls"
    );
    assert!(
        elapsed < Duration::from_secs(3),
        "503s were not quick: {elapsed:?}"
    );
    assert!(s.app_saw().is_empty());

    s.sandbox.clear_faults();
    let recovered = eventually_every(secs(15), Duration::from_millis(100), async || {
        s.verify("/certifications", &people[0]).await.status() == 200
    })
    .await;
    assert!(recovered, "no recovery after the outage");
}

#[tokio::test]
async fn hostile_framing_is_refused_and_never_forwarded() {
    let s = Stack::start().await;
    let uid = s.person("홍길동", "1980-01-01");
    let body = format!(r#"{{"imp_uid":"{uid}"}}"#);
    let cases: Vec<(&str, u16, Vec<u8>)> = vec![
        (
            "obs-fold in the verified namespace",
            400,
            format!(
                "POST /certifications HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nX-Verified-Verdict: deny\r\n allow\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .into_bytes(),
        ),
        (
            "oversized headers",
            400,
            format!(
                "GET /plain HTTP/1.1\r\nHost: a\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
                "a".repeat(2 * 1024 * 1024)
            )
            .into_bytes(),
        ),
    ];
    for (what, expected, req) in cases {
        let answer = raw_exchange_async(s.gateway_addr, req).await;
        let status: u16 = answer
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        assert_eq!(status, expected, "{what}: {answer}");
        assert!(s.app_saw().is_empty(), "{what}: forwarded");
    }
    still_serving(&s).await;
}

#[tokio::test]
async fn content_length_with_transfer_encoding_cannot_smuggle_a_request() {
    // RFC 9112 §6.3: Transfer-Encoding wins, Content-Length is dropped, and the connection is
    // closed after the answer, so no bytes can be read as a second request. pingora does this
    // while parsing, before any filter runs.
    let s = Stack::start().await;
    let uid = s.person("홍길동", "1980-01-01");
    let body = format!(r#"{{"imp_uid":"{uid}"}}"#);
    let smuggled = "GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n";
    let answer = raw_exchange_async(
        s.gateway_addr,
        format!(
            "POST /certifications HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: {}\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n{smuggled}",
            body.len(),
            body.len()
        )
        .into_bytes(),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );
    assert_eq!(
        answer.matches("HTTP/1.1 ").count(),
        1,
        "a second request was answered: {answer}"
    );
    let seen = s.app_saw();
    assert_eq!(
        seen.len(),
        1,
        "{:?}",
        seen.iter().map(|r| &r.path).collect::<Vec<_>>()
    );
    assert_eq!(seen[0].body.as_ref(), body.as_bytes());
    assert!(
        seen[0].header("content-length").is_none() || seen[0].header("transfer-encoding").is_none()
    );
}

#[tokio::test]
async fn bodies_that_stop_early_or_trickle_are_not_forwarded() {
    let s = Stack::start().await;
    let uid = s.person("홍길동", "1980-01-01");
    let body = format!(r#"{{"imp_uid":"{uid}"}}"#);
    // Declares more than it sends, then closes.
    let mut conn = std::net::TcpStream::connect(s.gateway_addr).unwrap();
    conn.write_all(
        format!(
            "POST /certifications HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{}",
            body.len() + 50,
            body
        )
        .as_bytes(),
    )
    .unwrap();
    conn.shutdown(std::net::Shutdown::Write).unwrap();
    let mut out = String::new();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let _ = conn.read_to_string(&mut out);
    assert!(!out.contains("200 OK"), "{out}");
    assert!(s.app_saw().is_empty(), "a truncated body reached the app");

    // Declares less than it sends: the extra bytes are not part of the request.
    let answer = raw_exchange_async(
        s.gateway_addr,
        format!(
            "POST /certifications HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: 5\r\nConnection: close\r\n\r\n{body}"
        )
        .into_bytes(),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(s.app_saw().is_empty());
    still_serving(&s).await;
}

#[tokio::test]
async fn a_trickling_body_is_cut_off_with_408() {
    let s = Stack::start().await;
    let addr = s.gateway_addr;
    let answer = tokio::task::spawn_blocking(move || {
        let mut conn = std::net::TcpStream::connect(addr).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        conn.write_all(b"POST /certifications HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{").unwrap();
        // Never send the rest: the gateway's body budget (10 s) must end it.
        let started = Instant::now();
        let mut out = Vec::new();
        let _ = conn.read_to_end(&mut out);
        (String::from_utf8_lossy(&out).into_owned(), started.elapsed())
    })
    .await
    .unwrap();
    assert!(answer.0.starts_with("HTTP/1.1 408"), "{}", answer.0);
    assert!(answer.0.contains("request_timeout"));
    assert!(answer.1 < Duration::from_secs(15), "{:?}", answer.1);
    assert!(s.app_saw().is_empty());
}

/// A fake i'mport API that answers every request with `answer` (garbage, truncated, huge…).
async fn bad_api(answer: Vec<u8>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut conn, _)) = listener.accept().await {
            let answer = answer.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                let _ = conn.read(&mut buf).await;
                let _ = conn.write_all(&answer).await;
                let _ = conn.shutdown().await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn garbage_from_the_api_is_a_503_never_a_verdict() {
    let token = br#"{"code":0,"message":null,"response":{"access_token":"0123456789abcdef0123456789abcdef01234567","now":1700000000,"expired_at":1700001800}}"#;
    let huge = format!(
        "{{\"code\":0,\"response\":{{\"imp_uid\":\"imp_1\",\"pad\":\"{}\"}}}}",
        "x".repeat(2 << 20)
    );
    let answers: Vec<(&str, Vec<u8>)> = vec![
        ("not http", b"garbage\r\n\r\n".to_vec()),
        ("not json", b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello".to_vec()),
        ("truncated", b"HTTP/1.1 200 OK\r\ncontent-length: 500\r\n\r\n{\"code\":0,\"resp".to_vec()),
        ("code -1 with 200", b"HTTP/1.1 200 OK\r\ncontent-length: 47\r\n\r\n{\"code\":-1,\"message\":\"nope\",\"response\":null}  ".to_vec()),
        ("huge", format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{huge}", huge.len()).into_bytes()),
        ("token then html", [b"HTTP/1.1 200 OK\r\ncontent-length: ".as_slice(), token.len().to_string().as_bytes(), b"\r\n\r\n", token].concat()),
    ];
    for (what, answer) in answers {
        let api = bad_api(answer).await;
        let s = Stack::with(|p| Cfg::standard(p).api_timeout_ms(800).api_at(api)).await;
        let resp = s.verify("/certifications", "imp_123456789012").await;
        assert_eq!(resp.status(), 503, "{what}");
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["error"], "verification_unavailable", "{what}");
        assert!(s.app_saw().is_empty(), "{what}: forwarded");
        // The gateway still serves ordinary routes.
        assert_eq!(s.get("/plain").await.status(), 200, "{what}");
    }
}
