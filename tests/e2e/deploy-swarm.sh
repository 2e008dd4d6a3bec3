#!/usr/bin/env bash
# `runtime: swarm` and the backups, for real: `pulumi up` of a swarm stack
# with the real engine on a single-node swarm of this machine's Docker, then
# releases, stackctl (status, logs, exec, rollback), a rollback, and the
# backup service as the program deploys it, restored from with backupctl.
#
# The model is deploy-local.sh (same engine, same stand-in images, a
# throwaway copy of the project and a file state backend of its own). What
# differs:
#  - The stack is swarm-e2e, a clone of staging with `runtime: swarm`, on
#    port 18080 (host mode, every interface: a Swarm service cannot publish
#    on one address), its site swarm-e2e.localhost.
#  - No image is built: the stand-ins deploy-local.sh builds, and the
#    backend image the local stack built (or backend-image.sh's), tagged.
#    The releases are `docker commit`s of it: one with a label (a new image),
#    one whose entrypoint only sleeps (it never passes its healthcheck).
#  - The swarm: `docker swarm init --advertise-addr 127.0.0.1` when this
#    Docker is in none, left again at the end; an existing swarm is used
#    and left as it was (the data-node label is removed if added here).
#  - Short timings for the test, through config: healthchecks every few
#    seconds, a backup every 60 s keeping 2, rollouts monitored for 10 s.
#
# Each check prints its figure; each phase is timed. Contacts nothing
# outside this machine. Needs root and Docker; takes about 8 minutes warm.
#   E2E_KEEP=1     keep the stack, the copy and the state (printed) at the end
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=tests/e2e/lib.sh
. "$here/lib.sh"

project_name=django-stack
stack=swarm-e2e
prefix=$project_name-$stack
port=18080
site=http://127.0.0.1:$port
host=$stack.localhost
engine_kit=${PULUMI_ENGINE_KIT:-$repo/../shared/engine}
backend_repo=$prefix-backend

start_work swarm
started=$(now)

deployed=""
# The load generator of a release, stopped at the end if a failure left it
# running: it would load the machine for the runs after this one.
load_pid=""
cleanup() {
    local status=$?
    set +e
    [ -z "$load_pid" ] || kill "$load_pid" 2>/dev/null
    if [ "$status" -ne 0 ]; then
        # The logs of a failed run stay, for the next one to overwrite.
        rm -rf /tmp/e2e-swarm-failed-logs && cp -r "$logs" /tmp/e2e-swarm-failed-logs &&
            echo "the engine's logs of this failed run: /tmp/e2e-swarm-failed-logs" >&2
        docker service ls --filter "label=djangostack.stack=$stack" 2>/dev/null | sed 's/^/  /' >&2
        for s in $(docker service ls -q --filter "label=djangostack.stack=$stack" 2>/dev/null); do
            echo "--- tasks and last log lines of $(docker service inspect -f '{{.Spec.Name}}' "$s")" >&2
            docker service ps --no-trunc --format '{{.Name}} {{.CurrentState}} {{.Error}}' "$s" 2>&1 | head -5 | sed 's/^/  /' >&2
            docker service logs --tail 15 "$s" 2>&1 | sed 's/^/  /' >&2
        done
    fi
    if [ -n "${E2E_KEEP:-}" ]; then
        echo "kept: the project copy $copy, its state $work/state (PULUMI_BACKEND_URL=$PULUMI_BACKEND_URL, PULUMI_CONFIG_PASSPHRASE=$PULUMI_CONFIG_PASSPHRASE)"
    else
        [ -z "$deployed" ] || destroy_at_exit
        remove_stack_leftovers >/dev/null
        remove_rollback_tags
        leave_swarm "$work"
        rm -rf "$work"
    fi
    stop_docker
    exit "$status"
}
trap cleanup EXIT


http() { curl -s -o /dev/null -w '%{http_code}' --max-time 10 -H "Host: $host" "$@"; }
site_curl() { curl -s --max-time 10 -H "Host: $host" "$@"; } # what lib.sh's stackctl checks reach the site with

# --- the swarm, and what a killed run left -------------------------------------------

# remove_stack_leftovers: every service, secret, config, network and volume
# of this script's own stack (no other stack is named swarm-e2e). Prints
# how many were removed.
remove_stack_leftovers() {
    local removed=0 id
    for id in $(docker service ls -q --filter "label=djangostack.stack=$stack" 2>/dev/null); do
        docker service rm "$id" >/dev/null 2>&1 && removed=$((removed + 1))
    done
    # The tasks' containers go with their service, a few seconds later.
    for _ in $(seq 30); do
        [ -z "$(docker ps -aq --filter "label=com.docker.stack.namespace=$stack" --filter "name=$prefix-" 2>/dev/null)" ] && break
        sleep 1
    done
    for id in $(docker ps -aq --filter "name=^$prefix-" 2>/dev/null); do
        docker rm -f -v "$id" >/dev/null 2>&1 && removed=$((removed + 1))
    done
    for id in $(docker secret ls -q --filter "name=$prefix-" 2>/dev/null) $(docker config ls -q --filter "name=$prefix-" 2>/dev/null); do
        { docker secret rm "$id" || docker config rm "$id"; } >/dev/null 2>&1 && removed=$((removed + 1))
    done
    for id in $(docker network ls -q --filter "label=djangostack.stack=$stack" 2>/dev/null); do
        docker network rm "$id" >/dev/null 2>&1 && removed=$((removed + 1))
    done
    for _ in $(seq 15); do
        for id in $(docker volume ls -q --filter "name=^$prefix-" 2>/dev/null); do
            docker volume rm "$id" >/dev/null 2>&1 && removed=$((removed + 1))
        done
        [ -z "$(docker volume ls -q --filter "name=^$prefix-" 2>/dev/null)" ] && break
        sleep 1
    done
    echo "$removed"
}

