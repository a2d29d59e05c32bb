//! The V2 API: the three statuses with required fields present and nothing `null`, the JSON
//! errors for every error status, percent-encoded ids, `storeId`, faults, the clock, and the
//! control endpoint.

use super::*;

/// Status, content type and JSON body of a V2 lookup of the raw path `target` with `auth`.
async fn lookup(client: &Client, base: &str, target: &str, auth: Option<&str>) -> (u16, Value) {
    let mut req = client.get(format!("{base}{target}"));
    if let Some(auth) = auth {
        req = req.header("Authorization", auth);
    }
    let resp = req.send().await.expect("V2 request");
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    assert_eq!(ct, "application/json; charset=utf-8", "{target}");
    (
        status,
        resp.json().await.expect("a JSON body, whatever the status"),
    )
}

fn auth() -> String {
    format!("PortOne {TEST_PORTONE_SECRET}")
}

/// Panics on a `null` anywhere in `v`: optional fields are omitted, never null.
fn assert_no_null(v: &Value, at: &str) {
    match v {
        Value::Null => panic!("null at {at}"),
        Value::Object(m) => m
            .iter()
            .for_each(|(k, v)| assert_no_null(v, &format!("{at}.{k}"))),
        Value::Array(a) => a.iter().for_each(|v| assert_no_null(v, at)),
        _ => {}
    }
}

fn assert_rfc3339(v: &Value) -> jiff::Timestamp {
    v.as_str()
        .expect("a timestamp string")
        .parse()
        .expect("an RFC 3339 timestamp")
}

/// Asserts an error body is exactly `{"type": kind, "message": <string>}`.
fn assert_error(body: &Value, kind: &str) {
    let obj = body.as_object().expect("an error object");
    assert_eq!(obj.len(), 2, "{body}");
    assert_eq!(body["type"], kind, "{body}");
    assert!(body["message"].is_string(), "{body}");
}

#[tokio::test]
async fn verified_record_has_every_required_field_and_no_null() {
    let (sandbox, base, client) = start().await;
    let rec = sandbox
        .insert_identity_verification(SandboxIdentityVerification::person("홍길동", "1991-11-11"));
    let id = rec.id.clone().expect("a fresh id");
    assert!(id.starts_with("identity-verification-"), "{id}");

    let (status, body) = lookup(
        &client,
        &base,
        &format!("/identity-verifications/{id}"),
        Some(&auth()),
    )
    .await;
    assert_eq!(status, 200);
    assert_no_null(&body, "$");
    assert_eq!(body["status"], "VERIFIED");
    assert_eq!(body["id"], id.as_str());
    assert_eq!(body["version"], "V2");
    for field in ["pgTxId", "pgRawResponse"] {
        assert!(body[field].is_string(), "{field}: {body}");
    }
    for field in ["requestedAt", "updatedAt", "statusChangedAt", "verifiedAt"] {
        assert_rfc3339(&body[field]);
    }
    let customer = &body["verifiedCustomer"];
    assert_eq!(customer["name"], "홍길동");
    assert_eq!(customer["birthDate"], "1991-11-11");
    assert_eq!(customer["isForeigner"], false);
    assert_eq!(customer["ci"].as_str().map(str::len), Some(88));
    assert_eq!(customer["di"].as_str().map(str::len), Some(64));
    assert!(customer.get("phoneNumber").is_none(), "not given: omitted");
    for field in ["type", "pgProvider", "pgMerchantId"] {
        assert!(
            body["channel"][field].is_string(),
            "channel.{field}: {body}"
        );
    }
    assert_eq!(serde_json::to_value(&rec).expect("json"), body);
    let stats = sandbox.stats();
    assert_eq!(
        (
            stats.identity_verification_requests,
            stats.certification_requests,
            stats.api_calls
        ),
        (1, 0, 1)
    );
}

#[tokio::test]
async fn ready_and_failed_records_have_their_own_required_fields() {
    let (sandbox, base, client) = start().await;
    for (id, status) in [("iv-ready", STATUS_READY), ("iv-failed", STATUS_FAILED)] {
        sandbox.insert_identity_verification(SandboxIdentityVerification::with_status(id, status));
        let (code, body) = lookup(
            &client,
            &base,
            &format!("/identity-verifications/{id}"),
            Some(&auth()),
        )
        .await;
        assert_eq!(code, 200);
        assert_no_null(&body, "$");
        assert_eq!(body["status"], status);
        assert_eq!(body["id"], id);
        assert!(body["requestedCustomer"].is_object(), "{body}");
        for field in ["requestedAt", "updatedAt", "statusChangedAt"] {
            assert_rfc3339(&body[field]);
        }
        for absent in ["verifiedAt", "verifiedCustomer", "pgRawResponse"] {
            assert!(body.get(absent).is_none(), "{status} has {absent}: {body}");
        }
        assert_eq!(
            body.get("failure").is_some(),
            status == STATUS_FAILED,
            "{body}"
        );
    }
    let (_, failed) = lookup(
        &client,
        &base,
        "/identity-verifications/iv-failed",
        Some(&auth()),
    )
    .await;
    assert!(failed["failure"]["reason"].is_string());
}

