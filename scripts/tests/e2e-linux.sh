#!/usr/bin/env bash
# End-to-end test of scripts/setup-local-host-linux.sh, for real, as root, on this machine.
#
# Builds a bare git repository holding the tiny fake ComfyUI (scripts/tests/fake-comfyui), runs the
# set-up script with --install-comfyui --comfyui-service against a scratch folder (mktemp) on free
# ports, as users and in a state dir named after this run (nothing depends on what the machine
# already has: a `comfyui` user, an sshd on 22022, another e2e run at the same time), then checks: user, keys, sshd instance,
# permissions (write in models/, not elsewhere), forwarding limited to ComfyUI, a connection test
# (comfy-local test-connection when COMFY_LOCAL_BIN is set, else ssh + sftp), ssh-audit without
# fail-level findings, a second run that changes nothing, and --uninstall leaving no user, file,
# firewall rule or process behind. Only loopback addresses are used.
#
# It follows what the machine has, as the script does: under systemd (/run/systemd/system) it
# checks the units (enabled, running, `systemd-analyze verify`, restarted by systemd after a
# kill -9) instead of pid files; with ufw active or firewalld running it checks their rules
# instead of iptables'. scripts/tests/e2e-systemd.sh runs it in a booted Debian container once
# per firewall.
#
# Env: COMFY_LOCAL_BIN (comfy-local binary for test-connection), E2E_PORT, E2E_COMFYUI_PORT (fixed
# ports instead of free ones; the SSH port's +7 and +11 are used too),
# ALLOW_NO_ROOT_E2E=1 (exit 0 instead of 1 when not root; the test is then NOT run).
set -euo pipefail

PASSED=0
FAILED=0
REPO_ROOT=""
SCRIPT=""
PORT=""
CPORT=""
# Set by pick_names: per-run names, so an earlier or concurrent run, or a user of the machine,
# never collides. STATE's basename is the script's tag (units, /var/lib/TAG, firewall comments).
readonly STATE_PREFIX=/etc/comfy-local-e2e
E2E_USER=""
HALF_USER=""
STATE=""
TAG=""
WORK=""
COMFY=""
CLIENT=""
LOG=""
LISTENER=""
ROUTE_ADDED=0
SYSTEMD=0
FW=none
# A private address routed to lo for the outbound test: a packet to it never leaves the host.
readonly PRIVATE_ADDR=10.255.254.2

