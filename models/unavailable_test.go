package models_test

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"syscall"
	"testing"

	"gatehouse/models"

	"github.com/jackc/pgx/v5/pgconn"
)

// TestUnavailable: what says a database cannot serve now (503) and what
// says the request or its data are wrong. The real outages (a stopped
// PostgreSQL, a full or read-only disk under SQLite) are in the handlers'
// outage tests; this is the table of the rest.
func TestUnavailable(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("load session: %w", err) }
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{models.ErrNotFound, false},
		{models.ErrConflict, false},
		{models.ErrNoGrant, false},
		{context.Canceled, false},
		{errors.New("syntax error"), false},
		{wrap(&pgconn.PgError{Code: "23505"}), false}, // unique violation
		{wrap(&pgconn.PgError{Code: "42P01"}), false}, // undefined table
		{wrap(&pgconn.PgError{Code: "57014"}), false}, // query cancelled
		{wrap(&pgconn.PgError{Code: "08006"}), true},  // connection failure
		{wrap(&pgconn.PgError{Code: "57P01"}), true},  // admin shutdown
		{wrap(&pgconn.PgError{Code: "57P03"}), true},  // starting up
		{wrap(&pgconn.PgError{Code: "53100"}), true},  // disk full
		{wrap(&pgconn.PgError{Code: "53300"}), true},  // too many connections
		{wrap(&pgconn.PgError{Code: "58030"}), true},  // I/O error
		{wrap(&pgconn.PgError{Code: "25006"}), true},  // read-only server
		{wrap(driver.ErrBadConn), true},
		{wrap(io.ErrUnexpectedEOF), true},
		{wrap(pgconn.ErrConnClosed), true}, // a pooled connection the server closed
		{wrap(syscall.ECONNREFUSED), true},
		{wrap(syscall.ENOSPC), true},
		{wrap(syscall.EROFS), true},
	} {
		if got := models.Unavailable(tc.err); got != tc.want {
			t.Errorf("Unavailable(%v) = %t, want %t", tc.err, got, tc.want)
		}
	}
}
