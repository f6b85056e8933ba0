# Developer recipes; CI runs `scripts/dev/test.sh` (the same as `just test`).

default:
    @just --list

# Install test dependencies, then fmt check, clippy -D warnings and every test.
test:
    scripts/dev/test.sh

# Lints only.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings

# API docs.
doc:
    cargo doc --workspace --no-deps

# All benchmarks (release build).
bench:
    cargo bench --workspace
