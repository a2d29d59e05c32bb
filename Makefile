# verigate: the two quick-start commands, and the checks CI runs.
.PHONY: demo test check fmt clippy prereqs

prereqs:
	@scripts/prereqs.sh

## Build and run the demo: sandbox i'mport API + echo app + gateway on loopback.
demo: prereqs
	cargo run --release -- demo

## Every test: Rust unit and integration tests, then the Python interop tests.
test: prereqs
	cargo test --all-targets
	tests/python/run.sh

fmt:
	cargo fmt --check

clippy: prereqs
	cargo clippy --all-targets -- -D warnings -W clippy::too_many_lines

## What CI runs.
check: test fmt clippy
