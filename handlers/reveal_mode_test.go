package handlers

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/dbtest"
	"gatehouse/views"
)

// modeSentences are what the customer is told of each access mode.
var modeSentences = map[models.AccessMode]string{
	models.ModeMasked:   "Personal fields stay hidden; no field can be revealed.",
	models.ModeReveal:   "Personal fields stay hidden; a single field may be revealed, each time with a recorded reason you will see.",
	models.ModeUnmasked: "Personal fields are shown unmasked.",
}

// words is s with its whitespace (line breaks of a text mail, markup
// indentation) folded to single spaces.
func words(s string) string { return strings.Join(strings.Fields(s), " ") }

// TestConsentStatesMode: the consent mail (both parts) and the consent
// page say exactly the request's mode, and nothing of another mode; the
// request page and the grant say it too.
func TestConsentStatesMode(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		sam, sean := p.login("sam.support@example.com"), p.login("sean.senior@example.com")
		for ws, mode := range map[string]models.AccessMode{"acme": models.ModeMasked, "globex": models.ModeReveal, "umbrella": models.ModeUnmasked} {
			t.Run(string(mode), func(t *testing.T) {
				f := requestForm(ws, "sara.senior@example.com")
				f.Set("mode", string(mode))
				id := p.openRequest(sam, f)
				reqPath := fmt.Sprintf("/requests/%d", id)
				if _, body := p.get(sean, reqPath); !strings.Contains(body, `data-testid="mode"`) || !strings.Contains(body, map[models.AccessMode]string{
					models.ModeMasked: "masked, no reveals", models.ModeReveal: "masked, single fields may be revealed with a recorded reason", models.ModeUnmasked: "unmasked",
				}[mode]) {
					t.Errorf("the approver's request page does not show the mode %s:\n%s", mode, body)
				}
				if res, body := p.post(noRedirect(sean), reqPath+"/approve", url.Values{"note": {"Ticket checked, go ahead."}}); res.StatusCode != http.StatusSeeOther {
					t.Fatalf("approve = %d:\n%s", res.StatusCode, body)
				}
				owner := "owner@" + ws + ".example"
				token := p.consentToken(owner)
				mails, err := p.opts.Outbox.List(context.Background(), p.db.Read, 500)
				if err != nil {
					t.Fatal(err)
				}
				var mail *models.OutboxMail
				for i := range mails {
					if mails[i].To == owner && mails[i].Kind == "consent.request" {
						mail = &mails[i]
						break
					}
				}
				if mail == nil {
					t.Fatalf("no consent mail to %s", owner)
				}
				_, page := p.get(p.client(), "/consent/"+token)
				for part, text := range map[string]string{"mail text": mail.Text, "mail HTML": mail.HTML, "consent page": page} {
					text = words(text)
					if !strings.Contains(text, modeSentences[mode]) {
						t.Errorf("%s does not say %q:\n%s", part, modeSentences[mode], text)
					}
					for other, sentence := range modeSentences {
						if other != mode && strings.Contains(text, sentence) {
							t.Errorf("%s of a %s request says %q", part, mode, sentence)
						}
					}
					if mode == models.ModeUnmasked && strings.Contains(text, "stay hidden") {
						t.Errorf("%s of an unmasked request says fields stay hidden", part)
					}
				}
				if res, body := p.post(noRedirect(p.client()), "/consent/"+token, url.Values{"decision": {"grant"}, "shown": {shownHash(t, page)}}); res.StatusCode != http.StatusSeeOther {
					t.Fatalf("grant = %d:\n%s", res.StatusCode, body)
				}
				if n := p.count("grants", "request_id = ? AND access_mode = ?", id, string(mode)); n != 1 {
					t.Errorf("%d grants for request %d in mode %s, want 1", n, id, mode)
				}
			})
		}
	})
}

// TestRequestFormMode: the form offers the three modes, masked first
// chosen; a missing, repeated, unknown or contradicted mode is the form's
// message and creates nothing; `unmask=on` alone (DESIGN's field) still
// asks for unmasked.
func TestRequestFormMode(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		sam := p.login("sam.support@example.com")
		_, body := p.get(sam, "/requests/new?workspace=acme")
		for _, o := range views.ModeOptions {
			if !strings.Contains(body, `name="mode" value="`+o.Value+`"`) {
				t.Errorf("the form does not offer mode %s", o.Value)
			}
		}
		if !strings.Contains(body, `name="mode" value="masked" checked`) {
			t.Error("a new form does not start at masked")
		}
		for _, tt := range []struct {
			name   string
			change func(url.Values)
			want   string
		}{
			{"no mode", func(f url.Values) { f.Del("mode") }, "Choose how personal fields are shown"},
			{"unknown mode", func(f url.Values) { f.Set("mode", "everything") }, "Choose how personal fields are shown"},
			{"empty mode", func(f url.Values) { f.Set("mode", "") }, "Choose how personal fields are shown"},
			{"two modes", func(f url.Values) { f["mode"] = []string{"masked", "unmasked"} }, "Choose how personal fields are shown"},
			{"mode and unmask disagree", func(f url.Values) { f.Set("unmask", "on") }, "choose one"},
		} {
			f := requestForm("acme", "sara.senior@example.com")
			tt.change(f)
			res, body := p.post(sam, "/requests", f)
			if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, tt.want) {
				t.Errorf("%s: %d, want 422 saying %q:\n%s", tt.name, res.StatusCode, tt.want, body)
			}
		}
		if n := p.count("access_requests", ""); n != 0 {
			t.Errorf("%d requests written by refused forms", n)
		}
		if n := p.count("audit_events", "action = ?", models.ActionRequestCreated); n != 0 {
			t.Errorf("%d request.created events for refused forms", n)
		}
		f := requestForm("acme", "sara.senior@example.com")
		f.Del("mode")
		f.Set("unmask", "on")
		id := p.openRequest(sam, f)
		if n := p.count("access_requests", "id = ? AND access_mode = ? AND unmask", id, string(models.ModeUnmasked)); n != 1 {
			t.Errorf("unmask=on without a mode: request %d is not unmasked", id)
		}
	})
}

// TestRevealRefusedIs403: a reveal under a masked grant answers 403 and
// stores nothing.
func TestRevealRefusedIs403(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		sara := p.login("sara.senior@example.com")
		if _, err := models.CreateGrant(context.Background(), p.db.Write, p.clock.Now(), models.NewGrant{
			Workspace: "acme", GranteeID: p.idOf("sara.senior@example.com"), Mode: models.ModeMasked, StartsAt: p.clock.Now(), Duration: time.Hour,
		}); err != nil {
			t.Fatal(err)
		}
		res, body := p.post(noRedirect(sara), "/workspaces/acme/data/members/1/reveal", url.Values{"field": {"email"}, "reason": {"Ticket OPS-1 asks us to check it."}})
		if res.StatusCode != http.StatusForbidden || !strings.Contains(body, "did not consent to revealing") {
			t.Errorf("reveal under a masked grant = %d, want 403 saying why:\n%s", res.StatusCode, body)
		}
		if n := p.count("reveals", ""); n != 0 {
			t.Errorf("%d reveals stored, want 0", n)
		}
		if n := p.count("audit_events", "action = ?", models.ActionFieldRevealed); n != 0 {
			t.Errorf("%d data.revealed events, want 0", n)
		}
	})
}
