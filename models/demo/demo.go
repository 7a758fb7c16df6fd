// Package demo creates the demo data of `gatehouse serve --dev` and of the
// tests: the demo staff in the portal database, and a product database
// with a registry of workspaces in mixed states.
package demo

import (
	"context"
	"fmt"
	"time"

	"gatehouse/models"
	"gatehouse/policy"

	"gorm.io/gorm"
)

// AgreementVersion is the confidentiality agreement version the demo staff
// signed; the dev configuration treats it as current.
const AgreementVersion = "2026-1"

// Domain is the company domain of the demo staff.
const Domain = "example.com"

// StaffMember is one demo staff member.
type StaffMember struct {
	Email       string
	Name        string
	Tier        policy.Tier
	Status      models.Status
	NoAgreement bool   // has not signed the confidentiality agreement
	Scope       string // which workspaces they may touch (policy.ParseScope)
}

// Staff are the demo staff, in the order the login page lists them.
var Staff = []StaffMember{
	{Email: "sam.support@example.com", Name: "Sam Support", Tier: policy.TierSupport},
	{Email: "sara.senior@example.com", Name: "Sara Senior", Tier: policy.TierSenior},
	{Email: "sean.senior@example.com", Name: "Sean Senior", Tier: policy.TierSenior},
	{Email: "ada.sysadmin@example.com", Name: "Ada Sysadmin", Tier: policy.TierSysadmin},
	{Email: "otto.sysadmin@example.com", Name: "Otto Sysadmin", Tier: policy.TierSysadmin},
	{Email: "aud.auditor@example.com", Name: "Aud Auditor", Tier: policy.TierAuditor},
	{Email: "eve.engineer@example.com", Name: "Eve Engineer", Tier: policy.TierEngineer},
	{Email: "nina.newhire@example.com", Name: "Nina Newhire", Tier: policy.TierSenior, NoAgreement: true},
	{Email: "lee.leaver@example.com", Name: "Lee Leaver", Tier: policy.TierSupport, Status: models.StatusOffboarded},
	{Email: "bill.billing@example.com", Name: "Bill Billing", Tier: BillingSupport.Name},
	{Email: "eu.support@example.com", Name: "Elsa EU-Support", Tier: policy.TierSupport, Scope: "region=eu"},
}

// BillingSupport is the demo's custom role: it sees a workspace's
// general information, subscription state included, and nothing else —
// no customer content, no requests.
var BillingSupport = policy.RoleDef{
	Name:        "billing-support",
	Description: "Answers billing questions: sees a workspace's plan and subscription state, no customer content and no requests.",
	Permissions: []policy.Permission{policy.PortalEnter, policy.WorkspaceMetaRead},
}

// Roles are the demo's custom roles, created before the staff who hold them.
var Roles = []policy.RoleDef{BillingSupport}

// SeedStaff adds the demo roles and staff that do not exist yet.
func SeedStaff(ctx context.Context, db *models.DB, now time.Time) error {
	by := models.Actor{Email: "demo-seed", Tier: "system"}
	for _, r := range Roles {
		if _, err := models.FindRole(ctx, db.Write, string(r.Name)); err == nil {
			continue
		}
		if _, err := models.CreateRole(ctx, db.Write, models.Act{Now: now, By: by}, r); err != nil {
			return err
		}
	}
	for _, m := range Staff {
		if _, err := models.FindStaffByEmail(ctx, db.Write, m.Email); err == nil {
			continue
		}
		s, err := models.CreateStaff(ctx, db.Write, now, by, models.Staff{Email: m.Email, Name: m.Name, Tier: m.Tier, Scope: m.Scope})
		if err != nil {
			return err
		}
		if !m.NoAgreement {
			signed := now.AddDate(0, -2, 0)
			if err := models.RecordAgreement(ctx, db.Write, models.Act{Now: now, By: by}, s.ID, AgreementVersion, signed); err != nil {
				return err
			}
			if err := models.RecordTraining(ctx, db.Write, models.Act{Now: now, By: by}, s.ID, signed); err != nil {
				return err
			}
		}
		if m.Status == models.StatusOffboarded {
			if err := models.Offboard(ctx, db.Write, models.Act{Now: now, By: by}, s.ID, "left the company (demo)"); err != nil {
				return err
			}
		}
	}
	return nil
}

