"""The scenarios, in groups (`--only` names groups). Each group starts what it measures, sweeps
it over the concurrencies and stops it again; the echo app, the fast app and the sandbox run
throughout (core.Bench.start_base)."""

import json
import os
import sys

from .core import API_LATENCY_MS, BODY, HIT_UID, PASSTHROUGH_PATH, VERIFY_PATH
from .load import oha
from .procs import free_port, http, log, wait_tcp
from .servers import GATED_PREFIX, SINGLE_USE_PATH, SUT_CPU
from . import session

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # bench/

SCENARIOS = {
    "direct": "1. direct → echo app",
    "direct-fast": "1f. direct → fast app (nginx `return 200`)",
    "nginx": "2. nginx → echo app",
    "nginx-fast": "2f. nginx → fast app",
    "bare": "3. bare pingora → echo app",
    "bare-fast": "3f. bare pingora → fast app",
    "passthrough": "4. verigate passthrough → echo app",
    "passthrough-fast": "4f. verigate passthrough → fast app",
    "hit": "5. verified, cache hit (Ed25519 + JWT)",
    "hit-hmac": "5b. verified, cache hit (HMAC-SHA256)",
    "miss": "6. verified, cache miss (+20 ms API)",
    "naive": "7. naive sample flow (nginx → Python app, +20 ms API)",
    "gated": "8. gated, valid session, unsigned",
    "gated-hmac": "8b. gated, valid session, HMAC-SHA256",
    "gated-ed25519": "8c. gated, valid session, Ed25519 + JWT",
    "gated-fast": "8f. gated, valid session, unsigned → fast app",
    "gated-hmac-fast": "8bf. gated, valid session, HMAC-SHA256 → fast app",
    "fa-nginx": "9. nginx alone → echo app (/adult/)",
    "fa-auth": "9b. nginx auth_request → verigate → echo app",
    "fa-answer": "9c. verigate's forward-auth answer alone (/.verigate/auth, Ed25519 + JWT)",
    "su-local": "10. single use, 3 instances, no store (+20 ms API)",
    "su-store": "10b. single use, 3 instances + store",
    "miss-local": "11. cache miss, 3 instances, no store (+20 ms API)",
    "miss-store": "11b. cache miss, 3 instances + store",
}

GROUPS = {
    "direct": ["direct", "direct-fast"],
    "nginx": ["nginx", "nginx-fast"],
    "bare": ["bare", "bare-fast"],
    "passthrough": ["passthrough", "passthrough-fast"],
    "hit": ["hit", "hit-hmac"],
    "miss": ["miss"],
    "naive": ["naive"],
    "gated": ["gated", "gated-hmac", "gated-ed25519", "gated-fast", "gated-hmac-fast"],
    "fa": ["fa-nginx", "fa-auth", "fa-answer"],
    "store": ["su-local", "su-store", "miss-local", "miss-store"],
    "memory": [],
    "profile": [],
}


def fixed(url, body=BODY, headers=()):
    """The oha load of a scenario: the same request every time."""
    return lambda c, s: (lambda: oha(url, c, s, body, headers))


def proxies(b, groups):
    """1–4 (and the f variants): each proxy against each app."""
    apps = {"": b.echo_port, "-fast": b.fast_port}
    if "direct" in groups:
        b.sweep("direct", [b.procs.live["echo"].pid], fixed(f"http://127.0.0.1:{b.echo_port}{PASSTHROUGH_PATH}"))
        b.sweep("direct-fast", b.fast_pids, fixed(f"http://127.0.0.1:{b.fast_port}{PASSTHROUGH_PATH}"))
    for kind in ("nginx", "bare", "passthrough"):
        if kind not in groups:
            continue
        for suffix, app in apps.items():
            name = f"{kind}{suffix}"
            if kind == "nginx":
                port, pids = b.servers.nginx_proxy(name, app)
            elif kind == "bare":
                port, pids = b.servers.bare_pingora(name, app)
            else:
                port, pids, _ = b.gateway(f"verigate-{name}", upstream_port=app)
            b.sweep(name, pids, fixed(f"http://127.0.0.1:{port}{PASSTHROUGH_PATH}"), api=kind == "passthrough")
            b.later(lambda n=(name if kind != "passthrough" else f"verigate-{name}"): b.procs.stop(n))


