package demo_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/dbtest"
	"gatehouse/models/demo"
	"gatehouse/policy"

	"gorm.io/gorm"
)

// TestDemoAlerts: the demo's ordinary activity raises no alert under the
// real rules; its seeded bursts raise one open and one acknowledged
// alert, each with evidence in the log; seeding again adds nothing.
func TestDemoAlerts(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		now := time.Now().UTC()
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
		post := models.Post{Outbox: ob, Letters: plainLetters{}}
		p := models.DefaultRetentionPolicy()
		if err := demo.SeedRetention(ctx, db, product.Write, now, p); err != nil {
			t.Fatal(err)
		}
		if err := demo.SeedDeletionRequest(ctx, db, product.Read, now, p, post); err != nil {
			t.Fatal(err)
		}
		rules, err := policy.LoadDetection()
		if err != nil {
			t.Fatal(err)
		}
		d := &models.Detector{DB: db, Rules: rules, Now: func() time.Time { return now }}
		if n, err := d.RunOnce(ctx); err != nil || n == 0 {
			t.Fatalf("evaluated %d events of the demo's activity: %v", n, err)
		}
		if as, _ := models.OpenAlerts(ctx, db.Read, 10); len(as) != 0 {
			t.Fatalf("the demo's ordinary activity raised %d alerts, first: %s", len(as), as[0].Summary)
		}
		post.Letters = alertLetters{plainLetters{}}
		for range 2 {
			if err := demo.SeedAlerts(ctx, db, rules, post, now); err != nil {
				t.Fatal(err)
			}
		}
		as, err := models.OpenAlerts(ctx, db.Read, 10)
		if err != nil {
			t.Fatal(err)
		}
		states := map[models.AlertState]int{}
		for _, a := range as {
			states[a.State]++
			evs, err := models.AlertEvidence(ctx, db.Read, a.ID, 5)
			if err != nil || len(evs) == 0 {
				t.Errorf("alert %s has no evidence in the log (%v)", a.Rule, err)
			}
		}
		if len(as) != 2 || states[models.AlertOpen] != 1 || states[models.AlertAcknowledged] != 1 {
			t.Errorf("demo alerts: %d, by state %v; want one open and one acknowledged", len(as), states)
		}
	})
}

// alertLetters adds the alert mail to plainLetters.
type alertLetters struct{ plainLetters }

func (l alertLetters) Letter(ctx context.Context, tx *gorm.DB, n models.Notice) (models.Mail, error) {
	if a, ok := n.(models.AlertNotice); ok {
		return models.Mail{Kind: "alert.raised", Subject: "Alert " + a.Alert.Rule, Text: a.Alert.Summary}, nil
	}
	return l.plainLetters.Letter(ctx, tx, n)
}
