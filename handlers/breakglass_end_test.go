package handlers

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/dbtest"
)

var breakglassLinkRE = regexp.MustCompile(`/emergency/([A-Za-z0-9_-]{43})`)

// breakglassToken reads the newest break-glass link mailed to owner.
func (p *testPortal) breakglassToken(owner string) string {
	p.t.Helper()
	mails, err := p.opts.Outbox.List(context.Background(), p.db.Read, 500)
	if err != nil {
		p.t.Fatal(err)
	}
	for _, m := range mails {
		if m.To == owner && m.Kind == "breakglass.owner" {
			if sm := breakglassLinkRE.FindStringSubmatch(m.Text); sm != nil {
				return sm[1]
			}
		}
	}
	p.t.Fatalf("no break-glass link mailed to %s among %d mails", owner, len(mails))
	return ""
}

// mailTo returns the newest mail of kind to to, failing without one.
func (p *testPortal) mailTo(to, kind string) models.OutboxMail {
	p.t.Helper()
	mails, err := p.opts.Outbox.List(context.Background(), p.db.Read, 500)
	if err != nil {
		p.t.Fatal(err)
	}
	for _, m := range mails {
		if m.To == to && m.Kind == kind {
			return m
		}
	}
	p.t.Fatalf("no %s mail to %s among %d mails", kind, to, len(mails))
	return models.OutboxMail{}
}

// endWrites counts what ending a break-glass writes.
func (p *testPortal) endWrites() [3]int64 {
	p.t.Helper()
	return [3]int64{p.count("grants", "ended_at IS NOT NULL"), p.count("mail_outbox", ""), p.count("audit_events", "action = ?", models.ActionBreakglassEnded)}
}

func TestBreakglassEndByOpener(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		ada := noRedirect(p.login("ada.sysadmin@example.com"))
		otto := noRedirect(p.login("otto.sysadmin@example.com"))
		id := p.openBG(ada, "acme")
		page := fmt.Sprintf("/breakglass/%d", id)
		if res, _ := p.get(ada, "/workspaces/acme/data/members"); res.StatusCode != http.StatusOK {
			t.Fatalf("ada reads under break-glass = %d, want 200", res.StatusCode)
		}
		if _, body := p.get(ada, page); !strings.Contains(body, `data-testid="end-form"`) || !strings.Contains(body, "I'm done") {
			t.Errorf("the opener's page offers no I'm done:\n%s", body)
		}
		before := p.endWrites()
		if res, body := p.post(ada, page+"/end", url.Values{"note": {"done\u202e"}}); res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, `data-testid="error-end_note"`) {
			t.Errorf("I'm done with a bidi character = %d, want 422 with a message", res.StatusCode)
		}
		if after := p.endWrites(); after != before {
			t.Errorf("refused I'm done wrote %v → %v", before, after)
		}
		if res, _ := p.post(ada, page+"/end", url.Values{"note": {""}}); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != page+"?done=ended" {
			t.Fatalf("I'm done = %d to %q, want 303 to the page", res.StatusCode, res.Header.Get("Location"))
		}
		if res, _ := p.get(ada, "/workspaces/acme/data/members"); res.StatusCode != http.StatusForbidden {
			t.Errorf("ada's next read = %d, want 403", res.StatusCode)
		}
		if n := p.count("audit_events", "action = ? AND actor = ? AND breakglass_id = ? AND grant_id IS NOT NULL AND reason = ?", models.ActionBreakglassEnded, "ada.sysadmin@example.com", id, "done"); n != 1 {
			t.Errorf("breakglass.ended events by ada = %d, want 1", n)
		}
		if _, body := p.get(ada, page+"?done=ended"); strings.Contains(body, `data-testid="end-form"`) || !strings.Contains(body, "ended early by ada.sysadmin@example.com: done") {
			t.Errorf("the page after the end: want it ended early, without the form:\n%s", body)
		}
		before = p.endWrites()
		for _, c := range []*http.Client{ada, otto} {
			if res, body := p.post(c, page+"/end", url.Values{"note": {"INC-2041 is resolved; closing the access."}}); res.StatusCode != http.StatusConflict || !strings.Contains(body, "already ended") {
				t.Errorf("end of an ended break-glass = %d, want 409 saying so", res.StatusCode)
			}
		}
		if after := p.endWrites(); after != before {
			t.Errorf("ends of an ended break-glass wrote %v → %v", before, after)
		}
	})
}

