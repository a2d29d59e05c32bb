//! Stand-ins for PortOne's browser SDKs (README, "The sandbox"), so a verification page runs offline:
//!
//! - `GET /__sandbox/sdk/iamport.js` defines `IMP.init`, `IMP.agency` and
//!   `IMP.certification(params, callback)` (V1);
//! - `GET /__sandbox/sdk/browser-sdk.js` defines `PortOne.requestIdentityVerification(request)`,
//!   which returns a Promise (V2).
//!
//! Each opens the sandbox's page `GET /__sandbox/verify?…` (Korean and English, sized for a
//! phone) in a popup (`window.open`; the result comes back by `postMessage`, which the opener
//! accepts only from the sandbox's origin with the nonce it chose) or, in redirect mode, in the
//! same window. Redirect mode is V1's `popup: false`, or `m_redirect_url` on a phone unless
//! `popup: true`; V2's `windowType` `REDIRECTION` (the default on a phone) or `forceRedirect`,
//! with `redirectUrl`. On the page the tester picks a stored person, creates one, or cancels;
//! the page posts the choice to `POST /__sandbox/verify`, which stores a REAL record and answers
//! the SDK's result:
//!
//! - V1: a certification carrying the page's `merchant_uid` (`certified: false` on cancel);
//!   callback `{success, error_code, error_msg, imp_uid, merchant_uid}`, or in redirect mode
//!   `m_redirect_url?imp_uid=…&merchant_uid=…&success=true|false` (+ `error_code`,
//!   `error_msg` on failure).
//! - V2: an identity verification with the given `identityVerificationId` (`VERIFIED`, or
//!   `FAILED` on cancel; an id already `VERIFIED` is never verified twice and fails with
//!   `IdentityVerificationAlreadyVerified`); the Promise resolves
//!   `{transactionType: "IDENTITY_VERIFICATION", identityVerificationId,
//!   identityVerificationTxId}` (+ `code`, `message` on failure), or in redirect mode those keys
//!   are query parameters of `redirectUrl`.
//!
//! Failure codes the sandbox uses: V1 `F0000` cancelled, `F0001` popup closed, `F0002` popup
//! blocked, `F0003` bad call; V2 `PGProviderError` cancelled, `Cancelled` popup closed,
//! `FailedPrecondition` popup blocked, `BadRequest` bad call, and
//! `IdentityVerificationAlreadyVerified`.
//!
//! Stable element ids for browser tests: `#person-<n>` (the n-th stored person, 0-based, with
//! `data-name` and `data-birthday`), `#new-name`, `#new-birthday` (a date input, value
//! `YYYY-MM-DD`), `#new-gender`, `#create`, `#cancel`, `#error` (shown on failure), `#done`
//! (shown once a popup's result was sent).

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::records::kst_midnight;
use super::records_v2::{STATUS_FAILED, STATUS_VERIFIED};
use super::state::lock;
use super::{
    Sandbox, SandboxChannel, SandboxFailure, SandboxIdentityVerification, SandboxRecord,
    SandboxVerifiedCustomer,
};

const SDK_COMMON: &str = include_str!("assets/sdk-common.js");
const IAMPORT_JS: &str = include_str!("assets/iamport.js");
const BROWSER_SDK_JS: &str = include_str!("assets/browser-sdk.js");
const VERIFY_HTML: &str = include_str!("assets/verify.html");

/// Most stored people the page lists.
const PEOPLE_SHOWN: usize = 50;
/// Longest name the page accepts.
const NAME_MAX_CHARS: usize = 50;

/// The stand-ins' routes, merged before the APIs' fallback.
pub(super) fn routes() -> Router<Sandbox> {
    Router::new()
        .route("/__sandbox/sdk/iamport.js", get(iamport_js))
        .route("/__sandbox/sdk/browser-sdk.js", get(browser_sdk_js))
        .route("/__sandbox/verify", get(page).post(complete))
}

