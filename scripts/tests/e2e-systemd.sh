#!/usr/bin/env bash
# The set-up script's systemd, ufw and firewalld paths, for real: scripts/tests/e2e-linux.sh run
# inside a booted Debian 12 container (systemd as PID 1, systemd-nspawn --boot) with a network
# namespace of its own, once per firewall: iptables (nothing else active), ufw (enabled) and
# firewalld (running; the outbound rules are its direct rules, and the test proves they hold
# across firewall-cmd --reload and a restart of firewalld). A dummy docker0 bridge gives the
# script a Docker network to admit, so the firewall rules have a source to allow besides loopback.
#
# The container's root file system is made once with debootstrap (about 4 minutes, from the
# Debian mirror of this machine's apt sources) and kept in E2E_ROOTFS (default
# /var/cache/comfy-local-e2e/bookworm); every run works on a throw-away copy of it (the
# --ephemeral snapshot of systemd-nspawn), so nothing of one run reaches the next, and nothing
# reaches this machine: the container has its own network namespace, users and /etc.
#
# Needs root, debootstrap and systemd-nspawn (scripts/dev/test-scripts.sh installs them).
# ALLOW_NO_ROOT_E2E=1: exit 0, saying so, when not root (the test then does NOT run).
# Env: COMFY_LOCAL_BIN (comfy-local, bind-mounted into the container for the connection test),
# E2E_ROOTFS, E2E_FIREWALLS (default "iptables ufw firewalld"), E2E_MIRROR (Debian mirror URL).
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "$0")/../.." && pwd)
ROOTFS=${E2E_ROOTFS:-/var/cache/comfy-local-e2e/bookworm}
FIREWALLS=${E2E_FIREWALLS:-iptables ufw firewalld}
# What e2e-linux.sh and the set-up script use inside, plus the firewalls and a Python for
# ssh-audit. ssh-audit comes from PyPI, pinned as in scripts/dev/test-scripts.sh.
readonly PACKAGES=systemd,systemd-sysv,libpam-systemd,dbus,openssh-server,openssh-client,iptables,ufw,firewalld,python3,python3-venv,git,acl,procps,iproute2,sudo,ca-certificates,kmod
readonly SSH_AUDIT=ssh-audit==3.9.0

die() {
    echo "e2e-systemd: $*" >&2
    exit 1
}

require() {
    if [ "$(id -u)" -ne 0 ]; then
        cat >&2 <<'EOF'
################################################################################
# E2E SYSTEMD TEST NOT RUN: scripts/tests/e2e-systemd.sh needs root (it boots  #
# a container). Run it as root, as CI does.                                    #
################################################################################
EOF
        if [ "${ALLOW_NO_ROOT_E2E:-0}" = 1 ]; then
            echo "ALLOW_NO_ROOT_E2E=1: exiting 0 although the e2e systemd test did not run" >&2
            exit 0
        fi
        exit 1
    fi
    command -v debootstrap >/dev/null || die "debootstrap is missing (apt-get install debootstrap)"
    command -v systemd-nspawn >/dev/null || die "systemd-nspawn is missing (apt-get install systemd-container)"
}

# The mirror of this machine's Debian sources (deb822 or one-line format).
mirror() {
    if [ -n "${E2E_MIRROR:-}" ]; then
        echo "$E2E_MIRROR"
        return
    fi
    local m
    m=$(grep -hoE '^URIs: *http[^ ]*/debian/?$' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1 | awk '{print $2}')
    [ -n "$m" ] || m=$(grep -hoE '^deb +http[^ ]*/debian/? ' /etc/apt/sources.list 2>/dev/null | head -n1 | awk '{print $2}')
    echo "${m:-http://deb.debian.org/debian}"
}

