#!/usr/bin/env bats
# Argument handling and --dry-run output of scripts/setup-local-host-linux.sh.
# Firewall and Docker detection use stub commands (ip, iptables, ufw, firewall-cmd) on PATH, so
# these tests change nothing on the machine and do not need root. A getent stub makes the user
# names the tests set up absent whatever users this machine has (see absent_users); a dry run
# never looks at ports, so an sshd already on the default port does not matter either.

setup() {
    SCRIPT="$BATS_TEST_DIRNAME/../setup-local-host-linux.sh"
    TMP=$(mktemp -d)
    COMFY="$TMP/My ComfyUI"
    mkdir -p "$COMFY/models/checkpoints" "$COMFY/custom_nodes" "$COMFY/input" "$COMFY/output"
    touch "$COMFY/main.py"
    STUBS="$TMP/stubs"
    mkdir -p "$STUBS"
    REAL_GETENT=$(command -v getent)
    # Default: no Docker bridge, no usable firewall tool.
    stub ip ''
    stub iptables 'exit 1'
    stub ip6tables 'exit 1'
    absent_users comfyui comfy
    export PATH="$STUBS:$PATH"
    STATE="$TMP/state"
}

teardown() {
    rm -rf "$TMP"
}

# stub NAME BODY: a command NAME on PATH running BODY; its calls are logged to $TMP/NAME.calls.
stub() {
    printf '#!/bin/sh\necho "$*" >> "%s/%s.calls"\n%s\n' "$TMP" "$1" "$2" >"$STUBS/$1"
    chmod +x "$STUBS/$1"
}

# absent_users NAME...: getent reports no passwd, shadow or group entry for these names (as on a
# machine without them) and asks the real getent about everything else.
absent_users() {
    getent_stub "exit 2" "$@"
}

# present_user NAME: getent passwd NAME finds a system user of that name, whatever this machine has.
present_user() {
    getent_stub "echo '$1:x:999:995::/home/$1:/bin/sh'" "$1"
}

# getent_stub BODY NAME...: getent runs BODY for passwd, shadow and group look-ups of NAME, and
# the real getent for everything else.
getent_stub() {
    local body=$1 names
    shift
    names=$(printf '%s|' "$@")
    stub getent "case \"\$1\" in passwd|shadow|group) case \"\$2\" in ${names%|}) $body; exit ;; esac ;; esac
exec $(printf %q "$REAL_GETENT") \"\$@\""
}

dry() {
    run bash "$SCRIPT" --comfyui-path "$COMFY" --state-dir "$STATE" --dry-run "$@"
}

# generated PATH: the file the last dry run printed under "--- PATH (would contain) ---".
generated() {
    awk -v head="  --- $1 (would contain) ---" '
        $0 == head { on = 1; next }
        on && /^  \| / { print substr($0, 5); next }
        on && $0 == "  |" { print ""; next }
        on { exit }' <<<"$output"
}

# iptables that works and has no rule yet: the outbound rules are planned.
iptables_works() {
    stub iptables 'case "$1" in -S) exit 0 ;; *) exit 1 ;; esac'
}

# --- argument handling -----------------------------------------------------------------------

@test "--help prints usage and exits 0" {
    run bash "$SCRIPT" --help
    [ "$status" -eq 0 ]
    [[ "$output" == *"--comfyui-path PATH"* ]]
    [[ "$output" == *"--uninstall"* ]]
    [[ "$output" == *"Exit codes: 0 success, 1 failure, 2 usage error."* ]]
}

@test "no arguments: --comfyui-path is required (exit 2)" {
    run bash "$SCRIPT"
    [ "$status" -eq 2 ]
    [[ "$output" == *"--comfyui-path is required"* ]]
}

@test "relative --comfyui-path is refused" {
    run bash "$SCRIPT" --comfyui-path ComfyUI --dry-run
    [ "$status" -eq 2 ]
    [[ "$output" == *"must be an absolute path, got: ComfyUI"* ]]
}

@test "unknown option is refused" {
    run bash "$SCRIPT" --comfyui-path /x --frobnicate
    [ "$status" -eq 2 ]
    [[ "$output" == *"unknown option: --frobnicate"* ]]
}

@test "an option without its value is refused" {
    run bash "$SCRIPT" --comfyui-path /x --port
    [ "$status" -eq 2 ]
    [[ "$output" == *"option --port needs a value"* ]]
    run bash "$SCRIPT" --comfyui-path --port 22
    [ "$status" -eq 2 ]
    [[ "$output" == *"option --comfyui-path needs a value"* ]]
}

@test "ports out of range or not numbers are refused" {
    for p in 0 65536 abc 22x -1 123456; do
        run bash "$SCRIPT" --comfyui-path /x --port "$p" --dry-run
        [ "$status" -eq 2 ]
        [[ "$output" == *"--port must be a number from 1 to 65535"* ]]
    done
    run bash "$SCRIPT" --comfyui-path /x --comfyui-port 99999 --dry-run
    [ "$status" -eq 2 ]
    run bash "$SCRIPT" --comfyui-path /x --port 8188 --dry-run
    [ "$status" -eq 2 ]
    [[ "$output" == *"--port and --comfyui-port must differ"* ]]
}

@test "user names: root, leading dash and odd characters are refused" {
    for u in root -oProxyCommand=x 'a b' 'Bad$' 1abc; do
        run bash "$SCRIPT" --comfyui-path /x --user "$u" --dry-run
        [ "$status" -eq 2 ]
    done
    run bash "$SCRIPT" --comfyui-path /x --user root --dry-run
    [[ "$output" == *"must not be root"* ]]
}

