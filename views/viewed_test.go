package views

import (
	"strings"
	"testing"
	"time"
)

// TestViewedBounded: long lists are cut with "and K more" while the
// totals stay complete, and the page links through the rest.
func TestViewedBounded(t *testing.T) {
	at := time.Date(2026, 1, 2, 10, 30, 0, 0, time.UTC)
	var first []string
	for i := 1; i <= 50; i += 2 {
		first = append(first, itoa(int64(i)))
	}
	v := ViewedSummary{Views: 2000, Reveals: 70, Records: 120,
		Tables:      []ViewedTable{{Table: "members", Who: "sara@example.com", Records: strings.Join(first, ","), RecordCount: 120, Views: 2000, Listings: 3, First: at, Last: at}},
		RevealRows:  []RevealRow{{At: at, Who: "sara@example.com", Table: "members", Record: "4", Field: "email", Reason: "Checking the address on file."}},
		RevealsFrom: 1, RevealsPage: 1,
		Detail: &ViewedDetail{Table: "members", Records: "1,3", From: 1, To: 2, Of: 120, Page: 1, HasNext: true},
	}
	doc := render(t, ConsentPage(Chrome{CSS: "/static/app.css"}, ConsentView{Token: "tok", Granted: true, Viewed: v}))
	if got := byTestID(doc, "consent-viewed-totals").Text(); got != "2000 views of 120 records in 1 table; 70 fields revealed." {
		t.Errorf("totals = %q", got)
	}
	row := byTestID(doc, "consent-viewed-members")
	if !strings.Contains(row.Text(), "and 95 more") || !strings.Contains(row.Text(), "3 of a page that showed no record") {
		t.Errorf("members row = %q", row.Text())
	}
	if href, _ := row.Find("a").Attr("href"); href != "/consent/tok?page=1&table=members#viewed-records" {
		t.Errorf("all records link = %q", href)
	}
	if href, _ := byTestID(doc, "consent-viewed-records").Find(`a[rel="next"]`).Attr("href"); href != "/consent/tok?page=2&table=members#viewed-records" {
		t.Errorf("next records link = %q", href)
	}
	if href, _ := doc.Find(`#viewed-reveals a[rel="next"]`).Attr("href"); href != "/consent/tok?reveals=2#viewed-reveals" {
		t.Errorf("next reveals link = %q", href)
	}
	if got := byTestID(doc, "consent-viewed-reveals").Text(); !strings.Contains(got, "email") || !strings.Contains(got, "Checking the address on file.") {
		t.Errorf("reveals = %q", got)
	}

	s := ViewSummaryMailView{Company: "C", Name: "Acme", Workspace: "acme", From: at, Until: at, Viewed: v}
	text := strings.Join(strings.Fields(ViewSummaryMailText(s)), " ")
	for _, want := range []string{"2000 views of 120 records in 1 table; 70 fields revealed.", "and 95 more", "field email", "Checking the address on file.", "and 69 more fields"} {
		if !strings.Contains(text, want) {
			t.Errorf("summary text lacks %q:\n%s", want, text)
		}
	}
	html := render(t, ViewSummaryMail(s)).Text()
	for _, want := range []string{"2000 views of 120 records", "and 95 more", "69 more fields were revealed"} {
		if !strings.Contains(html, want) {
			t.Errorf("summary HTML lacks %q", want)
		}
	}
}