ok() { PASSED=$((PASSED + 1)); printf '  ok   %s\n' "$*"; }
bad() { FAILED=$((FAILED + 1)); printf '  FAIL %s\n' "$*"; }
check() {
    local desc=$1
    shift
    if "$@" >/dev/null 2>&1; then ok "$desc"; else bad "$desc"; fi
}
check_not() {
    local desc=$1
    shift
    if "$@" >/dev/null 2>&1; then bad "$desc"; else ok "$desc"; fi
}
section() { printf '\n--- %s\n' "$*"; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# q WORD: WORD quoted for the user's POSIX shell on the other end of ssh.
q() { printf "'%s'" "${1//\'/\'\\\'\'}"; }

ssh_opts() {
    printf '%s\n' -F /dev/null -i "$CLIENT/id_ed25519" -o BatchMode=yes -o IdentitiesOnly=yes \
        -o StrictHostKeyChecking=yes -o "UserKnownHostsFile=$CLIENT/known_hosts" -o ConnectTimeout=5
}

as_user() {
    local -a o
    mapfile -t o < <(ssh_opts)
    ssh "${o[@]}" -p "$PORT" "$E2E_USER@127.0.0.1" "$@"
}

require_root() {
    if [ "$(id -u)" -eq 0 ]; then
        return 0
    fi
    cat >&2 <<'EOF'
################################################################################
# E2E TEST NOT RUN: scripts/tests/e2e-linux.sh needs root (it creates a user,  #
# starts an sshd instance and changes ACLs). Run it as root, as CI does.       #
################################################################################
EOF
    if [ "${ALLOW_NO_ROOT_E2E:-0}" = 1 ]; then
        echo "ALLOW_NO_ROOT_E2E=1: exiting 0 although the e2e test did not run" >&2
        exit 0
    fi
    exit 1
}

cleanup() {
    local rc=$?
    local st
    for st in "$STATE" "$STATE-half"; do
        if [ -f "$st/manifest" ]; then
            echo "cleanup: uninstalling the leftover e2e set-up in $st" >&2
            bash "$SCRIPT" --uninstall --state-dir "$st" --yes >/dev/null 2>&1 || true
        fi
    done
    [ -z "$LISTENER" ] || kill "$LISTENER" 2>/dev/null || true
    [ "$ROUTE_ADDED" -eq 0 ] || ip route del "$PRIVATE_ADDR/32" dev lo 2>/dev/null || true
    [ -z "$WORK" ] || rm -rf "$WORK"
    exit "$rc"
}

# Runs killed before their cleanup left a state dir named after their pid: undo those whose
# process is gone (a live one belongs to a concurrent run).
sweep_stale_runs() {
    local st id
    for st in "$STATE_PREFIX" "$STATE_PREFIX"-*; do
        [ -f "$st/manifest" ] || continue
        id=${st#"$STATE_PREFIX"}
        id=${id#-}
        id=${id%%-*}
        if [ -n "$id" ] && kill -0 "$id" 2>/dev/null; then
            continue
        fi
        echo "an earlier e2e run left $st behind: uninstalling it first"
        bash "$SCRIPT" --uninstall --state-dir "$st" --yes >/dev/null
    done
}

# name_taken ID: whether a user or state dir of run ID exists already.
name_taken() {
    getent passwd "cl-e2e-$1" >/dev/null || getent passwd "cl-e2eh-$1" >/dev/null ||
        getent group "cl-e2e-$1" >/dev/null || getent group "cl-e2eh-$1" >/dev/null ||
        [ -e "$STATE_PREFIX-$1" ] || [ -e "$STATE_PREFIX-$1-half" ] || [ -e "/var/lib/comfy-local-e2e-$1" ]
}

pick_names() {
    local id=$$
    while name_taken "$id"; do
        id="$$-$RANDOM"
    done
    E2E_USER="cl-e2e-$id"
    HALF_USER="cl-e2eh-$id"
    STATE="$STATE_PREFIX-$id"
    TAG=$(basename "$STATE")
    CLIENT="$STATE/client"
}

# ports_free PORT...: nothing listens on any of them on 127.0.0.1.
ports_free() {
    local p
    for p in "$@"; do
        if port_open "$p"; then return 1; fi
    done
}

# pick_ports: E2E_PORT / E2E_COMFYUI_PORT when set (they must be free), else free ports at random
# in 20000-59999. The SSH port's +7 (local forward) and +11 (the busy port of half_way) too.
pick_ports() {
    local try
    if [ -n "${E2E_PORT:-}" ] || [ -n "${E2E_COMFYUI_PORT:-}" ]; then
        PORT=${E2E_PORT:-22122}
        CPORT=${E2E_COMFYUI_PORT:-28188}
        if ! ports_free "$PORT" "$((PORT + 7))" "$((PORT + 11))" "$CPORT"; then
            echo "port $PORT, $((PORT + 7)), $((PORT + 11)) or $CPORT is in use on 127.0.0.1; set other E2E_PORT / E2E_COMFYUI_PORT" >&2
            exit 1
        fi
        return 0
    fi
    for try in $(seq 1 50); do
        PORT=$((20000 + RANDOM % 40000))
        CPORT=$((20000 + RANDOM % 40000))
        if [ "$CPORT" -ge "$PORT" ] && [ "$CPORT" -le "$((PORT + 11))" ]; then continue; fi
        if ports_free "$PORT" "$((PORT + 7))" "$((PORT + 11))" "$CPORT"; then return 0; fi
    done
    echo "no free ports found on 127.0.0.1 after $try tries; set E2E_PORT / E2E_COMFYUI_PORT" >&2
    exit 1
}

prepare() {
    REPO_ROOT=$(cd "$(dirname "$0")/../.." && pwd)
    SCRIPT="$REPO_ROOT/scripts/setup-local-host-linux.sh"
    sweep_stale_runs
    pick_names
    pick_ports
    WORK=$(mktemp -d)
    chmod 0755 "$WORK"
    trap cleanup EXIT
    LOG="$WORK/setup.log"
    if [ -d /run/systemd/system ]; then SYSTEMD=1; fi
    FW=$(active_firewall)
    if [ "$SYSTEMD" -eq 1 ]; then
        # Spaces and %: the units must quote and escape them (systemd cannot take a ', which the
        # script refuses under systemd; $ is left to the bats tests, because the venv's own pip
        # launcher, written by Python, breaks on a $ in its path).
        COMFY="$WORK/my ComfyUI 100%"
    else
        # A single quote and spaces: the generated supervisor script (run as root) must quote it.
        COMFY="$WORK/it's my ComfyUI"
    fi
    # A bare repository with the fake ComfyUI: what --install-comfyui clones (no network).
    cp -r "$REPO_ROOT/scripts/tests/fake-comfyui" "$WORK/src"
    git -C "$WORK/src" init -q
    git -C "$WORK/src" add -A
    git -C "$WORK/src" -c user.name=e2e -c user.email=e2e@localhost commit -q -m "fake ComfyUI"
    git clone -q --bare "$WORK/src" "$WORK/ComfyUI.git"
}

# The firewall the script will find, by the same tests as its detect_firewall.
active_firewall() {
    if command -v ufw >/dev/null 2>&1 && ufw status 2>/dev/null | head -n1 | grep -q 'Status: active'; then
        echo ufw
    elif command -v firewall-cmd >/dev/null 2>&1 && firewall-cmd --state >/dev/null 2>&1; then
        echo firewalld
    elif command -v iptables >/dev/null 2>&1 && iptables -S INPUT >/dev/null 2>&1; then
        echo iptables
    else
        echo none
    fi
}

# The networks other than loopback the script admits (Docker bridges), as it computes them.
docker_nets() {
    ip -4 route show 2>/dev/null | awk '$3 ~ /^(docker0|br-)/ && $1 ~ /\// { print $1 }' | sort -u
}

# main_pid UNIT: systemd's MainPID of UNIT (0 when it is not running).
main_pid() { systemctl show -p MainPID --value "$1"; }

# comfyui_pid: the process that keeps ComfyUI running (the unit's, or the supervisor's).
comfyui_pid() {
    if [ "$SYSTEMD" -eq 1 ]; then main_pid "$TAG-comfyui.service"; else cat "$STATE/comfyui-supervisor.pid"; fi
}

check_firewall_rules() {
    local rules net
    case "$FW" in
        iptables)
            rules=$(iptables -S INPUT | grep -- "$TAG:$PORT" || true)
            check "iptables: loopback ACCEPT rule tagged $TAG:$PORT" grep -q -- '-i lo .*-j ACCEPT' <<<"$rules"
            check "iptables: DROP rule for other sources, after the ACCEPT rules" test "$(tail -n1 <<<"$rules" | grep -c -- '-j DROP')" = 1
            ;;
        ufw)
            rules=$(ufw show added)
            check "ufw: loopback allowed on $PORT, tagged $TAG:$PORT" \
                grep -qxF "ufw allow from 127.0.0.0/8 to any port $PORT proto tcp comment '$TAG:$PORT'" <<<"$rules"
            for net in $(docker_nets); do
                check "ufw: Docker network $net allowed on $PORT" \
                    grep -qxF "ufw allow from $net to any port $PORT proto tcp comment '$TAG:$PORT'" <<<"$rules"
            done
            check "ufw: every other source denied on $PORT" \
                grep -qxF "ufw deny $PORT/tcp comment '$TAG:$PORT'" <<<"$rules"
            check "ufw: the rules are live (ufw status lists port $PORT)" sh -c "ufw status | grep -q '^$PORT/tcp'"
            ;;
        firewalld)
            rules=$(firewall-cmd --list-rich-rules)
            for net in $(docker_nets); do
                check "firewalld: a live rich rule admits $net on $PORT" \
                    grep -qF "source address=\"$net\" port port=\"$PORT\" protocol=\"tcp\" accept" <<<"$rules"
            done
            check "firewalld: the rules are permanent too" \
                test "$(firewall-cmd --permanent --list-rich-rules | grep -c "port=\"$PORT\"")" = "$(grep -c "port=\"$PORT\"" <<<"$rules")"
            check_not "firewalld: port $PORT is not opened to every source" sh -c "firewall-cmd --list-ports | grep -qw '$PORT/tcp'"
            ;;
        none)
            echo "  (no usable iptables/ufw/firewalld: firewall step skipped by the script, as it says)"
            ;;
    esac
}

