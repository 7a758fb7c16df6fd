package views

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
)

func chartOf(counts ...int64) DayChart {
	first := time.Date(2026, 11, 6, 0, 0, 0, 0, time.UTC)
	c := DayChart{Title: "Data views by all staff", Key: "all", Counts: counts}
	for i := range counts {
		c.Days = append(c.Days, first.AddDate(0, 0, i))
	}
	return c
}

func attrInt(t *testing.T, s *goquery.Selection, name string) int64 {
	t.Helper()
	v, _ := s.Attr(name)
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, v, err)
	}
	return n
}

// TestDayBars: one bar per day, its height proportional to its count on
// the chart's scale and standing on the baseline; the caption and the
// table say the same in words.
func TestDayBars(t *testing.T) {
	c := chartOf(0, 1, 8, 0, 4)
	doc := render(t, DayBars(c))
	bars := doc.Find(`[data-testid="chart-all"] svg rect[data-testid="bar"]`)
	if bars.Length() != 5 {
		t.Fatalf("%d bars, want 5", bars.Length())
	}
	wantH := []int64{0, 10, 80, 0, 40}
	bars.Each(func(i int, s *goquery.Selection) {
		if got := attrInt(t, s, "data-count"); got != c.Counts[i] {
			t.Errorf("bar %d counts %d, want %d", i, got, c.Counts[i])
		}
		if got := attrInt(t, s, "height"); got != wantH[i] {
			t.Errorf("bar %d is %d high, want %d", i, got, wantH[i])
		}
		if y, h := attrInt(t, s, "y"), attrInt(t, s, "height"); y+h != chartTop+chartPlot {
			t.Errorf("bar %d does not stand on the baseline: y %d + height %d", i, y, h)
		}
		if day, _ := s.Attr("data-day"); s.Find("title").Text() != day+": "+strconv.FormatInt(c.Counts[i], 10) {
			t.Errorf("bar %d title %q", i, s.Find("title").Text())
		}
	})
	summary := "Data views by all staff from 2026-11-06 to 2026-11-10: 13 in all, most on 2026-11-08 (8)."
	if got := byTestID(doc, "chart-summary").Text(); got != summary {
		t.Errorf("caption %q, want %q", got, summary)
	}
	if got, _ := doc.Find("svg").Attr("aria-label"); got != summary {
		t.Errorf("svg label %q", got)
	}
	var rows []string
	byTestID(doc, "chart-table").Find("tbody tr").Each(func(_ int, s *goquery.Selection) {
		rows = append(rows, s.Find("td").First().Text()+" "+s.Find("td").Last().Text())
	})
	if got := strings.Join(rows, "|"); got != "2026-11-06 0|2026-11-07 1|2026-11-08 8|2026-11-09 0|2026-11-10 4" {
		t.Errorf("table rows %q", got)
	}
	if n := doc.Find("script").Length(); n != 0 {
		t.Errorf("%d scripts in the chart", n)
	}
}

// TestDayBarsSharedScale: with Max set, charts shown together keep one
// scale, so the same count draws the same bar.
func TestDayBarsSharedScale(t *testing.T) {
	c := chartOf(2, 1)
	c.Max = 8
	doc := render(t, DayBars(c))
	if got := attrInt(t, doc.Find("rect").First(), "height"); got != 20 {
		t.Errorf("2 of 8 is %d high, want 20", got)
	}
	if !strings.Contains(doc.Find("svg").Text(), "max 8") {
		t.Error("the scale's top is not labelled")
	}
}

// TestDayBarsEmpty: a window without any count draws flat bars and says
// there were none; a chart without days still renders.
func TestDayBarsEmpty(t *testing.T) {
	doc := render(t, DayBars(chartOf(0, 0, 0)))
	doc.Find("rect").Each(func(i int, s *goquery.Selection) {
		if h := attrInt(t, s, "height"); h != 0 {
			t.Errorf("empty bar %d is %d high", i, h)
		}
	})
	if got := byTestID(doc, "chart-summary").Text(); got != "Data views by all staff from 2026-11-06 to 2026-11-08: none." {
		t.Errorf("empty caption %q", got)
	}
	doc = render(t, DayBars(DayChart{Title: "Nothing", Key: "x"}))
	if got := byTestID(doc, "chart-summary").Text(); got != "Nothing: no days to show." {
		t.Errorf("no-days caption %q", got)
	}
}

// TestDashboardDeletionsOverdue: a deletion due before today is marked
// overdue; one due today is not; each says how long ago.
func TestDashboardDeletionsOverdue(t *testing.T) {
	v := DashboardView{Name: "Ada", Tier: "sysadmin", Now: clock, DeletionsDue: []RetentionRow{
		{Slug: "old", Name: "Old", Retention: RetentionStatusView{NextAt: clock.AddDate(0, 0, -116)}},
		{Slug: "today", Name: "Today", Retention: RetentionStatusView{NextAt: time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)}},
	}}
	doc := render(t, Dashboard(Chrome{CSS: "/static/app.css"}, v))
	old, today := byTestID(doc, "deletion-due-old"), byTestID(doc, "deletion-due-today")
	if old.Find(`[data-testid="overdue"]`).Length() != 1 || !strings.Contains(squash(old.Text()), "due 2026-08-11 (116 days ago)") {
		t.Errorf("old deletion reads %q", squash(old.Text()))
	}
	if today.Find(`[data-testid="overdue"]`).Length() != 0 || !strings.Contains(squash(today.Text()), "due 2026-12-05 (14 h ago)") {
		t.Errorf("today's deletion reads %q", squash(today.Text()))
	}
	if byTestID(doc, "nothing-needs-you").Length() != 0 {
		t.Error("says nothing needs you beside two deletions")
	}
}

// TestDashboardPermissionsInWords: the tier's permissions read as what
// the viewer can do, not as codes.
func TestDashboardPermissionsInWords(t *testing.T) {
	v := DashboardView{Name: "Sam", Tier: "support", Now: clock, Can: []string{"portal:enter", "workspace_meta:read", "request:create"}}
	doc := render(t, Dashboard(Chrome{CSS: "/static/app.css"}, v))
	var got []string
	byTestID(doc, "permissions").Find("li").Each(func(_ int, s *goquery.Selection) { got = append(got, s.Text()) })
	want := []string{canWords("workspace_meta:read"), canWords("request:create")}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("permissions %q, want %q", got, want)
	}
	if byTestID(doc, "nothing-needs-you").Length() != 1 {
		t.Error("an empty dashboard does not say nothing needs you")
	}
}
