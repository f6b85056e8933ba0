#!/usr/bin/env bash
# comfy-local host set-up for Linux.
#
# Lets a container on this host (the Media Sync Tool / comfy-backend) use this host's ComfyUI as
# one more instance: a dedicated, key-only, non-root SSH user served by a SEPARATE sshd instance
# (its own config, port, host key and pid file; the system sshd is never touched), write access
# limited to ComfyUI's models/, custom_nodes/ (unless --no-custom-nodes), input/ and output/
# folders, a firewall rule limiting the port to loopback and the Docker network, outbound rules
# limiting the user to ComfyUI's port and the internet, and the files the container needs (private key,
# known_hosts pinning the new host key, local-support-config.yml). Finishes with a real connection
# test. Idempotent; `--uninstall` removes exactly what was added (recorded in a manifest).
#
# Run `setup-local-host-linux.sh --help` for the options. Everything lives in functions and
# `main "$@"` is the last line, so a truncated download does nothing.
if [ -z "${BASH_VERSION:-}" ]; then
    echo "error: run this script with bash (bash $0 ...), not sh" >&2
    exit 1
fi
set -euo pipefail
# useradd, sshd, setfacl and runuser live in sbin, which `su` without `-` leaves off PATH.
PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

readonly DEFAULT_STATE_DIR=/etc/comfy-local
readonly DEFAULT_REPO=https://github.com/comfyanonymous/ComfyUI.git
# The folders the SSH user may write; --no-custom-nodes removes custom_nodes.
WRITABLE_DIRS=(models custom_nodes input output)

# ---------------------------------------------------------------------------------------------
# output helpers
# ---------------------------------------------------------------------------------------------
CHANGES=0
DRY_RUN=0

say() { printf '%s\n' "$*"; }
step() { printf '\n==> %s\n' "$*"; }
WARNINGS=()
# Printed at once and repeated in the summary, so a warning is not lost in the output.
warn() {
    printf 'warning: %s\n' "$*" >&2
    WARNINGS+=("$*")
}
die() {
    printf 'error: %s\n' "$1" >&2
    if [ -n "${2:-}" ]; then printf 'hint: %s\n' "$2" >&2; fi
    exit 1
}
usage_error() {
    printf 'error: %s\n' "$1" >&2
    printf 'Run with --help for the options.\n' >&2
    exit 2
}
changed() {
    CHANGES=$((CHANGES + 1))
    if [ "$DRY_RUN" -eq 1 ]; then say "  would change: $*"; else say "  changed: $*"; fi
}
unchanged() { say "  ok (unchanged): $*"; }

# Print a command as it would be typed, then run it unless --dry-run.
run() {
    if [ "$DRY_RUN" -eq 1 ]; then
        printf '  [dry-run] would run:'
        printf ' %q' "$@"
        printf '\n'
        return 0
    fi
    "$@"
}

# $1 as one POSIX sh word: single-quoted, each ' written as '\''.
sh_quote() {
    printf "'%s'" "${1//\'/\'\\\'\'}"
}

# $1 as one word of a systemd command line (ExecStart=...): double-quoted, with the characters
# systemd expands escaped (% specifiers as %%, $ variables as $$). Callers refuse control
# characters, double quotes and backslashes before (is_quotable_path).
systemd_quote() {
    local s=${1//%/%%}
    printf '"%s"' "${s//\$/\$\$}"
}

# $1 as the program of a systemd command line: double-quoted, % escaped. systemd expands no $
# in it, and refuses a ' in it (do_install refuses such a path before).
systemd_exec_quote() {
    printf '"%s"' "${1//%/%%}"
}

# $1 for a systemd setting that takes one path as the rest of the line (WorkingDirectory=).
systemd_path() {
    printf '%s' "${1//%/%%}"
}

need_cmd() {
    command -v "$1" >/dev/null 2>&1 || die "required command '$1' not found" "${2:-install it and re-run}"
}

# ---------------------------------------------------------------------------------------------
# options
# ---------------------------------------------------------------------------------------------
COMFYUI_PATH=""
SSH_USER=comfyui
PORT=22022
LISTEN=()
ALLOW_FROM=()
OUTPUT_DIR=""
STATE_DIR=$DEFAULT_STATE_DIR
YES=0
UNINSTALL=0
INSTALL_COMFYUI=0
COMFYUI_REPO=$DEFAULT_REPO
COMFYUI_SERVICE=0
COMFYUI_OWNER=""
COMFYUI_PORT=8188
COMFY_LOCAL_BIN=""
SSH_HOST=host.docker.internal
API_URL=""
CONTAINER_DIR=/app/comfy-local
CLIENT_OWNER=""
SKIP_TEST=0
FIREWALL=auto
CUSTOM_NODES=1
EGRESS_INTERNET=1
EGRESS_LAN=0

usage() {
    cat <<'EOF'
Usage: setup-local-host-linux.sh --comfyui-path PATH [options]
       setup-local-host-linux.sh --uninstall [--state-dir DIR] [--yes]

Sets this host up so a container can use its ComfyUI over SSH (see docs/LOCAL_COMFYUI_QUICK_START.md).
Run as root (sudo). A second run changes nothing and says so.

Required:
  --comfyui-path PATH    absolute path of the ComfyUI folder (created with --install-comfyui)

Common options:
  --user NAME            dedicated SSH user to create (default: comfyui)
  --port PORT            port of the separate sshd instance (default: 22022)
  --listen ADDR          address sshd listens on; repeatable (default: 127.0.0.1, plus the
                         Docker bridge gateway, e.g. 172.17.0.1, when docker0 exists)
  --allow-from CIDR      extra source network the firewall rule admits; repeatable
                         (default: loopback and the subnets of the Docker bridges found)
  --output-dir DIR       where the container's key, known_hosts and config are written
                         (default: <state-dir>/client)
  --dry-run              print what would be done; change nothing (root not needed)
  --yes                  do not ask for confirmation (needed when stdin is not a terminal)
  --uninstall            remove exactly what an earlier run added (from the manifest)
  --help                 this text

ComfyUI (optional):
  --install-comfyui      clone ComfyUI into --comfyui-path, create its venv, install requirements
  --comfyui-repo URL     repository to clone (default: the official ComfyUI repository)
  --comfyui-service      run ComfyUI as a service (systemd unit, or a supervised process when
                         systemd is not running) as its owner on 127.0.0.1:<comfyui-port>,
                         restarted on failure
  --comfyui-owner USER   owner of the ComfyUI folder and the service (default: owner of the
                         existing folder, else $SUDO_USER)
  --comfyui-port PORT    ComfyUI's HTTP port (default: 8188)

Generated config (what the container sees):
  --ssh-host HOST        host name the container uses (default: host.docker.internal)
  --api-url URL          ComfyUI URL from the container (default: http://<ssh-host>:<comfyui-port>)
  --container-dir DIR    where the container mounts the key and known_hosts (default: /app/comfy-local)
  --client-owner UID:GID owner of the generated key/config files (default: root); use the uid the
                         container process runs as

Advanced:
  --state-dir DIR        where this instance keeps its sshd config, host key and manifest
                         (default: /etc/comfy-local); if it exists, it must be owned by root (or,
                         when not run as root, by you) and writable by its owner only (it holds
                         the sshd config and the manifest)
  --firewall MODE        auto | ufw | firewalld | iptables | none (default: auto); the rule
                         limiting who reaches the SSH port
  --no-custom-nodes      no write access to custom_nodes/ (code placed there runs as ComfyUI's
                         owner); the generated config sets features.custom_nodes: false
  --no-internet          the SSH user may connect only to ComfyUI's port on loopback (no
                         downloads on the host)
  --allow-lan            also let the SSH user connect to private networks (RFC 1918, link-local,
                         CGNAT, IPv6 ULA); by default only ComfyUI's port and the internet
  --comfy-local BIN      comfy-local binary for the final test (default: comfy-local on PATH;
                         without it, the test uses ssh and sftp)
  --skip-test            skip the final connection test

Exit codes: 0 success, 1 failure, 2 usage error.
EOF
}

# The value of option $1, taken from $2; fails when it is missing.
opt_value() {
    if [ $# -lt 2 ] || [ -z "$2" ] || [ "${2#--}" != "$2" ]; then
        usage_error "option $1 needs a value"
    fi
    printf '%s' "$2"
}

parse_args() {
    while [ $# -gt 0 ]; do
        case "$1" in
            --comfyui-path) COMFYUI_PATH=$(opt_value "$1" "${2-}"); shift ;;
            --user) SSH_USER=$(opt_value "$1" "${2-}"); shift ;;
            --port) PORT=$(opt_value "$1" "${2-}"); shift ;;
            --listen) LISTEN+=("$(opt_value "$1" "${2-}")"); shift ;;
            --allow-from) ALLOW_FROM+=("$(opt_value "$1" "${2-}")"); shift ;;
            --output-dir) OUTPUT_DIR=$(opt_value "$1" "${2-}"); shift ;;
            --state-dir) STATE_DIR=$(opt_value "$1" "${2-}"); shift ;;
            --dry-run) DRY_RUN=1 ;;
            --yes | -y) YES=1 ;;
            --uninstall) UNINSTALL=1 ;;
            --install-comfyui) INSTALL_COMFYUI=1 ;;
            --comfyui-repo) COMFYUI_REPO=$(opt_value "$1" "${2-}"); shift ;;
            --comfyui-service) COMFYUI_SERVICE=1 ;;
            --comfyui-owner) COMFYUI_OWNER=$(opt_value "$1" "${2-}"); shift ;;
            --comfyui-port) COMFYUI_PORT=$(opt_value "$1" "${2-}"); shift ;;
            --comfy-local) COMFY_LOCAL_BIN=$(opt_value "$1" "${2-}"); shift ;;
            --ssh-host) SSH_HOST=$(opt_value "$1" "${2-}"); shift ;;
            --api-url) API_URL=$(opt_value "$1" "${2-}"); shift ;;
            --container-dir) CONTAINER_DIR=$(opt_value "$1" "${2-}"); shift ;;
            --client-owner) CLIENT_OWNER=$(opt_value "$1" "${2-}"); shift ;;
            --firewall) FIREWALL=$(opt_value "$1" "${2-}"); shift ;;
            --skip-test) SKIP_TEST=1 ;;
            --no-custom-nodes) CUSTOM_NODES=0 ;;
            --no-internet) EGRESS_INTERNET=0 ;;
            --allow-lan) EGRESS_LAN=1 ;;
            --help | -h) usage; exit 0 ;;
            *) usage_error "unknown option: $1" ;;
        esac
        shift
    done
    validate_args
}

is_port() {
    case "$1" in '' | *[!0-9]*) return 1 ;; esac
    [ "${#1}" -le 5 ] && [ "$1" -ge 1 ] && [ "$1" -le 65535 ]
}

is_ipv4() {
    local IFS=.
    # shellcheck disable=SC2206 # splitting on dots is the point
    local parts=($1)
    [ "${#parts[@]}" -eq 4 ] || return 1
    local p
    for p in "${parts[@]}"; do
        case "$p" in '' | *[!0-9]*) return 1 ;; esac
        [ "${#p}" -le 3 ] && [ "$p" -le 255 ] || return 1
    done
}

is_cidr() {
    local addr=${1%/*} bits=${1#*/}
    [ "$addr" != "$1" ] || return 1
    is_ipv4 "$addr" || return 1
    case "$bits" in '' | *[!0-9]*) return 1 ;; esac
    [ "$bits" -le 32 ]
}

# Unix user names: lower-case letters, digits, '_' and '-', not starting with '-' or a digit.
is_user_name() {
    [[ "$1" =~ ^[a-z_][a-z0-9_-]{0,31}$ ]]
}

# Directories that go into sshd_config, systemd units and ssh -o options unquoted: only
# characters none of those treat specially.
is_plain_path() {
    [[ "$1" =~ ^/[A-Za-z0-9._/@+-]*$ ]]
}