// productSchema is the part of the product's database Gatehouse reads:
// each statement creates the table, index or other object it names, on
// the engine it names ("" for both); exists tells whether it is there.
var productSchema = []struct {
	dialect, table, index, exists, stmt string
}{
	{"", "workspaces", "", "", `CREATE TABLE IF NOT EXISTS workspaces (
		slug TEXT PRIMARY KEY,
		name TEXT NOT NULL,
		plan TEXT NOT NULL,
		region TEXT NOT NULL DEFAULT '',
		status TEXT NOT NULL,
		member_count INTEGER NOT NULL,
		created_at TIMESTAMP NOT NULL,
		last_login_at TIMESTAMP,
		cancelled_at TIMESTAMP,
		subscription_state TEXT NOT NULL,
		renewal_date TIMESTAMP,
		dsn TEXT NOT NULL DEFAULT ''
	)`},
	{"", "workspace_owners", "", "", `CREATE TABLE IF NOT EXISTS workspace_owners (
		slug TEXT NOT NULL REFERENCES workspaces (slug),
		email TEXT NOT NULL,
		PRIMARY KEY (slug, email)
	)`},
	// The orders /workspaces sorts by (models.WorkspaceSorts).
	{"", "workspaces", "workspaces_name", "", `CREATE INDEX IF NOT EXISTS workspaces_name ON workspaces (name, slug)`},
	{"", "workspaces", "workspaces_created", "", `CREATE INDEX IF NOT EXISTS workspaces_created ON workspaces (created_at, slug)`},
	{"", "workspaces", "workspaces_members", "", `CREATE INDEX IF NOT EXISTS workspaces_members ON workspaces (member_count, slug)`},
	// Scopes (models.ScopeOf) limit lists to a region, a plan or both.
	{"", "workspaces", "workspaces_region", "", `CREATE INDEX IF NOT EXISTS workspaces_region ON workspaces (region, slug)`},
	{"", "workspaces", "workspaces_plan", "", `CREATE INDEX IF NOT EXISTS workspaces_plan ON workspaces (plan, slug)`},

	// The workspace search (models.WorkspaceFilter.Query): a substring of
	// the name, the slug or an owner's email, from an index. PostgreSQL:
	// pg_trgm's GIN indexes, which serve ILIKE '%q%' (one per column, as
	// the search is a UNION of one ILIKE each).
	{"postgres", "", "", "SELECT count(*) FROM pg_extension WHERE extname = 'pg_trgm'", `CREATE EXTENSION IF NOT EXISTS pg_trgm`},
	{"postgres", "workspaces", "workspaces_name_trgm", "", `CREATE INDEX IF NOT EXISTS workspaces_name_trgm ON workspaces USING gin (name gin_trgm_ops)`},
	{"postgres", "workspaces", "workspaces_slug_trgm", "", `CREATE INDEX IF NOT EXISTS workspaces_slug_trgm ON workspaces USING gin (slug gin_trgm_ops)`},
	{"postgres", "workspace_owners", "workspace_owners_email_trgm", "", `CREATE INDEX IF NOT EXISTS workspace_owners_email_trgm ON workspace_owners USING gin (email gin_trgm_ops)`},
	// SQLite: FTS5 tables with the trigram tokenizer over the registry's
	// columns (external content: they hold only the index), kept in step
	// by triggers, and filled from the rows there already are.
	{"sqlite", "", "", "SELECT count(*) FROM sqlite_master WHERE name = 'workspaces_fts'", `CREATE VIRTUAL TABLE workspaces_fts USING fts5 (name, slug, content = 'workspaces', content_rowid = 'rowid', tokenize = 'trigram')`},
	{"sqlite", "", "", "SELECT count(*) FROM sqlite_master WHERE name = 'workspaces_fts_insert'", `CREATE TRIGGER workspaces_fts_insert AFTER INSERT ON workspaces BEGIN
		INSERT INTO workspaces_fts (rowid, name, slug) VALUES (new.rowid, new.name, new.slug);
	END`},
	{"sqlite", "", "", "SELECT count(*) FROM sqlite_master WHERE name = 'workspaces_fts_delete'", `CREATE TRIGGER workspaces_fts_delete AFTER DELETE ON workspaces BEGIN
		INSERT INTO workspaces_fts (workspaces_fts, rowid, name, slug) VALUES ('delete', old.rowid, old.name, old.slug);
	END`},
	{"sqlite", "", "", "SELECT count(*) FROM sqlite_master WHERE name = 'workspaces_fts_update'", `CREATE TRIGGER workspaces_fts_update AFTER UPDATE OF name, slug ON workspaces BEGIN
		INSERT INTO workspaces_fts (workspaces_fts, rowid, name, slug) VALUES ('delete', old.rowid, old.name, old.slug);
		INSERT INTO workspaces_fts (rowid, name, slug) VALUES (new.rowid, new.name, new.slug);
	END`},
	{"sqlite", "", "", "SELECT count(*) FROM sqlite_master WHERE name = 'workspace_owners_fts'", `CREATE VIRTUAL TABLE workspace_owners_fts USING fts5 (email, content = 'workspace_owners', content_rowid = 'rowid', tokenize = 'trigram')`},
	{"sqlite", "", "", "SELECT count(*) FROM sqlite_master WHERE name = 'workspace_owners_fts_insert'", `CREATE TRIGGER workspace_owners_fts_insert AFTER INSERT ON workspace_owners BEGIN
		INSERT INTO workspace_owners_fts (rowid, email) VALUES (new.rowid, new.email);
	END`},
	{"sqlite", "", "", "SELECT count(*) FROM sqlite_master WHERE name = 'workspace_owners_fts_delete'", `CREATE TRIGGER workspace_owners_fts_delete AFTER DELETE ON workspace_owners BEGIN
		INSERT INTO workspace_owners_fts (workspace_owners_fts, rowid, email) VALUES ('delete', old.rowid, old.email);
	END`},
	{"sqlite", "", "", "SELECT count(*) FROM sqlite_master WHERE name = 'workspace_owners_fts_update'", `CREATE TRIGGER workspace_owners_fts_update AFTER UPDATE OF email ON workspace_owners BEGIN
		INSERT INTO workspace_owners_fts (workspace_owners_fts, rowid, email) VALUES ('delete', old.rowid, old.email);
		INSERT INTO workspace_owners_fts (rowid, email) VALUES (new.rowid, new.email);
	END`},
	{"sqlite", "", "", "SELECT EXISTS (SELECT 1 FROM workspaces_fts_docsize) OR NOT EXISTS (SELECT 1 FROM workspaces)", `INSERT INTO workspaces_fts (workspaces_fts) VALUES ('rebuild')`},
	{"sqlite", "", "", "SELECT EXISTS (SELECT 1 FROM workspace_owners_fts_docsize) OR NOT EXISTS (SELECT 1 FROM workspace_owners)", `INSERT INTO workspace_owners_fts (workspace_owners_fts) VALUES ('rebuild')`},
}

