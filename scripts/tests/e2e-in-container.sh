#!/usr/bin/env bash
# Run by scripts/tests/e2e-systemd.sh inside the booted container (as its comfy-local-e2e unit):
# switches on the firewall under test, adds a dummy Docker bridge, runs e2e-linux.sh, and leaves
# its output and exit code in /results.
set -u
fw=$(cat /results/firewall)
{
    echo "init: $(ps -o comm= -p 1) (PID 1); firewall under test: $fw"
    ip link add docker0 type bridge && ip addr add 172.17.0.1/16 dev docker0 && ip link set docker0 up
    case "$fw" in
        ufw) ufw --force enable ;;
        firewalld) systemctl start firewalld.service && firewall-cmd --state ;;
        iptables) ;;
    esac
    export PATH="/opt/e2e-venv/bin:$PATH"
    if [ -x /usr/local/bin/comfy-local ]; then export COMFY_LOCAL_BIN=/usr/local/bin/comfy-local; fi
    bash /src/scripts/tests/e2e-linux.sh
    echo $? >/results/rc
} >/results/log 2>&1
