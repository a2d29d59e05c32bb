//! The one i'mport V1 access token of the process, and when to replace it.
//!
//! The token is read lock-free on every lookup ([`ArcSwapOption`]); only a refresh takes the
//! mutex, so one request at a time asks `getToken` while the others wait for its answer.
//! [`refresh_at`] is the pure rule: the deadline comes from the API's own `now` (never its
//! `expired_at` against our clock), a minute early.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use http::HeaderValue;
use tokio::time::Instant;

/// How early before its expiry the token is replaced.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// The longest lifetime believed (the API's are 30 minutes): a larger one is held to this.
pub const MAX_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// The live access token.
pub struct Token {
    /// The `Authorization` value.
    pub header: HeaderValue,
    /// After this instant the token is replaced before use.
    pub refresh_at: Instant,
}

/// When a token received at `received`, whose answer said `now` and `expired_at` (the API's
/// clock, UNIX seconds), is to be replaced: a minute before it expires, but never sooner than a
/// second after receipt (an API that hands back a nearly-expired token must not be asked again
/// on every request), and never after it expires.
pub fn refresh_at(received: Instant, now: i64, expired_at: i64) -> Instant {
    // The API's clock, not ours: the token lives `expired_at - now` seconds from receipt.
    let lifetime = Duration::from_secs(u64::try_from(expired_at.saturating_sub(now)).unwrap_or(0))
        .min(MAX_LIFETIME);
    let expires = received + lifetime;
    expires
        .checked_sub(REFRESH_MARGIN)
        .unwrap_or(received)
        .max(received + Duration::from_secs(1))
        .min(expires)
}

/// The shared token and the lock its refresh takes.
#[derive(Default)]
pub struct TokenCell {
    current: ArcSwapOption<Token>,
    /// Held by the one caller refreshing.
    pub refresh: tokio::sync::Mutex<()>,
}

impl TokenCell {
    /// The token, when one is held and not yet due for replacement at `now`.
    pub fn valid(&self, now: Instant) -> Option<Arc<Token>> {
        self.current.load_full().filter(|t| now < t.refresh_at)
    }

    /// Keeps `t` as the token.
    pub fn store(&self, t: Arc<Token>) {
        self.current.store(Some(t));
    }

    /// Forgets `stale` unless another caller already replaced it.
    pub fn forget(&self, stale: &Arc<Token>) {
        self.current.rcu(|current| match current {
            Some(t) if Arc::ptr_eq(t, stale) => None,
            other => other.clone(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_comes_a_minute_early_on_the_apis_clock() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        // (now, expired_at, refresh after receipt)
        let cases = [
            // 30 minutes: 29 minutes after receipt.
            (1_000, 2_800, s(1_740)),
            // Our clock is irrelevant: only the difference counts.
            (5_000_000, 5_001_800, s(1_740)),
            // 61 s left: refreshed after 1 s.
            (1_000, 1_061, s(1)),
            // Under a minute left: not sooner than a second after receipt...
            (1_000, 1_030, s(1)),
            // ...but never after expiry.
            (1_000, 1_000, s(0)),
            // Expired before it was sent (a skewed API): due at once, not in the future.
            (1_000, 900, s(0)),
            // An absurd lifetime is held to a day, never an overflow.
            (i64::MIN, i64::MAX, s(86_400 - 60)),
        ];
        for (now, expired_at, want) in &cases {
            assert_eq!(
                refresh_at(t0, *now, *expired_at) - t0,
                *want,
                "now {now}, expired_at {expired_at}"
            );
        }
    }

    #[test]
    fn a_stale_token_is_forgotten_only_while_it_is_current() {
        let cell = TokenCell::default();
        let t0 = Instant::now();
        let token = |s: &str| {
            Arc::new(Token {
                header: HeaderValue::from_str(s).unwrap(),
                refresh_at: t0 + Duration::from_secs(60),
            })
        };
        assert!(cell.valid(t0).is_none());
        let old = token("old");
        cell.store(old.clone());
        assert!(cell.valid(t0).is_some());
        assert!(cell.valid(t0 + Duration::from_secs(60)).is_none(), "due");
        let new = token("new");
        cell.store(new.clone());
        cell.forget(&old);
        assert_eq!(
            cell.valid(t0).map(|t| t.header.clone()),
            Some(new.header.clone())
        );
        cell.forget(&new);
        assert!(cell.valid(t0).is_none());
    }
}
