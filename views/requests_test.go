package views

import (
	"bytes"
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/a-h/templ"
)

// render renders c and parses the result.
func render(t *testing.T, c templ.Component) *goquery.Document {
	t.Helper()
	var buf bytes.Buffer
	if err := c.Render(context.Background(), &buf); err != nil {
		t.Fatalf("render: %v", err)
	}
	doc, err := goquery.NewDocumentFromReader(&buf)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return doc
}

func byTestID(doc *goquery.Document, id string) *goquery.Selection {
	return doc.Find(`[data-testid="` + id + `"]`)
}

var staffChrome = Chrome{Title: "Request", CSS: "/static/app.css", Path: "/requests", Viewer: &Viewer{Name: "Sean Senior", Email: "sean.senior@example.com", Tier: "senior"}}

const evilReason = `<script>alert("x")</script> because the customer asked us to`

func TestRequestShowActions(t *testing.T) {
	base := RequestView{
		ID: 7, Workspace: "acme", Name: "Acme", Requester: "Sam Support (support)", Grantee: "Sara Senior (senior)",
		Reason: evilReason, Ticket: "SUP-1234", Scope: "the whole workspace", Duration: "2 hours",
		Status: "pending", Created: time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC),
	}
	tests := []struct {
		name                              string
		approve, cancel, done, revoke     bool
		wantApprove, wantDeny, wantCancel bool
		wantDone, wantRevoke              bool
	}{
		{name: "nothing allowed"},
		{name: "approver", approve: true, wantApprove: true, wantDeny: true},
		{name: "requester", cancel: true, wantCancel: true},
		{name: "grantee", done: true, wantDone: true},
		{name: "sysadmin", revoke: true, wantRevoke: true},
		{name: "all", approve: true, cancel: true, done: true, revoke: true,
			wantApprove: true, wantDeny: true, wantCancel: true, wantDone: true, wantRevoke: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := base
			v.CanApprove, v.CanCancel, v.CanDone, v.CanRevoke = tt.approve, tt.cancel, tt.done, tt.revoke
			doc := render(t, RequestShow(staffChrome, v))
			for _, c := range []struct {
				testid, action string
				want           bool
			}{
				{"approve", "/requests/7/approve", tt.wantApprove},
				{"deny", "/requests/7/deny", tt.wantDeny},
				{"cancel", "/requests/7/cancel", tt.wantCancel},
				{"done", "/requests/7/done", tt.wantDone},
				{"revoke", "/requests/7/revoke", tt.wantRevoke},
			} {
				b := byTestID(doc, c.testid)
				if got := b.Length() == 1; got != c.want {
					t.Errorf("button %q shown = %v, want %v", c.testid, got, c.want)
					continue
				}
				if !c.want {
					continue
				}
				form := b.Closest("form")
				if m, _ := form.Attr("method"); m != "post" {
					t.Errorf("%q form method = %q, want post", c.testid, m)
				}
				target, ok := b.Attr("formaction")
				if !ok {
					target, _ = form.Attr("action")
				}
				if target != c.action {
					t.Errorf("%q posts to %q, want %q", c.testid, target, c.action)
				}
				if form.Find(`textarea[name="note"]`).Length() != 1 {
					t.Errorf("%q form has no note field", c.testid)
				}
			}
			if got := doc.Find(`form[action$="/approve"]`).Length(); (got > 0) != tt.approve {
				t.Errorf("approve forms = %d with CanApprove %v", got, tt.approve)
			}
			if got := doc.Find("script").Length(); got != 0 {
				t.Errorf("page has %d script elements; the reason was not escaped", got)
			}
			if got := byTestID(doc, "reason").Text(); got != evilReason {
				t.Errorf("reason text = %q, want %q", got, evilReason)
			}
		})
	}
}

