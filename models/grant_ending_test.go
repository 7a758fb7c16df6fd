package models_test

import (
	"testing"
	"time"

	"gatehouse/models"
)

// TestGrantEnding: how a grant ended, from the grant and the event that
// ended it, for every way a grant ends.
func TestGrantEnding(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	ended := t0.Add(30 * time.Minute)
	live := models.Grant{ID: 1, StartsAt: t0, EndsAt: t0.Add(2 * time.Hour)}
	endedBy := func(by, why string) models.Grant {
		g := live
		g.EndedAt, g.EndedBy, g.EndedWhy = &ended, by, why
		return g
	}
	ev := func(a models.Action, tier, detail string) models.EndEvent {
		return models.EndEvent{EndAction: a, EndActorTier: tier, EndDetail: detail}
	}
	swept := live
	swept.EndedAt, swept.EndedBy, swept.EndedWhy = &swept.EndsAt, "system", "expired"
	tests := []struct {
		name string
		g    models.Grant
		ev   models.EndEvent
		now  time.Time
		want models.GrantEnding
	}{
		{name: "live", g: live, now: t0.Add(time.Hour)},
		{name: "no grant", g: models.Grant{}, now: t0},
		{name: "ran out, not swept yet", g: live, now: t0.Add(3 * time.Hour), want: models.GrantEnding{How: models.EndExpired, At: live.EndsAt}},
		{name: "swept", g: swept, ev: ev(models.ActionGrantExpired, "system", ""), now: t0.Add(3 * time.Hour),
			want: models.GrantEnding{How: models.EndExpired, At: live.EndsAt}},
		{name: "done with a note", g: endedBy("sara@x", "Fixed it."), ev: ev(models.ActionGrantDone, "senior", ""), now: ended,
			want: models.GrantEnding{How: models.EndDone, At: ended, By: "sara@x", Note: "Fixed it."}},
		{name: "done without a note", g: endedBy("sara@x", "done"), ev: ev(models.ActionGrantDone, "senior", ""), now: ended,
			want: models.GrantEnding{How: models.EndDone, At: ended, By: "sara@x"}},
		{name: "revoked by a sysadmin", g: endedBy("ada@x", "No longer needed."), ev: ev(models.ActionGrantRevoked, "sysadmin", ""), now: ended,
			want: models.GrantEnding{How: models.EndRevoked, At: ended, By: "ada@x", Note: "No longer needed."}},
		{name: "revoked by the customer", g: endedBy("owner@acme", "revoked by the customer"), ev: ev(models.ActionGrantRevoked, "customer", ""), now: ended,
			want: models.GrantEnding{How: models.EndCustomerRevoked, At: ended, By: "owner@acme"}},
		{name: "offboarded", g: endedBy("ada@x", "grantee offboarded"), ev: ev(models.ActionGrantEnded, "sysadmin", `{"grantee":"sara@x","status":"offboarded","tier":"senior"}`), now: ended,
			want: models.GrantEnding{How: models.EndOffboarded, At: ended, By: "ada@x"}},
		{name: "suspended", g: endedBy("ada@x", "grantee suspended"), ev: ev(models.ActionGrantEnded, "sysadmin", `{"grantee":"sara@x","status":"suspended","tier":"senior"}`), now: ended,
			want: models.GrantEnding{How: models.EndSuspended, At: ended, By: "ada@x"}},
		{name: "demoted", g: endedBy("ada@x", "grantee's tier changed from senior to support"), ev: ev(models.ActionGrantEnded, "sysadmin", `{"grantee":"sara@x","status":"active","tier":"support"}`), now: ended,
			want: models.GrantEnding{How: models.EndDemoted, At: ended, By: "ada@x", Note: "grantee's tier changed from senior to support"}},
		{name: "ended by EndGrant", g: endedBy("ada@x", "test over"), ev: ev(models.ActionGrantEnded, "sysadmin", ""), now: ended,
			want: models.GrantEnding{How: models.EndRevoked, At: ended, By: "ada@x", Note: "test over"}},
		{name: "break-glass closed", g: endedBy("otto@x", "Incident over."), ev: ev(models.ActionBreakglassEnded, "sysadmin", `{"ended_by":"opener"}`), now: ended,
			want: models.GrantEnding{How: models.EndClosed, At: ended, By: "otto@x", Note: "Incident over."}},
		{name: "workspace deleted", g: endedBy("ada@x", "the workspace was deleted"), now: ended,
			want: models.GrantEnding{How: models.EndWorkspaceDeleted, At: ended, By: "ada@x"}},
		{name: "ended, no event", g: endedBy("ada@x", "something"), now: ended,
			want: models.GrantEnding{How: models.EndOther, At: ended, By: "ada@x", Note: "something"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.g.Ending(tt.ev, tt.now)
			if got != tt.want {
				t.Errorf("Ending = %+v, want %+v", got, tt.want)
			}
			if got.Ended() != (tt.want.How != "") {
				t.Errorf("Ended() = %t", got.Ended())
			}
		})
	}
}