@test "--listen, --allow-from, --firewall, --ssh-host and --client-owner are validated" {
    run bash "$SCRIPT" --comfyui-path /x --listen 0.0.0.300 --dry-run
    [ "$status" -eq 2 ]
    [[ "$output" == *"--listen must be an IPv4 address"* ]]
    run bash "$SCRIPT" --comfyui-path /x --allow-from 10.0.0.0 --dry-run
    [ "$status" -eq 2 ]
    [[ "$output" == *"--allow-from must be an IPv4 network"* ]]
    run bash "$SCRIPT" --comfyui-path /x --firewall pf --dry-run
    [ "$status" -eq 2 ]
    run bash "$SCRIPT" --comfyui-path /x --ssh-host '-oProxyCommand=x' --dry-run
    [ "$status" -eq 2 ]
    run bash "$SCRIPT" --comfyui-path /x --client-owner app --dry-run
    [ "$status" -eq 2 ]
    [[ "$output" == *"UID:GID"* ]]
}

@test "paths with quotes or backslashes are refused (they would break the generated YAML)" {
    run bash "$SCRIPT" --comfyui-path '/x/a"b' --dry-run
    [ "$status" -eq 2 ]
    run bash "$SCRIPT" --comfyui-path '/x/a\b' --dry-run
    [ "$status" -eq 2 ]
}

@test "the default user is comfyui; an existing user the script did not create is refused" {
    dry --firewall none
    [ "$status" -eq 0 ]
    [[ "$output" == *"| AllowUsers comfyui"* ]]
    [[ "$output" == *"would run: useradd --system"*" comfyui"* ]]
    present_user comfyui
    dry --firewall none
    [ "$status" -eq 1 ]
    [[ "$output" == *"user comfyui already exists and was not created by this script"* ]]
    [[ "$output" == *"pick another name with --user"* ]]
}

@test "a missing ComfyUI folder fails with a hint (without --install-comfyui)" {
    run bash "$SCRIPT" --comfyui-path "$TMP/nope" --state-dir "$STATE" --dry-run --firewall none
    [ "$status" -eq 1 ]
    [[ "$output" == *"ComfyUI folder $TMP/nope does not exist"* ]]
    [[ "$output" == *"hint: "*"--install-comfyui"* ]]
}

@test "a real run without --yes on a non-terminal input refuses before changing anything" {
    [ "$(id -u)" -eq 0 ] || skip "needs root to get past the root check"
    run bash "$SCRIPT" --comfyui-path "$COMFY" --state-dir "$STATE" </dev/null
    [ "$status" -eq 1 ]
    [[ "$output" == *"pass --yes"* ]]
    [ ! -e "$STATE" ]
}

# --- dry run ---------------------------------------------------------------------------------

@test "--dry-run shows the hardened sshd config and changes nothing" {
    dry --firewall none --port 22122
    [ "$status" -eq 0 ]
    [[ "$output" == *"DRY RUN: nothing will be changed."* ]]
    [[ "$output" == *"| Port 22122"* ]]
    [[ "$output" == *"| ListenAddress 127.0.0.1"* ]]
    [[ "$output" == *"| AllowUsers comfyui"* ]]
    [[ "$output" == *"| PermitRootLogin no"* ]]
    [[ "$output" == *"| PasswordAuthentication no"* ]]
    [[ "$output" == *"| AuthenticationMethods publickey"* ]]
    [[ "$output" == *"| HostKeyAlgorithms ssh-ed25519"* ]]
    [[ "$output" == *"| KexAlgorithms sntrup761x25519-sha512@openssh.com,curve25519-sha256,curve25519-sha256@libssh.org"* ]]
    [[ "$output" == *"| Ciphers chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,aes128-gcm@openssh.com"* ]]
    [[ "$output" == *"| MACs hmac-sha2-256-etm@openssh.com,"* ]]
    [[ "$output" == *"| AllowTcpForwarding local"* ]]
    [[ "$output" == *"| PermitOpen 127.0.0.1:8188 localhost:8188"* ]]
    [[ "$output" == *"| X11Forwarding no"* ]]
    [[ "$output" == *"| AllowAgentForwarding no"* ]]
    [[ "$output" == *"| LogLevel VERBOSE"* ]]
    [[ "$output" == *"| Subsystem sftp internal-sftp -l INFO"* ]]
    [[ "$output" == *"would run: useradd --system"* ]]
    [[ "$output" == *"change(s) would be made; nothing was changed."* ]]
    [ ! -e "$STATE" ]
    run getfacl -p -c "$COMFY/models"
    [[ "$output" != *"user:comfyui"* ]]
}

@test "--dry-run shows the generated config in the agreed shape" {
    dry --firewall none --port 22122 --user comfy
    [ "$status" -eq 0 ]
    [[ "$output" == *"|     ssh:"* ]]
    [[ "$output" == *'|       host: "host.docker.internal"'* ]]
    [[ "$output" == *"|       port: 22122"* ]]
    [[ "$output" == *'|       user: "comfy"'* ]]
    [[ "$output" == *'|       key_file: "/app/comfy-local/id_ed25519"'* ]]
    [[ "$output" == *'|       known_hosts_file: "/app/comfy-local/known_hosts"'* ]]
    [[ "$output" == *"|       host_key_policy: strict"* ]]
    [[ "$output" == *"|       path: \"$COMFY\""* ]]
    [[ "$output" == *'|       api_url: "http://host.docker.internal:8188"'* ]]
    [[ "$output" == *"|     features:"* ]]
    [[ "$output" == *"|     limits:"* ]]
    [[ "$output" == *"|   enabled: false"* ]]
    [[ "$output" == *"|   api_key_env: VAST_API_KEY"* ]]
}

@test "--comfyui-port, --ssh-host and --container-dir flow into sshd config and YAML" {
    dry --firewall none --comfyui-port 9000 --ssh-host gpu-box --container-dir /srv/cl
    [ "$status" -eq 0 ]
    [[ "$output" == *"| PermitOpen 127.0.0.1:9000 localhost:9000"* ]]
    [[ "$output" == *'|       api_url: "http://gpu-box:9000"'* ]]
    [[ "$output" == *'|       key_file: "/srv/cl/id_ed25519"'* ]]
}

