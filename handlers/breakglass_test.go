package handlers

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/dbtest"
)

// bgForm is a valid break-glass form on workspace, as its confirmation
// page sends it (confirm=yes).
func bgForm(workspace string) url.Values {
	return url.Values{
		"workspace": {workspace}, "incident": {"INC-2041"},
		"justification": {"Projects disappeared after last night's migration; checking which records are affected."},
		"confirm":       {"yes"},
	}
}

// bgWrites counts what opening or reviewing a break-glass writes.
func (p *testPortal) bgWrites() [4]int64 {
	p.t.Helper()
	return [4]int64{p.count("breakglass", ""), p.count("grants", ""), p.count("mail_outbox", ""), p.count("audit_events", "action LIKE ?", "breakglass.%")}
}

// openBG opens a break-glass through the form as browser c and returns
// its id.
func (p *testPortal) openBG(c *http.Client, workspace string) int64 {
	p.t.Helper()
	res, body := p.post(noRedirect(c), "/breakglass", bgForm(workspace))
	var id int64
	if res.StatusCode != http.StatusSeeOther {
		p.t.Fatalf("POST /breakglass = %d, want 303:\n%s", res.StatusCode, body)
	}
	if _, err := fmt.Sscanf(res.Header.Get("Location"), "/breakglass/%d?done=opened", &id); err != nil {
		p.t.Fatalf("POST /breakglass went to %q: %v", res.Header.Get("Location"), err)
	}
	return id
}

func TestBreakglassOnlySysadmins(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		id := p.openBG(p.login("ada.sysadmin@example.com"), "acme")
		before := p.bgWrites()
		for _, email := range []string{"sam.support@example.com", "sara.senior@example.com", "aud.auditor@example.com", "eve.engineer@example.com", "nina.newhire@example.com"} {
			c := noRedirect(p.login(email))
			for _, r := range []struct {
				method, path string
				form         url.Values
			}{
				{http.MethodGet, "/breakglass", nil},
				{http.MethodPost, "/breakglass", bgForm("acme")},
				{http.MethodGet, fmt.Sprintf("/breakglass/%d", id), nil},
				{http.MethodPost, fmt.Sprintf("/breakglass/%d/review", id), url.Values{"note": {"Looked at it and it was justified."}}},
			} {
				res, body := p.do(c, r.method, r.path, r.form, nil)
				if res.StatusCode != http.StatusForbidden {
					t.Errorf("%s %s %s = %d, want 403", email, r.method, r.path, res.StatusCode)
				}
				if strings.Contains(body, "INC-2041") {
					t.Errorf("%s %s %s: the refusal shows the incident", email, r.method, r.path)
				}
			}
			if _, body := p.get(c, "/"); strings.Contains(body, `href="/breakglass"`) || strings.Contains(body, "Unreviewed break-glass") {
				t.Errorf("%s sees break-glass on the dashboard or in the navigation", email)
			}
		}
		if after := p.bgWrites(); after != before {
			t.Errorf("refused requests wrote (breakglass, grants, mail, events): %v → %v", before, after)
		}
	})
}

func TestBreakglassOpenFormErrors(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		ada := noRedirect(p.login("ada.sysadmin@example.com"))
		tests := []struct {
			name   string
			form   url.Values
			fields []string
		}{
			{"empty", url.Values{}, []string{"workspace", "incident", "justification"}},
			{"no justification", url.Values{"workspace": {"acme"}, "incident": {"INC-1"}}, []string{"justification"}},
			{"weak justification", url.Values{"workspace": {"acme"}, "incident": {"INC-1"}, "justification": {"urgent urgent urgent urgent urgent"}}, []string{"justification"}},
			{"bad incident", url.Values{"workspace": {"acme"}, "incident": {"<script>"}, "justification": bgForm("")["justification"]}, []string{"incident"}},
			{"unknown workspace", bgForm("no-such-workspace"), []string{"workspace"}},
		}
		for _, tt := range tests {
			before := p.bgWrites()
			res, body := p.post(ada, "/breakglass", tt.form)
			if res.StatusCode != http.StatusUnprocessableEntity {
				t.Errorf("%s: status %d, want 422", tt.name, res.StatusCode)
			}
			for _, f := range []string{"workspace", "incident", "justification"} {
				if got, want := strings.Contains(body, `data-testid="error-`+f+`"`), slices.Contains(tt.fields, f); got != want {
					t.Errorf("%s: message on %s shown = %t, want %t", tt.name, f, got, want)
				}
			}
			if !strings.Contains(body, `name="justification"`) || !strings.Contains(body, `value="`+tt.form.Get("workspace")+`"`) {
				t.Errorf("%s: the form is not shown again with its values", tt.name)
			}
			if after := p.bgWrites(); after != before {
				t.Errorf("%s wrote (breakglass, grants, mail, events): %v → %v", tt.name, before, after)
			}
		}
		if _, body := p.post(ada, "/breakglass", bgForm("no-such-workspace")); !strings.Contains(body, "There is no workspace") {
			t.Error("unknown workspace: no message saying so")
		}
	})
}