def verified(b, groups):
    """5, 5b, 6: the callback route from the cache, with either signing, and from the API."""
    if "hit" in groups or "miss" in groups:
        st_start = b.sandbox_stats()  # before the start: it may take its token while getting ready
        gport, gpids, b.admin = b.gateway("verigate")
        b.set_latency(0)
        vurl = f"http://127.0.0.1:{gport}{VERIFY_PATH}"
        st, raw, _ = http("POST", vurl, {"imp_uid": HIT_UID})
        seen = json.loads(raw).get("headers", {})
        if st != 200 or seen.get("x-verified-verdict") != "allow" or "signature" not in seen \
                or "x-verified-assertion" not in seen:
            raise RuntimeError(f"the cache-hit request was not verified and signed: {st} {raw[:500]!r}")
        b.checks["hit_headers"] = sorted(k for k in seen if k.startswith(("x-verified", "signature", "content-digest")))
        if "hit" in groups:
            b.sweep("hit", gpids, fixed(vurl), api=True)
        if "miss" in groups:
            b.set_latency(API_LATENCY_MS)
            b.sweep_now("miss", gpids, b.newuid_fn(url=vurl, label="scenario 6"), api=True)
            from .checks import coalescing
            coalescing(b, vurl)
        b.set_latency(0)
        # The sandbox counts every gateway's token calls: this one's are those from its start
        # to here (no other gateway starts in between) and those of the hit's runs, which may
        # come later, interleaved with gateways started after it.
        started = b.sandbox_stats()["token_requests"] - st_start["token_requests"]

        def tokens():
            runs = [r for r in b.results if r["scenario"] in ("hit", "miss")]
            b.checks["gateway_tokens"] = started + sum(r["token_calls"] for r in runs if r["scenario"] == "hit")
            b.checks["gateway_requests"] = sum(r["requests"] for r in runs)
            b.procs.stop("verigate")

        b.later(tokens)
    if "hit" in groups:
        hport, hpids, _ = b.gateway("verigate-hmac", signing="hmac")
        b.set_latency(0)
        hurl = f"http://127.0.0.1:{hport}{VERIFY_PATH}"
        st, raw, _ = http("POST", hurl, {"imp_uid": HIT_UID})
        seen = json.loads(raw).get("headers", {})
        if st != 200 or 'alg="hmac-sha256"' not in seen.get("signature-input", "") \
                or "x-verified-assertion" not in seen:
            raise RuntimeError(f"the HMAC gateway did not sign: {st} {raw[:500]!r}")
        b.sweep("hit-hmac", hpids, fixed(hurl), api=True)
        b.later(lambda: b.procs.stop("verigate-hmac"))


def naive(b):
    """7: the vendor's sample flow behind nginx, every request a token call and a lookup."""
    b.set_latency(API_LATENCY_MS)
    aport = free_port()
    b.procs.start("naive", [sys.executable, os.path.join(HERE, "naive_app.py"), "--listen",
                            f"127.0.0.1:{aport}", "--api", b.api], SUT_CPU)
    wait_tcp(aport, lambda: b.procs.check_alive("naive"))
    st, raw, _ = http("POST", f"http://127.0.0.1:{aport}{VERIFY_PATH}", {"imp_uid": HIT_UID})
    if st != 200 or json.loads(raw).get("verdict") != "allow":
        raise RuntimeError(f"the naive app did not allow the adult: {st} {raw[:300]!r}")
    nport, npids = b.servers.nginx_proxy("nginx-naive", aport)
    pids = npids + [b.procs.live["naive"].pid]
    b.sweep("naive", pids, fixed(f"http://127.0.0.1:{nport}{VERIFY_PATH}"), api=True)
    b.procs.stop("nginx-naive")
    b.procs.stop("naive")
    b.set_latency(0)