# remove_rollback_tags: the names stackctl rollback gave the previous image
# (stackctl-rollback:<stack>-<id>); the image stays under its other names.
remove_rollback_tags() {
    docker image ls --format '{{.Repository}}:{{.Tag}}' | grep "^stackctl-rollback:$stack-" | xargs -r docker image rm >/dev/null 2>&1 || true
}

# leave_swarm DIR: undoes what the run of DIR did to the swarm: the node
# label it added, the swarm it made.
leave_swarm() {
    local dir=$1
    if [ -f "$dir/made-swarm" ]; then
        docker swarm leave --force >/dev/null 2>&1 && echo "left the swarm this run made"
    elif [ -f "$dir/labelled-node" ]; then
        docker node update --label-rm djangostack.data "$(cat "$dir/labelled-node")" >/dev/null 2>&1
    fi
}

# clear_killed_swarm_runs: as lib.sh's clear_killed_runs, for this script's work dirs: a
# run that was killed could not destroy its stack nor leave its swarm.
clear_killed_swarm_runs() {
    local dir proc removed
    for dir in /tmp/e2e-swarm.*; do
        [ "$dir" != "$work" ] && [ -f "$dir/owner" ] || continue
        ! kill -0 "$(cat "$dir/owner")" 2>/dev/null || continue
        for proc in /proc/[0-9]*; do
            case $(readlink "$proc/cwd" 2>/dev/null) in "$dir"/* | "$dir") continue 2 ;; esac
        done
        removed=0
        if [ "$(docker info -f '{{.Swarm.LocalNodeState}}')" = active ]; then
            removed=$(remove_stack_leftovers)
        fi
        leave_swarm "$dir"
        echo "a killed run left $dir: removed $removed of its services, secrets, configs, networks and volumes"
        rm -rf "$dir"
    done
}

swarm() {
    clear_killed_swarm_runs
    local state node
    state=$(docker info -f '{{.Swarm.LocalNodeState}}')
    case $state in
    inactive)
        docker swarm init --advertise-addr 127.0.0.1 >/dev/null
        touch "$work/made-swarm"
        echo "made a single-node swarm (left again at the end)"
        ;;
    active)
        [ "$(docker info -f '{{.Swarm.ControlAvailable}}')" = true ] || fail "this Docker is a swarm worker, not a manager"
        echo "using the swarm this Docker is in (left as it is)"
        ;;
    *) fail "this Docker's swarm is $state" ;;
    esac
    [ -z "$(docker service ls -q --filter "label=djangostack.stack=$stack")" ] ||
        fail "this swarm already runs a $stack stack; destroy it first"
    node=$(docker info -f '{{.Swarm.NodeID}}')
    if [ "$(docker node inspect -f '{{index .Spec.Labels "djangostack.data"}}' "$node")" != true ]; then
        docker node update --label-add djangostack.data=true "$node" >/dev/null
        [ -f "$work/made-swarm" ] || echo "$node" >"$work/labelled-node"
    fi
    pass "swarm: node ${node:0:12} ($(docker info -f '{{.ServerVersion}}')) labelled as the data node"
}

# --- the engine, the images, the program ------------------------------------------

# images: the stand-ins as deploy-local.sh builds them (built here only when
# missing), and the backend: the image the local stack built, tagged; the
# two releases are commits of it, which take a second and no build.
tag_images() {
    local missing
    missing=$(missing_standins | tr '\n' ' ')
    if [ -n "$missing" ]; then
        echo "building the missing stand-ins: $missing"
        images
    fi
    local source=""
    for i in django-stack-local-backend:local djangostack-backend:e2e; do
        if docker image inspect "$i" >/dev/null 2>&1; then source=$i && break; fi
    done
    [ -n "$source" ] || fail "no backend image: run tests/e2e/deploy-local.sh or tests/e2e/backend-image.sh first"
    docker tag "$source" "$backend_repo:1"
    commit_image "$backend_repo:1" "$backend_repo:2" --change 'LABEL e2e.release=2'
    # It runs, but its server never starts: its healthcheck never passes.
    commit_image "$backend_repo:1" "$backend_repo:broken" --change 'ENTRYPOINT ["sh", "-c", "exec sleep 100000", "broken"]'
    echo "backend $backend_repo:1 from $source ($(docker image inspect -f '{{.Id}}' "$source" | cut -c8-19)); releases :2 and :broken committed from it"
}

commit_image() { # commit_image FROM TO CHANGES...
    local from=$1 to=$2 c
    shift 2
    c=$(docker create "$from")
    docker commit "$@" "$c" "$to" >/dev/null
    docker rm "$c" >/dev/null
}

compile() {
    (cd "$repo" && go build -o "$work/bin/probe" ./tests/e2e/probe && go build -o "$work/bin/backupctl" ./cmd/backupctl && go build -o "$work/bin/stackctl" ./cmd/stackctl)
    (cd "$repo" && git ls-files --cached --others --exclude-standard -z | tar --null -T - -c) | tar -x -C "$copy"
    # As deploy-local.sh: the program built once, at the language host's
    # buildTarget (Pulumi.yaml), which then finds it up to date.
    rm -rf "$copy/bin"
    build_program "$copy"
    # The stack's config: a clone of staging on this machine's Docker, as
    # a swarm, with short timings for the test.
    cat >"$copy/Pulumi.$stack.yaml" <<EOF
config:
  django-stack:runtime: swarm
  django-stack:domains: [localhost]
  django-stack:tls: false
  django-stack:host:
    docker: unix:///var/run/docker.sock
  django-stack:traefik:
    ingress: own
    httpPort: $port
    healthcheck: {interval: 2s}
  django-stack:backend:
    image: $backend_repo:1
    # Each request in the task's log too: what stackctl logs shows.
    env: {GUNICORN_CMD_ARGS: "--access-logfile -"}
    healthcheck: {interval: 2s, timeout: 2s, retries: 2, startPeriod: 15s}
    resources: {reservations: {cpus: "0.1"}}
    rollout:
      update: {delay: 0s, monitor: 10s}
      rollback: {monitor: 10s}
    roles:
      worker:
        command: [python3, manage.py, runworker, tasks]
        healthTest: [CMD, python3, /app/docker/worker_health.py]
        healthcheck: {interval: 2s, timeout: 2s, startPeriod: 15s}
        resources: {reservations: {cpus: "0.1"}}
  django-stack:postgres:
    healthcheck: {interval: 2s}
    resources: {reservations: {cpus: "0.1"}}
  django-stack:redis:
    healthcheck: {interval: 2s}
    resources: {reservations: {cpus: "0.1"}}
  django-stack:nginx:
    healthcheck: {interval: 2s}
    resources: {reservations: {cpus: "0.1"}}
  django-stack:backup:
    interval: 60s
    keep: 2
    maxAge: 60s
    healthcheck: {interval: 2s, timeout: 2s, retries: 1, startPeriod: 0s}
EOF
    ls -l "$copy/bin/$project_name" | awk '{printf "program binary: %.0f MB\n", $5 / 1e6}'
}

# --- swarm 1. a first deploy ----------------------------------------------------------

service_tasks() { # service_tasks SERVICE: its running tasks' containers here
    docker ps -q --filter "label=com.docker.swarm.service.name=$prefix-$1"
}

task_container() { service_tasks "$1" | head -1; }

# desired_tasks SERVICE: the tasks swarm means to keep running. Unlike the
# containers, these leave out a replaced task still in its stop grace period.
# The Swarm provider reads services (and tasks, networks) through the proxy.
docker_api_refuses_writes_swarm() { docker_api_refuses_writes "$(task_container traefik)" /services; }

desired_tasks() { docker service ps -q --filter desired-state=running "$prefix-$1"; }

not_converged() { # what is not converged: services short of or past their replicas, tasks not healthy
    local name replicas c s
    while read -r name replicas; do
        [ "${replicas%%/*}" = "${replicas##*/}" ] || echo -n " $name $replicas"
    done < <(docker service ls --filter "label=djangostack.stack=$stack" --format '{{.Name}} {{.Replicas}}')
    for c in $(docker ps -q --filter "label=djangostack.stack=$stack" --filter "label=com.docker.swarm.task"); do
        s=$(docker inspect -f '{{index .Config.Labels "com.docker.swarm.service.name"}} {{if .State.Health}}{{.State.Health.Status}}{{end}}' "$c" 2>/dev/null) || continue
        [ "${s##* }" = healthy ] || echo -n " ${s% *}:${s##* }"
    done
}

