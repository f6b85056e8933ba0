#!/usr/bin/env bash
# Tests of the Python bindings (called by scripts/dev/test.sh; runs alone too): builds and installs
# bindings/python with pip (maturin as the PEP 517 backend, dev profile) into the venv
# target/pyenv that install-test-deps.sh makes, then runs mypy --strict on the package and its
# tests and pytest against the test host (crates/test-host: a real sshd and fake ComfyUIs).
set -euo pipefail

readonly VENV=target/pyenv

need_venv() {
    if [ ! -x "$VENV/bin/pytest" ] || [ ! -x "$VENV/bin/mypy" ] || [ ! -x "$VENV/bin/maturin" ]; then
        echo "$VENV lacks pytest, mypy or maturin: run scripts/dev/install-test-deps.sh" >&2
        return 1
    fi
}

main() {
    cd "$(dirname "$0")/../.."
    need_venv
    echo "== cargo build -p comfy-local-test-host"
    cargo build --locked -p comfy-local-test-host
    echo "== pip install ./bindings/python (maturin, dev profile)"
    # The venv already has the pinned maturin: no isolated build environment to download.
    MATURIN_PEP517_ARGS="--profile dev --locked" "$VENV/bin/pip" install -q --disable-pip-version-check \
        --no-build-isolation --force-reinstall --no-deps ./bindings/python
    echo "== mypy --strict (bindings/python)"
    (cd bindings/python && "../../$VENV/bin/mypy")
    echo "== pytest (bindings/python)"
    (cd bindings/python && COMFY_LOCAL_TEST_HOST="$PWD/../../target/debug/comfy-local-test-host" \
        "../../$VENV/bin/python" -m pytest -p no:cacheprovider -v)
}

main "$@"
