#!/bin/sh
# Starts the backend the way the guide's docker-entrypoint.sh does:
#   1. wait for the database, with capped exponential backoff;
#   2. check the connection (`manage.py check --database default`), with retries;
#   3. migrate, with retries (unless RUN_MIGRATIONS=False);
# then collects the static files into the volume nginx serves (unless
# COLLECT_STATIC=False) and runs the command: by default docker/serve.py,
# which runs gunicorn (HTTP) and uvicorn (websockets) and drains them on
# SIGTERM. A worker runs `python3 manage.py runworker tasks` instead, with
# COLLECT_STATIC=False and RUN_MIGRATIONS=False: it serves no files and
# needs no volume (README.md, "Worker").
#
# The Pulumi program runs the migrations once, as a one-shot step before it
# starts a new image's containers, and sets RUN_MIGRATIONS=False: replicas
# then never migrate at the same time. Run elsewhere (docker run, Compose),
# each replica migrates; Django's migrations are not locked, so when two
# start together one may fail on a table the other just created, and the
# guide's retries carry it through (the next try finds the work done).
set -eu

log() { echo "entrypoint: $*" >&2; }

# PID 1 ignores a signal it has no handler for: without these, a `docker
# stop` while the entrypoint waits for the database would wait out the stop
# timeout. (The shell acts on them when its current command, e.g. a sleep,
# ends.)
trap 'log "stopped before the servers started"; exit 143' TERM
trap 'log "interrupted before the servers started"; exit 130' INT

# The shared volumes are root's when Docker creates them, and so is the
# tmpfs the program mounts over the log directory on a read-only root
# filesystem. Started as root, the entrypoint hands them to the app user and
# runs the rest as that user.
if [ "$(id -u)" = 0 ]; then
    for dir in "${STATIC_ROOT:-/srv/static}" "${MEDIA_ROOT:-/srv/media}" /app/logs; do
        mkdir -p "$dir"
        if [ "$(stat -c %U "$dir")" != django ]; then
            chown -R django:django "$dir"
        fi
    done
    exec setpriv --reuid=django --regid=django --init-groups --inh-caps=-all -- "$0" "$@"
fi

# True or False, in any case, as the environment contract spells booleans.
enabled() {
    case "$(printf %s "$2" | tr '[:upper:]' '[:lower:]')" in
        true) return 0 ;;
        false) return 1 ;;
        *) log "$1 must be True or False, not '$2'"; exit 64 ;;
    esac
}

# Exponential backoff for the database: 2, 4, 8, then every 10 s, 30 tries.
wait_for_db() {
    max_retries=30
    retry_count=0
    wait_time=2
    while [ "$retry_count" -lt "$max_retries" ]; do
        if python3 docker/pg_ping.py; then
            return 0
        fi
        retry_count=$((retry_count + 1))
        log "database not ready (try $retry_count of $max_retries), next in ${wait_time}s"
        sleep "$wait_time"
        wait_time=$((wait_time * 2))
        if [ "$wait_time" -gt 10 ]; then
            wait_time=10
        fi
    done
    log "the database did not answer after $max_retries tries"
    exit 1
}

# Database connection test with retries: Django connects with the real
# credentials and settings, and runs the system checks (a bad setting stops
# the start here, with its message).
test_db_connection() {
    max_retries=5
    retry_count=0
    while [ "$retry_count" -lt "$max_retries" ]; do
        if python3 manage.py check --database default; then
            return 0
        fi
        retry_count=$((retry_count + 1))
        if [ "$retry_count" -lt "$max_retries" ]; then
            sleep 3
        fi
    done
    log "the database connection check failed $max_retries times"
    exit 1
}

# Migration retry logic: 3 tries, 5 s apart.
run_migrations() {
    max_retries=3
    retry_count=0
    while [ "$retry_count" -lt "$max_retries" ]; do
        if python3 manage.py migrate --noinput; then
            return 0
        fi
        retry_count=$((retry_count + 1))
        if [ "$retry_count" -lt "$max_retries" ]; then
            log "migrate failed (try $retry_count of $max_retries), next in 5s"
            sleep 5
        fi
    done
    log "migrate failed $max_retries times"
    exit 1
}

# Replicas share the static volume: the lock on its directory makes them
# collect one after the other instead of writing the same files at once.
collect_static() {
    flock "${STATIC_ROOT:-/srv/static}" python3 manage.py collectstatic --noinput --verbosity 1
}

cd /app
# Read the switches first: a misspelt one fails now, not after the wait.
migrate=true
enabled RUN_MIGRATIONS "${RUN_MIGRATIONS:-True}" || migrate=false
collect=true
enabled COLLECT_STATIC "${COLLECT_STATIC:-True}" || collect=false

# The settings refuse a missing or malformed variable, naming each: better
# now than after minutes of waiting for a database that was never named.
python3 -c '
import sys
from django.core.exceptions import ImproperlyConfigured
try:
    import config.settings
except ImproperlyConfigured as error:
    sys.exit(f"entrypoint: {error}")
'

log "waiting for the database at $DB_HOST:${DB_PORT:-5432}"
wait_for_db
test_db_connection
if [ "$migrate" = true ]; then
    run_migrations
else
    log "RUN_MIGRATIONS=False: not migrating"
fi
if [ "$collect" = true ]; then
    collect_static
else
    log "COLLECT_STATIC=False: not collecting the static files"
fi
log "starting: $*"
exec "$@"
