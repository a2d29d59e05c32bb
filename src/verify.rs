//! The decisions of a callback route, between its I/O calls: [`plan`] (what the request asks)
//! → resolve (I/O) → [`judge`] → [`consumes`] (single use, I/O) → [`gate`] → [`annotate`]
//! (headers, digest, signatures) → [`outcome`] (what the metrics count).
//!
//! The proxy calls these in that order (`proxy/intercept.rs`) and does nothing else but the I/O
//! between them; the session callback will run the same steps with a cookie as its last one.
//! Pure: "now" is an argument, nothing here reads a clock, a socket or a global (signing draws
//! its nonce from the thread's random generator).

use std::sync::Arc;
use std::time::Duration;

use http::HeaderName;
use jiff::Timestamp;

use crate::config::ForwardField;
use crate::error::GatewayError;
use crate::extract;
use crate::headers::{self, Annotation, HeaderList, HeaderNames};
use crate::identity::Identity;
use crate::imp_uid::ImpUid;
use crate::metrics::RequestOutcome;
use crate::policy::{FailureReason, Judgement, Policy, Verdict};
use crate::provider::ProviderName;
use crate::resolve::{CacheKey, Resolved};
use crate::route::{OnDeny, OnFailure, Route};
use crate::signing::{AssertionClaims, SignInput, Signer};

/// How long a used imp_uid is remembered when its policy has no freshness window: a replay
/// older than this would pass again (`verigate check` warns about such routes).
pub const UNBOUNDED_REPLAY_MEMORY: Duration = Duration::from_secs(24 * 3600);

/// The request as the decisions see it.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// E.g. `POST`.
    pub method: &'a str,
    /// As forwarded (still percent-encoded).
    pub path: &'a str,
    /// Without `?`, when there is one.
    pub query: Option<&'a str>,
    /// The `Content-Type` header's bytes.
    pub content_type: Option<&'a [u8]>,
    /// The whole body (empty when there is none).
    pub body: &'a [u8],
}

/// What a callback request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// The browser already said the verification failed (`success=false`): nothing to ask the
    /// API. The id, when the query names a valid one, is still reported.
    BrowserFailed(Option<ImpUid>),
    /// Resolve this id.
    Lookup(ImpUid),
}

/// Reads what `req` asks of `route`: an id to resolve, or a failure the browser reported.
pub fn plan(route: &Route, req: &Request<'_>) -> Result<Plan, GatewayError> {
    let query = req.query.unwrap_or("");
    if extract::query_reports_failure(query) {
        let id = extract::from_query_for(route.provider(), query, &route.imp_uid_field)
            .ok()
            .flatten();
        return Ok(Plan::BrowserFailed(id));
    }
    let id = extract::extract_for(
        route.provider(),
        route.imp_uid_from,
        &route.imp_uid_field,
        query,
        req.content_type,
        req.body,
    )?;
    Ok(Plan::Lookup(id))
}

/// A judged verification: the verdict and what the headers can say about the person.
#[derive(Debug, Clone)]
pub struct Judged {
    pub judgement: Judgement,
    /// The id asked for, when known.
    pub id: Option<ImpUid>,
    /// `None` when nothing was resolved (not found, failed).
    pub identity: Option<Arc<Identity>>,
}

impl Judged {
    /// The verdict.
    pub fn verdict(&self) -> Verdict {
        self.judgement.verdict
    }

    fn failure(id: Option<ImpUid>, reason: FailureReason) -> Self {
        Judged {
            judgement: Judgement {
                verdict: Verdict::Unverified(reason),
                age: None,
            },
            id,
            identity: None,
        }
    }
}

/// A failure the browser reported: `unverified`, reason `failed`.
pub fn browser_failed(id: Option<ImpUid>) -> Judged {
    Judged::failure(id, FailureReason::Failed)
}

/// Judges what the API said about `id` at instant `now`, by the route's policy.
pub fn judge(route: &Route, id: ImpUid, resolved: Resolved, now: Timestamp) -> Judged {
    match resolved {
        Resolved::NotFound => Judged::failure(Some(id), FailureReason::NotFound),
        Resolved::Failed => Judged::failure(Some(id), FailureReason::Failed),
        Resolved::Found(identity) => Judged {
            judgement: route.policy.judge(&identity, now),
            id: Some(id),
            identity: Some(identity),
        },
    }
}

