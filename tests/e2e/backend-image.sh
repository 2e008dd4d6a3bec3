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
#     The backends get their secrets as the program hands them over: files
#     copied into the container before it starts, named by DB_PASSWORD_FILE,
#     REDIS_PASSWORD_FILE and SECRET_KEY_FILE.
#  4. checks that both become healthy by the program's own probe, that /api/
#     answers the health document, that the migrations ran, that the cache
#     writes to Redis, the websocket (port 8001) answers through the channel
#     layer, the static files are in the volume, that a browser gets its
#     cookies, posts a CSRF-checked form, keeps a session and logs into the
#     admin, that 30 s of concurrent load (HTTP and a websocket) has not one
#     error, that no secret shows in `docker inspect` of any container, that
#     the backend rides out Redis going away and Postgres restarting, and
#     last, that a SIGTERM under load (docker stop) drops no request: the
#     backend leaves the load balancer's rotation by its health probe, serves
#     what it was sent meanwhile, and finishes a request in progress.
#  5. runs a worker beside them, as a deploy's worker role does (the
#     backend's image with `python3 manage.py runworker tasks`, the data
#     network only, no volume, the backend's environment and secret files,
#     COLLECT_STATIC=False and RUN_MIGRATIONS=False, docker/worker_health.py
#     as its healthcheck), and checks that it becomes healthy, that a task
#     POSTed to /api/tasks/ is written by it (and how fast), that it rides
#     out a Redis outage and a Postgres restart, and that a `docker stop`
#     in the middle of 200 tasks stops it at once, 143, losing none.
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

# E2E_IMAGE_TAG: another tag for the images, so that runs from several work
# trees on one engine do not replace each other's.
image_tag=${E2E_IMAGE_TAG:-e2e}
BACKEND_IMAGE=djangostack-backend:$image_tag
TEST_IMAGE=djangostack-backend-tests:$image_tag
POSTGRES_IMAGE=djangostack-e2e-postgres:${E2E_IMAGE_TAG:-trixie}
REDIS_IMAGE=djangostack-e2e-redis:${E2E_IMAGE_TAG:-trixie}
LOCAL_GOLDEN=$repo/tests/testdata/local.golden.json
PRODUCTION_GOLDEN=$repo/tests/testdata/production.golden.json

# Every Docker object of this run carries the prefix.
p=djangostack-e2e-$$
postgres=$p-postgres
redis=$p-redis
local_backend=$p-backend-local
production_backend=$p-backend-production
migrator=$p-migrate
worker=$p-worker
containers=("$postgres" "$redis" "$local_backend" "$production_backend" "$migrator" "$worker")
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

# --- the stack --------------------------------------------------------------------

# backend_secrets CONTAINER: the files the *_FILE variables name, copied in
# before the container starts, as the program uploads them: root's, 0444,
# under /run/secrets/ (the app runs as uid 10001).
backend_secrets() {
    docker cp "$work/backend-secrets/secrets" "$1:/run/"
}

# Probes every 2 s instead of the program's 10 s to 30 s: same probe, and
# the run does not wait half a minute for a first verdict.
fast_health=(--health-interval 2s --health-start-period 180s)

start_stack() {
    make_secrets "$work"

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
        backend_env "$golden" >"$work/backend-$name.env"
        docker create --name "$p-backend-$name" --network "$data_network" \
            -v "$p-static:/srv/static" -v "$p-media:/srv/media" \
            --env-file "$work/backend-$name.env" --stop-timeout "$(rendered "$golden" backend-1 stop-timeout)" \
            --health-cmd "$(rendered "$golden" backend-1 health-cmd)" "${fast_health[@]}" \
            "$BACKEND_IMAGE" >/dev/null
        backend_secrets "$p-backend-$name"
        docker network connect "$edge_network" "$p-backend-$name"
    done

    # The worker role: the backend's image with a command of its own, on the
    # data network only (no route, no port), without the static and media
    # volumes, with the backend's environment and secret files; the
    # migration step migrates, and it serves no static files. Docker's
    # default stop timeout, 10 s.
    backend_env "$LOCAL_GOLDEN" COLLECT_STATIC=False >"$work/worker.env"
    docker create --name "$worker" --network "$data_network" --env-file "$work/worker.env" \
        --health-cmd "python3 /app/docker/worker_health.py" "${fast_health[@]}" \
        "$BACKEND_IMAGE" python3 manage.py runworker tasks >/dev/null
    backend_secrets "$worker"

    # The program's order: Postgres and Redis first, waited healthy.
    docker start "$postgres" "$redis" >/dev/null
    echo "started $postgres $redis"
}

