package handlers

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/dbtest"
	"gatehouse/models/demo"
	"gatehouse/policy"

	"github.com/chromedp/chromedp"
)

// Screen sizes the layout must fit: a staff member's laptop and a
// customer's phone.
const (
	deskWidth, deskHeight   = 1366, 900
	phoneWidth, phoneHeight = 390, 844
)

// layoutSkips are the GET routes that are not pages a person reads.
var layoutSkips = map[string]string{
	"/healthz":       "a probe",
	"/readyz":        "a probe",
	"/metrics":       "Prometheus text",
	"/static/:file":  "the style sheet",
	"/auth/callback": "the end of the OIDC round trip",
	"/dev/oidc/*":    "the development identity provider",
	// Without a kept note (set only across a step-up sign-in, covered by
	// TestApprovalNoteSurvivesStepUp) it redirects to the request page.
	"/requests/:id/decide": "the return from a step-up sign-in",
	// RFC 9116 plain text for security researchers, checked by
	// TestSecurityTxt.
	"/.well-known/security.txt": "plain text",
	// A CSV or JSON download of a finished review, checked by
	// TestReviewExportHTTP.
	"/reviews/:id/export": "a download",
}

// layoutTiers are the demo staff whose portal the test walks, one per tier.
var layoutTiers = []string{
	"sam.support@example.com",
	"sara.senior@example.com",
	"ada.sysadmin@example.com",
	"aud.auditor@example.com",
	"eve.engineer@example.com",
}

// customerPage is a page a workspace owner opens from a mail on a phone,
// and the buttons they come for.
type customerPage struct {
	name    string
	path    string
	buttons []string // data-testid values
}

