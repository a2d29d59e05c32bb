//! Request-path normalisation for gates (contract §9.5), and gate prefixes.
//!
//! pingora forwards the raw request path, and apps read paths in many ways (decoding, dropping
//! `;params`, merging slashes, resolving `..`). So when gates exist every path is brought to one
//! canonical form first, and that form is both what gates match and what is forwarded: what is
//! checked is what is sent. Forms with no single safe reading are refused (400 `invalid_path`):
//! malformed or double (`%25`) escapes, encoded `/` `\` NUL, raw `\`, control characters, bytes
//! that are not UTF-8 once decoded, and `..` climbing above the root.
//!
//! The canonical form: escapes of unreserved characters decoded, other escapes with upper-case
//! hex, raw bytes outside RFC 3986 `pchar` percent-encoded, `;params` dropped per segment,
//! repeated slashes merged, dot segments removed (RFC 3986 §5.2.4). A path already in that form
//! (the common case) comes back borrowed, without allocating.

use std::borrow::Cow;

/// Why a path was refused; every variant is 400 `invalid_path`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("a `%` is not followed by two hex digits")]
    MalformedEscape,
    #[error("the decoded path is not UTF-8")]
    NotUtf8,
    #[error("the path contains a control character")]
    Control,
    #[error("the path contains a backslash")]
    Backslash,
    #[error("the path contains an encoded slash (%2F)")]
    EncodedSlash,
    #[error("the path contains an encoded backslash (%5C)")]
    EncodedBackslash,
    #[error("the path contains an encoded NUL (%00)")]
    EncodedNul,
    #[error("the path contains a double encoding (%25)")]
    DoubleEncoding,
    #[error("the path climbs above the root with `..`")]
    AboveRoot,
    #[error("the path does not start with `/`")]
    NotAbsolute,
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// RFC 3986 `pchar` plus `/`, minus `%` (escapes are handled on their own).
fn is_raw_ok(b: u8) -> bool {
    is_unreserved(b)
        || matches!(
            b,
            b'!' | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b':'
                | b'@'
                | b'/'
        )
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'A'..=b'F' => Some(b - b'A' + 10),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    }
}

/// The byte of the escape at `b[i]` (a `%`), and whether its hex was written in lower case.
fn escape_at(b: &[u8], i: usize) -> Result<(u8, bool), PathError> {
    let (Some(&h), Some(&l)) = (b.get(i + 1), b.get(i + 2)) else {
        return Err(PathError::MalformedEscape);
    };
    let (Some(hv), Some(lv)) = (hex_value(h), hex_value(l)) else {
        return Err(PathError::MalformedEscape);
    };
    Ok((
        (hv << 4) | lv,
        h.is_ascii_lowercase() || l.is_ascii_lowercase(),
    ))
}

fn push_escape(out: &mut String, byte: u8) {
    out.push('%');
    out.push(char::from(HEX[usize::from(byte >> 4)]));
    out.push(char::from(HEX[usize::from(byte & 0xF)]));
}

/// The output, materialised only at the first change so an already-canonical path is borrowed.
struct Lazy<'a> {
    src: &'a str,
    out: Option<String>,
}

impl Lazy<'_> {
    /// Keeps `src[from..to]` as it is.
    fn keep(&mut self, from: usize, to: usize) {
        if let Some(out) = &mut self.out {
            out.push_str(&self.src[from..to]);
        }
    }

    /// Starts editing at `at`: everything before it was kept.
    fn edit(&mut self, at: usize) -> &mut String {
        let src = self.src;
        self.out.get_or_insert_with(|| {
            let mut s = String::with_capacity(src.len() + 16);
            s.push_str(&src[..at]);
            s
        })
    }
}

/// A run of escapes encoding one non-ASCII character, starting at `b[i]`: its byte count and
/// whether any hex was lower case. Refuses non-UTF-8 and control characters (C1).
fn utf8_escapes(b: &[u8], i: usize, lead: u8) -> Result<(usize, bool), PathError> {
    let width = match lead {
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => return Err(PathError::NotUtf8),
    };
    let mut bytes = [lead, 0, 0, 0];
    let mut lower = false;
    for (k, slot) in bytes.iter_mut().enumerate().take(width).skip(1) {
        let at = i + 3 * k;
        if b.get(at) != Some(&b'%') {
            return Err(PathError::NotUtf8);
        }
        let (byte, l) = escape_at(b, at)?;
        *slot = byte;
        lower |= l;
    }
    let ch = std::str::from_utf8(&bytes[..width])
        .map_err(|_| PathError::NotUtf8)?
        .chars()
        .next()
        .ok_or(PathError::NotUtf8)?;
    if ch.is_control() {
        return Err(PathError::Control);
    }
    Ok((width, lower || escape_at(b, i)?.1))
}

