//! Heap allocations of the per-request pure steps of gating (issue 13's performance rule): a
//! canonical path, a prefix match, finding a request's route, a `Cookie` header without
//! verigate's cookies and a local `rd` allocate nothing; opening a session in a warm scratch
//! buffer allocates only the owned strings of the session itself; judging it allocates nothing,
//! and its headers only themselves. Counted by a global allocator that counts per thread, so
//! tests running in parallel do not disturb each other. (aws-lc's own C allocations, if any,
//! do not pass through Rust's allocator and are not counted.)

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use verigate::identity::Identity;
use verigate::imp_uid::ImpUid;
use verigate::path::{Prefix, normalise};
use verigate::policy::{AgeBasis, Policy};
use verigate::route::{Gate, Matched, OnDeny, OnFailure, Route, Router};
use verigate::seal::Sealer;
use verigate::session::redirect::local_target;
use verigate::session::{CookieSettings, Provider, SameSite, Session, SessionCookies};

struct Counting;

thread_local! {
    static COUNT: Cell<usize> = const { Cell::new(0) };
}

fn bump() {
    let _ = COUNT.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: every call is forwarded unchanged to the system allocator; counting touches only a
// const-initialised thread-local `Cell`, which never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        bump();
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        bump();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn allocations<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = COUNT.with(Cell::get);
    let out = f();
    (out, COUNT.with(Cell::get) - before)
}

#[test]
fn a_canonical_path_is_normalised_and_matched_without_allocating() {
    let gate = Prefix::new("/adult", false).unwrap();
    for path in [
        "/adult/x/y.html",
        "/",
        "/shop/%EC%84%B1%EC%9D%B8",
        "/adultery",
    ] {
        let (gated, n) = allocations(|| {
            let p = normalise(path).unwrap();
            gate.matches(&p)
        });
        assert_eq!(n, 0, "{path} (gated: {gated})");
    }
    // The counter does count: a path that needs rewriting allocates its new form.
    let (_, n) = allocations(|| normalise("//adult/./x").unwrap().len());
    assert!(n >= 1);
}

fn adult() -> Arc<Policy> {
    Arc::new(Policy {
        name: "adult".into(),
        min_age: 19,
        max_age: None,
        age_basis: AgeBasis::Year,
        timezone: jiff::tz::TimeZone::UTC,
        max_certification_age: None,
    })
}

fn route(name: &str, method: http::Method, path: &str) -> Route {
    Route {
        name: name.into(),
        method,
        path: path.into(),
        provider: verigate::provider::ProviderName::Iamport,
        imp_uid_from: verigate::extract::ImpUidSource::Auto,
        imp_uid_field: "imp_uid".into(),
        policy: adult(),
        on_deny: OnDeny::Forward,
        on_failure: OnFailure::Reject,
        single_use: false,
    }
}

#[test]
fn routing_a_request_allocates_nothing() {
    use http::Method;
    let router = Router::new(
        vec![
            route("popup", Method::POST, "/certifications"),
            route("redirect", Method::GET, "/certifications/redirect"),
        ],
        vec![Gate {
            name: "adult".into(),
            prefix: Prefix::new("/adult", false).unwrap(),
            policy: adult(),
        }],
    );
    let cases = [
        (Method::POST, "/certifications", "callback"),
        (Method::HEAD, "/certifications/redirect", "callback"),
        (Method::GET, "/shop/items/42", "pass"),
        (Method::GET, "/adult/x", "gated"),
        (Method::GET, "/.verigate/verify", "endpoint"),
        (Method::GET, "/.verigate/unknown", "endpoint"),
    ];
    for (method, path, want) in cases {
        let (got, n) = allocations(|| match router.route(&method, path) {
            Matched::Pass => "pass",
            Matched::Callback { .. } => "callback",
            Matched::Gated(_) => "gated",
            Matched::Endpoint(_) => "endpoint",
        });
        assert_eq!((got, n), (want, 0), "{method} {path}");
    }
}

