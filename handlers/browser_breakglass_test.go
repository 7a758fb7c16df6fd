package handlers

import (
	"net/http"
	"strings"
	"testing"

	"gatehouse/models"
	"gatehouse/models/dbtest"

	"github.com/chromedp/chromedp"
)

// TestBrowserBreakglassEndedByOwner clicks through an emergency: ada
// opens break-glass on acme and reads its members; the owner follows the
// link in their mail from the development mailbox, sees that read, and
// ends the access; ada's next read is refused.
func TestBrowserBreakglassEndedByOwner(t *testing.T) {
	exe := findChromium(t)
	p := newPortal(t, dbtest.SQLite(t))
	base := p.srv.URL

	ada := browserSignIn(t, exe, base, "ada.sysadmin@example.com")
	browserNavigate(t, ada, "open break-glass", chromedp.Navigate(base+"/breakglass"))
	browserDo(t, ada, "fill the break-glass form",
		chromedp.SendKeys(chromedp.CSS(`[data-testid="breakglass-form"] [name="workspace"]`), "acme"),
		chromedp.SendKeys(chromedp.CSS(`[data-testid="breakglass-form"] [name="incident"]`), "INC-2041"),
		chromedp.SendKeys(chromedp.CSS(`[data-testid="breakglass-form"] [name="justification"]`), "Projects vanished after the migration; checking which records are affected."),
	)
	status, path := browserNavigate(t, ada, "ask to open access", chromedp.Click(chromedp.CSS(`[data-testid="breakglass-form"] button`)))
	if status != http.StatusOK || path != "/breakglass" || !present(t, ada, `[data-testid="breakglass-confirm"]`) {
		t.Fatalf("asking to open break-glass: %d at %s, want the confirmation page", status, path)
	}
	shot(t, ada, "bg-0-confirm")
	status, path = browserNavigate(t, ada, "open access", chromedp.Click(chromedp.CSS(`[data-testid="breakglass-confirm"]`)))
	if status != http.StatusOK || !strings.HasPrefix(path, "/breakglass/") {
		t.Fatalf("opening break-glass: %d at %s", status, path)
	}
	shot(t, ada, "bg-1-opened")
	status, path = browserNavigate(t, ada, "open members", chromedp.Click(chromedp.CSS(`[data-testid="data-links"] a[href$="/members"]`)))
	if status != http.StatusOK || path != "/workspaces/acme/data/members" {
		t.Fatalf("reading members: %d at %s", status, path)
	}

	owner := ownerFollowsMail(t, exe, base, "owner@acme.example", "/emergency/", "bg-2-owner-mail")
	if got := browserGet(t, owner, "read the opener", chromedp.Text(chromedp.CSS(`[data-testid="bglink-opener"]`))); !strings.Contains(got, "Ada Sysadmin") {
		t.Fatalf("the link page names %q as the opener", got)
	}
	viewed := browserGet(t, owner, "read what was viewed", chromedp.Text(chromedp.CSS(`[data-testid="bglink-viewed"]`)))
	if !strings.Contains(viewed, "members") || !strings.Contains(viewed, "ada.sysadmin") {
		t.Fatalf("the owner does not see ada's read: %q", viewed)
	}
	shot(t, owner, "bg-3-owner-link")
	browserDo(t, owner, "say why", chromedp.SendKeys(chromedp.CSS(`[data-testid="bglink-form"] [name="note"]`), "We were not told about any incident."))
	status, path = browserNavigate(t, owner, "end the access", chromedp.Click(chromedp.CSS(`[data-testid="bglink-end"]`)))
	if status != http.StatusOK || !strings.HasPrefix(path, "/emergency/") || present(t, owner, `[data-testid="bglink-end"]`) {
		t.Fatalf("after ending: %d at %s (button still there: %t)", status, path, present(t, owner, `[data-testid="bglink-end"]`))
	}
	if got := browserGet(t, owner, "read the status", chromedp.Text(chromedp.CSS(`[data-testid="bglink-status"]`))); !strings.Contains(got, "ended") {
		t.Fatalf("status after ending = %q", got)
	}
	shot(t, owner, "bg-4-owner-ended")

	status, _ = browserNavigate(t, ada, "read members again", chromedp.Reload())
	if status != http.StatusForbidden {
		t.Fatalf("ada's read after the owner ended the break-glass = %d, want 403", status)
	}
	if n := p.count("audit_events", "action = ? AND actor = ? AND reason = ?", models.ActionBreakglassEnded, "owner@acme.example", "We were not told about any incident."); n != 1 {
		t.Fatalf("breakglass.ended events by the owner = %d, want 1", n)
	}
}
