package handlers

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/dbtest"
	"gatehouse/models/demo"
)

// TestDatabaseOutage stops a real PostgreSQL server in immediate mode
// under a signed-in senior with a live grant (its connections cut, as in
// a crash): while it is down every data page answers 503 with no tenant
// data and /readyz fails; once it is started again the portal serves
// again, without a restart, within 10 seconds; every data page served
// has its data.viewed row. Once for the portal's database, once for the
// product database (registry and tenant schemas), once for both on the
// one server. The server is the test's own (initdb, pg_ctl), never the
// shared one.
func TestDatabaseOutage(t *testing.T) {
	cl := dbtest.NewCluster(t)
	for i, tc := range []struct {
		name            string
		portal, product bool // which database lives on the server that stops
	}{
		{"portal database", true, false},
		{"product database", false, true},
		{"both", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var db *models.DB
			if tc.portal {
				db = cl.Database(t, fmt.Sprintf("portal_%d", i))
			} else {
				db = dbtest.Postgres(t)
			}
			var change []func(*Options)
			if tc.product != tc.portal {
				// The product database on the other server: the
				// registry and the tenant schemas.
				pdb := dbtest.Postgres(t)
				if tc.product {
					pdb = cl.Database(t, fmt.Sprintf("product_%d", i))
				}
				product, tenants, _ := productStores(t, pdb, harnessTenants, time.Now().UTC().Truncate(time.Second))
				change = append(change, func(o *Options) { o.Product, o.ProductDB, o.Tenants = product.Read, product, tenants })
			}
			p := newPortal(t, db, change...)
			c := p.login(sara)
			p.grant(sara, "acme", models.GrantScope{}, true, time.Hour)
			canary := demo.Canary("acme")
			pages := []string{"/workspaces/acme/data/documents", "/workspaces/acme/data/documents/1"}
			served := 0
			for _, page := range pages {
				res, body := p.get(c, page)
				if res.StatusCode != http.StatusOK || !strings.Contains(body, canary) {
					t.Fatalf("GET %s before the outage: %d, canary shown %t", page, res.StatusCode, strings.Contains(body, canary))
				}
				served++
			}
			wantReady(t, p, http.StatusOK)

			cl.Stop()
			for range 5 {
				for _, page := range pages {
					res, body := p.get(c, page)
					if res.StatusCode != http.StatusServiceUnavailable || strings.Contains(body, canary) || res.Header.Get("Cache-Control") != "no-store" {
						t.Errorf("GET %s while the database is down: %d, canary shown %t, Cache-Control %q; want 503, no data, no-store",
							page, res.StatusCode, strings.Contains(body, canary), res.Header.Get("Cache-Control"))
					}
				}
				wantReady(t, p, http.StatusServiceUnavailable)
			}

			cl.Start()
			back := time.Now()
			for {
				res, body := p.get(c, pages[0])
				if res.StatusCode == http.StatusOK {
					if !strings.Contains(body, canary) {
						t.Fatal("served without the data")
					}
					served++
					break
				}
				if res.StatusCode != http.StatusServiceUnavailable || strings.Contains(body, canary) {
					t.Fatalf("GET %s after the database's return: %d, canary shown %t", pages[0], res.StatusCode, strings.Contains(body, canary))
				}
				if time.Since(back) > 10*time.Second {
					t.Fatalf("still %d 10 s after the database came back", res.StatusCode)
				}
				time.Sleep(50 * time.Millisecond)
			}
			t.Logf("serving again %v after the server accepted connections", time.Since(back).Round(time.Millisecond))
			// No connection broken by the outage is left to fail later.
			for range 40 {
				for _, page := range pages {
					if res, _ := p.get(c, page); res.StatusCode != http.StatusOK {
						t.Fatalf("GET %s after recovery: %d", page, res.StatusCode)
					}
					served++
				}
			}
			wantReady(t, p, http.StatusOK)
			if n := p.count("audit_events", "action = ?", models.ActionDataViewed); n != int64(served) {
				t.Errorf("%d data.viewed events for %d pages served", n, served)
			}
			if res, err := models.VerifyAudit(context.Background(), db); err != nil || !res.OK {
				t.Errorf("audit chain after the outage: %+v, %v", res, err)
			}
		})
	}
}

// wantReady checks /readyz's status.
func wantReady(t *testing.T, p *testPortal, want int) {
	t.Helper()
	if res, body := p.get(p.client(), "/readyz"); res.StatusCode != want {
		t.Errorf("/readyz: %d %q, want %d", res.StatusCode, body, want)
	}
}
