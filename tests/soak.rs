//! A bounded soak: thousands of mixed requests at high concurrency through the real gateway,
//! against a sandbox API that answers with random latency and random 500s.
//!
//! What it proves, under load and API trouble at once: every answer is one the contract
//! (README, "The gateway's own answers") allows for that kind of request; no forged or mismatched identity ever
//! reaches the app (every `x-verified-*` header the app sees was set by the gateway for that very
//! request, with that request's imp_uid and that person's name); nothing personal reaches the
//! gateway's output (checked when the stack drops); and the gateway's memory stays flat once warm.
//!
//! In the suite it runs 3,000 requests at concurrency 32. `scripts/soak.sh` runs the long version
//! through `VERIGATE_SOAK_REQUESTS` and `VERIGATE_SOAK_CONCURRENCY` (and `VERIGATE_SOAK_SEED`).
//! The figures are printed with `eprintln!`: run with `--nocapture` to see them.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Stack, birthday_years_ago};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use verigate::echo::Received;
use verigate::headers::percent_encode;
use verigate::sandbox::{RandomFault, SandboxStats};

const DEFAULT_REQUESTS: usize = 3_000;
const DEFAULT_CONCURRENCY: usize = 32;
const DEFAULT_SEED: u64 = 0x50a6;
/// Seeded people. Every personal value seeded is searched for in the gateway's whole output when
/// the stack drops, at opt-level 0 (about 1 s per 100 values and MB of output), so the pools stay
/// small; fresh unknown imp_uids give the cache its churn.
const ADULTS: usize = 48;
const MINORS: usize = 16;
/// The header that ties what the app received to the request that was sent.
const MARKER: &str = "x-soak-id";

/// Headers a client forges; each value but `allow` is one the gateway never sets.
const FORGED: [(&str, &str); 11] = [
    ("x-verified-verdict", "allow"),
    ("X-Verified.Verdict", "allow"),
    ("x-verified~birth", "1900-01-01"),
    ("X_Verified_Name", "forged-name"),
    ("x-verified-imp-uid", "imp_forged"),
    ("X-VERIFIED-AGE", "-1"),
    ("x_verified-policy", "forged-policy"),
    ("x-verified-assertion", "eyJforged"),
    ("signature", "verigate=:AAAA:"),
    ("signature-input", "verigate=()"),
    ("content-digest", "sha-256=:AAAA:"),
];