func TestRequestShowGrantAndEmptyStates(t *testing.T) {
	v := RequestView{ID: 3, Workspace: "acme", Name: "Acme", Status: "approved"}
	doc := render(t, RequestShow(staffChrome, v))
	for _, id := range []string{"no-grant", "timeline-empty", "viewed-empty"} {
		if byTestID(doc, id).Length() != 1 {
			t.Errorf("empty request: no %q", id)
		}
	}
	for _, id := range []string{"read-data", "timeline", "viewed", "actions"} {
		if byTestID(doc, id).Length() != 0 {
			t.Errorf("empty request: unexpected %q", id)
		}
	}

	v.GrantID, v.GrantLive, v.GrantEnds = 9, true, time.Date(2026, 1, 2, 12, 0, 0, 0, time.UTC)
	v.Timeline = []TimelineEntry{
		{At: time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC), Actor: "Sam Support", What: "created"},
		{At: time.Date(2026, 1, 2, 10, 5, 0, 0, time.UTC), Actor: "Sean Senior", What: "approved", Note: "ok <b>fine</b>"},
	}
	v.Viewed = []ViewedRow{{At: time.Date(2026, 1, 2, 11, 0, 0, 0, time.UTC), Who: "Sara Senior", Table: "members", Records: "1,2,3,5"}}
	doc = render(t, RequestShow(staffChrome, v))
	if href, _ := byTestID(doc, "read-data").Attr("href"); href != "/workspaces/acme" {
		t.Errorf("read-data href = %q, want /workspaces/acme", href)
	}
	items := byTestID(doc, "timeline").Find("li")
	if items.Length() != 2 {
		t.Fatalf("timeline items = %d, want 2", items.Length())
	}
	if got := items.Eq(1).Text(); !strings.Contains(got, "approved") || !strings.Contains(got, "ok <b>fine</b>") {
		t.Errorf("timeline entry = %q, want the action and the escaped note", got)
	}
	rows := byTestID(doc, "viewed").Find("tbody tr")
	if rows.Length() != 1 || !strings.Contains(rows.Text(), "1–3, 5") {
		t.Errorf("viewed rows = %d %q, want one with records 1–3, 5", rows.Length(), rows.Text())
	}

	v.GrantLive, v.End = false, &GrantEndView{How: "customer_revoked", At: time.Date(2026, 1, 2, 12, 0, 0, 0, time.UTC), By: "owner@acme.example", Note: "Ended by the customer."}
	doc = render(t, RequestShow(staffChrome, v))
	if byTestID(doc, "read-data").Length() != 0 {
		t.Error("ended grant still links to the data")
	}
	if got := byTestID(doc, "grant-ended").Text(); !strings.Contains(got, "revoked by the customer") {
		t.Errorf("grant-ended = %q", got)
	}
	if got := byTestID(doc, "ended-note").Text(); got != "Ended by the customer." {
		t.Errorf("ended-note = %q", got)
	}
}

func TestRequestListRows(t *testing.T) {
	nav := ListNav{Path: "/requests", Filters: url.Values{"status": {"pending"}}, Sort: "created", Desc: true, Count: 3, Next: "CUR"}
	v := RequestListView{Statuses: []string{"pending", "granted"}, Nav: nav, CanCreate: true,
		Rows: []RequestRow{
			{ID: 4, Workspace: "acme", Name: "Acme", Requester: "Sam", Grantee: "Sara", Ticket: "SUP-1", Status: "pending", NeedsYou: true},
			{ID: 5, Workspace: "globex", Name: "<i>Globex</i>", Requester: "Sam", Grantee: "Sara", Ticket: "SUP-2", Status: "granted", StatusNote: "grant ends 14:30 UTC"},
		}}
	v.Status = "pending"
	doc := render(t, RequestList(staffChrome, v))
	if got := byTestID(doc, "requests").Find("tbody tr").Length(); got != 2 {
		t.Errorf("rows = %d, want 2", got)
	}
	if href, _ := byTestID(doc, "request-row-4").Find("a").Attr("href"); href != "/requests/4" {
		t.Errorf("row link = %q, want /requests/4", href)
	}
	if byTestID(doc, "request-row-4").Find(`[data-testid="needs-you"]`).Length() != 1 {
		t.Error("row 4 does not say it needs the viewer")
	}
	if byTestID(doc, "request-row-5").Find("i").Length() != 0 {
		t.Error("workspace name was not escaped")
	}
	if !strings.Contains(byTestID(doc, "request-row-5").Text(), "grant ends 14:30 UTC") {
		t.Error("status note missing")
	}
	if byTestID(doc, "new-request").Length() != 1 {
		t.Error("no New request link with CanCreate")
	}
	if got, _ := doc.Find(`select[name="status"] option[selected]`).Attr("value"); got != "pending" {
		t.Errorf("selected status = %q, want pending", got)
	}
	if href, _ := doc.Find(`nav.pager a[rel="next"]`).Attr("href"); href != "/requests?after=CUR&dir=desc&sort=created&status=pending" {
		t.Errorf("next page href = %q, want the status kept", href)
	}

	doc = render(t, RequestList(staffChrome, RequestListView{Nav: ListNav{Path: "/requests"}}))
	if byTestID(doc, "requests-empty").Length() != 1 || byTestID(doc, "requests").Length() != 0 {
		t.Error("empty list has no empty state")
	}
	if byTestID(doc, "new-request").Length() != 0 {
		t.Error("New request link without CanCreate")
	}
}

