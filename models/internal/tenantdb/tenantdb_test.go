package tenantdb_test

import (
	"context"
	"database/sql"
	"errors"
	"github.com/google/go-cmp/cmp"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/dbtest"
	"gatehouse/models/demo"
	"gatehouse/models/internal/tenantdb"

	"github.com/jackc/pgx/v5/pgconn"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// backend is one engine holding tenant data, with a way to make a second
// server (or directory) for workspaces that carry their own DSN.
type backend struct {
	cfg    tenantdb.Config
	target demo.TenantTarget
	other  func(t *testing.T) (dsn string, target demo.TenantTarget)
}

// eachBackend runs fn on SQLite, and on PostgreSQL when GATEHOUSE_TEST_PG
// is set.
func eachBackend(t *testing.T, fn func(t *testing.T, b backend)) {
	t.Run("sqlite", func(t *testing.T) {
		dir := t.TempDir()
		fn(t, backend{
			cfg:    tenantdb.Config{Dialect: tenantdb.SQLite, SQLiteDir: dir},
			target: demo.TenantTarget{SQLiteDir: dir},
			other: func(t *testing.T) (string, demo.TenantTarget) {
				d := t.TempDir()
				return "sqlite:" + d, demo.TenantTarget{SQLiteDir: d}
			},
		})
	})
	t.Run("postgres", func(t *testing.T) {
		url, db := productDatabase(t)
		fn(t, backend{
			cfg:    tenantdb.Config{Dialect: tenantdb.Postgres, PostgresURL: url},
			target: demo.TenantTarget{Postgres: db.Write},
			other: func(t *testing.T) (string, demo.TenantTarget) {
				u, db := productDatabase(t)
				return u, demo.TenantTarget{Postgres: db.Write}
			},
		})
	})
}

func productDatabase(t *testing.T) (string, *models.DB) {
	t.Helper()
	url := dbtest.NewPostgresDatabase(t)
	db, err := models.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return url, db
}

func seed(t *testing.T, target demo.TenantTarget, slugs ...string) {
	t.Helper()
	if err := demo.SeedTenants(context.Background(), target, slugs, now); err != nil {
		t.Fatal(err)
	}
}

func open(t *testing.T, cfg tenantdb.Config) *tenantdb.Reader {
	t.Helper()
	r, err := tenantdb.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// readAll returns every row of table in ws, every column, page by page.
func readAll(t *testing.T, r *tenantdb.Reader, ws tenantdb.Workspace, table string, cols []string) []tenantdb.Row {
	t.Helper()
	var all []tenantdb.Row
	q := tenantdb.Query{Workspace: ws, Table: table, Columns: cols}
	for {
		page, err := r.Rows(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page.Rows...)
		if !page.HasNext {
			return all
		}
		q.AfterID = page.Rows[len(page.Rows)-1].ID
	}
}

func rowText(row tenantdb.Row) string {
	var b strings.Builder
	for _, v := range row.Values {
		b.WriteString(v.Text + "\x00")
	}
	return b.String()
}

var memberCols = []string{"name", "email", "role", "last_login_at"}

func TestSchemaName(t *testing.T) {
	tests := []struct {
		slug, want string
	}{
		{"acme", "ws_acme"},
		{"pied-piper", "ws_pied_piper"},
		{"a2", "ws_a2"},
		{strings.Repeat("a", 48), "ws_" + strings.Repeat("a", 48)},
	}
	for _, tt := range tests {
		got, err := tenantdb.SchemaName(tt.slug)
		if err != nil || got != tt.want {
			t.Errorf("SchemaName(%q) = %q, %v; want %q", tt.slug, got, err, tt.want)
		}
	}
}

// nastyNames are slugs no schema may be built from.
var nastyNames = []string{
	"acme; drop", "ACME", `a"b`, "", strings.Repeat("a", 49), "../x", "a_b", "acme/../globex",
	"acme\x00", "acme ", "ws_acme", "é", "a'b", "x`y",
}

func TestSchemaNameRefusesNastySlugs(t *testing.T) {
	for _, slug := range nastyNames {
		if got, err := tenantdb.SchemaName(slug); !errors.Is(err, tenantdb.ErrInvalidName) {
			t.Errorf("SchemaName(%q) = %q, %v; want ErrInvalidName", slug, got, err)
		}
	}
}

func TestInvalidNamesNeverReachTheDatabase(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		seed(t, b.target, "acme")
		r := open(t, b.cfg)
		pools := r.PoolCount()
		ctx := context.Background()
		acme := tenantdb.Workspace{Slug: "acme"}
		badIdents := []string{"members; drop", "MEMBERS", `a"b`, "", strings.Repeat("a", 64), "../x", "a b", "a`b", "1a", "a-b", "a.b"}
		var calls []func() error
		for _, s := range nastyNames {
			ws := tenantdb.Workspace{Slug: s}
			calls = append(calls,
				func() error { _, err := r.Rows(ctx, tenantdb.Query{Workspace: ws, Table: "members"}); return err },
				func() error { _, err := r.Row(ctx, ws, "members", nil, 1); return err },
				func() error { _, err := r.Tables(ctx, ws); return err },
			)
		}
		for _, s := range badIdents {
			calls = append(calls,
				func() error { _, err := r.Rows(ctx, tenantdb.Query{Workspace: acme, Table: s}); return err },
				func() error { _, err := r.Row(ctx, acme, "members", []string{"name", s}, 1); return err },
			)
		}
		for i, call := range calls {
			if err := call(); !errors.Is(err, tenantdb.ErrInvalidName) {
				t.Errorf("call %d: got %v, want ErrInvalidName", i, err)
			}
		}
		if got := r.Scopes(); got != 0 {
			t.Errorf("tenant scopes entered: got %d, want 0", got)
		}
		if got := r.PoolCount(); got != pools {
			t.Errorf("pools: got %d, want %d", got, pools)
		}
		if b.target.SQLiteDir != "" {
			entries, _ := os.ReadDir(b.target.SQLiteDir)
			if len(entries) != 1 {
				t.Errorf("files in the tenant directory: got %d, want 1 (acme's)", len(entries))
			}
		}
	})
}

