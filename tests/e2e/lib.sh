# shellcheck shell=bash
# Shared by the end-to-end scripts: a Docker engine, the Debian base image,
# timings and checks, and the containers as the program renders them. Source it; it expects `set -euo pipefail`.

# --- timings -------------------------------------------------------------------

_timings=()

now() { date +%s.%N; }
seconds_since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# phase NAME COMMAND...: runs the command under a heading and records its time.
phase() {
    local name=$1 start
    shift
    start=$(now)
    echo "--- $name"
    "$@"
    _timings+=("$(printf '%-40s %6ss' "$name" "$(seconds_since "$start")")")
}

print_timings() {
    echo "--- timings"
    printf '  %s\n' "${_timings[@]}"
}

# --- checks ----------------------------------------------------------------------

_passed=0

pass() {
    _passed=$((_passed + 1))
    echo "  ok  $*"
}

fail() {
    echo "  FAIL  $*" >&2
    echo "e2e: $_passed passed, 1 failed"
    exit 1
}

# expect WHAT GOT WANT: GOT must equal WANT exactly.
expect() {
    if [ "$2" == "$3" ]; then
        pass "$1"
    else
        fail "$1"$'\n'"    want: $3"$'\n'"    got:  $2"
    fi
}

print_checks() { echo "e2e: $_passed passed, 0 failed"; }

# --- the Docker engine -------------------------------------------------------------

_started_dockerd=""

# The engines the runs deploy to. E2E_ENGINE picks one:
#  - current: Debian trixie's docker.io (26.1, Engine API 1.45), the Docker
#    users run; its daemon runs beside the system's, on a socket, data root,
#    exec root, bridge and address pool of its own, so that neither sees the
#    other's containers, networks or images. Its .debs (docker.io,
#    docker-cli, docker-compose) come from Debian's archive with a source
#    list of their own, unpacked under E2E_CURRENT_DOCKER, once; bookworm's
#    containerd and runc run its containers.
#  - system: the machine's docker.io (20.10 on Debian 12), on
#    /var/run/docker.sock.
# use_engine exports what the docker CLI and the checks read: DOCKER_HOST,
# the daemon's pid file, and PATH with the engine's own CLI first;
# docker_host is what the stacks' host.docker is set to.
current_docker=${E2E_CURRENT_DOCKER:-/var/cache/django-stack-e2e/docker-current}
current_docker_run=/run/docker-current
current_docker_socket=$current_docker_run/docker.sock
current_docker_data=/var/lib/docker-current
current_docker_bridge=docker-current
current_docker_bip=10.199.0.1/24
current_docker_pool=10.200.0.0/16
use_engine() {
    E2E_ENGINE=$1
    case "$E2E_ENGINE" in
    current)
        docker_host=$(engine_socket current)
        E2E_DOCKER_PIDFILE=$current_docker_run/docker.pid
        case ":$PATH:" in *":$current_docker/usr/bin:"*) ;; *) PATH="$current_docker/usr/bin:$PATH" ;; esac
        ;;
    system)
        docker_host=$(engine_socket system)
        E2E_DOCKER_PIDFILE=/var/run/docker.pid
        PATH=${PATH//"$current_docker/usr/bin:"/}
        ;;
    *) echo "E2E_ENGINE=$E2E_ENGINE: current or system" >&2; exit 1 ;;
    esac
    export DOCKER_HOST=$docker_host E2E_DOCKER_PIDFILE PATH E2E_ENGINE
}

