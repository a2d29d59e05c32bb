#!/usr/bin/env bash
# Installs what cargo cannot fetch: cmake and a C compiler (pingora's and aws-lc's C parts),
# Python's venv module (the interop tests), PHP's command line (tests/php.rs runs the README's
# PHP app under `php -S`), headless Chromium and its WebDriver (tests/sandbox_browser.rs drives
# the sandbox's browser-SDK stand-ins in a real browser) with a Korean font for its screenshots,
# Node.js with npm (the official @portone/server-sdk test and examples/node), and redis-server
# (the store tests start their own throwaway servers on free loopback ports).
# Uses apt-get when something is missing; says clearly what to install
# by hand when it cannot.
set -euo pipefail

missing=()
command -v cmake >/dev/null 2>&1 || missing+=(cmake)
command -v cc >/dev/null 2>&1 || missing+=(build-essential)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
command -v php >/dev/null 2>&1 || missing+=(php-cli)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
fc-list :lang=ko 2>/dev/null | grep -q . || missing+=(fonts-nanum)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)

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
