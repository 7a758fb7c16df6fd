package demo

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gatehouse/models/internal/sqlitedb"
	"gatehouse/models/internal/tenantdb"

	"github.com/libtnb/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// TenantTarget says where SeedTenants puts the workspaces' own data. Set
// exactly one field.
type TenantTarget struct {
	Postgres  *gorm.DB // the product database: one schema ws_<slug> per workspace
	SQLiteDir string   // a directory: one file per workspace, named by tenantdb.FileName
}

// WorkspaceSlugs returns the slugs of the demo registry, in its order.
func WorkspaceSlugs() []string {
	slugs := make([]string, len(workspaces))
	for i, w := range workspaces {
		slugs[i] = w.slug
	}
	return slugs
}

// Canary returns the string every content and personal row of the
// workspace slug carries (documents, comments, project descriptions,
// member emails), so tests can prove no page shows another workspace's.
func Canary(slug string) string { return "CANARY-" + slug + "-" + canaryTag("canary", slug) }

// RestrictedCanary returns the string every restricted value of the
// workspace slug carries (api_keys.secret, billing.processor_customer_id,
// members.password_hash), so tests can prove none is ever shown.
func RestrictedCanary(slug string) string {
	return "RESTRICTED-" + slug + "-" + canaryTag("restricted", slug)
}

func canaryTag(kind, slug string) string {
	h := sha256.Sum256([]byte(kind + ":" + slug))
	return hex.EncodeToString(h[:4])
}

// SeedTenants creates each workspace's tables and demo rows at t, dated
// relative to now. A workspace whose schema or file exists is left alone.
func SeedTenants(ctx context.Context, t TenantTarget, slugs []string, now time.Time) error {
	if (t.Postgres == nil) == (t.SQLiteDir == "") {
		return errors.New("seed tenants: set exactly one of Postgres and SQLiteDir")
	}
	for _, slug := range slugs {
		var err error
		if t.Postgres != nil {
			err = seedSchema(ctx, t.Postgres, slug, now)
		} else {
			err = seedFile(ctx, t.SQLiteDir, slug, now)
		}
		if err != nil {
			return fmt.Errorf("seed tenant %s: %w", slug, err)
		}
	}
	return nil
}

func seedSchema(ctx context.Context, db *gorm.DB, slug string, now time.Time) error {
	schema, err := tenantdb.SchemaName(slug)
	if err != nil {
		return err
	}
	return db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		// Serialize seeders of one schema (replicas starting together).
		if err := tx.Exec("SELECT pg_advisory_xact_lock(hashtext(?))", schema).Error; err != nil {
			return err
		}
		var n int64
		if err := tx.Raw("SELECT count(*) FROM pg_namespace WHERE nspname = ?", schema).Scan(&n).Error; err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		if err := tx.Exec(`CREATE SCHEMA "` + schema + `"`).Error; err != nil {
			return err
		}
		if err := tx.Exec("SELECT set_config('search_path', ?, true)", schema).Error; err != nil {
			return err
		}
		return fillTenant(tx, "TIMESTAMPTZ", slug, now)
	})
}

// seedFile builds the workspace's file under a temporary name and renames
// it into place, so a half-seeded file is never taken for a finished one.
func seedFile(ctx context.Context, dir, slug string, now time.Time) error {
	name, err := tenantdb.FileName(slug)
	if err != nil {
		return err
	}
	path := filepath.Join(dir, name)
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	tmp := path + ".seeding"
	os.Remove(tmp)
	os.Remove(tmp + "-journal")
	conn, err := sqlitedb.Open(tmp+"?_pragma=foreign_keys(1)&_pragma=busy_timeout(5000)", 0)
	if err != nil {
		return err
	}
	db, err := gorm.Open(sqlite.New(sqlite.Config{Conn: conn}), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		conn.Close()
		return err
	}
	err = db.WithContext(ctx).Transaction(func(tx *gorm.DB) error { return fillTenant(tx, "TIMESTAMP", slug, now) })
	if sqlDB, e := db.DB(); e == nil {
		err = errors.Join(err, sqlDB.Close())
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}

// fillTenant creates the tenant tables in the current schema and inserts rows.
func fillTenant(tx *gorm.DB, timestamp, slug string, now time.Time) error {
	rows := tenantRows(slug, now)
	for _, t := range tenantTables {
		ddl := strings.ReplaceAll(t.ddl, "TIMESTAMP", timestamp)
		if err := tx.Exec("CREATE TABLE " + t.name + " (" + ddl + ")").Error; err != nil {
			return fmt.Errorf("create %s: %w", t.name, err)
		}
		if err := insertRows(tx, t.name, ddlColumns(t.ddl), rows[t.name]); err != nil {
			return fmt.Errorf("fill %s: %w", t.name, err)
		}
	}
	return nil
}

// insertRows adds rows in multi-row statements of at most 100 rows.
func insertRows(tx *gorm.DB, table string, columns []string, rows [][]any) error {
	one := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(columns)), ", ") + ")"
	for len(rows) > 0 {
		n := min(len(rows), 100)
		var args []any
		for _, row := range rows[:n] {
			args = append(args, row...)
		}
		stmt := "INSERT INTO " + table + " (" + strings.Join(columns, ", ") + ") VALUES " +
			strings.TrimSuffix(strings.Repeat(one+", ", n), ", ")
		if err := tx.Exec(stmt, args...).Error; err != nil {
			return err
		}
		rows = rows[n:]
	}
	return nil
}

