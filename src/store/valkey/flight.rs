//! The fleet's single flight on one id: the `lock` key beside its `res`.
//!
//! - claim: `SET <lock> <token> NX PX <lease>`; `OK` is the claim, nil means another instance
//!   holds it. An ambiguous failure is not retried: the caller then asks the API itself (a
//!   duplicate API call is the whole cost, never a wrong answer).
//! - peek: `GET <res>`, `PTTL <res>` and `EXISTS <lock>` in one `MULTI`, so "nothing stored and
//!   no claim" cannot be two answers from two moments.
//! - release: compare-and-delete in Lua (Redis 7.0 has no `DELIFEQ`): only the holder's token
//!   deletes the lock, never the claim of another instance after an expired lease.

use std::time::Duration;

use super::{Op, ValkeyStore, px};
use crate::store::{CacheKey, Claim, Peek, StoreError};

/// Deletes `KEYS[1]` only if it still holds `ARGV[1]`.
const RELEASE: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then \
                       return redis.call('DEL', KEYS[1]) else return 0 end";

impl ValkeyStore {
    pub(super) async fn take_claim(
        &self,
        key: &CacheKey,
        lease: Duration,
    ) -> Result<Option<Claim>, StoreError> {
        let token = format!("{:032x}", rand::random::<u128>());
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.key(key.provider, &key.id, "lock"))
            .arg(&token)
            .arg("NX")
            .arg("PX")
            .arg(px(lease));
        let mut conn = self.conn()?;
        let set = self
            .run(Op::Claim, async move {
                cmd.query_async::<Option<String>>(&mut conn).await
            })
            .await?;
        Ok(set.map(|_| Claim(token)))
    }

    pub(super) async fn look(&self, key: &CacheKey) -> Result<Peek, StoreError> {
        let res = self.key(key.provider, &key.id, "res");
        let mut p = redis::pipe();
        p.atomic()
            .cmd("GET")
            .arg(&res)
            .cmd("PTTL")
            .arg(&res)
            .cmd("EXISTS")
            .arg(self.key(key.provider, &key.id, "lock"));
        let mut conn = self.conn()?;
        let (sealed, pttl, held) = self
            .run(Op::Peek, async move {
                p.query_async::<(Option<String>, i64, bool)>(&mut conn)
                    .await
            })
            .await?;
        Ok(match (self.entry(key, sealed, pttl)?, held) {
            (Some(entry), _) => Peek::Stored(entry),
            (None, true) => Peek::Pending,
            (None, false) => Peek::Abandoned,
        })
    }

    pub(super) async fn give_up(
        &self,
        key: &CacheKey,
        claim: &Claim,
    ) -> Result<&'static str, StoreError> {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(RELEASE)
            .arg(1)
            .arg(self.key(key.provider, &key.id, "lock"))
            .arg(&claim.0);
        let mut conn = self.conn()?;
        let deleted = self
            .run(Op::Release, async move {
                cmd.query_async::<i64>(&mut conn).await
            })
            .await?;
        Ok(if deleted == 1 { "ok" } else { "lapsed" })
    }
}
