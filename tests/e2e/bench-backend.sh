#!/usr/bin/env bash
# Benchmark of the reference backend (examples/backend) through Traefik, run
# by hand: a measurement, not a test. It fails only when it cannot measure.
#
#   bash tests/e2e/bench-backend.sh          # from the repository's root, as root
#
# It builds the images as backend-image.sh does (debian:trixie-slim made with
# debootstrap if the engine lacks it, Postgres and Redis stand-ins from
# Debian's packages), runs Postgres, Redis and one backend container on a
# private bridge network, and a Traefik binary on the host that routes
# Host(`localhost`) on 127.0.0.1 to the backend's address on that network,
# through the retry middleware, as the program's Traefik does. Then, for each
# profile (local: 2 workers, 1 CPU, 512 MiB; production: 4 workers, 2 CPUs,
# 2 GiB, as the program limits the containers) and each server layout:
#
#   serve     the image's command: docker/serve.py, gunicorn's sync workers
#             for HTTP (WEB_CONCURRENCY) and uvicorn for the websockets;
#   baseline  the same app and image under plain `gunicorn --workers N
#             config.wsgi:application`: sync workers, gunicorn's defaults;
#
# it runs wrk for BENCH_SECONDS (10) at 1, 4, 16 and 64 connections on /api/
# (the health document: a query, a Redis PING) and on /notes/ (a template
# page that sets the CSRF cookie and lists notes), and prints one table:
# requests/s, p50 and p99 latency, errors (non-2xx answers, socket errors
# and timeouts of 10 s). Everything stays on this host: wrk and Traefik on
# loopback, the containers on a bridge network. The load average is printed
# before each profile: the machine is shared, note it with the numbers.
#
# BENCH_LAYOUTS="serve baseline" chooses the layouts; "gthreadN" is the
# serve layout with gunicorn's gthread workers, N threads each, and a
# "-nolog" suffix sends gunicorn's access log to /dev/null instead of the
# container's log (both through GUNICORN_CMD_ARGS). BENCH_PROFILES="local production", BENCH_CONNECTIONS
# and BENCH_SECONDS narrow it. TRAEFIK=/path/to/traefik, or traefik on PATH,
# or the engine kit (../shared/engine/build --only traefik) provides Traefik.
# Removes everything it started, whatever happens.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=tests/e2e/lib.sh
. "$here/lib.sh"

layouts=${BENCH_LAYOUTS:-serve baseline}
profiles=${BENCH_PROFILES:-local production}
connections=${BENCH_CONNECTIONS:-1 4 16 64}
seconds=${BENCH_SECONDS:-10}

image_tag=${E2E_IMAGE_TAG:-bench}
BACKEND_IMAGE=djangostack-backend:$image_tag
POSTGRES_IMAGE=djangostack-e2e-postgres:${E2E_IMAGE_TAG:-trixie}
REDIS_IMAGE=djangostack-e2e-redis:${E2E_IMAGE_TAG:-trixie}
LOCAL_GOLDEN=$repo/tests/testdata/local.golden.json
PRODUCTION_GOLDEN=$repo/tests/testdata/production.golden.json

p=djangostack-bench-$$
postgres=$p-postgres
redis=$p-redis
backend=$p-backend
network=$p-net
work=$(mktemp -d /tmp/bench-backend.XXXXXX)
traefik_pid=""

cleanup() {
    local status=$?
    set +e
    [ -n "$traefik_pid" ] && kill "$traefik_pid" 2>/dev/null && wait "$traefik_pid" 2>/dev/null
    docker rm -f -v "$postgres" "$redis" "$backend" >/dev/null 2>&1
    docker network rm "$network" >/dev/null 2>&1
    rm -rf "$work"
    stop_docker
    exit "$status"
}
trap cleanup EXIT

find_traefik() {
    if [ -n "${TRAEFIK:-}" ]; then
        echo "$TRAEFIK"
    elif command -v traefik >/dev/null; then
        command -v traefik
    else
        echo "$("$repo/../shared/engine/build" --only traefik)/traefik"
    fi
}

address() { docker inspect -f "{{(index .NetworkSettings.Networks \"$network\").IPAddress}}" "$1"; }