// TestNothingCrossesWorkspaces reads every table of every demo workspace
// and looks for every other workspace's canaries in it.
func TestNothingCrossesWorkspaces(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		slugs := demo.WorkspaceSlugs()
		seed(t, b.target, slugs...)
		r := open(t, b.cfg)
		for _, slug := range slugs {
			ws := tenantdb.Workspace{Slug: slug}
			tables, err := r.Tables(context.Background(), ws)
			if err != nil {
				t.Fatal(err)
			}
			if len(tables) != 6 {
				t.Errorf("%s: got tables %v, want 6", slug, tables)
			}
			for table, cols := range tables {
				own := demo.Canary(slug)
				if table == "api_keys" || table == "billing" {
					own = demo.RestrictedCanary(slug)
				}
				var all strings.Builder
				rows := readAll(t, r, ws, table, cols)
				for _, row := range rows {
					text := rowText(row)
					if !strings.Contains(text, own) {
						t.Errorf("%s.%s row %d: no %s in %q", slug, table, row.ID, own, text)
					}
					all.WriteString(text)
				}
				if len(rows) == 0 {
					t.Errorf("%s.%s: no rows", slug, table)
				}
				for _, other := range slugs {
					if other == slug {
						continue
					}
					for _, c := range []string{demo.Canary(other), demo.RestrictedCanary(other)} {
						if strings.Contains(all.String(), c) {
							t.Errorf("%s.%s shows %s's canary %s", slug, table, other, c)
						}
					}
				}
			}
		}
	})
}

func TestPagination(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		seed(t, b.target, "acme")
		r := open(t, b.cfg)
		ctx := context.Background()
		acme := tenantdb.Workspace{Slug: "acme"}

		first, err := r.Rows(ctx, tenantdb.Query{Workspace: acme, Table: "members", Columns: memberCols})
		if err != nil {
			t.Fatal(err)
		}
		if len(first.Rows) != 50 || !first.HasNext {
			t.Fatalf("first page: got %d rows, next %v; want 50 rows and a next page", len(first.Rows), first.HasNext)
		}
		second, err := r.Rows(ctx, tenantdb.Query{Workspace: acme, Table: "members", Columns: memberCols, AfterID: first.Rows[49].ID})
		if err != nil {
			t.Fatal(err)
		}
		if second.HasNext {
			t.Errorf("second page: got a next page, want none")
		}
		var want []int64
		for id := int64(1); id <= 57; id++ {
			want = append(want, id)
		}
		if got := append(first.IDs(), second.IDs()...); !slices.Equal(got, want) {
			t.Errorf("ids over both pages: got %v, want %v", got, want)
		}

		limits := []struct{ limit, want int }{{10, 10}, {1, 1}, {0, 50}, {-5, 50}, {500, 50}}
		for _, l := range limits {
			page, err := r.Rows(ctx, tenantdb.Query{Workspace: acme, Table: "members", Limit: l.limit})
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Rows) != l.want || !page.HasNext {
				t.Errorf("limit %d: got %d rows, next %v; want %d and a next page", l.limit, len(page.Rows), page.HasNext, l.want)
			}
		}
	})
}

