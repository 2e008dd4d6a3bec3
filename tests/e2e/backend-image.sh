#!/usr/bin/env bash
# End-to-end proof of the reference backend (examples/backend), for real:
#
#  1. builds its image from Debian's packages, on a debian:trixie-slim made
#     here with debootstrap (nothing can be pulled), and stand-ins for the
#     postgres and redis images from the same base;
#  2. runs the settings tests (examples/backend/tests) in the image;
#  3. runs Postgres, Redis and two backends on private Docker networks laid
#     out as the program lays them out (an internal data network for all,
#     an edge network for the backends), each container as the program
#     renders it (command, environment and healthcheck, read from
#     tests/testdata/<stack>.golden.json): one backend with the local
#     stack's environment, one with production's (TLS), both sharing the
#     static and media volumes like replicas;
#     In the program's order: Postgres and Redis healthy, then the program's
#     migration step (its one-shot container's script, with the new image),
#     then the backends, whose entrypoints are told not to migrate.
#  4. checks that both become healthy by the program's own probe, that /api/
#     answers the health document, that the migrations ran, that the cache
#     writes to Redis, the websocket answers through the channel layer, the
#     static files are in the volume, and that the backend rides out Redis
#     going away and Postgres restarting.
#
# Needs root (it installs docker.io and debootstrap if missing and starts
# dockerd if no engine runs). Exits non-zero on the first failure, after
# printing the containers' logs; always removes what it created.
# E2E_LOGS=DIR keeps the containers' whole logs there.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=tests/e2e/lib.sh
. "$here/lib.sh"

BACKEND_IMAGE=djangostack-backend:e2e
TEST_IMAGE=djangostack-backend-tests:e2e
POSTGRES_IMAGE=djangostack-e2e-postgres:trixie
REDIS_IMAGE=djangostack-e2e-redis:trixie
LOCAL_GOLDEN=$repo/tests/testdata/local.golden.json
PRODUCTION_GOLDEN=$repo/tests/testdata/production.golden.json

# Every Docker object of this run carries the prefix.
p=djangostack-e2e-$$
postgres=$p-postgres
redis=$p-redis
local_backend=$p-backend-local
production_backend=$p-backend-production
containers=("$postgres" "$redis" "$local_backend" "$production_backend")
data_network=$p-data
edge_network=$p-edge
volumes=("$p-static" "$p-media" "$p-postgres-data" "$p-redis-data")

work=$(mktemp -d /tmp/e2e-backend.XXXXXX)
started=$(now)

cleanup() {
    local status=$?
    set +e
    if [ -n "${E2E_LOGS:-}" ]; then # E2E_LOGS=DIR keeps every container's whole log
        mkdir -p "$E2E_LOGS"
        for c in "${containers[@]}"; do docker logs "$c" >"$E2E_LOGS/${c#"$p"-}.log" 2>&1; done
    fi
    if [ "$status" -ne 0 ]; then
        for c in "${containers[@]}"; do
            if docker container inspect "$c" >/dev/null 2>&1; then
                echo "--- last lines of $c's log" >&2
                docker logs --tail 40 "$c" 2>&1 | sed 's/^/  /' >&2
            fi
        done
    fi
    docker rm -f -v "${containers[@]}" >/dev/null 2>&1
    docker network rm "$data_network" "$edge_network" >/dev/null 2>&1
    docker volume rm "${volumes[@]}" >/dev/null 2>&1
    rm -rf "$work"
    stop_docker
    exit "$status"
}
trap cleanup EXIT

rendered() { python3 "$here/rendered.py" "$@"; }

# --- images ---------------------------------------------------------------------

build() { # build TAG CONTEXT [docker build options...]
    local tag=$1 context=$2 before after
    shift 2
    before=$(docker image inspect -f '{{.Id}}' "$tag" 2>/dev/null || true)
    # Quiet unless it fails: the client's notes about its builder are noise.
    if ! docker build -q -t "$tag" "$@" "$context" >/dev/null 2>"$work/build.log"; then
        cat "$work/build.log" >&2
        fail "docker build of $tag"
    fi
    after=$(docker image inspect -f '{{.Id}}' "$tag")
    # The image this tag named before is of no further use; its layers that
    # the new one shares stay, as the next build's cache.
    if [ -n "$before" ] && [ "$before" != "$after" ]; then
        docker rmi "$before" >/dev/null 2>&1 || true
    fi
    echo "built $tag (${after:7:12})"
}

# --- the stack --------------------------------------------------------------------

secret() { # secret LENGTH: letters and digits, like the program's passwords
    python3 -c 'import secrets, string, sys
print("".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(int(sys.argv[1]))))' "$1"
}

