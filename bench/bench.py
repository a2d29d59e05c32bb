#!/usr/bin/env python3
"""verigate benchmark driver: starts everything on 127.0.0.1, measures, writes RESULTS.md.

Run it through bench/run.sh (which installs the tools, builds verigate and makes the venv);
`bench/README.md` explains the scenarios and how to read the results.

Every process this script starts is recorded and killed (by its own pid / process group) when it
ends, on success, error, Ctrl-C or SIGTERM. Every loop is bounded; every load-generator run has a
fixed duration and a hard timeout. Nothing leaves the loopback interface.
"""

import argparse
import base64
import datetime
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
CLK_TCK = os.sysconf("SC_CLK_TCK")
LOADGEN_CPU = "0"  # the load generator (and the sandbox, which stands for a remote API)
SUT_CPU = "1"  # the system under test (proxy) and the app behind it
CONCURRENCY = [1, 16, 128]
API_LATENCY_MS = 20
PASSTHROUGH_PATH = "/orders"  # an ordinary (not intercepted) route
VERIFY_PATH = "/certifications"  # the intercepted route
HIT_UID = "imp_100000000000"  # the imp_uid of scenario 4 (and 6)
UID_BASE = 100000000001  # seeded imp_uids: imp_<UID_BASE + i>

SCENARIOS = {
    "direct": "1. direct → echo app",
    "nginx": "2. nginx → echo app",
    "passthrough": "3. verigate passthrough",
    "hit": "4. verigate verified, cache hit",
    "hit-hmac": "4b. cache hit, HMAC-SHA256 signing",
    "miss": "5. verigate verified, cache miss (+20 ms API)",
    "naive": "6. naive sample flow (nginx → Python app, +20 ms API)",
}


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --------------------------------------------------------------------------------------------
# processes


class Procs:
    """Every long-running process started here; all are killed on exit."""

    def __init__(self, outdir):
        self.outdir = outdir
        self.live = {}  # name -> Popen
        self.pidfile = os.path.join(outdir, "pids")

    def start(self, name, argv, cpu, env=None):
        logf = open(os.path.join(self.outdir, f"{name}.log"), "ab")
        cmd = ["taskset", "-c", cpu] + argv if cpu is not None else argv
        p = subprocess.Popen(
            cmd,
            stdout=logf,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            start_new_session=True,  # its own process group: killed as a group, by its id
        )
        logf.close()
        self.live[name] = p
        self._write_pids()
        log(f"started {name} (pid {p.pid}, cpu {cpu}): {' '.join(argv)}")
        return p

    def _write_pids(self):
        with open(self.pidfile, "w") as f:
            for p in self.live.values():
                f.write(f"{p.pid}\n")

    def stop(self, name, timeout=10):
        p = self.live.pop(name, None)
        if p is None:
            return
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait(5)
        self._write_pids()

    def stop_all(self):
        for name in list(self.live):
            self.stop(name, timeout=5)

    def check_alive(self, name):
        p = self.live[name]
        if p.poll() is not None:
            tail = open(os.path.join(self.outdir, f"{name}.log"), errors="replace").read()[-3000:]
            raise RuntimeError(f"{name} exited with {p.returncode}:\n{tail}")


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def proc_ticks(pid):
    """utime + stime of a whole process (all its threads), in clock ticks."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
        return int(rest[11]) + int(rest[12])
    except (OSError, IndexError):
        return 0


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def cpu_times():
    """Per-core (busy, steal, total) ticks from /proc/stat."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            if not re.match(r"cpu\d+ ", line):
                continue
            name, *v = line.split()
            v = [int(x) for x in v] + [0] * 10
            user, nice, system, idle, iowait, irq, softirq, steal = v[:8]
            busy = user + nice + system + irq + softirq
            out[name] = (busy, steal, busy + idle + iowait + steal)
    return out


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_tcp(port, proc_check, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        proc_check()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def http(method, url, body=None, headers=None, timeout=10):
    data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
    hdrs = {"content-type": "application/json"} if isinstance(body, (dict, list)) else {}
    hdrs.update(headers or {})
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)


def http_json(method, url, body=None):
    status, raw, _ = http(method, url, body)
    if status >= 300:
        raise RuntimeError(f"{method} {url}: {status} {raw[:300]!r}")
    return json.loads(raw)


# --------------------------------------------------------------------------------------------
# load generators