@test "Docker bridge present: sshd also listens on the gateway" {
    stub ip 'case "$*" in
*"addr show dev docker0"*) echo "3: docker0    inet 172.17.0.1/16 brd 172.17.255.255 scope global docker0" ;;
*"route show proto kernel"*) echo "172.17.0.0/16 dev docker0 proto kernel scope link src 172.17.0.1"; echo "172.18.0.0/16 dev br-1234 proto kernel scope link src 172.18.0.1"; echo "10.0.0.0/24 dev eth0 proto kernel scope link src 10.0.0.5" ;;
esac'
    dry --firewall none
    [ "$status" -eq 0 ]
    [[ "$output" == *"| ListenAddress 127.0.0.1"* ]]
    [[ "$output" == *"| ListenAddress 172.17.0.1"* ]]
    [[ "$output" == *"only from 127.0.0.0/8 172.17.0.0/16 172.18.0.0/16"* ]]
    [[ "$output" != *"10.0.0.0/24"* ]]
}

@test "--listen replaces the default addresses" {
    dry --firewall none --listen 127.0.0.2
    [ "$status" -eq 0 ]
    [[ "$output" == *"| ListenAddress 127.0.0.2"* ]]
    [[ "$output" != *"| ListenAddress 127.0.0.1"* ]]
}

@test "no firewall found: the step says SKIPPED" {
    dry
    [ "$status" -eq 0 ]
    [[ "$output" == *"==> Firewall (none)"* ]]
    [[ "$output" == *"SKIPPED: no active firewall found"* ]]
}

@test "iptables: tagged ACCEPT rules for loopback and Docker, then DROP, inserted in order" {
    stub ip 'case "$*" in *"route show proto kernel"*) echo "172.17.0.0/16 dev docker0 proto kernel scope link src 172.17.0.1" ;; esac'
    stub iptables 'case "$1" in -S) exit 0 ;; -C) exit 1 ;; esac'
    dry --port 22122
    [ "$status" -eq 0 ]
    [[ "$output" == *"==> Firewall (iptables)"* ]]
    # Inserted bottom-up at position 1: DROP first, then the Docker ACCEPT, then loopback ACCEPT.
    drop=$(grep -n 'would run: iptables -I INPUT 1 -p tcp --dport 22122 -m comment --comment state:22122 -j DROP' <<<"$output" | cut -d: -f1)
    docker=$(grep -n 'would run: iptables -I INPUT 1 -s 172.17.0.0/16 -p tcp --dport 22122 -m comment --comment state:22122 -j ACCEPT' <<<"$output" | cut -d: -f1)
    lo=$(grep -n 'would run: iptables -I INPUT 1 -i lo -p tcp --dport 22122 -m comment --comment state:22122 -j ACCEPT' <<<"$output" | cut -d: -f1)
    [ -n "$drop" ] && [ -n "$docker" ] && [ -n "$lo" ]
    [ "$drop" -lt "$docker" ] && [ "$docker" -lt "$lo" ]
}

@test "iptables rules already present are reported unchanged" {
    stub iptables 'exit 0'
    dry --port 22122
    [ "$status" -eq 0 ]
    [[ "$output" == *"ok (unchanged): iptables rule: -p tcp --dport 22122"* ]]
    [[ "$output" != *"would run: iptables -I"* ]]
}

@test "ufw active: allow rules per source, then a deny, with a comment tag" {
    stub ufw 'case "$1" in status) echo "Status: active" ;; show) exit 0 ;; esac'
    stub ip 'case "$*" in *"route show proto kernel"*) echo "172.17.0.0/16 dev docker0 proto kernel scope link src 172.17.0.1" ;; esac'
    dry --port 22122
    [ "$status" -eq 0 ]
    [[ "$output" == *"==> Firewall (ufw)"* ]]
    # In the form `ufw show added` prints them back (checked against a real ufw by e2e-systemd.sh).
    [[ "$output" == *"would run: ufw allow from 127.0.0.0/8 to any port 22122 proto tcp comment state:22122"* ]]
    [[ "$output" == *"would run: ufw allow from 172.17.0.0/16 to any port 22122 proto tcp comment state:22122"* ]]
    [[ "$output" == *"would run: ufw deny 22122/tcp comment state:22122"* ]]
}

@test "firewalld running: a rich rule admits the Docker subnet" {
    stub firewall-cmd 'case "$1" in --state) echo running ;; --permanent) exit 1 ;; esac'
    stub ip 'case "$*" in *"route show proto kernel"*) echo "172.17.0.0/16 dev docker0 proto kernel scope link src 172.17.0.1" ;; esac'
    dry --port 22122
    [ "$status" -eq 0 ]
    [[ "$output" == *"==> Firewall (firewalld)"* ]]
    [[ "$output" == *'would run: firewall-cmd --permanent --add-rich-rule=rule\ family=\"ipv4\"\ source\ address=\"172.17.0.0/16\"\ port\ port=\"22122\"\ protocol=\"tcp\"\ accept'* ]]
    [[ "$output" == *"would run: firewall-cmd --reload"* ]]
}

@test "--install-comfyui --comfyui-service on a new folder: clone, venv and service are planned" {
    dry --firewall none --install-comfyui --comfyui-repo file:///srv/ComfyUI.git --comfyui-service \
        --comfyui-owner nobody --comfyui-path "$TMP/new/ComfyUI"
    [ "$status" -eq 0 ]
    [[ "$output" == *"would run: git clone --quiet -- file:///srv/ComfyUI.git $TMP/new/ComfyUI"* ]]
    [[ "$output" == *"python3 -m venv $TMP/new/ComfyUI/venv"* ]]
    [[ "$output" == *"==> ComfyUI service (as nobody on 127.0.0.1:8188)"* ]]
}

@test "--comfyui-service without ComfyUI and without --install-comfyui is refused" {
    run bash "$SCRIPT" --comfyui-path "$TMP/empty" --comfyui-service --yes
    [ "$status" -eq 2 ]
    [[ "$output" == *"add --install-comfyui"* ]]
}

@test "--comfy-local BIN: the final test uses comfy-local test-connection" {
    dry --firewall none --comfy-local /opt/cl/comfy-local
    [ "$status" -eq 0 ]
    [[ "$output" == *"would run: /opt/cl/comfy-local test-connection --config $STATE/client/local-support-config.host-test.yml"* ]]
}

