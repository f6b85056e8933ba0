#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine that has only the Rust toolchain:
# OpenSSH server/client (the SSH tests start a real sshd), shellcheck and bats (script tests),
# python3 (benchmark peers, conversion check), cargo-nextest (test runner with hang timeouts).
set -euo pipefail

main() {
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        sudo="sudo"
    fi
    local pkgs=(openssh-server openssh-client shellcheck bats python3 python3-venv git acl procps iproute2)
    local missing=()
    for p in "${pkgs[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "installing: ${missing[*]}"
        $sudo apt-get update -qq || true
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
    fi
    if ! command -v cargo-nextest >/dev/null 2>&1; then
        echo "installing cargo-nextest"
        cargo install cargo-nextest --locked
    fi
    rustup component list --installed 2>/dev/null | grep -q rustfmt || rustup component add rustfmt clippy || true
}

main "$@"
