//! The identity headers verigate adds, and the ones it removes.
//!
//! Header names are built once per configuration ([`HeaderNames`]); per request only the values
//! are made. The order of [`annotate`]'s output is the order of README, "What the app receives", which is also
//! the order the signature covers them in.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderName, HeaderValue};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::identity::ForwardField;
use crate::identity::Identity;
use crate::imp_uid::ImpUid;
use crate::policy::{Judgement, Policy};
use crate::provider::ProviderName;

/// Every byte outside `A-Za-z0-9-._~` is encoded (RFC 3986 unreserved stays).
const NON_UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// UTF-8 percent-encoding with upper-case hex: 홍길동 → `%ED%99%8D%EA%B8%B8%EB%8F%99`.
pub fn percent_encode(s: &str) -> String {
    utf8_percent_encode(s, NON_UNRESERVED).to_string()
}

/// Headers that only verigate may set, apart from the prefixed ones.
const RESERVED_EXACT: [&str; 3] = ["signature", "signature-input", "content-digest"];

/// A header name as CGI-style runtimes read it: lower-cased, every byte other than `a-z0-9`
/// read as `-`. PHP, CGI and WSGI turn `X-Verified.Verdict`, `X_Verified~Verdict` and
/// `x-verified-verdict` into one variable, so a rule over names must see them as one name.
pub fn app_reading(name: &str) -> impl Iterator<Item = u8> + Clone + '_ {
    name.bytes().map(|b| match b.to_ascii_lowercase() {
        c @ (b'a'..=b'z' | b'0'..=b'9') => c,
        _ => b'-',
    })
}

/// Whether `name` read as the app reads it (see [`app_reading`]) starts with `prefix` read the
/// same way.
pub fn reads_as_prefixed(name: &str, prefix: &str) -> bool {
    name.len() >= prefix.len() && app_reading(name).take(prefix.len()).eq(app_reading(prefix))
}

/// Whether `name` read as the app reads it is `other` read the same way.
pub fn reads_as(name: &str, other: &str) -> bool {
    name.len() == other.len() && app_reading(name).eq(app_reading(other))
}

/// Whether a client-sent header must be removed: read as the app reads it (see
/// [`app_reading`]), its name starts with `prefix` read the same way, or it is one of the
/// signature headers.
pub fn is_reserved(name: &str, prefix: &str) -> bool {
    reads_as_prefixed(name, prefix) || RESERVED_EXACT.iter().any(|r| reads_as(name, r))
}

/// The prefixed header names, built once from the configuration.
#[derive(Debug, Clone)]
pub struct HeaderNames {
    pub verdict: HeaderName,
    pub reason: HeaderName,
    pub imp_uid: HeaderName,
    /// `x-verified-identity-verification-id`: the id on PortOne V2 routes, in `imp-uid`'s place.
    pub identity_verification_id: HeaderName,
    pub name: HeaderName,
    pub birth: HeaderName,
    pub age: HeaderName,
    pub policy: HeaderName,
    pub certified_at: HeaderName,
    pub assertion: HeaderName,
    /// The operator's `headers.forward` fields with their header names, in §4.2 order.
    pub forward: Vec<(ForwardField, HeaderName)>,
}

fn prefixed(prefix: &str, suffix: &str) -> Result<HeaderName, http::header::InvalidHeaderName> {
    HeaderName::from_bytes(format!("{prefix}{suffix}").as_bytes())
}

impl HeaderNames {
    /// Names for `prefix` (validated lower-case `[a-z0-9-]`) and the forwarded fields.
    pub fn new(
        prefix: &str,
        forward: &[ForwardField],
    ) -> Result<Self, http::header::InvalidHeaderName> {
        Ok(HeaderNames {
            verdict: prefixed(prefix, "verdict")?,
            reason: prefixed(prefix, "reason")?,
            imp_uid: prefixed(prefix, "imp-uid")?,
            identity_verification_id: prefixed(prefix, "identity-verification-id")?,
            name: prefixed(prefix, "name")?,
            birth: prefixed(prefix, "birth")?,
            age: prefixed(prefix, "age")?,
            policy: prefixed(prefix, "policy")?,
            certified_at: prefixed(prefix, "certified-at")?,
            assertion: prefixed(prefix, "assertion")?,
            forward: forward
                .iter()
                .map(|f| prefixed(prefix, f.header_suffix()).map(|n| (*f, n)))
                .collect::<Result<_, _>>()?,
        })
    }
}

/// The headers added to one forwarded request, in §4.2 order.
pub type HeaderList = Vec<(HeaderName, HeaderValue)>;

