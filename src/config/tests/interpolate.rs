//! Pass 2: `${NAME}` interpolation, its errors and what it cannot do to the document.

use super::*;
use crate::config::interpolate::expand;

#[test]
fn unset_environment_variables_are_each_named_and_located() {
    let text = format!(
        "[iamport]\nimp_key = \"${{NOPE_KEY}}\"\nimp_secret = \"x-${{NOPE_A}}-${{NOPE_B}}\"\n{MINIMAL}"
    );
    let all = located(&text);
    assert_eq!(
        all.iter().map(|e| (e.0, e.1)).collect::<Vec<_>>(),
        [(2, 12), (3, 17), (3, 27)],
        "{all:#?}"
    );
    assert!(
        all[0]
            .2
            .contains("environment variable `NOPE_KEY` is not set")
    );
    assert!(all[0].2.contains("`imp_key` in [iamport]"), "{}", all[0].2);
    assert!(all[1].2.contains("`NOPE_A`"));
    assert!(all[2].2.contains("`NOPE_B`"));
    // The values are not blamed again as empty credentials.
    assert!(!all.iter().any(|e| e.2.contains("must not be empty")));
}

#[test]
fn default_credentials_come_from_imp_key_and_imp_secret() {
    let only_key = |name: &str| (name == "IMP_KEY").then(|| "k".to_string());
    let err = parse(MINIMAL, "gateway.toml", &only_key).unwrap_err();
    assert_eq!(err.0.len(), 1, "{err}");
    let e = &err.0[0];
    assert_eq!((e.line, e.column), (1, 1));
    assert!(
        e.message
            .contains("environment variable `IMP_SECRET` is not set")
    );
    assert!(e.message.contains("defaults to \"${IMP_SECRET}\""));
    // With an [iamport] table present the problem points at it.
    let text = format!("\n[iamport]\ntimeout_ms = 100\n{MINIMAL}");
    let err = parse(&text, "gateway.toml", &only_key).unwrap_err();
    assert_eq!((err.0[0].line, err.0[0].column), (2, 1));
}

#[test]
fn interpolation_reaches_strings_inside_arrays_and_tables() {
    let text =
        format!("[server]\nlisten = [\"${{HOST}}:${{PORT}}\", \"127.0.0.1:$${{x}}\"]\n{MINIMAL}");
    let errs = located(&text);
    // `$${` is a literal `${`: not a variable, and then not an address either.
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert!(
        errs[0].2.contains("`127.0.0.1:${x}` is not an IP address"),
        "{}",
        errs[0].2
    );
    // The address check points at the value, the second string of the array.
    assert_eq!((errs[0].0, errs[0].1), (2, 30));
    let text = format!("[server]\nlisten = [\"${{HOST}}:${{PORT}}\"]\n{MINIMAL}");
    assert_eq!(
        ok(&text).server.listen,
        vec!["127.0.0.1:9000".parse().unwrap()]
    );
}

#[test]
fn interpolated_quotes_and_newlines_cannot_change_the_document() {
    let text = format!("[upstream]\nsni = \"${{QUOTED}}\"\n{MINIMAL}");
    let c = ok(&text);
    assert_eq!(c.upstream.sni, env("QUOTED").unwrap().trim());
    assert_eq!(c.server.threads, 2);
}

#[test]
fn expand_handles_escapes_unclosed_and_invalid_references() {
    let cases: [(&str, &str, usize); 6] = [
        ("plain $ sign", "plain $ sign", 0),
        ("${PORT}", "9000", 0),
        ("$${PORT}", "${PORT}", 0),
        ("a${PORT", "a${PORT", 1),
        ("${1X}", "", 1),
        ("${}", "", 1),
    ];
    for (input, want, n_errors) in cases {
        let (out, errs) = expand(input, &env);
        assert_eq!((out.as_str(), errs.len()), (want, n_errors), "{input}");
    }
}
