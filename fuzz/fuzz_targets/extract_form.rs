//! `extract` on an `application/x-www-form-urlencoded` body: it must never panic, an accepted
//! imp_uid must be valid, the answer must follow the parameters (none, one, several), and a form
//! body must be read exactly as the same bytes in a query string would be.

#![no_main]

use libfuzzer_sys::fuzz_target;
use verigate::extract::{ExtractError, ImpUidSource, extract};
use verigate::imp_uid::ImpUid;
use verigate_fuzz::assert_valid_imp_uid;

const FIELD: &str = "imp_uid";
const FORM: Option<&[u8]> = Some(b"application/x-www-form-urlencoded");

fuzz_target!(|body: &[u8]| {
    let got = extract(ImpUidSource::Body, FIELD, "", FORM, body);
    if let Ok(uid) = &got {
        assert_valid_imp_uid(uid);
    }
    let values: Vec<_> = form_urlencoded::parse(body)
        .filter(|(k, _)| k == FIELD)
        .map(|(_, v)| v)
        .collect();
    let want = match values.as_slice() {
        [] => Err(ExtractError::Missing),
        [only] => ImpUid::parse(only).map_err(ExtractError::from),
        _ => Err(ExtractError::Ambiguous),
    };
    assert_eq!(got, want);
    // With nothing in the query, `auto` falls through to the body.
    assert_eq!(extract(ImpUidSource::Auto, FIELD, "", FORM, body), got);
    // The same bytes as a query string read the same.
    if let Ok(query) = std::str::from_utf8(body) {
        assert_eq!(extract(ImpUidSource::Query, FIELD, query, None, b""), got);
    }
});
