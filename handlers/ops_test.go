package handlers

import (
	"context"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"gatehouse/models"
	"gatehouse/models/dbtest"
	"gatehouse/static"

	"gorm.io/gorm"
)

func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	p := newPortal(t, dbtest.SQLite(t))
	c := p.login("ada.sysadmin@example.com")
	for _, path := range []string{"/", "/login", "/staff", "/no/such/page", "/healthz", static.Path("app.css"), "/static/app.000000000000.css"} {
		res, _ := p.get(noRedirect(c), path)
		h := res.Header
		csp := h.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "frame-ancestors 'none'", "form-action 'self'", "base-uri 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %q", path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "script-src") {
			t.Errorf("%s: CSP %q allows scripts", path, csp)
		}
		for k, want := range map[string]string{
			"X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin",
			"Cross-Origin-Opener-Policy": "same-origin", "X-Frame-Options": "DENY",
		} {
			if got := h.Get(k); got != want {
				t.Errorf("%s: %s = %q, want %q", path, k, got, want)
			}
		}
		if h.Get("Strict-Transport-Security") != "" {
			t.Errorf("%s: HSTS sent over plain http", path)
		}
		if len(h.Get("X-Request-Id")) < 16 {
			t.Errorf("%s: X-Request-Id = %q", path, h.Get("X-Request-Id"))
		}
	}
}

func TestStaticAssetsAreHashedAndCached(t *testing.T) {
	p := newPortal(t, dbtest.SQLite(t))
	c := p.client()
	path := static.Path("app.css")
	if !regexp.MustCompile(`^/static/app\.[0-9a-f]{12}\.css$`).MatchString(path) {
		t.Fatalf("static.Path(app.css) = %q", path)
	}
	res, body := p.get(c, path)
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/css") || len(body) < 100 {
		t.Fatalf("GET %s: %d %q, %d bytes", path, res.StatusCode, res.Header.Get("Content-Type"), len(body))
	}
	if got := res.Header.Get("Cache-Control"); got != "public, max-age=31536000, immutable" {
		t.Errorf("Cache-Control = %q", got)
	}
	for _, bad := range []string{"/static/app.css", "/static/app.000000000000.css", "/static/..%2fgo.mod"} {
		if res, _ := p.get(c, bad); res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", bad, res.StatusCode)
		}
	}
	_, page := p.get(c, "/login")
	if !strings.Contains(page, `href="`+path+`"`) {
		t.Error("login page does not link the hashed stylesheet")
	}
}

func TestHealthReadinessAndMetrics(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		c := p.login("sam.support@example.com")
		p.get(c, "/staff") // a 403, counted by route pattern
		for path, want := range map[string]string{"/healthz": "ok\n", "/readyz": "ready\n"} {
			if res, body := p.get(c, path); res.StatusCode != http.StatusOK || body != want {
				t.Errorf("GET %s = %d %q", path, res.StatusCode, body)
			}
		}
		_, m := p.get(p.client(), "/metrics")
		for _, want := range []string{
			`gatehouse_logins_total{outcome="succeeded"} 1`,
			`gatehouse_http_requests_total{code="Forbidden",method="GET",route="/staff"} 1`,
			`gatehouse_http_request_duration_seconds_bucket{method="POST",route="/dev/login"`,
		} {
			if !strings.Contains(m, want) {
				t.Errorf("metrics lack %s", want)
			}
		}
		sqlDB, _ := db.Write.DB()
		sqlDB.Close()
		if res, _ := p.get(p.client(), "/readyz"); res.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("/readyz with the database closed = %d, want 503", res.StatusCode)
		}
	})
}

func TestMetricsToken(t *testing.T) {
	p := newPortal(t, dbtest.SQLite(t), func(o *Options) { o.MetricsToken = "s3cret-metrics-token" })
	c := p.client()
	if res, _ := p.get(c, "/metrics"); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("/metrics without token = %d, want 401", res.StatusCode)
	}
	res, body := p.do(c, http.MethodGet, "/metrics", nil, http.Header{"Authorization": {"Bearer s3cret-metrics-token"}})
	if res.StatusCode != http.StatusOK || !strings.Contains(body, "gatehouse_http_requests_total") {
		t.Errorf("/metrics with token = %d", res.StatusCode)
	}
}

