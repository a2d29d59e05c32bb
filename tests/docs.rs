//! The repository stands on its own: a user who clones it has no spec beside it, so the docs and
//! the code cite only files inside the repository, and every relative link in the Markdown resolves.

use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Text files a user reads: the Markdown, the example configs, the sources and tests.
fn tracked_text_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') || matches!(name.as_ref(), "target" | "node_modules") {
                continue;
            }
            if path.is_dir() {
                walk(&path, out);
            } else if matches!(
                path.extension().and_then(|e| e.to_str()),
                Some(
                    "md" | "toml"
                        | "rs"
                        | "sh"
                        | "py"
                        | "mjs"
                        | "php"
                        | "conf"
                        | "tmpl"
                        | "service"
                )
            ) {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(Path::new(ROOT), &mut out);
    out
}

#[test]
fn nothing_cites_a_file_outside_the_repository() {
    let this_file = Path::new(ROOT).join("tests/docs.rs");
    let mut offenders = Vec::new();
    for path in tracked_text_files() {
        if path == this_file {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        for (n, line) in text.lines().enumerate() {
            let cites_private_spec = line.contains("../shared")
                || line.contains("gateway.md")
                || line
                    .replace("docs/iamport-api.md", "")
                    .contains("iamport-api.md");
            if cites_private_spec {
                offenders.push(format!("{}:{}: {line}", path.display(), n + 1));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "cites files a user does not have:\n{}",
        offenders.join("\n")
    );
}

#[test]
fn every_relative_markdown_link_resolves() {
    let link = |s: &str| -> Vec<String> {
        // `](target)` of inline links; anchors and absolute URLs are not files.
        s.split("](")
            .skip(1)
            .filter_map(|rest| rest.split(')').next())
            .map(|t| t.split('#').next().unwrap_or("").trim().to_owned())
            .filter(|t| !t.is_empty() && !t.contains("://") && !t.starts_with("mailto:"))
            .collect()
    };
    let mut broken = Vec::new();
    for path in tracked_text_files() {
        if path.extension().and_then(|e| e.to_str()) != Some("md") {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let dir = path.parent().unwrap_or(Path::new(ROOT));
        for target in link(&text) {
            if !dir.join(&target).exists() {
                broken.push(format!("{}: {target}", path.display()));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "links to missing files:\n{}",
        broken.join("\n")
    );
}
