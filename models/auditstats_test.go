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
		plan, err := models.DataViewsPlan(ctx, db.Read, since)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(plan, "audit_events_action_at") {
			t.Errorf("the per-day count does not use the (action, at) index:\n%s", plan)
		}
	})
}