func TestRequestNewForm(t *testing.T) {
	f := RequestForm{
		Workspace: "acme", Reason: evilReason, Ticket: "SUP-9", Duration: "8h", Grantee: "sean.senior@example.com",
		Scope: []string{"projects"}, Mode: "unmasked",
		Durations:  []Option{{"30m", "30 minutes"}, {"2h", "2 hours"}, {"8h", "8 hours"}},
		Grantees:   []Option{{"sara.senior@example.com", "Sara Senior"}, {"sean.senior@example.com", "Sean Senior"}},
		Tables:     []Option{{"members", "members"}, {"projects", "projects"}},
		TicketHint: "like SUP-1234",
		Errors:     Errors{"": "Please correct the fields below.", "reason": "Say why.", "scope": "No such table."},
	}
	doc := render(t, RequestNew(staffChrome, f))
	form := byTestID(doc, "request-form")
	if a, _ := form.Attr("action"); a != "/requests" {
		t.Errorf("form action = %q", a)
	}
	checks := []struct{ sel, attr, want string }{
		{`input[name="workspace"]`, "value", "acme"},
		{`input[name="ticket"]`, "value", "SUP-9"},
		{`input[name="ticket"]`, "placeholder", "SUP-1234"},
		{`select[name="duration"] option[selected]`, "value", "8h"},
		{`select[name="grantee"] option[selected]`, "value", "sean.senior@example.com"},
		{`input[name="scope"][checked]`, "value", "projects"},
		{`input[name="mode"][checked]`, "value", "unmasked"},
	}
	for _, c := range checks {
		s := form.Find(c.sel)
		if s.Length() != 1 {
			t.Errorf("%s: %d elements, want 1", c.sel, s.Length())
			continue
		}
		if got, _ := s.Attr(c.attr); got != c.want {
			t.Errorf("%s %s = %q, want %q", c.sel, c.attr, got, c.want)
		}
	}
	if got := form.Find(`input[name="scope"]`).Length(); got != 2 {
		t.Errorf("scope checkboxes = %d, want 2", got)
	}
	if got := form.Find(`textarea[name="reason"]`).Text(); got != evilReason {
		t.Errorf("reason = %q", got)
	}
	if doc.Find("script").Length() != 0 {
		t.Error("reason not escaped")
	}
	for _, field := range []string{"", "reason", "scope"} {
		if byTestID(doc, "error-"+field).Text() != f.Errors[field] {
			t.Errorf("error for %q = %q, want %q", field, byTestID(doc, "error-"+field).Text(), f.Errors[field])
		}
	}
	if byTestID(doc, "error-ticket").Length() != 0 {
		t.Error("error shown for a field without one")
	}
	if b := byTestID(doc, "request-submit"); b.Length() != 1 || b.AttrOr("type", "") != "submit" {
		t.Error("no submit button")
	}
}

