package handlers

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gatehouse/models/dbtest"

	"github.com/chromedp/chromedp"
)

// browserSignIn signs a new browser in as a demo staff member by
// clicking their button on the login page.
func browserSignIn(t *testing.T, exe, base, email string) context.Context {
	t.Helper()
	return browserSignInFor(t, exe, base, email, time.Minute)
}

// browserSignInFor is browserSignIn for a browser whose tab lives up to
// limit.
func browserSignInFor(t *testing.T, exe, base, email string, limit time.Duration) context.Context {
	t.Helper()
	ctx := newBrowserFor(t, exe, limit)
	browserDo(t, ctx, "open /login", chromedp.Navigate(base+"/login"))
	status, path := browserNavigate(t, ctx, "sign in as "+email, chromedp.Click(chromedp.CSS(`[data-testid="login-`+email+`"]`)))
	if status != http.StatusOK || path != "/" {
		t.Fatalf("signing in as %s ended with %d at %s", email, status, path)
	}
	return ctx
}

// shot saves a screenshot when GATEHOUSE_SCREENSHOTS names a directory.
func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("GATEHOUSE_SCREENSHOTS")
	if dir == "" {
		return
	}
	png := browserGet(t, ctx, "screenshot "+name, chromedp.FullScreenshot(100))
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestBrowserAccessStory clicks through the whole workflow as its people
// do: sam.support asks for access to acme for sara.senior; sara cannot
// approve it; sean.senior approves; the owner opens the link from the
// development mailbox and grants; sara reads a table; the owner sees that
// read and revokes; sara's next read is refused.
func TestBrowserAccessStory(t *testing.T) {
	exe := findChromium(t)
	p := newPortal(t, dbtest.SQLite(t))
	base := p.srv.URL

	sam := browserSignIn(t, exe, base, "sam.support@example.com")
	browserDo(t, sam, "open the requests", chromedp.Navigate(base+"/requests"))
	browserNavigate(t, sam, "click New request", chromedp.Click(chromedp.CSS(`[data-testid="new-request"]`)))
	browserDo(t, sam, "fill the request form",
		chromedp.SendKeys(chromedp.CSS(`[name="workspace"]`), "acme"),
		chromedp.SendKeys(chromedp.CSS(`[name="reason"]`), "The customer reports that the invoice export fails for every project."),
		chromedp.SendKeys(chromedp.CSS(`[name="ticket"]`), "SUP-4711"),
		chromedp.SetValue(chromedp.CSS(`[name="grantee"]`), "sara.senior@example.com"),
		chromedp.SetValue(chromedp.CSS(`[name="duration"]`), "2h"),
	)
	shot(t, sam, "story-1-request-form")
	status, reqPath := browserNavigate(t, sam, "send the request", chromedp.Click(chromedp.CSS(`[data-testid="request-submit"]`)))
	if status != http.StatusOK || !strings.HasPrefix(reqPath, "/requests/") {
		t.Fatalf("after sending the request: %d at %s", status, reqPath)
	}
	if got := browserGet(t, sam, "read the status", chromedp.Text(chromedp.CSS(`[data-testid="status"]`))); got != "pending" {
		t.Fatalf("new request status = %q, want pending", got)
	}

	sara := browserSignIn(t, exe, base, "sara.senior@example.com")
	browserNavigate(t, sara, "open the request", chromedp.Navigate(base+reqPath))
	if present(t, sara, `[data-testid="approve"]`) {
		t.Fatal("the grantee is offered to approve her own request")
	}

	sean := browserSignIn(t, exe, base, "sean.senior@example.com")
	browserNavigate(t, sean, "open the request", chromedp.Navigate(base+reqPath))
	browserDo(t, sean, "write a note", chromedp.SendKeys(chromedp.CSS(`[data-testid="decide-form"] [name="note"]`), "Ticket checked with the customer's admin."))
	shot(t, sean, "story-2-approve")
	browserNavigate(t, sean, "approve", chromedp.Click(chromedp.CSS(`[data-testid="approve"]`)))
	if got := browserGet(t, sean, "read the status", chromedp.Text(chromedp.CSS(`[data-testid="status"]`))); got != "approved" {
		t.Fatalf("status after approval = %q, want approved", got)
	}

	owner := ownerFollowsMail(t, exe, base, "owner@acme.example", "/consent/", "story-3-consent-mail")
	shot(t, owner, "story-4-consent")
	browserNavigate(t, owner, "grant", chromedp.Click(chromedp.CSS(`[data-testid="consent-grant"]`)))
	if !present(t, owner, `[data-testid="consent-revoke"]`) {
		t.Fatal("after granting, the consent page offers no revoke")
	}

	browserNavigate(t, sara, "open acme", chromedp.Navigate(base+"/workspaces/acme"))
	status, path := browserNavigate(t, sara, "open members", chromedp.Click(chromedp.CSS(`[data-testid="data-links"] a[href$="/members"]`)))
	if status != http.StatusOK || path != "/workspaces/acme/data/members" {
		t.Fatalf("reading members: %d at %s", status, path)
	}
	shot(t, sara, "story-5-data")

	browserNavigate(t, owner, "reload the consent page", chromedp.Reload())
	viewed := browserGet(t, owner, "read what was viewed", chromedp.Text(chromedp.CSS(`[data-testid="consent-viewed"]`)))
	if !strings.Contains(viewed, "members") || !strings.Contains(viewed, "sara.senior") {
		t.Fatalf("the owner does not see sara's read: %q", viewed)
	}
	shot(t, owner, "story-6-consent-viewed")
	browserNavigate(t, owner, "revoke", chromedp.Click(chromedp.CSS(`[data-testid="consent-revoke"]`)))

	status, _ = browserNavigate(t, sara, "read members again", chromedp.Reload())
	if status != http.StatusForbidden {
		t.Fatalf("sara's read after the revocation = %d, want 403", status)
	}
	if n := p.count("grants", "ended_at IS NOT NULL AND ended_why = ?", "revoked by the customer"); n != 1 {
		t.Fatalf("%d grants revoked by the customer, want 1", n)
	}
}

