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
)

// dataFixture is the data API over demo tenants acme and globex, with the
// demo staff and a clock the test moves.
type dataFixture struct {
	t       *testing.T
	db      *models.DB
	product *models.DB // the demo registry
	data    *models.TenantData
	audit   *models.AuditWriter
	now     time.Time
}

func newDataFixture(t *testing.T, db *models.DB) *dataFixture {
	t.Helper()
	ctx := context.Background()
	product, dir := retentionStores(t, db, "acme", "globex")
	cfg := models.TenantStorage{Dialect: models.Postgres, PostgresURL: dbtest.URL(db)}
	if db.Dialect == models.SQLite {
		cfg = models.TenantStorage{Dialect: models.SQLite, SQLiteDir: dir}
	}
	tenants, err := models.OpenTenantReader(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tenants.Close() })
	if err := demo.SeedStaff(ctx, db, demoNow); err != nil {
		t.Fatal(err)
	}
	catalog, err := policy.LoadCatalog()
	if err != nil {
		t.Fatal(err)
	}
	f := &dataFixture{t: t, db: db, product: product, audit: models.NewAuditWriter(db, 0), now: demoNow}
	t.Cleanup(func() { f.audit.Close() })
	f.data = models.NewTenantData(models.TenantDataConfig{
		DB:      db,
		Product: product.Read,
		Tenants: tenants,
		Catalog: catalog,
		Audit:   f.audit,
		Now:     func() time.Time { return f.now },
		// The cache is on, as in production: every test here must hold
		// with it.
		Cache: models.NewAccessCache(db.Read, models.MaxAccessCacheTTL, 0, func() time.Time { return f.now }),

		Clearance: models.DefaultClearance(demo.AgreementVersion),
	})
	return f
}

// viewer returns the demo staff member email as a viewer.
func (f *dataFixture) viewer(email string) models.Viewer {
	f.t.Helper()
	s, err := models.FindStaffByEmail(context.Background(), f.db.Read, email)
	if err != nil {
		f.t.Fatal(err)
	}
	return models.Viewer{StaffID: s.ID, Actor: models.Actor{Email: s.Email, Tier: string(s.Tier), IP: "192.0.2.1", RequestID: "req-" + s.Email}}
}