@test "without comfy-local the final test falls back to ssh" {
    dry --firewall none
    [ "$status" -eq 0 ]
    [[ "$output" == *"Connection test with ssh and sftp (comfy-local not found"* ]]
    [[ "$output" == *"would run: ssh -F /dev/null -i $STATE/client/id_ed25519"* ]]
}

@test "with systemd: sshd and ComfyUI get enabled units (restart on failure)" {
    COMFY_LOCAL_INIT=systemd dry --firewall none --port 22122 --install-comfyui --comfyui-service \
        --comfyui-owner nobody --comfyui-path "$TMP/new/ComfyUI" --comfyui-repo file:///srv/ComfyUI.git
    [ "$status" -eq 0 ]
    [[ "$output" == *"init: systemd (services get systemd units)"* ]]
    [[ "$output" == *"| ExecStart=\"$(command -v sshd || echo /usr/sbin/sshd)\" -D -f \"$STATE/sshd_config\""* ]]
    [[ "$output" == *"| ExecStartPre=\"$(command -v sshd || echo /usr/sbin/sshd)\" -t -f \"$STATE/sshd_config\""* ]]
    [[ "$output" == *"| Restart=on-failure"* ]]
    [[ "$output" == *"would run: systemctl enable --now state-sshd.service"* ]]
    [[ "$output" == *"| User=nobody"* ]]
    [[ "$output" == *"| ExecStart=\"$TMP/new/ComfyUI/venv/bin/python\" main.py --listen 127.0.0.1 --port 8188"* ]]
    [[ "$output" == *"would run: systemctl enable state-comfyui.service"* ]]
    [[ "$output" != *"starting sshd directly"* ]]
}

@test "without systemd: the fallback is announced loudly" {
    COMFY_LOCAL_INIT=none dry --firewall none
    [ "$status" -eq 0 ]
    [[ "$output" == *"init: systemd is NOT running"* ]]
    [[ "$output" == *"It is NOT restarted after a reboot or a crash"* ]]
    [[ "$output" == *"would run: $(command -v sshd || echo /usr/sbin/sshd) -f $STATE/sshd_config -E $STATE/sshd.log"* ]]
}

@test "run with sh instead of bash: a clear error" {
    run sh "$SCRIPT" --help
    [ "$status" -eq 1 ]
    [[ "$output" == *"run this script with bash"* ]]
}

# --- uninstall -------------------------------------------------------------------------------

@test "--uninstall without a manifest says there is nothing to do" {
    run bash "$SCRIPT" --uninstall --state-dir "$STATE" --dry-run
    [ "$status" -eq 0 ]
    [[ "$output" == *"nothing to uninstall: no manifest at $STATE/manifest"* ]]
}

@test "--uninstall --dry-run lists the recorded actions and removes nothing" {
    mkdir -p "$STATE"
    touch "$STATE/sshd_config"
    stub iptables 'exit 0'
    printf 'dir\t%s\nfile\t%s\nfw-iptables\t%s\nacl-tree\t%s\tcomfyui\n' \
        "$STATE" "$STATE/sshd_config" "-p tcp --dport 22122 -m comment --comment state:22122 -j DROP" "$COMFY" \
        >"$STATE/manifest"
    run bash "$SCRIPT" --uninstall --state-dir "$STATE" --dry-run
    [ "$status" -eq 0 ]
    [[ "$output" == *"would run: iptables -D INPUT -p tcp --dport 22122 -m comment --comment state:22122 -j DROP"* ]]
    [[ "$output" == *"would run: setfacl -R -x u:comfyui $(printf %q "$COMFY")"* ]]
    [[ "$output" == *"would run: rm -f $STATE/sshd_config"* ]]
    [ -f "$STATE/sshd_config" ]
    [ -f "$STATE/manifest" ]
}

@test "--uninstall --dry-run deletes ufw and firewalld rules by their recorded spec" {
    mkdir -p "$STATE"
    printf 'fw-ufw\t%s\nfw-firewalld\t%s\n' \
        "allow from 172.17.0.0/16 to any port 22122 proto tcp comment state:22122" \
        'rule family="ipv4" source address="172.17.0.0/16" port port="22122" protocol="tcp" accept' \
        >"$STATE/manifest"
    run bash "$SCRIPT" --uninstall --state-dir "$STATE" --dry-run
    [ "$status" -eq 0 ]
    [[ "$output" == *"would run: ufw delete allow from 172.17.0.0/16 to any port 22122 proto tcp"* ]]
    [[ "$output" != *"would run: ufw delete allow from 172.17.0.0/16 to any port 22122 proto tcp comment"* ]]
    [[ "$output" == *'would run: firewall-cmd --permanent --remove-rich-rule=rule\ family=\"ipv4\"\ source\ address=\"172.17.0.0/16\"\ port\ port=\"22122\"\ protocol=\"tcp\"\ accept'* ]]
}

@test "a ufw rule that existed before is neither added nor recorded" {
    # As a real `ufw show added` prints it: one with another comment, one with none.
    stub ufw 'case "$1" in status) echo "Status: active" ;; show) printf "%s\n" "ufw allow from 127.0.0.0/8 to any port 22122 proto tcp comment '"'"'mine'"'"'" "ufw deny 22122/tcp" ;; esac'
    dry --port 22122
    [ "$status" -eq 0 ]
    [[ "$output" == *"ok (unchanged): ufw allow from 127.0.0.0/8 to any port 22122 proto tcp"* ]]
    [[ "$output" == *"ok (unchanged): ufw deny 22122/tcp"* ]]
    [[ "$output" != *"would run: ufw allow from 127.0.0.0/8"* ]]
    [[ "$output" != *"would run: ufw deny"* ]]
}

# --- outbound connections of the SSH user --------------------------------------------------

