#!/usr/bin/env bash
# Production, for real: `pulumi up --stack production` as docs/operations.md
# ("Running production") walks a team through it, onto a server reached
# only over ssh, with HTTPS from a real ACME CA, two backend replicas,
# protected and retained data, and dumps sent off the server to S3.
#
#  - The server: a Docker host of its own, reached as ssh://deploy@ADDR with
#    the stack's host.sshOpts (a key, the pinned host key); see servers.sh
#    for what it is. Nothing of the stack touches this machine's Docker
#    socket: images are built here (nothing can be pulled) and sent to the
#    server over ssh, as a registry would serve them.
#  - The CA: Pebble, Let's Encrypt's test CA, validating over the network
#    with the http challenge (production's default without a Cloudflare
#    zone) on the first server and the tls challenge on the second. Traefik
#    trusts its directory's private root through traefik.acme.caCertificates;
#    the checks' clients trust only the root Pebble issues from.
#  - The S3 store: tests/e2e/s3server (gofakes3) on the test network, over
#    https with a certificate of the run's internal CA, which the off-host
#    copy trusts through backup.offsite.caCertificates; the copy runs a
#    stand-in of amazon/aws-cli with Debian's awscli.
#  - The config: a throwaway copy of the project and a file state backend of
#    its own. The copy's Pulumi.production.yaml differs from the shipped one
#    only in the environment's facts (host, ssh options, domains, the CA,
#    the S3 store), set with the commands of the walk-through; the profile
#    is production's as it is.
#
# This machine has 2 CPUs and production assumes a host of 6 CPUs and 8 GiB
# (host.cpus, host.memory): its containers reserve 4.1 CPUs, which Docker
# does not enforce for containers, and their limits (2 CPUs at most each)
# fit, so the profile runs here unchanged, only slower. host.cpus is left at
# 6: declared as 2, production's guardrail refuses the deploy, as it should
# on a server that small.
#
# Each check prints its figure, each phase its time. Contacts nothing
# outside this machine: the test network is 198.18.0.0/24 (RFC 2544), made
# and removed by the run. Needs root, Docker (for building the images), and
# Debian's pebble, awscli and openssh (installed when missing).
#   E2E_KEEP=1   keep the servers, the copy and the state (printed) at the end
#   E2E_RESUME=DIR E2E_FROM=PHASE   go on with a kept run (see below)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=tests/e2e/lib.sh
. "$here/lib.sh"
# shellcheck source=tests/e2e/servers.sh
. "$here/servers.sh"

project_name=django-stack
stack=production
prefix=$project_name-$stack
engine_kit=${PULUMI_ENGINE_KIT:-$repo/../shared/engine}
domains=(django-e2e.test www.django-e2e.test)
site=https://${domains[0]}
server_a=198.18.0.10
server_b=198.18.0.11
# Pulumi.production.yaml's backend image; the release is its next tag.
image_repo=registry.example.com/django-app
bucket=django-e2e-backups
s3_access_key=e2e-backups

# E2E_RESUME=DIR E2E_FROM=PHASE: a run kept with E2E_KEEP=1 in DIR goes on
# from the first phase whose name starts with PHASE, on its servers, state
# and config (a failed check is fixed and tried again in minutes).
if [ -n "${E2E_RESUME:-}" ]; then
    work=$E2E_RESUME copy=$E2E_RESUME/project logs=$E2E_RESUME/logs
    echo $$ >"$work/owner"
    export PULUMI_BACKEND_URL=file://$work/state PULUMI_HOME=$work/pulumi-home PULUMI_SKIP_UPDATE_CHECK=true
    export PULUMI_CONFIG_PASSPHRASE
    PULUMI_CONFIG_PASSPHRASE=$(cat "$work/passphrase")
    unset DOCKER_CONTEXT DOCKER_HOST
    s3_secret_key=$(cat "$work/s3-secret")
else
    start_work production
    s3_secret_key=$(random_secret 40)
    (umask 077 && printf '%s' "$PULUMI_CONFIG_PASSPHRASE" >"$work/passphrase" && printf '%s' "$s3_secret_key" >"$work/s3-secret")
fi
started=$(now)
server=$server_a

load_pid=""
cleanup() {
    local status=$?
    set +e
    [ -z "$load_pid" ] || kill "$load_pid" 2>/dev/null
    if [ "$status" -ne 0 ]; then
        rm -rf /tmp/e2e-production-failed-logs && cp -r "$logs" /tmp/e2e-production-failed-logs &&
            echo "the engine's logs of this failed run: /tmp/e2e-production-failed-logs" >&2
        if [ -n "${server:-}" ] && [ -f "$work/servers.list" ]; then
            for c in $(server_docker "$server" ps -aq --filter "label=djangostack.stack=$stack" 2>/dev/null); do
                echo "--- last lines of $(server_docker "$server" inspect -f '{{.Name}} {{.State.Status}}' "$c")'s log" >&2
                server_docker "$server" logs --tail 20 "$c" 2>&1 | sed 's/^/  /' >&2
            done
        fi
    fi
    if [ -n "${E2E_KEEP:-}" ]; then
        echo "kept: the servers ($(cat "$work/servers.list" 2>/dev/null | tr '\n' ' ')), the project copy $copy, its state $work/state (PULUMI_BACKEND_URL=$PULUMI_BACKEND_URL, PULUMI_CONFIG_PASSPHRASE=$PULUMI_CONFIG_PASSPHRASE)"
    else
        # The stack lives on the servers only: taking them down removes all
        # of it, the protected and retained volumes too.
        test_infra_down
        rm -rf "$work"
    fi
    stop_docker
    exit "$status"
}
trap cleanup EXIT