# check_converged WHAT: every service n/n and every task healthy, within
# 60 s (an old task drains for up to 10 s after a release).
check_converged() {
    local start bad deadline=$((SECONDS + 60))
    start=$(now)
    while bad=$(not_converged) && [ -n "$bad" ]; do
        [ "$SECONDS" -lt "$deadline" ] || fail "$1: not converged:$bad"
        sleep 0.5
    done
    echo "  converged $1 (+$(seconds_since "$start")s): $(docker service ls --filter "label=djangostack.stack=$stack" --format '{{.Name}} {{.Replicas}}' | sed "s/^$prefix-//" | sort | tr '\n' ',' | sed 's/,$//; s/,/, /g')"
}

first_deploy() {
    pulumi_in_copy stack init "$stack" >/dev/null
    local start took
    start=$(now)
    deployed=1
    PULUMI_DEBUG_COMMANDS=true pulumi_in_copy up --stack "$stack" --yes --skip-preview --event-log "$logs/first-up.events.jsonl" >"$logs/first-up.log"
    took=$(seconds_since "$start")
    check_converged "after the first up"
    pass "pulumi up (runtime: swarm): $(docker service ls -q --filter "label=djangostack.stack=$stack" | wc -l) services converged, every task healthy, ${took}s after the start of up"
}