// ownerFollowsMail opens, in a browser of its own, the newest mail to
// recipient in the development mailbox (saved as the screenshot mailShot,
// if named) and follows its link to prefix.
func ownerFollowsMail(t *testing.T, exe, base, recipient, prefix, mailShot string) context.Context {
	t.Helper()
	b := newBrowser(t, exe)
	browserNavigate(t, b, "open the dev mailbox", chromedp.Navigate(base+"/dev/mail"))
	href := browserGet(t, b, "find the mail to "+recipient, chromedp.Evaluate[string](
		`(Array.from(document.querySelectorAll('[data-testid="devmail-row"]')).find(r => r.textContent.includes(`+jsString(recipient)+`)) || {querySelector: () => ({getAttribute: () => ""})}).querySelector("a").getAttribute("href")`))
	if href == "" {
		t.Fatalf("no mail to %s in the dev mailbox", recipient)
	}
	browserNavigate(t, b, "open the mail", chromedp.Navigate(base+href))
	if mailShot != "" {
		shot(t, b, mailShot)
	}
	status, path := browserNavigate(t, b, "follow the link", chromedp.Click(chromedp.CSS(`[data-testid="devmail-text"] a[href*="`+prefix+`"]`)))
	if status != http.StatusOK || !strings.HasPrefix(path, prefix) {
		t.Fatalf("link in the mail to %s: %d at %s", recipient, status, path)
	}
	return b
}

// TestBrowserDeletionStory clicks through a customer's deletion: sam
// records the request on acme's page; both owners confirm from their
// mail (one is not enough for a workspace of 57 members); ada finds acme
// due in the retention queue and deletes it, typing its slug.
func TestBrowserDeletionStory(t *testing.T) {
	exe := findChromium(t)
	p := newPortal(t, dbtest.SQLite(t))
	base := p.srv.URL

	sam := browserSignIn(t, exe, base, "sam.support@example.com")
	browserNavigate(t, sam, "open acme", chromedp.Navigate(base+"/workspaces/acme"))
	browserDo(t, sam, "write how the customer asked",
		chromedp.SendKeys(chromedp.CSS(`[data-testid="deletion-request-form"] [name="note"]`), "SUP-9001: the owner asked by email today to delete the workspace."))
	status, path := browserNavigate(t, sam, "record the request", chromedp.Click(chromedp.CSS(`[data-testid="deletion-request-form"] button`)))
	if status != http.StatusOK || path != "/workspaces/acme" || !present(t, sam, `[data-testid="workspace-retention"] [data-testid="done"]`) {
		t.Fatalf("after recording the request: %d at %s", status, path)
	}
	shot(t, sam, "deletion-1-recorded")

	owner := ownerFollowsMail(t, exe, base, "owner@acme.example", "/deletion/", "")
	shot(t, owner, "deletion-2-confirm-page")
	browserNavigate(t, owner, "confirm", chromedp.Click(chromedp.CSS(`[data-testid="deletion-confirm"]`)))
	if got := browserGet(t, owner, "read the confirmations", chromedp.Text(chromedp.CSS(`[data-testid="deletion-confirmations"]`))); !strings.HasPrefix(got, "1 of 2") {
		t.Fatalf("after one owner confirmed: %q, want 1 of 2", got)
	}
	admin := ownerFollowsMail(t, exe, base, "admin@acme.example", "/deletion/", "")
	browserNavigate(t, admin, "confirm", chromedp.Click(chromedp.CSS(`[data-testid="deletion-confirm"]`)))
	if got := browserGet(t, admin, "read the status", chromedp.Text(chromedp.CSS(`[data-testid="deletion-status"]`))); !strings.HasPrefix(got, "Confirmed.") {
		t.Fatalf("after both owners confirmed: %q", got)
	}

	ada := browserSignIn(t, exe, base, "ada.sysadmin@example.com")
	browserNavigate(t, ada, "open the retention queue", chromedp.Navigate(base+"/retention"))
	if got := browserGet(t, ada, "read acme's state", chromedp.Text(chromedp.CSS(`[data-testid="queue-acme"] [data-testid="retention-state"]`))); got != "deletion due" {
		t.Fatalf("acme in the queue: %q, want deletion due", got)
	}
	shot(t, ada, "deletion-3-queue")
	browserNavigate(t, ada, "open acme's retention", chromedp.Click(chromedp.CSS(`[data-testid="queue-acme"] a`)))
	browserDo(t, ada, "type the slug", chromedp.SendKeys(chromedp.CSS(`[data-testid="delete-form"] [name="confirm"]`), "acme"))
	shot(t, ada, "deletion-4-delete")
	status, path = browserNavigate(t, ada, "delete", chromedp.Click(chromedp.CSS(`[data-testid="delete-form"] button`)))
	if status != http.StatusOK || path != "/retention/acme" || !present(t, ada, `[data-testid="deletion-report"]`) {
		t.Fatalf("after deleting: %d at %s", status, path)
	}
	shot(t, ada, "deletion-5-report")
	if p.dataExists("acme") {
		t.Fatal("acme's data is still there after the deletion")
	}
}