check_firewall_removed() {
    case "$FW" in
        iptables) check_not "no iptables rule tagged $TAG remains" sh -c "iptables -S INPUT | grep -q -- '$TAG:'" ;;
        ufw) check_not "no ufw rule tagged $TAG remains" sh -c "ufw show added | grep -q -- '$TAG:'" ;;
        firewalld)
            check_not "no firewalld rule for port $PORT remains (live)" sh -c "firewall-cmd --list-rich-rules | grep -q 'port=\"$PORT\"'"
            check_not "no firewalld rule for port $PORT remains (permanent)" sh -c "firewall-cmd --permanent --list-rich-rules | grep -q 'port=\"$PORT\"'"
            ;;
        none) ;;
    esac
}

check_units() {
    [ "$SYSTEMD" -eq 1 ] || return 0
    section "systemd units"
    local unit
    for unit in "$TAG-sshd.service" "$TAG-comfyui.service"; do
        check "$unit is enabled" systemctl is-enabled --quiet "$unit"
        check "$unit is running" systemctl is-active --quiet "$unit"
        check "systemd-analyze verify accepts $unit" systemd-analyze verify "/etc/systemd/system/$unit"
    done
    check "ComfyUI's unit runs it as its owner (nobody)" test "$(ps -o user= -p "$(main_pid "$TAG-comfyui.service")")" = nobody
    check "ComfyUI's unit starts it in the folder with spaces and %" \
        test "$(readlink "/proc/$(main_pid "$TAG-comfyui.service")/cwd")" = "$COMFY"
    local before after _ chain
    chain="cl-egress-$(id -u "$E2E_USER")"
    # Empty the outbound chain (as a reboot would): the unit's ExecStartPre must fill it again.
    iptables -F "$chain"
    before=$(main_pid "$TAG-sshd.service")
    kill -9 "$before"
    for _ in $(seq 1 100); do
        after=$(main_pid "$TAG-sshd.service")
        if [ "$after" != 0 ] && [ "$after" != "$before" ] && port_open "$PORT"; then break; fi
        sleep 0.1
    done
    check "Restart=on-failure: systemd restarts sshd after a kill -9 (pid $before -> $after)" \
        sh -c "[ '$after' != 0 ] && [ '$after' != '$before' ]"
    check "the restarted sshd listens on $PORT" port_open "$PORT"
    check "the restart re-applied the emptied outbound rules first (ExecStartPre)" \
        sh -c "iptables -S '$chain' | grep -q -- '-j REJECT'"
}

