#!/bin/sh
# shellcheck disable=SC3043 # local: see backup-common.sh
# offsite.sh: copies the good dumps off the host, to S3-compatible storage,
# and brings one back.
#
#   offsite.sh sync        copy each good dump that is not there yet
#   offsite.sh loop        copy each new good dump within OFFSITE_POLL
#                          seconds of its writing, and sync every
#                          OFFSITE_INTERVAL seconds, forever (the off-host
#                          copy container's command)
#   offsite.sh list        the dumps there, newest first: name, size, when
#                          copied
#   offsite.sh fetch NAME  download NAME and its checksum into BACKUP_DIR,
#                          and keep them only if they match (a server that
#                          lost its dumps: restore.sh then restores NAME)
#
# Configuration, from the environment only:
#   BACKUP_DIR         where the dumps are (default /backups); only fetch
#                      writes there
#   BACKUP_PREFIX      whose dumps: PREFIX-YYYYmmddTHHMMSSZ.dump
#   OFFSITE_URL        s3://bucket/prefix
#   OFFSITE_INTERVAL   seconds between syncs (loop): the bucket is listed
#                      that often when nothing new is written, and a failed
#                      copy is tried again then
#   OFFSITE_POLL       seconds between looks for a new dump in BACKUP_DIR
#                      (loop; default 30): a look lists no bucket, it reads
#                      the directory
#   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION and, for
#   storage other than AWS, AWS_ENDPOINT_URL: the aws command's own.
#   AWS_SECRET_ACCESS_KEY_FILE: a file holding AWS_SECRET_ACCESS_KEY, which
#                      is how the program hands it over (the aws command
#                      reads no _FILE variable, so it is exported from here).
#
# Only dumps whose checksum verifies are copied; the dump first, its .sha256
# last, so a copy whose checksum is there is complete. What is there already
# (its .sha256 is) is not copied again. Deleting old copies is the bucket's
# lifecycle rule's job: the host never deletes off-host copies. fetch never
# overwrites a dump: it downloads into a partial directory, checks the
# download against its checksum there, and publishes it as backup.sh does,
# the dump first and its checksum last.
#
# Exit status: 0 done, 1 a copy or download failed, 2 wrong invocation or
# configuration.
set -u
PROG=offsite
# shellcheck source=backup-common.sh
. "$(dirname "$0")/backup-common.sh"

CHILD=
WORK=

stop() {
	[ -n "$CHILD" ] && kill "$CHILD" 2>/dev/null
	[ -n "$WORK" ] && rm -rf "$WORK"
	log "stopped"
	exit 143
}

need_offsite() {
	need_prefix
	need OFFSITE_URL
	case $OFFSITE_URL in
	s3://?*) ;;
	*) die "OFFSITE_URL must be s3://bucket/prefix, not '$OFFSITE_URL'" ;;
	esac
	OFFSITE_URL=${OFFSITE_URL%/}
	if [ -n "${AWS_SECRET_ACCESS_KEY_FILE:-}" ]; then
		[ -r "$AWS_SECRET_ACCESS_KEY_FILE" ] || die "AWS_SECRET_ACCESS_KEY_FILE: cannot read $AWS_SECRET_ACCESS_KEY_FILE"
		AWS_SECRET_ACCESS_KEY=$(cat "$AWS_SECRET_ACCESS_KEY_FILE") || die "AWS_SECRET_ACCESS_KEY_FILE: cannot read $AWS_SECRET_ACCESS_KEY_FILE"
		export AWS_SECRET_ACCESS_KEY
	fi
}

# listing: `aws s3 ls` of OFFSITE_URL/, one "DATE TIME SIZE NAME" line per
# object. It exits 1 for a prefix with nothing under it yet: that is an
# empty listing, not an error; its other non-zero statuses are errors.
listing() {
	local out status
	out=$(aws s3 ls "$OFFSITE_URL/")
	status=$?
	[ "$status" -le 1 ] || return 1
	printf '%s\n' "$out"
}

# copied: the names already off the host (those whose .sha256 is there).
copied() {
	local out
	out=$(listing) || return 1
	printf '%s\n' "$out" | while read -r _ _ _ name; do
		case $name in
		*.dump.sha256) printf '%s\n' "${name%.sha256}" ;;
		esac
	done
}

cmd_sync() {
	local there f failed=0 sent=0
	need_offsite
	enter_backup_dir
	there=$(copied) || {
		warn "cannot list $OFFSITE_URL/"
		return 1
	}
	for f in $(dumps_newest_first); do
		case "
$there
" in
		*"
$f
"*) continue ;;
		esac
		if ! verify "$f"; then
			warn "not copying $f: $VERIFY_WHY"
			continue
		fi
		if aws s3 cp --only-show-errors "$f" "$OFFSITE_URL/$f" &&
			aws s3 cp --only-show-errors "$f.sha256" "$OFFSITE_URL/$f.sha256"; then
			log "copied $f to $OFFSITE_URL/"
			sent=$((sent + 1))
		else
			warn "copying $f to $OFFSITE_URL/ failed"
			failed=1
		fi
	done
	[ "$sent" -gt 0 ] || log "nothing new to copy"
	return "$failed"
}

# newest_published: the newest of our dumps whose checksum file is there,
# which backup.sh writes last: a dump being published is not one yet.
newest_published() {
	local f
	f=$(dumps_newest_first | head -n 1)
	if [ -n "$f" ] && [ -f "$f.sha256" ]; then
		printf '%s\n' "$f"
	fi
}

