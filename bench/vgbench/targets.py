"""The ratios table and the targets table of RESULTS.md (issues 13, 15 and 16, and the earlier
ones), each target met or MISSED with the runs that decide it."""

from .core import CONCURRENCY
from .scenarios import SCENARIOS
from .stats import med, rng

RATIOS = [
    ("passthrough ÷ bare pingora, echo app", "passthrough", "bare"),
    ("passthrough ÷ bare pingora, fast app", "passthrough-fast", "bare-fast"),
    ("passthrough ÷ nginx, echo app", "passthrough", "nginx"),
    ("passthrough ÷ nginx, fast app", "passthrough-fast", "nginx-fast"),
    ("bare pingora ÷ nginx, echo app", "bare", "nginx"),
    ("bare pingora ÷ nginx, fast app", "bare-fast", "nginx-fast"),
    ("nginx ÷ direct, echo app", "nginx", "direct"),
    ("gated unsigned ÷ passthrough", "gated", "passthrough"),
    ("gated HMAC ÷ passthrough", "gated-hmac", "passthrough"),
    ("gated Ed25519 + JWT ÷ passthrough", "gated-ed25519", "passthrough"),
    ("gated unsigned ÷ passthrough, fast app", "gated-fast", "passthrough-fast"),
    ("gated HMAC ÷ passthrough, fast app", "gated-hmac-fast", "passthrough-fast"),
    ("cache hit (Ed25519 + JWT) ÷ passthrough", "hit", "passthrough"),
    ("cache hit (HMAC) ÷ passthrough", "hit-hmac", "passthrough"),
    ("nginx + auth_request ÷ nginx alone", "fa-auth", "fa-nginx"),
    ("single use: store ÷ no store", "su-store", "su-local"),
    ("cache miss: store ÷ no store", "miss-store", "miss-local"),
    ("cache miss ÷ naive", "miss", "naive"),
    ("cache hit ÷ naive", "hit", "naive"),
]


def verdict(ok):
    return "**met**" if ok else "**MISSED**"


def ratios(s, w):
    w("| ratio of medians (req/s) | " + " | ".join(f"c={c}" for c in CONCURRENCY) + " |")
    w("|---|" + "---:|" * len(CONCURRENCY))
    for label, num, den in RATIOS:
        cells = []
        for c in CONCURRENCY:
            x, y = med(s, num, c, "rps"), med(s, den, c, "rps")
            cells.append(f"{x / y:.2f}" if x and y else "–")
        if any(x != "–" for x in cells):
            w(f"| {label} | " + " | ".join(cells) + " |")
    w("")
    w("| at c=16 | p99 added (ms) | CPU µs / req added |")
    w("|---|---:|---:|")
    for label, num, den in RATIOS[:15]:
        p = (med(s, num, 16, "p99_ms"), med(s, den, 16, "p99_ms"))
        u = (med(s, num, 16, "cpu_us"), med(s, den, 16, "cpu_us"))
        if None in p:
            continue
        du = f"{u[0] - u[1]:+.1f}" if None not in u else "–"
        w(f"| {label.replace('÷', 'over')} | {p[0] - p[1]:+.2f} | {du} |")
    w("")


def _ratio_target(s, w, what, num, den, floor, concs=CONCURRENCY):
    for c in concs:
        x, y = med(s, num, c, "rps"), med(s, den, c, "rps")
        if not (x and y):
            continue
        w(f"| {what}, c={c} | {rng(s, num, c, 'rps')} vs {rng(s, den, c, 'rps')} req/s: "
          f"**{x / y:.2f}×** | {verdict(x / y >= floor)} |")


