package handlers

import (
	"encoding/base64"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/devidp"
	"gatehouse/models"
	"gatehouse/models/dbtest"

	"github.com/labstack/echo/v4"
)

// signedInWith reports whether a request carrying exactly this session
// cookie is signed in: the dashboard (200), or a redirect to sign in.
func (p *testPortal) signedInWith(cookie string) bool {
	p.t.Helper()
	res, body := p.send(cookie, http.MethodGet, "/", nil, nil)
	switch {
	case res.StatusCode == http.StatusOK && strings.Contains(body, `data-testid="viewer"`):
		return true
	case res.StatusCode == http.StatusSeeOther && strings.HasPrefix(res.Header.Get("Location"), "/login?return_to=%2F"):
		// Possibly with &why= saying why the session no longer counts.
		return false
	}
	p.t.Fatalf("GET / answered %d (Location %q), neither the dashboard nor the way to sign in", res.StatusCode, res.Header.Get("Location"))
	return false
}

// sessionRow returns the stored session of a cookie.
func (p *testPortal) sessionRow(cookie string) models.Session {
	p.t.Helper()
	var s models.Session
	if err := p.db.Read.Where("id_hash = ?", models.TokenHash(p.opts.SessionKey, cookie)).Take(&s).Error; err != nil {
		p.t.Fatalf("session row: %v", err)
	}
	return s
}

func TestSessionIdleTimeout(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		active := p.sessionCookie(p.login("sam.support@example.com"))
		idle := p.sessionCookie(p.login("sara.senior@example.com"))

		p.clock.Advance(29 * time.Minute)
		if !p.signedInWith(active) {
			t.Fatal("signed out after 29 minutes idle, want still signed in")
		}
		p.clock.Advance(2 * time.Minute)
		if p.signedInWith(idle) {
			t.Error("still signed in after 31 minutes without activity, want signed out")
		}
		// The idle timeout counts from the last request, not the login.
		if !p.signedInWith(active) {
			t.Error("signed out 2 minutes after the last request, want still signed in")
		}
		res, _ := p.send(idle, http.MethodGet, "/staff", nil, nil)
		if got, want := res.Header.Get("Location"), "/login?return_to=%2Fstaff&why=idle"; res.StatusCode != http.StatusSeeOther || got != want {
			t.Errorf("GET /staff after the idle timeout: got %d to %q, want 303 to %q", res.StatusCode, got, want)
		}
	})
}

func TestSessionActivityAndAbsoluteTimeout(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		cookie := p.sessionCookie(p.login("sam.support@example.com"))
		// A request every 20 minutes keeps the session alive through 11h40m.
		for elapsed := 20 * time.Minute; elapsed <= 11*time.Hour+40*time.Minute; elapsed += 20 * time.Minute {
			p.clock.Advance(20 * time.Minute)
			if !p.signedInWith(cookie) {
				t.Fatalf("signed out after %s with a request every 20 minutes, want still signed in", elapsed)
			}
		}
		p.clock.Advance(19 * time.Minute)
		if !p.signedInWith(cookie) {
			t.Fatal("signed out at 11h59m, want still signed in")
		}
		p.clock.Advance(time.Minute)
		if p.signedInWith(cookie) {
			t.Error("still signed in 12 hours after login despite activity, want signed out (absolute timeout)")
		}
	})
}

func TestSessionLogoutThenReplay(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		c := p.login("sam.support@example.com")
		cookie := p.sessionCookie(c)

		res, _ := p.post(noRedirect(c), "/logout", url.Values{})
		if got := res.Header.Get("Location"); res.StatusCode != http.StatusSeeOther || got != "/login" {
			t.Fatalf("POST /logout: got %d to %q, want 303 to /login", res.StatusCode, got)
		}
		s := p.sessionRow(cookie)
		if s.EndedAt == nil || s.EndReason != "logout" {
			t.Errorf("session after logout: ended_at %v, end_reason %q; want set, \"logout\"", s.EndedAt, s.EndReason)
		}
		if n := p.count("audit_events", "action = ? AND actor = ?", models.ActionLogout, "sam.support@example.com"); n != 1 {
			t.Errorf("logout events = %d, want 1", n)
		}

		// A fresh browser presenting the old cookie.
		if p.signedInWith(cookie) {
			t.Error("the cookie of a logged-out session still signs in")
		}
		res, body := p.send(cookie, http.MethodPost, "/logout", url.Values{}, nil)
		if got := p.classify(res, body); got != unauth {
			t.Errorf("POST /logout with the old cookie: got %s (%d), want %s", got, res.StatusCode, unauth)
		}
	})
}

