#!/usr/bin/env bash
# Installs the named Debian packages that are missing, with apt-get (directly as root, through
# sudo otherwise). Sourced by examples/run and tests/run; also runnable on its own:
#   bash .ci/install-deps.sh cmake ninja-build g++
# On a machine without dpkg it installs nothing and trusts that the tools are there.

ensure_packages() {
    if ! command -v dpkg >/dev/null 2>&1; then
        echo "install-deps: no dpkg here; assuming $* are installed" >&2
        return 0
    fi
    local missing=() package
    for package in "$@"; do
        if ! dpkg -s "$package" 2>/dev/null | grep -q '^Status: install ok installed'; then
            missing+=("$package")
        fi
    done
    [ "${#missing[@]}" -eq 0 ] && return 0

    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        if ! command -v sudo >/dev/null 2>&1; then
            echo "install-deps: need root or sudo to install: ${missing[*]}" >&2
            return 1
        fi
        sudo=(sudo)
    fi
    echo "install-deps: installing ${missing[*]}" >&2
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -euo pipefail
    ensure_packages "$@"
fi