#[tokio::test]
async fn every_error_status_answers_type_and_message() {
    let (sandbox, base, client) = start().await;
    sandbox.insert_identity_verification(SandboxIdentityVerification {
        id: Some("iv-store".to_owned()),
        store_id: Some("store-a".to_owned()),
        ..SandboxIdentityVerification::default()
    });
    let good = auth();
    const P: &str = "/identity-verifications/iv-store";
    let p = |q: &str| format!("{P}{q}");
    let cases: [(String, Option<&str>, u16, &str); 9] = [
        (p(""), None, 401, TYPE_UNAUTHORIZED),
        (p(""), Some("PortOne wrong"), 401, TYPE_UNAUTHORIZED),
        (p(""), Some(TEST_PORTONE_SECRET), 401, TYPE_UNAUTHORIZED),
        (p(""), Some("Bearer x"), 401, TYPE_UNAUTHORIZED),
        (
            "/identity-verifications/iv-none".into(),
            Some(&good),
            404,
            TYPE_NOT_FOUND,
        ),
        (
            "/identity-verifications/%FF".into(),
            Some(&good),
            400,
            TYPE_INVALID_REQUEST,
        ),
        (p("?storeId="), Some(&good), 400, TYPE_INVALID_REQUEST),
        (p("?storeId=store-b"), Some(&good), 403, TYPE_FORBIDDEN),
        (
            "/identity-verifications/a/b".into(),
            Some(&good),
            404,
            "NOT_FOUND",
        ),
    ];
    for (target, auth, status, kind) in cases {
        let (code, body) = lookup(&client, &base, &target, auth).await;
        assert_eq!(code, status, "{target} {auth:?}: {body}");
        assert_error(&body, kind);
    }
    let resp = client
        .delete(format!("{base}/identity-verifications/iv-store"))
        .header("Authorization", &good)
        .send()
        .await
        .expect("delete");
    assert_eq!(resp.status(), 405);
    assert_error(&resp.json().await.expect("json"), "METHOD_NOT_ALLOWED");
    // The record's own store, and no store at all, may read it; the scheme is case-insensitive.
    for target in ["?storeId=store-a", ""] {
        let path = format!("/identity-verifications/iv-store{target}");
        let (code, _) = lookup(
            &client,
            &base,
            &path,
            Some("portone sandbox-portone-api-secret"),
        )
        .await;
        assert_eq!(code, 200, "{path}");
    }
}

#[tokio::test]
async fn id_is_one_percent_encoded_segment_and_store_id_is_form_encoded() {
    let (sandbox, base, client) = start().await;
    sandbox.insert_identity_verification(SandboxIdentityVerification {
        id: Some("iv 가/1".to_owned()),
        store_id: Some("store 1&x".to_owned()),
        ..SandboxIdentityVerification::default()
    });
    // What the Python client sends for a base_url ending in `/`: a leading `//`.
    let target = "//identity-verifications/iv%20%EA%B0%80%2F1?storeId=store+1%26x&other=1";
    let (code, body) = lookup(&client, &base, target, Some(&auth())).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["id"], "iv 가/1");
    assert_eq!(sandbox.requested_paths(), [target]);

    let recent: Value = client
        .get(format!("{base}/__sandbox/requests?last=5"))
        .send()
        .await
        .expect("requests")
        .json()
        .await
        .expect("json");
    assert_eq!(recent, json!({ "paths": [target] }));
}

#[tokio::test]
async fn faults_apply_to_v2_calls_in_the_v2_error_shape() {
    let (sandbox, base, client) = start().await;
    let rec = sandbox.insert_identity_verification(SandboxIdentityVerification::default());
    let target = format!("/identity-verifications/{}", rec.id.expect("id"));
    sandbox.set_fault(Fault {
        latency_ms: None,
        status: Some(503),
        times: Some(1),
    });
    let (code, body) = lookup(&client, &base, &target, Some(&auth())).await;
    assert_eq!(code, 503);
    assert_error(&body, "SERVICE_UNAVAILABLE");
    let (code, _) = lookup(&client, &base, &target, Some(&auth())).await;
    assert_eq!(code, 200);
    let stats = sandbox.stats();
    assert_eq!(
        (stats.faults_served, stats.identity_verification_requests),
        (1, 2)
    );
}