func TestIDsFilter(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		seed(t, b.target, "acme")
		r := open(t, b.cfg)
		acme := tenantdb.Workspace{Slug: "acme"}
		tests := []struct {
			name    string
			ids     []int64
			afterID int64
			want    []int64
		}{
			{"listed, sorted, missing dropped", []int64{57, 3, 9999, 1}, 0, []int64{1, 3, 57}},
			{"after an id", []int64{57, 3, 1}, 2, []int64{3, 57}},
			{"empty list matches none", []int64{}, 0, []int64{}},
			{"nil is no filter", nil, 55, []int64{56, 57}},
		}
		for _, tt := range tests {
			page, err := r.Rows(context.Background(), tenantdb.Query{Workspace: acme, Table: "documents", IDs: tt.ids, AfterID: tt.afterID})
			if err != nil {
				t.Fatal(err)
			}
			if got := page.IDs(); !slices.Equal(got, tt.want) {
				t.Errorf("%s: got ids %v, want %v", tt.name, got, tt.want)
			}
		}
	})
}

func TestRow(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		seed(t, b.target, "acme")
		r := open(t, b.cfg)
		ctx := context.Background()
		acme := tenantdb.Workspace{Slug: "acme"}
		row, err := r.Row(ctx, acme, "members", []string{"email", "role"}, 1)
		if err != nil {
			t.Fatal(err)
		}
		if row.ID != 1 || row.Values[1].Text != "owner" || !strings.Contains(row.Values[0].Text, demo.Canary("acme")) {
			t.Errorf("member 1: got %+v, want the owner with acme's canary in the email", row)
		}
		missing := []struct {
			name string
			ws   tenantdb.Workspace
			tab  string
			id   int64
		}{
			{"no such id", acme, "members", 58},
			{"no such table", acme, "invoices", 1},
			{"no such workspace", tenantdb.Workspace{Slug: "globex"}, "members", 1},
		}
		for _, m := range missing {
			if _, err := r.Row(ctx, m.ws, m.tab, []string{"id"}, m.id); !errors.Is(err, tenantdb.ErrNotFound) {
				t.Errorf("%s: got %v, want ErrNotFound", m.name, err)
			}
		}
	})
}

func TestValuesAreText(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		seed(t, b.target, "acme")
		r := open(t, b.cfg)
		rows := readAll(t, r, tenantdb.Workspace{Slug: "acme"}, "members", []string{"last_login_at"})
		nulls := 0
		for _, row := range rows {
			v := row.Values[0]
			if v.Null {
				nulls++
				if v.Text != "" {
					t.Errorf("member %d: NULL with text %q", row.ID, v.Text)
				}
				continue
			}
			ts, err := time.Parse(time.RFC3339, v.Text)
			if err != nil || !strings.HasSuffix(v.Text, "Z") || ts.After(now) || ts.Before(now.AddDate(0, 0, -91)) {
				t.Errorf("member %d: last login %q, want RFC 3339 UTC within 90 days before %v", row.ID, v.Text, now)
			}
		}
		if nulls == 0 || nulls == len(rows) {
			t.Errorf("members never logged in: got %d of %d, want some but not all", nulls, len(rows))
		}
	})
}

