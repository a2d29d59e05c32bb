//! Escaping for HTML and inline scripts, and filling a template's placeholders.

use serde_json::json;

use crate::session::markup::*;

#[test]
fn html_escapes_the_five_characters_that_matter() {
    assert_eq!(
        html("<a href=\"x\" title='y'>&amp;</a>"),
        "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;amp;&lt;/a&gt;"
    );
    assert_eq!(html("성인 인증"), "성인 인증");
}

#[test]
fn script_literals_cannot_end_the_script_and_read_back_the_same() {
    let tricky = "</script><!--<script>&\u{2028}\u{2029}\"'\\";
    let v = json!({ "s": tricky, "n": 1, "list": ["<", ">"] });
    let out = js_json(&v);
    assert!(
        !out.contains(['<', '>', '&', '\u{2028}', '\u{2029}']),
        "{out}"
    );
    assert!(out.contains("\\u003c/script\\u003e\\u003c!--"));
    assert_eq!(serde_json::from_str::<serde_json::Value>(&out).unwrap(), v);
}

#[test]
fn templates_fill_known_placeholders_and_drop_unknown_ones() {
    let t = "<p>{{a}}</p>{{b}}{{missing}} {{a}} {{unclosed";
    assert_eq!(
        fill(t, &[("a", "1"), ("b", "<i>")]),
        "<p>1</p><i> 1 {{unclosed"
    );
    assert_eq!(fill("성인 {{x}} 인증", &[("x", "·")]), "성인 · 인증");
}
