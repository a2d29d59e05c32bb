#!/usr/bin/env bash
# Runs the interop tests: PortOne's official clients against the sandbox (Python
# iamport-rest-client for V1 and portone-server-sdk for V2; the JavaScript @portone/server-sdk in
# examples/portone-node), and third-party verification of verigate's signatures
# (test_signatures.py, which also runs examples/node).
#
# Builds verigate and exports VERIGATE_BIN (the signature tests start their own sandbox, app and
# gateway with it); installs the npm packages of examples/node and examples/portone-node
# (`npm ci`) when they are missing or older than their package-lock.json. Uses the sandbox at $VERIGATE_SANDBOX_URL when set; otherwise
# starts `verigate sandbox` on a free loopback port, waits for it to answer, runs pytest and stops
# it. Exits non-zero when pytest or the Node test fails.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$REPO/.venv"

if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REPO/tests/python/requirements.txt"

for NODE_EXAMPLE in "$REPO/examples/node" "$REPO/examples/portone-node"; do
    if [ ! -d "$NODE_EXAMPLE/node_modules" ] || [ "$NODE_EXAMPLE/package-lock.json" -nt "$NODE_EXAMPLE/node_modules/.package-lock.json" ]; then
        if ! command -v npm >/dev/null 2>&1; then
            echo "run.sh: npm (Node.js >= 20) is needed for $NODE_EXAMPLE; install Node.js" >&2
            exit 1
        fi
        (cd "$NODE_EXAMPLE" && npm ci --no-audit --no-fund --loglevel=error)
    fi
done

# Build first, so compiling does not eat the readiness budgets; the sandbox and the tests run the
# binary itself (not `cargo run`), so that stopping the process stops verigate.
(cd "$REPO" && cargo build --quiet --bin verigate)
BIN="${CARGO_TARGET_DIR:-$REPO/target}/debug/verigate"
export VERIGATE_BIN="${VERIGATE_BIN:-$BIN}"

# httpx and requests honour proxy variables: never send loopback calls through a proxy.
export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}"
export no_proxy="$NO_PROXY"

SANDBOX_PID=""
cleanup() {
    if [ -n "$SANDBOX_PID" ]; then
        kill "$SANDBOX_PID" 2>/dev/null || true
        wait "$SANDBOX_PID" 2>/dev/null || true
    fi
}
trap cleanup EXIT

if [ -z "${VERIGATE_SANDBOX_URL:-}" ]; then
    PORT="$("$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
    ADDR="${VERIGATE_SANDBOX_LISTEN:-127.0.0.1:$PORT}"
    "$BIN" sandbox --listen "$ADDR" &
    SANDBOX_PID=$!
    export VERIGATE_SANDBOX_URL="http://$ADDR"

    ready=""
    for _ in $(seq 1 100); do   # 100 x 0.2 s = about 20 s
        if ! kill -0 "$SANDBOX_PID" 2>/dev/null; then
            echo "run.sh: the sandbox exited before answering (is $ADDR already in use?)" >&2
            exit 1
        fi
        if "$VENV/bin/python" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' \
            "$VERIGATE_SANDBOX_URL/__sandbox/stats" 2>/dev/null; then
            ready=1
            break
        fi
        sleep 0.2
    done
    if [ -z "$ready" ]; then
        echo "run.sh: the sandbox did not answer on $VERIGATE_SANDBOX_URL within 20 s" >&2
        exit 1
    fi
fi

status=0
"$VENV/bin/python" -m pytest -q "$REPO/tests/python" || status=$?
(cd "$REPO/examples/portone-node" && node --test lookup.test.mjs) || status=$?
exit "$status"
