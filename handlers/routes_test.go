package handlers

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/dbtest"
	"gatehouse/policy"
	"gatehouse/static"

	"github.com/labstack/echo/v4"
)

// outcome is what a principal's request to a route came to, as far as the
// permission check is concerned.
type outcome string

const (
	allow   outcome = "allow"  // past the permission check (any status but the four below)
	deny    outcome = "deny"   // 403 from the route guard
	toLogin outcome = "login"  // anonymous GET: 303 to /login?return_to=…
	unauth  outcome = "unauth" // anonymous POST: 401
	stepUp  outcome = "stepup" // 401 asking to sign in again (never expected here: the logins are fresh)
)

// The principals of the matrix, in the column order of routeTable.
var principals = []struct {
	name  string
	email string // empty: anonymous
}{
	{"anonymous", ""},
	{"engineer", "eve.engineer@example.com"},
	{"support", "sam.support@example.com"},
	{"senior", "sara.senior@example.com"},
	{"sysadmin", "ada.sysadmin@example.com"},
	{"auditor", "aud.auditor@example.com"},
	{"no-agreement", "nina.newhire@example.com"},    // a senior who has not signed the agreement
	{"old-agreement", "stranger@example.com"},       // a sysadmin who signed an earlier version only
	{"suspended", "sean.senior@example.com"},        // signed in, then suspended
	{"offboarded", "otto.sysadmin@example.com"},     // signed in, then offboarded: a sysadmin's old cookie
	{"billing-support", "bill.billing@example.com"}, // a custom role: portal:enter and workspace_meta:read only
}

// row maps outcomes, given in the column order of principals, to names.
func row(o ...outcome) map[string]outcome {
	if len(o) != len(principals) {
		panic(fmt.Sprintf("row has %d outcomes for %d principals", len(o), len(principals)))
	}
	m := map[string]outcome{}
	for i, p := range principals {
		m[p.name] = o[i]
	}
	return m
}

// routeCase is the expectation for one registered route.
type routeCase struct {
	// path is a concrete path for the route; {local} stands for the id of
	// the demo staff member local@example.com.
	path string
	// form is a valid form for a POST route: the cross-site test sends it
	// and then checks that the same form, sent same-origin, does act.
	form url.Values
	// writes says whether that same-origin form changes the database.
	writes bool
	want   map[string]outcome
}