/// Bodies the gateway must refuse with 400, whatever the API does.
const MALFORMED: [(&str, &str); 5] = [
    ("application/json", r#"{"imp_uid":"#),
    ("application/json", r#"{"imp_uid":"../users/getToken"}"#),
    ("application/json", r#"{"merchant_uid":"mid_1"}"#),
    ("application/json", r#"{"imp_uid":45262694732}"#),
    (
        "application/x-www-form-urlencoded",
        "imp_uid=imp_1&imp_uid=imp_2",
    ),
];

/// Memory one cache entry may take, generously: key, record fields, moka's bookkeeping.
const BYTES_PER_ENTRY: u64 = 1024;
/// Allowance for allocator fragmentation and per-thread arenas, which settle but do not sit still.
const RSS_SLACK_KIB: u64 = 16 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Kind {
    AdultJson,
    AdultForm,
    AdultRedirect,
    MinorJson,
    MinorRedirect,
    /// A minor with forged `x-verified-*` headers claiming `allow`.
    ForgedMinor,
    Unknown,
    Malformed,
    Unsupported,
    /// An unrouted path with forged headers.
    ForgedPassthrough,
    Passthrough,
}

/// (kind, weight out of 100).
const MIX: [(Kind, u32); 11] = [
    (Kind::AdultJson, 25),
    (Kind::AdultForm, 8),
    (Kind::AdultRedirect, 7),
    (Kind::MinorJson, 8),
    (Kind::MinorRedirect, 4),
    (Kind::ForgedMinor, 8),
    (Kind::Unknown, 12),
    (Kind::Malformed, 10),
    (Kind::Unsupported, 3),
    (Kind::ForgedPassthrough, 8),
    (Kind::Passthrough, 7),
];

impl Kind {
    /// The statuses the contract allows, with the `error` code each must carry.
    fn allowed(self) -> &'static [(u16, Option<&'static str>)] {
        const UNAVAILABLE: (u16, Option<&str>) = (503, Some("verification_unavailable"));
        match self {
            Kind::AdultJson
            | Kind::AdultForm
            | Kind::AdultRedirect
            | Kind::MinorJson
            | Kind::ForgedMinor => &[(200, None), UNAVAILABLE],
            Kind::MinorRedirect => &[(403, Some("age_requirement_not_met")), UNAVAILABLE],
            Kind::Unknown => &[(403, Some("verification_not_found")), UNAVAILABLE],
            Kind::Malformed => &[
                (400, Some("malformed_body")),
                (400, Some("invalid_imp_uid")),
                (400, Some("missing_imp_uid")),
            ],
            Kind::Unsupported => &[(415, Some("unsupported_media_type"))],
            Kind::ForgedPassthrough | Kind::Passthrough => &[(200, None)],
        }
    }

    /// Whether the imp_uid is resolved against the API.
    fn resolves(self) -> bool {
        !matches!(
            self,
            Kind::Malformed | Kind::Unsupported | Kind::ForgedPassthrough | Kind::Passthrough
        )
    }

    fn is_passthrough(self) -> bool {
        matches!(self, Kind::ForgedPassthrough | Kind::Passthrough)
    }
}

/// One planned request.
#[derive(Debug, Clone)]
struct Plan {
    kind: Kind,
    uid: String,
    /// The person's name, for kinds that resolve a seeded person.
    name: Option<String>,
    /// Which malformed body.
    variant: usize,
}

/// What came back.
#[derive(Debug)]
struct Outcome {
    id: usize,
    status: u16,
    error: Option<String>,
    retry_after: bool,
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// VmRSS of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS line")
}

fn pick_kind(rng: &mut StdRng) -> Kind {
    let mut roll = rng.random_range(0..100u32);
    for (kind, weight) in MIX {
        if roll < weight {
            return kind;
        }
        roll -= weight;
    }
    Kind::Passthrough
}

fn plan(
    n: usize,
    seed: u64,
    adults: &[(String, String)],
    minors: &[(String, String)],
) -> Vec<Plan> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n)
        .map(|i| {
            let kind = pick_kind(&mut rng);
            let pool = match kind {
                Kind::MinorJson | Kind::MinorRedirect | Kind::ForgedMinor => minors,
                _ => adults,
            };
            let (uid, name) = pool[rng.random_range(0..pool.len())].clone();
            let (uid, name) = match kind {
                // A fresh imp_uid every time: each one is a real API lookup (then a negative
                // cache entry).
                Kind::Unknown => (format!("imp_9{i:011}"), None),
                k if k.resolves() => (uid, Some(name)),
                _ => (uid, None),
            };
            Plan {
                kind,
                uid,
                name,
                variant: rng.random_range(0..MALFORMED.len()),
            }
        })
        .collect()
}