@test "outbound: a chain for the user's uid refuses other local ports and private networks, the internet stays open" {
    iptables_works
    dry --firewall none --comfyui-port 9000
    [ "$status" -eq 0 ]
    [[ "$output" == *"==> Outbound connections of comfyui: only ComfyUI's port 127.0.0.1:9000, the internet (and DNS)"* ]]
    script=$(generated "$STATE/egress-firewall.sh")
    [[ "$script" == *"rule iptables cl-egress-comfyui -o lo -d 127.0.0.1/32 -p tcp --dport 9000 -j RETURN"* ]]
    [[ "$script" == *"rule iptables cl-egress-comfyui -o lo -p tcp -j REJECT --reject-with tcp-reset"* ]]
    for net in 10.0.0.0/8 172.16.0.0/12 192.168.0.0/16 169.254.0.0/16 100.64.0.0/10; do
        [[ "$script" == *"rule iptables cl-egress-comfyui -d $net -j REJECT"* ]]
    done
    [[ "$script" == *"jump iptables -m owner --uid-owner comfyui -m comment --comment state:egress -j cl-egress-comfyui"* ]]
    # The ComfyUI exception comes before the loopback REJECT; nothing refuses the internet.
    [ "$(grep -n -- '--dport 9000 -j RETURN' <<<"$script" | cut -d: -f1)" -lt "$(grep -n -- '-o lo -j REJECT' <<<"$script" | cut -d: -f1)" ]
    run grep -cx 'rule iptables cl-egress-comfyui -j REJECT' <<<"$script"
    [ "$output" = 0 ]
    [[ "$script" != *"ip6tables"* ]]
}

@test "outbound: --no-internet refuses everything but ComfyUI's port, without a DNS exception" {
    iptables_works
    printf 'nameserver 192.168.1.1\n' >"$TMP/resolv.conf"
    dry --firewall none --no-internet
    [ "$status" -eq 0 ]
    [[ "$output" == *"==> Outbound connections of comfyui: only ComfyUI's port 127.0.0.1:8188"$'\n'* ]]
    script=$(generated "$STATE/egress-firewall.sh")
    [ "$(grep '^rule ' <<<"$script" | tail -n1)" = "rule iptables cl-egress-comfyui -j REJECT" ]
    [[ "$script" != *"--dport 53"* ]]
}

@test "outbound: --allow-lan lets private networks through, never other local ports" {
    iptables_works
    dry --firewall none --allow-lan
    [ "$status" -eq 0 ]
    script=$(generated "$STATE/egress-firewall.sh")
    [[ "$script" != *"-d 10.0.0.0/8"* ]]
    [[ "$script" != *"-d 192.168.0.0/16"* ]]
    [[ "$script" == *"rule iptables cl-egress-comfyui -o lo -j REJECT"* ]]
    dry --firewall none --allow-lan --no-internet
    script=$(generated "$STATE/egress-firewall.sh")
    [[ "$script" == *"rule iptables cl-egress-comfyui -d 10.0.0.0/8 -j RETURN"* ]]
    [ "$(grep '^rule ' <<<"$script" | tail -n1)" = "rule iptables cl-egress-comfyui -j REJECT" ]
}

@test "outbound: the generated script is valid sh, creates the chain, fills it, then jumps to it" {
    # Every command works; -C (is the rule there?) says no.
    stub iptables 'case "$1" in -C) exit 1 ;; *) exit 0 ;; esac'
    stub ip6tables 'case "$1" in -C) exit 1 ;; *) exit 0 ;; esac'
    dry --firewall none
    [ "$status" -eq 0 ]
    generated "$STATE/egress-firewall.sh" >"$TMP/egress.sh"
    sh -n "$TMP/egress.sh"
    rm -f "$TMP/iptables.calls" "$TMP/ip6tables.calls"
    run sh "$TMP/egress.sh" apply
    [ "$status" -eq 0 ]
    [ "$(head -n1 "$TMP/iptables.calls")" = "-N cl-egress-comfyui" ]
    [ "$(sed -n 2p "$TMP/iptables.calls" | cut -c1-22)" = "-A cl-egress-comfyui -" ]
    [ "$(tail -n1 "$TMP/iptables.calls")" = "-I OUTPUT 1 -m owner --uid-owner comfyui -m comment --comment state:egress -j cl-egress-comfyui" ]
    grep -qx -- "-A cl-egress-comfyui -o lo -d ::1/128 -p tcp --dport 8188 -j RETURN" "$TMP/ip6tables.calls"
    grep -qx -- "-A cl-egress-comfyui -d fc00::/7 -j REJECT" "$TMP/ip6tables.calls"
    # check fails while the stub says no rule is there
    run sh "$TMP/egress.sh" check
    [ "$status" -eq 1 ]
}

@test "outbound: without iptables a loud warning, repeated in the summary" {
    dry --firewall none
    [ "$status" -eq 0 ]
    [[ "$output" == *"warning: NO OUTBOUND RESTRICTION for comfyui: iptables is missing or does not work"* ]]
    [[ "$output" == *"Outbound connections of comfyui: NOT restricted"* ]]
    summary=${output##*==> Summary}
    [[ "$summary" == *"WARNINGS ("*"! NO OUTBOUND RESTRICTION for comfyui"* ]]
    [[ "$output" != *"egress-firewall.sh (would contain)"* ]]
}

@test "outbound: with systemd the rules are applied before sshd starts" {
    iptables_works
    COMFY_LOCAL_INIT=systemd dry --firewall none
    [ "$status" -eq 0 ]
    unit=$(generated /etc/systemd/system/state-sshd.service)
    [[ "$unit" == *"ExecStartPre=/bin/sh \"$STATE/egress-firewall.sh\" apply"$'\n'"ExecStartPre=\""* ]]
}

@test "--uninstall --dry-run removes the OUTPUT jump, then empties and deletes the chain" {
    mkdir -p "$STATE"
    stub iptables 'exit 0'
    printf 'fw-egress-chain\tiptables\tcl-egress-999\nfw-egress-jump\tiptables\t%s\n' \
        "-m owner --uid-owner 999 -m comment --comment state:egress -j cl-egress-999" >"$STATE/manifest"
    run bash "$SCRIPT" --uninstall --state-dir "$STATE" --dry-run
    [ "$status" -eq 0 ]
    jump=$(grep -n 'would run: iptables -D OUTPUT -m owner --uid-owner 999 -m comment --comment state:egress -j cl-egress-999' <<<"$output" | cut -d: -f1)
    flush=$(grep -n 'would run: iptables -F cl-egress-999' <<<"$output" | cut -d: -f1)
    delete=$(grep -n 'would run: iptables -X cl-egress-999' <<<"$output" | cut -d: -f1)
    [ -n "$jump" ] && [ -n "$flush" ] && [ -n "$delete" ]
    [ "$jump" -lt "$flush" ] && [ "$flush" -lt "$delete" ]
}

# firewalld that runs: --state says so, the direct rules listed are those of $TMP/permanent and
# $TMP/runtime (empty when missing), every other call succeeds.
firewalld_runs() {
    stub firewall-cmd 'case "$*" in
        --state) echo running ;;
        "--permanent --direct --get-all-rules") cat "'"$TMP"'/permanent" 2>/dev/null ;;
        "--direct --get-all-rules") cat "'"$TMP"'/runtime" 2>/dev/null ;;
        *--query-*) exit 1 ;;
    esac
    exit 0'
}

