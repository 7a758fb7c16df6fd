package models_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/dbtest"
	"gatehouse/policy"
)

func epochOf(t *testing.T, db *models.DB) int64 {
	t.Helper()
	e, err := models.SecurityEpoch(context.Background(), db.Read)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestEpochMovesWithEveryEndOfAccess ends access in every way the portal
// has — each way a grant ends, a workspace deleted, a sign-out — through
// the models' own functions, and checks that each moved the security
// epoch: a replica's cache must not serve what any of them ended. Expiry
// by the clock alone records nothing; the view's re-check compares the
// grant's window with the time instead (TestAccessCacheRevocationIsExact).
func TestEpochMovesWithEveryEndOfAccess(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		f := newOrderFixture(t, db)
		ways := append(f.ways(), way{"workspace deleted", func() live { return f.deletion(1)[0] }})
		n := 0
		for _, w := range ways {
			l := w.setup()
			before := epochOf(t, db)
			if err := l.end(); err != nil {
				t.Fatalf("%s: %v", w.name, err)
			}
			n++
			if got := epochOf(t, db); w.name == "expired" {
				if got != before {
					t.Errorf("%s: epoch moved from %d to %d with no event", w.name, before, got)
				}
			} else if got <= before {
				t.Errorf("%s: epoch stayed at %d", w.name, got)
			}
		}
		if n != 11 {
			t.Errorf("%d ways ended, want 11", n)
		}

		// Sign-out, and a new grant (which must not stay hidden either).
		s := f.w.staff(policy.TierSenior)
		hash := models.TokenHash([]byte("test-session-key-of-at-least-32-bytes!"), models.NewToken())
		if err := models.Login(f.ctx, db.Write, f.now(), f.act(s).By, models.LoginInput{Staff: s, Issuer: "https://idp", Subject: fmt.Sprint("sub-", s.ID), SessionHash: hash, AuthAt: f.now()}); err != nil {
			t.Fatal(err)
		}
		before := epochOf(t, db)
		if err := models.Logout(f.ctx, db.Write, f.now(), f.act(s).By, hash); err != nil {
			t.Fatal(err)
		}
		if got := epochOf(t, db); got <= before {
			t.Errorf("sign-out: epoch stayed at %d", got)
		}
		before = epochOf(t, db)
		f.directGrant("acme", time.Hour)
		if got := epochOf(t, db); got <= before {
			t.Errorf("new grant: epoch stayed at %d", got)
		}
	})
}

// TestEpochMovesWithEveryActionButReadOnly appends one event of every
// action: each moves the epoch by one unless it is read-only, and the
// read-only set holds no action that changes access.
func TestEpochMovesWithEveryActionButReadOnly(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		ro := models.ReadOnlyActions()
		for _, a := range []models.Action{
			models.ActionLogout, models.ActionGrantRevoked, models.ActionGrantDone, models.ActionGrantExpired, models.ActionGrantEnded,
			models.ActionStaffSuspended, models.ActionStaffOffboarded, models.ActionStaffTierChanged, models.ActionWorkspaceDeleted,
			models.ActionBreakglassEnded, models.ActionConsentGranted, models.ActionLoginSucceeded,
		} {
			if ro[a] {
				t.Errorf("%s changes access but is read-only", a)
			}
		}
		for _, a := range models.AuditActions() {
			before := epochOf(t, db)
			if _, err := models.AppendAudit(ctx, db.Write, models.AuditEntry{At: demoNow, Actor: models.Actor{Email: "t@example.com"}, Action: a}); err != nil {
				t.Fatal(err)
			}
			want := before + 1
			if ro[a] {
				want = before
			}
			if got := epochOf(t, db); got != want {
				t.Errorf("%s: epoch %d, want %d", a, got, want)
			}
		}
	})
}

// TestAccessCacheRevocationIsExact warms the cache with a view, then ends
// the grant: the very next view is refused, on the same cache. A grant
// that only expires by the clock is refused too, without any event.
func TestAccessCacheRevocationIsExact(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		f := newOrderFixture(t, db)
		g, grantee := f.directGrant("acme", 10*time.Minute)
		l := live{grant: g.ID, slug: "acme", grantee: grantee}
		for i := range 2 { // the second is served from the cache
			if shown, err := uses[0].run(f, l); err != nil || shown == 0 {
				t.Fatalf("view %d: %d shown, %v", i, shown, err)
			}
		}
		if err := models.EndGrant(f.ctx, db.Write, f.now(), f.act(f.sysadmin).By, g.ID, "over"); err != nil {
			t.Fatal(err)
		}
		if shown, err := uses[0].run(f, l); !errors.Is(err, models.ErrNoGrant) || shown != 0 {
			t.Errorf("view after revocation: %d shown, %v; want none and ErrNoGrant", shown, err)
		}

		g, grantee = f.directGrant("acme", 10*time.Minute)
		l = live{grant: g.ID, slug: "acme", grantee: grantee}
		if shown, err := uses[1].run(f, l); err != nil || shown == 0 {
			t.Fatalf("view: %d shown, %v", shown, err)
		}
		f.advance(10 * time.Minute)
		if shown, err := uses[1].run(f, l); !errors.Is(err, models.ErrNoGrant) || shown != 0 {
			t.Errorf("view after expiry: %d shown, %v; want none and ErrNoGrant", shown, err)
		}
		wantNoViolations(t, db)
	})
}