func TestBreakglassEndByOtherSysadmin(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		ada := noRedirect(p.login("ada.sysadmin@example.com"))
		otto := noRedirect(p.login("otto.sysadmin@example.com"))
		id := p.openBG(ada, "acme")
		page := fmt.Sprintf("/breakglass/%d", id)
		note := "INC-2041 is resolved; closing the access."
		before := p.endWrites()
		for _, email := range []string{"sam.support@example.com", "sara.senior@example.com", "aud.auditor@example.com", "eve.engineer@example.com", "nina.newhire@example.com"} {
			if res, _ := p.post(noRedirect(p.login(email)), page+"/end", url.Values{"note": {note}}); res.StatusCode != http.StatusForbidden {
				t.Errorf("end by %s = %d, want 403", email, res.StatusCode)
			}
		}
		if res, _ := p.post(noRedirect(p.client()), page+"/end", url.Values{"note": {note}}); res.StatusCode != http.StatusUnauthorized {
			t.Errorf("end without signing in = %d, want 401", res.StatusCode)
		}
		if _, body := p.get(otto, page); !strings.Contains(body, `data-testid="end-form"`) || !strings.Contains(body, "End this access now") {
			t.Errorf("otto's page offers no end form:\n%s", body)
		}
		for _, bad := range []string{"", "stop", "stop\x00 this access now"} {
			if res, body := p.post(otto, page+"/end", url.Values{"note": {bad}}); res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, `data-testid="error-end_note"`) {
				t.Errorf("end by otto with note %q = %d, want 422 with a message", bad, res.StatusCode)
			}
		}
		if after := p.endWrites(); after != before {
			t.Errorf("refused ends wrote %v → %v", before, after)
		}
		if res, _ := p.get(ada, "/workspaces/acme/data/members"); res.StatusCode != http.StatusOK {
			t.Fatalf("ada's read after refused ends = %d, want 200", res.StatusCode)
		}
		if res, _ := p.post(otto, page+"/end", url.Values{"note": {note}}); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("end by otto = %d, want 303", res.StatusCode)
		}
		if res, _ := p.get(ada, "/workspaces/acme/data/members"); res.StatusCode != http.StatusForbidden {
			t.Errorf("ada's next read = %d, want 403", res.StatusCode)
		}
		if n := p.count("audit_events", "action = ? AND actor = ? AND breakglass_id = ? AND reason = ?", models.ActionBreakglassEnded, "otto.sysadmin@example.com", id, note); n != 1 {
			t.Errorf("breakglass.ended events by otto = %d, want 1", n)
		}
		m := p.mailTo("ada.sysadmin@example.com", "breakglass.ended")
		for _, want := range []string{"otto.sysadmin@example.com", note, "INC-2041", p.srv.URL + page} {
			if !strings.Contains(m.Text, want) || !strings.Contains(m.HTML, want) {
				t.Errorf("ada's mail lacks %q:\n%s", want, m.Text)
			}
		}
		if res, _ := p.post(ada, page+"/end", nil); res.StatusCode != http.StatusConflict {
			t.Errorf("I'm done after otto's end = %d, want 409", res.StatusCode)
		}
	})
}