func (f *dataFixture) grant(v models.Viewer, workspace string, scope models.GrantScope, unmask bool) models.Grant {
	f.t.Helper()
	g, err := models.CreateGrant(context.Background(), f.db.Write, f.now, models.NewGrant{
		Workspace: workspace, GranteeID: v.StaffID, Scope: scope, Unmask: unmask, StartsAt: f.now, Duration: time.Hour,
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return g
}

func (f *dataFixture) newestEvent() models.AuditEvent {
	f.t.Helper()
	evs, err := models.ListAudit(context.Background(), f.db.Read, models.AuditFilter{Limit: 1})
	if err != nil || len(evs) == 0 {
		f.t.Fatalf("newest audit event: %v (%d events)", err, len(evs))
	}
	return evs[0]
}

// revealed returns the fields of a record v may see unmasked at f.now by
// the reveals on record.
func (f *dataFixture) revealed(v models.Viewer, workspace, table string, id int64) []string {
	f.t.Helper()
	var fields []string
	err := f.db.Read.Raw("SELECT field FROM reveals WHERE staff_id = ? AND workspace = ? AND table_name = ? AND record_id = ? AND expires_at > ?",
		v.StaffID, workspace, table, id, f.now.UTC()).Scan(&fields).Error
	if err != nil {
		f.t.Fatal(err)
	}
	return fields
}

// checkMasked fails the test for any personal value row shows unmasked
// without the grant's unmask or a recorded reveal that has not expired,
// and for any masked cell that carries a value.
func (f *dataFixture) checkMasked(v models.Viewer, view models.DataView, row models.DataRow, onRecord bool) (unmasked []string) {
	f.t.Helper()
	var may []string
	if onRecord {
		may = f.revealed(v, view.Workspace.Slug, view.Table, row.ID)
	}
	for i, col := range view.Columns {
		c := row.Cells[i]
		if c.Masked && (c.Text != "" || c.Null) {
			f.t.Errorf("%s.%s %d: masked cell carries %+v", view.Table, col.Name, row.ID, c)
		}
		if col.Class != policy.Personal || c.Masked {
			continue
		}
		unmasked = append(unmasked, col.Name)
		if !view.Grant.Unmask && !slices.Contains(may, col.Name) {
			f.t.Errorf("%s.%s %d: personal value %q shown without unmask or reveal", view.Table, col.Name, row.ID, c.Text)
		}
	}
	return unmasked
}

func TestTenantDataRefusals(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		f := newDataFixture(t, db)
		sara := f.viewer("sara.senior@example.com")
		f.grant(sara, "acme", models.GrantScope{Tables: map[string][]int64{"documents": {1, 2}}}, true)
		long := strings.Repeat("a", 70) + "\x00"
		for _, tc := range []struct {
			name   string
			req    models.DataRequest
			record bool
			want   error
			reason string
			event  [3]string // workspace, table, record ids
			detail string
		}{
			{"unknown workspace", models.DataRequest{Slug: "nope", Table: "documents", Record: "1"}, true, models.ErrNotFound, "no such workspace", [3]string{"nope", "documents", "1"}, `{"record":"1"}`},
			{"record id not a number", models.DataRequest{Slug: "acme", Table: "documents", Record: "1 OR 1=1"}, true, models.ErrNotFound, "no such record", [3]string{"acme", "documents", ""}, `{"record":"1 OR 1=1"}`},
			{"record id zero", models.DataRequest{Slug: "acme", Table: "documents", Record: "0"}, true, models.ErrNotFound, "no such record", [3]string{"acme", "documents", "0"}, `{"record":"0"}`},
			{"restricted table", models.DataRequest{Slug: "acme", Table: "billing"}, false, models.ErrNotFound, "table not shown", [3]string{"acme", "billing", ""}, ""},
			{"uncatalogued table", models.DataRequest{Slug: "acme", Table: "sqlite_master", Record: "1"}, true, models.ErrNotFound, "table not shown", [3]string{"acme", "sqlite_master", "1"}, `{"record":"1"}`},
			{"other workspace", models.DataRequest{Slug: "globex", Table: "documents"}, false, models.ErrNoGrant, "no live grant", [3]string{"globex", "documents", ""}, ""},
			{"other table", models.DataRequest{Slug: "acme", Table: "comments"}, false, models.ErrNoGrant, "no live grant", [3]string{"acme", "comments", ""}, ""},
			{"record outside the ids", models.DataRequest{Slug: "acme", Table: "documents", Record: "3"}, true, models.ErrNoGrant, "no live grant", [3]string{"acme", "documents", "3"}, `{"record":"3"}`},
			{"clipped", models.DataRequest{Slug: long, Table: "t\x00", Record: long}, true, models.ErrNotFound, "no such record",
				[3]string{strings.Repeat("a", 64), "t\uFFFD", ""}, `{"record":"` + strings.Repeat("a", 64) + `"}`},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var rows int
				var err error
				if tc.record {
					var rec models.DataRecord
					rec, err = f.data.ReadRecord(context.Background(), sara, tc.req)
					rows = len(rec.Row.Cells)
				} else {
					var page models.DataPage
					page, err = f.data.ReadTable(context.Background(), sara, tc.req)
					rows = len(page.Rows)
				}
				if !errors.Is(err, tc.want) || rows != 0 {
					t.Errorf("got %d rows, %v; want none and %v", rows, err, tc.want)
				}
				ev := f.newestEvent()
				got := [3]string{ev.Workspace, ev.Table, ev.RecordIDs}
				if ev.Action != models.ActionDataRefused || ev.Reason != tc.reason || got != tc.event || ev.Detail != tc.detail ||
					ev.Actor != sara.Actor.Email || ev.RequestID != sara.Actor.RequestID {
					t.Errorf("newest event: %s %q on %q detail %q by %s (%s); want %s %q on %q detail %q by %s (%s)",
						ev.Action, ev.Reason, got, ev.Detail, ev.Actor, ev.RequestID,
						models.ActionDataRefused, tc.reason, tc.event, tc.detail, sara.Actor.Email, sara.Actor.RequestID)
				}
			})
		}
		// A reveal is refused the same way, and stores nothing.
		_, err := f.data.RevealField(context.Background(), sara, models.DataRequest{Slug: "acme", Table: "members", Record: "1"}, "email", "Ticket OPS-1 asks us to check it.")
		if ev := f.newestEvent(); !errors.Is(err, models.ErrNoGrant) || ev.Action != models.ActionDataRefused || ev.Reason != "no live grant" {
			t.Errorf("reveal outside the grant: %v, newest event %s %q; want ErrNoGrant and data.refused", err, ev.Action, ev.Reason)
		}
		if n := count(t, db, "reveals"); n != 0 {
			t.Errorf("%d reveals stored, want 0", n)
		}
	})
}

