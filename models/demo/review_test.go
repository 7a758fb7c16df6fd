package demo_test

import (
	"context"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/dbtest"
	"gatehouse/models/demo"
)

// TestDemoAccessReview: the demo opens the quarter's review with a row
// per active demo staff member, three certified by Ada and Otto and the
// rest open, raising no alert; seeding again adds nothing.
func TestDemoAccessReview(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		now := time.Now().UTC()
		if err := demo.SeedStaff(ctx, db, now); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if err := demo.SeedAccessReview(ctx, db, now); err != nil {
				t.Fatal(err)
			}
		}
		rs, err := models.ListReviews(ctx, db.Read, 10)
		if err != nil || len(rs) != 1 || rs[0].ClosedAt != nil || rs[0].Period != models.ReviewQuarterly.Period(now) {
			t.Fatalf("reviews %+v, %v: want this quarter's, open", rs, err)
		}
		p, err := models.ProgressOf(ctx, db.Read, rs[0].ID)
		if err != nil || p.Certified != 3 || p.Rows != int64(len(demo.Staff)-1) {
			t.Errorf("progress %+v, %v: want 3 of %d (the demo staff but the leaver)", p, err, len(demo.Staff)-1)
		}
		var alerts int64
		db.Read.Model(&models.Alert{}).Count(&alerts)
		if alerts != 0 {
			t.Errorf("%d alerts, want none", alerts)
		}
	})
}
