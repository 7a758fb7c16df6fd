package handlers

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/devidp"
	"gatehouse/models"
	"gatehouse/models/dbtest"
	"gatehouse/models/demo"
	"gatehouse/policy"

	"github.com/prometheus/client_golang/prometheus"
)

// fakeClock is the portal's injected clock in tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// syncBuffer collects the portal's log lines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testPortal is the whole portal on a loopback server: real router, real
// database, the development identity provider, demo staff and workspaces.
type testPortal struct {
	t     testing.TB
	db    *models.DB
	clock *fakeClock
	srv   *httptest.Server
	h     *Handler
	logs  *syncBuffer
	opts  Options
}

// devUsers are the identities the test identity provider knows: the demo
// staff, plus accounts for negative tests.
// demoStaff is the demo staff as the sign-in page of --dev offers them.
func demoStaff() []DemoStaff {
	var out []DemoStaff
	for _, m := range demo.Staff {
		out = append(out, DemoStaff{Email: m.Email, Name: m.Name, Tier: m.Tier, Status: m.Status, NoAgreement: m.NoAgreement})
	}
	return out
}

func devUsers() []devidp.User {
	var users []devidp.User
	for _, m := range demo.Staff {
		local, _, _ := strings.Cut(m.Email, "@")
		users = append(users, devidp.User{Subject: "dev-" + local, Email: m.Email, EmailVerified: true, Name: m.Name, HostedDomain: demo.Domain})
	}
	return append(users,
		devidp.User{Subject: "unverified", Email: "una.unverified@example.com", Name: "Una Unverified", HostedDomain: demo.Domain},
		devidp.User{Subject: "foreign", Email: "foreign.hd@example.com", EmailVerified: true, Name: "Foreign Domain", HostedDomain: "evil.example"},
		devidp.User{Subject: "nohd", Email: "no.hd@example.com", EmailVerified: true, Name: "No Domain"},
		devidp.User{Subject: "stranger", Email: "stranger@example.com", EmailVerified: true, Name: "Stranger", HostedDomain: demo.Domain},
	)
}

// newPortal starts a portal on db. change, if given, may adjust the
// options before the handler is built.
func newPortal(t testing.TB, db *models.DB, change ...func(*Options)) *testPortal {
	t.Helper()
	return startPortal(t, db, harnessTenants, change...)
}

// harnessTenants are the workspaces whose data most tests need; seeding
// all of them for every portal would dominate the suite's run time.
var harnessTenants = []string{"acme", "globex", "initech"}

// newPortalAllTenants is newPortal with every demo workspace's data, for
// the tests that walk all of them.
func newPortalAllTenants(t testing.TB, db *models.DB, change ...func(*Options)) *testPortal {
	t.Helper()
	return startPortal(t, db, demo.WorkspaceSlugs(), change...)
}

func startPortal(t testing.TB, db *models.DB, slugs []string, change ...func(*Options)) *testPortal {
	t.Helper()
	ctx := context.Background()
	start := time.Now().UTC().Truncate(time.Second)
	if err := demo.SeedStaff(ctx, db, start); err != nil {
		t.Fatal(err)
	}
	product, tenants, tenantsDir := productStores(t, db, slugs, start)
	catalog, err := policy.LoadCatalog()
	if err != nil {
		t.Fatal(err)
	}
	aw := models.NewAuditWriter(db, 64)
	t.Cleanup(func() { aw.Close() })
	outbox, err := models.NewOutbox([]byte("test-session-key-of-at-least-32-bytes!"))
	if err != nil {
		t.Fatal(err)
	}
	enf, err := policy.New()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(nil)
	base, _ := url.Parse("http://" + srv.Listener.Addr().String())
	p := &testPortal{t: t, db: db, clock: &fakeClock{t: start}, srv: srv, logs: &syncBuffer{}}
	issuer := base.JoinPath("/dev/oidc").String()
	idp, err := devidp.New(devidp.Config{
		Issuer: issuer, ClientID: "gatehouse-test", ClientSecret: "test-secret",
		RedirectURIs: []string{base.JoinPath("/auth/callback").String()}, Users: devUsers(),
	})
	if err != nil {
		t.Fatal(err)
	}
	p.opts = Options{
		DB: db, Product: product.Read, ProductDB: product, TenantsDir: tenantsDir, Tenants: tenants, Catalog: catalog, Audit: aw, Outbox: outbox, Enforcer: enf, Detection: harnessRules(t), Logger: slog.New(slog.NewJSONHandler(p.logs, nil)),
		AccessCache: models.NewAccessCache(db.Read, models.MaxAccessCacheTTL, 4096, p.clock.Now),
		Now:         p.clock.Now, Metrics: prometheus.NewRegistry(), BaseURL: base,
		OIDC:           OIDC{Issuer: issuer, ClientID: "gatehouse-test", ClientSecret: "test-secret", HTTPClient: &http.Client{Timeout: 10 * time.Second}},
		AllowedDomains: []string{demo.Domain}, SessionKey: []byte("test-session-key-of-at-least-32-bytes!"),
		AgreementVersion: demo.AgreementVersion, Dev: true, DevIdP: idp, DemoStaff: demoStaff(),
		// The defaults production's configuration applies.
		Sessions:         models.DefaultSessionLimits(),
		StepUpWindow:     models.DefaultStepUpWindow,
		BreakglassWindow: models.DefaultBreakglassWindow,
		Requests:         models.DefaultRequestPolicy(demo.AgreementVersion),
		Retention:        models.DefaultRetentionPolicy(),
		Company:          models.DefaultCompany,
	}
	for _, c := range change {
		c(&p.opts)
	}
	p.h, err = New(p.opts)
	if err != nil {
		t.Fatal(err)
	}
	e, err := p.h.Echo()
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = e
	srv.Start()
	t.Cleanup(srv.Close)
	return p
}

