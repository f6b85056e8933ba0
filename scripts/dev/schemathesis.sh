#!/usr/bin/env bash
# Runs schemathesis (PyPI, pinned, in a venv under target/) against comfy-backend's own
# /api/openapi.json: generated requests to every route, on loopback only, bounded in examples
# and time. Fails on any 5xx answer and on any answer whose status, content type or body the
# document does not describe. The backend's config points at a ComfyUI that is not there, so
# jobs the fuzzer starts fail fast. One worker: CPython 3.11's ast module is not thread-safe, and
# hypothesis parses lambdas from more than one worker thread ("AST constructor recursion depth
# mismatch").
set -euo pipefail

readonly SCHEMATHESIS_VERSION=4.32.5
readonly MAX_EXAMPLES=${SCHEMATHESIS_MAX_EXAMPLES:-25}

BACKEND_PID=""
WORK=""

cleanup() {
    if [ -n "$BACKEND_PID" ]; then
        kill "$BACKEND_PID" 2>/dev/null || true
        wait "$BACKEND_PID" 2>/dev/null || true
    fi
    if [ -n "$WORK" ]; then
        rm -rf "$WORK"
    fi
}

need_cmd() {
    command -v "$1" >/dev/null 2>&1 || { echo "schemathesis.sh: needs $1" >&2; exit 1; }
}

install_schemathesis() {
    local venv="$PWD/target/schemathesis-venv"
    if [ ! -x "$venv/bin/python" ]; then
        python3 -m venv "$venv"
    fi
    if [ "$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("schemathesis"))' 2>/dev/null)" != "$SCHEMATHESIS_VERSION" ]; then
        echo "installing schemathesis $SCHEMATHESIS_VERSION into $venv"
        "$venv/bin/pip" install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
    fi
    ST="$venv/bin/st"
}

start_backend() {
    WORK=$(mktemp -d)
    cat >"$WORK/config.yml" <<YAML
local:
  - id: local
    ssh: { host: 127.0.0.1, key_file: $WORK/key, known_hosts_file: $WORK/kh }
    comfyui: { path: /opt/ComfyUI, api_url: 'http://127.0.0.1:9' }
YAML
    mkfifo "$WORK/out"
    target/debug/comfy-backend --config "$WORK/config.yml" --listen 127.0.0.1:0 \
        --refresh-secs 60 >"$WORK/out" 2>"$WORK/stderr" &
    BACKEND_PID=$!
    local line
    if ! read -r -t 30 line <"$WORK/out"; then
        echo "schemathesis.sh: the backend did not start:" >&2
        cat "$WORK/stderr" >&2
        exit 1
    fi
    URL=${line#comfy-backend listening on }
}

main() {
    cd "$(dirname "$0")/../.."
    need_cmd python3
    trap cleanup EXIT
    install_schemathesis
    cargo build --locked -q -p comfy-backend
    start_backend
    echo "schemathesis against $URL/api/openapi.json ($MAX_EXAMPLES examples per operation)"
    # From the temp folder: schemathesis keeps a cache (.schemathesis/) in its working directory.
    cd "$WORK"
    timeout 600 "$ST" run "$URL/api/openapi.json" \
        --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
        --max-examples "$MAX_EXAMPLES" --workers 1 --no-color
}

main "$@"
