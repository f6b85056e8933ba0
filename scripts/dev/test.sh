#!/usr/bin/env bash
# The one test command (README, CI): install test dependencies, then fmt, clippy, the dependency
# checks (cargo-shear, cargo-deny), every test (the Python bindings' too), and schemathesis
# against the backend's API.
set -euo pipefail

# cargo-deny with deny.toml. The advisories check needs the RustSec database from GitHub: when it
# cannot be fetched, the other checks still run and a warning says advisories were NOT checked
# (DENY_REQUIRE_ADVISORIES=1 makes that an error).
deny_check() {
    if cargo deny --locked fetch db; then
        cargo deny --locked check
    elif [ "${DENY_REQUIRE_ADVISORIES:-0}" = 1 ]; then
        echo "cargo deny: the advisory database could not be fetched (DENY_REQUIRE_ADVISORIES=1)" >&2
        return 1
    else
        echo "WARNING: the advisory database could not be fetched: advisories NOT checked" >&2
        cargo deny --locked check bans licenses sources
    fi
}

main() {
    cd "$(dirname "$0")/../.."
    scripts/dev/install-test-deps.sh
    echo "== cargo fmt --check"
    cargo fmt --all -- --check
    echo "== cargo clippy -D warnings"
    cargo clippy --workspace --all-targets --locked -- -D warnings
    echo "== crate map (docs/DESIGN.md) matches Cargo.toml"
    python3 scripts/dev/check-crate-map.py
    echo "== cargo shear (unused dependencies)"
    cargo shear
    echo "== cargo deny (advisories, licenses, duplicate versions, sources)"
    deny_check
    echo "== oracle scripts compile (the oracle itself needs Chromium and PyPI: just oracle)"
    python3 -m py_compile scripts/oracle/*.py
    echo "== cargo nextest"
    cargo nextest run --workspace --locked --profile ci --no-tests=warn
    echo "== doc tests"
    cargo test --workspace --locked --doc
    echo "== Python bindings (pip install, mypy --strict, pytest)"
    scripts/dev/test-python.sh
    echo "== schemathesis against comfy-backend's /api/openapi.json (no 5xx, answers match the document)"
    scripts/dev/schemathesis.sh
    echo "== host setup scripts (shellcheck, bats, PowerShell parse, end-to-end as root)"
    cargo build --locked -p comfy-local
    COMFY_LOCAL_BIN="$PWD/target/debug/comfy-local" scripts/dev/test-scripts.sh
    echo "all checks passed"
}

main "$@"
