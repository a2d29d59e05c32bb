//! `extract` on a query string (the redirect flow's `GET /certifications/redirect?…`): it must
//! never panic, an accepted imp_uid must be valid, `success=false` detection must not panic, and
//! in `auto` mode the query must win over the body whenever it has anything to say.

#![no_main]

use libfuzzer_sys::fuzz_target;
use verigate::extract::{ExtractError, ImpUidSource, extract, from_query, query_reports_failure};
use verigate::imp_uid::ImpUid;
use verigate_fuzz::assert_valid_imp_uid;

const FIELD: &str = "imp_uid";
const JSON: Option<&[u8]> = Some(b"application/json");
const BODY: &[u8] = br#"{"imp_uid":"imp_000000000b0d"}"#;

fuzz_target!(|data: &[u8]| {
    // A query reaches the gateway as text; invalid UTF-8 is replaced, as a lossy reading would.
    let query = String::from_utf8_lossy(data);
    let got = extract(ImpUidSource::Query, FIELD, &query, None, b"");
    if let Ok(uid) = &got {
        assert_valid_imp_uid(uid);
    }
    assert_eq!(
        from_query(&query, FIELD).and_then(|o| o.ok_or(ExtractError::Missing)),
        got
    );
    let _ = query_reports_failure(&query);

    let auto = extract(ImpUidSource::Auto, FIELD, &query, JSON, BODY);
    match &got {
        Err(ExtractError::Missing) => {
            let from_body = ImpUid::parse("imp_000000000b0d").map_err(ExtractError::from);
            assert_eq!(auto, from_body, "auto did not fall back to the body");
        }
        query_answer => assert_eq!(&auto, query_answer, "auto did not let the query win"),
    }
});
