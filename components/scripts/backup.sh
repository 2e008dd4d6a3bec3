#!/bin/sh
# shellcheck disable=SC3043 # local: see backup-common.sh
# backup.sh: scheduled pg_dump backups of the stack's database.
#
#   backup.sh once     one dump now, then prune
#   backup.sh loop     a dump every BACKUP_INTERVAL seconds, forever (the
#                      backup container's command)
#   backup.sh prune    apply the retention
#   backup.sh list     the dumps, newest first: name, size, age, checksum
#   backup.sh health   exit 0 when the newest good dump is younger than
#                      2 x BACKUP_INTERVAL, 1 otherwise (the healthcheck)
#   backup.sh pin NAME    keep the dump NAME from pruning (a restore of it
#                      is under way) until unpin, for a day at most
#   backup.sh unpin NAME  prune it again as usual
#
# Configuration, from the environment only:
#   PGHOST PGPORT PGUSER PGDATABASE  the database (libpq's own variables;
#                                    PGPORT may be left to libpq's 5432)
#   PGPASSWORD_FILE   a file holding the password (once, loop)
#   BACKUP_DIR        where the dumps are (default /backups)
#   BACKUP_PREFIX     dump names are PREFIX-YYYYmmddTHHMMSSZ.dump, UTC
#   BACKUP_INTERVAL   seconds between dumps (loop, health)
#   BACKUP_KEEP       how many of the newest good dumps are never pruned
#   BACKUP_MAX_AGE    seconds after which the dumps beyond those are pruned
#
# A dump is good when its checksum file, NAME.dump.sha256 in sha256sum's
# format, matches it. Ages are taken from the files' modification times. A
# pin is the empty file .NAME.dump.pin: backupctl pins the dump it restores,
# so that the safety dump's prune (or the loop's) cannot take it away while
# it is restored, however old it is and however many dumps are newer.
#
# Exit status: 0 done (healthy), 1 failed (unhealthy), 2 wrong invocation or
# configuration (health exits 1 for that too: Docker reserves 2).
set -u
PROG=backup
# shellcheck source=backup-common.sh source-path=SCRIPTDIR
. "$(dirname "$0")/backup-common.sh"

# What a signal must clean up: the dump in progress (its partial directory)
# and the child the shell waits for (pg_dump, or the loop's sleep). While a
# dump is being published (two renames) a signal only sets STOPPING, and the
# run stops after the second rename.
WORK=
CHILD=
PUBLISHING=
STOPPING=

# stop ends a run on SIGTERM (docker stop), SIGINT or SIGHUP without leaving
# a partial dump. The shell waits for children with `wait`, which a trapped
# signal interrupts at once, so stopping is immediate even mid-dump.
stop() {
	if [ -n "$PUBLISHING" ]; then
		STOPPING=1
		return
	fi
	if [ -n "$CHILD" ]; then
		kill "$CHILD" 2>/dev/null
	fi
	if [ -n "$WORK" ]; then
		rm -rf "$WORK"
	fi
	log "stopped"
	exit 143
}

# run_child CMD...: run CMD in the background and wait for it, so that a
# signal reaches stop while CMD runs. Returns CMD's status.
run_child() {
	"$@" &
	CHILD=$!
	wait "$CHILD"
	run_status=$?
	CHILD=
	return "$run_status"
}

# reserve sets NAME from the current time and reserves it by creating the
# dump's partial directory WORK. mkdir is atomic, so of two dumps started in
# the same second (`once` by hand while the loop dumps), one waits a second
# for the next name instead of overwriting the other.
reserve() {
	while :; do
		NAME=$BACKUP_PREFIX-$(date -u +%Y%m%dT%H%M%SZ).dump
		WORK=.$NAME.partial
		if [ ! -e "$NAME" ] && mkdir "$WORK" 2>/dev/null; then
			if [ ! -e "$NAME" ]; then
				return 0
			fi
			rmdir "$WORK"
		elif [ ! -e "$NAME" ] && [ ! -e "$WORK" ]; then
			WORK=
			mkdir "$BACKUP_DIR/.$NAME.partial" # fails again, and says why
			return 1
		fi
		WORK=
		sleep 1
	done
}

