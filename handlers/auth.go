package handlers

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"gatehouse/models"
	"gatehouse/views"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/labstack/echo/v4"
	"golang.org/x/oauth2"
)

const (
	loginFlowTTL = 10 * time.Minute
	clockSkew    = 2 * time.Minute
)

// oidcClient discovers the provider on first use (so the portal starts
// even while the provider is briefly unreachable, and the development
// provider, served by the portal itself, is up before it is asked).
type oidcClient struct {
	cfg         OIDC
	redirectURL string

	mu       sync.Mutex
	provider *oidc.Provider
}

func (o *oidcClient) ctx(ctx context.Context) context.Context {
	ctx = oidc.ClientContext(ctx, o.cfg.HTTPClient)
	return context.WithValue(ctx, oauth2.HTTPClient, o.cfg.HTTPClient)
}

func (o *oidcClient) load(ctx context.Context) (*oidc.Provider, *oauth2.Config, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.provider == nil {
		p, err := oidc.NewProvider(o.ctx(ctx), o.cfg.Issuer)
		if err != nil {
			return nil, nil, fmt.Errorf("oidc discovery: %w", err)
		}
		o.provider = p
	}
	ep := o.provider.Endpoint()
	ep.AuthStyle = oauth2.AuthStyleInHeader // client_secret_basic; no second try with the secret in the body
	return o.provider, &oauth2.Config{
		ClientID: o.cfg.ClientID, ClientSecret: o.cfg.ClientSecret, RedirectURL: o.redirectURL,
		Endpoint: ep, Scopes: []string{oidc.ScopeOpenID, "email", "profile"},
	}, nil
}

func (h *Handler) loginPage(c echo.Context) error {
	returnTo := safeReturnTo(c.QueryParam("return_to"))
	if viewerOf(c) != nil && c.QueryParam("step_up") == "" {
		return c.Redirect(http.StatusSeeOther, returnTo)
	}
	page := views.LoginView{ReturnTo: returnTo, Dev: h.dev, Why: h.loginReason(c.QueryParam("why"), returnTo)}
	if h.dev {
		for _, m := range h.demoStaff {
			page.DemoUsers = append(page.DemoUsers, views.DemoUser{
				Email: m.Email, Name: m.Name, Tier: string(m.Tier),
				Offboarded: m.Status == models.StatusOffboarded, NoAgreement: m.NoAgreement,
			})
		}
	}
	return h.render(c, http.StatusOK, views.LoginPage(h.chrome(c, "Sign in"), page))
}

// loginStart begins the authorization code flow (with PKCE, state and
// nonce). With step_up=1 it asks the provider to authenticate the person
// again whatever session it holds.
func (h *Handler) loginStart(c echo.Context) error {
	hint := ""
	stepUp := c.FormValue("step_up") == "1"
	if v := viewerOf(c); v != nil {
		hint = v.Staff.Email
	} else if stepUp {
		return echo.NewHTTPError(http.StatusUnauthorized, "sign in first")
	}
	return h.startFlow(c, safeReturnTo(c.FormValue("return_to")), hint, stepUp)
}

// devLogin runs the real flow as a chosen demo user: the development
// provider completes the login for a login_hint it knows.
func (h *Handler) devLogin(c echo.Context) error {
	email, err := models.NormalizeEmail(c.FormValue("email"))
	if err != nil {
		return echo.NewHTTPError(http.StatusUnprocessableEntity, "Choose one of the demo staff.")
	}
	return h.startFlow(c, safeReturnTo(c.FormValue("return_to")), email, false)
}