@test "outbound with firewalld running: permanent direct rules, chain in order, the jump first in OUTPUT" {
    iptables_works
    firewalld_runs
    COMFY_LOCAL_INIT=systemd dry --firewall none --no-internet
    [ "$status" -eq 0 ]
    [[ "$output" == *"firewalld runs: the rules become its permanent direct rules"* ]]
    script=$(generated "$STATE/egress-firewall.sh")
    want=$(sed -n "/^    cat <<'RULES'$/,/^RULES$/p" <<<"$script" | sed '1d;$d')
    [ "$(head -n1 <<<"$want")" = "ipv4 filter cl-egress-comfyui 0 -o lo -d 127.0.0.1/32 -p tcp --dport 8188 -j RETURN" ]
    [ "$(sed -n 2p <<<"$want")" = "ipv4 filter cl-egress-comfyui 1 -d 0.0.0.0/8 -p tcp -j REJECT --reject-with tcp-reset" ]
    # The chain's rules in the order of the iptables rules, priorities 0, 1, 2...
    [ "$(grep -c '^rule iptables ' <<<"$script")" = "$(grep -c '^ipv4 filter cl-egress-comfyui ' <<<"$want")" ]
    [ "$(grep '^ipv4 filter cl-egress-comfyui ' <<<"$want" | awk '{ print $4 }' | tr '\n' ' ')" = "$(seq -s ' ' 0 $(($(grep -c '^rule iptables ' <<<"$script") - 1))) " ]
    [ "$(tail -n1 <<<"$want")" = "ipv4 filter OUTPUT -2147483648 -m owner --uid-owner comfyui -m comment --comment state:egress -j cl-egress-comfyui" ]
    # The sshd instance follows firewalld (started after it, stopped with it).
    unit=$(generated /etc/systemd/system/state-sshd.service)
    [[ "$unit" == *$'\nAfter=firewalld.service\nPartOf=firewalld.service\n'* ]]
    [[ "$output" == *"Outbound connections of comfyui: only ComfyUI's port 127.0.0.1:8188 (iptables, as firewalld direct rules)"* ]]
}

@test "outbound with plain iptables: no firewalld part in the script, no PartOf in the unit" {
    iptables_works
    COMFY_LOCAL_INIT=systemd dry --firewall none
    [ "$status" -eq 0 ]
    script=$(generated "$STATE/egress-firewall.sh")
    [[ "$script" != *"firewall-cmd"* ]]
    [ "$(grep -cx 'kernel' <<<"$script")" = 1 ]
    unit=$(generated /etc/systemd/system/state-sshd.service)
    [[ "$unit" != *"firewalld"* ]]
}

@test "outbound with firewalld: the script adds the chain, its rules and the jump (permanent), removes stale ones, reloads" {
    iptables_works
    firewalld_runs
    dry --firewall none --no-internet
    [ "$status" -eq 0 ]
    generated "$STATE/egress-firewall.sh" >"$TMP/egress.sh"
    sh -n "$TMP/egress.sh"
    # A stale rule of ours (a DNS exception) and a rule of the admin's.
    printf '%s\n' "ipv4 filter cl-egress-comfyui 0 -d 192.168.1.1/32 -p udp --dport 53 -j RETURN" \
        "ipv4 filter OUTPUT 0 -j ACCEPT" >"$TMP/permanent"
    rm -f "$TMP/firewall-cmd.calls"
    run sh "$TMP/egress.sh" apply
    # The kernel check fails: the iptables stub has no rule.
    [ "$status" -eq 1 ]
    calls=$(cat "$TMP/firewall-cmd.calls")
    [[ "$calls" == *$'\n-q --permanent --direct --remove-rule ipv4 filter cl-egress-comfyui 0 -d 192.168.1.1/32 -p udp --dport 53 -j RETURN\n'* ]]
    [[ "$calls" != *"remove-rule ipv4 filter OUTPUT 0 -j ACCEPT"* ]]
    chain=$(grep -n -- '-q --permanent --direct --add-chain ipv4 filter cl-egress-comfyui$' <<<"$calls" | cut -d: -f1)
    first=$(grep -n -- '-q --permanent --direct --add-rule ipv4 filter cl-egress-comfyui 0 -o lo -d 127.0.0.1/32 -p tcp --dport 8188 -j RETURN$' <<<"$calls" | cut -d: -f1)
    jump=$(grep -n -- '-q --permanent --direct --add-rule ipv4 filter OUTPUT -2147483648 -m owner --uid-owner comfyui -m comment --comment state:egress -j cl-egress-comfyui$' <<<"$calls" | cut -d: -f1)
    reload=$(grep -n -- '^-q --reload$' <<<"$calls" | head -n1 | cut -d: -f1)
    [ -n "$chain" ] && [ -n "$first" ] && [ -n "$jump" ] && [ -n "$reload" ]
    [ "$chain" -lt "$first" ] && [ "$first" -lt "$jump" ] && [ "$jump" -lt "$reload" ]
    # Nothing is added to the runtime one by one: the reload brings the permanent rules.
    [[ "$calls" != *$'\n-q --direct --add-rule'* ]]
    # check: permanent rules missing -> fails, without adding anything
    rm -f "$TMP/firewall-cmd.calls"
    run sh "$TMP/egress.sh" check
    [ "$status" -eq 1 ]
    [[ "$(cat "$TMP/firewall-cmd.calls")" != *"--add-"* ]]
}

