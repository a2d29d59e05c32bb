"""RESULTS.md: method, noise, the results table, ratios, targets, memory, the profile."""

import os
import statistics

from .core import BODY, CONCURRENCY, PASSTHROUGH_PATH, STEAL_LIMIT, STEAL_RETRIES, VERIFY_PATH, stolen
from .load import LOADGEN_CPU
from .scenarios import SCENARIOS
from .servers import SUT_CPU
from .stats import fmt_rng, med, summarize
from .targets import ratios, targets
from .chart import chart

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # bench/
API_SCENARIOS = {"passthrough", "passthrough-fast", "hit", "hit-hmac", "miss", "naive", "su-local", "su-store",
                 "miss-local", "miss-store"}


def method(bench, w):
    a, m = bench.a, bench.machine
    w("## Machine and method")
    w("")
    w(f"- **Machine**: {m['nproc']} cores, {m['model']} ({m['hypervisor'] or 'bare metal'} guest), {m['mem']} RAM, "
      f"Linux {m['kernel']}. Load average at start: {' '.join(m['loadavg_start'])}; at end: "
      f"{' '.join(open('/proc/loadavg').read().split()[:3])}.")
    w(f"- **Pinning** (`taskset`): load generator, the sandbox i'mport API and redis-server on CPU {LOADGEN_CPU}; "
      f"the system under test (nginx with 1 worker, bare pingora or verigate with 1 thread) **and the app "
      f"behind it** on CPU {SUT_CPU}. So \"direct\" is the app alone on that core and every proxy shares its core "
      "with the app.")
    w("- **Apps**: the echo app (`verigate echo`, axum, answers a small JSON describing the request) and the fast "
      "app (nginx, 1 worker, `return 200` with a 11-byte body): the fast app shows the proxy's own cost.")
    w(f"- **Software**: verigate {m['verigate_commit']} (release build; bare pingora is "
      f"`examples/bare_pingora.rs` from the same build), {m['nginx']}, {m['oha']}, {m['wrk']}, "
      f"{m.get('redis', 'redis-server')}, Python {m['python']}.")
    w(f"- **Runs**: each point is {a.runs} run(s) of {a.duration} s after a warm-up; tables give the **median** "
      "and (min–max). Latency is per run (oha's / wrk's percentiles), then the median over runs. "
      "**Interleaved**: scenarios 1–5 and 8–9 are measured in turn (for each concurrency and run, one run "
      "of each, the order rotated every run), and so are 10–11, so that a ratio compares runs taken "
      "seconds apart and a slow minute of the VM falls on both sides; 6 and 7 run one after another. "
      "Every proxy of a pass stays up (idle) through it.")
    w(f"- **Load**: `oha` (keep-alive, `POST` with the same 28-byte JSON body `{BODY}`) to `{PASSTHROUGH_PATH}` "
      f"(1–4), `{VERIFY_PATH}` (5, 7) and `/adult{PASSTHROUGH_PATH}` with the session cookie (8, 9); `wrk` + "
      "`bench/newuid.lua` (6) or `bench/fleet.lua` (10, 11: one thread per instance) with a new seeded imp_uid "
      "per request, never repeated.")
    w("- **Config**: bench/gateway.toml.tmpl (`access_log = \"off\"`, `threads = 1`) plus, per scenario, "
      "[signing] (Ed25519 + JWT unless named), [session] + [[gates]], [store] and a single-use route; "
      "nginx: bench/nginx.conf.tmpl and bench/nginx-forward-auth.conf.tmpl.")
    w("- **CPU µs / req**: utime+stime from `/proc/PID/stat` of the system under test only (the app for 1, nginx "
      "master+worker for 2, the proxy process for 3–6 and 8, nginx + the Python app for 7, nginx + verigate for "
      "9b, the three verigates (+ redis-server) for 10–11), before/after each run, ÷ requests.")
    w("")


def noise(bench, w):
    w("## Noise")
    w("")
    foreign = [r["foreign_cpu_s"] / r["duration_s"] for r in bench.results if r["duration_s"]]
    steal = [stolen(r) for r in bench.results if r["duration_s"]]
    if foreign:
        w(f"Other work on the machine (CPU time not used by any process of the benchmark, /proc/stat): median "
          f"{statistics.median(foreign):.2f} cores, max {max(foreign):.2f} cores over the {len(foreign)} runs; "
          f"hypervisor steal: median {statistics.median(steal):.2f}, max {max(steal):.2f} cores. A run with high "
          "foreign load is slower than the hardware allows; per-run data is in `results.json`.")
    if bench.discarded:
        kinds = sorted({r["scenario"] for r in bench.discarded})
        w("")
        w(f"**Taken again**: {len(bench.discarded)} run(s) during which the hypervisor took more than "
          f"{STEAL_LIMIT:.2f} of a core were repeated (up to {STEAL_RETRIES} times; the least disturbed "
          f"attempt counts), in {', '.join(kinds)}. They are `discarded` in `results.json`.")
    w("")


def results_table(s, w):
    w("| scenario | c | req/s | p50 ms | p99 ms | p99.9 ms | CPU µs / req | token calls / req | lookups / req | SUT core busy % |")
    w("|---|---:|---|---|---|---|---|---|---|---|")
    for scen, title in SCENARIOS.items():
        for c in CONCURRENCY:
            row = s.get((scen, c))
            if not row:
                continue
            api = scen in API_SCENARIOS
            bad = f" ⚠ {row['bad']} failed" if row["bad"] else ""
            w(f"| {title} | {c} | {fmt_rng(row['rps'])}{bad} | {fmt_rng(row['p50_ms'], '{:.2f}')} | "
              f"{fmt_rng(row['p99_ms'], '{:.2f}')} | {fmt_rng(row['p999_ms'], '{:.2f}')} | "
              f"{fmt_rng(row['cpu_us'], '{:.1f}')} | "
              f"{fmt_rng(row['tokens_per_req'], '{:.4f}') if api else '–'} | "
              f"{fmt_rng(row['lookups_per_req'], '{:.4f}') if api else '–'} | "
              f"{fmt_rng(row['core1'], '{:.0f}')} |")
    w("")