# migrate: the program's migration step, as its one-shot container runs it:
# the new image, the entrypoint /bin/sh -c, the rendered script, the
# backend's environment and secret files, the data network only.
migrate() {
    local output
    rendered "$LOCAL_GOLDEN" migrate script >"$work/migrate.sh"
    docker create --name "$migrator" --network "$data_network" \
        --env-file "$work/backend-local.env" --entrypoint /bin/sh \
        "$BACKEND_IMAGE" -c "$(cat "$work/migrate.sh")" >/dev/null
    backend_secrets "$migrator"
    if ! output=$(docker start -a "$migrator" 2>&1); then
        printf '%s\n' "$output" | sed 's/^/  /'
        fail "the migration step failed"
    fi
    printf '%s\n' "$output" | tail -3 | sed 's/^/  /'
    case $output in
        *"Applying core.0001_initial... OK"*"Applying core.0002_task... OK"*) pass "the migration step applied the project's migrations" ;;
        *) fail "the migration step did not apply core.0001_initial and core.0002_task" ;;
    esac
}

# start_backends: both backends at once, as replicas start; both collect the
# static files at the same time. The program told them not to migrate.
start_backends() {
    grep -qx 'RUN_MIGRATIONS=False' "$work/backend-local.env" ||
        fail "the program does not tell the backend that it migrates"
    docker start "$local_backend" "$production_backend" "$worker" >/dev/null
    echo "started $local_backend $production_backend $worker"
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
    expect "the project's migrations ran (django_migrations)" \
        "$(psql "SELECT app || '.' || name FROM django_migrations WHERE app = 'core' ORDER BY name")" "core.0001_initial
core.0002_task"
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
    expect "$backend: the websocket server's probe (8001 /ws/health/) answers" \
        "$(docker exec "$backend" python3 -c 'import urllib.request as u; r = u.urlopen("http://127.0.0.1:8001/ws/health/", timeout=10); print(r.status, r.read().decode())')" \
        '200 {"status": "ok"}'
}

# check_browser CONTAINER HOST PROTO ORIGIN SECURE: what a browser does on
# the site, through gunicorn (tests/e2e/browser.py): cookies, a CSRF-checked
# form, a session, the admin's login. SECURE is " Secure" when the cookies
# must be (USE_TLS).
check_browser() {
    local backend=$1 host=$2 proto=$3 origin=$4 secure=$5 password
    password=$(random_secret 24)
    django_shell "$backend" "from django.contrib.auth import get_user_model
User = get_user_model()
User.objects.filter(username='e2e-admin').delete()
User.objects.create_superuser('e2e-admin', None, '$password')" >/dev/null
    expect "$backend: cookies, a CSRF-checked form, a session and the admin's login work" \
        "$(docker exec -i --user django "$backend" python3 - "$host" "$proto" "$origin" e2e-admin "$password" <"$here/browser.py")" \
        "notes page: 200 - cookies [csrftoken$secure]
POST without the token: 403 - cookies []
POST with the token: 302 /notes/ cookies [sessionid$secure HttpOnly]
notes page again: 200 - cookies [csrftoken$secure] says '1 note added in this session.', lists it: True
admin login page: 200 - cookies [csrftoken$secure]
admin login: 302 /admin/ cookies [csrftoken$secure, sessionid$secure HttpOnly]
admin index: 200 - cookies [csrftoken$secure] shows the notes: True"
}

