//! Resolving an imp_uid: the moka cache first, then the API, inside one time budget.
//!
//! Concurrent requests for the same imp_uid share one API call (moka coalesces the
//! initialisation). Found verifications live `ttl`; "not found" and unfinished verifications
//! live only `negative_ttl` (an attempt may still complete); errors are never cached.

use std::sync::Arc;
use std::time::Duration;

use moka::Expiry;
use moka::future::Cache;
use tokio::time::Instant;

use crate::config::CacheSettings;
use crate::iamport::{ApiError, IamportClient};
use crate::identity::Identity;
use crate::imp_uid::ImpUid;

/// What the API said about one imp_uid.
#[derive(Debug, Clone)]
pub enum Resolved {
    Found(Arc<Identity>),
    NotFound,
}

/// Whether an answer came from the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheStatus {
    Hit,
    Miss,
}

impl CacheStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CacheStatus::Hit => "hit",
            CacheStatus::Miss => "miss",
        }
    }
}

struct Lifetimes {
    ttl: Duration,
    negative_ttl: Duration,
}

impl Expiry<ImpUid, Resolved> for Lifetimes {
    fn expire_after_create(
        &self,
        _key: &ImpUid,
        value: &Resolved,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        Some(match value {
            Resolved::Found(id) if id.certified => self.ttl,
            _ => self.negative_ttl,
        })
    }
}

/// The cache in front of the API client.
pub struct Resolver {
    client: Arc<IamportClient>,
    cache: Cache<ImpUid, Resolved>,
    budget: Duration,
}

impl Resolver {
    /// A resolver with the configured cache and a `budget` per resolution.
    pub fn new(client: Arc<IamportClient>, settings: &CacheSettings, budget: Duration) -> Self {
        let cache = Cache::builder()
            .max_capacity(settings.capacity)
            .expire_after(Lifetimes {
                ttl: settings.ttl,
                negative_ttl: settings.negative_ttl,
            })
            .build();
        Resolver {
            client,
            cache,
            budget,
        }
    }

    /// The API client behind the cache.
    pub fn client(&self) -> &Arc<IamportClient> {
        &self.client
    }

    /// Entries currently cached, after moka's pending maintenance (so the count is current).
    pub async fn entries(&self) -> u64 {
        self.cache.run_pending_tasks().await;
        self.cache.entry_count()
    }

    /// Resolves `imp_uid` from the cache or, once for all concurrent callers, from the API.
    pub async fn resolve(&self, imp_uid: &ImpUid) -> Result<(Resolved, CacheStatus), ApiError> {
        let client = &self.client;
        let deadline = Instant::now() + self.budget;
        let entry = self
            .cache
            .entry_by_ref(imp_uid)
            .or_try_insert_with(async {
                match client.certification(imp_uid, deadline).await? {
                    Some(c) => Ok(Resolved::Found(Arc::new(Identity::from_certification(
                        imp_uid.clone(),
                        c,
                    )))),
                    None => Ok(Resolved::NotFound),
                }
            })
            .await
            .map_err(|e: Arc<ApiError>| (*e).clone())?;
        let status = if entry.is_fresh() {
            CacheStatus::Miss
        } else {
            CacheStatus::Hit
        };
        Ok((entry.into_value(), status))
    }
}
