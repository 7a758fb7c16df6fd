package models

import (
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Unavailable reports whether err says a database cannot serve at the
// moment, rather than that a request or its data are wrong: PostgreSQL
// down, restarting, refusing connections or out of disk, a connection
// cut; SQLite's disk full, its file read-only or unreadable, or locked
// too long. The portal answers these with 503, and nothing was shown or
// changed (a transaction that failed so rolled back). Once the database
// is back, the pools drop the broken connections and dial again, so the
// next request succeeds without a restart. An audit event whose month has
// no partition yet (ErrNoAuditPartition) is one too.
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrNoAuditPartition) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return unavailableState(pe.Code)
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff { // the primary result code
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_IOERR,
			sqlite3.SQLITE_FULL, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PROTOCOL:
			return true
		}
		return false
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	switch {
	case errors.As(err, &ce), errors.As(err, &ne),
		errors.Is(err, driver.ErrBadConn), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, pgconn.ErrConnClosed),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EROFS):
		return true
	}
	return false
}

// unavailableState reports whether a PostgreSQL SQLSTATE says the server
// cannot serve now: a connection exception (class 08), insufficient
// resources such as a full disk (53), a system or I/O error (58), the
// server shutting down or starting (57P01-57P03), or a read-only
// server (25006, a standby).
func unavailableState(code string) bool {
	switch {
	case strings.HasPrefix(code, "08"), strings.HasPrefix(code, "53"), strings.HasPrefix(code, "58"):
		return true
	}
	switch code {
	case "57P01", "57P02", "57P03", "25006":
		return true
	}
	return false
}