func TestConsentMail(t *testing.T) {
	until := time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)
	v := ConsentMailView{
		Company: "Gatehouse Demo", Recipient: "owner@acme.example", ValidUntil: &until,
		Link: "http://127.0.0.1:8080/consent/Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4",
		Request: MailRequest{ID: 7, Workspace: "acme", Name: "Acme", Grantee: "Sara Senior", GranteeTier: "senior",
			Requester: "Sam Support", Reason: evilReason, Ticket: "SUP-1234", Scope: "the tables members and projects", Mode: "unmasked", Duration: "2 hours"},
	}
	doc := render(t, ConsentMail(v))
	// The button and the address beside it: both the consent link, nothing else.
	links := doc.Find("a")
	links.Each(func(_ int, a *goquery.Selection) {
		if a.AttrOr("href", "") != v.Link {
			t.Errorf("link to %q, want only the consent link", a.AttrOr("href", ""))
		}
	})
	if links.Length() != 2 || byTestID(doc, "mail-button").Find("a").Length() != 1 || byTestID(doc, "mail-link").Text() != v.Link {
		t.Errorf("links = %d; want the button and the address shown as text", links.Length())
	}
	if n := doc.Find("img, script").Length(); n != 0 {
		t.Errorf("mail has %d img/script elements", n)
	}
	text := doc.Text()
	for _, want := range []string{"Sara Senior", "senior", "SUP-1234", evilReason, "the tables members and projects", "unmasked", "2 hours", "2026-01-05 10:00 UTC", "Report as suspicious"} {
		if !strings.Contains(text, want) {
			t.Errorf("HTML part lacks %q", want)
		}
	}

	plain := ConsentMailText(v)
	lines := strings.Split(plain, "\n")
	linkLine := false
	for _, l := range lines {
		if l == v.Link {
			linkLine = true
		} else if len([]rune(l)) > mailWidth {
			t.Errorf("line longer than %d: %q", mailWidth, l)
		}
	}
	if !linkLine {
		t.Errorf("the link is not on a line of its own:\n%s", plain)
	}
	for _, want := range []string{"Sara Senior (senior)", "SUP-1234", "Report as suspicious", "2026-01-05 10:00 UTC", "2 hours"} {
		if !strings.Contains(plain, want) {
			t.Errorf("text part lacks %q", want)
		}
	}
}

func TestRequestUpdateAndSummaryMails(t *testing.T) {
	u := RequestUpdateMailView{To: "Sam Support", Headline: "Your request was approved", Body: "The workspace's owners have been asked for consent.",
		Request: MailRequest{ID: 7, Workspace: "acme", Name: "Acme", Grantee: "Sara Senior", Reason: "A long enough reason for the access.", Ticket: "SUP-1", Scope: "the whole workspace", Duration: "2 hours"},
		Link:    "http://127.0.0.1:8080/requests/7"}
	doc := render(t, RequestUpdateMail(u))
	if doc.Find("a").AttrOr("href", "") != u.Link {
		t.Error("update mail lacks the request link")
	}
	if plain := RequestUpdateMailText(u); !strings.Contains(plain, "\n"+u.Link+"\n") || !strings.Contains(plain, u.Headline) {
		t.Errorf("update text part:\n%s", plain)
	}

	s := ViewSummaryMailView{Company: "Gatehouse Demo", Workspace: "acme", Name: "Acme", Grantee: "Sara Senior", From: time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC), Until: time.Date(2026, 1, 2, 12, 0, 0, 0, time.UTC),
		Origin: "access request 7 (ticket SUP-1)"}
	doc = render(t, ViewSummaryMail(s))
	if !strings.Contains(doc.Text(), "Nothing was viewed.") {
		t.Error("summary without views does not say so")
	}
	if !strings.Contains(ViewSummaryMailText(s), "Nothing was viewed.") {
		t.Error("summary text without views does not say so")
	}
	s.Viewed = ViewedSummary{Views: 1, Records: 3, Tables: []ViewedTable{{Table: "members", Who: "Sara Senior", Records: "1,2,3", RecordCount: 3, Views: 1,
		First: time.Date(2026, 1, 2, 10, 30, 0, 0, time.UTC), Last: time.Date(2026, 1, 2, 10, 30, 0, 0, time.UTC)}}}
	doc = render(t, ViewSummaryMail(s))
	if got := doc.Find("table").Last().Find("tr").Length(); got != 2 {
		t.Errorf("summary table rows = %d, want header and one", got)
	}
	if plain := ViewSummaryMailText(s); !strings.Contains(plain, "members (records 1–3)") {
		t.Errorf("summary text:\n%s", plain)
	}
}

func TestWrap(t *testing.T) {
	tests := []struct {
		in     string
		width  int
		indent string
		want   []string
	}{
		{"", 10, "", []string{""}},
		{"one two three", 7, "", []string{"one two", "three"}},
		{"one two three", 7, "  ", []string{"one two", "  three"}},
		{"averyveryverylongword x", 5, "", []string{"averyveryverylongword", "x"}},
		{"a\nb c", 10, "", []string{"a", "b c"}},
	}
	for _, tt := range tests {
		got := wrap(tt.in, tt.width, tt.indent)
		if strings.Join(got, "|") != strings.Join(tt.want, "|") {
			t.Errorf("wrap(%q, %d, %q) = %q, want %q", tt.in, tt.width, tt.indent, got, tt.want)
		}
	}
}