# --- tools, images, the program --------------------------------------------------------

tools() {
    local missing="" p
    for p in pebble awscli openssh-server openssh-client; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
    done
    if [ -n "$missing" ]; then
        echo "installing$missing"
        apt-get -o DPkg::Lock::Timeout=600 update -qq
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends $missing >/dev/null
    fi
    echo "pebble $(dpkg-query -W -f='${Version}' pebble); $(aws --version); $(ssh -V 2>&1); the servers' Docker $(server_dockerd_version)"
}

compile() {
    (cd "$repo" && go build -o "$work/bin/probe" ./tests/e2e/probe && go build -o "$work/bin/s3server" ./tests/e2e/s3server &&
        go build -o "$work/bin/backupctl" ./cmd/backupctl && go build -o "$work/bin/stackctl" ./cmd/stackctl)
    (cd "$repo" && git ls-files --cached --others --exclude-standard -z | tar --null -T - -c) | tar -x -C "$copy"
    rm -rf "${copy:?}/bin"
    build_program "$copy"
}

# production_images: the stand-ins (built when missing), the aws-cli
# stand-in, and the backend: the reference backend's image (from
# deploy-local.sh or backend-image.sh) under production's image name, and
# the release, a commit of it under the next tag.
production_images() {
    local i source=""
    [ -z "$(missing_standins)" ] || images
    build_image amazon/aws-cli:2.27.50 "$here/standins/aws-cli"
    for i in django-stack-local-backend:local djangostack-backend:e2e; do
        if docker image inspect "$i" >/dev/null 2>&1; then source=$i && break; fi
    done
    [ -n "$source" ] || fail "no backend image: run tests/e2e/deploy-local.sh or tests/e2e/backend-image.sh first"
    docker tag "$source" "$image_repo:1.0.0"
    local c
    c=$(docker create "$source")
    docker commit --change 'LABEL e2e.release=1.0.1' "$c" "$image_repo:1.0.1" >/dev/null
    docker rm "$c" >/dev/null
    echo "backend $image_repo:1.0.0 from $source, its release $image_repo:1.0.1"
}

# The images a server holds: what a registry would serve it.
server_images=("${standin_images[@]}" amazon/aws-cli:2.27.50 "$image_repo:1.0.0" "$image_repo:1.0.1")

# send_images ADDR: the images to the server over ssh (docker save | docker load).
send_images() {
    local start bytes
    start=$(now)
    docker save "${server_images[@]}" | tee >(wc -c >"$work/images.bytes") | on_server "$1" docker load >/dev/null
    bytes=$(cat "$work/images.bytes")
    pass "${#server_images[@]} images sent to the server at $1 over ssh ($((bytes / 1000000)) MB in $(seconds_since "$start")s)"
}

# --- the servers, the CA, the store ---------------------------------------------------