wait_healthy() {
    local c state deadline=$((SECONDS + 240))
    for c in "$@"; do
        while state=$(docker inspect -f '{{.State.Status}} {{.State.Health.Status}}' "$c") && [ "$state" != "running healthy" ]; do
            if [ "${state%% *}" != running ] || [ "$SECONDS" -ge "$deadline" ]; then
                docker logs --tail 30 "$c" >&2
                echo "$c is $state" >&2
                exit 1
            fi
            sleep 1
        done
    done
}

start_data() {
    docker network create "$network" >/dev/null
    make_secrets "$work"

    local command
    rendered "$PRODUCTION_GOLDEN" postgres env >"$work/postgres.env"
    mapfile -t command < <(rendered "$PRODUCTION_GOLDEN" postgres command)
    docker create --name "$postgres" --network "$network" --shm-size 256m --env-file "$work/postgres.env" \
        --health-cmd "$(rendered "$PRODUCTION_GOLDEN" postgres health-cmd)" --health-interval 2s \
        "$POSTGRES_IMAGE" "${command[@]}" >/dev/null
    docker cp "$work/secrets" "$postgres:/run/"
    mapfile -t command < <(rendered "$PRODUCTION_GOLDEN" redis command)
    docker create --name "$redis" --network "$network" \
        --health-cmd "$(rendered "$PRODUCTION_GOLDEN" redis health-cmd)" --health-interval 2s \
        "$REDIS_IMAGE" "${command[@]}" >/dev/null
    docker cp "$work/secrets" "$redis:/run/"
    docker start "$postgres" "$redis" >/dev/null
    wait_healthy "$postgres" "$redis"
}

# start_backend PROFILE LAYOUT: the backend container, as the program
# renders it for the local stack (its environment, healthcheck), with the
# profile's workers and limits; waits until it is healthy.
start_backend() {
    local profile=$1 layout=$2 golden workers cpus memory
    golden=$LOCAL_GOLDEN
    workers=2 cpus=1.0 memory=512m
    if [ "$profile" = production ]; then
        workers=4 cpus=2.0 memory=2048m
    fi
    {
        backend_env "$golden" "WEB_CONCURRENCY=$workers" "RUN_MIGRATIONS=True"
        local args=""
        case $layout in
            gthread*) args="--worker-class gthread --threads $(sed 's/^gthread\([0-9]*\).*/\1/' <<<"$layout")" ;;
        esac
        case $layout in
            *-nolog) args="$args --access-logfile /dev/null" ;;
        esac
        [ -z "$args" ] || echo "GUNICORN_CMD_ARGS=$args"
    } >"$work/backend.env"
    local command=()
    [ "$layout" = baseline ] && command=(gunicorn --bind 0.0.0.0:8000 --workers "$workers" config.wsgi:application)
    docker rm -f -v "$backend" >/dev/null 2>&1 || true
    docker create --name "$backend" --network "$network" --cpus "$cpus" --memory "$memory" \
        --env-file "$work/backend.env" --health-cmd "$(rendered "$golden" backend-1 health-cmd)" --health-interval 2s \
        "$BACKEND_IMAGE" "${command[@]}" >/dev/null
    docker cp "$work/backend-secrets/secrets" "$backend:/run/"
    docker start "$backend" >/dev/null
    wait_healthy "$backend"
    backend_workers=$workers
}

start_traefik() {
    local bin
    bin=$(find_traefik)
    [ -x "$bin" ] || { echo "no traefik binary at $bin" >&2; exit 1; }
    traefik_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    # The program's entry point and middlewares (components/traefik.go), the
    # file provider instead of Docker's.
    cat >"$work/traefik.yml" <<EOF
entryPoints:
  web:
    address: 127.0.0.1:$traefik_port
    transport:
      respondingTimeouts:
        readTimeout: 60s
        writeTimeout: 60s
        idleTimeout: 180s
providers:
  file:
    filename: $work/dynamic.yml
    watch: true
log:
  level: ERROR
accessLog:
  filePath: $work/access.log
EOF
    route_to "0.0.0.0"
    "$bin" --configFile="$work/traefik.yml" >"$work/traefik.log" 2>&1 &
    traefik_pid=$!
    echo "traefik $("$bin" version 2>/dev/null | awk '/Version/ {print $2}') on 127.0.0.1:$traefik_port (pid $traefik_pid)"
}

