package devidp

import (
	"context"
	"crypto/rand"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

var (
	alice = User{Subject: "u-alice", Email: "alice@example.com", EmailVerified: true, Name: "Alice Admin", HostedDomain: "example.com"}
	mal   = User{Subject: "u-mal", Email: "mal@gmail.test", EmailVerified: false, Name: "Mal Unverified"}
	// For the portal's negative tests: no auth_time, or an old one.
	nora = User{Subject: "u-nora", Email: "nora@example.com", EmailVerified: true, Name: "Nora NoAuthTime", HostedDomain: "example.com", OmitAuthTime: true}
	olga = User{Subject: "u-olga", Email: "olga@example.com", EmailVerified: true, Name: "Olga Old", HostedDomain: "example.com", AuthAge: 20 * time.Minute}
)

// clock is a settable clock, safe for the handler's goroutines.
type clock struct{ offset atomic.Int64 }

func (c *clock) now() time.Time              { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) advance(d time.Duration)     { c.offset.Add(int64(d)) }
func (c *clock) unix() int64                 { return c.now().Unix() }
func (c *clock) within(got, want int64) bool { return got >= want-2 && got <= want+2 }

type env struct {
	served   atomic.Int64 // requests the providers answered
	srv      *httptest.Server
	clock    *clock
	redirect string
	provider *oidc.Provider
	oauth    oauth2.Config
	ctx      context.Context
}

func start(t *testing.T) *env {
	t.Helper()
	return startReplicas(t, nil)
}

// startReplicas serves one provider per secret (one with a random secret
// when there are none) under one URL, handing the requests to them in
// turn, as a round-robin proxy in front of the portal's replicas does.
func startReplicas(t *testing.T, secrets ...[]byte) *env {
	t.Helper()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	e := &env{srv: srv, clock: new(clock), redirect: srv.URL + "/auth/callback"}
	var replicas []http.Handler
	for _, secret := range secrets {
		h, err := newHandler(Config{
			Issuer:       srv.URL + "/dev/oidc",
			ClientID:     "portal",
			ClientSecret: "s3cret",
			RedirectURIs: []string{e.redirect},
			Users:        []User{alice, mal, nora, olga},
			Secret:       secret,
		}, e.clock.now)
		if err != nil {
			t.Fatalf("newHandler: %v", err)
		}
		replicas = append(replicas, h)
	}
	var next atomic.Int64
	mux.HandleFunc("/dev/oidc/", func(w http.ResponseWriter, r *http.Request) {
		i := int(next.Add(1)-1) % len(replicas)
		e.served.Add(1)
		replicas[i].ServeHTTP(w, r)
	})
	var err error

	e.ctx = oidc.ClientContext(t.Context(), srv.Client())
	e.provider, err = oidc.NewProvider(e.ctx, srv.URL+"/dev/oidc")
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	ep := e.provider.Endpoint()
	ep.AuthStyle = oauth2.AuthStyleInHeader
	e.oauth = oauth2.Config{
		ClientID: "portal", ClientSecret: "s3cret", Endpoint: ep, RedirectURL: e.redirect,
		Scopes: []string{oidc.ScopeOpenID, "email", "profile"},
	}
	return e
}

// browser follows redirects with cookies but stops at the client's redirect URI.
func (e *env) browser(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if strings.HasPrefix(req.URL.String(), e.redirect) {
			return http.ErrUseLastResponse
		}
		return nil
	}}
}

type flow struct {
	state, nonce, verifier string
}

func newFlow() flow {
	return flow{state: rand.Text(), nonce: rand.Text(), verifier: oauth2.GenerateVerifier()}
}

func (e *env) authURL(f flow, extra ...oauth2.AuthCodeOption) string {
	opts := append([]oauth2.AuthCodeOption{oidc.Nonce(f.nonce), oauth2.S256ChallengeOption(f.verifier)}, extra...)
	return e.oauth.AuthCodeURL(f.state, opts...)
}

// code reads code and state from a response redirecting to the redirect URI.
func (e *env) code(t *testing.T, resp *http.Response, f flow) string {
	t.Helper()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, e.redirect) {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("got %d Location %q (%s), want a redirect to %s", resp.StatusCode, loc, body, e.redirect)
	}
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	if got := u.Query().Get("state"); got != f.state {
		t.Fatalf("state = %q, want %q", got, f.state)
	}
	return u.Query().Get("code")
}

// loginWithHint does the round trip the portal's POST /dev/login does.
func (e *env) loginWithHint(t *testing.T, f flow, email string, extra ...oauth2.AuthCodeOption) string {
	t.Helper()
	extra = append(extra, oauth2.SetAuthURLParam("login_hint", email))
	resp, err := e.browser(t).Get(e.authURL(f, extra...))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	return e.code(t, resp, f)
}

