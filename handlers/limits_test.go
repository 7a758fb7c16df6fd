package handlers

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"gatehouse/models"
	"gatehouse/models/dbtest"

	"github.com/prometheus/client_golang/prometheus"
)

// replica starts a second portal on p's database, as another replica
// would run: a Handler and server of its own (and on PostgreSQL its own
// connection pool and audit writer), on the same clock.
func (p *testPortal) replica() *testPortal {
	p.t.Helper()
	o := p.opts
	o.Metrics = prometheus.NewRegistry()
	if p.db.Dialect == models.Postgres {
		other, err := models.Open(context.Background(), dbtest.URL(p.db))
		if err != nil {
			p.t.Fatal(err)
		}
		p.t.Cleanup(func() { other.Close() })
		aw := models.NewAuditWriter(other, 64)
		p.t.Cleanup(func() { aw.Close() })
		o.DB, o.Audit = other, aw
	}
	h, err := New(o)
	if err != nil {
		p.t.Fatal(err)
	}
	e, err := h.Echo()
	if err != nil {
		p.t.Fatal(err)
	}
	srv := httptest.NewServer(e)
	p.t.Cleanup(srv.Close)
	return &testPortal{t: p.t, db: p.db, clock: p.clock, srv: srv, h: h, logs: p.logs, opts: o}
}

// badToken is a well-formed token no link has.
func badToken(i int) string { return strings.Repeat("b", 42) + fmt.Sprint(i%10) }

// TestLimitsSharedAcrossReplicas: two replicas on one database give an
// address one budget for each limit, not one each; it starts over when
// its window ends.
func TestLimitsSharedAcrossReplicas(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		q := p.replica()
		both := []*testPortal{p, q}
		_, consent := p.grantedRequest()
		c := p.client()

		// Views of a valid link: every one shown, the budget's worth recorded.
		shown := p.count("audit_events", "action = ?", models.ActionConsentShown)
		views := 3 * linkViewLimit.Max
		for i := range views {
			if res, _ := both[i%2].get(c, "/consent/"+consent); res.StatusCode != http.StatusOK {
				t.Fatalf("view %d on replica %d = %d, want 200", i, i%2, res.StatusCode)
			}
		}
		if n := p.count("audit_events", "action = ?", models.ActionConsentShown) - shown; n != int64(linkViewLimit.Max-1) {
			// grantedRequest's own view spent one.
			t.Errorf("consent.shown recorded by %d views on two replicas = %d, want %d", views, n, linkViewLimit.Max-1)
		}

		// Failures on the links: split across the replicas, then refused on both.
		for i := range linkFailureLimit.Max {
			if res, _ := both[i%2].get(c, "/consent/"+badToken(i)); res.StatusCode != http.StatusNotFound {
				t.Fatalf("bad token %d on replica %d = %d, want 404", i, i%2, res.StatusCode)
			}
		}
		for i, r := range both {
			for _, path := range []string{"/consent/" + badToken(0), "/consent/" + consent, "/deletion/" + badToken(1), "/emergency/" + badToken(2)} {
				if res, _ := r.get(c, path); res.StatusCode != http.StatusTooManyRequests {
					t.Errorf("GET %s on replica %d after %d failures = %d, want 429", path, i, linkFailureLimit.Max, res.StatusCode)
				}
			}
		}

		// Refused sign-ins: split across the replicas, then refused on
		// both, with one event saying the address used up its allowance.
		before := p.count("audit_events", "")
		for i := range loginFailureLimit.Max {
			if res, _ := both[i%2].get(c, "/auth/callback"); res.StatusCode != http.StatusForbidden {
				t.Fatalf("callback %d on replica %d = %d, want 403", i, i%2, res.StatusCode)
			}
		}
		for i, r := range both {
			if res, _ := r.get(c, "/auth/callback"); res.StatusCode != http.StatusTooManyRequests {
				t.Errorf("callback on replica %d after %d refusals = %d, want 429", i, loginFailureLimit.Max, res.StatusCode)
			}
			if got := r.loginMetric("rate_limited"); got != 1 {
				t.Errorf("replica %d's rate_limited sign-ins = %v, want 1", i, got)
			}
		}
		if n := p.count("audit_events", "") - before; n != 1 {
			t.Errorf("events appended by %d refused sign-ins = %d, want 1", loginFailureLimit.Max+2, n)
		}
		if n := p.count("audit_events", "action = ? AND detail LIKE ?", models.ActionLoginRefused, fmt.Sprintf(`%%"failures":%d%%`, loginFailureLimit.Max)); n != 1 {
			t.Errorf("events saying the address used up its sign-ins = %d, want 1", n)
		}

		// Another address's windows, which end unused.
		for _, l := range []models.Limit{linkFailureLimit, loginFailureLimit, linkViewLimit} {
			if _, err := models.TakeLimit(context.Background(), db.Write, p.clock.Now(), l, "192.0.2.9"); err != nil {
				t.Fatal(err)
			}
		}

		// A new window, on either replica.
		p.clock.Advance(linkFailureLimit.Window)
		if res, _ := q.get(c, "/consent/"+badToken(3)); res.StatusCode != http.StatusNotFound {
			t.Errorf("bad token once the window ended = %d, want 404", res.StatusCode)
		}
		if res, _ := p.get(c, "/consent/"+consent); res.StatusCode != http.StatusOK {
			t.Errorf("valid link once the window ended = %d, want 200", res.StatusCode)
		}
		if res, _ := q.get(c, "/auth/callback"); res.StatusCode != http.StatusForbidden {
			t.Errorf("callback once the window ended = %d, want 403", res.StatusCode)
		}
		// Each limit's ended windows were deleted as its new one began.
		if n := p.count("rate_limits", "client = ?", "192.0.2.9"); n != 0 {
			t.Errorf("rate_limits rows of ended windows = %d, want 0", n)
		}
	})
}

