package demo_test

import (
	"context"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/dbtest"
	"gatehouse/models/demo"
	"gatehouse/models/internal/tenantdb"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// eachTarget runs fn with an empty tenant target and a reader of it, on
// SQLite and, when GATEHOUSE_TEST_PG is set, on PostgreSQL.
func eachTarget(t *testing.T, fn func(t *testing.T, target demo.TenantTarget, r *tenantdb.Reader)) {
	run := func(t *testing.T, target demo.TenantTarget, cfg tenantdb.Config) {
		r, err := tenantdb.Open(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		fn(t, target, r)
	}
	t.Run("sqlite", func(t *testing.T) {
		dir := t.TempDir()
		run(t, demo.TenantTarget{SQLiteDir: dir}, tenantdb.Config{Dialect: models.SQLite, SQLiteDir: dir})
	})
	t.Run("postgres", func(t *testing.T) {
		url := dbtest.NewPostgresDatabase(t)
		db, err := models.Open(context.Background(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		run(t, demo.TenantTarget{Postgres: db.Write}, tenantdb.Config{Dialect: models.Postgres, PostgresURL: url})
	})
}

// dump reads every column of every table of slug: table → rows → values.
func dump(t *testing.T, r *tenantdb.Reader, slug string) map[string][][]string {
	t.Helper()
	ctx := context.Background()
	ws := tenantdb.Workspace{Slug: slug}
	tables, err := r.Tables(ctx, ws)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][][]string{}
	for table, cols := range tables {
		q := tenantdb.Query{Workspace: ws, Table: table, Columns: cols}
		for {
			page, err := r.Rows(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			for _, row := range page.Rows {
				var vals []string
				for _, v := range row.Values {
					vals = append(vals, v.Text)
				}
				out[table] = append(out[table], vals)
			}
			if !page.HasNext {
				break
			}
			q.AfterID = page.Rows[len(page.Rows)-1].ID
		}
	}
	return out
}

func TestSeedTenants(t *testing.T) {
	eachTarget(t, func(t *testing.T, target demo.TenantTarget, r *tenantdb.Reader) {
		slugs := []string{"acme", "globex", "pied-piper", "nakatomi"}
		if err := demo.SeedTenants(context.Background(), target, slugs, now); err != nil {
			t.Fatal(err)
		}
		for _, slug := range slugs {
			data := dump(t, r, slug)
			canary, restricted := demo.Canary(slug), demo.RestrictedCanary(slug)
			for table, rows := range data {
				if len(rows) == 0 {
					t.Errorf("%s.%s: no rows", slug, table)
				}
				for i, row := range rows {
					if row[0] != strconv.Itoa(i+1) {
						t.Errorf("%s.%s row %d: id %s, want ids 1..n", slug, table, i+1, row[0])
					}
					text := strings.Join(row, " ")
					secret := table == "api_keys" || table == "billing"
					if strings.Contains(text, canary) == secret || strings.Contains(text, restricted) != (secret || table == "members") {
						t.Errorf("%s.%s row %d: %q: want %s only in content and personal rows, %s in restricted rows and password hashes",
							slug, table, i+1, text, canary, restricted)
					}
				}
			}
			for i, m := range data["members"] {
				if !strings.Contains(m[5], restricted) || strings.Contains(strings.Join(m[:5], " "), restricted) {
					t.Errorf("%s member %d: restricted canary outside password_hash: %q", slug, i+1, m)
				}
			}
		}
		acme, globex := dump(t, r, "acme"), dump(t, r, "globex")
		if got := len(acme["members"]); got <= 50 {
			t.Errorf("acme members: got %d, want more than one 50-row page", got)
		}
		if got := len(globex["comments"]); got < 100 {
			t.Errorf("globex comments: got %d, want at least 100", got)
		}
	})
}

func TestSeedTenantsIsIdempotent(t *testing.T) {
	eachTarget(t, func(t *testing.T, target demo.TenantTarget, r *tenantdb.Reader) {
		ctx := context.Background()
		if err := demo.SeedTenants(ctx, target, []string{"acme"}, now); err != nil {
			t.Fatal(err)
		}
		before := dump(t, r, "acme")
		if err := demo.SeedTenants(ctx, target, []string{"acme", "globex"}, now.Add(48*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if after := dump(t, r, "acme"); !reflect.DeepEqual(after, before) {
			t.Error("a second seed changed acme's data")
		}
		if got := len(dump(t, r, "globex")); got != 6 {
			t.Errorf("globex after the second seed: got %d tables, want 6", got)
		}
	})
}

func TestSeedTenantsRefusesBadInput(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name   string
		target demo.TenantTarget
		slug   string
	}{
		{"no target", demo.TenantTarget{}, "acme"},
		{"two targets", demo.TenantTarget{SQLiteDir: dir, Postgres: dbtest.SQLite(t).Write}, "acme"},
		{"path in slug", demo.TenantTarget{SQLiteDir: dir}, "../x"},
		{"quote in slug", demo.TenantTarget{SQLiteDir: dir}, `a"b`},
	}
	for _, tt := range tests {
		if err := demo.SeedTenants(context.Background(), tt.target, []string{tt.slug}, now); err == nil {
			t.Errorf("%s: seeding succeeded", tt.name)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("files created: got %d, want 0", len(entries))
	}
}

var canaryPattern = regexp.MustCompile(`^CANARY-[a-z0-9-]+-[0-9a-f]{8}$`)

func TestCanaries(t *testing.T) {
	seen := map[string]string{}
	slugs := demo.WorkspaceSlugs()
	if len(slugs) < 20 {
		t.Errorf("demo workspaces: got %d, want at least 20", len(slugs))
	}
	for _, slug := range slugs {
		for _, c := range []string{demo.Canary(slug), demo.RestrictedCanary(slug)} {
			if prev, ok := seen[c]; ok {
				t.Errorf("canary %s of %s is also %s's", c, slug, prev)
			}
			seen[c] = slug
		}
		if c := demo.Canary(slug); !canaryPattern.MatchString(c) || !strings.Contains(c, "-"+slug+"-") {
			t.Errorf("Canary(%s) = %q, want CANARY-%s-<8 hex digits>", slug, c, slug)
		}
	}
	for a := range seen {
		for b := range seen {
			if a != b && strings.Contains(a, b) {
				t.Errorf("canary %s contains canary %s", a, b)
			}
		}
	}
}
