package handlers

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gatehouse/models/dbtest"

	"github.com/chromedp/chromedp"
)

// findChromium returns the system Chromium: GATEHOUSE_CHROMIUM, else
// chromium on PATH. Without one the test skips, or fails under
// GATEHOUSE_TEST_ALL=1, where every test must run.
func findChromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("GATEHOUSE_CHROMIUM"); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("GATEHOUSE_CHROMIUM=%s: %v", p, err)
		}
		return p
	}
	p, err := exec.LookPath("chromium")
	if err != nil {
		const msg = "browser test needs Chromium: set GATEHOUSE_CHROMIUM or put chromium on PATH (.ci/run installs it)"
		if os.Getenv("GATEHOUSE_TEST_ALL") == "1" {
			t.Fatal(msg + "; GATEHOUSE_TEST_ALL=1 forbids skipping")
		}
		t.Skip(msg)
	}
	return p
}

// newBrowser starts a headless Chromium (exe) with an empty profile and
// returns its tab's context, which ends after a minute at most.
func newBrowser(t *testing.T, exe string) context.Context {
	t.Helper()
	return newBrowserFor(t, exe, 60*time.Second)
}

// newBrowserFor is newBrowser for a test that walks many pages in one tab:
// its context ends after limit.
func newBrowserFor(t *testing.T, exe string, limit time.Duration) context.Context {
	t.Helper()
	profile, err := os.MkdirTemp("", "gatehouse-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.NoFirstRun,
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1366, 900),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	tabCtx, cancelTab := chromedp.NewContext(allocCtx)
	ctx, cancel := context.WithTimeout(tabCtx, limit)
	t.Cleanup(func() {
		cancel()
		cancelTab()
		cancelAlloc() // waits for the browser to exit
		// Chromium's helpers may still be letting go of the profile; a
		// leftover temp directory is not worth failing a test for.
		os.RemoveAll(profile)
	})
	return ctx
}

