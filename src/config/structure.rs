//! Pass 3: the document into the serde structs of `raw.rs`, one error per bad key.
//!
//! serde stops at its first error, so the entry it points at is removed from the document and
//! deserialization tried again. serde's messages are rephrased in the operator's words: which
//! key, in which table, what would be valid; string values are never echoed (they may come from
//! the environment).

use serde::Deserialize;
use toml::Spanned;
use toml::de::DeTable;

use super::document::{Problems, Seg, in_table, path_to, remove_at, table_at, value_phrase};
use super::raw::{RawConfig, enum_values};

/// Enough for any real file; a bound so that a pathological one cannot loop for long.
const MAX_STRUCTURAL_ERRORS: usize = 100;

/// Deserializes the raw structs, collecting one error per bad entry: after each serde error the
/// entry it points at is removed and the document tried again. `None` if anything was wrong.
pub(super) fn deserialize_document(
    mut doc: Spanned<DeTable<'_>>,
    problems: &mut Problems,
) -> Option<RawConfig> {
    let root_span = doc.span();
    // Paths removed so far: a "missing key" that is only missing because we removed it is not
    // a second problem.
    let mut removed: Vec<Vec<Seg>> = Vec::new();
    let mut failed = false;
    for _ in 0..MAX_STRUCTURAL_ERRORS {
        let err = match RawConfig::deserialize(toml::de::Deserializer::from(doc.clone())) {
            Ok(raw) => return (!failed).then_some(raw),
            Err(e) => e,
        };
        failed = true;
        let span = err.span().unwrap_or(0..0);
        let path = if span == root_span {
            Vec::new()
        } else {
            path_to(doc.get_ref(), span.start)
        };
        let message = err.message();
        if let Some(field) = missing_field(message) {
            // serde names only the first missing key; name them all, but not the ones that
            // are only missing because an earlier error removed them.
            let present = |key: &str| {
                let mut p = path.clone();
                p.push(Seg::Key(key.to_string()));
                removed.contains(&p)
                    || table_at(doc.get_ref(), &path).is_some_and(|t| t.contains_key(key))
            };
            let mut missing: Vec<&str> = Vec::new();
            for key in std::iter::once(field).chain(required_keys(&path).iter().copied()) {
                if !present(key) && !missing.contains(&key) {
                    missing.push(key);
                }
            }
            if !missing.is_empty() {
                problems.push(span.start, missing_message(&missing, &path));
            }
        } else {
            problems.push(span.start, structural_message(message, &path));
        }
        if path.is_empty() || !remove_at(doc.get_mut(), &path) {
            return None;
        }
        if matches!(path.last(), Some(Seg::Index(_))) {
            // Later elements moved down by one; old paths into this array no longer mean the
            // same entries.
            let array = &path[..path.len() - 1];
            removed.retain(|p| !p.starts_with(array));
        }
        removed.push(path);
    }
    None
}

/// The keys without a default in the table at `path`, in the order the file example shows them.
fn required_keys(path: &[Seg]) -> &'static [&'static str] {
    let keys: Vec<&str> = path
        .iter()
        .filter_map(|s| match s {
            Seg::Key(k) => Some(k.as_str()),
            Seg::Index(_) => None,
        })
        .collect();
    match keys.as_slice() {
        [] => &["routes"],
        ["server", "tls"] => &["cert", "key"],
        ["signing"] => &["active_key"],
        ["signing", "keys"] => &["id", "alg"],
        ["routes"] => &["name", "method", "path", "policy"],
        ["session"] => &["secrets"],
        ["gates"] => &["name", "prefix", "policy"],
        ["store"] => &["url", "secret"],
        _ => &[],
    }
}

fn missing_message(missing: &[&str], path: &[Seg]) -> String {
    let hint = if path.is_empty() && missing.contains(&"routes") {
        " (at least one [[routes]] table is required)"
    } else {
        ""
    };
    let names: Vec<String> = missing.iter().map(|k| format!("`{k}`")).collect();
    match names.as_slice() {
        [one] => format!(
            "missing key {one} {}, which has no default{hint}",
            in_table(path)
        ),
        _ => format!(
            "missing keys {} {}, which have no default{hint}",
            names.join(", "),
            in_table(path)
        ),
    }
}

fn missing_field(message: &str) -> Option<&str> {
    message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next())
}

/// Every `` `name` `` in `s`.
fn ticked(s: &str) -> Vec<&str> {
    s.split('`').skip(1).step_by(2).collect()
}

/// serde's message, rephrased for an operator: which key, where, and what would be valid.
/// String values are never echoed, since they may come from the environment.
fn structural_message(message: &str, path: &[Seg]) -> String {
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (name, tail) = rest.split_once('`').unwrap_or((rest, ""));
        let valid = ticked(tail);
        let table = in_table(path.get(..path.len().saturating_sub(1)).unwrap_or(&[]));
        return if valid.is_empty() {
            format!("unknown key `{name}` {table}, which takes no keys")
        } else {
            format!(
                "unknown key `{name}` {table}; valid keys: {}",
                valid.join(", ")
            )
        };
    }
    if let Some(name) = missing_field(message) {
        return missing_message(&[name], path);
    }
    let (what, key) = value_phrase(path);
    if let Some(rest) = message.strip_prefix("invalid type: ") {
        let (found, expected) = rest.split_once(", expected ").unwrap_or((rest, ""));
        let expected = match enum_values(&key) {
            Some(values) if expected.starts_with("enum") || expected.is_empty() => {
                format!("one of {values}")
            }
            _ => expected_phrase(expected),
        };
        return format!("{what} must be {expected}, not {}", found_phrase(found));
    }
    if let Some(rest) = message.strip_prefix("invalid value: ") {
        let (found, expected) = rest.split_once(", expected ").unwrap_or((rest, ""));
        let found = match found.strip_prefix("integer ") {
            Some(n) => n.trim_matches('`').to_string(),
            None => found_phrase(found),
        };
        return format!("{what} must be {}, not {found}", expected_phrase(expected));
    }
    if let Some(rest) = message.strip_prefix("unknown variant `") {
        let (name, tail) = rest.split_once('`').unwrap_or((rest, ""));
        let allowed: Vec<String> = ticked(tail).iter().map(|v| format!("\"{v}\"")).collect();
        return format!(
            "{what} must be one of {}, not \"{name}\"",
            allowed.join(", ")
        );
    }
    if message == "wanted string or table" {
        let values = enum_values(&key).unwrap_or("the documented values");
        return format!("{what} must be one of {values} (a string)");
    }
    if message.contains("overflowed") {
        return format!("{what} is too large");
    }
    format!("{what}: {message}")
}

fn expected_phrase(expected: &str) -> String {
    match expected {
        "u8" | "u16" | "u32" | "u64" | "usize" => "a non-negative integer".to_string(),
        "i8" | "i16" | "i32" | "i64" | "isize" => "an integer".to_string(),
        "a string" | "a borrowed string" => "a string".to_string(),
        "a boolean" => "true or false".to_string(),
        "a sequence" => "an array".to_string(),
        "a map" => "a table".to_string(),
        e if e.starts_with("struct ") => "a table".to_string(),
        e if e.starts_with("enum ") => "a string".to_string(),
        e => e.to_string(),
    }
}

fn found_phrase(found: &str) -> String {
    match found.split_whitespace().next().unwrap_or("") {
        "string" => "a string",
        "integer" => "an integer",
        "floating" => "a float",
        "boolean" => "a boolean",
        "map" => "a table (or date)",
        "sequence" => "an array",
        _ => "a value of another type",
    }
    .to_string()
}
