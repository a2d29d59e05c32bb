"""Fixtures for the signature interop tests (test_signatures.py).

Everything runs on 127.0.0.1 with free ports, started here and stopped at teardown:

- ``sandbox``: the real ``verigate sandbox`` binary (the simulated i'mport API);
- ``app``: a tiny upstream app in Python (``ThreadingHTTPServer`` in a thread) that records every
  request exactly as it arrived (method, raw request target, header lines, raw body bytes) and
  answers 200;
- ``stack``: the real ``verigate run`` binary in front of ``app``, with the shared fixture
  ``tests/fixtures/signing.toml`` copied to a tmp dir: it signs with two keys (an Ed25519 key made
  by ``verigate keygen`` and an HMAC secret), and everything that differs per run (ports, the
  sandbox, the key file, the active key, the secrets) reaches it as ``VERIGATE_TEST_*`` variables.
  It is parametrized: once with the Ed25519 key active, once with HMAC.

The binary is ``$VERIGATE_BIN`` or ``<repo>/target/debug/verigate`` (tests/python/run.sh builds
it). A missing binary fails the tests; nothing is skipped.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import threading
import time
import tomllib
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

SANDBOX_IMP_KEY = "imp_apikey"
SANDBOX_IMP_SECRET = "ekKoeW8RyKuT0zgaZsUtXXTLQ4AhPFW3ZGseDA6bkA5lamv9OqDMnxyeB9wqOsuO9W3Mx9YSJ4dTqJ3f"

#: The gateway's configuration, shared with tests/cli.rs (which runs `verigate check` on it).
FIXTURE = REPO / "tests" / "fixtures" / "signing.toml"
_SIGNING = tomllib.loads(FIXTURE.read_text())["signing"]
ED25519_KEY_ID = next(k["id"] for k in _SIGNING["keys"] if k["alg"] == "ed25519")
HMAC_KEY_ID = next(k["id"] for k in _SIGNING["keys"] if k["alg"] == "hmac-sha256")
ISSUER = _SIGNING["issuer"]
AUDIENCE = _SIGNING["audience"]
SIGNATURE_TTL_SECS = _SIGNING["signature_ttl_secs"]

#: How long a process may take to answer after it was started.
STARTUP_TIMEOUT_SECS = 30.0
POLL_INTERVAL_SECS = 0.05


def verigate_bin() -> str:
    path = os.environ.get("VERIGATE_BIN") or str(REPO / "target" / "debug" / "verigate")
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.fail(
            f"verigate binary not found at {path}: run `cargo build` or tests/python/run.sh, "
            "or set VERIGATE_BIN"
        )
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def poll_until(check, *, what: str, proc: subprocess.Popen | None = None, log: Path | None = None):
    """Calls ``check()`` until it returns a truthy value, for at most STARTUP_TIMEOUT_SECS.

    Fails the test with the process's log when the process exits first or time runs out.
    """
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECS
    while True:
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"{what}: the process exited with {proc.returncode}\n{_tail(log)}")
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not ready within {STARTUP_TIMEOUT_SECS} s\n{_tail(log)}")
        time.sleep(POLL_INTERVAL_SECS)


def _tail(log: Path | None) -> str:
    if log is None or not log.exists():
        return ""
    return "--- log ---\n" + log.read_text(errors="replace")[-4000:]


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as resp:
            return resp.status == 200
    except (OSError, urllib.error.URLError):
        return False


def tcp_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL if it has not exited within 10 s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


# ---- the sandbox ---------------------------------------------------------------------------


@dataclass
class Sandbox:
    url: str

    def seed(self, **record) -> dict:
        """Stores a certification record (POST /__sandbox/certifications) and returns it."""
        req = urllib.request.Request(
            self.url + "/__sandbox/certifications",
            data=json.dumps(record).encode(),
            headers={"content-type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.status == 201
            return json.load(resp)


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory):
    binary = verigate_bin()
    log = tmp_path_factory.mktemp("sandbox") / "sandbox.log"
    port = free_port()
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [binary, "sandbox", "--listen", f"127.0.0.1:{port}"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        poll_until(lambda: http_ok(url + "/__sandbox/stats"), what="verigate sandbox", proc=proc, log=log)
        yield Sandbox(url)
    finally:
        stop(proc)


# ---- the upstream app ----------------------------------------------------------------------


@dataclass
class Received:
    """One request as the app received it."""

    method: str
    target: str  # the raw request-target of the request line: path and ?query, as sent
    headers: list[tuple[str, str]]  # every header line, in order, names as sent
    body: bytes  # the raw body bytes (de-chunked if it came chunked)

    def header(self, name: str) -> str | None:
        values = [v for n, v in self.headers if n.lower() == name.lower()]
        assert len(values) <= 1, f"{name} received {len(values)} times"
        return values[0] if values else None

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    @property
    def query(self) -> str | None:
        return self.target.split("?", 1)[1] if "?" in self.target else None

    def to_json(self) -> dict:
        """A JSON form for other verifiers (the Node example): the URL is rebuilt from Host."""
        return {
            "method": self.method,
            "url": f"http://{self.header('host')}{self.target}",
            "headers": [[n, v] for n, v in self.headers],
            "body_base64": base64.b64encode(self.body).decode(),
        }


class _Recorder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as pingora's upstream pool expects

    def _handle(self):
        chunked = "chunked" in (self.headers.get("transfer-encoding") or "").lower()
        if chunked:
            body = self._read_chunked()
        else:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
        self.server.received.append(
            Received(self.command, self.path, list(self.headers.items()), body)
        )
        answer = b'{"ok":true}'
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def _read_chunked(self) -> bytes:
        body = b""
        while True:
            size = int(self.rfile.readline().split(b";", 1)[0].strip(), 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return body
            body += self.rfile.read(size)
            self.rfile.readline()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle

    def log_message(self, *args):  # quiet
        pass


@dataclass
class App:
    port: int
    server: ThreadingHTTPServer = field(repr=False)

    @property
    def received(self) -> list[Received]:
        return self.server.received


@pytest.fixture(scope="session")
def app():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    server.daemon_threads = True
    server.received = []
    thread = threading.Thread(target=server.serve_forever, name="recording-app", daemon=True)
    thread.start()
    try:
        yield App(server.server_address[1], server)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


# ---- the gateway ---------------------------------------------------------------------------

@dataclass
class Stack:
    """A running gateway with its sandbox and app, and what a verifier needs to know."""

    alg: str  # "ed25519" or "hmac-sha256": the active key's RFC 9421 alg
    key_id: str  # the active key's id
    base: str  # the gateway, http://127.0.0.1:PORT
    admin: str  # the admin listener
    ed25519_jwk: dict  # what `verigate keygen` printed for the Ed25519 key
    hmac_secret_b64: str
    sandbox: Sandbox
    app: App
    dir: Path

    @property
    def jwks_url(self) -> str:
        return self.admin + "/.well-known/jwks.json"

    @property
    def hmac_secret(self) -> bytes:
        return base64.b64decode(self.hmac_secret_b64)

    def post(self, target: str, body: bytes, content_type: str = "application/json") -> tuple[int, bytes]:
        req = urllib.request.Request(
            self.base + target, data=body, headers={"content-type": content_type}, method="POST"
        )
        try:
            with urllib.request.urlopen(req, timeout=20) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()


@pytest.fixture(scope="module", params=["ed25519", "hmac-sha256"])
def stack(request, sandbox, app, tmp_path_factory):
    binary = verigate_bin()
    alg = request.param
    d = tmp_path_factory.mktemp(f"gateway-{alg}")
    ed_pem = d / "edge-1.pem"
    made = subprocess.run(
        [binary, "keygen", "--alg", "ed25519", "--out", str(ed_pem)],
        capture_output=True, text=True, timeout=30, check=True,
    )
    ed25519_jwk = json.loads(made.stdout.strip().splitlines()[0])
    hmac_secret_b64 = subprocess.run(
        [binary, "keygen", "--alg", "hmac-sha256"],
        capture_output=True, text=True, timeout=30, check=True,
    ).stdout.strip()

    config = d / "gateway.toml"
    config.write_text(FIXTURE.read_text())
    for attempt in range(3):  # a free port can be taken by someone else before we bind it
        port, admin_port = free_port(), free_port()
        env = dict(
            os.environ,
            VERIGATE_TEST_LISTEN=f"127.0.0.1:{port}",
            VERIGATE_TEST_ADMIN_LISTEN=f"127.0.0.1:{admin_port}",
            VERIGATE_TEST_APP=f"127.0.0.1:{app.port}",
            VERIGATE_TEST_SANDBOX_URL=sandbox.url,
            VERIGATE_TEST_IMP_KEY=SANDBOX_IMP_KEY,
            VERIGATE_TEST_IMP_SECRET=SANDBOX_IMP_SECRET,
            VERIGATE_TEST_ACTIVE_KEY=ED25519_KEY_ID if alg == "ed25519" else HMAC_KEY_ID,
            VERIGATE_TEST_ED25519_PEM=str(ed_pem),
            VERIGATE_TEST_HMAC_SECRET=hmac_secret_b64,
        )
        log = d / f"gateway-{attempt}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [binary, "run", "-c", str(config)], cwd=d, env=env, stdout=out, stderr=subprocess.STDOUT
            )
        admin = f"http://127.0.0.1:{admin_port}"
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECS
        while proc.poll() is None and time.monotonic() < deadline:
            if http_ok(admin + "/healthz") and tcp_open(port):
                break
            time.sleep(POLL_INTERVAL_SECS)
        if proc.poll() is None and time.monotonic() < deadline:
            break
        stop(proc)
        if attempt == 2:
            pytest.fail(f"verigate run did not start\n{_tail(log)}")
    try:
        yield Stack(
            alg=alg,
            key_id=ED25519_KEY_ID if alg == "ed25519" else HMAC_KEY_ID,
            base=f"http://127.0.0.1:{port}",
            admin=admin,
            ed25519_jwk=ed25519_jwk,
            hmac_secret_b64=hmac_secret_b64,
            sandbox=sandbox,
            app=app,
            dir=d,
        )
    finally:
        stop(proc)