/// Step 1 and 2 of §9.5: refusals, escapes decoded or upper-cased, raw bytes encoded.
fn canonical_escapes(path: &str) -> Result<Cow<'_, str>, PathError> {
    let b = path.as_bytes();
    let mut lazy = Lazy {
        src: path,
        out: None,
    };
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'%' {
            let (d, lower) = escape_at(b, i)?;
            match d {
                0x2F => return Err(PathError::EncodedSlash),
                0x5C => return Err(PathError::EncodedBackslash),
                0x00 => return Err(PathError::EncodedNul),
                0x25 => return Err(PathError::DoubleEncoding),
                0x01..=0x1F | 0x7F => return Err(PathError::Control),
                _ if is_unreserved(d) => lazy.edit(i).push(char::from(d)),
                0x80.. => {
                    let (width, lower) = utf8_escapes(b, i, d)?;
                    if lower {
                        let out = lazy.edit(i);
                        for k in 0..width {
                            push_escape(out, escape_at(b, i + 3 * k)?.0);
                        }
                    } else {
                        lazy.keep(i, i + 3 * width);
                    }
                    i += 3 * width;
                    continue;
                }
                _ if lower => push_escape(lazy.edit(i), d),
                _ => lazy.keep(i, i + 3),
            }
            i += 3;
        } else if c == b'\\' {
            return Err(PathError::Backslash);
        } else if c < 0x20 || c == 0x7F {
            return Err(PathError::Control);
        } else if c < 0x80 {
            if is_raw_ok(c) {
                lazy.keep(i, i + 1);
            } else {
                push_escape(lazy.edit(i), c);
            }
            i += 1;
        } else {
            // A raw non-ASCII character: `path` is a str, so it is whole.
            let ch = path[i..].chars().next().ok_or(PathError::NotUtf8)?;
            if ch.is_control() {
                return Err(PathError::Control);
            }
            let width = ch.len_utf8();
            let out = lazy.edit(i);
            for &byte in &b[i..i + width] {
                push_escape(out, byte);
            }
            i += width;
        }
    }
    Ok(match lazy.out {
        Some(s) => Cow::Owned(s),
        None => Cow::Borrowed(path),
    })
}

/// Steps 3 and 4: `;params` dropped, slashes merged, dot segments removed. `None` when the
/// path needs none of it.
fn resolve_segments(path: &str) -> Result<Option<String>, PathError> {
    let body = &path[1..];
    let needs =
        body.contains(';') || path.contains("//") || body.split('/').any(|s| s == "." || s == "..");
    if !needs {
        return Ok(None);
    }
    let count = body.split('/').count();
    let mut stack: Vec<&str> = Vec::with_capacity(count);
    for (k, raw) in body.split('/').enumerate() {
        let last = k + 1 == count;
        let segment = raw.split(';').next().unwrap_or_default();
        match segment {
            "." | "" => {}
            ".." => {
                if stack.pop().is_none() {
                    return Err(PathError::AboveRoot);
                }
            }
            s => {
                stack.push(s);
                continue;
            }
        }
        // A dot segment or an empty one at the end leaves a directory: `/a/.` is `/a/`.
        if last {
            stack.push("");
        }
    }
    let mut out = String::with_capacity(path.len());
    for s in &stack {
        out.push('/');
        out.push_str(s);
    }
    if out.is_empty() {
        out.push('/');
    }
    Ok(Some(out))
}

/// The canonical form of a request path (no query), or why it is refused. `*` (the target of
/// `OPTIONS *`) is returned as is: it matches no gate.
pub fn normalise(path: &str) -> Result<Cow<'_, str>, PathError> {
    if path == "*" {
        return Ok(Cow::Borrowed(path));
    }
    if !path.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    let escaped = canonical_escapes(path)?;
    Ok(match resolve_segments(&escaped)? {
        Some(resolved) => Cow::Owned(resolved),
        None => escaped,
    })
}