func TestSessionEndsWhenStaffOffboardedOrSuspended(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		ada := noRedirect(p.login("ada.sysadmin@example.com"))
		for _, tc := range []struct {
			email  string
			action string
			form   url.Values
			reason string // end_reason of the sessions, and the login refusal
		}{
			{"sam.support@example.com", "offboard", url.Values{"reason": {"left the company on Friday"}, "confirm": {"sam.support@example.com"}}, "offboarded"},
			{"sara.senior@example.com", "suspend", url.Values{"reason": {"laptop reported stolen"}}, "suspended"},
		} {
			t.Run(tc.action, func(t *testing.T) {
				id := p.idOf(tc.email)
				cookie := p.sessionCookie(p.login(tc.email))
				if !p.signedInWith(cookie) {
					t.Fatal("not signed in before the change")
				}
				res, body := p.post(ada, "/staff/"+strconv.FormatInt(id, 10)+"/"+tc.action, tc.form)
				if res.StatusCode != http.StatusSeeOther {
					t.Fatalf("POST /staff/%d/%s: got %d, want 303:\n%s", id, tc.action, res.StatusCode, body)
				}
				if p.signedInWith(cookie) {
					t.Errorf("%s: the live session still signs in on the next request", tc.action)
				}
				if s := p.sessionRow(cookie); s.EndedAt == nil || s.EndReason != tc.reason {
					t.Errorf("session: ended_at %v, end_reason %q; want set, %q", s.EndedAt, s.EndReason, tc.reason)
				}
				// And no new session either.
				res, _ = p.post(p.client(), "/dev/login", url.Values{"email": {tc.email}})
				if res.StatusCode != http.StatusForbidden {
					t.Errorf("login after %s: got %d, want 403", tc.action, res.StatusCode)
				}
				if n := p.count("sessions", "staff_id = ? AND ended_at IS NULL", id); n != 0 {
					t.Errorf("live sessions after %s and a new login attempt = %d, want 0", tc.action, n)
				}
				if n := p.count("audit_events", "action = ? AND target = ? AND reason = ?", models.ActionLoginRefused, tc.email, "staff_"+tc.reason); n != 1 {
					t.Errorf("refused-login events = %d, want 1", n)
				}
			})
		}
	})
}

func TestSessionTierChangeAppliesOnNextRequest(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		ada := noRedirect(p.login("ada.sysadmin@example.com"))
		second := p.secondSysadmin() // approves ada's proposals
		for _, tc := range []struct {
			email     string
			tier      string
			wantStaff outcome // GET /staff after the change
		}{
			{"otto.sysadmin@example.com", "senior", deny},
			{"sam.support@example.com", "sysadmin", allow},
		} {
			t.Run(tc.email+" to "+tc.tier, func(t *testing.T) {
				cookie := p.sessionCookie(p.login(tc.email))
				before := map[outcome]outcome{allow: deny, deny: allow}[tc.wantStaff]
				if res, body := p.send(cookie, http.MethodGet, "/staff", nil, nil); p.classify(res, body) != before {
					t.Fatalf("GET /staff before the change: got %s, want %s", p.classify(res, body), before)
				}
				// Proposed by ada, approved by a second sysadmin.
				p.approveProposal(second, p.proposeTier(ada, p.idOf(tc.email), tc.tier))
				res, body := p.send(cookie, http.MethodGet, "/staff", nil, nil)
				if got := p.classify(res, body); got != tc.wantStaff {
					t.Errorf("GET /staff right after the change, same session: got %s (%d), want %s", got, res.StatusCode, tc.wantStaff)
				}
				res, body = p.send(cookie, http.MethodGet, "/", nil, nil)
				if got, want := strings.Contains(body, `href="/staff"`), tc.wantStaff == allow; res.StatusCode != http.StatusOK || got != want {
					t.Errorf("dashboard after the change: %d, navigation links /staff = %t, want 200, %t", res.StatusCode, got, want)
				}
				if s := p.sessionRow(cookie); s.EndedAt != nil {
					t.Errorf("the tier change ended the session (%s); it should apply to the live one", s.EndReason)
				}
			})
		}
	})
}

// setCookieRecorder is a transport that keeps every Set-Cookie header the
// server sends, with the path of the request it answered.
type setCookieRecorder struct {
	mu  sync.Mutex
	got []recordedSetCookie
}

type recordedSetCookie struct {
	path   string
	header string
}

func (r *setCookieRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, h := range res.Header.Values("Set-Cookie") {
		r.got = append(r.got, recordedSetCookie{req.Method + " " + req.URL.Path, h})
	}
	return res, nil
}

