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
)

// trainedOn records that email completed security training on day.
func (p *testPortal) trainedOn(email string, day time.Time) {
	p.t.Helper()
	by := models.Act{Now: p.clock.Now(), By: models.Actor{Email: "test", Tier: "system"}}
	if err := models.RecordTraining(context.Background(), p.db.Write, by, p.idOf(email), day); err != nil {
		p.t.Fatal(err)
	}
}

// TestTrainingEnforced: training that has lapsed stops reading customer
// data under a live grant, being offered or named as grantee, approving
// and opening break-glass, each with a 403 or a form error that says
// why; the dashboard tells each person when theirs expires and the staff
// page lists who is due.
func TestTrainingEnforced(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		now := p.clock.Now()
		sam, sara, ada := p.login("sam.support@example.com"), p.login("sara.senior@example.com"), p.login("ada.sysadmin@example.com")
		valid := models.DefaultTrainingValidFor

		// The demo staff trained two months ago: the dashboard says until when.
		until := now.AddDate(0, -2, 0).UTC().Add(valid).Format(time.DateOnly)
		if _, body := p.get(sara, "/"); !strings.Contains(body, "valid until "+until) || strings.Contains(body, `data-testid="training-due"`) || strings.Contains(body, `data-testid="training-lapsed"`) {
			t.Errorf("dashboard does not say training is valid until %s (and nothing more):\n%s", until, body)
		}
		// Within 30 days of lapsing it says so at the top.
		p.trainedOn("sara.senior@example.com", now.Add(-valid+20*models.Day))
		soon := now.Add(20 * models.Day).UTC().Format(time.DateOnly)
		if _, body := p.get(sara, "/"); !strings.Contains(body, `data-testid="training-due"`) || !strings.Contains(body, "expires on "+soon) {
			t.Errorf("dashboard does not warn that training expires on %s:\n%s", soon, body)
		}

		// A live grant does not outlast the training.
		p.grant("sara.senior@example.com", "acme", models.GrantScope{}, false, 2*time.Hour)
		if res, body := p.get(sara, "/workspaces/acme/data/members"); res.StatusCode != http.StatusOK {
			t.Fatalf("read with current training = %d:\n%s", res.StatusCode, body)
		}
		p.trainedOn("sara.senior@example.com", now.Add(-valid-models.Day))
		lapsed := now.Add(-models.Day).UTC().Format(time.DateOnly)
		res, body := p.get(sara, "/workspaces/acme/data/members")
		if res.StatusCode != http.StatusForbidden || !strings.Contains(body, notClearedMessage) || len(leaks(body, "")) > 0 || len(shownIDs(body)) > 0 {
			t.Errorf("read with lapsed training = %d, want 403 saying why and showing nothing:\n%s", res.StatusCode, body)
		}
		if ev := p.newestEvent(); ev.Action != models.ActionDataRefused || ev.Reason != "not cleared" || ev.Actor != "sara.senior@example.com" {
			t.Errorf("newest event %s %q by %s, want data.refused \"not cleared\" by sara", ev.Action, ev.Reason, ev.Actor)
		}
		if _, body := p.get(sara, "/"); !strings.Contains(body, `data-testid="training-lapsed"`) || !strings.Contains(body, "lapsed on "+lapsed) {
			t.Errorf("dashboard does not say training lapsed on %s:\n%s", lapsed, body)
		}

		// Not offered as grantee, refused when named.
		if _, body := p.get(sam, "/requests/new"); strings.Contains(body, `value="sara.senior@example.com"`) || !strings.Contains(body, `value="sean.senior@example.com"`) {
			t.Errorf("request form: sara (lapsed) offered or sean (current) missing:\n%s", body)
		}
		before := p.count("access_requests", "1 = 1")
		res, body = p.post(noRedirect(sam), "/requests", requestForm("acme", "sara.senior@example.com"))
		if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "security training that lapsed on "+lapsed) {
			t.Errorf("request naming sara = %d, want 422 saying her training lapsed:\n%s", res.StatusCode, body)
		}
		if n := p.count("access_requests", "1 = 1"); n != before {
			t.Errorf("a refused request stored %d rows", n-before)
		}

		// Not an approver.
		id := p.openRequest(sam, requestForm("acme", "sean.senior@example.com"))
		res, body = p.post(noRedirect(sara), fmt.Sprintf("/requests/%d/approve", id), url.Values{"note": {"Ticket checked, go ahead."}})
		if res.StatusCode != http.StatusForbidden || !strings.Contains(body, notClearedMessage) {
			t.Errorf("approval by sara (lapsed) = %d, want 403:\n%s", res.StatusCode, body)
		}
		if n := p.count("access_requests", "id = ? AND status = ?", id, models.RequestPending); n != 1 {
			t.Errorf("request %d is no longer pending after a refused approval", id)
		}

		// Not a break-glass opener.
		p.trainedOn("ada.sysadmin@example.com", now.Add(-2*valid))
		res, body = p.post(noRedirect(ada), "/breakglass", bgForm("acme"))
		if res.StatusCode != http.StatusForbidden || !strings.Contains(body, "security training") {
			t.Errorf("break-glass by ada (lapsed) = %d, want 403:\n%s", res.StatusCode, body)
		}
		if n := p.count("breakglass", "1 = 1"); n != 0 {
			t.Errorf("%d break-glass opened by a refusal", n)
		}

		// The staff page lists who is due: sara and ada, not sean.
		otto := p.login("otto.sysadmin@example.com")
		_, body = p.get(otto, "/staff")
		for email, due := range map[string]bool{"sara.senior@example.com": true, "ada.sysadmin@example.com": true, "sean.senior@example.com": false} {
			if got := strings.Contains(body, fmt.Sprintf(`data-testid="training-due-%d"`, p.idOf(email))); got != due {
				t.Errorf("staff page lists %s as due: %t, want %t", email, got, due)
			}
		}
	})
}
