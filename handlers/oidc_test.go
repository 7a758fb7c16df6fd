package handlers

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/dbtest"

	"github.com/go-jose/go-jose/v4"
)

// defect is what is wrong with the ID token a hostileIdP issues.
type defect string

const (
	validToken          defect = "valid"
	nonceWrong          defect = "nonce wrong"
	nonceMissing        defect = "nonce missing"
	audWrong            defect = "aud wrong"
	azpForeign          defect = "azp names another client"
	issWrong            defect = "iss wrong"
	expired             defect = "expired"
	badSignature        defect = "signed by another key"
	algNone             defect = "alg none"
	subMissing          defect = "sub missing"
	subOther            defect = "another sub for the same email"
	emailUnverified     defect = "email_verified false"
	emailVerifiedString defect = `email_verified "true"`
	hdMissing           defect = "hd missing"
	hdForeign           defect = "hd foreign"
	emailForeign        defect = "email domain foreign, hd ok"
	iatFuture           defect = "iat in the future"
	iatOld              defect = "iat an hour old"
	authTimeFuture      defect = "auth_time in the future"
	idTokenMissing      defect = "no id_token"
)

const (
	hostileClientID = "gatehouse-hostile"
	hostileSecret   = "hostile-secret"
)

// hostileIdP is an OpenID provider that signs its one user in at once and
// issues whatever ID token the test asks for. Its token endpoint is strict
// (client secret, single-use code, redirect_uri, PKCE S256), so a login it
// lets through fails only on the ID token.
type hostileIdP struct {
	*httptest.Server
	key, otherKey *rsa.PrivateKey

	mu      sync.Mutex
	defect  defect
	now     func() time.Time
	codes   map[string]authRequest
	refused []string // why token requests were refused
}

type authRequest struct{ challenge, nonce, redirectURI string }

func newHostileIdP(t *testing.T) *hostileIdP {
	t.Helper()
	h := &hostileIdP{key: rsaKey(t), otherKey: rsaKey(t), defect: validToken, now: time.Now, codes: map[string]authRequest{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		oidcJSON(w, http.StatusOK, map[string]any{
			"issuer": h.URL, "authorization_endpoint": h.URL + "/authorize", "token_endpoint": h.URL + "/token",
			"jwks_uri": h.URL + "/jwks", "response_types_supported": []string{"code"}, "subject_types_supported": []string{"public"},
			"id_token_signing_alg_values_supported": []string{"RS256"}, "code_challenge_methods_supported": []string{"S256"},
		})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, _ *http.Request) {
		oidcJSON(w, http.StatusOK, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &h.key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	})
	mux.HandleFunc("GET /authorize", h.authorize)
	mux.HandleFunc("POST /token", h.token)
	h.Server = httptest.NewServer(mux)
	t.Cleanup(h.Close)
	return h
}

func rsaKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// set makes the provider issue tokens with d, stamped by now.
func (h *hostileIdP) set(d defect, now func() time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.defect, h.now = d, now
}

func (h *hostileIdP) refusals() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.refused...)
}

// authorize records the request's PKCE challenge, nonce and redirect URI
// under a new code and sends the browser back with the code and state.
func (h *hostileIdP) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	back, err := url.Parse(q.Get("redirect_uri"))
	if err != nil || q.Get("client_id") != hostileClientID || q.Get("response_type") != "code" ||
		q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" {
		http.Error(w, "bad authorization request", http.StatusBadRequest)
		return
	}
	code := rand.Text()
	h.mu.Lock()
	h.codes[code] = authRequest{challenge: q.Get("code_challenge"), nonce: q.Get("nonce"), redirectURI: q.Get("redirect_uri")}
	h.mu.Unlock()
	back.RawQuery = url.Values{"code": {code}, "state": {q.Get("state")}}.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

// token redeems a code once, for the client that holds the secret and the
// PKCE verifier of the authorization request.
func (h *hostileIdP) token(w http.ResponseWriter, r *http.Request) {
	id, secret, _ := r.BasicAuth()
	code, verifier := r.PostFormValue("code"), r.PostFormValue("code_verifier")
	sum := sha256.Sum256([]byte(verifier))
	h.mu.Lock()
	req, ok := h.codes[code]
	delete(h.codes, code)
	d, now := h.defect, h.now()
	why := ""
	switch {
	case id != hostileClientID || secret != hostileSecret:
		why = "client"
	case !ok || r.PostFormValue("grant_type") != "authorization_code" || r.PostFormValue("redirect_uri") != req.redirectURI:
		why = "code"
	case verifier == "" || base64.RawURLEncoding.EncodeToString(sum[:]) != req.challenge:
		why = "pkce"
	}
	if why != "" {
		h.refused = append(h.refused, why)
	}
	h.mu.Unlock()
	if why != "" {
		oidcJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": why})
		return
	}
	res := map[string]any{"access_token": rand.Text(), "token_type": "Bearer", "expires_in": 3600}
	if d != idTokenMissing {
		tok, err := h.idToken(d, req.nonce, now)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		res["id_token"] = tok
	}
	oidcJSON(w, http.StatusOK, res)
}

