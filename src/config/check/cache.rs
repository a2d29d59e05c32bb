//! [cache]: capacity and lifetimes.

use std::time::Duration;

use super::Checker;
use crate::config::raw::{RawCache, S};
use crate::resolve::CacheSettings;

impl Checker<'_> {
    pub(super) fn cache(&mut self, raw: S<RawCache>) -> CacheSettings {
        let t = raw.span();
        let r = raw.into_inner();
        if *r.capacity.get_ref() == 0 {
            self.error(
                &r.capacity.span(),
                &t,
                "`capacity` in [cache] must be at least 1".to_string(),
            );
        }
        CacheSettings {
            capacity: *r.capacity.get_ref(),
            ttl: Duration::from_secs(r.ttl_secs),
            negative_ttl: Duration::from_secs(r.negative_ttl_secs),
        }
    }
}