type ws struct {
	slug, name, plan, region, status, sub string
	members                               int
	lastLoginDaysAgo                      int // -1: never
	cancelledDaysAgo                      int // -1: not cancelled
	owners                                []string
}

// workspaces are the demo registry: paid, free and cancelled workspaces,
// recently used and long idle, so every page has something to show.
var workspaces = []ws{
	{"acme", "Acme Corporation", "business", "eu", "active", "active", 57, 0, -1, []string{"owner@acme.example", "admin@acme.example"}},
	{"globex", "Globex", "enterprise", "us", "active", "active", 120, 1, -1, []string{"owner@globex.example"}},
	{"initech", "Initech", "team", "uk", "active", "past_due", 12, 3, -1, []string{"bill@initech.example"}},
	{"umbrella", "Umbrella Labs", "business", "eu", "active", "active", 64, 0, -1, []string{"owner@umbrella.example"}},
	{"hooli", "Hooli", "enterprise", "us", "active", "active", 300, 0, -1, []string{"gavin@hooli.example", "it@hooli.example"}},
	{"vandelay", "Vandelay Industries", "team", "uk", "cancelled", "cancelled", 8, 40, 30, []string{"art@vandelay.example"}},
	{"soylent", "Soylent Foods", "team", "eu", "cancelled", "cancelled", 5, 120, 95, []string{"owner@soylent.example"}},
	{"stark", "Stark Industries", "business", "us", "active", "trialing", 15, 2, -1, []string{"pepper@stark.example"}},
	{"wayne", "Wayne Enterprises", "enterprise", "uk", "active", "active", 210, 0, -1, []string{"lucius@wayne.example"}},
	{"cyberdyne", "Cyberdyne Systems", "team", "eu", "active", "active", 9, 6, -1, []string{"miles@cyberdyne.example"}},
	{"tyrell", "Tyrell Corp", "business", "us", "cancelled", "cancelled", 30, 95, 89, []string{"eldon@tyrell.example"}},
	{"wonka", "Wonka Confectionery", "free", "uk", "free", "none", 3, 10, -1, []string{"willy@wonka.example"}},
	{"oceanic", "Oceanic Air", "free", "eu", "free", "none", 2, 149, -1, []string{"ops@oceanic.example"}},
	{"dunder", "Dunder Mifflin", "free", "us", "free", "none", 4, 155, -1, []string{"michael@dunder.example", "pam@dunder.example"}},
	{"prestige", "Prestige Worldwide", "free", "uk", "free", "none", 1, 182, -1, []string{"brennan@prestige.example"}},
	{"gringotts", "Gringotts", "free", "eu", "free", "none", 6, 200, -1, []string{"griphook@gringotts.example"}},
	{"monsters", "Monsters Inc", "free", "us", "free", "none", 2, 271, -1, []string{"mike@monsters.example"}},
	{"pied-piper", "Pied Piper", "team", "uk", "active", "active", 7, 0, -1, []string{"richard@piedpiper.example"}},
	{"massive", "Massive Dynamic", "enterprise", "eu", "active", "active", 80, 1, -1, []string{"nina@massive.example"}},
	{"aperture", "Aperture Science", "business", "us", "active", "active", 25, 4, -1, []string{"cave@aperture.example"}},
	{"black-mesa", "Black Mesa", "team", "uk", "active", "past_due", 11, 20, -1, []string{"admin@blackmesa.example"}},
	{"nakatomi", "Nakatomi Trading", "free", "eu", "free", "none", 1, -1, -1, []string{"takagi@nakatomi.example"}},
	{"duff", "Duff Brewing", "free", "us", "free", "none", 3, 60, -1, []string{"owner@duff.example"}},
	{"kwik-e", "Kwik-E-Mart", "team", "uk", "cancelled", "cancelled", 2, 10, 5, []string{"apu@kwike.example"}},
	{"initrode", "Initrode", "free", "eu", "free", "none", 1, 160, -1, []string{"owner@initrode.example"}},
}