// tenantSeed derives a workspace's deterministic random seed from its slug.
func tenantSeed(slug string) (uint64, uint64) {
	h := sha256.Sum256([]byte("demo-tenant:" + slug))
	return binary.BigEndian.Uint64(h[:8]), binary.BigEndian.Uint64(h[8:16])
}

// tenantTables are the product's per-workspace tables as the demo makes
// them. members.password_hash is in no catalog: it proves that a column
// nobody classified stays hidden.
var tenantTables = []struct{ name, ddl string }{
	{"members", "id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL, role TEXT NOT NULL, last_login_at TIMESTAMP, password_hash TEXT NOT NULL"},
	{"projects", "id INTEGER PRIMARY KEY, name TEXT NOT NULL, description TEXT NOT NULL, created_at TIMESTAMP NOT NULL"},
	{"documents", "id INTEGER PRIMARY KEY, project_id INTEGER NOT NULL REFERENCES projects (id), title TEXT NOT NULL, body TEXT NOT NULL, updated_at TIMESTAMP NOT NULL"},
	{"comments", "id INTEGER PRIMARY KEY, document_id INTEGER NOT NULL REFERENCES documents (id), author_email TEXT NOT NULL, body TEXT NOT NULL, created_at TIMESTAMP NOT NULL"},
	{"api_keys", "id INTEGER PRIMARY KEY, name TEXT NOT NULL, token_prefix TEXT NOT NULL, secret TEXT NOT NULL"},
	{"billing", "id INTEGER PRIMARY KEY, card_brand TEXT NOT NULL, last4 TEXT NOT NULL, processor_customer_id TEXT NOT NULL"},
}

// ddlColumns returns the column names of a table's DDL, in order.
func ddlColumns(ddl string) []string {
	var cols []string
	for _, def := range strings.Split(ddl, ", ") {
		cols = append(cols, strings.Fields(def)[0])
	}
	return cols
}

// tenantWords are what the demo's fake content is made of.
var tenantWords = struct {
	first, last, projects, titles, sentences, remarks, keys, cards []string
}{
	first:     []string{"Maria", "Jonas", "Aiko", "Samuel", "Priya", "Lukas", "Fatima", "Diego", "Hannah", "Kwame", "Elena", "Tomasz", "Mei", "Oliver", "Amara", "Noah", "Ingrid", "Rafael", "Yusuf", "Chloe"},
	last:      []string{"Lopez", "Berg", "Tanaka", "Okafor", "Sharma", "Weber", "Haddad", "Silva", "Novak", "Mensah", "Rossi", "Kowalski", "Chen", "Brennan", "Diallo", "Fischer", "Larsen", "Costa", "Demir", "Martin"},
	projects:  []string{"Website relaunch", "Q3 roadmap", "Mobile app", "Onboarding revamp", "Data migration", "Partner portal", "Hiring plan", "Security review", "Pricing experiment", "Support playbook"},
	titles:    []string{"Kickoff notes", "Requirements", "Design review", "Launch checklist", "Retrospective", "Meeting minutes", "Budget draft", "Risk register", "Customer interviews", "Weekly status"},
	sentences: []string{"We agreed to ship the first milestone before the end of the month.", "Open questions are tracked in the appendix.", "The vendor shortlist is down to three.", "Legal still has to review the new terms.", "Numbers below are estimates, not commitments."},
	remarks:   []string{"Looks good to me.", "Can we move this to next sprint?", "Added the missing figures.", "Please double-check the dates.", "Approved, thanks!", "Who owns this item?"},
	keys:      []string{"CI deploy", "Zapier sync", "Analytics export", "Slack bot", "Backup job", "Billing webhook", "Status page", "Data warehouse"},
	cards:     []string{"visa", "mastercard", "amex"},
}

