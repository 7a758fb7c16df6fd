package handlers

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/dbtest"
	"gatehouse/policy"
)

// burstFloor is the view-volume rule's floor in the tests that raise it:
// a burst a test can make, instead of the 300 views an hour of
// policy/detection.toml.
const burstFloor = 5

// burstRules are the rules of policy/detection.toml with the view-volume
// floor lowered to burstFloor.
func burstRules(t testing.TB) []policy.Rule {
	t.Helper()
	rules := harnessRules(t)
	for i := range rules {
		if rules[i].Kind == policy.KindVolume {
			rules[i].Floor = burstFloor
		}
	}
	return rules
}

// detectBurst runs the detector once with burstRules and returns the open
// view-volume alert about email.
func (p *testPortal) detectBurst(email string) models.Alert {
	p.t.Helper()
	ctx := context.Background()
	d := &models.Detector{DB: p.db, Rules: burstRules(p.t), Now: p.clock.Now}
	if _, err := d.RunOnce(ctx); err != nil {
		p.t.Fatal(err)
	}
	as, err := models.OpenAlerts(ctx, p.db.Read, 50)
	if err != nil {
		p.t.Fatal(err)
	}
	for _, a := range as {
		if a.Rule == "view-volume" && a.SubjectKind == models.SubjectStaff && a.Subject == email {
			return a
		}
	}
	p.t.Fatalf("no open view-volume alert about %s among %+v", email, as)
	return models.Alert{}
}