// SeedProduct creates the registry tables and indexes in product that are
// missing and adds the demo workspaces that do not exist yet, dated
// relative to now. What exists is only read: a role that may not create
// tables or add rows (the portal's, on PostgreSQL) passes over a registry
// the owner has seeded.
func SeedProduct(ctx context.Context, product *gorm.DB, now time.Time) error {
	m := product.WithContext(ctx).Migrator()
	if m.HasTable("workspaces") && !m.HasColumn(&models.Workspace{}, "region") {
		// A registry made before scopes: the column scopes read.
		if err := product.WithContext(ctx).Exec("ALTER TABLE workspaces ADD COLUMN region TEXT NOT NULL DEFAULT ''").Error; err != nil {
			return fmt.Errorf("product schema: %w", err)
		}
	}
	for _, s := range productSchema {
		if s.dialect != "" && s.dialect != product.Dialector.Name() {
			continue
		}
		if s.exists != "" {
			var n int64
			if err := product.WithContext(ctx).Raw(s.exists).Scan(&n).Error; err != nil {
				return fmt.Errorf("product schema: %w", err)
			}
			if n > 0 {
				continue
			}
		} else if (s.index == "" && m.HasTable(s.table)) || (s.index != "" && m.HasIndex(s.table, s.index)) {
			continue
		}
		if err := product.WithContext(ctx).Exec(s.stmt).Error; err != nil {
			return fmt.Errorf("product schema: %w", err)
		}
	}
	for _, name := range models.ObsoleteRegistryIndexes {
		if err := product.WithContext(ctx).Exec("DROP INDEX IF EXISTS " + name).Error; err != nil {
			return fmt.Errorf("product schema: %w", err)
		}
	}
	for _, ix := range models.RegistryRetentionIndexes(product) {
		if !m.HasIndex("workspaces", ix.Name) {
			if err := product.WithContext(ctx).Exec(ix.SQL).Error; err != nil {
				return fmt.Errorf("product schema: %w", err)
			}
		}
	}
	day := func(n int) *time.Time {
		if n < 0 {
			return nil
		}
		t := now.UTC().AddDate(0, 0, -n).Truncate(time.Minute)
		return &t
	}
	return product.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		for i, w := range workspaces {
			var n int64
			if err := tx.Model(&models.Workspace{}).Where("slug = ?", w.slug).Count(&n).Error; err != nil {
				return err
			}
			if n > 0 {
				continue
			}
			row := models.Workspace{
				Slug: w.slug, Name: w.name, Plan: w.plan, Region: w.region, Status: w.status, MemberCount: w.members,
				CreatedAt: now.UTC().AddDate(-1, 0, -i).Truncate(time.Hour), LastLoginAt: day(w.lastLoginDaysAgo),
				CancelledAt: day(w.cancelledDaysAgo), SubscriptionState: w.sub,
			}
			if w.plan != "free" && w.status == "active" {
				r := now.UTC().AddDate(0, 0, 30+i).Truncate(24 * time.Hour)
				row.RenewalDate = &r
			}
			if err := tx.Create(&row).Error; err != nil {
				return fmt.Errorf("seed workspace %s: %w", w.slug, err)
			}
			for _, o := range w.owners {
				if err := tx.Create(&models.WorkspaceOwner{Slug: w.slug, Email: o}).Error; err != nil {
					return err
				}
			}
		}
		return nil
	})
}