func TestBreakglassEndByOwnerLink(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		ada := noRedirect(p.login("ada.sysadmin@example.com"))
		id := p.openBG(ada, "acme")
		token := p.breakglassToken("owner@acme.example")
		other := p.breakglassToken("admin@acme.example")
		link := "/emergency/" + token
		// The link is in both parts of the owner's mail, and in no sysadmin's.
		if m := p.mailTo("owner@acme.example", "breakglass.owner"); !strings.Contains(m.HTML, `href="`+p.srv.URL+link+`"`) {
			t.Errorf("the owner's HTML mail lacks the link:\n%s", m.HTML)
		}
		if m := p.mailTo("otto.sysadmin@example.com", "breakglass.sysadmin"); strings.Contains(m.Text, "/emergency/") {
			t.Errorf("the sysadmin's mail has an owner's link:\n%s", m.Text)
		}
		if res, _ := p.get(ada, "/workspaces/acme/data/members"); res.StatusCode != http.StatusOK {
			t.Fatalf("ada reads under break-glass = %d, want 200", res.StatusCode)
		}

		// Showing decides nothing: it records that it was shown, once.
		snapshot := func() string {
			var b strings.Builder
			for _, table := range []string{"breakglass", "breakglass_links", "grants", "mail_outbox"} {
				var rows []map[string]any
				if err := p.db.Read.Table(table).Order("id").Find(&rows).Error; err != nil {
					t.Fatal(err)
				}
				fmt.Fprintf(&b, "%s %v\n", table, rows)
			}
			return b.String()
		}
		before, events := snapshot(), p.count("audit_events", "action <> ?", models.ActionBreakglassLinkShown)
		customer := noRedirect(p.client())
		res, body := p.get(customer, link)
		if res.StatusCode != http.StatusOK || res.Header.Get("Referrer-Policy") != "no-referrer" || res.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("link page = %d (Referrer-Policy %q, Cache-Control %q)", res.StatusCode, res.Header.Get("Referrer-Policy"), res.Header.Get("Cache-Control"))
		}
		for _, want := range []string{"Ada Sysadmin", "INC-2041", "checking which records are affected", `data-testid="bglink-viewed"`, "members", "ada.sysadmin@example.com", `data-testid="bglink-end"`, `action="` + link + `"`} {
			if !strings.Contains(body, want) {
				t.Errorf("link page lacks %q:\n%s", want, body)
			}
		}
		if res, _ := p.do(customer, http.MethodHead, link, nil, nil); res.StatusCode != http.StatusOK {
			t.Errorf("HEAD link = %d, want 200", res.StatusCode)
		}
		if after := snapshot(); after != before {
			t.Errorf("GET/HEAD changed rows:\nbefore %s\nafter %s", before, after)
		}
		if n := p.count("audit_events", "action <> ?", models.ActionBreakglassLinkShown); n != events {
			t.Errorf("GET/HEAD appended %d events besides link_shown", n-events)
		}
		if n := p.count("audit_events", "action = ? AND actor = ? AND breakglass_id = ?", models.ActionBreakglassLinkShown, "owner@acme.example", id); n != 1 {
			t.Errorf("link_shown events = %d, want 1 (GET, not HEAD)", n)
		}

		// A bad note changes nothing.
		writes := p.endWrites()
		if res, body := p.post(customer, link, url.Values{"note": {"stop\x00"}}); res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, `data-testid="error-note"`) {
			t.Errorf("end with a NUL in the note = %d, want 422 with a message", res.StatusCode)
		}
		if after := p.endWrites(); after != writes {
			t.Errorf("refused end wrote %v → %v", writes, after)
		}
		// Ending: the next read is refused, the opener is told.
		if res, _ := p.post(customer, link, url.Values{"note": {"We did not expect this."}}); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != link {
			t.Fatalf("end by link = %d to %q, want 303 back to the link", res.StatusCode, res.Header.Get("Location"))
		}
		if res, _ := p.get(ada, "/workspaces/acme/data/members"); res.StatusCode != http.StatusForbidden {
			t.Errorf("ada's next read = %d, want 403", res.StatusCode)
		}
		if n := p.count("audit_events", "action = ? AND actor = ? AND actor_tier = ? AND breakglass_id = ? AND grant_id IS NOT NULL AND reason = ?",
			models.ActionBreakglassEnded, "owner@acme.example", "customer", id, "We did not expect this."); n != 1 {
			t.Errorf("breakglass.ended events by the owner = %d, want 1", n)
		}
		if m := p.mailTo("ada.sysadmin@example.com", "breakglass.ended"); !strings.Contains(m.Text, "owner@acme.example") || !strings.Contains(m.Text, "We did not expect this.") {
			t.Errorf("ada's mail does not say who ended it and why:\n%s", m.Text)
		}
		_, body = p.get(customer, link)
		if strings.Contains(body, `data-testid="bglink-end"`) || !strings.Contains(body, "ended") || !strings.Contains(body, "We did not expect this.") || !strings.Contains(body, "members") {
			t.Errorf("link page after the end: want it ended, why, what was viewed, and no button:\n%s", body)
		}
		// The other owner's link: a conflict that changes nothing.
		writes = p.endWrites()
		if res, body := p.post(customer, "/emergency/"+other, nil); res.StatusCode != http.StatusConflict || !strings.Contains(body, "already ended") {
			t.Errorf("second end by link = %d, want 409 saying so", res.StatusCode)
		}
		if after := p.endWrites(); after != writes {
			t.Errorf("second end wrote %v → %v", writes, after)
		}

		// Unknown tokens, and a consent-style token, lead nowhere.
		for _, bad := range []string{strings.Repeat("A", 43), token[:42], token + "A"} {
			if res, body := p.get(customer, "/emergency/"+bad); res.StatusCode != http.StatusNotFound || !strings.Contains(body, `data-testid="bglink-invalid"`) {
				t.Errorf("GET /emergency/%s = %d, want 404", bad, res.StatusCode)
			}
			if res, _ := p.post(customer, "/emergency/"+bad, nil); res.StatusCode != http.StatusNotFound {
				t.Errorf("POST /emergency/%s = %d, want 404", bad, res.StatusCode)
			}
		}
		if res, _ := p.get(customer, "/consent/"+token); res.StatusCode != http.StatusNotFound {
			t.Errorf("the break-glass token as a consent link = %d, want 404", res.StatusCode)
		}
		// The link expires 30 days after the end.
		p.clock.Advance(models.BreakglassLinkHistory - time.Minute)
		if res, _ := p.get(customer, link); res.StatusCode != http.StatusOK {
			t.Errorf("link just under 30 days after the end = %d, want 200", res.StatusCode)
		}
		p.clock.Advance(2 * time.Minute)
		if res, _ := p.get(customer, link); res.StatusCode != http.StatusNotFound {
			t.Errorf("link 30 days after the end = %d, want 404", res.StatusCode)
		}
	})
}