// sweeper is the request sweeper cmd/gatehouse runs, on the portal's
// clock and with its letters.
func (p *testPortal) sweeper() *models.Sweeper {
	return &models.Sweeper{
		DB: p.db.Write, Product: p.opts.Product, Post: models.Post{Outbox: p.opts.Outbox, Letters: p.h.letters}, Now: p.clock.Now,
	}
}

// productStores makes the product database (registry and demo tenant
// data) on the same engine as the portal's: PostgreSQL schemas next to a
// PostgreSQL portal, SQLite files next to a SQLite one.
func productStores(t testing.TB, db *models.DB, slugs []string, now time.Time) (*models.DB, *models.TenantReader, string) {
	t.Helper()
	ctx := context.Background()
	dialect := db.Dialect
	// On PostgreSQL the registry and the workspace schemas share the
	// portal's test database (a second CREATE DATABASE per test costs a
	// checkpoint); production keeps them apart, through the same code.
	url := filepath.Join(t.TempDir(), "product.db")
	product := db
	if dialect == models.Postgres {
		url = dbtest.URL(db)
	} else {
		var err error
		if product, err = models.Open(ctx, url); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { product.Close() })
	}
	if err := demo.SeedProduct(ctx, product.Write, now); err != nil {
		t.Fatal(err)
	}
	cfg := models.TenantStorage{Dialect: dialect, PostgresURL: url}
	target := demo.TenantTarget{Postgres: product.Write}
	if dialect == models.SQLite {
		cfg = models.TenantStorage{Dialect: dialect, SQLiteDir: filepath.Join(filepath.Dir(url), "tenants")}
		target = demo.TenantTarget{SQLiteDir: cfg.SQLiteDir}
		if err := os.MkdirAll(cfg.SQLiteDir, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := demo.SeedTenants(ctx, target, slugs, now); err != nil {
		t.Fatal(err)
	}
	tenants, err := models.OpenTenantReader(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tenants.Close() })
	return product, tenants, cfg.SQLiteDir
}

// client is a browser without a session: a cookie jar, following redirects.
func (p *testPortal) client() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 20 * time.Second}
}

// login signs a new browser in as a demo staff member through the real
// OIDC round trip and checks it lands on the dashboard.
func (p *testPortal) login(email string) *http.Client {
	p.t.Helper()
	c := p.client()
	res, body := p.post(c, "/dev/login", url.Values{"email": {email}})
	if res.StatusCode != http.StatusOK || res.Request.URL.Path != "/" {
		p.t.Fatalf("login as %s ended at %s with %d:\n%s", email, res.Request.URL, res.StatusCode, body)
	}
	return c
}

func (p *testPortal) get(c *http.Client, path string) (*http.Response, string) {
	p.t.Helper()
	return p.do(c, http.MethodGet, path, nil, nil)
}

func (p *testPortal) post(c *http.Client, path string, form url.Values) (*http.Response, string) {
	p.t.Helper()
	return p.do(c, http.MethodPost, path, form, nil)
}

// do sends a request; header may add headers (e.g. Origin).
func (p *testPortal) do(c *http.Client, method, path string, form url.Values, header http.Header) (*http.Response, string) {
	p.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, p.srv.URL+path, body)
	if err != nil {
		p.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := c.Do(req)
	if err != nil {
		p.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

// noRedirect returns a copy of c that stops at the first response.
func noRedirect(c *http.Client) *http.Client {
	cc := *c
	cc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &cc
}

// count counts rows of a table.
func (p *testPortal) count(table string, where string, args ...any) int64 {
	p.t.Helper()
	var n int64
	q := p.db.Read.Table(table)
	if where != "" {
		q = q.Where(where, args...)
	}
	if err := q.Count(&n).Error; err != nil {
		p.t.Fatal(err)
	}
	return n
}

// harnessRules are the detection rules of policy/detection.toml.
func harnessRules(t testing.TB) []policy.Rule {
	t.Helper()
	rules, err := policy.LoadDetection()
	if err != nil {
		t.Fatal(err)
	}
	return rules
}
