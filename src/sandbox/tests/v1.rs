//! The V1 API: getToken's one live token, the three token headers, the exact envelopes.

use super::*;

#[test]
fn token_value_is_40_lowercase_hex() {
    let t = new_token_value();
    assert_eq!(t.len(), 40);
    assert!(
        t.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    );
}

#[tokio::test]
async fn token_is_reused_with_the_same_expiry() {
    let (sandbox, base, client) = start().await;
    let first = token_response(&client, &base).await;
    let access = first["access_token"].as_str().expect("token");
    assert_eq!(access.len(), 40);
    let now = first["now"].as_i64().expect("now");
    assert_eq!(first["expired_at"].as_i64(), Some(now + 1800));

    sandbox.advance_clock(1000);
    let second = token_response(&client, &base).await;
    assert_eq!(second["access_token"], first["access_token"]);
    assert_eq!(second["expired_at"], first["expired_at"]);
    assert!(second["now"].as_i64().expect("now") >= now + 1000);
    assert_eq!(sandbox.stats().tokens_issued, 1);
    assert_eq!(sandbox.stats().token_requests, 2);
}

#[tokio::test]
async fn token_request_accepts_a_form_body() {
    let (_sandbox, base, client) = start().await;
    let json_token = token(&client, &base).await;
    let body = format!("imp_key={TEST_IMP_KEY}&imp_secret={TEST_IMP_SECRET}");
    let resp = client
        .post(format!("{base}/users/getToken"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("getToken");
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(
        body["response"]["access_token"].as_str(),
        Some(&*json_token)
    );
}

#[tokio::test]
async fn token_asked_for_in_its_last_minute_is_extended_by_five_minutes() {
    let (sandbox, base, client) = start().await;
    let first = token_response(&client, &base).await;
    let expired_at = first["expired_at"].as_i64().expect("expired_at");

    sandbox.advance_clock(1800 - 60);
    let extended = token_response(&client, &base).await;
    assert_eq!(extended["access_token"], first["access_token"]);
    assert_eq!(extended["expired_at"].as_i64(), Some(expired_at + 300));

    // Once extended it is outside its last minute again: no second extension.
    let again = token_response(&client, &base).await;
    assert_eq!(again["access_token"], first["access_token"]);
    assert_eq!(again["expired_at"].as_i64(), Some(expired_at + 300));
    assert_eq!(sandbox.stats().tokens_issued, 1);
}

#[tokio::test]
async fn expired_token_is_refused_and_replaced_by_a_new_one() {
    let (sandbox, base, client) = start().await;
    let (_, url) = person_url(&sandbox, &base);
    let old = token(&client, &base).await;

    sandbox.advance_clock(1800);
    let (status, body) =
        certification(&client, Method::GET, &url, &[("Authorization", &old)]).await;
    assert_eq!((status, body), (401, unauthorized_body()));

    let fresh = token_response(&client, &base).await;
    assert_ne!(fresh["access_token"].as_str(), Some(&*old));
    assert_eq!(
        fresh["expired_at"].as_i64(),
        fresh["now"].as_i64().map(|n| n + 1800)
    );
    assert_eq!(sandbox.stats().tokens_issued, 2);
    let (status, _) = certification(&client, Method::GET, &url, &[("Authorization", &old)]).await;
    assert_eq!(status, 401, "the old token died with the new one");
}

#[tokio::test]
async fn all_three_token_header_forms_are_accepted() {
    let (sandbox, base, client) = start().await;
    let (rec, url) = person_url(&sandbox, &base);
    let t = token(&client, &base).await;
    let bearer = format!("Bearer {t}");
    for headers in [
        [("Authorization", t.as_str())],
        [("Authorization", bearer.as_str())],
        [("X-ImpTokenHeader", t.as_str())],
    ] {
        let (status, body) = certification(&client, Method::GET, &url, &headers).await;
        assert_eq!(status, 200, "{headers:?}");
        let body: Value = serde_json::from_str(&body).expect("json");
        assert_eq!(body["code"], 0);
        assert_eq!(body["message"], Value::Null);
        assert_eq!(
            body["response"],
            serde_json::to_value(&rec).expect("record json")
        );
    }
    assert_eq!(sandbox.stats().certification_requests, 3);
}

#[tokio::test]
async fn authorization_header_wins_over_x_imp_token_header() {
    let (sandbox, base, client) = start().await;
    let (_, url) = person_url(&sandbox, &base);
    let t = token(&client, &base).await;
    let bogus = "0".repeat(40);

    let (status, _) = certification(
        &client,
        Method::GET,
        &url,
        &[("Authorization", &t), ("X-ImpTokenHeader", &bogus)],
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = certification(
        &client,
        Method::GET,
        &url,
        &[("Authorization", &bogus), ("X-ImpTokenHeader", &t)],
    )
    .await;
    assert_eq!((status, body), (401, unauthorized_body()));
}

#[tokio::test]
async fn missing_or_unknown_token_gets_the_exact_401_envelope() {
    let (sandbox, base, client) = start().await;
    let (_, url) = person_url(&sandbox, &base);
    let expected = (401, unauthorized_body());
    assert_eq!(
        certification(&client, Method::GET, &url, &[]).await,
        expected
    );
    let unknown = "ab".repeat(20);
    assert_eq!(
        certification(&client, Method::GET, &url, &[("Authorization", &unknown)]).await,
        expected
    );
    assert_eq!(
        certification(&client, Method::DELETE, &url, &[("X-ImpTokenHeader", "x")]).await,
        expected
    );
}

#[tokio::test]
async fn unknown_imp_uid_gets_the_exact_404_envelope() {
    let (_sandbox, base, client) = start().await;
    let t = token(&client, &base).await;
    let expected = (
        404,
        r#"{"code":-1,"message":"인증결과가 존재하지 않습니다.","response":null}"#.to_owned(),
    );
    for path in ["imp_000000000000", "imp%2F..%2Fusers", "%FF%FE"] {
        let url = format!("{base}/certifications/{path}");
        assert_eq!(
            certification(&client, Method::GET, &url, &[("Authorization", &t)]).await,
            expected,
            "{path}"
        );
    }
}

#[tokio::test]
async fn unknown_path_gets_a_404_envelope() {
    let (_sandbox, base, client) = start().await;
    let (status, body) =
        certification(&client, Method::GET, &format!("{base}/payments/imp_1"), &[]).await;
    assert_eq!(status, 404);
    assert_eq!(body, r#"{"code":-1,"message":"Not Found","response":null}"#);
}

#[tokio::test]
async fn wrong_key_or_secret_gets_the_exact_401_envelope() {
    let (_sandbox, base, client) = start().await;
    let expected = r#"{"code":-1,"message":"인증에 실패하였습니다. API키와 secret을 확인하세요.","response":null}"#;
    for body in [
        json!({"imp_key": TEST_IMP_KEY, "imp_secret": "wrong"}),
        json!({"imp_key": "wrong", "imp_secret": TEST_IMP_SECRET}),
    ] {
        let resp = client
            .post(format!("{base}/users/getToken"))
            .json(&body)
            .send()
            .await
            .expect("getToken");
        assert_eq!(resp.status(), 401);
        assert_eq!(resp.text().await.expect("body"), expected);
    }
}

#[tokio::test]
async fn missing_or_unparseable_credentials_get_400() {
    let (sandbox, base, client) = start().await;
    let expected =
        r#"{"code":-1,"message":"imp_key, imp_secret 파라메터가 누락되었습니다.","response":null}"#;
    let cases: [(&str, String); 5] = [
        (
            "application/json",
            json!({"imp_key": TEST_IMP_KEY}).to_string(),
        ),
        (
            "application/json",
            json!({"imp_secret": TEST_IMP_SECRET}).to_string(),
        ),
        ("application/json", "{not json".to_owned()),
        (
            "application/x-www-form-urlencoded",
            "imp_key=imp_apikey".to_owned(),
        ),
        ("text/plain", String::new()),
    ];
    for (content_type, body) in cases {
        let resp = client
            .post(format!("{base}/users/getToken"))
            .header("content-type", content_type)
            .body(body.clone())
            .send()
            .await
            .expect("getToken");
        assert_eq!(resp.status(), 400, "{body}");
        assert_eq!(resp.text().await.expect("body"), expected);
    }
    assert_eq!(sandbox.stats().tokens_issued, 0);
}

#[tokio::test]
async fn delete_returns_the_record_and_removes_it() {
    let (sandbox, base, client) = start().await;
    let (rec, url) = person_url(&sandbox, &base);
    let t = token(&client, &base).await;
    let (status, body) =
        certification(&client, Method::DELETE, &url, &[("Authorization", &t)]).await;
    assert_eq!(status, 200);
    let body: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(body["response"], serde_json::to_value(&rec).expect("json"));
    let (status, _) = certification(&client, Method::GET, &url, &[("Authorization", &t)]).await;
    assert_eq!(status, 404);
    let (status, _) = certification(&client, Method::DELETE, &url, &[("Authorization", &t)]).await;
    assert_eq!(status, 404);
    assert_eq!(sandbox.stats().certification_deletes, 2);
}

#[tokio::test]
async fn lookup_percent_decodes_and_requested_paths_stay_raw() {
    let (sandbox, base, client) = start().await;
    sandbox.insert(SandboxRecord {
        imp_uid: Some("imp 1/2".to_owned()),
        ..SandboxRecord::default()
    });
    let t = token(&client, &base).await;
    let url = format!("{base}/certifications/imp%201%2F2?x=%41");
    let (status, body) = certification(&client, Method::GET, &url, &[("Authorization", &t)]).await;
    assert_eq!(status, 200);
    let body: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(body["response"]["imp_uid"], "imp 1/2");
    assert_eq!(
        sandbox.requested_paths(),
        ["/users/getToken", "/certifications/imp%201%2F2?x=%41"]
    );
}

#[tokio::test]
async fn revoked_token_is_refused_and_replaced() {
    let (sandbox, base, client) = start().await;
    let (_, url) = person_url(&sandbox, &base);
    let old = token(&client, &base).await;
    let resp = client
        .post(format!("{base}/__sandbox/tokens/revoke"))
        .send()
        .await
        .expect("revoke");
    assert_eq!(
        resp.json::<Value>().await.expect("json"),
        json!({"revoked": 1})
    );
    let (status, _) = certification(&client, Method::GET, &url, &[("Authorization", &old)]).await;
    assert_eq!(status, 401);
    assert_ne!(token(&client, &base).await, old);
    assert_eq!(sandbox.stats().tokens_issued, 2);
}