// routeTable is the expected route × principal matrix: every route the
// portal registers, and nothing else. A new route needs a row here.
func routeTable() map[string]routeCase {
	form := func(kv ...string) url.Values {
		v := url.Values{}
		for i := 0; i < len(kv); i += 2 {
			v.Add(kv[i], kv[i+1])
		}
		return v
	}
	// Columns: anonymous engineer support senior sysadmin auditor
	// no-agreement old-agreement suspended offboarded billing-support.
	public := row(allow, allow, allow, allow, allow, allow, allow, allow, allow, allow, allow)
	enterGET := row(toLogin, allow, allow, allow, allow, allow, allow, allow, toLogin, toLogin, allow)
	enterPOST := row(unauth, allow, allow, allow, allow, allow, allow, allow, unauth, unauth, allow)
	staffGET := row(toLogin, deny, deny, deny, allow, deny, deny, deny, toLogin, toLogin, deny)
	staffPOST := row(unauth, deny, deny, deny, allow, deny, deny, deny, unauth, unauth, deny)
	wsGET := row(toLogin, deny, allow, allow, allow, deny, deny, deny, toLogin, toLogin, allow)
	requestGET := row(toLogin, deny, allow, allow, allow, deny, deny, deny, toLogin, toLogin, deny)
	dataGET := row(toLogin, deny, deny, allow, allow, deny, deny, deny, toLogin, toLogin, deny)
	dataPOST := row(unauth, deny, deny, allow, allow, deny, deny, deny, unauth, unauth, deny)
	requestPOST := row(unauth, deny, allow, allow, allow, deny, deny, deny, unauth, unauth, deny)
	auditGET := row(toLogin, deny, deny, deny, allow, allow, deny, deny, toLogin, toLogin, deny)
	auditPOST := row(unauth, deny, deny, deny, allow, allow, deny, deny, unauth, unauth, deny)
	reason := "ticket OPS-1: routine access review"
	return map[string]routeCase{
		"GET /healthz":      {path: "/healthz", want: public},
		"GET /readyz":       {path: "/readyz", want: public},
		"GET /metrics":      {path: "/metrics", want: public},
		"GET /static/:file": {path: static.Path("app.css"), want: public},

		"GET /.well-known/security.txt": {path: "/.well-known/security.txt", want: public},

		"GET /login":         {path: "/login", want: public},
		"POST /login":        {path: "/login", form: form(), writes: true, want: public},
		"GET /auth/callback": {path: "/auth/callback", want: public},
		"GET /logout":        {path: "/logout", want: enterGET},
		"POST /logout":       {path: "/logout", form: form(), writes: true, want: enterPOST},

		"GET /": {path: "/", want: enterGET},

		"GET /workspaces":                               {path: "/workspaces", want: wsGET},
		"GET /workspaces/:slug":                         {path: "/workspaces/acme", want: wsGET},
		"GET /workspaces/:slug/reach":                   {path: "/workspaces/acme/reach", want: auditGET},
		"GET /workspaces/:slug/data/:table":             {path: "/workspaces/acme/data/members", want: dataGET},
		"GET /workspaces/:slug/data/:table/:id":         {path: "/workspaces/acme/data/members/1", want: dataGET},
		"POST /workspaces/:slug/data/:table/:id/reveal": {path: "/workspaces/acme/data/members/1/reveal", form: form("field", "email", "reason", reason), writes: true, want: dataPOST},

		"POST /workspaces/:slug/deletion-requests": {path: "/workspaces/acme/deletion-requests", form: form("note", "SUP-1: the owner asked by email to delete this workspace."), writes: true, want: requestPOST},

		// Hold 1 is the one the holds row places (routes run in sorted
		// order); soylent's deletion is due (cancelled 95 days ago).
		"GET /retention":                       {path: "/retention", want: staffGET},
		"GET /retention/:slug":                 {path: "/retention/acme", want: staffGET},
		"POST /retention/:slug/holds":          {path: "/retention/acme/holds", form: form("reference", "LEGAL-1", "reason", reason), writes: true, want: staffPOST},
		"POST /retention/:slug/holds/:id/lift": {path: "/retention/acme/holds/1/lift", form: form("reason", reason), writes: true, want: staffPOST},
		"POST /retention/:slug/delete":         {path: "/retention/soylent/delete", form: form("confirm", "soylent"), writes: true, want: staffPOST},

		"GET /alerts":                  {path: "/alerts", want: auditGET},
		"GET /alerts/:id":              {path: "/alerts/1", want: auditGET},
		"POST /alerts/:id/acknowledge": {path: "/alerts/1/acknowledge", form: form("note", reason), writes: true, want: staffPOST},
		"POST /alerts/:id/resolve":     {path: "/alerts/1/resolve", form: form("note", reason), writes: true, want: staffPOST},
		"GET /audit":                   {path: "/audit", want: auditGET},
		"POST /audit/export":           {path: "/audit/export", form: form("format", "csv"), writes: true, want: auditPOST},

		// Review 1 is the one TestCrossSitePOSTsRefused opens (row 1 is
		// sam.support's); elsewhere there is none (404 past the guard).
		"GET /reviews":                {path: "/reviews", want: auditGET},
		"GET /reviews/:id":            {path: "/reviews/1", want: auditGET},
		"GET /reviews/:id/export":     {path: "/reviews/1/export?format=csv", want: auditGET},
		"POST /reviews/:id/rows/:row": {path: "/reviews/1/rows/1", form: form("decision", "keep", "note", reason), writes: true, want: staffPOST},

		"GET /staff":                 {path: "/staff", want: staffGET},
		"POST /staff":                {path: "/staff", form: form("email", "new.person@example.com", "name", "New Person", "tier", "support"), writes: true, want: staffPOST},
		"GET /staff/:id":             {path: "/staff/{sam.support}", want: staffGET},
		"POST /staff/:id/tier":       {path: "/staff/{sam.support}/tier", form: form("tier", "engineer", "reason", reason), writes: true, want: staffPOST},
		"POST /staff/:id/scope":      {path: "/staff/{sam.support}/scope", form: form("scope", "region=eu", "reason", reason), writes: true, want: staffPOST},
		"POST /staff/:id/agreement":  {path: "/staff/{nina.newhire}/agreement", form: form("version", "2026-1", "signed", "2020-01-02"), writes: true, want: staffPOST},
		"POST /staff/:id/training":   {path: "/staff/{nina.newhire}/training", form: form("completed", "2020-01-02"), writes: true, want: staffPOST},
		"POST /staff/:id/suspend":    {path: "/staff/{eve.engineer}/suspend", form: form("reason", reason), writes: true, want: staffPOST},
		"POST /staff/:id/reactivate": {path: "/staff/{sean.senior}/reactivate", form: form("reason", reason), writes: true, want: staffPOST},
		"POST /staff/:id/offboard":   {path: "/staff/{otto.sysadmin}/offboard", form: form("reason", reason, "confirm", "otto.sysadmin@example.com"), writes: true, want: staffPOST},

		"GET /roles":        {path: "/roles", want: staffGET},
		"POST /roles":       {path: "/roles", form: form("name", "field-support", "description", "Support on site: general workspace information.", "permission", "portal:enter", "permission", "workspace_meta:read", "reason", reason), writes: true, want: staffPOST},
		"GET /roles/:name":  {path: "/roles/billing-support", want: staffGET},
		"POST /roles/:name": {path: "/roles/billing-support", form: form("description", "Billing questions only.", "permission", "portal:enter", "permission", "workspace_meta:read", "reason", reason), writes: true, want: staffPOST},
		// archive-reader is a role nobody holds (TestCrossSitePOSTsRefused
		// makes it; elsewhere the path is a 404 to those who may ask).
		"POST /roles/:name/delete": {path: "/roles/archive-reader/delete", form: form("reason", reason), writes: true, want: staffPOST},

		// Proposals 1 and 2 are otto's and 3 is ada's (proposeForRoutes),
		// in TestCrossSitePOSTsRefused; elsewhere there are none (404,
		// past the permission check).
		"GET /proposals":               {path: "/proposals", want: staffGET},
		"GET /proposals/:id":           {path: "/proposals/1", want: staffGET},
		"POST /proposals/:id/approve":  {path: "/proposals/1/approve", form: form("note", reason), writes: true, want: staffPOST},
		"POST /proposals/:id/reject":   {path: "/proposals/2/reject", form: form("note", reason), writes: true, want: staffPOST},
		"POST /proposals/:id/withdraw": {path: "/proposals/3/withdraw", form: form(), writes: true, want: staffPOST},

		// Break-glass 1 is the one TestCrossSitePOSTsRefused has otto open.
		"GET /breakglass":             {path: "/breakglass", want: staffGET},
		"POST /breakglass":            {path: "/breakglass", form: form("workspace", "acme", "incident", "INC-1", "justification", reason+" for the incident", "confirm", "yes"), writes: true, want: staffPOST},
		"GET /breakglass/:id":         {path: "/breakglass/1", want: staffGET},
		"POST /breakglass/:id/review": {path: "/breakglass/1/review", form: form("note", reason), writes: true, want: staffPOST},
		// Break-glass 2 is the one POST /breakglass opens, as Ada: she ends her own.
		"POST /breakglass/:id/end": {path: "/breakglass/2/end", form: form("note", reason), writes: true, want: staffPOST},

		// Incidents 1 and 2 are the ones TestCrossSitePOSTsRefused has otto
		// declare (1 with acme affected and otto's notice 1); POST
		// /incidents declares 3, as Ada, from alert 1 (raiseAlert's; the
		// matrix raises none, so there its filled-in GET is a 422).
		"GET /incidents":                              {path: "/incidents?from_alert=1", want: auditGET},
		"POST /incidents":                             {path: "/incidents", form: form("title", "Laptop stolen", "summary", reason+" after a stolen laptop", "severity", "high", "started", "2020-01-01T10:00", "detected", "2020-01-01T11:00", "alert", "1"), writes: true, want: staffPOST},
		"GET /incidents/:id":                          {path: "/incidents/1?find=1&method=slugs&slugs=acme", want: auditGET},
		"POST /incidents/:id/affected":                {path: "/incidents/3/affected", form: form("method", "slugs", "slugs", "acme globex"), writes: true, want: staffPOST},
		"POST /incidents/:id/notices":                 {path: "/incidents/1/notices", form: form("body", reason+": we are writing to tell you what we found."), writes: true, want: staffPOST},
		"GET /incidents/:id/notices/:notice":          {path: "/incidents/1/notices/1", want: auditGET},
		"POST /incidents/:id/notices/:notice/approve": {path: "/incidents/1/notices/1/approve", form: form(), writes: true, want: staffPOST},
		"POST /incidents/:id/contain":                 {path: "/incidents/1/contain", form: form("staff", "sam.support@example.com", "note", reason+" while we look"), writes: true, want: staffPOST},
		"POST /incidents/:id/close":                   {path: "/incidents/2/close", form: form("postmortem", reason+": the laptop was wiped remotely; nothing was read from it."), writes: true, want: staffPOST},

		"GET /requests":              {path: "/requests", want: requestGET},
		"GET /requests/new":          {path: "/requests/new", want: requestGET},
		"POST /requests":             {path: "/requests", form: form("workspace", "acme", "reason", reason+" for the customer", "ticket", "SUP-1", "duration", "2h", "grantee", "sara.senior@example.com", "mode", "masked"), writes: true, want: requestPOST},
		"GET /requests/:id":          {path: "/requests/1", want: requestGET},
		"GET /requests/:id/decide":   {path: "/requests/1/decide", want: dataGET},
		"POST /requests/:id/approve": {path: "/requests/999/approve", form: form("note", reason), want: dataPOST},
		"POST /requests/:id/deny":    {path: "/requests/999/deny", form: form("note", reason), want: dataPOST},
		"POST /requests/:id/cancel":  {path: "/requests/999/cancel", form: form("note", reason), want: requestPOST},
		"POST /requests/:id/done":    {path: "/requests/999/done", form: form("note", reason), want: dataPOST},
		"POST /requests/:id/revoke":  {path: "/requests/999/revoke", form: form("note", reason), want: staffPOST},

		// The customer's link needs no login: its token is the credential.
		"GET /consent/:token":   {path: "/consent/" + strings.Repeat("A", 43), want: public},
		"HEAD /consent/:token":  {path: "/consent/" + strings.Repeat("A", 43), want: public},
		"POST /consent/:token":  {path: "/consent/" + strings.Repeat("A", 43), form: form("decision", "grant"), want: public},
		"GET /deletion/:token":  {path: "/deletion/" + strings.Repeat("A", 43), want: public},
		"HEAD /deletion/:token": {path: "/deletion/" + strings.Repeat("A", 43), want: public},
		"POST /deletion/:token": {path: "/deletion/" + strings.Repeat("A", 43), form: form("decision", "confirm"), want: public},

		// The owner's link from a break-glass mail, likewise.
		"GET /emergency/:token":  {path: "/emergency/" + strings.Repeat("A", 43), want: public},
		"HEAD /emergency/:token": {path: "/emergency/" + strings.Repeat("A", 43), want: public},
		"POST /emergency/:token": {path: "/emergency/" + strings.Repeat("A", 43), form: form("note", reason), want: public},

		// The owner's link from an incident notice, likewise; it only shows.
		"GET /incident-notice/:token":  {path: "/incident-notice/" + strings.Repeat("A", 43), want: public},
		"HEAD /incident-notice/:token": {path: "/incident-notice/" + strings.Repeat("A", 43), want: public},
		// The owner's link from a transparency report mail, likewise.
		"GET /transparency/:token":  {path: "/transparency/" + strings.Repeat("A", 43), want: public},
		"HEAD /transparency/:token": {path: "/transparency/" + strings.Repeat("A", 43), want: public},
		"POST /transparency/:token": {path: "/transparency/" + strings.Repeat("A", 43), form: form(), want: public},

		// Development only (the test portal runs with Dev): the demo login
		// and the in-process identity provider, which keeps its state in
		// memory.
		"POST /dev/login":  {path: "/dev/login", form: form("email", "sam.support@example.com"), writes: true, want: public},
		"GET /dev/oidc/*":  {path: "/dev/oidc/.well-known/openid-configuration", want: public},
		"POST /dev/oidc/*": {path: "/dev/oidc/login", form: form("email", "nobody@example.com"), want: public},

		// The development mailbox (loopback-only, like all of --dev).
		"GET /dev/mail":     {path: "/dev/mail", want: public},
		"GET /dev/mail/:id": {path: "/dev/mail/1", want: public},
	}
}