// memberRows is how many members the demo gives slug: the registry's
// count, at most 120; acme has more than one 50-row page of them.
func memberRows(slug string) int {
	if slug == "acme" {
		return 57
	}
	for _, w := range workspaces {
		if w.slug == slug {
			return max(1, min(w.members, 120))
		}
	}
	return 10
}

// tenantRows returns the demo rows of slug by table, ids 1..n. The same slug
// always gets the same rows, apart from dates relative to now.
func tenantRows(slug string, now time.Time) map[string][][]any {
	// #nosec G404 -- demo rows are deterministic per slug on purpose; no secret comes from this generator
	g := &tenantGen{rng: rand.New(rand.NewPCG(tenantSeed(slug))), now: now.UTC()}
	canary, restricted := Canary(slug), RestrictedCanary(slug)
	out := map[string][][]any{}
	add := func(table string, row ...any) { out[table] = append(out[table], row) }

	n := memberRows(slug)
	emails := make([]string, n)
	for i := range n {
		first, last := g.pick(tenantWords.first), g.pick(tenantWords.last)
		emails[i] = strings.ToLower(first+"."+last) + "+" + canary + "@" + slug + ".example"
		role := "member"
		switch {
		case i == 0:
			role = "owner"
		case i < 3:
			role = "admin"
		case g.rng.IntN(5) == 0:
			role = "guest"
		}
		var login any = g.ago(90)
		if g.rng.IntN(8) == 0 {
			login = nil // never logged in
		}
		hash := "$argon2id$v=19$m=65536,t=3,p=4$" + restricted + "$" + g.hex(16)
		add("members", i+1, first+" "+last, emails[i], role, login, hash)
	}
	np := max(2, min(n/3, 40))
	for i := range np {
		name := tenantWords.projects[i%len(tenantWords.projects)]
		if i >= len(tenantWords.projects) {
			name = fmt.Sprintf("%s %d", name, i/len(tenantWords.projects)+1)
		}
		desc := fmt.Sprintf("Planning space for %s. Internal reference %s.", strings.ToLower(name), canary)
		add("projects", i+1, name, desc, g.ago(365))
	}
	nd := max(3, min(n, 120))
	for i := range nd {
		body := g.pick(tenantWords.sentences) + " " + g.pick(tenantWords.sentences) + " Reference " + canary + "."
		add("documents", i+1, 1+g.rng.IntN(np), g.pick(tenantWords.titles), body, g.ago(60))
	}
	for i := range max(5, min(2*n, 120)) {
		body := g.pick(tenantWords.remarks) + " (" + canary + ")"
		add("comments", i+1, 1+g.rng.IntN(nd), emails[g.rng.IntN(n)], body, g.ago(30))
	}
	for i := range min(1+n/15, len(tenantWords.keys)) {
		add("api_keys", i+1, tenantWords.keys[i], "gh_live_"+g.hex(2), "sk_live_"+restricted+"_"+g.hex(12))
	}
	for i := range min(1+n/50, 3) {
		last4 := fmt.Sprintf("%04d", g.rng.IntN(10000))
		add("billing", i+1, g.pick(tenantWords.cards), last4, fmt.Sprintf("cus_%s_%02d", restricted, i+1))
	}
	return out
}

// tenantGen draws a workspace's demo values from its own random sequence.
type tenantGen struct {
	rng *rand.Rand
	now time.Time
}

func (g *tenantGen) pick(list []string) string { return list[g.rng.IntN(len(list))] }

// ago returns a time up to days before now, to the second.
func (g *tenantGen) ago(days int) time.Time {
	return g.now.Add(-time.Duration(1+g.rng.IntN(days*24*60)) * time.Minute).Truncate(time.Second)
}

// hex returns n random bytes in hex, for fake secrets.
func (g *tenantGen) hex(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(g.rng.UintN(256)) // #nosec G115 -- UintN(256) is below 256
	}
	return hex.EncodeToString(b)
}