fn script(body: &str) -> Response {
    let js = body.replace("__COMMON__", SDK_COMMON);
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        js,
    )
        .into_response()
}

async fn iamport_js() -> Response {
    script(IAMPORT_JS)
}

async fn browser_sdk_js() -> Response {
    script(BROWSER_SDK_JS)
}

/// Which SDK opened the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Sdk {
    V1,
    V2,
}

/// How the page hands the result back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Mode {
    Popup,
    Redirect,
}

/// What the SDK asked for: the page's query, echoed back by the page when it completes.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct VerifyRequest {
    sdk: Sdk,
    mode: Mode,
    /// The opener's origin (popup: where the result is posted).
    origin: Option<String>,
    nonce: Option<String>,
    /// Redirect mode: where to go with the result.
    redirect: Option<String>,
    merchant_uid: Option<String>,
    imp_code: Option<String>,
    identity_verification_id: Option<String>,
    store_id: Option<String>,
    channel_key: Option<String>,
    custom_data: Option<String>,
    /// A name to prefill.
    name: Option<String>,
}

fn is_http_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://")
}

impl VerifyRequest {
    /// What is wrong with the request, if anything.
    fn problem(&self) -> Option<&'static str> {
        let present = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.is_empty());
        match self.sdk {
            Sdk::V1 if !present(&self.merchant_uid) => return Some("merchant_uid is required"),
            Sdk::V2 if !present(&self.identity_verification_id) => {
                return Some("identity_verification_id is required");
            }
            _ => {}
        }
        match self.mode {
            Mode::Redirect if !self.redirect.as_deref().is_some_and(is_http_url) => {
                Some("redirect mode needs an http(s) redirect URL")
            }
            Mode::Popup if !self.origin.as_deref().is_some_and(is_http_url) => {
                Some("popup mode needs the opener's http(s) origin")
            }
            _ => None,
        }
    }
}

/// A person the page offers or creates.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
struct Person {
    name: String,
    birthday: String,
    /// `male` / `female`.
    gender: Option<String>,
    phone: Option<String>,
    /// V1 carrier (`SKT`, `KT`, `LGT`, …).
    carrier: Option<String>,
}

impl Person {
    fn problem(&self) -> Option<&'static str> {
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > NAME_MAX_CHARS {
            return Some("a name of 1 to 50 characters is required");
        }
        if kst_midnight(&self.birthday).is_none() {
            return Some("a birthday YYYY-MM-DD is required");
        }
        match self.gender.as_deref() {
            None | Some("male" | "female") => None,
            Some(_) => Some("gender is male or female"),
        }
    }
}

fn bad_request(message: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": message }))).into_response()
}