// TestTenantDataFailsClosed: when the view's audit event cannot be
// committed, no row leaves the API, and a refusal that cannot be
// recorded is ErrUnaudited.
func TestTenantDataFailsClosed(t *testing.T) {
	ctx := context.Background()
	table := models.DataRequest{Slug: "acme", Table: "members"}
	record := models.DataRequest{Slug: "acme", Table: "members", Record: "1"}
	refused := models.DataRequest{Slug: "globex", Table: "members"}
	for _, breakAudit := range []struct {
		name string
		do   func(f *dataFixture)
		// whether the failure reaches a reveal, whose event is written in
		// its own transaction rather than through the writer
		reveals bool
	}{
		{"audit writer closed", func(f *dataFixture) { f.audit.Close() }, false},
		{"audit insert refused", func(f *dataFixture) {
			stmts := []string{`CREATE TRIGGER test_no_audit BEFORE INSERT ON audit_events BEGIN SELECT RAISE(ABORT, 'refused by test'); END`}
			if f.db.Dialect == models.Postgres {
				stmts = []string{
					`CREATE FUNCTION test_no_audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused by test'; END $$`,
					`CREATE TRIGGER test_no_audit BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION test_no_audit()`,
				}
			}
			execAll(f.t, f.db, stmts...)
		}, true},
	} {
		t.Run(breakAudit.name, func(t *testing.T) {
			dbtest.Each(t, func(t *testing.T, db *models.DB) {
				f := newDataFixture(t, db)
				sara := f.viewer("sara.senior@example.com")
				f.grant(sara, "acme", models.GrantScope{}, true)
				if page, err := f.data.ReadTable(ctx, sara, table); err != nil || len(page.Rows) == 0 {
					t.Fatalf("before the failure: %d rows, %v", len(page.Rows), err)
				}
				before := count(t, db, "audit_events")
				breakAudit.do(f)
				page, err := f.data.ReadTable(ctx, sara, table)
				if !errors.Is(err, models.ErrUnaudited) || len(page.Rows) != 0 || page.Workspace.Slug != "" {
					t.Errorf("table page: %d rows of %q, %v; want none and ErrUnaudited", len(page.Rows), page.Workspace.Slug, err)
				}
				rec, err := f.data.ReadRecord(ctx, sara, record)
				if !errors.Is(err, models.ErrUnaudited) || rec.Row.ID != 0 || len(rec.Row.Cells) != 0 {
					t.Errorf("record: %+v, %v; want nothing and ErrUnaudited", rec.Row, err)
				}
				if _, err := f.data.ReadTable(ctx, sara, refused); !errors.Is(err, models.ErrUnaudited) || errors.Is(err, models.ErrNoGrant) {
					t.Errorf("refusal: %v; want ErrUnaudited alone", err)
				}
				if after := count(t, db, "audit_events"); after != before {
					t.Errorf("audit events: %d → %d with the audit failing", before, after)
				}
				_, err = f.data.RevealField(ctx, sara, record, "email", "Ticket OPS-1 asks us to check it.")
				if breakAudit.reveals && err == nil {
					t.Error("a reveal succeeded without its audit event")
				}
				var events int64
				if err := db.Read.Raw("SELECT count(*) FROM audit_events WHERE action = ?", models.ActionFieldRevealed).Scan(&events).Error; err != nil {
					t.Fatal(err)
				}
				if n := count(t, db, "reveals"); n != events {
					t.Errorf("%d reveals stored, %d recorded", n, events)
				}
			})
		})
	}
}

