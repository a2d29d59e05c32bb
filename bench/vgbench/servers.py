"""The servers under test and around them: the echo app, the fast app (nginx `return 200`),
nginx as a proxy or as a forward-auth edge, bare pingora, verigate in its configurations,
redis-server. Each start returns (port, the pids whose CPU is the system under test's)."""

import base64
import os
import re
import shutil
import subprocess
import time

from .procs import children, free_port, http, log, wait_tcp

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # bench/
SUT_CPU = "1"  # the system under test (proxy) and the app behind it
STORE_CPU = "0"  # redis-server stands for a remote service, like the sandbox API
SESSION_SECRET = base64.b64encode(os.urandom(32)).decode()  # every gated gateway shares it
GATE = "adult-area"
GATED_PREFIX = "/adult"
SINGLE_USE_PATH = "/once"

SIGNING = {
    "ed25519": 'alg = "ed25519"\nprivate_key_file = "@@KEY@@"',
    "hmac": 'alg = "hmac-sha256"\nsecret = "${BENCH_HMAC_SECRET}"',
}


def signing_block(alg):
    return ("[signing]\nactive_key = \"bench-1\"\nsignature_ttl_secs = 60\njwt = true\n"
            "issuer = \"verigate\"\naudience = \"bench-app\"\n\n"
            f"[[signing.keys]]\nid = \"bench-1\"\n{SIGNING[alg]}\n")


def session_block(sandbox_url):
    return f"""[session]
secrets = ["${{BENCH_SESSION_SECRET}}"]
secure = false
ttl_secs = 86400

[session.page]
sdk = "iamport"
imp_code = "imp00000000"
sdk_url = "{sandbox_url}/__sandbox/sdk/iamport.js"

[[gates]]
name = "{GATE}"
prefix = "{GATED_PREFIX}"
policy = "adult"
"""


def store_block(port):
    return f"""[store]
url = "redis://127.0.0.1:{port}/0"
key_prefix = "verigate-bench:"
timeout_ms = 100
secret = "${{BENCH_STORE_SECRET}}"
"""


SINGLE_USE_ROUTE = f"""[[routes]]
name = "once"
method = "POST"
path = "{SINGLE_USE_PATH}"
imp_uid_from = "body"
policy = "adult"
single_use = true
on_deny = "forward"
on_failure = "reject"
"""

ENV = {
    "RUST_LOG": "warn",
    "BENCH_HMAC_SECRET": base64.b64encode(os.urandom(32)).decode(),
    "BENCH_SESSION_SECRET": SESSION_SECRET,
    "BENCH_STORE_SECRET": base64.b64encode(os.urandom(32)).decode(),
}


