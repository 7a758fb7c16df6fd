package handlers

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"gatehouse/models"
	"gatehouse/models/dbtest"

	"github.com/PuerkitoBio/goquery"
)

// TestAuditLinks: an audit row links its person, workspace and request
// for a sysadmin, who may open all three, and names them as plain text
// for an auditor, who may open none; a data view finds its request
// through its grant.
func TestAuditLinks(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		sam, sara := p.login("sam.support@example.com"), p.login("sara.senior@example.com")
		sean := noRedirect(p.login("sean.senior@example.com"))
		id := p.openRequest(sam, requestForm("acme", "sara.senior@example.com"))
		if res, _ := p.post(sean, fmt.Sprintf("/requests/%d/approve", id), url.Values{"note": {"Ticket checked."}}); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("approve = %d", res.StatusCode)
		}
		token, owner := p.consentToken("owner@acme.example"), p.client()
		_, body := p.get(owner, "/consent/"+token)
		if res, _ := p.post(noRedirect(owner), "/consent/"+token, url.Values{"decision": {"grant"}, "shown": {shownHash(t, body)}}); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("grant = %d", res.StatusCode)
		}
		if res, _ := p.get(sara, "/workspaces/acme/data/members"); res.StatusCode != http.StatusOK {
			t.Fatalf("read = %d", res.StatusCode)
		}
		saraID, err := models.FindStaffByEmail(t.Context(), p.db.Read, "sara.senior@example.com")
		if err != nil {
			t.Fatal(err)
		}

		for _, tt := range []struct {
			viewer string
			links  bool
		}{
			{"ada.sysadmin@example.com", true},
			{"aud.auditor@example.com", false},
		} {
			_, body := p.get(p.login(tt.viewer), "/audit?action=data.viewed&actor=sara.senior%40example.com")
			doc, err := goquery.NewDocumentFromReader(strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			row := doc.Find(`[data-testid="audit-row"]`).First()
			for _, l := range []struct{ id, href, text string }{
				{"audit-actor", fmt.Sprintf("/staff/%d", saraID.ID), "sara.senior@example.com"},
				{"audit-workspace", "/workspaces/acme", "acme"},
				{"audit-subject", fmt.Sprintf("/requests/%d", id), fmt.Sprintf("request %d", id)},
			} {
				s := row.Find(`[data-testid="` + l.id + `"]`)
				href, isLink := s.Attr("href")
				if s.Text() != l.text || isLink != tt.links || (tt.links && href != l.href) {
					t.Errorf("%s: %s = %q (link %t to %q), want %q linked %t to %q", tt.viewer, l.id, s.Text(), isLink, href, l.text, tt.links, l.href)
				}
			}
			if more := row.Find(`details[data-testid="audit-more"]`).Text(); !strings.Contains(more, "Request id") || !strings.Contains(more, "User agent") {
				t.Errorf("%s: the row's details lack the request id or user agent: %q", tt.viewer, more)
			}
		}
	})
}