// TestTenantDataMasks: a personal value leaves the API only under a grant
// that unmasks it, or on its record while a recorded reveal of it by the
// same viewer lasts.
func TestTenantDataMasks(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		f := newDataFixture(t, db)
		sara, sean, ada := f.viewer("sara.senior@example.com"), f.viewer("sean.senior@example.com"), f.viewer("ada.sysadmin@example.com")
		f.grant(sara, "acme", models.GrantScope{}, false)
		f.grant(sean, "acme", models.GrantScope{}, false)
		f.grant(ada, "acme", models.GrantScope{}, true)
		readAll := func(v models.Viewer) (unmasked int) {
			for _, table := range []string{"members", "projects", "documents", "comments"} {
				req := models.DataRequest{Slug: "acme", Table: table}
				for {
					page, err := f.data.ReadTable(ctx, v, req)
					if err != nil {
						t.Fatal(err)
					}
					for _, row := range page.Rows {
						unmasked += len(f.checkMasked(v, page.DataView, row, false))
					}
					if req.After = page.Next; page.Next == 0 {
						break
					}
				}
			}
			return unmasked
		}
		if n := readAll(sara); n != 0 {
			t.Errorf("sara, without unmask: %d personal values shown, want 0", n)
		}
		if n := readAll(ada); n == 0 {
			t.Error("ada, with unmask: no personal value shown")
		}

		member := func(v models.Viewer, id string) (models.DataRecord, []string) {
			rec, err := f.data.ReadRecord(ctx, v, models.DataRequest{Slug: "acme", Table: "members", Record: id})
			if err != nil {
				t.Fatal(err)
			}
			return rec, f.checkMasked(v, rec.DataView, rec.Row, true)
		}
		reveal := func(field, reason string) error {
			_, err := f.data.RevealField(ctx, sara, models.DataRequest{Slug: "acme", Table: "members", Record: "1"}, field, reason)
			return err
		}
		const reason = "Customer asked in ticket OPS-7 to confirm their address."
		for _, bad := range []struct{ field, reason, key string }{
			{"role", reason, "field"}, {"password_hash", reason, "field"}, {"", reason, "field"}, {"email", "  because  ", "reason"},
		} {
			var fe models.FieldErrors
			if err := reveal(bad.field, bad.reason); !errors.As(err, &fe) || fe[bad.key] == "" {
				t.Errorf("reveal %q for %q: %v; want a FieldErrors on %s", bad.field, bad.reason, err, bad.key)
			}
		}
		if n := count(t, db, "reveals"); n != 0 {
			t.Fatalf("%d reveals after invalid ones, want 0", n)
		}
		if _, shown := member(sara, "1"); len(shown) != 0 {
			t.Errorf("member 1 before a reveal: %v shown", shown)
		}
		if err := reveal("email", reason); err != nil {
			t.Fatal(err)
		}
		if ev := f.newestEvent(); ev.Action != models.ActionFieldRevealed || ev.Reason != reason || ev.RecordIDs != "1" {
			t.Errorf("reveal event: %s %q on %q, want data.revealed with the reason on 1", ev.Action, ev.Reason, ev.RecordIDs)
		}
		rec, shown := member(sara, "1")
		if !slices.Equal(shown, []string{"email"}) || !strings.Contains(rec.Row.Cells[1].Text, demo.Canary("acme")) {
			t.Errorf("member 1 after revealing email: %v shown (%+v), want only email with acme's canary", shown, rec.Row.Cells)
		}
		if ev := f.newestEvent(); ev.Action != models.ActionDataViewed || !strings.Contains(ev.Detail, `"revealed":["email"]`) {
			t.Errorf("view after the reveal: %s %q, want data.viewed naming email", ev.Action, ev.Detail)
		}
		for _, other := range []struct {
			v  models.Viewer
			id string
		}{{sara, "2"}, {sean, "1"}} {
			if _, shown := member(other.v, other.id); len(shown) != 0 {
				t.Errorf("member %s as %s: %v shown by sara's reveal of member 1", other.id, other.v.Actor.Email, shown)
			}
		}
		if n := readAll(sara); n != 0 {
			t.Errorf("table pages after a reveal: %d personal values shown, want 0", n)
		}
		f.now = f.now.Add(models.RevealWindow)
		if _, shown := member(sara, "1"); len(shown) != 0 {
			t.Errorf("member 1 once the reveal expired: %v shown", shown)
		}
	})
}

func count(t *testing.T, db *models.DB, table string) int64 {
	t.Helper()
	var n int64
	if err := db.Read.Raw("SELECT count(*) FROM " + table).Scan(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}
