#!/usr/bin/env bash
# The long soak: the same test as tests/soak.rs (which the suite runs with 3,000 requests at
# concurrency 32), with more requests and more concurrency, built with --release.
#
#   scripts/soak.sh [REQUESTS] [CONCURRENCY]      defaults: 50000 64
#
# Everything stays on 127.0.0.1: a sandbox i'mport API (random 1-20 ms latency, 5 % HTTP 500s), an
# echo app and the real gateway binary. The run is bounded by the request count; it prints the
# status histogram per request kind, the API calls and injected errors, and the gateway's RSS at
# the start, after the first third (warm-up) and at the end. VERIGATE_SOAK_SEED picks another mix.
set -euo pipefail

requests="${1:-50000}"
concurrency="${2:-64}"
for v in "$requests" "$concurrency"; do
    if ! [[ "$v" =~ ^[1-9][0-9]*$ ]]; then
        echo "usage: scripts/soak.sh [REQUESTS] [CONCURRENCY] (positive integers)" >&2
        exit 2
    fi
done

cd "$(dirname "$0")/.."
scripts/prereqs.sh
echo "soak: $requests requests at concurrency $concurrency (release build)" >&2
VERIGATE_SOAK_REQUESTS="$requests" VERIGATE_SOAK_CONCURRENCY="$concurrency" \
    exec cargo test --release --test soak -- --nocapture
