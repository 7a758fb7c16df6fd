package views

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
)

// TestIncidentNoticeContent: the notice shows the workspace's facts, one
// row per access, the author's paragraphs, and escapes what staff and
// evidence wrote; with no access it says so.
func TestIncidentNoticeContent(t *testing.T) {
	at := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	m := IncidentMailView{
		Company: "Example Co", Title: "<b>Laptop</b>", Workspace: "acme", WorkspaceName: "Acme Corp",
		Body: "First paragraph.\n\nSecond <script>x</script>.", StartedAt: at, DetectedAt: at.Add(time.Hour),
		Accesses: []AccessRow{{Staff: "sara@example.com", Table: "members", Views: 3, Records: "1, 2", First: at, Last: at}},
	}
	for _, tc := range []struct {
		m        IncidentMailView
		accesses int
		none     bool
	}{{m, 1, false}, {IncidentMailView{Company: "Example Co", WorkspaceName: "Acme Corp", Body: "Only."}, 0, true}} {
		var b strings.Builder
		if err := IncidentNoticeContent(tc.m).Render(context.Background(), &b); err != nil {
			t.Fatal(err)
		}
		doc, err := goquery.NewDocumentFromReader(strings.NewReader(b.String()))
		if err != nil {
			t.Fatal(err)
		}
		if got := doc.Find(`[data-testid="notice-access"]`).Length(); got != tc.accesses {
			t.Errorf("%d access rows, want %d", got, tc.accesses)
		}
		if got := doc.Find(`[data-testid="notice-no-access"]`).Length() == 1; got != tc.none {
			t.Errorf("no-access line shown = %t, want %t", got, tc.none)
		}
		if strings.Contains(b.String(), "<script>") || strings.Contains(b.String(), "<b>Laptop") {
			t.Errorf("unescaped text in the notice:\n%s", b.String())
		}
	}
	if got := len(paragraphs(m.Body)); got != 2 {
		t.Errorf("%d paragraphs, want 2", got)
	}
	flat := func(m IncidentMailView) string { return strings.Join(strings.Fields(IncidentMailText(m)), " ") }
	if text := flat(m); !strings.Contains(text, "sara@example.com viewed members (records 1, 2), 3 views, 2026-05-01 10:00 UTC If") {
		t.Errorf("text part lacks the access, its views and its one time:\n%s", text)
	}
	m.Accesses[0].Views, m.Accesses[0].Last = 1, at.Add(2*time.Hour)
	if text := flat(m); !strings.Contains(text, "(records 1, 2), 1 view, 2026-05-01 10:00 UTC – 2026-05-01 12:00 UTC If") {
		t.Errorf("text part lacks one view from its first to its last time:\n%s", text)
	}
}
