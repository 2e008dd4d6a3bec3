#!/bin/sh
# Stand-in for the official redis image's docker-entrypoint.sh, for what the
# Pulumi program relies on:
#   - a first argument that is an option or a .conf file means
#     `redis-server <arguments>` (the program runs
#     `redis-server /run/secrets/redis-auth.conf --maxmemory ...`);
#   - started as root, it hands /data to the redis user and drops to it;
#   - redis-server runs with protected mode off unless the config file sets
#     it: the container's network, not the bind address, keeps clients out.
set -eu

if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
    set -- redis-server "$@"
fi

if [ "$1" = redis-server ] && [ "$(id -u)" = 0 ]; then
    find . \! -user redis -exec chown redis '{}' +
    exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
fi

# Files Redis writes are its own only.
[ "$(umask)" != 0022 ] || umask 0077

if [ "$1" = redis-server ]; then
    shift
    config=
    if [ -f "${1:-}" ]; then
        config=$1
        shift
    fi
    if [ -n "$config" ] && grep -q '^protected-mode' "$config"; then
        set -- redis-server "$config" "$@"
    else
        set -- redis-server ${config:+"$config"} --protected-mode no "$@"
    fi
fi
exec "$@"