# Paths that are quoted wherever they are written (YAML, sh, systemd): anything but control
# characters (newlines, tabs), double quotes, backslashes and surrounding white space, which
# systemd strips from a unit's values.
is_quotable_path() {
    local bad='[[:cntrl:]"\\]' edge='^[[:space:]]|[[:space:]]$'
    ! [[ "$1" =~ $bad ]] && ! [[ "$1" =~ $edge ]]
}

# An existing state directory must be root's and writable by root only: it holds the sshd config
# and the manifest that --uninstall replays as root. Run by another user (who cannot change the
# system, e.g. a --dry-run), a directory of that user's own is accepted too.
check_state_dir() {
    [ -e "$STATE_DIR" ] || return 0
    if [ ! -d "$STATE_DIR" ] || [ -L "$STATE_DIR" ]; then
        usage_error "--state-dir $STATE_DIR exists and is not a directory"
    fi
    local owner mode
    owner=$(stat -c %u "$STATE_DIR") mode=$(stat -c %a "$STATE_DIR")
    if [ "$owner" != 0 ] && [ "$owner" != "$(id -u)" ]; then
        usage_error "--state-dir $STATE_DIR is owned by uid $owner, not root (nor you): refusing to keep an sshd config and a manifest run as root there"
    fi
    if (( (8#$mode & 8#022) != 0 )); then
        usage_error "--state-dir $STATE_DIR is writable by its group or others (mode $mode): refusing (chmod go-w it, or choose another directory)"
    fi
}

validate_args() {
    case "$STATE_DIR" in /*) ;; *) usage_error "--state-dir must be an absolute path: $STATE_DIR" ;; esac
    STATE_DIR=${STATE_DIR%/}
    local base=${STATE_DIR##*/}
    if ! is_plain_path "$STATE_DIR" || [ -z "$base" ] || [ "${base#.}" != "$base" ]; then
        usage_error "--state-dir may hold only letters, digits and . _ / @ + - (its name names units and firewall rules, and must not start with a dot): $STATE_DIR"
    fi
    check_state_dir
    if [ "$UNINSTALL" -eq 1 ]; then
        return 0
    fi
    [ -n "$COMFYUI_PATH" ] || usage_error "--comfyui-path is required (the absolute path of your ComfyUI folder)"
    case "$COMFYUI_PATH" in
        /*) ;;
        *) usage_error "--comfyui-path must be an absolute path, got: $COMFYUI_PATH" ;;
    esac
    is_quotable_path "$COMFYUI_PATH" ||
        usage_error "--comfyui-path must not contain control characters (newlines, tabs), double quotes or backslashes, nor start or end with a space (single quotes and spaces are fine)"
    [ "$COMFYUI_PATH" = / ] && usage_error "--comfyui-path must not be /"
    COMFYUI_PATH=${COMFYUI_PATH%/}
    is_user_name "$SSH_USER" || usage_error "--user must be a plain user name (a-z, 0-9, _ and -, not starting with - or a digit): $SSH_USER"
    [ "$SSH_USER" != root ] || usage_error "--user must not be root: the script creates a dedicated, non-root user"
    is_port "$PORT" || usage_error "--port must be a number from 1 to 65535, got: $PORT"
    is_port "$COMFYUI_PORT" || usage_error "--comfyui-port must be a number from 1 to 65535, got: $COMFYUI_PORT"
    [ "$PORT" != "$COMFYUI_PORT" ] || usage_error "--port and --comfyui-port must differ"
    local a
    for a in "${LISTEN[@]+"${LISTEN[@]}"}"; do
        is_ipv4 "$a" || usage_error "--listen must be an IPv4 address, got: $a"
    done
    for a in "${ALLOW_FROM[@]+"${ALLOW_FROM[@]}"}"; do
        is_cidr "$a" || usage_error "--allow-from must be an IPv4 network like 172.17.0.0/16, got: $a"
    done
    if [ -n "$COMFYUI_OWNER" ]; then
        is_user_name "$COMFYUI_OWNER" || usage_error "--comfyui-owner must be a plain user name: $COMFYUI_OWNER"
    fi
    case "$FIREWALL" in auto | ufw | firewalld | iptables | none) ;; *) usage_error "--firewall must be auto, ufw, firewalld, iptables or none, got: $FIREWALL" ;; esac
    case "$CONTAINER_DIR" in /*) ;; *) usage_error "--container-dir must be an absolute path: $CONTAINER_DIR" ;; esac
    is_quotable_path "$CONTAINER_DIR" ||
        usage_error "--container-dir must not contain control characters, double quotes or backslashes: $CONTAINER_DIR"
    if ! [[ "$SSH_HOST" =~ ^[A-Za-z0-9._-]+$ ]] || [ "${SSH_HOST#-}" != "$SSH_HOST" ]; then
        usage_error "--ssh-host must be a host name or address (letters, digits, '.', '-' and '_'), got: $SSH_HOST"
    fi
    if [ -n "$CLIENT_OWNER" ] && ! [[ "$CLIENT_OWNER" =~ ^[0-9]+:[0-9]+$ ]]; then
        usage_error "--client-owner must be UID:GID (numbers), got: $CLIENT_OWNER"
    fi
    [ -n "$API_URL" ] || API_URL="http://$SSH_HOST:$COMFYUI_PORT"
    if [ "$CUSTOM_NODES" -eq 0 ]; then WRITABLE_DIRS=(models input output); fi
    [ -n "$OUTPUT_DIR" ] || OUTPUT_DIR="$STATE_DIR/client"
    case "$OUTPUT_DIR" in /*) ;; *) usage_error "--output-dir must be an absolute path: $OUTPUT_DIR" ;; esac
    is_plain_path "$OUTPUT_DIR" || usage_error "--output-dir may hold only letters, digits and . _ / @ + -: $OUTPUT_DIR"
    OUTPUT_DIR=${OUTPUT_DIR%/}
    if [ "$COMFYUI_SERVICE" -eq 1 ] && [ "$INSTALL_COMFYUI" -eq 0 ] && [ "$DRY_RUN" -eq 0 ] &&
        [ ! -f "$COMFYUI_PATH/main.py" ]; then
        usage_error "--comfyui-service needs ComfyUI in $COMFYUI_PATH (main.py); add --install-comfyui to install it"
    fi
}

# ---------------------------------------------------------------------------------------------
# derived names and the manifest
# ---------------------------------------------------------------------------------------------
TAG=""
MANIFEST=""
SSHD_CONFIG=""
HOST_KEY=""
PID_FILE=""
SSHD_LOG=""
AUTH_KEYS_DIR=""
CLIENT_KEY=""
SSHD_BIN=""
HAS_SYSTEMD=0

derive_names() {
    TAG=$(basename "$STATE_DIR")
    MANIFEST="$STATE_DIR/manifest"
    SSHD_CONFIG="$STATE_DIR/sshd_config"
    HOST_KEY="$STATE_DIR/ssh_host_ed25519_key"
    PID_FILE="$STATE_DIR/sshd.pid"
    SSHD_LOG="$STATE_DIR/sshd.log"
    AUTH_KEYS_DIR="$STATE_DIR/authorized_keys"
    CLIENT_KEY="$OUTPUT_DIR/id_ed25519"
    SSHD_BIN=$(command -v sshd 2>/dev/null || true)
    [ -n "$SSHD_BIN" ] || SSHD_BIN=/usr/sbin/sshd
    # COMFY_LOCAL_INIT=systemd|none overrides the detection (the tests use it for --dry-run).
    case "${COMFY_LOCAL_INIT:-auto}" in
        systemd) HAS_SYSTEMD=1 ;;
        none) HAS_SYSTEMD=0 ;;
        *) if [ -d /run/systemd/system ]; then HAS_SYSTEMD=1; fi ;;
    esac
}

# Record one line (tab-separated fields) in the manifest, once.
manifest_add() {
    [ "$DRY_RUN" -eq 0 ] || return 0
    local line
    line=$(printf '%s\t' "$@")
    line=${line%$'\t'}
    if [ -f "$MANIFEST" ] && grep -Fxq -- "$line" "$MANIFEST"; then
        return 0
    fi
    printf '%s\n' "$line" >>"$MANIFEST"
}

# Create directory $1 (mode $2, owner $3) if missing, recording it.
ensure_dir() {
    local dir=$1 mode=$2 owner=$3
    if [ -d "$dir" ]; then
        return 0
    fi
    run install -d -m "$mode" -o "${owner%%:*}" -g "${owner##*:}" "$dir"
    manifest_add dir "$dir"
    changed "created directory $dir"
}

# Write stdin to file $1 (mode $2, owner $3) when its content differs; reports the change.
write_file() {
    local path=$1 mode=$2 owner=$3 desc=$4 content
    content=$(cat)
    if [ -f "$path" ] && [ "$(cat "$path")" = "$content" ]; then
        unchanged "$desc ($path)"
        return 1
    fi
    if [ "$DRY_RUN" -eq 1 ]; then
        changed "write $desc ($path)"
        return 0
    fi
    [ -e "$path" ] || manifest_add file "$path"
    local tmp
    tmp=$(mktemp "$path.XXXXXX")
    printf '%s\n' "$content" >"$tmp"
    chmod "$mode" "$tmp"
    chown "$owner" "$tmp"
    mv -f "$tmp" "$path"
    changed "wrote $desc ($path)"
    return 0
}

# ---------------------------------------------------------------------------------------------
# prerequisites
# ---------------------------------------------------------------------------------------------
PKG_MANAGER=""

detect_platform() {
    step "Checking the system"
    local distro="unknown"
    if [ -r /etc/os-release ]; then
        # shellcheck source=/dev/null
        distro=$(. /etc/os-release && printf '%s' "${PRETTY_NAME:-${ID:-unknown}}")
    fi
    if command -v apt-get >/dev/null 2>&1; then
        PKG_MANAGER=apt
    elif command -v dnf >/dev/null 2>&1; then
        PKG_MANAGER=dnf
    fi
    say "  distribution: $distro; package manager: ${PKG_MANAGER:-none found (apt or dnf)}"
    if [ "$HAS_SYSTEMD" -eq 1 ]; then
        say "  init: systemd (services get systemd units)"
    else
        say "  init: systemd is NOT running: daemons are started directly with pid files" \
            "(not restarted after a reboot; re-run this script after booting)"
    fi
}

# Commands this run needs -> packages that provide them (per package manager).
package_for() {
    local cmd=$1
    case "$PKG_MANAGER:$cmd" in
        apt:sshd) echo openssh-server ;;
        apt:ssh | apt:sftp | apt:ssh-keygen) echo openssh-client ;;
        apt:setfacl) echo acl ;;
        apt:git) echo git ;;
        apt:python3) echo python3 ;;
        apt:venv) echo python3-venv ;;
        dnf:sshd) echo openssh-server ;;
        dnf:ssh | dnf:sftp | dnf:ssh-keygen) echo openssh-clients ;;
        dnf:setfacl) echo acl ;;
        dnf:git) echo git ;;
        dnf:python3 | dnf:venv) echo python3 ;;
    esac
}

ensure_packages() {
    step "Checking prerequisites"
    local needed=(ssh-keygen ssh sftp setfacl)
    if [ "$INSTALL_COMFYUI" -eq 1 ]; then needed+=(git python3 venv); fi
    local missing_pkgs=() cmd pkg have
    if [ -x "$SSHD_BIN" ]; then have=1; else have=0; fi
    if [ "$have" -eq 0 ]; then
        pkg=$(package_for sshd)
        [ -n "$pkg" ] || die "sshd (OpenSSH server) is missing and no apt/dnf was found" "install the OpenSSH server with your package manager"
        missing_pkgs+=("$pkg")
    fi
    for cmd in "${needed[@]}"; do
        if [ "$cmd" = venv ]; then
            python3 -c 'import ensurepip, venv' >/dev/null 2>&1 && continue
        elif command -v "$cmd" >/dev/null 2>&1; then
            continue
        fi
        pkg=$(package_for "$cmd")
        [ -n "$pkg" ] || die "required command '$cmd' is missing and no apt/dnf was found" "install it and re-run"
        case " ${missing_pkgs[*]-} " in *" $pkg "*) ;; *) missing_pkgs+=("$pkg") ;; esac
    done
    if [ "${#missing_pkgs[@]}" -eq 0 ]; then
        unchanged "OpenSSH server and client, acl tools$([ "$INSTALL_COMFYUI" -eq 1 ] && printf ', git, python3 venv') present"
        return 0
    fi
    if [ "$PKG_MANAGER" = apt ]; then
        run env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        run env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing_pkgs[@]}"
    else
        run dnf install -y -q "${missing_pkgs[@]}"
    fi
    for pkg in "${missing_pkgs[@]}"; do manifest_add pkg "$pkg"; done
    changed "installed packages: ${missing_pkgs[*]} (--uninstall keeps them and says so)"
    if [ "$DRY_RUN" -eq 0 ] && [ "$have" -eq 0 ] && [ "$HAS_SYSTEMD" -eq 1 ]; then
        # Installing openssh-server starts the SYSTEM sshd on port 22 (all interfaces) on Debian;
        # this set-up does not need it, so it is stopped and disabled again (recorded, undone on uninstall).
        local unit
        for unit in ssh.service sshd.service; do
            if systemctl is-enabled "$unit" >/dev/null 2>&1; then
                run systemctl disable --now "$unit"
                manifest_add disabled-unit "$unit"
                changed "stopped and disabled $unit that the openssh-server package started (this set-up uses its own instance)"
            fi
        done
    fi
    SSHD_BIN=$(command -v sshd 2>/dev/null || echo /usr/sbin/sshd)
}

# ---------------------------------------------------------------------------------------------
# ComfyUI folder, owner and optional install
# ---------------------------------------------------------------------------------------------
OWNER=""
OWNER_GROUP=""

resolve_owner() {
    if [ -z "$COMFYUI_OWNER" ]; then
        if [ -e "$COMFYUI_PATH" ]; then
            COMFYUI_OWNER=$(stat -c %U "$COMFYUI_PATH")
        elif [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ]; then
            COMFYUI_OWNER=$SUDO_USER
        else
            COMFYUI_OWNER=$(stat -c %U "$(dirname "$COMFYUI_PATH")" 2>/dev/null || echo root)
        fi
    fi
    OWNER=$COMFYUI_OWNER
    if ! getent passwd "$OWNER" >/dev/null; then
        die "the ComfyUI owner '$OWNER' does not exist" "pass --comfyui-owner USER"
    fi
    [ "$OWNER" != "$SSH_USER" ] || die "the ComfyUI folder must not be owned by the SSH user $SSH_USER" \
        "the SSH user may write only models/, custom_nodes/, input/ and output/; keep ComfyUI owned by you"
    OWNER_GROUP=$(id -gn "$OWNER")
    if [ "$OWNER" = root ] && [ "$COMFYUI_SERVICE" -eq 1 ]; then
        warn "ComfyUI would run as root; pass --comfyui-owner USER to run it as an ordinary user"
    fi
}

install_comfyui() {
    [ "$INSTALL_COMFYUI" -eq 1 ] || return 0
    step "Installing ComfyUI into $COMFYUI_PATH (from $COMFYUI_REPO)"
    if [ -d "$COMFYUI_PATH/.git" ]; then
        unchanged "ComfyUI checkout present (not updated; use git pull to update)"
    else
        if [ -e "$COMFYUI_PATH" ] && [ -n "$(ls -A "$COMFYUI_PATH" 2>/dev/null)" ]; then
            die "$COMFYUI_PATH exists, is not empty and is not a git checkout" "choose an empty or new --comfyui-path"
        fi
        run git clone --quiet -- "$COMFYUI_REPO" "$COMFYUI_PATH"
        run chown -R "$OWNER:$OWNER_GROUP" "$COMFYUI_PATH"
        manifest_add comfyui-clone "$COMFYUI_PATH"
        changed "cloned ComfyUI into $COMFYUI_PATH (owned by $OWNER)"
    fi
    if [ "$DRY_RUN" -eq 0 ] && ! runuser -u "$OWNER" -- test -w "$COMFYUI_PATH"; then
        die "the ComfyUI owner $OWNER cannot write $COMFYUI_PATH" "check the permissions of its parent folders (ls -ld $(dirname "$COMFYUI_PATH"))"
    fi
    if [ -x "$COMFYUI_PATH/venv/bin/python" ]; then
        unchanged "virtual environment $COMFYUI_PATH/venv"
    else
        run runuser -u "$OWNER" -- python3 -m venv "$COMFYUI_PATH/venv"
        run runuser -u "$OWNER" -- env HOME="$COMFYUI_PATH" PIP_DISABLE_PIP_VERSION_CHECK=1 \
            "$COMFYUI_PATH/venv/bin/pip" install --no-cache-dir -q -r "$COMFYUI_PATH/requirements.txt"
        changed "created $COMFYUI_PATH/venv and installed requirements.txt"
    fi
}

check_comfyui_folder() {
    step "Checking the ComfyUI folder $COMFYUI_PATH"
    if [ ! -d "$COMFYUI_PATH" ]; then
        if [ "$DRY_RUN" -eq 1 ] && [ "$INSTALL_COMFYUI" -eq 1 ]; then
            say "  (would be created by --install-comfyui)"
            return 0
        fi
        die "ComfyUI folder $COMFYUI_PATH does not exist" "pass the folder that holds ComfyUI's main.py, or add --install-comfyui"
    fi
    if [ ! -f "$COMFYUI_PATH/main.py" ]; then
        warn "$COMFYUI_PATH has no main.py: is this really the ComfyUI folder?"
    fi
    say "  owner: $OWNER"
    local d
    for d in "${WRITABLE_DIRS[@]}"; do
        if [ -d "$COMFYUI_PATH/$d" ]; then
            continue
        fi
        run install -d -m 0755 -o "$OWNER" -g "$OWNER_GROUP" "$COMFYUI_PATH/$d"
        manifest_add comfyui-dir "$COMFYUI_PATH/$d"
        changed "created $COMFYUI_PATH/$d (owned by $OWNER)"
    done
}

# ---------------------------------------------------------------------------------------------
# user, keys, sshd instance
# ---------------------------------------------------------------------------------------------
user_home() { printf '/var/lib/%s/%s' "$TAG" "$SSH_USER"; }

ensure_user() {
    step "Dedicated user $SSH_USER"
    if getent passwd "$SSH_USER" >/dev/null; then
        if [ -f "$MANIFEST" ] && grep -Fxq -- "$(printf 'user\t%s' "$SSH_USER")" "$MANIFEST"; then
            unchanged "user $SSH_USER exists (created by an earlier run)"
        else
            die "user $SSH_USER already exists and was not created by this script" \
                "pick another name with --user, or remove that user first"
        fi
    else
        local home
        home=$(user_home)
        ensure_dir "/var/lib/$TAG" 0755 root:root
        run useradd --system --user-group --create-home --home-dir "$home" --shell /bin/sh \
            --comment "comfy-local SSH access for the ComfyUI container" "$SSH_USER"
        manifest_add user "$SSH_USER"
        changed "created system user $SSH_USER (home $home, no sudo, no password)"
    fi
    # '*' is a password no input can match: password login is impossible, while sshd (with
    # UsePAM no) still accepts the key. A '!' (locked) account would be refused by sshd.
    local field
    field=$(getent shadow "$SSH_USER" 2>/dev/null | cut -d: -f2 || true)
    if [ "$DRY_RUN" -eq 0 ] && [ "$field" != '*' ]; then
        run usermod -p '*' "$SSH_USER"
        changed "set no usable password for $SSH_USER"
    fi
}

ensure_keys() {
    step "Keys"
    ensure_dir "$AUTH_KEYS_DIR" 0755 root:root
    if [ -f "$HOST_KEY" ]; then
        unchanged "host key $HOST_KEY"
    else
        run ssh-keygen -q -t ed25519 -N '' -C "comfy-local host key ($(uname -n))" -f "$HOST_KEY"
        manifest_add file "$HOST_KEY"
        manifest_add file "$HOST_KEY.pub"
        changed "generated sshd host key $HOST_KEY"
    fi
    ensure_dir "$OUTPUT_DIR" 0755 root:root
    if [ -f "$CLIENT_KEY" ]; then
        unchanged "container key $CLIENT_KEY"
    else
        run ssh-keygen -q -t ed25519 -N '' -C "comfy-local-container@$(uname -n)" -f "$CLIENT_KEY"
        manifest_add file "$CLIENT_KEY"
        manifest_add file "$CLIENT_KEY.pub"
        changed "generated the container's key pair $CLIENT_KEY"
    fi
    if [ -n "$CLIENT_OWNER" ] && [ "$DRY_RUN" -eq 0 ] && [ "$(stat -c %u:%g "$CLIENT_KEY")" != "$CLIENT_OWNER" ]; then
        chown "$CLIENT_OWNER" "$CLIENT_KEY"
        changed "container key owned by $CLIENT_OWNER"
    fi
    local pub="<public key of $CLIENT_KEY>"
    [ ! -f "$CLIENT_KEY.pub" ] || pub=$(cat "$CLIENT_KEY.pub")
    # The key file is root-owned, so the user cannot add keys; the options limit the key to what the
    # product needs: commands, SFTP and one local forward to ComfyUI (no pty, no other forwarding).
    printf 'restrict,port-forwarding,permitopen="127.0.0.1:%s",permitopen="localhost:%s" %s\n' \
        "$COMFYUI_PORT" "$COMFYUI_PORT" "$pub" |
        write_file "$AUTH_KEYS_DIR/$SSH_USER" 0644 root:root "authorized key of $SSH_USER" || true
}

docker_gateway() {
    # "docker0 ... inet 172.17.0.1/16 ..." -> 172.17.0.1
    ip -4 -o addr show dev docker0 2>/dev/null | awk '{ split($4, a, "/"); print a[1]; exit }'
}

docker_subnets() {
    # Kernel routes of the Docker bridges (docker0 and compose networks br-*).
    ip -4 -o route show proto kernel 2>/dev/null |
        awk '$3 ~ /^(docker0|br-)/ && $1 ~ /\// { print $1 }' | sort -u
}

compute_network() {
    if [ "${#LISTEN[@]}" -eq 0 ]; then
        LISTEN=(127.0.0.1)
        local gw
        gw=$(docker_gateway || true)
        if [ -n "$gw" ]; then
            LISTEN+=("$gw")
        fi
    fi
    if [ "${#ALLOW_FROM[@]}" -eq 0 ]; then
        ALLOW_FROM=(127.0.0.0/8)
        local net
        while IFS= read -r net; do
            [ -n "$net" ] && ALLOW_FROM+=("$net")
        done < <(docker_subnets || true)
    fi
}

render_sshd_config() {
    local a
    cat <<EOF
# Generated by comfy-local's setup-local-host-linux.sh: a SEPARATE sshd instance for the ComfyUI
# container. Do not edit; re-run the script (it regenerates this file) or run it with --uninstall.
Port $PORT
EOF
    for a in "${LISTEN[@]}"; do printf 'ListenAddress %s\n' "$a"; done
    cat <<EOF
AddressFamily inet
HostKey $HOST_KEY
PidFile $PID_FILE
AuthorizedKeysFile $AUTH_KEYS_DIR/%u

# Who and how: one key-only, non-root user.
AllowUsers $SSH_USER
PermitRootLogin no
AuthenticationMethods publickey
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
HostbasedAuthentication no
PermitEmptyPasswords no
UsePAM no
StrictModes yes
MaxAuthTries 3
LoginGraceTime 30
MaxStartups 10:30:60
MaxSessions 10

# Algorithms: modern ones that libssh2 (the container's ssh2 client) also supports.
HostKeyAlgorithms ssh-ed25519
PubkeyAcceptedAlgorithms ssh-ed25519
KexAlgorithms sntrup761x25519-sha512@openssh.com,curve25519-sha256,curve25519-sha256@libssh.org
Ciphers chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,aes128-gcm@openssh.com
MACs hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com,umac-128-etm@openssh.com
Compression no

# Forwarding: only the local forward the product uses to reach ComfyUI on this host.
AllowTcpForwarding local
PermitOpen 127.0.0.1:$COMFYUI_PORT localhost:$COMFYUI_PORT
AllowStreamLocalForwarding no
AllowAgentForwarding no
X11Forwarding no
PermitTunnel no
GatewayPorts no
PermitTTY no
PermitUserEnvironment no
PermitUserRC no

# Logging: every login and every SFTP operation.
LogLevel VERBOSE
Subsystem sftp internal-sftp -l INFO -u 0022
ClientAliveInterval 30
ClientAliveCountMax 4
UseDNS no
PrintMotd no
EOF
}

ensure_sshd_config() {
    step "sshd instance config $SSHD_CONFIG (port $PORT, listening on ${LISTEN[*]})"
    SSHD_CONFIG_CHANGED=0
    if render_sshd_config | write_file "$SSHD_CONFIG" 0644 root:root "sshd config"; then
        SSHD_CONFIG_CHANGED=1
    fi
    if [ "$DRY_RUN" -eq 1 ]; then
        say "  --- $SSHD_CONFIG (would contain) ---"
        render_sshd_config | sed 's/^/  | /'
        return 0
    fi
    ensure_privsep_dir
    local out
    if ! out=$("$SSHD_BIN" -t -f "$SSHD_CONFIG" 2>&1); then
        die "sshd -t rejected $SSHD_CONFIG: $out" "see the message above; the system sshd was not touched"
    fi
    say "  sshd -t: config valid"
}

ensure_privsep_dir() {
    # sshd needs its privilege-separation directory; the system's ssh service normally creates it.
    # It belongs to the openssh package, so --uninstall leaves it.
    if [ ! -d /run/sshd ]; then
        run install -d -m 0755 -o root -g root /run/sshd
        say "  created /run/sshd (sshd's privilege-separation directory; left in place by --uninstall)"
    fi
}

# ---------------------------------------------------------------------------------------------
# permissions (ACLs)
# ---------------------------------------------------------------------------------------------
has_acl() { getfacl -p -c "$1" 2>/dev/null | grep -q -- "^$2"; }

ensure_acls() {
    step "Permissions for $SSH_USER in $COMFYUI_PATH (read everywhere, write in ${WRITABLE_DIRS[*]})"
    if [ "$DRY_RUN" -eq 1 ] && [ ! -d "$COMFYUI_PATH" ]; then
        say "  [dry-run] would grant read on $COMFYUI_PATH and write on ${WRITABLE_DIRS[*]} with setfacl"
        CHANGES=$((CHANGES + 1))
        return 0
    fi
    local u=$SSH_USER
    if has_acl "$COMFYUI_PATH" "user:$u:r-x" && has_acl "$COMFYUI_PATH" "default:user:$u:r-x"; then
        unchanged "read access to $COMFYUI_PATH"
    else
        run setfacl -R -m "u:$u:rX" "$COMFYUI_PATH"
        run find "$COMFYUI_PATH" -type d -exec setfacl -m "d:u:$u:rX" {} +
        manifest_add acl-tree "$COMFYUI_PATH" "$u"
        changed "granted $u read access to $COMFYUI_PATH (ACL, inherited by new files)"
    fi
    local d
    for d in "${WRITABLE_DIRS[@]}"; do
        local p="$COMFYUI_PATH/$d"
        [ -d "$p" ] || continue
        if has_acl "$p" "user:$u:rwx" && has_acl "$p" "default:user:$u:rwx" && has_acl "$p" "default:user:$OWNER:rwx"; then
            unchanged "write access to $p"
            continue
        fi
        run setfacl -R -m "u:$u:rwX" "$p"
        run find "$p" -type d -exec setfacl -m "d:u:$u:rwX,d:u:$OWNER:rwX" {} +
        manifest_add acl-tree "$p" "$u"
        manifest_add acl-default "$p" "$OWNER"
        changed "granted $u write access to $p (and $OWNER keeps full access to what $u uploads)"
    done
    # --no-custom-nodes after a run that granted write access: back to read-only.
    local nodes="$COMFYUI_PATH/custom_nodes"
    if [ "$CUSTOM_NODES" -eq 0 ] && [ -d "$nodes" ]; then
        if has_acl "$nodes" "user:$u:rwx" || has_acl "$nodes" "default:user:$u:rwx"; then
            run setfacl -R -m "u:$u:rX" "$nodes"
            run find "$nodes" -type d -exec setfacl -m "d:u:$u:rX" {} +
            # What the user put there is handed to the owner, or its owner could still change it.
            run find "$nodes" -user "$u" -exec chown -h "$OWNER:$OWNER_GROUP" {} +
            changed "$u may no longer write $nodes (--no-custom-nodes; what $u had put there now belongs to $OWNER)"
        else
            unchanged "no write access to $nodes (--no-custom-nodes)"
        fi
    fi
    # Every parent directory must let the user through (home folders are often 0700).
    local dir
    dir=$(dirname "$COMFYUI_PATH")
    while [ "$dir" != / ]; do
        if [ "$DRY_RUN" -eq 0 ] && ! runuser -u "$u" -- test -x "$dir"; then
            run setfacl -m "u:$u:x" "$dir"
            manifest_add acl-entry "$dir" "$u"
            changed "let $u traverse $dir (ACL u:$u:x)"
        fi
        dir=$(dirname "$dir")
    done
    if [ "$DRY_RUN" -eq 0 ]; then
        runuser -u "$u" -- test -r "$COMFYUI_PATH" -a -x "$COMFYUI_PATH" ||
            die "$u still cannot read $COMFYUI_PATH" "does the file system support ACLs? (mount option acl)"
        runuser -u "$u" -- test -w "$COMFYUI_PATH/models" ||
            die "$u cannot write $COMFYUI_PATH/models" "does the file system support ACLs? (mount option acl)"
        if runuser -u "$u" -- test -w "$COMFYUI_PATH"; then
            warn "$u can write the ComfyUI folder itself (its mode allows everyone to write): consider chmod o-w $COMFYUI_PATH"
        fi
        if [ "$CUSTOM_NODES" -eq 0 ] && [ -d "$nodes" ] && runuser -u "$u" -- test -w "$nodes"; then
            warn "$u can still write $nodes (its mode allows it): consider chmod o-w $nodes"
        fi
    fi
    warn_privileged_owner
}

# Code placed in custom_nodes/ runs as ComfyUI's owner: say so when that owner is root or can use sudo.
warn_privileged_owner() {
    [ "$CUSTOM_NODES" -eq 1 ] || return 0
    local why=""
    if [ "$OWNER" = root ] || [ "$(id -u "$OWNER" 2>/dev/null)" = 0 ]; then
        why="is root"
    elif id -nG "$OWNER" 2>/dev/null | tr ' ' '\n' | grep -qxE 'sudo|wheel|admin'; then
        why="is in the group $(id -nG "$OWNER" | tr ' ' '\n' | grep -xE 'sudo|wheel|admin' | head -n1) (sudo)"
    elif command -v sudo >/dev/null 2>&1 && sudo -n -l -U "$OWNER" 2>/dev/null | grep -q 'may run the following'; then
        why="may use sudo (sudo -l -U $OWNER)"
    fi
    if [ -n "$why" ]; then
        warn "ComfyUI's owner $OWNER $why, and code placed in custom_nodes/ runs as $OWNER: the container key can become root. Pass --no-custom-nodes, or run ComfyUI as an unprivileged user (--comfyui-owner)"
    fi
}

# ---------------------------------------------------------------------------------------------
# services
# ---------------------------------------------------------------------------------------------
SSHD_CONFIG_CHANGED=0

pid_alive() {
    local pidfile=$1 match=$2 pid
    [ -f "$pidfile" ] || return 1
    pid=$(cat "$pidfile" 2>/dev/null) || return 1
    case "$pid" in '' | *[!0-9]*) return 1 ;; esac
    kill -0 "$pid" 2>/dev/null || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -Fq -- "$match"
}

wait_for_port() {
    local port=$1 tries=${2:-50}
    while [ "$tries" -gt 0 ]; do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        sleep 0.2
        tries=$((tries - 1))
    done
    return 1
}

sshd_unit() { printf '%s-sshd.service' "$TAG"; }

render_sshd_unit() {
    cat <<EOF
# Generated by comfy-local's setup-local-host-linux.sh
[Unit]
Description=comfy-local: separate SSH server for the ComfyUI container (port $PORT)
After=network.target docker.service
EOF
    if [ "${#EGRESS_TOOLS[@]}" -gt 0 ] && [ "$EGRESS_BACKEND" = firewalld ]; then
        # The outbound rules live in firewalld: started after it, and stopped (or restarted) with
        # it, so no sshd runs while firewalld is stopped and the rules are gone.
        printf 'After=firewalld.service\nPartOf=firewalld.service\n'
    fi
    cat <<EOF

[Service]
ExecStartPre=/usr/bin/install -d -m 0755 /run/sshd
EOF
    if [ "${#EGRESS_TOOLS[@]}" -gt 0 ]; then
        printf 'ExecStartPre=/bin/sh %s apply\n' "$(systemd_quote "$EGRESS_SCRIPT")"
    fi
    cat <<EOF
ExecStartPre=$(systemd_exec_quote "$SSHD_BIN") -t -f $(systemd_quote "$SSHD_CONFIG")
ExecStart=$(systemd_exec_quote "$SSHD_BIN") -D -f $(systemd_quote "$SSHD_CONFIG")
ExecReload=$(systemd_exec_quote "$SSHD_BIN") -t -f $(systemd_quote "$SSHD_CONFIG")
ExecReload=/bin/kill -HUP \$MAINPID
Restart=on-failure
RestartSec=3

[Install]
WantedBy=multi-user.target
EOF
}

ensure_sshd_running() {
    step "Starting the sshd instance"
    if [ "$HAS_SYSTEMD" -eq 1 ]; then
        local unit unit_file
        unit=$(sshd_unit)
        unit_file="/etc/systemd/system/$unit"
        local unit_changed=0
        if render_sshd_unit | write_file "$unit_file" 0644 root:root "systemd unit $unit"; then
            unit_changed=1
            run systemctl daemon-reload
        fi
        if [ "$DRY_RUN" -eq 1 ]; then
            say "  --- $unit_file (would contain) ---"
            render_sshd_unit | sed 's/^/  | /'
        fi
        manifest_add systemd-unit "$unit"
        if [ "$DRY_RUN" -eq 0 ] && systemctl is-active --quiet "$unit" && systemctl is-enabled --quiet "$unit"; then
            if [ "$unit_changed" -eq 1 ]; then
                run systemctl restart "$unit"
                changed "restarted $unit with the new unit and config"
            elif [ "$SSHD_CONFIG_CHANGED" -eq 1 ]; then
                # The unit's ExecReload checks the config (sshd -t), then SIGHUPs the same
                # process: open sessions survive, as without systemd.
                run systemctl reload "$unit"
                sleep 0.5
                changed "reloaded sshd (pid $(systemctl show -p MainPID --value "$unit")) with the new config ($unit)"
            else
                unchanged "$unit is enabled and running"
            fi
        else
            port_free_or_die
            run systemctl enable --now "$unit"
            changed "enabled and started $unit"
        fi
    else
        manifest_add sshd-pidfile "$PID_FILE"
        if [ "$DRY_RUN" -eq 0 ] && pid_alive "$PID_FILE" "$SSHD_CONFIG"; then
            if [ "$SSHD_CONFIG_CHANGED" -eq 1 ]; then
                run kill -HUP "$(cat "$PID_FILE")"
                sleep 0.5
                changed "reloaded sshd (pid $(cat "$PID_FILE")) with the new config"
            else
                unchanged "sshd instance running (pid $(cat "$PID_FILE"), fallback mode without systemd)"
            fi
        else
            port_free_or_die
            say "  systemd is not running: starting sshd directly (pid file $PID_FILE, log $SSHD_LOG)."
            say "  It is NOT restarted after a reboot or a crash: re-run this script to start it again."
            run "$SSHD_BIN" -f "$SSHD_CONFIG" -E "$SSHD_LOG"
            manifest_add file "$SSHD_LOG"
            changed "started sshd on port $PORT"
        fi
    fi
    if [ "$DRY_RUN" -eq 0 ]; then
        wait_for_port "$PORT" 50 || die "sshd did not start listening on 127.0.0.1:$PORT" "see $SSHD_LOG or journalctl -u $(sshd_unit)"
        if [ "$HAS_SYSTEMD" -eq 0 ] && ! pid_alive "$PID_FILE" "$SSHD_CONFIG"; then
            die "sshd is not running after the start (no live process in $PID_FILE)" "see $SSHD_LOG"
        fi
        say "  listening on port $PORT"
    fi
}

# Before starting our sshd: something else on the port would answer in its place.
port_free_or_die() {
    [ "$DRY_RUN" -eq 0 ] || return 0
    if wait_for_port "$PORT" 1; then
        die "port $PORT on 127.0.0.1 is already in use by another program" \
            "choose another --port, or see which program it is: ss -ltnp 'sport = :$PORT'"
    fi
}

# ---------------------------------------------------------------------------------------------
# firewall
# ---------------------------------------------------------------------------------------------
fw_comment() { printf '%s:%s' "$TAG" "$PORT"; }

detect_firewall() {
    if [ "$FIREWALL" != auto ]; then
        printf '%s' "$FIREWALL"
        return 0
    fi
    if command -v ufw >/dev/null 2>&1 && ufw status 2>/dev/null | head -n1 | grep -q 'Status: active'; then
        printf ufw
    elif command -v firewall-cmd >/dev/null 2>&1 && firewall-cmd --state >/dev/null 2>&1; then
        printf firewalld
    elif command -v iptables >/dev/null 2>&1 && iptables -S INPUT >/dev/null 2>&1; then
        printf iptables
    else
        printf none
    fi
}

# The iptables rules, one per line, in the order they should appear in INPUT.
iptables_rules() {
    local c net
    c=$(fw_comment)
    printf -- '-i lo -p tcp --dport %s -m comment --comment %s -j ACCEPT\n' "$PORT" "$c"
    for net in "${ALLOW_FROM[@]}"; do
        [ "$net" = 127.0.0.0/8 ] && continue
        printf -- '-s %s -p tcp --dport %s -m comment --comment %s -j ACCEPT\n' "$net" "$PORT" "$c"
    done
    printf -- '-p tcp --dport %s -m comment --comment %s -j DROP\n' "$PORT" "$c"
}

ensure_firewall() {
    local fw
    fw=$(detect_firewall)
    step "Firewall ($fw): port $PORT only from ${ALLOW_FROM[*]}"
    local net rule
    case "$fw" in
        none)
            say "  SKIPPED: no active firewall found (ufw, firewalld, iptables) or --firewall none."
            say "  sshd listens only on ${LISTEN[*]}, so other machines cannot reach it unless they can"
            say "  route to those addresses; add a firewall rule yourself if this host is exposed."
            ;;
        iptables)
            need_cmd iptables
            local -a rules=()
            mapfile -t rules < <(iptables_rules)
            local i
            # Insert bottom-up at position 1 so the final order matches iptables_rules.
            for ((i = ${#rules[@]} - 1; i >= 0; i--)); do
                rule=${rules[$i]}
                # shellcheck disable=SC2086 # the rule is a list of words by design
                if iptables -C INPUT $rule 2>/dev/null; then
                    unchanged "iptables rule: $rule"
                else
                    # shellcheck disable=SC2086
                    run iptables -I INPUT 1 $rule
                    changed "iptables rule: $rule"
                fi
                manifest_add fw-iptables "$rule"
            done
            say "  note: iptables rules are not persisted across reboots by this script (use iptables-persistent or re-run)."
            ;;
        ufw)
            need_cmd ufw
            # Written in the form `ufw show added` prints them back, so a second run recognises
            # them (ufw rewrites "allow proto tcp from N to any port P" as below).
            for net in "${ALLOW_FROM[@]}"; do
                ufw_rule "allow from $net to any port $PORT proto tcp" "$(fw_comment)"
            done
            ufw_rule "deny $PORT/tcp" "$(fw_comment)"
            ;;
        firewalld)
            need_cmd firewall-cmd
            local any=0
            for net in "${ALLOW_FROM[@]}"; do
                [ "$net" = 127.0.0.0/8 ] && continue
                rule="rule family=\"ipv4\" source address=\"$net\" port port=\"$PORT\" protocol=\"tcp\" accept"
                if firewall-cmd --permanent --query-rich-rule="$rule" >/dev/null 2>&1; then
                    unchanged "firewalld rich rule: $rule"
                else
                    run firewall-cmd --permanent --add-rich-rule="$rule"
                    changed "firewalld rich rule: $rule"
                    manifest_add fw-firewalld "$rule"
                    any=1
                fi
            done
            [ "$any" -eq 0 ] || run firewall-cmd --reload
            say "  other sources stay blocked by the zone's default policy; loopback is always allowed."
            ;;
    esac
}

# ufw_rule RULE COMMENT: adds `ufw RULE comment COMMENT` unless `ufw show added` lists RULE
# already (with any comment, or none: a rule the admin had is left alone).
ufw_rule() {
    local rule=$1 comment=$2 added
    added=$(ufw show added 2>/dev/null || true)
    if grep -Fxq -- "ufw $rule" <<<"$added" || grep -Fq -- "ufw $rule comment '" <<<"$added"; then
        unchanged "ufw $rule"
    else
        # shellcheck disable=SC2086 # the rule is a list of words by design
        run ufw $rule comment "$comment"
        changed "ufw $rule comment $comment"
        # Recorded only when added here: a rule the admin had before is not ours to delete.
        manifest_add fw-ufw "$rule comment $comment"
    fi
}

# ---------------------------------------------------------------------------------------------
# outbound connections of the SSH user (iptables/ip6tables owner match on its uid)
# ---------------------------------------------------------------------------------------------
# Private and special networks: refused unless --allow-lan (LAN_*) or always (NEVER_*).
readonly LAN_NETS_V4=(10.0.0.0/8 172.16.0.0/12 192.168.0.0/16 169.254.0.0/16 100.64.0.0/10)
readonly NEVER_NETS_V4=(0.0.0.0/8 224.0.0.0/4 240.0.0.0/4)
readonly LAN_NETS_V6=(fc00::/7 fe80::/10)
readonly NEVER_NETS_V6=(ff00::/8 ::/128)
EGRESS_SCRIPT=""
EGRESS_TOOLS=()
# iptables, or firewalld when it runs: its reload and restart flush rules made with iptables, so
# there the rules are its permanent direct rules (which it puts back on every reload and start).
EGRESS_BACKEND=iptables
# The jump's direct-rule priority: the lowest firewalld accepts, so it comes first in OUTPUT.
readonly EGRESS_JUMP_PRIORITY=-2147483648

# The user's uid once it exists (getent, as ensure_user asks); its name before (dry runs).
egress_uid() {
    local uid
    uid=$(getent passwd "$SSH_USER" 2>/dev/null | cut -d: -f3)
    printf '%s' "${uid:-$SSH_USER}"
}
egress_chain() { printf 'cl-egress-%s' "$(egress_uid)"; }
egress_jump() { printf -- '-m owner --uid-owner %s -m comment --comment %s:egress -j %s' "$(egress_uid)" "$TAG" "$(egress_chain)"; }

egress_summary() {
    local s="ComfyUI's port 127.0.0.1:$COMFYUI_PORT"
    if [ "$EGRESS_INTERNET" -eq 1 ]; then s="$s, the internet (and DNS)"; fi
    if [ "$EGRESS_LAN" -eq 1 ]; then s="$s, private networks"; fi
    printf '%s' "$s"
}

# The name servers of /etc/resolv.conf of family $1 (4 or 6): downloads need DNS, which often sits
# on loopback (127.0.0.53) or the LAN router.
name_servers() {
    [ -r /etc/resolv.conf ] || return 0
    awk '$1 == "nameserver" { sub(/%.*/, "", $2); print $2 }' /etc/resolv.conf |
        while IFS= read -r ns; do
            case "$ns" in *:*) [ "$1" = 6 ] && printf '%s\n' "$ns" ;; *) [ "$1" = 4 ] && is_ipv4 "$ns" && printf '%s\n' "$ns" ;; esac
        done
    return 0
}

