#!/usr/bin/env bash
# Measures what an operator sizes a deployment by, all on 127.0.0.1:
#   (a) startup time: from spawning `verigate run` until the gateway port accepts a connection
#       AND the admin GET /readyz answers 200 (5 starts: min / median / max);
#   (b) memory: VmRSS and thread count after start (idle), after 1,000 verified requests on
#       distinct imp_uids (cache misses: one i'mport call each), and after 1,000 more on the same
#       imp_uids (cache hits).
# It builds the release binary, starts `verigate sandbox` (the simulated i'mport API) and a tiny
# Python upstream on free ports, writes a temporary gateway.toml, and cleans everything up on exit.
#
#   scripts/measure-ops.sh            # honours CARGO_TARGET_DIR; VERIGATE_BIN=path skips the build
#
# Bounded: every wait has a deadline, every loop a count; the measuring part is killed after
# MEASURE_TIMEOUT seconds (default 300).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
MEASURE_TIMEOUT=${MEASURE_TIMEOUT:-300}

if [ -n "${VERIGATE_BIN:-}" ]; then
    BIN=$VERIGATE_BIN
else
    echo "== cargo build --release" >&2
    cargo build --release --quiet
    BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/verigate"
fi
[ -x "$BIN" ] || { echo "measure-ops: no binary at $BIN" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/verigate-measure.XXXXXX")
PIDS=()
cleanup() {
    # Only the processes this script started: the helpers below, and every gateway the Python
    # part spawned (it appends their pids to $WORK/gateway.pids before anything can go wrong).
    local pid
    if [ -f "$WORK/gateway.pids" ]; then
        while read -r pid; do PIDS+=("$pid"); done < "$WORK/gateway.pids"
    fi
    for pid in "${PIDS[@]}"; do
        kill -KILL "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Four free loopback ports: sandbox, upstream, gateway, admin.
read -r SANDBOX_PORT UPSTREAM_PORT GATEWAY_PORT ADMIN_PORT < <(python3 - <<'EOF'
import socket
socks = [socket.socket() for _ in range(4)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
for s in socks:
    s.close()
EOF
)

# The app stand-in: answers every request 200, echoing the verdict verigate attached, over
# HTTP/1.1 keep-alive.
cat > "$WORK/upstream.py" <<'EOF'
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class App(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body leave in two writes: without TCP_NODELAY, Nagle + delayed ACK would add
    # ~40 ms to every response and the figures would measure Python, not verigate.
    disable_nagle_algorithm = True

    def answer(self):
        n = int(self.headers.get("content-length") or 0)
        if n:
            self.rfile.read(n)
        body = (self.headers.get("x-verified-verdict") or "none").encode()
        self.send_response(200)
        self.send_header("content-type", "text/plain")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = answer

    def log_message(self, *args):
        pass

ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), App).serve_forever()
EOF

python3 "$WORK/upstream.py" "$UPSTREAM_PORT" &
PIDS+=($!)
"$BIN" sandbox --listen "127.0.0.1:$SANDBOX_PORT" > "$WORK/sandbox.log" 2>&1 &
PIDS+=($!)

cat > "$WORK/gateway.toml" <<EOF
[server]
listen = ["127.0.0.1:$GATEWAY_PORT"]
threads = 2
admin_listen = "127.0.0.1:$ADMIN_PORT"
grace_period_secs = 1
pid_file = "$WORK/verigate.pid"
upgrade_sock = "$WORK/upgrade.sock"
access_log = "$WORK/access.log"

[upstream]
addrs = ["127.0.0.1:$UPSTREAM_PORT"]

[iamport]
base_url = "http://127.0.0.1:$SANDBOX_PORT"
imp_key = "\${IMP_KEY}"
imp_secret = "\${IMP_SECRET}"

[policies.adult]
min_age = 19
age_basis = "year"

[[routes]]
name = "popup"
method = "POST"
path = "/certifications"
imp_uid_from = "body"
policy = "adult"
on_deny = "forward"
on_failure = "reject"
EOF

# The sandbox's public test credentials (PortOne's documented test key and secret).
export IMP_KEY=imp_apikey
export IMP_SECRET=ekKoeW8RyKuT0zgaZsUtXXTLQ4AhPFW3ZGseDA6bkA5lamv9OqDMnxyeB9wqOsuO9W3Mx9YSJ4dTqJ3f
"$BIN" check -c "$WORK/gateway.toml" > /dev/null

cat > "$WORK/measure.py" <<'EOF'
import http.client, json, os, signal, socket, statistics, subprocess, sys, time

BIN, WORK = sys.argv[1], sys.argv[2]
SANDBOX, GATEWAY, ADMIN, UPSTREAM = (int(p) for p in sys.argv[3:7])
STARTS, REQUESTS = 5, 1000

def wait_port(port, deadline_s):
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            time.sleep(0.005)
    return False

def readyz_ok():
    try:
        c = http.client.HTTPConnection("127.0.0.1", ADMIN, timeout=0.5)
        c.request("GET", "/readyz")
        ok = c.getresponse().status == 200
        c.close()
        return ok
    except OSError:
        return False

def spawn():
    log = open(os.path.join(WORK, "gateway.log"), "ab")
    p = subprocess.Popen([BIN, "run", "-c", os.path.join(WORK, "gateway.toml")],
                         stdout=subprocess.DEVNULL, stderr=log, env=dict(os.environ, RUST_LOG="warn"))
    with open(os.path.join(WORK, "gateway.pids"), "a") as f:
        f.write(f"{p.pid}\n")
    return p

def stop(p):
    p.send_signal(signal.SIGINT)            # pingora's fast shutdown
    try:
        p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait(timeout=5)

def proc_status(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            fields[k] = v.strip()
    return int(fields["VmRSS"].split()[0]), int(fields["Threads"])

for name, port in (("sandbox", SANDBOX), ("upstream", UPSTREAM)):
    if not wait_port(port, 10):
        sys.exit(f"measure-ops: the {name} did not listen on 127.0.0.1:{port}")

# (a) startup to ready
times = []
for i in range(STARTS):
    t0 = time.perf_counter_ns()
    p = spawn()
    end = time.monotonic() + 15
    port_ok = ready = False
    while time.monotonic() < end and p.poll() is None:
        if not port_ok:
            try:
                socket.create_connection(("127.0.0.1", GATEWAY), timeout=0.2).close()
                port_ok = True
            except OSError:
                pass
        if port_ok and readyz_ok():
            ready = True
            break
        time.sleep(0.002)
    elapsed_ms = (time.perf_counter_ns() - t0) / 1e6
    if not ready:
        stop(p)
        sys.exit(f"measure-ops: start {i + 1} not ready within 15 s (see {WORK}/gateway.log)")
    times.append(elapsed_ms)
    stop(p)

print(f"startup to ready (spawn -> gateway port accepts + /readyz 200), {STARTS} starts:")
print("  runs:   " + "  ".join(f"{t:.1f}" for t in times) + " ms")
print(f"  min {min(times):.1f} ms   median {statistics.median(times):.1f} ms   "
      f"mean {statistics.mean(times):.1f} ms   max {max(times):.1f} ms")

# (b) memory and threads
p = spawn()
if not (wait_port(GATEWAY, 15) and wait_port(ADMIN, 15)):
    stop(p)
    sys.exit("measure-ops: the gateway did not start for the memory run")
time.sleep(1.0)
idle_rss, idle_threads = proc_status(p.pid)

sandbox = http.client.HTTPConnection("127.0.0.1", SANDBOX, timeout=5)
uids = []
for i in range(REQUESTS):
    adult = i % 4 != 0                       # 3 in 4 adults, 1 in 4 minors
    birthday = "1990-05-05" if adult else "2015-03-03"
    sandbox.request("POST", "/__sandbox/certifications",
                    body=json.dumps({"name": "홍길동", "birthday": birthday}),
                    headers={"content-type": "application/json"})
    r = sandbox.getresponse()
    rec = json.loads(r.read())
    if r.status != 201:
        stop(p)
        sys.exit(f"measure-ops: the sandbox refused a record: {r.status}")
    uids.append(rec["imp_uid"])
sandbox.close()

def run_pass(label):
    gw = http.client.HTTPConnection("127.0.0.1", GATEWAY, timeout=10)
    verdicts, statuses, lat = {}, {}, []
    t0 = time.perf_counter()
    for uid in uids:
        s = time.perf_counter()
        gw.request("POST", "/certifications", body=json.dumps({"imp_uid": uid}),
                   headers={"content-type": "application/json"})
        r = gw.getresponse()
        body = r.read().decode(errors="replace")
        lat.append((time.perf_counter() - s) * 1000)
        statuses[r.status] = statuses.get(r.status, 0) + 1
        if r.status == 200:
            verdicts[body] = verdicts.get(body, 0) + 1
        if r.getheader("connection", "").lower() == "close":
            gw.close()
            gw = http.client.HTTPConnection("127.0.0.1", GATEWAY, timeout=10)
    total = time.perf_counter() - t0
    gw.close()
    lat.sort()
    rss, threads = proc_status(p.pid)
    print(f"{label}: {len(uids)} requests in {total:.2f} s, one connection, sequential; "
          f"statuses {dict(sorted(statuses.items()))}, verdicts {dict(sorted(verdicts.items()))}")
    print(f"  latency ms: p50 {lat[len(lat) // 2]:.2f}  p99 {lat[int(len(lat) * 0.99) - 1]:.2f}  "
          f"max {lat[-1]:.2f}")
    return rss, threads, statuses

miss_rss, miss_threads, st1 = run_pass("pass 1, distinct imp_uids (cache misses, one API call each)")
hit_rss, hit_threads, st2 = run_pass("pass 2, the same imp_uids again (cache hits)")

admin = http.client.HTTPConnection("127.0.0.1", ADMIN, timeout=5)
admin.request("GET", "/metrics")
metrics = admin.getresponse().read().decode()
admin.close()
picked = [l for l in metrics.splitlines()
          if l.startswith(("verigate_cache_entries", "verigate_cache_hits_total",
                           "verigate_cache_misses_total", "verigate_token_refreshes_total",
                           "verigate_iamport_requests_total"))]
stop(p)

print("memory (VmRSS) and threads of the gateway process (threads = 2):")
print(f"  idle after start:              {idle_rss / 1024:7.1f} MiB   {idle_threads} threads")
print(f"  after 1,000 cache misses:      {miss_rss / 1024:7.1f} MiB   {miss_threads} threads")
print(f"  after 1,000 more (cache hits): {hit_rss / 1024:7.1f} MiB   {hit_threads} threads")
print("metrics after both passes:")
for l in picked:
    print("  " + l)
if set(st1) != {200} or set(st2) != {200}:
    sys.exit("measure-ops: some requests were not forwarded (expected 200 for all)")
EOF

echo "== binary: $BIN ($(du -h "$BIN" | cut -f1)), $(nproc) CPUs" >&2
timeout --signal=KILL "$MEASURE_TIMEOUT" \
    python3 "$WORK/measure.py" "$BIN" "$WORK" "$SANDBOX_PORT" "$GATEWAY_PORT" "$ADMIN_PORT" "$UPSTREAM_PORT"