# backend_env GOLDEN FILE: the program's environment for the backend, with
# this run's host names and secrets.
backend_env() {
    {
        rendered "$1" backend-1 env | grep -v -e '^DB_HOST=' -e '^REDIS_HOST='
        echo "DB_HOST=$postgres"
        echo "REDIS_HOST=$redis"
        echo "DB_PASSWORD=$db_password"
        echo "REDIS_PASSWORD=$redis_password"
        echo "SECRET_KEY=$secret_key"
    } >"$2"
}

# Probes every 2 s instead of the program's 10 s to 30 s: same probe, and
# the run does not wait half a minute for a first verdict.
fast_health=(--health-interval 2s --health-start-period 180s)

start_stack() {
    db_password=$(secret 32)
    redis_password=$(secret 32)
    secret_key=$(secret 50)

    # As in the program: Postgres and Redis only on the internal data
    # network, the backends on the edge network too. (On internal networks
    # only, looking up a name that is gone, a stopped Redis, takes Docker's
    # DNS 10 s to fail; with the edge network it fails as fast as the host's
    # resolver answers.)
    docker network create --internal "$data_network" >/dev/null
    docker network create "$edge_network" >/dev/null
    for v in "${volumes[@]}"; do docker volume create "$v" >/dev/null; done

    # Postgres and Redis read their passwords from files the program uploads
    # into the containers before they start; docker cp does the same.
    mkdir -m 755 "$work/secrets"
    printf '%s' "$db_password" >"$work/secrets/postgres-password"
    printf 'requirepass %s\n' "$redis_password" >"$work/secrets/redis-auth.conf"
    chmod 444 "$work/secrets/postgres-password" "$work/secrets/redis-auth.conf"

    rendered "$LOCAL_GOLDEN" postgres env >"$work/postgres.env"
    mapfile -t command < <(rendered "$LOCAL_GOLDEN" postgres command)
    docker create --name "$postgres" --network "$data_network" --shm-size 256m \
        --env-file "$work/postgres.env" -v "$p-postgres-data:/var/lib/postgresql/data" \
        --health-cmd "$(rendered "$LOCAL_GOLDEN" postgres health-cmd)" "${fast_health[@]}" \
        "$POSTGRES_IMAGE" "${command[@]}" >/dev/null
    docker cp "$work/secrets" "$postgres:/run/"

    mapfile -t command < <(rendered "$LOCAL_GOLDEN" redis command)
    docker create --name "$redis" --network "$data_network" -v "$p-redis-data:/data" \
        --health-cmd "$(rendered "$LOCAL_GOLDEN" redis health-cmd)" "${fast_health[@]}" \
        "$REDIS_IMAGE" "${command[@]}" >/dev/null
    docker cp "$work/secrets" "$redis:/run/"

    local name golden
    for name in local production; do
        golden=$LOCAL_GOLDEN
        [ "$name" = production ] && golden=$PRODUCTION_GOLDEN
        backend_env "$golden" "$work/backend-$name.env"
            docker create --name "$p-backend-$name" --network "$data_network" \
            -v "$p-static:/srv/static" -v "$p-media:/srv/media" \
            --env-file "$work/backend-$name.env" \
            --health-cmd "$(rendered "$golden" backend-1 health-cmd)" "${fast_health[@]}" \
            "$BACKEND_IMAGE" >/dev/null
        docker network connect "$edge_network" "$p-backend-$name"
    done

    # The program's order: Postgres and Redis first, waited healthy.
    docker start "$postgres" "$redis" >/dev/null
    echo "started $postgres $redis"
}

# migrate: the program's migration step, as its one-shot container runs it:
# the new image, the entrypoint /bin/sh -c, the rendered script, the
# backend's environment, the data network only.
migrate() {
    local output
    rendered "$LOCAL_GOLDEN" migrate script >"$work/migrate.sh"
    if ! output=$(docker run --rm --name "$p-migrate" --network "$data_network"         --env-file "$work/backend-local.env" --entrypoint /bin/sh         "$BACKEND_IMAGE" -c "$(cat "$work/migrate.sh")" 2>&1); then
        printf '%s\n' "$output" | sed 's/^/  /'
        fail "the migration step failed"
    fi
    printf '%s\n' "$output" | tail -3 | sed 's/^/  /'
    case $output in
        *"Applying core.0001_initial... OK"*) pass "the migration step applied the project's migration" ;;
        *) fail "the migration step did not apply core.0001_initial" ;;
    esac
}

# start_backends: both backends at once, as replicas start; both collect the
# static files at the same time. The program told them not to migrate.
start_backends() {
    grep -qx 'RUN_MIGRATIONS=False' "$work/backend-local.env" ||
        fail "the program does not tell the backend that it migrates"
    docker start "$local_backend" "$production_backend" >/dev/null
    echo "started $local_backend $production_backend"
}