# load ARGS...: tests/e2e/load.py in the test image on the edge network,
# against the local backend; prints its JSON report.
load() {
    docker run --rm -i --name "$p-load" --network "$edge_network" "$TEST_IMAGE" python3 - \
        --server "$local_backend:8000" --host localhost --proto http --origin http://localhost:8080 "$@" <"$here/load.py"
}

# field JSON NAME: one field of load.py's report.
field() { python3 -c 'import json, sys; print(json.loads(sys.argv[1]).get(sys.argv[2], ""))' "$1" "$2"; }

check_load() {
    local report
    report=$(load --clients 8 --seconds 30 --url /api/ --url /notes/ --ws "ws://$local_backend:8001/ws/ping/")
    echo "  $report"
    expect "30 s of load, 8 clients on /api/ and /notes/: not one failed or refused request ($(field "$report" 200) answered, $(field "$report" requests/s)/s)" \
        "$(field "$report" failed) $(field "$report" "not accepted")" "0 0"
    [ "$(field "$report" 200)" -ge 1000 ] || fail "fewer than 1000 requests answered in 30 s: $report"
    case $(field "$report" websocket) in
        *"pongs through the channel layer") pass "meanwhile, a websocket: $(field "$report" websocket)" ;;
        *) fail "the websocket under load: $(field "$report" websocket)" ;;
    esac
}

# check_secrets: the secrets are in files only, never in any container's
# configuration (environment, command, labels), whichever the container.
check_secrets() {
    local leaks
    leaks=$(docker inspect "${containers[@]}" | grep -c -F -e "$db_password" -e "$redis_password" -e "$secret_key" || true)
    expect "no secret in docker inspect of any container (${#containers[@]})" "$leaks" "0"
    expect "the backends read them from files, root's and read-only" \
        "$(docker exec "$local_backend" stat -c '%U %a %n' /run/secrets/db_password /run/secrets/redis_password /run/secrets/secret_key)" \
        "root 444 /run/secrets/db_password
root 444 /run/secrets/redis_password
root 444 /run/secrets/secret_key"
}

# check_stop_under_load: the release's last step, a container stopped while
# it serves. load.py acts as Traefik does: it probes /api/ every second and
# sends no new request once the probe fails; a POST whose body trickles in
# is in progress when the servers stop. Nothing it sent may be lost.
check_stop_under_load() {
    local report stopped=$work/stopped status
    load --clients 8 --seconds 60 --url /api/ --url /notes/ --probe /api/ --slow-post /notes/ >"$work/stop-load.json" &
    local loader=$!
    sleep 5
    local start
    start=$(now)
    (docker stop "$local_backend" >/dev/null; seconds_since "$start" >"$stopped") &
    local stopper=$!
    wait "$loader" || fail "the load under SIGTERM did not run"
    wait "$stopper"
    report=$(cat "$work/stop-load.json")
    echo "  $report"
    expect "SIGTERM under load: every request sent was answered 200 ($(field "$report" 200) answered)" \
        "$(field "$report" failed) $(field "$report" "not accepted")" "0 0"
    expect "the backend left the rotation by its probe (503 draining)" "$(field "$report" "probe saw")" "503"
    case $(field "$report" "slow POST") in
        "302 /notes/ after "*) pass "a POST in progress when the servers stopped was answered: $(field "$report" "slow POST")" ;;
        *) fail "the POST in progress: $(field "$report" "slow POST")" ;;
    esac
    status=$(docker inspect -f '{{.State.ExitCode}}' "$local_backend")
    # 143, 128 + SIGTERM as a shell reports it: a clean stop by a signal,
    # which Docker's on-failure policy restarts after a daemon restart.
    expect "the backend stopped cleanly, in $(cat "$stopped") s of its $(docker inspect -f '{{.Config.StopTimeout}}' "$local_backend") s (exit code 128 + SIGTERM)" "$status" "143"
    local lines
    lines=$(docker logs "$local_backend" 2>&1 | grep '^serve: ')
    printf '%s\n' "$lines" | sed 's/^/  /'
    case $lines in
        *"serve: the load balancer's probe saw the drain after "*) pass "the supervisor stopped the servers once the probe had seen the drain" ;;
        *) fail "the supervisor did not see the probe" ;;
    esac
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
    # gunicorn's sync workers hold one each; the websocket server, whose
    # consumers use no database here, none.
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

