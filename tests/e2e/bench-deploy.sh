#!/usr/bin/env bash
# How fast the program deploys and previews, side by side with
# `docker-compose` on the same machine, images and healthchecks. Prints:
#
#  1. empty -> every container healthy: `pulumi up` of the local stack, then
#     `docker-compose up -d` (`--wait` on compose v2) of the same containers,
#     rendered from what that up deployed (compose_from_state.py), each
#     compose container's times, and their ratio: once with the waits
#     compose's depends_on conditions give (Postgres's and Redis's
#     healthchecks), once in the program's own order;
#  2. a no-op `pulumi preview`, five times, warm, with 0 changes; one more,
#     traced, in parts (preview_parts.py); and, where perf is installed,
#     one under perf: the CPU time of each process;
#  3. a one-value backend release: `pulumi up` -> the new backend healthy,
#     and the parts of that time.
#
# The project is used as a user has it: the copy's Pulumi.yaml is the
# repository's, so the language host builds the program to its buildTarget
# (the first build, timed, is a compile; the others find it up to date).
# Same engine, stand-in images and rules as deploy-local.sh: a throwaway copy
# and state, contacts nothing outside this machine, refuses to run beside
# another local stack, and removes what it deployed.
#   BENCH_PREVIEWS=N   no-op previews to time (default 5)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=tests/e2e/lib.sh
. "$here/lib.sh"

# The engine it measures (lib.sh, use_engine): Docker 26 unless
# E2E_ENGINE=system (Debian 12's 20.10).
: "${E2E_ENGINE:=current}"
project_name=django-stack
stack=local
prefix=$project_name-$stack
engine_kit=${PULUMI_ENGINE_KIT:-$repo/../shared/engine}
previews=${BENCH_PREVIEWS:-5}

start_work bench
mkdir -p "$work/compose"
started=$(now)

deployed=""
composed=""
cleanup() {
    local status=$?
    set +e
    [ -z "$composed" ] || compose -p bench -f "$composed/docker-compose.yml" down -v --timeout 5 >/dev/null 2>&1
    untag_compose_images
    if [ -n "$deployed" ]; then
        destroy_at_exit
        remove_leftovers "$work/state" >/dev/null
    fi
    [ "$status" -eq 0 ] || echo "logs: kept in $logs" >&2
    [ "$status" -ne 0 ] || rm -rf "$work"
    stop_docker
    exit "$status"
}
trap cleanup EXIT


# load: the machine's load average over 1, 5 and 15 minutes.
load() { cut -d' ' -f1-3 /proc/loadavg; }

# unhealthy: the stack's long-running containers that are not healthy yet
# (one-shot steps, which exit, are left out).
unhealthy() {
    docker ps -a --filter "label=$1" --format '{{.Names}} {{.Status}}' |
        grep -v -e '(healthy)' -e 'migrate' -e 'postgres-password' -e 'Exited (0)' -e '-files Created' || true
}

# until_healthy LABEL: waits until every container with the label is healthy.
until_healthy() {
    local deadline=$((SECONDS + 300))
    while [ -n "$(unhealthy "$1")" ]; do
        [ "$SECONDS" -lt "$deadline" ] || fail "not healthy within 300 s: $(unhealthy "$1")"
        sleep 0.2
    done
}

# --- set-up --------------------------------------------------------------------------

setup() {
    ensure_docker
    refuse_a_running_stack
    # The current engine comes with compose v2 (trixie's docker-compose);
    # the system's is Debian 12's docker-compose 1.29.
    command -v docker-compose >/dev/null || {
        apt-get -o DPkg::Lock::Timeout=600 install -y -qq docker-compose >/dev/null
    }
    compose_version=$(docker-compose version --short 2>/dev/null | head -1)
    engine
    images
    (cd "$repo" && git ls-files --cached --others --exclude-standard -z | tar --null -T - -c) | tar -x -C "$copy"
    rm -rf "$copy/bin"
    echo "docker $(docker version -f '{{.Server.Version}}'), docker-compose $compose_version, $(nproc) cores"
}

compile_once() {
    local start
    start=$(now)
    build_program "$copy"
    echo "  first build to bin/$project_name: $(seconds_since "$start")s (a cold link; later runs find it up to date)"
    pulumi_in_copy stack init "$stack" >/dev/null
    pulumi_in_copy config set --stack "$stack" --path host.docker "$docker_host" >/dev/null
}

# compose ARGS...: docker-compose, v2 or 1.29 as the engine has it.
compose() { docker-compose "$@"; }

# compose_wait: how compose itself waits for healthy containers: v2's
# `up --wait`; 1.29 has none, so its `up -d` is followed by polling.
compose_wait() { case "$compose_version" in 1.*) echo "" ;; *) echo "--wait" ;; esac; }

# --- 1. empty -> healthy --------------------------------------------------------------