// layoutStory fills the demo with something of everything, with long
// text where people type it: a request waiting for the customer, one
// granted and read, one pending, a break-glass read under, and a
// customer's deletion request, an open alert, last month's transparency
// report and a closed incident with its notices. It returns the customer
// pages.
func (p *testPortal) layoutStory() []customerPage {
	p.t.Helper()
	t := p.t.(*testing.T)
	// First, while the log holds only what each asserts on.
	p.raiseAlert()
	p.openReview() // the access review in progress, as in the demo
	report := p.transparencyReport("owner@acme.example")
	sam := p.login("sam.support@example.com")
	sara := p.login("sara.senior@example.com")
	sean := noRedirect(p.login("sean.senior@example.com"))
	ada := p.login("ada.sysadmin@example.com")
	long := "The customer reports that the invoice export fails for every project since the upgrade; the log is at " +
		"https://support.example.com/tickets/SUP-4711/attachments/invoice-export-failure-2026-12-05T08:15:00Z.log and needs checking."
	approve := func(ws string) string {
		form := requestForm(ws, "sara.senior@example.com")
		form.Set("reason", long)
		id := p.openRequest(sam, form)
		if res, body := p.post(sean, fmt.Sprintf("/requests/%d/approve", id), url.Values{"note": {"Ticket checked with the customer's admin."}}); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("approve request %d = %d:\n%s", id, res.StatusCode, body)
		}
		return p.consentToken("owner@" + ws + ".example")
	}
	waiting := approve("acme")
	granted := approve("globex")
	customer := p.client()
	_, body := p.get(customer, "/consent/"+granted)
	if res, body := p.post(noRedirect(customer), "/consent/"+granted, url.Values{"decision": {"grant"}, "shown": {shownHash(t, body)}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("grant = %d:\n%s", res.StatusCode, body)
	}
	for _, path := range []string{"/workspaces/globex/data/members", "/workspaces/globex/data/projects", "/workspaces/globex/data/members/1"} {
		if res, _ := p.get(sara, path); res.StatusCode != http.StatusOK {
			t.Fatalf("sara reads %s = %d", path, res.StatusCode)
		}
	}
	p.openRequest(sam, requestForm("initech", "sara.senior@example.com"))

	form := bgForm("initech")
	form.Set("justification", long)
	if res, body := p.post(noRedirect(ada), "/breakglass", form); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("break-glass = %d:\n%s", res.StatusCode, body)
	}
	if res, _ := p.get(ada, "/workspaces/initech/data/members"); res.StatusCode != http.StatusOK {
		t.Fatalf("ada reads initech under break-glass = %d", res.StatusCode)
	}
	// Another, opened by otto and reviewed by ada: the list's longest row.
	otto := p.login("otto.sysadmin@example.com")
	reviewed := p.openBG(otto, "acme")
	if res, body := p.post(noRedirect(ada), fmt.Sprintf("/breakglass/%d/review", reviewed), url.Values{"note": {long}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("review = %d:\n%s", res.StatusCode, body)
	}
	// A tier change otto proposed, waiting for ada (the dashboard links it).
	p.proposeTier(otto, p.staff("sam.support@example.com").ID, "senior")
	note := "SUP-9001: the owner asked by email today to delete the workspace and everything in it, " +
		"https://support.example.com/tickets/SUP-9001/messages/2026-12-05-owner-request-for-deletion."
	if res, body := p.post(noRedirect(sam), "/workspaces/acme/deletion-requests", url.Values{"note": {note}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("deletion request = %d:\n%s", res.StatusCode, body)
	}
	ctx := context.Background()
	if err := demo.SeedIncident(ctx, p.db, p.opts.Product, p.clock.Now(), models.Post{Outbox: p.opts.Outbox, Letters: p.h.letters}); err != nil {
		t.Fatal(err)
	}
	var notice string
	mails, err := p.opts.Outbox.List(ctx, p.db.Read, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range mails {
		if mm := noticeLink.FindStringSubmatch(m.Text); mm != nil && m.Kind == "incident.notice" {
			notice = mm[1]
			break
		}
	}
	if notice == "" {
		t.Fatal("the demo incident mailed no notice link")
	}
	return []customerPage{
		{"consent-waiting", "/consent/" + waiting, []string{"consent-grant", "consent-deny", "consent-report"}},
		{"consent-granted", "/consent/" + granted, []string{"consent-revoke"}},
		{"deletion", "/deletion/" + p.deletionToken("owner@acme.example"), []string{"deletion-confirm", "deletion-cancel"}},
		{"emergency", "/emergency/" + p.breakglassToken("bill@initech.example"), []string{"bglink-end"}},
		{"consent-invalid", "/consent/" + strings.Repeat("x", 43), nil},
		{"incident-notice", "/incident-notice/" + notice, nil},
		{"transparency", "/transparency/" + report, nil}, // read first; its one button ends the mails
	}
}

// pageFit is what the browser measures on a page.
type pageFit struct {
	ScrollWidth int64    `json:"scrollWidth"`
	ClientWidth int64    `json:"clientWidth"`
	Sideways    []string `json:"sideways"` // elements that scroll sideways inside the page
	Links       []string `json:"links"`
}

// measureFit reads the document's width, every element that scrolls
// sideways, and the page's links.
const measureFit = `(() => {
	const d = document.documentElement;
	const name = el => el.tagName.toLowerCase() + (el.dataset.testid ? '[data-testid="' + el.dataset.testid + '"]' : el.className ? '.' + String(el.className).split(' ').join('.') : '');
	const sideways = [];
	for (const el of document.body.querySelectorAll('*')) {
		const ox = getComputedStyle(el).overflowX;
		if ((ox === 'auto' || ox === 'scroll') && el.scrollWidth > el.clientWidth + 1) {
			sideways.push(name(el) + ' (' + el.scrollWidth + ' > ' + el.clientWidth + ')');
		}
	}
	return {
		scrollWidth: d.scrollWidth, clientWidth: d.clientWidth, sideways,
		links: Array.from(document.querySelectorAll('a[href^="/"]')).map(a => a.getAttribute('href')),
	};
})()`

// routeOf names the route table's GET pattern a path belongs to, or "".
func routeOf(patterns []string, path string) string {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	for _, pat := range patterns {
		ps := strings.Split(strings.Trim(pat, "/"), "/")
		if n := len(ps); n > 0 && ps[n-1] == "*" {
			if len(segs) >= n-1 && segmentsMatch(ps[:n-1], segs[:n-1]) {
				return pat
			}
			continue
		}
		if len(ps) == len(segs) && segmentsMatch(ps, segs) {
			return pat
		}
	}
	return ""
}

// segmentsMatch compares path segments, a ":name" matching any
// non-empty segment.
func segmentsMatch(pattern, segs []string) bool {
	for i, p := range pattern {
		switch {
		case strings.HasPrefix(p, ":"):
			if segs[i] == "" {
				return false
			}
		case p != segs[i]:
			return false
		}
	}
	return true
}

var nonWord = regexp.MustCompile(`[^a-z0-9]+`)

// layoutShot saves screenshots of the page, whole and its first screen,
// when GATEHOUSE_SCREENSHOTS names a directory.
func layoutShot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("GATEHOUSE_SCREENSHOTS")
	if dir == "" {
		return
	}
	base := filepath.Join(dir, "layout-"+strings.Trim(nonWord.ReplaceAllString(name, "-"), "-"))
	for suffix, shoot := range map[string]chromedp.Action[[]byte]{".png": chromedp.FullScreenshot(100), "-screen.png": chromedp.CaptureScreenshot()} {
		png := browserGet(t, ctx, "screenshot "+name, shoot)
		if err := os.WriteFile(base+suffix, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestBrowserLayout opens every page of the demo as each tier at
// 1366×900, and the customer's pages at 390×844, in a real Chromium. No
// page may be wider than the screen or hide part of itself in a box that
// scrolls sideways, and on the phone the customer's decision buttons are
// on the first screen. The pages come from the route table (every GET
// route a tier may open) and from following the links on them, up to
// three pages per route; a GET route no walk reaches fails the test, so a
// new page is covered or named here.
func TestBrowserLayout(t *testing.T) {
	exe := findChromium(t)
	p := newPortal(t, dbtest.SQLite(t))
	customer := p.layoutStory()

	var patterns []string
	perms := map[string]policy.Permission{}
	for _, r := range p.h.routes() {
		if r.method == http.MethodGet {
			patterns = append(patterns, r.path)
			perms[r.path] = r.perm
		}
	}
	// Fixed segments first, so "/requests/new" wins over "/requests/:id".
	sort.SliceStable(patterns, func(i, j int) bool {
		return strings.Count(patterns[i], ":") < strings.Count(patterns[j], ":")
	})
	seen := map[string]bool{} // route patterns opened with 200

	// check opens path and fails the test on a page that does not fit.
	check := func(ctx context.Context, who, path string, width int64) pageFit {
		t.Helper()
		status, _ := browserNavigate(t, ctx, "open "+path, chromedp.Navigate(p.srv.URL+path))
		fit := browserGet(t, ctx, "measure "+path, chromedp.Evaluate[pageFit](measureFit))
		if status == http.StatusOK {
			seen[routeOf(patterns, strings.SplitN(path, "?", 2)[0])] = true
		}
		if fit.ScrollWidth > fit.ClientWidth || fit.ClientWidth > width {
			t.Errorf("%s at %d px: %s is %d px wide in a %d px window", who, width, path, fit.ScrollWidth, fit.ClientWidth)
		}
		for _, s := range fit.Sideways {
			t.Errorf("%s at %d px: %s hides content sideways in %s", who, width, path, s)
		}
		return fit
	}

	// Everyone signs in first: the identity provider's tokens carry the
	// real time, and the portal's clock stands still in tests.
	browsers := map[string]context.Context{}
	for _, email := range layoutTiers {
		ctx := newBrowserFor(t, exe, 5*time.Minute)
		browserDo(t, ctx, "open /login", chromedp.Navigate(p.srv.URL+"/login"))
		if status, path := browserNavigate(t, ctx, "sign in as "+email, chromedp.Click(chromedp.CSS(`[data-testid="login-`+email+`"]`))); status != http.StatusOK || path != "/" {
			t.Fatalf("signing in as %s ended with %d at %s", email, status, path)
		}
		browsers[email] = ctx
	}
	for _, email := range layoutTiers {
		who, _, _ := strings.Cut(email, "@")
		ctx := browsers[email]
		browserDo(t, ctx, "size the window", chromedp.EmulateViewport(deskWidth, deskHeight))
		tier := p.staffTier(email)
		var queue []string
		for _, pat := range patterns {
			if _, skip := layoutSkips[pat]; !skip && !strings.Contains(pat, ":") && !strings.HasPrefix(pat, "/dev/") &&
				perms[pat] != policy.Public && p.opts.Enforcer.Allowed(tier, perms[pat]) {
				queue = append(queue, pat)
			}
		}
		opened := map[string]bool{}
		perRoute := map[string]int{}
		for len(queue) > 0 {
			path := queue[0]
			queue = queue[1:]
			pat := routeOf(patterns, strings.SplitN(path, "?", 2)[0])
			if opened[path] || pat == "" || perRoute[pat] >= 3 || layoutSkips[pat] != "" || strings.HasPrefix(pat, "/dev/") || pat == "/login" {
				continue
			}
			opened[path] = true
			perRoute[pat]++
			fit := check(ctx, who, path, deskWidth)
			if perRoute[pat] == 1 {
				layoutShot(t, ctx, who+"-"+pat)
			}
			queue = append(queue, fit.Links...)
		}
	}

	// Signed out: the sign-in page, and the development mailbox.
	anon := newBrowserFor(t, exe, 5*time.Minute)
	browserDo(t, anon, "size the window", chromedp.EmulateViewport(deskWidth, deskHeight))
	check(anon, "anonymous", "/login", deskWidth)
	mail := check(anon, "anonymous", "/dev/mail", deskWidth)
	for _, href := range mail.Links {
		if strings.HasPrefix(href, "/dev/mail/") {
			check(anon, "anonymous", href, deskWidth)
			break
		}
	}

	phone := newBrowserFor(t, exe, 5*time.Minute)
	browserDo(t, phone, "size the phone", chromedp.EmulateViewport(phoneWidth, phoneHeight, chromedp.EmulateMobile, chromedp.EmulateTouch))
	for _, cp := range customer {
		check(phone, "customer", cp.path, phoneWidth)
		layoutShot(t, phone, "customer-"+cp.name)
		for _, id := range cp.buttons {
			bottom := browserGet(t, phone, "find "+id, chromedp.Evaluate[float64](
				`(b => b ? b.getBoundingClientRect().bottom + window.scrollY : -1)(document.querySelector('[data-testid="`+id+`"]'))`))
			switch {
			case bottom < 0:
				t.Errorf("customer %s: no %s button", cp.name, id)
			case bottom > phoneHeight:
				t.Errorf("customer %s on a %d×%d phone: the %s button ends at %.0f px, below the first screen", cp.name, phoneWidth, phoneHeight, id, bottom)
			}
		}
	}

	for _, pat := range patterns {
		if layoutSkips[pat] == "" && pat != "/dev/oidc/*" && !seen[pat] {
			t.Errorf("no walk opened a page of GET %s: link to it from a page of the demo, or open it in layoutStory", pat)
		}
	}
}

// staffTier is a demo staff member's tier.
func (p *testPortal) staffTier(email string) policy.Tier {
	p.t.Helper()
	var tier policy.Tier
	if err := p.db.Read.Table("staff").Select("tier").Where("email = ?", email).Scan(&tier).Error; err != nil {
		p.t.Fatal(err)
	}
	return tier
}
