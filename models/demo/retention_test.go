package demo_test

import (
	"context"
	"path/filepath"
	"testing"

	"gatehouse/models"
	"gatehouse/models/dbtest"
	"gatehouse/models/demo"
)

// TestSeedRetention checks that the demo puts workspaces in every
// retention state a queue shows (bar a customer's request and a past
// deletion), and that seeding twice changes nothing.
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
		p := models.DefaultRetentionPolicy()
		for range 2 {
			if err := demo.SeedRetention(ctx, db, product.Write, now, p); err != nil {
				t.Fatal(err)
			}
		}
		want := map[string]models.RetentionState{
			"acme": models.RetentionActive, "wonka": models.RetentionActive, "oceanic": models.RetentionActive,
			"vandelay": models.RetentionCancelled, "tyrell": models.RetentionCancelled, "soylent": models.RetentionDeletionDue,
			"initrode": models.RetentionNoticeDue, "dunder": models.RetentionNoticed, "prestige": models.RetentionMarkDue, "gringotts": models.RetentionMarked,
			"nakatomi": models.RetentionDeletionDue, "monsters": models.RetentionHeld,
		}
		list, err := models.ListRetention(ctx, db.Read, product.Read, now, p)
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range list {
			if w, ok := want[st.Slug]; ok && st.State != w {
				t.Errorf("%s is %s (%s), want %s", st.Slug, st.State, st.Explanation, w)
			}
		}
		n := models.CountRetention(list)
		for _, s := range models.RetentionStates() {
			if n[s] == 0 && s != models.RetentionDeletionRequested && s != models.RetentionDeleted {
				t.Errorf("no demo workspace is %s: %v", s, n)
			}
		}
		holds, err := models.ListHolds(ctx, db.Read, "", true)
		if err != nil || len(holds) != 1 {
			t.Errorf("holds after seeding twice: %+v, %v", holds, err)
		}
	})
}