/// A value made only of visible ASCII: percent-encoded text, digits, dates.
fn ascii_value(s: String) -> HeaderValue {
    // Only ASCII that `percent_encode`, integers or dates produce reaches here, all of which
    // are valid header bytes; an empty value is the worst case.
    HeaderValue::try_from(s).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn forward_value(identity: &Identity, field: ForwardField) -> Option<String> {
    let text = |v: &Option<Box<str>>| v.as_deref().map(percent_encode);
    match field {
        ForwardField::Gender => text(&identity.gender),
        ForwardField::Foreigner => identity.foreigner.map(|b| b.to_string()),
        ForwardField::UniqueKey => text(&identity.unique_key),
        ForwardField::UniqueInSite => text(&identity.unique_in_site),
        ForwardField::Phone => text(&identity.phone),
        ForwardField::Carrier => text(&identity.carrier),
        ForwardField::PgProvider => text(&identity.pg_provider),
        ForwardField::MerchantUid => text(&identity.merchant_uid),
    }
}

/// What the gateway knows about the request being forwarded.
pub struct Annotation<'a> {
    pub judgement: Judgement,
    pub imp_uid: Option<&'a ImpUid>,
    /// `None` when nothing was resolved (not found, `success=false`).
    pub identity: Option<&'a Identity>,
    pub policy: &'a Policy,
}

impl HeaderNames {
    /// The header carrying the verification id of `provider`: `imp-uid` for i'mport V1,
    /// `identity-verification-id` for PortOne V2.
    pub fn id_header(&self, provider: ProviderName) -> &HeaderName {
        match provider {
            ProviderName::Iamport => &self.imp_uid,
            ProviderName::Portone => &self.identity_verification_id,
        }
    }
}

/// Builds the `x-verified-*` headers for a forwarded request whose id is an i'mport V1
/// `imp_uid` (signature headers excluded); see [`annotate_for`].
pub fn annotate(names: &HeaderNames, a: &Annotation<'_>) -> HeaderList {
    annotate_for(names, ProviderName::Iamport, a)
}

/// Builds the `x-verified-*` headers for a forwarded request whose id belongs to `provider`
/// (signature headers excluded): the id goes in [`HeaderNames::id_header`], at the same place
/// for both providers.
pub fn annotate_for(names: &HeaderNames, provider: ProviderName, a: &Annotation<'_>) -> HeaderList {
    let mut out = HeaderList::with_capacity(8 + names.forward.len());
    out.push((
        names.verdict.clone(),
        HeaderValue::from_static(a.judgement.verdict.as_str()),
    ));
    if let Some(reason) = a.judgement.verdict.reason() {
        out.push((names.reason.clone(), HeaderValue::from_static(reason)));
    }
    if let Some(uid) = a.imp_uid {
        out.push((
            names.id_header(provider).clone(),
            ascii_value(uid.as_str().to_owned()),
        ));
    }
    if let Some(id) = a.identity {
        if let Some(name) = &id.name {
            out.push((names.name.clone(), ascii_value(percent_encode(name))));
        }
        if let Some(birth) = id.birth_date {
            out.push((names.birth.clone(), ascii_value(birth.to_string())));
        }
    }
    if let Some(age) = a.judgement.age {
        out.push((names.age.clone(), HeaderValue::from(age)));
    }
    out.push((
        names.policy.clone(),
        ascii_value(percent_encode(&a.policy.name)),
    ));
    if let Some(id) = a.identity {
        if let Some(at) = id.certified_at {
            out.push((
                names.certified_at.clone(),
                HeaderValue::from(at.as_second()),
            ));
        }
        for (field, name) in &names.forward {
            if let Some(v) = forward_value(id, *field) {
                out.push((name.clone(), ascii_value(v)));
            }
        }
    }
    out
}

