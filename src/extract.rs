//! Taking the `imp_uid` out of a request: from the query string or from a JSON, form or
//! multipart body.
//!
//! Everything here is pure and works on borrowed bytes: a JSON body is scanned for the one field
//! without building a document, so a large body costs no allocation beyond the field itself.
//! Ambiguity is refused: two `imp_uid` keys, parameters or form fields are an error, never
//! "pick one". A body without a type, or sent as `text/plain` (what `fetch` sends for a string),
//! is JSON when it parses as an object and a form otherwise, the way browsers' callers mean it.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};

use crate::imp_uid::{ImpUid, ImpUidError};
use crate::provider::ProviderName;
use crate::verification_id::VerificationId;

/// Where a route looks for the imp_uid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImpUidSource {
    Body,
    Query,
    /// The query first, then the body.
    Auto,
}

impl ImpUidSource {
    /// The name used in the config file.
    pub fn as_str(self) -> &'static str {
        match self {
            ImpUidSource::Body => "body",
            ImpUidSource::Query => "query",
            ImpUidSource::Auto => "auto",
        }
    }
}

/// Why no valid imp_uid could be taken from a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtractError {
    #[error("the request carries no imp_uid")]
    Missing,
    #[error("{0}")]
    Invalid(#[from] ImpUidError),
    #[error("the imp_uid must be a string")]
    NotAString,
    #[error("the request carries more than one imp_uid")]
    Ambiguous,
    #[error("the body is not valid {0}")]
    Malformed(BodyKind),
    #[error("the body's content type is not JSON, a form or multipart form data")]
    UnsupportedMediaType,
}

/// The body formats an intercepted route understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    Json,
    Form,
    /// `multipart/form-data`: text fields are read, file parts skipped.
    Multipart,
    /// `text/plain` or no type: JSON when it parses as an object, else a form.
    Plain,
}

impl fmt::Display for BodyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BodyKind::Json => "JSON (a top-level object)",
            BodyKind::Form => "form data",
            BodyKind::Multipart => "multipart form data",
            BodyKind::Plain => "JSON or form data",
        })
    }
}

/// Classifies a `Content-Type` value. Parameters (`; charset=utf-8`) and case are ignored;
/// `application/*+json` counts as JSON.
pub fn body_kind(content_type: &[u8]) -> Option<BodyKind> {
    let essence = content_type
        .split(|&b| b == b';')
        .next()
        .unwrap_or_default()
        .trim_ascii();
    let essence = std::str::from_utf8(essence).ok()?.to_ascii_lowercase();
    match essence.as_str() {
        "application/json" => Some(BodyKind::Json),
        "application/x-www-form-urlencoded" => Some(BodyKind::Form),
        "multipart/form-data" => Some(BodyKind::Multipart),
        "text/plain" => Some(BodyKind::Plain),
        e if e.starts_with("application/") && e.ends_with("+json") => Some(BodyKind::Json),
        _ => None,
    }
}

/// The single value of `field` in a URL-encoded string (a query or a form body).
fn single_form_value<'a>(
    input: &'a [u8],
    field: &str,
) -> Result<Option<Cow<'a, str>>, ExtractError> {
    let mut found = None;
    for (k, v) in form_urlencoded::parse(input) {
        if k == field {
            if found.is_some() {
                return Err(ExtractError::Ambiguous);
            }
            found = Some(v);
        }
    }
    Ok(found)
}

/// The imp_uid in a query string (without the `?`), if the parameter is present.
pub fn from_query(query: &str, field: &str) -> Result<Option<ImpUid>, ExtractError> {
    from_query_for(ProviderName::Iamport, query, field)
}

/// The id of `provider` (validated by its rules) in a query string, if the parameter is present.
pub fn from_query_for(
    provider: ProviderName,
    query: &str,
    field: &str,
) -> Result<Option<VerificationId>, ExtractError> {
    single_form_value(query.as_bytes(), field)?
        .map(|v| provider.parse_id(&v).map_err(ExtractError::from))
        .transpose()
}

/// Whether the browser reported a failed verification (`success=false` on the redirect URL).
/// Any `success` value other than `true` counts as failure when the parameter is present more
/// than once, so a duplicated parameter cannot turn a failure into a lookup.
pub fn query_reports_failure(query: &str) -> bool {
    form_urlencoded::parse(query.as_bytes())
        .any(|(k, v)| k == "success" && v.eq_ignore_ascii_case("false"))
}

