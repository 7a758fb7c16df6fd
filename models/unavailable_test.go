package models_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"

	"gatehouse/models"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestUnavailable: the errors of a database that is down or going away
// are unavailability, however wrapped; a database's refusal of the
// statement itself, and the models' own errors, are not.
func TestUnavailable(t *testing.T) {
	// A real refused connection: nothing listens on the port of a closed
	// listener.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, refused := pgx.Connect(context.Background(), "postgres://nobody@"+addr+"/none?connect_timeout=2")
	if refused == nil {
		t.Fatal("connecting to a closed port succeeded")
	}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"connection refused", fmt.Errorf("load session: %w", refused), true},
		{"server shutting down", fmt.Errorf("session: %w", &pgconn.PgError{Code: "57P01"}), true},
		{"server starting up", &pgconn.PgError{Code: "57P03"}, true},
		{"connection failure", &pgconn.PgError{Code: "08006"}, true},
		{"cut mid-answer", fmt.Errorf("audit head: %w", io.ErrUnexpectedEOF), true},
		{"unique violation", fmt.Errorf("create: %w", &pgconn.PgError{Code: "23505"}), false},
		{"permission denied", &pgconn.PgError{Code: "42501"}, false},
		{"not found", fmt.Errorf("grant 3: %w", models.ErrNotFound), false},
		{"anything else", errors.New("disk on fire"), false},
		{"nil", nil, false},
	}
	for _, tt := range tests {
		if got := models.Unavailable(tt.err); got != tt.want {
			t.Errorf("%s: Unavailable(%v) = %t, want %t", tt.name, tt.err, got, tt.want)
		}
	}
}