# cmd_loop syncs at start, then looks into BACKUP_DIR every OFFSITE_POLL
# seconds: a new dump there is copied at once, so a copy lags its dump by
# OFFSITE_POLL at most (the dumps come every backup.interval, and the first
# one usually after this loop's first sync). Without one, the bucket is
# listed only every OFFSITE_INTERVAL, which also tries failed copies again.
cmd_loop() {
	local seen newest last now
	need_count OFFSITE_INTERVAL
	OFFSITE_POLL=${OFFSITE_POLL:-30}
	need_count OFFSITE_POLL
	need_offsite
	enter_backup_dir
	trap stop TERM INT HUP
	log "copying each new good dump to $OFFSITE_URL/ within $(human_age "$OFFSITE_POLL"), and every dump not there yet every $(human_age "$OFFSITE_INTERVAL")"
	seen=
	last=
	while :; do
		now=$(date +%s)
		newest=$(newest_published)
		if [ -z "$last" ] || [ $((now - last)) -ge "$OFFSITE_INTERVAL" ] || [ "$newest" != "$seen" ]; then
			# A failed sync is logged and tried again at the next
			# interval, not at every look.
			(cmd_sync) || true
			seen=$newest
			last=$now
		fi
		sleep "$OFFSITE_POLL" &
		CHILD=$!
		wait "$CHILD"
		CHILD=
	done
}

# cmd_list: the complete copies there (their .sha256 is there too), newest
# first by the time in their names, of any prefix: a stack rebuilt under
# another name restores the old one's dumps too. Copies without their
# checksum (cut short, or being made) are named on stderr.
cmd_list() {
	local out date time size name stamp fmt
	need_offsite
	out=$(listing) || {
		warn "cannot list $OFFSITE_URL/"
		return 1
	}
	fmt="%-45s  %7s  %s\n"
	# shellcheck disable=SC2059 # the format is above
	printf "$fmt" NAME SIZE COPIED
	printf '%s\n' "$out" | while read -r date time size name; do
		# shellcheck disable=SC2254 # STAMP_GLOB is a pattern on purpose
		case $name in
		[A-Za-z0-9]*-$STAMP_GLOB.dump) ;;
		*) continue ;;
		esac
		stamp=${name%.dump}
		stamp=${stamp##*-}
		case "
$out" in
		*" $name.sha256
"* | *" $name.sha256") ;;
		*)
			warn "$name has no checksum there: a copy cut short, or being made"
			continue
			;;
		esac
		printf '%s %s %s %s %s\n' "$stamp" "$name" "$size" "$date" "$time"
	done | sort -r | while read -r _ name size date time; do
		# shellcheck disable=SC2059
		printf "$fmt" "$name" "$(human_size "$size")" "$date $time"
	done
}

# cmd_fetch NAME: downloads NAME and NAME.sha256 into a partial directory of
# BACKUP_DIR, checks the one against the other, and publishes both.
cmd_fetch() {
	local name size status
	name=$1
	need_dump_name "$name"
	need_offsite
	enter_backup_dir
	if [ -e "$name" ]; then
		if verify "$name"; then
			log "$name is here already, and matches its checksum"
			return 0
		fi
		warn "$name is here already, and is not good ($VERIFY_WHY): move it out of $BACKUP_DIR to fetch it again"
		return 1
	fi
	# Dumps hold every row of the database: readable by their owner only.
	umask 077
	WORK=.$name.partial
	if ! mkdir "$WORK"; then
		WORK=
		warn "cannot write into $BACKUP_DIR (is it mounted read-only, or is another fetch of $name running?)"
		return 1
	fi
	trap stop TERM INT HUP
	if ! aws s3 cp --only-show-errors "$OFFSITE_URL/$name.sha256" "$WORK/$name.sha256"; then
		rm -rf "$WORK"
		warn "cannot download $OFFSITE_URL/$name.sha256: is $name there with its checksum? (offsite.sh list)"
		return 1
	fi
	# In the background, so that a signal stops it at once.
	aws s3 cp --only-show-errors "$OFFSITE_URL/$name" "$WORK/$name" &
	CHILD=$!
	wait "$CHILD"
	status=$?
	CHILD=
	if [ "$status" -ne 0 ]; then
		rm -rf "$WORK"
		warn "cannot download $OFFSITE_URL/$name (aws exited with status $status)"
		return 1
	fi
	cd "$WORK" || return 1
	if ! verify "$name"; then
		cd "$BACKUP_DIR" && rm -rf "$WORK"
		warn "the download of $name does not match its checksum ($VERIFY_WHY); nothing was kept"
		return 1
	fi
	cd "$BACKUP_DIR" || return 1
	if ! mv "$WORK/$name" "$name" || ! mv "$WORK/$name.sha256" "$name.sha256"; then
		rm -rf "$WORK"
		warn "could not publish $name in $BACKUP_DIR"
		return 1
	fi
	rmdir "$WORK"
	WORK=
	size=$(stat -c %s "$name")
	log "fetched $name ($(human_size "$size")) from $OFFSITE_URL/ into $BACKUP_DIR, checksum ok"
}

case ${1-} in
sync | loop | list)
	[ $# -eq 1 ] || die "$1 takes no arguments"
	"cmd_$1"
	;;
fetch)
	[ $# -eq 2 ] || die "usage: offsite.sh fetch NAME, a dump that 'offsite.sh list' shows"
	cmd_fetch "$2"
	;;
*) die "usage: offsite.sh sync|loop|list|fetch NAME (see the top of $0)" ;;
esac
