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

// renderInRow renders header cells inside a table row, where a parser
// keeps them.
func renderInRow(t *testing.T, c templ.Component) *goquery.Document {
	t.Helper()
	var buf bytes.Buffer
	buf.WriteString("<table><thead><tr>")
	if err := c.Render(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	buf.WriteString("</tr></thead></table>")
	doc, err := goquery.NewDocumentFromReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

func TestListNavCountText(t *testing.T) {
	for _, tc := range []struct {
		nav  ListNav
		want string
	}{
		{ListNav{Count: 0}, "0 requests"},
		{ListNav{Count: 1}, "1 request"},
		{ListNav{Count: 1234}, "1,234 requests"},
		{ListNav{Count: 5000, Capped: true}, "more than 5,000 requests"},
		{ListNav{Count: 17, AtLeast: true}, "at least 17 requests"},
		{ListNav{Count: 1_012_345, About: true}, "about 1.0 million requests"},
	} {
		if got := tc.nav.CountText("request", "requests"); got != tc.want {
			t.Errorf("CountText(%+v) = %q, want %q", tc.nav, got, tc.want)
		}
	}
}

func TestListNavLinks(t *testing.T) {
	nav := ListNav{
		Path: "/workspaces", Filters: url.Values{"plan": {"free"}, "q": {"a&b"}, "status": {""}},
		Sort: "name", Sorts: map[string]bool{"name": false, "members": true}, Next: "N", Prev: "P", Paged: true,
	}
	doc := renderInRow(t, SortHeader(nav, "name", "Name"))
	if got, _ := doc.Find("th").Attr("aria-sort"); got != "ascending" {
		t.Errorf("aria-sort = %q", got)
	}
	if got, _ := doc.Find("a").Attr("href"); got != "/workspaces?dir=desc&plan=free&q=a%26b&sort=name" {
		t.Errorf("name header link = %q, want the order turned round and the filters kept", got)
	}
	doc = renderInRow(t, SortHeader(nav, "members", "Members"))
	if got, _ := doc.Find("a").Attr("href"); got != "/workspaces?dir=desc&plan=free&q=a%26b&sort=members" {
		t.Errorf("members header link = %q, want its default direction", got)
	}
	doc = render(t, KeysetPager(nav))
	for id, want := range map[string]string{
		"page-first": "/workspaces?dir=asc&plan=free&q=a%26b&sort=name",
		"page-prev":  "/workspaces?before=P&dir=asc&plan=free&q=a%26b&sort=name",
		"page-next":  "/workspaces?after=N&dir=asc&plan=free&q=a%26b&sort=name",
	} {
		if got, _ := byTestID(doc, id).Attr("href"); got != want {
			t.Errorf("%s = %q, want %q", id, got, want)
		}
	}
	doc = render(t, ListSummary(nav, "workspace", "workspaces"))
	if got, _ := byTestID(doc, "clear-filters").Attr("href"); got != "/workspaces" {
		t.Errorf("clear-filters = %q", got)
	}
	doc = render(t, ListSummary(ListNav{Path: "/workspaces", Filters: url.Values{"plan": {""}}}, "workspace", "workspaces"))
	if byTestID(doc, "clear-filters").Length() != 0 {
		t.Error("clear-filters shown with no filter")
	}
	if doc = render(t, KeysetPager(ListNav{Path: "/staff"})); doc.Find("nav").Length() != 0 {
		t.Error("a single page has a pager")
	}
}

func TestDataRangeAndHeaders(t *testing.T) {
	rows := make([]DataRow, 7)
	for _, tc := range []struct {
		v    DataTableView
		want string
	}{
		{DataTableView{Rows: rows, Start: 51, Total: 57}, "51–57 of 57"},
		{DataTableView{Rows: rows, Start: 1, Total: 7}, "1–7 of 7"},
		{DataTableView{Rows: rows, Start: 9001, Total: 10000, Capped: true}, "9,001–9,007 of more than 10,000"},
		{DataTableView{Rows: rows, Total: 10000, Capped: true}, "7 records of more than 10,000"},
	} {
		if got := tc.v.RangeText(); got != tc.want {
			t.Errorf("RangeText = %q, want %q", got, tc.want)
		}
	}
	for in, want := range map[string]string{"created_at": "Created at", "owner_id": "Owner ID", "name": "Name", "ip_address": "IP address"} {
		if got := Humanize(in); got != want {
			t.Errorf("Humanize(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestStateCountText(t *testing.T) {
	for _, tc := range []struct {
		c    StateCount
		want string
	}{
		{StateCount{N: 0}, "0"},
		{StateCount{N: 1234}, "1,234"},
		{StateCount{N: 5000, Capped: true}, "5,000+"},
	} {
		if got := tc.c.CountText(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.c, got, tc.want)
		}
	}
}

func TestAbout(t *testing.T) {
	for _, c := range []struct {
		n    int64
		want string
	}{
		{10_000, "about 10,000"}, {98_765, "about 99,000"}, {100_000, "about 100,000"},
		{934_512, "about 930,000"}, {1_049_999, "about 1.0 million"}, {12_600_000, "about 12.6 million"},
	} {
		if got := about(c.n); got != c.want {
			t.Errorf("about(%d) = %q, want %q", c.n, got, c.want)
		}
	}
}

// TestAuditActorBreaksAtAt: an actor's address may break after its "@"
// (a <wbr>), its text stays whole, and one without an "@" is as it is.
func TestAuditActorBreaksAtAt(t *testing.T) {
	at := time.Date(2026, 12, 6, 7, 0, 0, 0, time.UTC)
	doc := render(t, AuditList(staffChrome, AuditListView{Rows: []AuditRow{
		{Seq: 1, At: at, Actor: "maximiliana.longname@customer-support.example.com", ActorHref: "/staff/3", Action: "data.viewed"},
		{Seq: 2, At: at, Actor: "system", Action: "retention.noticed"},
	}}))
	actors := byTestID(doc, "audit-actor")
	if actors.Length() != 2 || actors.Eq(0).Text() != "maximiliana.longname@customer-support.example.com" || actors.Eq(1).Text() != "system" {
		t.Fatalf("actors %q, %q", actors.Eq(0).Text(), actors.Eq(1).Text())
	}
	if html, _ := actors.Eq(0).Html(); !strings.Contains(html, "longname@<wbr/>customer") || !actors.Eq(0).Parent().HasClass("audit-actor") {
		t.Errorf("actor cell %q: want a break opportunity after the @, in td.audit-actor", html)
	}
}