// /readyz answers 503 when the product database is unreachable though
// the portal's own one answers: without the registry no customer data can
// be read.
func TestReadyzChecksProductDatabase(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		var product *gorm.DB
		p := newPortal(t, db, func(o *Options) {
			// On PostgreSQL the harness's product database is the portal's
			// pool; a pool of its own can be closed alone.
			if db.Dialect == models.Postgres {
				other, err := models.Open(context.Background(), dbtest.URL(db))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { other.Close() })
				o.Product = other.Read
			}
			product = o.Product
		})
		c := p.client()
		if res, body := p.get(c, "/readyz"); res.StatusCode != http.StatusOK || body != "ready\n" {
			t.Fatalf("/readyz = %d %q, want 200 \"ready\\n\"", res.StatusCode, body)
		}
		sqlDB, err := product.DB()
		if err != nil {
			t.Fatal(err)
		}
		sqlDB.Close()
		if res, body := p.get(c, "/readyz"); res.StatusCode != http.StatusServiceUnavailable || body != "product database unreachable\n" {
			t.Errorf("/readyz with the product database closed = %d %q, want 503 \"product database unreachable\\n\"", res.StatusCode, body)
		}
		if err := p.opts.DB.Ping(context.Background()); err != nil {
			t.Errorf("the portal's database is closed too (%v): the test must close the product database alone", err)
		}
	})
}

// With MetricsElsewhere the portal's router does not serve /metrics;
// MetricsHandler does, and asks for the token when one is set.
func TestMetricsElsewhere(t *testing.T) {
	p := newPortal(t, dbtest.SQLite(t), func(o *Options) { o.MetricsElsewhere = true })
	if res, _ := p.get(p.client(), "/metrics"); res.StatusCode != http.StatusNotFound {
		t.Errorf("/metrics on the portal's router = %d, want 404", res.StatusCode)
	}
	rec := httptest.NewRecorder()
	p.h.MetricsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "gatehouse_http_requests_total") {
		t.Errorf("MetricsHandler /metrics = %d, want 200 with gatehouse_http_requests_total", rec.Code)
	}
	for _, path := range []string{"/readyz", "/", "/login"} {
		rec := httptest.NewRecorder()
		p.h.MetricsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusNotFound {
			t.Errorf("MetricsHandler %s = %d, want 404: it serves /metrics alone", path, rec.Code)
		}
	}

	p = newPortal(t, dbtest.SQLite(t), func(o *Options) { o.MetricsElsewhere, o.MetricsToken = true, "s3cret-metrics-token" })
	rec = httptest.NewRecorder()
	p.h.MetricsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("MetricsHandler /metrics without the set token = %d, want 401", rec.Code)
	}
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.Header.Set("Authorization", "Bearer s3cret-metrics-token")
	rec = httptest.NewRecorder()
	p.h.MetricsHandler().ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Errorf("MetricsHandler /metrics with the token = %d, want 200", rec.Code)
	}
}

func TestErrorPagesShowNoInternals(t *testing.T) {
	p := newPortal(t, dbtest.SQLite(t))
	c := p.login("ada.sysadmin@example.com")
	res, body := p.get(c, "/no/such/page")
	if res.StatusCode != http.StatusNotFound || !strings.Contains(body, `data-testid="error"`) || !strings.Contains(body, "Not found") {
		t.Errorf("404 page: %d\n%s", res.StatusCode, body)
	}
	if res, _ := p.get(c, "/staff/abc"); res.StatusCode != http.StatusNotFound {
		t.Errorf("/staff/abc = %d, want 404", res.StatusCode)
	}
	if res, _ := p.get(c, "/staff/999999"); res.StatusCode != http.StatusNotFound {
		t.Errorf("/staff/999999 = %d, want 404", res.StatusCode)
	}
	// Break the database under a signed-in request: a 500 page without detail.
	p.db.Write.Exec("DROP TABLE login_flows")
	res, body = p.post(c, "/login", nil)
	if res.StatusCode != http.StatusInternalServerError {
		t.Fatalf("POST /login with a broken database = %d, want 500", res.StatusCode)
	}
	for _, leak := range []string{"login_flows", "sql", "SQL", "no such table"} {
		if strings.Contains(body, leak) {
			t.Errorf("500 page shows %q", leak)
		}
	}
	if !strings.Contains(p.logs.String(), "no such table") {
		t.Error("the error detail did not reach the log")
	}
}
