package models_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/dbtest"

	"gorm.io/gorm"
)

// endLetters writes a mail for each break-glass notice and keeps the
// owners' link tokens and the endings told.
type endLetters struct {
	mu     sync.Mutex
	tokens map[string]string // owner → token
	ended  map[string]models.BreakglassEnding
}

func (l *endLetters) Letter(_ context.Context, _ *gorm.DB, notice models.Notice) (models.Mail, error) {
	n, ok := notice.(models.BreakglassNotice)
	if !ok {
		return models.Mail{}, fmt.Errorf("no letter for %T", notice)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	kind := "breakglass.owner"
	switch {
	case n.Ended != nil:
		kind = "breakglass.ended"
		l.ended[n.To] = *n.Ended
	case n.Sysadmin:
		kind = "breakglass.sysadmin"
	default:
		l.tokens[n.To] = n.Token
	}
	return models.Mail{Kind: kind, Subject: "break-glass", Text: "break-glass", HTML: "<p>break-glass</p>"}, nil
}

// endFixture is a break-glass Ada opened at t0 on acme for an hour.
type endFixture struct {
	bgFixture
	letters *endLetters
	b       models.Breakglass
}

func newEndFixture(t *testing.T, db *models.DB) endFixture {
	t.Helper()
	f := endFixture{bgFixture: newBGFixture(t, db), letters: &endLetters{tokens: map[string]string{}, ended: map[string]models.BreakglassEnding{}}}
	var err error
	f.b, err = models.OpenBreakglass(context.Background(), db.Write, models.Act{Now: t0, By: actorOf(f.staff["ada.sysadmin"])}, f.post(), f.input("ada.sysadmin"))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f endFixture) post() models.Post { return models.Post{Outbox: f.outbox, Letters: f.letters} }

// end ends the break-glass as staff member name at t0+10m.
func (f endFixture) end(name, note string) error {
	s := f.staff[name]
	return models.EndBreakglass(context.Background(), f.db.Write, models.Act{Now: t0.Add(10 * time.Minute), By: actorOf(s)}, f.post(), f.b.ID, s.ID, note)
}

// endedEvents are the breakglass.ended events.
func (f endFixture) endedEvents(t *testing.T) []models.AuditEvent {
	t.Helper()
	evs, err := models.ListAudit(context.Background(), f.db.Read, models.AuditFilter{Action: models.ActionBreakglassEnded})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// live reports whether Ada's grant still lets her read acme at t0+11m.
func (f endFixture) live(t *testing.T) bool {
	t.Helper()
	_, _, err := models.GrantFor(context.Background(), f.db.Read, t0.Add(11*time.Minute), models.GrantQuery{StaffID: f.staff["ada.sysadmin"].ID, Workspace: "acme", Table: "members"})
	if err != nil && !errors.Is(err, models.ErrNoGrant) {
		t.Fatal(err)
	}
	return err == nil
}

// wantEnded checks the one breakglass.ended event and the ended grant.
func (f endFixture) wantEnded(t *testing.T, actor, tier, reason, role string) {
	t.Helper()
	evs := f.endedEvents(t)
	if len(evs) != 1 {
		t.Fatalf("breakglass.ended events = %d, want 1", len(evs))
	}
	ev := evs[0]
	if ev.Actor != actor || ev.ActorTier != tier || ev.Reason != reason || ev.BreakglassID == nil || *ev.BreakglassID != f.b.ID ||
		ev.GrantID == nil || *ev.GrantID != *f.b.GrantID || ev.Workspace != "acme" || !strings.Contains(ev.Detail, `"ended_by":"`+role+`"`) {
		t.Errorf("breakglass.ended = %+v, want by %s (%s, %s) saying %q with the break-glass and grant ids", ev, actor, tier, role, reason)
	}
	if f.live(t) {
		t.Error("the grant still lets Ada read after the end")
	}
	g, err := models.FindGrant(context.Background(), f.db.Read, *f.b.GrantID)
	if err != nil {
		t.Fatal(err)
	}
	if g.EndedAt == nil || !g.EndedAt.Equal(t0.Add(10*time.Minute)) || g.EndedBy != actor || g.EndedWhy != reason {
		t.Errorf("grant after the end = %+v", g)
	}
	if res, err := models.VerifyAudit(context.Background(), f.db); err != nil || !res.OK {
		t.Errorf("audit chain: %+v, %v", res, err)
	}
}

func TestBreakglassEndByOpener(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		f := newEndFixture(t, db)
		before := f.counts(t)
		var inv models.FieldErrors
		if err := f.end("ada.sysadmin", "done\u202e"); !errors.As(err, &inv) || inv["note"] == "" {
			t.Errorf("I'm done with a bidi character: err = %v, want a message on the note", err)
		}
		if err := f.end("ada.sysadmin", strings.Repeat("x", 2001)); !errors.As(err, &inv) || inv["note"] == "" {
			t.Errorf("I'm done with 2,001 characters: err = %v, want a message on the note", err)
		}
		if after := f.counts(t); after != before || !f.live(t) {
			t.Fatalf("refused ends wrote %v → %v (live %t)", before, after, f.live(t))
		}
		if err := f.end("ada.sysadmin", ""); err != nil {
			t.Fatal(err)
		}
		f.wantEnded(t, "ada.sysadmin@example.com", "sysadmin", "done", "opener")
		if len(f.letters.ended) != 0 {
			t.Errorf("ending one's own break-glass told %v, want nobody", f.letters.ended)
		}
		before = f.counts(t)
		if err := f.end("ada.sysadmin", ""); !errors.Is(err, models.ErrConflict) || !strings.Contains(err.Error(), "already ended") {
			t.Errorf("second I'm done: err = %v, want a conflict saying it has already ended", err)
		}
		if after := f.counts(t); after != before {
			t.Errorf("second I'm done wrote %v → %v", before, after)
		}
	})
}