@test "outbound with firewalld: rules already permanent and live are not touched" {
    iptables_works
    firewalld_runs
    dry --firewall none --no-internet
    generated "$STATE/egress-firewall.sh" >"$TMP/egress.sh"
    sed -n "/^    cat <<'RULES'$/,/^RULES$/p" "$TMP/egress.sh" | sed '1d;$d' >"$TMP/permanent"
    cp "$TMP/permanent" "$TMP/runtime"
    rm -f "$TMP/firewall-cmd.calls"
    run sh "$TMP/egress.sh" apply
    calls=$(cat "$TMP/firewall-cmd.calls")
    [[ "$calls" != *"--add-"* ]]
    [[ "$calls" != *"--remove-"* ]]
    [[ "$calls" == *"--permanent --direct --get-all-rules"* ]]
}

@test "--uninstall --dry-run removes firewalld's direct jump, then its chain, permanent and runtime" {
    mkdir -p "$STATE"
    stub firewall-cmd 'exit 0'
    jump="-m owner --uid-owner 999 -m comment --comment state:egress -j cl-egress-999"
    printf 'fw-egress-direct-chain\tipv4\tcl-egress-999\nfw-egress-direct-jump\tipv4\t-2147483648 %s\n' "$jump" >"$STATE/manifest"
    run bash "$SCRIPT" --uninstall --state-dir "$STATE" --dry-run
    [ "$status" -eq 0 ]
    q_jump=$(printf ' %q' $jump)
    pj=$(grep -n -- "would run: firewall-cmd --permanent --direct --remove-rule ipv4 filter OUTPUT -2147483648$q_jump\$" <<<"$output" | cut -d: -f1)
    rj=$(grep -n -- "would run: firewall-cmd --direct --remove-rule ipv4 filter OUTPUT -2147483648$q_jump\$" <<<"$output" | cut -d: -f1)
    prs=$(grep -n -- 'would run: firewall-cmd --permanent --direct --remove-rules ipv4 filter cl-egress-999$' <<<"$output" | cut -d: -f1)
    pc=$(grep -n -- 'would run: firewall-cmd --permanent --direct --remove-chain ipv4 filter cl-egress-999$' <<<"$output" | cut -d: -f1)
    rc=$(grep -n -- 'would run: firewall-cmd --direct --remove-chain ipv4 filter cl-egress-999$' <<<"$output" | cut -d: -f1)
    [ -n "$pj" ] && [ -n "$rj" ] && [ -n "$prs" ] && [ -n "$pc" ] && [ -n "$rc" ]
    [ "$pj" -lt "$prs" ] && [ "$rj" -lt "$prs" ] && [ "$prs" -lt "$pc" ] && [ "$pc" -lt "$rc" ]
}

@test "--uninstall --dry-run with firewalld stopped: firewall-offline-cmd removes the permanent rules" {
    mkdir -p "$STATE"
    stub firewall-cmd 'exit 252'
    stub firewall-offline-cmd 'exit 0'
    printf 'fw-egress-direct-chain\tipv4\tcl-egress-999\n' >"$STATE/manifest"
    run bash "$SCRIPT" --uninstall --state-dir "$STATE" --dry-run
    [ "$status" -eq 0 ]
    [[ "$output" == *"would run: firewall-offline-cmd --direct --remove-rules ipv4 filter cl-egress-999"* ]]
    [[ "$output" == *"would run: firewall-offline-cmd --direct --remove-chain ipv4 filter cl-egress-999"* ]]
    [[ "$output" != *"would run: firewall-cmd"* ]]
}

@test "--no-internet, --allow-lan and --no-custom-nodes are listed in --help" {
    run bash "$SCRIPT" --help
    [[ "$output" == *"--no-internet"* ]]
    [[ "$output" == *"--allow-lan"* ]]
    [[ "$output" == *"--no-custom-nodes"* ]]
}

# --- custom nodes ----------------------------------------------------------------------------

@test "--no-custom-nodes: custom_nodes/ stays read-only and the config says custom_nodes: false" {
    dry --firewall none
    [[ "$output" == *"write in models custom_nodes input output)"* ]]
    [[ "$output" == *"|       custom_nodes: true"* ]]
    dry --firewall none --no-custom-nodes
    [ "$status" -eq 0 ]
    [[ "$output" == *"write in models input output)"* ]]
    [[ "$output" == *"|       custom_nodes: false"* ]]
    [[ "$output" != *"setfacl -R -m u:comfyui:rwX $(printf %q "$COMFY/custom_nodes")"* ]]
    [[ "$output" == *"setfacl -R -m u:comfyui:rwX $(printf %q "$COMFY/models")"* ]]
}

@test "custom nodes writable and ComfyUI owned by root: a warning names --no-custom-nodes" {
    dry --firewall none --comfyui-owner root
    [ "$status" -eq 0 ]
    [[ "$output" == *"warning: ComfyUI's owner root is root, and code placed in custom_nodes/ runs as root"*"--no-custom-nodes"* ]]
    dry --firewall none --comfyui-owner root --no-custom-nodes
    [[ "$output" != *"code placed in custom_nodes/"* ]]
}

@test "custom nodes writable and ComfyUI's owner can use sudo: a warning" {
    stub id 'case "$*" in "-nG sudoer") echo "sudoer sudo" ;; "-u sudoer") echo 1234 ;; "-gn sudoer") echo sudoer ;; *) exec /usr/bin/id "$@" ;; esac'
    # sudoer exists, comfyui does not, everything else as on this machine.
    stub getent "case \"\$1:\$2\" in passwd:sudoer) echo 'sudoer:x:1234:1234::/home/sudoer:/bin/sh' ;; *:comfyui) exit 2 ;; *) exec $(printf %q "$REAL_GETENT") \"\$@\" ;; esac"
    dry --firewall none --comfyui-owner sudoer
    [ "$status" -eq 0 ]
    [[ "$output" == *"warning: ComfyUI's owner sudoer is in the group sudo (sudo)"* ]]
}