def gated(b):
    """8, 8b, 8c: a gated POST with a valid session cookie, minted once (session.mint)."""
    target = f"{GATED_PREFIX}{PASSTHROUGH_PATH}"
    for name, signing in (("gated", None), ("gated-hmac", "hmac"), ("gated-ed25519", "ed25519")):
        port, pids, _ = b.gateway(f"verigate-{name}", signing=signing, session=True)
        if not getattr(b, "cookie", None):
            b.cookie = session.mint(port, b.sandbox_port)
            log(f"minted a session cookie ({len(b.cookie)} bytes)")
        url = f"http://127.0.0.1:{port}{target}"
        st, raw, _ = http("POST", url, BODY.encode(), {"cookie": b.cookie, "content-type": "application/json"})
        seen = json.loads(raw).get("headers", {}) if st == 200 else {}
        signed = "signature" in seen and "x-verified-assertion" in seen
        if st != 200 or seen.get("x-verified-verdict") != "allow" or signed != bool(signing) \
                or "cookie" in seen:
            raise RuntimeError(f"{name}: the gated request was not forwarded as expected: {st} {raw[:500]!r}")
        b.checks[f"{name}_headers"] = sorted(k for k in seen if k.startswith(("x-verified", "signature")))
        b.sweep(name, pids, fixed(url, headers=[f"cookie: {b.cookie}"]))
        b.later(lambda n=f"verigate-{name}": b.procs.stop(n))
        if signing == "ed25519":
            continue
        # The same gateway before the fast app: the echo app answers with every header it got,
        # so there the added headers cost twice (the request and the echoed response) and the
        # app's own work grows; against the fast app only the gate's own cost remains.
        fast = f"{name}-fast"
        port, pids, _ = b.gateway(f"verigate-{fast}", upstream_port=b.fast_port, signing=signing, session=True)
        url = f"http://127.0.0.1:{port}{target}"
        st, raw, _ = http("POST", url, BODY.encode(), {"cookie": b.cookie, "content-type": "application/json"})
        if st != 200:
            raise RuntimeError(f"{fast}: the gated request did not reach the fast app: {st} {raw[:300]!r}")
        b.sweep(fast, pids, fixed(url, headers=[f"cookie: {b.cookie}"]))
        b.later(lambda n=f"verigate-{fast}": b.procs.stop(n))


def forward_auth(b):
    """9, 9b: nginx in front of the echo app, alone and asking verigate (`auth_request`)."""
    vport, vpids, _ = b.gateway("verigate-fa", signing="ed25519", session=True, trusted_proxies=True)
    if not getattr(b, "cookie", None):
        b.cookie = session.mint(vport, b.sandbox_port)
    target = f"{GATED_PREFIX}{PASSTHROUGH_PATH}"
    hdr = [f"cookie: {b.cookie}"]
    for name, auth in (("fa-nginx", False), ("fa-auth", True)):
        nport, npids = b.servers.nginx_forward_auth(f"nginx-{name}", vport, b.echo_port, auth=auth)
        url = f"http://127.0.0.1:{nport}{target}"
        st, raw, _ = http("POST", url, BODY.encode(), {"cookie": b.cookie, "content-type": "application/json"})
        seen = json.loads(raw).get("headers", {}) if st == 200 else {}
        if st != 200 or (seen.get("x-verified-verdict") == "allow") != auth:
            raise RuntimeError(f"{name}: {st} {raw[:500]!r}")
        if auth:
            st, _, _ = session.get_no_redirect(nport, target, {"accept": "text/html"})
            if st != 302:
                raise RuntimeError(f"fa-auth without a session: {st}, expected nginx's 302 to the page")
        b.sweep(name, npids + (vpids if auth else []), fixed(url, headers=hdr))
        b.later(lambda n=f"nginx-{name}": b.procs.stop(n))
    # What each of nginx's subrequests costs verigate: the same answer asked for directly, as
    # nginx asks (GET, no body, the original URI in X-Original-URI, from a trusted proxy).
    aurl = f"http://127.0.0.1:{vport}/.verigate/auth?gate=adult-area"
    ahdr = hdr + [f"x-original-uri: {target}", "x-original-method: POST"]
    st, _, _ = http("GET", aurl, None, dict(h.split(": ", 1) for h in ahdr))
    if st != 200:
        raise RuntimeError(f"fa-answer: /.verigate/auth answered {st} to a valid session")
    b.sweep("fa-answer", vpids, lambda c, s: (lambda: oha(aurl, c, s, None, ahdr)))
    b.later(lambda: b.procs.stop("verigate-fa"))
