"""The checks beside the sweep: exactly one lookup per new imp_uid (coalescing), and memory per
cached verification."""

import random
import re
import time
from concurrent.futures import ThreadPoolExecutor

from .core import BODY, PASSTHROUGH_PATH, UID_BASE, VERIFY_PATH
from .load import oha, wrk_newuid
from .procs import http, log, rss_bytes


def coalescing(b, url, uids=500, copies=4):
    """Exactly one lookup per new imp_uid, even when several requests for it arrive at once.

    `uids` new imp_uids, each sent `copies` times, all shuffled and 64 at a time while the API
    answers in 20 ms (so copies overlap); then every one once more (now cached)."""
    start = b.take_uids(uids)
    b.uid_next += uids
    ids = [f"imp_{UID_BASE + start + i}" for i in range(uids)]
    reqs = ids * copies
    random.Random(6).shuffle(reqs)

    def post(uid):
        return http("POST", url, {"imp_uid": uid}, timeout=30)[0]

    st0 = b.quiesce()
    with ThreadPoolExecutor(64) as pool:
        codes = list(pool.map(post, reqs))
    st1 = b.sandbox_stats()
    with ThreadPoolExecutor(64) as pool:
        codes2 = list(pool.map(post, ids))
    st2 = b.sandbox_stats()
    b.checks["coalescing"] = {
        "imp_uids": uids,
        "requests": len(reqs),
        "non200": sum(c != 200 for c in codes),
        "lookups": st1["certification_requests"] - st0["certification_requests"],
        "tokens": st1["token_requests"] - st0["token_requests"],
        "again_requests": len(ids),
        "again_non200": sum(c != 200 for c in codes2),
        "again_lookups": st2["certification_requests"] - st1["certification_requests"],
    }
    log(f"coalescing check: {b.checks['coalescing']}")


def cache_entries(admin):
    _, raw, _ = http("GET", f"{admin}/metrics")
    m = re.search(rb"^verigate_cache_entries (\d+)", raw, re.M)
    return int(m.group(1)) if m else 0


def memory(b):
    """VmRSS of a fresh verigate before and after resolving `mem_entries` new imp_uids."""
    b.set_latency(0)
    n = b.a.mem_entries
    gport, gpids, admin = b.gateway("verigate-mem")
    pid = gpids[0]
    url = f"http://127.0.0.1:{gport}"
    # warm up: the token, the pools, one cached verification, the allocator's first arenas
    oha(f"{url}{PASSTHROUGH_PATH}", 16, 1, BODY)
    oha(f"{url}{VERIFY_PATH}", 16, 1, BODY)
    time.sleep(1)
    entries0 = cache_entries(admin)
    rss0 = rss_bytes(pid)
    st0 = b.sandbox_stats()
    start = b.take_uids(n)
    sent = 0
    for _ in range(40):  # bounded: 40 runs of at most 10 s
        r = wrk_newuid(f"{url}{VERIFY_PATH}", 32, 10, b.ids_path, start + sent, n - sent)
        sent += r["sent"]
        if r["non2xx"] or r["errors"]:
            b.notes.append(f"memory fill: {r['non2xx']} non-2xx, {r['errors']} errors")
        log(f"memory fill: {sent}/{n} resolved, {r['rps']:.0f} req/s")
        if sent >= n:
            break
    b.uid_next = start + sent
    time.sleep(2)
    entries1 = cache_entries(admin)
    rss1 = rss_bytes(pid)
    st1 = b.sandbox_stats()
    added = entries1 - entries0
    b.mem = {
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
    log(f"memory: {b.mem}")
    b.procs.stop("verigate-mem")