# --- swarm 2. the site ------------------------------------------------------------------

check_site() {
    # Traefik reads the swarm every 2 s: the backend may be a poll away.
    local start deadline
    start=$(now)
    deadline=$((SECONDS + 20))
    until [ "$(http "$site/")" = 200 ]; do
        [ "$SECONDS" -lt "$deadline" ] || break
        sleep 0.2
    done
    expect "GET / through Traefik (answering $(seconds_since "$start")s after up returned)" "$(http "$site/")" 200
    expect "GET /api/ answers the health document" "$(curl -s --max-time 10 -H "Host: $host" "$site/api/")" '{"status":"ok","database":"ok","redis":"ok"}'
    local css headers
    css=$(curl -s --max-time 10 -H "Host: $host" "$site/" | grep -o '/static/[^"]*\.css' | head -1)
    [ -n "$css" ] || fail "the home page links no stylesheet"
    headers=$(curl -s -D - -o /dev/null --max-time 10 -H "Host: $host" "$site$css")
    grep -qi '^cache-control: public, immutable' <<<"$headers" || fail "$css: no Cache-Control: public, immutable in:"$'\n'"$headers"
    pass "GET $css: 200 from nginx (a service), Cache-Control: public, immutable"
    expect "an unknown Host gets no site" "$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -H 'Host: unknown.example' "$site/")" 404
    local published
    published=$(docker service inspect -f '{{.Spec.Name}} {{.Spec.EndpointSpec.Mode}}{{range .Spec.EndpointSpec.Ports}} {{.PublishMode}}:{{.PublishedPort}}->{{.TargetPort}}{{end}}' \
        $(docker service ls -q --filter "label=djangostack.stack=$stack") | sed "s/^$prefix-//" | sort | tr '\n' ',')
    expect "only Traefik publishes a port, in host mode; every service is dnsrr (no virtual IP)" "$published" \
        "backend dnsrr,backup dnsrr,docker-api dnsrr,nginx dnsrr,postgres dnsrr,redis dnsrr,traefik dnsrr host:$port->80,worker dnsrr,"
}

# Postgres's shared memory: a service gets no --shm-size, and the program
# mounts a tmpfs at /dev/shm with no size (the provider panics on one, and
# Docker ignores it there): what Postgres gets, and a parallel query, whose
# workers share memory through /dev/shm (dynamic_shared_memory_type posix).
check_postgres_shm() {
    local pg shm limit plan
    pg=$(task_container postgres)
    shm=$(docker exec "$pg" df -k /dev/shm | awk 'NR == 2 { printf "%.1f GiB tmpfs", $2 / 1048576 }')
    limit=$(docker inspect -f '{{.HostConfig.Memory}}' "$pg" | awk '{ printf "%d MiB", $1 / 1048576 }')
    psql_app "CREATE TABLE e2e_parallel AS SELECT n FROM generate_series(1, 300000) n; ANALYZE e2e_parallel;"
    plan=$(psql_app "SET max_parallel_workers_per_gather = 2; SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0;
        EXPLAIN (ANALYZE, COSTS OFF) SELECT a.n % 7, count(*) FROM e2e_parallel a JOIN e2e_parallel b USING (n) GROUP BY 1;")
    psql_app "DROP TABLE e2e_parallel;"
    grep -q 'Workers Launched: [1-9]' <<<"$plan" || fail "no parallel worker launched:"$'\n'"$plan"
    pass "Postgres: /dev/shm is a ${shm} (no size; the task's ${limit} memory limit bounds it), dynamic_shared_memory_type $(psql_app 'SHOW dynamic_shared_memory_type'); a parallel hash join ran ($(grep -o 'Workers Launched: [0-9]*' <<<"$plan" | head -1))"
}

# --- swarm 3. a release under load ------------------------------------------------------------

backend_image() { docker service inspect -f '{{.Spec.TaskTemplate.ContainerSpec.Image}}' "$prefix-backend"; }

start_load() {
    "$work/bin/probe" load -c 4 -host "$host" -url "$site/api/" -url "$site/notes/" >"$work/load.json" &
    load_pid=$!
    sleep 1
}

stop_load() { # stop_load: sets requests, failed
    kill -TERM "$load_pid"
    wait "$load_pid" || fail "the load generator failed"
    echo "  load: $(cat "$work/load.json")"
    requests=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["requests"])' <"$work/load.json")
    failed=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["failed"])' <"$work/load.json")
}

