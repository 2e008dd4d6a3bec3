#!/bin/sh
# shellcheck disable=SC3043 # local: see backup-common.sh
# offsite.sh: copies the good dumps off the host, to S3-compatible storage.
#
#   offsite.sh sync    copy each good dump that is not there yet
#   offsite.sh loop    a sync every OFFSITE_INTERVAL seconds, forever (the
#                      off-host copy container's command)
#
# Configuration, from the environment only:
#   BACKUP_DIR         where the dumps are, read-only (default /backups)
#   BACKUP_PREFIX      whose dumps: PREFIX-YYYYmmddTHHMMSSZ.dump
#   OFFSITE_URL        s3://bucket/prefix
#   OFFSITE_INTERVAL   seconds between syncs (loop)
#   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION and, for
#   storage other than AWS, AWS_ENDPOINT_URL: the aws command's own.
#   AWS_SECRET_ACCESS_KEY_FILE: a file holding AWS_SECRET_ACCESS_KEY, which
#                      is how the program hands it over (the aws command
#                      reads no _FILE variable, so it is exported from here).
#
# Only dumps whose checksum verifies are copied; the dump first, its .sha256
# last, so a copy whose checksum is there is complete. What is there already
# (its .sha256 is) is not copied again. Deleting old copies is the bucket's
# lifecycle rule's job: the host never deletes off-host copies.
#
# Exit status: 0 done, 1 a copy failed, 2 wrong invocation or configuration.
set -u
PROG=offsite
# shellcheck source=backup-common.sh
. "$(dirname "$0")/backup-common.sh"

CHILD=

stop() {
	[ -n "$CHILD" ] && kill "$CHILD" 2>/dev/null
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

# copied: the names already off the host (those whose .sha256 is there).
# `aws s3 ls` exits 1 for a prefix with nothing under it yet: that is an
# empty listing, not an error; its other non-zero statuses are errors.
copied() {
	local listing status
	listing=$(aws s3 ls "$OFFSITE_URL/")
	status=$?
	[ "$status" -le 1 ] || return 1
	printf '%s\n' "$listing" | while read -r _ _ _ name; do
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

cmd_loop() {
	need_count OFFSITE_INTERVAL
	need_offsite
	trap stop TERM INT HUP
	log "copying good dumps to $OFFSITE_URL/ every $(human_age "$OFFSITE_INTERVAL")"
	while :; do
		# A failed sync is logged and tried again at the next tick.
		(cmd_sync) || true
		sleep "$OFFSITE_INTERVAL" &
		CHILD=$!
		wait "$CHILD"
		CHILD=
	done
}

case ${1-} in
sync) cmd_sync ;;
loop) cmd_loop ;;
*) die "usage: offsite.sh sync|loop" ;;
esac
