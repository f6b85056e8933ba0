#!/usr/bin/env bash
# The one test command (README, CI): install test dependencies, then fmt, clippy and every test.
set -euo pipefail

main() {
    cd "$(dirname "$0")/../.."
    scripts/dev/install-test-deps.sh
    echo "== cargo fmt --check"
    cargo fmt --all -- --check
    echo "== cargo clippy -D warnings"
    cargo clippy --workspace --all-targets --locked -- -D warnings
    echo "== crate map (docs/DESIGN.md) matches Cargo.toml"
    python3 scripts/dev/check-crate-map.py
    echo "== cargo nextest"
    cargo nextest run --workspace --locked --profile ci --no-tests=warn
    echo "== doc tests"
    cargo test --workspace --locked --doc
    echo "== host setup scripts (shellcheck, bats, PowerShell parse, end-to-end as root)"
    cargo build --locked -p comfy-local
    COMFY_LOCAL_BIN="$PWD/target/debug/comfy-local" scripts/dev/test-scripts.sh
    echo "all checks passed"
}

main "$@"