# up_under_load IMAGE LOG: backend.image set to IMAGE, then `pulumi up`
# while the load runs; sets took, requests and failed.
up_under_load() {
    local start
    pulumi_in_copy config set --stack "$stack" --path backend.image "$1" >/dev/null
    start_load
    start=$(now)
    pulumi_in_copy up --stack "$stack" --yes --skip-preview >"$logs/$2.log"
    took=$(seconds_since "$start")
    stop_load
}

release_image() {
    local before after took
    before=$(backend_image)
    up_under_load "$backend_repo:2" release
    after=$(backend_image)
    [ "$before" != "$after" ] || fail "the release did not change the backend's image ($after)"
    [ "$after" = "$(docker image inspect -f '{{.Id}}' "$backend_repo:2")" ] || fail "the backend runs $after, not $backend_repo:2"
    [ "$requests" -ge 500 ] || fail "only $requests requests during the release (want at least 500)"
    [ "$failed" -eq 0 ] || fail "$failed of $requests requests failed during the release"
    pass "release of a new image, start-first (update ${took}s): $requests requests under load, 0 failed"
    check_converged "after the release"
}

# --- swarm 3b. day two: stackctl (lib.sh's stackctl) -----------------------------------------------

# wait_drained: until the stack's task containers are as many as its
# services' replicas. A task a release replaced drains for up to 10 s after
# up returns: docker ps still lists it, stackctl status does not (its
# desired state is no longer running).
wait_drained() {
    local want deadline=$((SECONDS + 30))
    want=$(docker service ls --filter "label=djangostack.stack=$stack" --format '{{.Replicas}}' | awk -F / '{ n += $2 } END { print n }')
    until [ "$(docker ps -q --filter "label=djangostack.stack=$stack" --filter "label=com.docker.swarm.task" | wc -l)" -eq "$want" ]; do
        [ "$SECONDS" -lt "$deadline" ] || fail "the stack's tasks still not $want containers 30 s on"
        sleep 0.5
    done
}

check_stackctl_swarm() {
    local out listed running svc token task tasks
    # A second backend task for these checks (status and logs of each
    # replica), by docker service scale as backupctl scales, and back to one
    # at the end: two backend tasks under the release's load starve this
    # 2-core machine (a run saw the new task and the backup task turn
    # unhealthy).
    docker service scale -d "$prefix-backend=2" >/dev/null
    check_converged "with a second backend task"
    wait_drained
    out=$(stackctl status --stack "$stack") || fail "stackctl status: $out"
    printf '%s\n' "$out" >"$logs/stackctl-status.log"
    # Every running task, as status and docker ps see it: task, health
    # (columns are two spaces or more apart; a state has words).
    listed=$(awk -F '  +' '$3 ~ /^Running/ { print $2, $4 }' <<<"$out" | sort)
    running=$(for svc in $(docker service ls --filter "label=djangostack.stack=$stack" --format '{{.Name}}'); do
        docker ps --filter "label=com.docker.swarm.service.name=$svc" --format '{{.Names}} {{.Status}}'
    done | sed -E 's/^([^ ]+)\.[a-z0-9]+ /\1 /; s/ Up .*\((healthy|unhealthy|health: starting)\)$/ \1/; s/health: starting/starting/; s/ Up [^(]*$/ -/' | sort)
    expect "stackctl status lists the running tasks docker ps does: $(wc -l <<<"$listed"), each with its health" "$listed" "$running"
    tasks=$(awk -F '  +' '$1 ~ /^(backend(-[0-9]+)?|traefik)$/ && $3 ~ /^Running/ { print $2 }' "$logs/stackctl-status.log")
    [ "$(grep -c -- '-backend\.' <<<"$tasks")" -eq 2 ] || fail "stackctl status lists not 2 running backend tasks: $tasks"
    # Traefik sends to the new task once it has read the swarm and probed
    # the task: rounds of 10 requests until each task has logged one.
    local round missing
    token=e2e-logs-$(date +%s%N)
    for round in 1 2 3 4 5; do
        for _ in $(seq 1 10); do
            [ "$(http "$site/api/?$token")" = 200 ] || fail "GET /api/?$token"
        done
        sleep 2
        out=$(stackctl logs --stack "$stack" --since 5m backend traefik) || fail "stackctl logs: $out"
        printf '%s\n' "$out" >"$logs/stackctl-logs.log"
        missing=""
        for task in $tasks; do
            grep -qE "^$task@[^ ]+ +\| .*$token" <<<"$out" || missing="$missing $task"
        done
        [ -n "$missing" ] || break
    done
    [ -z "$missing" ] || fail "stackctl logs shows no line with the request /api/?$token ($((round * 10)) made) of task(s)$missing"
    pass "stackctl logs: the request just made ($((round * 10)) × /api/?$token) in the log of each of 2 backend tasks and of Traefik's, merged ($(grep -c "$token" <<<"$out") lines), each line named by its task and node"
    check_stackctl_exec
    docker service scale -d "$prefix-backend=1" >/dev/null
    check_converged "with one backend task again"
    wait_drained
}

