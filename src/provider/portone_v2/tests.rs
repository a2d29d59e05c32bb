//! The V2 provider against a loopback stand-in of the API that records what it is sent and
//! answers from a script.

use std::collections::VecDeque;
use std::sync::Mutex;

use super::*;

/// What the stand-in received, per request.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    query: Option<String>,
    authorization: Option<String>,
}

struct Script {
    answers: Mutex<VecDeque<(u16, &'static str)>>,
    seen: Mutex<Vec<Seen>>,
}

/// A stand-in answering `answers` in order (the last one repeats); its base URL.
async fn stand_in(answers: &[(u16, &'static str)]) -> (String, Arc<Script>) {
    let script = Arc::new(Script {
        answers: Mutex::new(answers.iter().copied().collect()),
        seen: Mutex::new(Vec::new()),
    });
    let s = script.clone();
    let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let s = s.clone();
        async move {
            s.seen.lock().unwrap().push(Seen {
                method: req.method().to_string(),
                path: req.uri().path().to_owned(),
                query: req.uri().query().map(str::to_owned),
                authorization: req
                    .headers()
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned),
            });
            let mut queue = s.answers.lock().unwrap();
            let (status, body) = if queue.len() > 1 {
                queue.pop_front().unwrap()
            } else {
                *queue.front().unwrap()
            };
            (
                http::StatusCode::from_u16(status).unwrap(),
                [(http::header::CONTENT_TYPE, "application/json")],
                body,
            )
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), script)
}

fn provider(base_url: &str, store_id: Option<&str>, metrics: Arc<Metrics>) -> PortOneV2 {
    let settings = PortOneSettings {
        base_url: base_url.to_owned(),
        api_secret: Secret::new("test-secret"),
        store_id: store_id.map(str::to_owned),
        timeout: Duration::from_secs(5),
    };
    PortOneV2::new(&settings, metrics).unwrap()
}

fn id(s: &str) -> VerificationId {
    ProviderName::Portone.parse_id(s).unwrap()
}

const VERIFIED: &str = r#"{"status":"VERIFIED","id":"iv-1","verifiedCustomer":{"name":"x",
    "birthDate":"1990-01-02"},"verifiedAt":"2024-01-01T00:00:00Z","version":"V2"}"#;
const NOT_FOUND: &str = r#"{"type":"IDENTITY_VERIFICATION_NOT_FOUND","message":"none"}"#;
const UNAUTHORIZED: &str = r#"{"type":"UNAUTHORIZED","message":"bad"}"#;

fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(5)
}