// browserDo runs actions in the tab and fails the test on an error.
func browserDo(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// browserGet runs one action that returns a value.
func browserGet[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// browserNavigate runs steps that load a page (a click on a link or a
// submit button, or a navigation) and returns the final status and path.
func browserNavigate(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) (int64, string) {
	t.Helper()
	res, err := chromedp.RunResponse(ctx, steps...)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return res.Status, browserPath(t, ctx)
}

// browserPath is the path of the tab's current URL.
func browserPath(t *testing.T, ctx context.Context) string {
	t.Helper()
	loc := browserGet(t, ctx, "read the location", chromedp.Location())
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatalf("location %q: %v", loc, err)
	}
	return u.Path
}

// navLink is a navigation link as the browser shows it: its text, where
// it goes, and whether it is marked as the current section.
type navLink struct {
	Text    string `json:"text"`
	Href    string `json:"href"`
	Current bool   `json:"current"`
}

func navLinks(t *testing.T, ctx context.Context) []navLink {
	t.Helper()
	return browserGet(t, ctx, "read the navigation", chromedp.Evaluate[[]navLink](
		`Array.from(document.querySelectorAll('[data-testid="nav"] a')).map(a => ({
			text: a.textContent.trim(),
			href: a.getAttribute("href"),
			current: a.getAttribute("aria-current") === "page",
		}))`))
}

func present(t *testing.T, ctx context.Context, selector string) bool {
	t.Helper()
	return browserGet(t, ctx, "look for "+selector, chromedp.Evaluate[bool](
		`document.querySelector(`+jsString(selector)+`) !== null`))
}

// jsString quotes s as a JavaScript string literal (JSON is a subset).
func jsString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

func TestBrowserLoginDashboardLogout(t *testing.T) {
	tests := []struct {
		email string
		hello string
		tier  string
		nav   []navLink // on the dashboard
	}{
		{
			email: "sam.support@example.com",
			hello: "Hello, Sam Support",
			tier:  "support",
			nav:   []navLink{{"Dashboard", "/", true}, {"Workspaces", "/workspaces", false}, {"Requests", "/requests", false}},
		},
		{
			email: "ada.sysadmin@example.com",
			hello: "Hello, Ada Sysadmin",
			tier:  "sysadmin",
			nav:   []navLink{{"Dashboard", "/", true}, {"Workspaces", "/workspaces", false}, {"Requests", "/requests", false}, {"Audit log", "/audit", false}, {"Staff", "/staff", false}, {"Roles", "/roles", false}, {"Break-glass", "/breakglass", false}, {"Retention", "/retention", false}, {"Incidents", "/incidents", false}, {"Access reviews", "/reviews", false}},
		},
	}
	exe := findChromium(t)
	p := newPortal(t, dbtest.SQLite(t))
	for _, tt := range tests {
		t.Run(tt.email, func(t *testing.T) {
			ctx := newBrowser(t, exe)

			// Sign in the way a person does: the login page's demo-user button,
			// which runs the real OIDC round trip.
			browserDo(t, ctx, "open /login", chromedp.Navigate(p.srv.URL+"/login"))
			button := `[data-testid="login-` + tt.email + `"]`
			status, path := browserNavigate(t, ctx, "click "+button, chromedp.Click(chromedp.CSS(button)))
			if status != http.StatusOK || path != "/" {
				t.Fatalf("after signing in as %s: status %d at %q, want 200 at /", tt.email, status, path)
			}
			if got := browserGet(t, ctx, "read the heading", chromedp.Text(chromedp.CSS("main h1"))); got != tt.hello {
				t.Errorf("dashboard heading = %q, want %q", got, tt.hello)
			}
			if got := navLinks(t, ctx); !slices.Equal(got, tt.nav) {
				t.Errorf("navigation = %+v, want %+v", got, tt.nav)
			}
			if got := browserGet(t, ctx, "read the tier badge", chromedp.Text(chromedp.CSS(`[data-testid="viewer"] .tier`))); got != tt.tier {
				t.Errorf("viewer tier badge = %q, want %q", got, tt.tier)
			}
			if dir := os.Getenv("GATEHOUSE_SCREENSHOTS"); dir != "" {
				png := browserGet(t, ctx, "screenshot the dashboard", chromedp.FullScreenshot(100))
				local, _, _ := strings.Cut(tt.email, "@")
				if err := os.WriteFile(filepath.Join(dir, "dashboard-"+local+".png"), png, 0o644); err != nil {
					t.Fatal(err)
				}
			}

			// Every other section in the navigation opens, and becomes the
			// current one.
			for _, link := range tt.nav[1:] {
				sel := `[data-testid="nav"] a[href="` + link.Href + `"]`
				if !present(t, ctx, sel) {
					continue // already reported as a wrong navigation
				}
				status, path := browserNavigate(t, ctx, "click "+link.Text, chromedp.Click(chromedp.CSS(sel)))
				if status != http.StatusOK || path != link.Href {
					t.Errorf("after clicking %s: status %d at %q, want 200 at %s", link.Text, status, path, link.Href)
					continue
				}
				var want []navLink
				for _, n := range tt.nav {
					want = append(want, navLink{n.Text, n.Href, n.Href == link.Href})
				}
				if got := navLinks(t, ctx); !slices.Equal(got, want) {
					t.Errorf("navigation on %s = %+v, want %+v", link.Href, got, want)
				}
			}

			// Sign out: back at /login, the session is over on the server, and
			// the dashboard sends the browser to sign in again.
			live := p.count("sessions", "ended_at IS NULL")
			status, path = browserNavigate(t, ctx, "click Sign out",
				chromedp.Click(chromedp.CSS(`[data-testid="viewer"] form[action="/logout"] button`)))
			if status != http.StatusOK || path != "/login" {
				t.Fatalf("after signing out: status %d at %q, want 200 at /login", status, path)
			}
			if present(t, ctx, `[data-testid="viewer"]`) {
				t.Error("the login page still shows a signed-in person after signing out")
			}
			if got := p.count("sessions", "ended_at IS NULL"); got != live-1 {
				t.Errorf("live sessions after signing out = %d, want %d", got, live-1)
			}
			status, path = browserNavigate(t, ctx, "open / again", chromedp.Navigate(p.srv.URL+"/"))
			if status != http.StatusOK || path != "/login" {
				t.Errorf("GET / after signing out: status %d at %q, want a redirect to /login", status, path)
			}
		})
	}
}