# egress_reject MATCH: the two rules refusing MATCH: TCP with a reset (connect fails at once with
# "connection refused", whatever the route), everything else with ICMP port unreachable.
egress_reject() {
    printf -- '%s-p tcp -j REJECT --reject-with tcp-reset\n%s-j REJECT\n' "$1" "$1"
}

# The rules of the user's chain for family $1 (4 or 6), one per line, in order. The chain only
# RETURNs (back to OUTPUT, whose own rules still apply) or REJECTs (connect fails at once).
egress_rules() {
    local fam=$1 lo net ns
    local -a lan never
    if [ "$fam" = 4 ]; then
        lo=127.0.0.1/32; lan=("${LAN_NETS_V4[@]}"); never=("${NEVER_NETS_V4[@]}")
    else
        lo=::1/128; lan=("${LAN_NETS_V6[@]}"); never=("${NEVER_NETS_V6[@]}")
    fi
    if [ "$EGRESS_INTERNET" -eq 1 ]; then
        while IFS= read -r ns; do
            [ -n "$ns" ] || continue
            printf -- '-d %s -p udp --dport 53 -j RETURN\n-d %s -p tcp --dport 53 -j RETURN\n' "$ns" "$ns"
        done < <(name_servers "$fam")
    fi
    printf -- '-o lo -d %s -p tcp --dport %s -j RETURN\n' "$lo" "$COMFYUI_PORT"
    for net in "${never[@]}"; do egress_reject "-d $net "; done
    if [ "$EGRESS_LAN" -eq 0 ]; then
        for net in "${lan[@]}"; do egress_reject "-d $net "; done
    fi
    # Every local address (loopback, the Docker gateway, the host's own LAN or public address)
    # is reached through lo: any other port on this host is refused, --allow-lan or not.
    egress_reject "-o lo "
    if [ "$EGRESS_INTERNET" -eq 0 ]; then
        if [ "$EGRESS_LAN" -eq 1 ]; then
            for net in "${lan[@]}"; do printf -- '-d %s -j RETURN\n' "$net"; done
        fi
        egress_reject ""
    fi
}

