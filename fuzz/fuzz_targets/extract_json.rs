//! `extract` on a JSON body (the popup flow's `POST /certifications`): it must never panic, an
//! accepted imp_uid must be valid, and whenever serde_json can read the whole document the
//! answer must be exactly what the document says (missing, not a string, duplicated, invalid, or
//! the one value).

#![no_main]

use libfuzzer_sys::fuzz_target;
use verigate::extract::{ImpUidSource, extract};
use verigate_fuzz::{
    NOT_AN_OBJECT, assert_valid_imp_uid, expected_from_occurrences, field_occurrences,
};

const FIELD: &str = "imp_uid";

fuzz_target!(|body: &[u8]| {
    let got = extract(
        ImpUidSource::Body,
        FIELD,
        "",
        Some(b"application/json"),
        body,
    );
    if let Ok(uid) = &got {
        assert_valid_imp_uid(uid);
    }
    // The oracle only speaks for documents serde_json reads whole; `extract` skips the other
    // fields without building them, so it may accept more (huge exponents, very deep ignored
    // values), never less.
    let Ok(doc) = serde_json::from_slice::<serde_json::Value>(body) else {
        return;
    };
    if !doc.is_object() {
        assert_eq!(got, Err(NOT_AN_OBJECT), "a non-object document");
        return;
    }
    let occurrences = field_occurrences(body, FIELD).expect("an object Value can read");
    assert_eq!(got, expected_from_occurrences(&occurrences));
});