/// A single-use mark to set before the request may go on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consume {
    pub key: CacheKey,
    /// How long the mark must outlive a replay: the policy's freshness window.
    pub remember: Duration,
}

/// The mark `judged` sets on a single-use route. A certified, fresh verification is consumed
/// whatever the age verdict: a replay of someone else's imp_uid must fail either way.
pub fn consumes(route: &Route, judged: &Judged) -> Option<Consume> {
    let certified = matches!(judged.verdict(), Verdict::Allow | Verdict::Deny(_));
    let id = judged
        .id
        .as_ref()
        .filter(|_| route.single_use && certified)?;
    Some(Consume {
        key: (route.provider(), id.clone()),
        remember: route
            .policy
            .max_certification_age
            .unwrap_or(UNBOUNDED_REPLAY_MEMORY),
    })
}

/// The route's choice for a verdict: forward (with the verdict in the headers) or refuse.
pub fn gate(route: &Route, verdict: Verdict) -> Result<(), GatewayError> {
    match verdict {
        Verdict::Allow => Ok(()),
        Verdict::Deny(_) => match route.on_deny {
            OnDeny::Forward => Ok(()),
            OnDeny::Reject => Err(GatewayError::AgeRequirementNotMet),
        },
        Verdict::Unverified(reason) => match route.on_failure {
            OnFailure::Forward => Ok(()),
            OnFailure::Reject => Err(GatewayError::Verification(reason)),
        },
    }
}

/// What annotating needs from the configuration.
#[derive(Clone, Copy)]
pub struct Annotator<'a> {
    pub names: &'a HeaderNames,
    /// Present when `[signing]` is configured.
    pub signer: Option<&'a Signer>,
}

/// The headers a forwarded request carries: the `x-verified-*` set, `content-digest` when
/// there is a body, then the signature headers (and JWT assertion) when signing.
pub fn annotate(
    with: Annotator<'_>,
    route: &Route,
    judged: &Judged,
    req: &Request<'_>,
    now: Timestamp,
) -> HeaderList {
    annotate_for(with, route.provider(), &route.policy, judged, req, now)
}

/// As [`annotate`], judged by `policy` (a gate's, for a request with a session), the id
/// forwarded under `provider`'s header.
pub fn annotate_for(
    with: Annotator<'_>,
    provider: ProviderName,
    policy: &Policy,
    judged: &Judged,
    req: &Request<'_>,
    now: Timestamp,
) -> HeaderList {
    let mut added = headers::annotate_for(
        with.names,
        provider,
        &Annotation {
            judgement: judged.judgement,
            imp_uid: judged.id.as_ref(),
            identity: judged.identity.as_deref(),
            policy,
        },
    );
    if !req.body.is_empty() {
        added.push((
            HeaderName::from_static("content-digest"),
            headers::content_digest(req.body),
        ));
    }
    if let Some(signer) = with.signer {
        let signed = sign(
            Signing::Forwarded(signer),
            with.names,
            (provider, policy),
            judged,
            req,
            &added,
            now,
        );
        added.extend(signed);
    }
    added
}

/// The JWT assertion alone (forward-auth: verigate never sees the upstream request, so there
/// is no RFC 9421 signature), when `[signing] jwt` is on.
pub fn assertion(
    with: Annotator<'_>,
    provider: ProviderName,
    policy: &Policy,
    judged: &Judged,
    req: &Request<'_>,
    covered: &HeaderList,
    now: Timestamp,
) -> Option<(HeaderName, http::HeaderValue)> {
    let signer = with.signer?;
    sign(
        Signing::AssertionOnly(signer),
        with.names,
        (provider, policy),
        judged,
        req,
        covered,
        now,
    )
    .into_iter()
    .next()
}

