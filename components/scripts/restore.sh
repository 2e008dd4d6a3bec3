#!/bin/sh
# restore.sh NAME: replace the database's contents with the dump NAME, one
# of those `backup.sh list` shows in BACKUP_DIR.
#
# Configuration, from the environment only (the same as backup.sh's):
#   PGHOST PGPORT PGUSER PGDATABASE  the database to replace; PGUSER is a
#                                    superuser (the stack's postgres)
#   PGPASSWORD_FILE   a file holding the password
#   BACKUP_DB_OWNER   the role that owns the database (the application's):
#                     the restored database and everything in it are its
#   BACKUP_DIR        where the dumps are (default /backups)
#
# The dump's checksum is verified first: a dump without a checksum file, or
# whose contents do not match it, is refused before anything connects to the
# database.
#
# How: the dump is restored into a new database, PGDATABASE_restoring, made
# from template0 with the current database's encoding and locale. Only when
# pg_restore has succeeded are the names swapped, in one transaction: the
# current database becomes PGDATABASE_replaced and the restored one takes its
# name; then the replaced one is dropped. So
#   - a restore that fails at any point leaves the database as it was;
#   - the result is exactly the dump: a table that a later migration added
#     does not survive the restore, as it would with pg_restore --clean into
#     the live database (which only drops what the dump itself contains, and
#     would leave django_migrations disagreeing with the schema);
#   - it also works when the database is gone.
# The cost is room for a second copy of the database while it runs.
#
# pg_restore's flags: --no-owner, because everything is created by PGUSER,
# then handed to BACKUP_DB_OWNER (own.sql: every object but the system's and
# the extensions'), which owns the new database, so a dump from another
# stack with another owner restores the same; as the superuser, so that a
# dump holding an extension only a superuser can create restores too;
# --exit-on-error, so that a dump that does
# not fully restore is never swapped in. Privileges (GRANTs) are restored: if
# the dump grants to a role this server lacks, the restore fails, the
# database is unchanged, and the message names the role. Not
# --single-transaction: the swap already makes the restore all or nothing,
# and one transaction over every table and index would need a lock slot per
# object (max_locks_per_transaction). Not --clean: the new database is empty.
#
# Sessions still connected to the database are closed at the swap (stop the
# backends first: what they would write meanwhile is lost). The swap fails,
# and the database stays as it was, if a session reconnects within 5 s.
#
# SIGTERM, SIGINT or SIGHUP (backupctl sends SIGTERM when it is interrupted)
# before the swap stop pg_restore, drop PGDATABASE_restoring and leave the
# database as it was; once the swap has begun, it ends (it is one
# transaction) and the run finishes, without the table report: the dump is
# then restored.
#
# Exit status: 0 restored, 1 refused, failed or interrupted before the swap
# (the database is unchanged), 2 wrong invocation or configuration.
set -u
PROG=restore
# shellcheck source=backup-common.sh source-path=SCRIPTDIR
. "$(dirname "$0")/backup-common.sh"