func (h *Handler) startFlow(c echo.Context, returnTo, hint string, stepUp bool) error {
	ctx := c.Request().Context()
	switch ok, err := h.loginStarts.allow(c, h.now()); {
	case err != nil:
		return err
	case !ok:
		h.metrics.logins.WithLabelValues("rate_limited").Inc()
		return fmt.Errorf("starting a sign-in: %w", models.ErrLimited)
	}
	_, cfg, err := h.oidc.load(ctx)
	if err != nil {
		return err
	}
	state, nonce, verifier := models.NewToken(), models.NewToken(), oauth2.GenerateVerifier()
	flow := models.LoginFlow{
		StateHash: models.TokenHash(h.sessionKey, state), Nonce: nonce, Verifier: verifier,
		ReturnTo: returnTo, StepUp: stepUp, LoginHint: hint, CreatedAt: h.now().UTC(),
	}
	if err := models.SaveLoginFlow(ctx, h.db.Write, flow, loginFlowTTL); err != nil {
		return fmt.Errorf("save login flow: %w", err)
	}
	c.SetCookie(h.cookie(h.loginCookieName(), state, int(loginFlowTTL.Seconds())))
	opts := []oauth2.AuthCodeOption{oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)}
	if hint != "" {
		opts = append(opts, oauth2.SetAuthURLParam("login_hint", hint))
	}
	if len(h.allowedDomains) == 1 {
		opts = append(opts, oauth2.SetAuthURLParam("hd", h.allowedDomains[0]))
	}
	if stepUp {
		opts = append(opts, oauth2.SetAuthURLParam("prompt", "login"), oauth2.SetAuthURLParam("max_age", "0"))
	}
	return c.Redirect(http.StatusSeeOther, cfg.AuthCodeURL(state, opts...))
}

// refusal is why a login was refused; its text is shown to the person.
type refusal struct {
	code    string
	message string
	email   string
	err     error
	detail  map[string]any // more for the audit event
}

// early reports whether the refusal came before the identity provider was
// asked anything (no state, or one this portal does not know): anyone can
// make those at no cost, so they are counted, not each recorded.
func (r *refusal) early() bool { return r.code == "state_mismatch" || r.code == "state_unknown" }

func refuse(code, message string) *refusal { return &refusal{code: code, message: message} }

// authCallback finishes the flow. It is the one GET that writes (the
// protocol sends the browser back with a GET): it consumes the login flow
// and, if every check passes, starts a session.
func (h *Handler) authCallback(c echo.Context) error {
	// Counted before anything else is read or written: a flood of failed
	// sign-ins from one address costs the audit log nothing more.
	ctx := c.Request().Context()
	ch, err := h.loginFailures.take(c, h.now())
	if errors.Is(err, models.ErrLimited) {
		h.metrics.logins.WithLabelValues("rate_limited").Inc()
	}
	if err != nil {
		return err
	}
	defer ch.settle(ctx)
	in, r := h.verifyCallback(c)
	if r != nil {
		return h.refuseLogin(c, ch, r)
	}
	token := models.NewToken()
	if err := models.Login(ctx, h.db.Write, h.now(), h.loginActor(c, in.Staff), in.LoginInput(h.sessionKey, token)); err != nil {
		if errors.Is(err, models.ErrConflict) {
			return h.refuseLogin(c, ch, &refusal{code: "subject_mismatch", email: in.Staff.Email, err: err,
				message: "This staff record is already linked to a different account at the identity provider."})
		}
		return err
	}
	h.metrics.logins.WithLabelValues("succeeded").Inc()
	c.SetCookie(h.cookie(h.sessionCookieName(), token, 0))
	return c.Redirect(http.StatusSeeOther, in.ReturnTo)
}

type verifiedLogin struct {
	Staff    models.Staff
	Issuer   string
	Subject  string
	AuthAt   time.Time
	StepUp   bool
	ReturnTo string
	previous string
}

func (v verifiedLogin) LoginInput(key []byte, token string) models.LoginInput {
	return models.LoginInput{
		Staff: v.Staff, Issuer: v.Issuer, Subject: v.Subject, SessionHash: models.TokenHash(key, token),
		AuthAt: v.AuthAt, Replaces: v.previous, StepUp: v.StepUp,
	}
}

