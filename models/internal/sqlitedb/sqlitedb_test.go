package sqlitedb

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"
)

func open(t *testing.T) *sql.DB {
	t.Helper()
	db, err := Open(filepath.Join(t.TempDir(), "t.db") + "?_pragma=journal_mode(WAL)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.SetMaxOpenConns(1)
	return db
}

// oldLayout is how github.com/glebarez/go-sqlite v1.21.2, the driver
// before this one, wrote a time.Time (its default write format,
// parseTimeFormats[0]); the portal's times are UTC, so they end "+00:00".
const oldLayout = "2006-01-02 15:04:05.999999999-07:00"

// Rows written by the old driver and by this one compare, order and read
// back alike: SQL compares stored times as text (expires_at <= ?,
// keyset cursors, ORDER BY at).
func TestTimesKeepTheOldDriversFormat(t *testing.T) {
	db := open(t)
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, "CREATE TABLE ev (id INTEGER PRIMARY KEY, at DATETIME NOT NULL, by TEXT NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	base := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	old := []time.Time{base, base.Add(500 * time.Millisecond), base.Add(123456 * time.Microsecond), base.Add(-time.Nanosecond)}
	for _, at := range old {
		// As the old driver stored them: text, written here as literals.
		if _, err := db.ExecContext(ctx, "INSERT INTO ev (at, by) VALUES ('"+at.Format(oldLayout)+"', 'old')"); err != nil {
			t.Fatal(err)
		}
	}
	fresh := []time.Time{
		base.Add(250 * time.Millisecond),
		base.Add(time.Second),
		base.Add(500 * time.Millisecond),                      // the same instant as an old row
		base.Add(-time.Hour).In(time.FixedZone("CEST", 7200)), // stored in UTC all the same
	}
	for _, at := range fresh {
		if _, err := db.ExecContext(ctx, "INSERT INTO ev (at, by) VALUES (?, 'new')", at); err != nil {
			t.Fatal(err)
		}
	}
	// The new rows' text is the old driver's.
	rows, err := db.QueryContext(ctx, "SELECT at || '' FROM ev WHERE by = 'new' ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; rows.Next(); i++ {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		if want := fresh[i].UTC().Format(oldLayout); s != want {
			t.Errorf("new row %d stored as %q, want %q", i, s, want)
		}
	}
	rows.Close()
	// ORDER BY is time order across both.
	var all []time.Time
	rows, err = db.QueryContext(ctx, "SELECT at FROM ev ORDER BY at, id")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var at time.Time
		if err := rows.Scan(&at); err != nil {
			t.Fatal(err)
		}
		if at.Location() != time.UTC {
			t.Errorf("read %v in %v, want UTC", at, at.Location())
		}
		all = append(all, at)
	}
	rows.Close()
	if len(all) != len(old)+len(fresh) {
		t.Fatalf("read %d rows, want %d", len(all), len(old)+len(fresh))
	}
	for i := 1; i < len(all); i++ {
		if all[i].Before(all[i-1]) {
			t.Errorf("ORDER BY at: %v after %v", all[i], all[i-1])
		}
	}
	// Comparisons with a bound time see both.
	for _, c := range []struct {
		where string
		arg   time.Time
		want  int
	}{
		{"at <= ?", base, 3},                            // -1h, -1ns, base
		{"at < ?", base.Add(500 * time.Millisecond), 5}, // and .123456, .25
		{"at = ?", base.Add(500 * time.Millisecond), 2}, // the old row and the new one
		{"at > ?", base.Add(500 * time.Millisecond), 1}, // +1s
		{"at >= ?", base.Add(-time.Nanosecond), 7},      // all but -1h
	} {
		var n int
		if err := db.QueryRowContext(ctx, "SELECT count(*) FROM ev WHERE "+c.where, c.arg).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != c.want {
			t.Errorf("%s with %v: %d rows, want %d", c.where, c.arg, n, c.want)
		}
	}
}

// JSON and FTS5, which the portal's queries use, are there, and a schema
// change is seen.
func TestSchemaChangesAndExtensions(t *testing.T) {
	db := open(t)
	ctx := context.Background()
	for _, s := range []string{
		"CREATE TABLE t (id INTEGER PRIMARY KEY)",
		"INSERT INTO t (id) VALUES (1)",
		"CREATE VIRTUAL TABLE f USING fts5(body)",
		"INSERT INTO f (body) VALUES ('the quick brown fox')",
	} {
		if _, err := db.ExecContext(ctx, s); err != nil {
			t.Fatal(s, err)
		}
	}
	cols := func() int {
		rows, err := db.QueryContext(ctx, "SELECT * FROM t")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		c, _ := rows.Columns()
		return len(c)
	}
	if n := cols(); n != 1 {
		t.Fatalf("%d columns", n)
	}
	if _, err := db.ExecContext(ctx, "ALTER TABLE t ADD COLUMN v TEXT"); err != nil {
		t.Fatal(err)
	}
	if n := cols(); n != 2 {
		t.Errorf("after ALTER TABLE: %d columns, want 2", n)
	}
	var n int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM json_each(?)", `["a","b","c"]`).Scan(&n); err != nil || n != 3 {
		t.Errorf("json_each: %d, %v", n, err)
	}
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM f WHERE f MATCH ?", "quick").Scan(&n); err != nil || n != 1 {
		t.Errorf("fts5: %d, %v", n, err)
	}
}