setup_args() {
    printf '%s\n' --comfyui-path "$COMFY" --install-comfyui --comfyui-repo "file://$WORK/ComfyUI.git" \
        --comfyui-service --comfyui-owner nobody --comfyui-port "$CPORT" --port "$PORT" \
        --user "$E2E_USER" --state-dir "$STATE" --yes
    if [ -n "${COMFY_LOCAL_BIN:-}" ]; then
        printf '%s\n' --comfy-local "$COMFY_LOCAL_BIN"
    fi
}

first_run() {
    section "first run (install)"
    local -a args
    mapfile -t args < <(setup_args)
    local start=$SECONDS
    if bash "$SCRIPT" "${args[@]}" >"$LOG" 2>&1; then
        ok "set-up script exits 0 ($((SECONDS - start)) s)"
    else
        bad "set-up script exits 0"
        cat "$LOG"
        exit 1
    fi
    grep -E '^==> (Firewall|Connection test)' "$LOG" | sed 's/^/  (script) /'
    grep -E 'SKIPPED|iptables rule' "$LOG" | sed 's/^/  (script) /' || true
}

check_install() {
    section "what the first run set up"
    check "user $E2E_USER exists" getent passwd "$E2E_USER"
    check "user has no usable password ('*')" test "$(getent shadow "$E2E_USER" | cut -d: -f2)" = '*'
    check "user is in no group but its own" test "$(id -nG "$E2E_USER")" = "$E2E_USER"
    check "sshd pid file points to a live process" kill -0 "$(cat "$STATE/sshd.pid")"
    check "sshd listens on 127.0.0.1:$PORT" port_open "$PORT"
    check "ComfyUI (fake, supervised) listens on 127.0.0.1:$CPORT" port_open "$CPORT"
    check "client key is mode 600" test "$(stat -c %a "$CLIENT/id_ed25519")" = 600
    check "authorized_keys is root-owned" test "$(stat -c %U "$STATE/authorized_keys/$E2E_USER")" = root
    check "known_hosts pins the host key for host.docker.internal" \
        grep -q "^\[host.docker.internal\]:$PORT ssh-ed25519 $(awk '{print $2}' "$STATE/ssh_host_ed25519_key.pub")" "$CLIENT/known_hosts"
    check "config names the user, port and key" \
        grep -q "port: $PORT" "$CLIENT/local-support-config.yml"
    check_not "config sets no comfyui.python (removed: nothing used it)" grep -q "python:" "$CLIENT/local-support-config.yml"
    local t
    t=$(sshd -T -f "$STATE/sshd_config" 2>/dev/null)
    check "sshd -T: password authentication off" grep -qx 'passwordauthentication no' <<<"$t"
    check "sshd -T: root login off" grep -qx 'permitrootlogin no' <<<"$t"
    check "sshd -T: only local TCP forwarding" grep -qx 'allowtcpforwarding local' <<<"$t"
    check "sshd -T: PermitOpen limited to ComfyUI" grep -qx "permitopen 127.0.0.1:$CPORT localhost:$CPORT" <<<"$t"
    check "sshd -T: agent and X11 forwarding off" grep -qx 'allowagentforwarding no' <<<"$t"
    check "sshd -T: sftp subsystem logs" grep -q 'subsystem sftp internal-sftp -l INFO' <<<"$t"
    check_firewall_rules

    section "permissions and forwarding, as the container would use them"
    check "ssh login with the container key and pinned host key" as_user true
    check "the user can write models/" as_user "touch $(q "$COMFY/models/checkpoints/e2e.safetensors")"
    check "the user can write custom_nodes/" as_user "mkdir $(q "$COMFY/custom_nodes/e2e_node")"
    check_not "the user cannot write main.py" as_user "touch $(q "$COMFY/main.py")"
    check_not "the user cannot create files in the ComfyUI root" as_user "touch $(q "$COMFY/e2e-should-fail")"
    check "the user can read main.py" as_user "head -c1 $(q "$COMFY/main.py")"
    local -a o
    mapfile -t o < <(ssh_opts)
    check_not "root cannot log in with the container key" ssh "${o[@]}" -p "$PORT" root@127.0.0.1 true
    check "sftp put + rm in models/" sftp_roundtrip
    check "local forward to ComfyUI works (system_stats through the tunnel)" forward_to "$CPORT" /system_stats
    check_not "local forward to another port is refused" forward_to "$PORT" /
    check_egress
}