// registeredRoutes returns "METHOD /path" of every route the running
// portal's router serves.
func (p *testPortal) registeredRoutes() []string {
	p.t.Helper()
	e, ok := p.srv.Config.Handler.(*echo.Echo)
	if !ok {
		p.t.Fatalf("server handler is %T, not *echo.Echo", p.srv.Config.Handler)
	}
	var keys []string
	for _, r := range e.Routes() {
		keys = append(keys, r.Method+" "+r.Path)
	}
	sort.Strings(keys)
	return keys
}

var staffPlaceholder = regexp.MustCompile(`\{([a-z.]+)\}`)

// resolve replaces {local} in path by the id of local@example.com.
func (p *testPortal) resolve(path string) string {
	p.t.Helper()
	return staffPlaceholder.ReplaceAllStringFunc(path, func(m string) string {
		local := strings.Trim(m, "{}")
		s, err := models.FindStaffByEmail(context.Background(), p.db.Read, local+"@example.com")
		if err != nil {
			p.t.Fatalf("path %s: %v", path, err)
		}
		return fmt.Sprint(s.ID)
	})
}

// idOf returns the id of a staff member by email.
func (p *testPortal) idOf(email string) int64 {
	p.t.Helper()
	s, err := models.FindStaffByEmail(context.Background(), p.db.Read, email)
	if err != nil {
		p.t.Fatal(err)
	}
	return s.ID
}

