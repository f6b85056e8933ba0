#!/usr/bin/env bash
# Tests of the host set-up scripts (called by scripts/dev/test.sh; runs alone too):
#   1. shellcheck on every .sh in the repository
#   2. bats: argument handling and --dry-run output of setup-local-host-linux.sh
#   3. PowerShell syntax check of setup-local-host-windows.ps1 (tree-sitter grammar from PyPI)
#   4. end-to-end, as root: the Linux script for real on this machine, then ssh-audit, second run
#      and --uninstall (scripts/tests/e2e-linux.sh)
#   5. the same end-to-end test under systemd, in a booted Debian container, once each with
#      iptables, ufw and firewalld (scripts/tests/e2e-systemd.sh; as root)
# Installs what it needs itself (Debian packages, and a Python venv in target/ for ssh-audit and
# the PowerShell parser). Env: COMFY_LOCAL_BIN (use comfy-local test-connection in the e2e test),
# ALLOW_NO_ROOT_E2E=1 (do not fail when not root; the e2e test then does NOT run).
set -euo pipefail

readonly APT_PACKAGES=(shellcheck bats openssh-server openssh-client acl git python3 python3-venv iproute2 procps iptables
    systemd systemd-container debootstrap)
readonly PY_PACKAGES=(ssh-audit==3.9.0 tree-sitter==0.26.1 tree-sitter-powershell==0.26.4)

STEPS_PASSED=0
STEPS_FAILED=0
FAILED_NAMES=()

install_apt_packages() {
    local sudo="" missing=() p
    if [ "$(id -u)" -ne 0 ]; then
        sudo=sudo
    fi
    command -v dpkg-query >/dev/null 2>&1 || {
        echo "not a Debian-like system: make sure ${APT_PACKAGES[*]} are installed" >&2
        return 0
    }
    for p in "${APT_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        echo "installing Debian packages: ${missing[*]}"
        $sudo apt-get update -qq || true
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

VENV=""

install_python_tools() {
    VENV="$PWD/target/script-tests-venv"
    if [ ! -x "$VENV/bin/python" ]; then
        python3 -m venv "$VENV"
    fi
    if ! "$VENV/bin/python" -c 'import ssh_audit, tree_sitter, tree_sitter_powershell' 2>/dev/null; then
        echo "installing Python tools into $VENV: ${PY_PACKAGES[*]}"
        "$VENV/bin/pip" install -q --disable-pip-version-check "${PY_PACKAGES[@]}"
    fi
}

# run_step NAME COMMAND...: runs a step, records pass/fail, never stops the others.
run_step() {
    local name=$1
    shift
    printf '\n======== %s\n' "$name"
    local start=$SECONDS
    if "$@"; then
        STEPS_PASSED=$((STEPS_PASSED + 1))
        printf '======== %s: passed (%d s)\n' "$name" $((SECONDS - start))
    else
        STEPS_FAILED=$((STEPS_FAILED + 1))
        FAILED_NAMES+=("$name")
        printf '======== %s: FAILED (%d s)\n' "$name" $((SECONDS - start))
    fi
}

shellcheck_all() {
    local files=()
    mapfile -t files < <({ git ls-files '*.sh' 2>/dev/null || true; find scripts -name '*.sh'; } | sort -u |
        while IFS= read -r f; do if [ -f "$f" ]; then printf '%s\n' "$f"; fi; done)
    echo "shellcheck on ${#files[@]} file(s): ${files[*]}"
    shellcheck -x "${files[@]}"
}

bats_tests() {
    bats scripts/tests/
}

powershell_parse() {
    "$VENV/bin/python" scripts/tests/ps_parse_check.py scripts/setup-local-host-windows.ps1 &&
        ps_rules_catch_violations &&
        bat_checks
}

# The rule checks must fail on a script that breaks each rule (a check that cannot fail proves
# nothing).
ps_rules_catch_violations() {
    local bad out
    bad=$(mktemp --suffix=.ps1)
    # shellcheck disable=SC2016 # $_ is PowerShell, not shell
    printf 'function Do-Thing { Get-ChildItem | %% { iex $_ } }\n' >"$bad"
    if out=$("$VENV/bin/python" scripts/tests/ps_parse_check.py "$bad"); then
        rm -f "$bad"
        echo "ps_parse_check.py passed a script that breaks its rules"
        return 1
    fi
    rm -f "$bad"
    local rule
    for rule in PSUseApprovedVerbs PSAvoidUsingCmdletAliases PSAvoidUsingInvokeExpression; do
        grep -q "$rule" <<<"$out" || { echo "ps_parse_check.py missed $rule in: $out"; return 1; }
    done
    echo "ps_parse_check.py rules: each catches its violation"
}

# The .bat launcher has no parser in the registries; check what matters textually.
bat_checks() {
    local bat=scripts/setup-local-host-windows.bat
    grep -q 'net session' "$bat" || { echo "$bat: no administrator check (net session)"; return 1; }
    grep -q 'setup-local-host-windows.ps1' "$bat" || { echo "$bat: does not launch the .ps1"; return 1; }
    if grep -q -v $'\r$' "$bat"; then
        echo "$bat: lines must end with CRLF (cmd.exe misparses labels otherwise)"
        return 1
    fi
    echo "$bat: administrator check, launches the .ps1, CRLF line endings"
}

e2e() {
    PATH="$VENV/bin:$PATH" bash scripts/tests/e2e-linux.sh
}

e2e_systemd() {
    bash scripts/tests/e2e-systemd.sh
}

main() {
    cd "$(dirname "$0")/../.."
    install_apt_packages
    install_python_tools
    run_step "shellcheck" shellcheck_all
    run_step "bats (setup-local-host-linux.sh arguments and --dry-run)" bats_tests
    run_step "PowerShell parse (tree-sitter-powershell) and .bat checks" powershell_parse
    run_step "e2e: setup-local-host-linux.sh for real, ssh-audit, second run, --uninstall" e2e
    run_step "e2e under systemd in a booted container: iptables, ufw, firewalld" e2e_systemd
    printf '\nscript-tests: %d passed, %d failed\n' "$STEPS_PASSED" "$STEPS_FAILED"
    if [ "$STEPS_FAILED" -gt 0 ]; then
        printf 'failed: %s\n' "${FAILED_NAMES[@]}"
        return 1
    fi
}

main "$@"