func TestBreakglassEndOpenerNote(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		f := newEndFixture(t, db)
		note := strings.Repeat("Restored the projects from the backup. ", 10) // far over 64 bytes, kept whole
		if err := f.end("ada.sysadmin", "  "+note+"  "); err != nil {
			t.Fatal(err)
		}
		f.wantEnded(t, "ada.sysadmin@example.com", "sysadmin", strings.TrimSpace(note), "opener")
	})
}

func TestBreakglassEndBySysadmin(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		f := newEndFixture(t, db)
		note := "INC-2041 is resolved; closing the access."
		before := f.counts(t)
		for _, name := range []string{"sara.senior", "sam.support", "aud.auditor", "eve.engineer", "nina.newhire"} {
			if err := f.end(name, note); !errors.Is(err, models.ErrBreakglassRefused) {
				t.Errorf("end by %s: err = %v, want ErrBreakglassRefused", name, err)
			}
		}
		var inv models.FieldErrors
		for _, bad := range []string{"", "   ", "stop", "stop now\u200b please"} {
			if err := f.end("otto.sysadmin", bad); !errors.As(err, &inv) || inv["note"] == "" {
				t.Errorf("end by otto with note %q: err = %v, want a message on the note", bad, err)
			}
		}
		if err := models.EndBreakglass(context.Background(), db.Write, models.Act{Now: t0, By: actorOf(f.staff["otto.sysadmin"])}, f.post(), f.b.ID+100, f.staff["otto.sysadmin"].ID, note); !errors.Is(err, models.ErrNotFound) {
			t.Errorf("end of an unknown break-glass: err = %v, want ErrNotFound", err)
		}
		if after := f.counts(t); after != before || !f.live(t) {
			t.Fatalf("refused ends wrote %v → %v (live %t)", before, after, f.live(t))
		}
		if err := f.end("otto.sysadmin", note); err != nil {
			t.Fatal(err)
		}
		f.wantEnded(t, "otto.sysadmin@example.com", "sysadmin", note, "sysadmin")
		if e, ok := f.letters.ended["ada.sysadmin@example.com"]; !ok || e.Role != models.EndedBySysadmin || e.By != "otto.sysadmin@example.com" || e.Note != note {
			t.Errorf("ada was told %+v (%t), want otto's end with his note", e, ok)
		}
		before = f.counts(t)
		if err := f.end("otto.sysadmin", note); !errors.Is(err, models.ErrConflict) {
			t.Errorf("second end: err = %v, want ErrConflict", err)
		}
		if err := f.end("ada.sysadmin", ""); !errors.Is(err, models.ErrConflict) {
			t.Errorf("I'm done after otto's end: err = %v, want ErrConflict", err)
		}
		if after := f.counts(t); after != before {
			t.Errorf("ends of an ended break-glass wrote %v → %v", before, after)
		}
	})
}