// TestIncidentFromAlert: an alert's page offers sysadmins to turn it into
// an incident; /incidents?from_alert= fills in the declare form from it,
// and a malformed or unknown number is 422 and changes nothing; declaring
// with an alert that does not exist is 422 and writes nothing; the
// incident declared from it records it, and its finder starts from the
// staff member and the hour before the incident's start, finding the
// whole burst; the dashboard lists it.
func TestIncidentFromAlert(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		p := newPortal(t, db)
		now := p.clock.Now()
		// The evidence: a burst of sara's views, the first ten minutes ago.
		first := now.Add(-10 * time.Minute)
		for i := range burstFloor + 1 {
			ws := []string{"acme", "globex"}[i%2]
			if _, err := models.AppendAudit(ctx, db.Write, models.AuditEntry{
				At: first.Add(time.Duration(i) * time.Minute), Actor: models.Actor{Email: "sara.senior@example.com", Tier: "senior"},
				Action: models.ActionDataViewed, Workspace: ws, Table: "members", RecordIDs: []string{fmt.Sprint(i + 1)},
			}); err != nil {
				t.Fatal(err)
			}
		}
		a := p.detectBurst("sara.senior@example.com")
		ada, aud, sara := p.login("ada.sysadmin@example.com"), p.login("aud.auditor@example.com"), p.login("sara.senior@example.com")
		from := fmt.Sprintf("/incidents?from_alert=%d", a.ID)
		evs, err := models.AlertEvidence(ctx, db.Read, a.ID, 1)
		if err != nil || len(evs) != 1 {
			t.Fatalf("alert %d's evidence: %v, %v", a.ID, evs, err)
		}
		started := evs[0].At // the view that crossed the floor

		if _, body := p.get(ada, fmt.Sprintf("/alerts/%d", a.ID)); !strings.Contains(body, `href="`+strings.ReplaceAll(from, "&", "&amp;")+`#declare"`) {
			t.Errorf("the alert's page offers the sysadmin no link to %s", from)
		}
		if _, body := p.get(aud, fmt.Sprintf("/alerts/%d", a.ID)); strings.Contains(body, "alert-to-incident") {
			t.Error("the auditor is offered to turn the alert into an incident")
		}

		before := snapshotDB(t, db, "sessions.last_seen_at")
		res, body := p.get(ada, from)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d\n%s", from, res.StatusCode, body)
		}
		minute := func(at time.Time) string { return at.UTC().Truncate(time.Minute).Format("2006-01-02T15:04") }
		for _, want := range []string{
			`data-testid="from-alert"`,
			fmt.Sprintf(`<input type="hidden" name="alert" value="%d">`, a.ID),
			`value="view-volume: staff sara.senior@example.com"`,
			"sara.senior@example.com viewed data 6 times in an hour",
			`<option value="high" selected>`,
			`name="started" type="datetime-local" value="` + minute(started) + `"`,
			`name="detected" type="datetime-local" value="` + minute(a.OpenedAt) + `"`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("the form filled in from alert %d lacks %q", a.ID, want)
			}
		}
		if strings.Contains(body, `id="alert" name="alert"`) {
			t.Error("the form from an alert still asks for the alert number")
		}
		for _, q := range []string{"abc", "0", "-3", "1e3", "", "99999", fmt.Sprintf("%d&from_alert=%d", a.ID, a.ID), strings.Repeat("9", 30)} {
			res, body := p.get(ada, "/incidents?from_alert="+q)
			if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, `data-testid="error-from_alert"`) {
				t.Errorf("from_alert=%s: %d, want 422 with a message", q, res.StatusCode)
			}
			if strings.Contains(body, `data-testid="from-alert"`) {
				t.Errorf("from_alert=%s: the form is still filled in from an alert", q)
			}
		}
		if _, body := p.get(ada, "/incidents?from_alert=99999"); !strings.Contains(body, "There is no alert 99999") {
			t.Error("an unknown alert's message does not say so")
		}
		if res, body := p.get(aud, from); res.StatusCode != http.StatusOK || strings.Contains(body, "incident-form") {
			t.Errorf("the auditor's GET %s: %d (form shown: %t), want 200 without the form", from, res.StatusCode, strings.Contains(body, "incident-form"))
		}
		if res, _ := p.get(sara, from); res.StatusCode != http.StatusForbidden {
			t.Errorf("a senior's GET %s: %d, want 403", from, res.StatusCode)
		}
		if diff := before.diff(snapshotDB(t, db, "sessions.last_seen_at")); diff != "" {
			t.Errorf("the GETs changed the database:\n%s", diff)
		}

		declare := url.Values{
			"title": {"view-volume: staff sara.senior@example.com"}, "summary": {"Sara's burst of views of acme and globex, raised by the detector."},
			"severity": {"high"}, "started": {minute(started)}, "detected": {minute(a.OpenedAt)}, "alert": {"99999"},
		}
		res, body = p.post(noRedirect(ada), "/incidents", declare)
		if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "There is no alert 99999") {
			t.Errorf("declaring with an unknown alert: %d, want 422 saying so", res.StatusCode)
		}
		if diff := before.diff(snapshotDB(t, db, "sessions.last_seen_at")); diff != "" {
			t.Errorf("the refused declaration changed the database:\n%s", diff)
		}
		missing := int64(99999)
		if _, err := models.DeclareIncident(ctx, db.Write, models.Act{Now: now, By: models.Actor{Email: "ada.sysadmin@example.com"}}, models.NewIncident{
			Title: "Straight to the model", Summary: "Declared with an alert that does not exist.", Severity: "low",
			StartedAt: first, DetectedAt: now, DeclaredBy: p.idOf("ada.sysadmin@example.com"), AlertID: &missing,
		}); err == nil {
			t.Error("the model declared an incident from an alert that does not exist")
		}
		if n := p.count("incidents", ""); n != 0 {
			t.Fatalf("%d incidents after the refusals, want 0", n)
		}

		declare.Set("alert", fmt.Sprint(a.ID))
		res, _ = p.post(noRedirect(ada), "/incidents", declare)
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/incidents/1?done=declared" {
			t.Fatalf("declare from the alert: %d to %q", res.StatusCode, res.Header.Get("Location"))
		}
		if n := p.count("incidents", "alert_id = ?", a.ID); n != 1 {
			t.Errorf("%d incidents record alert %d, want 1", n, a.ID)
		}
		for _, c := range []*http.Client{ada, aud} {
			_, body := p.get(c, fmt.Sprintf("/alerts/%d", a.ID))
			if i := strings.Index(body, `data-testid="alert-incidents"`); i < 0 || !strings.Contains(body[i:], `<a href="/incidents/1">1: view-volume`) {
				t.Error("the alert's page does not link to the incident declared from it")
			}
		}
		_, body = p.get(ada, "/incidents/1")
		for _, want := range []string{
			fmt.Sprintf(`href="/alerts/%d"`, a.ID), `data-testid="find-from-alert"`,
			`<input type="radio" name="method" value="staff" checked>`,
			`id="staff" name="staff" value="sara.senior@example.com"`,
			`id="since" name="since" type="datetime-local" value="` + minute(started.Add(-time.Hour)) + `"`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("the incident's page lacks %q", want)
			}
		}
		find := url.Values{"find": {"1"}, "method": {"staff"}, "staff": {"sara.senior@example.com"}, "since": {minute(started.Add(-time.Hour))}}
		if _, body = p.get(ada, "/incidents/1?"+find.Encode()); !strings.Contains(body, `data-testid="affected-acme"`) || !strings.Contains(body, `data-testid="affected-globex"`) {
			t.Error("the finder from the alert's staff member and start does not find acme and globex")
		}

		for _, c := range []*http.Client{ada, aud} {
			_, body := p.get(c, "/")
			i, alerts, needs := strings.Index(body, `data-testid="dashboard-incident-1"`), strings.Index(body, `data-testid="dashboard-alerts"`), strings.Index(body, `data-testid="needs-you-section"`)
			if i < 0 || alerts < 0 || i > needs || alerts > needs {
				t.Errorf("the dashboard does not lead with the open incident and the open alerts (at %d, %d; needs-you at %d)", i, alerts, needs)
			}
		}
		if _, body := p.get(sara, "/"); strings.Contains(body, `data-testid="dashboard-incidents"`) {
			t.Error("a senior's dashboard shows incidents")
		}
	})
}
