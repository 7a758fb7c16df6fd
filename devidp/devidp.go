// Package devidp is an OpenID Connect provider served in-process, for --dev
// mode and tests only. It is built on zitadel/oidc's op package, so the
// portal's login code talks to a real provider: discovery, JWKS, PKCE,
// registered redirect URIs and signed ID tokens, with a page to pick one of
// a few demo users instead of a password.
package devidp

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// User is an identity the development provider can sign in.
type User struct {
	Subject       string // stable "sub"
	Email         string
	EmailVerified bool
	Name          string
	HostedDomain  string // the "hd" claim; empty means the claim is omitted
	// For negative tests: a provider that omits auth_time, or answers
	// from a sign-in older than the login (as from an old session, even
	// when asked to authenticate again).
	OmitAuthTime bool
	AuthAge      time.Duration // auth_time is this long before the login
}

// Config describes the one client (the portal) and the users.
type Config struct {
	Issuer       string // absolute, e.g. "http://127.0.0.1:8080/dev/oidc"; the handler is mounted at the path of this URL
	ClientID     string
	ClientSecret string
	RedirectURIs []string // exact registered redirect URIs
	Users        []User
	// Directory, when set, lists more users, read again at every sign-in
	// and token: --dev passes its staff table, so whoever is added as
	// staff can sign in without a restart. Users come first.
	Directory func(ctx context.Context) ([]User, error)
	// Secret (at least 32 bytes) is what the signing key and the keys
	// sealing auth requests, codes and access tokens are derived from.
	// Providers given the same secret act as one, whichever of them
	// answers each step of a sign-in (replicas behind one base URL).
	// Empty: a random one, for this provider alone.
	Secret []byte
}

// New returns an http.Handler serving the provider under the Issuer's path
// (it strips that prefix itself, so the caller mounts it at e.g. "/dev/oidc/*").
func New(cfg Config) (http.Handler, error) {
	return newHandler(cfg, time.Now)
}

// idp serves the login page; op.Provider serves everything else.
type idp struct {
	issuer   string
	provider *op.Provider
	store    *storage
}

func newHandler(cfg Config, now func() time.Time) (http.Handler, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	// validate has parsed the issuer already.
	u, _ := url.Parse(cfg.Issuer)
	base := strings.TrimSuffix(cfg.Issuer, "/")
	c := &client{
		id:           cfg.ClientID,
		secret:       cfg.ClientSecret,
		redirectURIs: slices.Clone(cfg.RedirectURIs),
		loginURL:     base + "/login",
	}
	secret := cfg.Secret
	if len(secret) == 0 {
		secret = []byte(rand.Text() + rand.Text())
	}
	k, err := deriveKeys(secret)
	if err != nil {
		return nil, err
	}
	store, err := newStorage(c, cfg.Users, cfg.Directory, k, now)
	if err != nil {
		return nil, err
	}
	opCfg := &op.Config{
		CodeMethodS256:  true,
		SupportedClaims: append(slices.Clone(op.DefaultSupportedClaims), "hd"),
		CryptoKey:       k.crypto,
	}
	provider, err := op.NewProvider(opCfg, store, op.StaticIssuer(cfg.Issuer), op.WithAllowInsecure())
	if err != nil {
		return nil, fmt.Errorf("devidp: %w", err)
	}
	store.crypto = provider.Crypto()
	p := &idp{issuer: cfg.Issuer, provider: provider, store: store}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", p.showLogin)
	mux.HandleFunc("POST /login", p.submitLogin)
	mux.Handle("/", provider)
	return http.StripPrefix(strings.TrimSuffix(u.Path, "/"), mux), nil
}

func (cfg Config) validate() error {
	u, err := url.Parse(cfg.Issuer)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("devidp: issuer %q is not an absolute http(s) URL", cfg.Issuer)
	}
	if cfg.ClientID == "" || cfg.ClientSecret == "" {
		return errors.New("devidp: client id and secret are required")
	}
	if len(cfg.RedirectURIs) == 0 {
		return errors.New("devidp: at least one redirect URI is required")
	}
	for i, u := range cfg.Users {
		if u.Subject == "" || u.Email == "" {
			return fmt.Errorf("devidp: user %d needs a subject and an email", i)
		}
		for _, v := range cfg.Users[:i] {
			if v.Subject == u.Subject || strings.EqualFold(v.Email, u.Email) {
				return fmt.Errorf("devidp: user %q is listed twice", u.Email)
			}
		}
	}
	return nil
}

// showLogin signs in the user named by login_hint at once (the portal's
// POST /dev/login), and otherwise shows the list of users to pick from.
func (p *idp) showLogin(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("authRequestID")
	req, err := p.store.pendingRequest(id)
	if err != nil {
		p.fail(w, "This sign-in request is unknown or has expired. Start again from the portal.")
		return
	}
	if u, ok := p.store.userByEmail(r.Context(), req.LoginHint); ok {
		p.complete(w, r, id, u)
		return
	}
	// There is no session to reuse, so prompt=none can never succeed.
	if slices.Contains(req.Prompt, oidc.PromptNone) {
		op.AuthRequestError(w, r, req, oidc.ErrLoginRequired(), p.provider)
		return
	}
	noStore(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = loginPage.Execute(w, struct {
		ID    string
		Users []User
	}{id, p.store.allUsers(r.Context())})
}

func (p *idp) submitLogin(w http.ResponseWriter, r *http.Request) {
	u, ok := p.store.userByEmail(r.Context(), r.PostFormValue("email"))
	if !ok {
		p.fail(w, "There is no such development user.")
		return
	}
	p.complete(w, r, r.PostFormValue("authRequestID"), u)
}

// complete marks the auth request as signed in now and hands it back to op,
// which issues the code and redirects to the client.
func (p *idp) complete(w http.ResponseWriter, r *http.Request, id string, u User) {
	id, err := p.store.completeLogin(id, u)
	if err != nil {
		p.fail(w, "This sign-in request is unknown, expired or already used. Start again from the portal.")
		return
	}
	ctx := op.ContextWithIssuer(r.Context(), p.issuer)
	noStore(w)
	http.Redirect(w, r, op.AuthCallbackURL(p.provider)(ctx, id), http.StatusSeeOther)
}

func (p *idp) fail(w http.ResponseWriter, msg string) {
	noStore(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusBadRequest)
	_ = errorPage.Execute(w, msg)
}

func noStore(w http.ResponseWriter) { w.Header().Set("Cache-Control", "no-store") }

// The pages carry no script and no style attribute: the portal's CSP allows
// neither.
var (
	loginPage = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Development sign-in</title></head>
<body>
<main>
<h1>Development sign-in</h1>
<p>This provider exists only in development mode. Choose whom to sign in as.</p>
<form method="post" action="login">
<input type="hidden" name="authRequestID" value="{{.ID}}">
<ul>
{{range .Users}}<li><button type="submit" name="email" value="{{.Email}}">{{.Name}} &lt;{{.Email}}&gt;</button>
{{if not .EmailVerified}}email not verified; {{end}}{{with .HostedDomain}}hd {{.}}{{else}}no hd{{end}}</li>
{{end}}</ul>
</form>
</main>
</body>
</html>
`))
	errorPage = template.Must(template.New("error").Parse(`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Development sign-in</title></head>
<body>
<main>
<h1>Development sign-in</h1>
<p>{{.}}</p>
</main>
</body>
</html>
`))
)
