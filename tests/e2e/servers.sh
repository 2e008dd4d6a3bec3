# shellcheck shell=bash
# The test servers of deploy-production.sh: Docker hosts reached only over
# ssh, an ACME CA, and an S3 store, all on a network this run makes. Source
# it after lib.sh; it expects `set -euo pipefail` and $work.
#
# This machine cannot run a privileged container (its own sandbox lacks
# CAP_SYS_RESOURCE), so a server is what docs/operations.md's first step
# makes of a Debian machine, in network and mount namespaces of its own
# (server-init.sh is its init):
#  - its own address on the test network, where its ports 22, 80 and 443
#    are its own (what Traefik publishes there is on no other address);
#  - its own /run, so its /var/run/docker.sock is its own dockerd's, which
#    is what Traefik's mount of the socket reaches;
#  - its own dockerd: its own socket, data root, containers, volumes,
#    networks and iptables rules; started again when it exits, as a service
#    manager does, so a TERM to it is a restart of the server's Docker. Its
#    release is E2E_SERVER_ENGINE's: current (the default) is lib.sh's
#    current engine, Debian trixie's docker.io 26.1, the Docker teams run;
#    system is this machine's docker.io (20.10 on Debian 12);
#  - its own sshd: key-only login as `deploy`, in the group of the servers'
#    sockets (not in `docker`: this machine's socket refuses it), whose
#    sessions see the server's /run.
# The network is 198.18.0.0/24, in RFC 2544's range for network tests,
# which no real host uses: this machine is 198.18.0.1 on it, where the
# ACME CA and the S3 store listen.
#
# It uses the sourcing script's $work (lib.sh's start_work), $here (its
# directory) and, for s3_cli, $s3_access_key and $s3_secret_key.
# shellcheck disable=SC2154

test_bridge=djs-e2e0
test_gateway=198.18.0.1
# The group whose members may use the servers' Docker sockets.
server_docker_group=djs-e2e-docker
# The Docker release the servers run (see above): current or system.
server_engine=${E2E_SERVER_ENGINE:-current}
case "$server_engine" in current | system) ;; *) echo "E2E_SERVER_ENGINE=$server_engine: current or system" >&2; exit 1 ;; esac

# server_engine_files: the root of the servers' Docker release's files
# (empty for this machine's own), fetched when missing.
server_engine_files() {
    [ "$server_engine" = current ] || return 0
    install_current_docker >&2
    echo "$current_docker"
}

# server_dockerd_version: the version of Docker the servers run.
server_dockerd_version() {
    "$(server_engine_files)/usr/sbin/dockerd" --version | sed -E 's/^Docker version ([^,]*),.*/\1/'
}

# --- the network ---------------------------------------------------------------

test_network_up() {
    ip link add "$test_bridge" type bridge
    ip addr add "$test_gateway/24" dev "$test_bridge"
    ip link set "$test_bridge" up
    echo "$test_bridge" >>"$work/made-links"
}

# --- servers -------------------------------------------------------------------

server_dir() { echo "$work/servers/$1"; }
server_netns() { echo "djs-e2e-$1"; }

# deploy_user: the servers' login, as docs/operations.md makes it: no
# password (`adduser --disabled-password` sets `*`), key only. Made once on
# this machine and kept; its authorized key is this run's.
deploy_user() {
    getent group "$server_docker_group" >/dev/null || groupadd --system "$server_docker_group"
    if ! id deploy >/dev/null 2>&1; then
        useradd --create-home --shell /bin/sh --comment "django-stack e2e servers' deploy user" deploy
        usermod -p '*' deploy
    fi
    usermod -aG "$server_docker_group" deploy
    install -d -o deploy -g deploy -m 700 ~deploy/.ssh
    install -o deploy -g deploy -m 600 "$work/ssh/deploy.pub" ~deploy/.ssh/authorized_keys
}

# ssh_keys: this run's deploy key (the key a CI runner holds as a secret).
ssh_keys() {
    mkdir -p "$work/ssh" && chmod 700 "$work/ssh"
    ssh-keygen -q -t ed25519 -N '' -C "django-stack e2e deploy key" -f "$work/ssh/deploy"
    : >"$work/ssh/known_hosts"
}