if [ $# -ne 1 ] || [ -z "$1" ]; then
	die "usage: restore.sh NAME, a dump that 'backup.sh list' shows"
fi
name=$1
case $name in
*/*) die "give the dump's name as 'backup.sh list' shows it, not a path: $name" ;;
*.dump) ;;
*) name=$name.dump ;;
esac
need_postgres
need BACKUP_DB_OWNER
enter_backup_dir

fail() {
	warn "$*"
	exit 1
}

# PHASE is where the run is, for a signal: "" before anything connects,
# "prepare" and "restore" while PGDATABASE_restoring is made, "swap" from the
# swap on. CHILD is pg_restore while it runs in the background.
PHASE=
CHILD=
INTERRUPTED=

interrupted() {
	INTERRUPTED=1
	case $PHASE in
	swap) return ;; # finishes below, and says so
	esac
	if [ -n "$CHILD" ]; then
		kill "$CHILD" 2>/dev/null
		wait "$CHILD"
	fi
	if [ -n "$PHASE" ]; then
		drop_tmp
	fi
	fail "interrupted; $PGDATABASE was not touched"
}
trap interrupted TERM INT HUP

[ -f "$name" ] || fail "no dump $name in $BACKUP_DIR"
verify "$name" || fail "refusing $name: $VERIFY_WHY; the database was not touched"

db=$PGDATABASE
tmp=${db}_restoring
old=${db}_replaced
# Database-level commands connect to another database of the server.
maint=postgres
if [ "$db" = postgres ]; then
	maint=template1
fi

# psql_maint runs the psql script on its standard input in the maintenance
# database, stopping at the first error, with no notices ("does not exist,
# skipping"). The names are psql variables, which psql quotes itself (:"db"
# as an identifier, :'db' as a literal).
psql_maint() {
	PGOPTIONS="${PGOPTIONS-} -c client_min_messages=warning" psql -X -q -At --no-password -v ON_ERROR_STOP=1 -d "$maint" \
		-v db="$db" -v tmp="$tmp" -v old="$old" -v owner="$BACKUP_DB_OWNER"
}

drop_tmp() {
	echo 'DROP DATABASE IF EXISTS :"tmp" WITH (FORCE);' | psql_maint ||
		warn "could not drop $tmp: drop it by hand, or let the next restore do it"
}

started=$(date +%s)
PHASE=prepare
log "restoring $name ($(human_size "$(stat -c %s "$name")"), checksum ok) into $db"

# A new, empty database like the current one. A restore interrupted earlier
# may have left $tmp or $old: neither holds anything still needed.
psql_maint <<'SQL' || fail "could not create the database $tmp; $db was not touched"
DROP DATABASE IF EXISTS :"tmp" WITH (FORCE);
DROP DATABASE IF EXISTS :"old" WITH (FORCE);
SELECT count(*) > 0 AS db_exists FROM pg_database WHERE datname = :'db' \gset
\if :db_exists
SELECT pg_encoding_to_char(encoding) AS enc, datcollate AS coll, datctype AS ctype
  FROM pg_database WHERE datname = :'db' \gset
CREATE DATABASE :"tmp" OWNER :"owner" TEMPLATE template0 ENCODING :'enc' LC_COLLATE :'coll' LC_CTYPE :'ctype';
\else
CREATE DATABASE :"tmp" OWNER :"owner" TEMPLATE template0;
\endif
SQL

# In the background, so that a signal stops it at once (the shell runs a
# trap only once a command in the foreground has ended).
PHASE=restore
pg_restore --no-password --dbname="$tmp" --no-owner --exit-on-error "$name" &
CHILD=$!
wait "$CHILD"
status=$?
CHILD=
if [ "$status" -ne 0 ]; then
	drop_tmp
	fail "pg_restore failed (above); $db was not touched"
fi
# What pg_restore made belongs to the database's owner.
if ! PGOPTIONS="${PGOPTIONS-} -c client_min_messages=warning" psql -X -q -At --no-password -v ON_ERROR_STOP=1 -d "$tmp" \
	-v owner="$BACKUP_DB_OWNER" -f "$(dirname "$0")/own.sql" >/dev/null; then
	drop_tmp
	fail "could not give the restored objects to $BACKUP_DB_OWNER (above); $db was not touched"
fi

# The swap. pg_terminate_backend only signals; ALTER DATABASE ... RENAME waits
# up to 5 s for those sessions to end (and stops autovacuum workers itself).
# Prints how many sessions were closed. From here a signal lets the run end.
PHASE=swap
if ! closed=$(
	psql_maint <<'SQL'
SELECT count(*) > 0 AS db_exists FROM pg_database WHERE datname = :'db' \gset
BEGIN;
\if :db_exists
SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
 WHERE datname = :'db' AND backend_type = 'client backend' AND pid <> pg_backend_pid();
ALTER DATABASE :"db" RENAME TO :"old";
\else
SELECT 0;
\endif
ALTER DATABASE :"tmp" RENAME TO :"db";
COMMIT;
SQL
); then
	drop_tmp
	fail "could not swap the restored database in (are sessions still connected? stop the backends); $db was not touched"
fi
if [ -n "$INTERRUPTED" ]; then
	warn "interrupted during the swap, which had begun: $name is restored into $db, finishing"
fi
if [ "$closed" -gt 0 ]; then
	log "closed $closed other session(s) of $db"
fi
echo 'DROP DATABASE IF EXISTS :"old" WITH (FORCE);' | psql_maint ||
	warn "restored, but could not drop the replaced database $old: drop it by hand"

# Interrupted, the run ends now: counting every row of a big database takes
# a while, and whoever interrupted is waiting for the backends to start.
if [ -n "$INTERRUPTED" ]; then
	log "restored $name into $db in $(($(date +%s) - started))s"
	exit 0
fi

# What was restored: every table and its exact row count, the count first
# because a quoted table name may hold spaces.
log "restored $name into $db in $(($(date +%s) - started))s:"
psql -X -q -At --no-password -F ' ' -v ON_ERROR_STOP=1 -d "$db" <<'SQL' |
SELECT (xpath('/row/n/text()', query_to_xml(
           format('SELECT count(*) AS n FROM %I.%I', n.nspname, c.relname), false, true, '')))[1],
       format('%I.%I', n.nspname, c.relname)
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind = 'r' AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
 ORDER BY 2;
SQL
	{
		tables=0
		while read -r rows table; do
			printf '  %-40s %10s rows\n' "$table" "$rows"
			tables=$((tables + 1))
		done
		printf '  %s table(s)\n' "$tables"
	}
