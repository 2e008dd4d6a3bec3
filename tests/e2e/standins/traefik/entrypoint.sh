#!/bin/sh
# Stand-in for the official traefik image's /entrypoint.sh: options mean
# `traefik <options>`, a Traefik subcommand runs through traefik, anything
# else runs as it is.
set -e
if [ "${1#-}" != "$1" ]; then
    set -- traefik "$@"
fi
if traefik "$1" --help >/dev/null 2>&1; then
    set -- traefik "$@"
else
    echo "= '$1' is not a Traefik command: assuming shell execution." 1>&2
fi
exec "$@"