// checkCookieAttributes checks the attributes every portal cookie needs,
// and Secure exactly when https.
func checkCookieAttributes(t *testing.T, where, header string, https bool) *http.Cookie {
	t.Helper()
	ck, err := http.ParseSetCookie(header)
	if err != nil {
		t.Errorf("%s: Set-Cookie %q: %v", where, header, err)
		return nil
	}
	if !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" || ck.Domain != "" {
		t.Errorf("%s: Set-Cookie %q: want HttpOnly, SameSite=Lax, Path=/ and no Domain", where, header)
	}
	if ck.Secure != https {
		t.Errorf("%s: Set-Cookie %q: Secure = %t, want %t", where, header, ck.Secure, https)
	}
	if prefixed := strings.HasPrefix(ck.Name, "__Host-"); prefixed != https {
		t.Errorf("%s: Set-Cookie %q: __Host- prefix = %t, want %t", where, header, prefixed, https)
	}
	return ck
}

func TestSessionCookieAttributes(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		rec := &setCookieRecorder{}
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar, Transport: rec, Timeout: 20 * time.Second}
		signIn := func(email string, want int) {
			t.Helper()
			res, body := p.post(c, "/dev/login", url.Values{"email": {email}})
			if res.StatusCode != want {
				t.Fatalf("login as %s: got %d, want %d:\n%s", email, res.StatusCode, want, body)
			}
		}
		signIn("sam.support@example.com", http.StatusOK)
		p.post(c, "/logout", url.Values{})
		signIn("lee.leaver@example.com", http.StatusForbidden) // refused: the login cookie is still cleared
		signIn("sam.support@example.com", http.StatusOK)
		signIn("sam.support@example.com", http.StatusOK) // a second login in the same browser
		p.clock.Advance(31 * time.Minute)
		if res, _ := p.get(noRedirect(c), "/"); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("GET / after the idle timeout: got %d, want 303", res.StatusCode)
		}

		seen := map[string]int{} // "name set" / "name cleared" → count
		for _, r := range rec.got {
			ck := checkCookieAttributes(t, r.path, r.header, false)
			if ck == nil {
				continue
			}
			state := "set"
			if ck.MaxAge < 0 {
				state = "cleared"
			}
			seen[ck.Name+" "+state]++
		}
		for _, want := range []string{"gatehouse_login set", "gatehouse_login cleared", "gatehouse_session set", "gatehouse_session cleared"} {
			if seen[want] == 0 {
				t.Errorf("no Set-Cookie for %s among %v", want, seen)
			}
		}
		// Cleared at logout and at the idle timeout.
		if got := seen["gatehouse_session cleared"]; got < 2 {
			t.Errorf("session cookie cleared %d times, want at logout and after the idle timeout", got)
		}
	})
}