# as_user_connect HOST PORT EXPECT: as the user, a TCP connect to HOST:PORT ends as EXPECT
# (connected, refused).
as_user_connect() {
    as_user python3 - "$1" "$2" "$3" <<'EOF'
import socket, sys
s = socket.socket()
s.settimeout(3)
try:
    s.connect((sys.argv[1], int(sys.argv[2])))
    r = "connected"
except ConnectionRefusedError:
    r = "refused"
except OSError as e:
    r = "other: %s" % e
print(r)
sys.exit(0 if r == sys.argv[3] else 1)
EOF
}

# reject_count CHAIN NET: packets the chain's REJECT rules for destination NET have refused.
reject_count() {
    iptables -L "$1" -n -v -x | awk -v net="$2" '$3 == "REJECT" && $9 == net { n += $1 } END { print n + 0 }'
}

check_egress() {
    section "outbound connections of the user (iptables owner match on its uid)"
    if ! iptables -S OUTPUT >/dev/null 2>&1; then
        bad "iptables works here (needed to prove the outbound rules; scripts/dev/install-test-deps.sh installs it)"
        return 0
    fi
    local uid chain before after
    uid=$(id -u "$E2E_USER")
    chain="cl-egress-$uid"
    check "OUTPUT sends uid $uid to $chain" \
        iptables -C OUTPUT -m owner --uid-owner "$uid" -m comment --comment "$TAG:egress" -j "$chain"
    if ip6tables -S OUTPUT >/dev/null 2>&1; then
        check "ip6tables: OUTPUT sends uid $uid to $chain" \
            ip6tables -C OUTPUT -m owner --uid-owner "$uid" -m comment --comment "$TAG:egress" -j "$chain"
    fi
    if [ "$FW" = firewalld ]; then
        check "firewalld: the jump is a permanent direct rule (first in OUTPUT: lowest priority)" \
            firewall-cmd --permanent --direct --query-rule ipv4 filter OUTPUT -2147483648 \
            -m owner --uid-owner "$uid" -m comment --comment "$TAG:egress" -j "$chain"
        check "firewalld: the chain's rules are permanent direct rules too (as many as in the kernel)" \
            test "$(firewall-cmd --permanent --direct --get-rules ipv4 filter "$chain" | wc -l)" = "$(iptables -S "$chain" | grep -c '^-A')"
    fi
    egress_probes ""
    if [ "$FW" = firewalld ]; then
        firewall-cmd -q --reload
        check "firewalld: after firewall-cmd --reload OUTPUT still sends uid $uid to $chain" \
            iptables -C OUTPUT -m owner --uid-owner "$uid" -m comment --comment "$TAG:egress" -j "$chain"
        egress_probes " (after firewall-cmd --reload)"
        if [ "$SYSTEMD" -eq 1 ]; then firewalld_restart; fi
    fi
    if ip route add "$PRIVATE_ADDR/32" dev lo 2>/dev/null; then
        ROUTE_ADDED=1
        before=$(reject_count "$chain" 10.0.0.0/8)
        check "the user is refused a private address ($PRIVATE_ADDR, routed to lo: nothing leaves the host)" \
            as_user_connect "$PRIVATE_ADDR" 9 refused
        after=$(reject_count "$chain" 10.0.0.0/8)
        check "... by the 10.0.0.0/8 REJECT rules (their counter went from $before to $after)" test "${after:-0}" -gt "${before:-0}"
        ip route del "$PRIVATE_ADDR/32" dev lo
        ROUTE_ADDED=0
    else
        bad "adding a route for $PRIVATE_ADDR to lo (needed to test a private address without leaving the host)"
    fi
}

# egress_probes SUFFIX: as the user, ComfyUI's port is reached, another loopback port (a
# listener of root's) and the sshd port are refused.
egress_probes() {
    local lport=$((PORT + 13)) _
    python3 -c 'import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(16); time.sleep(120)' "$lport" &
    LISTENER=$!
    for _ in $(seq 1 30); do port_open "$lport" && break; sleep 0.1; done
    check "control: root reaches a listener on 127.0.0.1:$lport$1" port_open "$lport"
    check "the user reaches ComfyUI's port 127.0.0.1:$CPORT$1" as_user_connect 127.0.0.1 "$CPORT" connected
    check "the user is refused the listener on another loopback port ($lport)$1" as_user_connect 127.0.0.1 "$lport" refused
    check "the user is refused the sshd port on loopback ($PORT)$1" as_user_connect 127.0.0.1 "$PORT" refused
    kill "$LISTENER" 2>/dev/null || true
    wait "$LISTENER" 2>/dev/null || true
    LISTENER=""
}

# wait_sshd: the sshd unit has a (new) process listening on PORT, within 15 s.
wait_sshd() {
    local _
    for _ in $(seq 1 150); do
        if systemctl is-active --quiet "$TAG-sshd.service" && port_open "$PORT"; then return 0; fi
        sleep 0.1
    done
    return 1
}