/// The RFC 9530 `Content-Digest` of a body: `sha-256=:<base64>:`.
pub fn content_digest(body: &[u8]) -> HeaderValue {
    // aws-lc's SHA-256 (assembly, already linked for rustls) rather than a portable one.
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, body);
    ascii_value(format!("sha-256=:{}:", STANDARD.encode(digest.as_ref())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{AgeBasis, DenyReason, FailureReason, Verdict};
    use jiff::civil::date;

    #[test]
    fn percent_encoding_keeps_only_unreserved_bytes() {
        let cases = [
            ("홍길동", "%ED%99%8D%EA%B8%B8%EB%8F%99"),
            ("Hong Gil-dong", "Hong%20Gil-dong"),
            ("a.b_c~d", "a.b_c~d"),
            ("a/b?c=d&e", "a%2Fb%3Fc%3Dd%26e"),
            ("\r\nX-Evil: 1", "%0D%0AX-Evil%3A%201"),
            ("%41", "%2541"),
            ("", ""),
        ];
        for (input, want) in cases {
            assert_eq!(percent_encode(input), want, "{input:?}");
        }
    }

    #[test]
    fn reserved_headers_match_in_any_case_and_with_underscores() {
        let p = "x-verified-";
        let cases = [
            ("x-verified-verdict", true),
            ("X-Verified-Verdict", true),
            ("x_verified_verdict", true),
            ("X_VERIFIED-name", true),
            ("x-verified-", true),
            ("x-verified", false),
            ("x-verifiedverdict", false),
            ("signature", true),
            ("Signature-Input", true),
            ("content_digest", true),
            ("content-digest-x", false),
            ("signatures", false),
            ("x-request-id", false),
            ("content-type", false),
        ];
        for (name, want) in cases {
            assert_eq!(is_reserved(name, p), want, "{name}");
        }
        assert!(is_reserved("x-id-verdict", "x-id-"));
        assert!(!is_reserved("x-verified-verdict", "x-id-"));
    }

    /// Every token character HTTP allows in a field name (RFC 9110 §5.6.2) other than letters
    /// and digits.
    const TCHAR_SYMBOLS: &str = "!#$%&'*+-.^_`|~";

    #[test]
    fn reserved_headers_match_with_every_token_character_as_a_separator() {
        for sep in TCHAR_SYMBOLS.chars() {
            for name in [
                format!("x{sep}verified{sep}verdict"),
                format!("X{sep}VERIFIED{sep}Verdict"),
                format!("x-verified{sep}name"),
                format!("x{sep}verified-"),
                format!("signature{sep}input"),
                format!("Content{sep}Digest"),
            ] {
                // Header names the http crate (and so pingora) accepts are what clients can send.
                assert!(
                    http::HeaderName::from_bytes(name.as_bytes()).is_ok(),
                    "{name}"
                );
                assert!(is_reserved(&name, "x-verified-"), "{name} is not stripped");
            }
            for name in [
                format!("x{sep}verifiedverdict"),
                format!("signature{sep}inputs"),
                format!("content{sep}digests"),
                format!("x-request{sep}id"),
            ] {
                assert!(!is_reserved(&name, "x-verified-"), "{name} is stripped");
            }
        }
        // A name made only of separators where the prefix has letters is not the prefix.
        assert!(!is_reserved("x-----------", "x-verified-"));
        assert!(is_reserved("x.id.verdict", "x-id-"));
    }

    fn policy() -> Policy {
        Policy {
            name: "adult".into(),
            min_age: 19,
            max_age: None,
            age_basis: AgeBasis::Year,
            timezone: jiff::tz::TimeZone::UTC,
            max_certification_age: None,
        }
    }

    fn rendered(list: &HeaderList) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_owned()))
            .collect()
    }

    #[test]
    fn allow_headers_come_in_contract_order_with_only_requested_extras() {
        let uid = ImpUid::parse("imp_045262694732").unwrap();
        let identity = Identity {
            certified: true,
            certified_at: Some(jiff::Timestamp::from_second(1685719311).unwrap()),
            name: Some("홍길동".into()),
            birth_date: Some(date(1976, 11, 7)),
            gender: Some("male".into()),
            phone: Some("01012345678".into()),
            unique_key: Some("CI+/=".into()),
            ..Identity::empty(uid.clone())
        };
        let names = HeaderNames::new(
            "x-verified-",
            &[ForwardField::Gender, ForwardField::UniqueKey],
        )
        .unwrap();
        let p = policy();
        let a = Annotation {
            judgement: Judgement {
                verdict: Verdict::Allow,
                age: Some(50),
            },
            imp_uid: Some(&uid),
            identity: Some(&identity),
            policy: &p,
        };
        let want: Vec<(String, String)> = [
            ("x-verified-verdict", "allow"),
            ("x-verified-imp-uid", "imp_045262694732"),
            ("x-verified-name", "%ED%99%8D%EA%B8%B8%EB%8F%99"),
            ("x-verified-birth", "1976-11-07"),
            ("x-verified-age", "50"),
            ("x-verified-policy", "adult"),
            ("x-verified-certified-at", "1685719311"),
            ("x-verified-gender", "male"),
            ("x-verified-unique-key", "CI%2B%2F%3D"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(rendered(&annotate(&names, &a)), want);
    }

    #[test]
    fn failures_carry_a_reason_and_only_known_fields() {
        let uid = ImpUid::parse("imp_1").unwrap();
        let names = HeaderNames::new("x-id-", &[ForwardField::Phone]).unwrap();
        let p = policy();
        let a = Annotation {
            judgement: Judgement {
                verdict: Verdict::Unverified(FailureReason::NotFound),
                age: None,
            },
            imp_uid: Some(&uid),
            identity: None,
            policy: &p,
        };
        let got = rendered(&annotate(&names, &a));
        let keys: Vec<&str> = got.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            ["x-id-verdict", "x-id-reason", "x-id-imp-uid", "x-id-policy"]
        );
        assert_eq!(got[1].1, "not_found");

        let deny = Judgement {
            verdict: Verdict::Deny(DenyReason::BirthUnknown),
            age: None,
        };
        assert_eq!(deny.verdict.reason(), Some("birth_unknown"));
    }

    #[test]
    fn content_digest_is_rfc9530_sha256() {
        // RFC 9530 §B.1 style: sha-256 of {"hello": "world"}
        let v = content_digest(b"{\"hello\": \"world\"}");
        assert_eq!(
            v.to_str().unwrap(),
            "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"
        );
    }
}