infrastructure() {
    clear_killed_production_runs
    ssh_keys
    deploy_user
    test_network_up
    server_up a "$server_a"
    local fingerprint
    fingerprint=$(pin_host_key a "$server_a")
    expect "the server answers over ssh as deploy, with its own Docker ($server_engine engine; its CLI $(server_docker "$server_a" version --format '{{.Client.Version}}'))" \
        "$(server_docker "$server_a" version --format '{{.Server.Version}}')" "$(server_dockerd_version)"
    expect "the server's Docker is its own: its data root" "$(server_docker "$server_a" info --format '{{.DockerRootDir}}')" "$(server_dir a)/docker"
    if out=$(runuser -u deploy -- docker -H unix:///var/run/docker.sock ps 2>&1); then
        fail "deploy can use this machine's own Docker socket: $out"
    fi
    pass "server a at $server_a: host key $fingerprint pinned from its console; deploy is refused this machine's Docker socket"
    internal_ca
    pebble_up "$server_a" "${domains[@]}"
    s3_up "$bucket"
}

# --- config: the environment's facts ------------------------------------------------------

cfg() { pulumi_in_copy config set --stack "$stack" "$@" >/dev/null; }

# configure: the walk-through's config commands, with this run's facts.
configure() {
    pulumi_in_copy stack init "$stack" >/dev/null
    cfg --path host.docker "ssh://deploy@$server_a"
    local opts i=0 o
    mapfile -t opts < <(ssh_opts)
    for o in "${opts[@]}"; do
        cfg --path "host.sshOpts[$i]" -- "$o"
        i=$((i + 1))
    done
    cfg --path 'domains[0]' "${domains[0]}"
    cfg --path 'domains[1]' "${domains[1]}"
    cfg --path traefik.acme.email "ops@${domains[0]}"
    cfg --path traefik.acme.caServer "https://$test_gateway:14000/dir"
    cfg --path traefik.acme.caCertificates -- "$(cat "$work/ca/internal-root.pem")"
    cfg --path backup.offsite.url "s3://$bucket/$stack"
    cfg --path backup.offsite.endpoint "https://$test_gateway:9000"
    cfg --path backup.offsite.caCertificates -- "$(cat "$work/ca/internal-root.pem")"
    cfg --path backup.offsite.accessKeyId "$s3_access_key"
    cfg --secret offsiteSecretKey "$s3_secret_key"
    local keys
    keys=$(python3 "$here/config_keys.py" "$repo/Pulumi.$stack.yaml" "$copy/Pulumi.$stack.yaml")
    expect "the copy's config differs from the shipped Pulumi.$stack.yaml only in the environment's facts" "$keys" \
        "backup.offsite.accessKeyId+ backup.offsite.caCertificates+ backup.offsite.endpoint+ backup.offsite.url+ domains* host.docker* host.sshOpts+ offsiteSecretKey+ traefik.acme.caCertificates+ traefik.acme.caServer+ traefik.acme.email+"
}

# --- 1. a first up -------------------------------------------------------------------------

stack_ps() { # stack_ps FORMAT: every container of the stack on the server
    server_docker "$server" ps -a --filter "label=djangostack.stack=$stack" --format "$1"
}

first_up() {
    pulumi_in_copy preview --stack "$stack" --diff >"$logs/first-preview.log"
    pass "pulumi preview --diff --stack $stack over ssh: $(grep -oE '\+ [0-9]+ to create' "$logs/first-preview.log")"
    local start took unhealthy
    start=$(now)
    PULUMI_DEBUG_COMMANDS=true pulumi_in_copy up --stack "$stack" --yes --skip-preview --event-log "$logs/first-up.events.jsonl" >"$logs/first-up.log"
    took=$(seconds_since "$start")
    # The update waits for every container's health but the backups' (on an
    # engine with no start interval, their first probe is 120 s after their
    # start): check_offsite waits for those.
    unhealthy=$(stack_ps '{{.Names}} {{.Status}}' | grep -v -e '(healthy)' -e 'migrate' -e 'postgres-password' -e '-backup' -e '-files Created' || true)
    [ -z "$unhealthy" ] || fail "containers not healthy after up: $unhealthy"
    pass "pulumi up --stack $stack: $(stack_ps '{{.Names}}' | wc -l) containers, every one the update waits for healthy ${took}s after the start of up"
    echo "  phases of the update (seconds after its start):"
    python3 "$here/events.py" "$logs/first-up.events.jsonl"
}

# tls_probe NAME [ADDR]: the probe's TLS check of NAME at the server,
# trusting only Pebble's root.
tls_probe() {
    "$work/bin/probe" tls -addr "${2:-$server}:443" -name "$1" -cacert "$work/pebble/pebble-root.pem"
}

# certificates: each domain's time from Traefik's start to a certificate
# that a client trusting only Pebble's root accepts, and from the first
# backend's first passing healthcheck: Traefik asks for a certificate once
# it routes to a healthy backend.
certificates() {
    local traefik_start healthy domain deadline got b first
    traefik_start=$(date -d "$(server_docker "$server" inspect -f '{{.State.StartedAt}}' "$prefix-traefik")" +%s.%N)
    healthy=""
    for b in $(backends); do
        # RFC 3339, which date reads (Go's default time format it does not).
        first=$(server_docker "$server" inspect -f '{{range .State.Health.Log}}{{if eq .ExitCode 0}}{{.End.Format "2006-01-02T15:04:05.999999999Z07:00"}}{{"\n"}}{{end}}{{end}}' "$b" | sed -n 1p)
        [ -n "$first" ] || continue
        first=$(date -d "$first" +%s.%N)
        if [ -z "$healthy" ] || awk -v a="$first" -v b="$healthy" 'BEGIN { exit !(a < b) }'; then healthy=$first; fi
    done
    for domain in "${domains[@]}"; do
        deadline=$((SECONDS + 180))
        until tls_probe "$domain" >"$logs/tls-$domain.log" 2>&1; do
            [ "$SECONDS" -lt "$deadline" ] || fail "$domain: no valid certificate 180 s after Traefik started: $(cat "$logs/tls-$domain.log")"
            sleep 0.5
        done
        got=$(now)
        local since_healthy=""
        [ -z "$healthy" ] || since_healthy=", $(awk -v a="$healthy" -v b="$got" 'BEGIN { printf "%.1f", b - a }')s after the first backend was healthy"
        pass "$domain: a certificate from Pebble $(awk -v a="$traefik_start" -v b="$got" 'BEGIN { printf "%.1f", b - a }')s after Traefik started$since_healthy"
    done
    echo "  certificates Pebble issued: $(pebble_orders)"
}

# --- 2. HTTPS --------------------------------------------------------------------------------

resolve_args() { # curl's --resolve for every domain, on PORT
    local d
    for d in "${domains[@]}"; do printf -- '--resolve\n%s:%s:%s\n' "$d" "$1" "$server"; done
}

https_curl() { # https_curl ARGS...: curl trusting only Pebble's root, names resolved to the server
    local resolve
    mapfile -t resolve < <(resolve_args 443)
    curl -s --max-time 10 --cacert "$work/pebble/pebble-root.pem" "${resolve[@]}" "$@"
}

site_curl() { https_curl "$@"; } # what lib.sh's stackctl checks reach the site with

http_curl() { # http_curl ARGS...: plain http on port 80 of the server
    local resolve
    mapfile -t resolve < <(resolve_args 80)
    curl -s --max-time 10 "${resolve[@]}" "$@"
}

probe_net() { # the probe's flags for the site: names resolved to the server, Pebble's root only
    local d
    for d in "${domains[@]}"; do printf -- '-resolve\n%s:%s\n' "$d" "$server"; done
    printf -- '-cacert\n%s\n' "$work/pebble/pebble-root.pem"
}

check_https() {
    local domain out headers want
    for domain in "${domains[@]}"; do
        out=$(tls_probe "$domain") || fail "$domain over TLS: $out"
        pass "$(head -1 <<<"$out")"
        pass "$(tail -1 <<<"$out")"
        expect "GET https://$domain/api/ over HTTP/2" \
            "$(https_curl -o /dev/null -w '%{http_code} HTTP/%{http_version}' "https://$domain/api/")" "200 HTTP/2"
        expect "http://$domain/notes/?a=1 redirects to https permanently (GET 301, POST 308: the method kept)" \
            "$(http_curl -o /dev/null -w '%{http_code} %{redirect_url}' "http://$domain/notes/?a=1"; echo -n ", ";
                http_curl -o /dev/null -X POST -w '%{http_code} %{redirect_url}' "http://$domain/notes/?a=1")" \
            "301 https://$domain/notes/?a=1, 308 https://$domain/notes/?a=1"
        out=$(http_curl -o /dev/null -w '%{http_code}' "http://$domain/.well-known/acme-challenge/e2e-no-such-token")
        [ "$out" = 404 ] || fail "http://$domain/.well-known/acme-challenge/…: $out (want 404 from Traefik's ACME handler, not a redirect)"
        pass "http://$domain/.well-known/acme-challenge/… is not redirected: Traefik's ACME handler answers it ($out for an unknown token)"
    done
    headers=$(https_curl -D - -o /dev/null "$site/")
    for want in 'strict-transport-security: max-age=31536000; includeSubDomains; preload' \
        'x-content-type-options: nosniff' 'referrer-policy: same-origin' 'x-frame-options: DENY'; do
        grep -qiF "$want" <<<"$headers" || fail "GET $site/ lacks '$want':"$'\n'"$headers"
    done
    pass "GET $site/: HSTS (1 year, subdomains, preload), nosniff, Referrer-Policy same-origin, X-Frame-Options DENY"

    local net
    mapfile -t net < <(probe_net)
    out=$("$work/bin/probe" ws "${net[@]}" -url "wss://${domains[0]}/ws/ping/" -origin "$site" 2>&1) || fail "wss: $out"
    expect "a websocket over wss:// answers through the channel layer" "$out" '{"type": "pong", "echo": "e2e", "via": "channel layer"}'

    server_docker "$server" exec -e DJANGO_SUPERUSER_PASSWORD=e2e-admin-password --user django "$(backends | head -1)" \
        python3 manage.py createsuperuser --noinput --username e2e --email "e2e@${domains[0]}" >/dev/null
    out=$("$work/bin/probe" login "${net[@]}" -base "$site" -user e2e -password e2e-admin-password 2>&1) || fail "admin login over https: $out"
    grep -q 'csrftoken (HttpOnly Secure\|csrftoken (Secure' <<<"$out" && grep -q 'sessionid (HttpOnly Secure' <<<"$out" ||
        fail "the cookies over https are not Secure: $out"
    pass "the admin over https: a CSRF-protected sign-in, csrftoken and sessionid cookies Secure"
}

