package handlers

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"gatehouse/mailer"
	"gatehouse/models"
	"gatehouse/models/dbtest"
	"gatehouse/views"
)

func TestDevMailbox(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		ctx := context.Background()
		link := p.srv.URL + "/consent/Tok3n_abc-XYZ?lang=en&from=mail"
		reqID := int64(42)
		mails := []models.Mail{
			{
				Kind: "consent.request", To: "owner@acme.example", Subject: "Decide on access to acme",
				Text:      "Hello,\n\nTo decide, open " + link + ".\nOr not: javascript:alert(1) <b>bold</b>\n",
				HTML:      `<p>Open <a href="` + link + `">this page</a><script>alert(1)</script></p>`,
				Workspace: "acme", RequestID: &reqID,
			},
			{Kind: "request.approved", To: "sam.support@example.com", Subject: "Approved <script>alert(2)</script>", Text: "Approved."},
		}
		var ids []int64
		for _, m := range mails {
			id, err := p.opts.Outbox.Enqueue(ctx, db.Write, p.clock.Now(), m)
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
		// The dev sender marks the first batch sent, as --dev's worker does.
		w := &models.MailWorker{DB: db, Outbox: p.opts.Outbox, Sender: mailer.Dev{}, Now: p.clock.Now, Batch: 1}
		if s, f, err := w.RunOnce(ctx); s != 1 || f != 0 || err != nil {
			t.Fatalf("worker: sent %d failed %d, %v", s, f, err)
		}

		c := p.client() // no sign-in: --dev is loopback-only
		res, body := p.get(c, "/dev/mail")
		if res.StatusCode != http.StatusOK {
			t.Fatalf("GET /dev/mail: %d", res.StatusCode)
		}
		rows := regexp.MustCompile(`(?s)<tr data-testid="devmail-row">.*?</tr>`).FindAllString(body, -1)
		if len(rows) != 2 {
			t.Fatalf("list shows %d rows, want 2:\n%s", len(rows), body)
		}
		// Newest first: the second mail (still queued), then the first (sent).
		if !strings.Contains(rows[0], fmt.Sprintf(`href="/dev/mail/%d"`, ids[1])) || !strings.Contains(rows[0], ">queued<") {
			t.Errorf("first row is not the newest, queued mail:\n%s", rows[0])
		}
		if !strings.Contains(rows[1], fmt.Sprintf(`href="/dev/mail/%d"`, ids[0])) || !strings.Contains(rows[1], ">sent<") {
			t.Errorf("second row is not the older, sent mail:\n%s", rows[1])
		}
		if strings.Contains(body, "<script>") || !strings.Contains(body, "Approved &lt;script&gt;") {
			t.Error("the list does not escape a subject")
		}

		res, body = p.get(c, fmt.Sprintf("/dev/mail/%d", ids[0]))
		if res.StatusCode != http.StatusOK {
			t.Fatalf("GET /dev/mail/%d: %d", ids[0], res.StatusCode)
		}
		escaped := strings.ReplaceAll(link, "&", "&amp;")
		if want := `<a href="` + escaped + `">` + escaped + `</a>.`; !strings.Contains(body, want) {
			t.Errorf("the message page has no link %s:\n%s", want, body)
		}
		for _, want := range []string{"owner@acme.example", "consent.request", "Decide on access to acme", `href="/requests/42"`,
			"javascript:alert(1) &lt;b&gt;bold&lt;/b&gt;", "&lt;script&gt;alert(1)&lt;/script&gt;"} {
			if !strings.Contains(body, want) {
				t.Errorf("the message page lacks %q", want)
			}
		}
		if strings.Contains(body, "<script>") || strings.Contains(body, `href="javascript:`) || strings.Contains(body, "<b>bold") {
			t.Errorf("the message page lets markup of the mail through:\n%s", body)
		}
		if !strings.Contains(body, "To decide, open ") || !strings.Contains(body, "\nOr not:") {
			t.Error("the plain text lost its words or line breaks")
		}
		for _, path := range []string{"/dev/mail/999999", "/dev/mail/abc", "/dev/mail/-1"} {
			if res, _ := p.get(c, path); res.StatusCode != http.StatusNotFound {
				t.Errorf("GET %s: %d, want 404", path, res.StatusCode)
			}
		}
	})
}

func TestDevMailboxOnlyInDev(t *testing.T) {
	p := newPortal(t, dbtest.SQLite(t), func(o *Options) { o.Dev = false })
	for _, path := range []string{"/dev/mail", "/dev/mail/1"} {
		if res, _ := p.get(p.client(), path); res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s without --dev: %d, want 404", path, res.StatusCode)
		}
	}
}

func TestLinkPiecesRoundTrip(t *testing.T) {
	tests := []struct {
		in    string
		links []string
	}{
		{"no links here", nil},
		{"see https://a.example/x?y=1&z=2.", []string{"https://a.example/x?y=1&z=2"}},
		{"(http://a.example/p) and http://b.example", []string{"http://a.example/p", "http://b.example"}},
		{"ftp://a.example javascript:alert(1) data:text/html,x", nil},
		{"<http://a.example/q>", []string{"http://a.example/q"}},
	}
	for _, tt := range tests {
		var text strings.Builder
		var links []string
		for _, p := range views.LinkPieces(tt.in) {
			text.WriteString(p.Text)
			if p.URL != "" {
				links = append(links, p.URL)
			}
		}
		if text.String() != tt.in {
			t.Errorf("%q: pieces join to %q", tt.in, text.String())
		}
		if fmt.Sprint(links) != fmt.Sprint(tt.links) {
			t.Errorf("%q: links %q, want %q", tt.in, links, tt.links)
		}
	}
}
