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

// TestAccessModePersisted: a request stores the mode it asks for, the
// grant the customer's consent makes carries it, and unmask stays equal
// to mode = unmasked. No mode is masked; an unknown one is refused and
// stores nothing.
func TestAccessModePersisted(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		w := newWorkflow(t, db)
		l := capture{w: w}
		post := models.Post{Outbox: w.ob, Letters: l}
		requester, approver, grantee := w.staff(policy.TierSupport), w.staff(policy.TierSenior), w.staff(policy.TierSenior)
		ask := func(ws string, mode models.AccessMode) (models.AccessRequest, error) {
			return models.CreateRequest(w.ctx, db.Write, models.Act{Now: w.now, By: w.sys}, models.Post{Outbox: w.ob, Letters: plainLetters{}}, w.pol, models.NewRequest{
				Workspace: ws, Requester: requester, Grantee: grantee, Reason: "Customer reports that exports fail since Monday.",
				Ticket: "SUP-1", Duration: time.Hour, Mode: mode,
			})
		}
		for _, mode := range models.AccessModes {
			t.Run(string(mode), func(t *testing.T) {
				r, err := ask("mode-"+string(mode), mode)
				if err != nil {
					t.Fatal(err)
				}
				if r, err = models.FindRequest(w.ctx, db.Read, r.ID); err != nil {
					t.Fatal(err)
				}
				if r.Mode != mode || r.Unmask != (mode == models.ModeUnmasked) {
					t.Errorf("stored request: mode %q unmask %t; want %q", r.Mode, r.Unmask, mode)
				}
				w.lastLink = ""
				if _, err := models.DecideRequest(w.ctx, db.Write, models.Act{Now: w.now, By: w.sys}, post, w.pol,
					models.Decision{Request: r.ID, Approve: true, Approver: approver, Note: "Looks legitimate.", Owners: []string{"owner@example.com"}}); err != nil {
					t.Fatal(err)
				}
				if _, err := models.DecideConsent(w.ctx, db.Write, w.now, post, models.ConsentInput{Token: w.lastLink, Decision: models.ConsentGrant, ShownHash: "h", PageHash: "h"}, models.DefaultClearance(agreement)); err != nil {
					t.Fatal(err)
				}
				if r, err = models.FindRequest(w.ctx, db.Read, r.ID); err != nil || r.GrantID == nil {
					t.Fatalf("request after consent: %+v, %v", r, err)
				}
				var g models.Grant
				if err := db.Read.Where("id = ?", *r.GrantID).Take(&g).Error; err != nil {
					t.Fatal(err)
				}
				if g.Mode != mode || g.Unmask != (mode == models.ModeUnmasked) {
					t.Errorf("grant from the consent: mode %q unmask %t; want %q", g.Mode, g.Unmask, mode)
				}
			})
		}
		r, err := ask("mode-none", "")
		if err != nil || r.Mode != models.ModeMasked || r.Unmask {
			t.Errorf("request without a mode: mode %q unmask %t, %v; want masked", r.Mode, r.Unmask, err)
		}
		before := count(t, db, "access_requests")
		_, err = ask("mode-bad", "everything")
		var fe models.FieldErrors
		if !errors.As(err, &fe) || fe["mode"] == "" {
			t.Errorf("unknown mode: %v; want a message on mode", err)
		}
		if n := count(t, db, "access_requests"); n != before {
			t.Errorf("unknown mode stored a request: %d requests, want %d", n, before)
		}
	})
}

