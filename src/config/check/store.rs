//! [store]: where a fleet keeps its shared state. The store room's own check
//! ([`StoreSettings::check`]) is the judge; here each of its errors is placed on the key it is
//! about. Neither the URL's password nor the secret is ever echoed.

use std::time::Duration;

use super::Checker;
use crate::config::raw::{RawStore, S};
use crate::secret::Secret;
use crate::store::{MAX_TIMEOUT, StoreSettings, StoreSettingsError};

/// Stand-ins for a value already blamed, so the next check finds the next problem.
const GOOD_URL: &str = "redis://127.0.0.1:6379/0";
const GOOD_PREFIX: &str = "verigate:";
const GOOD_SECRET: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

impl Checker<'_> {
    /// `[store]`, its `timeout_ms` below each of `budgets` (a provider's table and its
    /// `timeout_ms`).
    pub(super) fn store(
        &mut self,
        raw: S<RawStore>,
        budgets: &[(&str, Duration)],
    ) -> StoreSettings {
        let t = raw.span();
        let r = raw.into_inner();
        let settings = StoreSettings {
            url: Secret::new(r.url.get_ref().trim()),
            key_prefix: r.key_prefix.get_ref().trim().to_string(),
            timeout: Duration::from_millis(*r.timeout_ms.get_ref()),
            secret: Secret::new(r.secret.get_ref().trim()),
        };
        // `check` names the first problem; repair that value in a copy and ask again, so that
        // every bad key of the table is reported at once. Four keys: four rounds at most.
        let mut probe = settings.clone();
        for _ in 0..4 {
            let Err(e) = probe.check() else { break };
            let span = match &e {
                StoreSettingsError::Scheme | StoreSettingsError::Url => {
                    probe.url = Secret::new(GOOD_URL);
                    r.url.span()
                }
                StoreSettingsError::Prefix => {
                    probe.key_prefix = GOOD_PREFIX.into();
                    r.key_prefix.span()
                }
                StoreSettingsError::Timeout | StoreSettingsError::TimeoutTooLong => {
                    probe.timeout = Duration::from_millis(1);
                    r.timeout_ms.span()
                }
                StoreSettingsError::Secret(_) => {
                    probe.secret = Secret::new(GOOD_SECRET);
                    r.secret.span()
                }
            };
            self.error(&span, &t, message(&e));
        }
        // A lookup asks the store before the API, inside the provider's budget: a store as slow
        // as the budget would leave the API no time at all.
        let timeout = settings.timeout;
        let valid = !timeout.is_zero() && timeout <= MAX_TIMEOUT;
        for (table, budget) in budgets {
            if valid && !budget.is_zero() && timeout >= *budget {
                let message = format!(
                    "`timeout_ms` in [store] ({} ms) must be below `timeout_ms` in [{table}] \
                     ({} ms): a lookup asks the store before the API, within the provider's \
                     budget",
                    timeout.as_millis(),
                    budget.as_millis()
                );
                self.error(&r.timeout_ms.span(), &t, message);
            }
        }
        settings
    }
}

/// The operator's sentence for one problem of `[store]`.
fn message(e: &StoreSettingsError) -> String {
    match e {
        StoreSettingsError::Scheme => "`url` in [store] must start with redis:// or rediss:// \
                                       (TLS), e.g. \"redis://10.0.0.5:6379/0\""
            .to_string(),
        StoreSettingsError::Url => "`url` in [store] is not a valid Redis URL \
                                    (redis[s]://[user:password@]host[:port][/db])"
            .to_string(),
        StoreSettingsError::Secret(why) => format!(
            "`secret` in [store] must be standard base64 of exactly 32 random bytes, best as \
             \"${{VARIABLE}}\" (`verigate keygen --alg hmac-sha256` prints one): {}",
            secret_problem(why)
        ),
        // The room's sentences for the prefix and the timeout already name their key.
        other => format!("[store]: {other}"),
    }
}

/// What is wrong with the secret, without the "secret 0" of a list of secrets.
fn secret_problem(e: &crate::seal::SealError) -> String {
    use crate::seal::SealError;
    match e {
        SealError::WrongLength { len, .. } => format!("it is {len} bytes"),
        SealError::NotBase64 { .. } => "it is not valid base64".to_string(),
        other => other.to_string(),
    }
}