check_stackctl_rollback_swarm() {
    local newer previous start took named
    newer=$(backend_image)
    previous=$(pulumi_in_copy stack output --stack "$stack" previousBackendImage)
    [ -n "$previous" ] && [ "$previous" != "$newer" ] || fail "no previous image to roll back to (running $newer, previous '$previous')"
    start_load
    start=$(now)
    stackctl rollback --stack "$stack" --yes >"$logs/stackctl-rollback.log" 2>&1 || { stop_load; tail -20 "$logs/stackctl-rollback.log"; fail "stackctl rollback"; }
    took=$(seconds_since "$start")
    stop_load
    expect "stackctl rollback: the backend service runs the previous image again" "$(backend_image)" "$previous"
    # The previous image is known by its id alone (a tag on this host):
    # the config names it by the tag stackctl gave it.
    named=$(pulumi_in_copy config get --stack "$stack" --path backend.image)
    [ "$(docker image inspect -f '{{.Id}}' "$named")" = "$previous" ] || fail "Pulumi.$stack.yaml's backend.image $named is not $previous"
    [ "$requests" -ge 500 ] || fail "only $requests requests during the rollback (want at least 500)"
    [ "$failed" -eq 0 ] || fail "$failed of $requests requests failed during the rollback"
    pass "stackctl rollback (${took}s, start-first): $requests requests under load, 0 failed"
    pulumi_in_copy up --stack "$stack" --yes --skip-preview >"$logs/after-stackctl-rollback.log"
    expect "the next pulumi up keeps the rolled-back image ($named)" "$(backend_image)" "$previous"
    check_converged "after stackctl rollback"
}

# --- swarm 4. a release that fails its healthcheck rolls back ----------------------------------

release_broken() {
    local good configured start took state out
    good=$(backend_image)
    # The image config names before the broken release (after stackctl
    # rollback, the name it gave the previous image), set again after it.
    configured=$(pulumi_in_copy config get --stack "$stack" --path backend.image)
    pulumi_in_copy config set --stack "$stack" --path backend.image "$backend_repo:broken" >/dev/null
    start_load
    start=$(now)
    if (cd "$copy" && pulumi up --stack "$stack" --yes --skip-preview) >"$logs/release-broken.log" 2>&1; then
        stop_load
        fail "pulumi up of an image that fails its healthcheck succeeded"
    fi
    took=$(seconds_since "$start")
    # The rollback may still be finishing when the provider gives up.
    for _ in $(seq 60); do
        state=$(docker service inspect -f '{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}' "$prefix-backend")
        [ "$state" = rollback_completed ] && break
        sleep 1
    done
    stop_load
    out=$(grep -E 'error|rollback|rolled back' "$logs/release-broken.log" | grep -v '^\s*$' | head -3 | sed 's/^ *//' | cut -c1-200)
    echo "  pulumi up said: $out"
    expect "the backend's update status after the broken release" "$state" rollback_completed
    expect "the backend runs the previous image again" "$(backend_image)" "$good"
    [ "$failed" -eq 0 ] || fail "$failed of $requests requests failed while the broken release rolled back"
    pass "a release whose image fails its healthcheck rolled back by itself (up failed after ${took}s); $requests requests meanwhile, 0 failed"
    check_converged "after the rollback"
    # Pulumi's state records the failed release (the broken image, its
    # migration step): with the good image back in config, an up puts state,
    # swarm and program in agreement, and changes no running task.
    local task replaced
    task=$(desired_tasks backend)
    up_under_load "$configured" after-rollback
    [ "$failed" -eq 0 ] || fail "$failed of $requests requests failed during the up after the rollback"
    replaced="replaced the backend task, start-first"
    [ "$(desired_tasks backend)" != "$task" ] || replaced="left the backend task alone"
    pass "an up with the good image back in config (${took}s) $replaced: $requests requests, 0 failed"
}

# --- backups ------------------------------------------------------------------------------------

backup_exec() { docker exec "$(task_container backup)" "$@"; }
dumps() { backup_exec sh -c 'cd /backups && ls -1 *.dump 2>/dev/null' || true; }
psql_app() { docker exec "$(task_container postgres)" psql -U app -d app -qtAc "$1"; }