// TestAccessModeMigrated: migration 00011 gives rows made before modes
// what they allowed: unmask → unmasked, otherwise reveal.
func TestAccessModeMigrated(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			ctx := context.Background()
			u := t.TempDir() + "/portal.db"
			if engine == "postgres" {
				u = dbtest.NewPostgresDatabase(t)
			}
			db, err := models.Open(ctx, u)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if err := models.MigrateUpTo(ctx, db, 10); err != nil {
				t.Fatal(err)
			}
			exec := func(q string, args ...any) {
				t.Helper()
				if err := db.Write.Exec(q, args...).Error; err != nil {
					t.Fatal(err)
				}
			}
			exec("INSERT INTO staff (email, name, tier, status, created_at, updated_at) VALUES ('old@example.com', 'Old', 'senior', 'active', ?, ?)", t0, t0)
			var staff int64
			if err := db.Read.Raw("SELECT id FROM staff").Scan(&staff).Error; err != nil {
				t.Fatal(err)
			}
			for i, unmask := range []bool{true, false} {
				exec("INSERT INTO grants (workspace, grantee_id, unmask, starts_at, ends_at, created_at) VALUES (?, ?, ?, ?, ?, ?)",
					"acme", staff, unmask, t0, t0.Add(time.Hour), t0)
				exec(`INSERT INTO access_requests (workspace, requester_id, grantee_id, reason, ticket, unmask, duration_seconds, status, created_at, expires_at, updated_at)
					VALUES (?, ?, ?, 'Customer reports that exports fail.', ?, ?, 3600, 'pending', ?, ?, ?)`,
					"acme", staff, staff, "SUP-"+string(rune('1'+i)), unmask, t0, t0.Add(time.Hour), t0)
			}
			if err := models.Migrate(ctx, db); err != nil {
				t.Fatal(err)
			}
			// Read on the connection that migrated: a SQLite reader that
			// last read before the migration expands * by its old schema.
			var grants []models.Grant
			if err := db.Write.Order("id").Find(&grants).Error; err != nil {
				t.Fatal(err)
			}
			var requests []models.AccessRequest
			if err := db.Write.Order("id").Find(&requests).Error; err != nil {
				t.Fatal(err)
			}
			if len(grants) != 2 || len(requests) != 2 {
				t.Fatalf("%d grants, %d requests after migrating; want 2 each", len(grants), len(requests))
			}
			want := []models.AccessMode{models.ModeUnmasked, models.ModeReveal}
			for i := range want {
				if grants[i].Mode != want[i] || grants[i].Unmask != (i == 0) {
					t.Errorf("grant with unmask %t: mode %q, want %q", i == 0, grants[i].Mode, want[i])
				}
				if requests[i].Mode != want[i] || requests[i].Unmask != (i == 0) {
					t.Errorf("request with unmask %t: mode %q, want %q", i == 0, requests[i].Mode, want[i])
				}
			}
			if err := db.Write.Exec("UPDATE grants SET access_mode = 'everything'").Error; err == nil {
				t.Error("a grant took an unknown mode")
			}
		})
	}
}

// modeGrant gives v a grant in mode on workspace within scope.
func (f *dataFixture) modeGrant(v models.Viewer, workspace string, scope models.GrantScope, mode models.AccessMode) models.Grant {
	f.t.Helper()
	g, err := models.CreateGrant(context.Background(), f.db.Write, f.now, models.NewGrant{
		Workspace: workspace, GranteeID: v.StaffID, Scope: scope, Mode: mode, StartsAt: f.now, Duration: time.Hour,
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return g
}

// refusedOnly checks that the last call wrote exactly one audit event, a
// data.refused with reason, and no reveal.
func (f *dataFixture) refusedOnly(eventsBefore int64, reason string) {
	f.t.Helper()
	if n := count(f.t, f.db, "audit_events"); n != eventsBefore+1 {
		f.t.Errorf("%d audit events written, want 1 (the refusal)", n-eventsBefore)
	}
	if ev := f.newestEvent(); ev.Action != models.ActionDataRefused || ev.Reason != reason {
		f.t.Errorf("newest event %s %q, want %s %q", ev.Action, ev.Reason, models.ActionDataRefused, reason)
	}
	if n := count(f.t, f.db, "reveals"); n != 0 {
		f.t.Errorf("%d reveals stored, want 0", n)
	}
}

// TestRevealNeedsConsent: a reveal is refused, with only its refusal
// written, under a grant whose customer did not consent to reveals
// (masked, and unmasked where there is nothing to reveal).
func TestRevealNeedsConsent(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		f := newDataFixture(t, db)
		ctx := context.Background()
		for _, mode := range []models.AccessMode{models.ModeMasked, models.ModeUnmasked} {
			t.Run(string(mode), func(t *testing.T) {
				v := f.viewer(map[models.AccessMode]string{models.ModeMasked: "sara.senior@example.com", models.ModeUnmasked: "sean.senior@example.com"}[mode])
				f.modeGrant(v, "acme", models.GrantScope{}, mode)
				before := count(t, db, "audit_events")
				rv, err := f.data.RevealField(ctx, v, models.DataRequest{Slug: "acme", Table: "members", Record: "1"}, "email", "Ticket OPS-1 asks us to check it.")
				if !errors.Is(err, models.ErrRevealRefused) || rv.ID != 0 {
					t.Errorf("reveal under a %s grant: %+v, %v; want ErrRevealRefused", mode, rv, err)
				}
				f.refusedOnly(before, "reveals not consented")
			})
		}
	})
}