def run_loadgen(argv, timeout):
    """Runs a load generator pinned to LOADGEN_CPU; returns (stdout, its own CPU seconds)."""
    p = subprocess.Popen(
        ["taskset", "-c", LOADGEN_CPU] + argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        raise RuntimeError(f"load generator timed out: {' '.join(argv)}")
    # communicate() reaped it; the children's rusage grew by its CPU time (read by the caller).
    if p.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed ({p.returncode}): {err.decode(errors='replace')[-2000:]}")
    return out.decode(), err.decode()


def oha(url, conc, secs, body=None):
    argv = ["oha", "--no-tui", "--output-format", "json", "-z", f"{secs}s", "-c", str(conc),
            "--wait-ongoing-requests-after-deadline"]
    if body is not None:
        argv += ["-m", "POST", "-H", "content-type: application/json", "-d", body]
    out, _ = run_loadgen(argv + [url], timeout=secs + 60)
    j = json.loads(out)
    codes = {int(k): v for k, v in (j.get("statusCodeDistribution") or {}).items()}
    ok = sum(v for k, v in codes.items() if 200 <= k < 300)
    errors = sum((j.get("errorDistribution") or {}).values())
    pct = j["latencyPercentiles"]
    total = j["summary"]["total"]
    return {
        "requests": ok,
        "non2xx": sum(codes.values()) - ok,
        "errors": errors,
        "duration_s": total,
        "rps": ok / total if total else 0.0,
        "p50_ms": (pct.get("p50") or 0) * 1000,
        "p99_ms": (pct.get("p99") or 0) * 1000,
        "p999_ms": (pct.get("p99.9") or 0) * 1000,
    }


def wrk_newuid(url, conc, secs, ids_file, start, count):
    argv = ["wrk", "-t1", f"-c{conc}", f"-d{secs}s", "--timeout", "10s",
            "-s", os.path.join(HERE, "newuid.lua"), url, "--", ids_file, str(start), str(count)]
    out, _ = run_loadgen(argv, timeout=secs + 60)
    line = [l for l in out.splitlines() if l.startswith("{")][-1]
    j = json.loads(line)
    e = j["errors"]
    dur = j["duration_us"] / 1e6
    bad = e["status"]
    lat = j["latency_us"]
    return {
        "requests": j["requests"] - bad,
        "non2xx": bad,
        "errors": e["connect"] + e["read"] + e["write"] + e["timeout"],
        "duration_s": dur,
        "rps": (j["requests"] - bad) / dur if dur else 0.0,
        "p50_ms": lat["p50"] / 1000,
        "p99_ms": lat["p99"] / 1000,
        "p999_ms": lat["p99.9"] / 1000,
        "sent": j["sent"],
        "exhausted": j["exhausted"],
    }


# --------------------------------------------------------------------------------------------
# the bench


class Bench:
    def __init__(self, args):
        self.a = args
        self.bin = args.bin
        self.out = args.out
        os.makedirs(self.out, exist_ok=True)
        self.procs = Procs(self.out)
        self.results = []  # one dict per measured run
        self.notes = []
        self.checks = {}
        self.uid_next = 0  # next unused index in the people pool
        self.sut_pids = []
        self.other_pids = []  # our helpers (echo, sandbox, ...) for the noise accounting

    # ---------------------------------------------------------------- setup

    def people(self):
        n = self.a.people
        path = os.path.join(self.out, "people.json")
        ids_path = os.path.join(self.out, "imp_uids.txt")
        this_year = datetime.date.today().year
        with open(path, "w") as f, open(ids_path, "w") as ids:
            f.write("[")
            # the cache-hit person first
            f.write(json.dumps({"imp_uid": HIT_UID, "name": "홍길동", "birthday": "1990-05-05"},
                               ensure_ascii=False))
            for i in range(n):
                uid = f"imp_{UID_BASE + i}"
                year = 1950 + i % (this_year - 19 - 1950)  # adults, by year basis
                f.write(",")
                f.write(json.dumps({"imp_uid": uid, "name": "김철수",
                                    "birthday": f"{year}-{1 + i % 12:02d}-{1 + i % 28:02d}"},
                                   ensure_ascii=False))
                ids.write(uid + "\n")
            f.write("]")
        self.people_path, self.ids_path = path, ids_path
        log(f"wrote {n + 1} people to {path}")

    def take_uids(self, count):
        start = self.uid_next
        if start + count > self.a.people:
            raise RuntimeError(f"people pool exhausted: need {count} more after {start}")
        return start

    def start_base(self):
        self.sandbox_port = free_port()
        self.procs.start("sandbox", [self.bin, "sandbox", "--listen", f"127.0.0.1:{self.sandbox_port}",
                                     "--people", self.people_path], LOADGEN_CPU,
                         env={"RUST_LOG": "warn"})
        self.api = f"http://127.0.0.1:{self.sandbox_port}"
        wait_tcp(self.sandbox_port, lambda: self.procs.check_alive("sandbox"), timeout=180)
        st, _, _ = http("GET", f"{self.api}/certifications/{HIT_UID}")
        assert st == 401, f"sandbox answered {st} without a token"
        self.echo_port = free_port()
        self.procs.start("echo", [self.bin, "echo", "--listen", f"127.0.0.1:{self.echo_port}"], SUT_CPU)
        wait_tcp(self.echo_port, lambda: self.procs.check_alive("echo"))
        self.key = os.path.join(self.out, "bench-ed25519.pem")
        if os.path.exists(self.key):
            os.remove(self.key)
        subprocess.run([self.bin, "keygen", "--alg", "ed25519", "--out", self.key], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def sandbox_stats(self):
        return http_json("GET", f"{self.api}/__sandbox/stats")

    def quiesce(self, settle=0.5, limit=15.0):
        """Waits (bounded) until the sandbox has seen no new API call for `settle` seconds, so that
        lookups still in flight when a load generator stops are counted with the run that sent
        them, not with the next one."""
        deadline = time.monotonic() + limit
        last = self.sandbox_stats()
        while time.monotonic() < deadline:
            time.sleep(settle)
            now = self.sandbox_stats()
            if now == last:
                return now
            last = now
        self.notes.append(f"the sandbox API did not go quiet within {limit:.0f} s after a run")
        return last

    def set_latency(self, ms):
        http_json("POST", f"{self.api}/__sandbox/faults", {"latency_ms": ms} if ms else {})

    def start_nginx(self, name, upstream_port):
        d = os.path.join(self.out, name)
        os.makedirs(d, exist_ok=True)
        port = free_port()
        tmpl = open(os.path.join(HERE, "nginx.conf.tmpl")).read()
        conf = (tmpl.replace("@@DIR@@", d).replace("@@LISTEN@@", f"127.0.0.1:{port}")
                .replace("@@UPSTREAM@@", f"127.0.0.1:{upstream_port}"))
        path = os.path.join(d, "nginx.conf")
        open(path, "w").write(conf)
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        p = self.procs.start(name, [nginx, "-c", path, "-p", d, "-e", os.path.join(d, "nginx-error.log")],
                             SUT_CPU)
        wait_tcp(port, lambda: self.procs.check_alive(name))
        kids = children(p.pid)
        return port, [p.pid] + kids

    def start_gateway(self, name, hmac=False):
        d = os.path.join(self.out, name)
        os.makedirs(d, exist_ok=True)
        port, admin = free_port(), free_port()
        tmpl = open(os.path.join(HERE, "gateway.toml.tmpl")).read()
        conf = (tmpl.replace("@@DIR@@", d).replace("@@LISTEN@@", f"127.0.0.1:{port}")
                .replace("@@ADMIN@@", f"127.0.0.1:{admin}")
                .replace("@@UPSTREAM@@", f"127.0.0.1:{self.echo_port}")
                .replace("@@API@@", self.api).replace("@@KEY@@", self.key))
        if hmac:  # scenario 4b: the same gateway with an HMAC-SHA256 key (RFC 9421 + HS256 JWT)
            ed = f'alg = "ed25519"\nprivate_key_file = "{self.key}"'
            assert ed in conf, "gateway.toml.tmpl: the ed25519 key block changed"
            conf = conf.replace(ed, 'alg = "hmac-sha256"\nsecret = "${BENCH_HMAC_SECRET}"')
        path = os.path.join(d, "gateway.toml")
        open(path, "w").write(conf)
        env = {"RUST_LOG": "warn", "BENCH_HMAC_SECRET": base64.b64encode(os.urandom(32)).decode()}
        p = self.procs.start(name, [self.bin, "run", "-c", path], SUT_CPU, env=env)
        wait_tcp(port, lambda: self.procs.check_alive(name))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # bounded: ready within 30 s
            self.procs.check_alive(name)
            try:
                if http("GET", f"http://127.0.0.1:{admin}/readyz", timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        else:
            raise RuntimeError(f"{name} not ready on its admin listener")
        self.admin = f"http://127.0.0.1:{admin}"
        return port, [p.pid]

    # ---------------------------------------------------------------- measuring

    def measure(self, scenario, conc, run, sut_pids, fn, api=False):
        """One measured run of fn() -> loadgen result, with CPU and API accounting around it."""
        ours = lambda: sum(proc_ticks(p) for p in set(sut_pids) | set(self.other_pids))
        st0 = self.sandbox_stats() if api else None
        sut0 = sum(proc_ticks(p) for p in sut_pids)
        ours0 = ours()
        core0 = cpu_times()
        kids0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        self0 = resource.getrusage(resource.RUSAGE_SELF)
        r = fn()
        kids1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        self1 = resource.getrusage(resource.RUSAGE_SELF)
        core1 = cpu_times()
        sut1 = sum(proc_ticks(p) for p in sut_pids)
        ours1 = ours()
        st1 = self.quiesce() if api else None
        loadgen_s = (kids1.ru_utime + kids1.ru_stime) - (kids0.ru_utime + kids0.ru_stime)
        self_s = (self1.ru_utime + self1.ru_stime) - (self0.ru_utime + self0.ru_stime)
        r.update(scenario=scenario, concurrency=conc, run=run)
        r["sut_cpu_s"] = (sut1 - sut0) / CLK_TCK
        r["cpu_s_per_10k"] = r["sut_cpu_s"] / r["requests"] * 10000 if r["requests"] else None
        r["loadgen_cpu_s"] = loadgen_s
        cores = {}
        busy_all = steal_all = 0
        for c in core1:
            busy = core1[c][0] - core0[c][0]
            steal = core1[c][1] - core0[c][1]
            total = core1[c][2] - core0[c][2]
            cores[c] = round(100 * busy / total, 1) if total else None
            busy_all += busy
            steal_all += steal
        r["core_busy_pct"] = cores
        r["steal_s"] = steal_all / CLK_TCK
        ours_s = (ours1 - ours0) / CLK_TCK + loadgen_s + self_s
        r["foreign_cpu_s"] = max(0.0, busy_all / CLK_TCK - ours_s)
        if api:
            tok = st1["token_requests"] - st0["token_requests"]
            look = st1["certification_requests"] - st0["certification_requests"]
            r["token_calls"] = tok
            r["lookup_calls"] = look
            r["tokens_per_req"] = tok / r["requests"] if r["requests"] else None
            r["lookups_per_req"] = look / r["requests"] if r["requests"] else None
        self.results.append(r)
        flag = ""
        if r["non2xx"] or r["errors"]:
            flag = f"  !! non-2xx {r['non2xx']} errors {r['errors']}"
        log(f"{scenario:11s} c={conc:<3d} run {run}: {r['rps']:9.0f} req/s  p50 {r['p50_ms']:.3f}  "
            f"p99 {r['p99_ms']:.3f}  p99.9 {r['p999_ms']:.3f} ms  cpu/10k {r['cpu_s_per_10k'] or 0:.3f}s  "
            f"cores {cores}  foreign {r['foreign_cpu_s']:.2f}s"
            + (f"  tok/req {r['tokens_per_req']:.4f} look/req {r['lookups_per_req']:.4f}" if api else "")
            + flag)
        return r

    def sweep(self, scenario, sut_pids, make_fn, api=False):
        d = self.a.duration
        # warm-up (not recorded): connections, pools, caches, page faults
        make_fn(16, min(2, d))()
        for conc in CONCURRENCY:
            for run in range(1, self.a.runs + 1):
                self.measure(scenario, conc, run, sut_pids, make_fn(conc, d), api=api)

    def miss_fn(self, url):
        """Scenario 5's load: each request a new imp_uid from the pool, never repeated."""

        def make(conc, secs):
            def fn():
                # No run can use more than conc / 20 ms * secs imp_uids: each request waits
                # at least one 20 ms API call.
                bound = int(conc * 1000 / API_LATENCY_MS * secs) + conc + 16
                start = self.take_uids(bound)
                r = wrk_newuid(url, conc, secs, self.ids_path, start, bound)
                self.uid_next += r["sent"]
                if r["exhausted"]:
                    self.notes.append(f"scenario 5 c={conc}: the imp_uid slice ran out; that run is not valid")
                return r
            return fn

        return make

    def run_all(self):
        a = self.a
        t0 = time.time()
        self.machine = machine_info()
        self.people()
        self.start_base()
        self.other_pids = [self.procs.live["sandbox"].pid, self.procs.live["echo"].pid]
        body = json.dumps({"imp_uid": HIT_UID})

        # 0. The generator's ceiling: nginx answering by itself (`return 200`) on the SUT core.
        self.calibrate()

        # 1. direct
        pids = [self.procs.live["echo"].pid]
        url = f"http://127.0.0.1:{self.echo_port}{PASSTHROUGH_PATH}"
        self.sweep("direct", pids, lambda c, s: (lambda: oha(url, c, s, body)))

        # 2. nginx
        nport, npids = self.start_nginx("nginx", self.echo_port)
        url = f"http://127.0.0.1:{nport}{PASSTHROUGH_PATH}"
        self.sweep("nginx", npids, lambda c, s: (lambda: oha(url, c, s, body)))
        self.procs.stop("nginx")

        # 3-5. verigate
        gport, gpids = self.start_gateway("verigate")
        self.set_latency(0)
        st_start = self.sandbox_stats()
        url = f"http://127.0.0.1:{gport}{PASSTHROUGH_PATH}"
        self.sweep("passthrough", gpids, lambda c, s: (lambda: oha(url, c, s, body)), api=True)

        vurl = f"http://127.0.0.1:{gport}{VERIFY_PATH}"
        st, raw, _ = http("POST", vurl, {"imp_uid": HIT_UID})
        echoed = json.loads(raw)
        seen = echoed.get("headers", {})
        if st != 200 or seen.get("x-verified-verdict") != "allow" or "signature" not in seen \
                or "x-verified-assertion" not in seen:
            raise RuntimeError(f"the cache-hit request was not verified and signed: {st} {raw[:500]!r}")
        self.checks["hit_headers"] = sorted(k for k in seen if k.startswith(("x-verified", "signature", "content-digest")))
        self.sweep("hit", gpids, lambda c, s: (lambda: oha(vurl, c, s, body)), api=True)

        self.set_latency(API_LATENCY_MS)
        self.sweep("miss", gpids, self.miss_fn(vurl), api=True)
        self.coalescing_check(vurl)
        st_end = self.sandbox_stats()
        self.checks["gateway_tokens"] = st_end["token_requests"] - st_start["token_requests"]
        self.checks["gateway_tokens_issued"] = st_end["tokens_issued"] - st_start["tokens_issued"]
        self.checks["gateway_minutes"] = (time.time() - t0) / 60
        self.procs.stop("verigate")

        # 4b. the cache hit again, signed with HMAC-SHA256 instead of Ed25519: what signing costs
        hport, hpids = self.start_gateway("verigate-hmac", hmac=True)
        self.set_latency(0)
        hurl = f"http://127.0.0.1:{hport}{VERIFY_PATH}"
        st, raw, _ = http("POST", hurl, {"imp_uid": HIT_UID})
        seen = json.loads(raw).get("headers", {})
        if st != 200 or 'alg="hmac-sha256"' not in seen.get("signature-input", "") \
                or "x-verified-assertion" not in seen:
            raise RuntimeError(f"the HMAC gateway did not sign: {st} {raw[:500]!r}")
        self.sweep("hit-hmac", hpids, lambda c, s: (lambda: oha(hurl, c, s, body)), api=True)
        self.procs.stop("verigate-hmac")
        self.set_latency(API_LATENCY_MS)

        # 6. naive sample flow behind nginx, same API latency
        aport = free_port()
        py = sys.executable
        self.procs.start("naive", [py, os.path.join(HERE, "naive_app.py"), "--listen",
                                   f"127.0.0.1:{aport}", "--api", self.api], SUT_CPU)
        wait_tcp(aport, lambda: self.procs.check_alive("naive"))
        st, raw, _ = http("POST", f"http://127.0.0.1:{aport}{VERIFY_PATH}", {"imp_uid": HIT_UID})
        if st != 200 or json.loads(raw).get("verdict") != "allow":
            raise RuntimeError(f"the naive app did not allow the adult: {st} {raw[:300]!r}")
        nport, npids = self.start_nginx("nginx-naive", aport)
        pids = npids + [self.procs.live["naive"].pid]
        url = f"http://127.0.0.1:{nport}{VERIFY_PATH}"
        self.sweep("naive", pids, lambda c, s: (lambda: oha(url, c, s, body)), api=True)
        self.procs.stop("nginx-naive")
        self.procs.stop("naive")
        self.set_latency(0)

        # memory per cached verification
        self.memory()
        if a.profile:
            self.profile()
        self.elapsed = time.time() - t0

    def coalescing_check(self, url, uids=500, copies=4):
        """Exactly one lookup per new imp_uid, even when several requests for it arrive at once.

        `uids` new imp_uids, each sent `copies` times, all shuffled and 64 at a time while the API
        answers in 20 ms (so copies overlap); then every one once more (now cached)."""
        import random
        from concurrent.futures import ThreadPoolExecutor

        start = self.take_uids(uids)
        self.uid_next += uids
        ids = [f"imp_{UID_BASE + start + i}" for i in range(uids)]
        reqs = ids * copies
        random.Random(6).shuffle(reqs)

        def post(uid):
            return http("POST", url, {"imp_uid": uid}, timeout=30)[0]

        st0 = self.quiesce()
        with ThreadPoolExecutor(64) as pool:
            codes = list(pool.map(post, reqs))
        st1 = self.sandbox_stats()
        with ThreadPoolExecutor(64) as pool:
            codes2 = list(pool.map(post, ids))
        st2 = self.sandbox_stats()
        self.checks["coalescing"] = {
            "imp_uids": uids,
            "requests": len(reqs),
            "non200": sum(c != 200 for c in codes),
            "lookups": st1["certification_requests"] - st0["certification_requests"],
            "tokens": st1["token_requests"] - st0["token_requests"],
            "again_requests": len(ids),
            "again_non200": sum(c != 200 for c in codes2),
            "again_lookups": st2["certification_requests"] - st1["certification_requests"],
        }
        log(f"coalescing check: {self.checks['coalescing']}")

    def calibrate(self):
        d = os.path.join(self.out, "nginx-ceiling")
        os.makedirs(d, exist_ok=True)
        port = free_port()
        conf = (open(os.path.join(HERE, "nginx.conf.tmpl")).read()
                .replace("@@DIR@@", d).replace("@@LISTEN@@", f"127.0.0.1:{port}")
                .replace("@@UPSTREAM@@", f"127.0.0.1:{self.echo_port}"))
        conf = re.sub(r"location / \{.*?\n        \}", 'location / {\n            return 200 "{}";\n        }',
                      conf, flags=re.S)
        path = os.path.join(d, "nginx.conf")
        open(path, "w").write(conf)
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        p = self.procs.start("nginx-ceiling", [nginx, "-c", path, "-p", d, "-e", os.path.join(d, "e.log")],
                             SUT_CPU)
        wait_tcp(port, lambda: self.procs.check_alive("nginx-ceiling"))
        pids = [p.pid] + children(p.pid)
        url = f"http://127.0.0.1:{port}{PASSTHROUGH_PATH}"
        body = json.dumps({"imp_uid": HIT_UID})
        oha(url, 16, 1, body)
        self.ceiling = {}
        for conc in (16, 128):
            r = self.measure("ceiling", conc, 1, pids, lambda: oha(url, conc, self.a.duration, body))
            self.ceiling[conc] = r
        self.results = [r for r in self.results if r["scenario"] != "ceiling"]
        self.procs.stop("nginx-ceiling")

    def memory(self):
        n = self.a.mem_entries
        gport, gpids = self.start_gateway("verigate-mem")
        pid = gpids[0]
        url = f"http://127.0.0.1:{gport}"
        body = json.dumps({"imp_uid": HIT_UID})
        # warm up: the token, the pools, one cached verification, the allocator's first arenas
        oha(f"{url}{PASSTHROUGH_PATH}", 16, 1, body)
        oha(f"{url}{VERIFY_PATH}", 16, 1, body)
        time.sleep(1)
        entries0 = self.cache_entries()
        rss0 = rss_bytes(pid)
        st0 = self.sandbox_stats()
        start = self.take_uids(n)
        sent = 0
        for _ in range(40):  # bounded: 40 runs of at most 10 s
            r = wrk_newuid(f"{url}{VERIFY_PATH}", 32, 10, self.ids_path, start + sent, n - sent)
            sent += r["sent"]
            if r["non2xx"] or r["errors"]:
                self.notes.append(f"memory fill: {r['non2xx']} non-2xx, {r['errors']} errors")
            log(f"memory fill: {sent}/{n} resolved, {r['rps']:.0f} req/s")
            if sent >= n:
                break
        self.uid_next = start + sent
        time.sleep(2)
        entries1 = self.cache_entries()
        rss1 = rss_bytes(pid)
        st1 = self.sandbox_stats()
        added = entries1 - entries0
        self.mem = {
            "entries_requested": n,
            "imp_uids_sent": sent,
            "entries_before": entries0,
            "entries_after": entries1,
            "rss_before": rss0,
            "rss_after": rss1,
            "bytes_per_entry": (rss1 - rss0) / added if added else None,
            "lookups": st1["certification_requests"] - st0["certification_requests"],
            "tokens": st1["token_requests"] - st0["token_requests"],
        }
        log(f"memory: {self.mem}")
        self.procs.stop("verigate-mem")

    def cache_entries(self):
        _, raw, _ = http("GET", f"{self.admin}/metrics")
        m = re.search(rb"^verigate_cache_entries (\d+)", raw, re.M)
        return int(m.group(1)) if m else 0

    def profile(self):
        """perf's own view of where verigate's CPU goes (scenarios 3 and 4, c=16)."""
        perf = shutil.which("perf")
        self.profiles = {}
        if not perf:
            self.profiles["_note"] = "perf is not installed"
            return
        gport, gpids = self.start_gateway("verigate-prof")
        body = json.dumps({"imp_uid": HIT_UID})
        http("POST", f"http://127.0.0.1:{gport}{VERIFY_PATH}", {"imp_uid": HIT_UID})
        for scen, path in (("passthrough", PASSTHROUGH_PATH), ("hit", VERIFY_PATH)):
            data = os.path.join(self.out, f"perf-{scen}.data")
            rec = subprocess.Popen([perf, "record", "-e", "cpu-clock", "-F", "999", "-g", "-o", data,
                                    "-p", str(gpids[0])], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, start_new_session=True)
            time.sleep(0.5)
            try:
                oha(f"http://127.0.0.1:{gport}{path}", 16, self.a.duration, body)
            finally:
                rec.send_signal(signal.SIGINT)
                try:
                    rec.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(rec.pid, signal.SIGKILL)
                    rec.wait(5)
            rep = subprocess.run([perf, "report", "-i", data, "--no-children", "--stdio",
                                  "--sort", "dso,symbol", "-g", "none", "--percent-limit", "0.7"],
                                 capture_output=True, text=True, timeout=300)
            lines = [l for l in rep.stdout.splitlines() if l.strip() and not l.startswith("#")]
            self.profiles[scen] = lines[:40] if lines else [rep.stderr.strip()[-500:]]
            with open(os.path.join(self.out, f"perf-{scen}.txt"), "w") as f:
                f.write(rep.stdout)
        self.procs.stop("verigate-prof")


# --------------------------------------------------------------------------------------------
# reporting


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
        "python": platform.python_version(),
        "verigate_commit": sh(f"git -C {HERE} rev-parse --short HEAD") + (
            " + uncommitted changes" if sh(f"git -C {HERE} status --porcelain -- ../src ../Cargo.toml") else ""),
    }


def agg(values):
    v = [x for x in values if x is not None]
    if not v:
        return None
    return (min(v), statistics.median(v), max(v))


def fmt_rng(t, fmt="{:.0f}", unit=""):
    if t is None:
        return "–"
    lo, med, hi = t
    if lo == hi:
        return f"{fmt.format(med)}{unit}"
    return f"**{fmt.format(med)}**{unit} ({fmt.format(lo)}–{fmt.format(hi)})"


def summarize(results):
    """(scenario, concurrency) -> aggregated stats."""
    s = {}
    for scen in SCENARIOS:
        for c in CONCURRENCY:
            rs = [r for r in results if r["scenario"] == scen and r["concurrency"] == c]
            if not rs:
                continue
            row = {k: agg([r.get(k) for r in rs]) for k in
                   ("rps", "p50_ms", "p99_ms", "p999_ms", "cpu_s_per_10k", "tokens_per_req",
                    "lookups_per_req", "foreign_cpu_s", "steal_s")}
            row["runs"] = len(rs)
            row["bad"] = sum(r["non2xx"] + r["errors"] for r in rs)
            row["requests"] = sum(r["requests"] for r in rs)
            row["core0"] = agg([r["core_busy_pct"].get("cpu0") for r in rs])
            row["core1"] = agg([r["core_busy_pct"].get("cpu1") for r in rs])
            if scen == "miss":
                row["sent"] = sum(r.get("sent", 0) for r in rs)
                row["lookups"] = sum(r.get("lookup_calls", 0) for r in rs)
                row["tokens"] = sum(r.get("token_calls", 0) for r in rs)
            s[(scen, c)] = row
    return s


def med(s, scen, c, key):
    row = s.get((scen, c))
    return row[key][1] if row and row[key] else None


def chart(s, path, quick):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scen = [k for k in SCENARIOS if any((k, c) in s for c in CONCURRENCY)]
    colors = dict(zip(SCENARIOS, ["#777777", "#2b8a3e", "#1c7ed6", "#5f3dc4", "#9775fa", "#e8590c", "#c92a2a"]))
    fig, axes = plt.subplots(1, 3, figsize=(18, 5.8))
    ax = axes[0]
    width = 0.8 / len(scen)
    for i, k in enumerate(scen):
        xs, ys, lo, hi = [], [], [], []
        for j, c in enumerate(CONCURRENCY):
            t = s.get((k, c), {}).get("rps")
            if t:
                xs.append(j + (i - (len(scen) - 1) / 2) * width)
                ys.append(t[1])
                lo.append(t[1] - t[0])
                hi.append(t[2] - t[1])
        ax.bar(xs, ys, width, yerr=[lo, hi], capsize=2, label=SCENARIOS[k], color=colors[k])
    ax.set_xticks(range(len(CONCURRENCY)), [f"c={c}" for c in CONCURRENCY])
    ax.set_ylabel("requests/s (median; bars: min–max)")
    ax.set_title("Throughput")
    ax.legend(fontsize=7.5, loc="upper left")
    ax.grid(axis="y", alpha=0.3)

    ax = axes[1]
    width = 0.8 / len(scen)
    c = 16
    for i, k in enumerate(scen):
        row = s.get((k, c))
        if not row:
            continue
        vals = [row[p][1] for p in ("p50_ms", "p99_ms", "p999_ms")]
        xs = [j + (i - (len(scen) - 1) / 2) * width for j in range(3)]
        ax.bar(xs, vals, width, color=colors[k], label=SCENARIOS[k])
    ax.set_xticks(range(3), ["p50", "p99", "p99.9"])
    ax.set_yscale("log")
    ax.set_ylabel("latency, ms (log; median of runs)")
    ax.set_title("Latency percentiles at concurrency 16")
    ax.grid(axis="y", alpha=0.3, which="both")

    ax = axes[2]
    for k in scen:
        xs = [c for c in CONCURRENCY if (k, c) in s]
        ax.plot(xs, [s[(k, c)]["p99_ms"][1] for c in xs], marker="o", color=colors[k], label=SCENARIOS[k])
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(CONCURRENCY, [str(c) for c in CONCURRENCY])
    ax.set_xlabel("concurrency")
    ax.set_ylabel("p99 latency, ms (log)")
    ax.set_title("How p99 grows with concurrency")
    ax.grid(alpha=0.3, which="both")
    fig.suptitle("verigate benchmark on loopback" + (" (QUICK smoke run: 1 × 2 s, not for comparison)" if quick else ""))
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def verdict(ok):
    return "**met**" if ok else "**MISSED**"


def report(bench, path, chart_path):
    a = bench.a
    s = summarize(bench.results)
    m = bench.machine
    L = []
    w = L.append
    w("# verigate benchmark results")
    w("")
    w("Produced by `bench/run.sh`" + (" --quick (a smoke run: 1 run of 2 s per point; NOT for comparison)" if a.quick else "")
      + f" on {m['date']}, in {bench.elapsed / 60:.1f} minutes. How to read it: [README.md](README.md).")
    w("")
    w("![throughput and latency](results.png)")
    w("")
    w("## Machine and method")
    w("")
    w(f"- **Machine**: {m['nproc']} cores, {m['model']} ({m['hypervisor'] or 'bare metal'} guest), {m['mem']} RAM, "
      f"Linux {m['kernel']}. Load average at start: {' '.join(m['loadavg_start'])}; at end: "
      f"{' '.join(open('/proc/loadavg').read().split()[:3])}.")
    w(f"- **Pinning** (`taskset`): load generator and the sandbox i'mport API on CPU {LOADGEN_CPU}; the system under test "
      f"(nginx with 1 worker, or verigate with `threads = 1`) **and the echo app behind it** on CPU {SUT_CPU}. "
      "So \"direct\" is the echo app alone on that core and every proxy shares its core with the app.")
    w(f"- **Software**: verigate {m['verigate_commit']} (release build), {m['nginx']}, {m['oha']}, {m['wrk']}, Python {m['python']} "
      "(aiohttp for the naive app).")
    w(f"- **Runs**: each point is {a.runs} run(s) of {a.duration} s after a warm-up; tables give the **median** and (min–max). "
      "Latency is per run (oha's / wrk's percentiles), then the median over runs.")
    w("- **Load**: scenarios 1–4 and 6 with `oha` (keep-alive, `POST` with the same 28-byte JSON body "
      f"`{{\"imp_uid\":\"{HIT_UID}\"}}`; 1–3 to the ordinary path `{PASSTHROUGH_PATH}`, 4 and 6 to `{VERIFY_PATH}`). "
      f"Scenario 5 with `wrk` + `bench/newuid.lua` (a new seeded imp_uid per request, never repeated).")
    w("- **Config**: verigate with `server.access_log = \"off\"`, `threads = 1`, `[signing]` ed25519 with `jwt = true` "
      "(each verified request carries an RFC 9421 signature and a JWT), cache `ttl_secs = 3600`, "
      "`max_certification_age_secs = 0` (bench/gateway.toml.tmpl). nginx: 1 worker, `access_log off`, upstream keep-alive "
      "(bench/nginx.conf.tmpl).")
    w("- **CPU s / 10k req**: utime+stime from `/proc/PID/stat` of the system under test only (the echo app for 1, "
      "nginx master+worker for 2, verigate for 3–5, nginx + the Python app for 6), before/after each run.")
    cal = getattr(bench, "ceiling", {})
    if cal:
        w(f"- **Load-generator ceiling**: oha against nginx answering `return 200` itself on CPU {SUT_CPU}: "
          + ", ".join(f"c={c}: {r['rps']:.0f} req/s (CPU {LOADGEN_CPU} {r['core_busy_pct'].get('cpu' + LOADGEN_CPU)}% busy)"
                      for c, r in cal.items())
          + ". Results near this rate measure the generator, not the server.")
    w("")
    w("## Noise")
    w("")
    foreign = [r["foreign_cpu_s"] / r["duration_s"] for r in bench.results if r["duration_s"]]
    steal = [r["steal_s"] / r["duration_s"] for r in bench.results if r["duration_s"]]
    if foreign:
        w(f"Other work on the machine (CPU time not used by any process of the benchmark, /proc/stat): median "
          f"{statistics.median(foreign):.2f} cores, max {max(foreign):.2f} cores over the {len(foreign)} runs; "
          f"hypervisor steal: median {statistics.median(steal):.2f}, max {max(steal):.2f} cores. "
          "The machine is shared with other engineers' compiles and tests; a run with high foreign load is slower "
          "than the hardware allows. The min–max columns show the spread; per-run data is in `bench/results.json`.")
    w("")
    w("## Results")
    w("")
    w("| scenario | c | req/s | p50 ms | p99 ms | p99.9 ms | CPU s / 10k req | token calls / req | lookups / req | SUT core busy % |")
    w("|---|---:|---|---|---|---|---|---|---|---|")
    for scen, title in SCENARIOS.items():
        for c in CONCURRENCY:
            row = s.get((scen, c))
            if not row:
                continue
            api = scen in ("passthrough", "hit", "hit-hmac", "miss", "naive")
            bad = f" ⚠ {row['bad']} failed" if row["bad"] else ""
            w(f"| {title} | {c} | {fmt_rng(row['rps'])}{bad} | {fmt_rng(row['p50_ms'], '{:.2f}')} | "
              f"{fmt_rng(row['p99_ms'], '{:.2f}')} | {fmt_rng(row['p999_ms'], '{:.2f}')} | "
              f"{fmt_rng(row['cpu_s_per_10k'], '{:.2f}')} | "
              f"{fmt_rng(row['tokens_per_req'], '{:.4f}') if api else '–'} | "
              f"{fmt_rng(row['lookups_per_req'], '{:.4f}') if api else '–'} | "
              f"{fmt_rng(row['core1'], '{:.0f}')} |")
    w("")
    w("### Ratios (medians)")
    w("")
    w("| | c=" + " | c=".join(map(str, CONCURRENCY)) + " |")
    w("|---|" + "---:|" * len(CONCURRENCY))

    def ratio_row(label, num, den, key="rps"):
        cells = []
        for c in CONCURRENCY:
            x, y = med(s, num, c, key), med(s, den, c, key)
            cells.append(f"{x / y:.2f}" if x and y else "–")
        w(f"| {label} | " + " | ".join(cells) + " |")

    ratio_row("passthrough ÷ nginx (req/s)", "passthrough", "nginx")
    ratio_row("passthrough ÷ direct (req/s)", "passthrough", "direct")
    ratio_row("nginx ÷ direct (req/s)", "nginx", "direct")
    ratio_row("cache hit ÷ passthrough (req/s)", "hit", "passthrough")
    ratio_row("cache hit, HMAC ÷ passthrough (req/s)", "hit-hmac", "passthrough")
    ratio_row("cache hit ÷ nginx (req/s)", "hit", "nginx")
    ratio_row("cache hit ÷ direct (req/s)", "hit", "direct")
    ratio_row("cache miss ÷ naive (req/s)", "miss", "naive")
    ratio_row("cache hit ÷ naive (req/s)", "hit", "naive")
    ratio_row("passthrough ÷ nginx (CPU/10k)", "passthrough", "nginx", "cpu_s_per_10k")
    w("")
    w("### How p99 grows with concurrency (median p99, ms; ×: relative to c=1)")
    w("")
    w("| scenario | " + " | ".join(f"c={c}" for c in CONCURRENCY) + " |")
    w("|---|" + "---:|" * len(CONCURRENCY))
    for scen, title in SCENARIOS.items():
        base = med(s, scen, CONCURRENCY[0], "p99_ms")
        cells = []
        for c in CONCURRENCY:
            v = med(s, scen, c, "p99_ms")
            cells.append("–" if v is None else (f"{v:.2f}" + (f" (×{v / base:.1f})" if base and c != CONCURRENCY[0] else "")))
        w(f"| {title} | " + " | ".join(cells) + " |")
    w("")
    w("### Memory per cached verification")
    w("")
    mem = getattr(bench, "mem", None)
    if mem:
        bpe = mem["bytes_per_entry"]
        w(f"A fresh verigate (warmed up with one verification), then {mem['imp_uids_sent']} new imp_uids resolved "
          f"through it: cache entries {mem['entries_before']} → {mem['entries_after']}, VmRSS "
          f"{mem['rss_before'] / 2**20:.1f} MiB → {mem['rss_after'] / 2**20:.1f} MiB: "
          f"**{bpe:.0f} bytes per entry** (RSS delta ÷ entries added). API calls during the fill: "
          f"{mem['lookups']} lookups, {mem['tokens']} token requests.")
    w("")
    w("## Targets")
    w("")
    w("| target | measured | verdict |")
    w("|---|---|---|")
    for c in CONCURRENCY:
        p, n = med(s, "passthrough", c, "rps"), med(s, "nginx", c, "rps")
        if p and n:
            w(f"| passthrough ≥ nginx throughput, c={c} | {p:.0f} vs {n:.0f} req/s ({p / n:.2f}×) | {verdict(p >= n)} |")
    for c in CONCURRENCY:
        for scen, what in (("hit", "Ed25519"), ("hit-hmac", "HMAC")):
            h, p = med(s, scen, c, "rps"), med(s, "passthrough", c, "rps")
            if h and p:
                w(f"| verified cache hit ({what} signing) ≥ 85% of passthrough, c={c} | {h:.0f} vs {p:.0f} req/s ({100 * h / p:.0f}%) | {verdict(h >= 0.85 * p)} |")
    d = med(s, "direct", 16, "p99_ms")
    for scen in ("passthrough", "hit"):
        v = med(s, scen, 16, "p99_ms")
        if v is not None and d is not None:
            w(f"| added p99 over direct ≤ 1 ms at c=16 ({SCENARIOS[scen][3:]}) | {v:.2f} − {d:.2f} = {v - d:.2f} ms | {verdict(v - d <= 1.0)} |")
    miss = [r for r in bench.results if r["scenario"] == "miss"]
    co = bench.checks.get("coalescing")
    if miss and co:
        sent = sum(r["sent"] for r in miss)
        done = sum(r["requests"] for r in miss)
        look = sum(r["lookup_calls"] for r in miss)
        inside = all(r["requests"] <= r["lookup_calls"] <= r["sent"] for r in miss)
        exact = co["lookups"] == co["imp_uids"] and co["again_lookups"] == 0 and not co["non200"] and not co["again_non200"]
        w(f"| exactly one lookup per new imp_uid | {co['imp_uids']} new imp_uids × {co['requests'] // co['imp_uids']} "
          f"concurrent copies (API at 20 ms): **{co['lookups']} lookups**, then each once more: {co['again_lookups']} lookups. "
          f"Scenario 5: {look} lookups for {done} completed / {sent} sent new imp_uids (each run within "
          f"completed ≤ lookups ≤ sent: {'yes' if inside else 'NO'}; the difference is requests in flight when a run stops)"
          + (f"; memory fill: {mem['lookups']} lookups for {mem['imp_uids_sent']} sent" if mem else "")
          + f" | {verdict(exact and inside)} |")
    if "gateway_tokens" in bench.checks:
        t = bench.checks["gateway_tokens"]
        mins = bench.checks["gateway_minutes"]
        hits = sum(r.get("token_calls", 0) for r in bench.results if r["scenario"] in ("passthrough", "hit", "miss"))
        reqs = sum(r["requests"] for r in bench.results if r["scenario"] in ("passthrough", "hit", "miss"))
        ok = t == 1 and (not mem or mem["tokens"] <= 1)
        w(f"| one token per token lifetime (30 min) | {t} token request(s) by the gateway process over {mins:.1f} min and "
          f"{reqs} measured requests ({hits} during measured runs)"
          + (f"; memory-test process: {mem['tokens']}" if mem else "") + f" | {verdict(ok)} |")
    if mem and mem["bytes_per_entry"] is not None:
        w(f"| ≤ 1 KiB per cached verification | {mem['bytes_per_entry']:.0f} bytes | {verdict(mem['bytes_per_entry'] <= 1024)} |")
    w("")
    naive = [r for r in bench.results if r["scenario"] == "naive"]
    if naive:
        w("## API calls per request")
        w("")
        w("| scenario | token calls / req | lookups / req |")
        w("|---|---|---|")
        for scen in ("hit", "miss", "naive"):
            rs = [r for r in bench.results if r["scenario"] == scen and r["requests"]]
            if rs:
                req = sum(r["requests"] for r in rs)
                w(f"| {SCENARIOS[scen]} | {sum(r['token_calls'] for r in rs) / req:.4f} | {sum(r['lookup_calls'] for r in rs) / req:.4f} |")
        w("")
        w("Scenario 5 sends lookups for requests still in flight when a run ends, so its lookups/req can sit a hair "
          "above 1; the exact check is lookups = imp_uids sent (targets table).")
        w("")
    if getattr(bench, "profiles", None):
        w("## Profile (perf, cpu-clock sampling of verigate at c=16; self time by symbol)")
        w("")
        for k, lines in bench.profiles.items():
            w(f"<details><summary>{k}</summary>")
            w("")
            w("```")
            L.extend(lines)
            w("```")
            w("")
            w("</details>")
            w("")
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
        f.write("\n".join(L))
    chart(s, chart_path, a.quick)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", required=True, help="the verigate binary")
    p.add_argument("--out", default=os.path.join(HERE, "out"))
    p.add_argument("--quick", action="store_true", help="1 run of 2 s per point, small memory test")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--duration", type=int, default=5)
    p.add_argument("--mem-entries", type=int, default=100_000)
    p.add_argument("--no-profile", dest="profile", action="store_false")
    p.add_argument("--results", default=os.path.join(HERE, "RESULTS.md"))
    p.add_argument("--chart", default=os.path.join(HERE, "results.png"))
    p.add_argument("--json", default=os.path.join(HERE, "results.json"))
    a = p.parse_args()
    if a.quick:
        a.runs, a.duration, a.mem_entries = 1, 2, min(a.mem_entries, 10_000)
        if a.results == os.path.join(HERE, "RESULTS.md"):  # never overwrite the real results
            a.results = os.path.join(a.out, "RESULTS.md")
            a.chart = os.path.join(a.out, "results.png")
            a.json = os.path.join(a.out, "results.json")
    # people: the cache-miss runs can use at most conc / 20 ms * duration imp_uids each
    per_run = sum(int(c * 1000 / API_LATENCY_MS * a.duration) + c + 16 for c in CONCURRENCY)
    a.people = a.mem_entries + per_run * a.runs + int(16 * 1000 / API_LATENCY_MS * 2) + 1000

    bench = Bench(a)

    def on_signal(signum, _frame):
        log(f"signal {signum}: stopping everything")
        bench.procs.stop_all()
        sys.exit(130)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        bench.run_all()
    finally:
        bench.procs.stop_all()
    with open(a.json, "w") as f:
        json.dump({"machine": bench.machine, "args": vars(a), "results": bench.results,
                   "ceiling": getattr(bench, "ceiling", {}), "memory": getattr(bench, "mem", None),
                   "checks": bench.checks, "notes": bench.notes}, f, indent=1, default=str)
    report(bench, a.results, a.chart)
    log(f"wrote {a.results}, {a.chart} and {a.json} ({bench.elapsed / 60:.1f} min)")


if __name__ == "__main__":
    main()
