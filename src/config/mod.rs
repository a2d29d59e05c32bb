//! `gateway.toml`: the operator's file, parsed once into validated, typed settings.
//!
//! [`parse`] makes four passes over one parsed document so that a single `verigate check`
//! reports every problem at once, each as `file:line:column: message`:
//!
//! 1. **Syntax** (here): toml's recoverable parser, which lists every syntax error it can find.
//! 2. **Interpolation** (`interpolate.rs`): `${NAME}` in every string value is replaced from the
//!    environment. It runs on the parsed values, never on the raw text, so an environment value
//!    holding quotes or newlines can never change the document's structure. An unset variable is
//!    an error at the place it is written; `$${` stands for a literal `${`.
//! 3. **Structure** (`structure.rs`, over the serde structs of `raw.rs`: `deny_unknown_fields`,
//!    with the defaults of README, "Configuration"). serde stops at its first error, so the
//!    offending entry is removed from the document (`document.rs` finds it) and deserialization
//!    tried again, which yields one error per bad key instead of one per file.
//! 4. **Meaning** (`check/`, one file per section): addresses, ranges, names that must refer to
//!    something. Every problem is collected; a value whose interpolation already failed is not
//!    blamed a second time.
//!
//! The raw structs never leave this module: the rest of the gateway sees only [`Config`]
//! (`types.rs`), so no other module holds a raw string that could be invalid. `describe.rs` is
//! what `verigate check` prints. Nothing here reads key files (the signing module does) and no
//! message ever contains a secret.

mod check;
mod describe;
mod document;
mod interpolate;
mod raw;
mod raw_session;
mod structure;
mod types;

#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use toml::de::DeTable;

pub use crate::identity::ForwardField;
pub use crate::provider::iamport_v1::IamportSettings;
pub use crate::resolve::CacheSettings;
pub use crate::secret::Secret;
pub use crate::signing::{
    HMAC_SECRET_MIN_BYTES, HmacSecretError, KeyAlg, KeyMaterial, SigningKey, SigningSettings,
    decode_hmac_secret,
};
pub use types::{
    AccessLogTarget, Config, HeaderSettings, HealthCheck, OnDeny, OnFailure, Route, ServerSettings,
    TlsSettings, UpstreamSettings,
};

use check::Checker;
use document::Problems;

/// The largest accepted `server.max_body_bytes`: pingora 0.9 keeps at most 64 KiB of a request
/// body for replaying it upstream, so a larger intercepted body could not be forwarded intact.
pub const MAX_BODY_BYTES_LIMIT: usize = 65_536;

/// Where the pid file and the upgrade socket go by default outside systemd, relative to the
/// config file's directory.
pub const DEFAULT_RUNTIME_DIR: &str = "run";

/// One problem found in the file, located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The path as given to [`load`], or the name given to [`parse`].
    pub file: String,
    /// 1-based.
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
    /// What is wrong and what would be valid; never contains a secret.
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )
    }
}

/// Every problem found, in file order. Never empty.
#[derive(Debug, Clone)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl std::fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Reads and validates the file at `path`, taking `${NAME}` values from the process environment.
///
/// Errors name the file as `path` is written. A file that cannot be read (missing, not UTF-8,
/// a directory) is one error at 1:1 carrying the OS error.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    let file_name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors(vec![ConfigError {
            file: file_name.clone(),
            line: 1,
            column: 1,
            message: format!("cannot read {file_name}: {e}"),
        }])
    })?;
    let mut config = parse(&text, &file_name, &|name| std::env::var(name).ok())?;
    config.resolve_paths(&config_dir(path));
    Ok(config)
}

/// The absolute directory of the config file at `path`: relative paths in it are relative to
/// this directory, whatever the working directory (`run --daemon` works from `/`).
pub fn config_dir(path: &Path) -> PathBuf {
    let dir = path.parent().unwrap_or(Path::new(""));
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    std::path::absolute(dir).unwrap_or_else(|_| dir.to_owned())
}

/// Validates `text` as the contents of `file_name`, with `env` looking up `${NAME}` values.
///
/// `env` returning `None` means the variable is unset, which is an error. On failure every
/// problem found is returned, sorted by position in the file.
pub fn parse(
    text: &str,
    file_name: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigErrors> {
    let (mut doc, syntax) = DeTable::parse_recoverable(text);
    let mut problems = Problems::default();
    if !syntax.is_empty() {
        // The recovered tree may be missing whole tables; judging it would only add noise.
        for e in &syntax {
            problems.push(e.span().map_or(0, |s| s.start), e.message().to_string());
        }
        return Err(problems.into_errors(text, file_name));
    }
    let mut poisoned = HashSet::new();
    interpolate::interpolate_table(
        doc.get_mut(),
        text,
        env,
        &mut Vec::new(),
        &mut problems,
        &mut poisoned,
    );
    let Some(raw) = structure::deserialize_document(doc, &mut problems) else {
        return Err(problems.into_errors(text, file_name));
    };
    let mut cx = Checker {
        problems,
        poisoned: &poisoned,
        env,
        text,
    };
    let config = cx.config(raw);
    if cx.problems.is_empty() {
        Ok(config)
    } else {
        Err(cx.problems.into_errors(text, file_name))
    }
}
