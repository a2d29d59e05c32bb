#!/usr/bin/env bash
# Installs what cargo cannot fetch: cmake and a C compiler (pingora's and aws-lc's C parts),
# Python's venv module (the interop tests) and PHP's command line (tests/php.rs runs the README's
# PHP app under `php -S`). Uses apt-get when something is missing; says clearly what to install
# by hand when it cannot.
set -euo pipefail

missing=()
command -v cmake >/dev/null 2>&1 || missing+=(cmake)
command -v cc >/dev/null 2>&1 || missing+=(build-essential)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
command -v php >/dev/null 2>&1 || missing+=(php-cli)

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
echo "prereqs: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
        echo "prereqs: please install: ${missing[*]} (not root, no sudo)" >&2
        exit 1
    fi
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "prereqs: please install: ${missing[*]} (no apt-get on this machine)" >&2
    exit 1
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