# egress_family TOOL: firewalld's name of the family iptables (ipv4) or ip6tables (ipv6) handles.
egress_family() { if [ "$1" = iptables ]; then printf ipv4; else printf ipv6; fi; }

# The firewalld direct rules of the user, as `firewall-cmd --direct --get-all-rules` prints them:
# per family, the chain's rules with increasing priorities (their order), then the jump.
egress_direct_rules() {
    local tool fam chain rule prio
    chain=$(egress_chain)
    for tool in "${EGRESS_TOOLS[@]}"; do
        fam=$(egress_family "$tool")
        prio=0
        while IFS= read -r rule; do
            printf '%s filter %s %s %s\n' "$fam" "$chain" "$prio" "$rule"
            prio=$((prio + 1))
        done < <(egress_rules "${fam#ipv}")
        printf '%s filter OUTPUT %s %s\n' "$fam" "$EGRESS_JUMP_PRIORITY" "$(egress_jump)"
    done
}

# The firewalld part of the generated script: the direct rules it wants and how it makes
# firewalld's permanent configuration and runtime hold them.
render_egress_firewalld() {
    cat <<EOF
# firewalld runs here: its reload and restart flush rules made with iptables, so the rules are
# its permanent direct rules (put back on every reload and start) and, at once, its runtime ones.
# Without firewalld running (stopped, or not started yet) they are made with iptables as above.
set -f
CHAIN=$(egress_chain)
want() {
    cat <<'RULES'
EOF
    egress_direct_rules
    cat <<'EOF'
RULES
}
# ours [--permanent]: the direct rules firewalld holds (runtime, or permanent) that are ours, sorted.
ours() {
    all=$(firewall-cmd "$@" --direct --get-all-rules) || return 1
    printf '%s\n' "$all" | awk -v c="$CHAIN" '$3 == c || ($3 == "OUTPUT" && $NF == c)' | sort
}
# sync_permanent: apply makes the permanent direct rules what want lists (stale ones removed,
# missing ones added, each chain before its rules); check tests that they are.
sync_permanent() {
    have=$(ours --permanent) || { status=1; return; }
    [ "$have" = "$(want | sort)" ] && return 0
    if [ "$mode" = check ]; then status=1; return; fi
    printf '%s\n' "$have" | while read -r f t c p r; do
        [ -n "$f" ] || continue
        want | grep -Fxq -- "$f $t $c $p $r" && continue
        firewall-cmd -q --permanent --direct --remove-rule "$f" "$t" "$c" "$p" $r || exit 1
    done || status=1
    for f in $(want | awk '{ print $1 }' | sort -u); do
        firewall-cmd --permanent --direct --query-chain "$f" filter "$CHAIN" >/dev/null 2>&1 ||
            firewall-cmd -q --permanent --direct --add-chain "$f" filter "$CHAIN" || status=1
    done
    want | while read -r f t c p r; do
        printf '%s\n' "$have" | grep -Fxq -- "$f $t $c $p $r" && continue
        firewall-cmd -q --permanent --direct --add-rule "$f" "$t" "$c" "$p" $r || exit 1
    done || status=1
}
if firewall-cmd --state >/dev/null 2>&1; then
    sync_permanent
    if [ "$mode" = check ]; then
        [ "$(ours)" = "$(want | sort)" ] || status=1
        kernel
    else
        # The runtime takes the permanent rules by a reload (when it lacks them, or the kernel
        # lost them behind firewalld's back), then the kernel is checked as with iptables.
        mode=check
        synced=$status
        if [ "$(ours)" != "$(want | sort)" ]; then firewall-cmd -q --reload || status=1; fi
        kernel
        if [ "$status" -ne 0 ] && [ "$synced" -eq 0 ]; then
            status=0
            firewall-cmd -q --reload || status=1
            kernel
        fi
    fi
else
    kernel
fi
EOF
}