fn request(client: &reqwest::Client, base: &str, id: usize, p: &Plan) -> reqwest::RequestBuilder {
    let json = format!(r#"{{"imp_uid":"{}"}}"#, p.uid);
    let post = |path: &str, content_type: &str, body: String| {
        client
            .post(format!("{base}{path}"))
            .header("content-type", content_type)
            .body(body)
    };
    let forge = |mut req: reqwest::RequestBuilder| {
        for (k, v) in FORGED {
            req = req.header(k, v);
        }
        req
    };
    let req = match p.kind {
        Kind::AdultJson | Kind::MinorJson | Kind::Unknown => {
            post("/certifications", "application/json", json)
        }
        Kind::AdultForm => post(
            "/certifications",
            "application/x-www-form-urlencoded",
            format!("imp_uid={}&merchant_uid=mid_{id}", p.uid),
        ),
        Kind::AdultRedirect | Kind::MinorRedirect => client.get(format!(
            "{base}/certifications/redirect?imp_uid={}&merchant_uid=mid_{id}&success=true",
            p.uid
        )),
        Kind::ForgedMinor => forge(post("/certifications", "application/json", json)),
        Kind::Malformed => {
            let (content_type, body) = MALFORMED[p.variant];
            post("/certifications", content_type, body.to_owned())
        }
        Kind::Unsupported => post("/certifications", "text/html", format!("imp_uid={}", p.uid)),
        Kind::ForgedPassthrough => forge(post("/account", "application/json", json)),
        Kind::Passthrough => client.get(format!("{base}/plain?n={id}")),
    };
    req.header(MARKER, id.to_string())
}

/// Sends the planned requests `range` with `concurrency` workers; every outcome, in any order.
async fn run_phase(
    s: &Stack,
    plans: &Arc<Vec<Plan>>,
    range: Range<usize>,
    concurrency: usize,
) -> Vec<Outcome> {
    let next = Arc::new(AtomicUsize::new(range.start));
    let mut workers = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let (client, base, plans, next) = (
            s.client.clone(),
            s.base.clone(),
            plans.clone(),
            next.clone(),
        );
        let end = range.end;
        workers.push(tokio::spawn(async move {
            let mut out = Vec::new();
            loop {
                let id = next.fetch_add(1, Ordering::Relaxed);
                if id >= end {
                    break;
                }
                let resp = request(&client, &base, id, &plans[id])
                    .send()
                    .await
                    .expect("the gateway answers");
                let status = resp.status().as_u16();
                let retry_after = resp.headers().contains_key("retry-after");
                let body: serde_json::Value = resp.json().await.unwrap_or_default();
                let error = body["error"].as_str().map(str::to_owned);
                out.push(Outcome {
                    id,
                    status,
                    error,
                    retry_after,
                });
            }
            out
        }));
    }
    let mut outcomes = Vec::with_capacity(range.len());
    for w in workers {
        outcomes.extend(w.await.expect("a soak worker"));
    }
    outcomes
}

/// Whether a header name is one only the gateway may set (README, "What the app receives").
fn reserved(name: &str) -> bool {
    // As PHP, CGI and WSGI read a name: every character other than a-z0-9 is one separator.
    let n = name
        .to_ascii_lowercase()
        .replace(|c: char| !c.is_ascii_alphanumeric(), "-");
    n.starts_with("x-verified-")
        || ["signature", "signature-input", "content-digest"].contains(&n.as_str())
}

/// Seeded people as (imp_uid, name) pairs.
type People = Vec<(String, String)>;

/// Seeds the people the plan draws from: adults and minors.
fn seed_people(s: &Stack) -> (People, People) {
    let adults = (0..ADULTS)
        .map(|i| {
            let name = format!("성인{i:03}");
            let birthday = format!("19{:02}-{:02}-{:02}", 60 + i % 40, 1 + i % 12, 1 + i % 28);
            (s.person(&name, &birthday), name)
        })
        .collect();
    let minors = (0..MINORS)
        .map(|i| {
            let name = format!("미성년{i:03}");
            let days = i64::try_from(i).unwrap_or(0) * 5;
            (s.person(&name, &birthday_years_ago(15, days)), name)
        })
        .collect();
    (adults, minors)
}

/// One soak run: its size, its answers and the gateway's memory along the way.
struct Run {
    requests: usize,
    concurrency: usize,
    seed: u64,
    took: Duration,
    /// The requests of the warm-up phase, `0..warm_end`.
    warm_end: usize,
    /// VmRSS in KiB at the start, after warm-up and at the end.
    rss: [u64; 3],
    outcomes: Vec<Outcome>,
}