// idClaims are the ID token claims the portal checks itself; go-oidc has
// already checked signature, issuer, audience and expiry.
type idClaims struct {
	Email         string          `json:"email"`
	EmailVerified json.RawMessage `json:"email_verified"`
	HD            string          `json:"hd"`
	AZP           string          `json:"azp"`
	AuthTime      int64           `json:"auth_time"`
}

func (h *Handler) verifyCallback(c echo.Context) (verifiedLogin, *refusal) {
	ctx := c.Request().Context()
	state := c.QueryParam("state")
	ck, err := c.Cookie(h.loginCookieName())
	c.SetCookie(h.cookie(h.loginCookieName(), "", -1))
	if state == "" || err != nil || subtle.ConstantTimeCompare([]byte(ck.Value), []byte(state)) != 1 {
		return verifiedLogin{}, refuse("state_mismatch", "This sign-in was not started in this browser, or it has already been used. Please start again.")
	}
	flow, err := models.TakeLoginFlow(ctx, h.db.Write, models.TokenHash(h.sessionKey, state))
	if err != nil {
		return verifiedLogin{}, refuse("state_unknown", "This sign-in has already been used or has expired. Please start again.")
	}
	now := h.now()
	if now.Sub(flow.CreatedAt) > loginFlowTTL {
		return verifiedLogin{}, refuse("flow_expired", "This sign-in took too long and has expired. Please start again.")
	}
	if e := c.QueryParam("error"); e != "" {
		// The text is the browser's to choose: the code is cut short for
		// the log, and the audit log bounds the description.
		return verifiedLogin{}, &refusal{code: "provider_error", message: "The identity provider did not sign you in.", err: errors.New(models.Clip(e)),
			detail: map[string]any{"error_description": c.QueryParam("error_description")}}
	}
	idt, cl, rr := h.exchangeCode(c, flow)
	if rr != nil {
		return verifiedLogin{}, rr
	}
	email := strings.ToLower(cl.Email)
	r := func(code, msg string) (verifiedLogin, *refusal) {
		return verifiedLogin{}, &refusal{code: code, message: msg, email: email}
	}
	switch {
	case subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(flow.Nonce)) != 1:
		return r("nonce_mismatch", "The identity token does not belong to this sign-in.")
	case cl.AZP != "" && cl.AZP != h.oidc.cfg.ClientID:
		return r("azp_mismatch", "The identity token was issued to a different application.")
	case idt.Subject == "":
		return r("subject_missing", "The identity token names no account.")
	case string(cl.EmailVerified) != "true":
		return r("email_unverified", "Your account's email address is not verified by the identity provider.")
	case !slices.Contains(h.allowedDomains, cl.HD) || !slices.Contains(h.allowedDomains, domainOf(email)):
		return r("domain_not_allowed", "Only accounts of the company's own domains may sign in here.")
	case idt.IssuedAt.After(now.Add(clockSkew)) || idt.IssuedAt.Before(now.Add(-loginFlowTTL)):
		return r("issued_at_invalid", "The identity token's issue time is not plausible.")
	case cl.AuthTime != 0 && time.Unix(cl.AuthTime, 0).After(now.Add(clockSkew)):
		// A future auth_time would keep the session "recently signed in"
		// for step-up until long after the person last authenticated.
		return r("auth_time_invalid", "The identity token's sign-in time is not plausible.")
	}
	authAt := authTimeOf(cl, now)
	if flow.StepUp && !authenticatedSince(authAt, flow.CreatedAt) {
		return r("step_up_not_fresh", "The identity provider did not ask you to sign in again. Please try again.")
	}
	staff, rr := h.matchStaff(ctx, idt.Issuer, idt.Subject, email)
	if rr != nil {
		rr.email = email
		return verifiedLogin{}, rr
	}
	if flow.StepUp && (flow.LoginHint != staff.Email) {
		return r("step_up_other_person", "You confirmed your identity as a different person than the one signed in.")
	}
	out := verifiedLogin{Staff: staff, Issuer: idt.Issuer, Subject: idt.Subject, AuthAt: authAt, StepUp: flow.StepUp, ReturnTo: flow.ReturnTo}
	if ck, err := c.Cookie(h.sessionCookieName()); err == nil && ck.Value != "" {
		out.previous = models.TokenHash(h.sessionKey, ck.Value)
	}
	return out, nil
}

