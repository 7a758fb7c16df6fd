package sqlitedb

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"modernc.org/sqlite"
)

func open(t *testing.T, budget int) *sql.DB {
	t.Helper()
	return openAt(t, filepath.Join(t.TempDir(), "t.db"), budget)
}

func openAt(t *testing.T, path string, budget int) *sql.DB {
	t.Helper()
	db, err := Open(path+"?_pragma=journal_mode(WAL)&_txlock=immediate", budget)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.SetMaxOpenConns(1)
	return db
}

// kept returns the statements the pool's one connection keeps and their
// text's length.
func kept(t *testing.T, db *sql.DB) (n, bytes int) {
	t.Helper()
	c, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Raw(func(dc any) error {
		cc := dc.(*conn)
		n, bytes = cc.lru.Len(), cc.bytes
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return n, bytes
}

// oldLayout is how github.com/glebarez/go-sqlite v1.21.2, the driver
// before this one, wrote a time.Time (its default write format,
// parseTimeFormats[0]); the portal's times are UTC, so they end "+00:00".
const oldLayout = "2006-01-02 15:04:05.999999999-07:00"

// Rows written by the old driver and by this one compare, order and read
// back alike: SQL compares stored times as text (expires_at <= ?,
// keyset cursors, ORDER BY at).
func TestTimesKeepTheOldDriversFormat(t *testing.T) {
	db := open(t, 4096)
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

// A statement run again is not prepared again; the statements kept stay
// within the budget whatever SQL is built.
func TestStatementsKeptWithinBudget(t *testing.T) {
	const budget = 2048
	db := open(t, budget)
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"); err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if _, err := db.ExecContext(ctx, "INSERT INTO t (v) VALUES (?)", fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := kept(t, db); n != 2 {
		t.Errorf("after one CREATE and 100 INSERTs of one text: %d kept, want 2", n)
	}
	// IN lists of every length from 1 to 100: each a statement of its own.
	for l := 1; l <= 100; l++ {
		q := "SELECT count(*) FROM t WHERE id IN (" + strings.TrimSuffix(strings.Repeat("?,", l), ",") + ")"
		args := make([]any, l)
		for i := range args {
			args[i] = i + 1
		}
		var n int
		if err := db.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != l {
			t.Fatalf("IN list of %d: %d rows", l, n)
		}
		if _, bytes := kept(t, db); bytes > budget {
			t.Fatalf("IN list of %d: %d bytes kept, budget %d", l, bytes, budget)
		}
	}
	// Compiled, what is kept stays within about 70 times its text.
	c, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Raw(func(dc any) error { //nolint:errcheck // reports nothing
		cc := dc.(*conn)
		used, _, err := cc.inner.(sqlite.DBStatus).Status(sqlite.DBStatusStmtUsed, false)
		if err != nil || used > 80*cc.bytes {
			t.Errorf("%d statements of %d bytes of text use %d bytes compiled (%v)", cc.lru.Len(), cc.bytes, used, err)
		}
		return nil
	})
	// Longer than a quarter of the budget: runs, is not kept.
	long := "SELECT count(*) FROM t WHERE v <> '" + strings.Repeat("x", budget) + "'"
	var n int
	if err := c.QueryRowContext(ctx, long).Scan(&n); err != nil || n != 100 {
		t.Fatalf("long statement: %d, %v", n, err)
	}
	c.Raw(func(dc any) error { //nolint:errcheck // reports nothing
		if _, ok := dc.(*conn).stmts[long]; ok {
			t.Error("a statement longer than the budget was kept")
		}
		return nil
	})
}

// The same statement run while its rows are still open (a nested query
// in a transaction) runs uncached; one evicted while its rows are open
// is closed when they close.
func TestBusyStatements(t *testing.T) {
	db := open(t, 400)
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, "CREATE TABLE t (id INTEGER PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "INSERT INTO t (id) VALUES (1), (2), (3)"); err != nil {
		t.Fatal(err)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback() //nolint:errcheck // read only
	const q = "SELECT id FROM t WHERE id >= ? ORDER BY id"
	outer, err := tx.QueryContext(ctx, q, 1)
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	for outer.Next() {
		var id int
		if err := outer.Scan(&id); err != nil {
			t.Fatal(err)
		}
		inner, err := tx.QueryContext(ctx, q, id)
		if err != nil {
			t.Fatal(err)
		}
		for inner.Next() {
			var j int
			if err := inner.Scan(&j); err != nil {
				t.Fatal(err)
			}
			got = append(got, id*10+j)
		}
		if err := inner.Close(); err != nil {
			t.Fatal(err)
		}
		// Evict the outer statement while its rows are open.
		for i := range 10 {
			if _, err := tx.ExecContext(ctx, fmt.Sprintf("UPDATE t SET id = id WHERE id = %d -- %s", i, strings.Repeat("x", 50))); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := outer.Close(); err != nil {
		t.Fatal(err)
	}
	if want := []int{11, 12, 13, 22, 23, 33}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("nested reads: %v, want %v", got, want)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.QueryRowContext(ctx, q, 2).Scan(&n); err != nil || n != 2 {
		t.Errorf("after: %d, %v", n, err)
	}
}

// A kept statement follows the schema (SQLite prepares it again itself),
// and JSON and FTS5, which the portal's queries use, are there.
func TestSchemaChangesAndExtensions(t *testing.T) {
	db := open(t, 4096)
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

// Closing a connection finalizes its kept statements first: SQLite keeps
// a connection closed with statements still prepared, and their memory,
// until they are finalized.
func TestCloseFinalizesStatements(t *testing.T) {
	db := open(t, 1<<20)
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"); err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		var n int
		if err := db.QueryRowContext(ctx, fmt.Sprintf("SELECT count(*) FROM t WHERE id > %d AND v <> 'x'", i)).Scan(&n); err != nil {
			t.Fatal(err)
		}
	}
	c, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Raw(func(dc any) error { //nolint:errcheck // reports nothing
		cc := dc.(*conn)
		status := cc.inner.(sqlite.DBStatus)
		if n := cc.lru.Len(); n != 201 {
			t.Errorf("%d kept, want 201", n)
		}
		if used, _, _ := status.Status(sqlite.DBStatusStmtUsed, false); used < 200*1000 {
			t.Errorf("201 statements use %d bytes", used)
		}
		if err := cc.drop(); err != nil {
			t.Error(err)
		}
		if used, _, _ := status.Status(sqlite.DBStatusStmtUsed, false); used != 0 {
			t.Errorf("dropped, statements still use %d bytes", used)
		}
		return nil
	})
}
