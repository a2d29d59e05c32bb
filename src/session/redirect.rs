//! Where a person goes after verifying: `rd` is only ever a local path (docs/sessions.md).
//!
//! Browsers read more into a `Location` than its first character: `//evil` and `/\evil` are
//! other hosts, a tab or newline inside is dropped (`/%09/evil`), and decoded escapes reopen each
//! of these (oauth2-proxy CVE-2020-5233, -11053, -4037). So after the one percent-decoding a
//! query value gets, `rd` must start with exactly one `/` followed by neither `/` nor `\`, and
//! hold no control character, whitespace or `\` anywhere; its path then goes through the same
//! normaliser as gating (`crate::path`), and it must not lead into `/.verigate`. What comes out is
//! re-built from the normalised path and the query, never a scheme or host taken from input.
//! Anything else becomes `/`. The page checks `rd` when served and the callback checks again.

use std::borrow::Cow;

use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

use super::{RESERVED_PREFIX, is_reserved_path};
use crate::path::normalise;

/// Longest `rd` accepted; longer ones become `/`.
pub const MAX_RD_LEN: usize = 2048;

/// Characters re-encoded in the query so the target is always a valid header value. `%` is
/// left alone: the query's escapes are the app's.
const QUERY_ESCAPE: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'<')
    .add(b'>')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'|')
    .add(b'^')
    .add(b'[')
    .add(b']');

/// The local target for an `rd` value that was percent-decoded once: the normalised path plus
/// the query, or `/` when `rd` is anything else.
pub fn local_target(rd: &str) -> Cow<'_, str> {
    checked(rd).unwrap_or(Cow::Borrowed("/"))
}

fn checked(rd: &str) -> Option<Cow<'_, str>> {
    let b = rd.as_bytes();
    if rd.len() > MAX_RD_LEN || b.first() != Some(&b'/') || matches!(b.get(1), Some(b'/' | b'\\')) {
        return None;
    }
    if rd
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || c == '\\')
    {
        return None;
    }
    // A fragment never reaches a server; it is not carried along.
    let rd = rd.split_once('#').map_or(rd, |(before, _)| before);
    let (path, query) = match rd.split_once('?') {
        Some((p, q)) => (p, Some(q).filter(|q| !q.is_empty())),
        None => (rd, None),
    };
    let path = normalise(path).ok()?;
    if is_reserved_path(&path) {
        return None;
    }
    let encoded = query.map(|q| Cow::from(utf8_percent_encode(q, QUERY_ESCAPE)));
    // Compared by value: `PercentEncode`'s `Cow` may borrow a static escape such as `%5D`.
    let same_query = encoded.as_deref() == query;
    let target = match (path, encoded) {
        (Cow::Borrowed(p), None) => Cow::Borrowed(p),
        // Both unchanged: the target is `rd` itself (up to a fragment), without copying.
        (Cow::Borrowed(p), Some(q)) if same_query => rd
            .get(..p.len() + 1 + q.len())
            .map_or_else(|| Cow::Owned(format!("{p}?{q}")), Cow::Borrowed),
        (p, None) => Cow::Owned(p.into_owned()),
        (p, Some(q)) => Cow::Owned(format!("{p}?{q}")),
    };
    // Bounded after encoding too, so a target always checks again to itself.
    (target.len() <= MAX_RD_LEN).then_some(target)
}

/// The local target named by the `rd` parameter of a raw query string (decoded once, as a form
/// value), or `/` when there is none or it is not local.
pub fn rd_from_query(query: Option<&str>) -> String {
    let Some(query) = query else {
        return "/".to_owned();
    };
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "rd")
        .map_or_else(|| "/".to_owned(), |(_, v)| local_target(&v).into_owned())
}

/// The verification page for a gated request without a session:
/// `/.verigate/verify?rd=<the request's normalised path and query>`, `rd` form-encoded.
pub fn verify_location(path: &str, query: Option<&str>) -> String {
    let mut target = String::with_capacity(path.len() + query.map_or(0, |q| q.len() + 1));
    target.push_str(path);
    if let Some(q) = query.filter(|q| !q.is_empty()) {
        target.push('?');
        target.push_str(q);
    }
    let rd: String = form_urlencoded::byte_serialize(target.as_bytes()).collect();
    format!("{RESERVED_PREFIX}/verify?rd={rd}")
}
