//! Pass 2: `${NAME}` on the parsed values, never on the raw text, so an environment value holding
//! quotes or newlines can never change the document's structure. `$${` is a literal `${`. An
//! unset variable (or a `${…}` that names none) is a problem at the reference as written, and
//! the value's span is "poisoned" so that the later passes do not blame it a second time.

use std::collections::HashSet;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::document::{Problems, Seg, value_phrase};

pub(super) fn interpolate_table(
    table: &mut DeTable<'_>,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
    path: &mut Vec<Seg>,
    problems: &mut Problems,
    poisoned: &mut HashSet<usize>,
) {
    for (key, value) in table.iter_mut() {
        path.push(Seg::Key(key.get_ref().to_string()));
        interpolate_value(value, text, env, path, problems, poisoned);
        path.pop();
    }
}

fn interpolate_value(
    value: &mut Spanned<DeValue<'_>>,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
    path: &mut Vec<Seg>,
    problems: &mut Problems,
    poisoned: &mut HashSet<usize>,
) {
    let span = value.span();
    match value.get_mut() {
        DeValue::String(s) => {
            if !s.contains('$') {
                return;
            }
            let (expanded, errors) = expand(s, env);
            if !errors.is_empty() {
                // Point at each reference as written; escapes in the literal can shift it, in
                // which case the start of the value is the best place left.
                let token = text.get(span.clone()).unwrap_or("");
                let mut from = 0;
                let (phrase, _) = value_phrase(path);
                for e in errors {
                    let at = match token.get(from..).and_then(|t| t.find(&e.written)) {
                        Some(i) => {
                            from += i + e.written.len();
                            span.start + from - e.written.len()
                        }
                        None => span.start,
                    };
                    problems.push(at, format!("{} (in {phrase})", e.message));
                }
                poisoned.insert(span.start);
            }
            *s = std::borrow::Cow::Owned(expanded);
        }
        DeValue::Table(t) => interpolate_table(t, text, env, path, problems, poisoned),
        DeValue::Array(a) => {
            for (i, item) in a.iter_mut().enumerate() {
                path.push(Seg::Index(i));
                interpolate_value(item, text, env, path, problems, poisoned);
                path.pop();
            }
        }
        _ => {}
    }
}

/// A `${…}` that could not be replaced: as written, and why.
pub(super) struct ExpandError {
    written: String,
    message: String,
}

/// Replaces every `${NAME}` in `s`; `$${` is a literal `${`. Unset variables become empty, so
/// that the caller can go on and report every one of them.
pub(super) fn expand(s: &str, env: &dyn Fn(&str) -> Option<String>) -> (String, Vec<ExpandError>) {
    let mut out = String::with_capacity(s.len());
    let mut errors = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let here = &rest[i..];
        if let Some(tail) = here.strip_prefix("$${") {
            out.push_str("${");
            rest = tail;
        } else if let Some(tail) = here.strip_prefix("${") {
            match tail.find('}') {
                Some(end) => {
                    let name = &tail[..end];
                    let written = format!("${{{name}}}");
                    if !is_var_name(name) {
                        // The text is not echoed: it may be part of a secret written inline.
                        errors.push(ExpandError {
                            written,
                            message: "`${…}` must hold a variable name (letters, digits and \
                                      `_`, not starting with a digit); write `$${` for a \
                                      literal `${`"
                                .to_string(),
                        });
                    } else if let Some(v) = env(name) {
                        out.push_str(&v);
                    } else {
                        errors.push(ExpandError {
                            written,
                            message: format!("environment variable `{name}` is not set"),
                        });
                    }
                    rest = &tail[end + 1..];
                }
                None => {
                    errors.push(ExpandError {
                        written: "${".to_string(),
                        message: "`${` is not closed by `}`: write `${NAME}`, or `$${` for a \
                                  literal `${`"
                            .to_string(),
                    });
                    out.push_str(here);
                    rest = "";
                }
            }
        } else {
            out.push('$');
            rest = &here[1..];
        }
    }
    out.push_str(rest);
    (out, errors)
}

fn is_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}
