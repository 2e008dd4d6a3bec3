# backup-common.sh: what backup.sh and restore.sh share. Sourced, never run.
#
# POSIX sh: it runs under busybox sh in postgres:16-alpine and under dash on
# Debian (the tests). Only tools both have: date +%s, stat -c, sha256sum,
# sort, mkdir, mv, rm. `local` is not POSIX, but both shells have it (and
# Debian's policy for /bin/sh scripts allows it): functions keep their
# variables to themselves. Assign locals separately, as dash's `local` splits
# its words in old versions.
# shellcheck shell=sh disable=SC3043,SC2034 # SC2034: VERIFY_WHY and the like are for the scripts

# Byte order for globs and sort (dump names then sort by time), and plain
# messages from every tool.
LC_ALL=C
export LC_ALL

# A dump is PREFIX-YYYYmmddTHHMMSSZ.dump (UTC, the time pg_dump started), so
# names sort by time. The pattern is exact so that another prefix sharing the
# directory ("app" next to "app-staging") is never mistaken for ours.
STAMP_GLOB='[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]T[0-9][0-9][0-9][0-9][0-9][0-9]Z'

# PROG names the script in messages; each script sets it before sourcing.
: "${PROG:=backup}"

log() { printf '%s %s: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$PROG" "$*"; }
warn() { printf '%s %s: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$PROG" "$*" >&2; }

# die is for a wrong invocation or configuration: nothing was done. It exits
# with DIE_STATUS, 2 unless a command needs another (a healthcheck, 1).
die() {
	printf '%s: %s\n' "$PROG" "$*" >&2
	exit "${DIE_STATUS:-2}"
}

# need VAR...: each variable is set and not empty.
need() {
	for need_var in "$@"; do
		eval "need_val=\${$need_var-}"
		[ -n "$need_val" ] || die "$need_var is not set"
	done
}

# need_count VAR...: each variable is a whole number of at least 1. Leading
# zeros are refused: shell arithmetic would read 010 as octal.
need_count() {
	need "$@"
	for need_var in "$@"; do
		eval "need_val=\$$need_var"
		case $need_val in
		*[!0-9]* | 0*) die "$need_var must be a whole number of at least 1, not '$need_val'" ;;
		esac
	done
}

# need_prefix: BACKUP_PREFIX is a plain file-name part. Dump names are then
# free of spaces and glob characters and can be handled as words.
need_prefix() {
	need BACKUP_PREFIX
	case $BACKUP_PREFIX in
	[!A-Za-z0-9]* | *[!A-Za-z0-9._-]*)
		die "BACKUP_PREFIX must be letters, digits, '.', '_' or '-' (starting with a letter or digit), not '$BACKUP_PREFIX'"
		;;
	esac
}

# need_postgres: the connection settings libpq reads (PGPORT may be left to
# its default, 5432), and the password, read from PGPASSWORD_FILE into
# PGPASSWORD. The password is never printed, and never on a command line.
need_postgres() {
	need PGHOST PGUSER PGDATABASE PGPASSWORD_FILE
	[ -r "$PGPASSWORD_FILE" ] || die "PGPASSWORD_FILE: cannot read $PGPASSWORD_FILE"
	PGPASSWORD=$(cat "$PGPASSWORD_FILE") || die "PGPASSWORD_FILE: cannot read $PGPASSWORD_FILE"
	[ -n "$PGPASSWORD" ] || die "PGPASSWORD_FILE: $PGPASSWORD_FILE is empty"
	export PGPASSWORD
}

# enter_backup_dir: work inside BACKUP_DIR (default /backups), so that dump
# names are used bare and the checksum files name their dump without a path
# (`sha256sum -c NAME.dump.sha256` works there, and after a copy elsewhere).
enter_backup_dir() {
	BACKUP_DIR=${BACKUP_DIR:-/backups}
	cd "$BACKUP_DIR" 2>/dev/null || die "BACKUP_DIR: cannot enter $BACKUP_DIR"
}

# dumps_newest_first: our dumps in the current directory, one per line.
dumps_newest_first() {
	for dnf_f in "$BACKUP_PREFIX"-$STAMP_GLOB.dump; do
		[ -f "$dnf_f" ] && printf '%s\n' "$dnf_f"
	done | sort -r
}

# need_dump_name NAME: NAME is a dump's name as `backup.sh list` shows it,
# PREFIX-YYYYmmddTHHMMSSZ.dump with any prefix (a dump copied from another
# stack restores too), and not a path.
need_dump_name() {
	# shellcheck disable=SC2254 # STAMP_GLOB is a pattern on purpose
	case $1 in
	*/*) die "give the dump's name, not a path: $1" ;;
	[A-Za-z0-9]*-$STAMP_GLOB.dump) ;;
	*) die "'$1' is not a dump's name (PREFIX-YYYYmmddTHHMMSSZ.dump)" ;;
	esac
}

# verify NAME: whether NAME's contents match NAME.sha256. On failure
# VERIFY_WHY says why (no checksum file, or a mismatch).
verify() {
	local expected actual
	VERIFY_WHY=
	if [ ! -f "$1.sha256" ]; then
		VERIFY_WHY="no checksum file $1.sha256"
		return 1
	fi
	# A file in sha256sum's format: "<64 hex digits>  <name>".
	# read fails on a last line without a newline, but still sets expected.
	expected=
	read -r expected _ <"$1.sha256"
	actual=$(sha256sum <"$1") || {
		VERIFY_WHY="cannot read $1"
		return 1
	}
	actual=${actual%% *}
	if [ "${#expected}" -ne 64 ] || [ "$expected" != "$actual" ]; then
		VERIFY_WHY="checksum mismatch: $1.sha256 says ${expected:-nothing}, the file hashes to $actual"
		return 1
	fi
}

# mtime FILE: its modification time, epoch seconds (GNU and busybox stat).
mtime() { stat -c %Y "$1"; }

# human_size BYTES: 512B, 13.4K, 2.1M, 1.5G.
human_size() {
	local n unit
	n=$1
	if [ "$n" -lt 1024 ]; then
		printf '%sB\n' "$n"
		return
	fi
	for unit in K M G T; do
		if [ "$n" -lt 1048576 ] || [ "$unit" = T ]; then
			printf '%s.%s%s\n' "$((n / 1024))" "$((n % 1024 * 10 / 1024))" "$unit"
			return
		fi
		n=$((n / 1024))
	done
}

# human_age SECONDS: 45s, 12m30s, 5h12m, 3d04h.
human_age() {
	local s
	s=$1
	if [ "$s" -lt 0 ]; then
		s=0
	fi
	if [ "$s" -lt 60 ]; then
		printf '%ss\n' "$s"
	elif [ "$s" -lt 3600 ]; then
		printf '%sm%02ds\n' "$((s / 60))" "$((s % 60))"
	elif [ "$s" -lt 86400 ]; then
		printf '%sh%02dm\n' "$((s / 3600))" "$((s % 3600 / 60))"
	else
		printf '%sd%02dh\n' "$((s / 86400))" "$((s % 86400 / 3600))"
	fi
}