# wait_healthy CONTAINER...: until Docker's healthcheck says healthy.
wait_healthy() {
    local c state deadline=$((SECONDS + 240))
    for c in "$@"; do
        while :; do
            state=$(docker inspect -f '{{.State.Status}} {{.State.Health.Status}}' "$c")
            case $state in
                "running healthy") break ;;
                running*) ;;
                *) fail "$c is $state" ;;
            esac
            [ "$SECONDS" -lt "$deadline" ] || fail "$c is not healthy after 240 s ($state)"
            sleep 1
        done
        pass "$c is healthy by the program's probe ($(seconds_since "$started")s into the run)"
    done
}

# --- what is asked of the running backends ---------------------------------------

fetch() { # fetch CONTAINER PATH HOST PROTO: "STATUS LOCATION BODY"
    docker exec -i --user django "$1" python3 - "$2" "$3" "$4" <"$here/fetch.py"
}

django_shell() { # django_shell CONTAINER CODE: the code's last line of output
    docker exec --user django "$1" python3 manage.py shell -c "$2" | tail -1
}

psql() { docker exec "$postgres" psql -U app -d app -tAc "$1"; }

redis_cli() { docker exec -e REDISCLI_AUTH="$redis_password" "$redis" redis-cli "$@"; }

healthy='{"status":"ok","database":"ok","redis":"ok"}'

check_health_documents() {
    expect "local: /api/ answers the health document" \
        "$(fetch "$local_backend" /api/ localhost http)" "200 - $healthy"
    expect "production: /api/ over TLS answers the health document" \
        "$(fetch "$production_backend" /api/ example.com https)" "200 - $healthy"
    expect "production: plain http is redirected to https" \
        "$(fetch "$production_backend" /api/ example.com '')" "301 https://example.com/api/ "
}

check_database() {
    expect "the project's migration ran (django_migrations)" \
        "$(psql "SELECT app || '.' || name FROM django_migrations WHERE app = 'core'")" "core.0001_initial"
    expect "Django's own migrations ran (sessions table)" \
        "$(psql "SELECT to_regclass('django_session') IS NOT NULL")" "t"
    expect "connections carry the 30-second statement timeout" \
        "$(django_shell "$local_backend" "from django.db import connection
with connection.cursor() as c:
    c.execute('SHOW statement_timeout')
    print(c.fetchone()[0])")" "30s"
}

check_cache() {
    local key
    key=$(django_shell "$local_backend" "from django.core.cache import cache
cache.set('e2e-proof', 'written through Django', 300)
print(cache.make_key('e2e-proof'))")
    expect "a cache write reached Redis (redis-cli EXISTS $key)" "$(redis_cli EXISTS "$key")" "1"
    local ttl
    ttl=$(redis_cli TTL "$key")
    if [ "$ttl" -gt 0 ] && [ "$ttl" -le 300 ]; then pass "it expires with its timeout (TTL ${ttl}s)"; else fail "TTL of $key is $ttl"; fi
}

check_rest_framework() {
    django_shell "$local_backend" "from core.models import Note
Note.objects.bulk_create(Note(text=f'note {i}') for i in range(25))" >/dev/null
    local answer
    answer=$(fetch "$local_backend" /api/notes/ localhost http)
    case $answer in
        '200 - {"count":25,"next":"http://localhost/api/notes/?page=2","previous":null,"results":['*) ;;
        *) fail "/api/notes/ is not a first page of 25 notes: ${answer:0:160}" ;;
    esac
    expect "/api/notes/ pages by PAGE_SIZE" "$(grep -o '"id":' <<<"$answer" | wc -l)" "20"
    # The anonymous throttle keeps each client's history in the cache.
    expect "the anonymous throttle counts in Redis" "$(redis_cli EXISTS ':1:throttle_anon_127.0.0.1')" "1"
}

check_websocket() {
    local backend=$1 url=$2 origin=$3
    expect "$backend: the websocket answers through the channel layer" \
        "$(docker run --rm -i --network "$data_network" "$TEST_IMAGE" python3 - "$url" "$origin" <"$here/ws_ping.py")" \
        '{"type": "pong", "echo": "e2e", "via": "channel layer"}'
}

check_static_files() {
    local answer css
    answer=$(fetch "$local_backend" / localhost http)
    css=$(grep -o '/static/core/site\.[0-9a-f]*\.css' <<<"$answer" || true)
    [ -n "$css" ] || fail "the home page links no hashed stylesheet: ${answer:0:200}"
    pass "the home page links the hashed stylesheet $css"
    docker exec "$local_backend" test -s "/srv/static/${css#/static/}" || fail "$css is not in the static volume"
    pass "collectstatic put it in the static volume"
    expect "the volume is the app user's" "$(docker exec "$local_backend" stat -c %U /srv/static /srv/media | sort -u)" "django"
    docker exec --user django "$local_backend" test -w /app/logs/django.log || fail "logs/django.log is not writable"
    pass "logs/django.log is written by the app user"
}

