//! Age rules and verdicts: the pure judgement of one verified person against one policy.
//!
//! Nothing here reads a clock: "today" and "now" are arguments, so every boundary (a birthday
//! today or tomorrow, 29 February, the freshness window) is a table of cases in the tests.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;

use crate::identity::Identity;

/// How an age is counted (README, "Age rules").
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AgeBasis {
    /// 연 나이: `today.year − birth.year` (Youth Protection Act: alcohol, tobacco, games).
    Year,
    /// 만 나이: completed years, the default in Korean law since June 2023.
    Full,
}

impl AgeBasis {
    /// The name used in the config file.
    pub fn as_str(self) -> &'static str {
        match self {
            AgeBasis::Year => "year",
            AgeBasis::Full => "full",
        }
    }
}

/// One named age policy from `[policies.NAME]`, validated.
#[derive(Clone, PartialEq)]
pub struct Policy {
    pub name: Arc<str>,
    pub min_age: i32,
    pub max_age: Option<i32>,
    pub age_basis: AgeBasis,
    /// Today's date is taken in this zone.
    pub timezone: TimeZone,
    /// `certified_at` older than this is stale; `None` = no limit.
    pub max_certification_age: Option<Duration>,
}

impl fmt::Debug for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Policy")
            .field("name", &self.name)
            .field("min_age", &self.min_age)
            .field("max_age", &self.max_age)
            .field("age_basis", &self.age_basis)
            .field("timezone", &self.timezone.iana_name().unwrap_or("(fixed)"))
            .field("max_certification_age", &self.max_certification_age)
            .finish()
    }
}

/// Why a certified person does not pass the age gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenyReason {
    Underage,
    Overage,
    BirthUnknown,
}

/// Why there is no verified person to judge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureReason {
    /// The API has no record of this imp_uid.
    NotFound,
    /// The record exists but the verification did not succeed.
    NotCertified,
    /// The browser reported failure (`success=false` on the redirect flow).
    Failed,
    /// `certified_at` is older than the policy's freshness window.
    Stale,
}

/// The gateway's judgement of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    Deny(DenyReason),
    Unverified(FailureReason),
}

impl Verdict {
    /// The `x-verified-verdict` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Allow => "allow",
            Verdict::Deny(_) => "deny",
            Verdict::Unverified(_) => "unverified",
        }
    }

    /// The `x-verified-reason` value, when there is one.
    pub fn reason(self) -> Option<&'static str> {
        match self {
            Verdict::Allow => None,
            Verdict::Deny(DenyReason::Underage) => Some("underage"),
            Verdict::Deny(DenyReason::Overage) => Some("overage"),
            Verdict::Deny(DenyReason::BirthUnknown) => Some("birth_unknown"),
            Verdict::Unverified(FailureReason::NotFound) => Some("not_found"),
            Verdict::Unverified(FailureReason::NotCertified) => Some("not_certified"),
            Verdict::Unverified(FailureReason::Failed) => Some("failed"),
            Verdict::Unverified(FailureReason::Stale) => Some("stale"),
        }
    }
}

/// The age of someone born on `birth`, on `today`, counted by `basis`.
///
/// A birth date after `today` gives a negative age, which no policy admits.
pub fn age_on(birth: Date, today: Date, basis: AgeBasis) -> i32 {
    let years = i32::from(today.year()) - i32::from(birth.year());
    match basis {
        AgeBasis::Year => years,
        AgeBasis::Full => {
            // 29 February birthdays compare as (2, 29): in a common year (2, 28) is still
            // before it and (3, 1) is after it, which is the rule the law uses.
            if (today.month(), today.day()) < (birth.month(), birth.day()) {
                years - 1
            } else {
                years
            }
        }
    }
}

/// A judgement with the age it was based on (`None` when the birth date is unknown).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Judgement {
    pub verdict: Verdict,
    pub age: Option<i32>,
}

impl Policy {
    /// Today's date in the policy's zone at instant `now`.
    pub fn today(&self, now: Timestamp) -> Date {
        now.to_zoned(self.timezone.clone()).date()
    }

    /// Judges a resolved verification at instant `now`: certification, freshness, then age.
    pub fn judge(&self, identity: &Identity, now: Timestamp) -> Judgement {
        let judgement = self.judge_session(identity, now);
        if identity.certified && self.is_stale(identity.certified_at, now) {
            return Judgement {
                verdict: Verdict::Unverified(FailureReason::Stale),
                age: judgement.age,
            };
        }
        judgement
    }

    /// Judges a session's person at instant `now`: certification, then age, without the
    /// freshness window. Freshness is checked once, when the verification starts a session;
    /// every later request of the session is judged on the age alone (today, in the policy's
    /// zone), so a birthday during a session changes the verdict.
    pub fn judge_session(&self, identity: &Identity, now: Timestamp) -> Judgement {
        let age = identity
            .birth_date
            .map(|birth| age_on(birth, self.today(now), self.age_basis));
        let verdict = if !identity.certified {
            Verdict::Unverified(FailureReason::NotCertified)
        } else {
            match age {
                None => Verdict::Deny(DenyReason::BirthUnknown),
                Some(a) if a < self.min_age => Verdict::Deny(DenyReason::Underage),
                Some(a) if self.max_age.is_some_and(|max| a > max) => {
                    Verdict::Deny(DenyReason::Overage)
                }
                Some(_) => Verdict::Allow,
            }
        };
        Judgement { verdict, age }
    }

