package models_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/dbtest"
	"gatehouse/policy"
)

func TestGrantScope(t *testing.T) {
	whole := models.GrantScope{}
	tables := models.GrantScope{Tables: map[string][]int64{"documents": nil, "members": {3, 7}}}
	tests := []struct {
		scope models.GrantScope
		table string
		id    int64
		want  bool
	}{
		{whole, "members", 1, true},
		{whole, "documents", 99, true},
		{tables, "documents", 99, true},
		{tables, "members", 3, true},
		{tables, "members", 7, true},
		{tables, "members", 4, false},
		{tables, "comments", 1, false},
		{models.GrantScope{Tables: map[string][]int64{}}, "members", 1, false},
	}
	for _, tt := range tests {
		if got := tt.scope.Covers(tt.table, tt.id); got != tt.want {
			t.Errorf("%+v.Covers(%s, %d) = %v, want %v", tt.scope, tt.table, tt.id, got, tt.want)
		}
	}
}

func TestGrantLifecycle(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		sara, err := models.CreateStaff(ctx, db.Write, t0, sys, models.Staff{Email: "sara@example.com", Name: "Sara", Tier: policy.TierSenior})
		if err != nil {
			t.Fatal(err)
		}
		other, err := models.CreateStaff(ctx, db.Write, t0, sys, models.Staff{Email: "sean@example.com", Name: "Sean", Tier: policy.TierSenior})
		if err != nil {
			t.Fatal(err)
		}
		g, err := models.CreateGrant(ctx, db.Write, t0, models.NewGrant{
			Workspace: "acme", GranteeID: sara.ID, StartsAt: t0, Duration: 2 * time.Hour,
			Scope: models.GrantScope{Tables: map[string][]int64{"members": {5, 5, 2}}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if g.ScopeJSON != `{"tables":{"members":[2,5]}}` {
			t.Errorf("stored scope = %s", g.ScopeJSON)
		}
		cases := []struct {
			name      string
			at        time.Time
			staff     int64
			workspace string
			table     string
			id        int64
			want      bool
		}{
			{"in scope", t0.Add(time.Hour), sara.ID, "acme", "members", 5, true},
			{"table in scope", t0.Add(time.Hour), sara.ID, "acme", "members", 0, true},
			{"first second", t0, sara.ID, "acme", "members", 2, true},
			{"last second", t0.Add(2*time.Hour - time.Second), sara.ID, "acme", "members", 2, true},
			{"expired by one second", t0.Add(2*time.Hour + time.Second), sara.ID, "acme", "members", 2, false},
			{"at the end", t0.Add(2 * time.Hour), sara.ID, "acme", "members", 2, false},
			{"before start", t0.Add(-time.Second), sara.ID, "acme", "members", 2, false},
			{"other record", t0.Add(time.Hour), sara.ID, "acme", "members", 3, false},
			{"other table", t0.Add(time.Hour), sara.ID, "acme", "documents", 0, false},
			{"other workspace", t0.Add(time.Hour), sara.ID, "globex", "members", 2, false},
			{"other grantee", t0.Add(time.Hour), other.ID, "acme", "members", 2, false},
		}
		for _, c := range cases {
			_, _, err := models.GrantFor(ctx, db.Read, c.at, models.GrantQuery{StaffID: c.staff, Workspace: c.workspace, Table: c.table, Record: c.id})
			if got := err == nil; got != c.want {
				t.Errorf("%s: granted = %v (%v), want %v", c.name, got, err, c.want)
			}
			if err != nil && !errors.Is(err, models.ErrNoGrant) {
				t.Errorf("%s: error %v is not ErrNoGrant", c.name, err)
			}
		}
		if err := models.EndGrant(ctx, db.Write, t0.Add(time.Minute), sys, g.ID, "revoked by the customer"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := models.GrantFor(ctx, db.Read, t0.Add(2*time.Minute), models.GrantQuery{StaffID: sara.ID, Workspace: "acme", Table: "members", Record: 5}); !errors.Is(err, models.ErrNoGrant) {
			t.Errorf("after revocation: %v, want ErrNoGrant", err)
		}
		if err := models.EndGrant(ctx, db.Write, t0.Add(time.Minute), sys, g.ID, "again"); !errors.Is(err, models.ErrConflict) {
			t.Errorf("ending twice: %v, want ErrConflict", err)
		}

		// Offboarding and suspension end every live grant at once.
		for _, end := range []func(id int64) error{
			func(id int64) error {
				return models.Suspend(ctx, db.Write, models.Act{Now: t0, By: sys}, id, "investigation")
			},
			func(id int64) error { return models.Offboard(ctx, db.Write, models.Act{Now: t0, By: sys}, id, "left") },
		} {
			s, err := models.CreateStaff(ctx, db.Write, t0, sys, models.Staff{Email: "x" + time.Now().Format("150405.000000") + "@example.com", Name: "X", Tier: policy.TierSenior})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := models.CreateGrant(ctx, db.Write, t0, models.NewGrant{Workspace: "acme", GranteeID: s.ID, StartsAt: t0, Duration: time.Hour}); err != nil {
				t.Fatal(err)
			}
			if _, _, err := models.GrantFor(ctx, db.Read, t0.Add(time.Minute), models.GrantQuery{StaffID: s.ID, Workspace: "acme", Table: "projects", Record: 1}); err != nil {
				t.Fatalf("whole-workspace grant: %v", err)
			}
			if err := end(s.ID); err != nil {
				t.Fatal(err)
			}
			if _, _, err := models.GrantFor(ctx, db.Read, t0.Add(time.Minute), models.GrantQuery{StaffID: s.ID, Workspace: "acme", Table: "projects", Record: 1}); !errors.Is(err, models.ErrNoGrant) {
				t.Errorf("grant after suspension/offboarding: %v, want ErrNoGrant", err)
			}
		}
	})
}