def p99_growth(s, w):
    w("| scenario | " + " | ".join(f"c={c}" for c in CONCURRENCY) + " |")
    w("|---|" + "---:|" * len(CONCURRENCY))
    for scen, title in SCENARIOS.items():
        base = med(s, scen, CONCURRENCY[0], "p99_ms")
        cells = []
        for c in CONCURRENCY:
            v = med(s, scen, c, "p99_ms")
            cells.append("–" if v is None else (f"{v:.2f}" + (f" (×{v / base:.1f})" if base and c != CONCURRENCY[0] else "")))
        if any(x != "–" for x in cells):
            w(f"| {title} | " + " | ".join(cells) + " |")
    w("")


def memory(bench, w):
    mem = getattr(bench, "mem", None)
    if not mem:
        return
    w("### Memory per cached verification")
    w("")
    w(f"A fresh verigate (warmed up with one verification), then {mem['imp_uids_sent']} new imp_uids resolved "
      f"through it: cache entries {mem['entries_before']} → {mem['entries_after']}, VmRSS "
      f"{mem['rss_before'] / 2**20:.1f} MiB → {mem['rss_after'] / 2**20:.1f} MiB: "
      f"**{mem['bytes_per_entry'] or 0:.0f} bytes per entry** (RSS delta ÷ entries added). API calls during the "
      f"fill: {mem['lookups']} lookups, {mem['tokens']} token requests.")
    w("")


def profiles(bench, w, L, results_dir):
    prof = getattr(bench, "profiles", None)
    if not prof:
        return
    w("## Profile (perf `cpu-clock`, DWARF call graphs, c=16; % of the sampled CPU by leaf frame)")
    w("")
    w("\"own (incl.)\" is the share under any frame of our own code (verigate's functions; for bare pingora, "
      "the example's), callees included; the other columns split by the function the CPU was in.")
    w("")
    split = {k: v for k, v in prof.items() if v.get("split")}
    if split:
        order = ["kernel", "pingora", "tokio", "http/bytes", "allocator", "libc", "crypto", "verigate", "other",
                 "own (incl.)"]
        seen = {c for v in split.values() for c in v["split"]}
        cats = [c for c in order if c in seen] + sorted(seen - set(order))
        w("| scenario | CPU ms sampled | " + " | ".join(cats) + " | flamegraph |")
        w("|---|---:|" + "---:|" * len(cats) + "---|")
        for k, v in split.items():
            rel = os.path.relpath(v["svg"], results_dir)
            w(f"| {k} | {v['samples']} | " + " | ".join(f"{v['split'].get(c, 0):.1f}" for c in cats)
              + f" | [{os.path.basename(rel)}]({rel}) |")
        w("")
        per_req = {k: v for k, v in split.items() if v.get("requests")}
        if per_req:
            w("The same samples in CPU µs per request (sampled ms ÷ requests served while sampling), so "
              "scenarios compare in absolute terms:")
            w("")
            w("| scenario | requests | CPU µs / req | " + " | ".join(cats) + " |")
            w("|---|---:|---:|" + "---:|" * len(cats))
            for k, v in per_req.items():
                us = 1000.0 * v["samples"] / v["requests"]
                w(f"| {k} | {v['requests']} | {us:.1f} | "
                  + " | ".join(f"{us * v['split'].get(c, 0) / 100:.1f}" for c in cats) + " |")
            w("")
    for k, v in prof.items():
        w(f"<details><summary>{k}: top symbols by self time</summary>")
        w("")
        w("```")
        L.extend(v["top"])
        w("```")
        w("")
        w("</details>")
        w("")


def report(bench, path, chart_path):
    a = bench.a
    s = summarize(bench.results)
    L = []
    w = L.append
    w("# verigate benchmark results")
    w("")
    w("Produced by `bench/run.sh`" + (" --quick (a smoke run: 1 run of 2 s per point; INDICATIVE only)" if a.quick else "")
      + (f" --only {a.only}" if a.only else "")
      + f" on {bench.machine['date']}, in {bench.elapsed / 60:.1f} minutes. How to read it: "
      f"[README.md]({os.path.relpath(os.path.join(HERE, 'README.md'), os.path.dirname(path))}).")
    w("")
    w(f"![throughput and latency]({os.path.basename(chart_path)})")
    w("")
    method(bench, w)
    noise(bench, w)
    w("## Results")
    w("")
    results_table(s, w)
    w("### Ratios")
    w("")
    ratios(s, w)
    w("### How p99 grows with concurrency (median p99, ms; ×: relative to c=1)")
    w("")
    p99_growth(s, w)
    memory(bench, w)
    w("## Targets")
    w("")
    targets(bench, s, w)
    profiles(bench, w, L, os.path.dirname(path))
    if bench.notes:
        w("## Notes from this run")
        w("")
        for n in bench.notes:
            w(f"- {n}")
        w("")
    analysis = os.path.join(HERE, "analysis.md")
    if os.path.exists(analysis) and not a.quick:
        w(open(analysis).read().rstrip())
        w("")
    with open(path, "w") as f:
        f.write("\n".join(L) + "\n")
    chart(s, chart_path, a.quick)
