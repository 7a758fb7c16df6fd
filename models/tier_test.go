package models_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/dbtest"
	"gatehouse/policy"
)

// lastSeq is the audit log's newest seq, 0 when empty.
func lastSeq(t *testing.T, db *models.DB) int64 {
	t.Helper()
	var seq int64
	if err := db.Read.Raw("SELECT COALESCE(MAX(seq), 0) FROM audit_events").Scan(&seq).Error; err != nil {
		t.Fatal(err)
	}
	return seq
}

// wantEvents checks that the audit events after seq are exactly want
// ("action grant=G bg=B", bg only for a break-glass grant), all written
// at at by one change, and that each grant event says why.
func wantEvents(t *testing.T, db *models.DB, seq int64, at time.Time, want ...string) {
	t.Helper()
	var evs []models.AuditEvent
	if err := db.Read.Where("seq > ?", seq).Order("seq").Find(&evs).Error; err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range evs {
		s := string(e.Action)
		if e.GrantID != nil {
			s += fmt.Sprintf(" grant=%d", *e.GrantID)
			if e.Reason == "" {
				t.Errorf("%s has no reason", s)
			}
		}
		if e.BreakglassID != nil {
			s += fmt.Sprintf(" bg=%d", *e.BreakglassID)
		}
		if !e.At.Equal(at) {
			t.Errorf("%s at %v, want %v", s, e.At, at)
		}
		got = append(got, s)
	}
	if !slices.Equal(got, want) {
		t.Errorf("audit events = %q, want %q", got, want)
	}
}

func ended(id int64) string { return fmt.Sprintf("%s grant=%d", models.ActionGrantEnded, id) }

func endedBG(b models.Breakglass) string {
	return fmt.Sprintf("%s grant=%d bg=%d", models.ActionGrantEnded, *b.GrantID, b.ID)
}

// wantEnded checks which of the grants ids have ended, and when.
func wantEnded(t *testing.T, db *models.DB, at time.Time, endedAt time.Time, ids ...int64) {
	t.Helper()
	for _, id := range ids {
		g, err := models.FindGrant(context.Background(), db.Read, id)
		if err != nil {
			t.Fatal(err)
		}
		if g.Live(at) || g.EndedAt == nil || !g.EndedAt.Equal(endedAt) {
			t.Errorf("grant %d: ended at %v (live %v), want ended at %v", id, g.EndedAt, g.Live(at), endedAt)
		}
	}
}

func wantLive(t *testing.T, db *models.DB, at time.Time, ids ...int64) {
	t.Helper()
	for _, id := range ids {
		g, err := models.FindGrant(context.Background(), db.Read, id)
		if err != nil {
			t.Fatal(err)
		}
		if !g.Live(at) {
			t.Errorf("grant %d ended (%s: %s), want live", id, g.EndedBy, g.EndedWhy)
		}
	}
}

// tierFixture is the break-glass fixture with grants made directly.
type tierFixture struct {
	bgFixture
	t *testing.T
}