// idToken is a valid ID token for sam.support, except for d.
func (h *hostileIdP) idToken(d defect, nonce string, now time.Time) (string, error) {
	cl := map[string]any{
		"iss": h.URL, "aud": hostileClientID, "sub": "hostile-sam", "nonce": nonce,
		"email": "sam.support@example.com", "email_verified": true, "hd": "example.com",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}
	key := h.key
	switch d {
	case nonceWrong:
		cl["nonce"] = rand.Text()
	case nonceMissing:
		delete(cl, "nonce")
	case audWrong:
		cl["aud"] = "someone-else"
	case azpForeign:
		cl["aud"], cl["azp"] = []string{hostileClientID, "someone-else"}, "someone-else"
	case issWrong:
		cl["iss"] = "https://accounts.evil.example"
	case expired:
		cl["iat"], cl["exp"] = now.Add(-2*time.Minute).Unix(), now.Add(-time.Minute).Unix()
	case badSignature:
		key = h.otherKey
	case subMissing:
		delete(cl, "sub")
	case subOther:
		cl["sub"] = "hostile-impostor"
	case emailUnverified:
		cl["email_verified"] = false
	case emailVerifiedString:
		cl["email_verified"] = "true"
	case hdMissing:
		delete(cl, "hd")
	case hdForeign:
		cl["hd"] = "evil.example"
	case emailForeign:
		cl["email"] = "sam.support@evil.example"
	case iatFuture:
		cl["iat"], cl["exp"] = now.Add(time.Hour).Unix(), now.Add(2*time.Hour).Unix()
	case iatOld:
		cl["iat"] = now.Add(-time.Hour).Unix()
	case authTimeFuture:
		cl["auth_time"] = now.Add(time.Hour).Unix()
	}
	payload, err := json.Marshal(cl)
	if err != nil {
		return "", err
	}
	if d == algNone {
		b64 := base64.RawURLEncoding.EncodeToString
		return b64([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + b64(payload) + ".", nil
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k1"))
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

func oidcJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// oidcBrowser is a cookie-jar client that also records every cookie the
// portal sets, on redirects too.
type oidcBrowser struct {
	*http.Client
	mu         sync.Mutex
	setCookies []*http.Cookie
}

func (p *testPortal) browser() *oidcBrowser {
	b := &oidcBrowser{Client: p.client()}
	host := p.srv.Listener.Addr().String()
	b.Transport = roundTripFunc(func(r *http.Request) (*http.Response, error) {
		res, err := http.DefaultTransport.RoundTrip(r)
		if err == nil && r.URL.Host == host {
			b.mu.Lock()
			b.setCookies = append(b.setCookies, res.Cookies()...)
			b.mu.Unlock()
		}
		return res, err
	})
	return b
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// sessionCookies counts the session cookies the portal has given b since
// the last call.
func (b *oidcBrowser) sessionCookies(p *testPortal) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, c := range b.setCookies {
		if c.Name == p.h.sessionCookieName() && c.Value != "" && c.MaxAge >= 0 {
			n++
		}
	}
	b.setCookies = nil
	return n
}

// untilCallback runs a login in b up to the portal's callback and returns
// the callback (path and query: code and state) without delivering it.
func (p *testPortal) untilCallback(b *oidcBrowser, path string, form url.Values) string {
	p.t.Helper()
	c := *b.Client
	c.CheckRedirect = func(r *http.Request, _ []*http.Request) error {
		if r.URL.Path == "/auth/callback" {
			return http.ErrUseLastResponse
		}
		return nil
	}
	res, body := p.post(&c, path, form)
	loc, err := res.Location()
	if err != nil || loc.Path != "/auth/callback" || loc.Query().Get("code") == "" {
		p.t.Fatalf("login from %s stopped at %s (%d), not at a callback with a code:\n%s", path, res.Request.URL, res.StatusCode, body)
	}
	return loc.RequestURI()
}

// withQuery returns the path with one query parameter replaced.
func withQuery(t *testing.T, path, key, value string) string {
	t.Helper()
	u, err := url.Parse(path)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.RequestURI()
}

// wantRefused checks that a login attempt ended on the refusal page, gave
// no session cookie since the last check, and that the newest audit event is its refusal with
// reason. It returns that event.
func (p *testPortal) wantRefused(t *testing.T, b *oidcBrowser, res *http.Response, body, reason string) models.AuditEvent {
	t.Helper()
	if res.StatusCode != http.StatusForbidden || res.Request.URL.Path != "/auth/callback" || !strings.Contains(body, `data-testid="login-refused"`) {
		t.Errorf("ended at %s with %d, want the 403 refusal page on /auth/callback:\n%s", res.Request.URL, res.StatusCode, body)
	}
	if n := b.sessionCookies(p); n != 0 {
		t.Errorf("refusal set %d session cookies, want 0", n)
	}
	evs, err := models.ListAudit(context.Background(), p.db.Read, models.AuditFilter{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Action != models.ActionLoginRefused || evs[0].Reason != reason {
		t.Errorf("newest audit events = %+v, want one %s with reason %q", evs, models.ActionLoginRefused, reason)
		return models.AuditEvent{}
	}
	return evs[0]
}

var loginMetricLine = regexp.MustCompile(`(?m)^gatehouse_logins_total\{outcome="([^"]+)"\} (\S+)$`)

// loginMetric reads gatehouse_logins_total{outcome} from /metrics.
func (p *testPortal) loginMetric(outcome string) float64 {
	p.t.Helper()
	res, body := p.get(p.client(), "/metrics")
	if res.StatusCode != http.StatusOK {
		p.t.Fatalf("/metrics: %d", res.StatusCode)
	}
	for _, m := range loginMetricLine.FindAllStringSubmatch(body, -1) {
		if m[1] == outcome {
			v, err := strconv.ParseFloat(m[2], 64)
			if err != nil {
				p.t.Fatal(err)
			}
			return v
		}
	}
	return 0
}

func TestOIDCDefectiveIDTokens(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		idp := newHostileIdP(t)
		p := newPortal(t, db, func(o *Options) {
			o.OIDC.Issuer, o.OIDC.ClientID, o.OIDC.ClientSecret = idp.URL, hostileClientID, hostileSecret
		})
		// reason is the audited refusal code; detail, when set, a part
		// of the verifier's error that shows which check refused.
		tests := []struct {
			defect         defect
			reason, detail string
		}{
			{nonceWrong, "nonce_mismatch", ""},
			{nonceMissing, "nonce_mismatch", ""},
			{audWrong, "id_token_invalid", "expected audience"},
			{azpForeign, "azp_mismatch", ""},
			{issWrong, "id_token_invalid", "issued by a different provider"},
			{expired, "id_token_invalid", "token is expired"},
			{badSignature, "id_token_invalid", "failed to verify signature"},
			{algNone, "id_token_invalid", "unexpected signature algorithm"},
			{subMissing, "subject_missing", ""},
			{emailUnverified, "email_unverified", ""},
			{emailVerifiedString, "email_unverified", ""},
			{hdMissing, "domain_not_allowed", ""},
			{hdForeign, "domain_not_allowed", ""},
			{emailForeign, "domain_not_allowed", ""},
			{iatFuture, "issued_at_invalid", ""},
			{iatOld, "issued_at_invalid", ""},
			{authTimeFuture, "auth_time_invalid", ""},
			{idTokenMissing, "id_token_missing", ""},
		}
		for _, tc := range tests {
			t.Run(string(tc.defect), func(t *testing.T) {
				idp.set(tc.defect, p.clock.Now)
				refusedBefore := p.count("audit_events", "action = ?", models.ActionLoginRefused)
				metricBefore := p.loginMetric(tc.reason)
				b := p.browser()
				res, body := p.post(b.Client, "/login", url.Values{})
				ev := p.wantRefused(t, b, res, body, tc.reason)
				if !strings.Contains(ev.Detail, tc.detail) {
					t.Errorf("refusal detail = %s, want it to contain %q", ev.Detail, tc.detail)
				}
				if n := p.count("audit_events", "action = ?", models.ActionLoginRefused); n != refusedBefore+1 {
					t.Errorf("login.refused events = %d, want %d", n, refusedBefore+1)
				}
				if got := p.loginMetric(tc.reason); got != metricBefore+1 {
					t.Errorf("gatehouse_logins_total{outcome=%q} = %v, want %v", tc.reason, got, metricBefore+1)
				}
				if n := p.count("sessions", ""); n != 0 {
					t.Errorf("sessions = %d, want 0", n)
				}
				if got := idp.refusals(); len(got) != 0 {
					t.Errorf("provider refused token requests %v; the defect must be the only fault", got)
				}
			})
		}
		if n := p.count("staff", "oidc_subject IS NOT NULL"); n != 0 {
			t.Errorf("staff linked to an identity after refused logins = %d, want 0", n)
		}

		t.Run(string(validToken), func(t *testing.T) {
			idp.set(validToken, p.clock.Now)
			b := p.browser()
			res, body := p.post(b.Client, "/login", url.Values{})
			if res.StatusCode != http.StatusOK || res.Request.URL.Path != "/" || !strings.Contains(body, "Sam Support") {
				t.Fatalf("valid login ended at %s with %d, want the dashboard:\n%s", res.Request.URL, res.StatusCode, body)
			}
			if n := b.sessionCookies(p); n != 1 {
				t.Errorf("session cookies set = %d, want 1", n)
			}
			if n := p.count("sessions", "ended_at IS NULL"); n != 1 {
				t.Errorf("live sessions = %d, want 1", n)
			}
			if n := p.count("audit_events", "action = ? AND target = ?", models.ActionLoginSucceeded, "sam.support@example.com"); n != 1 {
				t.Errorf("login.succeeded events = %d, want 1", n)
			}
			if n := p.count("staff", "email = ? AND oidc_issuer = ? AND oidc_subject = ?", "sam.support@example.com", idp.URL, "hostile-sam"); n != 1 {
				t.Errorf("staff rows linked to (%s, hostile-sam) = %d, want 1", idp.URL, n)
			}
			if got := p.loginMetric("succeeded"); got != 1 {
				t.Errorf(`gatehouse_logins_total{outcome="succeeded"} = %v, want 1`, got)
			}
		})

		// Once linked, the staff record follows the subject, not the email.
		t.Run(string(subOther), func(t *testing.T) {
			idp.set(subOther, p.clock.Now)
			b := p.browser()
			res, body := p.post(b.Client, "/login", url.Values{})
			p.wantRefused(t, b, res, body, "subject_mismatch")
			if n := p.count("sessions", ""); n != 1 {
				t.Errorf("sessions = %d, want still 1", n)
			}
		})
	})
}

func TestLoginRefusedIdentities(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		tests := []struct{ email, reason string }{
			{"stranger@example.com", "unknown_staff"},
			{"lee.leaver@example.com", "staff_offboarded"},
			{"una.unverified@example.com", "email_unverified"},
			{"foreign.hd@example.com", "domain_not_allowed"},
			{"no.hd@example.com", "domain_not_allowed"},
		}
		for _, tc := range tests {
			t.Run(tc.email, func(t *testing.T) {
				b := p.browser()
				res, body := p.post(b.Client, "/dev/login", url.Values{"email": {tc.email}})
				ev := p.wantRefused(t, b, res, body, tc.reason)
				if ev.Actor != tc.email {
					t.Errorf("refusal actor = %q, want %q", ev.Actor, tc.email)
				}
				if n := p.count("sessions", ""); n != 0 {
					t.Errorf("sessions = %d, want 0", n)
				}
			})
		}
		if n := p.count("staff", "oidc_subject IS NOT NULL"); n != 0 {
			t.Errorf("staff linked to an identity after refused logins = %d, want 0", n)
		}
	})
}

func TestLoginStateChecks(t *testing.T) {
	sam := url.Values{"email": {"sam.support@example.com"}}
	tests := []struct {
		name string
		run  func(t *testing.T, p *testPortal)
	}{
		{"state not the browser's", func(t *testing.T, p *testPortal) {
			a := p.browser()
			cb := p.untilCallback(a, "/dev/login", sam)
			res, body := p.get(a.Client, withQuery(t, cb, "state", models.NewToken()))
			p.wantEarlyRefusal(t, a, res, body, "state_mismatch")
			if n := p.count("sessions", ""); n != 0 {
				t.Errorf("sessions = %d, want 0", n)
			}
		}},
		{"callback replayed", func(t *testing.T, p *testPortal) {
			a := p.browser()
			cb := p.untilCallback(a, "/dev/login", sam)
			if res, body := p.get(a.Client, cb); res.StatusCode != http.StatusOK || res.Request.URL.Path != "/" {
				t.Fatalf("first callback ended at %s with %d:\n%s", res.Request.URL, res.StatusCode, body)
			}
			if n := a.sessionCookies(p); n != 1 {
				t.Errorf("first callback set %d session cookies, want 1", n)
			}
			res, body := p.get(a.Client, cb)
			p.wantEarlyRefusal(t, a, res, body, "state_mismatch")
			// Even with the login cookie put back, the flow is spent.
			u, _ := url.Parse(cb)
			a.Jar.SetCookies(res.Request.URL, []*http.Cookie{{Name: p.h.loginCookieName(), Value: u.Query().Get("state"), Path: "/"}})
			res, body = p.get(a.Client, cb)
			p.wantEarlyRefusal(t, a, res, body, "state_unknown")
			if n := p.count("sessions", ""); n != 1 {
				t.Errorf("sessions = %d, want 1", n)
			}
		}},
		{"callback delivered to another browser", func(t *testing.T, p *testPortal) {
			a, b, c := p.browser(), p.browser(), p.browser()
			cb := p.untilCallback(a, "/dev/login", sam)
			res, body := p.get(b.Client, cb)
			p.wantEarlyRefusal(t, b, res, body, "state_mismatch")
			p.untilCallback(c, "/dev/login", url.Values{"email": {"ada.sysadmin@example.com"}})
			res, body = p.get(c.Client, cb)
			p.wantEarlyRefusal(t, c, res, body, "state_mismatch")
			if n := p.count("sessions", ""); n != 0 {
				t.Errorf("sessions = %d, want 0", n)
			}
			// The refusals spent nothing of a's flow: a still signs in.
			if res, body := p.get(a.Client, cb); res.StatusCode != http.StatusOK || res.Request.URL.Path != "/" {
				t.Fatalf("a's own callback ended at %s with %d:\n%s", res.Request.URL, res.StatusCode, body)
			}
			for name, x := range map[string]*oidcBrowser{"b": b, "c": c} {
				if res, _ := p.get(noRedirect(x.Client), "/"); res.StatusCode != http.StatusSeeOther {
					t.Errorf("%s GET / = %d, want 303 to sign-in", name, res.StatusCode)
				}
			}
			if n := p.count("sessions", ""); n != 1 {
				t.Errorf("sessions = %d, want 1 (a's)", n)
			}
		}},
		{"flow expired", func(t *testing.T, p *testPortal) {
			a := p.browser()
			cb := p.untilCallback(a, "/dev/login", sam)
			p.clock.Advance(loginFlowTTL + time.Second)
			res, body := p.get(a.Client, cb)
			p.wantRefused(t, a, res, body, "flow_expired")
			if n := p.count("sessions", ""); n != 0 {
				t.Errorf("sessions = %d, want 0", n)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dbtest.Each(t, func(t *testing.T, db *models.DB) { tc.run(t, newPortal(t, db)) })
		})
	}
}

// TestLoginCodeInjection delivers browser A's authorization code with
// browser B's state to B: the provider must refuse B's PKCE verifier.
func TestLoginCodeInjection(t *testing.T) {
	for _, provider := range []string{"dev", "hostile"} {
		t.Run(provider, func(t *testing.T) {
			dbtest.Each(t, func(t *testing.T, db *models.DB) {
				var idp *hostileIdP
				start, form := "/dev/login", url.Values{"email": {"sam.support@example.com"}}
				var change []func(*Options)
				if provider == "hostile" {
					idp = newHostileIdP(t)
					start, form = "/login", url.Values{}
					change = append(change, func(o *Options) {
						o.OIDC.Issuer, o.OIDC.ClientID, o.OIDC.ClientSecret = idp.URL, hostileClientID, hostileSecret
					})
				}
				p := newPortal(t, db, change...)
				a, b := p.browser(), p.browser()
				cbA := p.untilCallback(a, start, form)
				cbB := p.untilCallback(b, start, form)
				codeA, _ := url.Parse(cbA)
				res, body := p.get(b.Client, withQuery(t, cbB, "code", codeA.Query().Get("code")))
				ev := p.wantRefused(t, b, res, body, "code_exchange_failed")
				if !strings.Contains(ev.Detail, "invalid_grant") {
					t.Errorf("refusal detail = %s, want the provider's invalid_grant", ev.Detail)
				}
				// x/oauth2 retries a refused exchange with the client
				// secret in the body; the code is spent by then.
				if idp != nil {
					if got := idp.refusals(); len(got) == 0 || got[0] != "pkce" {
						t.Errorf("provider refusals = %v, want the first to be pkce", got)
					}
				}
				if n := p.count("sessions", ""); n != 0 {
					t.Errorf("sessions = %d, want 0", n)
				}
			})
		})
	}
}
