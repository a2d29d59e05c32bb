//! [policies.NAME]: names, time zones and age bounds, in file order.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use jiff::tz::TimeZone;

use super::Checker;
use crate::config::raw::{RawPolicy, S};
use crate::policy::Policy;

impl Checker<'_> {
    pub(super) fn policies(&mut self, raw: BTreeMap<S<String>, S<RawPolicy>>) -> Vec<Arc<Policy>> {
        let mut raw: Vec<(S<String>, S<RawPolicy>)> = raw.into_iter().collect();
        // The map is ordered by name; the contract wants file order.
        raw.sort_by_key(|(name, _)| name.span().start);
        let mut policies = Vec::new();
        for (name, policy) in raw {
            let t = policy.span();
            let p = policy.into_inner();
            let n = name.get_ref();
            let table = format!("[policies.{n}]");
            let name_ok = (1..=64).contains(&n.len())
                && n.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
            if !name_ok {
                self.error(
                    &name.span(),
                    &t,
                    format!(
                        "policy name `{n}` must be 1–64 letters, digits, `.`, `_` or `-`: it \
                         is sent in the {{prefix}}policy header"
                    ),
                );
            }
            let timezone = match TimeZone::get(p.timezone.get_ref().trim()) {
                Ok(tz) => tz,
                Err(_) => {
                    self.error(
                        &p.timezone.span(),
                        &t,
                        format!(
                            "`timezone` in {table}: `{}` is not an IANA time zone name (such as \
                             Asia/Seoul or UTC)",
                            p.timezone.get_ref()
                        ),
                    );
                    TimeZone::UTC
                }
            };
            let min_age = *p.min_age.get_ref();
            if !(0..=150).contains(&min_age) {
                self.error(
                    &p.min_age.span(),
                    &t,
                    format!("`min_age` in {table} must be between 0 and 150, not {min_age}"),
                );
            }
            let max_age = p.max_age.map(|max| {
                let m = *max.get_ref();
                if m < min_age || m > 150 {
                    self.error(
                        &max.span(),
                        &t,
                        format!(
                            "`max_age` in {table} must be between min_age ({min_age}) and 150, \
                             not {m}"
                        ),
                    );
                }
                i32::try_from(m).unwrap_or(i32::MAX)
            });
            policies.push(Arc::new(Policy {
                name: n.as_str().into(),
                min_age: i32::try_from(min_age).unwrap_or(i32::MAX),
                max_age,
                age_basis: p.age_basis,
                timezone,
                // 0 is the documented "no limit".
                max_certification_age: (p.max_certification_age_secs > 0)
                    .then(|| Duration::from_secs(p.max_certification_age_secs)),
            }));
        }
        policies
    }

    /// The policy a route or gate names (`what` says which key), or a problem listing the
    /// defined ones.
    pub(super) fn policy_named(
        &mut self,
        raw: &S<String>,
        t: &Range<usize>,
        policies: &[Arc<Policy>],
        what: &str,
    ) -> Option<Arc<Policy>> {
        let name = raw.get_ref().trim();
        let policy = policies.iter().find(|p| &*p.name == name).cloned();
        if policy.is_none() {
            let defined: Vec<&str> = policies.iter().map(|p| &*p.name).collect();
            let defined = if defined.is_empty() {
                "no [policies.NAME] table is defined".to_string()
            } else {
                format!("defined: {}", defined.join(", "))
            };
            self.error(
                &raw.span(),
                t,
                format!("{what}: there is no policy `{name}`; {defined}"),
            );
        }
        policy
    }
}
