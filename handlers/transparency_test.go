package handlers

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/dbtest"
)

var transparencyLinkRE = regexp.MustCompile(`/transparency/([A-Za-z0-9_-]{43})`)

// transparencyReport has sara view acme's members twice and reveal a
// field last month, runs the report job as cmd/gatehouse does, and
// returns owner's link token from the mail.
func (p *testPortal) transparencyReport(owner string) string {
	p.t.Helper()
	ctx := context.Background()
	from, _ := models.ReportMonthly.Last(p.clock.Now())
	for i, action := range []models.Action{models.ActionDataViewed, models.ActionDataViewed, models.ActionFieldRevealed} {
		if _, err := models.AppendAudit(ctx, p.db.Write, models.AuditEntry{At: from.Add(time.Duration(i+1) * time.Hour),
			Actor: models.Actor{Email: "sara.senior@example.com", Tier: "senior"}, Action: action, Workspace: "acme", Table: "members", RecordIDs: []string{"1"}}); err != nil {
			p.t.Fatal(err)
		}
	}
	job := &models.TransparencyJob{DB: p.db, Product: p.opts.ProductDB, Post: models.Post{Outbox: p.opts.Outbox, Letters: p.h.letters},
		Policy: models.DefaultTransparencyPolicy(), Now: p.clock.Now}
	if run, err := job.RunOnce(ctx); err != nil || run.Reported != 1 {
		p.t.Fatalf("transparency run: %+v, %v; want acme's report", run, err)
	}
	m := p.mailTo(owner, "transparency.report")
	match := transparencyLinkRE.FindStringSubmatch(m.Text)
	if match == nil || !strings.Contains(m.HTML, "/transparency/"+match[1]) {
		p.t.Fatalf("report mail to %s has no link:\n%s", owner, m.Text)
	}
	if !strings.Contains(m.Text, "sara.senior@example.com, members: 2 pages viewed") || !strings.Contains(m.Text, "members: 1 fields revealed") {
		p.t.Errorf("report mail lacks the figures:\n%s", m.Text)
	}
	return match[1]
}

// TestTransparencyLink: the owner's link shows the report and records
// the showing; its POST turns the owner's mail off once, with an audit
// event; a bad token is refused and changes nothing.
func TestTransparencyLink(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		token := p.transparencyReport("owner@acme.example")
		anon := noRedirect(p.client())
		link := "/transparency/" + token
		res, body := p.get(anon, link)
		if res.StatusCode != http.StatusOK || !strings.Contains(body, `data-testid="tr-views"`) || !strings.Contains(body, "sara.senior@example.com") ||
			!strings.Contains(body, `data-testid="tr-mail-off-button"`) || res.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("GET %s = %d:\n%s", link, res.StatusCode, body)
		}
		if n := p.count("audit_events", "action = ? AND actor = ?", models.ActionTransparencyShown, "owner@acme.example"); n != 1 {
			t.Errorf("%d transparency.shown events, want 1", n)
		}
		if res, _ := p.do(anon, http.MethodHead, link, nil, nil); res.StatusCode != http.StatusOK {
			t.Errorf("HEAD %s = %d", link, res.StatusCode)
		}

		// Bad tokens: 404, nothing written but the address's failures.
		before := snapshotDB(t, db)
		// The one-character change must change it: a token may end in A.
		last := "A"
		if strings.HasSuffix(token, "A") {
			last = "B"
		}
		for _, bad := range []string{strings.Repeat("A", 43), token[:42] + last, "short"} {
			if res, body := p.get(anon, "/transparency/"+bad); res.StatusCode != http.StatusNotFound || !strings.Contains(body, `data-testid="tr-invalid"`) {
				t.Errorf("GET bad token %s = %d", bad, res.StatusCode)
			}
			if res, _ := p.post(anon, "/transparency/"+bad, url.Values{}); res.StatusCode != http.StatusNotFound {
				t.Errorf("POST bad token %s = %d", bad, res.StatusCode)
			}
		}
		if diff := before.diff(snapshotDB(t, db)); diff != "" {
			t.Errorf("bad tokens changed the database:\n%s", diff)
		}

		res, _ = p.post(anon, link, url.Values{})
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != link+"?done=mail-off" {
			t.Fatalf("POST %s = %d to %q, want 303 back to the page", link, res.StatusCode, res.Header.Get("Location"))
		}
		if n := p.count("transparency_mail_off", "workspace = ? AND recipient = ?", "acme", "owner@acme.example"); n != 1 {
			t.Errorf("mail-off rows %d, want 1", n)
		}
		if n := p.count("audit_events", "action = ? AND actor = ?", models.ActionTransparencyMailOff, "owner@acme.example"); n != 1 {
			t.Errorf("%d transparency.mail_off events, want 1", n)
		}
		if _, body := p.get(anon, link+"?done=mail-off"); !strings.Contains(body, `data-testid="tr-mail-off"`) || !strings.Contains(body, `data-testid="tr-done"`) {
			t.Errorf("page after turning the mail off:\n%s", body)
		}
		before = snapshotDB(t, db)
		if res, body := p.post(anon, link, url.Values{}); res.StatusCode != http.StatusConflict || !strings.Contains(body, "already off") {
			t.Errorf("second POST = %d, want 409", res.StatusCode)
		}
		if diff := before.diff(snapshotDB(t, db)); diff != "" {
			t.Errorf("a second POST changed the database:\n%s", diff)
		}
	})
}

// TestSecurityTxt: the configured file, as RFC 9116 has it; none when
// nothing is configured.
func TestSecurityTxt(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		none := newPortal(t, db)
		if res, _ := none.get(none.client(), "/.well-known/security.txt"); res.StatusCode != http.StatusNotFound {
			t.Errorf("unconfigured security.txt = %d, want 404", res.StatusCode)
		}
	})
	db := dbtest.SQLite(t)
	expires := time.Date(2027, 6, 30, 0, 0, 0, 0, time.UTC)
	p := newPortal(t, db, func(o *Options) {
		o.SecurityTxt = SecurityTxt{Contact: []string{"mailto:security@example.com", "https://example.com/report"}, Expires: expires,
			Policy: "https://example.com/disclosure", Languages: []string{"en", "de"}}
	})
	res, body := p.get(p.client(), "/.well-known/security.txt")
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Fatalf("security.txt = %d %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	want := "Contact: mailto:security@example.com\nContact: https://example.com/report\nExpires: 2027-06-30T00:00:00Z\n" +
		"Policy: https://example.com/disclosure\nPreferred-Languages: en, de\nCanonical: " + p.srv.URL + "/.well-known/security.txt\n"
	if body != want {
		t.Errorf("security.txt:\n%s\nwant:\n%s", body, want)
	}
}