# --- the worker ---------------------------------------------------------------------

# tasks MODE [ARG]: the task API, asked from inside the local backend as a
# client would (Host localhost, JSON):
#   rounds N  POSTs N tasks one after the other, each followed by GETs of
#             its Location every 5 ms until the worker has written it; prints
#             the answers' shapes, then the figures;
#   post      one POST; prints "STATUS BODY".
tasks() {
    docker exec -i --user django "$local_backend" python3 - "$@" <<'EOF'
import json, statistics, sys, time, urllib.error, urllib.request, uuid
from datetime import datetime


def call(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    headers = {"Host": "localhost", "Content-Type": "application/json"}
    request = urllib.request.Request("http://127.0.0.1:8000" + path, data=data, method=method, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=10)
    except urllib.error.HTTPError as error:
        response = error
    return response.status, response.headers, response.read().decode()


if sys.argv[1] == "post":
    status, _, body = call("POST", "/api/tasks/", {"text": "one task"})
    print(status, body)
    sys.exit()
latencies, in_worker, answered_404 = [], [], 0
for n in range(int(sys.argv[2])):
    started = time.monotonic()
    status, headers, body = call("POST", "/api/tasks/", {"text": f"task {n}"})
    if status != 202:
        sys.exit(f"POST /api/tasks/: {status} {body}")
    task_id = json.loads(body)["id"]
    if n == 0:
        print("POST:", status, body == json.dumps({"id": task_id}, separators=(",", ":")), headers["Location"] == f"/api/tasks/{task_id}/")
    while True:
        status, _, document = call("GET", headers["Location"])
        if status == 200:
            break
        if status != 404 or time.monotonic() - started > 10:
            sys.exit(f"GET {headers['Location']}: {status} {document}")
        answered_404 += 1
        time.sleep(0.005)
    latencies.append((time.monotonic() - started) * 1000)
    document = json.loads(document)
    if n == 0:
        print("GET:", status, ",".join(document), document["id"] == task_id, document["text"], document["handled_by"])
    written = datetime.fromisoformat(document["handled_at"]) - datetime.fromisoformat(document["created"])
    in_worker.append(written.total_seconds() * 1000)
status, _, body = call("GET", f"/api/tasks/{uuid.uuid4()}/")
print("unknown:", status, body)
# The first task of a run is apart: it may open the connections.
figures = f"{len(latencies)} tasks: from the POST to a GET's 200: the first {latencies[0]:.0f} ms"
if len(latencies) > 1:
    figures += f", the others median {statistics.median(latencies[1:]):.0f} ms, max {max(latencies[1:]):.0f} ms"
figures += f" ({answered_404} GETs answered 404 meanwhile); from accepted to written (the row's created to handled_at): "
figures += f"the first {in_worker[0]:.0f} ms"
if len(in_worker) > 1:
    figures += f", the others median {statistics.median(in_worker[1:]):.0f} ms, max {max(in_worker[1:]):.0f} ms"
print(figures)
EOF
}

check_worker() {
    wait_healthy "$worker"
    local hostname health lines address
    hostname=$(docker inspect -f '{{.Config.Hostname}}' "$worker")
    health=$(docker exec "$worker" python3 /app/docker/worker_health.py || true)
    case $health in
        "healthy: the worker (pid 1) beat "*"; Redis answered PING in "*) pass "its healthcheck: $health" ;;
        *) fail "the worker's healthcheck: $health" ;;
    esac
    expect "it runs as the app user, with no volume, on the data network only" \
        "$(docker exec "$worker" stat -c %U /proc/1) $(docker inspect -f '{{len .Mounts}} {{range $name, $_ := .NetworkSettings.Networks}}{{$name}}{{end}}' "$worker")" \
        "django 0 $data_network"
    lines=$(worker_lines '^entrypoint: RUN_MIGRATIONS\|^entrypoint: COLLECT_STATIC\|^worker: receiving on tasks (')
    local started receiving
    started=$(date -d "$(docker inspect -f '{{.State.StartedAt}}' "$worker")" +%s.%N)
    receiving=$(date -d "$(docker logs -t "$worker" 2>&1 | grep -m1 ' worker: receiving on tasks (' | cut -d' ' -f1)" +%s.%N)
    expect "it neither migrated nor collected static files, and receives on tasks ($(awk -v a="$started" -v b="$receiving" 'BEGIN { printf "%.1f", b - a }') s after its start)" "$lines" \
        "entrypoint: RUN_MIGRATIONS=False: not migrating
