#!/usr/bin/env python3
"""verigate benchmark driver: starts everything on 127.0.0.1, measures, writes RESULTS.md.

Run it through bench/run.sh (which installs the tools, builds verigate and bare pingora and makes
the venv); `bench/README.md` explains the scenarios and how to read the results. The work is in
the `vgbench` package beside this file: procs (processes, /proc), load (oha, wrk), servers (what
is measured), core (the measuring loop), scenarios / fleet / checks / profile (what is run),
stats / targets / report / chart (RESULTS.md and results.png).

Every process this script starts is recorded and killed (by its own pid / process group) when it
ends, on success, error, Ctrl-C or SIGTERM. Every loop is bounded; every load-generator run has a
fixed duration and a hard timeout. Nothing leaves the loopback interface.
"""

import argparse
import datetime
import json
import os
import platform
import signal
import subprocess
import sys
import time

from vgbench import checks, fleet, profile, scenarios
from vgbench.core import CONCURRENCY, RETRY_SWEEPS, Bench, uid_bound
from vgbench.procs import log
from vgbench.report import report

HERE = os.path.dirname(os.path.abspath(__file__))


def machine_info():
    def sh(cmd):
        try:
            return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=10).stdout.strip()
        except Exception:
            return ""

    return {
        "nproc": sh("nproc"),
        "model": sh("lscpu | sed -n 's/^Model name: *//p'"),
        "hypervisor": sh("lscpu | sed -n 's/^Hypervisor vendor: *//p'"),
        "kernel": platform.release(),
        "mem": sh("free -h | awk '/^Mem:/{print $2}'"),
        "loadavg_start": open("/proc/loadavg").read().split()[:3],
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "oha": sh("oha --version"),
        "wrk": sh("wrk --version 2>&1 | head -1 | cut -d' ' -f1-2"),
        "nginx": sh("nginx -v 2>&1"),
        "redis": sh("redis-server --version | cut -d' ' -f1-3"),
        "python": platform.python_version(),
        "verigate_commit": sh(f"git -C {HERE} rev-parse --short HEAD") + (
            " + uncommitted changes" if sh(f"git -C {HERE} status --porcelain -- ../src ../Cargo.toml ../examples") else ""),
    }


def run_all(b, groups):
    t0 = time.time()
    b.machine = machine_info()
    b.people()
    b.start_base()
    # The scenarios compared by a ratio are measured in turn (core.Bench.interleaved): the
    # proxies, the cache hits, the gated requests and forward-auth in one pass, the fleets in
    # another; the cache miss and the naive flow (against themselves only) one after another.
    with b.interleaved():
        scenarios.proxies(b, groups)
        scenarios.verified(b, groups)
        if "gated" in groups:
            scenarios.gated(b)
        if "fa" in groups:
            scenarios.forward_auth(b)
    if "naive" in groups:
        scenarios.naive(b)
    if "store" in groups:
        with b.interleaved():
            fleet.fleet(b)
    if "memory" in groups:
        checks.memory(b)
    if "profile" in groups and b.a.profile:
        profile.profile(b)
    b.elapsed = time.time() - t0


def people_needed(a, groups):
    """The seeded pool: the worst case of every new-imp_uid sweep, plus the checks."""
    per_sweep = sum(uid_bound(c, a.duration) for c in CONCURRENCY) * a.runs + uid_bound(16, 2)
    sweeps = ("miss" in groups) + 4 * ("store" in groups)
    a.uid_spare = per_sweep * RETRY_SWEEPS if sweeps else 0  # for runs taken again (core.measure)
    return (a.mem_entries if "memory" in groups else 0) + per_sweep * sweeps + a.uid_spare + 1000


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", required=True, help="the verigate binary")
    p.add_argument("--bare-bin", required=True, help="the bare_pingora example binary")
    p.add_argument("--out", default=os.path.join(HERE, "out"))
    p.add_argument("--quick", action="store_true", help="1 run of 2 s per point, small memory test")
    p.add_argument("--only", default="", help="comma-separated groups: " + ",".join(scenarios.GROUPS))
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--duration", type=int, default=5)
    p.add_argument("--mem-entries", type=int, default=100_000)
    p.add_argument("--no-profile", dest="profile", action="store_false")
    p.add_argument("--profile-secs", type=int, default=10, help="load during each perf recording")
    p.add_argument("--results", default=os.path.join(HERE, "RESULTS.md"))
    p.add_argument("--chart", default=os.path.join(HERE, "results.png"))
    p.add_argument("--json", default=os.path.join(HERE, "results.json"))
    p.add_argument("--flame-dir", default=os.path.join(HERE, "flame"))
    a = p.parse_args()
    a.out = os.path.abspath(a.out)
    groups = set(a.only.split(",")) if a.only else set(scenarios.GROUPS)
    unknown = groups - set(scenarios.GROUPS)
    if unknown:
        p.error(f"unknown --only group(s) {','.join(sorted(unknown))}; known: {','.join(scenarios.GROUPS)}")
    if a.quick:
        a.runs, a.duration, a.mem_entries = 1, 2, min(a.mem_entries, 10_000)
        a.profile_secs = min(a.profile_secs, 6)
    if a.quick or a.only:  # never overwrite the real results with a smoke run or a partial one
        if a.results == os.path.join(HERE, "RESULTS.md"):
            a.results = os.path.join(a.out, "RESULTS.md")
            a.chart = os.path.join(a.out, "results.png")
            a.json = os.path.join(a.out, "results.json")
            a.flame_dir = os.path.join(a.out, "flame")
    a.people = people_needed(a, groups)

    bench = Bench(a)

    def on_signal(signum, _frame):
        log(f"signal {signum}: stopping everything")
        bench.procs.stop_all()
        sys.exit(130)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        run_all(bench, groups)
    finally:
        bench.procs.stop_all()
    with open(a.json, "w") as f:
        json.dump({"machine": bench.machine, "args": vars(a), "results": bench.results, "discarded": bench.discarded,
                   "memory": getattr(bench, "mem", None), "checks": bench.checks, "notes": bench.notes,
                   "profiles": getattr(bench, "profiles", None)}, f, indent=1, default=str)
    report(bench, a.results, a.chart)
    log(f"wrote {a.results}, {a.chart} and {a.json} ({bench.elapsed / 60:.1f} min)")


if __name__ == "__main__":
    main()
