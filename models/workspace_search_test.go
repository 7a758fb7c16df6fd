package models_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/dbtest"
	"gatehouse/models/demo"
	"gatehouse/policy"

	"gorm.io/gorm"
)

// TestWorkspaceSearch checks the workspace search against the demo
// registry on each engine: a substring of the name, the slug or an
// owner's email, in any case, with LIKE's wildcards and FTS5's quotes
// taken literally; the index kept in step as the registry changes; a
// search shorter than 3 characters refused; and on PostgreSQL, each arm
// of the search read from its trigram index.
func TestWorkspaceSearch(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		now := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
		if err := demo.SeedProduct(ctx, db.Write, now); err != nil {
			t.Fatal(err)
		}
		list := models.WorkspaceList{DB: db.Read, Product: db.Read, Now: now, Policy: models.DefaultRetentionPolicy()}
		search := func(q string) ([]string, error) {
			t.Helper()
			p, n, err := list.Page(ctx, models.WorkspaceFilter{Query: q}, models.Keyset{Sort: models.WorkspaceSorts[1], Limit: 100})
			if err != nil {
				return nil, err
			}
			var slugs []string
			for _, w := range p.Rows {
				slugs = append(slugs, w.Slug)
			}
			if n.N != int64(len(slugs)) {
				t.Errorf("search %q counted %+v, listed %d", q, n, len(slugs))
			}
			ws, err := models.SearchWorkspaces(ctx, db.Read, policy.Scope{}, q, 100)
			if err != nil {
				t.Fatal(err)
			}
			var again []string
			for _, w := range ws {
				again = append(again, w.Slug)
			}
			if !slices.Equal(again, slugs) {
				t.Errorf("SearchWorkspaces(%q) = %v, the list %v", q, again, slugs)
			}
			return slugs, nil
		}
		check := func(q string, want ...string) {
			t.Helper()
			got, err := search(q)
			if err != nil {
				t.Fatalf("search %q: %v", q, err)
			}
			if !slices.Equal(got, want) {
				t.Errorf("search %q = %v, want %v", q, got, want)
			}
		}
		check("acme", "acme")
		check("CORPORATION", "acme")
		check("cme Corp", "acme")
		check("dyn", "cyberdyne", "massive")
		check("black-m", "black-mesa")
		check("pepper@", "stark")
		check("hooli.EXAMPLE", "hooli")
		check("piedpiper.ex", "pied-piper")
		check("%%%")
		check("a_m")
		check(`e"s`)
		check(`"acme"`)
		check("zzzz")

		for _, q := range []string{"ac", "é", "%", " a "} {
			if _, err := search(q); !errors.Is(err, models.ErrSearchTooShort) {
				t.Errorf("search %q: %v, want ErrSearchTooShort", q, err)
			}
		}

		// The index follows the registry: a new workspace and owner, a
		// renamed one, an owner removed.
		w := models.Workspace{Slug: "zephyr", Name: "Zephyr Analytics", Plan: "team", Status: models.WorkspaceActive, SubscriptionState: "active", CreatedAt: now}
		if err := db.Write.Create(&w).Error; err != nil {
			t.Fatal(err)
		}
		if err := db.Write.Create(&models.WorkspaceOwner{Slug: "zephyr", Email: "quinn@zephyr.example"}).Error; err != nil {
			t.Fatal(err)
		}
		check("analytics", "zephyr")
		check("quinn@", "zephyr")
		if err := db.Write.Model(&models.Workspace{}).Where("slug = ?", "zephyr").Update("name", "Boreas Metrics").Error; err != nil {
			t.Fatal(err)
		}
		check("analytics")
		check("boreas", "zephyr")
		if err := db.Write.Where("slug = ? AND email = ?", "zephyr", "quinn@zephyr.example").Delete(&models.WorkspaceOwner{}).Error; err != nil {
			t.Fatal(err)
		}
		check("quinn@")

		if db.Dialect == models.Postgres {
			// Enough rows that the plan means something, and no sequential
			// scan allowed where an index can serve.
			if err := db.Write.Exec(`INSERT INTO workspaces (slug, name, plan, status, member_count, created_at, subscription_state)
SELECT 'ws-' || md5(g::text), 'Company ' || md5((g + 1)::text), 'team', 'active', 1, now(), 'active' FROM generate_series(1, 5000) g`).Error; err != nil {
				t.Fatal(err)
			}
			if err := db.Write.Exec(`INSERT INTO workspace_owners (slug, email) SELECT 'ws-' || md5(g::text), md5((g + 2)::text) || '@example.com' FROM generate_series(1, 5000) g`).Error; err != nil {
				t.Fatal(err)
			}
			// VACUUM moves the GIN indexes' pending entries into the index
			// proper, as autovacuum would on a live registry.
			for _, table := range []string{"workspaces", "workspace_owners"} {
				if err := db.Write.Exec("VACUUM ANALYZE " + table).Error; err != nil {
					t.Fatal(err)
				}
			}
			var plan []string
			// The statement models.workspaceSearch sends, with a value.
			if err := db.Write.Connection(func(tx *gorm.DB) error {
				if err := tx.Exec("SET enable_seqscan = off").Error; err != nil {
					return err
				}
				defer tx.Exec("RESET enable_seqscan")
				return tx.Raw(`EXPLAIN SELECT slug FROM workspaces WHERE name ILIKE '%boreas%' ESCAPE '\'
UNION SELECT slug FROM workspaces WHERE slug ILIKE '%boreas%' ESCAPE '\'
UNION SELECT slug FROM workspace_owners WHERE email ILIKE '%boreas%' ESCAPE '\'`).Scan(&plan).Error
			}); err != nil {
				t.Fatal(err)
			}
			text := strings.Join(plan, "\n")
			for _, idx := range []string{"workspaces_name_trgm", "workspaces_slug_trgm", "workspace_owners_email_trgm"} {
				if !strings.Contains(text, idx) || strings.Contains(text, "Seq Scan") {
					t.Errorf("the search does not read %s:\n%s", idx, text)
				}
			}
			check("boreas", "zephyr")

			// Asked for a rare word of the text, with the whole text
			// tested on the rows holding it, the search finds the same.
			sampled := list
			sampled.Sample = &models.SearchSample{Product: db.Read}
			for _, q := range []string{"cme Corp", "pepper@stark", "Hooli.EXAMPLE", "piedpiper.ex", "boreas metrics", "company 1679", "ws-c4ca42"} {
				k := models.Keyset{Sort: models.WorkspaceSorts[1], Limit: 100}
				whole, n, err := list.Page(ctx, models.WorkspaceFilter{Query: q}, k)
				if err != nil {
					t.Fatal(err)
				}
				narrowed, m, err := sampled.Page(ctx, models.WorkspaceFilter{Query: q}, k)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.EqualFunc(whole.Rows, narrowed.Rows, func(a, b models.Workspace) bool { return a.Slug == b.Slug }) || n != m {
					t.Errorf("search %q with a sample: %d rows (%+v), without: %d (%+v)", q, len(narrowed.Rows), m, len(whole.Rows), n)
				}
			}
		}
	})
}