// authTimeOf is when the ID token says the person authenticated, at most
// now; zero when it does not say, so the session never counts as fresh.
func authTimeOf(cl idClaims, now time.Time) time.Time {
	if cl.AuthTime == 0 {
		return time.Time{}
	}
	return minTime(time.Unix(cl.AuthTime, 0), now)
}

// authenticatedSince reports whether authAt is not before start. auth_time
// has whole seconds, so start is cut to its second: a sign-in in the same
// second as the step-up began counts.
func authenticatedSince(authAt, start time.Time) bool {
	return !authAt.IsZero() && !authAt.Before(start.Truncate(time.Second))
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// exchangeCode trades the callback's code for the identity token and
// verifies its signature, audience and expiry.
func (h *Handler) exchangeCode(c echo.Context, flow models.LoginFlow) (*oidc.IDToken, idClaims, *refusal) {
	ctx := c.Request().Context()
	provider, cfg, err := h.oidc.load(ctx)
	if err != nil {
		return nil, idClaims{}, &refusal{code: "provider_unreachable", message: "The identity provider cannot be reached. Please try again shortly.", err: err}
	}
	tok, err := cfg.Exchange(h.oidc.ctx(ctx), c.QueryParam("code"), oauth2.VerifierOption(flow.Verifier))
	if err != nil {
		return nil, idClaims{}, &refusal{code: "code_exchange_failed", message: "The identity provider did not confirm this sign-in.", err: err}
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return nil, idClaims{}, refuse("id_token_missing", "The identity provider sent no identity token.")
	}
	idt, err := provider.VerifierContext(h.oidc.ctx(ctx), &oidc.Config{
		ClientID: h.oidc.cfg.ClientID, Now: h.now, SupportedSigningAlgs: []string{oidc.RS256, oidc.ES256},
	}).Verify(ctx, raw)
	if err != nil {
		return nil, idClaims{}, &refusal{code: "id_token_invalid", message: "The identity token could not be verified.", err: err}
	}
	var cl idClaims
	if err := idt.Claims(&cl); err != nil {
		return nil, idClaims{}, &refusal{code: "id_token_invalid", message: "The identity token could not be read.", err: err}
	}
	return idt, cl, nil
}

// matchStaff finds the active staff record for a verified identity: by
// (issuer, subject) once linked, by email only on the first login.
func (h *Handler) matchStaff(ctx context.Context, issuer, subject, email string) (models.Staff, *refusal) {
	s, err := models.FindStaffBySubject(ctx, h.db.Read, issuer, subject)
	if errors.Is(err, models.ErrNotFound) {
		s, err = models.FindStaffByEmail(ctx, h.db.Read, email)
		if errors.Is(err, models.ErrNotFound) {
			return models.Staff{}, refuse("unknown_staff", "There is no staff record for this account. Ask a sysadmin to add you.")
		}
		if err == nil && s.OIDCSubject != nil {
			return models.Staff{}, refuse("subject_mismatch", "This staff record is already linked to a different account at the identity provider.")
		}
	}
	if err != nil {
		return models.Staff{}, &refusal{code: "lookup_failed", message: "Your staff record could not be checked. Please try again.", err: err}
	}
	if s.Status != models.StatusActive {
		return models.Staff{}, refuse("staff_"+string(s.Status), "Your access to Gatehouse has been "+string(s.Status)+".")
	}
	return s, nil
}

func domainOf(email string) string {
	_, d, _ := strings.Cut(email, "@")
	return d
}

func (h *Handler) loginActor(c echo.Context, s models.Staff) models.Actor {
	a := h.actor(c)
	a.Email, a.Tier = s.Email, string(s.Tier)
	return a
}

// refuseLogin shows why a login was refused; no session is made. Every
// refusal counts against the client address (429 once it has too many)
// and in the metrics. It is audited unless it came before the provider
// was asked; the one that uses up the address's allowance always is, with
// the count, so each address writes at most one event per window for the
// refusals not recorded one by one.
func (h *Handler) refuseLogin(c echo.Context, ch *charge, r *refusal) error {
	h.metrics.logins.WithLabelValues(r.code).Inc()
	a := h.actor(c)
	if r.email != "" {
		a.Email = r.email
	}
	detail := map[string]any{"reason": r.code}
	for k, v := range r.detail {
		detail[k] = v
	}
	if r.err != nil {
		detail["error"] = r.err.Error()
		h.log.Warn("login refused", "request_id", requestIDOf(c), "reason", r.code, "error", r.err)
	}
	reached := ch.fail()
	if reached {
		detail["failures"], detail["window"] = h.loginFailures.Max, h.loginFailures.Window.String()
		h.log.Warn("sign-ins refused from one address: 429 until its window ends", "request_id", requestIDOf(c), "ip", a.IP)
	}
	if reached || !r.early() {
		ev := models.AuditEntry{At: h.now(), Actor: a, Action: models.ActionLoginRefused, Target: a.Email, Reason: r.code, Detail: detail}
		if _, err := models.AppendAudit(c.Request().Context(), h.db.Write, ev); err != nil {
			return err
		}
	}
	return h.render(c, http.StatusForbidden, views.LoginRefused(h.chrome(c, "Sign-in refused"), r.message))
}

// stepUpPage asks the person to confirm who they are before an action
// that needs a recent login.
func (h *Handler) stepUpPage(c echo.Context) error {
	back := c.Request().Referer()
	if u, err := c.Request().URL.Parse(back); err == nil && u.Host == c.Request().Host {
		back = u.RequestURI()
	}
	to, kept := h.keepDecision(c)
	if kept {
		back = to
	}
	return h.render(c, http.StatusUnauthorized, views.StepUp(h.chrome(c, "Confirm it is you"), safeReturnTo(back), h.stepUpWindow, kept))
}

func (h *Handler) logoutPage(c echo.Context) error {
	return h.render(c, http.StatusOK, views.LogoutPage(h.chrome(c, "Sign out")))
}

func (h *Handler) logout(c echo.Context) error {
	v := viewerOf(c)
	hash := models.TokenHash(h.sessionKey, mustCookie(c, h.sessionCookieName()))
	if err := models.Logout(c.Request().Context(), h.db.Write, h.now(), h.actor(c), hash); err != nil {
		return err
	}
	h.log.Info("signed out", "request_id", requestIDOf(c), "staff", v.Staff.Email)
	h.clearSessionCookie(c)
	h.setFlash(c, "signed-out")
	return c.Redirect(http.StatusSeeOther, "/login")
}

func mustCookie(c echo.Context, name string) string {
	ck, err := c.Cookie(name)
	if err != nil {
		return ""
	}
	return ck.Value
}

// Cookies are HttpOnly and SameSite=Lax always; over HTTPS also Secure
// and __Host- prefixed, which pins them to this host and path /.
func (h *Handler) sessionCookieName() string { return h.cookiePrefix() + "gatehouse_session" }
func (h *Handler) loginCookieName() string   { return h.cookiePrefix() + "gatehouse_login" }

func (h *Handler) cookiePrefix() string {
	if h.https {
		return "__Host-"
	}
	return ""
}

func (h *Handler) cookie(name, value string, maxAge int) *http.Cookie {
	// #nosec G124 -- Secure follows the base URL's scheme: production refuses a non-https base URL, and --dev serves plain http on loopback only
	return &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge, HttpOnly: true, Secure: h.https, SameSite: http.SameSiteLaxMode}
}

func (h *Handler) clearSessionCookie(c echo.Context) {
	c.SetCookie(h.cookie(h.sessionCookieName(), "", -1))
}