func TestReaderCannotWrite(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		seed(t, b.target, "acme")
		r := open(t, b.cfg)
		ctx := context.Background()
		acme := tenantdb.Workspace{Slug: "acme"}
		insert := `INSERT INTO members (id, name, email, role, password_hash) VALUES (1000, 'x', 'x', 'x', 'x') RETURNING id`
		if _, err := r.QueryInScope(ctx, acme, insert); err == nil {
			t.Error("insert in the reader's scope succeeded")
		} else if pg := (*pgconn.PgError)(nil); errors.As(err, &pg) && pg.Code != "25006" {
			t.Errorf("insert in scope: got %v, want read_only_sql_transaction (25006)", err)
		}
		pool, err := r.Pool(acme)
		if err != nil {
			t.Fatal(err)
		}
		// Outside a transaction too: on PostgreSQL, the pool's connections
		// start with default_transaction_read_only=on.
		if _, err := pool.ExecContext(ctx, `CREATE TABLE public.planted (id int)`); err == nil {
			t.Error("CREATE TABLE on the reader's pool succeeded")
		}
		page, err := r.Rows(ctx, tenantdb.Query{Workspace: acme, Table: "members", IDs: []int64{1000}})
		if err != nil || len(page.Rows) != 0 {
			t.Errorf("member 1000 after the insert: got %v, %v; want no rows", page.Rows, err)
		}
		probe, want := "PRAGMA query_only", "1"
		if b.cfg.Dialect == tenantdb.Postgres {
			probe, want = "SHOW transaction_read_only", "on"
		}
		if got, err := r.QueryInScope(ctx, acme, probe); err != nil || got != want {
			t.Errorf("%s: got %q, %v; want %q", probe, got, err, want)
		}
	})
}

func TestPostgresStatementTimeout(t *testing.T) {
	url, db := productDatabase(t)
	seed(t, demo.TenantTarget{Postgres: db.Write}, "acme")
	r := open(t, tenantdb.Config{Dialect: tenantdb.Postgres, PostgresURL: url, StatementTimeout: 200 * time.Millisecond})
	ctx := context.Background()
	acme := tenantdb.Workspace{Slug: "acme"}
	start := time.Now()
	_, err := r.QueryInScope(ctx, acme, `SELECT pg_sleep(30)::text`)
	if elapsed := time.Since(start); err == nil || elapsed > 5*time.Second {
		t.Fatalf("pg_sleep(30): got %v after %v, want an error within 5s", err, elapsed)
	}
	// The server's timeout, not the context's deadline, ended it.
	var pg *pgconn.PgError
	if !errors.As(err, &pg) || pg.Code != "57014" || !strings.Contains(pg.Message, "statement timeout") {
		t.Errorf("pg_sleep(30): got %v, want the server's statement timeout (57014)", err)
	}
	if _, err := r.Row(ctx, acme, "members", nil, 1); err != nil {
		t.Errorf("read after the timeout: %v", err)
	}
}