#[tokio::test]
async fn the_sandbox_clock_sets_the_v2_times() {
    let (sandbox, _base, _client) = start().await;
    sandbox.advance_clock(86_400);
    let rec = sandbox.insert_identity_verification(SandboxIdentityVerification::default());
    let verified_at: jiff::Timestamp = rec
        .verified_at
        .expect("verifiedAt")
        .parse()
        .expect("RFC 3339");
    let ahead = verified_at.as_second() - jiff::Timestamp::now().as_second();
    assert!((86_390..=86_410).contains(&ahead), "{ahead}");
}

#[tokio::test]
async fn control_endpoint_fills_omitted_fields_and_never_stores_null() {
    let (sandbox, base, client) = start().await;
    let post = |body: &'static str| {
        client
            .post(format!("{base}/__sandbox/identity-verifications"))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let resp = post(r#"{"customData": null, "verifiedCustomer": {"name": "김철수", "gender": "MALE", "phoneNumber": null}}"#)
        .await
        .expect("insert");
    assert_eq!(resp.status(), 201);
    let body: Value = resp.json().await.expect("json");
    assert_no_null(&body, "$");
    assert_eq!(body["status"], "VERIFIED");
    assert_eq!(body["verifiedCustomer"]["name"], "김철수");
    assert_eq!(body["verifiedCustomer"]["birthDate"], "1990-01-01");
    assert!(body.get("customData").is_none());
    let id = body["id"].as_str().expect("id");
    assert_eq!(
        serde_json::to_value(sandbox.identity_verification(id).expect("stored")).expect("json"),
        body
    );

    let resp = post(r#"{"status": 1}"#).await.expect("insert");
    assert_eq!(resp.status(), 400);
    assert_error(&resp.json().await.expect("json"), TYPE_INVALID_REQUEST);
    assert_eq!(
        sandbox.stats().api_calls,
        0,
        "control calls are not API calls"
    );
}

#[tokio::test]
async fn v1_and_v2_records_of_the_same_id_are_apart() {
    let (sandbox, base, client) = start().await;
    sandbox.insert(SandboxRecord {
        imp_uid: Some("same_id".to_owned()),
        ..SandboxRecord::person("일번", "1980-01-01")
    });
    sandbox.insert_identity_verification(SandboxIdentityVerification {
        id: Some("same_id".to_owned()),
        ..SandboxIdentityVerification::person("이번", "1990-02-02")
    });
    let (_, v2) = lookup(
        &client,
        &base,
        "/identity-verifications/same_id",
        Some(&auth()),
    )
    .await;
    assert_eq!(v2["verifiedCustomer"]["name"], "이번");
    let tok = token(&client, &base).await;
    let (_, v1) = certification(
        &client,
        Method::GET,
        &format!("{base}/certifications/same_id"),
        &[("Authorization", &tok)],
    )
    .await;
    assert!(v1.contains("일번"), "{v1}");
}

#[tokio::test]
async fn concurrent_keep_alive_lookups_all_succeed() {
    let (sandbox, base, client) = start().await;
    let rec = sandbox.insert_identity_verification(SandboxIdentityVerification::default());
    let url = format!("{base}/identity-verifications/{}", rec.id.expect("id"));
    let calls = (0..32).map(|_| client.get(&url).header("Authorization", auth()).send());
    for resp in futures_util::future::join_all(calls).await {
        assert_eq!(resp.expect("answered").status(), 200);
    }
    assert_eq!(sandbox.stats().identity_verification_requests, 32);
}

#[tokio::test]
async fn people_file_seeds_v2_records_and_another_secret_can_be_set() {
    let path = temp_file(
        "toml",
        "[[people]]\nimp_uid = \"imp_1\"\nbirthday = \"1990-01-01\"\n\n\
         [[identity_verifications]]\nid = \"iv-file\"\nverifiedCustomer = { name = \"박민수\", birthDate = \"1988-08-08\" }\n",
    );
    let people = load_people_file(&path).expect("people file");
    let _ = std::fs::remove_file(&path);
    assert_eq!(people.people.len(), 1);
    let (_sandbox, base, client) = start_with(SandboxOptions {
        portone_secret: "another secret".to_owned(),
        people: people.people,
        identity_verifications: people.identity_verifications,
        ..SandboxOptions::default()
    })
    .await;
    let (code, _) = lookup(
        &client,
        &base,
        "/identity-verifications/iv-file",
        Some(&auth()),
    )
    .await;
    assert_eq!(code, 401);
    let (code, body) = lookup(
        &client,
        &base,
        "/identity-verifications/iv-file",
        Some("PortOne another secret"),
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(body["verifiedCustomer"]["birthDate"], "1988-08-08");
}