// TestBreakglassLinkLimits: views of a valid link record at most the
// allowance; bad tokens from one address get 429 once it is spent.
func TestBreakglassLinkLimits(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		p.openBG(p.login("ada.sysadmin@example.com"), "acme")
		link := "/emergency/" + p.breakglassToken("owner@acme.example")
		c := p.client()
		for i := range 60 {
			if res, _ := p.get(c, link); res.StatusCode != http.StatusOK {
				t.Fatalf("view %d = %d, want 200", i, res.StatusCode)
			}
		}
		if n := p.count("audit_events", "action = ?", models.ActionBreakglassLinkShown); n != int64(p.h.linkViews.Max) {
			t.Errorf("link_shown events after 60 views = %d, want %d", n, p.h.linkViews.Max)
		}
		for i := range p.h.linkFailures.Max {
			if res, _ := p.post(c, "/emergency/"+strings.Repeat("b", 42)+fmt.Sprint(i%10), nil); res.StatusCode != http.StatusNotFound {
				t.Fatalf("bad token %d = %d, want 404", i, res.StatusCode)
			}
		}
		if res, _ := p.post(c, link, nil); res.StatusCode != http.StatusTooManyRequests {
			t.Errorf("end after the address's failures = %d, want 429", res.StatusCode)
		}
		if n := p.count("audit_events", "action = ?", models.ActionBreakglassEnded); n != 0 {
			t.Errorf("a blocked address ended the break-glass (%d events)", n)
		}
	})
}