# --- quoting of generated files ----------------------------------------------------------------

# quote_folder [NAME]: a ComfyUI folder whose name would break out of naive single quotes in the
# root-run supervisor script (or NAME), with a venv.
quote_folder() {
    COMFY="$TMP/${1:-"it's my ComfyUI'; touch $TMP/pwned; '"}"
    mkdir -p "$COMFY/models" "$COMFY/venv/bin"
    touch "$COMFY/main.py"
    printf '#!/bin/sh\n' >"$COMFY/venv/bin/python"
    chmod +x "$COMFY/venv/bin/python"
}

@test "quoting: the supervisor script (run as root) keeps a path with ' and spaces one word" {
    quote_folder
    COMFY_LOCAL_INIT=none dry --firewall none --comfyui-service --comfyui-owner nobody
    [ "$status" -eq 0 ]
    generated "$STATE/comfyui-supervisor.sh" >"$TMP/sup.sh"
    sh -n "$TMP/sup.sh"
    # Run its cd and runuser lines with runuser replaced by a function that records its arguments.
    lines=$(grep -E '^(cd |    runuser )' "$TMP/sup.sh")
    [ "$(wc -l <<<"$lines")" -eq 2 ]
    (cd / && OUT="$TMP/args" sh -c 'runuser() { printf "%s\n" "$@" >"$OUT"; }
'"$lines"'
pwd >"$OUT.pwd"')
    [ ! -e "$TMP/pwned" ]
    [ "$(cat "$TMP/args.pwd")" = "$COMFY" ]
    [ "$(sed -n 2p "$TMP/args")" = nobody ]
    [ "$(sed -n 4p "$TMP/args")" = "$COMFY/venv/bin/python" ]
    [ "$(sed -n 5p "$TMP/args")" = main.py ]
}

@test "quoting: systemd units quote paths with spaces, ; and \$ (systemd-analyze verify accepts them)" {
    quote_folder 'my Comfy; $HOME & 100%'
    COMFY_LOCAL_INIT=systemd dry --firewall none --comfyui-service --comfyui-owner daemon
    [ "$status" -eq 0 ]
    generated /etc/systemd/system/state-comfyui.service >"$TMP/comfyui-unit.service"
    grep -qxF "WorkingDirectory=${COMFY//%/%%}" "$TMP/comfyui-unit.service"
    grep -qxF "ExecStart=\"${COMFY//%/%%}/venv/bin/python\" main.py --listen 127.0.0.1 --port 8188" "$TMP/comfyui-unit.service"
    generated /etc/systemd/system/state-sshd.service >"$TMP/sshd-unit.service"
    grep -q '^ExecStart="[^"]*sshd" -D -f "'"$STATE"'/sshd_config"$' "$TMP/sshd-unit.service"
    command -v systemd-analyze >/dev/null || { echo "systemd-analyze is missing (scripts/dev/test-scripts.sh installs systemd)"; false; }
    run systemd-analyze verify "$TMP/comfyui-unit.service"
    [ "$status" -eq 0 ] || { echo "$output"; false; }
}

@test "quoting: a ' in the path of a systemd service is refused (systemd cannot take it), not written" {
    quote_folder
    COMFY_LOCAL_INIT=systemd dry --firewall none --comfyui-service --comfyui-owner daemon
    [ "$status" -eq 2 ]
    [[ "$output" == *"must not contain a single quote with --comfyui-service under systemd"* ]]
    # systemd-analyze agrees: the same unit with the ' is rejected.
    command -v systemd-analyze >/dev/null || { echo "systemd-analyze is missing (scripts/dev/test-scripts.sh installs systemd)"; false; }
    printf '[Service]\nExecStart="%s/venv/bin/python" main.py\n' "${COMFY//%/%%}" >"$TMP/quote.service"
    run systemd-analyze verify "$TMP/quote.service"
    [ "$status" -ne 0 ]
}

@test "quoting: what cannot be quoted is refused (control characters, edge spaces, odd state dirs)" {
    for p in $'/x/a\tb' $'/x/a\nb' $'/x/a\rb' '/x/ab '; do
        run bash "$SCRIPT" --comfyui-path "$p" --dry-run
        [ "$status" -eq 2 ]
        [[ "$output" == *"must not contain control characters"* ]]
    done
    for d in '/etc/comfy local' "/etc/it's" '/etc/.hidden' '/etc/a$b'; do
        run bash "$SCRIPT" --comfyui-path /x --state-dir "$d" --dry-run
        [ "$status" -eq 2 ]
        [[ "$output" == *"--state-dir may hold only"* ]]
    done
    run bash "$SCRIPT" --comfyui-path /x --output-dir '/srv/my client' --dry-run
    [ "$status" -eq 2 ]
    [[ "$output" == *"--output-dir may hold only"* ]]
}

@test "state dir: an existing one not owned by root, or writable by others, is refused before anything" {
    mkdir -p "$STATE"
    if [ "$(id -u)" -eq 0 ]; then
        chown 65534 "$STATE"
        dry
        [ "$status" -eq 2 ]
        [[ "$output" == *"is owned by uid 65534, not root"* ]]
        chown 0 "$STATE"
    else
        # Not root: a directory of one's own is accepted (such a run changes nothing), one
        # everybody may write to is not.
        dry
        [ "$status" -eq 0 ]
        run bash "$SCRIPT" --comfyui-path "$COMFY" --state-dir /tmp --dry-run
        [ "$status" -eq 2 ]
        [[ "$output" == *"writable by its group or others"* ]]
    fi
    if [ "$(id -u)" -eq 0 ]; then
        chmod 0775 "$STATE"
        dry
        [ "$status" -eq 2 ]
        [[ "$output" == *"writable by its group or others (mode 775)"* ]]
        run bash "$SCRIPT" --uninstall --state-dir "$STATE" --dry-run
        [ "$status" -eq 2 ]
        chmod 0755 "$STATE"
        dry
        [ "$status" -eq 0 ]
    fi
}
