package letters_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"gatehouse/letters"
	"gatehouse/models"
	"gatehouse/models/dbtest"
	"gatehouse/models/demo"
)

// TestLetterOfEveryNotice writes the mail of each kind of notice: its
// kind, its subject (which always names the workspace), and a plain-text
// and an HTML part that carry the notice's link when it has one.
func TestLetterOfEveryNotice(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	db := dbtest.SQLite(t)
	if err := demo.SeedStaff(ctx, db, now); err != nil {
		t.Fatal(err)
	}
	sam, err := models.FindStaffByEmail(ctx, db.Read, "sam.support@example.com")
	if err != nil {
		t.Fatal(err)
	}
	sara, err := models.FindStaffByEmail(ctx, db.Read, "sara.senior@example.com")
	if err != nil {
		t.Fatal(err)
	}
	deadline := now.Add(72 * time.Hour)
	r := models.AccessRequest{ID: 7, Workspace: "acme", RequesterID: sam.ID, GranteeID: sara.ID, Reason: "Exports fail since Monday.",
		Ticket: "SUP-1", ScopeJSON: `{}`, DurationSeconds: 7200, ConsentDeadline: &deadline, ExpiresAt: now.Add(24 * time.Hour)}
	bg := models.Breakglass{ID: 4, Workspace: "acme", OpenedAt: now, EndsAt: now.Add(time.Hour)}
	g := models.Grant{ID: 3, Workspace: "acme", GranteeID: sara.ID, StartsAt: now, EndsAt: now.Add(2 * time.Hour)}
	ws := models.Workspace{Slug: "acme", Name: "Acme Corp"}
	report := models.TransparencyReport{ID: 5, Workspace: "acme", PeriodStart: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), PeriodEnd: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
	figures := models.ReportFigures{Views: []models.StaffTableCount{{Staff: "sara.senior@example.com", Table: "members", Count: 3}},
		Breakglass: []models.BreakglassFigure{{Staff: "ada.sysadmin@example.com", At: now, Justification: "<script>INC-9</script>"}}}
	base, _ := url.Parse("https://gatehouse.example")
	l := letters.New("Example Inc", base, func() time.Time { return now })
	tests := []struct {
		notice        models.Notice
		kind, subject string
		link          string
	}{
		{models.ConsentRequestNotice{Request: r, Name: "Acme Corp", Owner: "owner@acme.example", Token: "tok"},
			"consent.request", "Example Inc asks to see data in your workspace Acme Corp", "https://gatehouse.example/consent/tok"},
		{models.RequestUpdateNotice{Request: r, Name: "Acme Corp", To: sam, Event: "consent grant"},
			"request.consent_grant", "Access granted for request 7 on Acme Corp", "https://gatehouse.example/requests/7"},
		{models.RequestUpdateNotice{Request: r, Name: "Acme Corp", To: sam, Event: "approved"},
			"request.approved", "Request 7 on Acme Corp was approved", "https://gatehouse.example/requests/7"},
		{models.RequestUpdateNotice{Request: r, Name: "Acme Corp", To: sam, Event: "something new"},
			"request.something_new", "Request 7 on Acme Corp changed", "https://gatehouse.example/requests/7"},
		{models.RequestReportedNotice{Request: r, Name: "Acme Corp", To: sara},
			"request.reported", "A customer reported request 7 on Acme Corp as suspicious", "https://gatehouse.example/requests/7"},
		{models.ApprovalNeededNotice{Request: r, Name: "Acme Corp", To: sara},
			"request.approval", "Request 7 on Acme Corp needs a decision", "https://gatehouse.example/requests/7"},
		{models.ViewSummaryNotice{Grant: g, Name: "Acme Corp", Owner: "owner@acme.example"},
			"grant.summary", "What Example Inc staff viewed in Acme Corp", ""},
		{models.BreakglassNotice{Breakglass: bg, Name: "Acme Corp", Opener: sara, To: "owner@acme.example"},
			"breakglass.owner", "Emergency access to your workspace Acme Corp", ""},
		{models.BreakglassNotice{Breakglass: bg, Name: "Acme Corp", Opener: sara, To: "ada@example.com", Sysadmin: true},
			"breakglass.sysadmin", "Break-glass on Acme Corp by " + sara.Name + ": review needed", "https://gatehouse.example/breakglass/4"},
		{models.BreakglassNotice{Breakglass: bg, Name: "Acme Corp", Opener: sara, To: sara.Email, Ended: &models.BreakglassEnding{By: "owner@acme.example", Role: models.EndedByOwner, At: now, Note: "Not agreed."}},
			"breakglass.ended", "Your break-glass on Acme Corp was ended by the workspace owner owner@acme.example", "https://gatehouse.example/breakglass/4"},
		{models.RetentionNotice{Workspace: ws, Owner: "owner@acme.example", Status: models.RetentionStatus{Next: models.NextMark, Since: now.Add(-180 * models.Day), DeleteAt: now.Add(30 * models.Day)}},
			"retention.marked", "Your workspace Acme Corp is marked for deletion", ""},
		{models.DeletionLinkNotice{Workspace: ws, Request: models.DeletionRequest{ID: 2, NeededConfirmations: 1}, Owner: "owner@acme.example", Token: "del"},
			"deletion.confirm", "Confirm the deletion of your workspace Acme Corp", "https://gatehouse.example/deletion/del"},
		{models.BreachNotice{Incident: models.Incident{ID: 3, Title: "Stolen laptop"}, Notice: models.IncidentNotice{Body: "We found it."},
			Workspace: models.AffectedWorkspace{Slug: "acme", Name: "Acme Corp"}, Owner: "owner@acme.example", Token: "inc"},
			"incident.notice", "Security incident affecting your workspace Acme Corp", "https://gatehouse.example/incident-notice/inc"},
		{models.BreachNotice{Incident: models.Incident{ID: 3, Title: "Stolen laptop"}, Notice: models.IncidentNotice{Body: "We finished."},
			Workspace: models.AffectedWorkspace{Slug: "acme", Name: "Acme Corp"}, Owner: "owner@acme.example", Token: "inc2", FollowUp: true},
			"incident.follow_up", "Update on the security incident affecting Acme Corp", "https://gatehouse.example/incident-notice/inc2"},
		{models.TransparencyNotice{Report: report, Figures: figures, Name: "Acme Corp", Owner: "owner@acme.example", Token: "tr"},
			"transparency.report", "Who accessed Acme Corp: November 2026", "https://gatehouse.example/transparency/tr"},
	}
	for _, tt := range tests {
		m, err := l.Letter(ctx, db.Read, tt.notice)
		if err != nil {
			t.Errorf("%T: %v", tt.notice, err)
			continue
		}
		if m.Kind != tt.kind || m.Subject != tt.subject {
			t.Errorf("%T: kind %q, subject %q; want %q, %q", tt.notice, m.Kind, m.Subject, tt.kind, tt.subject)
		}
		if !strings.Contains(m.Subject, "Acme Corp") {
			t.Errorf("%T (%s): subject %q does not name the workspace", tt.notice, m.Kind, m.Subject)
		}
		if m.Text == "" || !strings.HasPrefix(m.HTML, "<!doctype html>") && !strings.HasPrefix(m.HTML, "<!DOCTYPE html>") {
			t.Errorf("%T: text %q, html %.40q; want both parts", tt.notice, m.Text, m.HTML)
		}
		if tt.link != "" && (!strings.Contains(m.Text, tt.link) || !strings.Contains(m.HTML, tt.link)) {
			t.Errorf("%T: the mail does not carry %s:\n%s", tt.notice, tt.link, m.Text)
		}
	}
	// The report's figures are in both parts, a justification escaped.
	m, err := l.Letter(ctx, db.Read, models.TransparencyNotice{Report: report, Figures: figures, Name: "Acme Corp", Owner: "owner@acme.example", Token: "tr"})
	if err != nil || !strings.Contains(m.Text, "sara.senior@example.com, members: 3 pages viewed") || !strings.Contains(m.HTML, "&lt;script&gt;INC-9") ||
		strings.Contains(m.HTML, "<script>") || strings.Contains(m.HTML, "Security alerts") {
		t.Errorf("transparency mail (%v):\n%s\n%s", err, m.Text, m.HTML)
	}
	if _, err := l.Letter(ctx, db.Read, nil); err == nil {
		t.Error("a nil notice was written")
	}
}
