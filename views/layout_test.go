package views

import (
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/a-h/templ"
)

// TestMailButtons: the mails that send a customer (or a sysadmin) to a
// page show its link as a button mail clients draw: a table cell with
// inline styles around the link, the address as text beside it, and the
// plain-text part keeps the address.
func TestMailButtons(t *testing.T) {
	at := time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)
	req := MailRequest{ID: 7, Workspace: "acme", Name: "Acme", Grantee: "Sara Senior", Requester: "Sam Support", Reason: evilReason, Ticket: "SUP-1", Scope: "whole workspace", Mode: "masked", Duration: "2 hours"}
	tests := []struct {
		name  string
		link  string
		label string
		html  templ.Component
		text  string
	}{
		{
			name: "consent", link: "https://gh.example/consent/tok", label: "Review the request",
			html: ConsentMail(ConsentMailView{Company: "C", Recipient: "owner@acme.example", Request: req, Link: "https://gh.example/consent/tok", ValidUntil: &at}),
			text: ConsentMailText(ConsentMailView{Company: "C", Recipient: "owner@acme.example", Request: req, Link: "https://gh.example/consent/tok", ValidUntil: &at}),
		},
		{
			name: "deletion", link: "https://gh.example/deletion/tok", label: "Confirm or cancel the deletion",
			html: DeletionConfirmationMail(DeletionConfirmationMailView{Company: "C", Workspace: "acme", Name: "Acme", Recipient: "owner@acme.example", Note: "asked", Link: "https://gh.example/deletion/tok", Expires: at, Needed: 2}),
			text: DeletionConfirmationMailText(DeletionConfirmationMailView{Company: "C", Workspace: "acme", Name: "Acme", Recipient: "owner@acme.example", Note: "asked", Link: "https://gh.example/deletion/tok", Expires: at, Needed: 2}),
		},
		{
			name: "break-glass owner", link: "https://gh.example/emergency/tok", label: "See or end this access",
			html: BreakglassMail(BreakglassMailView{Company: "C", Workspace: "acme", WorkspaceName: "Acme", Opener: "Ada", OpenerTier: "sysadmin", OpenedAt: at, EndsAt: at.Add(time.Hour), Window: time.Hour, Incident: "INC-1", Justification: "why", EndURL: "https://gh.example/emergency/tok"}),
			text: BreakglassMailText(BreakglassMailView{Company: "C", Workspace: "acme", WorkspaceName: "Acme", Opener: "Ada", OpenerTier: "sysadmin", OpenedAt: at, EndsAt: at.Add(time.Hour), Window: time.Hour, Incident: "INC-1", Justification: "why", EndURL: "https://gh.example/emergency/tok"}),
		},
		{
			name: "request update", link: "https://gh.example/requests/7", label: "Open the request",
			html: RequestUpdateMail(RequestUpdateMailView{To: "Sam", Headline: "Approved", Request: req, Link: "https://gh.example/requests/7"}),
			text: RequestUpdateMailText(RequestUpdateMailView{To: "Sam", Headline: "Approved", Request: req, Link: "https://gh.example/requests/7"}),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := render(t, tt.html)
			button := byTestID(doc, "mail-button")
			if button.Length() != 1 || goquery.NodeName(button) != "table" || button.AttrOr("role", "") != "presentation" {
				t.Fatalf("mail button: %d elements, %q role %q; want one presentation table", button.Length(), goquery.NodeName(button), button.AttrOr("role", ""))
			}
			cell := button.Find("td")
			if cell.AttrOr("bgcolor", "") == "" || !strings.Contains(cell.AttrOr("style", ""), "background-color:") {
				t.Errorf("button cell has no inline background: %q", cell.AttrOr("style", ""))
			}
			a := cell.Find("a")
			if a.AttrOr("href", "") != tt.link || strings.TrimSpace(a.Text()) != tt.label {
				t.Errorf("button link = %q %q, want %q %q", a.AttrOr("href", ""), a.Text(), tt.link, tt.label)
			}
			for _, css := range []string{"display:inline-block", "padding:", "color:#ffffff", "text-decoration:none"} {
				if !strings.Contains(a.AttrOr("style", ""), css) {
					t.Errorf("button link style lacks %q: %q", css, a.AttrOr("style", ""))
				}
			}
			if got := byTestID(doc, "mail-link").Text(); got != tt.link {
				t.Errorf("the address beside the button = %q, want %q", got, tt.link)
			}
			if doc.Find("style, link, img, script").Length() != 0 {
				t.Error("the mail has a style sheet, image or script; mail clients drop them")
			}
			if !strings.Contains(tt.text, "\n"+tt.link+"\n") || strings.Contains(tt.text, "<a ") || strings.Contains(tt.text, "<table") {
				t.Errorf("the text part lacks the link on its own line, or has markup:\n%s", tt.text)
			}
		})
	}
}