// TestSQLiteLockWaitIsBounded holds a writer's exclusive lock on a
// workspace file: a read gives up after the statement timeout instead of
// waiting for the writer.
func TestSQLiteLockWaitIsBounded(t *testing.T) {
	dir := t.TempDir()
	seed(t, demo.TenantTarget{SQLiteDir: dir}, "acme")
	r := open(t, tenantdb.Config{Dialect: tenantdb.SQLite, SQLiteDir: dir, StatementTimeout: 200 * time.Millisecond})
	ctx := context.Background()
	acme := tenantdb.Workspace{Slug: "acme"}
	name, _ := tenantdb.FileName("acme")
	writer, err := sql.Open("sqlite", filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close()
	conn, err := writer.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN EXCLUSIVE"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = r.Row(ctx, acme, "members", nil, 1)
	if elapsed := time.Since(start); err == nil || elapsed > 3*time.Second {
		t.Fatalf("read under an exclusive lock: got %v after %v, want an error within 3s", err, elapsed)
	}
	if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Row(ctx, acme, "members", nil, 1); err != nil {
		t.Errorf("read after the lock was released: %v", err)
	}
}

// TestPostgresPoolHygiene proves that a tenant read leaves nothing on the
// pooled connection: the next user of it, without selecting a schema,
// sees no tenant's tables and no statement timeout.
func TestPostgresPoolHygiene(t *testing.T) {
	url, db := productDatabase(t)
	seed(t, demo.TenantTarget{Postgres: db.Write}, "acme")
	r := open(t, tenantdb.Config{Dialect: tenantdb.Postgres, PostgresURL: url, StatementTimeout: 1500 * time.Millisecond})
	ctx := context.Background()
	acme := tenantdb.Workspace{Slug: "acme"}
	pool, err := r.Pool(acme)
	if err != nil {
		t.Fatal(err)
	}
	pool.SetMaxOpenConns(2)
	const probe = `SELECT count(*) FROM members`

	// The probe can fail: a connection whose search_path leaked sees acme.
	leaky, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer leaky.Close()
	leaky.SetMaxOpenConns(1)
	if _, err := leaky.ExecContext(ctx, `SELECT set_config('search_path', 'ws_acme', false)`); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := leaky.QueryRowContext(ctx, probe).Scan(&n); err != nil || n != 57 {
		t.Fatalf("probe on a leaked session: got %d, %v; want 57 rows", n, err)
	}

	for i := range 10 {
		page, err := r.Rows(ctx, tenantdb.Query{Workspace: acme, Table: "members"})
		if err != nil || len(page.Rows) != 50 {
			t.Fatalf("round %d: tenant read: got %d rows, %v", i, len(page.Rows), err)
		}
		err = pool.QueryRowContext(ctx, probe).Scan(&n)
		if err == nil && n > 0 {
			t.Errorf("round %d: the next user of the pool saw %d acme members", i, n)
		}
		var timeout, path string
		if err := pool.QueryRowContext(ctx, `SELECT current_setting('statement_timeout'), current_setting('search_path')`).Scan(&timeout, &path); err != nil {
			t.Fatal(err)
		}
		if timeout != "0" || strings.Contains(path, "ws_") {
			t.Errorf("round %d: pooled connection kept statement_timeout %q, search_path %q", i, timeout, path)
		}
	}
	if got := pool.Stats().OpenConnections; got > 2 {
		t.Errorf("open connections: got %d, want at most 2", got)
	}
}

func TestWorkspaceWithItsOwnDSN(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		seed(t, b.target, "acme")
		dsn, elsewhere := b.other(t)
		seed(t, elsewhere, "globex")
		r := open(t, b.cfg)
		ctx := context.Background()

		page, err := r.Rows(ctx, tenantdb.Query{Workspace: tenantdb.Workspace{Slug: "globex", DSN: dsn}, Table: "documents", Columns: []string{"body"}})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Rows) == 0 || !strings.Contains(rowText(page.Rows[0]), demo.Canary("globex")) {
			t.Errorf("globex through its DSN: got %v, want rows with globex's canary", page.Rows)
		}
		if _, err := r.Rows(ctx, tenantdb.Query{Workspace: tenantdb.Workspace{Slug: "globex"}, Table: "documents"}); !errors.Is(err, tenantdb.ErrNotFound) {
			t.Errorf("globex without its DSN: got %v, want ErrNotFound", err)
		}
		if _, err := r.Rows(ctx, tenantdb.Query{Workspace: tenantdb.Workspace{Slug: "acme", DSN: dsn}, Table: "documents"}); !errors.Is(err, tenantdb.ErrNotFound) {
			t.Errorf("acme on globex's DSN: got %v, want ErrNotFound", err)
		}
	})
}

