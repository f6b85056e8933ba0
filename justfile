# Developer recipes; CI runs `scripts/dev/test.sh` (the same as `just test`).

default:
    @just --list

# Install test dependencies, then fmt check, clippy -D warnings, cargo shear, cargo deny and every test.
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

# SSH transport vs OpenSSH (commands, connect, 1 GiB transfers; BENCH_SIZE_MB to change).
bench-ssh:
    cargo bench -p comfy-local-ssh --bench ssh_vs_openssh

# ComfyUI client (WebSocket) vs a plain Python urllib + polling client.
bench-comfyui:
    cargo bench -p comfy-local-comfyui --bench run_roundtrip

# object_info parse and UI -> API conversion against their budgets.
bench-workflow:
    cargo bench -p comfy-local-workflow --bench workflow

# Check every UI -> API pair of the real frontend with the fixture's own check.py.
check-conversion:
    cargo build -q -p comfy-local
    python3 fixtures/comfyui/conversion/check.py --dir fixtures/comfyui/conversion -- target/debug/comfy-local workflow convert --object-info fixtures/comfyui/object_info.json {ui}

# Differential oracle: our UI -> API conversion against the real frontend (1.27.10 and PyPI's newest)
# in headless Chromium, on every template, every fixture and 1200 generated graphs (docs/ORACLE.md).
# Pass e.g. `--update-fixtures` or `--versions 1.27.10 --generated 300`.
oracle *ARGS:
    python3 scripts/oracle/run.py {{ARGS}}