/// Sends every planned request: a third to warm up, then the rest, reading the gateway's memory
/// before, between and after.
async fn drive(s: &Stack, plans: &Arc<Vec<Plan>>, concurrency: usize, seed: u64) -> Run {
    let (pid, requests) = (s.pid(), plans.len());
    let rss_start = rss_kib(pid);
    let started = Instant::now();
    let warm_end = requests / 3;
    let mut outcomes = run_phase(s, plans, 0..warm_end, concurrency).await;
    let rss_warm = rss_kib(pid);
    outcomes.extend(run_phase(s, plans, warm_end..requests, concurrency).await);
    Run {
        requests,
        concurrency,
        seed,
        took: started.elapsed(),
        warm_end,
        rss: [rss_start, rss_warm, rss_kib(pid)],
        outcomes,
    }
}

/// What the checks found.
#[derive(Default)]
struct Findings {
    violations: Vec<String>,
    histogram: BTreeMap<(Kind, u16), usize>,
    answered_200: HashSet<usize>,
    /// The requests the app received.
    seen: HashSet<usize>,
    forged_identities: usize,
}

impl Findings {
    /// 1. Every answer is one the contract allows for its kind.
    fn check_answers(&mut self, plans: &[Plan], outcomes: &[Outcome]) {
        for o in outcomes {
            let kind = plans[o.id].kind;
            *self.histogram.entry((kind, o.status)).or_default() += 1;
            let fits = kind.allowed().iter().any(|(status, error)| {
                *status == o.status && error.is_none_or(|e| o.error.as_deref() == Some(e))
            });
            if !fits {
                let v = format!("#{} {kind:?}: {} {:?}", o.id, o.status, o.error);
                self.violations.push(v);
            }
            if o.status == 503 && !o.retry_after {
                let v = format!("#{} {kind:?}: 503 without Retry-After", o.id);
                self.violations.push(v);
            }
            if o.status == 200 {
                self.answered_200.insert(o.id);
            }
        }
    }

    /// 2. What the app saw: each request at most once, only the kinds that may reach it, and no
    ///    identity header the gateway did not set for that very request.
    fn check_app_saw(&mut self, plans: &[Plan], received: &[Received]) {
        for r in received {
            self.check_received(plans, r);
        }
        let missing = self.answered_200.difference(&self.seen).count();
        if missing > 0 {
            self.violations.push(format!(
                "{missing} requests answered 200 never reached the app"
            ));
        }
        let unexpected = self.seen.difference(&self.answered_200).count();
        if unexpected > 0 {
            self.violations.push(format!(
                "{unexpected} requests reached the app but were not answered 200"
            ));
        }
    }

    fn check_received(&mut self, plans: &[Plan], r: &Received) {
        let Some(id) = r.header(MARKER).and_then(|v| v.parse::<usize>().ok()) else {
            let v = format!("the app saw an unmarked request to {}", r.path);
            self.violations.push(v);
            return;
        };
        if !self.seen.insert(id) {
            self.violations.push(format!("#{id} reached the app twice"));
        }
        let p = &plans[id];
        let forged_value = r.headers.iter().any(|(_, v)| {
            FORGED
                .iter()
                .any(|(_, f)| *f != "allow" && v.as_slice() == f.as_bytes())
        });
        let identity_ok = identity_ok(p, r).unwrap_or_else(|| {
            self.violations
                .push(format!("#{id} {:?} reached the app", p.kind));
            false
        });
        let person_ok = p.kind.is_passthrough()
            || (r.header("x-verified-imp-uid") == Some(p.uid.as_str())
                && r.header("x-verified-name") == p.name.as_deref().map(percent_encode).as_deref());
        if forged_value || !identity_ok || !person_ok {
            self.forged_identities += 1;
            self.violations.push(format!(
                "#{id} {:?} (imp_uid {}, name {:?}): the app saw {:?}",
                p.kind,
                p.uid,
                p.name,
                r.headers
                    .iter()
                    .filter(|(k, _)| reserved(k))
                    .map(|(k, v)| (k.clone(), String::from_utf8_lossy(v).into_owned()))
                    .collect::<Vec<_>>()
            ));
        }
    }
}