func (f tierFixture) grant(who, workspace string, unmask bool, starts time.Time, d time.Duration) int64 {
	f.t.Helper()
	g, err := models.CreateGrant(context.Background(), f.db.Write, starts, models.NewGrant{
		Workspace: workspace, GranteeID: f.staff[who].ID, Unmask: unmask, StartsAt: starts, Duration: d,
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return g.ID
}

func (f tierFixture) breakglass(who string) models.Breakglass {
	f.t.Helper()
	b, err := models.OpenBreakglass(context.Background(), f.db.Write, models.Act{Now: t0, By: actorOf(f.staff[who])}, f.post(), f.input(who))
	if err != nil {
		f.t.Fatal(err)
	}
	return b
}

func TestTierChangeEndsWhatTheNewTierCouldNotObtain(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		f := tierFixture{newBGFixture(t, db), t}
		ada, otto, sara := f.staff["ada.sysadmin"], f.staff["otto.sysadmin"], f.staff["sara.senior"]
		adaBG, adaUnmasked := f.breakglass("ada.sysadmin"), f.grant("ada.sysadmin", "acme", true, t0, 2*time.Hour)
		ottoBG := f.breakglass("otto.sysadmin")
		ottoMasked, ottoUnmasked := f.grant("otto.sysadmin", "globex", false, t0, 2*time.Hour), f.grant("otto.sysadmin", "acme", true, t0, 2*time.Hour)
		saraMasked := f.grant("sara.senior", "acme", false, t0, 2*time.Hour)
		root := models.Actor{Email: "root.sysadmin@example.com", Tier: "sysadmin"}
		demoted := t0.Add(10 * time.Minute)
		demote := func(s models.Staff, tier policy.Tier, want ...string) {
			t.Helper()
			seq := lastSeq(t, db)
			if err := models.SetTier(ctx, db.Write, models.Act{Now: demoted, By: root}, s.ID, tier); err != nil {
				t.Fatal(err)
			}
			wantEvents(t, db, seq, demoted, append(want, string(models.ActionStaffTierChanged))...)
		}

		// A sysadmin made support: the unmasked grant and the break-glass
		// end with the tier change, one event each.
		demote(ada, policy.TierSupport, endedBG(adaBG), ended(adaUnmasked))
		wantEnded(t, db, demoted, demoted, *adaBG.GrantID, adaUnmasked)
		if live, err := models.LiveGrants(ctx, db.Read, demoted, ada.ID, "acme"); err != nil || len(live) != 0 {
			t.Errorf("ada's live grants after demotion = %v, %v; want none", live, err)
		}
		if u, err := models.FindBreakglass(ctx, db.Read, adaBG.ID); err != nil || u.Open(demoted) {
			t.Errorf("ada's break-glass open after demotion (%v)", err)
		}
		// A sysadmin made senior keeps the grants a senior may hold.
		demote(otto, policy.TierSenior, endedBG(ottoBG))
		wantEnded(t, db, demoted, demoted, *ottoBG.GrantID)
		wantLive(t, db, demoted, ottoMasked, ottoUnmasked)
		// A senior made support: even a masked grant ends.
		demote(sara, policy.TierSupport, ended(saraMasked))
		wantEnded(t, db, demoted, demoted, saraMasked)

		// The owners are told of each grant ended, as of any that ends early.
		sweepAt := demoted.Add(time.Minute)
		owners := func(context.Context, string) ([]string, error) { return []string{"owner@x.example"}, nil }
		if _, err := models.Sweep(ctx, db.Write, sweepAt, models.Post{Outbox: f.outbox, Letters: plainLetters{}}, owners); err != nil {
			t.Fatal(err)
		}
		var summaries int64
		if err := db.Read.Table("mail_outbox").Where("kind = ? AND to_addr = ?", "grant.summary", "owner@x.example").Count(&summaries).Error; err != nil {
			t.Fatal(err)
		}
		if summaries != 4 {
			t.Errorf("owners got %d summaries, want 4 (one per grant ended)", summaries)
		}

		// Promotion back revives nothing.
		promoted := demoted.Add(5 * time.Minute)
		seq := lastSeq(t, db)
		for _, p := range []struct {
			s    models.Staff
			tier policy.Tier
		}{{ada, policy.TierSysadmin}, {otto, policy.TierSysadmin}, {sara, policy.TierSenior}} {
			if err := models.SetTier(ctx, db.Write, models.Act{Now: promoted, By: root}, p.s.ID, p.tier); err != nil {
				t.Fatal(err)
			}
		}
		tc := string(models.ActionStaffTierChanged)
		wantEvents(t, db, seq, promoted, tc, tc, tc)
		wantEnded(t, db, promoted, demoted, *adaBG.GrantID, adaUnmasked, *ottoBG.GrantID, saraMasked)
		wantLive(t, db, promoted, ottoMasked, ottoUnmasked)
		if live, err := models.LiveGrants(ctx, db.Read, promoted, ada.ID, "acme"); err != nil || len(live) != 0 {
			t.Errorf("ada's live grants after promotion = %v, %v; want none", live, err)
		}
		if u, err := models.FindBreakglass(ctx, db.Read, ottoBG.ID); err != nil || u.Open(promoted) {
			t.Errorf("otto's break-glass open after promotion (%v)", err)
		}
	})
}

func TestSuspendAndOffboardEndEachGrant(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		f := tierFixture{newBGFixture(t, db), t}
		sara, ada := f.staff["sara.senior"], f.staff["ada.sysadmin"]
		acme, globex := f.grant("sara.senior", "acme", false, t0, 2*time.Hour), f.grant("sara.senior", "globex", true, t0, 2*time.Hour)
		done := f.grant("sara.senior", "initech", false, t0, 2*time.Hour)
		if err := models.EndGrant(ctx, db.Write, t0.Add(time.Minute), sys, done, "done"); err != nil {
			t.Fatal(err)
		}
		f.grant("sara.senior", "umbrella", false, t0.Add(-3*time.Hour), time.Hour) // over by time
		adaBG, adaGrant := f.breakglass("ada.sysadmin"), f.grant("ada.sysadmin", "globex", true, t0, 2*time.Hour)
		root := models.Actor{Email: "root.sysadmin@example.com", Tier: "sysadmin"}
		at := t0.Add(10 * time.Minute)

		seq := lastSeq(t, db)
		if err := models.Suspend(ctx, db.Write, models.Act{Now: at, By: root}, sara.ID, "laptop stolen"); err != nil {
			t.Fatal(err)
		}
		wantEvents(t, db, seq, at, ended(acme), ended(globex), string(models.ActionStaffSuspended))
		wantEnded(t, db, at, at, acme, globex)
		wantEnded(t, db, at, t0.Add(time.Minute), done)

		later := at.Add(time.Minute)
		seq = lastSeq(t, db)
		if err := models.Reactivate(ctx, db.Write, models.Act{Now: later, By: root}, sara.ID, "laptop found"); err != nil {
			t.Fatal(err)
		}
		wantEvents(t, db, seq, later, string(models.ActionStaffReactivated))
		wantEnded(t, db, later, at, acme, globex)

		seq = lastSeq(t, db)
		if err := models.Offboard(ctx, db.Write, models.Act{Now: later, By: root}, ada.ID, "left the company"); err != nil {
			t.Fatal(err)
		}
		wantEvents(t, db, seq, later, endedBG(adaBG), ended(adaGrant), string(models.ActionStaffOffboarded))
		wantEnded(t, db, later, later, *adaBG.GrantID, adaGrant)
	})
}
