#!/bin/sh
# server-init.sh DIR GROUP [ENGINE]: the init of a test server of servers.sh, run in
# the server's own network and mount namespaces. It gives the server a /run
# of its own, so that /var/run/docker.sock there is the server's dockerd
# (what a container that mounts the socket, Traefik, reaches) and nothing of
# this machine's; starts its sshd, whose sessions see that same /run; and
# runs dockerd, starting it again whenever it exits, as a service manager
# does. On SIGTERM it stops dockerd as a shutdown does (each container with
# its stop signal and timeout), then sshd, and exits.
#
# DIR holds the server's sshd_config and keys, its Docker data root, its
# logs, and init.pid and dockerd.pid for servers.sh. GROUP may use the
# Docker socket. ENGINE, if given, is the root of another Docker release's
# files (lib.sh's current engine): its dockerd, docker-proxy and docker CLI
# are bound over this machine's, in the server's mount namespace only, as
# if the server had that release installed.
set -u
dir=$1
group=$2
engine=${3:-}
echo $$ >"$dir/init.pid"
mount -t tmpfs -o mode=0755 tmpfs /run
if [ -n "$engine" ]; then
	for f in /usr/sbin/dockerd /usr/sbin/docker-proxy /usr/bin/docker; do
		mount --bind "$engine$f" "$f"
	done
	# A CLI earlier on the PATH of ssh sessions would shadow the server's.
	[ ! -e /usr/local/bin/docker ] || mount --bind "$engine/usr/bin/docker" /usr/local/bin/docker
fi
mkdir -p /run/sshd

stopping=
dockerd_pid=
stop() {
	stopping=1
	[ -z "$dockerd_pid" ] || kill -TERM "$dockerd_pid" 2>/dev/null
}
trap stop TERM INT

/usr/sbin/sshd -f "$dir/sshd_config" -E "$dir/sshd.log"
while [ -z "$stopping" ]; do
	echo "$(date -u +%FT%TZ) starting dockerd" >>"$dir/dockerd.log"
	dockerd --group "$group" --data-root "$dir/docker" >>"$dir/dockerd.log" 2>&1 &
	dockerd_pid=$!
	echo "$dockerd_pid" >"$dir/dockerd.pid"
	# A trapped signal ends `wait` early: wait again for the daemon's end.
	while kill -0 "$dockerd_pid" 2>/dev/null; do wait "$dockerd_pid"; done
	echo "$(date -u +%FT%TZ) dockerd exited" >>"$dir/dockerd.log"
	[ -n "$stopping" ] || sleep 1
done
kill -TERM "$(cat /run/sshd.pid)" 2>/dev/null
