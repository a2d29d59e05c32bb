"""10, 10b, 11, 11b: three verigate instances sharing one redis-server, against the same three
without `[store]` (each process on its own). The load is spread over them (wrk, one thread per
instance, each with its own slice of new imp_uids); the API answers after 20 ms."""

from .core import API_LATENCY_MS, VERIFY_PATH
from .procs import http, log
from .servers import SINGLE_USE_PATH

INSTANCES = 3


def store_supported(b, redis_port):
    """Whether this verigate accepts `[store]` (`verigate check`); the reason when not."""
    path, _, _ = b.servers.gateway_conf("verigate-store-check", b.echo_port, b.api, b.key,
                                        store_port=redis_port, single_use=True)
    ok, said = b.servers.check(path)
    return ok, said


def fleet(b):
    redis_port, redis_pids = b.servers.redis()
    ok, said = store_supported(b, redis_port)
    if not ok:
        b.notes.append("store scenarios (10b, 11b) SKIPPED: this verigate rejects `[store]` "
                       f"(`verigate check` said: {said.splitlines()[-1][:200] if said else '?'}); "
                       "10 and 11 ran without it")
        log("verigate rejects [store]: running the no-store variants only")
    b.set_latency(API_LATENCY_MS)
    variants = [("local", None)] + ([("store", redis_port)] if ok else [])
    for label, store in variants:
        names, ports, pids = [], [], []
        for i in range(INSTANCES):
            name = f"verigate-{label}-{i}"
            port, p, _ = b.gateway(name, store_port=store, single_use=True)
            names.append(name)
            ports.append(port)
            pids += p
        # Single use really is fleet-wide (with the store) or per process (without): one id,
        # used on the first instance, then tried on the second.
        uid = f"imp_{100000000001 + b.take_uids(1)}"
        b.uid_next += 1
        first = http("POST", f"http://127.0.0.1:{ports[0]}{SINGLE_USE_PATH}", {"imp_uid": uid})[0]
        second = http("POST", f"http://127.0.0.1:{ports[1]}{SINGLE_USE_PATH}", {"imp_uid": uid})[0]
        b.checks[f"single_use_{label}"] = {"first": first, "second_on_another": second}
        log(f"single use {label}: first {first}, the same id on another instance {second}")
        sut = pids + (redis_pids if store else [])
        b.sweep(f"su-{label}", sut, b.newuid_fn(ports=ports, path=SINGLE_USE_PATH, label=f"su-{label}"), api=True)
        b.sweep(f"miss-{label}", sut, b.newuid_fn(ports=ports, path=VERIFY_PATH, label=f"miss-{label}"), api=True)
        for name in names:
            b.later(lambda n=name: b.procs.stop(n))
    b.later(lambda: b.procs.stop("redis"))
    b.later(lambda: b.set_latency(0))