/// Why a configured gate prefix was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrefixError {
    #[error("{0}")]
    Path(#[from] PathError),
    #[error("must not end with `/` (`/adult` already covers `/adult/…`)")]
    TrailingSlash,
    #[error("must not contain `;`, empty segments, `.` or `..`")]
    Ambiguous,
}

/// A gate prefix: a canonical path matched on segment boundaries (`/adult` covers `/adult` and
/// `/adult/…`, not `/adultery`), optionally ignoring ASCII case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prefix {
    path: Box<str>,
    case_insensitive: bool,
}

impl Prefix {
    /// Validates a configured prefix; escapes and raw non-ASCII are stored canonically.
    pub fn new(prefix: &str, case_insensitive: bool) -> Result<Self, PrefixError> {
        if !prefix.starts_with('/') {
            return Err(PathError::NotAbsolute.into());
        }
        let escaped = canonical_escapes(prefix)?;
        if escaped != "/" {
            if escaped.ends_with('/') {
                return Err(PrefixError::TrailingSlash);
            }
            let ambiguous = escaped[1..]
                .split('/')
                .any(|s| s.is_empty() || s == "." || s == ".." || s.contains(';'));
            if ambiguous {
                return Err(PrefixError::Ambiguous);
            }
        }
        Ok(Prefix {
            path: escaped.into_owned().into_boxed_str(),
            case_insensitive,
        })
    }

    /// The canonical prefix.
    pub fn as_str(&self) -> &str {
        &self.path
    }

    /// Whether ASCII case is ignored when matching.
    pub fn case_insensitive(&self) -> bool {
        self.case_insensitive
    }