# --- 3. both replicas ------------------------------------------------------------------------

backends() { server_docker "$server" ps --filter "label=djangostack.stack=$stack" --filter "label=djangostack.component=backend" --format '{{.Names}}' | sort; }

# check_replicas: 40 requests with a marker; Traefik's access log names the
# server each went to, which is a backend container's address.
check_replicas() {
    local marker=e2e-replica-$RANDOM b ip count seen=0 names
    names=$(backends)
    [ "$(wc -l <<<"$names")" = 2 ] || fail "production runs $(wc -l <<<"$names") backends, not 2: $names"
    for _ in $(seq 40); do https_curl -o /dev/null "$site/api/?$marker" || true; done
    sleep 1
    server_docker "$server" logs "$prefix-traefik" 2>/dev/null | grep -F "$marker" >"$work/replicas.log" || true
    for b in $names; do
        ip=$(server_docker "$server" inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}' "$b")
        count=0
        for a in $ip; do count=$((count + $(grep -cF "//$a:" "$work/replicas.log" || true))); done
        [ "$count" -gt 0 ] || fail "$b ($ip) answered none of 40 requests"
        echo "      $b ($ip): $count of 40"
        seen=$((seen + count))
    done
    expect "both backend replicas answer; Traefik's access log accounts for every request" "$seen" 40
}

# --- 4. a release under load over HTTPS ----------------------------------------------------