func TestBreakglassNeedsRecentSignIn(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		p.login("ada.sysadmin@example.com") // links Ada's identity
		stale := noRedirect(staleSession(t, p, "ada.sysadmin@example.com", 16*time.Minute))
		before := p.bgWrites()
		res, body := p.post(stale, "/breakglass", bgForm("acme"))
		if res.StatusCode != http.StatusUnauthorized || !strings.Contains(body, `data-testid="step-up"`) {
			t.Errorf("POST /breakglass with a 16-minute-old sign-in = %d, want 401 with the step-up page", res.StatusCode)
		}
		if after := p.bgWrites(); after != before {
			t.Errorf("stale POST wrote: %v → %v", before, after)
		}
		if _, body := p.get(stale, "/breakglass"); !strings.Contains(body, "within the last 15 minutes") {
			t.Error("the break-glass page does not say opening needs a recent sign-in")
		}
	})
}

// The whole story: open, read, notified, unreviewed, refused review by
// the opener, reviewed by another, expired after the window.
func TestBreakglassStory(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		ctx := context.Background()
		ada := noRedirect(p.login("ada.sysadmin@example.com"))
		otto := noRedirect(p.login("otto.sysadmin@example.com"))
		sara := noRedirect(p.login("sara.senior@example.com"))
		opened := p.clock.Now()
		id := p.openBG(ada, "acme")
		page := fmt.Sprintf("/breakglass/%d", id)

		// Ada reads the workspace's data, unmasked, and the view names the break-glass.
		res, body := p.get(ada, "/workspaces/acme/data/members")
		if res.StatusCode != http.StatusOK || strings.Contains(body, `data-testid="masked"`) {
			t.Fatalf("ada reads acme members under break-glass = %d (masked: %t), want 200 unmasked", res.StatusCode, strings.Contains(body, `data-testid="masked"`))
		}
		if n := p.count("audit_events", "action = ? AND actor = ? AND breakglass_id = ?", models.ActionDataViewed, "ada.sysadmin@example.com", id); n != 1 {
			t.Errorf("data.viewed events under break-glass %d = %d, want 1", id, n)
		}
		// Only Ada: the break-glass grants nobody else anything.
		if res, _ := p.get(sara, "/workspaces/acme/data/members"); res.StatusCode != http.StatusForbidden {
			t.Errorf("sara reads acme members = %d, want 403", res.StatusCode)
		}
		if res, _ := p.get(ada, "/workspaces/globex/data/members"); res.StatusCode != http.StatusForbidden {
			t.Errorf("ada reads globex members = %d, want 403", res.StatusCode)
		}

		// Mail: every owner of acme, and Otto, the other active sysadmin; not Ada.
		owners, err := models.Owners(ctx, p.opts.Product, "acme")
		if err != nil || len(owners) == 0 {
			t.Fatalf("acme owners = %v, %v", owners, err)
		}
		mails, err := p.opts.Outbox.List(ctx, db.Read, 100)
		if err != nil {
			t.Fatal(err)
		}
		var to []string
		for _, m := range mails {
			to = append(to, m.To)
			for _, want := range []string{"Ada Sysadmin", "INC-2041", "checking which records are affected", "60 minutes"} {
				if !strings.Contains(m.Text, want) || !strings.Contains(m.HTML, want) {
					t.Errorf("mail to %s: text or HTML lacks %q:\n%s", m.To, want, m.Text)
				}
			}
			review := p.srv.URL + page
			if got, want := strings.Contains(m.Text, review) && strings.Contains(m.HTML, `href="`+review+`"`), m.To == "otto.sysadmin@example.com"; got != want {
				t.Errorf("mail to %s has the review link = %t, want %t", m.To, got, want)
			}
			if strings.Contains(m.HTML, "<img") {
				t.Errorf("mail to %s has an image", m.To)
			}
		}
		slices.Sort(to)
		want := slices.Sorted(slices.Values(append(slices.Clone(owners), "otto.sysadmin@example.com")))
		if !slices.Equal(to, want) {
			t.Errorf("mails to %v, want %v", to, want)
		}

		// Unreviewed on every sysadmin's dashboard, Ada's included.
		for name, c := range map[string]*http.Client{"ada": ada, "otto": otto} {
			if _, body := p.get(c, "/"); !strings.Contains(body, `data-testid="breakglass-unreviewed"`) || !strings.Contains(body, `href="`+page+`"`) {
				t.Errorf("%s's dashboard does not list the unreviewed break-glass", name)
			}
		}
		// The page: details for everyone, the review form for Otto only.
		_, body = p.get(ada, page)
		if !strings.Contains(body, "INC-2041") || strings.Contains(body, `data-testid="review-form"`) || !strings.Contains(body, `href="/workspaces/acme/data/members"`) {
			t.Errorf("ada's page: want details, data links and no review form:\n%s", body)
		}
		if _, body := p.get(otto, page); !strings.Contains(body, `data-testid="review-form"`) || !strings.Contains(body, `name="note"`) {
			t.Error("otto's page has no review form")
		}

		// Review: refused for the opener, needs a note, then once only.
		note := url.Values{"note": {"Checked the incident and the records viewed; justified."}}
		before := p.bgWrites()
		if res, body := p.post(ada, page+"/review", note); res.StatusCode != http.StatusForbidden || !strings.Contains(body, "opened yourself") {
			t.Errorf("review by the opener = %d, want 403 saying why", res.StatusCode)
		}
		if res, body := p.post(otto, page+"/review", url.Values{"note": {"ok"}}); res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, `data-testid="error-note"`) {
			t.Errorf("review without a real note = %d, want 422 with a message", res.StatusCode)
		}
		if after := p.bgWrites(); after != before {
			t.Errorf("refused reviews wrote: %v → %v", before, after)
		}
		if res, _ := p.post(otto, page+"/review", note); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != page+"?done=reviewed" {
			t.Fatalf("review by otto = %d to %q, want 303 to the page", res.StatusCode, res.Header.Get("Location"))
		}
		if res, body := p.post(otto, page+"/review", note); res.StatusCode != http.StatusConflict || !strings.Contains(body, "already been reviewed") {
			t.Errorf("second review = %d, want 409 saying so", res.StatusCode)
		}
		if n := p.count("audit_events", "action = ? AND actor = ? AND breakglass_id = ?", models.ActionBreakglassReviewed, "otto.sysadmin@example.com", id); n != 1 {
			t.Errorf("breakglass.reviewed events = %d, want 1", n)
		}
		if _, body := p.get(otto, "/"); strings.Contains(body, `data-testid="breakglass-unreviewed"`) {
			t.Error("the reviewed break-glass is still on the dashboard")
		}
		if _, body := p.get(ada, page); !strings.Contains(body, "Checked the incident and the records viewed") {
			t.Error("the page does not show the review note")
		}

		// The window: open up to its last second, closed one second after.
		// The session is kept alive (30-minute idle timeout) on the way.
		for p.clock.Now().Before(opened.Add(40 * time.Minute)) {
			p.clock.Advance(20 * time.Minute)
			if res, _ := p.get(ada, "/"); res.StatusCode != http.StatusOK {
				t.Fatalf("dashboard = %d, want 200", res.StatusCode)
			}
		}
		p.clock.Advance(opened.Add(time.Hour - time.Second).Sub(p.clock.Now()))
		if res, _ := p.get(ada, "/workspaces/acme/data/members"); res.StatusCode != http.StatusOK {
			t.Errorf("read 1s before the window ends = %d, want 200", res.StatusCode)
		}
		p.clock.Advance(2 * time.Second)
		if res, _ := p.get(ada, "/workspaces/acme/data/members"); res.StatusCode != http.StatusForbidden {
			t.Errorf("read 1s after the window ended = %d, want 403", res.StatusCode)
		}
		if _, body := p.get(ada, "/breakglass"); !strings.Contains(body, `data-testid="ended"`) {
			t.Error("the list does not show the break-glass as ended")
		}
		if res, err := models.VerifyAudit(ctx, db); err != nil || !res.OK {
			t.Errorf("audit chain: %+v, %v", res, err)
		}
	})
}

func TestBreakglassWindowConfigured(t *testing.T) {
	p := newPortal(t, dbtest.SQLite(t), func(o *Options) { o.BreakglassWindow = 10 * time.Minute })
	opened := p.clock.Now()
	ada := noRedirect(p.login("ada.sysadmin@example.com"))
	if _, body := p.get(ada, "/breakglass"); !strings.Contains(body, "10 minutes") {
		t.Error("the page does not say how long break-glass stays open")
	}
	id := p.openBG(ada, "globex")
	b, err := models.FindBreakglass(context.Background(), p.db.Read, id)
	if err != nil {
		t.Fatal(err)
	}
	if !b.EndsAt.Equal(opened.Add(10*time.Minute)) || b.Grant == nil || !b.Grant.EndsAt.Equal(b.EndsAt) {
		t.Errorf("ends at %s (grant %+v), want %s", b.EndsAt, b.Grant, opened.Add(10*time.Minute))
	}
	p.clock.Advance(10*time.Minute + time.Second)
	if res, _ := p.get(ada, "/workspaces/globex/data/members"); res.StatusCode != http.StatusForbidden {
		t.Errorf("read after the 10-minute window = %d, want 403", res.StatusCode)
	}
}
