#!/usr/bin/env bash
# The program's main job, for real: `pulumi up --stack local` with the real
# engine on this machine's Docker, then what a user would do with the site.
#
#  - The engine: the Pulumi CLI (.ci/pulumi-cli, built from the Go module
#    proxy) and the Go language host, the docker and random plugins and a
#    Traefik binary (../shared/engine/build, from their public sources). All
#    cached after the first build.
#  - The images: nothing can be pulled here, so postgres:16-alpine,
#    redis:7-alpine, nginx:1.27-alpine and traefik:v3.5 are stand-ins built
#    from Debian's packages (tests/e2e/standins), under exactly those names,
#    behaving as the official images do where the program relies on it. The
#    backend is the reference backend the local stack builds itself.
#  - A throwaway copy of the project and a file state backend under a
#    temporary directory: the repository's Pulumi.<stack>.yaml files and the
#    user's Pulumi login are never touched. The program is built once, to
#    the buildTarget of the copy's Pulumi.yaml, as the language host does.
#
# Each check prints its figure. Contacts nothing outside this machine: the
# stacks whose config names a documentation host (203.0.113.x) are pointed at
# the local socket before their preview.
#
# Needs root, Docker (started if not running; restarted once, by check 7),
# and no other `local` stack of this project on this Docker. Stops what it
# started: the stack is destroyed, the state and the copy are removed.
#   E2E_KEEP=1     keep the stack, the copy and the state (printed) at the end
#   E2E_LOGS=DIR   keep the containers' logs and the engine's event log there
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=tests/e2e/lib.sh
. "$here/lib.sh"

# The engine the run deploys to (lib.sh, use_engine): Docker 26 unless
# E2E_ENGINE=system; a first up and a release also run on the system's
# Docker 20.10 (check 11).
: "${E2E_ENGINE:=current}"
project_name=django-stack
stack=local
prefix=$project_name-$stack
site=http://localhost:8080
engine_kit=${PULUMI_ENGINE_KIT:-$repo/../shared/engine}

start_work deploy
started=$(now)