pulumi_up_time=""
pulumi_up() {
    local start
    start=$(now)
    deployed=1
    PULUMI_DEBUG_COMMANDS=true pulumi_in_copy up --stack "$stack" --yes --skip-preview --event-log "$logs/up.events.jsonl" >"$logs/up.log"
    local returned
    returned=$(seconds_since "$start")
    until_healthy "djangostack.stack=$stack"
    pulumi_up_time=$(seconds_since "$start")
    pass "pulumi up, empty -> every container healthy: ${pulumi_up_time}s (up returned after ${returned}s), load average $(load)"
    python3 "$here/events.py" "$logs/up.events.jsonl"
    python3 "$here/events.py" "$logs/up.events.jsonl" --steps | grep -e Container -e Network -e Image
}

# compose_up ORDER: the containers the up deployed, with docker-compose,
# in an order (compose_from_state.py): healthchecks, the waits compose's own
# depends_on conditions give; program, the program's own order.
declare -A compose_up_time
compose_up() {
    local order=$1 dir=$work/compose/$1
    mkdir -p "$dir"
    python3 "$here/compose_from_state.py" "$work/state.json" "$dir" --order "$order" >"$work/compose/images"
    local start
    start=$(now)
    composed=$dir
    # shellcheck disable=SC2046
    compose -p bench -f "$dir/docker-compose.yml" up -d $(compose_wait) >"$logs/compose-up-$order.log" 2>&1 ||
        { tail -20 "$logs/compose-up-$order.log"; compose_health; fail "docker-compose up"; }
    local returned
    returned=$(seconds_since "$start")
    until_healthy com.docker.compose.project=bench
    compose_up_time[$order]=$(seconds_since "$start")
    pass "docker-compose $compose_version up -d $(compose_wait), $order order, empty -> every container healthy: ${compose_up_time[$order]}s (up returned after ${returned}s), load average $(load)"
    compose_timeline "$start"
    compose -p bench -f "$dir/docker-compose.yml" down -v --timeout 5 >/dev/null 2>&1
    composed=""
}

# compose_timeline START: each compose container, from START (seconds since
# the epoch): created, started, and healthy (its first passing probe still
# in Docker's log of the last five) or exited.
compose_timeline() {
    # shellcheck disable=SC2046
    docker inspect $(docker ps -aq --filter label=com.docker.compose.project=bench) | python3 -c '
import json, sys
from datetime import datetime
start = float(sys.argv[1])
def at(t):
    if not t or t.startswith("0001"):
        return None
    t = t.rstrip("Z")
    head, _, frac = t.partition(".")
    return datetime.fromisoformat(head + "+00:00").timestamp() + float("0." + (frac or "0")) - start
def fmt(v):
    return "%5.1fs" % v if v is not None else "     -"
rows = []
for c in json.load(sys.stdin):
    st = c["State"]
    passed = [at(h["End"]) for h in (st.get("Health") or {}).get("Log") or [] if h["ExitCode"] == 0]
    end = min(passed) if passed else (at(st["FinishedAt"]) if st["Status"] == "exited" else None)
    rows.append((at(c["Created"]), c["Name"].lstrip("/"), at(st["StartedAt"]), end, "healthy" if passed else st["Status"]))
for created, name, started, end, what in sorted(rows, key=lambda r: r[0]):
    print(f"    {fmt(created)} created, {fmt(started)} started, {fmt(end)} {what:8s} {name}")
' "$1"
}

# compose_health: each compose container's health and its last probes,
# for a compose that failed.
compose_health() {
    local c
    for c in $(docker ps -aq --filter label=com.docker.compose.project=bench); do
        docker inspect -f '{{.Name}} {{.State.Status}} {{json .Config.Healthcheck}} {{if .State.Health}}{{json .State.Health}}{{end}}' "$c" | cut -c1-1500
    done
}

# compose_baselines: the stack's containers with docker-compose, once the
# stack is destroyed. Tagged, the images outlive the destroy (the backend's
# is the stack's own build).
compose_baselines() {
    pulumi_in_copy stack export --stack "$stack" --show-secrets >"$work/state.json"
    python3 "$here/compose_from_state.py" "$work/state.json" "$work/compose" >"$work/compose/images"
    local id tag
    while read -r id tag; do docker tag "$id" "$tag"; done <"$work/compose/images"
    pulumi_in_copy destroy --stack "$stack" --yes --skip-preview >"$logs/destroy.log"
    deployed=""
    compose_up healthchecks
    compose_up program
    untag_compose_images
}

untag_compose_images() {
    local id tag
    [ -f "$work/compose/images" ] || return 0
    while read -r id tag; do docker rmi "$tag" >/dev/null 2>&1 || true; done <"$work/compose/images"
}

# --- 2. a no-op preview ------------------------------------------------------------------

