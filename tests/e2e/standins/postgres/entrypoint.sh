#!/bin/sh
# Honours what the Pulumi program gives the official postgres image:
# POSTGRES_USER, POSTGRES_DB, POSTGRES_PASSWORD_FILE, and a command of
# `postgres -c name=value ...`.
set -eu

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    initdb --username="$POSTGRES_USER" --pwfile="$POSTGRES_PASSWORD_FILE" \
        --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
    echo "listen_addresses = '*'" >> "$PGDATA/postgresql.conf"
    echo "CREATE DATABASE \"$POSTGRES_DB\"" | postgres --single -D "$PGDATA" -j postgres >/dev/null
fi
exec "$@"
