package views

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
)

// TestConsentStatus pins the consent page's status sentences, which the
// view words from the request's facts.
func TestConsentStatus(t *testing.T) {
	ends := time.Date(2026, 1, 2, 12, 0, 0, 0, time.FixedZone("CET", 3600))
	by := time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		v    ConsentView
		want string
	}{
		{"open", ConsentView{Granted: true, GrantLive: true, GrantEnds: ends}, "Access is open until 2026-01-02 11:00 UTC. You can revoke it at any time."},
		{"ended", ConsentView{Granted: true, GrantEnds: ends}, "Access has ended."},
		{"waiting", ConsentView{CanDecide: true, DecideBy: by, RequestStatus: "approved"}, "Waiting for your decision until 2026-01-05 10:00 UTC."},
		{"refused", ConsentView{RequestStatus: "refused"}, "Access was refused."},
		{"reported", ConsentView{RequestStatus: "reported"}, "Access was refused and the request reported as suspicious."},
		{"expired", ConsentView{RequestStatus: "expired"}, "This request expired without a decision."},
		{"approved, link expired", ConsentView{RequestStatus: "approved", DecideBy: by}, "This request can no longer be decided."},
	}
	for _, tt := range tests {
		if got := consentStatus(tt.v); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestConsentPage(t *testing.T) {
	base := ConsentView{
		Token: "tok123", Company: "Gatehouse Demo", Workspace: "acme", Name: "Acme", Recipient: "owner@acme.example",
		Grantee: "Sara Senior", GranteeTier: "senior", Requester: "Sam Support", Reason: evilReason, Ticket: "SUP-1234",
		Scope: "the whole workspace", Mode: "unmasked", Duration: "2 hours", RequestStatus: "approved", DecideBy: time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC), ShownHash: "abc123",
	}
	tests := []struct {
		name           string
		decide, revoke bool
		wantDecide     bool
		wantRevoke     bool
	}{
		{name: "decided, ended"},
		{name: "undecided", decide: true, wantDecide: true},
		{name: "granted", revoke: true, wantRevoke: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := base
			v.CanDecide, v.CanRevoke = tt.decide, tt.revoke
			doc := render(t, ConsentPage(Chrome{Title: "Consent", CSS: "/static/app.css"}, v))
			for _, d := range []string{"grant", "deny", "report"} {
				b := byTestID(doc, "consent-"+d)
				if got := b.Length() == 1; got != tt.wantDecide {
					t.Errorf("%s button shown = %v, want %v", d, got, tt.wantDecide)
					continue
				}
				if tt.wantDecide && (b.AttrOr("name", "") != "decision" || b.AttrOr("value", "") != d) {
					t.Errorf("%s button posts %s=%s", d, b.AttrOr("name", ""), b.AttrOr("value", ""))
				}
			}
			r := byTestID(doc, "consent-revoke")
			if got := r.Length() == 1; got != tt.wantRevoke {
				t.Errorf("revoke shown = %v, want %v", got, tt.wantRevoke)
			}
			if tt.wantRevoke && r.AttrOr("value", "") != "revoke" {
				t.Errorf("revoke value = %q", r.AttrOr("value", ""))
			}
			forms := doc.Find("form")
			want := 0
			if tt.wantDecide {
				want++
			}
			if tt.wantRevoke {
				want++
			}
			if forms.Length() != want {
				t.Errorf("forms = %d, want %d", forms.Length(), want)
			}
			forms.Each(func(_ int, f *goquery.Selection) {
				if f.AttrOr("method", "") != "post" || f.AttrOr("action", "") != "/consent/tok123" {
					t.Errorf("form %s %s, want post /consent/tok123", f.AttrOr("method", ""), f.AttrOr("action", ""))
				}
				if got := f.Find(`input[type="hidden"][name="shown"]`).AttrOr("value", ""); got != "abc123" {
					t.Errorf("hidden shown = %q, want abc123", got)
				}
			})
			if doc.Find("script").Length() != 0 {
				t.Error("customer page has a script element; the reason was not escaped")
			}
			if got := byTestID(doc, "consent-reason").Text(); got != evilReason {
				t.Errorf("reason = %q", got)
			}
			if byTestID(doc, "nav").Length() != 0 || byTestID(doc, "viewer").Length() != 0 {
				t.Error("customer page shows staff navigation")
			}
			if got := byTestID(doc, "consent-title").Text(); !strings.Contains(got, "Gatehouse Demo staff ask to see data in your workspace Acme") {
				t.Errorf("title = %q", got)
			}
			if !strings.Contains(byTestID(doc, "consent-mode").Text(), "unmasked") {
				t.Error("page does not say personal fields are unmasked")
			}
			if byTestID(doc, "consent-viewed-empty").Text() != "Nothing has been viewed yet." {
				t.Error("no viewed empty state")
			}
			if byTestID(doc, "consent-error").Length() != 0 {
				t.Error("error shown without an error")
			}
			// Nothing may be loaded from elsewhere.
			doc.Find("[src], link[href]").Each(func(_ int, s *goquery.Selection) {
				u := s.AttrOr("src", s.AttrOr("href", ""))
				if !strings.HasPrefix(u, "/") || strings.HasPrefix(u, "//") {
					t.Errorf("resource %q is not local", u)
				}
			})
		})
	}
}