// An offboarded sysadmin (a sysadmin no more) cannot end a break-glass.
func TestBreakglassEndByOffboardedSysadmin(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		f := newEndFixture(t, db)
		if err := models.Offboard(context.Background(), db.Write, models.Act{Now: t0, By: sys}, f.staff["otto.sysadmin"].ID, "left"); err != nil {
			t.Fatal(err)
		}
		before := f.counts(t)
		if err := f.end("otto.sysadmin", "INC-2041 is resolved; closing the access."); !errors.Is(err, models.ErrBreakglassRefused) {
			t.Errorf("end by an offboarded sysadmin: err = %v, want ErrBreakglassRefused", err)
		}
		if after := f.counts(t); after != before || !f.live(t) {
			t.Errorf("refused end wrote %v → %v (live %t)", before, after, f.live(t))
		}
	})
}

func TestBreakglassEndByLink(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		f := newEndFixture(t, db)
		ctx := context.Background()
		token := f.letters.tokens["owner@acme.example"]
		other := f.letters.tokens["admin@acme.example"]
		if len(token) != 43 || len(other) != 43 || token == other {
			t.Fatalf("owner tokens %q and %q: want one of 43 characters each, different", token, other)
		}
		// Only hashes are stored, one link per owner.
		var links []models.BreakglassLink
		if err := db.Read.Order("recipient").Find(&links).Error; err != nil {
			t.Fatal(err)
		}
		if len(links) != 2 || links[0].Recipient != "admin@acme.example" || links[1].TokenHash != models.BreakglassTokenHash(token) {
			t.Errorf("links = %+v", links)
		}
		for _, l := range links {
			if l.TokenHash == token || l.TokenHash == other || l.BreakglassID != f.b.ID {
				t.Errorf("link %+v stores a token or points elsewhere", l)
			}
		}
		// Opening changes nothing; it shows the break-glass.
		before := f.counts(t)
		v, err := models.OpenBreakglassLink(ctx, db.Read, t0.Add(time.Minute), token)
		if err != nil || v.Link.Recipient != "owner@acme.example" || v.Use.ID != f.b.ID || v.Use.Opener.Email != "ada.sysadmin@example.com" || !v.CanEnd(t0.Add(time.Minute)) {
			t.Fatalf("open link = %+v, %v", v, err)
		}
		for _, bad := range []string{"", token[:42], token + "A", strings.ToUpper(token[:1]) + token[1:] + "", strings.Repeat("A", 43), models.BreakglassTokenHash(token)[:43]} {
			if bad == token {
				continue
			}
			if _, err := models.OpenBreakglassLink(ctx, db.Read, t0, bad); !errors.Is(err, models.ErrBadToken) {
				t.Errorf("open link %q: err = %v, want ErrBadToken", bad, err)
			}
			if _, err := models.EndBreakglassByLink(ctx, db.Write, t0.Add(10*time.Minute), f.post(), models.BreakglassLinkInput{Token: bad}); !errors.Is(err, models.ErrBadToken) {
				t.Errorf("end by link %q: err = %v, want ErrBadToken", bad, err)
			}
		}
		var inv models.FieldErrors
		if _, err := models.EndBreakglassByLink(ctx, db.Write, t0.Add(10*time.Minute), f.post(), models.BreakglassLinkInput{Token: token, Note: "stop\x00"}); !errors.As(err, &inv) || inv["note"] == "" {
			t.Errorf("end by link with a NUL in the note: err = %v, want a message on the note", err)
		}
		if after := f.counts(t); after != before || !f.live(t) {
			t.Fatalf("opening and refused ends wrote %v → %v (live %t)", before, after, f.live(t))
		}
		in := models.BreakglassLinkInput{Token: token, IP: "198.51.100.4", UserAgent: "Mail client"}
		if _, err := models.EndBreakglassByLink(ctx, db.Write, t0.Add(10*time.Minute), f.post(), in); err != nil {
			t.Fatal(err)
		}
		f.wantEnded(t, "owner@acme.example", "customer", "ended by the workspace owner", "owner")
		if e, ok := f.letters.ended["ada.sysadmin@example.com"]; !ok || e.Role != models.EndedByOwner || e.By != "owner@acme.example" {
			t.Errorf("ada was told %+v (%t), want the owner's end", e, ok)
		}
		// The other owner's link: now a conflict that changes nothing.
		before = f.counts(t)
		if _, err := models.EndBreakglassByLink(ctx, db.Write, t0.Add(11*time.Minute), f.post(), models.BreakglassLinkInput{Token: other, Note: "Please stop."}); !errors.Is(err, models.ErrConflict) {
			t.Errorf("second end by link: err = %v, want ErrConflict", err)
		}
		if after := f.counts(t); after != before {
			t.Errorf("second end by link wrote %v → %v", before, after)
		}
		// The link shows the ended break-glass for 30 days after its end.
		ended := t0.Add(10 * time.Minute)
		if v, err := models.OpenBreakglassLink(ctx, db.Read, ended.Add(models.BreakglassLinkHistory), other); err != nil || v.CanEnd(ended.Add(time.Minute)) {
			t.Errorf("link 30 days after the end = %+v, %v; want shown, not endable", v, err)
		}
		if _, err := models.OpenBreakglassLink(ctx, db.Read, ended.Add(models.BreakglassLinkHistory+time.Second), other); !errors.Is(err, models.ErrBadToken) {
			t.Errorf("link 30 days and a second after the end: err = %v, want ErrBadToken", err)
		}
	})
}

