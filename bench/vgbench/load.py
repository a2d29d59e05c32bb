"""The load generators: oha (one URL, the same request every time) and wrk with a Lua script
(a new imp_uid per request, one address or several). Each run is pinned to the load-generator
core, has a fixed duration and a hard timeout."""

import json
import os
import signal
import subprocess

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # bench/
LOADGEN_CPU = "0"  # the load generator (and the sandbox, which stands for a remote API)


def run_loadgen(argv, timeout, env=None):
    """Runs a load generator pinned to LOADGEN_CPU; returns (stdout, stderr)."""
    p = subprocess.Popen(
        ["taskset", "-c", LOADGEN_CPU] + argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        env={**os.environ, **(env or {})},
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


def oha(url, conc, secs, body=None, headers=(), method=None):
    """`oha -z secs -c conc`: keep-alive connections, the same request every time. With a body
    the request is a JSON POST (unless `method` says otherwise)."""
    argv = ["oha", "--no-tui", "--output-format", "json", "-z", f"{secs}s", "-c", str(conc),
            "--wait-ongoing-requests-after-deadline"]
    if body is not None:
        argv += ["-m", method or "POST", "-H", "content-type: application/json", "-d", body]
    elif method:
        argv += ["-m", method]
    for h in headers:
        argv += ["-H", h]
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


def _wrk_result(out):
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


def wrk_newuid(url, conc, secs, ids_file, start, count):
    """One wrk thread, every request a POST of a new imp_uid from `ids_file` (lines start+1 ..
    start+count, each once)."""
    argv = ["wrk", "-t1", f"-c{conc}", f"-d{secs}s", "--timeout", "10s",
            "-s", os.path.join(HERE, "newuid.lua"), url, "--", ids_file, str(start), str(count)]
    out, _ = run_loadgen(argv, timeout=secs + 60)
    return _wrk_result(out)


def wrk_fleet(ports, path, conc, secs, ids_file, start, count):
    """Like wrk_newuid, spread over several gateways on 127.0.0.1: one wrk thread per port
    (conc ÷ threads connections each, rounded down: c=16 over 3 is 15; c=1 uses the first only), each with its own disjoint slice of
    count ÷ threads new imp_uids, POSTed to `path`."""
    ports = ports[:max(1, min(len(ports), conc))]  # c=1: one connection, one gateway
    threads = len(ports)
    argv = ["wrk", f"-t{threads}", f"-c{conc}", f"-d{secs}s", "--timeout", "10s",
            "-s", os.path.join(HERE, "fleet.lua"), f"http://127.0.0.1:{ports[0]}{path}", "--",
            ids_file, str(start), str(count // threads), path]
    out, _ = run_loadgen(argv, timeout=secs + 60, env={"FLEET_PORTS": ",".join(map(str, ports))})
    return _wrk_result(out)
