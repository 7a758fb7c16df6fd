package views

import (
	"testing"
	"time"
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
