//! One suite that every store implementation runs, as oauth2-proxy's session stores run one:
//! the in-process used set and the Valkey store must behave alike where they overlap.
//!
//! Time is waited for by polling with a deadline, never by sleeping a guessed amount.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{CacheKey, Lookup, Peek, SharedCache, StoreError, UseKey, UsedSet};
use crate::provider::ProviderName;
use crate::resolve::Resolved;
use crate::store::value::tests::person;

/// The longest any expiry may take to be seen.
const EXPIRY_SEEN_WITHIN: Duration = Duration::from_secs(10);
/// How often an expiry is polled for.
const POLL: Duration = Duration::from_millis(5);

/// A fresh id per case (and per run, so that a shared server holds no leftovers).
fn id(case: &str) -> crate::verification_id::VerificationId {
    let n = rand::random::<u32>();
    ProviderName::Iamport
        .parse_id(&format!("imp_{case}_{n:08x}"))
        .unwrap()
}

/// Polls `done` until it holds, returning how long it took from `since`.
async fn poll_until<F, Fut>(since: Instant, mut done: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    while !done().await {
        assert!(
            since.elapsed() < EXPIRY_SEEN_WITHIN,
            "not seen within {EXPIRY_SEEN_WITHIN:?}"
        );
        tokio::time::sleep(POLL).await;
    }
    since.elapsed()
}

/// Exactly one of many racing callers sees a first use; the others, and every later caller,
/// see a replay; two providers' keys of the same text are apart; a mark expires after its window.
pub(crate) async fn used_set(set: Arc<dyn UsedSet>) {
    let key = UseKey::new(ProviderName::Iamport, id("race"));
    let racers: Vec<_> = (0..32)
        .map(|_| {
            let (set, key) = (set.clone(), key.clone());
            tokio::spawn(async move { set.first_use(&key, Duration::from_secs(60)).await })
        })
        .collect();
    let mut firsts = 0;
    for r in racers {
        if r.await.unwrap().unwrap() {
            firsts += 1;
        }
    }
    assert_eq!(firsts, 1, "exactly one racer sees the first use");
    assert_eq!(
        set.first_use(&key, Duration::from_secs(60)).await,
        Ok(false)
    );

    let other = UseKey::new(ProviderName::Portone, key.id.clone());
    assert_eq!(
        set.first_use(&other, Duration::from_secs(60)).await,
        Ok(true)
    );

    let window = Duration::from_millis(150);
    let short = UseKey::new(ProviderName::Iamport, id("window"));
    let start = Instant::now();
    assert_eq!(set.first_use(&short, window).await, Ok(true));
    assert_eq!(set.first_use(&short, window).await, Ok(false));
    let took = poll_until(start, || async {
        set.first_use(&short, window).await.unwrap()
    })
    .await;
    assert!(
        took >= window,
        "a mark of {window:?} expired after {took:?}"
    );
}

fn found(key: &CacheKey) -> Resolved {
    Resolved::Found(Arc::new(person(&key.id)))
}

fn same(a: &Resolved, b: &Resolved) -> bool {
    match (a, b) {
        (Resolved::Found(x), Resolved::Found(y)) => x == y,
        (Resolved::NotFound, Resolved::NotFound) | (Resolved::Failed, Resolved::Failed) => true,
        _ => false,
    }
}