# firewalld_restart: the outbound rules come back with firewalld, and the sshd instance (PartOf
# firewalld) stops while firewalld is stopped.
firewalld_restart() {
    local uid chain
    uid=$(id -u "$E2E_USER")
    chain="cl-egress-$uid"
    systemctl restart firewalld.service
    check "firewalld: systemctl restart firewalld restarts the sshd instance with it (PartOf)" wait_sshd
    check "firewalld: after a restart of firewalld OUTPUT still sends uid $uid to $chain" \
        iptables -C OUTPUT -m owner --uid-owner "$uid" -m comment --comment "$TAG:egress" -j "$chain"
    egress_probes " (after systemctl restart firewalld)"
    systemctl stop firewalld.service
    check_not "firewalld: stopping firewalld (which drops the rules) stops the sshd instance too" \
        systemctl is-active --quiet "$TAG-sshd.service"
    check_not "firewalld: ... and nothing listens on $PORT" port_open "$PORT"
    systemctl start firewalld.service
    systemctl start "$TAG-sshd.service"
    check "firewalld: started again, then the sshd instance" wait_sshd
    egress_probes " (after firewalld stop and start)"
}

sftp_roundtrip() {
    local f="$WORK/upload.bin"
    local -a o
    head -c 100000 /dev/urandom >"$f"
    mapfile -t o < <(ssh_opts)
    printf 'put "%s" "%s"\nrm "%s"\n' "$f" "$COMFY/models/e2e-upload.bin" "$COMFY/models/e2e-upload.bin" |
        sftp "${o[@]}" -P "$PORT" -b - "$E2E_USER@127.0.0.1"
}

# Open an ssh -L forward to 127.0.0.1:$1 and fetch $2 through it.
forward_to() {
    local target=$1 path=$2 lport=$((PORT + 7)) pid rc=1
    local -a o
    mapfile -t o < <(ssh_opts)
    ssh "${o[@]}" -o ExitOnForwardFailure=yes -N -L "127.0.0.1:$lport:127.0.0.1:$target" \
        -p "$PORT" "$E2E_USER@127.0.0.1" &
    pid=$!
    for _ in $(seq 1 30); do
        port_open "$lport" && break
        sleep 0.1
    done
    if python3 - "$lport" "$path" <<'EOF'; then rc=0; fi
import sys, urllib.request
with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}{sys.argv[2]}", timeout=5) as r:
    body = r.read()
    assert r.status == 200 and body, body
EOF
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    return "$rc"
}

connection_test() {
    section "connection test"
    if [ -n "${COMFY_LOCAL_BIN:-}" ]; then
        echo "  using comfy-local: $COMFY_LOCAL_BIN test-connection --config $CLIENT/local-support-config.host-test.yml"
        check "comfy-local config check accepts the generated container config" \
            "$COMFY_LOCAL_BIN" config check "$CLIENT/local-support-config.yml"
        check "comfy-local config check accepts the generated host-test config" \
            "$COMFY_LOCAL_BIN" config check "$CLIENT/local-support-config.host-test.yml"
        check "comfy-local test-connection with the generated config" \
            "$COMFY_LOCAL_BIN" test-connection --config "$CLIENT/local-support-config.host-test.yml"
    else
        echo "  COMFY_LOCAL_BIN not set: using the ssh + sftp fallback (not comfy-local test-connection)"
        check "ssh fallback: ssh ... true" as_user true
        check "ssh fallback: sftp write access to models/" sftp_roundtrip
    fi
    check "the script's own connection test ran and passed" grep -q -E '(sftp write and delete in .*: OK|comfy-local test-connection: OK)' "$LOG"
}

audit() {
    section "ssh-audit"
    if python3 "$REPO_ROOT/scripts/tests/ssh_audit_check.py" "$PORT" 127.0.0.1 >"$WORK/audit.txt" 2>&1; then
        ok "ssh-audit: no fail-level finding"
    else
        bad "ssh-audit: fail-level findings"
    fi
    sed 's/^/  /' "$WORK/audit.txt"
}

second_run() {
    section "second run (must change nothing)"
    local before after pid_before
    before=$(find "$STATE" "$CLIENT" -type f ! -name '*.log' ! -name manifest -exec sha256sum {} + | sort)
    pid_before=$(cat "$STATE/sshd.pid")
    local -a args
    mapfile -t args < <(setup_args)
    if bash "$SCRIPT" "${args[@]}" >"$WORK/second.log" 2>&1; then ok "second run exits 0"; else
        bad "second run exits 0"
        cat "$WORK/second.log"
    fi
    check "second run says nothing changed" grep -q 'Nothing changed: the host was already set up.' "$WORK/second.log"
    check_not "second run reports no change" grep -q '  changed:' "$WORK/second.log"
    after=$(find "$STATE" "$CLIENT" -type f ! -name '*.log' ! -name manifest -exec sha256sum {} + | sort)
    check "no file content changed" test "$before" = "$after"
    check "same sshd process" test "$pid_before" = "$(cat "$STATE/sshd.pid")"
}