# install_current_docker: trixie's docker.io, docker-cli and docker-compose
# unpacked under $current_docker (nothing installed system-wide), once.
install_current_docker() {
    [ -x "$current_docker/usr/sbin/dockerd" ] && [ -x "$current_docker/usr/bin/docker" ] && return
    local apt_dir opts deb
    apt_dir=$(mktemp -d /tmp/e2e-trixie-apt.XXXXXX)
    mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/debs"
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] ${E2E_DEBIAN_MIRROR:-http://deb.debian.org/debian} trixie main" >"$apt_dir/sources.list"
    opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o Dir::Etc::SourceParts=- -o "Dir::State::Lists=$apt_dir/lists"
        -o "Dir::Cache=$apt_dir/cache" -o Debug::NoLocking=1 -o APT::Sandbox::User=root)
    echo "fetching Debian trixie's docker.io, docker-cli and docker-compose into $current_docker"
    apt-get "${opts[@]}" update -qq >"$apt_dir/log" 2>&1 &&
        (cd "$apt_dir/debs" && apt-get "${opts[@]}" download docker.io/trixie docker-cli/trixie docker-compose/trixie >>"$apt_dir/log" 2>&1) ||
        { tail -20 "$apt_dir/log" >&2; rm -rf "$apt_dir"; echo "fetching Docker from trixie failed" >&2; exit 1; }
    rm -rf "$current_docker.new"
    mkdir -p "$current_docker.new"
    for deb in "$apt_dir"/debs/*.deb; do dpkg-deb -x "$deb" "$current_docker.new"; done
    # Its docker-init points at a tini-static it does not ship: the
    # system's docker-init (tini) serves.
    rm -f "$current_docker.new/usr/bin/docker-init"
    rm -rf "$current_docker" "$apt_dir"
    mv "$current_docker.new" "$current_docker"
}

# start_current_docker: the current engine's daemon, unless it answers.
start_current_docker() {
    if ! ip link show "$current_docker_bridge" >/dev/null 2>&1; then
        ip link add "$current_docker_bridge" type bridge
        ip addr add "$current_docker_bip" dev "$current_docker_bridge"
        ip link set "$current_docker_bridge" up
    fi
    mkdir -p "$current_docker_run" "$current_docker_data"
    # Its own docker-proxy; bookworm's containerd, runc and docker-init.
    without_inherited_fds "$current_docker/usr/sbin/dockerd" --userland-proxy-path "$current_docker/usr/sbin/docker-proxy" \
        --host "unix://$current_docker_socket" --pidfile "$E2E_DOCKER_PIDFILE" \
        --data-root "$current_docker_data" --exec-root "$current_docker_run/exec" \
        --bridge "$current_docker_bridge" --default-address-pool "base=$current_docker_pool,size=24"
}

# ensure_docker: installs docker.io and debootstrap when missing (and the
# current engine's binaries for E2E_ENGINE=current; system is the
# default), and
# starts the engine's dockerd in the background when it does not answer
# (this machine has no init system to start it). stop_docker stops only a
# dockerd started here.
ensure_docker() {
    use_engine "${E2E_ENGINE:-system}"
    if ! command -v dockerd >/dev/null || ! command -v debootstrap >/dev/null || ! command -v containerd >/dev/null; then
        echo "installing docker.io and debootstrap"
        # Wait for another apt to finish rather than fail on its lock.
        apt-get -o DPkg::Lock::Timeout=600 update -qq
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq docker.io debootstrap >/dev/null
    fi
    [ "$E2E_ENGINE" != current ] || install_current_docker
    if docker info >/dev/null 2>&1; then
        echo "using the running Docker engine at $DOCKER_HOST: $(docker version --format '{{.Server.Version}}, API {{.Server.APIVersion}}')"
        return
    fi
    local log
    log=$(dockerd_log)
    echo "starting dockerd for $DOCKER_HOST (log: $log)"
    if [ "$E2E_ENGINE" = current ]; then
        start_current_docker >"$log" 2>&1 &
    else
        without_inherited_fds dockerd >"$log" 2>&1 &
    fi
    local started=$!
    _started_dockerd="$_started_dockerd $started"
    local _
    for _ in $(seq 60); do
        if docker info >/dev/null 2>&1; then
            echo "Docker $(docker version --format '{{.Server.Version}}, API {{.Server.APIVersion}}')"
            return
        fi
        kill -0 "$started" 2>/dev/null || break
        sleep 1
    done
    tail -20 "$log" >&2
    echo "dockerd did not start" >&2
    exit 1
}

# dockerd_log: the log of the engine's daemon: DOCKERD_LOG (default
# /tmp/e2e-dockerd.log) for the system's, with -current before .log for
# the current one's.
dockerd_log() {
    local log=${DOCKERD_LOG:-/tmp/e2e-dockerd.log}
    if [ "${E2E_ENGINE:-system}" = system ]; then echo "$log"; else echo "${log%.log}-$E2E_ENGINE.log"; fi
}

stop_docker() {
    local pid
    for pid in $_started_dockerd; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
}

# copy_image_from ENGINE IMAGE: the image, from the other engine's daemon
# when it has it (docker save | docker load, seconds), so that the two
# engines build a base or a stand-in once between them. Fails when the
# other has none.
copy_image_from() {
    local from
    from=$(engine_socket "$1")
    DOCKER_HOST=$from docker image inspect "$2" >/dev/null 2>&1 || return 1
    DOCKER_HOST=$from docker save "$2" | docker load >/dev/null
}

# engine_socket ENGINE: the address of the engine's daemon.
engine_socket() { if [ "$1" = current ]; then echo "unix://$current_docker_socket"; else echo unix:///var/run/docker.sock; fi; }

# other_engine: the engine the run does not deploy to.
other_engine() { if [ "$E2E_ENGINE" = current ]; then echo system; else echo current; fi; }

# ensure_base_image: debian:trixie-slim, which the Dockerfiles start FROM.
# Nothing can be pulled here, so when the engine does not have it yet it is
# made from Debian's packages: debootstrap's minimal variant, imported as an
# image. Made once; later runs find it. E2E_DEBIAN_MIRROR overrides
# debootstrap's default mirror.
ensure_base_image() {
    if docker image inspect debian:trixie-slim >/dev/null 2>&1; then
        echo "debian:trixie-slim is there"
        return
    fi
    if copy_image_from "$(other_engine)" debian:trixie-slim; then
        echo "debian:trixie-slim copied from the $(other_engine) engine"
        return
    fi
    local root
    root=$(mktemp -d /tmp/e2e-trixie.XXXXXX)
    echo "debootstrap --variant=minbase trixie into $root"
    if ! debootstrap --variant=minbase trixie "$root" ${E2E_DEBIAN_MIRROR:+"$E2E_DEBIAN_MIRROR"} >"$root.log" 2>&1; then
        tail -20 "$root.log" >&2
        rm -rf "$root" "$root.log"
        echo "debootstrap failed" >&2
        exit 1
    fi
    # apt's caches are not part of an image.
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    tar -C "$root" -c . | docker import - debian:trixie-slim >/dev/null
    rm -rf "$root" "$root.log"
}

# without_inherited_fds COMMAND...: runs the command with only stdin, stdout
# and stderr open. A daemon started from here outlives the script: any other
# descriptor it inherited (a lock held around the script, a pipe CI reads
# to its end) would stay open as long as the daemon runs.
without_inherited_fds() {
    local fd
    for fd in /proc/$BASHPID/fd/*; do
        fd=${fd##*/}
        [ "$fd" -le 2 ] || eval "exec $fd>&-" 2>/dev/null || true
    done
    exec "$@"
}