deployed=""
# The load generator of a release, stopped at the end if a failure left it
# running: it would load the machine for the runs after this one.
load_pid=""
cleanup() {
    local status=$?
    set +e
    [ -z "$load_pid" ] || kill "$load_pid" 2>/dev/null
    if [ -n "${E2E_LOGS:-}" ]; then
        mkdir -p "$E2E_LOGS"
        cp "$logs"/* "$E2E_LOGS"/ 2>/dev/null
        for c in $(docker ps -aq --filter "label=djangostack.stack=$stack" 2>/dev/null); do
            docker logs "$c" >"$E2E_LOGS/$(docker inspect -f '{{.Name}}' "$c" | tr -d /).log" 2>&1
        done
    fi
    if [ "$status" -ne 0 ]; then
        for c in $(docker ps -aq --filter "label=djangostack.stack=$stack" 2>/dev/null); do
            echo "--- last lines of $(docker inspect -f '{{.Name}}' "$c")'s log" >&2
            docker logs --tail 30 "$c" 2>&1 | sed 's/^/  /' >&2
        done
    fi
    if [ -n "${E2E_KEEP:-}" ]; then
        echo "kept: the project copy $copy, its state $work/state (PULUMI_BACKEND_URL=$PULUMI_BACKEND_URL, PULUMI_CONFIG_PASSPHRASE=$PULUMI_CONFIG_PASSPHRASE)"
    else
        [ -z "$deployed" ] || destroy_at_exit
        # Whatever a failed run left of its own stack: only after this run
        # deployed; a stack it refused to touch stays as it was.
        [ -z "$deployed" ] || remove_leftovers "$work/state" >/dev/null
        rm -rf "$work"
    fi
    stop_docker
    exit "$status"
}
trap cleanup EXIT

http() { # http PATH [curl options...]: "STATUS" of a GET through Traefik
    curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$@"
}
site_curl() { curl -s --max-time 10 "$@"; } # what lib.sh's stackctl checks reach the site with

# --- the engine, the images, the program ------------------------------------------

# compile: the test tools, and the program as the Go language host builds
# it: to the buildTarget of Pulumi.yaml, where every later preview and up
# find it up to date.
compile() {
    (cd "$repo" && go build -o "$work/bin/probe" ./tests/e2e/probe && go build -o "$work/bin/clicases" ./tests/e2e/clicases &&
        go build -o "$work/bin/envctl" ./cmd/envctl && go build -o "$work/bin/stackctl" ./cmd/stackctl)
    (cd "$repo" && git ls-files --cached --others --exclude-standard -z | tar --null -T - -c) | tar -x -C "$copy"
    rm -rf "$copy/bin"
    build_program "$copy"
    ls -l "$copy/bin/$project_name" | awk '{printf "program binary: %.0f MB\n", $5 / 1e6}'
}

# --- 0. bad config, as the terminal shows it --------------------------------------------

# check_cli_cases: the bad configs of tests/testdata/cli-cases.yaml through
# `pulumi preview`, in a copy of the project and a state of their own.
check_cli_cases() {
    local cases=$work/cases
    mkdir -p "$cases/project" "$cases/state"
    (cd "$copy" && tar -c .) | tar -x -C "$cases/project"
    PULUMI_BACKEND_URL=file://$cases/state "$work/bin/clicases" -cases "$repo/tests/testdata/cli-cases.yaml" -project "$cases/project" |
        tee "$logs/cli-cases.log"
    local passed
    passed=$(grep -c '^  ok ' "$logs/cli-cases.log")
    pass "$passed bad configs refused by pulumi preview with the program's message, once, nothing planned"
}

# --- 1. a first deploy ----------------------------------------------------------------

first_deploy() {
    pulumi_in_copy stack init "$stack" >/dev/null
    pulumi_in_copy config set --stack "$stack" --path host.docker "$docker_host" >/dev/null
    # An app secret of the user's own, as the README says to set one.
    app_token=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
    pulumi_in_copy config set --stack "$stack" --secret --path backendSecrets.E2E_APP_TOKEN "$app_token" >/dev/null
    local start
    start=$(now)
    deployed=1
    # The host's process list, sampled throughout the update: every process
    # of every container shows in it (check_secrets looks for the secrets).
    sample_processes "$work/ps-samples" &
    local sampler=$!
    # --event-log is one of the CLI's debugging flags.
    PULUMI_DEBUG_COMMANDS=true pulumi_in_copy up --stack "$stack" --yes --skip-preview --event-log "$logs/first-up.events.jsonl" >"$logs/first-up.log"
    local took
    took=$(seconds_since "$start")
    kill "$sampler"
    wait "$sampler" 2>/dev/null || true
    local unhealthy
    # The one-shot steps exit; the writers of the containers' files
    # (<container>-files) are never started.
    unhealthy=$(docker ps -a --filter "label=djangostack.stack=$stack" --format '{{.Names}} {{.Status}}' |
        grep -v -e '(healthy)' -e 'migrate' -e 'postgres-password' -e '-files Created' || true)
    [ -z "$unhealthy" ] || fail "containers not healthy after up: $unhealthy"
    pass "pulumi up --stack local: every container healthy ${took}s after the start of up ($(seconds_since "$started")s into the run, with the engine, images and compile)"
    echo "  phases of the update (seconds after its start):"
    python3 "$here/events.py" "$logs/first-up.events.jsonl"
}

# --- 2. the site, through Traefik ---------------------------------------------------------

backend_container() { docker ps --filter "label=djangostack.stack=$stack" --filter "label=djangostack.component=backend" --format '{{.Names}}' | head -1; }

check_site() {
    expect "GET / through Traefik" "$(http "$site/")" 200
    local body
    body=$(curl -s --max-time 10 "$site/api/")
    expect "GET /api/ answers the health document" "$body" '{"status":"ok","database":"ok","redis":"ok"}'

    local css headers
    css=$(curl -s --max-time 10 "$site/" | grep -o '/static/[^"]*\.css' | head -1)
    [ -n "$css" ] || fail "the home page links no stylesheet"
    headers=$(curl -s -D - -o /dev/null --max-time 10 "$site$css")
    grep -qi '^cache-control: public, immutable' <<<"$headers" || fail "$css: no Cache-Control: public, immutable in:"$'\n'"$headers"
    grep -qi '^expires: ' <<<"$headers" || fail "$css: no Expires"
    pass "GET $css: 200 from nginx, Cache-Control: public, immutable, Expires $(grep -i '^expires:' <<<"$headers" | cut -d' ' -f2- | tr -d '\r')"

    docker exec --user django "$(backend_container)" sh -c 'echo "uploaded" > /srv/media/e2e-upload.txt'
    headers=$(curl -s -D - --max-time 10 "$site/media/e2e-upload.txt")
    grep -q '^uploaded' <<<"$headers" && grep -qi '^cache-control: public' <<<"$headers" && grep -qi '^accept-ranges: bytes' <<<"$headers" ||
        fail "/media/e2e-upload.txt:"$'\n'"$headers"
    pass "a file written into the media volume is served at /media/ with Cache-Control: public and byte ranges"

    docker exec -e DJANGO_SUPERUSER_PASSWORD=e2e-admin-password --user django "$(backend_container)" \
        python3 manage.py createsuperuser --noinput --username e2e --email e2e@example.com >/dev/null
    local out
    out=$("$work/bin/probe" login -base "$site" -user e2e -password e2e-admin-password 2>&1) || fail "admin login: $out"
    pass "the admin: login page with a csrftoken cookie, a CSRF-protected POST that signs in, a session"
    sed 's/^/      /' <<<"$out"

    out=$("$work/bin/probe" ws -url "ws://localhost:8080/ws/ping/" -origin "$site" 2>&1) || fail "websocket: $out"
    expect "a websocket ping through Traefik answers through the channel layer" "$out" '{"type": "pong", "echo": "e2e", "via": "channel layer"}'
    if out=$("$work/bin/probe" ws -url "ws://localhost:8080/ws/ping/" -origin "https://evil.example" 2>&1); then
        fail "a websocket from a foreign Origin was accepted: $out"
    fi
    pass "a websocket from a foreign Origin is refused (${out#*refused })"

    expect "an unknown Host gets no site" "$(http "$site/" -H 'Host: unknown.example')" 404
}

# --- 2c. client addresses and HSTS ----------------------------------------------------------

# throttled: the addresses DRF's anonymous throttle has counted since the
# last call (its keys in the backend's cache), emptied after reading.
throttled() {
    docker exec --user django "$(backend_container)" python3 manage.py shell -c "
from django.core.cache import cache
keys = cache.keys('throttle_anon_*')
print(' '.join(sorted(k[len('throttle_anon_'):] for k in keys)))
cache.delete_many(keys)"
}

check_client_addresses() {
    local forged=198.51.100.7 gateway traefik_ip counted out
    gateway=$(docker network inspect -f '{{range .IPAM.Config}}{{.Gateway}}{{end}}' "$prefix-edge")
    traefik_ip=$(docker inspect -f "{{(index .NetworkSettings.Networks \"$prefix-edge\").IPAddress}}" "$prefix-traefik")
    throttled >/dev/null
    expect "GET /api/notes/ through Traefik, with a forged X-Forwarded-For: $forged" "$(http "$site/api/notes/" -H "X-Forwarded-For: $forged")" 200
    counted=$(throttled)
    [ "$counted" != "$traefik_ip" ] || fail "the throttle counted Traefik's address $traefik_ip: the backend does not believe its own Traefik"
    expect "the anonymous throttle counts $counted, the client Traefik saw (the edge network's gateway; Traefik is $traefik_ip), not $forged" "$counted" "$gateway"

    # A container beside the backend, as another stack's is on a shared
    # ingress network: its own claim, sent straight to the backend, is not
    # believed.
    out=$(docker run --rm --network "$prefix-edge" --entrypoint python3 "$prefix-backend:local" -c "
import socket, urllib.request
request = urllib.request.Request('http://$(backend_container):8000/api/notes/', headers={'Host': 'localhost', 'X-Forwarded-For': '$forged'})
print(socket.gethostbyname(socket.gethostname()), urllib.request.urlopen(request, timeout=10).status)")
    [ "${out#* }" = 200 ] || fail "a container on the edge network got ${out#* } from the backend"
    counted=$(throttled)
    expect "a container on the edge network sending X-Forwarded-For $forged straight to the backend is counted as itself: $counted" "$counted" "${out% *}"

    # Cloudflare's side, which the local stack does not have: the proxied
    # render through the real Traefik (the engine kit's binary).
    out=$(cd "$repo" && TRAEFIK_BIN=$TRAEFIK_BIN go test ./tests -run '^TestRealTraefikKeepsForwardedHeadersOfTrustedIPsOnly$' -count=1 -v 2>&1) ||
        fail "the real Traefik with the rendered forwardedHeaders:"$'\n'"$out"
    grep -q -- '--- PASS: TestRealTraefikKeepsForwardedHeadersOfTrustedIPsOnly' <<<"$out" || fail "the real Traefik's test did not run:"$'\n'"$out"
    pass "the real Traefik with Cloudflare's ranges as trustedIPs drops a forged X-Forwarded-For from 127.0.0.1, and keeps it from a trusted address:"
    grep 'the upstream got' <<<"$out" | sed 's/^ *clientip_test.go:[0-9]*: /      /'

    # HSTS: none on plain http; the backend holds the program's policy,
    # traefik.securityHeaders.hsts, which it sends over TLS.
    out=$(curl -s -D - -o /dev/null --max-time 10 "$site/")
    ! grep -qi '^strict-transport-security' <<<"$out" || fail "HSTS on plain http: $(grep -i '^strict-transport-security' <<<"$out")"
    out=$(docker inspect -f '{{range .Config.Env}}{{println .}}{{end}}' "$(backend_container)" | grep '^HSTS_' | sort | tr '\n' ' ')
    expect "no Strict-Transport-Security on plain http; the backend's HSTS is traefik.securityHeaders.hsts (1 year, subdomains, preload)" \
        "$out" "HSTS_INCLUDE_SUBDOMAINS=True HSTS_PRELOAD=True HSTS_SECONDS=31536000 "
}

# --- 3. what is reachable ---------------------------------------------------------------------

check_exposure() {
    local published
    published=$(docker ps --filter "label=djangostack.stack=$stack" --format '{{.Names}} {{.Ports}}' | awk 'NF > 1' | grep -- '->' || true)
    expect "the only published port is Traefik's, on 127.0.0.1" "$published" "$prefix-traefik 127.0.0.1:8080->80/tcp"

    # Each server is asked in its own protocol (tests/e2e/answers.py): from
    # the host, at the host's addresses and at the server's own address on
    # the data network (whose bridge has no address on the host, so the
    # host has no route to it), and from a container on the edge network.
    local c ip port kind edge=$prefix-edge targets=() out
    for c in postgres:5432 redis:6379; do
        kind=${c%%:*}
        port=${c#*:}
        c=$prefix-$kind
        ip=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}' "$c" | awk '{print $1}')
        targets+=(127.0.0.1 "$port" "$kind" "$(hostname -I | awk '{print $1}')" "$port" "$kind" "$ip" "$port" "$kind")
        # The control: a container on the data network gets an answer.
        out=$(docker run --rm -i --network "$prefix-data" --entrypoint python3 "$prefix-backend:local" - "$c" "$port" "$kind" <"$here/answers.py") &&
            fail "the control failed: $out"
        if ip route get "$ip" | grep -q ' dev br-'; then
            fail "the host has a route to the data network: $(ip route get "$ip" | head -1)"
        fi
    done
    out=$(python3 "$here/answers.py" "${targets[@]}") || fail "reachable from the host: $out"
    out=$(docker run --rm -i --network "$edge" --entrypoint python3 "$prefix-backend:local" - \
        "$prefix-postgres" 5432 postgres "$prefix-redis" 6379 redis "${targets[@]:6:3}" "${targets[@]:15:3}" <"$here/answers.py") ||
        fail "reachable from a container on the edge network: $out"
    pass "Postgres and Redis do not answer from the host (its addresses, theirs: no route) nor from a container on the edge network (by name or address); they do on the data network"
}

# --- 4. secrets ---------------------------------------------------------------------------------

# sample_processes FILE: the host's process list (every argument of every
# process, the containers' included), appended to FILE every 0.1 s until
# killed or the script ends, each sample after a line "--- sample".
sample_processes() {
    while kill -0 "$$" 2>/dev/null; do
        echo "--- sample"
        ps -eo args
        sleep 0.1
    done >"$1"
}

# check_stopped_containers VALUES_FILE: no stopped container of the stack
# (the one-shot steps that ran, any created and never started) holds a
# secret of VALUES_FILE (one a line) in its writable layer (overlay2's upper
# directory, else its exported file system) or in its directory under
# Docker's root (its config, logs).
check_stopped_containers() {
    local values=$1 root c name upper files=0 stopped=0 found=""
    root=$(docker info -f '{{.DockerRootDir}}')
    for c in $(docker ps -aq --filter "label=djangostack.stack=$stack" --filter status=exited --filter status=created); do
        stopped=$((stopped + 1))
        name=$(docker inspect -f '{{.Name}}' "$c" | tr -d /)
        upper=$(docker inspect -f '{{if .GraphDriver.Data}}{{index .GraphDriver.Data "UpperDir"}}{{end}}' "$c")
        if [ -n "$upper" ] && [ -d "$upper" ]; then
            files=$((files + $(find "$upper" -type f | wc -l)))
            grep -rqF -f "$values" "$upper" "$root/containers/$(docker inspect -f '{{.Id}}' "$c")" && found+=" $name"
        else
            files=$((files + $(docker export "$c" | tar -t | wc -l)))
            { docker export "$c"; cat "$root/containers/$(docker inspect -f '{{.Id}}' "$c")"/*; } | grep -qaF -f "$values" && found+=" $name"
        fi
    done
    [ "$stopped" -ge 2 ] || fail "found $stopped stopped containers of the stack, want the password step and the migration"
    [ -z "$found" ] || fail "a stopped container holds a secret in its files:$found"
    pass "stopped containers hold no secret: $stopped stopped containers of the stack, $files files in their writable layers, $(wc -l <"$values") secrets looked for"
}

# check_process_list VALUES_FILE: no secret of VALUES_FILE appeared in the
# host's process list sampled throughout the first update.
check_process_list() {
    local samples
    samples=$(grep -c '^--- sample$' "$work/ps-samples")
    [ "$samples" -ge 50 ] || fail "only $samples samples of the process list were taken during the first update"
    ! grep -qF -f "$1" "$work/ps-samples" || fail "a secret appeared in the host's process list during the first update"
    pass "no secret in the host's process list during the first update: $samples samples of ps -eo args, $(grep -vc '^--- sample$' "$work/ps-samples") process lines, $(wc -l <"$1") secrets looked for"
}

# check_secret_setting_refused: a setting set with --secret (here inside
# backend.env) is refused by pulumi preview at its key, naming the value's
# path from Pulumi.local.yaml and never the value; then it is removed.
check_secret_setting_refused() {
    local leak out start
    leak=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
    pulumi_in_copy config set --stack "$stack" --secret --path backend.env.E2E_LEAK "$leak" >/dev/null
    start=$(now)
    if out=$(cd "$copy" && pulumi preview --stack "$stack" 2>&1); then
        fail "pulumi preview accepted backend.env.E2E_LEAK set with --secret"
    fi
    pulumi_in_copy config rm --stack "$stack" --path backend.env.E2E_LEAK >/dev/null
    grep -qF "backend: holds a value set with --secret (backend.env.E2E_LEAK)" <<<"$out" ||
        fail "the refusal does not name backend.env.E2E_LEAK:"$'\n'"$(grep -i -A3 error <<<"$out" | head -20)"
    ! grep -qF "$leak" <<<"$out" || fail "the refusal of a secret setting echoes its value"
    pass "a setting set with --secret (backend.env.E2E_LEAK) refused by pulumi preview at its key, the value never echoed ($(seconds_since "$start")s)"
}

check_secrets() {
    local db_password redis_password secret_key fingerprint_key superuser_password
    db_password=$(cd "$copy" && pulumi stack output databaseUrl --show-secrets --stack "$stack" | sed -E 's|^postgres://[^:]*:([^@]*)@.*|\1|')
    redis_password=$(cd "$copy" && pulumi stack output redisUrl --show-secrets --stack "$stack" | sed -E 's|^redis://:([^@]*)@.*|\1|')
    fingerprint_key=$(cd "$copy" && pulumi stack output fingerprintKey --show-secrets --stack "$stack")
    secret_key=$(docker exec "$(backend_container)" cat /run/secrets/secret_key)
    [ "$(docker exec "$(backend_container)" cat /run/secrets/e2e_app_token)" = "$app_token" ] ||
        fail "the app secret backendSecrets.E2E_APP_TOKEN is not in /run/secrets/e2e_app_token"
    # The superuser's password is in no output: from the state.
    superuser_password=$(cd "$copy" && pulumi stack export --show-secrets --stack "$stack" | python3 -c '
import json, sys
for r in json.load(sys.stdin)["deployment"]["resources"]:
    if r["urn"].endswith("::secrets-postgres-superuser-password"):
        result = r["outputs"]["result"]
        print(json.loads(result["plaintext"]) if isinstance(result, dict) else result)')
    [ "${#db_password}" -ge 32 ] && [ "${#redis_password}" -ge 32 ] && [ "${#secret_key}" -ge 50 ] && [ "${#fingerprint_key}" -ge 64 ] && [ "${#superuser_password}" -ge 32 ] ||
        fail "could not read the generated secrets back (lengths ${#db_password}, ${#redis_password}, ${#secret_key}, ${#fingerprint_key}, ${#superuser_password})"
    printf '%s\n' "$db_password" "$redis_password" "$secret_key" "$superuser_password" "$app_token" >"$work/secret-values"
    check_stopped_containers "$work/secret-values"
    check_process_list "$work/secret-values"
    local c
    for c in $(docker ps --filter "label=djangostack.stack=$stack" --format '{{.Names}}'); do
        [[ $c == *-postgres-password-* ]] && continue
        if docker exec "$c" sh -c 'cat /run/secrets/* 2>/dev/null' | grep -qF -- "$superuser_password"; then
            fail "the database superuser's password is in $c"
        fi
    done
    pass "the database superuser's password is in none of the running containers' /run/secrets (only the password step has it)"

    local where="$work/where"
    mkdir -p "$where"
    for c in $(docker ps -aq --filter "label=djangostack.stack=$stack"); do
        docker inspect "$c" >>"$where/docker-inspect"
        docker logs "$c" >>"$where/docker-logs" 2>&1
    done
    cp -r "$work/state" "$where/state"
    (cd "$copy" && pulumi stack output --json --stack "$stack") >"$where/stack-outputs"
    cat "$logs"/*.log >"$where/pulumi-logs"
    local name value found
    for name in db_password redis_password secret_key superuser_password app_token fingerprint_key; do
        value=${!name}
        found=$(grep -rlF -- "$value" "$where" || true)
        [ -z "$found" ] || fail "the generated $name is in plain text in: ${found//$where\//}"
    done
    pass "no generated secret, nor the app's own, in plain text in docker inspect of $(docker ps -aq --filter "label=djangostack.stack=$stack" | wc -l) containers, the state, the stack outputs, the engine's or the containers' logs"
    check_secret_setting_refused
    local env_files
    env_files=$(docker inspect -f '{{range .Config.Env}}{{println .}}{{end}}' "$(backend_container)" | grep '_FILE=' | sort | tr '\n' ' ')
    expect "the backend gets its secrets as files" "$env_files" "DB_PASSWORD_FILE=/run/secrets/db_password E2E_APP_TOKEN_FILE=/run/secrets/e2e_app_token REDIS_PASSWORD_FILE=/run/secrets/redis_password SECRET_KEY_FILE=/run/secrets/secret_key "
}

# --- 6. releases under load ------------------------------------------------------------------------

# release WHAT [COMMAND...]: runs `pulumi up` (or COMMAND) while the probe
# loads /api/ and /notes/ (a template page with a form, which sets the CSRF
# cookie and counts the visit in the session), and requires at least 2,000
# requests during the update and none failed.
release() {
    local what=$1 report took start before after
    shift
    before=$(docker ps --filter "label=djangostack.stack=$stack" --filter "label=djangostack.component=backend" --format '{{.Names}}' | sort | tr '\n' ' ')
    "$work/bin/probe" load -c 4 -url "$site/api/" -url "$site/notes/" >"$work/load.json" &
    load_pid=$!
    sleep 1
    start=$(now)
    if [ $# -gt 0 ]; then
        "$@" >"$logs/release-$what.log" 2>&1 || { tail -30 "$logs/release-$what.log" >&2; fail "release $what: $*"; }
    else
        pulumi_in_copy up --stack "$stack" --yes --skip-preview >"$logs/release-$what.log"
    fi
    took=$(seconds_since "$start")
    kill -TERM "$load_pid"
    wait "$load_pid" || fail "the load generator failed"
    after=$(docker ps --filter "label=djangostack.stack=$stack" --filter "label=djangostack.component=backend" --format '{{.Names}}' | sort | tr '\n' ' ')
    [ "$before" != "$after" ] || fail "release $what: the backend containers are the same ($after)"
    report=$(cat "$work/load.json")
    local requests failed
    requests=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["requests"])' <<<"$report")
    failed=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["failed"])' <<<"$report")
    echo "  load during the release: $report"
    [ "$requests" -ge 2000 ] || fail "release $what: only $requests requests during the update (want at least 2,000)"
    [ "$failed" -eq 0 ] || fail "release $what: $failed of $requests requests failed"
    pass "release of $what (update ${took}s): $requests requests under load, 0 failed; backends now $after"
}

release_env() {
    pulumi_in_copy config set --stack "$stack" --path backend.env.E2E_RELEASE "2" >/dev/null
    # Two replicas, each logging its requests: what stackctl logs merges.
    pulumi_in_copy config set --stack "$stack" --path backend.replicas 2 >/dev/null
    pulumi_in_copy config set --stack "$stack" --path backend.env.GUNICORN_CMD_ARGS -- "--access-logfile -" >/dev/null
    release "a changed env value"
}

release_image() {
    # The local stack builds the backend from its context: a changed file is
    # a new image.
    echo "release $(date +%s)" >"$copy/examples/backend/core/static/core/release.txt"
    release "a changed image"
}

# --- 6c. day two: stackctl (lib.sh's checks) ---------------------------------------------------------

# --- 7. crashes and a daemon restart ------------------------------------------------------------------

wait_healthy_again() { # wait_healthy_again CONTAINER OLD_STARTED_AT DEADLINE_SECONDS
    local c=$1 old=$2 deadline=$((SECONDS + $3)) state
    while [ "$SECONDS" -lt "$deadline" ]; do
        state=$(docker inspect -f '{{.State.StartedAt}} {{.State.Running}} {{if .State.Health}}{{.State.Health.Status}}{{end}}' "$c" 2>/dev/null || true)
        if [ "${state%% *}" != "$old" ] && [[ $state == *" true healthy" ]]; then
            return 0
        fi
        sleep 1
    done
    return 1
}

check_crashes() {
    local c pid old start
    for c in $(docker ps --filter "label=djangostack.stack=$stack" --format '{{.Names}}' | sort); do
        pid=$(docker inspect -f '{{.State.Pid}}' "$c")
        old=$(docker inspect -f '{{.State.StartedAt}}' "$c")
        start=$(now)
        kill -KILL "$pid"
        wait_healthy_again "$c" "$old" 90 || fail "$c: not healthy again within 90 s of a SIGKILL of its main process ($(docker inspect -f '{{.State.Status}} {{.RestartCount}}' "$c"))"
        local took
        took=$(seconds_since "$start")
        awk -v t="$took" 'BEGIN { exit !(t <= 60) }' || fail "$c: healthy again only after ${took}s (want 60 s at most)"
        pass "${c#"$prefix"-}: SIGKILL of its main process (pid $pid), healthy again after ${took}s"
    done
    expect "the site serves after the crashes" "$(http "$site/api/")" 200
}

check_daemon_restart() {
    local start deadline
    start=$(now)
    restart_docker
    deadline=$((SECONDS + 180))
    until [ "$(http "$site/api/")" = 200 ]; do
        [ "$SECONDS" -lt "$deadline" ] || fail "the site does not serve 180 s after the Docker daemon restarted: $(docker ps -a --filter "label=djangostack.stack=$stack" --format '{{.Names}} {{.Status}}' | tr '\n' ';')"
        sleep 1
    done
    pass "after a Docker daemon restart the site serves again by itself, $(seconds_since "$start")s after the restart began"
    docker ps -a --filter "label=djangostack.stack=$stack" --format '{{.Names}} {{.Status}}' | sed 's/^/      /'
}

# --- 8. a Postgres change keeps the data ----------------------------------------------------------------

# sample_pr_comment: the pull-request comment of this one-value change (the
# preview step's, pulumi/actions with comment-on-pr), from a real `pulumi
# preview --diff`, is the sample docs/operations.md shows: tests/e2e/pr_comment.py
# renders it (the socket of Docker 26, which runs beside the system's, as
# the default one) and compares it with the doc's (E2E_UPDATE_DOCS=1 writes
# it there instead). It holds no secret and no path of this machine.
sample_pr_comment() {
    local out diff
    out=$(pulumi_in_copy preview --stack "$stack" --diff --color never)
    python3 "$here/pr_comment.py" render "$project_name" "$stack" "${docker_host#unix://}" <<<"$out" >"$logs/pr-comment.md"
    grep -q 'work_mem=8MB' "$logs/pr-comment.md" || fail "the preview of postgres.tuning.workMem 8MB does not show it: $logs/pr-comment.md"
    ! grep -qFf "$work/secret-values" "$logs/pr-comment.md" || fail "the sample comment holds a secret of the stack"
    ! grep -nE "$work|/root/|/home/|/tmp/|/run/docker-current|\.cache/" "$logs/pr-comment.md" || fail "the sample comment names a path of this machine ($logs/pr-comment.md)"
    if [ -n "${E2E_UPDATE_DOCS:-}" ]; then
        python3 "$here/pr_comment.py" check "$repo/docs/operations.md" "$logs/pr-comment.md" --update
    elif ! diff=$(python3 "$here/pr_comment.py" check "$repo/docs/operations.md" "$logs/pr-comment.md"); then
        fail "docs/operations.md's sample pull-request comment is not what a preview of the same change shows now (ids masked); review, then E2E_UPDATE_DOCS=1 writes it:"$'\n'"$diff"
    fi
    pass "the pull-request comment of a real preview --diff of one value (postgres.tuning.workMem 8MB): $(wc -l <"$logs/pr-comment.md") lines, as docs/operations.md shows it"
}

check_postgres_change() {
    local pg=$prefix-postgres before after rows
    docker exec "$pg" psql -U app -d app -qc "CREATE TABLE e2e_kept (id int PRIMARY KEY, note text); INSERT INTO e2e_kept SELECT n, 'row ' || n FROM generate_series(1, 1000) n;"
    before=$(docker inspect -f '{{.Id}}' "$pg")
    pulumi_in_copy config set --stack "$stack" --path postgres.tuning.workMem 8MB >/dev/null
    sample_pr_comment
    pulumi_in_copy up --stack "$stack" --yes --skip-preview >"$logs/postgres-change.log"
    after=$(docker inspect -f '{{.Id}}' "$pg")
    [ "$before" != "$after" ] || fail "a workMem change did not replace the Postgres container"
    expect "the new Postgres runs with work_mem 8MB" "$(docker exec "$pg" psql -U app -d app -tAc 'SHOW work_mem')" "8MB"
    rows=$(docker exec "$pg" psql -U app -d app -tAc "SELECT count(*) || ' ' || sum(id) FROM e2e_kept")
    expect "a tuning change replaced the Postgres container (${before:0:12} -> ${after:0:12}); the table written before has every row" "$rows" "1000 500500"
}

# --- 9. destroy -----------------------------------------------------------------------------------------

check_destroy() {
    pulumi_in_copy destroy --stack "$stack" --yes --skip-preview >"$logs/destroy.log"
    deployed=""
    # The name check 6d's rollback gave the previous build, if the
    # provider's delete of the image it ran left it.
    docker image ls --format '{{.Repository}}:{{.Tag}}' | grep "^stackctl-rollback:$stack-" | xargs -r docker image rm >/dev/null 2>&1 || true
    local left
    left=$( {
        docker ps -a --filter "label=djangostack.stack=$stack" --format 'container {{.Names}}'
        docker network ls --filter "label=djangostack.stack=$stack" --format 'network {{.Name}}'
        docker volume ls --filter "label=djangostack.stack=$stack" --format 'volume {{.Name}}'
        docker image ls --format 'image {{.Repository}}:{{.Tag}}' | grep "$prefix" || true
    })
    # local keeps no data on purpose (keepData false, no backups); its
    # built image stays as the next deploy's cache.
    expect "pulumi destroy leaves only the built backend image (kept as the next build's cache)" "$left" "image $prefix-backend:local"
}

# --- 11. Docker 20.10: a first up and a release -----------------------------------------------------------

# check_system_engine: the local stack on the system's Docker (20.10 on
# Debian 12), which takes no start interval: a first up, the engine fit, no
# change on a preview, a release under load, and its destroy. The run then
# goes back to its engine.
check_system_engine() {
    local engine_before=$E2E_ENGINE start
    use_engine system
    ensure_docker
    images
    # The rollback's tag is the other engine's: this one builds the backend.
    pulumi_in_copy config rm --stack "$stack" --path backend.image >/dev/null 2>&1 || true
    pulumi_in_copy config set --stack "$stack" --path host.docker "$docker_host" >/dev/null
    start=$(now)
    deployed=1
    pulumi_in_copy up --stack "$stack" --yes --skip-preview >"$logs/system-first-up.log"
    pass "pulumi up --stack local on $(docker version --format 'Docker {{.Server.Version}}') in $(seconds_since "$start")s"
    grep -q "healthchecks get no start interval" "$logs/system-first-up.log" || fail "the up on Docker 20.10 does not say its healthchecks get no start interval"
    check_engine_fit "Docker 20.10"
    check_no_changes "on Docker 20.10"
    pulumi_in_copy config set --stack "$stack" --path backend.env.E2E_RELEASE "3" >/dev/null
    release "a changed env value on Docker 20.10"
    pulumi_in_copy destroy --stack "$stack" --yes --skip-preview >"$logs/system-destroy.log"
    deployed=""
    use_engine "$engine_before"
}

# --- 10. the other stacks preview -------------------------------------------------------------------------

preview_stack() { # preview_stack STACK: preview --diff, host pointed at this machine's Docker
    local s=$1 out
    pulumi_in_copy config set --stack "$s" --path host.docker "$docker_host" >/dev/null
    out=$(pulumi_in_copy preview --stack "$s" --diff)
    printf '%s\n' "$out" >"$logs/preview-$s.log"
    local want
    for want in "${@:2}"; do
        grep -qE -- "$want" <<<"$out" || fail "preview of $s does not show /$want/"
    done
    pass "pulumi preview --diff --stack $s: $(grep -oE '\+ [0-9]+ to create' <<<"$out"), with the guide's values: ${*:2}"
}

check_other_stacks() {
    pulumi_in_copy stack init production >/dev/null
    # Patterns of the diff: flags, arguments, the backend's 2 GiB limit and
    # its 4 workers, the probe labels.
    preview_stack production "shared_buffers=256MB" "max_connections=200" '"--maxmemory"' '"512mb"' \
        'memory +: 2048' "WEB_CONCURRENCY=4" 'healthcheck.interval"' 'backend-[0-9a-f]+-2\]'
    pulumi_in_copy stack init staging >/dev/null
    preview_stack staging "shared_buffers=128MB" 'memory +: 1024' "WEB_CONCURRENCY=2"
    (cd "$copy" && "$work/bin/envctl" clone --to pr-e2e) >"$logs/envctl-clone.log" 2>&1 || { cat "$logs/envctl-clone.log"; fail "envctl clone --to pr-e2e"; }
    preview_stack pr-e2e "pr-e2e.staging.example.com" "django-stack-pr-e2e-postgres"
}

# --- the run ------------------------------------------------------------------------------------------------

phase "docker engine" ensure_docker
phase "refuse a second local stack" refuse_a_running_stack
phase "engine (CLI, plugins, Traefik)" engine
phase "images (stand-ins)" images
phase "compile the program" compile
phase "0. bad config through the CLI" check_cli_cases
phase "1. first deploy" first_deploy
phase "1b. the healthchecks fit the engine" check_engine_fit "first up"
phase "2. the site through Traefik" check_site
phase "2b. the worker role" worker_handles_a_task "$site"
phase "2c. client addresses and HSTS" check_client_addresses
phase "3. exposure" check_exposure
phase "3b. CIS audit" cis_audit 5.4,5.5,5.10,5.13,5.26
phase "3c. the Docker API from Traefik" docker_api_refuses_writes "$prefix-traefik"
phase "4. secrets" check_secrets
phase "4b. the database role" check_database_role "$(backend_container)"
phase "5. preview after up" check_no_changes "after the first up"
phase "6a. release: env" release_env
phase "6b. release: image" release_image
phase "6c. stackctl status" check_stackctl_status
phase "6c. stackctl logs" check_stackctl_logs
phase "6c. stackctl exec" check_stackctl_exec
phase "6d. stackctl rollback under load" check_rollback release
phase "5. preview after the releases" check_no_changes "after the releases"
phase "7a. crashes" check_crashes
phase "7b. docker daemon restart" check_daemon_restart
phase "8. postgres change" check_postgres_change
phase "9. destroy" check_destroy
phase "10. other stacks preview" check_other_stacks
phase "11. Docker 20.10: a first up and a release" check_system_engine
print_timings
echo "--- total $(seconds_since "$started")s"
print_checks