entrypoint: COLLECT_STATIC=False: not collecting the static files
worker: receiving on tasks (pid 1)"
    local answer
    answer=$(tasks rounds 20)
    expect "POST /api/tasks/ answers 202 {\"id\"} and its Location; GET answers the task as the worker ($hostname) wrote it; an unknown id is 404" \
        "$(head -3 <<<"$answer")" \
        "POST: 202 True True
GET: 200 id,text,created,handled_by,handled_at True task 0 $hostname
unknown: 404 {\"detail\":\"No Task matches the given query.\"}"
    pass "$(tail -1 <<<"$answer")"
    expect "the worker wrote every task (django_shell)" \
        "$(django_shell "$local_backend" "from core.models import Task; print(Task.objects.filter(text__startswith='task ').count())")" "20"
    address=$(docker inspect -f "{{(index .NetworkSettings.Networks \"$data_network\").IPAddress}}" "$worker")
    expect "the worker holds one database connection" \
        "$(psql "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND client_addr = '$address'")" "1"
}

# worker_lines PATTERN: the worker's log lines that hold PATTERN.
worker_lines() { docker logs "$worker" 2>&1 | grep -e "$1" || true; }

# check_worker_redis_outage: the worker waits Redis out, reports it, says
# when it is back (before any message comes), and goes on without a restart.
check_worker_redis_outage() {
    local started_at ends_before line
    started_at=$(docker inspect -f '{{.State.StartedAt}}' "$worker")
    ends_before=$(worker_lines 'receiving on tasks again, after' | wc -l)
    docker stop "$redis" >/dev/null
    line=$(docker exec "$worker" python3 /app/docker/worker_health.py) && fail "healthy without Redis: $line"
    case $line in
        "unhealthy: Redis at $redis:6379"*) pass "with Redis stopped, the worker's healthcheck says so: $line" ;;
        *) fail "the worker's healthcheck without Redis: $line" ;;
    esac
    expect "with Redis stopped, POST /api/tasks/ answers 503" "$(tasks post)" \
        '503 {"detail":"the task queue is unavailable; try again later"}'
    sleep 5 # the worker's receive fails, and is tried again
    docker start "$redis" >/dev/null
    wait_healthy "$redis" "$worker"
    local deadline=$((SECONDS + 15))
    until [ "$(worker_lines 'receiving on tasks again, after' | wc -l)" -gt "$ends_before" ]; do
        [ "$SECONDS" -lt "$deadline" ] || fail "the worker did not log the end of the outage"
        sleep 0.5
    done
    pass "it logged the outage, and its end once Redis answered: $(worker_lines 'receiving on tasks failed: ' | tail -1 | cut -c1-90)... / $(worker_lines 'receiving on tasks again, after' | tail -1)"
    local answer
    answer=$(tasks rounds 1)
    pass "with Redis back, the worker handles tasks again: $(tail -1 <<<"$answer")"
    expect "it kept running throughout (started once, at $started_at)" \
        "$(docker inspect -f '{{.State.Status}} {{.State.StartedAt}}' "$worker")" "running $started_at"
}

check_worker_after_postgres_restart() {
    local answer
    answer=$(tasks rounds 1)
    pass "after Postgres restarted, the worker writes again (CONN_HEALTH_CHECKS): $(tail -1 <<<"$answer")"
}