changed_run() {
    section "third run with an extra --listen address, --no-custom-nodes and --no-internet (sshd reloaded in place)"
    local pid_before
    pid_before=$(cat "$STATE/sshd.pid")
    local -a args
    mapfile -t args < <(setup_args)
    if bash "$SCRIPT" "${args[@]}" --listen 127.0.0.1 --listen 127.0.0.2 --no-custom-nodes --no-internet >"$WORK/third.log" 2>&1; then
        ok "third run exits 0"
    else
        bad "third run exits 0"
        cat "$WORK/third.log"
    fi
    check "third run reports the sshd config change" grep -q 'changed: wrote sshd config' "$WORK/third.log"
    check "third run reloads sshd (same pid, SIGHUP)" grep -q "changed: reloaded sshd (pid $pid_before)" "$WORK/third.log"
    check "sshd now listens on 127.0.0.2:$PORT too" bash -c "exec 3<>/dev/tcp/127.0.0.2/$PORT"
    check "known_hosts gained [127.0.0.2]:$PORT" grep -q "^\[127.0.0.2\]:$PORT " "$CLIENT/known_hosts"
    check "--no-custom-nodes: the run reports the write access taken away" grep -q "may no longer write .*custom_nodes (--no-custom-nodes" "$WORK/third.log"
    check_not "--no-custom-nodes: the user cannot create a folder in custom_nodes/" as_user "mkdir $(q "$COMFY/custom_nodes/e2e_node2")"
    check_not "--no-custom-nodes: the user cannot write into the node folder it had created" as_user "touch $(q "$COMFY/custom_nodes/e2e_node/x.py")"
    check "--no-custom-nodes: the user can still write models/" as_user "touch $(q "$COMFY/models/e2e-after.bin")"
    check "--no-custom-nodes: the generated config sets features.custom_nodes: false" grep -q "custom_nodes: false" "$CLIENT/local-support-config.yml"
    check "the script's connection test passed with custom_nodes off" grep -q -E '(sftp write and delete in .*: OK|comfy-local test-connection: OK)' "$WORK/third.log"
    local chain
    chain="cl-egress-$(id -u "$E2E_USER")"
    check "--no-internet: the run rewrote the outbound rules" grep -q "changed: outbound rules for $E2E_USER" "$WORK/third.log"
    check "--no-internet: the chain now ends with a REJECT of everything" \
        test "$(iptables -S "$chain" | tail -n1)" = "-A $chain -j REJECT --reject-with icmp-port-unreachable"
    check_not "--no-internet: no DNS exception is left" sh -c "iptables -S '$chain' | grep -q -- '--dport 53'"
    if [ "$FW" = firewalld ]; then
        check_not "--no-internet: no DNS exception is left in firewalld's permanent direct rules" \
            sh -c "firewall-cmd --permanent --direct --get-rules ipv4 filter '$chain' | grep -q -- '--dport 53'"
        check "--no-internet: firewalld's permanent rules end with the REJECT of everything too" \
            test "$(firewall-cmd --permanent --direct --get-rules ipv4 filter "$chain" | sort -n | tail -n1 | cut -d' ' -f2-)" = "-j REJECT"
    fi
    check "--no-internet: the user still reaches ComfyUI's port" as_user_connect 127.0.0.1 "$CPORT" connected
}

