package demo_test

import (
	"context"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"gatehouse/letters"
	"gatehouse/mailer"
	"gatehouse/models"
	"gatehouse/models/dbtest"
	"gatehouse/models/demo"
)

// TestSeedIncident checks that the demo's incident is closed, its
// affected workspace found from the evidence, and both notices mailed to
// every owner of it and delivered to the development mailbox; seeding
// twice adds nothing.
func TestSeedIncident(t *testing.T) {
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
		if err := demo.SeedStaff(ctx, db, now); err != nil {
			t.Fatal(err)
		}
		ob, err := models.NewOutbox([]byte("test-session-key-of-at-least-32-bytes!"))
		if err != nil {
			t.Fatal(err)
		}
		base, _ := url.Parse("http://127.0.0.1:8080")
		post := models.Post{Outbox: ob, Letters: letters.New(models.DefaultCompany, base, time.Now)}
		for range 2 {
			if err := demo.SeedIncident(ctx, db, product.Read, now, post); err != nil {
				t.Fatal(err)
			}
		}
		incs, err := models.ListIncidents(ctx, db.Read, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(incs) != 1 || !incs[0].Closed() {
			t.Fatalf("incidents %+v, want one, closed", incs)
		}
		ws, err := incs[0].Workspaces()
		if err != nil || len(ws) != 1 || ws[0].Slug != "acme" {
			t.Fatalf("affected %+v, %v; want acme", ws, err)
		}
		owners, err := models.Owners(ctx, product.Read, "acme")
		if err != nil || len(owners) == 0 {
			t.Fatalf("acme owners %v, %v", owners, err)
		}
		w := &models.MailWorker{DB: db, Outbox: ob, Sender: mailer.Dev{}, Now: time.Now, Batch: 50}
		if _, _, err := w.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
		ds, err := models.IncidentDeliveries(ctx, db.Read, incs[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) != 2*len(owners) {
			t.Errorf("%d deliveries, want %d (two notices to %d owners)", len(ds), 2*len(owners), len(owners))
		}
		for _, d := range ds {
			if d.Status != models.MailSent {
				t.Errorf("delivery to %s: %s, want sent", d.Recipient, d.Status)
			}
		}
	})
}