check_redis_outage() {
    docker stop "$redis" >/dev/null
    local start answer
    start=$(now)
    answer=$(fetch "$local_backend" /api/ localhost http)
    expect "with Redis stopped, /api/ still answers 200 and says so ($(seconds_since "$start")s)" \
        "$answer" '200 - {"status":"ok","database":"ok","redis":"unavailable"}'
    start=$(now)
    answer=$(fetch "$local_backend" /api/notes/ localhost http)
    expect "with Redis stopped, the throttled API still serves, IGNORE_EXCEPTIONS ($(seconds_since "$start")s)" \
        "${answer:0:3}" "200"
    docker start "$redis" >/dev/null
    wait_healthy "$redis"
    expect "with Redis back, /api/ says so" "$(fetch "$local_backend" /api/ localhost http)" "200 - $healthy"
}

check_persistent_connections() {
    # CONN_MAX_AGE keeps one connection per worker (config/asgi.py says
    # why that needs Django's WSGI handler): many requests later, the local
    # backend's 2 workers hold at most 2 connections.
    docker exec --user django "$local_backend" python3 -c '
import urllib.request
for _ in range(100):
    request = urllib.request.Request("http://127.0.0.1:8000/api/notes/", headers={"Host": "localhost"})
    urllib.request.urlopen(request, timeout=10).read()'
    local address count workers
    address=$(docker inspect -f "{{(index .NetworkSettings.Networks \"$data_network\").IPAddress}}" "$local_backend")
    workers=$(grep '^WEB_CONCURRENCY=' "$work/backend-local.env" | cut -d= -f2)
    count=$(psql "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND client_addr = '$address'")
    if [ "$count" -ge 1 ] && [ "$count" -le "$workers" ]; then
        pass "after 100 requests, $count persistent connection(s) for $workers workers"
    else
        fail "after 100 requests, $count connections for $workers workers"
    fi
}

check_postgres_restart() {
    # Each worker holds a persistent connection (CONN_MAX_AGE), which the
    # restart kills. CONN_HEALTH_CHECKS makes Django test it before use and
    # reconnect, so not one request fails once Postgres is back.
    docker restart "$postgres" >/dev/null
    wait_healthy "$postgres"
    local _ answers=""
    for _ in 1 2 3 4 5 6; do
        answers+="$(fetch "$local_backend" /api/ localhost http | cut -c1-3) "
    done
    expect "after Postgres restarts, every request succeeds (CONN_HEALTH_CHECKS)" "$answers" "200 200 200 200 200 200 "
}

check_bad_environment() {
    local answer
    answer=$(docker run --rm -e DB_HOST=db -e DB_PORT=five "$BACKEND_IMAGE" 2>&1) &&
        fail "the backend started without SECRET_KEY"
    case $answer in
        *"SECRET_KEY: is not set; it is required"*"DB_PORT: 'five' is not a whole number"*) ;;
        *) fail "no clear message for a bad environment: $answer" ;;
    esac
    pass "a bad environment stops the backend at once, every variable named"
}

# --- the run ------------------------------------------------------------------------

phase "docker engine" ensure_docker
phase "base image (debian:trixie-slim)" ensure_base_image
phase "postgres stand-in image" build "$POSTGRES_IMAGE" "$here/standins/postgres"
phase "redis stand-in image" build "$REDIS_IMAGE" "$here/standins/redis"
phase "backend image" build "$BACKEND_IMAGE" "$repo/examples/backend"
phase "backend test image" build "$TEST_IMAGE" "$repo/examples/backend/tests" --build-arg "BACKEND_IMAGE=$BACKEND_IMAGE"
phase "settings tests (pytest in the image)" \
    docker run --rm -v "$PRODUCTION_GOLDEN:/contract.json:ro" -e CONTRACT_GOLDEN=/contract.json "$TEST_IMAGE"
phase "bad environment" check_bad_environment
phase "stack start" start_stack
phase "postgres and redis healthy" wait_healthy "$postgres" "$redis"
phase "migration step" migrate
phase "backends start" start_backends
phase "backends healthy" wait_healthy "$local_backend" "$production_backend"
phase "health documents" check_health_documents
phase "database" check_database
phase "cache" check_cache
phase "REST framework" check_rest_framework
phase "websockets" check_websocket "$local_backend" "ws://$local_backend:8000/ws/ping/" "http://localhost:8080"
phase "websockets over TLS" check_websocket "$production_backend" "ws://$production_backend:8000/ws/ping/" "https://example.com"
phase "static files and logs" check_static_files
phase "Redis outage" check_redis_outage
phase "persistent connections" check_persistent_connections
phase "Postgres restart" check_postgres_restart
print_timings
echo "--- total $(seconds_since "$started")s"
print_checks
