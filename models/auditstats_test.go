package models_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/dbtest"

	"github.com/google/go-cmp/cmp"
)

// TestDataViewsPerDay: views only, from since on, grouped by UTC day and
// tier, whatever zone the events were written in.
func TestDataViewsPerDay(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		since := time.Date(2026, 11, 6, 0, 0, 0, 0, time.UTC)
		add := func(at time.Time, tier string, action models.Action) {
			t.Helper()
			if _, err := models.AppendAudit(ctx, db.Write, models.AuditEntry{At: at, Actor: models.Actor{Email: "x@example.com", Tier: tier}, Action: action}); err != nil {
				t.Fatal(err)
			}
		}
		add(since.Add(-time.Second), "senior", models.ActionDataViewed) // before the window
		add(since, "senior", models.ActionDataViewed)
		add(since.Add(23*time.Hour+59*time.Minute), "senior", models.ActionDataViewed)
		add(since.Add(24*time.Hour).In(time.FixedZone("PST", -8*3600)), "sysadmin", models.ActionDataViewed) // 16:00 the day before in PST
		add(since.Add(25*time.Hour), "senior", models.ActionDataRefused)
		got, err := models.DataViewsPerDay(ctx, db.Read, since)
		if err != nil {
			t.Fatal(err)
		}
		want := []models.DayTierCount{{Day: "2026-11-06", Tier: "senior", N: 2}, {Day: "2026-11-07", Tier: "sysadmin", N: 1}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("per day (-want +got):\n%s", diff)
		}

		// The detector's steps keep the counts of what they evaluated
		// (audit_view_days); the chart adds the events after its position.
		// Counted either way, the days are the same, before a step, after
		// it, with events after it, and after skipping to the head.
		direct := func() []models.DayTierCount {
			t.Helper()
			out, err := models.DataViewsFromLog(ctx, db.Read, since)
			if err != nil {
				t.Fatal(err)
			}
			return out
		}
		check := func(when string, want []models.DayTierCount) {
			t.Helper()
			got, err := models.DataViewsPerDay(ctx, db.Read, since)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s: per day (-want +got):\n%s", when, diff)
			}
			if diff := cmp.Diff(direct(), got); diff != "" {
				t.Errorf("%s: per day against the log (-log +got):\n%s", when, diff)
			}
		}
		d := &models.Detector{DB: db, Now: func() time.Time { return since.Add(48 * time.Hour) }}
		if n, err := d.RunOnce(ctx); err != nil || n != 5 {
			t.Fatalf("detector evaluated %d, %v; want the 5 events", n, err)
		}
		stored, err := models.ViewDaysStored(ctx, db.Read)
		if err != nil {
			t.Fatal(err)
		}
		// The one before the window is kept too (its day is never shown).
		wantStored := append([]models.DayTierCount{{Day: "2026-11-05", Tier: "senior", N: 1}}, want...)
		if diff := cmp.Diff(wantStored, stored); diff != "" {
			t.Errorf("stored after a step (-want +got):\n%s", diff)
		}
		check("after a step", want)
		add(since.Add(30*time.Hour), "senior", models.ActionDataViewed)
		add(since.Add(31*time.Hour), "support", models.ActionDataViewed)
		want = []models.DayTierCount{{Day: "2026-11-06", Tier: "senior", N: 2}, {Day: "2026-11-07", Tier: "senior", N: 1}, {Day: "2026-11-07", Tier: "support", N: 1}, {Day: "2026-11-07", Tier: "sysadmin", N: 1}}
		check("with events after the position", want)
		if err := models.SkipDetection(ctx, db.Write); err != nil {
			t.Fatal(err)
		}
		if n, err := d.RunOnce(ctx); err != nil || n != 0 {
			t.Fatalf("after skipping, the detector evaluated %d, %v; want none", n, err)
		}
		check("after skipping to the head", want)
		if stored, err = models.ViewDaysStored(ctx, db.Read); err != nil || len(stored) != 5 {
			t.Errorf("stored after skipping: %v, %v; want 5 rows", stored, err)
		}

		// The events after the position are found by their sequence
		// number. PostgreSQL chooses by its statistics, which a tiny
		// table does not have; SQLite is told.
		plan, err := models.DataViewsPlan(ctx, db.Read, 3, since)
		if err != nil {
			t.Fatal(err)
		}
		if db.Dialect == models.SQLite && !strings.Contains(plan, "INTEGER PRIMARY KEY (rowid>?)") {
			t.Errorf("the count after the position does not read by sequence number:\n%s", plan)
		}
	})
}
