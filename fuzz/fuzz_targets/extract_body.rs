//! `extract` on the body types browsers send besides JSON and forms: `multipart/form-data`
//! (a `FormData`) and `text/plain` or untyped bodies. It must never panic, an accepted imp_uid
//! must be valid and present in the body, and a `text/plain` or untyped body must read exactly
//! as JSON when JSON reads it as an object, else exactly as a form.
//!
//! The first input byte picks the content type; the rest is the body.

#![no_main]

use libfuzzer_sys::fuzz_target;
use verigate::extract::{BodyKind, ExtractError, ImpUidSource, extract};
use verigate_fuzz::assert_valid_imp_uid;

const FIELD: &str = "imp_uid";
const JSON: Option<&[u8]> = Some(b"application/json");
const FORM: Option<&[u8]> = Some(b"application/x-www-form-urlencoded");

const MULTIPART: [&[u8]; 3] = [
    b"multipart/form-data; boundary=XyZ",
    b"Multipart/Form-Data; BOUNDARY=\"XyZ\"",
    b"multipart/form-data; charset=utf-8; boundary=----WebKitFormBoundaryAbC",
];

fuzz_target!(|input: &[u8]| {
    let Some((&pick, body)) = input.split_first() else {
        return;
    };
    match pick % 5 {
        n @ 0..=2 => {
            let got = extract(ImpUidSource::Body, FIELD, "", Some(MULTIPART[n as usize]), body);
            if let Ok(uid) = &got {
                assert_valid_imp_uid(uid);
                let needle = uid.as_str().as_bytes();
                assert!(
                    body.windows(needle.len()).any(|w| w == needle),
                    "an imp_uid that is not in the body"
                );
            }
        }
        n => {
            let content_type: Option<&[u8]> = if n == 3 { Some(b"text/plain") } else { None };
            let got = extract(ImpUidSource::Body, FIELD, "", content_type, body);
            if let Ok(uid) = &got {
                assert_valid_imp_uid(uid);
            }
            let want = match extract(ImpUidSource::Body, FIELD, "", JSON, body) {
                Err(ExtractError::Malformed(BodyKind::Json)) => {
                    extract(ImpUidSource::Body, FIELD, "", FORM, body)
                }
                json => json,
            };
            assert_eq!(got, want);
        }
    }
});