uninstall() {
    section "--uninstall"
    local uid sshd_pid sup_pid fw_before
    uid=$(id -u "$E2E_USER")
    sshd_pid=$(cat "$STATE/sshd.pid")
    sup_pid=$(comfyui_pid)
    fw_before=$(grep -c '^fw-' "$STATE/manifest" || true)
    if bash "$SCRIPT" --uninstall --state-dir "$STATE" --yes >"$WORK/uninstall.log" 2>&1; then
        ok "uninstall exits 0"
    else
        bad "uninstall exits 0"
        cat "$WORK/uninstall.log"
    fi
    check_not "user $E2E_USER is gone" getent passwd "$E2E_USER"
    check_not "group $E2E_USER is gone" getent group "$E2E_USER"
    check_not "state dir $STATE is gone" test -e "$STATE"
    check_not "user home /var/lib/$TAG is gone" test -e "/var/lib/$TAG"
    check_not "sshd process is gone" kill -0 "$sshd_pid"
    check_not "ComfyUI supervisor (or unit's process) is gone" kill -0 "$sup_pid"
    if [ "$SYSTEMD" -eq 1 ]; then
        check_not "unit file $TAG-sshd.service is gone" test -e "/etc/systemd/system/$TAG-sshd.service"
        check_not "unit file $TAG-comfyui.service is gone" test -e "/etc/systemd/system/$TAG-comfyui.service"
        check_not "systemd no longer knows $TAG-sshd.service" sh -c "systemctl list-unit-files '$TAG-*' | grep -q '$TAG-'"
    fi
    check_not "nothing listens on $PORT" port_open "$PORT"
    check_not "nothing listens on $CPORT" port_open "$CPORT"
    check_not "no process of uid $uid remains" pgrep -u "$uid"
    # shellcheck disable=SC2016 # expanded by the inner sh
    check_not "no ACL entry for uid $uid remains" sh -c 'getfacl -R -p -n "$1" 2>/dev/null | grep -q ":$2:"' sh "$COMFY" "$uid"
    # shellcheck disable=SC2016 # expanded by the inner sh
    check_not "no file owned by uid $uid remains" sh -c 'find "$1" -uid "$2" | grep -q .' sh "$COMFY" "$uid"
    check "the uploaded model was kept for the ComfyUI owner" test "$(stat -c %U "$COMFY/models/checkpoints/e2e.safetensors")" = nobody
    check_firewall_removed
    if [ "$FW" = firewalld ]; then
        check_not "no firewalld direct rule for cl-egress-$uid remains (permanent)" \
            sh -c "firewall-cmd --permanent --direct --get-all-rules | grep -q -- 'cl-egress-$uid'"
        check_not "no firewalld direct rule for cl-egress-$uid remains (runtime)" \
            sh -c "firewall-cmd --direct --get-all-rules | grep -q -- 'cl-egress-$uid'"
        check_not "no firewalld direct chain cl-egress-$uid remains" \
            sh -c "firewall-cmd --permanent --direct --get-all-chains | grep -q -- 'cl-egress-$uid'"
    fi
    if command -v iptables >/dev/null 2>&1 && iptables -S INPUT >/dev/null 2>&1; then
        check_not "no OUTPUT rule for uid $uid remains (iptables)" sh -c "iptables -S OUTPUT | grep -q -- '--uid-owner $uid '"
        check_not "no chain cl-egress-$uid remains (iptables)" iptables -S "cl-egress-$uid"
        if ip6tables -S OUTPUT >/dev/null 2>&1; then
            check_not "no OUTPUT rule for uid $uid remains (ip6tables)" sh -c "ip6tables -S OUTPUT | grep -q -- '--uid-owner $uid '"
            check_not "no chain cl-egress-$uid remains (ip6tables)" ip6tables -S "cl-egress-$uid"
        fi
        echo "  (iptables was present: $fw_before rule(s) had been added and were removed)"
    else
        echo "  firewall: no usable ufw/firewalld/iptables here, so the script skipped the firewall step"
        echo "  (the rule logic is covered by the bats tests with stub commands)"
    fi
}

half_way() {
    section "a run that fails half-way (port taken), then --uninstall"
    local busy=$((PORT + 11)) state="$STATE-half" user=$HALF_USER listener
    python3 -c 'import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(); time.sleep(60)' "$busy" &
    listener=$!
    local _
    for _ in $(seq 1 30); do port_open "$busy" && break; sleep 0.1; done
    mkdir -p "$WORK/half"
    cp -r "$REPO_ROOT/scripts/tests/fake-comfyui" "$WORK/half/ComfyUI"
    chown -R nobody:nogroup "$WORK/half/ComfyUI"
    if bash "$SCRIPT" --comfyui-path "$WORK/half/ComfyUI" --port "$busy" --user "$user" --state-dir "$state" \
        --firewall none --yes >"$WORK/half.log" 2>&1; then
        bad "the run fails when the port is taken"
    else
        ok "the run fails when the port is taken"
    fi
    check "it says the port is in use" grep -q "port $busy on 127.0.0.1 is already in use" "$WORK/half.log"
    kill "$listener" 2>/dev/null || true
    wait "$listener" 2>/dev/null || true
    local uid
    uid=$(id -u "$user")
    check "the half-way run had granted $user access (ACL) before failing" \
        sh -c "getfacl -R -p -n '$WORK/half/ComfyUI' 2>/dev/null | grep -q ':$uid:'"
    check "--uninstall of the half-way set-up exits 0" bash "$SCRIPT" --uninstall --state-dir "$state" --yes
    check_not "its user is gone" getent passwd "$user"
    check_not "its state dir is gone" test -e "$state"
    check_not "no ACL entry for uid $uid remains" sh -c "getfacl -R -p -n '$WORK/half/ComfyUI' 2>/dev/null | grep -q ':$uid:'"
    check_not "no OUTPUT rule for uid $uid remains" sh -c "iptables -S OUTPUT 2>/dev/null | grep -q -- '--uid-owner $uid '"
    check_not "no chain cl-egress-$uid remains" iptables -S "cl-egress-$uid"
    if [ "$FW" = firewalld ]; then
        check_not "no firewalld direct rule for cl-egress-$uid remains (permanent)" \
            sh -c "firewall-cmd --permanent --direct --get-all-rules | grep -q -- 'cl-egress-$uid'"
    fi
}

main() {
    require_root
    prepare
    echo "e2e: set-up script against $COMFY, ssh port $PORT, ComfyUI port $CPORT"
    first_run
    check_install
    check_units
    connection_test
    audit
    second_run
    changed_run
    uninstall
    half_way
    printf '\ne2e-linux: %d passed, %d failed\n' "$PASSED" "$FAILED"
    [ "$FAILED" -eq 0 ]
}

main "$@"
