//! The used set of a lone gateway (no `[store]`): ids that passed a single-use route, kept in
//! process, each for the freshness window it was stored with.
//!
//! moka's entry API makes `first_use` atomic within the process: of concurrent requests for one
//! key, exactly one initialises the entry and sees it fresh. The set never fails; it only
//! forgets, at [`USED_CAPACITY`] entries or when an entry's window has passed.

use std::time::Duration;

use async_trait::async_trait;

use super::{StoreError, UseKey, UsedSet};

/// Single-use ids remembered at most (a verification costs a real person a phone check, so
/// this bound is far above any real traffic of fresh verifications).
pub const USED_CAPACITY: u64 = 1_000_000;

/// How long a used id is remembered when its policy has no freshness window: a replay older
/// than this would pass again (`verigate check` warns about such routes).
pub const UNBOUNDED_REPLAY_MEMORY: Duration = Duration::from_secs(24 * 3600);

/// Each used id expires after the window it was stored with.
struct RememberFor;

impl moka::Expiry<UseKey, Duration> for RememberFor {
    fn expire_after_create(
        &self,
        _key: &UseKey,
        value: &Duration,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        Some(*value)
    }
}

/// The in-process [`UsedSet`].
pub struct MemoryUsedSet {
    used: moka::future::Cache<UseKey, Duration>,
}

impl Default for MemoryUsedSet {
    fn default() -> Self {
        Self::with_capacity(USED_CAPACITY)
    }
}

impl MemoryUsedSet {
    /// A set remembering at most `capacity` ids.
    pub fn with_capacity(capacity: u64) -> Self {
        MemoryUsedSet {
            used: moka::future::Cache::builder()
                .max_capacity(capacity)
                .expire_after(RememberFor)
                .build(),
        }
    }
}

#[async_trait]
impl UsedSet for MemoryUsedSet {
    async fn first_use(&self, key: &UseKey, remember: Duration) -> Result<bool, StoreError> {
        Ok(self
            .used
            .entry(key.clone())
            .or_insert_with(async { remember })
            .await
            .is_fresh())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::conformance;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn memory_passes_the_used_set_suite() {
        conformance::used_set(std::sync::Arc::new(MemoryUsedSet::default())).await;
    }
}