/// What [`sign`] makes: the whole set for a forwarded request, or the assertion alone.
#[derive(Clone, Copy)]
enum Signing<'a> {
    Forwarded(&'a Signer),
    AssertionOnly(&'a Signer),
}

/// The signature headers for a request about to be forwarded with `covered` (or, for a
/// forward-auth answer, only its assertion).
fn sign(
    signing: Signing<'_>,
    names: &HeaderNames,
    (provider, policy): (ProviderName, &Policy),
    judged: &Judged,
    req: &Request<'_>,
    covered: &HeaderList,
    now: Timestamp,
) -> HeaderList {
    let identity = judged.identity.as_deref();
    let forwarded = |f: ForwardField| names.forward.iter().any(|(g, _)| *g == f);
    let extra = identity
        .map(|id| extra_claims(id, names))
        .unwrap_or_default();
    let claims = AssertionClaims {
        imp_uid: judged.id.as_ref().map(ImpUid::as_str),
        provider: provider.as_str(),
        name: identity.and_then(|i| i.name.as_deref()),
        birthdate: identity.and_then(|i| i.birth_date),
        age: judged.judgement.age,
        verdict: judged.verdict().as_str(),
        reason: judged.verdict().reason(),
        policy: &policy.name,
        certified_at: identity.and_then(|i| i.certified_at).map(|t| t.as_second()),
        gender: identity
            .filter(|_| forwarded(ForwardField::Gender))
            .and_then(|i| i.gender.as_deref()),
        phone_number: identity
            .filter(|_| forwarded(ForwardField::Phone))
            .and_then(|i| i.phone.as_deref()),
        extra: &extra,
    };
    let input = SignInput {
        method: req.method,
        path: req.path,
        query: req.query,
        covered,
        assertion_name: &names.assertion,
        claims: &claims,
    };
    match signing {
        Signing::Forwarded(signer) => signer.sign(&input, now),
        Signing::AssertionOnly(signer) => {
            signer.assertion_header(&input, now).into_iter().collect()
        }
    }
}

/// Forwarded fields without an OpenID Connect name, under their config name, in the order of
/// `headers.forward`.
fn extra_claims(id: &Identity, names: &HeaderNames) -> Vec<(&'static str, serde_json::Value)> {
    names
        .forward
        .iter()
        .filter_map(|(f, _)| {
            let v = match f {
                ForwardField::Gender | ForwardField::Phone => return None,
                ForwardField::Foreigner => id.foreigner.map(serde_json::Value::from),
                ForwardField::UniqueKey => id.unique_key.as_deref().map(Into::into),
                ForwardField::UniqueInSite => id.unique_in_site.as_deref().map(Into::into),
                ForwardField::Carrier => id.carrier.as_deref().map(Into::into),
                ForwardField::PgProvider => id.pg_provider.as_deref().map(Into::into),
                ForwardField::MerchantUid => id.merchant_uid.as_deref().map(Into::into),
            }?;
            Some((f.config_name(), v))
        })
        .collect()
}

/// What the metrics count for a callback request: its verdict when it was forwarded
/// (`refused` is `None`), else by why it was refused. `None` when nothing was decided.
pub fn outcome(verdict: Option<Verdict>, refused: Option<GatewayError>) -> Option<RequestOutcome> {
    let of = |v: Verdict| match v {
        Verdict::Allow => RequestOutcome::Allow,
        Verdict::Deny(_) => RequestOutcome::Deny,
        Verdict::Unverified(_) => RequestOutcome::Unverified,
    };
    match refused {
        None => verdict.map(of),
        Some(GatewayError::VerificationUnavailable) => Some(RequestOutcome::Unavailable),
        Some(GatewayError::AlreadyUsed) => Some(RequestOutcome::Invalid),
        Some(_) => Some(verdict.map_or(RequestOutcome::Invalid, of)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{KeyAlg, KeyMaterial, Secret, SigningKey, SigningSettings};
    use crate::extract::ImpUidSource;
    use crate::policy::{AgeBasis, DenyReason, Policy};
    use crate::provider::ProviderName;
    use base64::Engine as _;
    use jiff::civil::date;

    const NOW: i64 = 1_780_000_000;

    fn now() -> Timestamp {
        Timestamp::from_second(NOW).unwrap()
    }

    fn route(single_use: bool, window: Option<Duration>) -> Route {
        Route {
            name: "popup".into(),
            method: http::Method::POST,
            path: "/certifications".into(),
            provider: ProviderName::Iamport,
            imp_uid_from: ImpUidSource::Auto,
            imp_uid_field: "imp_uid".into(),
            policy: Arc::new(Policy {
                name: "adult".into(),
                min_age: 19,
                max_age: None,
                age_basis: AgeBasis::Year,
                timezone: jiff::tz::TimeZone::UTC,
                max_certification_age: window,
            }),
            on_deny: OnDeny::Forward,
            on_failure: OnFailure::Forward,
            single_use,
        }
    }

    fn uid(s: &str) -> ImpUid {
        ImpUid::parse(s).unwrap()
    }

    fn request<'a>(
        query: Option<&'a str>,
        content_type: Option<&'a str>,
        body: &'a str,
    ) -> Request<'a> {
        Request {
            method: "POST",
            path: "/certifications",
            query,
            content_type: content_type.map(str::as_bytes),
            body: body.as_bytes(),
        }
    }

    /// A certified person born on `birth`, verified `ago_secs` before [`NOW`].
    fn person(birth: Option<jiff::civil::Date>, ago_secs: i64) -> Arc<Identity> {
        let mut id = Identity::empty(uid("imp_1"));
        id.certified = true;
        id.certified_at = Some(Timestamp::from_second(NOW - ago_secs).unwrap());
        id.name = Some("홍길동".into());
        id.birth_date = birth;
        id.gender = Some("male".into());
        id.phone = Some("01012345678".into());
        id.carrier = Some("SKT".into());
        id.foreigner = Some(false);
        id.unique_key = Some("ci-value".into());
        Arc::new(id)
    }

    /// Query, content type, body, and what `plan` makes of them.
    type PlanCase = (
        Option<&'static str>,
        Option<&'static str>,
        &'static str,
        Result<Plan, GatewayError>,
    );

    #[test]
    fn plan_reads_an_id_or_the_browsers_failure() {
        let json = Some("application/json");
        let cases: [PlanCase; 8] = [
            (
                None,
                json,
                r#"{"imp_uid":"imp_1"}"#,
                Ok(Plan::Lookup(uid("imp_1"))),
            ),
            (
                Some("imp_uid=imp_2"),
                None,
                "",
                Ok(Plan::Lookup(uid("imp_2"))),
            ),
            (
                Some("imp_uid=imp_3&success=false"),
                None,
                "",
                Ok(Plan::BrowserFailed(Some(uid("imp_3")))),
            ),
            (
                Some("imp_uid=../x&success=false"),
                None,
                "",
                Ok(Plan::BrowserFailed(None)),
            ),
            (
                Some("success=false"),
                json,
                "{",
                Ok(Plan::BrowserFailed(None)),
            ),
            (None, json, "{}", Err(GatewayError::MissingImpUid)),
            (
                None,
                json,
                r#"{"imp_uid":"a/b"}"#,
                Err(GatewayError::InvalidImpUid),
            ),
            (None, json, "{", Err(GatewayError::MalformedBody)),
        ];
        let r = route(false, None);
        for (query, ct, body, want) in cases {
            assert_eq!(
                plan(&r, &request(query, ct, body)),
                want,
                "{query:?} {body}"
            );
        }
    }

    #[test]
    fn judge_maps_what_the_api_said_to_a_verdict() {
        let adult = Some(date(1990, 1, 1));
        let minor = Some(date(2015, 1, 1));
        let mut uncertified = (*person(adult, 0)).clone();
        uncertified.certified = false;
        let window = Some(Duration::from_secs(600));
        use FailureReason as F;
        let cases = [
            (
                Resolved::NotFound,
                None,
                Verdict::Unverified(F::NotFound),
                false,
            ),
            (
                Resolved::Failed,
                None,
                Verdict::Unverified(F::Failed),
                false,
            ),
            (
                Resolved::Found(person(adult, 0)),
                None,
                Verdict::Allow,
                true,
            ),
            (
                Resolved::Found(person(minor, 0)),
                None,
                Verdict::Deny(DenyReason::Underage),
                true,
            ),
            (
                Resolved::Found(person(None, 0)),
                None,
                Verdict::Deny(DenyReason::BirthUnknown),
                true,
            ),
            (
                Resolved::Found(person(adult, 601)),
                window,
                Verdict::Unverified(F::Stale),
                true,
            ),
            (
                Resolved::Found(person(adult, 599)),
                window,
                Verdict::Allow,
                true,
            ),
            (
                Resolved::Found(Arc::new(uncertified)),
                None,
                Verdict::Unverified(F::NotCertified),
                true,
            ),
        ];
        for (resolved, window, want, identity) in cases {
            let label = format!("{resolved:?} {window:?}");
            let j = judge(&route(false, window), uid("imp_1"), resolved, now());
            assert_eq!(j.verdict(), want, "{label}");
            assert_eq!(j.identity.is_some(), identity, "{label}");
            assert_eq!(j.id, Some(uid("imp_1")), "{label}");
        }
        let failed = browser_failed(None);
        assert_eq!(failed.verdict(), Verdict::Unverified(F::Failed));
        assert_eq!((failed.id, failed.identity.is_none()), (None, true));
    }

    #[test]
    fn a_single_use_route_consumes_certified_fresh_verifications_only() {
        let window = Duration::from_secs(600);
        let found = |birth, ago| Resolved::Found(person(birth, ago));
        let adult = Some(date(1990, 1, 1));
        let minor = Some(date(2015, 1, 1));
        let cases = [
            (true, Some(window), found(adult, 0), Some(window)),
            (true, None, found(adult, 0), Some(UNBOUNDED_REPLAY_MEMORY)),
            (true, Some(window), found(minor, 0), Some(window)),
            (true, Some(window), found(adult, 601), None),
            (true, Some(window), Resolved::NotFound, None),
            (true, Some(window), Resolved::Failed, None),
            (false, Some(window), found(adult, 0), None),
        ];
        for (single_use, win, resolved, want) in cases {
            let label = format!("{single_use} {win:?} {resolved:?}");
            let r = route(single_use, win);
            let j = judge(&r, uid("imp_1"), resolved, now());
            let got = consumes(&r, &j);
            assert_eq!(got.as_ref().map(|c| c.remember), want, "{label}");
            if let Some(c) = got {
                assert_eq!(c.key, (ProviderName::Iamport, uid("imp_1")), "{label}");
            }
        }
        assert_eq!(
            consumes(&route(true, None), &browser_failed(Some(uid("imp_1")))),
            None
        );
    }

    #[test]
    fn gate_follows_on_deny_and_on_failure() {
        use OnDeny as D;
        use OnFailure as F;
        let deny = Verdict::Deny(DenyReason::Underage);
        let stale = Verdict::Unverified(FailureReason::Stale);
        let cases = [
            (D::Forward, F::Reject, Verdict::Allow, Ok(())),
            (D::Reject, F::Reject, Verdict::Allow, Ok(())),
            (D::Forward, F::Reject, deny, Ok(())),
            (
                D::Reject,
                F::Forward,
                deny,
                Err(GatewayError::AgeRequirementNotMet),
            ),
            (
                D::Forward,
                F::Reject,
                stale,
                Err(GatewayError::Verification(FailureReason::Stale)),
            ),
            (D::Reject, F::Forward, stale, Ok(())),
        ];
        for (d, f, verdict, want) in cases {
            let r = Route {
                on_deny: d,
                on_failure: f,
                ..route(false, None)
            };
            assert_eq!(gate(&r, verdict), want, "{d:?} {f:?} {verdict:?}");
        }
    }

    fn names(forward: &[ForwardField]) -> HeaderNames {
        HeaderNames::new("x-verified-", forward).unwrap()
    }

    fn get<'a>(h: &'a HeaderList, name: &str) -> Option<&'a str> {
        h.iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.to_str().unwrap())
    }

    #[test]
    fn annotate_adds_the_digest_only_for_a_body_and_signs_nothing_without_a_signer() {
        let r = route(false, None);
        let names = names(&[]);
        let with = Annotator {
            names: &names,
            signer: None,
        };
        let j = judge(
            &r,
            uid("imp_1"),
            Resolved::Found(person(Some(date(1990, 1, 1)), 0)),
            now(),
        );
        let cases = [("", None), ("imp_uid=imp_1", Some("sha-256=:"))];
        for (body, digest) in cases {
            let h = annotate(with, &r, &j, &request(None, None, body), now());
            assert_eq!(get(&h, "x-verified-verdict"), Some("allow"));
            assert_eq!(get(&h, "x-verified-imp-uid"), Some("imp_1"));
            let got = get(&h, "content-digest");
            assert_eq!(got.map(|d| &d[..9]), digest, "{body:?}");
            assert_eq!(get(&h, "signature"), None);
            assert_eq!(get(&h, "x-verified-assertion"), None);
        }
    }

    fn hmac_signer() -> Signer {
        Signer::from_settings(&SigningSettings {
            active_key: "shared-1".into(),
            signature_ttl: Duration::from_secs(60),
            jwt: true,
            issuer: "verigate".into(),
            audience: "app".into(),
            keys: vec![SigningKey {
                id: "shared-1".into(),
                alg: KeyAlg::HmacSha256,
                material: KeyMaterial::HmacSecret(Secret::new(crate::signing::keygen_hmac())),
            }],
        })
        .unwrap()
    }

    /// The claims of the JWT assertion in `h` (its signature is the signing room's to test).
    fn claims(h: &HeaderList) -> serde_json::Value {
        let token = get(h, "x-verified-assertion").unwrap();
        let payload = token.split('.').nth(1).unwrap();
        let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap();
        serde_json::from_slice(&json).unwrap()
    }

    #[test]
    fn the_assertion_carries_only_the_forwarded_fields_under_their_claim_names() {
        use ForwardField as F;
        let r = route(false, None);
        let signer = hmac_signer();
        let j = judge(
            &r,
            uid("imp_1"),
            Resolved::Found(person(Some(date(1990, 1, 1)), 5)),
            now(),
        );
        let cases: [(&[ForwardField], &[&str], &[&str]); 3] = [
            (
                &[],
                &[],
                &[
                    "gender",
                    "phone_number",
                    "carrier",
                    "foreigner",
                    "unique_key",
                ],
            ),
            (
                &[F::Gender, F::Phone],
                &["gender", "phone_number"],
                &["carrier", "phone"],
            ),
            (
                &[F::Carrier, F::Foreigner, F::UniqueKey],
                &["carrier", "foreigner", "unique_key"],
                &["gender"],
            ),
        ];
        for (forward, present, absent) in cases {
            let names = names(forward);
            let with = Annotator {
                names: &names,
                signer: Some(&signer),
            };
            let h = annotate(with, &r, &j, &request(Some("a=1"), None, "x"), now());
            let input = get(&h, "signature-input").unwrap();
            assert!(input.contains("\"content-digest\""), "{forward:?}: {input}");
            assert!(get(&h, "signature").is_some(), "{forward:?}");
            let c = claims(&h);
            assert_eq!(c["sub"], "imp_1");
            assert_eq!(c["name"], "홍길동");
            assert_eq!(c["birthdate"], "1990-01-01");
            assert_eq!(c["verdict"], "allow");
            assert_eq!(c["policy"], "adult");
            assert_eq!(c["certified_at"], NOW - 5);
            assert_eq!(c["iat"], NOW, "signed at the request's one `now`");
            for k in present {
                assert!(!c[*k].is_null(), "{forward:?}: {k}");
            }
            for k in absent {
                assert!(c.get(*k).is_none(), "{forward:?}: {k}");
            }
        }
    }

    fn v2_route() -> Route {
        Route {
            provider: ProviderName::Portone,
            imp_uid_field: "identityVerificationId".into(),
            ..route(false, None)
        }
    }

    #[test]
    fn a_v2_route_reads_identity_verification_ids_by_the_v2_rules() {
        let r = v2_route();
        let long = "a".repeat(128);
        let v2 = |s: &str| ProviderName::Portone.parse_id(s).unwrap();
        let json = Some("application/json");
        let body = format!(r#"{{"identityVerificationId":"{long}"}}"#);
        let too_long = format!(r#"{{"identityVerificationId":"{long}a"}}"#);
        let cases = [
            (None, json, body.clone(), Ok(Plan::Lookup(v2(&long)))),
            (None, json, too_long, Err(GatewayError::InvalidImpUid)),
            (
                Some("identityVerificationId=iv-1"),
                None,
                String::new(),
                Ok(Plan::Lookup(v2("iv-1"))),
            ),
            (
                None,
                Some("application/x-www-form-urlencoded"),
                "identityVerificationId=iv%2F..".into(),
                Err(GatewayError::InvalidImpUid),
            ),
            // The V1 field means nothing on a V2 route.
            (
                None,
                json,
                r#"{"imp_uid":"imp_1"}"#.into(),
                Err(GatewayError::MissingImpUid),
            ),
        ];
        for (query, ct, body, want) in cases {
            assert_eq!(
                plan(&r, &request(query, ct, &body)),
                want,
                "{query:?} {body}"
            );
        }
        // A V1 route keeps the V1 maximum.
        let v1_long = format!(r#"{{"imp_uid":"{}"}}"#, "a".repeat(65));
        assert_eq!(
            plan(&route(false, None), &request(None, json, &v1_long)),
            Err(GatewayError::InvalidImpUid)
        );
    }

    #[test]
    fn a_v2_route_forwards_and_signs_the_identity_verification_id_in_the_imp_uids_place() {
        let signer = hmac_signer();
        let names = names(&[]);
        let with = Annotator {
            names: &names,
            signer: Some(&signer),
        };
        let found = || Resolved::Found(person(Some(date(1990, 1, 1)), 5));
        let cases = [
            (
                v2_route(),
                "x-verified-identity-verification-id",
                "x-verified-imp-uid",
                "portone",
            ),
            (
                route(false, None),
                "x-verified-imp-uid",
                "x-verified-identity-verification-id",
                "iamport",
            ),
        ];
        for (r, present, absent, provider) in cases {
            let id = r.provider.parse_id("iv-1").unwrap();
            let j = judge(&r, id, found(), now());
            let h = annotate(with, &r, &j, &request(None, None, "x"), now());
            let order: Vec<&str> = h.iter().map(|(n, _)| n.as_str()).take(3).collect();
            assert_eq!(order, ["x-verified-verdict", present, "x-verified-name"]);
            assert_eq!(get(&h, present), Some("iv-1"));
            assert_eq!(get(&h, absent), None);
            let input = get(&h, "signature-input").unwrap();
            let want = format!(
                r#"("@method" "@path" "@query" "x-verified-verdict" "{present}" "x-verified-name""#
            );
            assert!(input.starts_with(&format!("verigate={want}")), "{input}");
            let c = claims(&h);
            assert_eq!(
                (c["sub"].as_str(), c["provider"].as_str()),
                (Some("iv-1"), Some(provider))
            );
        }
    }

    #[test]
    fn outcome_counts_the_verdict_or_why_the_request_was_refused() {
        use RequestOutcome as O;
        let deny = Some(Verdict::Deny(DenyReason::Underage));
        let failed = Some(Verdict::Unverified(FailureReason::Failed));
        let cases = [
            (Some(Verdict::Allow), None, Some(O::Allow)),
            (deny, None, Some(O::Deny)),
            (failed, None, Some(O::Unverified)),
            (None, None, None),
            (
                deny,
                Some(GatewayError::AgeRequirementNotMet),
                Some(O::Deny),
            ),
            (
                failed,
                Some(GatewayError::Verification(FailureReason::Failed)),
                Some(O::Unverified),
            ),
            (
                Some(Verdict::Allow),
                Some(GatewayError::AlreadyUsed),
                Some(O::Invalid),
            ),
            (
                None,
                Some(GatewayError::VerificationUnavailable),
                Some(O::Unavailable),
            ),
            (None, Some(GatewayError::MissingImpUid), Some(O::Invalid)),
            (None, Some(GatewayError::BodyTooLarge), Some(O::Invalid)),
        ];
        for (verdict, refused, want) in cases {
            assert_eq!(outcome(verdict, refused), want, "{verdict:?} {refused:?}");
        }
    }
}
