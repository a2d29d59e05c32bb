"""perf's view of where the CPU goes, at c=16: bare pingora, verigate passthrough, the cache hit
and a gated request, each sampled in its own process after the measured runs. Writes a
flamegraph SVG per scenario (inferno), the top symbols by self time, and a split of the samples
into kernel / allocator / pingora / tokio / crypto / verigate / other."""

import collections
import os
import re
import shutil
import signal
import subprocess
import time

from .core import BODY, HIT_UID, PASSTHROUGH_PATH, VERIFY_PATH
from .load import oha
from .procs import http, log
from .servers import GATED_PREFIX
from . import session

# Leaf-frame categories, first match wins (a frame is "module::path::fn" or a C symbol).
# Kernel frames carry inferno's `_[k]` mark (inferno-collapse-perf --all).
CATEGORIES = [
    ("kernel", ("_[k]",)),
    ("allocator", ("mi_", "_mi_", "mimalloc", "malloc", "free", "realloc", "__rust_alloc",
                   "__rust_dealloc", "__rdl_", "alloc::alloc")),
    ("crypto", ("aws_lc", "sha256", "sha512", "ed25519", "Ledwards", "hmac", "_block_data_order",
                "curve25519", "bignum")),
    ("verigate", ("verigate::", "bare_pingora::")),
    ("pingora", ("pingora",)),
    ("tokio", ("tokio::",)),
    ("http/bytes", ("http::", "httparse", "bytes::", "h2::", "httpdate")),
    ("libc", ("__memmove", "__memcpy", "__memset", "__memcmp", "__strlen", "libc.so", "__GI_", "syscall")),
]


OWN = re.compile(r"(^|;)<?(verigate|bare_pingora)::")


def categorize(folded_path):
    """Share of the sampled CPU time (by leaf frame) in each category, plus "own (incl.)": the
    share under any frame of our own code (verigate's, or the bare example's), and the sampled
    CPU milliseconds."""
    counts = collections.Counter()
    total = own = 0
    with open(folded_path) as f:
        for line in f:
            stack, _, n = line.rstrip().rpartition(" ")
            if not n.isdigit():
                continue
            leaf = stack.rsplit(";", 1)[-1]
            n = int(n)
            total += n
            if OWN.search(stack):
                own += n
            for name, needles in CATEGORIES:
                if any(x in leaf for x in needles):
                    counts[name] += n
                    break
            else:
                counts["other"] += n
    shares = {k: round(100 * v / total, 1) for k, v in counts.most_common()} if total else {}
    shares["own (incl.)"] = round(100 * own / total, 1) if total else 0
    return shares, round(total / 1e6)  # cpu-clock weights are nanoseconds


def record(b, name, pid, url, headers=(), body=BODY):
    perf = shutil.which("perf")
    data = os.path.join(b.out, f"perf-{name}.data")
    rec = subprocess.Popen([perf, "record", "-e", "cpu-clock", "-F", "999", "--call-graph", "dwarf,16384",
                            "-o", data, "-p", str(pid)], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, start_new_session=True)
    time.sleep(0.5)
    try:
        load = oha(url, 16, b.a.profile_secs, body, headers)
    finally:
        rec.send_signal(signal.SIGINT)
        try:
            rec.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(rec.pid, signal.SIGKILL)
            rec.wait(5)
    rep = subprocess.run([perf, "report", "-i", data, "--no-children", "--stdio", "--sort", "dso,symbol",
                          "-g", "none", "--percent-limit", "0.7"], capture_output=True, text=True, timeout=600)
    lines = [l for l in rep.stdout.splitlines() if l.strip() and not l.startswith("#")]
    b.profiles[name] = {"top": lines[:40] if lines else [rep.stderr.strip()[-500:]],
                        "requests": load["requests"]}
    with open(os.path.join(b.out, f"perf-{name}.txt"), "w") as f:
        f.write(rep.stdout)
    collapse, flame = shutil.which("inferno-collapse-perf"), shutil.which("inferno-flamegraph")
    if not (collapse and flame):
        b.profiles[name]["note"] = "inferno is not installed: no flamegraph"
        return
    folded = os.path.join(b.out, f"perf-{name}.folded")
    with open(folded, "w") as out:
        script = subprocess.Popen([perf, "script", "-i", data], stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL)
        subprocess.run([collapse, "--all"], stdin=script.stdout, stdout=out, check=True, timeout=900)
        script.wait(60)
    os.makedirs(b.a.flame_dir, exist_ok=True)
    svg = os.path.join(b.a.flame_dir, f"{name}.svg")
    with open(folded) as inp, open(svg, "w") as out:
        subprocess.run([flame, "--title", f"{name}, c=16 (perf cpu-clock, {b.a.profile_secs} s)",
                        "--width", "1600", "--minwidth", "0.2"], stdin=inp, stdout=out, check=True, timeout=300)
    b.profiles[name]["split"], b.profiles[name]["samples"] = categorize(folded)
    b.profiles[name]["svg"] = svg
    log(f"profile {name}: {b.profiles[name]['samples']} ms sampled, {b.profiles[name]['split']}")


def profile(b):
    b.profiles = {}
    if not shutil.which("perf"):
        b.notes.append("perf is not installed: no profile")
        return
    b.set_latency(0)
    port, pids = b.servers.bare_pingora("bare-prof", b.echo_port)
    record(b, "bare", pids[0], f"http://127.0.0.1:{port}{PASSTHROUGH_PATH}")
    b.procs.stop("bare-prof")
    port, pids, _ = b.gateway("verigate-prof")
    http("POST", f"http://127.0.0.1:{port}{VERIFY_PATH}", {"imp_uid": HIT_UID})
    record(b, "passthrough", pids[0], f"http://127.0.0.1:{port}{PASSTHROUGH_PATH}")
    record(b, "hit", pids[0], f"http://127.0.0.1:{port}{VERIFY_PATH}")
    b.procs.stop("verigate-prof")
    for name, signing in (("gated", None), ("gated-hmac", "hmac")):
        port, pids, _ = b.gateway(f"verigate-prof-{name}", signing=signing, session=True)
        if not getattr(b, "cookie", None):
            b.cookie = session.mint(port, b.sandbox_port)
        record(b, name, pids[0], f"http://127.0.0.1:{port}{GATED_PREFIX}{PASSTHROUGH_PATH}",
               headers=[f"cookie: {b.cookie}"])
        b.procs.stop(f"verigate-prof-{name}")