// sessionCookie returns the session cookie value a signed-in client holds.
func (p *testPortal) sessionCookie(c *http.Client) string {
	p.t.Helper()
	u, _ := url.Parse(p.srv.URL)
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == p.h.sessionCookieName() {
			return ck.Value
		}
	}
	p.t.Fatal("client holds no session cookie")
	return ""
}

// signedIn is a principal's session cookie ("" for anonymous). Requests
// send it explicitly, so a portal clearing it cannot hide a stale cookie.
type signedIn map[string]string

// signInPrincipals signs every principal in, then suspends and offboards
// the two who must arrive with a dead session.
func (p *testPortal) signInPrincipals() signedIn {
	p.t.Helper()
	ctx := context.Background()
	by := models.Actor{Email: "test", Tier: "system"}
	// The identity provider knows stranger@example.com; the portal gets a
	// sysadmin record for it whose agreement is an outdated version.
	old, err := models.CreateStaff(ctx, p.db.Write, p.clock.Now(), by, models.Staff{Email: "stranger@example.com", Name: "Old Agreement", Tier: policy.TierSysadmin})
	if err != nil {
		p.t.Fatal(err)
	}
	if err := models.RecordAgreement(ctx, p.db.Write, models.Act{Now: p.clock.Now(), By: by}, old.ID, "2025-1", p.clock.Now().AddDate(-1, 0, 0)); err != nil {
		p.t.Fatal(err)
	}
	cookies := signedIn{}
	for _, pr := range principals {
		if pr.email == "" {
			cookies[pr.name] = ""
			continue
		}
		cookies[pr.name] = p.sessionCookie(p.login(pr.email))
	}
	if err := models.Suspend(ctx, p.db.Write, models.Act{Now: p.clock.Now(), By: by}, p.idOf("sean.senior@example.com"), "matrix test"); err != nil {
		p.t.Fatal(err)
	}
	if err := models.Offboard(ctx, p.db.Write, models.Act{Now: p.clock.Now(), By: by}, p.idOf("otto.sysadmin@example.com"), "matrix test"); err != nil {
		p.t.Fatal(err)
	}
	return cookies
}

