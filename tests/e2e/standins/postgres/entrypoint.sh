#!/bin/sh
# Stand-in for the official postgres image's docker-entrypoint.sh, for what
# the Pulumi program relies on:
#   - a first argument that is an option (-c ...) means `postgres <options>`;
#   - only a `postgres` command initialises a cluster, once, in PGDATA, with
#     POSTGRES_USER, POSTGRES_DB and the password from POSTGRES_PASSWORD_FILE
#     (or POSTGRES_PASSWORD): local connections trusted, every TCP client
#     asked for its password (scram-sha-256), listening on all addresses;
#   - started as root, it hands PGDATA and the socket directory to postgres
#     and drops to that user;
#   - any other command (the program's password step runs `sh -c ...`)
#     runs as it is, with no initialisation.
set -eu

if [ "${1#-}" != "$1" ]; then
    set -- postgres "$@"
fi

if [ "$1" = postgres ] && [ "$(id -u)" = 0 ]; then
    mkdir -p "$PGDATA" /var/run/postgresql
    chown postgres:postgres "$PGDATA" /var/run/postgresql
    chmod 700 "$PGDATA"
    exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

if [ "$1" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
    : "${POSTGRES_USER:=postgres}"
    : "${POSTGRES_DB:=$POSTGRES_USER}"
    password=${POSTGRES_PASSWORD:-}
    if [ -n "${POSTGRES_PASSWORD_FILE:-}" ]; then
        password=$(cat "$POSTGRES_PASSWORD_FILE")
    fi
    if [ -z "$password" ]; then
        echo "stand-in postgres: POSTGRES_PASSWORD or POSTGRES_PASSWORD_FILE must be set" >&2
        exit 1
    fi
    pwfile=$(mktemp)
    printf '%s\n' "$password" >"$pwfile"
    initdb --username="$POSTGRES_USER" --pwfile="$pwfile" \
        --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    rm -f "$pwfile"
    echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
    echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"
    if [ "$POSTGRES_DB" != postgres ]; then
        echo "CREATE DATABASE \"$POSTGRES_DB\"" | postgres --single -D "$PGDATA" -j postgres >/dev/null
    fi
    echo "stand-in postgres: initialised $PGDATA for $POSTGRES_USER/$POSTGRES_DB" >&2
fi
exec "$@"