// TestViewRefusedWhenSessionEndsMidRead signs the viewer out between the
// read and the recording of the view, on a warm cache: the epoch moved,
// so the writer re-checks the session and records the refusal instead.
func TestViewRefusedWhenSessionEndsMidRead(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		f := newOrderFixture(t, db)
		g, grantee := f.directGrant("acme", time.Hour)
		hash := models.TokenHash([]byte("test-session-key-of-at-least-32-bytes!"), models.NewToken())
		if err := models.Login(f.ctx, db.Write, f.now(), f.act(grantee).By, models.LoginInput{Staff: grantee, Issuer: "https://idp", Subject: fmt.Sprint("sub-", grantee.ID), SessionHash: hash, AuthAt: f.now()}); err != nil {
			t.Fatal(err)
		}
		v := f.viewer(grantee)
		v.Session = hash
		read := func() error {
			_, err := f.data.ReadTable(f.ctx, v, models.DataRequest{Slug: "acme", Table: "members"})
			return err
		}
		if err := read(); err != nil {
			t.Fatal(err)
		}
		var endErr error
		models.SetBeforeAudit(f.data, func() {
			models.SetBeforeAudit(f.data, nil)
			endErr = models.Logout(f.ctx, db.Write, f.now(), f.act(grantee).By, hash)
		})
		err := read()
		if endErr != nil {
			t.Fatal(endErr)
		}
		if !errors.Is(err, models.ErrNoGrant) {
			t.Errorf("view while signing out: %v, want ErrNoGrant", err)
		}
		if ev := newest(t, db); ev.Action != models.ActionDataRefused || ev.Reason != "access ended" || ev.GrantID == nil || *ev.GrantID != g.ID {
			t.Errorf("newest event %s %q under %v, want data.refused \"access ended\" under %d", ev.Action, ev.Reason, ev.GrantID, g.ID)
		}
	})
}

// TestAccessCacheAgesAndIsBounded: an entry is served while the epoch
// stands and its TTL has not passed (a change the epoch does not see,
// made behind the portal's back, shows only after the TTL), and the
// cache never holds more than its cap.
func TestAccessCacheAgesAndIsBounded(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		f := newOrderFixture(t, db)
		c := models.NewAccessCache(db.Read, 5*time.Second, 3, f.now)
		s := f.w.staff(policy.TierSenior)
		read := func() models.Staff {
			t.Helper()
			ctx, err := c.Begin(f.ctx)
			if err != nil {
				t.Fatal(err)
			}
			st, err := c.CachedStaff(ctx, db.Read, s.ID)
			if err != nil {
				t.Fatal(err)
			}
			return st
		}
		read()
		if err := db.Write.Exec("UPDATE staff SET name = ? WHERE id = ?", "Renamed", s.ID).Error; err != nil {
			t.Fatal(err)
		}
		if got := read().Name; got != s.Name {
			t.Errorf("within the TTL: name %q, want the cached %q", got, s.Name)
		}
		f.advance(5 * time.Second)
		if got := read().Name; got != "Renamed" {
			t.Errorf("after the TTL: name %q, want Renamed", got)
		}
		if err := db.Write.Exec("UPDATE staff SET name = ? WHERE id = ?", "Again", s.ID).Error; err != nil {
			t.Fatal(err)
		}
		if _, err := models.AppendAudit(f.ctx, db.Write, models.AuditEntry{At: f.now(), Actor: models.Actor{Email: "t@example.com"}, Action: models.ActionStaffTierChanged}); err != nil {
			t.Fatal(err)
		}
		if got := read().Name; got != "Again" {
			t.Errorf("after the epoch moved: name %q, want Again", got)
		}

		ctx, err := c.Begin(f.ctx)
		if err != nil {
			t.Fatal(err)
		}
		for range 6 {
			st := f.w.staff(policy.TierSupport)
			if _, err := c.CachedStaff(ctx, db.Read, st.ID); err != nil {
				t.Fatal(err)
			}
			if n := c.Len(); n > 3 {
				t.Fatalf("cache holds %d entries, cap 3", n)
			}
		}
		if n := c.Len(); n == 0 {
			t.Error("cache holds nothing")
		}
	})
}