func TestSQLitePoolsAreBoundedAndFollowTheFile(t *testing.T) {
	dir := t.TempDir()
	slugs := []string{"acme", "globex", "initech", "umbrella", "hooli"}
	seed(t, demo.TenantTarget{SQLiteDir: dir}, slugs...)
	r := open(t, tenantdb.Config{Dialect: tenantdb.SQLite, SQLiteDir: dir, MaxPools: 2})
	ctx := context.Background()

	errs := make(chan error, 10*len(slugs))
	for range 10 {
		for _, slug := range slugs {
			go func() {
				row, err := r.Row(ctx, tenantdb.Workspace{Slug: slug}, "comments", []string{"body"}, 1)
				if err == nil && !strings.Contains(rowText(row), demo.Canary(slug)) {
					err = errors.New(slug + ": comment 1 without its canary")
				}
				errs <- err
			}()
		}
	}
	for range 10 * len(slugs) {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if got := r.PoolCount(); got > 2 {
		t.Errorf("pools: got %d, want at most 2", got)
	}

	// A deleted workspace file is not read through a pool still holding it.
	acme := tenantdb.Workspace{Slug: "acme"}
	if _, err := r.Row(ctx, acme, "members", nil, 1); err != nil {
		t.Fatal(err)
	}
	name, _ := tenantdb.FileName("acme")
	if err := os.Remove(filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Row(ctx, acme, "members", nil, 1); !errors.Is(err, tenantdb.ErrNotFound) {
		t.Errorf("read after the file was deleted: got %v, want ErrNotFound", err)
	}

	r.Close()
	if _, err := r.Row(ctx, tenantdb.Workspace{Slug: "globex"}, "members", nil, 1); err == nil {
		t.Error("read after Close succeeded")
	}
}

func TestOpenRefusesBadConfig(t *testing.T) {
	cfgs := []tenantdb.Config{
		{},
		{Dialect: "mysql"},
		{Dialect: tenantdb.SQLite, SQLiteDir: "/nonexistent/gatehouse"},
		{Dialect: tenantdb.Postgres, PostgresURL: "postgres://nobody@127.0.0.1:1/none?connect_timeout=2"},
	}
	for _, cfg := range cfgs {
		if r, err := tenantdb.Open(context.Background(), cfg); err == nil {
			r.Close()
			t.Errorf("Open(%+v) succeeded", cfg)
		}
	}
}

func TestTablesMatchTheDemo(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		seed(t, b.target, "pied-piper")
		r := open(t, b.cfg)
		got, err := r.Tables(context.Background(), tenantdb.Workspace{Slug: "pied-piper"})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string][]string{
			"members":   {"id", "name", "email", "role", "last_login_at", "password_hash"},
			"projects":  {"id", "name", "description", "created_at"},
			"documents": {"id", "project_id", "title", "body", "updated_at"},
			"comments":  {"id", "document_id", "author_email", "body", "created_at"},
			"api_keys":  {"id", "name", "token_prefix", "secret"},
			"billing":   {"id", "card_brand", "last4", "processor_customer_id"},
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("tables: got %v, want %v", got, want)
		}
		if _, err := r.Tables(context.Background(), tenantdb.Workspace{Slug: "acme"}); !errors.Is(err, tenantdb.ErrNotFound) {
			t.Errorf("tables of an unseeded workspace: got %v, want ErrNotFound", err)
		}
	})
}

// TestRowsAtCountsAsPosition: RowsAt gives the rows Rows gives and the
// counts Position gives, in one statement, for every kind of page: first,
// later, filtered by ids, capped, past the end and empty.
func TestRowsAtCountsAsPosition(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		seed(t, b.target, "acme")
		r := open(t, b.cfg)
		ctx := context.Background()
		acme := tenantdb.Workspace{Slug: "acme"}
		for _, q := range []tenantdb.Query{
			{Table: "members", Columns: memberCols, CountUpTo: 10000},
			{Table: "members", Columns: memberCols, AfterID: 50, CountUpTo: 10000},
			{Table: "members", Columns: memberCols, Limit: 10, AfterID: 20, CountUpTo: 30},
			{Table: "members", Columns: memberCols, Limit: 10, AfterID: 40, CountUpTo: 30},
			{Table: "documents", IDs: []int64{57, 3, 9999, 1}, AfterID: 2, CountUpTo: 10000},
			{Table: "documents", IDs: []int64{57, 3, 1}, CountUpTo: 2},
			{Table: "documents", AfterID: 9999, CountUpTo: 10000},
			{Table: "documents", IDs: []int64{}, CountUpTo: 10000},
		} {
			q.Workspace = acme
			page, pos, err := r.RowsAt(ctx, q)
			if err != nil {
				t.Fatalf("%+v: %v", q, err)
			}
			wantPage, err := r.Rows(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			wantPos, err := r.Position(ctx, q, q.CountUpTo)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(wantPage, page); diff != "" {
				t.Errorf("%+v: page (-Rows +RowsAt):\n%s", q, diff)
			}
			if pos != wantPos {
				t.Errorf("%+v: got position %+v, want %+v", q, pos, wantPos)
			}
		}
		if _, _, err := r.RowsAt(ctx, tenantdb.Query{Workspace: acme, Table: "members"}); err == nil {
			t.Error("RowsAt without CountUpTo: no error")
		}
	})
}
