#!/usr/bin/env bash
# verigate benchmark: the one command.
#
#   bench/run.sh            full suite: 3 runs × 5 s per point, ~35 minutes on 2 cores;
#                           writes bench/RESULTS.md, results.png, results.json, flame/*.svg
#   bench/run.sh --quick    smoke test: 1 run × 2 s per point, 10k-entry memory test;
#                           writes bench/out/RESULTS.md (never overwrites the real results)
#   bench/run.sh --quick --only gated,bare    only some scenario groups (also to bench/out/)
#
# Other flags go to bench/bench.py (--runs N, --duration S, --mem-entries N, --no-profile,
# --only GROUPS). Installs what it needs (nginx, wrk, redis-server, perf, oha, inferno, a Python
# venv with pinned aiohttp + matplotlib), builds verigate and examples/bare_pingora.rs in release
# mode, runs everything on 127.0.0.1 with free ports, and stops every process it started when it
# ends (normally, on error, or on Ctrl-C). See bench/README.md.
set -euo pipefail

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$BENCH/.." && pwd)"
OUT="$BENCH/out"
OHA_VERSION="1.16.0"
INFERNO_VERSION="0.12.8"
LIMIT_SECS="${BENCH_TIME_LIMIT_SECS:-3600}" # hard bound for the whole measurement
export PATH="$HOME/.cargo/bin:$PATH"

say() { printf '\033[1m[run.sh]\033[0m %s\n' "$*"; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        say "need root for: $*"; return 1
    fi
}

APT_UPDATED=
apt_install() {
    command -v apt-get >/dev/null || { say "no apt-get: install $* yourself"; return 1; }
    if [ -z "$APT_UPDATED" ]; then as_root apt-get update -qq; APT_UPDATED=1; fi
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# --- tools --------------------------------------------------------------------------------
need_pkgs=()
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need_pkgs+=(nginx)
command -v wrk >/dev/null || need_pkgs+=(wrk)
command -v taskset >/dev/null || need_pkgs+=(util-linux)
command -v curl >/dev/null || need_pkgs+=(curl)
command -v redis-server >/dev/null || need_pkgs+=(redis-server)
python3 -c 'import venv, ensurepip' 2>/dev/null || need_pkgs+=(python3-venv)
if [ ${#need_pkgs[@]} -gt 0 ]; then
    say "installing Debian packages: ${need_pkgs[*]}"
    apt_install "${need_pkgs[@]}"
fi
export PATH="$PATH:/usr/sbin"
if ! command -v perf >/dev/null; then
    say "perf not found; trying Debian's linux-perf (optional, for the profile section)"
    apt_install linux-perf || say "no perf: the profile section will be skipped"
fi
if ! oha --version 2>/dev/null | grep -q "$OHA_VERSION"; then
    say "installing oha $OHA_VERSION (cargo install; a few minutes the first time)"
    cargo install oha --locked --version "$OHA_VERSION"
fi
if ! cargo install --list 2>/dev/null | grep -q "^inferno v$INFERNO_VERSION:"; then
    say "installing inferno $INFERNO_VERSION (flamegraphs; cargo install)"
    cargo install inferno --locked --version "$INFERNO_VERSION" ||
        say "no inferno: the profile section will have no flamegraphs"
fi

# --- verigate -----------------------------------------------------------------------------
say "building verigate and bare pingora (release)"
(cd "$ROOT" && cargo build --release --quiet --bin verigate --example bare_pingora)
BIN="$ROOT/target/release/verigate"
BARE="$ROOT/target/release/examples/bare_pingora"

# --- Python venv (the naive app, the chart) -------------------------------------------------
VENV="$BENCH/.venv"
if [ ! -x "$VENV/bin/python" ] || ! cmp -s "$BENCH/requirements.txt" "$VENV/.requirements"; then
    say "making $VENV (pinned: bench/requirements.txt)"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$BENCH/requirements.txt"
    cp "$BENCH/requirements.txt" "$VENV/.requirements"
fi

# --- run ----------------------------------------------------------------------------------
mkdir -p "$OUT"
: >"$OUT/pids"
DRIVER=
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ -n "$DRIVER" ] && kill -0 "$DRIVER" 2>/dev/null; then
        kill -TERM "$DRIVER" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$DRIVER" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$DRIVER" 2>/dev/null || true
    fi
    # Whatever the driver could not stop: only the process groups it recorded starting.
    if [ -s "$OUT/pids" ]; then
        while read -r pid; do
            [ -n "$pid" ] && kill -KILL -- "-$pid" 2>/dev/null || true
        done <"$OUT/pids"
    fi
    exit "$rc"
}
trap cleanup EXIT INT TERM

say "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'); load average $(cut -d' ' -f1-3 /proc/loadavg)"
timeout --signal=TERM --kill-after=30 "$LIMIT_SECS" \
    "$VENV/bin/python" "$BENCH/bench.py" --bin "$BIN" --bare-bin "$BARE" --out "$OUT" "$@" &
DRIVER=$!
wait "$DRIVER"
