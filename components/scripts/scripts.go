// Package scripts holds the backup container's scripts, uploaded into it as
// they are (the tests run these same files against a real Postgres), and
// where they sit in it: cmd/backupctl runs them there without linking the
// program.
package scripts

import "embed"

// Files are the scripts, by their names in this directory: the shell
// scripts and own.sql, which restore.sh and the password step
// (components/postgres) run.
//
//go:embed *.sh *.sql
var Files embed.FS

// Where the scripts are inside the backup container.
const (
	Dir     = "/opt/backup"
	Backup  = Dir + "/backup.sh"
	Restore = Dir + "/restore.sh"
	Offsite = Dir + "/offsite.sh"
)

// DumpDir is where the dumps are inside the backup containers: the backups
// volume's mount point, the scripts' BACKUP_DIR.
const DumpDir = "/backups"
