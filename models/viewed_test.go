package models_test

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/dbtest"

	"gorm.io/gorm"
)

// TestViewedUnderIsComplete: what the customer is told was viewed under
// a grant counts every event. 1,001 reloads of one record, then a read of
// another table: the aggregate has that table with its records, counts
// and times; reveals come with their field and reason; another grant's
// reads are not counted.
func TestViewedUnderIsComplete(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		f := newDataFixture(t, db)
		sara, sean := f.viewer("sara.senior@example.com"), f.viewer("sean.senior@example.com")
		g := f.grant(sara, "acme", models.GrantScope{}, false)
		other := f.grant(sean, "acme", models.GrantScope{}, false)
		start := f.now.UTC().Truncate(time.Second)
		view := func(tx *gorm.DB, at time.Time, grant models.Grant, who models.Viewer, table string, ids ...string) {
			t.Helper()
			if _, err := models.AppendAudit(ctx, tx, models.AuditEntry{
				At: at, Actor: who.Actor, Action: models.ActionDataViewed, Workspace: "acme",
				Table: table, RecordIDs: ids, GrantID: &grant.ID, Reason: grant.Origin(),
			}); err != nil {
				t.Fatal(err)
			}
		}
		err := db.Write.Transaction(func(tx *gorm.DB) error {
			for i := range 1001 {
				view(tx, start.Add(time.Duration(i)*time.Second), g, sara, "members", "1")
			}
			view(tx, start.Add(1001*time.Second), g, sara, "members") // a page that showed no record
			view(tx, start.Add(1002*time.Second), other, sean, "documents", "5")
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}

		// The read of another table, through the data API.
		f.now = start.Add(30 * time.Minute)
		page, err := f.data.ReadTable(ctx, sara, models.DataRequest{Slug: "acme", Table: "projects"})
		if err != nil || len(page.Rows) == 0 {
			t.Fatalf("read projects: %v (%d rows)", err, len(page.Rows))
		}
		var projects []string
		for _, row := range page.Rows {
			projects = append(projects, strconv.FormatInt(row.ID, 10))
		}
		revealAt := start.Add(40 * time.Minute)
		if _, err := models.AppendAudit(ctx, db.Write, models.AuditEntry{
			At: revealAt, Actor: sara.Actor, Action: models.ActionFieldRevealed, Workspace: "acme", Table: "members",
			RecordIDs: []string{"2"}, GrantID: &g.ID, Reason: "Customer asked to check the address on file.",
			Detail: map[string]any{"field": "email", "until": revealAt.Add(time.Minute)},
		}); err != nil {
			t.Fatal(err)
		}

		v, err := models.ViewedUnder(ctx, db.Read, "acme", g.ID)
		if err != nil {
			t.Fatal(err)
		}
		if v.Views != 1003 || v.Reveals != 1 || len(v.Tables) != 2 {
			t.Fatalf("views %d, reveals %d, tables %+v; want 1003, 1, members and projects", v.Views, v.Reveals, v.Tables)
		}
		m, ok := v.Table("members")
		if !ok || m.Views != 1002 || m.Listings != 1 || m.Reveals != 1 || !slices.Equal(m.Records, []string{"1", "2"}) ||
			!m.First.Equal(start) || !m.Last.Equal(revealAt) || !slices.Equal(m.Actors, []string{sara.Actor.Email}) {
			t.Errorf("members = %+v", m)
		}
		p, ok := v.Table("projects")
		if !ok || p.Views != 1 || p.Listings != 0 || !slices.Equal(p.Records, projects) ||
			!p.First.Equal(f.now) || !p.Last.Equal(f.now) || !slices.Equal(p.Actors, []string{sara.Actor.Email}) {
			t.Errorf("projects = %+v, want views 1 of %v at %v", p, projects, f.now)
		}
		if _, ok := v.Table("documents"); ok {
			t.Error("another grant's read is counted")
		}

		rs, err := models.RevealsUnder(ctx, db.Read, "acme", g.ID, 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		want := models.RevealSeen{At: revealAt, Actor: sara.Actor.Email, Table: "members", Record: "2", Field: "email", Reason: "Customer asked to check the address on file."}
		if len(rs) != 1 || !rs[0].At.Equal(want.At) {
			t.Fatalf("reveals = %+v, want %+v", rs, want)
		}
		rs[0].At = want.At
		if rs[0] != want {
			t.Errorf("reveal = %+v, want %+v", rs[0], want)
		}
		if rs, err := models.RevealsUnder(ctx, db.Read, "acme", g.ID, 1, 10); err != nil || len(rs) != 0 {
			t.Errorf("reveals after the first = %+v, %v; want none", rs, err)
		}
	})
}