// send makes one request with exactly the given session cookie and
// headers, following no redirect.
func (p *testPortal) send(cookie, method, path string, form url.Values, header http.Header) (*http.Response, string) {
	p.t.Helper()
	h := http.Header{}
	for k, v := range header {
		h[k] = v
	}
	if cookie != "" {
		h.Set("Cookie", p.h.sessionCookieName()+"="+cookie)
	}
	if method == http.MethodPost && form == nil {
		form = url.Values{}
	}
	c := &http.Client{Timeout: 20 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return p.do(c, method, path, form, h)
}

// logged reports whether the portal logged msg for the response's request.
func (p *testPortal) logged(res *http.Response, msg string) bool {
	id := res.Header.Get("X-Request-Id")
	if id == "" {
		return false
	}
	sc := bufio.NewScanner(strings.NewReader(p.logs.String()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if !bytes.Contains(sc.Bytes(), []byte(id)) {
			continue
		}
		var line struct {
			Msg       string `json:"msg"`
			RequestID string `json:"request_id"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == msg && line.RequestID == id {
			return true
		}
	}
	return false
}

// classify tells what a response says about the permission check. A 403
// counts as "deny" only when the route guard logged the refusal, so a
// handler's own 403 (e.g. a refused login at /auth/callback) is "allow".
func (p *testPortal) classify(res *http.Response, body string) outcome {
	switch {
	case res.StatusCode >= 500:
		return outcome(fmt.Sprintf("error %d", res.StatusCode))
	case res.StatusCode == http.StatusSeeOther && strings.HasPrefix(res.Header.Get("Location"), "/login?return_to="):
		return toLogin
	case res.StatusCode == http.StatusUnauthorized && strings.Contains(body, "Confirm it is you"):
		return stepUp
	case res.StatusCode == http.StatusUnauthorized && strings.Contains(body, "sign in first"):
		return unauth
	case res.StatusCode == http.StatusForbidden && p.logged(res, "permission denied"):
		return deny
	case res.StatusCode == http.StatusUnauthorized || (res.StatusCode == http.StatusForbidden && p.logged(res, "cross-origin request refused")):
		return outcome(fmt.Sprintf("unexpected %d", res.StatusCode))
	}
	return allow
}

// orderedRoutes lists route keys sorted, with POST /logout last: it ends
// the session the other requests use.
func orderedRoutes(keys []string) []string {
	keys = slices.Clone(keys)
	sort.SliceStable(keys, func(i, j int) bool {
		li, lj := keys[i] == "POST /logout", keys[j] == "POST /logout"
		if li != lj {
			return lj
		}
		return keys[i] < keys[j]
	})
	return keys
}

// checkTableMatchesRoutes fails the test for a registered route without a
// row and for a row without a registered route.
func checkTableMatchesRoutes(t *testing.T, registered []string, table map[string]routeCase) {
	t.Helper()
	for _, k := range registered {
		if _, ok := table[k]; !ok {
			t.Errorf("route %s is registered but has no row in routeTable: add its expected outcomes", k)
		}
	}
	for k := range table {
		if !slices.Contains(registered, k) {
			t.Errorf("routeTable has a row for %s, but no such route is registered", k)
		}
	}
}

func TestRouteMatrix(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		table := routeTable()
		registered := p.registeredRoutes()
		checkTableMatchesRoutes(t, registered, table)
		cookies := p.signInPrincipals()
		for _, pr := range principals {
			for _, key := range orderedRoutes(registered) {
				rc, ok := table[key]
				if !ok {
					continue
				}
				method, _, _ := strings.Cut(key, " ")
				// Forms stay empty here: a permitted POST then stops at
				// validation (422) and changes nothing for the next row.
				var form url.Values
				if method == http.MethodPost {
					form = url.Values{}
				}
				res, body := p.send(cookies[pr.name], method, p.resolve(rc.path), form, nil)
				if got, want := p.classify(res, body), rc.want[pr.name]; got != want {
					t.Errorf("%s as %s: got %s (%d), want %s", key, pr.name, got, res.StatusCode, want)
				}
			}
		}
	})
}

// TestRoutesAllComeFromTheTable checks that nothing reaches the router
// except through the route table, where each entry names a permission
// and gets the guard.
func TestRoutesAllComeFromTheTable(t *testing.T) {
	p := newPortal(t, dbtest.SQLite(t))
	declared := map[string]bool{}
	for _, r := range p.h.routes() {
		key := r.method + " " + r.path
		if r.perm.IsZero() {
			t.Errorf("route %s declares no permission", key)
		}
		declared[key] = true
	}
	for _, k := range p.registeredRoutes() {
		if !declared[k] {
			t.Errorf("route %s is registered outside the route table", k)
		}
	}
	if got, want := len(p.registeredRoutes()), len(declared); got != want {
		t.Errorf("registered routes = %d, want %d (one per table entry)", got, want)
	}
}

// dbSnapshot is every row of every table of a database, each row as one
// "column=value" line, rows sorted, so two snapshots compare line by line.
type dbSnapshot map[string][]string

// diff describes the rows only in s (-) and only in after (+), table by
// table; it is empty when the snapshots are equal. (go-cmp is not in
// go.mod yet, hence this.)
func (s dbSnapshot) diff(after dbSnapshot) string {
	var tables []string
	for t := range s {
		tables = append(tables, t)
	}
	for t := range after {
		if _, ok := s[t]; !ok {
			tables = append(tables, t)
		}
	}
	sort.Strings(tables)
	var b strings.Builder
	for _, t := range tables {
		if _, ok := after[t]; !ok {
			fmt.Fprintf(&b, "table %s: gone\n", t)
			continue
		}
		if _, ok := s[t]; !ok {
			fmt.Fprintf(&b, "table %s: new\n", t)
		}
		for _, l := range s[t] {
			if !slices.Contains(after[t], l) {
				fmt.Fprintf(&b, "%s - %s\n", t, l)
			}
		}
		for _, l := range after[t] {
			if !slices.Contains(s[t], l) {
				fmt.Fprintf(&b, "%s + %s\n", t, l)
			}
		}
		if b.Len() == 0 && len(s[t]) != len(after[t]) {
			fmt.Fprintf(&b, "table %s: %d rows, then %d (duplicates)\n", t, len(s[t]), len(after[t]))
		}
	}
	return b.String()
}

// snapshotDB dumps every table of the portal database but rate_limits
// (the per-address limits count attempts, which changes no state a
// request is about; limits_test.go checks those counts). ignore names
// "table.column"s left out of the dump.
func snapshotDB(t *testing.T, db *models.DB, ignore ...string) dbSnapshot {
	t.Helper()
	var tables []string
	q := "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
	if db.Dialect == models.Postgres {
		// Tables, not their partitions: audit_events' monthly partitions
		// hold the rows audit_events shows.
		q = "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY c.relname"
	}
	if err := db.Write.Raw(q).Scan(&tables).Error; err != nil {
		t.Fatalf("list tables: %v", err)
	}
	for _, want := range []string{"staff", "sessions", "login_flows", "audit_events"} {
		if !slices.Contains(tables, want) {
			t.Fatalf("tables %v lack %s", tables, want)
		}
	}
	snap := dbSnapshot{}
	for _, table := range tables {
		if table == "rate_limits" {
			continue
		}
		rows, err := db.Write.Raw(`SELECT * FROM "` + table + `"`).Rows()
		if err != nil {
			t.Fatalf("dump %s: %v", table, err)
		}
		cols, err := rows.Columns()
		if err != nil {
			t.Fatal(err)
		}
		lines := []string{}
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatalf("dump %s: %v", table, err)
			}
			var fields []string
			for i, col := range cols {
				if slices.Contains(ignore, table+"."+col) {
					continue
				}
				fields = append(fields, col+"="+sqlValueString(vals[i]))
			}
			lines = append(lines, strings.Join(fields, " | "))
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("dump %s: %v", table, err)
		}
		rows.Close()
		sort.Strings(lines)
		snap[table] = lines
	}
	return snap
}

func sqlValueString(v any) string {
	switch v := v.(type) {
	case nil:
		return "NULL"
	case []byte:
		return fmt.Sprintf("%q", v)
	case string:
		return fmt.Sprintf("%q", v)
	case time.Time:
		return v.UTC().Format(time.RFC3339Nano)
	}
	return fmt.Sprint(v)
}

func TestSnapshotDBSeesChanges(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		before := snapshotDB(t, db)
		if len(before["staff"]) == 0 || len(before["audit_events"]) == 0 {
			t.Fatalf("snapshot of the seeded database has no staff or audit rows: %v", before)
		}
		p.login("sam.support@example.com")
		after := snapshotDB(t, db)
		if before.diff(after) == "" {
			t.Error("snapshot did not change after a login, which writes a session and an audit event")
		}
		// A change only in an ignored column is invisible.
		p.clock.Advance(2 * time.Minute)
		base := snapshotDB(t, db, "sessions.last_seen_at")
		if err := db.Write.Exec("UPDATE sessions SET last_seen_at = ?", p.clock.Now().UTC()).Error; err != nil {
			t.Fatal(err)
		}
		if diff := base.diff(snapshotDB(t, db, "sessions.last_seen_at")); diff != "" {
			t.Errorf("ignored column still compared (-before +after):\n%s", diff)
		}
		if base.diff(snapshotDB(t, db)) == "" {
			t.Error("last_seen_at change not seen without the exemption")
		}
	})
}

// crossSiteHeaders are the two ways a browser tells a cross-site request.
var crossSiteHeaders = []struct {
	name   string
	header http.Header
}{
	{"Sec-Fetch-Site: cross-site", http.Header{"Sec-Fetch-Site": {"cross-site"}}},
	{"Origin: https://evil.example", http.Header{"Origin": {"https://evil.example"}}},
}

func TestCrossSitePOSTsRefused(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		table := routeTable()
		registered := p.registeredRoutes()
		checkTableMatchesRoutes(t, registered, table)
		cookie := p.sessionCookie(p.login("ada.sysadmin@example.com"))
		// The reactivation form needs someone suspended.
		if err := models.Suspend(context.Background(), db.Write, models.Act{Now: p.clock.Now(), By: models.Actor{Email: "test"}}, p.idOf("sean.senior@example.com"), "cross-site test"); err != nil {
			t.Fatal(err)
		}
		// The reveal form needs a grant covering its record.
		if _, err := models.CreateGrant(context.Background(), db.Write, p.clock.Now(), models.NewGrant{
			Workspace: "acme", GranteeID: p.idOf("ada.sysadmin@example.com"), StartsAt: p.clock.Now(), Duration: time.Hour,
		}); err != nil {
			t.Fatal(err)
		}
		// The review form needs a break-glass another sysadmin opened.
		if err := db.Write.Create(&models.Breakglass{Workspace: "globex", OpenerID: p.idOf("otto.sysadmin@example.com"), Incident: "INC-1",
			Justification: "routes test", OpenedAt: p.clock.Now(), EndsAt: p.clock.Now().Add(time.Hour)}).Error; err != nil {
			t.Fatal(err)
		}
		// The acknowledge and resolve forms need an alert.
		p.raiseAlert()
		declareTestIncidents(t, db, p.clock.Now(), p.idOf("otto.sysadmin@example.com"))
		p.proposeForRoutes()
		// The role deletion form needs a role nobody holds.
		if _, err := models.CreateRole(context.Background(), db.Write, models.Act{Now: p.clock.Now(), By: models.Actor{Email: "test"}}, policy.RoleDef{
			Name: "archive-reader", Description: "Reads archived workspaces' metadata.", Permissions: []policy.Permission{policy.PortalEnter, policy.WorkspaceMetaRead},
		}); err != nil {
			t.Fatal(err)
		}
		// The certification form needs an open review.
		p.openReview()
		posts := 0
		for _, key := range orderedRoutes(registered) {
			method, _, _ := strings.Cut(key, " ")
			rc, ok := table[key]
			if method != http.MethodPost || !ok {
				continue
			}
			posts++
			path := p.resolve(rc.path)
			for _, cs := range crossSiteHeaders {
				before := snapshotDB(t, db)
				res, _ := p.send(cookie, method, path, rc.form, cs.header)
				if res.StatusCode != http.StatusForbidden || !p.logged(res, "cross-origin request refused") {
					t.Errorf("%s with %s: got %d, want 403 from the cross-origin check", key, cs.name, res.StatusCode)
				}
				if diff := before.diff(snapshotDB(t, db)); diff != "" {
					t.Errorf("%s with %s changed the database (-before +after):\n%s", key, cs.name, diff)
				}
			}
			// The same form sent by the portal's own page goes through,
			// so the refusals above are the check's doing.
			before := snapshotDB(t, db)
			res, body := p.send(cookie, method, path, rc.form, http.Header{"Sec-Fetch-Site": {"same-origin"}, "Origin": {p.srv.URL}})
			if res.StatusCode == http.StatusForbidden || res.StatusCode == http.StatusUnprocessableEntity || res.StatusCode >= 500 {
				t.Errorf("%s same-origin: got %d, want it accepted:\n%s", key, res.StatusCode, body)
			}
			if changed := before.diff(snapshotDB(t, db)) != ""; changed != rc.writes {
				t.Errorf("%s same-origin: database changed = %t, want %t", key, changed, rc.writes)
			}
		}
		if posts < 10 {
			t.Errorf("checked %d POST routes, want every one (at least 10)", posts)
		}
	})
}

func TestGETRoutesLeaveDatabaseUnchanged(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		table := routeTable()
		registered := p.registeredRoutes()
		checkTableMatchesRoutes(t, registered, table)
		cookies := p.signInPrincipals()
		p.raiseAlert() // so that /alerts/1 is a real alert's page
		gets := 0
		// Each request is compared with the state before it; when nothing
		// changed, that is also the state before the next one.
		before := snapshotDB(t, db, "sessions.last_seen_at")
		for _, pr := range principals {
			// Past the one-minute granularity, so each principal's first
			// request records activity (sessions.last_seen_at, exempt
			// below) and the comparison shows it wrote nothing else.
			p.clock.Advance(2 * time.Minute)
			for _, key := range registered {
				rc, ok := table[key]
				if !strings.HasPrefix(key, "GET ") || !ok {
					continue
				}
				if key == "GET /auth/callback" {
					// The protocol's one writing GET: it consumes a login
					// flow and starts a session or audits the refusal.
					// The login tests cover what it writes.
					continue
				}
				gets++
				res, _ := p.send(cookies[pr.name], http.MethodGet, p.resolve(rc.path), nil, nil)
				if res.StatusCode >= 500 {
					t.Errorf("%s as %s: got %d", key, pr.name, res.StatusCode)
				}
				// sessions.last_seen_at is activity bookkeeping for the
				// idle timeout, the one write a GET may make; data pages
				// audit every view and refusal, so for them the audit
				// chain may also grow: rows appended, the head moved.
				after := snapshotDB(t, db, "sessions.last_seen_at")
				was, now := before, after
				if strings.HasPrefix(key, "GET /workspaces/:slug/data/") {
					for _, l := range before["audit_events"] {
						if !slices.Contains(after["audit_events"], l) {
							t.Errorf("%s as %s changed or removed an audit event: %s", key, pr.name, l)
						}
					}
					if len(before["audit_head"]) != len(after["audit_head"]) {
						t.Errorf("%s as %s: audit_head rows %d, then %d", key, pr.name, len(before["audit_head"]), len(after["audit_head"]))
					}
					// SQLite: audit_events' AUTOINCREMENT counter moves too.
					counter := func(l string) bool { return strings.HasPrefix(l, `name="audit_events" |`) }
					was, now = dbSnapshot{}, dbSnapshot{}
					for table, rows := range before {
						switch table {
						case "audit_events", "audit_head":
						case "sqlite_sequence":
							was[table] = slices.DeleteFunc(slices.Clone(rows), counter)
							now[table] = slices.DeleteFunc(slices.Clone(after[table]), counter)
						default:
							was[table], now[table] = rows, after[table]
						}
					}
					for table, rows := range after {
						if _, ok := before[table]; !ok {
							now[table] = rows // a new table is a change
						}
					}
				}
				if diff := was.diff(now); diff != "" {
					t.Errorf("%s as %s changed the database (-before +after):\n%s", key, pr.name, diff)
				}
				before = after
			}
		}
		if gets == 0 {
			t.Error("no GET route checked")
		}
	})
}

func TestEchoRefusesRouteTableFaults(t *testing.T) {
	p := newPortal(t, dbtest.SQLite(t))
	ok := func(echo.Context) error { return nil }
	for _, tc := range []struct {
		name    string
		extra   route
		wantErr string
	}{
		{"no permission", route{http.MethodGet, "/forgotten", policy.Permission{}, false, ok}, "route GET /forgotten declares no permission"},
		{"no handler", route{http.MethodGet, "/empty", policy.PortalEnter, false, nil}, "route GET /empty has no handler"},
		{"declared twice", route{http.MethodGet, "/staff", policy.Public, false, ok}, "route GET /staff has no handler or is declared twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := p.h.echoFor(append(p.h.routes(), tc.extra))
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("echoFor with %s: got (%v, %v), want an error containing %q", tc.name, e, err, tc.wantErr)
			}
		})
	}
	if _, err := p.h.echoFor(p.h.routes()); err != nil {
		t.Errorf("echoFor with the real route table: %v", err)
	}
}

// proposeForRoutes makes the proposals the route table's proposal rows
// name: 1 and 2 by otto (ada approves one and rejects the other), 3 by
// ada (she withdraws it).
func (p *testPortal) proposeForRoutes() {
	p.t.Helper()
	for _, pr := range []struct{ by, subject, tier string }{
		{"otto.sysadmin", "eve.engineer", "senior"},
		{"otto.sysadmin", "aud.auditor", "support"},
		{"ada.sysadmin", "nina.newhire", "support"},
	} {
		_, err := models.Propose(context.Background(), p.db.Write, models.Act{Now: p.clock.Now(), By: models.Actor{Email: pr.by + "@example.com"}}, models.ProposalInput{
			Kind:    models.KindStaffTier,
			Payload: models.StaffTierChange{StaffID: p.idOf(pr.subject + "@example.com"), Tier: policy.Tier(pr.tier)},
			Reason:  "The routes test needs a proposal to decide.",
		})
		if err != nil {
			p.t.Fatal(err)
		}
	}
}