# up_under_load WHAT [COMMAND...]: runs `pulumi up` (or COMMAND) while the
# probe loads the site over HTTPS on both domains; at least 2,000 requests,
# none failed.
up_under_load() {
    local what=$1 took start before after net report requests failed log
    shift
    log=$logs/release-${what//[^a-z0-9.]/-}.log
    before=$(backends | tr '\n' ' ')
    mapfile -t net < <(probe_net)
    "$work/bin/probe" load -c 4 "${net[@]}" -url "$site/api/" -url "https://${domains[1]}/notes/" >"$work/load.json" &
    load_pid=$!
    sleep 1
    start=$(now)
    if [ $# -gt 0 ]; then
        "$@" >"$log" 2>&1 || { kill -TERM "$load_pid"; tail -30 "$log" >&2; fail "release $what: $*"; }
    else
        pulumi_in_copy up --stack "$stack" --yes --skip-preview >"$log" || { kill -TERM "$load_pid"; fail "release $what"; }
    fi
    took=$(seconds_since "$start")
    kill -TERM "$load_pid"
    wait "$load_pid" || fail "the load generator failed"
    load_pid=""
    after=$(backends | tr '\n' ' ')
    [ "$before" != "$after" ] || fail "release $what: the backend containers are the same ($after)"
    report=$(cat "$work/load.json")
    requests=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["requests"])' <<<"$report")
    failed=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["failed"])' <<<"$report")
    echo "  load during the release: $report"
    [ "$requests" -ge 2000 ] || fail "release $what: only $requests requests during the update (want at least 2,000)"
    [ "$failed" -eq 0 ] || fail "release $what: $failed of $requests requests failed"
    pass "release of $what over HTTPS (update ${took}s): $requests requests under load, 0 failed; backends now $after"
}

release() {
    cfg --path backend.image "$image_repo:1.0.1"
    # Each request in its replica's log too: what stackctl logs merges.
    cfg --path backend.env.GUNICORN_CMD_ARGS -- "--access-logfile -"
    up_under_load "image $image_repo:1.0.1"
    check_no_changes "after the release"
}

# --- 5. restarts keep the certificates -------------------------------------------------------

wait_site() { # wait_site SECONDS: until the site serves over HTTPS with Pebble's certificate
    local deadline=$((SECONDS + $1))
    until [ "$(https_curl -o /dev/null -w '%{http_code}' "$site/api/")" = 200 ]; do
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 0.5
    done
}

check_restarts() {
    local orders serial start
    orders=$(pebble_orders)
    serial=$(tls_probe "${domains[0]}")
    serial=$(head -1 <<<"$serial")
    start=$(now)
    server_docker "$server" restart "$prefix-traefik" >/dev/null
    wait_site 120 || fail "the site does not serve 120 s after Traefik restarted"
    pass "Traefik restarted: the site serves over HTTPS again $(seconds_since "$start")s later"
    start=$(now)
    restart_server_docker a
    wait_site 240 || fail "the site does not serve 240 s after the server's dockerd restarted: $(stack_ps '{{.Names}} {{.Status}}' | tr '\n' ';')"
    pass "the server's dockerd restarted: the site serves again by itself $(seconds_since "$start")s after the restart began, no pulumi up"
    local after
    after=$(tls_probe "${domains[0]}")
    expect "the certificate after both restarts is the one issued before" "$(head -1 <<<"$after")" "$serial"
    expect "the CA issued no new certificate across the restarts ($orders issued in all)" "$(pebble_orders)" "$orders"
    check_no_changes "after the restarts"
}

# --- 8. a failed step does not block the next deploy --------------------------------------------

# on_the_server FUNCTION ARGS...: lib.sh's checks, whose plain docker
# commands go to the server over ssh. Not in a subshell: their passed
# checks count, and a failure ends the run (set -e), cleanup and all.
on_the_server() {
    docker() { server_docker "$server" "$@"; }
    "$@"
    unset -f docker
}

# rollback: the release back to the image before (the other of the two
# the server holds), as the walk-through's rollback does: a new image for
# the migration.
rollback() {
    local current
    current=$(cd "$copy" && pulumi config get --stack "$stack" --path backend.image)
    if [ "$current" = "$image_repo:1.0.1" ]; then
        cfg --path backend.image "$image_repo:1.0.0"
    else
        cfg --path backend.image "$image_repo:1.0.1"
    fi
}
site_serves() { wait_site 60 || fail "the site does not serve over HTTPS"; }

failed_steps() {
    on_the_server retry_failed_migration rollback site_serves
    on_the_server retry_failed_password_step site_serves
}

# --- 7. backups: off the server, restored over ssh ------------------------------------------

backup_exec() { server_docker "$server" exec "$prefix-backup" "$@"; }
psql_app() { server_docker "$server" exec "$prefix-postgres" psql -U app -d app -qtAc "$1"; }
# backupctl COMMAND ARGS...: the command in the project copy, for the stack.
backupctl() { (cd "$copy" && "$work/bin/backupctl" "$1" --stack "$stack" "${@:2}"); }

# in_bucket NAME SECONDS: until NAME and its .sha256 are in the bucket.
in_bucket() {
    local deadline=$((SECONDS + $2))
    until s3_cli s3 ls "s3://$bucket/$stack/$1.sha256" >/dev/null 2>&1; do
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 1
    done
}