/// Whether the identity headers the app received for `p` are exactly the gateway's for its
/// kind; `None` for a kind that must never reach the app.
fn identity_ok(p: &Plan, r: &Received) -> Option<bool> {
    let verdicts = r
        .headers
        .iter()
        .filter(|(k, _)| k == "x-verified-verdict")
        .count();
    match p.kind {
        k if k.is_passthrough() => Some(r.headers.iter().all(|(k, _)| !reserved(k))),
        Kind::AdultJson | Kind::AdultForm | Kind::AdultRedirect => Some(
            verdicts == 1
                && r.header("x-verified-verdict") == Some("allow")
                && r.header("x-verified-reason").is_none(),
        ),
        Kind::MinorJson | Kind::ForgedMinor => Some(
            verdicts == 1
                && r.header("x-verified-verdict") == Some("deny")
                && r.header("x-verified-reason") == Some("underage"),
        ),
        _ => None,
    }
}

/// 3. The gateway's memory after warm-up, against what the new cache entries may take.
struct Memory {
    growth_kib: u64,
    bound_kib: u64,
    new_entries: u64,
}

impl Memory {
    fn of(run: &Run, plans: &[Plan]) -> Memory {
        let mut first_use: HashMap<&str, usize> = HashMap::new();
        for (id, p) in plans.iter().enumerate() {
            if p.kind.resolves() {
                first_use.entry(p.uid.as_str()).or_insert(id);
            }
        }
        let new_entries = first_use.values().filter(|&&id| id >= run.warm_end).count() as u64;
        Memory {
            growth_kib: run.rss[2].saturating_sub(run.rss[1]),
            bound_kib: new_entries * BYTES_PER_ENTRY / 1024 + RSS_SLACK_KIB,
            new_entries,
        }
    }
}

fn per_kind(plans: &[Plan]) -> BTreeMap<Kind, usize> {
    plans.iter().fold(BTreeMap::new(), |mut m, p| {
        *m.entry(p.kind).or_default() += 1;
        m
    })
}

/// The figures of the traffic: rate, statuses per kind and overall.
fn print_traffic(run: &Run, per_kind: &BTreeMap<Kind, usize>, f: &Findings) {
    let (requests, took) = (run.requests, run.took.as_secs_f64());
    eprintln!(
        "soak: {requests} requests at concurrency {} (seed {:#x}) in {took:.2} s: {:.0} req/s",
        run.concurrency,
        run.seed,
        requests as f64 / took
    );
    for (kind, count) in per_kind {
        let statuses: Vec<String> = f
            .histogram
            .iter()
            .filter(|((k, _), _)| k == kind)
            .map(|((_, st), n)| format!("{st}×{n}"))
            .collect();
        eprintln!("soak:   {kind:?} {count}: {}", statuses.join(" "));
    }
    let mut by_status: BTreeMap<u16, usize> = BTreeMap::new();
    for o in &run.outcomes {
        *by_status.entry(o.status).or_default() += 1;
    }
    eprintln!("soak: statuses {by_status:?}");
}

