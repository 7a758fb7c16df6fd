package views

import (
	"strings"
	"testing"
	"time"
)

// TestBreakglassLinkPage: the owner's page shows the access with its
// text escaped, what was viewed, and the end button only while it is open.
func TestBreakglassLinkPage(t *testing.T) {
	opened := time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)
	base := BreakglassLinkView{
		Token: "tok/123", Company: "Gatehouse Demo", Workspace: "acme", Name: "Acme", Recipient: "owner@acme.example",
		Opener: "Ada Sysadmin", OpenerTier: "sysadmin", Incident: "INC-2041", Justification: evilReason,
		OpenedAt: opened, EndsAt: opened.Add(time.Hour),
		Viewed: ViewedSummary{Views: 1, Records: 2, Tables: []ViewedTable{{Table: "members", Who: "ada.sysadmin@example.com", Records: "1,2", RecordCount: 2, Views: 1,
			First: opened.Add(time.Minute), Last: opened.Add(time.Minute)}}},
	}
	tests := []struct {
		name       string
		change     func(*BreakglassLinkView)
		wantButton bool
		wantStatus string
	}{
		{"open", func(v *BreakglassLinkView) { v.Open = true }, true, "open until 2026-01-02 11:00 UTC"},
		{"ended early", func(v *BreakglassLinkView) {
			v.EndedAt, v.EndedBy, v.EndedWhy = opened.Add(10*time.Minute), "owner@acme.example", "We did not expect this."
		}, false, "ended 2026-01-02 10:10 UTC by owner@acme.example"},
		{"ran out", nil, false, "ended 2026-01-02 11:00 UTC"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := base
			if tt.change != nil {
				tt.change(&v)
			}
			doc := render(t, BreakglassLinkPage(Chrome{Title: "Emergency access", CSS: "/static/app.css"}, v))
			if got := byTestID(doc, "bglink-end").Length() == 1; got != tt.wantButton {
				t.Errorf("end button shown = %t, want %t", got, tt.wantButton)
			}
			if got := doc.Find("form").Length(); got != map[bool]int{true: 1, false: 0}[tt.wantButton] {
				t.Errorf("forms = %d", got)
			}
			if tt.wantButton {
				f := byTestID(doc, "bglink-form")
				if f.AttrOr("method", "") != "post" || f.AttrOr("action", "") != "/emergency/tok%2F123" {
					t.Errorf("form posts %s to %s", f.AttrOr("method", ""), f.AttrOr("action", ""))
				}
			}
			if got := strings.Join(strings.Fields(byTestID(doc, "bglink-status").Text()), " "); got != tt.wantStatus {
				t.Errorf("status = %q, want %q", got, tt.wantStatus)
			}
			if got := byTestID(doc, "bglink-justification").Text(); got != evilReason || doc.Find("script").Length() != 0 {
				t.Errorf("justification = %q (scripts %d), want it as text", got, doc.Find("script").Length())
			}
			if viewed := byTestID(doc, "bglink-viewed").Text(); !strings.Contains(viewed, "members") || !strings.Contains(viewed, "ada.sysadmin@example.com") {
				t.Errorf("viewed = %q", viewed)
			}
		})
	}
}
