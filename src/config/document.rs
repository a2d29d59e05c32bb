//! Where things are in the document: byte offsets to `line:column`, paths of keys and array
//! elements ([`Seg`]) found from an offset, removed, or described in operator words ("`threads`
//! in [server]"), and the located [`Problems`] every pass adds to.

use toml::Spanned;
use toml::de::{DeArray, DeTable, DeValue};

use super::{ConfigError, ConfigErrors};

/// Problems found so far, each at a byte offset into the file.
#[derive(Default)]
pub(super) struct Problems(Vec<(usize, String)>);

impl Problems {
    pub(super) fn push(&mut self, offset: usize, message: String) {
        self.0.push((offset, message));
    }

    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(super) fn into_errors(mut self, text: &str, file: &str) -> ConfigErrors {
        // Stable: problems at one place keep the order they were found in.
        self.0.sort_by_key(|(offset, _)| *offset);
        ConfigErrors(
            self.0
                .into_iter()
                .map(|(offset, message)| {
                    let (line, column) = line_column(text, offset);
                    ConfigError {
                        file: file.to_string(),
                        line,
                        column,
                        message,
                    }
                })
                .collect(),
        )
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub(super) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (
        before.matches('\n').count() + 1,
        before[line_start..].chars().count() + 1,
    )
}

/// One step of a path into the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Seg {
    Key(String),
    Index(usize),
}

/// Where a table is, as written in the file: "in [server]", "in [[routes]]",
/// "in [policies.adult]", "at the top level".
pub(super) fn in_table(path: &[Seg]) -> String {
    let keys: Vec<&str> = path
        .iter()
        .filter_map(|s| match s {
            Seg::Key(k) => Some(k.as_str()),
            Seg::Index(_) => None,
        })
        .collect();
    if keys.is_empty() {
        "at the top level".to_string()
    } else if matches!(path.last(), Some(Seg::Index(_))) {
        format!("in [[{}]]", keys.join("."))
    } else {
        format!("in [{}]", keys.join("."))
    }
}

/// "`threads` in [server]", or "an element of `listen` in [server]", for a path to a value.
pub(super) fn value_phrase(path: &[Seg]) -> (String, String) {
    let element = matches!(path.last(), Some(Seg::Index(_)));
    let key_at = path.iter().rposition(|s| matches!(s, Seg::Key(_)));
    let Some(key_at) = key_at else {
        return ("the document".to_string(), String::new());
    };
    let key = match &path[key_at] {
        Seg::Key(k) => k.clone(),
        Seg::Index(_) => String::new(),
    };
    let table = in_table(&path[..key_at]);
    let phrase = if element {
        format!("an element of `{key}` {table}")
    } else {
        format!("`{key}` {table}")
    };
    (phrase, key)
}

/// The path to the innermost key or element at byte offset `at`.
pub(super) fn path_to(table: &DeTable<'_>, at: usize) -> Vec<Seg> {
    let mut path = Vec::new();
    if find_in_table(table, at, &mut path) {
        path
    } else {
        Vec::new()
    }
}

fn find_in_table(table: &DeTable<'_>, at: usize, path: &mut Vec<Seg>) -> bool {
    for (key, value) in table.iter() {
        path.push(Seg::Key(key.get_ref().to_string()));
        if find_in_value(value, at, path) || key.span().contains(&at) {
            return true;
        }
        path.pop();
    }
    false
}

fn find_in_value(value: &Spanned<DeValue<'_>>, at: usize, path: &mut Vec<Seg>) -> bool {
    // Children first: a `[table]`'s own span is only its header, and an inline value's span
    // encloses its children's.
    match value.get_ref() {
        DeValue::Table(t) if find_in_table(t, at, path) => return true,
        DeValue::Array(a) => {
            for (i, item) in a.iter().enumerate() {
                path.push(Seg::Index(i));
                if find_in_value(item, at, path) {
                    return true;
                }
                path.pop();
            }
        }
        _ => {}
    }
    value.span().contains(&at)
}

/// Removes the key or array element at `path`; false when there is nothing to remove.
pub(super) fn remove_at(table: &mut DeTable<'_>, path: &[Seg]) -> bool {
    match path {
        [Seg::Key(k)] => table.remove(k.as_str()).is_some(),
        [Seg::Key(k), rest @ ..] => table
            .get_mut(k.as_str())
            .is_some_and(|v| remove_in_value(v.get_mut(), rest)),
        _ => false,
    }
}

fn remove_in_value(value: &mut DeValue<'_>, path: &[Seg]) -> bool {
    match (value, path) {
        (DeValue::Table(t), _) => remove_at(t, path),
        (DeValue::Array(a), [Seg::Index(i)]) if *i < a.len() => {
            let old = std::mem::replace(a, DeArray::new());
            *a = old
                .into_iter()
                .enumerate()
                .filter(|(j, _)| j != i)
                .map(|(_, v)| v)
                .collect();
            true
        }
        (DeValue::Array(a), [Seg::Index(i), rest @ ..]) => a
            .get_mut(*i)
            .is_some_and(|v| remove_in_value(v.get_mut(), rest)),
        _ => false,
    }
}

/// The table at `path`, if that is one.
pub(super) fn table_at<'d, 'i>(table: &'d DeTable<'i>, path: &[Seg]) -> Option<&'d DeTable<'i>> {
    let mut value: Option<&DeValue<'i>> = None;
    let mut current = table;
    for seg in path {
        let next = match (seg, value) {
            (Seg::Key(k), None) => current.get(k.as_str())?,
            (Seg::Index(i), Some(DeValue::Array(a))) => a.get(*i)?,
            _ => return None,
        };
        match next.get_ref() {
            DeValue::Table(t) => {
                current = t;
                value = None;
            }
            other => value = Some(other),
        }
    }
    match value {
        None => Some(current),
        Some(_) => None,
    }
}