preview_times=()
noop_previews() {
    local i start took
    for i in $(seq "$previews"); do
        start=$(now)
        pulumi_in_copy preview --stack "$stack" --expect-no-changes >"$logs/preview-$i.log"
        took=$(seconds_since "$start")
        preview_times+=("$took")
    done
    pass "pulumi preview --expect-no-changes, $previews times: ${preview_times[*]} s (median $(median "${preview_times[@]}") s), 0 changes, load average $(load)"
    # One more, traced (not in the median): where its time goes.
    local end
    start=$(now)
    pulumi_in_copy preview --stack "$stack" --expect-no-changes --otel-traces "file://$logs/preview-trace.json" >"$logs/preview-traced.log"
    end=$(now)
    echo "  one more, traced, in parts:"
    python3 "$here/preview_parts.py" "$logs/preview-trace.json" "$start" "$end"
    # And one under perf, where perf is installed: the CPU time of each
    # process (perf names a process by its first 15 characters:
    # pulumi-resource is the docker and random providers).
    if command -v perf >/dev/null; then
        (cd "$copy" && perf record -q -F 999 -o "$logs/preview.perf" -- pulumi preview --stack "$stack" --expect-no-changes) >"$logs/preview-perf.log" 2>&1 ||
            { tail -5 "$logs/preview-perf.log"; fail "pulumi preview under perf"; }
        echo "  one more, under perf, CPU time by process (on $(nproc) cores):"
        perf report -q -i "$logs/preview.perf" --sort comm --stdio -F sample,comm 2>/dev/null |
            awk '$1 > 0 { cpu[$2] += $1 / 999; all += $1 / 999 } END { for (c in cpu) printf "    %-20s %5.2fs\n", c, cpu[c]; printf "    %-20s %5.2fs\n", "total", all }' | sort -k2 -n -r
    fi
}

median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# --- 3. a one-value backend release ------------------------------------------------------

release() {
    pulumi_in_copy config set --stack "$stack" --path backend.env.BENCH_RELEASE "$(date +%s)" >/dev/null
    local start
    start=$(now)
    PULUMI_DEBUG_COMMANDS=true pulumi_in_copy up --stack "$stack" --yes --skip-preview --event-log "$logs/release.events.jsonl" >"$logs/release.log"
    local took
    took=$(seconds_since "$start")
    release_time=$took
    pass "a one-value backend release: pulumi up took ${took}s, load average $(load)"
    python3 "$here/events.py" "$logs/release.events.jsonl" --release "$start" | tee "$work/release-parts.txt"
    release_healthy=$(sed -n 's/.*up -> new backend healthy: \([0-9.]*\)s.*/\1/p' "$work/release-parts.txt")
}

# goal FIGURE THIS-RUN GOAL: one line of the goals' table.
goal() { awk -v f="$1" -v v="$2" -v g="$3" 'BEGIN { printf "  %-66s %8s %6s  %s\n", f, v, g, (v != "" && v + 0 <= g + 0) ? "met" : "NOT met" }'; }

# --- the run ----------------------------------------------------------------------------

phase "set-up (engine, images, copy)" setup
phase "compile once" compile_once
phase "1a. pulumi up" pulumi_up
phase "2. no-op previews" noop_previews
phase "3. release" release
phase "1b. docker-compose up" compose_baselines
print_timings
echo "--- summary ($(date -u +%F), $(nproc) cores, docker $(docker version -f '{{.Server.Version}}'))"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo "  empty -> healthy: pulumi up ${pulumi_up_time}s; docker-compose ${compose_up_time[healthchecks]}s with compose's healthcheck waits (ratio $(ratio "$pulumi_up_time" "${compose_up_time[healthchecks]}")), ${compose_up_time[program]}s in the program's own order (ratio $(ratio "$pulumi_up_time" "${compose_up_time[program]}"))"
echo "  no-op preview: median $(median "${preview_times[@]}")s of ${preview_times[*]}"
echo "--- goals ($(docker version -f 'Docker {{.Server.Version}}'), docker-compose $compose_version, $(nproc) cores, load average $(load))"
printf '  %-66s %8s %6s\n' "figure" "this run" "goal"
goal "fresh up, start to every container healthy (s)" "$pulumi_up_time" 20
goal "one-value backend release, up start to new backend healthy (s)" "$release_healthy" 10
goal "the same release, whole up (s)" "$release_time" 20
goal "pulumi up / docker-compose up $(compose_wait), compose's waits" "$(ratio "$pulumi_up_time" "${compose_up_time[healthchecks]}")" 1.0
goal "pulumi up / docker-compose up $(compose_wait), the program's order" "$(ratio "$pulumi_up_time" "${compose_up_time[program]}")" 1.0
goal "no-op pulumi preview, median (s)" "$(median "${preview_times[@]}")" 2.6
echo "--- total $(seconds_since "$started")s"
print_checks
