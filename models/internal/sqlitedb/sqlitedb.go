// Package sqlitedb opens SQLite databases through modernc.org/sqlite,
// writing and reading times as the portal's files hold them.
package sqlitedb

import (
	"database/sql"
	"strings"

	"modernc.org/sqlite"
)

// TimeParams are the DSN parameters Open adds: times are written as text
// in UTC as "2006-01-02 15:04:05.999999999-07:00" (so "+00:00"), the format
// github.com/glebarez/go-sqlite, the driver before this one, wrote by
// default, and read back (from DATE, DATETIME and TIMESTAMP columns) in
// UTC. SQL compares stored times as text, so files written by either
// driver keep comparing and ordering right. (modernc.org/sqlite's own
// default is Go's time.Time.String, which would not.)
const TimeParams = "_time_format=sqlite&_timezone=UTC"

// Open returns a pool on dsn (modernc.org/sqlite's syntax, see its
// Driver.Open), with TimeParams added. Like sql.Open it connects lazily.
func Open(dsn string) (*sql.DB, error) {
	if strings.Contains(dsn, "?") {
		dsn += "&" + TimeParams
	} else {
		dsn += "?" + TimeParams
	}
	c, err := sqlite.NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(c), nil
}