# server_up NAME ADDR: a server at ADDR, with its dockerd and sshd running
# (server-init.sh, in the server's network and mount namespaces).
server_up() {
    local name=$1 addr=$2 dir netns engine_files
    dir=$(server_dir "$name")
    netns=$(server_netns "$name")
    mkdir -p "$dir"
    echo "$name $addr" >>"$work/servers.list"
    ip netns add "$netns"
    ip link add "$netns-h" type veth peer name eth0 netns "$netns"
    ip link set "$netns-h" master "$test_bridge" up
    ip -n "$netns" addr add "$addr/24" dev eth0
    ip -n "$netns" link set eth0 up
    ip -n "$netns" link set lo up
    ip -n "$netns" route add default via "$test_gateway"

    ssh-keygen -q -t ed25519 -N '' -C "server $name" -f "$dir/ssh_host_ed25519_key"
    printf '%s\n' "ListenAddress $addr" "HostKey $dir/ssh_host_ed25519_key" "PidFile /run/sshd.pid" \
        "PasswordAuthentication no" "KbdInteractiveAuthentication no" "PermitRootLogin no" "AllowUsers deploy" \
        "AuthenticationMethods publickey" >"$dir/sshd_config"
    # nsenter enters only the network namespace (`ip netns exec` would
    # also remount /sys, hiding the cgroups dockerd needs); unshare makes
    # the mount namespace in which server-init.sh mounts the server's /run.
    engine_files=$(server_engine_files)
    (without_inherited_fds setsid nsenter --net="/run/netns/$netns" unshare --mount --propagation private \
        "$here/server-init.sh" "$dir" "$server_docker_group" "$engine_files" </dev/null >>"$dir/init.log" 2>&1 &)
    wait_server_docker "$name" 60 || fail "server $name: dockerd did not start: $(tail -5 "$dir/dockerd.log" "$dir/init.log" 2>&1)"
}

# on_console NAME COMMAND...: a command as root on the server itself, in its
# namespaces: what its console gives an admin.
on_console() {
    local dir
    dir=$(server_dir "$1")
    shift
    nsenter --target "$(cat "$dir/init.pid")" --mount --net "$@"
}

# wait_server_docker NAME SECONDS: until the server's dockerd answers.
wait_server_docker() {
    local _
    for _ in $(seq "$2"); do
        [ -s "$(server_dir "$1")/init.pid" ] && on_console "$1" docker info >/dev/null 2>&1 && return 0
        sleep 1
    done
    return 1
}

# pin_host_key NAME ADDR: the server's host key, as ssh-keyscan reads it over
# the network, recorded in known_hosts only if its fingerprint is the one
# its console shows (docs/operations.md: check it before trusting it).
pin_host_key() {
    local name=$1 addr=$2 scanned console
    scanned=$(ssh-keyscan -t ed25519 "$addr" 2>/dev/null)
    console=$(ssh-keygen -lf "$(server_dir "$name")/ssh_host_ed25519_key.pub" | awk '{print $2}')
    [ "$(ssh-keygen -lf - <<<"$scanned" | awk '{print $2}')" = "$console" ] ||
        fail "server $name: the host key at $addr is not the one on its console ($console)"
    printf '%s\n' "$scanned" >>"$work/ssh/known_hosts"
    echo "$console"
}

# ssh_opts: the options every ssh to a server takes, the stack's
# host.sshOpts: this run's key only, the pinned host keys only, no prompt.
ssh_opts() {
    printf '%s\n' -i "$work/ssh/deploy" -o IdentitiesOnly=yes -o "UserKnownHostsFile=$work/ssh/known_hosts" \
        -o StrictHostKeyChecking=yes -o BatchMode=yes -o ConnectTimeout=10
}

# sh_quote ARGS...: the arguments as one line of POSIX sh, each in single
# quotes (the login shell on the server is sh, which reads no $'...').
sh_quote() {
    local arg quoted=()
    for arg in "$@"; do quoted+=("'${arg//\'/\'\\\'\'}'"); done
    printf '%s' "${quoted[*]}"
}