// TestAuditRowLinksAndDetails: each audit row links its person,
// workspace and request where the handler gave a link, and says them as
// plain text where it did not; the long secondary facts fold into a
// <details>; nothing from the event is markup.
func TestAuditRowLinksAndDetails(t *testing.T) {
	at := time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)
	linked := AuditRow{
		Seq: 9, At: at, Actor: "sara.senior@example.com", Tier: "senior", ActorHref: "/staff/3",
		Action: "data.viewed", Workspace: "acme", WorkspaceHref: "/workspaces/acme", Table: "members", Records: "1,2,3,7",
		Grant: "grant 4", Subject: "request 12", SubjectHref: "/requests/12",
		Target: "request/12", Reason: evilReason, IP: "203.0.113.9", UserAgent: "Mozilla/5.0 (X11; Linux x86_64) <b>", RequestID: "01JABCDEF0123456789", Detail: `{"k":"v"}`,
	}
	plain := linked
	plain.Seq, plain.ActorHref, plain.WorkspaceHref, plain.SubjectHref = 8, "", "", ""
	bare := AuditRow{Seq: 7, At: at, Actor: "system", Action: "retention.swept"}
	doc := render(t, AuditList(Chrome{Title: "Audit log", CSS: "/static/app.css"}, AuditListView{Rows: []AuditRow{linked, plain, bare}}))
	rows := byTestID(doc, "audit-table").Find(`[data-testid="audit-row"]`)
	if rows.Length() != 3 {
		t.Fatalf("rows = %d, want 3", rows.Length())
	}
	row := func(i int) *goquery.Selection { return rows.Eq(i) }

	for _, l := range []struct{ id, href, text string }{
		{"audit-actor", "/staff/3", "sara.senior@example.com"},
		{"audit-workspace", "/workspaces/acme", "acme"},
		{"audit-subject", "/requests/12", "request 12"},
	} {
		s := row(0).Find(`[data-testid="` + l.id + `"]`)
		if goquery.NodeName(s) != "a" || s.AttrOr("href", "") != l.href || s.Text() != l.text {
			t.Errorf("linked row %s = <%s href=%q>%q, want a link to %s", l.id, goquery.NodeName(s), s.AttrOr("href", ""), s.Text(), l.href)
		}
		p := row(1).Find(`[data-testid="` + l.id + `"]`)
		if goquery.NodeName(p) == "a" || p.Text() != l.text {
			t.Errorf("row without links: %s = <%s>%q, want plain text %q", l.id, goquery.NodeName(p), p.Text(), l.text)
		}
	}
	if got := row(0).Find(`[data-testid="audit-records"]`).Text(); strings.Join(strings.Fields(got), " ") != "members 1–3, 7" {
		t.Errorf("records = %q", got)
	}

	more := row(0).Find(`details[data-testid="audit-more"]`)
	if more.Length() != 1 || more.AttrOr("open", "none") != "none" {
		t.Fatalf("details: %d, open=%q; want one, folded", more.Length(), more.AttrOr("open", "none"))
	}
	var facts []string
	more.Find("dt").Each(func(_ int, dt *goquery.Selection) { facts = append(facts, dt.Text()+"="+dt.Next().Text()) })
	want := []string{"IP=203.0.113.9", "User agent=Mozilla/5.0 (X11; Linux x86_64) <b>", "Request id=01JABCDEF0123456789", "Target=request/12", `Detail={"k":"v"}`}
	if strings.Join(facts, "|") != strings.Join(want, "|") {
		t.Errorf("details = %q, want %q", facts, want)
	}
	// IP, user agent and request id are in the details only, not columns.
	if got := strings.Count(row(0).Text(), "203.0.113.9"); got != 1 {
		t.Errorf("the IP appears %d times in the row, want once (in the details)", got)
	}
	if n := row(0).Find("script, b").Length(); n != 0 {
		t.Errorf("event text became markup: %d elements", n)
	}
	if got := row(0).Find(".audit-reason p").Text(); got != evilReason {
		t.Errorf("reason = %q", got)
	}
	if row(2).Find("details").Length() != 0 || row(2).Find("a").Length() != 0 {
		t.Error("an event without facts or links shows a details fold or a link")
	}
}

// TestCustomerDecisionFirst: on each customer page the decision (its
// buttons) comes right after the status, before the long description, so
// it is on a phone's first screen.
func TestCustomerDecisionFirst(t *testing.T) {
	ch := Chrome{Title: "Customer", CSS: "/static/app.css"}
	tests := []struct {
		name    string
		page    templ.Component
		status  string
		buttons []string
		facts   string
	}{
		{"consent", ConsentPage(ch, ConsentView{Token: "t", Name: "Acme", Grantee: "Sara", Reason: evilReason, CanDecide: true, RequestStatus: "approved"}),
			"consent-status", []string{"consent-grant", "consent-deny", "consent-report"}, "consent-facts"},
		{"consent granted", ConsentPage(ch, ConsentView{Token: "t", Name: "Acme", Granted: true, GrantLive: true, CanRevoke: true}),
			"consent-status", []string{"consent-revoke"}, "consent-facts"},
		{"deletion", DeletionPage(ch, DeletionView{Token: "t", Name: "Acme", Needed: 2, CanConfirm: true, CanCancel: true}),
			"deletion-status", []string{"deletion-confirm", "deletion-cancel"}, "deletion-facts"},
		{"emergency", BreakglassLinkPage(ch, BreakglassLinkView{Token: "t", Name: "Acme", Open: true}),
			"bglink-status", []string{"bglink-end"}, "bglink-facts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := render(t, tt.page)
			order := map[string]int{}
			doc.Find("[data-testid]").Each(func(i int, s *goquery.Selection) {
				if _, seen := order[s.AttrOr("data-testid", "")]; !seen {
					order[s.AttrOr("data-testid", "")] = i + 1
				}
			})
			for _, b := range tt.buttons {
				if order[b] == 0 || order[b] < order[tt.status] || order[b] > order[tt.facts] {
					t.Errorf("%s at %d: want it after the status (%d) and before the facts (%d)", b, order[b], order[tt.status], order[tt.facts])
				}
			}
		})
	}
}
