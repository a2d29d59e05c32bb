#!/usr/bin/env bash
# Runs every fuzz target (or the ones named) for a bounded time and prints, per target, the
# executions, the corpus size and the crashes.
#
#   fuzz/run.sh [SECONDS] [TARGET...]      SECONDS per target, default 60
#
# Works on the stable toolchain: RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass its -Z flags (see
# fuzz/README.md). VERIGATE_FUZZ_SANITIZER=none builds without AddressSanitizer (faster; the
# targets are safe Rust, so ASan mostly guards the C and unsafe code underneath).
#
# Inputs: fuzz/seeds/<target>/ (committed) plus fuzz/corpus/<target>/ (grows, git-ignored);
# dictionaries from fuzz/dicts/. A crash leaves fuzz/artifacts/<target>/crash-*; reproduce it with
#   RUSTC_BOOTSTRAP=1 cargo fuzz run <target> fuzz/artifacts/<target>/crash-…
# and minimise it with `cargo fuzz tmin`. Logs go to fuzz/target/logs/. Exits 1 when any target
# crashed or failed to run.
set -euo pipefail

secs="${1:-60}"
if ! [[ "$secs" =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: fuzz/run.sh [SECONDS] [TARGET...]" >&2
    exit 2
fi
shift $(($# > 0 ? 1 : 0))
all=(extract_json extract_form extract_query extract_body api_response api_response_v2 gate_path
     session_cookie)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")

cd "$(dirname "$0")/.."
export RUSTC_BOOTSTRAP=1
sanitizer="${VERIGATE_FUZZ_SANITIZER:-address}"

if ! command -v cargo-fuzz >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz from crates.io" >&2
    cargo install cargo-fuzz --locked
fi

dict_for() {
    case "$1" in
        extract_json | extract_body) echo fuzz/dicts/json.dict ;;
        extract_form | extract_query) echo fuzz/dicts/form.dict ;;
        api_response) echo fuzz/dicts/api_response.dict ;;
        api_response_v2) echo fuzz/dicts/api_response_v2.dict ;;
        gate_path) echo fuzz/dicts/path.dict ;;
        session_cookie) echo fuzz/dicts/cookie.dict ;;
        *) echo "fuzz: unknown target $1" >&2; return 1 ;;
    esac
}

count_crashes() {
    find "fuzz/artifacts/$1" -maxdepth 1 -type f \
        \( -name 'crash-*' -o -name 'oom-*' -o -name 'timeout-*' -o -name 'leak-*' \) | wc -l
}

echo "fuzz: building all targets (sanitizer: $sanitizer)" >&2
cargo fuzz build -s "$sanitizer" >&2

mkdir -p fuzz/target/logs
failed=0
summary=()
for t in "${targets[@]}"; do
    dict="$(dict_for "$t")"
    mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
    log="fuzz/target/logs/$t.log"
    before="$(count_crashes "$t")"
    echo "fuzz: $t for ${secs}s (log: $log)" >&2
    rc=0
    cargo fuzz run -s "$sanitizer" "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
        -max_total_time="$secs" -dict="$dict" -print_final_stats=1 \
        -timeout=10 -rss_limit_mb=2048 -max_len=65536 >"$log" 2>&1 || rc=$?
    execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
    rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)"
    live="$(grep -o 'corp: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)"
    files="$(find "fuzz/corpus/$t" -type f | wc -l)"
    crashes=$(($(count_crashes "$t") - before))
    line="$(printf '%-14s execs %-10s exec/s %-7s corpus %s units in memory, %s files in fuzz/corpus/%s  crashes %s  exit %s' \
        "$t" "${execs:-?}" "${rate:-?}" "${live:-?}" "$files" "$t" "$crashes" "$rc")"
    summary+=("$line")
    echo "$line"
    if [ "$rc" -ne 0 ] || [ "$crashes" -gt 0 ]; then
        failed=1
        grep -m1 -A3 "panicked at\|ERROR: AddressSanitizer\|ERROR: libFuzzer" "$log" || true
    fi
done

echo
echo "fuzz summary (${secs}s per target, sanitizer $sanitizer):"
printf '  %s\n' "${summary[@]}"
exit "$failed"