// TestWorkspaceSearchCommonWord: a search that matches thousands of
// workspaces (by name, slug or owner) lists the same pages as reading
// every match and sorting them, in each order, forwards and back and
// with a filter; counts "more than SearchCountCap"; and reads no table
// from end to end to do so: on SQLite it walks the sort's index for a
// common text and reads a rare one's matches from the trigram tables.
func TestWorkspaceSearchCommonWord(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		pg := db.Dialect == models.Postgres
		ctx := context.Background()
		now := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
		if err := demo.SeedProduct(ctx, db.Write, now); err != nil {
			t.Fatal(err)
		}
		// 6,000 workspaces: a third named "Harbor …", a third with an
		// owner at harbor.example (and one of those also named so), the
		// rest matching neither; plans and sizes varied so that each
		// order and filter has ties and gaps.
		fill := []string{
			`INSERT INTO workspaces (slug, name, plan, region, status, member_count, created_at, subscription_state)
SELECT 'ws-' || g, CASE WHEN g % 3 = 0 THEN 'Harbor ' ELSE 'Company ' END || md5(g::text),
       (ARRAY['free','team','business','enterprise'])[1 + g % 4], 'eu', 'active', g % 17, ?::timestamp - (g % 500) * interval '1 hour', 'active'
FROM generate_series(1, 6000) g`,
			`INSERT INTO workspace_owners (slug, email) SELECT 'ws-' || g, CASE WHEN g % 3 = 1 OR g % 300 = 0 THEN 'o' || g || '@harbor.example' ELSE md5(g::text) || '@example.com' END FROM generate_series(1, 6000) g`,
			"VACUUM ANALYZE workspaces", "VACUUM ANALYZE workspace_owners",
		}
		// A text in one workspace's name alone: md5('1') on PostgreSQL,
		// and on SQLite, which has no md5, the same kind of hex word.
		rare := "c4ca4238a0b923820dcc509a6f75849b"
		if !pg {
			const series = "WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < 6000) "
			const hex = "printf('%08x%08x', (g * 2654435761) % 4294967296, (g * 40503) % 4294967296)"
			fill = []string{
				series + `INSERT INTO workspaces (slug, name, plan, region, status, member_count, created_at, subscription_state)
SELECT 'ws-' || g, CASE WHEN g % 3 = 0 THEN 'Harbor ' ELSE 'Company ' END || ` + hex + `,
       CASE g % 4 WHEN 0 THEN 'free' WHEN 1 THEN 'team' WHEN 2 THEN 'business' ELSE 'enterprise' END, 'eu', 'active', g % 17,
       datetime(?, '-' || (g % 500) || ' hours') || '+00:00', 'active'
FROM s`,
				series + `INSERT INTO workspace_owners (slug, email) SELECT 'ws-' || g, CASE WHEN g % 3 = 1 OR g % 300 = 0 THEN 'o' || g || '@harbor.example' ELSE ` + hex + ` || '@example.com' END FROM s`,
			}
			rare = "9e3779b100009e37"
		}
		for _, stmt := range fill {
			args := []any{}
			if strings.Contains(stmt, "?") {
				args = append(args, now)
			}
			if err := db.Write.Exec(stmt, args...).Error; err != nil {
				t.Fatal(err)
			}
		}
		var seen statements
		traced := db.Read.Session(&gorm.Session{Logger: &seen})
		// The sample narrows "o3001@harbor" to o3001, a word in a few rows
		// (o300@harbor's o300 is in eleven, ten of them not matching).
		list := models.WorkspaceList{DB: traced, Product: traced, Now: now, Policy: models.DefaultRetentionPolicy(),
			Sample: &models.SearchSample{Product: db.Read}}

		// want is every match in order: the oracle the pages must equal.
		want := func(f models.WorkspaceFilter, sort models.SortKey, desc bool) []string {
			t.Helper()
			dir := " ASC"
			if desc {
				dir = " DESC"
			}
			like := "%" + strings.ToLower(f.Query) + "%"
			q := db.Read.Model(&models.Workspace{}).
				Where("LOWER(name) LIKE ? OR LOWER(slug) LIKE ? OR slug IN (SELECT slug FROM workspace_owners WHERE LOWER(email) LIKE ?)", like, like, like)
			if f.Plan != "" {
				q = q.Where("plan = ?", f.Plan)
			}
			var slugs []string
			if err := q.Order(sort.Column+dir).Order("slug"+dir).Pluck("slug", &slugs).Error; err != nil {
				t.Fatal(err)
			}
			return slugs
		}
		slugsOf := func(p models.Page[models.Workspace]) []string {
			var out []string
			for _, w := range p.Rows {
				out = append(out, w.Slug)
			}
			return out
		}
		for _, f := range []models.WorkspaceFilter{{Query: "harbor"}, {Query: "HARBOR", Plan: "enterprise"}, {Query: rare}, {Query: "o3001@harbor"}, {Query: "O300@Harbor"}} {
			for _, sort := range models.WorkspaceSorts {
				for _, desc := range []bool{false, true} {
					all := want(f, sort, desc)
					k := models.Keyset{Sort: sort, Desc: desc, Limit: 50}
					var pages []models.Page[models.Workspace]
					var got []string
					for i := 0; ; i++ {
						p, n, err := list.Page(ctx, f, k)
						if err != nil {
							t.Fatal(err)
						}
						// Every page counts the same: the first from
						// its arms' reads, the others apart.
						wantN := models.Count{N: int64(len(all))}
						if len(all) > models.SearchCountCap {
							wantN = models.Count{N: models.SearchCountCap, Capped: true}
						}
						if n != wantN {
							t.Errorf("%+v by %s, page %d: counted %+v, want %+v", f, sort.Name, i+1, n, wantN)
						}
						pages = append(pages, p)
						got = append(got, slugsOf(p)...)
						if p.Next == nil || i > 3 {
							break
						}
						k.After, k.Before = p.Next, nil
					}
					if len(all) > len(got) {
						all = all[:len(got)]
					}
					if !slices.Equal(got, all) {
						i := 0
						for i < min(len(got), len(all)) && got[i] == all[i] {
							i++
						}
						t.Fatalf("%+v by %s desc=%v: listed %d, want %d; from row %d: %v, want %v", f, sort.Name, desc,
							len(got), len(all), i, got[i:min(i+3, len(got))], all[i:min(i+3, len(all))])
					}
					if len(pages) > 1 {
						last := pages[len(pages)-1]
						k.After, k.Before = nil, last.Prev
						back, _, err := list.Page(ctx, f, k)
						if err != nil {
							t.Fatal(err)
						}
						if !slices.Equal(slugsOf(back), slugsOf(pages[len(pages)-2])) {
							t.Errorf("%+v by %s desc=%v: the page before the last is not the one read on the way", f, sort.Name, desc)
						}
					}
				}
			}
		}

		// No statement of the search reads a whole table: each arm is
		// read from the trigram indexes or along the sort's index.
		if len(seen.sql) < 10 {
			t.Fatalf("traced %d statements", len(seen.sql))
		}
		if !pg {
			searchPlansSQLite(t, db, seen.sql)
			return
		}
		for _, narrowed := range []string{"(name || '') ILIKE '%o3001@harbor%'", "(o.email || '') ILIKE '%o3001@harbor%'"} {
			if !slices.ContainsFunc(seen.sql, func(sql string) bool { return strings.Contains(sql, narrowed) }) {
				t.Errorf("no search asked an index for a rare word alone, testing %s", narrowed)
			}
		}
		for _, sql := range seen.sql {
			var plan []string
			err := db.Write.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
				if err := tx.Exec("SET LOCAL enable_seqscan = off").Error; err != nil {
					return err
				}
				return tx.Raw("EXPLAIN " + sql).Scan(&plan).Error
			})
			if err != nil {
				t.Fatalf("%s: %v", sql, err)
			}
			if text := strings.Join(plan, "\n"); strings.Contains(text, "Seq Scan") {
				t.Errorf("%s reads a table from end to end:\n%s", sql, text)
			}
		}
	})
}

