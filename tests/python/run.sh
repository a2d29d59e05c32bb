#!/usr/bin/env bash
# Runs the Python interop tests (PortOne's official client against the sandbox).
#
# Uses the sandbox at $VERIGATE_SANDBOX_URL when set; otherwise builds verigate, starts
# `verigate sandbox` on a free loopback port, waits for it to answer, runs pytest and stops it.
# Exits with pytest's status.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$REPO/.venv"

if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REPO/tests/python/requirements.txt"

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
    # Build first, so compiling does not eat the readiness budget below; run the binary itself
    # (not `cargo run`) so that stopping it stops the sandbox.
    (cd "$REPO" && cargo build --quiet --bin verigate)
    BIN="${CARGO_TARGET_DIR:-$REPO/target}/debug/verigate"
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
exit "$status"