/// The figures of what the app and the API saw, and of the gateway's memory.
fn print_resources(run: &Run, stats: &SandboxStats, f: &Findings, received: usize, m: &Memory) {
    eprintln!(
        "soak: app received {received}, forged identities reaching it {}",
        f.forged_identities
    );
    eprintln!(
        "soak: API calls {} (certifications {}, tokens {}), injected 500s {}",
        stats.api_calls, stats.certification_requests, stats.token_requests, stats.faults_served
    );
    let ([rss_start, rss_warm, rss_end], warm_end) = (run.rss, run.warm_end);
    let (growth_kib, bound_kib, new_entries) = (m.growth_kib, m.bound_kib, m.new_entries);
    eprintln!(
        "soak: gateway RSS start {rss_start} KiB, after warm-up ({warm_end} requests) {rss_warm} KiB, end {rss_end} KiB; growth {growth_kib} KiB, bound {bound_kib} KiB ({new_entries} new cache entries × {BYTES_PER_ENTRY} B + {RSS_SLACK_KIB} KiB)"
    );
}

/// The API errs on 5 % of calls and the gateway retries: most adults must still pass.
fn assert_most_adults_allowed(per_kind: &BTreeMap<Kind, usize>, f: &Findings) {
    let adult_kinds = [Kind::AdultJson, Kind::AdultForm, Kind::AdultRedirect];
    let adults_sent: usize = adult_kinds
        .iter()
        .map(|k| per_kind.get(k).copied().unwrap_or(0))
        .sum();
    let adults_allowed: usize = adult_kinds
        .iter()
        .map(|k| f.histogram.get(&(*k, 200)).copied().unwrap_or(0))
        .sum();
    assert!(
        adults_allowed * 10 >= adults_sent * 9,
        "only {adults_allowed} of {adults_sent} adults were allowed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_traffic_under_api_faults_keeps_the_contract_and_memory_flat() {
    let requests: usize = env_or("VERIGATE_SOAK_REQUESTS", DEFAULT_REQUESTS).max(30);
    let concurrency: usize = env_or("VERIGATE_SOAK_CONCURRENCY", DEFAULT_CONCURRENCY).max(1);
    let seed: u64 = env_or("VERIGATE_SOAK_SEED", DEFAULT_SEED);

    let setup = Instant::now();
    let s = Stack::start().await;
    let (adults, minors) = seed_people(&s);
    let plans = Arc::new(plan(requests, seed, &adults, &minors));
    s.sandbox.set_random_fault(RandomFault {
        latency_ms: Some(1),
        jitter_ms: Some(19),
        status: Some(500),
        error_rate: Some(0.05),
        times: None,
    });
    eprintln!(
        "soak: stack up and {} people seeded in {:.2} s",
        ADULTS + MINORS,
        setup.elapsed().as_secs_f64()
    );
    let run = drive(&s, &plans, concurrency, seed).await;
    s.sandbox.clear_faults();

    let mut f = Findings::default();
    f.check_answers(&plans, &run.outcomes);
    assert_eq!(run.outcomes.len(), requests, "every request got an answer");
    let received = s.app_saw();
    f.check_app_saw(&plans, &received);
    let memory = Memory::of(&run, &plans);

    let stats = s.sandbox.stats();
    let per_kind = per_kind(&plans);
    print_traffic(&run, &per_kind, &f);
    print_resources(&run, &stats, &f, received.len(), &memory);

    let violations = &f.violations;
    assert!(
        violations.is_empty(),
        "{} violations, the first: {:#?}",
        violations.len(),
        &violations[..violations.len().min(10)]
    );
    assert_eq!(f.forged_identities, 0);
    assert_most_adults_allowed(&per_kind, &f);
    assert!(
        stats.faults_served > 0,
        "the sandbox injected no error: the soak did not test API trouble"
    );
    let (growth_kib, bound_kib) = (memory.growth_kib, memory.bound_kib);
    assert!(
        growth_kib <= bound_kib,
        "gateway RSS grew {growth_kib} KiB after warm-up, over the {bound_kib} KiB bound"
    );
    // Dropping the stack stops the gateway and scans its whole output for personal data.
    let output_bytes = s.gateway_output().len();
    let teardown = Instant::now();
    drop(s);
    eprintln!(
        "soak: gateway stopped and its {output_bytes} bytes of output checked for personal data in {:.2} s",
        teardown.elapsed().as_secs_f64()
    );
}