// TestRevealChecksRecord: a reveal of a record that does not exist, or of
// a table outside the grant's scope, is refused with only its refusal
// written.
func TestRevealChecksRecord(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		f := newDataFixture(t, db)
		ctx := context.Background()
		sara := f.viewer("sara.senior@example.com")
		f.modeGrant(sara, "acme", models.GrantScope{Tables: map[string][]int64{"members": nil}}, models.ModeReveal)
		for _, tc := range []struct {
			name   string
			req    models.DataRequest
			want   error
			reason string
		}{
			{"nonexistent record", models.DataRequest{Slug: "acme", Table: "members", Record: "987654"}, models.ErrNotFound, "no such record"},
			{"table outside the scope", models.DataRequest{Slug: "acme", Table: "documents", Record: "1"}, models.ErrNoGrant, "no live grant"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				before := count(t, db, "audit_events")
				_, err := f.data.RevealField(ctx, sara, tc.req, "email", "Ticket OPS-1 asks us to check it.")
				if !errors.Is(err, tc.want) {
					t.Errorf("reveal: %v, want %v", err, tc.want)
				}
				f.refusedOnly(before, tc.reason)
			})
		}
	})
}

// TestRevealUnderRevealMode: under a reveal grant a single field is
// revealed, with its event, and shown on the record.
func TestRevealUnderRevealMode(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		f := newDataFixture(t, db)
		ctx := context.Background()
		sara := f.viewer("sara.senior@example.com")
		// A masked grant next to it does not hide the consent to reveals.
		f.modeGrant(sara, "acme", models.GrantScope{}, models.ModeMasked)
		g := f.modeGrant(sara, "acme", models.GrantScope{Tables: map[string][]int64{"members": {1, 2}}}, models.ModeReveal)
		rv, err := f.data.RevealField(ctx, sara, models.DataRequest{Slug: "acme", Table: "members", Record: "1"}, "email", "Ticket OPS-1 asks us to check it.")
		if err != nil || rv.GrantID != g.ID {
			t.Fatalf("reveal under a reveal grant: %+v, %v; want a reveal under grant %d", rv, err, g.ID)
		}
		if ev := f.newestEvent(); ev.Action != models.ActionFieldRevealed || ev.Reason != "Ticket OPS-1 asks us to check it." {
			t.Errorf("newest event %s %q, want %s with the reason", ev.Action, ev.Reason, models.ActionFieldRevealed)
		}
		if fields := f.revealed(sara, "acme", "members", 1); len(fields) != 1 || fields[0] != "email" {
			t.Errorf("revealed fields %q, want [email]", fields)
		}
		// Next to an unmasked grant (a break-glass), the reveal is made
		// under the grant whose customer consented to it.
		sean := f.viewer("sean.senior@example.com")
		f.modeGrant(sean, "acme", models.GrantScope{}, models.ModeUnmasked)
		g = f.modeGrant(sean, "acme", models.GrantScope{}, models.ModeReveal)
		rv, err = f.data.RevealField(ctx, sean, models.DataRequest{Slug: "acme", Table: "members", Record: "2"}, "email", "Ticket OPS-2 asks us to check it.")
		if err != nil || rv.GrantID != g.ID {
			t.Errorf("reveal next to an unmasked grant: %+v, %v; want a reveal under grant %d", rv, err, g.ID)
		}
	})
}
