package handlers

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"gatehouse/models/dbtest"
)

// FuzzSafeReturnTo feeds the sign-in's return_to check any value. What
// it accepts must be a local path that no browser reads as leaving the
// origin (no scheme, no "//", no backslash, no control character), must
// not lead into the sign-in (/auth/) or the development routes (/dev/),
// even after the browser resolves dot segments, and must come back
// unchanged when checked again (the sign-in form carries it once more).
func FuzzSafeReturnTo(f *testing.F) {
	for _, s := range []string{
		"/", "/requests/12", "/audit?action=data.viewed&page=2", "/workspaces/acme#retention",
		"", "https://evil.example/", "//evil.example", "///evil.example", "/\\evil.example",
		"\\\\evil.example", "/\t/evil.example", "/\r\n/evil.example", " /evil", "javascript:alert(1)",
		"/%2F%2Fevil.example", "/%5Cevil.example", "/auth/callback?code=x", "/./auth/callback",
		"/x/../auth/callback", "/%2e/dev/login", "/%2E%2e/dev/mail", "/dev/mail", "/a?b=//evil",
		"/\x00", "/\x7f", "/é?q=ü", "/a b?c d", "/%zz", "/?%zz", "/;/evil.example", "/@evil.example",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := safeReturnTo(s)
		if got == "/" {
			return
		}
		if !strings.HasPrefix(got, "/") || strings.HasPrefix(got, "//") {
			t.Fatalf("safeReturnTo(%q) = %q: not a local absolute path", s, got)
		}
		for _, r := range got {
			if r < 0x20 || r == 0x7f || r == '\\' {
				t.Fatalf("safeReturnTo(%q) = %q holds %q", s, got, r)
			}
		}
		u, err := url.Parse(got)
		if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
			t.Fatalf("safeReturnTo(%q) = %q parses as %#v, %v", s, got, u, err)
		}
		base, _ := url.Parse("https://portal.example/requests/1")
		if to := base.ResolveReference(u); to.Scheme != "https" || to.Host != "portal.example" {
			t.Fatalf("safeReturnTo(%q) = %q leads to %s", s, got, to)
		}
		path := resolvedPath(got)
		if strings.HasPrefix(path, "/auth/") || strings.HasPrefix(path, "/dev/") {
			t.Fatalf("safeReturnTo(%q) = %q leads a browser to %s", s, got, path)
		}
		if again := safeReturnTo(got); again != got {
			t.Fatalf("safeReturnTo(%q) = %q, but that checked again is %q", s, got, again)
		}
	})
}

// resolvedPath is the path a browser requests for a Location of ref, a
// path-absolute reference, as the URL standard reads it: tabs and
// newlines removed, a backslash taken as a slash, dot segments (also
// percent-encoded ones, "%2e") resolved. It is "//" for a reference the
// browser reads as naming another host.
func resolvedPath(ref string) string {
	ref = strings.NewReplacer("\t", "", "\n", "", "\r", "", "\\", "/").Replace(ref)
	if strings.HasPrefix(ref, "//") {
		return "//"
	}
	if i := strings.IndexAny(ref, "?#"); i >= 0 {
		ref = ref[:i]
	}
	var out []string
	segs := strings.Split(ref, "/")[1:]
	for i, seg := range segs {
		last := i == len(segs)-1
		switch strings.ToLower(seg) {
		case ".", "%2e":
			if last {
				out = append(out, "")
			}
		case "..", ".%2e", "%2e.", "%2e%2e":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
			if last {
				out = append(out, "")
			}
		default:
			out = append(out, seg)
		}
	}
	return "/" + strings.Join(out, "/")
}

// TestSignedInLoginStaysOnSite: a signed-in browser sent to
// /login?return_to=… is redirected at once, so the check is all that
// stands between a crafted link and another site (or the sign-in and
// development routes, which a dot segment must not reach either).
func TestSignedInLoginStaysOnSite(t *testing.T) {
	p := newPortal(t, dbtest.SQLite(t))
	c := noRedirect(p.login(ada))
	for returnTo, want := range map[string]string{
		"/requests?status=pending": "/requests?status=pending",
		"/%2Fevil.example/ ":       "/",
		"/%2Fevil.example/é":       "/",
		"//evil.example":           "/",
		"/x/../auth/callback":      "/",
		"/%2e/dev/mail":            "/",
	} {
		res, _ := p.get(c, "/login?return_to="+url.QueryEscape(returnTo))
		if got := res.Header.Get("Location"); res.StatusCode != http.StatusSeeOther || got != want {
			t.Errorf("return_to %q: %d to %q, want 303 to %q", returnTo, res.StatusCode, got, want)
		}
	}
}