    /// Whether a [`normalise`]d path falls under this prefix.
    pub fn matches(&self, path: &str) -> bool {
        let p = self.path.as_bytes();
        if p == b"/" {
            return path.starts_with('/');
        }
        let b = path.as_bytes();
        let Some(head) = b.get(..p.len()) else {
            return false;
        };
        let same = if self.case_insensitive {
            head.eq_ignore_ascii_case(p)
        } else {
            head == p
        };
        same && matches!(b.get(p.len()), None | Some(b'/'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use PathError::*;

    #[test]
    fn canonical_paths_come_back_borrowed() {
        for p in [
            "/",
            "/adult",
            "/adult/",
            "/adult/x",
            "/a/b.c/d-e_f~g",
            "/%EC%84%B1%EC%9D%B8/x",
            "/a%20b",
            "/a%3Bb",
            "/a%3F",
            "/x:y@z!$&'()*+,=",
            "/.well-known/x",
            "/..a/a../...",
            "*",
        ] {
            match normalise(p) {
                Ok(Cow::Borrowed(b)) => assert_eq!(b, p),
                other => panic!("{p:?} → {other:?}"),
            }
        }
    }

    #[test]
    fn paths_are_brought_to_one_form() {
        let cases: &[(&str, &str)] = &[
            // §9.5's own examples
            ("//adult/x", "/adult/x"),
            ("/./adult/x", "/adult/x"),
            ("/x/../adult/x", "/adult/x"),
            ("/%61dult/x", "/adult/x"),
            ("/adult;p=1/x", "/adult/x"),
            // unreserved decoded, in either hex case
            ("/%41%44%55%4C%54", "/ADULT"),
            ("/%7e%2D%2e%5F", "/~-._"),
            ("/a/%2E%2E/adult", "/adult"),
            ("/a/%2e/adult", "/a/adult"),
            // other escapes: upper-cased hex, kept encoded
            ("/a%3bb", "/a%3Bb"),
            ("/%ec%84%b1", "/%EC%84%B1"),
            ("/%Ec%84%B1", "/%EC%84%B1"),
            // raw bytes outside pchar are encoded
            ("/성인", "/%EC%84%B1%EC%9D%B8"),
            ("/a b", "/a%20b"),
            ("/a\"<>`{|}^[]", "/a%22%3C%3E%60%7B%7C%7D%5E%5B%5D"),
            // params dropped per segment, also on dot segments (Tomcat's `..;`)
            ("/adult;jsessionid=1", "/adult"),
            ("/a;x/b;y/c;z", "/a/b/c"),
            ("/public/..;/adult/x", "/adult/x"),
            ("/public/.;x/adult", "/public/adult"),
            ("/;x/adult", "/adult"),
            // slashes merged
            ("///adult///x//", "/adult/x/"),
            ("//", "/"),
            // dot segments (RFC 3986 §5.2.4, with §5.4 examples)
            ("/a/b/c/./../../g", "/a/g"),
            ("/mid/content=5/../6", "/mid/6"),
            ("/a/.", "/a/"),
            ("/a/..", "/"),
            ("/a/b/..", "/a/"),
            ("/a/./b", "/a/b"),
            ("/.", "/"),
            ("/./", "/"),
            ("/adult/./", "/adult/"),
        ];
        for (input, want) in cases {
            assert_eq!(normalise(input).as_deref(), Ok(*want), "{input:?}");
            // The form is a fixed point.
            assert_eq!(normalise(want).as_deref(), Ok(*want), "{want:?} again");
        }
    }

    #[test]
    fn ambiguous_paths_are_refused() {
        let cases: &[(&str, PathError)] = &[
            ("/adult%2Fx", EncodedSlash),
            ("/adult%2fx", EncodedSlash),
            ("/public/..%2Fadult/page", EncodedSlash),
            ("/adult%5Cx", EncodedBackslash),
            ("/adult%5cx", EncodedBackslash),
            ("/adult\\x", Backslash),
            ("/adult%00", EncodedNul),
            ("/adult%252Fx", DoubleEncoding),
            ("/%25", DoubleEncoding),
            ("/%", MalformedEscape),
            ("/%4", MalformedEscape),
            ("/%zz", MalformedEscape),
            ("/%4g", MalformedEscape),
            ("/%%41", MalformedEscape),
            ("/a%09b", Control),
            ("/a%0Ab", Control),
            ("/a%0d%0aSet-Cookie:x", Control),
            ("/a%7F", Control),
            ("/a\tb", Control),
            ("/a\u{7f}", Control),
            ("/a%C2%85", Control),
            ("/a\u{85}", Control),
            ("/a%FF", NotUtf8),
            ("/a%C3", NotUtf8),
            ("/a%C3x", NotUtf8),
            ("/a%C3%28", NotUtf8),
            ("/a%80", NotUtf8),
            ("/a%C0%AF", NotUtf8),
            ("/a%E0%80%AF", NotUtf8),
            ("/a%ED%A0%80", NotUtf8),
            ("/a%F5%80%80%80", NotUtf8),
            ("/a%C3%g1", MalformedEscape),
            ("/..", AboveRoot),
            ("/../adult", AboveRoot),
            ("/a/../../adult", AboveRoot),
            ("/%2e%2e/adult", AboveRoot),
            ("/..;x/adult", AboveRoot),
            ("adult", NotAbsolute),
            ("", NotAbsolute),
            ("http://evil/adult", NotAbsolute),
        ];
        for (input, want) in cases {
            assert_eq!(normalise(input), Err(*want), "{input:?}");
        }
    }

    #[test]
    fn gate_prefixes_match_on_segment_boundaries() {
        let adult = Prefix::new("/adult", false).unwrap();
        let gated = ["/adult", "/adult/", "/adult/x", "/adult/x/y?"];
        let open = [
            "/adultery",
            "/adult-x",
            "/",
            "/x/adult",
            "/ADULT/x",
            "/adul",
        ];
        for p in gated {
            assert!(adult.matches(p), "{p}");
        }
        for p in open {
            assert!(!adult.matches(p), "{p}");
        }
        let ci = Prefix::new("/Adult", true).unwrap();
        for p in ["/adult", "/ADULT/x", "/aDuLt/"] {
            assert!(ci.matches(p), "{p}");
        }
        assert!(!ci.matches("/adultery"));
        let root = Prefix::new("/", false).unwrap();
        assert!(root.matches("/") && root.matches("/anything"));
        let deep = Prefix::new("/shop/adult", false).unwrap();
        assert!(deep.matches("/shop/adult/x") && !deep.matches("/shop/adults"));
    }

    #[test]
    fn every_section_9_5_form_is_gated_refused_or_passes() {
        let adult = Prefix::new("/adult", false).unwrap();
        let gated = [
            "//adult/x",
            "/./adult/x",
            "/x/../adult/x",
            "/%61dult/x",
            "/adult;p=1/x",
            "/adult;p=1",
            "/public/..;/adult/x",
            "///adult",
            "/%2e/adult",
            "/adult/%2e%2e/adult/x",
        ];
        for p in gated {
            let n = normalise(p).unwrap();
            assert!(adult.matches(&n), "{p} → {n}");
        }
        for p in ["/adultery", "/adult%2Dx", "/adult/../adultery"] {
            let n = normalise(p).unwrap();
            assert!(!adult.matches(&n), "{p} → {n}");
        }
        for p in ["/adult%2Fx", "/%2e%2e/adult", "/adult%5Cx", "/adult\\x"] {
            assert!(normalise(p).is_err(), "{p}");
        }
    }

    #[test]
    fn configured_prefixes_are_canonical_and_unambiguous() {
        assert_eq!(Prefix::new("/%61dult", false).unwrap().as_str(), "/adult");
        assert_eq!(
            Prefix::new("/성인", false).unwrap().as_str(),
            "/%EC%84%B1%EC%9D%B8"
        );
        assert!(
            Prefix::new("/성인", false)
                .unwrap()
                .matches(&normalise("/성인/x").unwrap())
        );
        assert_eq!(
            Prefix::new("/adult/", false).unwrap_err(),
            PrefixError::TrailingSlash
        );
        for p in ["/a//b", "/a/./b", "/a/../b", "/a;x", "/%2e%2e"] {
            assert_eq!(
                Prefix::new(p, false).unwrap_err(),
                PrefixError::Ambiguous,
                "{p}"
            );
        }
        assert_eq!(
            Prefix::new("adult", false).unwrap_err(),
            PrefixError::Path(NotAbsolute)
        );
        assert_eq!(
            Prefix::new("/a%2Fb", false).unwrap_err(),
            PrefixError::Path(EncodedSlash)
        );
    }

    /// Random paths built from the pieces that matter: whatever is accepted is canonical.
    #[test]
    fn any_accepted_path_is_canonical_and_a_fixed_point() {
        use rand::{Rng, SeedableRng};
        const PIECES: &[&str] = &[
            "/",
            "/",
            "/",
            ".",
            "..",
            "%2e",
            "%2E",
            "%2f",
            "%5c",
            "%25",
            "%00",
            "%09",
            ";",
            ";p=1",
            "a",
            "A",
            "adult",
            "%41",
            "%61",
            "%7e",
            "%",
            "%z",
            "%c3%a9",
            "%C3",
            "é",
            "성",
            "~",
            " ",
            "\\",
            "%3b",
            "%3B",
            ":",
            "@",
            "\u{85}",
            "%e2%80%ae",
            "\"",
        ];
        let adult = Prefix::new("/adult", false).unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(13);
        let mut accepted = 0;
        for _ in 0..20_000 {
            let mut path = String::from("/");
            for _ in 0..rng.random_range(0..10) {
                path.push_str(PIECES[rng.random_range(0..PIECES.len())]);
            }
            let Ok(n) = normalise(&path) else { continue };
            accepted += 1;
            let n = n.into_owned();
            assert!(n.starts_with('/'), "{path:?} → {n:?}");
            assert!(
                !n.contains("//") && !n.contains(';') && !n.contains('\\'),
                "{path:?} → {n:?}"
            );
            assert!(
                !n.split('/').any(|s| s == "." || s == ".."),
                "{path:?} → {n:?}"
            );
            assert!(n.bytes().all(|b| b.is_ascii_graphic()), "{path:?} → {n:?}");
            let b = n.as_bytes();
            for (i, _) in n.match_indices('%') {
                let (d, lower) = escape_at(b, i).unwrap();
                assert!(!lower && !is_unreserved(d), "{path:?} → {n:?}");
            }
            assert_eq!(normalise(&n).as_deref(), Ok(n.as_str()), "{path:?}");
            assert!(matches!(normalise(&n), Ok(Cow::Borrowed(_))), "{n:?}");
            // Matching the canonical form is the only matching there is.
            if adult.matches(&n) {
                assert!(n == "/adult" || n.starts_with("/adult/"), "{n:?}");
            }
        }
        assert!(accepted > 2_000, "only {accepted} accepted");
    }
}