render_egress_script() {
    local tool fam chain rule n
    chain=$(egress_chain)
    cat <<EOF
#!/bin/sh
# Generated by comfy-local's setup-local-host-linux.sh: limits the outbound connections of the
# SSH user $SSH_USER (uid $(egress_uid)) to $(egress_summary).
# Run by the set-up script and, with systemd, before the sshd instance starts (so the rules come
# back after a reboot). Removed by --uninstall. Usage: $EGRESS_SCRIPT apply|check
set -u
mode=\${1:-apply}
status=0
# chain TOOL CHAIN COUNT: apply creates or empties it; check tests that it holds COUNT rules.
chain() {
    if [ "\$mode" = check ]; then
        n=\$("\$1" -S "\$2" 2>/dev/null | grep -c '^-A') || n=0
        [ "\$n" = "\$3" ] || status=1
    else
        "\$1" -N "\$2" 2>/dev/null || "\$1" -F "\$2" || status=1
    fi
}
# rule TOOL CHAIN SPEC...: apply appends it; check tests that it is there.
rule() {
    tool=\$1 chain=\$2
    shift 2
    if [ "\$mode" = check ]; then
        "\$tool" -C "\$chain" "\$@" 2>/dev/null || status=1
    else
        "\$tool" -A "\$chain" "\$@" || status=1
    fi
}
# jump TOOL SPEC...: the first rule of OUTPUT sends the user's packets to its chain.
jump() {
    tool=\$1
    shift
    if "\$tool" -C OUTPUT "\$@" 2>/dev/null; then
        :
    elif [ "\$mode" = check ]; then
        status=1
    else
        "\$tool" -I OUTPUT 1 "\$@" || status=1
    fi
}
# kernel: the rules made (apply) or tested (check) with iptables; not indented, so each is a line
# of its own.
kernel() {
EOF
    for tool in "${EGRESS_TOOLS[@]}"; do
        if [ "$tool" = iptables ]; then fam=4; else fam=6; fi
        n=$(egress_rules "$fam" | wc -l)
        printf 'chain %s %s %s\n' "$tool" "$chain" "$n"
        while IFS= read -r rule; do
            printf 'rule %s %s %s\n' "$tool" "$chain" "$rule"
        done < <(egress_rules "$fam")
        printf 'jump %s %s\n' "$tool" "$(egress_jump)"
    done
    printf '}\n'
    if [ "$EGRESS_BACKEND" = firewalld ]; then
        render_egress_firewalld
    else
        printf 'kernel\n'
    fi
    # shellcheck disable=SC2016 # a line of the generated script, expanded when it runs
    printf 'exit "$status"\n'
}

# tool_works TOOL: the command exists and can read the filter table.
tool_works() { command -v "$1" >/dev/null 2>&1 && "$1" -S OUTPUT >/dev/null 2>&1; }

ensure_egress() {
    step "Outbound connections of $SSH_USER: only $(egress_summary)"
    EGRESS_SCRIPT="$STATE_DIR/egress-firewall.sh"
    EGRESS_TOOLS=()
    if tool_works iptables; then
        EGRESS_TOOLS+=(iptables)
    else
        local extra=""
        if command -v nft >/dev/null 2>&1; then extra=" (nft is present, but this script drives the iptables command: install the iptables package, which uses nftables underneath)"; fi
        warn "NO OUTBOUND RESTRICTION for $SSH_USER: iptables is missing or does not work$extra. A shell as $SSH_USER (anyone with the container key) can connect to every port on this host and to your LAN. Install iptables and re-run."
    fi
    if tool_works ip6tables; then
        EGRESS_TOOLS+=(ip6tables)
    elif [ -s /proc/net/if_inet6 ]; then
        warn "NO IPv6 OUTBOUND RESTRICTION for $SSH_USER: IPv6 is on but ip6tables is missing or does not work; $SSH_USER can reach ::1 and IPv6 LAN addresses. Install iptables (it brings ip6tables) and re-run."
    else
        say "  IPv6 is off on this host: only IPv4 needs rules"
    fi
    if [ "${#EGRESS_TOOLS[@]}" -eq 0 ]; then
        return 0
    fi
    EGRESS_BACKEND=iptables
    if command -v firewall-cmd >/dev/null 2>&1 && firewall-cmd --state >/dev/null 2>&1; then
        EGRESS_BACKEND=firewalld
        say "  firewalld runs: the rules become its permanent direct rules (a reload or restart of firewalld flushes rules made with iptables)"
    fi
    local tool fam
    for tool in "${EGRESS_TOOLS[@]}"; do
        # Recorded before they exist, so --uninstall after a failed run still removes them.
        manifest_add fw-egress-chain "$tool" "$(egress_chain)"
        manifest_add fw-egress-jump "$tool" "$(egress_jump)"
        if [ "$EGRESS_BACKEND" = firewalld ]; then
            fam=$(egress_family "$tool")
            manifest_add fw-egress-direct-chain "$fam" "$(egress_chain)"
            manifest_add fw-egress-direct-jump "$fam" "$EGRESS_JUMP_PRIORITY $(egress_jump)"
        fi
    done
    local script_changed=0
    if render_egress_script | write_file "$EGRESS_SCRIPT" 0755 root:root "outbound firewall script"; then
        script_changed=1
    fi
    if [ "$DRY_RUN" -eq 1 ]; then
        say "  --- $EGRESS_SCRIPT (would contain) ---"
        render_egress_script | sed 's/^/  | /'
        run sh "$EGRESS_SCRIPT" apply
        return 0
    fi
    if [ "$script_changed" -eq 0 ] && sh "$EGRESS_SCRIPT" check; then
        unchanged "outbound rules for $SSH_USER in place (${EGRESS_TOOLS[*]}, chain $(egress_chain))"
        return 0
    fi
    local hint
    hint="compare iptables -S $(egress_chain) and iptables -S OUTPUT with $EGRESS_SCRIPT"
    if [ "$EGRESS_BACKEND" = firewalld ]; then
        # With FirewallBackend=iptables firewalld puts direct OUTPUT rules in OUTPUT_direct, after
        # its own "-o lo -j ACCEPT": loopback would stay open, so the check refuses it.
        hint="$hint and firewall-cmd --direct --get-all-rules; firewalld must use FirewallBackend=nftables (/etc/firewalld/firewalld.conf): with iptables it accepts loopback traffic before any direct rule"
    fi
    sh "$EGRESS_SCRIPT" apply || die "applying the outbound rules for $SSH_USER failed" "see the error above; $EGRESS_SCRIPT holds the rules; $hint"
    sh "$EGRESS_SCRIPT" check || die "the outbound rules for $SSH_USER are not in place after applying them" "$hint"
    if [ "$EGRESS_BACKEND" = firewalld ]; then
        changed "outbound rules for $SSH_USER (firewalld permanent direct rules for ${EGRESS_TOOLS[*]}, chain $(egress_chain), jumped to from OUTPUT)"
        say "  note: firewalld puts them back on every reload and start; with systemd the sshd instance stops with firewalld."
    else
        changed "outbound rules for $SSH_USER (${EGRESS_TOOLS[*]}, chain $(egress_chain), jumped to from OUTPUT)"
        say "  note: with systemd they are re-applied before sshd starts; without it, re-run this script after a reboot."
    fi
}

# ---------------------------------------------------------------------------------------------
# ComfyUI service (optional)
# ---------------------------------------------------------------------------------------------
comfyui_python() {
    local p
    for p in "$COMFYUI_PATH/venv/bin/python" "$COMFYUI_PATH/.venv/bin/python"; do
        if [ -x "$p" ]; then printf '%s' "$p"; return 0; fi
    done
    return 1
}

render_comfyui_unit() {
    cat <<EOF
# Generated by comfy-local's setup-local-host-linux.sh
[Unit]
Description=comfy-local: ComfyUI on 127.0.0.1:$COMFYUI_PORT
After=network.target

[Service]
User=$OWNER
WorkingDirectory=$(systemd_path "$COMFYUI_PATH")
ExecStart=$(systemd_exec_quote "$1") main.py --listen 127.0.0.1 --port $COMFYUI_PORT
Restart=on-failure
RestartSec=5

[Install]
WantedBy=multi-user.target
EOF
}

render_comfyui_supervisor() {
    cat <<EOF
#!/bin/sh
# Generated by comfy-local's setup-local-host-linux.sh: keeps ComfyUI running (restart on exit)
# when systemd is not available. Stopped by --uninstall.
cd -- $(sh_quote "$COMFYUI_PATH") || exit 1
while :; do
    runuser -u $(sh_quote "$OWNER") -- $(sh_quote "$1") main.py --listen 127.0.0.1 --port $COMFYUI_PORT
    echo "comfy-local: ComfyUI exited with status \$?; restarting in 3 s" >&2
    sleep 3
done
EOF
}

ensure_comfyui_service() {
    [ "$COMFYUI_SERVICE" -eq 1 ] || return 0
    step "ComfyUI service (as $OWNER on 127.0.0.1:$COMFYUI_PORT)"
    local py
    py=$(comfyui_python || true)
    if [ -z "$py" ]; then
        if [ "$DRY_RUN" -eq 1 ]; then py="$COMFYUI_PATH/venv/bin/python"; else
            die "no virtual environment in $COMFYUI_PATH (venv/ or .venv/)" "create one, or use --install-comfyui"
        fi
    fi
    if [ "$HAS_SYSTEMD" -eq 1 ]; then
        local unit="$TAG-comfyui.service" changed_unit=0
        if render_comfyui_unit "$py" | write_file "/etc/systemd/system/$unit" 0644 root:root "systemd unit $unit"; then
            changed_unit=1
            run systemctl daemon-reload
        fi
        if [ "$DRY_RUN" -eq 1 ]; then
            say "  --- /etc/systemd/system/$unit (would contain) ---"
            render_comfyui_unit "$py" | sed 's/^/  | /'
        fi
        manifest_add systemd-unit "$unit"
        if [ "$DRY_RUN" -eq 0 ] && systemctl is-active --quiet "$unit" && [ "$changed_unit" -eq 0 ]; then
            unchanged "$unit running"
        else
            run systemctl enable "$unit"
            run systemctl restart "$unit"
            changed "enabled and started $unit"
        fi
    else
        local script="$STATE_DIR/comfyui-supervisor.sh" pidfile="$STATE_DIR/comfyui-supervisor.pid"
        local log="$STATE_DIR/comfyui.log" script_changed=0
        if render_comfyui_supervisor "$py" | write_file "$script" 0755 root:root "ComfyUI supervisor script"; then
            script_changed=1
        fi
        if [ "$DRY_RUN" -eq 1 ]; then
            say "  --- $script (would contain) ---"
            render_comfyui_supervisor "$py" | sed 's/^/  | /'
        fi
        manifest_add supervisor-pidfile "$pidfile"
        if [ "$DRY_RUN" -eq 0 ] && pid_alive "$pidfile" "$script" && [ "$script_changed" -eq 0 ]; then
            unchanged "ComfyUI supervised process running (pid $(cat "$pidfile"))"
        else
            if [ "$DRY_RUN" -eq 0 ] && pid_alive "$pidfile" "$script"; then
                kill -TERM -- "-$(cat "$pidfile")" 2>/dev/null || true
                sleep 1
            fi
            say "  systemd is not running: starting ComfyUI under a restart loop ($script, log $log)."
            say "  It is NOT started after a reboot: re-run this script after booting."
            if [ "$DRY_RUN" -eq 1 ]; then
                run setsid "$script"
            else
                # shellcheck disable=SC2016 # expanded by the inner sh
                setsid sh -c 'echo $$ > "$1"; exec "$2" >>"$3" 2>&1 </dev/null' sh "$pidfile" "$script" "$log" &
                manifest_add file "$pidfile"
                manifest_add file "$log"
                sleep 0.5
            fi
            changed "started ComfyUI (supervised) on 127.0.0.1:$COMFYUI_PORT"
        fi
    fi
    if [ "$DRY_RUN" -eq 0 ]; then
        if wait_for_port "$COMFYUI_PORT" 150; then
            say "  ComfyUI answers on 127.0.0.1:$COMFYUI_PORT"
        else
            die "ComfyUI did not start listening on 127.0.0.1:$COMFYUI_PORT within 30 s" "see $STATE_DIR/comfyui.log or journalctl -u $TAG-comfyui"
        fi
    fi
}

# ---------------------------------------------------------------------------------------------
# the container's files
# ---------------------------------------------------------------------------------------------
yaml_str() {
    local s=${1//\\/\\\\}
    printf '"%s"' "${s//\"/\\\"}"
}

host_pub_key() {
    if [ -f "$HOST_KEY.pub" ]; then
        awk '{ print $1, $2 }' "$HOST_KEY.pub"
    else
        printf 'ssh-ed25519 <host key generated at install>'
    fi
}

render_known_hosts() {
    local key names=("$SSH_HOST" 127.0.0.1) a n
    key=$(host_pub_key)
    for a in "${LISTEN[@]}"; do
        case " ${names[*]} " in *" $a "*) ;; *) names+=("$a") ;; esac
    done
    for n in "${names[@]}"; do
        printf '[%s]:%s %s\n' "$n" "$PORT" "$key"
    done
}