// TestLimitsConcurrentFailures: 60 bad tokens sent at once to two
// replicas get exactly the budget's worth of 404s, however the requests
// interleave.
func TestLimitsConcurrentFailures(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		both := []*testPortal{p, p.replica()}
		// Up to 16 takes at once, and no more connections than a shared
		// test server has to spare (a refused connection is a 503).
		for _, r := range both {
			sqlDB, err := r.opts.DB.Write.DB()
			if err != nil {
				t.Fatal(err)
			}
			if r.opts.DB.Dialect == models.Postgres {
				sqlDB.SetMaxOpenConns(8)
			}
		}
		var (
			wg       sync.WaitGroup
			mu       sync.Mutex
			statuses = map[int]int{}
		)
		const sent = 60
		for i := range sent {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := both[i%2]
				req, _ := http.NewRequest(http.MethodGet, r.srv.URL+"/consent/"+badToken(i), nil)
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				res.Body.Close()
				mu.Lock()
				statuses[res.StatusCode]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		if statuses[http.StatusNotFound] != linkFailureLimit.Max || statuses[http.StatusTooManyRequests] != sent-linkFailureLimit.Max {
			t.Errorf("statuses = %v, want %d × 404 and the rest 429; logs:\n%s", statuses, linkFailureLimit.Max, p.logs)
		}
	})
}

