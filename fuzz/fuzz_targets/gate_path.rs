//! The gate's path normaliser and the `rd` check on arbitrary text: never a panic; an accepted
//! path is canonical (no `//`, `;`, `\`, dot segments, lower-case or unreserved escapes, only
//! visible ASCII) and its own normal form, borrowed; a gate matches only on a segment boundary;
//! and whatever `rd` says, the target is a local path outside `/.verigate` that checks again to
//! itself.

#![no_main]

use std::borrow::Cow;

use libfuzzer_sys::fuzz_target;
use verigate::path::{Prefix, normalise};
use verigate::session::is_reserved_path;
use verigate::session::redirect::{local_target, rd_from_query};

fn assert_canonical(input: &str, n: &str) {
    assert!(n.starts_with('/'), "{input:?} → {n:?}");
    assert!(
        !n.contains("//") && !n.contains(';') && !n.contains('\\'),
        "{input:?} → {n:?}"
    );
    assert!(
        !n.split('/').any(|s| s == "." || s == ".."),
        "{input:?} → {n:?}"
    );
    assert!(n.bytes().all(|b| b.is_ascii_graphic()), "{input:?} → {n:?}");
    let b = n.as_bytes();
    for (i, _) in n.match_indices('%') {
        let hex = &b[i + 1..i + 3];
        assert!(
            hex.iter().all(|h| h.is_ascii_digit() || (b'A'..=b'F').contains(h)),
            "{input:?} → {n:?}"
        );
        let d = u8::from_str_radix(std::str::from_utf8(hex).unwrap(), 16).unwrap();
        assert!(
            !(d.is_ascii_alphanumeric() || b"-._~".contains(&d)),
            "{input:?} → {n:?}: an unreserved character stayed encoded"
        );
    }
    assert!(
        matches!(normalise(n), Ok(Cow::Borrowed(again)) if again == n),
        "{n:?} is not its own normal form"
    );
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let path = format!("/{text}");
    if let Ok(n) = normalise(&path) {
        assert_canonical(&path, &n);
        let gate = Prefix::new("/adult", false).unwrap();
        if gate.matches(&n) {
            assert!(n == "/adult" || n.starts_with("/adult/"), "{n:?}");
        }
    }
    for rd in [local_target(&text).into_owned(), rd_from_query(Some(&text))] {
        let b = rd.as_bytes();
        assert_eq!(b.first(), Some(&b'/'), "{text:?} → {rd:?}");
        assert!(!matches!(b.get(1), Some(b'/' | b'\\')), "{text:?} → {rd:?}");
        assert!(b.iter().all(|c| c.is_ascii_graphic()), "{text:?} → {rd:?}");
        let p = rd.split_once('?').map_or(rd.as_str(), |(p, _)| p);
        assert!(!is_reserved_path(p), "{text:?} → {rd:?}");
        assert_eq!(local_target(&rd), rd.as_str(), "{text:?}: not a fixed point");
    }
});
