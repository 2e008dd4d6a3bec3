#!/usr/bin/env bash
# A stack deployed by an earlier version of the program, moved to this one
# by its next `pulumi up`, for real: the local stack deployed with the
# program at UPGRADE_FROM (default: the merge base with main, the version
# before this branch), rows written, then `pulumi up` with this checkout's
# program under load. Checks, each printing its figure: 0 failed requests
# during the update, every row kept, the database roles of this version
# (postgres the superuser, the backend's role no superuser and unable to
# CREATE ROLE, ALTER SYSTEM or COPY ... TO PROGRAM), and a preview with no
# change after it.
#
# Same engine, stand-ins, rules and cleanup as deploy-local.sh (run it
# under the same lock); about 5 minutes warm. Not in CI: it proves an
# upgrade once, between two given versions.
#   UPGRADE_FROM=REV   the earlier version (a commit of this repository)
#   E2E_KEEP=1         keep the stack, the copy and the state at the end
#   E2E_LOGS=DIR       keep the engine's logs there
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=tests/e2e/lib.sh
. "$here/lib.sh"

project_name=django-stack
stack=local
prefix=$project_name-$stack
site=http://localhost:8080
engine_kit=${PULUMI_ENGINE_KIT:-$repo/../shared/engine}
from=$(cd "$repo" && git rev-parse "${UPGRADE_FROM:-$(git merge-base HEAD main)}")

start_work upgrade
started=$(now)
deployed=""
cleanup() {
    local status=$?
    set +e
    if [ -n "${E2E_LOGS:-}" ]; then
        mkdir -p "$E2E_LOGS"
        cp "$logs"/* "$E2E_LOGS"/ 2>/dev/null
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
        [ -z "$deployed" ] || remove_leftovers "$work/state" >/dev/null
        rm -rf "$work"
    fi
    stop_docker
    exit "$status"
}
trap cleanup EXIT

build_probe() { (cd "$repo" && go build -o "$work/bin/probe" ./tests/e2e/probe); }
backend_container() { docker ps --filter "label=djangostack.stack=$stack" --filter "label=djangostack.component=backend" --format '{{.Names}}' | head -1; }
psql_pg() { docker exec "$prefix-postgres" psql -U postgres -d app -qtAc "$1"; }

# checkout REV: the project copy holds REV's files (the stack's config file
# of the copy, which holds its encryption salt, stays), and its program.
checkout() {
    local keep=""
    [ ! -f "$copy/Pulumi.$stack.yaml" ] || keep=$(cat "$copy/Pulumi.$stack.yaml")
    find "$copy" -mindepth 1 -maxdepth 1 -exec rm -rf {} +
    if [ "$1" = HEAD ]; then
        (cd "$repo" && git ls-files --cached --others --exclude-standard -z | tar --null -T - -c) | tar -x -C "$copy"
    else
        # With a checkout's modes: git archive's own umask (002) would give
        # the build context other file modes, so another image.
        (cd "$repo" && git -c tar.umask=022 archive "$1") | tar -x -C "$copy"
    fi
    [ -z "$keep" ] || printf '%s\n' "$keep" >"$copy/Pulumi.$stack.yaml"
    build_program "$copy"
}

deploy_earlier() {
    checkout "$from"
    pulumi_in_copy stack init "$stack" >/dev/null
    local start
    start=$(now)
    deployed=1
    pulumi_in_copy up --stack "$stack" --yes --skip-preview >"$logs/earlier-up.log"
    pass "pulumi up with the program at ${from:0:12}: deployed in $(seconds_since "$start")s"
    local super
    super=$(docker exec "$prefix-postgres" psql -U app -d app -qtAc "SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
    expect "the earlier version's backend role app is a superuser, as the issue found" "$super" "t"
}

write_rows() {
    docker exec "$prefix-postgres" psql -U app -d app -qc "CREATE TABLE e2e_kept (id int PRIMARY KEY, note text); INSERT INTO e2e_kept SELECT n, 'row ' || n FROM generate_series(1, 1000) n;"
    docker exec --user django "$(backend_container)" python3 manage.py shell -c '
from core.models import Note
Note.objects.bulk_create([Note(text="before the upgrade %d" % i) for i in range(200)])' >/dev/null
    notes_before=$(docker exec "$prefix-postgres" psql -U app -d app -qtAc "SELECT count(*) FROM core_note")
    pass "rows written with the earlier version: e2e_kept 1000 rows (a table the role made by hand), core_note $notes_before rows (through the ORM)"
}

upgrade_under_load() {
    checkout HEAD
    "$work/bin/probe" load -c 4 -url "$site/api/" -url "$site/notes/" >"$work/load.json" &
    local load_pid=$! start took report requests failed
    sleep 1
    start=$(now)
    pulumi_in_copy up --stack "$stack" --yes --skip-preview >"$logs/upgrade-up.log"
    took=$(seconds_since "$start")
    sleep 1
    kill -TERM "$load_pid"
    wait "$load_pid" || fail "the load generator failed"
    report=$(cat "$work/load.json")
    requests=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["requests"])' <<<"$report")
    failed=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["failed"])' <<<"$report")
    echo "  load during the upgrade: $report"
    [ "$failed" -eq 0 ] || fail "the upgrade: $failed of $requests requests failed"
    [ "$requests" -ge 1000 ] || fail "the upgrade: only $requests requests during the update"
    pass "pulumi up with this version (update ${took}s): $requests requests under load, 0 failed"
    grep -E '^\s+[-+~]+[-+~]?\s|^Resources:|^\s+[0-9]+ (created|updated|replaced|deleted|unchanged)' "$logs/upgrade-up.log" | sed 's/^/      /' | tail -15
}

check_upgraded() {
    expect "every row of e2e_kept kept" "$(psql_pg "SELECT count(*) || ' ' || sum(id) FROM e2e_kept")" "1000 500500"
    expect "every row of core_note kept" "$(psql_pg "SELECT count(*) FROM core_note WHERE text LIKE 'before the upgrade %'")" "200"
    expect "postgres is the cluster's superuser (the image's bootstrap one, renamed)" "$(psql_pg "SELECT oid || ' ' || rolsuper FROM pg_roles WHERE rolname = 'postgres'")" "10 true"
    expect "no table, sequence, view or index of the database is another role's than app's" \
        "$(psql_pg "SELECT count(*) FILTER (WHERE relowner <> 'app'::regrole) FROM pg_class WHERE oid >= 16384 AND relkind IN ('r', 'S', 'v', 'm', 'i')")" "0"
    check_database_role "$(backend_container)"
}

phase "docker engine" ensure_docker
phase "refuse a second local stack" refuse_a_running_stack
phase "engine (CLI, plugins, Traefik)" engine
phase "images (stand-ins)" images
phase "tools" build_probe
phase "1. deploy with the earlier version" deploy_earlier
phase "2. rows" write_rows
phase "3. up with this version under load" upgrade_under_load
phase "4. the data and the roles after it" check_upgraded
phase "5. preview after the upgrade" check_no_changes "after the upgrade"
print_timings
echo "--- total $(seconds_since "$started")s"
print_checks
