//! Requests browsers really send: `HEAD` on a `GET` route, `multipart/form-data` from a
//! `FormData`, and bodies sent as `text/plain` or without a type (what `fetch` and `curl -d`
//! send for a string). Each reaches the app byte for byte with its verdict, or is refused with
//! the contract's answer and never reaches it.

mod common;

use common::{Stack, birthday_years_ago};

async fn json(resp: reqwest::Response) -> (u16, serde_json::Value) {
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or_default())
}

#[tokio::test]
async fn head_on_a_get_route_is_intercepted_like_the_get() {
    let s = Stack::start().await;
    let adult = s.person("홍길동", "1980-01-01");
    let minor = s.person("김영희", &birthday_years_ago(15, 0));
    let head = |target: String| {
        s.client
            .head(format!("{}{target}", s.base))
            .header("x-verified-verdict", "allow")
    };

    let resp = head(format!("/certifications/redirect?imp_uid={adult}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let got = s.last();
    assert_eq!(got.method, "HEAD");
    assert_eq!(got.header("x-verified-verdict"), Some("allow"));
    assert_eq!(got.header("x-verified-imp-uid"), Some(adult.as_str()));

    // The redirect route rejects a minor (on_deny = "reject"): so does its HEAD.
    let seen = s.app_saw().len();
    let resp = head(format!("/certifications/redirect?imp_uid={minor}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert!(resp.headers().contains_key("x-request-id"));
    let resp = head("/certifications/redirect".to_owned())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(s.app_saw().len(), seen, "a refused HEAD reached the app");

    // A POST route does not take HEAD: passed through, with no verdict at all.
    let resp = head(format!("/certifications?imp_uid={adult}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let got = s.last();
    assert_eq!(got.method, "HEAD");
    assert_eq!(got.header("x-verified-verdict"), None);

    // The connection is still usable after bodiless answers: a GET on it works.
    let (status, app) = json(
        s.get(&format!("/certifications/redirect?imp_uid={adult}"))
            .await,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(app["headers"]["x-verified-verdict"], "allow");
}

/// A multipart body as a browser's `FormData` sends it: `(name, file name, bytes)` parts.
fn multipart(boundary: &str, parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, file, value) in parts {
        out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        let disposition = match file {
            Some(f) => format!(
                "Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\n\
                 Content-Type: image/png\r\n\r\n"
            ),
            None => format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n"),
        };
        out.extend_from_slice(disposition.as_bytes());
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    out
}

/// Bytes that look like a file: binary, with CR LF, dashes and an `imp_uid` of their own.
fn file_bytes(len: usize) -> Vec<u8> {
    let pattern = b"\x89PNG\r\n\x1a\n\0\xff\r\n--\r\nname=\"imp_uid\"\r\n\r\nimp_forged\r\n";
    pattern.iter().copied().cycle().take(len).collect()
}

/// Multipart bodies the popup route must refuse (for `adult`'s imp_uid, framed by `boundary`):
/// content type, body, status and error code.
fn refused_multiparts(boundary: &str, adult: &str) -> Vec<(String, Vec<u8>, u16, &'static str)> {
    let ct = format!("multipart/form-data; boundary={boundary}");
    vec![
        (
            ct.clone(),
            multipart(
                boundary,
                &[
                    ("imp_uid", None, adult.as_bytes()),
                    ("imp_uid", None, adult.as_bytes()),
                ],
            ),
            400,
            "invalid_imp_uid",
        ),
        (
            ct.clone(),
            multipart(boundary, &[("imp_uid", None, b"../users/getToken")]),
            400,
            "invalid_imp_uid",
        ),
        // Only a file under the name: there is no imp_uid field.
        (
            ct.clone(),
            multipart(boundary, &[("imp_uid", Some("a.txt"), adult.as_bytes())]),
            400,
            "missing_imp_uid",
        ),
        // The boundary is case-sensitive: the same letters in another case do not frame it.
        (
            ct.clone(),
            multipart(
                &boundary.to_ascii_lowercase(),
                &[("imp_uid", None, adult.as_bytes())],
            ),
            400,
            "malformed_body",
        ),
        // Cut off before the closing boundary.
        (
            ct.clone(),
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"imp_uid\"\r\n\r\n{adult}"
            )
            .into_bytes(),
            400,
            "malformed_body",
        ),
        // No boundary parameter at all.
        (
            "multipart/form-data".to_owned(),
            multipart(boundary, &[("imp_uid", None, adult.as_bytes())]),
            400,
            "malformed_body",
        ),
        // A file part that takes the body over max_body_bytes.
        (
            ct.clone(),
            multipart(
                boundary,
                &[
                    ("imp_uid", None, adult.as_bytes()),
                    ("photo", Some("big.png"), &file_bytes(70_000)),
                ],
            ),
            413,
            "body_too_large",
        ),
    ]
}

#[tokio::test]
async fn multipart_form_data_gives_its_text_field_and_the_app_gets_the_exact_bytes() {
    let s = Stack::start().await;
    let adult = s.person("홍길동", "1980-01-01");
    let minor = s.person("김영희", &birthday_years_ago(15, 0));
    let boundary = "----WebKitFormBoundaryQx7ZaB3kLmN0pRsT";

    let file = file_bytes(20_000);
    for (content_type, uid, verdict) in [
        (
            format!("Multipart/Form-Data; BOUNDARY={boundary}"),
            &adult,
            "allow",
        ),
        (
            format!("multipart/form-data; charset=UTF-8; Boundary=\"{boundary}\""),
            &minor,
            "deny",
        ),
    ] {
        let body = multipart(
            boundary,
            &[
                ("merchant_uid", None, b"order 1"),
                ("photo", Some("me.png"), &file),
                ("imp_uid", None, uid.as_bytes()),
            ],
        );
        let (status, _) = json(s.post("/certifications", &content_type, body.clone()).await).await;
        assert_eq!(status, 200, "{content_type}");
        let got = s.last();
        assert_eq!(got.body.as_ref(), body.as_slice(), "the body was changed");
        assert_eq!(got.header("content-type"), Some(content_type.as_str()));
        assert_eq!(got.header("x-verified-verdict"), Some(verdict));
        assert_eq!(got.header("x-verified-imp-uid"), Some(uid.as_str()));
        assert!(
            got.header("content-digest")
                .is_some_and(|d| d.starts_with("sha-256=:"))
        );
    }

    let seen = s.app_saw().len();
    let refused = refused_multiparts(boundary, &adult);
    for (content_type, body, want_status, want_code) in refused {
        let (status, answer) = json(s.post("/certifications", &content_type, body).await).await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (want_status, Some(want_code)),
            "{content_type}"
        );
    }
    assert_eq!(s.app_saw().len(), seen, "a refused body reached the app");
}

#[tokio::test]
async fn text_plain_and_untyped_bodies_are_json_objects_or_forms() {
    let s = Stack::start().await;
    let adult = s.person("홍길동", "1980-01-01");
    let json_body = format!(r#"{{"imp_uid":"{adult}","merchant_uid":"m 1"}}"#);
    let form_body = format!("merchant_uid=m+1&imp_uid={adult}");
    for (content_type, body) in [
        (Some("text/plain;charset=UTF-8"), &json_body),
        (Some("text/plain"), &form_body),
        (None, &json_body),
        (None, &form_body),
    ] {
        let mut req = s
            .client
            .post(format!("{}/certifications", s.base))
            .body(body.clone());
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        let (status, _) = json(req.send().await.unwrap()).await;
        assert_eq!(status, 200, "{content_type:?} {body}");
        let got = s.last();
        assert_eq!(got.body.as_ref(), body.as_bytes());
        assert_eq!(got.header("content-type"), content_type);
        assert_eq!(got.header("x-verified-verdict"), Some("allow"));
    }
    let seen = s.app_saw().len();
    for (content_type, body, want) in [
        // Parses as an object: JSON's rules hold.
        (None, r#"{"imp_uid":1}"#.to_owned(), "invalid_imp_uid"),
        (
            Some("text/plain"),
            format!(r#"{{"imp_uid":"{adult}","imp_uid":"{adult}"}}"#),
            "invalid_imp_uid",
        ),
        // Not an object: a form, without the field.
        (None, format!(r#"["{adult}"]"#), "missing_imp_uid"),
        (
            None,
            format!("imp_uid={adult}&imp_uid={adult}"),
            "invalid_imp_uid",
        ),
    ] {
        let mut req = s
            .client
            .post(format!("{}/certifications", s.base))
            .body(body.clone());
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        let (status, answer) = json(req.send().await.unwrap()).await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (400, Some(want)),
            "{body}"
        );
    }
    // Other types are still refused.
    let (status, answer) = json(
        s.client
            .post(format!("{}/certifications", s.base))
            .header("content-type", "text/html")
            .body(form_body.clone())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (415, Some("unsupported_media_type"))
    );
    assert_eq!(s.app_saw().len(), seen, "a refused body reached the app");
}