fn cookies() -> SessionCookies {
    let settings = CookieSettings {
        name: "verigate".into(),
        secure: true,
        same_site: SameSite::Lax,
        ttl: Duration::from_secs(3600),
    };
    SessionCookies::new(&settings, Sealer::new(&[[1u8; 32]]).unwrap()).unwrap()
}

#[test]
fn headers_without_our_cookies_and_local_rds_are_not_copied() {
    let c = cookies();
    let (_, n) = allocations(|| {
        let kept = c.strip("theme=dark; _ga=GA1.2.3; sid=abc");
        assert!(kept.is_some());
        let rd = local_target("/adult/x?y=1");
        assert_eq!(rd, "/adult/x?y=1");
    });
    assert_eq!(n, 0);
}

/// A certified adult's identity, certified at `now`.
fn adult_identity(now: Timestamp) -> Identity {
    let mut id = Identity::empty(ImpUid::parse("imp_045262694732").unwrap());
    id.certified = true;
    id.certified_at = Some(now);
    id.name = Some("홍길동".into());
    id.birth_date = Some(jiff::civil::date(1976, 11, 7));
    id
}

#[test]
fn opening_a_session_allocates_only_its_own_strings_and_a_kept_one_nothing() {
    let c = cookies();
    let now = Timestamp::from_second(1_780_000_000).unwrap();
    let id = adult_identity(now);
    let s = Session::new(Provider::IamportV1, &id, &[], now, c.ttl());
    let value = c.seal_session(&s).unwrap();
    let header = format!("theme=dark; __Host-verigate={value}");
    let mut scratch = Vec::with_capacity(4096);
    let (opened, n) = allocations(|| c.open_session_in(&value, now, &mut scratch));
    assert_eq!(opened.map(|o| (*o.session).clone()), Some(s.clone()));
    // The verification id (one Arc), the name (one Box), the person and the session (an Arc
    // each, shared from then on): nothing per byte, no buffers.
    assert_eq!(n, 4, "allocations to open a session");
    let (found, n) = allocations(|| {
        let opened = c.session_from([header.as_str()], now);
        opened.is_some()
    });
    assert!(found);
    eprintln!("a session's first use: {n} allocations");
    // Its next uses are served from the sessions the configuration keeps: nothing at all.
    for _ in 0..3 {
        let (found, n) = allocations(|| c.session_from([header.as_str()], now).is_some());
        assert!(found);
        assert_eq!(n, 0, "allocations to open a kept session");
    }
}

#[test]
fn judging_a_session_allocates_nothing_and_its_headers_only_themselves() {
    use verigate::headers::HeaderNames;
    use verigate::verify::{Annotator, Judged, Request, annotate_for};
    let now = Timestamp::from_second(1_780_000_000).unwrap();
    let id = adult_identity(now);
    let s = Session::new(Provider::PortOneV2, &id, &[], now, Duration::from_secs(60));
    let policy = adult();
    let (judgement, n) = allocations(|| policy.judge_session(&s.identity, now));
    assert_eq!(n, 0, "allocations to judge a session");
    let names = HeaderNames::new("x-verified-", &[]).unwrap();
    let with = Annotator {
        names: &names,
        signer: None,
    };
    let judged = Judged {
        judgement,
        id: Some(s.identity.imp_uid.clone()),
        identity: Some(Arc::clone(&s.identity)),
    };
    let req = Request {
        method: "GET",
        path: "/adult/x",
        query: None,
        content_type: None,
        body: &[],
    };
    let annotate = || annotate_for(with, s.provider.name(), &policy, &judged, &req, now);
    // The first call may turn the configured names into shared buffers; after that there is
    // the list, and per header at most its value's text and the shared buffer `HeaderValue`
    // keeps it in: nothing that outlives the headers.
    drop(annotate());
    let (headers, n) = allocations(annotate);
    assert_eq!(headers.len(), 7, "{headers:?}");
    assert!(
        n <= 1 + 2 * headers.len(),
        "{n} allocations for {} headers",
        headers.len()
    );
    eprintln!(
        "unsigned headers: {n} allocations for {} headers",
        headers.len()
    );
}