// A break-glass that ran out: its link cannot end it, and expires 30 days
// after the window.
func TestBreakglassLinkAfterWindow(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		f := newEndFixture(t, db)
		ctx := context.Background()
		token := f.letters.tokens["owner@acme.example"]
		after := f.b.EndsAt
		before := f.counts(t)
		if _, err := models.EndBreakglassByLink(ctx, db.Write, after, f.post(), models.BreakglassLinkInput{Token: token}); !errors.Is(err, models.ErrConflict) {
			t.Errorf("end by link at the window's end: err = %v, want ErrConflict", err)
		}
		if err := models.EndBreakglass(ctx, db.Write, models.Act{Now: after, By: actorOf(f.staff["ada.sysadmin"])}, f.post(), f.b.ID, f.staff["ada.sysadmin"].ID, ""); !errors.Is(err, models.ErrConflict) {
			t.Errorf("I'm done at the window's end: err = %v, want ErrConflict", err)
		}
		if n := f.counts(t); n != before {
			t.Errorf("ends after the window wrote %v → %v", before, n)
		}
		if _, err := models.OpenBreakglassLink(ctx, db.Read, after.Add(models.BreakglassLinkHistory+time.Second), token); !errors.Is(err, models.ErrBadToken) {
			t.Errorf("link 30 days after the window: err = %v, want ErrBadToken", err)
		}
	})
}

// The opener, two other sysadmins and both owners end the same
// break-glass at once: exactly one wins, the others get a conflict.
func TestBreakglassEndRace(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		f := newEndFixture(t, db)
		ctx := context.Background()
		at := t0.Add(10 * time.Minute)
		var ends []func() error
		for range 2 {
			for _, name := range []string{"ada.sysadmin", "otto.sysadmin"} {
				ends = append(ends, func() error { return f.end(name, "INC-2041 is resolved; closing the access.") })
			}
			for _, owner := range []string{"owner@acme.example", "admin@acme.example"} {
				ends = append(ends, func() error {
					_, err := models.EndBreakglassByLink(ctx, db.Write, at, f.post(), models.BreakglassLinkInput{Token: f.letters.tokens[owner]})
					return err
				})
			}
		}
		errs := make([]error, len(ends))
		var wg sync.WaitGroup
		for i, end := range ends {
			wg.Go(func() { errs[i] = end() })
		}
		wg.Wait()
		won := 0
		for _, err := range errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, models.ErrConflict):
				t.Errorf("losing end: err = %v, want ErrConflict", err)
			}
		}
		if won != 1 {
			t.Errorf("winning ends = %d, want exactly 1", won)
		}
		if evs := f.endedEvents(t); len(evs) != 1 {
			t.Errorf("breakglass.ended events = %d, want 1", len(evs))
		}
		if f.live(t) {
			t.Error("the grant is still live")
		}
	})
}