// searchPlansSQLite checks the statements a search ran on SQLite: the
// common texts walked an index in the list's order (LIKE), the rare ones
// read their matches from the trigram tables (MATCH), and no statement
// scans a table without an index.
func searchPlansSQLite(t *testing.T, db *models.DB, sqls []string) {
	t.Helper()
	var walked, matched bool
	for _, sql := range sqls {
		walked = walked || strings.Contains(sql, "name LIKE '%harbor%'") || strings.Contains(sql, "o.email LIKE '%harbor%'")
		matched = matched || strings.Contains(sql, "MATCH '\"o3001@harbor\"'")
		plan := sqlitePlan(t, db, sql)
		for _, step := range plan {
			if step == "SCAN workspaces" || step == "SCAN workspace_owners" || step == "SCAN o" {
				t.Errorf("%s reads a table from end to end:\n%q", sql, plan)
			}
		}
	}
	if !walked {
		t.Error("no search for a common text walked an index")
	}
	if !matched {
		t.Error("no search for a rare text read its matches from the trigram tables")
	}
}

// sqlitePlan is SQLite's plan of sql, one step per line of EXPLAIN QUERY
// PLAN.
func sqlitePlan(t *testing.T, db *models.DB, sql string) []string {
	t.Helper()
	var rows []struct{ Detail string }
	if err := db.Read.Raw("EXPLAIN QUERY PLAN " + sql).Scan(&rows).Error; err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	plan := make([]string, len(rows))
	for i, r := range rows {
		plan[i] = strings.TrimSpace(r.Detail)
	}
	return plan
}