# on_server ADDR COMMAND...: a command on the server, over ssh as deploy, as
# a team's admin runs one, its arguments as they are. The run's own commands
# share one connection per server (ControlMaster), which spares a handshake
# each; the stack's deploys open their own.
on_server() {
    local addr=$1 opts
    shift
    mapfile -t opts < <(ssh_opts)
    ssh "${opts[@]}" -o ControlMaster=auto -o "ControlPath=$work/ssh/cm-%h" -o ControlPersist=120 \
        "deploy@$addr" "$(sh_quote "$@")"
}

# server_docker ADDR ARGS...: the docker CLI against the server, over ssh.
server_docker() {
    local addr=$1
    shift
    on_server "$addr" docker "$@"
}

# restart_server_docker NAME: what `systemctl restart docker` does on a
# server: dockerd gets SIGTERM, stops every container with its stop signal
# and timeout, exits, and starts again.
restart_server_docker() {
    local name=$1 pid _
    pid=$(cat "$(server_dir "$name")/dockerd.pid")
    kill -TERM "$pid"
    for _ in $(seq 180); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 1
    done
    ! kill -0 "$pid" 2>/dev/null || fail "server $name: dockerd $pid did not stop within 180 s"
    sleep 1
    wait_server_docker "$name" 60 || fail "server $name: dockerd did not start again"
}

