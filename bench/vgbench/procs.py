"""Processes the benchmark starts, and what it reads about them from /proc.

Every long-running process is recorded (pid file) and killed by its own process group when the
benchmark ends, on success, error, Ctrl-C or SIGTERM.
"""

import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


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