/// The imp_uid in a body of the given content type, if the field is present.
pub fn from_body(
    content_type: Option<&[u8]>,
    body: &[u8],
    field: &str,
) -> Result<Option<ImpUid>, ExtractError> {
    from_body_for(ProviderName::Iamport, content_type, body, field)
}

/// The id of `provider` (validated by its rules) in a body of the given content type, if the
/// field is present.
pub fn from_body_for(
    provider: ProviderName,
    content_type: Option<&[u8]>,
    body: &[u8],
    field: &str,
) -> Result<Option<VerificationId>, ExtractError> {
    if body.is_empty() {
        return Ok(None);
    }
    let kind = match content_type {
        None => BodyKind::Plain,
        Some(ct) => body_kind(ct).ok_or(ExtractError::UnsupportedMediaType)?,
    };
    let value = match kind {
        BodyKind::Form => single_form_value(body, field)?,
        BodyKind::Json => json_field(body, field)?,
        // Only a multipart type (checked above) gets here, so `content_type` is present.
        BodyKind::Multipart => multipart_field(content_type.unwrap_or_default(), body, field)?,
        BodyKind::Plain => match json_field(body, field) {
            Err(ExtractError::Malformed(_)) => single_form_value(body, field)?,
            parsed => parsed?,
        },
    };
    value
        .map(|v| provider.parse_id(&v).map_err(ExtractError::from))
        .transpose()
}

/// Takes the imp_uid as `source` says. `query` is the raw query string without `?`.
pub fn extract(
    source: ImpUidSource,
    field: &str,
    query: &str,
    content_type: Option<&[u8]>,
    body: &[u8],
) -> Result<ImpUid, ExtractError> {
    extract_for(
        ProviderName::Iamport,
        source,
        field,
        query,
        content_type,
        body,
    )
}

/// Takes the id of `provider` as `source` says, validated by that provider's rules (an
/// `imp_uid` up to 64 characters, a V2 `identityVerificationId` up to 128) before anything
/// else can see it. `query` is the raw query string without `?`.
pub fn extract_for(
    provider: ProviderName,
    source: ImpUidSource,
    field: &str,
    query: &str,
    content_type: Option<&[u8]>,
    body: &[u8],
) -> Result<VerificationId, ExtractError> {
    let found = match source {
        ImpUidSource::Query => from_query_for(provider, query, field)?,
        ImpUidSource::Body => from_body_for(provider, content_type, body, field)?,
        ImpUidSource::Auto => match from_query_for(provider, query, field)? {
            Some(uid) => Some(uid),
            None => from_body_for(provider, content_type, body, field)?,
        },
    };
    found.ok_or(ExtractError::Missing)
}

/// Scans a JSON body for the top-level string `field`, ignoring every other value.
fn json_field(body: &[u8], field: &str) -> Result<Option<Cow<'static, str>>, ExtractError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let found = FieldSeed { field }
        .deserialize(&mut de)
        .map_err(|e| match classify(&e) {
            Some(err) => err,
            None => ExtractError::Malformed(BodyKind::Json),
        })?;
    de.end()
        .map_err(|_| ExtractError::Malformed(BodyKind::Json))?;
    Ok(found.map(Cow::Owned))
}

/// The single text field `field` of a `multipart/form-data` body. Parts with a file name are
/// skipped without being kept; the body is already whole and bounded by `max_body_bytes`.
fn multipart_field(
    content_type: &[u8],
    body: &[u8],
    field: &str,
) -> Result<Option<Cow<'static, str>>, ExtractError> {
    use std::future::Future;
    use std::task::{Context, Poll, Waker};

    let malformed = || ExtractError::Malformed(BodyKind::Multipart);
    let content_type = std::str::from_utf8(content_type).map_err(|_| malformed())?;
    let boundary = multer::parse_boundary(content_type).map_err(|_| malformed())?;
    let whole = futures_util::stream::once(std::future::ready(Ok::<_, std::convert::Infallible>(
        bytes::Bytes::copy_from_slice(body),
    )));
    let mut parts = multer::Multipart::new(whole, boundary);
    let read = async move {
        let mut found = None;
        while let Some(part) = parts.next_field().await.map_err(|_| malformed())? {
            if part.file_name().is_some() || part.name() != Some(field) {
                continue;
            }
            if found.is_some() {
                return Err(ExtractError::Ambiguous);
            }
            let value = part.bytes().await.map_err(|_| malformed())?;
            // Not UTF-8 is not an imp_uid: the replacement character fails its validation.
            found = Some(Cow::Owned(String::from_utf8_lossy(&value).into_owned()));
        }
        Ok(found)
    };
    // The stream is one ready chunk, so the parser never waits: one poll finishes it, and this
    // pure function needs no runtime.
    let mut read = std::pin::pin!(read);
    match read.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(result) => result,
        Poll::Pending => Err(malformed()),
    }
}