def targets(bench, s, w):
    w("Each figure is median (min–max) req/s over the runs; a ratio is of the medians.")
    w("")
    w("| target | measured | verdict |")
    w("|---|---|---|")
    _ratio_target(s, w, "#16 passthrough ≥ 0.97× bare pingora (echo app)", "passthrough", "bare", 0.97)
    _ratio_target(s, w, "#16 passthrough ≥ 0.97× bare pingora (fast app)", "passthrough-fast", "bare-fast", 0.97)
    _ratio_target(s, w, "#13/#16 gated unsigned ≥ 0.9× passthrough", "gated", "passthrough", 0.9)
    _ratio_target(s, w, "#13/#16 gated HMAC ≥ 0.75× passthrough", "gated-hmac", "passthrough", 0.75)
    _ratio_target(s, w, "#13/#16 gated unsigned ≥ 0.9× passthrough (fast app)", "gated-fast",
                  "passthrough-fast", 0.9)
    _ratio_target(s, w, "#13/#16 gated HMAC ≥ 0.75× passthrough (fast app)", "gated-hmac-fast",
                  "passthrough-fast", 0.75)
    _ratio_target(s, w, "#16 cache hit (Ed25519 + JWT) ≥ 0.7× passthrough", "hit", "passthrough", 0.7)
    _ratio_target(s, w, "#16 forward-auth behind nginx ≥ 0.5× nginx alone", "fa-auth", "fa-nginx", 0.5)
    for kind, what in (("su", "single use"), ("miss", "cache miss")):
        _ratio_target(s, w, f"#15 {what}: store costs ≤ 15 % of throughput", f"{kind}-store", f"{kind}-local", 0.85)
        p, q = med(s, f"{kind}-store", 16, "p99_ms"), med(s, f"{kind}-local", 16, "p99_ms")
        if p is not None and q is not None:
            w(f"| #15 {what}: store adds ≤ 1 ms to p99, c=16 | {rng(s, f'{kind}-store', 16, 'p99_ms', '{:.2f}')} − "
              f"{rng(s, f'{kind}-local', 16, 'p99_ms', '{:.2f}')} ms = **{p - q:+.2f} ms** | {verdict(p - q <= 1.0)} |")
    for label in ("local", "store"):
        su = bench.checks.get(f"single_use_{label}")
        if su:
            want = 409 if label == "store" else 200
            w(f"| single use across instances ({'with' if label == 'store' else 'without'} the store): "
              f"the second use, on another instance, answers {want} | first {su['first']}, second "
              f"{su['second_on_another']} | {verdict(su['first'] == 200 and su['second_on_another'] == want)} |")
    for suffix, app in (("", "echo app"), ("-fast", "fast app")):
        g, p = med(s, f"gated{suffix}", 16, "cpu_us"), med(s, f"passthrough{suffix}", 16, "cpu_us")
        if g is not None and p is not None:
            w(f"| #13 a gated request's own CPU: µs per request (gated unsigned − passthrough, {app}, c=16) | "
              f"{g:.1f} − {p:.1f} = **{g - p:.1f} µs** | (reported) |")
    a, n = med(s, "fa-answer", 16, "cpu_us"), med(s, "fa-nginx", 16, "cpu_us")
    if a is not None and n is not None:
        w(f"| #16 forward-auth: verigate's CPU per answer (9c) against nginx alone's per request (9), c=16 | "
          f"{a:.1f} vs {n:.1f} µs | (reported) |")
    earlier(bench, s, w)


def earlier(bench, s, w):
    """The targets of the first benchmark round, kept."""
    _ratio_target(s, w, "passthrough ≥ nginx throughput (echo app)", "passthrough", "nginx", 1.0)
    _ratio_target(s, w, "verified cache hit (Ed25519) ≥ 85 % of passthrough", "hit", "passthrough", 0.85)
    _ratio_target(s, w, "verified cache hit (HMAC) ≥ 85 % of passthrough", "hit-hmac", "passthrough", 0.85)
    d = med(s, "direct", 16, "p99_ms")
    for scen in ("passthrough", "hit"):
        v = med(s, scen, 16, "p99_ms")
        if v is not None and d is not None:
            w(f"| added p99 over direct ≤ 1 ms at c=16 ({SCENARIOS[scen].split('. ', 1)[1]}) | "
              f"{v:.2f} − {d:.2f} = {v - d:.2f} ms | {verdict(v - d <= 1.0)} |")
    miss = [r for r in bench.results if r["scenario"] == "miss"]
    co = bench.checks.get("coalescing")
    mem = getattr(bench, "mem", None)
    if miss and co:
        sent = sum(r["sent"] for r in miss)
        done = sum(r["requests"] for r in miss)
        look = sum(r["lookup_calls"] for r in miss)
        inside = all(r["requests"] <= r["lookup_calls"] <= r["sent"] for r in miss)
        exact = co["lookups"] == co["imp_uids"] and co["again_lookups"] == 0 and not co["non200"] \
            and not co["again_non200"]
        w(f"| exactly one lookup per new imp_uid | {co['imp_uids']} new imp_uids × {co['requests'] // co['imp_uids']} "
          f"concurrent copies (API at 20 ms): **{co['lookups']} lookups**, then each once more: "
          f"{co['again_lookups']} lookups. Scenario 6: {look} lookups for {done} completed / {sent} sent "
          f"(each run within completed ≤ lookups ≤ sent: {'yes' if inside else 'NO'}) | {verdict(exact and inside)} |")
    if "gateway_tokens" in bench.checks:
        t = bench.checks["gateway_tokens"]
        ok = t == 1 and (not mem or mem["tokens"] <= 1)
        w(f"| one token per token lifetime (30 min) | {t} token request(s) by the gateway of 5 and 6 (from its "
          f"start) over "
          f"{bench.checks['gateway_requests']} measured requests" + (f"; memory-test process: {mem['tokens']}" if mem else "")
          + f" | {verdict(ok)} |")
    if mem and mem["bytes_per_entry"] is not None:
        w(f"| ≤ 1 KiB per cached verification | {mem['bytes_per_entry']:.0f} bytes | "
          f"{verdict(mem['bytes_per_entry'] <= 1024)} |")
    w("")