# dump writes one dump: pg_dump into the partial directory, its checksum next
# to it, then the two renames that publish it, the dump first and its
# checksum last, so that a dump cut short never has a matching checksum file
# and never counts as good. pg_dump fsyncs its output before it exits. On
# failure DUMP_WHY says why (after pg_dump's own messages, if any).
dump() {
	local started sum size
	started=$(date +%s)
	if ! reserve; then
		DUMP_WHY="cannot write into $BACKUP_DIR"
		return 1
	fi
	if ! run_child pg_dump --format=custom --no-password --file="$WORK/$NAME"; then
		rm -rf "$WORK"
		WORK=
		DUMP_WHY="pg_dump exited with status $run_status"
		return 1
	fi
	if ! sum=$(sha256sum <"$WORK/$NAME") ||
		! printf '%s  %s\n' "${sum%% *}" "$NAME" >"$WORK/$NAME.sha256"; then
		rm -rf "$WORK"
		WORK=
		DUMP_WHY="could not write the checksum of $NAME in $BACKUP_DIR"
		return 1
	fi
	PUBLISHING=1
	if ! mv "$WORK/$NAME" "$NAME" || ! mv "$WORK/$NAME.sha256" "$NAME.sha256"; then
		PUBLISHING=
		rm -rf "$WORK"
		WORK=
		DUMP_WHY="could not publish $NAME in $BACKUP_DIR"
		return 1
	fi
	PUBLISHING=
	rmdir "$WORK"
	WORK=
	if [ -n "$STOPPING" ]; then
		stop
	fi
	size=$(stat -c %s "$NAME")
	log "dumped $NAME ($(human_size "$size") in $(($(date +%s) - started))s, sha256 ${sum%% *})"
}

# PIN_MAX_AGE is how long a pin holds, in seconds: a day, far longer than a
# restore takes. An older pin is one a killed restore left behind, and keeping
# its dump for ever would be wrong too.
PIN_MAX_AGE=86400

# pinned NAME NOW: whether NAME is pinned. A pin older than PIN_MAX_AGE is
# ignored and removed.
pinned() {
	local pin age
	pin=.$1.pin
	[ -f "$pin" ] || return 1
	age=$(($2 - $(mtime "$pin")))
	if [ "$age" -gt "$PIN_MAX_AGE" ]; then
		warn "ignoring the pin of $1: it is $(human_age "$age") old, older than any restore"
		rm -f "$pin"
		return 1
	fi
}

# prune applies the retention. Newest first, the first BACKUP_KEEP dumps that
# verify are kept whatever their age: retention never leaves fewer good dumps
# than that. Every other dump, and any checksum file, pin or partial dump left
# behind, goes once it is older than BACKUP_MAX_AGE, unless it is pinned. Only
# as many dumps are hashed as it takes to find the kept ones.
prune() {
	local now good f age why failed owner
	good=0
	failed=0
	now=$(date +%s)
	for f in $(dumps_newest_first); do
		why=
		if [ "$good" -lt "$BACKUP_KEEP" ]; then
			if verify "$f"; then
				good=$((good + 1))
				continue
			fi
			why=", $VERIFY_WHY"
			warn "$f is not a good dump: $VERIFY_WHY"
		fi
		age=$((now - $(mtime "$f")))
		if [ "$age" -gt "$BACKUP_MAX_AGE" ]; then
			if pinned "$f" "$now"; then
				log "keeping $f ($(human_age "$age") old$why): it is pinned, a restore of it is under way"
				continue
			fi
			if rm -f "$f" "$f.sha256"; then
				log "pruned $f ($(human_age "$age") old$why)"
			else
				failed=1
			fi
		fi
	done
	for f in "$BACKUP_PREFIX"-$STAMP_GLOB.dump.sha256 ".$BACKUP_PREFIX"-$STAMP_GLOB.dump.partial ".$BACKUP_PREFIX"-$STAMP_GLOB.dump.pin; do
		if [ ! -e "$f" ]; then
			continue # the pattern matched nothing
		fi
		case $f in
		*.sha256) owner=${f%.sha256} ;;
		*.pin) owner=${f#.} owner=${owner%.pin} ;;
		*) owner= ;;
		esac
		if [ -n "$owner" ] && [ -e "$owner" ]; then
			continue # the checksum or pin of a dump that is still here
		fi
		age=$((now - $(mtime "$f")))
		if [ "$age" -gt "$BACKUP_MAX_AGE" ]; then
			if rm -rf "$f"; then
				log "pruned leftover $f ($(human_age "$age") old)"
			else
				failed=1
			fi
		fi
	done
	if [ "$failed" -ne 0 ]; then
		warn "could not prune everything due in $BACKUP_DIR"
		return 1
	fi
}

# dump_and_prune is one tick: a dump, and the retention after a good one.
dump_and_prune() {
	dump || return 1
	prune || warn "the dump is good, but pruning failed"
}

need_retention() {
	need_prefix
	need_count BACKUP_KEEP BACKUP_MAX_AGE
}

# Dumps hold every row of the database: readable by their owner only.
private_files() { umask 077; }

cmd_once() {
	need_postgres
	need_retention
	private_files
	mkdir -p "${BACKUP_DIR:-/backups}"
	enter_backup_dir
	trap stop TERM INT HUP
	if ! dump_and_prune; then
		warn "dump failed: $DUMP_WHY"
		return 1
	fi
}