# restart_docker: stops the Docker daemon as a host shutdown does (SIGTERM:
# it stops every container with its stop signal and timeout) and starts it
# again with the same command line. A daemon under systemd is restarted by
# systemd. A daemon this script did not start keeps running after it.
restart_docker() {
    if command -v systemctl >/dev/null && systemctl is-active --quiet docker 2>/dev/null; then
        systemctl restart docker
    else
        local pid args=()
        pid=$(cat "${E2E_DOCKER_PIDFILE:-/var/run/docker.pid}" 2>/dev/null || true)
        [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || { echo "restart_docker: no dockerd to restart" >&2; exit 1; }
        mapfile -d '' args <"/proc/$pid/cmdline"
        kill -TERM "$pid"
        local _
        for _ in $(seq 180); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 1
        done
        ! kill -0 "$pid" 2>/dev/null || { echo "restart_docker: dockerd $pid did not stop within 180 s" >&2; exit 1; }
        if [[ " $_started_dockerd " == *" $pid "* ]]; then
            without_inherited_fds "${args[@]}" >>"$(dockerd_log)" 2>&1 &
            _started_dockerd="${_started_dockerd/$pid/} $!"
        else
            without_inherited_fds setsid "${args[@]}" >>"$(dockerd_log)" 2>&1 </dev/null &
        fi
    fi
    local _
    for _ in $(seq 60); do
        docker info >/dev/null 2>&1 && return
        sleep 1
    done
    echo "restart_docker: the daemon did not come back within 60 s" >&2
    exit 1
}

# build_image TAG CONTEXT [docker build options...]: builds quietly (its
# output only when it fails) and removes the image the tag named before, if
# it changed; its layers that the new one shares stay, as the build cache.
# The image carries a digest of its context and options (label
# djangostack.e2e.context): without build options (which may name other
# images), an image with the same digest is kept as it is, or copied from
# the other engine, which built it already (seconds, where a build on an
# empty engine takes minutes).
build_image() {
    local tag=$1 context=$2 before after log sum label='{{index .Config.Labels "djangostack.e2e.context"}}'
    shift 2
    sum=$( (cd "$context" && find . -type f -print0 | sort -z | xargs -0 sha256sum; echo "$*") | sha256sum | cut -c1-16)
    if [ $# = 0 ] && [ "$(docker image inspect -f "$label" "$tag" 2>/dev/null)" = "$sum" ]; then
        echo "kept $tag (its context is unchanged)"
        return
    fi
    if [ $# = 0 ] && [ -n "${E2E_ENGINE:-}" ] && [ "$(DOCKER_HOST=$(engine_socket "$(other_engine)") docker image inspect -f "$label" "$tag" 2>/dev/null)" = "$sum" ] &&
        copy_image_from "$(other_engine)" "$tag"; then
        echo "copied $tag from the $(other_engine) engine"
        return
    fi
    log=$(mktemp)
    before=$(docker image inspect -f '{{.Id}}' "$tag" 2>/dev/null || true)
    if ! docker build -q -t "$tag" --label "djangostack.e2e.context=$sum" "$@" "$context" >/dev/null 2>"$log"; then
        cat "$log" >&2
        rm -f "$log"
        fail "docker build of $tag"
    fi
    rm -f "$log"
    after=$(docker image inspect -f '{{.Id}}' "$tag")
    if [ -n "$before" ] && [ "$before" != "$after" ]; then
        docker rmi "$before" >/dev/null 2>&1 || true
    fi
    echo "built $tag (${after:7:12})"
}

# --- the containers as the program renders them ---------------------------------------

# rendered GOLDEN CONTAINER FIELD: what the program renders for a container,
# read from a golden snapshot (rendered.py).
rendered() { python3 "$(dirname "${BASH_SOURCE[0]}")/rendered.py" "$@"; }

# random_secret LENGTH: letters and digits, like the program's passwords.
random_secret() {
    python3 -c 'import secrets, string, sys
print("".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(int(sys.argv[1]))))' "$1"
}

# make_secrets DIR: this run's db_password, redis_password and secret_key,
# and the files the program uploads for them, root's and 0444 once copied:
# DIR/secrets/ holds Postgres's and Redis's (postgres-password,
# redis-auth.conf), DIR/backend-secrets/secrets/ the backend's, under the
# names its rendered *_FILE variables give. `docker cp DIR/secrets C:/run/`
# puts either where the program does.
make_secrets() {
    local dir=$1
    db_password=$(random_secret 32)
    redis_password=$(random_secret 32)
    secret_key=$(random_secret 50)
    mkdir -p -m 755 "$dir/secrets" "$dir/backend-secrets/secrets"
    printf '%s' "$db_password" >"$dir/secrets/postgres-password"
    printf 'requirepass %s\n' "$redis_password" >"$dir/secrets/redis-auth.conf"
    printf '%s' "$db_password" >"$dir/backend-secrets/secrets/db_password"
    printf '%s' "$redis_password" >"$dir/backend-secrets/secrets/redis_password"
    printf '%s' "$secret_key" >"$dir/backend-secrets/secrets/secret_key"
    chmod 444 "$dir/secrets/"* "$dir/backend-secrets/secrets/"*
}

# backend_env GOLDEN [NAME=value...]: the backend's environment as the
# program renders it (its secrets as the files make_secrets writes), with
# this run's $postgres and $redis as DB_HOST and REDIS_HOST, and each
# NAME=value given in place of the rendered one.
backend_env() {
    local golden=$1 setting drop=()
    shift
    set -- "DB_HOST=$postgres" "REDIS_HOST=$redis" "$@"
    for setting in "$@"; do drop+=(-e "^${setting%%=*}="); done
    rendered "$golden" backend-1 env | grep -v "${drop[@]}"
    printf '%s\n' "$@"
}

# --- a deploy of the program: the engine, the stand-ins, what a run leaves -----------------
# These expect the script's globals: repo, here, engine_kit, work (its own
# temporary directory, with an `owner` file holding its pid), stack and
# project_name.

# start_work NAME: this run's work directory, /tmp/e2e-NAME.XXXXXX (in
# $work), with the project copy ($copy), the logs ($logs), a file state
# backend and a Pulumi home of its own, and a random passphrase: the user's
# Pulumi login and the repository's stack files are never touched. Its
# `owner` file holds this shell's pid: a later run clears what a killed one
# left (clear_killed_runs).
start_work() {
    work=$(mktemp -d "/tmp/e2e-$1.XXXXXX")
    copy=$work/project
    logs=$work/logs
    mkdir -p "$copy" "$logs" "$work/state" "$work/bin"
    echo $$ >"$work/owner"
    export PULUMI_BACKEND_URL=file://$work/state
    export PULUMI_HOME=$work/pulumi-home
    export PULUMI_SKIP_UPDATE_CHECK=true
    export PULUMI_CONFIG_PASSPHRASE
    PULUMI_CONFIG_PASSPHRASE=$(head -c 24 /dev/urandom | base64)
    # The Docker provider would let a context override host.docker.
    # DOCKER_HOST stays: it names the engine the run deploys to (use_engine).
    unset DOCKER_CONTEXT
}

# pulumi_in_copy ARGS...: the CLI in the project copy, its output kept in
# the logs and shown only when it fails.
pulumi_in_copy() {
    local log
    log=$logs/pulumi-$(date +%s%N).log
    if ! (cd "$copy" && pulumi "$@") >"$log" 2>&1; then
        # The errors, with what follows each; the end of the log if none.
        { grep -E -A8 '^\s*(error|panic)|  error: ' "$log" | head -60 || tail -60 "$log"; } | sed 's/^/  | /' >&2
        fail "pulumi $*"
    fi
    cat "$log"
}

# check_no_changes WHEN: `pulumi preview --expect-no-changes --diff` of the
# stack passes and prints no change but the stack's outputs.
check_no_changes() {
    local out
    out=$(pulumi_in_copy preview --stack "$stack" --expect-no-changes --diff)
    printf '%s\n' "$out" >"$logs/preview-no-changes-$1.log"
    if grep -E '^\s*[-+~]+\s' <<<"$out" | grep -v -e '^\s*[-+~]* *pulumi:pulumi:Stack' >/dev/null; then
        fail "preview --diff $1 shows changes:"$'\n'"$(grep -E '^\s*[-+~<>]' <<<"$out" | head -20)"
    fi
    pass "pulumi preview --expect-no-changes --diff $1: no change, and nothing printed as one ($(grep -c . <<<"$out") lines)"
}

# destroy_at_exit: the stack this run deployed, destroyed as the run ends.
destroy_at_exit() {
    (cd "$copy" && pulumi destroy --stack "$stack" --yes --skip-preview >"$logs/destroy-at-exit.log" 2>&1) ||
        echo "destroying the stack at exit failed: $logs/destroy-at-exit.log" >&2
}

# engine: the Pulumi CLI (.ci/pulumi-cli) and the engine kit's Go language
# host, docker and random plugins and Traefik, on PATH; built once, cached.
engine() {
    local bin
    bin=$("$engine_kit/build")
    export PATH="$bin:$PATH"
    PULUMI_CLI=${PULUMI_CLI:-$("$repo/.ci/pulumi-cli")}
    mkdir -p "$work/cli"
    ln -sf "$PULUMI_CLI" "$work/cli/pulumi"
    export PATH="$work/cli:$PATH"
    TRAEFIK_BIN=$bin/traefik
    # The program's go.mod names the Cloudflare SDK, so before each run the
    # CLI looks for its plugin and, not finding it, tries to download it:
    # five attempts, 2.6 s, on a machine that reaches no plugin host, before
    # every preview and up. A user's machine downloads it once; the local
    # stack never starts it.
    export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
    echo "$(pulumi version) from $PULUMI_CLI; plugins and Traefik from $bin"
}

# build_program DIR: what the Go language host runs in the project DIR
# before a preview or an up (pulumi-language-go's compileProgram), to the
# buildTarget of Pulumi.yaml.
build_program() {
    (cd "$1" && go build -buildvcs=false -o "bin/$project_name" -trimpath -ldflags "-w -s" .)
}

# images: the stand-ins for the official images, under their names.
# standin_images are the images the program pulls, which images builds.
standin_images=(postgres:16-alpine redis:7-alpine nginx:1.27-alpine traefik:v3.5 tecnativa/docker-socket-proxy:0.3.0)

# missing_standins: those of standin_images this Docker lacks.
missing_standins() {
    local i
    for i in "${standin_images[@]}"; do
        docker image inspect "$i" >/dev/null 2>&1 || echo "$i"
    done
}

images() {
    ensure_base_image
    build_image postgres:16-alpine "$here/standins/postgres"
    build_image redis:7-alpine "$here/standins/redis"
    build_image nginx:1.27-alpine "$here/standins/nginx"
    cp "$TRAEFIK_BIN" "$here/standins/traefik/traefik"
    build_image traefik:v3.5 "$here/standins/traefik"
    rm -f "$here/standins/traefik/traefik"
    build_image tecnativa/docker-socket-proxy:0.3.0 "$here/standins/docker-socket-proxy"
}

# remove_leftovers STATE: the stack's containers, networks and volumes whose
# ids the state STATE (a file backend's directory) records: what a run that
# deployed into STATE left. Prints how many were removed.
remove_leftovers() {
    local state=$1 id removed=0
    for id in $(docker ps -aq --filter "label=djangostack.stack=$stack" --filter "label=djangostack.project=$project_name"); do
        grep -rqsF "$id" "$state" && docker rm -f -v "$id" >/dev/null 2>&1 && removed=$((removed + 1))
    done
    for id in $(docker network ls -q --filter "label=djangostack.stack=$stack"); do
        grep -rqsF "$id" "$state" && docker network rm "$id" >/dev/null 2>&1 && removed=$((removed + 1))
    done
    for id in $(docker volume ls -q --filter "label=djangostack.stack=$stack"); do
        grep -rqsF "\"$id\"" "$state" && docker volume rm "$id" >/dev/null 2>&1 && removed=$((removed + 1))
    done
    echo "$removed"
}

# clear_killed_runs: a run of an end-to-end script that was killed (SIGKILL,
# a lost session) could not destroy its stack. Its work directory is still
# there, with the pid that owned it and its state; when that pid is gone and
# no process works in the directory, what the state records is removed, and
# the directory with it.
clear_killed_runs() {
    local dir proc removed
    for dir in /tmp/e2e-deploy.* /tmp/e2e-bench.*; do
        [ "$dir" != "$work" ] && [ -f "$dir/owner" ] || continue
        ! kill -0 "$(cat "$dir/owner")" 2>/dev/null || continue
        for proc in /proc/[0-9]*; do
            case $(readlink "$proc/cwd" 2>/dev/null) in "$dir"/* | "$dir") continue 2 ;; esac
        done
        removed=$(remove_leftovers "$dir/state")
        echo "a killed run left $dir: removed $removed of its containers, networks and volumes"
        rm -rf "$dir"
    done
}

# refuse_a_running_stack: clears what killed runs left, then refuses to go on
# beside a stack of the same name that this run did not deploy.
refuse_a_running_stack() {
    clear_killed_runs
    local running
    running=$(docker ps -aq --filter "label=djangostack.stack=$stack" --filter "label=djangostack.project=$project_name")
    [ -z "$running" ] || fail "this Docker already runs a $stack stack of $project_name ($(echo "$running" | wc -l) containers); destroy it first, this test deploys its own"
}

# --- a failed step, then the next up (issue 22) ---------------------------------------------
# A one-shot step's exit code stays in the state: an up with the same inputs
# replayed a failure instead of running the step again. These run on the
# stack $stack of the project copy $copy, with plain docker commands that
# honour DOCKER_HOST: another script runs them against a host over ssh.

# stack_containers COMPONENT [docker ps options...]: the names of the
# stack's containers of a component (its djangostack.component label).
stack_containers() {
    local component=$1
    shift
    docker ps "$@" --filter "label=djangostack.project=$project_name" --filter "label=djangostack.stack=$stack" \
        --filter "label=djangostack.component=$component" --format '{{.Names}}' | sort
}

# stack_ids COMPONENT: the ids of the stack's running containers of a
# component, on one line.
stack_ids() {
    docker ps --no-trunc --filter "label=djangostack.project=$project_name" --filter "label=djangostack.stack=$stack" \
        --filter "label=djangostack.component=$1" --format '{{.ID}}' | sort | tr '\n' ' '
}

# probe_until_ok SECONDS CONTAINER...: runs each container's own
# healthcheck command in it, once a second, until it passes: a server that
# answers now, without waiting for Docker's next probe.
probe_until_ok() {
    local within=$1 deadline=$((SECONDS + $1)) c out
    local -a probe
    shift
    for c in "$@"; do
        mapfile -t probe < <(docker inspect -f '{{join .Config.Healthcheck.Test "\n"}}' "$c")
        while :; do
            case ${probe[0]:-} in
                CMD) out=$(docker exec "$c" "${probe[@]:1}" 2>&1) && break ;;
                CMD-SHELL) out=$(docker exec "$c" sh -c "${probe[1]}" 2>&1) && break ;;
                *) out="no healthcheck to run: ${probe[*]:-}" ;;
            esac
            [ "$SECONDS" -lt "$deadline" ] || fail "$c: its healthcheck does not pass within $within s: $out"
            sleep 1
        done
    done
}

# up_must_fail LOG: `pulumi up` of the stack, which must fail; its output in LOG.
up_must_fail() {
    if (cd "$copy" && pulumi up --stack "$stack" --yes --skip-preview) >"$1" 2>&1; then
        fail "pulumi up succeeded where it should have failed: $(tail -20 "$1")"
    fi
}

# readable_failure LOG TEXT LINE: the failed up's output says TEXT, shows
# the job's LINE (an extended regex) as a line of its own, and holds none of
# the zero and stream bytes of Docker's log headers.
readable_failure() {
    local log=$1
    grep -qF -- "$2" "$log" || fail "the failed up does not say \"$2\": $(grep -m3 -A3 'error' "$log")"
    grep -qE -- "^\s*$3\s*$" "$log" || fail "the failed up does not show /$3/ as a line of the job's output:"$'\n'"$(grep -A12 -F -- "$2" "$log" | cat -A | head -20)"
    if LC_ALL=C grep -qP '[\x00-\x03]' "$log"; then
        fail "the failed up shows stray bytes of Docker's stream headers:"$'\n'"$(LC_ALL=C grep -P '[\x00-\x03]' "$log" | cat -A | head -5)"
    fi
}

# preview_shows_rerun JOB: the preview creates JOB's next attempt (its
# logical name) and deletes the failed one.
preview_shows_rerun() {
    local out
    out=$(pulumi_in_copy preview --stack "$stack")
    printf '%s\n' "$out" >"$logs/preview-rerun-$1.log"
    grep -qE -- " $1-2 +create" <<<"$out" || fail "the preview does not create $1-2:"$'\n'"$(grep -E 'create|delete|replace' <<<"$out" | head -10)"
    grep -qE -- " $1 +delete" <<<"$out" ||
        fail "the preview does not delete $1:"$'\n'"$(grep -E 'create|delete|replace' <<<"$out" | head -10)"
}

# retry_failed_migration RELEASE [SITE_CHECK]: stops Postgres, then
# releases a new backend image (RELEASE: a command that changes the image
# in $copy or its config): the migration fails, the update stops with the
# job's output and the old backends untouched. With Postgres started again,
# the old backends serve, the preview shows the migration running again,
# and `up` with nothing changed runs it again and releases the new
# backends; then nothing is left to change. SITE_CHECK, if given, runs once
# the old backends serve again and once the new ones do.
retry_failed_migration() {
    local release=$1 site_check=${2:-true} pg before ids start took job failed_job log=$logs/failed-migration.log
    pg=$(stack_containers postgres)
    before=$(stack_containers backend)
    ids=$(stack_ids backend)
    docker stop "$pg" >/dev/null
    "$release"
    start=$(now)
    up_must_fail "$log"
    took=$(seconds_since "$start")
    readable_failure "$log" "migrations failed (exit 1)" "migrations: failed after [0-9]+ attempts"
    for job in $(stack_containers migrate -a); do
        [ "$(docker inspect -f '{{.State.ExitCode}}' "$job")" = 0 ] || failed_job=$job
    done
    [ -n "${failed_job:-}" ] || fail "no migration container exited non-zero: $(stack_containers migrate -a | tr '\n' ' ')"
    [ "$(stack_ids backend)" = "$ids" ] || fail "the failed release touched the old backends: $(stack_containers backend -a | tr '\n' ' ')"
    pass "Postgres stopped, a release: the update failed in ${took}s at its migration ($failed_job), saying so with the job's output and no stray byte; the old backends are the same containers"

    start=$(now)
    docker start "$pg" >/dev/null
    # shellcheck disable=SC2086
    probe_until_ok 120 "$pg" $before
    "$site_check"
    pass "Postgres started again: the old backends serve $(seconds_since "$start")s later"

    job=backend-migrate-${failed_job##*-migrate-}
    preview_shows_rerun "$job"
    start=$(now)
    pulumi_in_copy up --stack "$stack" --yes --skip-preview >"$logs/retried-migration.log"
    took=$(seconds_since "$start")
    local now_backends image
    now_backends=$(stack_containers backend)
    [ "$(stack_containers migrate -a)" = "$failed_job-2" ] ||
        fail "the migration containers after the retry: $(stack_containers migrate -a | tr '\n' ' '), want only $failed_job-2"
    [ "$(docker inspect -f '{{.State.ExitCode}}' "$failed_job-2")" = 0 ] || fail "$failed_job-2 exited $(docker inspect -f '{{.State.ExitCode}}' "$failed_job-2")"
    if [ -z "$now_backends" ] || [ "$now_backends" = "$before" ]; then
        fail "the backends after the retry are $now_backends (before: $before)"
    fi
    image=$(docker inspect -f '{{.Image}}' "$failed_job-2")
    for c in $now_backends; do
        [ "$(docker inspect -f '{{.Image}}' "$c")" = "$image" ] || fail "$c does not run the image the migration passed with"
    done
    # shellcheck disable=SC2086
    probe_until_ok 30 $now_backends
    "$site_check"
    pass "the preview ran the migration again ($job-2 create, $job delete); \`up\` with nothing changed ran it again in ${took}s and released ${now_backends//$'\n'/ }, on the image the migration passed with"
    check_no_changes "after the migration ran again"
}

# retry_failed_password_step [SITE_CHECK]: stops Postgres, then changes what
# the password step runs and nothing of Postgres's container nor of the
# backends: a new revision of the superuser's password, which only the step
# and the backup hold. The step waits out Postgres's readiness bound (its
# healthcheck's ReadyWithin) and fails, the update stops with its output and
# the backends untouched. With Postgres started again, the
# preview shows the step running again, and `up` with nothing changed runs
# it again; then nothing is left to change. The stack's config is put back
# as it was, and a last `up` runs the step for it, the backends untouched.
retry_failed_password_step() {
    local site_check=${1:-true} pg backends ids start took step failed_step log=$logs/failed-password.log
    local config=$copy/Pulumi.$stack.yaml
    pg=$(stack_containers postgres)
    backends=$(stack_containers backend)
    ids=$(stack_ids backend)
    cp "$config" "$work/Pulumi.$stack.yaml.before-password-step"
    docker stop "$pg" >/dev/null
    pulumi_in_copy config set --stack "$stack" --path rotation.postgresSuperuser e2e-failed-step >/dev/null
    start=$(now)
    up_must_fail "$log"
    took=$(seconds_since "$start")
    readable_failure "$log" "setting the database password failed (exit 1)" "postgres: not accepting connections [0-9]+ s after the step began \(as [a-z_]+, or as [a-z_]+ while the image.s superuser has its name\)"
    for step in $(stack_containers postgres-password -a); do
        [ "$(docker inspect -f '{{.State.ExitCode}}' "$step")" = 0 ] || failed_step=$step
    done
    [ -n "${failed_step:-}" ] || fail "no password step exited non-zero: $(stack_containers postgres-password -a | tr '\n' ' ')"
    [ "$(stack_ids backend)" = "$ids" ] || fail "the failed password step touched the backends: $(stack_containers backend -a | tr '\n' ' ')"
    pass "Postgres stopped, a change of the password step: the update failed in ${took}s at the step ($failed_step), saying so with its output and no stray byte; the backends are the same containers"

    start=$(now)
    docker start "$pg" >/dev/null
    # shellcheck disable=SC2086
    probe_until_ok 120 "$pg" $backends
    "$site_check"
    pass "Postgres started again: the backends serve $(seconds_since "$start")s later"

    step=postgres-password-${failed_step##*-postgres-password-}
    preview_shows_rerun "$step"
    start=$(now)
    pulumi_in_copy up --stack "$stack" --yes --skip-preview >"$logs/retried-password.log"
    took=$(seconds_since "$start")
    [ "$(stack_containers postgres-password -a)" = "$failed_step-2" ] ||
        fail "the password steps after the retry: $(stack_containers postgres-password -a | tr '\n' ' '), want only $failed_step-2"
    [ "$(docker inspect -f '{{.State.ExitCode}}' "$failed_step-2")" = 0 ] || fail "$failed_step-2 exited $(docker inspect -f '{{.State.ExitCode}}' "$failed_step-2")"
    [ "$(stack_ids backend)" = "$ids" ] || fail "the retry replaced the backends"
    "$site_check"
    pass "the preview ran the step again ($step-2 create, $step delete); \`up\` with nothing changed ran it again in ${took}s, the backends the same containers"
    check_no_changes "after the password step ran again"

    cp "$work/Pulumi.$stack.yaml.before-password-step" "$config"
    start=$(now)
    pulumi_in_copy up --stack "$stack" --yes --skip-preview >"$logs/password-step-restored.log"
    took=$(seconds_since "$start")
    [ "$(stack_ids backend)" = "$ids" ] || fail "the password step of the config as it was replaced the backends"
    pass "the config as it was: \`up\` ran its password step again ($(stack_containers postgres-password -a)) in ${took}s, the backends the same containers"
}

# worker_handles_a_task BASE_URL [curl options...]: the worker role's
# containers are healthy, on the data network only and out of Traefik's
# routes; a task POSTed to the web process through Traefik goes through the
# channel layer to a worker, which writes it: the site then serves its row,
# naming the worker that handled it.
worker_handles_a_task() {
    local base=$1 w nets body id start deadline by hostnames=""
    shift
    local -a workers
    mapfile -t workers < <(stack_containers worker)
    [ "${#workers[@]}" -gt 0 ] || fail "no container of the worker role runs"
    for w in "${workers[@]}"; do
        [ "$(docker inspect -f '{{.State.Health.Status}}' "$w")" = healthy ] || fail "$w is not healthy: $(docker inspect -f '{{json .State.Health}}' "$w")"
        nets=$(docker inspect -f '{{range $name, $_ := .NetworkSettings.Networks}}{{$name}} {{end}}' "$w")
        [ "$nets" = "$prefix-data " ] || fail "$w is on the networks $nets; want $prefix-data only"
        ! docker inspect -f '{{json .Config.Labels}}' "$w" | grep -q '"traefik\.' || fail "$w carries Traefik labels"
        hostnames+=" $(docker inspect -f '{{.Config.Hostname}}' "$w")"
    done
    start=$(now)
    body=$(curl -s --max-time 10 "$@" -X POST -H 'Content-Type: application/json' -d '{"text": "e2e task"}' "$base/api/tasks/")
    id=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])' <<<"$body" 2>/dev/null) || fail "POST /api/tasks/: $body"
    deadline=$((SECONDS + 30))
    until body=$(curl -sf --max-time 10 "$@" "$base/api/tasks/$id/"); do
        [ "$SECONDS" -lt "$deadline" ] || fail "task $id: not handled by a worker within 30 s"
        sleep 0.2
    done
    by=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["handled_by"])' <<<"$body")
    grep -qw -- "$by" <<<"$hostnames" || fail "task $id was handled by $by, none of the worker containers ($hostnames)"
    pass "${#workers[@]} worker container(s) healthy, on the data network only, no route; a task POSTed through Traefik was written by the worker $by $(seconds_since "$start")s later, and the site serves it"
}

# cis_audit CLEAN_IDS: docker-bench-security's section 5 (the CIS Docker
# Benchmark's container runtime) on the stack's running containers: no WARN
# in the checks CLEAN_IDS names, every other WARN accepted with its reason
# (cis-accepted.tsv). Prints each finding and the score.
cis_audit() {
    local bench=${DOCKER_BENCH:-$(dirname "$engine_kit")/tools/docker-bench-security}
    local log out start
    [ -f "$bench/docker-bench-security.sh" ] || fail "no docker-bench-security at $bench (set DOCKER_BENCH)"
    log=$(mktemp -d)/bench.log
    start=$(now)
    (cd "$bench" && sh docker-bench-security.sh -c container_runtime -i "$prefix" -l "$log") >"$log.out" 2>&1 ||
        { tail -20 "$log.out"; fail "docker-bench-security did not run"; }
    if ! out=$(python3 "$here/cis.py" "$log.json" "$1" "$here/cis-accepted.tsv"); then
        echo "$out" | sed 's/^/      /'
        fail "docker-bench-security section 5: a WARN that must not be there"
    fi
    echo "$out" | sed 's/^/      /'
    pass "docker-bench-security section 5 on the stack's $(grep -c . <<<"$(docker ps -q --filter "name=$prefix")") containers ($(seconds_since "$start")s): no WARN in $1; $(tail -1 <<<"$out")"
}

# docker_api_refuses_writes TRAEFIK_CONTAINER [READ]: from Traefik's network
# namespace, the Docker API answers through its proxy the reads Traefik's
# provider makes (READ, /containers/json by default), and refuses with 403 a
# container's creation, an exec and a section Traefik does not read.
docker_api_refuses_writes() {
    local api="http://$prefix-docker-api:2375/v1.41" status
    # _api_status METHOD PATH: the HTTP status the proxy answers from Traefik's
    # network namespace (wget, in the proxy's stand-in image).
    _api_status() {
        local post=()
        [ "$1" = POST ] && post=(--header 'Content-Type: application/json' --post-data '{"Image": "busybox", "Cmd": ["true"]}')
        # wget exits non-zero on a 403: its status line is what counts.
        { docker run --rm --network "container:$traefik_container" --entrypoint wget tecnativa/docker-socket-proxy:0.3.0 \
            -S -O /dev/null "${post[@]}" "$api$2" 2>&1 || true; } | awk '$1 ~ /^HTTP\// { code = $2 } END { print code }'
    }
    local traefik_container=$1 reads create exec images
    reads=$(_api_status GET "${2:-/containers/json}")
    create=$(_api_status POST /containers/create)
    exec=$(_api_status POST "/containers/$traefik_container/exec")
    images=$(_api_status GET /images/json)
    expect "the Docker API from Traefik: its reads answered, a container's creation, an exec and the images refused (GET ${2:-/containers/json}, POST /containers/create, POST /containers/…/exec, GET /images/json)" \
        "$reads $create $exec $images" "200 403 403 403"
}

# check_database_role CONTAINER: from a backend container, as the database
# role it logs in as (Django's own connection), each statement below as a
# named check: the role is no superuser and in no role, the app's own
# queries succeed, and CREATE ROLE, ALTER SYSTEM and COPY ... TO PROGRAM
# fail.
check_database_role() {
    local out
    out=$(docker exec --user django "$1" python3 manage.py shell -c '
from django.db import connection
from core.models import Note
def run(name, sql):
    # In autocommit, as the app runs: ALTER SYSTEM refuses a transaction
    # block whoever runs it.
    try:
        with connection.cursor() as c:
            c.execute(sql)
            print(name, "ok", "|".join(str(v) for v in (c.fetchone() or ())) if c.description else "")
    except Exception as e:
        print(name, "refused", str(e).splitlines()[0])
run("role", "SELECT current_user, rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls, (SELECT count(*) FROM pg_auth_members WHERE member = r.oid) FROM pg_roles r WHERE rolname = current_user")
run("owner", "SELECT pg_get_userbyid(datdba) = current_user FROM pg_database WHERE datname = current_database()")
n = Note.objects.create(text="e2e database role")
print("orm ok", Note.objects.filter(pk=n.pk).count(), Note.objects.count() > 0)
n.delete()
run("create_role", "CREATE ROLE e2e_intruder SUPERUSER")
run("alter_system", "ALTER SYSTEM SET work_mem = $$1GB$$")
run("copy_program", "COPY (SELECT 1) TO PROGRAM $$id$$")
' 2>&1) || fail "the database role checks did not run: $out"
    echo "$out" | sed 's/^/      /'
    local role
    role=$(awk '$1 == "role" {print $3}' <<<"$out")
    [[ $role == *"|False|False|False|False|False|0" ]] || fail "the backend's database role has more than it needs: $role"
    pass "the backend's database role: ${role%%|*}, no superuser, CREATEROLE, CREATEDB, REPLICATION or BYPASSRLS, a member of no role"
    expect "the backend's database role owns its database" "$(awk '$1 == "owner" {print $2, $3}' <<<"$out")" "ok True"
    expect "the app's own queries as that role (an ORM insert, read back, delete)" "$(awk '$1 == "orm" {print $2, $3, $4}' <<<"$out")" "ok 1 True"
    local what
    for what in create_role alter_system copy_program; do
        grep -qE "^$what refused (permission denied|must be superuser)" <<<"$out" ||
            fail "as the backend's database role, $what is not refused for want of a privilege: $(grep "^$what " <<<"$out")"
        pass "as the backend's database role, ${what//_/ } fails: $(grep "^$what " <<<"$out" | cut -d' ' -f3-)"
    done
}

# check_engine_fit WHEN: every running container of the stack has the
# start interval its engine takes (1 s from API 1.44, Docker 25; none
# before), and the stack records the engine it learnt.
check_engine_fit() {
    local api want got recorded c
    api=$(docker version --format '{{.Server.APIVersion}}')
    want=0
    python3 -c 'import sys; a = tuple(map(int, sys.argv[1].split("."))); sys.exit(a < (1, 44))' "$api" && want=1000000000
    got=$(for c in $(docker ps --filter "label=djangostack.stack=$stack" --format '{{.Names}}' | sort); do
        docker inspect -f '{{json .Config.Healthcheck}}' "$c" |
            python3 -c 'import json, sys; h = json.load(sys.stdin) or {}; print(sys.argv[1], h.get("StartInterval", 0))' "${c#"$prefix"-}"
    done)
    [ -n "$got" ] || fail "no container of $stack runs"
    ! grep -qv " $want\$" <<<"$got" || fail "$1: start intervals on API $api, want $want ns everywhere:"$'\n'"$got"
    recorded=$(pulumi_in_copy stack output --stack "$stack" engine --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["apiVersion"])')
    expect "$1: Docker $(docker version --format '{{.Server.Version}}') (API $api, recorded as $recorded): every container's start interval is ${want} ns ($(grep -c . <<<"$got") containers)" "$recorded" "$api"
}

# --- day two: stackctl ------------------------------------------------------------------
# The checks of cmd/stackctl against a deployed stack of containers. They
# use the sourcing script's $copy, $work (bin/stackctl), $stack, $site and
# $logs, its site_curl ARGS... (curl as the site's clients reach it), and
# plain docker commands, which deploy-production.sh sends to its server.

stackctl() { (cd "$copy" && "$work/bin/stackctl" "$@" </dev/null); }

backend_images() { # the image id of each running backend replica, sorted
    local c
    for c in $(docker ps --filter "label=djangostack.stack=$stack" --filter "label=djangostack.component=backend" --format '{{.Names}}'); do
        docker inspect -f '{{.Image}}' "$c"
    done | sort -u | tr '\n' ' '
}

# check_stackctl_status: status lists the running containers docker ps
# does, each with its health, the site's URL and the previous image.
check_stackctl_status() {
    local out listed running
    out=$(stackctl status --stack "$stack") || fail "stackctl status: $out"
    printf '%s\n' "$out" >"$logs/stackctl-status.log"
    # Every running container of the stack, as status and docker ps see it:
    # name, state, health.
    listed=$(awk '$3 == "running" { print $2, $3, $4 }' <<<"$out" | sort)
    running=$(docker ps --filter "label=djangostack.stack=$stack" --format '{{.Names}} running {{.Status}}' |
        sed -E 's/ Up .*\((healthy|unhealthy|health: starting)\)$/ \1/; s/health: starting/starting/; s/ Up [^(]*$/ -/' | sort)
    expect "stackctl status lists what docker ps does: $(wc -l <<<"$listed") running containers, each with its health" "$listed" "$running"
    grep -q "^url $site/" <<<"$out" || fail "stackctl status shows no url $site/: $out"
    grep -qE "^previous image [^ ]+" <<<"$out" || fail "stackctl status shows no previous image: $out"
    pass "stackctl status shows the site's URL and the backend's previous image ($(grep '^previous image' <<<"$out" | cut -c1-40)…)"
}

# check_stackctl_logs: a request just made, in the merged log of each
# backend replica (which must log its requests) and of Traefik.
check_stackctl_logs() {
    local token replicas r out
    token=e2e-logs-$(date +%s%N)
    for _ in $(seq 1 10); do
        [ "$(site_curl -o /dev/null -w '%{http_code}' "$site/api/?$token")" = 200 ] || fail "GET /api/?$token"
    done
    sleep 1
    out=$(stackctl logs --stack "$stack" --since 5m backend traefik) || fail "stackctl logs: $out"
    printf '%s\n' "$out" >"$logs/stackctl-logs.log"
    replicas=$(docker ps --filter "label=djangostack.stack=$stack" --filter "label=djangostack.component=backend" -q | wc -l)
    for r in $(seq 1 "$replicas") traefik; do
        [ "$r" = traefik ] || r=backend-$r
        grep -qE "^$r +\| .*$token" <<<"$out" || fail "stackctl logs shows no line of $r with the request /api/?$token"
    done
    pass "stackctl logs: the request just made (10 × /api/?$token) in the log of each of $replicas backend replicas and of Traefik, merged ($(grep -c "$token" <<<"$out") lines)"
}

# check_stackctl_exec: a management command writes a note the site then
# serves, and exec exits with the command's status.
check_stackctl_exec() {
    local token out
    token=e2e-exec-$(date +%s%N)
    out=$(stackctl exec --stack "$stack" -- python3 manage.py shell -c "from core.models import Note; print(Note.objects.create(text='$token').pk)") ||
        fail "stackctl exec: $out"
    grep -q "$token" <<<"$(site_curl "$site/api/notes/")" || fail "the note written by stackctl exec ($token, pk $out) is not on /api/notes/"
    pass "stackctl exec ran manage.py shell in a backend with its environment and secrets: note $out written, served on /api/notes/"
    out=$(stackctl exec --stack "$stack" -- sh -c 'exit 7'; echo "status $?")
    expect "stackctl exec exits with the command's status" "${out##*$'\n'}" "status 7"
}

# check_rollback RELEASE: `stackctl rollback` after an image release, run
# by the script's RELEASE WHAT COMMAND... (which loads the site while the
# command runs and fails on any failed request), brings the previous image
# back; the next `pulumi up` keeps it.
check_rollback() {
    local release=$1 newer previous now named
    newer=$(backend_images)
    previous=$(pulumi_in_copy stack output --stack "$stack" previousBackendImage)
    [ -n "$previous" ] && [ "$newer" != "$previous " ] || fail "no previous image to roll back to (running $newer, previous '$previous')"
    "$release" "a rollback" stackctl rollback --stack "$stack" --yes
    expect "stackctl rollback: the backends run the previous image again" "$(backend_images)" "$previous "
    # An image known by its id alone (a build, or one loaded with no
    # registry digest): the config names it by the tag stackctl gave it.
    named=$(pulumi_in_copy config get --stack "$stack" --path backend.image)
    [ "$(docker image inspect -f '{{.Id}}' "$named")" = "$previous" ] || fail "Pulumi.$stack.yaml's backend.image $named is not $previous"
    pulumi_in_copy up --stack "$stack" --yes --skip-preview >"$logs/after-rollback.log"
    now=$(backend_images)
    expect "the next pulumi up keeps the rolled-back image ($named)" "$now" "$previous "
}