# $1: ssh host, $2: api url, $3: key file, $4: known_hosts file
render_config() {
    cat <<EOF
# local-support-config.yml, generated by comfy-local's setup-local-host-linux.sh on $(uname -n).
# Re-running the script regenerates it. Reference of every key: local-support-config.yml.example.
enabled: true
local:
  - id: local
    name: $(yaml_str "Local ComfyUI ($(uname -n))")
    ssh:
      host: $(yaml_str "$1")
      port: $PORT
      user: $(yaml_str "$SSH_USER")
      key_file: $(yaml_str "$3")
      known_hosts_file: $(yaml_str "$4")
      host_key_policy: strict
      connect_timeout_secs: 10
      command_timeout_secs: 600
      keepalive_secs: 30
    comfyui:
      path: $(yaml_str "$COMFYUI_PATH")
      api_url: $(yaml_str "$2")
    features:
      workflow_execution: true
      resource_installation: true
      custom_nodes: $([ "$CUSTOM_NODES" -eq 1 ] && echo true || echo false)
    limits:
      max_upload_mb: 20480
vastai:
  enabled: false
  api_key_env: VAST_API_KEY
EOF
}

ensure_client_files() {
    step "Files for the container in $OUTPUT_DIR"
    local owner=root:root
    [ -z "$CLIENT_OWNER" ] || owner=$CLIENT_OWNER
    render_known_hosts | write_file "$OUTPUT_DIR/known_hosts" 0644 "$owner" "known_hosts pinning the new host key" || true
    render_config "$SSH_HOST" "$API_URL" "$CONTAINER_DIR/id_ed25519" "$CONTAINER_DIR/known_hosts" |
        write_file "$OUTPUT_DIR/local-support-config.yml" 0644 "$owner" "container config" || true
    render_config 127.0.0.1 "http://127.0.0.1:$COMFYUI_PORT" "$CLIENT_KEY" "$OUTPUT_DIR/known_hosts" |
        write_file "$OUTPUT_DIR/local-support-config.host-test.yml" 0644 root:root "config for testing from this host" || true
    if [ "$DRY_RUN" -eq 1 ]; then
        say "  --- $OUTPUT_DIR/local-support-config.yml (would contain) ---"
        render_config "$SSH_HOST" "$API_URL" "$CONTAINER_DIR/id_ed25519" "$CONTAINER_DIR/known_hosts" | sed 's/^/  | /'
    fi
}

