//! Records: the filled-in defaults, unfinished attempts, KST dates and people files.

use super::*;
use crate::sandbox::records::{kst_date_of, kst_midnight};

#[test]
fn kst_midnight_of_birthday_is_unix_seconds() {
    assert_eq!(kst_midnight("1991-11-11"), Some(689_785_200));
    assert_eq!(kst_midnight("1976-11-07"), Some(216_140_400));
    assert_eq!(kst_date_of(689_785_200).as_deref(), Some("1991-11-11"));
    assert_eq!(kst_midnight("1991-1-11"), None);
    assert_eq!(kst_midnight("1991-02-30"), None);
}

#[tokio::test]
async fn control_insert_fills_plausible_defaults() {
    let (sandbox, base, client) = start().await;
    let before = sandbox.now();
    let resp = client
        .post(format!("{base}/__sandbox/certifications"))
        .json(&json!({"name": "홍길동", "birthday": "1991-11-11", "gender": "male", "new_field": [1]}))
        .send()
        .await
        .expect("insert");
    assert_eq!(resp.status(), 201);
    let rec: Value = resp.json().await.expect("json");
    let imp_uid = rec["imp_uid"].as_str().expect("imp_uid");
    assert!(imp_uid.starts_with("imp_") && imp_uid.len() == 16);
    assert!(imp_uid[4..].bytes().all(|b| b.is_ascii_digit()));
    assert_eq!(rec["birth"], 689_785_200);
    assert_eq!(rec["certified"], true);
    let certified_at = rec["certified_at"].as_i64().expect("certified_at");
    assert!((before..=sandbox.now()).contains(&certified_at));
    assert_eq!(rec["pg_provider"], "danal");
    assert_eq!(rec["foreigner"], false);
    assert_eq!(rec["foreigner_v2"], Value::Null);
    assert_eq!(rec["phone"], Value::Null);
    assert!(
        rec["merchant_uid"]
            .as_str()
            .is_some_and(|m| m.starts_with("mid_"))
    );
    assert_eq!(rec["unique_key"].as_str().map(str::len), Some(88));
    assert_eq!(rec["unique_in_site"].as_str().map(str::len), Some(64));
    assert_eq!(rec["new_field"], json!([1]));
    for field in [
        "imp_uid",
        "merchant_uid",
        "pg_tid",
        "pg_provider",
        "name",
        "gender",
        "birthday",
        "birth",
        "foreigner",
        "foreigner_v2",
        "phone",
        "carrier",
        "certified",
        "certified_at",
        "unique_key",
        "unique_in_site",
        "origin",
    ] {
        assert!(rec.get(field).is_some(), "{field} missing");
    }

    // What the API serves is what the control endpoint answered.
    let t = token(&client, &base).await;
    let url = format!("{base}/certifications/{imp_uid}");
    let (status, body) = certification(&client, Method::GET, &url, &[("Authorization", &t)]).await;
    assert_eq!(status, 200);
    let body: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(body["response"], rec);
    assert_eq!(
        sandbox
            .requested_paths()
            .iter()
            .filter(|p| p.contains("__sandbox"))
            .count(),
        0
    );
}

#[tokio::test]
async fn unfinished_attempt_has_zero_birth_and_certified_at_and_no_name() {
    let sandbox = Sandbox::new(SandboxOptions::default());
    let rec = sandbox.insert(SandboxRecord {
        imp_uid: Some("imp_000000000001".to_owned()),
        birthday: Some("1991-11-11".to_owned()),
        certified: Some(false),
        ..SandboxRecord::default()
    });
    assert_eq!(rec.birth, Some(0));
    assert_eq!(rec.certified_at, Some(0));
    assert_eq!(rec.name, None);
    assert_eq!(rec.unique_key, None);
    assert_eq!(rec.imp_uid.as_deref(), Some("imp_000000000001"));
}

#[tokio::test]
async fn people_files_load_from_toml_and_json() {
    let toml_path = temp_file(
        "toml",
        r#"
[[people]]
imp_uid = "imp_111111111111"
name = "홍길동"
birthday = "1991-11-11"

[[people]]
imp_uid = "imp_222222222222"
certified = false
"#,
    );
    let json_path = temp_file(
        "json",
        r#"[{"imp_uid": "imp_333333333333", "name": "김철수", "birthday": "2010-01-01", "phone": "01012345678"}]"#,
    );
    let from_toml = load_people(&toml_path);
    let from_json = load_people(&json_path);
    let _ = std::fs::remove_file(&toml_path);
    let _ = std::fs::remove_file(&json_path);
    let from_toml = from_toml.expect("toml people");
    let from_json = from_json.expect("json people");
    assert_eq!(from_toml.len(), 2);
    assert_eq!(from_toml[0].name.as_deref(), Some("홍길동"));
    assert_eq!(from_toml[1].certified, Some(false));
    assert_eq!(from_json[0].phone.as_deref(), Some("01012345678"));

    let people = from_toml.into_iter().chain(from_json).collect();
    let (_sandbox, base, client) = start_with(SandboxOptions {
        people,
        ..SandboxOptions::default()
    })
    .await;
    let t = token(&client, &base).await;
    for (imp_uid, birth) in [
        ("imp_111111111111", 689_785_200),
        ("imp_222222222222", 0),
        ("imp_333333333333", 1_262_271_600),
    ] {
        let url = format!("{base}/certifications/{imp_uid}");
        let (status, body) =
            certification(&client, Method::GET, &url, &[("Authorization", &t)]).await;
        assert_eq!(status, 200, "{imp_uid}");
        let body: Value = serde_json::from_str(&body).expect("json");
        assert_eq!(body["response"]["birth"], birth, "{imp_uid}");
    }
}

#[test]
fn people_file_errors_name_the_file_and_position() {
    let bad_ext = load_people(Path::new("people.yaml"));
    assert!(matches!(
        bad_ext,
        Err(SandboxError::UnsupportedFormat { .. })
    ));

    let path = temp_file("toml", "[[people]]\nbirth = \"soon\"\n");
    let err = load_people(&path);
    let _ = std::fs::remove_file(&path);
    match err {
        Err(SandboxError::Parse { line, .. }) => assert_eq!(line, 2),
        other => panic!("expected a parse error, got {other:?}"),
    }

    let path = temp_file("json", "[\n{\"certified\": \"yes\"}]");
    let err = load_people(&path);
    let _ = std::fs::remove_file(&path);
    let err = err.expect_err("bad json");
    assert!(err.to_string().contains(":2:"), "{err}");

    let missing = load_people(Path::new("/nonexistent/people.json"));
    assert!(matches!(missing, Err(SandboxError::Read { .. })));
}