# check_offsite: the scheduled dump (the backup service's first, at its
# start) reaches the bucket, with a checksum it matches.
check_offsite() {
    local first taken arrived c deadline start
    start=$(now)
    for c in "$prefix-backup" "$prefix-backup-offsite"; do
        deadline=$((SECONDS + 200))
        until [ "$(server_docker "$server" inspect -f '{{.State.Health.Status}}' "$c")" = healthy ]; do
            [ "$SECONDS" -lt "$deadline" ] || fail "$c is not healthy: $(server_docker "$server" inspect -f '{{.State.Health.Status}} {{json .State.Health.Log}}' "$c" | tail -c 600)"
            sleep 2
        done
    done
    pass "the backup service and its off-host copy are healthy ($(seconds_since "$start")s after this check began, which the update does not wait for)"
    first=$(backup_exec sh -c 'cd /backups && ls -1 *.dump' | sed -n 1p)
    [ -n "$first" ] || fail "the backup service took no dump at its start"
    in_bucket "$first" 180 || fail "$first is not in s3://$bucket/$stack/ 180 s after it was taken: $(s3_cli s3 ls "s3://$bucket/$stack/" 2>&1)"
    # Its time from its name (PREFIX-YYYYmmddTHHMMSSZ.dump), its copy's
    # from the bucket's listing of the checksum, the last part copied.
    taken=$(sed -E 's/.*-([0-9]{8})T([0-9]{2})([0-9]{2})([0-9]{2})Z\.dump$/\1 \2:\3:\4 UTC/' <<<"$first")
    taken=$(date -d "$taken" +%s)
    arrived=$(date -u -d "$(s3_cli s3 ls "s3://$bucket/$stack/$first.sha256" | awk '{print $1, $2}')" +%s)
    mkdir -p "$work/bucket"
    s3_cli s3 cp --only-show-errors "s3://$bucket/$stack/$first" "$work/bucket/$first"
    s3_cli s3 cp --only-show-errors "s3://$bucket/$stack/$first.sha256" "$work/bucket/$first.sha256"
    (cd "$work/bucket" && sha256sum --quiet -c "$first.sha256") || fail "the copy of $first in the bucket does not match its checksum"
    pass "the scheduled dump $first is in s3://$bucket/$stack/ with its checksum, which it matches ($(stat -c %s "$work/bucket/$first") bytes; in the bucket $((arrived - taken))s after it was taken)"
}

# check_restore: rows dumped, then lost, come back with backupctl restore
# over ssh with the stack's sshOpts; the dump restored is older than the
# retention keeps, and the safety dump's pruning leaves it.
check_restore() {
    psql_app "DROP TABLE IF EXISTS e2e_kept; CREATE TABLE e2e_kept (id int PRIMARY KEY, note text); INSERT INTO e2e_kept SELECT n, 'row ' || n FROM generate_series(1, 1000) n;"
    # A dump now, as the schedule takes one (components/scripts/backup.sh).
    backup_exec sh /opt/backup/backup.sh once >/dev/null
    restored=$(backup_exec sh -c 'cd /backups && ls -1 *.dump' | tail -1)
    echo "$restored" >"$work/restored-dump"
    out=$(backupctl list 2>&1) || fail "backupctl list over ssh: $out"
    grep -qF "$restored" <<<"$out" || fail "backupctl list does not show $restored: $out"
    pass "backupctl list --stack $stack over ssh with host.sshOpts: $(grep -c '\.dump' <<<"$out") dumps, $restored among them"
    in_bucket "$restored" 180 || fail "$restored did not reach the bucket within 180 s"

    psql_app "DELETE FROM e2e_kept WHERE id > 10; INSERT INTO e2e_kept VALUES (5000, 'after the dump');" >/dev/null
    local start
    start=$(now)
    out=$(backupctl restore "$restored" 2>&1) || fail "backupctl restore $restored: $out"
    expect "backupctl restore $restored over ssh: the rows of the dump, none written after it"         "$(psql_app "SELECT count(*) || ' ' || sum(id) FROM e2e_kept")" "1000 500500"
    wait_site 60 || fail "the site does not serve after the restore"
    pass "the restore took $(seconds_since "$start")s with its safety dump; the site serves again"
}

# --- 9. backupctl is safe to interrupt, and keeps the dump it restores ------------------------

rows() { psql_app "SELECT count(*) || ' ' || sum(id) FROM e2e_kept"; }
# restored: the dump check_restore restored, which holds the 1,000 rows.
restored=""
restored() { [ -n "$restored" ] || restored=$(cat "$work/restored-dump"); }

# check_pinned_restore: the dump restored is beyond the retention (older
# than maxAge, behind `keep` newer dumps), which the safety dump's prune
# applies: the dump stays, pinned, and another as old goes.
check_pinned_restore() {
    local keep old other out
    restored
    keep=$(backup_exec sh -c 'echo "$BACKUP_KEEP"')
    # $restored (check_restore) holds the 1,000 rows. Two copies of it under
    # old names, 40 days old by their files' times, and $keep newer ones:
    # the retention keeps only the newer.
    old=$prefix-20261001T120000Z.dump
    other=$prefix-20261001T120100Z.dump
    backup_exec sh -c '
        cd /backups && src=$1 && keep=$2 && old=$3 && other=$4 && prefix=$5
        copy() { cp -p "$src" "$1" && sha256sum "$1" >"$1.sha256" && chown --reference="$src" "$1" "$1.sha256"; }
        for n in "$old" "$other"; do copy "$n" && touch -d "40 days ago" "$n" "$n.sha256"; done
        i=0
        while [ "$i" -lt "$keep" ]; do copy "$(printf "%s-20261102T1200%02dZ.dump" "$prefix" "$i")"; i=$((i + 1)); done
    ' sh "$restored" "$keep" "$old" "$other" "$prefix"
    psql_app "DELETE FROM e2e_kept WHERE id > 500" >/dev/null
    out=$(backupctl restore "$old" 2>&1) || fail "backupctl restore $old: $out"
    expect "backupctl restore of a dump beyond the retention ($old, 40 days old, behind $keep newer): its rows" "$(rows)" "1000 500500"
    out=$(backup_exec sh -c 'cd /backups && for f in "$@"; do [ -f "$f" ] && echo "$f kept" || echo "$f pruned"; done' sh "$old" "$other")
    expect "the safety dump's prune kept the dump being restored (pinned) and pruned the other as old" "$out" "$old kept"$'\n'"$other pruned"
    [ -z "$(backup_exec sh -c 'ls -A /backups | grep "\.pin$"' || true)" ] || fail "a pin is left after the restore"
}

# check_interrupted_restore: Ctrl-C (SIGINT) while backupctl restores, the
# backends stopped: backupctl cancels or finishes the restore on the server,
# starts the backends, and the site serves again; the database is whole,
# as it was or as the dump.
check_interrupted_restore() {
    local log=$work/interrupted-restore.log pid deadline start status out
    restored
    psql_app "DELETE FROM e2e_kept WHERE id > 500" >/dev/null
    # Not through the function: $! must be backupctl's own pid.
    (cd "$copy" && exec "$work/bin/backupctl" restore --stack "$stack" "$restored") >"$log" 2>&1 &
    pid=$!
    deadline=$((SECONDS + 120))
    until grep -q '^backupctl: restoring' "$log"; do
        kill -0 "$pid" 2>/dev/null || fail "backupctl ended before its restore: $(cat "$log")"
        [ "$SECONDS" -lt "$deadline" ] || fail "backupctl did not reach its restore in 120 s: $(cat "$log")"
        sleep 0.1
    done
    kill -INT "$pid"
    start=$(now)
    status=0
    wait "$pid" || status=$?
    [ "$status" -ne 0 ] || fail "backupctl exited 0 after Ctrl-C: $(cat "$log")"
    wait_site 90 || fail "the site does not serve 90 s after Ctrl-C: $(tail -5 "$log")"
    pass "Ctrl-C during backupctl restore, the backends stopped: the site serves again $(seconds_since "$start")s later (backupctl exited $status)"
    sed -n 's/^backupctl: //p' "$log" | grep -i -e interrupt -e cancel -e restored | head -3 | sed 's/^/      /'
    out=$(rows)
    case $out in
    "500 125250") pass "the database is as it was before the restore ($out)" ;;
    "1000 500500") pass "the database is the dump, restored whole ($out)" ;;
    *) fail "the database is neither as it was nor the dump: $out" ;;
    esac
}