cmd_loop() {
	local next now started f
	need_postgres
	need_retention
	need_count BACKUP_INTERVAL
	private_files
	mkdir -p "${BACKUP_DIR:-/backups}"
	enter_backup_dir
	trap stop TERM INT HUP
	log "a dump of $PGDATABASE every $(human_age "$BACKUP_INTERVAL") into $BACKUP_DIR, keeping the newest $BACKUP_KEEP good dumps and pruning others after $(human_age "$BACKUP_MAX_AGE")"
	# A restart (a redeploy, a reboot) keeps the schedule: the first dump is
	# due one interval after the newest good one, now if there is none.
	next=$(date +%s)
	for f in $(dumps_newest_first); do
		if verify "$f"; then
			next=$(($(mtime "$f") + BACKUP_INTERVAL))
			break
		fi
	done
	now=$(date +%s)
	if [ "$next" -gt "$now" ]; then
		log "the newest good dump is $f: next dump in $(human_age $((next - now)))"
	fi
	while :; do
		now=$(date +%s)
		if [ "$next" -gt "$now" ]; then
			run_child sleep $((next - now))
		fi
		# Ticks are one interval apart from start to start; a failed dump
		# is tried again at the next one.
		started=$(date +%s)
		if ! dump_and_prune; then
			warn "dump failed: $DUMP_WHY; next try in $(human_age "$BACKUP_INTERVAL")"
		fi
		next=$((started + BACKUP_INTERVAL))
	done
}

cmd_prune() {
	need_retention
	enter_backup_dir
	prune
}

cmd_list() {
	local now f state fmt
	need_prefix
	enter_backup_dir
	now=$(date +%s)
	fmt="%-$((${#BACKUP_PREFIX} + 22))s  %7s  %7s  %s\n"
	# shellcheck disable=SC2059 # the format is built above
	printf "$fmt" NAME SIZE AGE CHECKSUM
	for f in $(dumps_newest_first); do
		if verify "$f"; then
			state=ok
		elif [ -f "$f.sha256" ]; then
			state=bad
		else
			state=missing
		fi
		# shellcheck disable=SC2059
		printf "$fmt" "$f" "$(human_size "$(stat -c %s "$f")")" "$(human_age $((now - $(mtime "$f"))))" "$state"
	done
}

# cmd_pin NAME: pins NAME, or renews its pin. It must be here: a pin for a
# dump that is not is a mistyped name.
cmd_pin() {
	need_dump_name "$1"
	enter_backup_dir
	if [ ! -f "$1" ]; then
		warn "cannot pin $1: there is no such dump in $BACKUP_DIR"
		return 1
	fi
	if ! : >".$1.pin"; then
		warn "cannot pin $1: cannot write .$1.pin in $BACKUP_DIR"
		return 1
	fi
	log "pinned $1: prune keeps it until it is unpinned (a day at most)"
}

# cmd_unpin NAME: removes NAME's pin, if any.
cmd_unpin() {
	need_dump_name "$1"
	enter_backup_dir
	if ! rm -f ".$1.pin"; then
		warn "cannot unpin $1: cannot remove .$1.pin in $BACKUP_DIR"
		return 1
	fi
}

# cmd_health: healthy while the newest good dump is younger than twice the
# interval. Newest first, dumps are hashed only while they are young enough
# to matter: an older one could not make the container healthy.
cmd_health() {
	local limit now f age newest bad
	newest=''
	bad=''
	DIE_STATUS=1
	need_prefix
	need_count BACKUP_INTERVAL
	enter_backup_dir
	limit=$((2 * BACKUP_INTERVAL))
	now=$(date +%s)
	for f in $(dumps_newest_first); do
		: "${newest:=$f}"
		age=$((now - $(mtime "$f")))
		if [ "$age" -ge "$limit" ]; then
			break
		fi
		if verify "$f"; then
			echo "healthy: the newest good dump, $f, is $(human_age "$age") old (limit $(human_age "$limit"))"
			return 0
		fi
		: "${bad:=$f: $VERIFY_WHY}"
	done
	if [ -z "$newest" ]; then
		echo "unhealthy: no dump in $BACKUP_DIR yet"
	elif [ -n "$bad" ]; then
		echo "unhealthy: no good dump younger than $(human_age "$limit"); the newest is bad ($bad)"
	else
		echo "unhealthy: no dump younger than $(human_age "$limit"), twice the interval; the newest, $newest, is $(human_age $((now - $(mtime "$newest")))) old"
	fi
	return 1
}

case ${1-} in
once | loop | prune | list | health)
	[ $# -eq 1 ] || die "$1 takes no arguments"
	"cmd_$1"
	;;
pin | unpin)
	[ $# -eq 2 ] || die "usage: backup.sh $1 NAME, a dump that 'backup.sh list' shows"
	"cmd_$1" "$2"
	;;
*)
	die "usage: backup.sh once|loop|prune|list|health|pin NAME|unpin NAME (see the top of $0)"
	;;
esac