func TestConsentPageViewedAndError(t *testing.T) {
	v := ConsentView{Token: "t", Company: "C", Name: "Acme", Error: "That did not work.",
		Decided: &ConsentDecided{By: "owner@acme.example", Decision: "grant", At: time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)},
		Viewed: ViewedSummary{Views: 1, Records: 1, Tables: []ViewedTable{{Table: "members", Who: "Sara Senior", Records: "4", RecordCount: 1, Views: 1,
			First: time.Date(2026, 1, 2, 10, 30, 0, 0, time.UTC), Last: time.Date(2026, 1, 2, 10, 30, 0, 0, time.UTC)}}}}
	doc := render(t, ConsentPage(Chrome{CSS: "/static/app.css"}, v))
	if got := byTestID(doc, "consent-error").Text(); got != v.Error {
		t.Errorf("error = %q", got)
	}
	if got, want := byTestID(doc, "consent-decided").Text(), "owner@acme.example chose to grant on 2026-01-02 10:00 UTC."; got != want {
		t.Errorf("decided = %q, want %q", got, want)
	}
	// A stacked list, one entry per table, each fact under its label:
	// a table of six columns does not fit a phone.
	if n := byTestID(doc, "consent-viewed").Find("table, tr").Length(); n != 0 {
		t.Errorf("what was viewed is a table (%d table elements), want a stacked list", n)
	}
	rows := byTestID(doc, "consent-viewed").Find("li")
	if rows.Length() != 1 || rows.Find("h3").Text() != "members" {
		t.Fatalf("viewed entries = %d, first headed %q", rows.Length(), rows.Find("h3").Text())
	}
	var facts []string
	rows.Find("dt").Each(func(_ int, dt *goquery.Selection) {
		facts = append(facts, dt.Text()+": "+strings.TrimSpace(dt.Next().Text()))
	})
	want := []string{"Who: Sara Senior", "Records: 4", "How often: 1 view", "First: 2026-01-02 10:30 UTC", "Last: 2026-01-02 10:30 UTC"}
	if !slices.Equal(facts, want) {
		t.Errorf("viewed facts = %q, want %q", facts, want)
	}
	if byTestID(doc, "consent-viewed-empty").Length() != 0 {
		t.Error("empty state shown with rows")
	}
}

func TestConsentInvalid(t *testing.T) {
	doc := render(t, ConsentInvalid(Chrome{CSS: "/static/app.css", Title: "Not valid"}))
	if got := byTestID(doc, "consent-invalid").Find("h1").Text(); got != "This link is not valid" {
		t.Errorf("heading = %q", got)
	}
	if doc.Find("form").Length() != 0 {
		t.Error("invalid page has a form")
	}
}