# ---------------------------------------------------------------------------------------------
# connection test
# ---------------------------------------------------------------------------------------------
connection_test() {
    [ "$SKIP_TEST" -eq 0 ] || { step "Connection test: skipped (--skip-test)"; return 0; }
    local bin=$COMFY_LOCAL_BIN
    [ -n "$bin" ] || bin=$(command -v comfy-local 2>/dev/null || true)
    local host_cfg="$OUTPUT_DIR/local-support-config.host-test.yml"
    if [ -n "$bin" ]; then
        step "Connection test with comfy-local ($bin test-connection)"
        if [ "$DRY_RUN" -eq 1 ]; then
            run "$bin" test-connection --config "$host_cfg"
            return 0
        fi
        "$bin" test-connection --config "$host_cfg" ||
            die "comfy-local test-connection failed" "see its output above; logs: $SSHD_LOG"
        say "  comfy-local test-connection: OK"
        return 0
    fi
    step "Connection test with ssh and sftp (comfy-local not found; pass --comfy-local BIN to use it)"
    local -a opts=(-F /dev/null -i "$CLIENT_KEY" -p "$PORT" -o BatchMode=yes -o IdentitiesOnly=yes
        -o StrictHostKeyChecking=yes -o "UserKnownHostsFile=$OUTPUT_DIR/known_hosts" -o ConnectTimeout=10)
    if [ "$DRY_RUN" -eq 1 ]; then
        run ssh "${opts[@]}" "$SSH_USER@127.0.0.1" true
        return 0
    fi
    ssh "${opts[@]}" "$SSH_USER@127.0.0.1" true ||
        die "ssh login as $SSH_USER on 127.0.0.1:$PORT failed" "see $SSHD_LOG (LogLevel VERBOSE)"
    say "  ssh login with the container's key and the pinned host key: OK"
    local probe=".comfy-local-write-test-$$"
    local local_file
    local_file=$(mktemp)
    local -a sftp_opts=(-F /dev/null -i "$CLIENT_KEY" -P "$PORT" -o BatchMode=yes -o IdentitiesOnly=yes
        -o StrictHostKeyChecking=yes -o "UserKnownHostsFile=$OUTPUT_DIR/known_hosts")
    if ! printf 'put "%s" "%s"\nrm "%s"\n' "$local_file" "$COMFYUI_PATH/models/$probe" "$COMFYUI_PATH/models/$probe" |
        sftp "${sftp_opts[@]}" -b - "$SSH_USER@127.0.0.1" >/dev/null; then
        rm -f "$local_file"
        die "sftp could not write into $COMFYUI_PATH/models as $SSH_USER" "check the ACLs with getfacl $COMFYUI_PATH/models"
    fi
    rm -f "$local_file"
    say "  sftp write and delete in $COMFYUI_PATH/models: OK"
    if wait_for_port "$COMFYUI_PORT" 1; then
        say "  ComfyUI port 127.0.0.1:$COMFYUI_PORT: open"
    else
        say "  ComfyUI port 127.0.0.1:$COMFYUI_PORT: not listening (start ComfyUI, or use --comfyui-service)"
    fi
}

# ---------------------------------------------------------------------------------------------
# uninstall
# ---------------------------------------------------------------------------------------------
# direct_remove rule|chain FAMILY TABLE CHAIN [PRIORITY ARGS...]: removes a firewalld direct rule,
# or a chain with its rules, from the permanent configuration and the runtime while firewalld
# runs, else from the permanent configuration with firewall-offline-cmd.
direct_remove() {
    local what=$1 desc="firewalld direct $1: ${*:2}"
    shift
    local -a cmds=()
    if command -v firewall-cmd >/dev/null 2>&1 && firewall-cmd --state >/dev/null 2>&1; then
        cmds=("firewall-cmd --permanent" firewall-cmd)
    elif command -v firewall-offline-cmd >/dev/null 2>&1; then
        cmds=(firewall-offline-cmd)
    elif command -v firewall-cmd >/dev/null 2>&1; then
        warn "firewalld is not running and firewall-offline-cmd is missing: the $desc may remain in /etc/firewalld/direct.xml"
        return 0
    else
        return 0
    fi
    local cmd
    for cmd in "${cmds[@]}"; do
        # shellcheck disable=SC2086 # "firewall-cmd --permanent" is two words by design
        if $cmd --direct "--query-$what" "$@" >/dev/null 2>&1; then
            if [ "$what" = chain ]; then
                # shellcheck disable=SC2086
                run $cmd --direct --remove-rules "$@" || true
            fi
            # shellcheck disable=SC2086
            run $cmd --direct "--remove-$what" "$@" || true
        fi
    done
    removed "$desc"
}

