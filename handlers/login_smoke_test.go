package handlers

import (
	"net/http"
	"strings"
	"testing"

	"gatehouse/models"
	"gatehouse/models/dbtest"
)

func TestLoginAndDashboard(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		c := p.login("sam.support@example.com")
		res, body := p.get(c, "/")
		if res.StatusCode != http.StatusOK || !strings.Contains(body, "Hello, Sam Support") {
			t.Fatalf("dashboard: %d\n%s", res.StatusCode, body)
		}
		if n := p.count("sessions", "ended_at IS NULL"); n != 1 {
			t.Errorf("live sessions = %d, want 1", n)
		}
		if n := p.count("audit_events", "action = ?", models.ActionLoginSucceeded); n != 1 {
			t.Errorf("login.succeeded events = %d, want 1", n)
		}
	})
}