#[tokio::test]
async fn a_lookup_is_one_get_with_the_portone_scheme_and_the_store_id() {
    let (base, script) = stand_in(&[(200, VERIFIED)]).await;
    let metrics = Arc::new(Metrics::new());
    let p = provider(&base, Some("store-1 &x"), metrics.clone());
    let got = p.lookup(&id("iv-1"), deadline()).await;
    assert!(
        matches!(got, Ok(Record::Found(ref i)) if i.certified),
        "{got:?}"
    );
    let seen = script.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, "GET");
    assert_eq!(seen[0].path, "/identity-verifications/iv-1");
    assert_eq!(seen[0].query.as_deref(), Some("storeId=store-1+%26x"));
    assert_eq!(
        seen[0].authorization.as_deref(),
        Some("PortOne test-secret")
    );
    let text = String::from_utf8(metrics.render()).unwrap();
    let counted = text.lines().any(|l| {
        l.starts_with("verigate_api_requests_total{")
            && l.contains(r#"provider="portone""#)
            && l.contains(r#"endpoint="identity_verification""#)
            && l.contains(r#"status="200""#)
            && l.ends_with(" 1")
    });
    assert!(counted, "{text}");
    // V2 calls never count as i'mport calls.
    assert!(!text.contains("verigate_iamport_requests_total{"), "{text}");
}

#[tokio::test]
async fn without_a_store_there_is_no_query_and_not_found_is_an_answer() {
    let (base, script) = stand_in(&[(404, NOT_FOUND)]).await;
    let p = provider(&base, None, Arc::new(Metrics::new()));
    let got = p.lookup(&id("A-z_09"), deadline()).await;
    assert_eq!(got, Ok(Record::NotFound));
    let seen = script.seen.lock().unwrap().clone();
    assert_eq!(seen[0].path, "/identity-verifications/A-z_09");
    assert_eq!(seen[0].query, None);
}

#[tokio::test]
async fn a_rejected_secret_shows_in_health_until_an_answer_accepts_it() {
    let (base, _) = stand_in(&[(401, UNAUTHORIZED), (403, "{}"), (200, VERIFIED)]).await;
    let p = provider(&base, None, Arc::new(Metrics::new()));
    assert!(!p.health().credentials_rejected);
    let got = p.lookup(&id("iv-1"), deadline()).await;
    assert_eq!(got, Err(ProviderError::CredentialsRejected));
    assert!(p.health().credentials_rejected);
    assert_eq!(
        p.check_credentials(Duration::from_secs(5)).await,
        Err(ProviderError::CredentialsRejected)
    );
    assert!(p.health().credentials_rejected);
    assert!(p.lookup(&id("iv-1"), deadline()).await.is_ok());
    assert!(!p.health().credentials_rejected);
    // Not retried: one call per rejection.
    assert_eq!(p.requests.load(Ordering::Relaxed), 3);
}

#[tokio::test]
async fn the_start_check_accepts_a_secret_the_api_answers_404_to() {
    let (base, script) = stand_in(&[(401, UNAUTHORIZED), (404, NOT_FOUND)]).await;
    let p = provider(&base, None, Arc::new(Metrics::new()));
    let budget = Duration::from_secs(5);
    assert!(!p.health().credentials_checked);
    assert_eq!(
        p.check_credentials(budget).await,
        Err(ProviderError::CredentialsRejected)
    );
    assert!(p.health().credentials_checked && p.health().credentials_rejected);
    assert_eq!(p.check_credentials(budget).await, Ok(()));
    assert!(!p.health().credentials_rejected);
    let seen = script.seen.lock().unwrap().clone();
    assert_eq!(
        seen[1].path,
        "/identity-verifications/verigate-credentials-check"
    );
}

#[tokio::test]
async fn a_5xx_is_retried_within_the_budget_and_a_4xx_is_not() {
    let (base, _) = stand_in(&[(503, "{}"), (500, "oops"), (200, VERIFIED)]).await;
    let p = provider(&base, None, Arc::new(Metrics::new()));
    assert!(p.lookup(&id("iv-1"), deadline()).await.is_ok());
    assert_eq!(p.requests.load(Ordering::Relaxed), 3);

    let (base, _) = stand_in(&[(400, r#"{"type":"INVALID_REQUEST"}"#)]).await;
    let p = provider(&base, None, Arc::new(Metrics::new()));
    assert_eq!(
        p.lookup(&id("iv-1"), deadline()).await,
        Err(ProviderError::Status(400))
    );
    assert_eq!(p.requests.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn its_breaker_opens_alone() {
    let (base, _) = stand_in(&[(500, "{}")]).await;
    let metrics = Arc::new(Metrics::new());
    let p = provider(&base, None, metrics.clone());
    let v1 = crate::provider::iamport_v1::IamportV1::new(
        &crate::provider::iamport_v1::IamportSettings {
            base_url: base.clone(),
            imp_key: "k".into(),
            imp_secret: Secret::new("s"),
            timeout: Duration::from_secs(1),
            tier: None,
        },
        metrics.clone(),
    )
    .unwrap();
    // Each call a 500: one breaker failure apiece, no retries.
    for _ in 0..crate::provider::breaker::THRESHOLD {
        let _ = p.get_once(&p.url("iv-1"), &id("iv-1"), deadline()).await;
    }
    assert!(p.health().circuit_open);
    assert_eq!(
        p.lookup(&id("iv-1"), deadline()).await,
        Err(ProviderError::CircuitOpen)
    );
    assert!(!v1.health().circuit_open);
    let text = String::from_utf8(metrics.render()).unwrap();
    assert!(
        text.contains(r#"verigate_breaker_open{provider="portone"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"verigate_breaker_open{provider="iamport"} 0"#),
        "{text}"
    );
}