# --- 7c. disaster recovery: the server is lost ----------------------------------------------

# check_recovery: server a is gone with everything on it. A fresh server
# b, the walk-through's recovery steps, and the newest dump from the bucket:
# the site serves the restored rows, with a certificate from the tls
# challenge this time.
check_recovery() {
    local newest start out
    # The state to come back: the 1,000 rows, in a dump the schedule takes,
    # copied off the server.
    restored
    [ "$(rows)" = "1000 500500" ] || backupctl restore "$restored" >/dev/null
    backup_exec sh /opt/backup/backup.sh once >/dev/null
    newest=$(backup_exec sh -c 'cd /backups && ls -1 *.dump' | tail -1)
    in_bucket "$newest" 180 || fail "$newest did not reach the bucket within 180 s"
    server_down a
    pass "server a is gone, with its volumes; the bucket holds $(s3_cli s3 ls "s3://$bucket/$stack/" | grep -c '\.dump$') dumps"

    start=$(now)
    server=$server_b
    server_up b "$server_b"
    pin_host_key b "$server_b" >/dev/null
    for d in "${domains[@]}"; do point_dns "$d" "$server_b"; done
    send_images "$server_b"
    cfg --path host.docker "ssh://deploy@$server_b"
    cfg --path traefik.acme.challenge tls
    pulumi_in_copy state delete --stack "$stack" --force --yes --target-dependents \
        "urn:pulumi:$stack::$project_name::pulumi:providers:docker::docker" >"$logs/state-delete.log"
    pulumi_in_copy up --stack "$stack" --yes --skip-preview >"$logs/recovery-up.log"
    out=$(backupctl list --offsite 2>&1) || fail "backupctl list --offsite: $out"
    grep -qF "$newest" <<<"$out" || fail "backupctl list --offsite does not show $newest: $out"
    out=$(backupctl fetch "$newest" 2>&1) || fail "backupctl fetch $newest: $out"
    out=$(backupctl restore "$newest" 2>&1) || fail "backupctl restore $newest: $out"
    wait_site 120 || fail "the site does not serve on server b"
    pass "from an empty server to the restored site in $(seconds_since "$start")s (server, images, pulumi up, fetch, restore)"
    expect "the rows of the last dump, $newest, are on server b" "$(rows)" "1000 500500"
    out=$(tls_probe "${domains[0]}") || fail "server b over TLS: $out"
    pass "server b: $(head -1 <<<"$out") (the tls challenge)"
    check_no_changes "on server b"
}

