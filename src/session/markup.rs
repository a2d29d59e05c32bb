//! The pages verigate serves are HTML files with `{{name}}` placeholders ([`fill`]), and every
//! value put into one is escaped for the context it lands in:
//!
//! - [`html`]: text and double- or single-quoted attribute values (`& < > " '`).
//! - [`js_json`]: a value written into an inline `<script>` as a JavaScript literal. serde_json
//!   makes a valid literal; on top of it `<`, `>` and `&` become `\u003c`, `\u003e`, `\u0026`
//!   (so no `</script>` or `<!--` can end or bend the script element), and U+2028 / U+2029
//!   become `\u2028` / `\u2029` (line terminators in older JavaScript, not in JSON).
//!
//! Both escape strings that came from operators (page texts, codes) and from visitors (`rd`).

use std::fmt::Write;

/// `s` escaped for HTML text and quoted attribute values.
pub fn html(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `value` as a JavaScript literal that is safe inside an inline `<script>` element.
pub fn js_json(value: &serde_json::Value) -> String {
    // Serialising a `Value` cannot fail (its keys are strings).
    let json = value.to_string();
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        match c {
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                // Outside a JSON string these characters never occur, so escaping them as
                // `\uXXXX` is always inside a string, where it means the same character.
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

/// `template` with every `{{name}}` replaced by the value given for `name` (already escaped for
/// its context). A placeholder without a value becomes empty; the tests of each page check that
/// none is left.
pub fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let extra: usize = values.iter().map(|(_, v)| v.len()).sum();
    let mut out = String::with_capacity(template.len() + extra);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let name = &after[..end];
        if let Some((_, value)) = values.iter().find(|(n, _)| *n == name) {
            out.push_str(value);
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}
