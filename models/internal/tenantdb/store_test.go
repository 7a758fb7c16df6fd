package tenantdb_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"gatehouse/models/demo"
	"gatehouse/models/internal/tenantdb"
)

// store returns b's Store: a connection to its server, or its directory.
func store(t *testing.T, b backend) tenantdb.Store {
	t.Helper()
	s := tenantdb.Store{Dialect: b.cfg.Dialect, Dir: b.cfg.SQLiteDir}
	if b.cfg.Dialect == tenantdb.Postgres {
		conn, err := sql.Open("pgx", b.cfg.PostgresURL)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		s.Conn = conn
	}
	return s
}

func TestStoreCountsRemovesAndTellsGone(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		seed(t, b.target, "acme", "globex")
		ctx := context.Background()
		s := store(t, b)
		// A table whose name needs quoting is counted like the others.
		create := "CREATE TABLE ws_acme.\"odd\"\"name`\" (id int)"
		conn := s.Conn
		if b.cfg.Dialect == tenantdb.SQLite {
			create = "CREATE TABLE `odd\"name``` (id int)"
			f, err := sql.Open("sqlite", filepath.Join(s.Dir, "ws_acme.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			conn = f
		}
		if _, err := conn.ExecContext(ctx, create); err != nil {
			t.Fatal(err)
		}

		for _, slug := range []string{"acme", "globex"} {
			if gone, err := s.Gone(ctx, slug); err != nil || gone {
				t.Errorf("%s before its removal: gone %v, %v", slug, gone, err)
			}
		}
		inv, err := s.Count(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]int64{"members": 57, "odd\"name`": 0}
		got := map[string]int64{}
		for _, tr := range inv.Tables {
			got[tr.Table] = tr.Rows
		}
		wantLoc := map[tenantdb.Dialect]string{tenantdb.SQLite: "ws_acme.db", tenantdb.Postgres: "ws_acme"}[b.cfg.Dialect]
		if len(inv.Tables) != 7 || got["members"] != want["members"] || got["odd\"name`"] != 0 || inv.Location != wantLoc || inv.Missing {
			t.Errorf("inventory %+v: want 7 tables at %s, 57 members", inv, wantLoc)
		}
		if b.cfg.Dialect == tenantdb.SQLite && !slices.Contains(inv.Files, "ws_acme.db") {
			t.Errorf("files %v, want ws_acme.db among them", inv.Files)
		}

		if err := s.Remove(ctx, "acme"); err != nil {
			t.Fatal(err)
		}
		if gone, err := s.Gone(ctx, "acme"); err != nil || !gone {
			t.Errorf("acme after its removal: gone %v, %v", gone, err)
		}
		if gone, err := s.Gone(ctx, "globex"); err != nil || gone {
			t.Errorf("globex after acme's removal: gone %v, %v", gone, err)
		}
		if left, _ := filepath.Glob(filepath.Join(s.Dir, "ws_acme*")); b.cfg.Dialect == tenantdb.SQLite && len(left) != 0 {
			t.Errorf("files left of acme: %v", left)
		}
		inv, err = s.Count(ctx, "acme")
		if err != nil || !inv.Missing || inv.Tables == nil || len(inv.Tables) != 0 {
			t.Errorf("inventory of removed acme: %+v, %v; want missing, no tables", inv, err)
		}
		for _, bad := range []string{"a_b", "acme; drop", ""} {
			if _, err := s.Count(ctx, bad); !errors.Is(err, tenantdb.ErrInvalidName) {
				t.Errorf("Count(%q): %v, want ErrInvalidName", bad, err)
			}
			if err := s.Remove(ctx, bad); !errors.Is(err, tenantdb.ErrInvalidName) {
				t.Errorf("Remove(%q): %v, want ErrInvalidName", bad, err)
			}
		}
	})
}

// TestStoreRemovesLeftovers: what a removal that stopped after renaming
// the file left behind goes, and only that.
func TestStoreRemovesLeftovers(t *testing.T) {
	dir := t.TempDir()
	seed(t, demo.TenantTarget{SQLiteDir: dir}, "globex")
	for _, f := range []string{"ws_initech.db.deleting", "ws_initech.db-shm"} {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s := tenantdb.Store{Dialect: tenantdb.SQLite, Dir: dir}
	removed, err := s.RemoveLeftovers("initech")
	if err != nil || !slices.Equal(removed, []string{"ws_initech.db.deleting", "ws_initech.db-shm"}) {
		t.Errorf("removed %v, %v; want the renamed file and its -shm", removed, err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "ws_initech*")); len(left) != 0 {
		t.Errorf("left: %v", left)
	}
	if gone, err := s.Gone(context.Background(), "globex"); err != nil || gone {
		t.Errorf("globex: gone %v, %v; want it kept", gone, err)
	}
}
