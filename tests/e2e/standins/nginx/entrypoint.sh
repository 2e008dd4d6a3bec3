#!/bin/sh
# Stand-in for the official nginx image's /docker-entrypoint.sh: it runs the
# scripts of /docker-entrypoint.d/ (none here; the program mounts none)
# before an nginx command, and any command as it is.
set -eu
if [ "$1" = nginx ] || [ "$1" = nginx-debug ]; then
    for script in /docker-entrypoint.d/*.sh; do
        [ -x "$script" ] && "$script"
    done
fi
exec "$@"
