package views

import (
	"strings"
	"testing"
	"time"
)

var clock = time.Date(2026, 12, 5, 14, 44, 0, 0, time.UTC)

func TestRelative(t *testing.T) {
	tests := []struct {
		t    time.Time
		want string
	}{
		{clock, "just now"},
		{clock.Add(-59 * time.Second), "just now"},
		{clock.Add(30 * time.Second), "just now"},
		{clock.Add(time.Minute), "in 1 min"},
		{clock.Add(-12*time.Minute - 40*time.Second), "12 min ago"},
		{clock.Add(59 * time.Minute), "in 59 min"},
		{clock.Add(-time.Hour), "1 h ago"},
		{clock.Add(47*time.Hour + 59*time.Minute), "in 47 h"},
		{clock.Add(-48 * time.Hour), "2 days ago"},
		{clock.Add(3*24*time.Hour + 5*time.Hour), "in 3 days"},
		{clock.Add(-116 * 24 * time.Hour), "116 days ago"},
		{clock.Add(-400 * 24 * time.Hour), "400 days ago"},
	}
	for _, tt := range tests {
		if got := Relative(tt.t, clock); got != tt.want {
			t.Errorf("Relative(now%+v) = %q, want %q", tt.t.Sub(clock), got, tt.want)
		}
	}
}

func TestLeft(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{-time.Minute, "none"},
		{0, "none"},
		{30 * time.Second, "less than a minute"},
		{time.Minute, "1 min"},
		{45*time.Minute + 59*time.Second, "45 min"},
		{time.Hour, "1 h"},
		{time.Hour + 58*time.Minute + 30*time.Second, "1 h 58 min"},
		{47*time.Hour + time.Minute, "47 h 1 min"},
		{48 * time.Hour, "2 days"},
		{72*time.Hour - time.Second, "2 days 23 h"},
		{3*24*time.Hour + time.Hour, "3 days 1 h"},
	}
	for _, tt := range tests {
		if got := Left(clock.Add(tt.d), clock); got != tt.want {
			t.Errorf("Left(now+%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

// TestTimeLeft: a live end shows its clock time (with the date when it
// is not today) and what is left; a past end says it ended.
func TestTimeLeft(t *testing.T) {
	tests := []struct {
		name       string
		ends       time.Time
		want, left string
	}{
		{"today", time.Date(2026, 12, 5, 16, 42, 30, 0, time.UTC), "ends 16:42 UTC · 1 h 58 min left", "1 h 58 min left"},
		{"tomorrow", time.Date(2026, 12, 6, 1, 0, 0, 0, time.UTC), "ends 2026-12-06 01:00 UTC · 10 h 16 min left", "10 h 16 min left"},
		{"other zone", time.Date(2026, 12, 5, 17, 42, 30, 0, time.FixedZone("CET", 3600)), "ends 16:42 UTC · 1 h 58 min left", "1 h 58 min left"},
		{"ended", time.Date(2026, 12, 5, 14, 0, 0, 0, time.UTC), "ended 14:00 UTC", ""},
	}
	for _, tt := range tests {
		doc := render(t, TimeLeft(tt.ends, clock))
		if got := squash(byTestID(doc, "time-left").Text()); got != tt.want {
			t.Errorf("%s: text %q, want %q", tt.name, got, tt.want)
		}
		if got := byTestID(doc, "left").Text(); got != tt.left {
			t.Errorf("%s: left %q, want %q", tt.name, got, tt.left)
		}
		if got, _ := doc.Find("time").Attr("datetime"); got != tt.ends.UTC().Format(time.RFC3339) {
			t.Errorf("%s: datetime %q", tt.name, got)
		}
	}
}

func TestMoment(t *testing.T) {
	doc := render(t, Day(clock.Add(-116*24*time.Hour), clock))
	if got := squash(doc.Text()); got != "2026-08-11 (116 days ago)" {
		t.Errorf("Day = %q", got)
	}
	doc = render(t, Minute(clock.Add(3*24*time.Hour), clock))
	if got := squash(doc.Text()); got != "2026-12-08 14:44 UTC (in 3 days)" {
		t.Errorf("Minute = %q", got)
	}
}

// TestDataBannerTimeLeftAndDone: the banner over tenant data says how long
// the grant has left and offers "I'm done", posting where the grant ends.
func TestDataBannerTimeLeftAndDone(t *testing.T) {
	v := DataTableView{
		Slug: "acme", Name: "Acme", Table: "projects", GrantID: 7,
		GrantEnds: clock.Add(2 * time.Hour), EndHref: "/requests/3/done", Now: clock,
	}
	doc := render(t, DataTable(Chrome{CSS: "/static/app.css"}, v))
	banner := byTestID(doc, "grant-banner")
	if got := squash(banner.Find(`[data-testid="time-left"]`).Text()); got != "ends 16:44 UTC · 2 h left" {
		t.Errorf("banner time left %q", got)
	}
	if got, _ := banner.Find(`[data-testid="done-button"]`).Attr("action"); got != "/requests/3/done" {
		t.Errorf("I'm done posts to %q, want /requests/3/done", got)
	}
	if got := squash(banner.Find("button").Text()); got != "I'm done" {
		t.Errorf("button %q", got)
	}
	v.EndHref = ""
	doc = render(t, DataTable(Chrome{CSS: "/static/app.css"}, v))
	if n := byTestID(doc, "done-button").Length(); n != 0 {
		t.Errorf("%d done buttons without an end href", n)
	}
}

func squash(s string) string { return strings.Join(strings.Fields(s), " ") }