route_to() { # route_to IP: Traefik's route to the backend at that address
    cat >"$work/dynamic.yml.new" <<EOF
http:
  middlewares:
    retry:
      retry:
        attempts: 3
        initialInterval: 100ms
    security-headers:
      headers:
        contentTypeNosniff: true
        referrerPolicy: same-origin
        frameDeny: true
  routers:
    backend:
      rule: Host(\`localhost\`)
      entryPoints: [web]
      priority: 1
      middlewares: [security-headers, retry]
      service: backend
    websockets:
      rule: Host(\`localhost\`) && PathPrefix(\`/ws/\`)
      entryPoints: [web]
      middlewares: [security-headers, retry]
      service: websockets
  services:
    backend:
      loadBalancer:
        servers: [{url: "http://$1:8000"}]
    websockets:
      loadBalancer:
        servers: [{url: "http://$1:8001"}]
EOF
    mv "$work/dynamic.yml.new" "$work/dynamic.yml"
}

# until_routed: Traefik answers /api/ from the backend.
until_routed() {
    local _
    for _ in $(seq 100); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: localhost' "http://127.0.0.1:$traefik_port/api/")" = 200 ] && return
        sleep 0.2
    done
    echo "Traefik does not reach the backend" >&2
    tail -20 "$work/traefik.log" >&2
    exit 1
}

# measure PROFILE LAYOUT PATH CONNECTIONS: one wrk run, one table row.
measure() {
    local threads=2 out
    [ "$4" -lt 2 ] && threads=1
    out=$(wrk -t"$threads" -c"$4" -d"${seconds}s" --timeout 10s --latency -H 'Host: localhost' \
        "http://127.0.0.1:$traefik_port$3")
    echo "$out" >>"$work/wrk.log"
    awk -v profile="$1" -v layout="$2" -v path="$3" -v conns="$4" '
        function ms(v) {
            if (v ~ /us$/) return v / 1000
            if (v ~ /ms$/) return v + 0
            if (v ~ /s$/) return v * 1000
            return v
        }
        /Requests\/sec:/ { rps = $2 }
        /^ +50%/ { p50 = ms($2) }
        /^ +99%/ { p99 = ms($2) }
        /Non-2xx or 3xx responses:/ { errors += $5 }
        /Socket errors:/ { gsub(",", ""); errors += $4 + $6 + $8 + $10 }
        END { printf "%-10s %-9s %-8s %5d %9.1f %9.2f %9.2f %6d\n", profile, layout, path, conns, rps, p50, p99, errors }
    ' <<<"$out"
}

db_connections() {
    docker exec "$postgres" psql -U app -d app -tAc \
        "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND client_addr = '$(address "$backend")'"
}

ensure_docker
ensure_base_image
build_image "$POSTGRES_IMAGE" "$here/standins/postgres"
build_image "$REDIS_IMAGE" "$here/standins/redis"
build_image "$BACKEND_IMAGE" "$repo/examples/backend"
start_data
start_traefik

echo "--- $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, wrk $seconds s a run, 10 s timeout"
printf '%-10s %-9s %-8s %5s %9s %9s %9s %6s\n' profile server path conns "req/s" "p50 ms" "p99 ms" errors >"$work/table"
first=true
for profile in $profiles; do
    for layout in $layouts; do
        start_backend "$profile" "$layout"
        if $first; then
            # Some notes for /notes/ to list, once.
            docker exec --user django "$backend" python3 manage.py shell -c "from core.models import Note
Note.objects.bulk_create(Note(text=f'benchmark note {i}') for i in range(10))" >/dev/null
            first=false
        fi
        route_to "$(address "$backend")"
        until_routed
        echo "$profile, $layout: load average $(cut -d' ' -f1-3 /proc/loadavg) before"
        # Warm up: every worker imports and connects before the first run.
        wrk -t2 -c16 -d3s -H 'Host: localhost' "http://127.0.0.1:$traefik_port/notes/" >/dev/null
        for path in /api/ /notes/; do
            for c in $connections; do
                measure "$profile" "$layout" "$path" "$c" | tee -a "$work/table"
            done
        done
        echo "$profile, $layout: $(db_connections) database connections for $backend_workers workers after the runs"
    done
done
echo "--- results"
cat "$work/table"
