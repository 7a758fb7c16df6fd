package demo_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"gatehouse/models"
	"gatehouse/models/dbtest"
	"gatehouse/models/demo"

	"gorm.io/gorm"
)

// plainLetters writes the retention mails as bare text, for seeding.
type plainLetters struct{}

func (plainLetters) Letter(_ context.Context, _ *gorm.DB, n models.Notice) (models.Mail, error) {
	switch n := n.(type) {
	case models.RetentionNotice:
		return models.Mail{Kind: "retention.notice", Subject: "Notice for " + n.Workspace.Slug, Text: "notice"}, nil
	case models.DeletionLinkNotice:
		return models.Mail{Kind: "deletion.confirm", Subject: "Confirm " + n.Workspace.Slug, Text: "/deletion/" + n.Token}, nil
	case models.TransparencyNotice:
		return models.Mail{Kind: "transparency.report", Subject: "Report for " + n.Report.Workspace, Text: "/transparency/" + n.Token}, nil
	}
	return models.Mail{}, fmt.Errorf("no letter for %T", n)
}

// TestSeedRetention checks that the demo puts workspaces in every
// retention state, and that seeding twice changes nothing.
func TestSeedRetention(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		product := db
		if db.Dialect == models.SQLite {
			var err error
			if product, err = models.Open(ctx, filepath.Join(t.TempDir(), "product.db")); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { product.Close() })
		}
		if err := demo.SeedProduct(ctx, product.Write, now); err != nil {
			t.Fatal(err)
		}
		dir := ""
		target := demo.TenantTarget{Postgres: product.Write}
		if db.Dialect == models.SQLite {
			dir = filepath.Join(t.TempDir(), "tenants")
			if err := os.MkdirAll(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			target = demo.TenantTarget{SQLiteDir: dir}
		}
		if err := demo.SeedTenants(ctx, target, []string{"soylent"}, now); err != nil {
			t.Fatal(err)
		}
		if err := demo.SeedStaff(ctx, db, now); err != nil {
			t.Fatal(err)
		}
		ob, err := models.NewOutbox([]byte("test-session-key-of-at-least-32-bytes!"))
		if err != nil {
			t.Fatal(err)
		}
		p := models.DefaultRetentionPolicy()
		for range 2 {
			if err := demo.SeedRetention(ctx, db, product.Write, now, p); err != nil {
				t.Fatal(err)
			}
			if err := demo.SeedDeletedWorkspace(ctx, db, product, dir, now, p); err != nil {
				t.Fatal(err)
			}
			if err := demo.SeedDeletionRequest(ctx, db, product.Read, now, p, models.Post{Outbox: ob, Letters: plainLetters{}}); err != nil {
				t.Fatal(err)
			}
			if err := demo.SeedTransparencyReport(ctx, db, product, now, models.Post{Outbox: ob, Letters: plainLetters{}}); err != nil {
				t.Fatal(err)
			}
		}
		// One transparency report for globex, mailed once to its owner.
		var reports, mails int64
		db.Read.Model(&models.TransparencyReport{}).Where("workspace = ?", "globex").Count(&reports)
		db.Read.Table("mail_outbox").Where("kind = ? AND to_addr = ?", "transparency.report", "owner@globex.example").Count(&mails)
		if reports != 1 || mails != 1 {
			t.Errorf("globex's reports %d, mails to its owner %d; want 1 and 1 after seeding twice", reports, mails)
		}
		want := map[string]models.RetentionState{
			"acme": models.RetentionActive, "wonka": models.RetentionActive, "oceanic": models.RetentionActive,
			"vandelay": models.RetentionCancelled, "tyrell": models.RetentionCancelled, "soylent": models.RetentionDeleted,
			"hooli":    models.RetentionDeletionRequested,
			"initrode": models.RetentionNoticeDue, "dunder": models.RetentionNoticed, "prestige": models.RetentionMarkDue, "gringotts": models.RetentionMarked,
			"nakatomi": models.RetentionDeletionDue, "monsters": models.RetentionHeld,
		}
		var ws []models.Workspace
		if err := product.Read.Find(&ws).Error; err != nil {
			t.Fatal(err)
		}
		n := map[models.RetentionState]int{}
		for _, w := range ws {
			st, err := models.WorkspaceRetention(ctx, db.Read, product.Read, now, p, w.Slug)
			if err != nil {
				t.Fatal(err)
			}
			n[st.State]++
			if w, ok := want[st.Slug]; ok && st.State != w {
				t.Errorf("%s is %s (%s), want %s", st.Slug, st.State, st.Explanation, w)
			}
		}
		for _, s := range models.RetentionStates() {
			if n[s] == 0 {
				t.Errorf("no demo workspace is %s: %v", s, n)
			}
		}
		holds, err := models.ListHolds(ctx, db.Read, "", true)
		if err != nil || len(holds) != 1 {
			t.Errorf("holds after seeding twice: %+v, %v", holds, err)
		}
		if reqs, err := models.ListDeletionRequests(ctx, db.Read, ""); err != nil || len(reqs) != 1 {
			t.Errorf("deletion requests after seeding twice: %+v, %v", reqs, err)
		}
		if res, err := models.VerifyAudit(ctx, db); err != nil || !res.OK {
			t.Errorf("audit chain after seeding: %+v, %v", res, err)
		}
	})
}