func TestSessionCookieOverHTTPS(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		const public = "https://gatehouse.test"
		p := newPortal(t, db, func(o *Options) {
			o.BaseURL, _ = url.Parse(public)
			// The provider must accept the https callback.
			idp, err := devidp.New(devidp.Config{
				Issuer: o.OIDC.Issuer, ClientID: o.OIDC.ClientID, ClientSecret: o.OIDC.ClientSecret,
				RedirectURIs: []string{public + "/auth/callback"}, Users: devUsers(),
			})
			if err != nil {
				t.Fatal(err)
			}
			o.DevIdP = idp
		})
		e := p.srv.Config.Handler.(*echo.Echo)
		// serve drives the portal as if reached over https at public; the
		// test server itself speaks plain http.
		serve := func(method, path string, form url.Values, cookies ...*http.Cookie) *httptest.ResponseRecorder {
			t.Helper()
			var req *http.Request
			if form != nil {
				req = httptest.NewRequest(method, public+path, strings.NewReader(form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			} else {
				req = httptest.NewRequest(method, public+path, nil)
			}
			for _, ck := range cookies {
				req.AddCookie(ck)
			}
			w := httptest.NewRecorder()
			e.ServeHTTP(w, req)
			if got := w.Header().Get("Strict-Transport-Security"); !strings.Contains(got, "max-age=") {
				t.Errorf("%s %s: Strict-Transport-Security %q, want max-age", method, path, got)
			}
			return w
		}
		cookieOf := func(w *httptest.ResponseRecorder, name string) *http.Cookie {
			t.Helper()
			var found *http.Cookie
			for _, h := range w.Header().Values("Set-Cookie") {
				if ck := checkCookieAttributes(t, name, h, true); ck != nil && ck.Name == name {
					found = ck
				}
			}
			if found == nil {
				t.Fatalf("no Set-Cookie for %s in %q", name, w.Header().Values("Set-Cookie"))
			}
			return found
		}

		w := serve(http.MethodPost, "/dev/login", url.Values{"email": {"sam.support@example.com"}})
		if w.Code != http.StatusSeeOther {
			t.Fatalf("POST /dev/login: got %d, want 303", w.Code)
		}
		loginCookie := cookieOf(w, "__Host-gatehouse_login")

		// The identity provider's part of the round trip, over plain http,
		// until it sends the browser back to the portal's https callback.
		next, _ := url.Parse(w.Header().Get("Location"))
		browser := noRedirect(p.client())
		for i := 0; next.Host != "gatehouse.test"; i++ {
			if i > 10 {
				t.Fatalf("the provider never sent the browser back: %s", next)
			}
			res, err := browser.Get(next.String())
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			loc, err := res.Location()
			if err != nil {
				t.Fatalf("GET %s: %d without a redirect", next, res.StatusCode)
			}
			next = loc
		}
		w = serve(http.MethodGet, next.RequestURI(), nil, loginCookie)
		if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/" {
			t.Fatalf("callback: got %d to %q, want 303 to /:\n%s", w.Code, w.Header().Get("Location"), w.Body)
		}
		session := cookieOf(w, "__Host-gatehouse_session")
		if cleared := cookieOf(w, "__Host-gatehouse_login"); cleared.MaxAge >= 0 {
			t.Errorf("login cookie not cleared at the callback: %v", cleared)
		}

		if w := serve(http.MethodGet, "/", nil, session); w.Code != http.StatusOK {
			t.Errorf("GET / with the __Host- session cookie: got %d, want 200", w.Code)
		}
		// Only the prefixed name counts over https: a cookie that a sibling
		// host could have planted under the bare name is ignored.
		bare := &http.Cookie{Name: "gatehouse_session", Value: session.Value}
		if w := serve(http.MethodGet, "/", nil, bare); w.Code != http.StatusSeeOther {
			t.Errorf("GET / with the token under the unprefixed name: got %d, want 303 to sign in", w.Code)
		}
		w = serve(http.MethodPost, "/logout", url.Values{}, session)
		if w.Code != http.StatusSeeOther {
			t.Fatalf("POST /logout: got %d, want 303", w.Code)
		}
		if cleared := cookieOf(w, "__Host-gatehouse_session"); cleared.MaxAge >= 0 {
			t.Errorf("session cookie not cleared at logout: %v", cleared)
		}
	})
}

func TestSessionIDs(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		u, _ := url.Parse(p.srv.URL)
		c := p.client()
		// A value planted before login (session fixation) must not become
		// the session.
		const planted = "planted-by-someone-else-0123456789abcdefghij"
		c.Jar.SetCookies(u, []*http.Cookie{{Name: p.h.sessionCookieName(), Value: planted, Path: "/"}})
		signIn := func(c *http.Client) string {
			t.Helper()
			res, body := p.post(c, "/dev/login", url.Values{"email": {"sam.support@example.com"}})
			if res.StatusCode != http.StatusOK || res.Request.URL.Path != "/" {
				t.Fatalf("login ended at %s with %d:\n%s", res.Request.URL, res.StatusCode, body)
			}
			return p.sessionCookie(c)
		}
		first := signIn(c)
		second := signIn(c) // the same browser again
		other := signIn(p.client())

		seen := map[string]bool{planted: true}
		for _, ck := range []string{first, second, other} {
			if seen[ck] {
				t.Errorf("session cookie %q reused", ck)
			}
			seen[ck] = true
			raw, err := base64.RawURLEncoding.DecodeString(ck)
			if err != nil || len(raw) < 16 {
				t.Errorf("session cookie %q: %d random bytes (%v), want at least 16 (128 bits) of base64url", ck, len(raw), err)
			}
			if n := p.count("sessions", "id_hash = ?", ck); n != 0 {
				t.Errorf("the session token itself is stored as an id_hash")
			}
		}
		if p.signedInWith(planted) {
			t.Error("the planted cookie value signs in")
		}
		if p.signedInWith(first) {
			t.Error("the first session still signs in after the browser logged in again")
		}
		if s := p.sessionRow(first); s.EndedAt == nil || s.EndReason != "replaced" {
			t.Errorf("first session: ended_at %v, end_reason %q; want set, \"replaced\"", s.EndedAt, s.EndReason)
		}
		for _, ck := range []string{second, other} {
			if !p.signedInWith(ck) {
				t.Errorf("session %q does not sign in", ck)
			}
		}
	})
}
