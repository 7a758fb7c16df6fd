package handlers

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/dbtest"

	"github.com/chromedp/chromedp"
)

// devMailEntry is one row of the development mailbox as the browser
// shows it.
type devMailEntry struct {
	To      string `json:"to"`
	Subject string `json:"subject"`
	Kind    string `json:"kind"`
}

// TestBrowserIncidentStory clicks through an incident from its first
// sign to the owners' mailboxes: sara, with live grants, makes a burst of
// data views and the detector raises an alert; ada finds it on /alerts,
// acknowledges it with a note, turns it into an incident from its page
// (the form filled in from the alert), finds the affected workspaces from
// the alert's staff member, stores them, writes and previews the notice
// and saves it for approval, which she cannot give herself; otto, freshly
// signed in, approves it; every owner of acme and globex then has exactly
// one notice in the development mailbox, and its link opens it.
func TestBrowserIncidentStory(t *testing.T) {
	exe := findChromium(t)
	p := newPortal(t, dbtest.SQLite(t))
	base := p.srv.URL
	ctx := context.Background()
	now := p.clock.Now()
	for _, ws := range []string{"acme", "globex"} {
		if _, err := models.CreateGrant(ctx, p.db.Write, now, models.NewGrant{Workspace: ws, GranteeID: p.idOf("sara.senior@example.com"), StartsAt: now, Duration: 2 * time.Hour}); err != nil {
			t.Fatal(err)
		}
	}

	// The burst: more views than the floor, in both workspaces.
	sara := browserSignInFor(t, exe, base, "sara.senior@example.com", time.Minute)
	burst := []string{"acme/data/members", "acme/data/projects", "acme/data/members/1", "acme/data/members/2",
		"globex/data/members", "globex/data/projects", "globex/data/members/1", "globex/data/members/2"}
	for _, path := range burst {
		if status, _ := browserNavigate(t, sara, "sara opens "+path, chromedp.Navigate(base+"/workspaces/"+path)); status != http.StatusOK {
			t.Fatalf("sara's view of %s: %d", path, status)
		}
	}
	if len(burst) <= burstFloor {
		t.Fatalf("a burst of %d views does not cross the floor of %d", len(burst), burstFloor)
	}
	// The portal's detection worker runs on a timer; here it runs once,
	// now, with the floor lowered to the burst.
	alert := p.detectBurst("sara.senior@example.com")
	// Time passes before anyone looks (the portal's clock stands still in
	// tests, and a search up to now does not include now).
	p.clock.Advance(time.Minute)
	alertPath := fmt.Sprintf("/alerts/%d", alert.ID)

	// Both sysadmins sign in first: the identity provider's tokens carry
	// the real time, and the portal's clock stands still in tests.
	ada := browserSignInFor(t, exe, base, "ada.sysadmin@example.com", 3*time.Minute)
	otto := browserSignInFor(t, exe, base, "otto.sysadmin@example.com", time.Minute)

	if !present(t, ada, fmt.Sprintf(`[data-testid="dashboard-alerts-table"] [data-testid="alert-row-%d"]`, alert.ID)) {
		t.Fatal("ada's dashboard does not show the open alert")
	}
	browserNavigate(t, ada, "open the alerts", chromedp.Navigate(base+"/alerts"))
	shot(t, ada, "incident-1-alerts")
	status, path := browserNavigate(t, ada, "open the alert", chromedp.Click(chromedp.CSS(fmt.Sprintf(`[data-testid="alert-row-%d"] a`, alert.ID))))
	if status != http.StatusOK || path != alertPath {
		t.Fatalf("opening the alert: %d at %s", status, path)
	}
	browserDo(t, ada, "write why", chromedp.SendKeys(chromedp.CSS(`[data-testid="alert-acknowledge-form"] [name="note"]`), "Ada is asking Sara's team lead about these views."))
	status, _ = browserNavigate(t, ada, "acknowledge", chromedp.Click(chromedp.CSS(`[data-testid="alert-acknowledge-form"] button`)))
	if got := browserGet(t, ada, "read the state", chromedp.Text(chromedp.CSS(`[data-testid="alert-facts"] [data-testid="alert-state"]`))); status != http.StatusOK || got != "acknowledged" {
		t.Fatalf("after acknowledging: %d, state %q", status, got)
	}
	shot(t, ada, "incident-2-alert-acknowledged")

	status, path = browserNavigate(t, ada, "turn it into an incident", chromedp.Click(chromedp.CSS(`[data-testid="alert-to-incident"]`)))
	if status != http.StatusOK || path != "/incidents" {
		t.Fatalf("turning the alert into an incident: %d at %s", status, path)
	}
	title := browserGet(t, ada, "read the title", chromedp.Value(chromedp.CSS(`[data-testid="incident-form"] [name="title"]`)))
	if title != "view-volume: staff sara.senior@example.com" {
		t.Errorf("the form's title from the alert = %q", title)
	}
	if got := browserGet(t, ada, "read the alert number", chromedp.Value(chromedp.CSS(`[data-testid="incident-form"] input[type="hidden"][name="alert"]`))); got != fmt.Sprint(alert.ID) {
		t.Errorf("the form carries alert %q, want %d", got, alert.ID)
	}
	shot(t, ada, "incident-3-declare-from-alert")
	status, path = browserNavigate(t, ada, "declare", chromedp.Click(chromedp.CSS(`[data-testid="incident-form"] button[type="submit"]`)))
	if status != http.StatusOK || path != "/incidents/1" {
		t.Fatalf("declaring: %d at %s", status, path)
	}
	if n := p.count("incidents", "alert_id = ?", alert.ID); n != 1 {
		t.Fatalf("%d incidents record alert %d, want 1", n, alert.ID)
	}

	// The finder starts from the alert: sara, from before the burst.
	if got := browserGet(t, ada, "read the finder's staff", chromedp.Value(chromedp.CSS(`[data-testid="find-form"] [name="staff"]`))); got != "sara.senior@example.com" {
		t.Errorf("the finder's staff from the alert = %q", got)
	}
	browserNavigate(t, ada, "find", chromedp.Click(chromedp.CSS(`[data-testid="find-form"] button[type="submit"]`)))
	for _, ws := range []string{"acme", "globex"} {
		if !present(t, ada, `[data-testid="found"] [data-testid="affected-`+ws+`"]`) {
			t.Fatalf("the finder did not find %s", ws)
		}
	}
	shot(t, ada, "incident-4-found")
	browserNavigate(t, ada, "store the affected workspaces", chromedp.Click(chromedp.CSS(`[data-testid="found"] form button`)))
	if got := browserGet(t, ada, "read the flash", chromedp.Text(chromedp.CSS(`[data-testid="done"]`))); got != "Affected workspaces stored." {
		t.Fatalf("after storing: %q", got)
	}

	browserDo(t, ada, "write the notice", chromedp.SendKeys(chromedp.CSS(`[data-testid="notice-form"] [name="body"]`),
		"On "+now.UTC().Format("2 January")+" one of our support engineers viewed more of your workspace's records than their work needed. "+
			"We have asked them about it and are reviewing each view; the records concerned are listed below."))
	browserNavigate(t, ada, "save the notice", chromedp.Click(chromedp.CSS(`[data-testid="notice-form"] button`)))
	if !present(t, ada, `[data-testid="notice-1"] [data-testid="awaiting"]`) || present(t, ada, `[data-testid="approve-form"]`) {
		t.Fatal("ada's own notice is not shown awaiting a second sysadmin, or she is offered to approve it")
	}
	shot(t, ada, "incident-5-notice-saved")
	status, path = browserNavigate(t, ada, "preview", chromedp.Click(chromedp.CSS(`[data-testid="notice-1"] a[href$="/notices/1"]`)))
	if status != http.StatusOK || path != "/incidents/1/notices/1" {
		t.Fatalf("preview: %d at %s", status, path)
	}
	if got := browserGet(t, ada, "read the subject", chromedp.Text(chromedp.CSS(`[data-testid="preview-subject"]`))); !strings.HasPrefix(got, "Security incident affecting your workspace") {
		t.Errorf("preview subject = %q", got)
	}
	shot(t, ada, "incident-6-preview")
	if mails := p.count("mail_outbox", "kind = ?", "incident.notice"); mails != 0 {
		t.Fatalf("%d notices queued before the approval", mails)
	}

	// Otto, signed in moments ago, approves.
	browserNavigate(t, otto, "open the incident", chromedp.Navigate(base+"/incidents/1"))
	shot(t, otto, "incident-7-approve")
	status, path = browserNavigate(t, otto, "approve", chromedp.Click(chromedp.CSS(`[data-testid="notice-1"] [data-testid="approve-form"] button`)))
	if status != http.StatusOK || path != "/incidents/1" || !present(t, otto, `[data-testid="notice-1"] [data-testid="approved"]`) {
		t.Fatalf("approving: %d at %s", status, path)
	}
	shot(t, otto, "incident-8-approved")

	var owners []string
	for _, ws := range []string{"acme", "globex"} {
		o, err := models.Owners(ctx, p.opts.Product, ws)
		if err != nil {
			t.Fatal(err)
		}
		owners = append(owners, o...)
	}
	box := newBrowser(t, exe)
	browserNavigate(t, box, "open the dev mailbox", chromedp.Navigate(base+"/dev/mail"))
	rows := browserGet(t, box, "read the mailbox", chromedp.Evaluate[[]devMailEntry](
		`Array.from(document.querySelectorAll('[data-testid="devmail-row"]')).map(r => ({
			to: r.cells[2].textContent.trim(), subject: r.cells[3].textContent.trim(), kind: r.cells[4].textContent.trim()}))`))
	var noticed []string
	for _, r := range rows {
		if r.Kind == "incident.notice" {
			noticed = append(noticed, r.To)
		}
	}
	slices.Sort(noticed)
	slices.Sort(owners)
	if len(owners) < 2 || !slices.Equal(noticed, owners) {
		t.Fatalf("incident notices in the mailbox to %v, want one to each owner %v", noticed, owners)
	}
	shot(t, box, "incident-9-devmail")
	owner := ownerFollowsMail(t, exe, base, "owner@globex.example", "/incident-notice/", "incident-10-mail")
	if !present(t, owner, `[data-testid="incident-notice"]`) {
		t.Fatal("the notice link does not open the notice")
	}
	shot(t, owner, "incident-11-owner-notice")

	browserNavigate(t, ada, "open the dashboard", chromedp.Navigate(base+"/"))
	if !present(t, ada, `[data-testid="dashboard-incident-1"]`) {
		t.Error("ada's dashboard does not list the open incident")
	}
	shot(t, ada, "incident-12-dashboard")
}