build_rootfs() {
    if [ -f "$ROOTFS/.comfy-local-complete" ]; then
        echo "container root file system: $ROOTFS (cached)"
        return
    fi
    if [ ! -f "$ROOTFS/.comfy-local-debootstrap" ]; then
        echo "container root file system: debootstrap bookworm into $ROOTFS ($(mirror))"
        rm -rf "$ROOTFS"
        mkdir -p "$(dirname "$ROOTFS")"
        debootstrap --variant=minbase --include="$PACKAGES" bookworm "$ROOTFS" "$(mirror)" >"$ROOTFS.log" 2>&1 ||
            { tail -n 30 "$ROOTFS.log"; die "debootstrap failed (log: $ROOTFS.log)"; }
        touch "$ROOTFS/.comfy-local-debootstrap"
    fi
    # ssh-audit: downloaded by this machine's pip (its index and certificates), installed in the
    # container from that wheel alone, with a clean environment (no PIP_* of this machine).
    rm -rf "$ROOTFS/opt/e2e-wheels" "$ROOTFS/opt/e2e-venv"
    python3 -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
        -d "$ROOTFS/opt/e2e-wheels" "$SSH_AUDIT" || die "pip download $SSH_AUDIT failed"
    chroot "$ROOTFS" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin python3 -m venv /opt/e2e-venv
    chroot "$ROOTFS" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin /opt/e2e-venv/bin/pip install -q \
        --disable-pip-version-check --no-index --find-links /opt/e2e-wheels "$SSH_AUDIT" ||
        die "pip install $SSH_AUDIT in the container failed"
    echo cl-e2e >"$ROOTFS/etc/hostname"
    # Firewalls start switched off; each run turns on the one it tests.
    chroot "$ROOTFS" systemctl disable firewalld.service ufw.service >/dev/null 2>&1 || true
    sed -i 's/^ENABLED=.*/ENABLED=no/' "$ROOTFS/etc/ufw/ufw.conf"
    # The system sshd of the container is not under test.
    chroot "$ROOTFS" systemctl disable ssh.service ssh.socket >/dev/null 2>&1 || true
    install_runner
    touch "$ROOTFS/.comfy-local-complete"
}

# The unit that runs the test (scripts/tests/e2e-in-container.sh, from the bind-mounted
# repository) once the container has booted, then powers it off.
install_runner() {
    cat >"$ROOTFS/etc/systemd/system/comfy-local-e2e.service" <<'EOF'
[Unit]
Description=comfy-local set-up script e2e test
After=network.target dbus.service
Wants=dbus.service

[Service]
Type=oneshot
ExecStart=/bin/bash /src/scripts/tests/e2e-in-container.sh
ExecStopPost=/bin/systemctl --no-block poweroff
StandardOutput=journal+console
StandardError=journal+console
TimeoutStartSec=900

[Install]
WantedBy=multi-user.target
EOF
    chroot "$ROOTFS" systemctl enable comfy-local-e2e.service >/dev/null 2>&1
}

run_one() {
    local fw=$1 results
    results=$(mktemp -d)
    echo "$fw" >"$results/firewall"
    local -a binds=(--bind-ro="$REPO_ROOT:/src" --bind="$results:/results")
    if [ -n "${COMFY_LOCAL_BIN:-}" ]; then
        binds+=(--bind-ro="$COMFY_LOCAL_BIN:/usr/local/bin/comfy-local")
    fi
    echo
    echo "=== e2e-linux.sh in a booted Debian container, firewall: $fw"
    local start=$SECONDS
    # --register=no and --keep-unit: this machine's own systemd (if any) is not needed.
    timeout 1200 systemd-nspawn -q --ephemeral --boot --register=no --keep-unit --private-network \
        --machine="cl-e2e-$fw" "${binds[@]}" -D "$ROOTFS" >"$results/console" 2>&1 || true
    if [ ! -f "$results/log" ]; then
        tail -n 40 "$results/console"
        rm -rf "$results"
        echo "FAIL ($fw): the test did not start in the container (console above)"
        return 1
    fi
    sed 's/^/  /' "$results/log"
    local rc
    rc=$(cat "$results/rc" 2>/dev/null || echo "none")
    rm -rf "$results"
    if [ "$rc" != 0 ]; then
        echo "FAIL ($fw): e2e-linux.sh exited $rc in the container ($((SECONDS - start)) s)"
        return 1
    fi
    echo "ok ($fw): e2e-linux.sh passed under systemd ($((SECONDS - start)) s)"
}

main() {
    require
    build_rootfs
    local fw failed=()
    for fw in $FIREWALLS; do
        case "$fw" in iptables | ufw | firewalld) ;; *) die "unknown firewall in E2E_FIREWALLS: $fw" ;; esac
        run_one "$fw" || failed+=("$fw")
    done
    if [ "${#failed[@]}" -gt 0 ]; then
        echo "e2e-systemd: FAILED for: ${failed[*]}"
        return 1
    fi
    echo "e2e-systemd: passed for: $FIREWALLS"
}

main "$@"