// openLoginPage follows /authorize to the user list and returns its auth request id.
func (e *env) openLoginPage(t *testing.T, b *http.Client, f flow) string {
	t.Helper()
	resp, err := b.Get(e.authURL(f))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `value="mal@gmail.test"`) {
		t.Fatalf("login page: got %d %s", resp.StatusCode, body)
	}
	if s := string(body); strings.Contains(s, "<script") || strings.Contains(s, "style") {
		t.Errorf("login page has script or style, which the CSP forbids:\n%s", s)
	}
	return resp.Request.URL.Query().Get("authRequestID")
}

func (e *env) submit(b *http.Client, id, email string) (*http.Response, error) {
	return b.PostForm(e.srv.URL+"/dev/oidc/login", url.Values{"authRequestID": {id}, "email": {email}})
}

type claims struct {
	Email         string  `json:"email"`
	EmailVerified *bool   `json:"email_verified"`
	Name          string  `json:"name"`
	HD            *string `json:"hd"`
	AuthTime      int64   `json:"auth_time"`
}

func (e *env) exchange(t *testing.T, code string, f flow) (*oidc.IDToken, claims) {
	t.Helper()
	tok, err := e.oauth.Exchange(e.ctx, code, oauth2.VerifierOption(f.verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := e.provider.Verifier(&oidc.Config{ClientID: "portal"}).Verify(e.ctx, raw)
	if err != nil {
		t.Fatalf("verify ID token: %v", err)
	}
	var c claims
	if err := idt.Claims(&c); err != nil {
		t.Fatal(err)
	}
	if idt.Nonce != f.nonce {
		t.Errorf("nonce = %q, want %q", idt.Nonce, f.nonce)
	}
	return idt, c
}

func TestRoundTrip(t *testing.T) {
	e := start(t)
	for _, tc := range []struct {
		name    string
		user    User
		viaHint bool
	}{
		{"login hint, verified, hd", alice, true},
		{"login page, unverified, no hd", mal, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFlow()
			var code string
			if tc.viaHint {
				code = e.loginWithHint(t, f, tc.user.Email)
			} else {
				b := e.browser(t)
				resp, err := e.submit(b, e.openLoginPage(t, b, f), tc.user.Email)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				code = e.code(t, resp, f)
			}
			idt, c := e.exchange(t, code, f)
			if idt.Subject != tc.user.Subject || c.Email != tc.user.Email || c.Name != tc.user.Name {
				t.Errorf("sub, email, name = %q, %q, %q; want %q, %q, %q", idt.Subject, c.Email, c.Name, tc.user.Subject, tc.user.Email, tc.user.Name)
			}
			if c.EmailVerified == nil || *c.EmailVerified != tc.user.EmailVerified {
				t.Errorf("email_verified = %v, want %v", c.EmailVerified, tc.user.EmailVerified)
			}
			switch {
			case tc.user.HostedDomain == "" && c.HD != nil:
				t.Errorf("hd = %q, want no hd claim", *c.HD)
			case tc.user.HostedDomain != "" && (c.HD == nil || *c.HD != tc.user.HostedDomain):
				t.Errorf("hd = %v, want %q", c.HD, tc.user.HostedDomain)
			}
			if !e.clock.within(c.AuthTime, e.clock.unix()) {
				t.Errorf("auth_time = %d, want about %d", c.AuthTime, e.clock.unix())
			}
		})
	}
}

func TestFreshAuthTimeOnPromptLogin(t *testing.T) {
	e := start(t)
	f := newFlow()
	_, first := e.exchange(t, e.loginWithHint(t, f, alice.Email), f)
	e.clock.advance(time.Hour)
	f = newFlow()
	_, second := e.exchange(t, e.loginWithHint(t, f, alice.Email, oauth2.SetAuthURLParam("prompt", "login")), f)
	if second.AuthTime-first.AuthTime < 3600-2 {
		t.Errorf("auth_time after prompt=login = %d, want about an hour after %d", second.AuthTime, first.AuthTime)
	}
}

// The negative-test users keep their auth_time as set up, even when asked
// to authenticate again: they stand for a provider that does not.
func TestAuthTimeAsSetUp(t *testing.T) {
	e := start(t)
	for _, tc := range []struct {
		user User
		want int64
	}{
		{nora, 0},
		{olga, e.clock.now().Add(-20 * time.Minute).Unix()},
	} {
		t.Run(tc.user.Email, func(t *testing.T) {
			f := newFlow()
			code := e.loginWithHint(t, f, tc.user.Email, oauth2.SetAuthURLParam("prompt", "login"), oauth2.SetAuthURLParam("max_age", "0"))
			_, c := e.exchange(t, code, f)
			if c.AuthTime != tc.want && (tc.want == 0 || !e.clock.within(c.AuthTime, tc.want)) {
				t.Errorf("auth_time = %d, want %d", c.AuthTime, tc.want)
			}
		})
	}
}

func TestWrongVerifierFails(t *testing.T) {
	e := start(t)
	f := newFlow()
	code := e.loginWithHint(t, f, alice.Email)
	if _, err := e.oauth.Exchange(e.ctx, code, oauth2.VerifierOption(oauth2.GenerateVerifier())); err == nil {
		t.Fatal("exchange with a wrong code_verifier succeeded")
	}
}

func TestCodeIsSingleUse(t *testing.T) {
	e := start(t)
	f := newFlow()
	code := e.loginWithHint(t, f, alice.Email)
	e.exchange(t, code, f)
	if _, err := e.oauth.Exchange(e.ctx, code, oauth2.VerifierOption(f.verifier)); err == nil {
		t.Fatal("second exchange of the same code succeeded")
	}
}

func TestUnregisteredRedirectURIRefused(t *testing.T) {
	e := start(t)
	e.oauth.RedirectURL = e.srv.URL + "/evil"
	resp, err := e.browser(t).Get(e.authURL(newFlow(), oauth2.SetAuthURLParam("login_hint", alice.Email)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || resp.Request.URL.Path != "/dev/oidc/authorize" {
		t.Fatalf("got %d at %s, want 400 at /authorize", resp.StatusCode, resp.Request.URL)
	}
}

func TestPromptNoneIsLoginRequired(t *testing.T) {
	e := start(t)
	f := newFlow()
	resp, err := e.browser(t).Get(e.authURL(f, oauth2.SetAuthURLParam("prompt", "none")))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if got := loc.Query().Get("error"); !strings.HasPrefix(loc.String(), e.redirect) || got != "login_required" {
		t.Fatalf("got %d Location %q, want error=login_required at the redirect URI", resp.StatusCode, loc)
	}
}

func TestLoginPageRefusals(t *testing.T) {
	e := start(t)
	b := e.browser(t)
	id := e.openLoginPage(t, b, newFlow())

	resp, err := e.submit(b, id, "nobody@example.com")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("unknown email: got %d, want 400", resp.StatusCode)
	}

	e.clock.advance(authRequestLifetime)
	resp, err = e.submit(b, id, alice.Email)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("expired auth request: got %d, want 400", resp.StatusCode)
	}
}

// Two providers with one secret act as one: a sign-in whose steps land on
// both in turn (authorize, login, callback, token, keys) completes and
// its ID token verifies. A provider with another secret reads none of
// their auth requests or codes.
func TestReplicasWithOneSecretActAsOne(t *testing.T) {
	secret := []byte(strings.Repeat("shared secret, 32 bytes at least", 2))
	e := startReplicas(t, secret, secret)
	for range 3 { // the steps fall on either replica in turn, differently each time
		f := newFlow()
		idt, c := e.exchange(t, e.loginWithHint(t, f, alice.Email), f)
		if idt.Subject != alice.Subject || c.Email != alice.Email {
			t.Errorf("sub, email = %q, %q; want %q, %q", idt.Subject, c.Email, alice.Subject, alice.Email)
		}
	}
	if n := e.served.Load(); n < 12 {
		t.Errorf("the providers answered %d requests, want at least 4 per sign-in", n)
	}

	other := startReplicas(t, []byte(strings.Repeat("another secret, at least 32 byte", 2)))
	f := newFlow()
	code := e.loginWithHint(t, f, alice.Email)
	other.oauth.Endpoint.TokenURL = other.srv.URL + "/dev/oidc/oauth/token"
	if _, err := other.oauth.Exchange(other.ctx, code, oauth2.VerifierOption(f.verifier)); err == nil {
		t.Error("a provider with another secret exchanged the code")
	}
}

// A code can be exchanged once on a replica, and on none a minute after
// the login.
func TestCodeExpiresAfterAMinute(t *testing.T) {
	e := start(t)
	f := newFlow()
	code := e.loginWithHint(t, f, alice.Email)
	e.clock.advance(codeLifetime)
	if _, err := e.oauth.Exchange(e.ctx, code, oauth2.VerifierOption(f.verifier)); err == nil {
		t.Fatal("a code was exchanged a minute after its login")
	}
}