// TestLimitsFailClosed: while the counts cannot be read or written, every
// limited page answers 503 and shows, decides and records nothing; once
// they can, it serves again.
func TestLimitsFailClosed(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		sam, sean := p.login("sam.support@example.com"), p.login("sean.senior@example.com")
		id := p.openRequest(sam, requestForm("acme", "sara.senior@example.com"))
		if res, body := p.post(noRedirect(sean), fmt.Sprintf("/requests/%d/approve", id), url.Values{"note": {"Ticket checked."}}); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("approve = %d:\n%s", res.StatusCode, body)
		}
		token := p.consentToken("owner@acme.example")
		c := noRedirect(p.client())
		_, page := p.get(c, "/consent/"+token)
		grant := url.Values{"decision": {"grant"}, "shown": {shownHash(t, page)}}

		if err := db.Write.Exec("ALTER TABLE rate_limits RENAME TO rate_limits_gone").Error; err != nil {
			t.Fatal(err)
		}
		events := p.count("audit_events", "")
		for _, tc := range []struct {
			method, path string
			form         url.Values
		}{
			{http.MethodGet, "/consent/" + token, nil},
			{http.MethodGet, "/consent/" + badToken(0), nil},
			{http.MethodPost, "/consent/" + token, grant},
			{http.MethodGet, "/deletion/" + badToken(1), nil},
			{http.MethodPost, "/deletion/" + badToken(1), url.Values{"decision": {"confirm"}}},
			{http.MethodGet, "/emergency/" + badToken(2), nil},
			{http.MethodPost, "/emergency/" + badToken(2), url.Values{"note": {"Not needed."}}},
			{http.MethodGet, "/auth/callback", nil},
			{http.MethodGet, "/auth/callback?state=" + badToken(3) + "&error=access_denied", nil},
		} {
			res, body := p.do(c, tc.method, tc.path, tc.form, nil)
			if res.StatusCode != http.StatusServiceUnavailable {
				t.Errorf("%s %s without its counts = %d, want 503", tc.method, tc.path, res.StatusCode)
			}
			if strings.Contains(body, "invoice export") {
				t.Errorf("%s %s without its counts showed the request", tc.method, tc.path)
			}
		}
		if n := p.count("audit_events", "") - events; n != 0 {
			t.Errorf("events appended without counts = %d, want 0", n)
		}
		if got := p.requestStatus(id); got != models.RequestApproved {
			t.Errorf("request after a grant without counts = %s, want %s", got, models.RequestApproved)
		}

		if err := db.Write.Exec("ALTER TABLE rate_limits_gone RENAME TO rate_limits").Error; err != nil {
			t.Fatal(err)
		}
		if res, body := p.post(c, "/consent/"+token, grant); res.StatusCode != http.StatusSeeOther {
			t.Errorf("grant once the counts are back = %d:\n%s", res.StatusCode, body)
		}
		if got := p.requestStatus(id); got != models.RequestGranted {
			t.Errorf("request after the grant = %s, want %s", got, models.RequestGranted)
		}
	})
}

// TestLoginStartsLimited: an address may start only so many sign-ins in a
// window, on any replica; past it POST /login is 429 and stores no login
// flow, so nobody can fill that table from one address.
func TestLoginStartsLimited(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		both := []*testPortal{p, p.replica()}
		c := noRedirect(p.client())
		for i := range loginStartLimit.Max {
			if res, _ := both[i%2].post(c, "/login", url.Values{}); res.StatusCode != http.StatusSeeOther {
				t.Fatalf("sign-in start %d = %d, want 303 to the provider", i, res.StatusCode)
			}
		}
		flows := p.count("login_flows", "")
		if flows != int64(loginStartLimit.Max) {
			t.Errorf("login flows after %d starts = %d", loginStartLimit.Max, flows)
		}
		for i, r := range both {
			if res, _ := r.post(c, "/login", url.Values{}); res.StatusCode != http.StatusTooManyRequests {
				t.Errorf("sign-in start on replica %d past the budget = %d, want 429", i, res.StatusCode)
			}
			if res, _ := r.post(c, "/dev/login", url.Values{"email": {"sam.support@example.com"}}); res.StatusCode != http.StatusTooManyRequests {
				t.Errorf("demo sign-in on replica %d past the budget = %d, want 429", i, res.StatusCode)
			}
		}
		if n := p.count("login_flows", ""); n != flows {
			t.Errorf("login flows stored by refused starts = %d, want 0", n-flows)
		}
		p.clock.Advance(loginStartLimit.Window)
		if res, _ := p.post(c, "/login", url.Values{}); res.StatusCode != http.StatusSeeOther {
			t.Errorf("sign-in start once the window ended = %d, want 303", res.StatusCode)
		}
	})
}
