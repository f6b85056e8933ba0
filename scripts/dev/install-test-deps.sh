#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine that has only the Rust toolchain:
# OpenSSH server/client (the SSH tests start a real sshd), shellcheck and bats (script tests),
# iptables (the e2e test proves the dedicated user's outbound rules), python3 (benchmark peers,
# conversion check), libnss-wrapper (as root, the Python tests' sshd logs root in under another
# name), chromium and chromium-driver (comfy-backend's page test in headless Chromium), the Python
# bindings' venv target/pyenv (maturin, pytest, mypy pinned in
# bindings/python/requirements-dev.txt), cargo-nextest (test runner with hang timeouts),
# cargo-shear (unused dependencies) and cargo-deny (advisories, licenses, duplicates, sources).
set -euo pipefail

# Pinned cargo tools: `cargo install --locked` builds each from crates.io once (about 3 minutes
# each on 2 cores); later runs find the pinned version in `cargo install --list` and skip it.
# cargo-shear 1.14 needs rustc 1.98 (its locked ra_ap_* crates), so 1.13 while the toolchain is 1.95.
readonly CARGO_TOOLS=(cargo-shear@1.13.0 cargo-deny@0.20.2)

# cargo_tool_installed NAME VERSION: whether `cargo install` put exactly that version in place.
cargo_tool_installed() {
    cargo install --list 2>/dev/null | grep -qxF "$1 v$2:"
}

# The venv scripts/dev/test-python.sh builds the bindings into and tests them with.
readonly PY_VENV=target/pyenv
readonly PY_REQUIREMENTS=bindings/python/requirements-dev.txt

install_python_venv() {
    local root
    root="$(cd "$(dirname "$0")/../.." && pwd)"
    if [ ! -x "$root/$PY_VENV/bin/python" ]; then
        echo "creating the Python venv $PY_VENV"
        python3 -m venv "$root/$PY_VENV"
    fi
    # pip skips what is installed at the pinned version already.
    "$root/$PY_VENV/bin/pip" install -q --disable-pip-version-check -r "$root/$PY_REQUIREMENTS"
}

install_cargo_tools() {
    local tool name version
    for tool in "${CARGO_TOOLS[@]}"; do
        name=${tool%@*}
        version=${tool#*@}
        if ! cargo_tool_installed "$name" "$version"; then
            echo "installing $name $version (cargo install --locked)"
            cargo install --locked "$name" --version "$version"
        fi
    done
}

main() {
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        sudo="sudo"
    fi
    local pkgs=(openssh-server openssh-client shellcheck bats python3 python3-venv libnss-wrapper git acl procps iproute2 iptables chromium chromium-driver)
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
    install_cargo_tools
    install_python_venv
    rustup component list --installed 2>/dev/null | grep -q rustfmt || rustup component add rustfmt clippy || true
}

main "$@"