uninstall() {
    derive_names
    step "Uninstalling what $MANIFEST records"
    if [ ! -f "$MANIFEST" ]; then
        say "  nothing to uninstall: no manifest at $MANIFEST"
        return 0
    fi
    confirm "remove the comfy-local host set-up recorded in $MANIFEST"
    local kind a b
    # 1. processes and units
    while IFS=$'\t' read -r kind a b; do
        case "$kind" in
            supervisor-pidfile) stop_pidfile "$a" group ;;
            sshd-pidfile) stop_pidfile "$a" single ;;
            systemd-unit)
                if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
                    run systemctl disable --now "$a" || true
                fi
                run rm -f "/etc/systemd/system/$a"
                removed "unit $a"
                ;;
        esac
    done <"$MANIFEST"
    if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ] && grep -q '^systemd-unit' "$MANIFEST"; then
        run systemctl daemon-reload
    fi
    # 2. outbound rules of the user: firewalld's direct rules (jump, then chain), then with
    # iptables the jumps from OUTPUT and the emptied chains
    while IFS=$'\t' read -r kind a b; do
        # shellcheck disable=SC2086 # the rule is a list of words by design
        if [ "$kind" = fw-egress-direct-jump ]; then direct_remove rule "$a" filter OUTPUT $b; fi
    done <"$MANIFEST"
    while IFS=$'\t' read -r kind a b; do
        if [ "$kind" = fw-egress-direct-chain ]; then direct_remove chain "$a" filter "$b"; fi
    done <"$MANIFEST"
    while IFS=$'\t' read -r kind a b; do
        if [ "$kind" = fw-egress-jump ] && command -v "$a" >/dev/null 2>&1; then
            # shellcheck disable=SC2086 # the rule is a list of words by design
            if "$a" -C OUTPUT $b 2>/dev/null; then run "$a" -D OUTPUT $b; fi
            removed "$a OUTPUT rule: $b"
        fi
    done <"$MANIFEST"
    while IFS=$'\t' read -r kind a b; do
        if [ "$kind" = fw-egress-chain ] && command -v "$a" >/dev/null 2>&1 && "$a" -S "$b" >/dev/null 2>&1; then
            run "$a" -F "$b"
            run "$a" -X "$b"
            removed "$a chain $b"
        fi
    done <"$MANIFEST"
    # 3. firewall rules, ACLs, ownership of uploads, the user
    local user="" owner_of=""
    while IFS=$'\t' read -r kind a b; do
        case "$kind" in
            fw-iptables)
                # shellcheck disable=SC2086
                if iptables -C INPUT $a 2>/dev/null; then run iptables -D INPUT $a; fi
                removed "iptables rule: $a"
                ;;
            fw-ufw)
                # shellcheck disable=SC2086
                run ufw delete ${a% comment *} || true
                removed "ufw rule: $a"
                ;;
            fw-firewalld)
                run firewall-cmd --permanent --remove-rich-rule="$a" || true
                run firewall-cmd --reload || true
                removed "firewalld rule: $a"
                ;;
            acl-tree)
                if [ -e "$a" ]; then
                    run setfacl -R -x "u:$b" "$a" 2>/dev/null || true
                    run find "$a" -type d -exec setfacl -x "d:u:$b" {} + 2>/dev/null || true
                fi
                removed "ACL entries for $b under $a"
                ;;
            acl-default)
                if [ -e "$a" ]; then
                    run find "$a" -type d -exec setfacl -x "d:u:$b" {} + 2>/dev/null || true
                    run setfacl -R -x "u:$b" "$a" 2>/dev/null || true
                    owner_of=$b
                fi
                ;;
            acl-entry)
                [ ! -e "$a" ] || run setfacl -x "u:$b" "$a" 2>/dev/null || true
                removed "ACL entry u:$b from $a"
                ;;
            user) user=$a ;;
            disabled-unit)
                # The unit came with the openssh-server package this script installed; before the
                # set-up there was no system sshd, so it stays disabled.
                say "  left $a disabled (it came with the openssh-server package this script installed)"
                ;;
        esac
    done <"$MANIFEST"
    # ACLs left with nothing but a mask and base entries go back to plain permissions.
    while IFS=$'\t' read -r kind a b; do
        if [ "$kind" = acl-tree ] && [ -e "$a" ]; then acl_cleanup "$a"; fi
    done <"$MANIFEST"
    if [ -n "$user" ] && getent passwd "$user" >/dev/null; then
        # Files the container uploaded stay (models, nodes): hand them to the ComfyUI owner.
        if [ -n "$owner_of" ]; then
            while IFS=$'\t' read -r kind a b; do
                if [ "$kind" != acl-tree ] || [ ! -e "$a" ]; then continue; fi
                run find "$a" -user "$user" -exec chown -h "$owner_of:" {} +
            done <"$MANIFEST"
            say "  files uploaded by $user now belong to $owner_of"
        fi
        pkill_user "$user"
        run userdel --remove "$user" 2>/dev/null || run userdel "$user"
        removed "user $user"
    fi
    # 4. files, then directories (deepest first)
    while IFS=$'\t' read -r kind a b; do
        if [ "$kind" = file ] && [ -e "$a" ]; then
            run rm -f "$a"
            removed "$a"
        fi
    done <"$MANIFEST"
    local dirs
    dirs=$(awk -F'\t' '$1 == "dir" || $1 == "comfyui-dir" { print length($2) "\t" $1 "\t" $2 }' "$MANIFEST" | sort -rn | cut -f2-)
    while IFS=$'\t' read -r kind a; do
        if [ -z "$a" ] || [ ! -d "$a" ]; then continue; fi
        if [ "$a" = "$STATE_DIR" ]; then continue; fi
        if run rmdir "$a" 2>/dev/null; then
            removed "directory $a"
        else
            say "  kept directory $a (not empty: it holds files this script did not create)"
        fi
    done <<<"$dirs"
    if grep -q '^comfyui-clone' "$MANIFEST"; then
        say "  kept the ComfyUI checkout $(awk -F'\t' '$1 == "comfyui-clone" { print $2 }' "$MANIFEST") (it may hold your models; delete it yourself if you want)"
    fi
    if grep -q '^pkg' "$MANIFEST"; then
        say "  kept packages installed by the set-up: $(awk -F'\t' '$1 == "pkg" { printf "%s ", $2 }' "$MANIFEST")(remove them with your package manager if nothing else needs them)"
    fi
    run rm -f "$MANIFEST"
    if run rmdir "$STATE_DIR" 2>/dev/null; then
        removed "directory $STATE_DIR"
    elif [ "$DRY_RUN" -eq 0 ]; then
        say "  kept $STATE_DIR (not empty: it holds files this script did not create)"
    fi
    step "Uninstalled."
}

# Remove the ACL (setfacl -b) of every file under $1 whose ACL has no named entries left.
acl_cleanup() {
    [ "$DRY_RUN" -eq 0 ] || { run setfacl -b "(files under $1 left with only base ACL entries)"; return 0; }
    local f
    getfacl -R -p -s "$1" 2>/dev/null | awk '
        /^# file: / { if (file != "" && !named) print file; file = substr($0, 9); named = 0; next }
        /^(default:)?(user|group):[^:]+:/ { named = 1 }
        END { if (file != "" && !named) print file }' |
        while IFS= read -r f; do
            printf -v f '%b' "$f"
            setfacl -b -- "$f" 2>/dev/null || true
        done
}

removed() {
    if [ "$DRY_RUN" -eq 1 ]; then say "  would remove: $*"; else say "  removed $*"; fi
}

stop_pidfile() {
    local pidfile=$1 mode=$2 pid
    [ -f "$pidfile" ] || return 0
    pid=$(cat "$pidfile" 2>/dev/null || true)
    case "$pid" in '' | *[!0-9]*) return 0 ;; esac
    if kill -0 "$pid" 2>/dev/null; then
        if [ "$mode" = group ]; then run kill -TERM -- "-$pid" || true; else run kill -TERM "$pid" || true; fi
        local i=0
        while [ "$DRY_RUN" -eq 0 ] && kill -0 "$pid" 2>/dev/null && [ "$i" -lt 50 ]; do
            sleep 0.1
            i=$((i + 1))
        done
        removed "process $pid ($pidfile)"
    fi
    run rm -f "$pidfile"
}

pkill_user() {
    # End the user's remaining sessions (sftp, commands) so userdel succeeds.
    local pids
    pids=$(pgrep -u "$1" 2>/dev/null || true)
    if [ -n "$pids" ]; then
        # shellcheck disable=SC2086
        run kill -TERM $pids || true
        sleep 0.5
    fi
}

# ---------------------------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------------------------
confirm() {
    [ "$YES" -eq 0 ] && [ "$DRY_RUN" -eq 0 ] || return 0
    if [ ! -t 0 ]; then
        die "not asking for confirmation on a non-interactive input" "pass --yes to $1"
    fi
    local answer
    read -r -p "About to $1. Continue? [y/N] " answer
    case "$answer" in y | Y | yes | YES) ;; *) die "aborted by the user" ;; esac
}

check_root() {
    if [ "$DRY_RUN" -eq 1 ]; then
        [ "$(id -u)" -eq 0 ] || say "(dry run as a non-root user: a real run needs root)"
        return 0
    fi
    [ "$(id -u)" -eq 0 ] || die "this script must run as root" "sudo $0 $*"
}

do_install() {
    derive_names
    if [ "$COMFYUI_SERVICE" -eq 1 ] && [ "$HAS_SYSTEMD" -eq 1 ] && [[ "$COMFYUI_PATH" == *\'* ]]; then
        usage_error "--comfyui-path must not contain a single quote with --comfyui-service under systemd: systemd refuses it in the name of the program it starts ($COMFYUI_PATH/venv/bin/python); rename the folder, or run ComfyUI yourself"
    fi
    compute_network
    if [ "$DRY_RUN" -eq 1 ]; then say "DRY RUN: nothing will be changed."; fi
    say "comfy-local host set-up: ComfyUI in $COMFYUI_PATH, user $SSH_USER, port $PORT, state in $STATE_DIR"
    confirm "set up SSH access for the ComfyUI container (user $SSH_USER, port $PORT)"
    detect_platform
    step "State directory $STATE_DIR (manifest of what this script adds)"
    if [ -d "$STATE_DIR" ]; then unchanged "$STATE_DIR exists"; else ensure_dir "$STATE_DIR" 0755 root:root; fi
    ensure_packages
    resolve_owner
    install_comfyui
    check_comfyui_folder
    ensure_user
    ensure_keys
    ensure_sshd_config
    ensure_acls
    ensure_egress
    ensure_sshd_running
    ensure_firewall
    ensure_comfyui_service
    ensure_client_files
    connection_test
    step "Summary"
    if [ "$DRY_RUN" -eq 1 ]; then
        say "  dry run: $CHANGES change(s) would be made; nothing was changed."
    elif [ "$CHANGES" -eq 0 ]; then
        say "  Nothing changed: the host was already set up."
    else
        say "  $CHANGES change(s) made."
    fi
    say "  Container files: $OUTPUT_DIR/{local-support-config.yml,id_ed25519,known_hosts}"
    say "  Mount them as in docs/docker-compose.local-comfyui.yml (key and known_hosts under $CONTAINER_DIR)."
    local egress="NOT restricted" how=""
    if [ "$EGRESS_BACKEND" = firewalld ]; then how=", as firewalld direct rules"; fi
    case " ${EGRESS_TOOLS[*]-} " in
        *" iptables "*) egress="only $(egress_summary) (${EGRESS_TOOLS[*]}$how)" ;;
        *" ip6tables "*) egress="NOT restricted over IPv4 (only IPv6 has rules)" ;;
    esac
    say "  Outbound connections of $SSH_USER: $egress"
    say "  Undo everything: $0 --uninstall$([ "$STATE_DIR" != "$DEFAULT_STATE_DIR" ] && printf ' --state-dir %s' "$STATE_DIR") --yes"
    if [ "${#WARNINGS[@]}" -gt 0 ]; then
        say ""
        say "  WARNINGS (${#WARNINGS[@]}), repeated from above:"
        local w
        for w in "${WARNINGS[@]}"; do say "  ! $w"; done
    fi
}

main() {
    parse_args "$@"
    check_root "$@"
    if [ "$UNINSTALL" -eq 1 ]; then
        uninstall
    else
        do_install
    fi
}

main "$@"