# 1. the scheduled dump: the loop dumps at its start, then every interval
# (60 s). Names carry the time of each dump (UTC, to the second).
stamp_seconds() { # stamp_seconds NAME: the dump's time from its name, in epoch seconds
    local t=${1%.dump}
    t=${t##*-}
    date -u -d "${t:0:4}-${t:4:2}-${t:6:2} ${t:9:2}:${t:11:2}:${t:13:2}" +%s
}

check_scheduled_dump() {
    local first second deadline sum gap
    deadline=$((SECONDS + 90))
    until [ "$(dumps | wc -l)" -ge 2 ]; do
        [ "$SECONDS" -lt "$deadline" ] || fail "no scheduled dump within 90 s: $(dumps | tr '\n' ' ')"
        sleep 1
    done
    first=$(dumps | head -1)
    second=$(dumps | sed -n 2p)
    gap=$(($(stamp_seconds "$second") - $(stamp_seconds "$first")))
    [ "$gap" -ge 55 ] && [ "$gap" -le 65 ] || fail "the scheduled dump came ${gap}s after the first (interval 60 s): $first $second"
    sum=$(backup_exec sh -c "cd /backups && sha256sum -c $second.sha256")
    expect "the scheduled dump's checksum verifies" "$sum" "$second: OK"
    pass "the first dump at the service's start ($first), the scheduled one ${gap}s later ($second), sha256 $(backup_exec cut -c1-16 "/backups/$second.sha256")…"
}

# 3. stale: every dump aged past two intervals; Docker's health turns
# unhealthy (and Swarm replaces the task, whose first dump is fresh).
check_stale() {
    local c start state deadline
    c=$(task_container backup)
    # The loop's next dump would make it healthy again: not within 15 s.
    local next
    next=$(($(stamp_seconds "$(dumps | tail -1)") + 60 - $(date +%s)))
    if [ "$next" -lt 15 ]; then
        echo "  the next scheduled dump is due in ${next}s: waiting for it"
        local last
        last=$(dumps | tail -1)
        until [ "$(dumps | tail -1)" != "$last" ]; do sleep 0.5; done
    fi
    backup_exec sh -c 'cd /backups && for f in *.dump *.dump.sha256; do touch -d "@$(( $(date +%s) - 180 ))" "$f"; done'
    start=$(now)
    deadline=$((SECONDS + 30))
    until state=$(docker inspect -f '{{.State.Health.Status}}' "$c" 2>/dev/null) && [ "$state" = unhealthy ]; do
        [ "$SECONDS" -lt "$deadline" ] || fail "the backup task is $state 30 s after its dumps were made stale"
        sleep 0.5
    done
    local said
    said=$(docker inspect -f '{{range .State.Health.Log}}{{.Output}}{{end}}' "$c" | grep unhealthy | tail -1)
    pass "stale dumps (all 3 min old, limit 2 min): the backup task unhealthy after $(seconds_since "$start")s: $said"
    deadline=$((SECONDS + 90))
    until [ -n "$(task_container backup)" ] && [ "$(task_container backup)" != "$c" ] &&
        [ "$(docker inspect -f '{{.State.Health.Status}}' "$(task_container backup)" 2>/dev/null)" = healthy ]; do
        [ "$SECONDS" -lt "$deadline" ] || fail "no healthy backup task 90 s after the stale one"
        sleep 1
    done
    pass "Swarm replaced the unhealthy backup task; the new one dumped at once and is healthy ($(seconds_since "$start")s after the dumps were made stale)"
}

# 2. retention: every dump aged past maxAge, then one more dump: the prune
# that follows it keeps the newest `keep` (2).
check_retention() {
    local before after
    backup_exec sh -c 'cd /backups && for f in *.dump *.dump.sha256; do touch -d "@$(( $(date +%s) - 120 ))" "$f"; done'
    before=$(dumps | wc -l)
    backup_exec sh /opt/backup/backup.sh once >/dev/null 2>&1 || fail "backup.sh once failed"
    after=$(dumps | wc -l)
    [ "$after" -eq 2 ] || fail "retention: $after dumps after the prune, want keep = 2: $(dumps | tr '\n' ' ')"
    pass "retention: $before dumps older than maxAge (60 s) and one new: pruned to keep = $after"
}

# 4. restore with backupctl: rows before the dump back, rows after gone,
# the backends scaled to 0 and back around it.
check_restore() {
    local dump out start
    psql_app "CREATE TABLE e2e_restore (id int PRIMARY KEY, note text); INSERT INTO e2e_restore SELECT n, 'before' FROM generate_series(1, 500) n;"
    backup_exec sh /opt/backup/backup.sh once >/dev/null 2>&1 || fail "backup.sh once failed"
    dump=$(dumps | tail -1)
    psql_app "INSERT INTO e2e_restore SELECT n, 'after' FROM generate_series(501, 800) n;"
    expect "rows before the restore" "$(psql_app "SELECT count(*) FROM e2e_restore")" 800
    start=$(now)
    out=$(cd "$copy" && "$work/bin/backupctl" restore --stack "$stack" "$dump" 2>&1) || { echo "$out" | tail -20; fail "backupctl restore $dump"; }
    echo "$out" | grep '^backupctl:' | sed 's/^/      /'
    grep -q "scaling $prefix-backend to 0 (from 1)" <<<"$out" && grep -q "scaling $prefix-backend back to 1" <<<"$out" &&
        grep -q "scaling $prefix-worker to 0 (from 1)" <<<"$out" && grep -q "scaling $prefix-worker back to 1" <<<"$out" ||
        fail "backupctl did not scale the backend and its worker to 0 and back: $out"
    expect "rows after restoring $dump: the 500 written before it, none after" \
        "$(psql_app "SELECT count(*) || ' ' || count(*) FILTER (WHERE note = 'after') FROM e2e_restore")" "500 0"
    expect "the backend runs again" "$(docker service inspect -f '{{.Spec.Mode.Replicated.Replicas}}' "$prefix-backend") $(service_tasks backend | wc -l)" "1 1"
    expect "the worker runs again" "$(docker service inspect -f '{{.Spec.Mode.Replicated.Replicas}}' "$prefix-worker") $(service_tasks worker | wc -l)" "1 1"
    local deadline=$((SECONDS + 60))
    until [ "$(http "$site/api/")" = 200 ]; do
        [ "$SECONDS" -lt "$deadline" ] || fail "the site does not answer 60 s after the restore"
        sleep 1
    done
    pass "backupctl restore $dump (with its safety dump) in $(seconds_since "$start")s; the site answers again"
}

# 5. a corrupted dump is refused before anything is dropped.
check_corrupted() {
    local good bad out
    good=$(dumps | tail -1)
    bad=$prefix-20000101T000000Z.dump
    backup_exec sh -c "cd /backups && cp $good $bad && sed 's/$good/$bad/' $good.sha256 > $bad.sha256 &&
        printf 'corrupt' | dd of=$bad bs=1 seek=200 conv=notrunc 2>/dev/null"
    psql_app "CREATE TABLE e2e_kept (id int PRIMARY KEY); INSERT INTO e2e_kept SELECT generate_series(1, 100);"
    local backend_before
    backend_before=$(desired_tasks backend)
    if out=$(cd "$copy" && "$work/bin/backupctl" restore --no-safety-dump --stack "$stack" "$bad" 2>&1); then
        fail "backupctl restored a corrupted dump: $out"
    fi
    grep -qi 'checksum' <<<"$out" || fail "the refusal does not name the checksum: $out"
    echo "$out" | grep -m1 'refusing' | sed 's/^/      /'
    expect "the database after the refused restore: the table written after that dump, every row" \
        "$(psql_app "SELECT count(*) FROM e2e_kept")" 100
    expect "the backend was not stopped (the same task runs)" "$(desired_tasks backend)" "$backend_before"
    backup_exec rm -f "/backups/$bad" "/backups/$bad.sha256"
    pass "a corrupted dump is refused by its checksum before anything is dropped or stopped"
}

# --- swarm 6. destroy -------------------------------------------------------------------------------

check_destroy() {
    local start
    start=$(now)
    pulumi_in_copy destroy --stack "$stack" --yes --skip-preview >"$logs/destroy.log"
    deployed=""
    local left
    left=$( {
        docker service ls --filter "label=djangostack.stack=$stack" --format 'service {{.Name}}'
        docker secret ls --filter "name=$prefix-" --format 'secret {{.Name}}'
        docker config ls --filter "name=$prefix-" --format 'config {{.Name}}'
        docker network ls --filter "label=djangostack.stack=$stack" --format 'network {{.Name}}'
        docker volume ls --filter "name=^$prefix-" --format 'volume {{.Name}}'
    } | sort)
    # The backups volume is kept on purpose (retainOnDelete): the dumps
    # outlive the stack.
    expect "pulumi destroy ($(seconds_since "$start")s) leaves only the backups volume" "$left" "volume $prefix-backups"
    docker volume rm "$prefix-backups" >/dev/null
    docker rmi "$backend_repo:2" "$backend_repo:broken" "$backend_repo:1" >/dev/null
    remove_rollback_tags
    leave_swarm "$work"
    rm -f "$work/made-swarm" "$work/labelled-node"
    local state
    state=$(docker info -f '{{.Swarm.LocalNodeState}}')
    pass "the swarm is as found: $state; the backups volume and the tagged images removed"
}

# --- the run ------------------------------------------------------------------------------------------

phase "docker engine" ensure_docker
phase "swarm (made or found), data-node label" swarm
phase "engine (CLI, plugins, Traefik; lib.sh)" engine
phase "images (tags and commits, no build)" tag_images
phase "compile the program" compile
phase "S1. first deploy, converged and healthy" first_deploy
phase "S2. the site through Traefik" check_site
phase "S2b. the worker role" worker_handles_a_task "$site" -H "Host: $host"
phase "S2c. CIS audit" cis_audit 5.4,5.5,5.10,5.13
phase "S2d. the Docker API from Traefik" docker_api_refuses_writes_swarm
phase "S1b. Postgres's shared memory" check_postgres_shm
phase "S5. preview after the first up" check_no_changes "after the first up"
phase "S3. a release under load" release_image
phase "S5. preview after the release" check_no_changes "after the release"
phase "S3b. stackctl status, logs, exec" check_stackctl_swarm
phase "S3c. stackctl rollback under load" check_stackctl_rollback_swarm
phase "B1. a scheduled dump with its checksum" check_scheduled_dump
phase "B3. a stale dump is unhealthy" check_stale
phase "B2. retention prunes to keep" check_retention
phase "S4. a broken release rolls back" release_broken
phase "S5. preview after the rollback" check_no_changes "after the rollback"
phase "B5. a corrupted dump is refused" check_corrupted
phase "B4. backupctl restore" check_restore
phase "S6. destroy, the swarm as found" check_destroy
print_timings
echo "--- total $(seconds_since "$started")s"
print_checks
