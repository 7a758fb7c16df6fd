package handlers

import (
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/dbtest"
	"gatehouse/models/demo"
)

// listedSlugs returns, in page order, the slugs of the rows whose
// data-testid is prefix followed by a slug.
func listedSlugs(body, prefix string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`data-testid="`+regexp.QuoteMeta(prefix)+`([a-z0-9-]+)"`).FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

func listedWorkspaces(body string) []string { return listedSlugs(body, "workspace-") }

func TestWorkspaceSearch(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		c := p.login("sam.support@example.com")
		all := slices.Sorted(slices.Values(demo.WorkspaceSlugs()))
		for _, tc := range []struct {
			query string
			want  []string
		}{
			{"", all[:min(len(all), workspacePageSize)]},
			{"acme", []string{"acme"}},
			{"ACME corp", []string{"acme"}},
			{"gavin@hooli", []string{"hooli"}},
			{"piedpiper.example", []string{"pied-piper"}},
			{"black-m", []string{"black-mesa"}},
			{"DYN", []string{"cyberdyne", "massive"}},
			{"pepper", []string{"stark"}},
			{"%%%", nil},
			{"a_m", nil},
			{`o"w`, nil},
			{"nothing-like-this", nil},
		} {
			res, body := p.get(c, "/workspaces?sort=slug&q="+url.QueryEscape(tc.query))
			if res.StatusCode != http.StatusOK {
				t.Fatalf("search %q: got %d", tc.query, res.StatusCode)
			}
			if got := listedWorkspaces(body); !slices.Equal(got, tc.want) {
				t.Errorf("search %q lists %v, want %v", tc.query, got, tc.want)
			}
			if l := leaks(body, ""); len(l) > 0 || strings.Contains(body, demo.Canary("acme")) {
				t.Errorf("search %q shows tenant data: %v", tc.query, l)
			}
		}
		// Shorter than 3 characters: refused, nothing listed.
		for _, q := range []string{"%", "_", "ac", "é"} {
			res, body := p.get(c, "/workspaces?q="+url.QueryEscape(q))
			if res.StatusCode != http.StatusBadRequest || !strings.Contains(body, "Search for at least 3 characters") || len(listedWorkspaces(body)) != 0 ||
				strings.Contains(body, `data-testid="workspaces-empty"`) {
				t.Errorf("search %q = %d listing %v, want 400 with the message and not \"No workspaces match\"", q, res.StatusCode, listedWorkspaces(body))
			}
		}
		// 24 demo workspaces fit one page: no link to another.
		if _, body := p.get(c, "/workspaces"); strings.Contains(body, `rel="next"`) {
			t.Errorf("one page of workspaces links to a next page")
		}
	})
}

func TestWorkspacePage(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		sam := p.login("sam.support@example.com")
		res, body := p.get(sam, "/workspaces/acme")
		if res.StatusCode != http.StatusOK {
			t.Fatalf("acme as support: got %d", res.StatusCode)
		}
		for _, want := range []string{"Acme Corporation", "business", "owner@acme.example", "admin@acme.example", `data-testid="grants-empty"`} {
			if !strings.Contains(body, want) {
				t.Errorf("acme page lacks %q", want)
			}
		}
		if strings.Contains(body, `data-testid="data-links"`) || len(leaks(body, "")) > 0 || strings.Contains(body, demo.Canary("acme")) {
			t.Error("acme page offers or shows data to support")
		}
		if res, _ := p.get(sam, "/workspaces/no-such-thing"); res.StatusCode != http.StatusNotFound {
			t.Errorf("unknown workspace: got %d, want 404", res.StatusCode)
		}

		ended := p.grant(sara, "acme", models.GrantScope{}, true, time.Hour)
		p.endGrant(ended)
		live := p.grant(sara, "acme", models.GrantScope{Tables: map[string][]int64{"documents": nil, "members": {3}}}, false, 20*time.Minute)
		c := p.login(sara)
		_, body = p.get(c, "/workspaces/acme")
		links := regexp.MustCompile(`href="(/workspaces/acme/data/[a-z_]+)"`).FindAllStringSubmatch(body, -1)
		var got []string
		for _, l := range links {
			got = append(got, l[1])
		}
		if want := []string{"/workspaces/acme/data/members", "/workspaces/acme/data/documents"}; !slices.Equal(got, want) {
			t.Errorf("data links under a members+documents grant: %v, want %v", got, want)
		}
		for _, want := range []string{
			`data-testid="grant-` + itoa(live.ID) + `"`, `data-testid="grant-` + itoa(ended.ID) + `"`,
			"documents; members (3)", "whole workspace", "test over", ">live<", ">ended<", sara,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("acme page under a grant lacks %q", want)
			}
		}
		if strings.Contains(body, demo.Canary("acme")) {
			t.Error("the workspace page shows tenant data")
		}
		if _, body := p.get(c, "/workspaces/globex"); strings.Contains(body, `data-testid="data-links"`) {
			t.Error("globex page offers data without a grant on globex")
		}
		p.clock.Advance(20 * time.Minute) // within the session idle timeout
		if _, body := p.get(c, "/workspaces/acme"); strings.Contains(body, `data-testid="data-links"`) || !strings.Contains(body, ">expired<") {
			t.Error("acme page still offers data, or does not say expired, after the grant expired")
		}
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
