//! The browser-SDK stand-ins over HTTP (the real-browser runs are in tests/sandbox_browser.rs):
//! the scripts, the page's checks and escaping, and what `POST /__sandbox/verify` stores and
//! answers.

use super::super::browser::with_query;
use super::*;

#[test]
fn redirect_urls_keep_their_own_query_and_fragment() {
    let pairs = [
        ("imp_uid", "imp_1".to_owned()),
        ("merchant_uid", "m 1&2".to_owned()),
    ];
    let cases = [
        (
            "http://a/cb",
            "http://a/cb?imp_uid=imp_1&merchant_uid=m+1%262",
        ),
        (
            "http://a/cb?x=1",
            "http://a/cb?x=1&imp_uid=imp_1&merchant_uid=m+1%262",
        ),
        (
            "http://a/cb?",
            "http://a/cb?imp_uid=imp_1&merchant_uid=m+1%262",
        ),
        (
            "http://a/cb#top",
            "http://a/cb?imp_uid=imp_1&merchant_uid=m+1%262#top",
        ),
    ];
    for (url, want) in cases {
        assert_eq!(with_query(url, &pairs), want, "{url}");
    }
}

#[tokio::test]
async fn both_scripts_are_served_as_javascript() {
    let (_sandbox, base, client) = start().await;
    for (path, defines) in [
        ("iamport.js", "global.IMP = IMP"),
        (
            "browser-sdk.js",
            "global.PortOne = { requestIdentityVerification",
        ),
    ] {
        let resp = client
            .get(format!("{base}/__sandbox/sdk/{path}"))
            .send()
            .await
            .expect("script");
        assert_eq!(resp.status(), 200);
        assert_eq!(
            resp.headers()["content-type"],
            "text/javascript; charset=utf-8"
        );
        let js = resp.text().await.expect("text");
        assert!(js.contains(defines), "{path}");
        assert!(
            js.contains("function openSandbox") && !js.contains("__COMMON__"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn the_page_refuses_incomplete_requests_and_escapes_what_it_embeds() {
    let (sandbox, base, client) = start().await;
    sandbox.insert(SandboxRecord::person("</script><b>x", "1990-01-01"));
    let get = |query: &str| {
        client
            .get(format!("{base}/__sandbox/verify?{query}"))
            .send()
    };
    for bad in [
        "sdk=v1&mode=popup&origin=http://a",
        "sdk=v2&mode=popup&origin=http://a",
        "sdk=v1&mode=redirect&merchant_uid=m&redirect=javascript:alert(1)",
        "sdk=v1&mode=popup&merchant_uid=m",
        "sdk=v3&mode=popup&merchant_uid=m&origin=http://a",
    ] {
        assert_eq!(get(bad).await.expect("page").status(), 400, "{bad}");
    }
    let resp = get("sdk=v1&mode=popup&merchant_uid=%3C/script%3E&origin=http://a")
        .await
        .expect("page");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let html = resp.text().await.expect("html");
    assert_eq!(
        html.matches("</script>").count(),
        2,
        "only the page's own two"
    );
    assert!(
        html.contains(r"\u003c/script>\u003cb>x"),
        "the person, escaped"
    );
}

/// Posts a completion for `request` and returns the answer.
async fn complete(client: &Client, base: &str, body: Value) -> (u16, Value) {
    let resp = client
        .post(format!("{base}/__sandbox/verify"))
        .json(&body)
        .send()
        .await
        .expect("complete");
    (resp.status().as_u16(), resp.json().await.expect("json"))
}

#[tokio::test]
async fn v1_attempts_store_certifications_with_the_pages_merchant_uid() {
    let (_sandbox, base, client) = start().await;
    let request = json!({"sdk": "v1", "mode": "redirect", "merchant_uid": "mid_1",
                         "redirect": "http://app/cb?x=1", "origin": "http://app"});
    let person = json!({"name": "홍길동", "birthday": "1991-11-11", "gender": "male"});
    let (status, body) = complete(
        &client,
        &base,
        json!({"request": request, "action": "verify", "person": person}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let imp_uid = body["result"]["imp_uid"].as_str().expect("imp_uid");
    assert_eq!(body["result"]["success"], true);
    assert_eq!(
        body["redirect"],
        format!("http://app/cb?x=1&imp_uid={imp_uid}&merchant_uid=mid_1&success=true")
    );
    let tok = token(&client, &base).await;
    let url = format!("{base}/certifications/{imp_uid}");
    let (_, rec) = certification(&client, Method::GET, &url, &[("Authorization", &tok)]).await;
    let rec: Value = serde_json::from_str(&rec).expect("json");
    assert_eq!(rec["response"]["merchant_uid"], mid_of(&body));
    assert_eq!(rec["response"]["name"], "홍길동");
    assert_eq!(rec["response"]["origin"], "http://app");

    let (_, body) = complete(
        &client,
        &base,
        json!({"request": request, "action": "cancel"}),
    )
    .await;
    assert_eq!(body["result"]["success"], false);
    assert_eq!(body["result"]["error_code"], "F0000");
    let redirect = body["redirect"].as_str().expect("redirect");
    assert!(
        redirect.contains("&success=false&error_code=F0000&error_msg="),
        "{redirect}"
    );

    let bad = json!({"name": "", "birthday": "1991-13-01"});
    let (status, _) = complete(
        &client,
        &base,
        json!({"request": request, "action": "verify", "person": bad}),
    )
    .await;
    assert_eq!(status, 400);
}

fn mid_of(body: &Value) -> &str {
    body["result"]["merchant_uid"]
        .as_str()
        .expect("merchant_uid")
}

#[tokio::test]
async fn v2_attempts_fail_on_cancel_and_never_verify_an_id_twice() {
    let (sandbox, base, client) = start().await;
    let request = json!({"sdk": "v2", "mode": "popup", "identity_verification_id": "ivX",
                         "store_id": "store-1", "origin": "http://app", "nonce": "n"});
    let (_, body) = complete(
        &client,
        &base,
        json!({"request": request, "action": "cancel"}),
    )
    .await;
    assert_eq!(body["result"]["code"], "PGProviderError");
    assert_eq!(body["result"]["identityVerificationId"], "ivX");
    assert!(body["redirect"].is_null());
    let rec = sandbox.identity_verification("ivX").expect("stored");
    assert_eq!(rec.status.as_deref(), Some(STATUS_FAILED));
    assert_eq!(rec.store_id.as_deref(), Some("store-1"));

    // A retry after a failure may succeed, once.
    let person = json!({"name": "김철수", "birthday": "2000-02-29", "carrier": "LGT"});
    let verify = json!({"request": request, "action": "verify", "person": person});
    let (_, body) = complete(&client, &base, verify.clone()).await;
    assert!(body["result"].get("code").is_none(), "{body}");
    assert_eq!(body["result"]["transactionType"], "IDENTITY_VERIFICATION");
    let rec = sandbox.identity_verification("ivX").expect("stored");
    assert_eq!(rec.status.as_deref(), Some(STATUS_VERIFIED));
    let customer = rec.verified_customer.expect("customer");
    assert_eq!(customer.operator.as_deref(), Some("LGU"));
    assert_eq!(customer.birth_date.as_deref(), Some("2000-02-29"));

    let (_, body) = complete(&client, &base, verify).await;
    assert_eq!(
        body["result"]["code"],
        "IdentityVerificationAlreadyVerified"
    );
}
