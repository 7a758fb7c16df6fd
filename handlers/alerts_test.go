package handlers

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"gatehouse/models"
	"gatehouse/models/dbtest"
)

// raiseAlert raises a customer-report alert on acme through the real
// detector and returns it.
func (p *testPortal) raiseAlert() models.Alert {
	p.t.Helper()
	ctx := context.Background()
	if _, err := models.AppendAudit(ctx, p.db.Write, models.AuditEntry{
		At: p.clock.Now(), Actor: models.Actor{Email: "owner@acme.example"}, Action: models.ActionConsentReported,
		Workspace: "acme", Target: "request/1",
	}); err != nil {
		p.t.Fatal(err)
	}
	d := &models.Detector{DB: p.db, Rules: harnessRules(p.t), Now: p.clock.Now}
	if _, err := d.RunOnce(ctx); err != nil {
		p.t.Fatal(err)
	}
	as, err := models.OpenAlerts(ctx, p.db.Read, 10)
	if err != nil || len(as) != 1 {
		p.t.Fatalf("open alerts = %v, %v; want the customer report", as, err)
	}
	return as[0]
}

// TestAlertPages: the list and the page show a real alert with its
// evidence and audit links; a sysadmin acknowledges then resolves it with
// notes; a bad move is 409 and a missing note 422, changing nothing; the
// dashboard shows it first to sysadmins and auditors, not to seniors.
func TestAlertPages(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		a := p.raiseAlert()
		page := fmt.Sprintf("/alerts/%d", a.ID)
		ada, aud, sara := p.login("ada.sysadmin@example.com"), p.login("aud.auditor@example.com"), p.login("sara.senior@example.com")

		for _, c := range []*http.Client{ada, aud} {
			res, body := p.get(c, "/alerts?state=open&rule=customer-report&severity=critical")
			if res.StatusCode != http.StatusOK || !strings.Contains(body, fmt.Sprintf(`data-testid="alert-row-%d"`, a.ID)) {
				t.Fatalf("/alerts filtered: %d, alert missing:\n%s", res.StatusCode, body)
			}
			if _, body = p.get(c, "/"); !strings.Contains(body, `data-testid="dashboard-alerts-table"`) ||
				strings.Index(body, `data-testid="dashboard-alerts"`) > strings.Index(body, `data-testid="needs-you-section"`) {
				t.Error("the dashboard does not show the open alert first")
			}
		}
		if _, body := p.get(sara, "/"); strings.Contains(body, `data-testid="dashboard-alerts"`) {
			t.Error("a senior's dashboard shows alerts")
		}
		if res, _ := p.get(ada, "/alerts?state=sleeping"); res.StatusCode != http.StatusBadRequest {
			t.Errorf("/alerts with an unknown state: %d, want 400", res.StatusCode)
		}
		if _, body := p.get(ada, "/alerts?rule=customer-report&state=resolved"); !strings.Contains(body, `data-testid="alerts-empty"`) {
			t.Error("the resolved filter shows the open alert")
		}

		res, body := p.get(aud, page)
		if res.StatusCode != http.StatusOK || !strings.Contains(body, "evidence-") || !strings.Contains(body, "/audit?actor=owner%40acme.example") {
			t.Fatalf("alert page for the auditor: %d\n%s", res.StatusCode, body)
		}
		if strings.Contains(body, "alert-acknowledge-form") {
			t.Error("the auditor is offered the acknowledge form")
		}
		if _, body = p.get(ada, page); !strings.Contains(body, "alert-acknowledge-form") || !strings.Contains(body, "alert-resolve-form") {
			t.Error("the sysadmin is not offered acknowledge and resolve")
		}

		events := p.count("audit_events", "1 = 1")
		if res, _ := p.post(noRedirect(ada), page+"/acknowledge", url.Values{"note": {""}}); res.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("acknowledge without a note: %d, want 422", res.StatusCode)
		}
		res, _ = p.post(noRedirect(ada), page+"/acknowledge", url.Values{"note": {"Calling the customer back."}})
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != page+"?done=acknowledged" {
			t.Fatalf("acknowledge: %d to %s", res.StatusCode, res.Header.Get("Location"))
		}
		res, body = p.post(noRedirect(ada), page+"/acknowledge", url.Values{"note": {"Again."}})
		if res.StatusCode != http.StatusConflict || !strings.Contains(body, "acknowledged") {
			t.Errorf("acknowledging twice: %d\n%s", res.StatusCode, body)
		}
		if res, _ := p.post(noRedirect(ada), page+"/resolve", url.Values{"note": {"The customer's own admin asked; no misuse."}}); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("resolve: %d", res.StatusCode)
		}
		if res, _ := p.post(noRedirect(ada), page+"/resolve", url.Values{"note": {"Once more."}}); res.StatusCode != http.StatusConflict {
			t.Errorf("resolving twice: %d, want 409", res.StatusCode)
		}
		if got := p.count("audit_events", "1 = 1") - events; got != 2 {
			t.Errorf("%d audit events from the moves, want 2 (acknowledged, resolved)", got)
		}
		_, body = p.get(ada, page)
		for _, want := range []string{`data-testid="alert-acknowledged"`, "Calling the customer back.", `data-testid="alert-resolved"`, "no misuse"} {
			if !strings.Contains(body, want) {
				t.Errorf("the resolved alert's page lacks %q", want)
			}
		}
		if res, _ := p.get(ada, "/alerts/999999"); res.StatusCode != http.StatusNotFound {
			t.Errorf("an unknown alert: %d, want 404", res.StatusCode)
		}
	})
}