    /// Whether a verification made at `certified_at` is too old at `now`. A certified record
    /// without a time is stale whenever a window is set: freshness cannot be shown.
    fn is_stale(&self, certified_at: Option<Timestamp>, now: Timestamp) -> bool {
        let Some(window) = self.max_certification_age else {
            return false;
        };
        let Some(at) = certified_at else {
            return true;
        };
        let Ok(window) = jiff::SignedDuration::try_from(window) else {
            return false;
        };
        now.duration_since(at) > window
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn age_is_counted_by_basis_around_birthdays_and_29_february() {
        use AgeBasis::{Full, Year};
        // (birth, today, basis, age)
        let cases = [
            (date(2007, 11, 22), date(2026, 11, 22), Full, 19), // birthday today
            (date(2007, 11, 23), date(2026, 11, 22), Full, 18), // birthday tomorrow
            (date(2007, 11, 21), date(2026, 11, 22), Full, 19), // birthday yesterday
            (date(2007, 12, 31), date(2026, 1, 1), Full, 18),
            (date(2007, 12, 31), date(2026, 1, 1), Year, 19), // year basis ignores the day
            (date(2007, 1, 1), date(2026, 12, 31), Year, 19),
            (date(2008, 1, 1), date(2026, 12, 31), Year, 18),
            (date(2004, 2, 29), date(2023, 2, 28), Full, 18), // leapling, common year
            (date(2004, 2, 29), date(2023, 3, 1), Full, 19),  // older on 1 March
            (date(2004, 2, 29), date(2024, 2, 28), Full, 19), // leap year: not yet
            (date(2004, 2, 29), date(2024, 2, 29), Full, 20), // leap year: on the day
            (date(2004, 2, 29), date(2023, 2, 28), Year, 19),
            (date(2030, 1, 1), date(2026, 1, 1), Full, -4), // birth in the future
        ];
        for (birth, today, basis, want) in cases {
            assert_eq!(
                age_on(birth, today, basis),
                want,
                "{birth} on {today} ({basis:?})"
            );
        }
    }

    fn policy(min: i32, max: Option<i32>, basis: AgeBasis) -> Policy {
        Policy {
            name: "adult".into(),
            min_age: min,
            max_age: max,
            age_basis: basis,
            timezone: TimeZone::get("Asia/Seoul").unwrap(),
            max_certification_age: Some(Duration::from_secs(600)),
        }
    }

    fn person(birth: Option<Date>, certified: bool, certified_at: Option<Timestamp>) -> Identity {
        Identity {
            certified,
            certified_at,
            birth_date: birth,
            ..Identity::empty(crate::imp_uid::ImpUid::parse("imp_000000000001").unwrap())
        }
    }

    #[test]
    fn verdicts_follow_certification_freshness_then_age() {
        // 2026-11-22 00:30 in Seoul is still 2026-11-21 in UTC: "today" must be Seoul's.
        let now: Timestamp = "2026-11-21T15:30:00Z".parse().unwrap();
        let fresh = Some(now - jiff::SignedDuration::from_secs(60));
        let old = Some(now - jiff::SignedDuration::from_secs(601));
        let adult = policy(19, None, AgeBasis::Full);
        let ranged = policy(19, Some(64), AgeBasis::Full);
        use DenyReason::*;
        use FailureReason::*;
        let cases = [
            (
                &adult,
                Some(date(2007, 11, 22)),
                true,
                fresh,
                Verdict::Allow,
            ),
            (
                &adult,
                Some(date(2007, 11, 23)),
                true,
                fresh,
                Verdict::Deny(Underage),
            ),
            (&adult, None, true, fresh, Verdict::Deny(BirthUnknown)),
            (
                &adult,
                Some(date(1990, 1, 1)),
                false,
                None,
                Verdict::Unverified(NotCertified),
            ),
            (
                &adult,
                Some(date(1990, 1, 1)),
                true,
                old,
                Verdict::Unverified(Stale),
            ),
            (
                &adult,
                Some(date(1990, 1, 1)),
                true,
                None,
                Verdict::Unverified(Stale),
            ),
            (
                &ranged,
                Some(date(1961, 11, 22)),
                true,
                fresh,
                Verdict::Deny(Overage),
            ),
            (
                &ranged,
                Some(date(1961, 11, 23)),
                true,
                fresh,
                Verdict::Allow,
            ),
        ];
        for (i, (p, birth, certified, at, want)) in cases.into_iter().enumerate() {
            let got = p.judge(&person(birth, certified, at), now).verdict;
            assert_eq!(got, want, "case {i}");
        }
    }

    #[test]
    fn no_freshness_window_accepts_old_verifications() {
        let now: Timestamp = "2026-11-21T15:30:00Z".parse().unwrap();
        let mut p = policy(19, None, AgeBasis::Year);
        p.max_certification_age = None;
        let long_ago = Some("2020-01-01T00:00:00Z".parse().unwrap());
        let j = p.judge(&person(Some(date(1990, 5, 5)), true, long_ago), now);
        assert_eq!(j.verdict, Verdict::Allow);
        assert_eq!(j.age, Some(36));
    }
}