const NOT_A_STRING: &str = "verigate: imp_uid not a string";
const DUPLICATE: &str = "verigate: duplicate imp_uid";

/// Recovers our own error kinds from the serde error they travelled in.
fn classify(e: &serde_json::Error) -> Option<ExtractError> {
    let text = e.to_string();
    if text.starts_with(NOT_A_STRING) {
        Some(ExtractError::NotAString)
    } else if text.starts_with(DUPLICATE) {
        Some(ExtractError::Ambiguous)
    } else {
        None
    }
}

struct FieldSeed<'f> {
    field: &'f str,
}

impl<'de> DeserializeSeed<'de> for FieldSeed<'_> {
    type Value = Option<String>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for FieldSeed<'_> {
    type Value = Option<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            if key == self.field {
                if found.is_some() {
                    return Err(de::Error::custom(DUPLICATE));
                }
                found = Some(map.next_value_seed(StringOnly)?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

/// Accepts only a JSON string; any other type is reported as [`ExtractError::NotAString`].
struct StringOnly;

impl<'de> DeserializeSeed<'de> for StringOnly {
    type Value = String;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StringOnly {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_owned())
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<String, E> {
        Err(E::custom(NOT_A_STRING))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<String, E> {
        Err(E::custom(NOT_A_STRING))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<String, E> {
        Err(E::custom(NOT_A_STRING))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<String, E> {
        Err(E::custom(NOT_A_STRING))
    }
    fn visit_unit<E: de::Error>(self) -> Result<String, E> {
        Err(E::custom(NOT_A_STRING))
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<String, A::Error> {
        Err(de::Error::custom(NOT_A_STRING))
    }
    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<String, A::Error> {
        Err(de::Error::custom(NOT_A_STRING))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ExtractError::*;

    const JSON: Option<&[u8]> = Some(b"application/json");
    const FORM: Option<&[u8]> = Some(b"application/x-www-form-urlencoded");

    type Want = Result<ImpUid, ExtractError>;
    type BodyCase<'a> = (Option<&'a [u8]>, &'a [u8], Want);

    fn uid(s: &str) -> Want {
        Ok(ImpUid::parse(s).unwrap())
    }

    #[test]
    fn body_extraction_handles_json_and_forms_and_refuses_the_rest() {
        let deep = "{\"a\":".repeat(200);
        let cases: &[BodyCase] = &[
            (JSON, br#"{"imp_uid":"imp_123456789012"}"#, uid("imp_123456789012")),
            (
                JSON,
                br#"{"merchant_uid":"m 1","imp_uid":"imp_1","nested":{"imp_uid":"x"},"a":[1,{"b":null}]}"#,
                uid("imp_1"),
            ),
            (Some(b"Application/JSON; charset=utf-8"), br#"{"imp_uid":"imp_1"}"#, uid("imp_1")),
            (Some(b"application/vnd.api+json"), br#"{"imp_uid":"imp_1"}"#, uid("imp_1")),
            (JSON, br#"{"imp_uid":"imp_\u0031"}"#, uid("imp_1")),
            (JSON, br#"{"other":1}"#, Err(Missing)),
            (JSON, b"", Err(Missing)),
            (JSON, br#"{"imp_uid":123}"#, Err(NotAString)),
            (JSON, br#"{"imp_uid":null}"#, Err(NotAString)),
            (JSON, br#"{"imp_uid":["imp_1"]}"#, Err(NotAString)),
            (JSON, br#"{"imp_uid":{"$ne":""}}"#, Err(NotAString)),
            (JSON, br#"{"imp_uid":"imp_1","imp_uid":"imp_2"}"#, Err(Ambiguous)),
            (JSON, br#"{"imp_uid":"../users/getToken"}"#, Err(Invalid(ImpUidError::BadCharacter))),
            (JSON, br#"{"imp_uid":""}"#, Err(Invalid(ImpUidError::Empty))),
            (JSON, br#"["imp_1"]"#, Err(Malformed(BodyKind::Json))),
            (JSON, br#"{"imp_uid":"imp_1"} trailing"#, Err(Malformed(BodyKind::Json))),
            (JSON, br#"{"imp_uid":"imp_1""#, Err(Malformed(BodyKind::Json))),
            (JSON, b"{\"imp_uid\":\"imp_\xff\"}", Err(Malformed(BodyKind::Json))),
            (JSON, deep.as_bytes(), Err(Malformed(BodyKind::Json))),
            (FORM, b"imp_uid=imp_1&merchant_uid=m%201", uid("imp_1")),
            (FORM, b"a=1&imp_uid=imp_1", uid("imp_1")),
            (FORM, b"imp_uid=imp_1&imp_uid=imp_1", Err(Ambiguous)),
            (FORM, b"imp_uid=imp_1%2F..", Err(Invalid(ImpUidError::BadCharacter))),
            (FORM, b"other=1", Err(Missing)),
            // `fetch` with a string body sends text/plain; curl -d without -H sends no type.
            (Some(b"text/plain"), b"imp_uid=imp_1", uid("imp_1")),
            (Some(b"Text/Plain;charset=UTF-8"), br#"{"imp_uid":"imp_1"}"#, uid("imp_1")),
            (None, br#"{"imp_uid":"imp_1"}"#, uid("imp_1")),
            (None, b"imp_uid=imp_1&a=%7B", uid("imp_1")),
            (None, br#" {"imp_uid":"imp_1","imp_uid":"imp_2"}"#, Err(Ambiguous)),
            (None, br#"{"imp_uid":7}"#, Err(NotAString)),
            // Not an object: read as a form, which has no such parameter.
            (None, br#"["imp_1"]"#, Err(Missing)),
            (None, br#"{"imp_uid":"imp_1"} x"#, Err(Missing)),
            (None, b"imp_uid=a&imp_uid=b", Err(Ambiguous)),
            (Some(b"text/html"), b"imp_uid=imp_1", Err(UnsupportedMediaType)),
            (Some(b"application/xml"), b"<imp_uid/>", Err(UnsupportedMediaType)),
            (Some(b"multipart/mixed; boundary=x"), b"--x--", Err(UnsupportedMediaType)),
        ];
        for (i, (ct, body, want)) in cases.iter().enumerate() {
            let got = extract(ImpUidSource::Body, "imp_uid", "", *ct, body);
            assert_eq!(&got, want, "case {i}: {:?}", String::from_utf8_lossy(body));
        }
    }

    /// A multipart body as a browser's `FormData` sends it.
    fn multipart(boundary: &str, parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, file, value) in parts {
            out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
            match file {
                Some(f) => out.extend_from_slice(
                    format!(
                        "Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\n\
                         Content-Type: application/octet-stream\r\n\r\n"
                    )
                    .as_bytes(),
                ),
                None => out.extend_from_slice(
                    format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
                ),
            }
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        out
    }

    #[test]
    fn multipart_bodies_give_their_text_field_and_skip_files() {
        let b = "----WebKitFormBoundaryAbCdE7xYz";
        let ct = format!("multipart/form-data; boundary={b}");
        let odd_case = format!("Multipart/Form-Data; BOUNDARY={b}");
        let quoted = format!("multipart/form-data; charset=utf-8; Boundary=\"{b}\"");
        let file: &[u8] = b"\x89PNG\r\n--not-the-boundary\r\nimp_uid=imp_evil\0\xff";
        let field = |v: &[u8]| multipart(b, &[("imp_uid", None, v)]);
        let cases: Vec<(&str, Vec<u8>, Want)> = vec![
            (&ct, field(b"imp_1"), uid("imp_1")),
            (
                &odd_case,
                multipart(
                    b,
                    &[
                        ("merchant_uid", None, b"m 1"),
                        ("photo", Some("a.png"), file),
                        ("imp_uid", None, b"imp_2"),
                    ],
                ),
                uid("imp_2"),
            ),
            (&quoted, field(b"imp_3"), uid("imp_3")),
            // A file part under the field's name is not the field.
            (
                &ct,
                multipart(b, &[("imp_uid", Some("x.txt"), b"imp_f")]),
                Err(Missing),
            ),
            (
                &ct,
                multipart(
                    b,
                    &[
                        ("imp_uid", Some("x.txt"), b"imp_f"),
                        ("imp_uid", None, b"imp_4"),
                    ],
                ),
                uid("imp_4"),
            ),
            (
                &ct,
                multipart(
                    b,
                    &[("imp_uid", None, b"imp_1"), ("imp_uid", None, b"imp_1")],
                ),
                Err(Ambiguous),
            ),
            (&ct, multipart(b, &[("other", None, b"x")]), Err(Missing)),
            (&ct, field(b"../x"), Err(Invalid(ImpUidError::BadCharacter))),
            (
                &ct,
                field(b"imp_\xff"),
                Err(Invalid(ImpUidError::BadCharacter)),
            ),
            // The boundary is case-sensitive: another case is another boundary.
            (
                &ct,
                multipart(&b.to_ascii_lowercase(), &[("imp_uid", None, b"imp_1")]),
                Err(Malformed(BodyKind::Multipart)),
            ),
            (
                &ct,
                b"imp_uid=imp_1".to_vec(),
                Err(Malformed(BodyKind::Multipart)),
            ),
            (
                &ct,
                format!("--{b}\r\nContent-Disposition: form-data; name=\"imp_uid\"\r\n\r\nimp_1")
                    .into_bytes(),
                Err(Malformed(BodyKind::Multipart)),
            ),
            (
                "multipart/form-data",
                field(b"imp_1"),
                Err(Malformed(BodyKind::Multipart)),
            ),
        ];
        for (i, (ct, body, want)) in cases.iter().enumerate() {
            let got = extract(ImpUidSource::Body, "imp_uid", "", Some(ct.as_bytes()), body);
            assert_eq!(&got, want, "case {i}: {ct}");
        }
    }

    #[test]
    fn query_extraction_and_auto_order() {
        let cases: &[(ImpUidSource, &str, &[u8], Want)] = &[
            (
                ImpUidSource::Query,
                "imp_uid=imp_1&success=true",
                b"",
                uid("imp_1"),
            ),
            (
                ImpUidSource::Query,
                "merchant_uid=x&imp_uid=imp_2",
                b"",
                uid("imp_2"),
            ),
            (
                ImpUidSource::Query,
                "imp_uid=imp_1&imp_uid=imp_2",
                b"",
                Err(Ambiguous),
            ),
            (ImpUidSource::Query, "imp_uid=imp%5F1", b"", uid("imp_1")),
            (
                ImpUidSource::Query,
                "imp_uid=imp_1%2F..%2Fx",
                b"",
                Err(Invalid(ImpUidError::BadCharacter)),
            ),
            (
                ImpUidSource::Query,
                "imp_uid=",
                b"",
                Err(Invalid(ImpUidError::Empty)),
            ),
            (ImpUidSource::Query, "", b"", Err(Missing)),
            (
                ImpUidSource::Auto,
                "imp_uid=imp_q",
                br#"{"imp_uid":"imp_b"}"#,
                uid("imp_q"),
            ),
            (
                ImpUidSource::Auto,
                "x=1",
                br#"{"imp_uid":"imp_b"}"#,
                uid("imp_b"),
            ),
            (ImpUidSource::Auto, "", b"", Err(Missing)),
            (ImpUidSource::Body, "imp_uid=imp_q", b"", Err(Missing)),
        ];
        for (i, (source, query, body, want)) in cases.iter().enumerate() {
            let got = extract(*source, "imp_uid", query, JSON, body);
            assert_eq!(&got, want, "case {i}");
        }
    }

    #[test]
    fn custom_field_name_is_honoured() {
        let got = extract(
            ImpUidSource::Body,
            "uid",
            "",
            JSON,
            br#"{"imp_uid":"a","uid":"b"}"#,
        );
        assert_eq!(got, uid("b"));
    }

    #[test]
    fn success_false_is_a_browser_failure() {
        let cases = [
            ("imp_uid=imp_1&success=false", true),
            ("success=False&imp_uid=imp_1", true),
            ("success=true", false),
            ("success=true&success=false", true),
            ("", false),
            (
                "error_code=F400&success=false&error_msg=%EC%B7%A8%EC%86%8C",
                true,
            ),
        ];
        for (q, want) in cases {
            assert_eq!(query_reports_failure(q), want, "{q}");
        }
    }
}