# server_down NAME: the server is gone: its init stops dockerd (and the
# containers with it) and sshd; its address and everything it stored go.
server_down() {
    local name=$1 dir netns pid _
    dir=$(server_dir "$name")
    netns=$(server_netns "$name")
    pid=$(cat "$dir/init.pid" 2>/dev/null || true)
    if [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null; then
        for _ in $(seq 120); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 1
        done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    # What a killed daemon left: its containers' processes, its mounts.
    pkill -KILL -f -- "--data-root $dir/docker" 2>/dev/null || true
    grep -oE " $dir/[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    ip netns del "$netns" 2>/dev/null || true
    ip link del "$netns-h" 2>/dev/null || true
    rm -rf "$dir"
}

# --- the ACME CA -----------------------------------------------------------------

# internal_ca: this run's private CA, as a team's internal one: its root
# (internal-root.pem) signs the certificates of the ACME directory and of
# the S3 store, which serve https on $test_gateway. The stack is told to
# trust it (traefik.acme.caCertificates, backup.offsite.caCertificates).
internal_ca() {
    mkdir -p "$work/ca"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj "/CN=django-stack e2e internal CA" -keyout "$work/ca/root.key" -out "$work/ca/internal-root.pem" 2>/dev/null
}

# internal_cert NAME: a certificate of the internal CA for $test_gateway
# (and loopback), as NAME.pem and NAME.key in $work/ca.
internal_cert() {
    local ca=$work/ca
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$1" -keyout "$ca/$1.key" -out "$ca/$1.csr" 2>/dev/null
    printf 'subjectAltName=IP:%s,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' "$test_gateway" >"$ca/$1.ext"
    openssl x509 -req -days 2 -in "$ca/$1.csr" -CA "$ca/internal-root.pem" -CAkey "$ca/root.key" -CAcreateserial \
        -extfile "$ca/$1.ext" -out "$ca/$1.pem" 2>/dev/null
}

# pebble_up SERVER_ADDR DOMAIN...: Pebble, Let's Encrypt's test CA (Debian's
# package), on the test network at $test_gateway:14000, validating as
# Let's Encrypt does: over the network, on ports 80 and 443 of the address
# its DNS (pebble-challtestsrv, on loopback) gives for each domain, which is
# SERVER_ADDR. Nothing weakens validation (no PEBBLE_VA_ALWAYS_VALID); it
# does not sleep before validating, nor reject nonces at random. Its
# directory's https certificate is the internal CA's; the root it issues
# from is another, made at its start (pebble-root.pem): the only root the
# run's clients of the site trust.
pebble_up() {
    local server=$1 dir=$work/pebble domain
    shift
    mkdir -p "$dir"
    internal_cert pebble
    cat >"$dir/pebble.json" <<EOF
{"pebble": {"listenAddress": "$test_gateway:14000", "managementListenAddress": "127.0.0.1:15000",
  "certificate": "$work/ca/pebble.pem", "privateKey": "$work/ca/pebble.key",
  "httpPort": 80, "tlsPort": 443, "ocspResponderURL": "", "externalAccountBindingRequired": false}}
EOF
    (without_inherited_fds setsid pebble-challtestsrv -defaultIPv4 "$server" -defaultIPv6 "" -dns01 127.0.0.1:8053 \
        -http01 "" -https01 "" -tlsalpn01 "" -management 127.0.0.1:8055 </dev/null >"$dir/challtestsrv.log" 2>&1 &)
    (PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 without_inherited_fds setsid pebble -config "$dir/pebble.json" \
        -dnsserver 127.0.0.1:8053 </dev/null >"$dir/pebble.log" 2>&1 &)
    local _
    for _ in $(seq 30); do
        curl -sf --cacert "$work/ca/internal-root.pem" -o "$dir/pebble-root.pem" https://127.0.0.1:15000/roots/0 && break
        sleep 0.5
    done
    [ -s "$dir/pebble-root.pem" ] || fail "Pebble did not start: $(tail -5 "$dir/pebble.log")"
    for domain in "$@"; do
        point_dns "$domain" "$server"
    done
    echo "Pebble at https://$test_gateway:14000/dir, issuing from $(openssl x509 -noout -subject -in "$dir/pebble-root.pem" | sed 's/^subject=//')"
}

# point_dns DOMAIN ADDR: the CA's DNS answers ADDR for DOMAIN.
point_dns() {
    curl -sf -X POST -d "{\"host\": \"$1\"}" http://127.0.0.1:8055/clear-a >/dev/null
    curl -sf -X POST -d "{\"host\": \"$1\", \"addresses\": [\"$2\"]}" http://127.0.0.1:8055/add-a >/dev/null
}

# pebble_orders: how many certificates Pebble has issued in this run.
pebble_orders() { grep -c 'Issued certificate serial' "$work/pebble/pebble.log" || true; }

# --- the S3 store ------------------------------------------------------------------

# s3_up BUCKET: tests/e2e/s3server (gofakes3, the S3 protocol in memory) at
# https://$test_gateway:9000 with the internal CA's certificate, BUCKET
# made; the aws command on this machine (Debian's awscli) talks to it with
# s3_cli.
s3_up() {
    internal_cert s3
    (without_inherited_fds setsid "$work/bin/s3server" -listen "$test_gateway:9000" -bucket "$1" \
        -cert "$work/ca/s3.pem" -key "$work/ca/s3.key" </dev/null >"$work/s3server.log" 2>&1 &)
    local _
    for _ in $(seq 20); do
        grep -q 'serving S3' "$work/s3server.log" 2>/dev/null && return 0
        sleep 0.25
    done
    fail "the S3 store did not start: $(cat "$work/s3server.log")"
}

s3_cli() {
    AWS_ACCESS_KEY_ID=$s3_access_key AWS_SECRET_ACCESS_KEY=$s3_secret_key AWS_DEFAULT_REGION=us-east-1 \
        aws --endpoint-url "https://$test_gateway:9000" --ca-bundle "$work/ca/internal-root.pem" "$@"
}

# --- what a run leaves ---------------------------------------------------------------

# test_infra_down: every server of this run, the CA, the S3 store and the
# network, stopped and removed.
test_infra_down() {
    local name _addr
    if [ -f "$work/servers.list" ]; then
        while read -r name _addr; do server_down "$name"; done <"$work/servers.list"
    fi
    pkill -f -- "-config $work/pebble/pebble.json" 2>/dev/null || true
    pkill -f -- "pebble-challtestsrv -defaultIPv4" 2>/dev/null || true
    pkill -f -- "$work/bin/s3server" 2>/dev/null || true
    ip link del "$test_bridge" 2>/dev/null || true
}

# clear_killed_production_runs: what a killed run of deploy-production.sh
# left (its servers, CA, store, network), found by its work directory.
clear_killed_production_runs() {
    local dir
    for dir in /tmp/e2e-production.*; do
        [ "$dir" != "$work" ] && [ -f "$dir/owner" ] || continue
        ! kill -0 "$(cat "$dir/owner")" 2>/dev/null || fail "another deploy-production.sh runs ($dir): the test network is one per machine"
        (work=$dir test_infra_down)
        echo "a killed run left $dir: its servers and test network removed"
        rm -rf "$dir"
    done
    ! ip link show "$test_bridge" >/dev/null 2>&1 || ip link del "$test_bridge"
}
