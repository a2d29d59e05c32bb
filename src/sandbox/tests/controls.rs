//! The clock and stats control endpoints.

use super::*;

#[tokio::test]
async fn clock_and_stats_control_endpoints_answer_json() {
    let (sandbox, base, client) = start().await;
    let before = sandbox.now();
    let resp = client
        .post(format!("{base}/__sandbox/clock"))
        .json(&json!({"advance_secs": 3600}))
        .send()
        .await
        .expect("clock");
    assert_eq!(resp.status(), 200);
    let clock: Value = resp.json().await.expect("json");
    assert_eq!(clock["offset_secs"], 3600);
    assert!(clock["now"].as_i64().expect("now") >= before + 3600);
    token(&client, &base).await;
    let stats: SandboxStats = client
        .get(format!("{base}/__sandbox/stats"))
        .send()
        .await
        .expect("stats")
        .json()
        .await
        .expect("json");
    assert_eq!(stats, sandbox.stats());
    assert_eq!(
        (stats.token_requests, stats.tokens_issued, stats.api_calls),
        (1, 1, 1)
    );
}