# check_worker_stop: 200 tasks sent at once through the channel layer, and
# the worker stopped while it works through them: it stops at once with the
# task in hand written; started again, it writes the others, none twice.
check_worker_stop() {
    django_shell "$local_backend" "from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.utils import timezone
import uuid
layer = get_channel_layer()
async def send():
    for n in range(200):
        await layer.send('tasks', {'type': 'task.record', 'id': str(uuid.uuid4()), 'text': f'burst {n}', 'created': timezone.now().isoformat()})
async_to_sync(send)()" >/dev/null
    local start took written
    start=$(now)
    docker stop "$worker" >/dev/null
    took=$(seconds_since "$start")
    written=$(psql "SELECT count(*) FROM core_task WHERE text LIKE 'burst %'")
    expect "docker stop in the middle of 200 tasks ($written written): the worker stopped cleanly in $took s of its 10 s (exit code 128 + SIGTERM)" \
        "$(docker inspect -f '{{.State.ExitCode}}' "$worker")" "143"
    [ "$written" -lt 200 ] || echo "  (the worker had written all 200 before the stop: nothing was left in Redis)"
    pass "$(worker_lines '^worker: stopped in ' | tail -1)"
    docker start "$worker" >/dev/null
    wait_healthy "$worker"
    local deadline=$((SECONDS + 60)) counts
    while :; do
        counts=$(psql "SELECT count(*) || ' ' || count(DISTINCT id) FROM core_task WHERE text LIKE 'burst %'")
        [ "$counts" = "200 200" ] && break
        [ "$SECONDS" -lt "$deadline" ] || break
        sleep 0.5
    done
    expect "started again, it wrote the $((200 - written)) left in Redis: 200 tasks, none lost, none twice" "$counts" "200 200"
    expect "no task was handled twice (the log)" "$(worker_lines 'was already handled' | wc -l)" "0"
}

# --- the run ------------------------------------------------------------------------

phase "docker engine" ensure_docker
phase "base image (debian:trixie-slim)" ensure_base_image
phase "postgres stand-in image" build_image "$POSTGRES_IMAGE" "$here/standins/postgres"
phase "redis stand-in image" build_image "$REDIS_IMAGE" "$here/standins/redis"
phase "backend image" build_image "$BACKEND_IMAGE" "$repo/examples/backend"
phase "backend test image" build_image "$TEST_IMAGE" "$repo/examples/backend/tests" --build-arg "BACKEND_IMAGE=$BACKEND_IMAGE"
phase "settings tests (pytest in the image)" \
    docker run --rm -v "$PRODUCTION_GOLDEN:/contract.json:ro" -e CONTRACT_GOLDEN=/contract.json "$TEST_IMAGE"
phase "bad environment" check_bad_environment
phase "stack start" start_stack
phase "postgres and redis healthy" wait_healthy "$postgres" "$redis"
phase "migration step" migrate
phase "backends start" start_backends
phase "backends healthy" wait_healthy "$local_backend" "$production_backend"
phase "worker: healthy, tasks through it" check_worker
phase "health documents" check_health_documents
phase "database" check_database
phase "cache" check_cache
phase "REST framework" check_rest_framework
phase "websockets" check_websocket "$local_backend" "ws://$local_backend:8001/ws/ping/" "http://localhost:8080"
phase "websockets over TLS" check_websocket "$production_backend" "ws://$production_backend:8001/ws/ping/" "https://example.com"
phase "static files and logs" check_static_files
phase "browser: cookies, CSRF, session, admin" check_browser "$local_backend" localhost http http://localhost:8080 ""
phase "browser over TLS" check_browser "$production_backend" example.com https https://example.com " Secure"
phase "secrets" check_secrets
phase "30 s of load" check_load
phase "persistent connections" check_persistent_connections
phase "Redis outage" check_redis_outage
phase "worker through a Redis outage" check_worker_redis_outage
phase "Postgres restart" check_postgres_restart
phase "worker after the Postgres restart" check_worker_after_postgres_restart
phase "worker stopped amid 200 tasks" check_worker_stop
phase "SIGTERM under load" check_stop_under_load
print_timings
echo "--- total $(seconds_since "$started")s"
print_checks
