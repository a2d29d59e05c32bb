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

use super::errors::classify;
use super::{Op, ValkeyStore, px};
use crate::resolve::Resolved;
use crate::store::{CacheKey, Claim, Lookup, Peek, StoreError};

/// `KEYS[1]`'s value and time left if it has one; else claims `KEYS[2]` with `ARGV[1]` for
/// `ARGV[2]` ms: `{nil, 1}` claimed, `{nil, 0}` held by another. Both keys share a slot (their
/// hash tag).
const GET_OR_CLAIM: &str = "local v = redis.call('GET', KEYS[1]) \
                            if v then return {v, redis.call('PTTL', KEYS[1])} end \
                            if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then \
                            return {false, 1} end return {false, 0}";

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

    /// The compare-and-delete of `claim`; answered 1 (released) or 0 (lapsed).
    fn release_command(&self, key: &CacheKey, claim: &Claim) -> redis::Cmd {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(RELEASE)
            .arg(1)
            .arg(self.key(key.provider, &key.id, "lock"))
            .arg(&claim.0);
        cmd
    }

    pub(super) async fn give_up(
        &self,
        key: &CacheKey,
        claim: &Claim,
    ) -> Result<&'static str, StoreError> {
        let cmd = self.release_command(key, claim);
        let mut conn = self.conn()?;
        let deleted = self
            .run(Op::Release, async move {
                cmd.query_async::<i64>(&mut conn).await
            })
            .await?;
        Ok(release_label(deleted))
    }

    /// `get`, and on a miss `claim`, in one script: one round trip for a local miss. Counted
    /// as both operations.
    pub(super) async fn look_or_claim(
        &self,
        key: &CacheKey,
        lease: Duration,
    ) -> Result<Lookup, StoreError> {
        let token = format!("{:032x}", rand::random::<u128>());
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(GET_OR_CLAIM)
            .arg(2)
            .arg(self.key(key.provider, &key.id, "res"))
            .arg(self.key(key.provider, &key.id, "lock"))
            .arg(&token)
            .arg(px(lease));
        let mut conn = self.conn()?;
        let answered = self
            .run(Op::Get, async move {
                cmd.query_async::<(Option<String>, i64)>(&mut conn).await
            })
            .await;
        let looked = match answered {
            Ok((Some(sealed), pttl)) => self.opened(key, &sealed, pttl).map(Lookup::Stored),
            Ok((None, 1)) => Ok(Lookup::Claimed(Claim(token))),
            Ok((None, _)) => Ok(Lookup::Held),
            Err(e) => Err(e),
        };
        let hit = |l: &Lookup| {
            if matches!(l, Lookup::Stored(_)) {
                "hit"
            } else {
                "miss"
            }
        };
        self.count(Op::Get, looked.as_ref().map(hit));
        match &looked {
            Ok(Lookup::Claimed(_)) => self.count(Op::Claim, Ok("claimed")),
            Ok(Lookup::Held) => self.count(Op::Claim, Ok("held")),
            _ => {}
        }
        looked
    }

    /// The answer's `put`, then the claim's `release`, pipelined: one round trip for what a
    /// lookup that asked the API owes. Counted as both operations.
    pub(super) async fn settle_at_once(
        &self,
        key: &CacheKey,
        answer: Option<(&Resolved, Duration)>,
        claim: Option<&Claim>,
    ) -> Result<(), StoreError> {
        let put = answer.map(|(value, ttl)| self.put_command(key, value, ttl));
        let mut p = redis::pipe();
        // One command's refusal (OOM, NOPERM) is that command's answer, not the exchange's: the
        // other still counts, and a store that answered never looks unreachable to the breaker.
        p.ignore_errors();
        let mut ops = Vec::with_capacity(2);
        let mut unsent = None;
        match put {
            Some(Ok(cmd)) => {
                p.add_command(cmd);
                ops.push(Op::Put);
            }
            Some(Err(e)) => {
                // Too large to store: the claim is still given up.
                self.count(Op::Put, Err(&e));
                unsent = Some(e);
            }
            None => {}
        }
        if let Some(claim) = claim {
            p.add_command(self.release_command(key, claim));
            ops.push(Op::Release);
        }
        let Some(&first) = ops.first() else {
            return unsent.map_or(Ok(()), Err);
        };
        let mut conn = self.conn()?;
        let replies = self
            .run(first, async move {
                p.query_async::<Vec<redis::Value>>(&mut conn).await
            })
            .await;
        let sent = settled(self, &ops, replies);
        unsent.map_or(sent, Err)
    }
}

/// Counts each operation of a settle by its reply.
fn settled(
    store: &ValkeyStore,
    ops: &[Op],
    replies: Result<Vec<redis::Value>, StoreError>,
) -> Result<(), StoreError> {
    let replies = match replies {
        Ok(r) => r,
        Err(e) => {
            for &op in ops {
                store.count(op, Err(&e));
            }
            return Err(e);
        }
    };
    let mut first_error = None;
    for (&op, reply) in ops.iter().zip(&replies) {
        let label = match (op, reply) {
            (_, redis::Value::ServerError(refused)) => Err(classify(&refused.clone().into())),
            (Op::Put, redis::Value::Okay) => Ok("ok"),
            (Op::Put, redis::Value::Nil) => Ok("kept"),
            (Op::Release, redis::Value::Int(deleted)) => Ok(release_label(*deleted)),
            _ => Err(StoreError::Server("unparseable")),
        };
        store.count(op, label.as_ref().copied());
        if let Err(e) = label {
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}

fn release_label(deleted: i64) -> &'static str {
    if deleted == 1 { "ok" } else { "lapsed" }
}