# --- 6. protected data ---------------------------------------------------------------------

check_protection() {
    local before after out left
    # What the stack has on the server: containers, networks, volumes.
    on_host() {
        stack_ps 'container {{.ID}}'
        server_docker "$server" network ls --filter "label=djangostack.stack=$stack" --format 'network {{.ID}}'
        server_docker "$server" volume ls --filter "label=djangostack.stack=$stack" --format 'volume {{.Name}}'
    }
    before=$(on_host | sort)
    if out=$(cd "$copy" && pulumi destroy --stack "$stack" --yes --skip-preview 2>&1); then
        fail "pulumi destroy --stack $stack went through"
    fi
    grep -q 'DestroyGuard::destroy-guard.* cannot be deleted' <<<"$out" || fail "pulumi destroy failed, but not at the destroy guard: $(grep -A3 error <<<"$out" | head -8)"
    after=$(on_host | sort)
    expect "pulumi destroy --stack $stack refuses at the protected destroy guard and touches nothing ($(grep -c . <<<"$before") containers, networks and volumes the same)" "$after" "$before"
    pulumi_in_copy state unprotect --stack "$stack" --all --yes >/dev/null
    pulumi_in_copy destroy --stack "$stack" --yes --skip-preview >"$logs/destroy.log"
    left=$( {
        stack_ps 'container {{.Names}}'
        server_docker "$server" network ls --filter "label=djangostack.stack=$stack" --format 'network {{.Name}}'
        server_docker "$server" volume ls --filter "label=djangostack.stack=$stack" --format 'volume {{.Name}}' | sort
    })
    expect "after the unprotect steps, destroy leaves only the retained volumes" "$left" \
        "$(printf 'volume %s\n' "$prefix-backups" "$prefix-media" "$prefix-postgres-data")"
    server_docker "$server" run -d --name e2e-kept-check -v "$prefix-postgres-data:/var/lib/postgresql/data" postgres:16-alpine >/dev/null
    local deadline=$((SECONDS + 60)) rows=""
    until rows=$(server_docker "$server" exec e2e-kept-check psql -U app -d app -qtAc "SELECT count(*) || ' ' || sum(id) FROM e2e_kept" 2>/dev/null); do
        [ "$SECONDS" -lt "$deadline" ] || fail "no Postgres on the retained volume"
        sleep 1
    done
    server_docker "$server" rm -f e2e-kept-check >/dev/null
    expect "the retained data volume holds every row" "$rows" "1000 500500"
}

# --- the run ------------------------------------------------------------------------------

# step NAME COMMAND...: a phase, unless a resumed run has not reached
# E2E_FROM yet.
resuming=${E2E_RESUME:+yes}
step() {
    if [ -n "$resuming" ] && [[ $1 != "${E2E_FROM:-}"* ]]; then
        echo "--- $1 (done before: resuming at ${E2E_FROM:-})"
        return
    fi
    resuming=""
    phase "$@"
}

# The run, as one function: bash has read all of it before it starts, so an
# edit of this file while it runs changes nothing of the run.
main() {
    phase "tools (pebble, awscli, ssh; the servers' Docker)" tools
    phase "docker engine (for the images)" ensure_docker
    phase "engine (CLI, plugins, Traefik)" engine
    if [ -n "${E2E_RESUME:-}" ]; then
        server=$(cd "$copy" && pulumi config get --stack "$stack" --path host.docker)
        server=${server#ssh://deploy@}
    fi
    step "images (stand-ins, backend)" production_images
    step "compile the program and the test tools" compile
    step "the test network, server a, the CA, the S3 store" infrastructure
    step "the images to server a over ssh" send_images "$server_a"
    step "config: the environment's facts" configure
    step "1. first up" first_up
    step "1b. the healthchecks fit the server's engine" on_the_server check_engine_fit "first up over ssh"
    step "1. certificates" certificates
    step "2. HTTPS" check_https
    step "3. both replicas" check_replicas
    step "4. release under load over HTTPS" release
    step "4b. stackctl status over ssh" on_the_server check_stackctl_status
    step "4b. stackctl logs over ssh" on_the_server check_stackctl_logs
    step "4b. stackctl exec over ssh" on_the_server check_stackctl_exec
    step "4c. stackctl rollback under load over HTTPS" on_the_server check_rollback up_under_load
    step "5. restarts keep the certificates" check_restarts
    step "8. a failed step, then up again" failed_steps
    step "7a. a scheduled dump off the server" check_offsite
    step "7b. backupctl restore over ssh" check_restore
    step "9a. backupctl keeps the dump it restores" check_pinned_restore
    step "9b. backupctl interrupted" check_interrupted_restore
    step "7c. disaster recovery onto a fresh server" check_recovery
    step "6. protected data" check_protection
    print_timings
    echo "--- total $(seconds_since "$started")s"
    print_checks
}

main "$@"
exit