/// A sealed round trip with the time left; negatives never overwrite positives; entries expire;
/// a value changed in the store (`tamper` corrupts what is stored under a key) is refused.
pub(crate) async fn shared_cache(cache: Arc<dyn SharedCache>, tamper: impl Fn(&CacheKey)) {
    let hour = Duration::from_secs(3600);
    let key = CacheKey::new(ProviderName::Iamport, id("cache"));
    assert!(
        cache.get(&key).await.unwrap().is_none(),
        "an empty key is a miss"
    );
    cache.put(&key, &found(&key), hour).await.unwrap();
    let back = cache.get(&key).await.unwrap().expect("stored");
    assert!(same(&back.value, &found(&key)), "{:?}", back.value);
    assert!(
        back.ttl <= hour && back.ttl > hour - Duration::from_secs(60),
        "{:?}",
        back.ttl
    );

    for negative in [Resolved::NotFound, Resolved::Failed] {
        cache.put(&key, &negative, hour).await.unwrap();
        let still = cache.get(&key).await.unwrap().unwrap();
        assert!(
            same(&still.value, &found(&key)),
            "{negative:?} overwrote a found"
        );
    }

    let neg = CacheKey::new(ProviderName::Portone, key.id.clone());
    cache.put(&neg, &Resolved::Failed, hour).await.unwrap();
    let got = cache.get(&neg).await.unwrap().unwrap();
    assert!(matches!(got.value, Resolved::Failed), "{:?}", got.value);
    cache.put(&neg, &found(&neg), hour).await.unwrap();
    let got = cache.get(&neg).await.unwrap().unwrap();
    assert!(
        same(&got.value, &found(&neg)),
        "a found replaces a negative"
    );

    let ttl = Duration::from_millis(150);
    let brief = CacheKey::new(ProviderName::Iamport, id("brief"));
    let start = Instant::now();
    cache.put(&brief, &Resolved::NotFound, ttl).await.unwrap();
    let took = poll_until(start, || async {
        cache.get(&brief).await.unwrap().is_none()
    })
    .await;
    assert!(took >= ttl, "an entry of {ttl:?} expired after {took:?}");

    tamper(&key);
    assert_eq!(
        cache.get(&key).await.map(|_| ()),
        Err(StoreError::Unreadable)
    );
}

/// The fleet's single flight: of two lookups missing one key, one gets the claim and the other
/// sees it held; settling writes the answer back before giving the claim up; a claim given up
/// without an answer is abandoned and can be taken again; a negative answer settled over a
/// found one leaves the found one.
pub(crate) async fn single_flight(cache: Arc<dyn SharedCache>) {
    let minute = Duration::from_secs(60);
    let key = CacheKey::new(ProviderName::Iamport, id("flight"));
    let Ok(Lookup::Claimed(claim)) = cache.get_or_claim(&key, minute).await else {
        panic!("the first lookup of a missing key claims it");
    };
    assert!(matches!(
        cache.get_or_claim(&key, minute).await,
        Ok(Lookup::Held)
    ));
    assert!(matches!(cache.peek(&key).await, Ok(Peek::Pending)));
    let answer = found(&key);
    cache
        .settle(&key, Some((&answer, minute)), Some(&claim))
        .await
        .unwrap();
    let Ok(Peek::Stored(stored)) = cache.peek(&key).await else {
        panic!("a settled answer is stored");
    };
    assert!(same(&stored.value, &answer), "{:?}", stored.value);
    let Ok(Lookup::Stored(stored)) = cache.get_or_claim(&key, minute).await else {
        panic!("a stored answer is found, not claimed");
    };
    assert!(
        stored.ttl <= minute && stored.ttl > Duration::ZERO,
        "{:?}",
        stored.ttl
    );

    let failed = CacheKey::new(ProviderName::Portone, id("flight"));
    let Ok(Lookup::Claimed(claim)) = cache.get_or_claim(&failed, minute).await else {
        panic!("another provider's key is its own");
    };
    cache.settle(&failed, None, Some(&claim)).await.unwrap();
    assert!(matches!(cache.peek(&failed).await, Ok(Peek::Abandoned)));
    let Ok(Lookup::Claimed(again)) = cache.get_or_claim(&failed, minute).await else {
        panic!("an abandoned claim can be taken again");
    };
    assert_ne!(again, claim, "every claim has its own token");
    cache.settle(&failed, None, Some(&again)).await.unwrap();
    cache
        .settle(&key, Some((&Resolved::NotFound, minute)), None)
        .await
        .unwrap();
    let Ok(Lookup::Stored(kept)) = cache.get_or_claim(&key, minute).await else {
        panic!("still stored");
    };
    assert!(same(&kept.value, &answer), "a negative replaced a found");
}