/// `GET /__sandbox/verify?…`: the page, with the request and the stored people in it.
async fn page(
    State(sandbox): State<Sandbox>,
    query: Result<Query<VerifyRequest>, QueryRejection>,
) -> Response {
    let req = match query {
        Ok(Query(req)) => req,
        Err(e) => return bad_request(&e.body_text()),
    };
    if let Some(problem) = req.problem() {
        return bad_request(problem);
    }
    let config = json!({ "request": req, "people": sandbox.people() });
    // Inside <script>, `<` could close the element: JSON allows it escaped.
    let config = config.to_string().replace('<', "\\u003c");
    let mut resp = VERIFY_HTML.replace("__CONFIG__", &config).into_response();
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// What the page posts back.
#[derive(Deserialize)]
struct Completion {
    request: VerifyRequest,
    action: Action,
    person: Option<Person>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Action {
    Verify,
    Cancel,
}

/// `POST /__sandbox/verify`: stores the record and answers `{result, redirect}`.
async fn complete(State(sandbox): State<Sandbox>, body: Bytes) -> Response {
    let c: Completion = match serde_json::from_slice(&body) {
        Ok(c) => c,
        Err(e) => return bad_request(&format!("invalid JSON body: {e}")),
    };
    if let Some(problem) = c.request.problem() {
        return bad_request(problem);
    }
    let person = match (c.action, c.person) {
        (Action::Verify, Some(p)) => match p.problem() {
            Some(problem) => return bad_request(problem),
            None => Some(p),
        },
        (Action::Verify, None) => return bad_request("verify needs a person"),
        (Action::Cancel, _) => None,
    };
    let (result, query) = match c.request.sdk {
        Sdk::V1 => sandbox.complete_v1(&c.request, person),
        Sdk::V2 => sandbox.complete_v2_attempt(&c.request, person),
    };
    let redirect = match (c.request.mode, &c.request.redirect) {
        (Mode::Redirect, Some(url)) => Some(with_query(url, &query)),
        _ => None,
    };
    Json(json!({ "result": result, "redirect": redirect })).into_response()
}

/// `url` with `pairs` appended to its query (before any fragment).
pub(super) fn with_query(url: &str, pairs: &[(&str, String)]) -> String {
    let (base, fragment) = match url.split_once('#') {
        Some((b, f)) => (b, Some(f)),
        None => (url, None),
    };
    let mut ser = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        ser.append_pair(k, v);
    }
    let sep = match base.contains('?') {
        true if base.ends_with('?') || base.ends_with('&') => "",
        true => "&",
        false => "?",
    };
    let mut out = format!("{base}{sep}{}", ser.finish());
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

/// A V2 attempt id: `sandbox-tx-` and 16 hex digits.
fn fresh_tx_id() -> String {
    let n: u64 = rand::rng().random();
    format!("sandbox-tx-{n:016x}")
}

/// V1 carrier → V2 operator (`LGT` is `LGU` in V2).
fn operator_of(carrier: &str) -> String {
    carrier.replace("LGT", "LGU")
}

impl Sandbox {
    /// Distinct people (name and birthday) of the stored records, V1 and V2, sorted.
    fn people(&self) -> Vec<Person> {
        let mut people: Vec<Person> = lock(&self.inner.records)
            .values()
            .filter(|r| r.certified != Some(false))
            .filter_map(|r| {
                Some(Person {
                    name: r.name.clone()?,
                    birthday: r.birthday.clone()?,
                    gender: r.gender.clone(),
                    phone: r.phone.clone(),
                    carrier: r.carrier.clone(),
                })
            })
            .collect();
        people.extend(
            lock(&self.inner.identity_verifications)
                .values()
                .filter(|r| r.status.as_deref() == Some(STATUS_VERIFIED))
                .filter_map(|r| {
                    let c = r.verified_customer.as_ref()?;
                    Some(Person {
                        name: c.name.clone()?,
                        birthday: c.birth_date.clone()?,
                        gender: c.gender.as_ref().map(|g| g.to_ascii_lowercase()),
                        phone: c.phone_number.clone(),
                        carrier: c.operator.as_ref().map(|o| o.replace("LGU", "LGT")),
                    })
                }),
        );
        people.sort();
        people.dedup_by(|a, b| a.name == b.name && a.birthday == b.birthday);
        people.truncate(PEOPLE_SHOWN);
        people
    }

    /// A V1 attempt: a certification with the page's merchant_uid; the callback result and
    /// the redirect query.
    fn complete_v1(
        &self,
        req: &VerifyRequest,
        person: Option<Person>,
    ) -> (Value, Vec<(&'static str, String)>) {
        let merchant_uid = req.merchant_uid.clone().unwrap_or_default();
        let base = SandboxRecord {
            merchant_uid: Some(merchant_uid.clone()),
            origin: req.origin.clone(),
            ..SandboxRecord::default()
        };
        let rec = match &person {
            Some(p) => SandboxRecord {
                name: Some(p.name.trim().to_owned()),
                birthday: Some(p.birthday.clone()),
                gender: p.gender.clone(),
                phone: p.phone.clone(),
                carrier: p.carrier.clone(),
                ..base
            },
            None => SandboxRecord {
                certified: Some(false),
                ..base
            },
        };
        let imp_uid = self.insert(rec).imp_uid.unwrap_or_default();
        let mut query = vec![
            ("imp_uid", imp_uid.clone()),
            ("merchant_uid", merchant_uid.clone()),
            ("success", person.is_some().to_string()),
        ];
        if person.is_some() {
            let result = json!({
                "success": true, "error_code": null, "error_msg": null,
                "imp_uid": imp_uid, "merchant_uid": merchant_uid,
            });
            return (result, query);
        }
        let msg = "사용자가 본인인증을 취소했습니다. (The tester cancelled.)";
        query.push(("error_code", "F0000".to_owned()));
        query.push(("error_msg", msg.to_owned()));
        let result = json!({
            "success": false, "error_code": "F0000", "error_msg": msg,
            "imp_uid": imp_uid, "merchant_uid": merchant_uid,
        });
        (result, query)
    }

    /// A V2 attempt: an identity verification with the given id (never a second success for
    /// one id); the Promise's result and the redirect query (the same keys).
    fn complete_v2_attempt(
        &self,
        req: &VerifyRequest,
        person: Option<Person>,
    ) -> (Value, Vec<(&'static str, String)>) {
        let id = req.identity_verification_id.clone().unwrap_or_default();
        let tx_id = fresh_tx_id();
        let already = self
            .identity_verification(&id)
            .is_some_and(|r| r.status.as_deref() == Some(STATUS_VERIFIED));
        let failure = if already {
            Some((
                "IdentityVerificationAlreadyVerified",
                "이미 완료된 본인인증입니다. (Already verified.)",
            ))
        } else {
            self.store_v2_attempt(req, &id, person.as_ref());
            person.is_none().then_some((
                "PGProviderError",
                "사용자가 본인인증을 취소했습니다. (The tester cancelled.)",
            ))
        };
        let mut query = vec![
            ("transactionType", "IDENTITY_VERIFICATION".to_owned()),
            ("identityVerificationId", id),
            ("identityVerificationTxId", tx_id),
        ];
        if let Some((code, message)) = failure {
            query.push(("code", code.to_owned()));
            query.push(("message", message.to_owned()));
        }
        let result: serde_json::Map<String, Value> = query
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::String(v.clone())))
            .collect();
        (Value::Object(result), query)
    }

    /// Stores the V2 record of one attempt: `VERIFIED` for a person, `FAILED` on cancel.
    fn store_v2_attempt(&self, req: &VerifyRequest, id: &str, person: Option<&Person>) {
        let channel = req.channel_key.as_ref().map(|key| SandboxChannel {
            key: Some(key.clone()),
            ..SandboxChannel::default()
        });
        let base = SandboxIdentityVerification {
            id: Some(id.to_owned()),
            channel,
            custom_data: req.custom_data.clone(),
            store_id: req.store_id.clone(),
            ..SandboxIdentityVerification::default()
        };
        let rec = match person {
            Some(p) => SandboxIdentityVerification {
                status: Some(STATUS_VERIFIED.to_owned()),
                verified_customer: Some(SandboxVerifiedCustomer {
                    name: Some(p.name.trim().to_owned()),
                    birth_date: Some(p.birthday.clone()),
                    gender: p.gender.as_ref().map(|g| g.to_ascii_uppercase()),
                    phone_number: p.phone.clone(),
                    operator: p.carrier.as_deref().map(operator_of),
                    ..SandboxVerifiedCustomer::default()
                }),
                ..base
            },
            None => SandboxIdentityVerification {
                status: Some(STATUS_FAILED.to_owned()),
                failure: Some(SandboxFailure {
                    reason: Some("사용자가 본인인증을 취소했습니다.".to_owned()),
                    ..SandboxFailure::default()
                }),
                ..base
            },
        };
        self.insert_identity_verification(rec);
    }
}