class Servers:
    def __init__(self, procs, out, bin_, bare_bin):
        self.procs, self.out, self.bin, self.bare_bin = procs, out, bin_, bare_bin
        self.nginx = shutil.which("nginx") or "/usr/sbin/nginx"

    def _dir(self, name):
        d = os.path.join(self.out, name)
        os.makedirs(d, exist_ok=True)
        return d

    # ------------------------------------------------------------------ nginx

    def _nginx(self, name, conf):
        d = self._dir(name)
        path = os.path.join(d, "nginx.conf")
        open(path, "w").write(conf)
        p = self.procs.start(name, [self.nginx, "-c", path, "-p", d, "-e",
                                    os.path.join(d, "nginx-error.log")], SUT_CPU)
        return p, d

    def _wait_nginx(self, name, p, port):
        wait_tcp(port, lambda: self.procs.check_alive(name))
        return port, [p.pid] + children(p.pid)

    def nginx_proxy(self, name, upstream_port):
        """nginx as a plain reverse proxy (bench/nginx.conf.tmpl)."""
        port = free_port()
        d = self._dir(name)
        conf = (open(os.path.join(HERE, "nginx.conf.tmpl")).read().replace("@@DIR@@", d)
                .replace("@@LISTEN@@", f"127.0.0.1:{port}")
                .replace("@@UPSTREAM@@", f"127.0.0.1:{upstream_port}"))
        p, _ = self._nginx(name, conf)
        return self._wait_nginx(name, p, port)

    def fast_app(self, name="fastapp"):
        """The fast app: nginx answering `return 200` by itself, 1 worker, on the SUT core."""
        port = free_port()
        d = self._dir(name)
        conf = (open(os.path.join(HERE, "nginx.conf.tmpl")).read().replace("@@DIR@@", d)
                .replace("@@LISTEN@@", f"127.0.0.1:{port}").replace("@@UPSTREAM@@", "127.0.0.1:9"))
        conf = re.sub(r"location / \{.*?\n        \}",
                      'location / {\n            default_type application/json;\n'
                      '            return 200 "{\\"ok\\":true}";\n        }', conf, flags=re.S)
        p, _ = self._nginx(name, conf)
        return self._wait_nginx(name, p, port)

    def nginx_forward_auth(self, name, verigate_port, app_port, auth=True):
        """nginx in front of the app as in examples/configs/nginx-forward-auth.conf, with
        upstream keep-alive (bench/nginx-forward-auth.conf.tmpl); with auth=False the same file
        without the auth_request lines: nginx alone."""
        port = free_port()
        d = self._dir(name)
        conf = (open(os.path.join(HERE, "nginx-forward-auth.conf.tmpl")).read()
                .replace("@@DIR@@", d).replace("@@LISTEN@@", f"127.0.0.1:{port}")
                .replace("@@VERIGATE@@", f"127.0.0.1:{verigate_port}")
                .replace("@@APP@@", f"127.0.0.1:{app_port}"))
        if not auth:
            conf = "\n".join(l for l in conf.splitlines()
                             if "auth_request" not in l and "$verified_" not in l
                             and "error_page 401" not in l and "$verigate_redirect" not in l)
        p, _ = self._nginx(name, conf)
        return self._wait_nginx(name, p, port)

    # ------------------------------------------------------------------ others

    def bare_pingora(self, name, upstream_port):
        port = free_port()
        p = self.procs.start(name, [self.bare_bin, f"127.0.0.1:{port}", f"127.0.0.1:{upstream_port}", "1"],
                             SUT_CPU, env={"RUST_LOG": "warn"})
        wait_tcp(port, lambda: self.procs.check_alive(name))
        return port, [p.pid]

    def redis(self, name="redis"):
        port = free_port()
        d = self._dir(name)
        p = self.procs.start(name, ["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                                    "--save", "", "--appendonly", "no", "--dir", d], STORE_CPU)
        wait_tcp(port, lambda: self.procs.check_alive(name))
        return port, [p.pid]

    def gateway_conf(self, name, upstream_port, api, key, signing="ed25519", session=False,
                     store_port=None, single_use=False, trusted_proxies=False):
        """Writes the config of one verigate; returns (path, port, admin port)."""
        d = self._dir(name)
        port, admin = free_port(), free_port()
        extra = []
        if signing:
            extra.append(signing_block(signing))
        if session:
            extra.append(session_block(api))
        if store_port:
            extra.append(store_block(store_port))
        if single_use:
            extra.append(SINGLE_USE_ROUTE)
        conf = (open(os.path.join(HERE, "gateway.toml.tmpl")).read()
                .replace("@@SERVER_EXTRA@@", 'trusted_proxies = ["127.0.0.1"]' if trusted_proxies else "")
                .replace("@@EXTRA@@", "\n".join(extra))
                .replace("@@DIR@@", d).replace("@@LISTEN@@", f"127.0.0.1:{port}")
                .replace("@@ADMIN@@", f"127.0.0.1:{admin}")
                .replace("@@UPSTREAM@@", f"127.0.0.1:{upstream_port}")
                .replace("@@API@@", api).replace("@@KEY@@", key))
        path = os.path.join(d, "gateway.toml")
        open(path, "w").write(conf)
        return path, port, admin

    def check(self, path):
        """`verigate check` of a config: (ok, what it said)."""
        r = subprocess.run([self.bin, "check", "-c", path], capture_output=True, text=True,
                           env={**os.environ, **ENV}, timeout=60)
        return r.returncode == 0, (r.stdout + r.stderr).strip()

    def gateway(self, name, upstream_port, api, key, **kw):
        """Starts one verigate; returns (port, [pid], admin URL)."""
        path, port, admin = self.gateway_conf(name, upstream_port, api, key, **kw)
        p = self.procs.start(name, [self.bin, "run", "-c", path], SUT_CPU, env=ENV)
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
        log(f"{name} ready on 127.0.0.1:{port} (admin {admin})")
        return port, [p.pid], f"http://127.0.0.1:{admin}"
