package handlers

import (
	"context"
	"fmt"
	"html"
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

	"github.com/PuerkitoBio/goquery"
)

func parseList(t *testing.T, body string) *goquery.Document {
	t.Helper()
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// listText is the text of the element with data-testid id.
func listText(doc *goquery.Document, id string) string {
	return strings.Join(strings.Fields(doc.Find(`[data-testid="`+id+`"]`).Text()), " ")
}

// listHref is the href of the element with data-testid id; "" when none.
func listHref(doc *goquery.Document, id string) string {
	h, _ := doc.Find(`[data-testid="` + id + `"]`).Attr("href")
	return h
}

// listedIDs are the ids of the rows whose data-testid starts with prefix,
// in page order.
func listedIDs(body, prefix string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`data-testid="`+regexp.QuoteMeta(prefix)+`([a-z0-9-]+)"`).FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

// addRequest inserts an access request as the list reads it.
func (p *testPortal) addRequest(workspace, ticket string, status models.RequestStatus) int64 {
	p.t.Helper()
	now := p.clock.Now()
	r := models.AccessRequest{
		Workspace: workspace, RequesterID: p.idOf("sam.support@example.com"), GranteeID: p.idOf(sara),
		Reason: "The customer asked us to look at a failed import.", Ticket: ticket, Mode: models.ModeMasked,
		DurationSeconds: 7200, Status: status, CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour), UpdatedAt: now,
	}
	if err := p.db.Write.Create(&r).Error; err != nil {
		p.t.Fatal(err)
	}
	return r.ID
}

func TestRequestListFilters(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		c := p.login(sara)
		type req struct {
			ws, ticket string
			status     models.RequestStatus
		}
		ids := map[string][]string{}
		for i := range 12 {
			r := req{[]string{"acme", "globex", "initech"}[i%3], "SUP-" + strconv.Itoa(i%4), []models.RequestStatus{models.RequestPending, models.RequestDenied}[i%2]}
			id := strconv.FormatInt(p.addRequest(r.ws, r.ticket, r.status), 10)
			ids["status="+string(r.status)] = append(ids["status="+string(r.status)], id)
			ids["workspace="+r.ws] = append(ids["workspace="+r.ws], id)
			ids["ticket="+r.ticket] = append(ids["ticket="+r.ticket], id)
			ids[""] = append(ids[""], id)
			if r.ws == "acme" && r.status == models.RequestPending {
				ids["status=pending&workspace=acme"] = append(ids["status=pending&workspace=acme"], id)
			}
		}
		for filter, want := range ids {
			res, body := p.get(c, "/requests?sort=created&dir=asc&"+filter)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("%s: got %d", filter, res.StatusCode)
			}
			if got := listedIDs(body, "request-row-"); !slices.Equal(got, want) {
				t.Errorf("%s lists %v, want %v", filter, got, want)
			}
			doc := parseList(t, body)
			noun := "requests"
			if len(want) == 1 {
				noun = "request"
			}
			if got := listText(doc, "list-count"); !strings.HasPrefix(got, fmt.Sprintf("%d %s", len(want), noun)) {
				t.Errorf("%s: count %q, want %d", filter, got, len(want))
			}
			if clear := listHref(doc, "clear-filters"); (clear == "/requests") != (filter != "") {
				t.Errorf("%s: clear-filters link %q", filter, clear)
			}
			// The sort links keep the filters.
			link := doc.Find(`[data-testid="sort-workspace"] a`).AttrOr("href", "")
			q, _ := url.Parse(link)
			fq, _ := url.ParseQuery(filter)
			for k, v := range fq {
				if q.Query().Get(k) != v[0] {
					t.Errorf("%s: sort link %q drops %s", filter, link, k)
				}
			}
		}
		// Sorted by status, then id: denied before pending.
		_, body := p.get(c, "/requests?sort=status&dir=asc")
		got := listedIDs(body, "request-row-")
		want := append(slices.Clone(ids["status=denied"]), ids["status=pending"]...)
		if !slices.Equal(got, want) {
			t.Errorf("by status lists %v, want %v", got, want)
		}
		// Newest first by default.
		_, body = p.get(c, "/requests")
		if got := listedIDs(body, "request-row-"); got[0] != ids[""][len(ids[""])-1] {
			t.Errorf("default order starts with %s, want the newest %s", got[0], ids[""][len(ids[""])-1])
		}
		before := p.count("access_requests", "1=1")
		for _, bad := range []string{
			"status=ended-or-not", "status='%20OR%201=1--", "sort=id%3BDROP%20TABLE%20staff", "sort=reason", "dir=sideways",
			"after=not-a-cursor", "before=" + models.Cursor{Value: "x", ID: "1"}.Encode(), "ticket=" + strings.Repeat("x", 101),
		} {
			res, body := p.get(c, "/requests?"+bad)
			if res.StatusCode != http.StatusBadRequest {
				t.Errorf("%s: got %d, want 400", bad, res.StatusCode)
			}
			if len(listedIDs(body, "request-row-")) != 0 || !strings.Contains(body, `role="alert"`) {
				t.Errorf("%s: lists rows or says nothing", bad)
			}
		}
		if after := p.count("access_requests", "1=1"); after != before {
			t.Errorf("bad parameters changed the requests: %d, then %d", before, after)
		}
	})
}

// TestRequestListPages walks the request list by its links, forward and
// back, while requests are added between page loads: no request is
// skipped or shown twice.
func TestRequestListPages(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		c := p.login(sara)
		for i := range 2*requestPageSize + 7 {
			p.addRequest([]string{"acme", "globex"}[i%2], "SUP-1", models.RequestPending)
		}
		for _, sort := range []string{"created", "workspace"} {
			existed := p.count("access_requests", "1=1")
			var existedBack int64
			path := "/requests?sort=" + sort
			var seen []string
			var doc *goquery.Document
			for pages := 0; path != ""; pages++ {
				if pages > 10 {
					t.Fatalf("%s: the pages do not end", sort)
				}
				res, body := p.get(c, path)
				if res.StatusCode != http.StatusOK {
					t.Fatalf("%s: got %d", path, res.StatusCode)
				}
				// The walk back starts from this last page as it was read.
				lastRead := p.count("access_requests", "1=1")
				p.addRequest([]string{"acme", "globex", "initech"}[pages%3], "SUP-2", models.RequestDenied)
				seen = append(seen, listedIDs(body, "request-row-")...)
				doc = parseList(t, body)
				if pages > 0 && listHref(doc, "page-first") == "" {
					t.Errorf("%s: page %d has no link to the first", sort, pages+1)
				}
				path = html.UnescapeString(listHref(doc, "page-next"))
				if path == "" {
					existedBack = lastRead
				}
			}
			if len(uniq(seen)) != len(seen) || missing(seen, existed) != nil {
				t.Errorf("%s forward: %d rows shown, %d distinct; missing %v", sort, len(seen), len(uniq(seen)), missing(seen, existed))
			}
			existed = existedBack
			var back []string
			doc.Find(`[data-testid^="request-row-"]`).Each(func(_ int, s *goquery.Selection) {
				back = append(back, strings.TrimPrefix(s.AttrOr("data-testid", ""), "request-row-"))
			})
			path = listHref(doc, "page-prev")
			for pages := 0; path != ""; pages++ {
				if pages > 10 {
					t.Fatalf("%s: the pages back do not end", sort)
				}
				_, body := p.get(c, path)
				p.addRequest("acme", "SUP-3", models.RequestDenied)
				back = append(listedIDs(body, "request-row-"), back...)
				path = html.UnescapeString(listHref(parseList(t, body), "page-prev"))
			}
			if len(uniq(back)) != len(back) || missing(back, existed) != nil {
				t.Errorf("%s backward: %d rows shown, %d distinct; missing %v", sort, len(back), len(uniq(back)), missing(back, existed))
			}
		}
	})
}

// missing are the requests of the first n (by id) not in shown.
func missing(shown []string, n int64) []string {
	var out []string
	for id := int64(1); id <= n; id++ {
		if !slices.Contains(shown, strconv.FormatInt(id, 10)) {
			out = append(out, strconv.FormatInt(id, 10))
		}
	}
	return out
}

func uniq(s []string) []string { return slices.Compact(slices.Sorted(slices.Values(s))) }

func TestWorkspaceListFilters(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		c := p.login("sam.support@example.com")
		ctx := context.Background()
		var ws []models.Workspace
		if err := p.opts.Product.Order("slug").Find(&ws).Error; err != nil {
			t.Fatal(err)
		}
		want := map[string][]string{}
		for _, w := range ws {
			st, err := models.WorkspaceRetention(ctx, db.Read, p.opts.Product, p.clock.Now(), p.opts.Retention, w.Slug)
			if err != nil {
				t.Fatal(err)
			}
			want[""] = append(want[""], w.Slug)
			want["plan="+w.Plan] = append(want["plan="+w.Plan], w.Slug)
			want["status="+w.Status] = append(want["status="+w.Status], w.Slug)
			want["retention="+string(st.State)] = append(want["retention="+string(st.State)], w.Slug)
		}
		if len(want) < 10 {
			t.Fatalf("the demo registry has too few kinds of workspace: %v", want)
		}
		for filter, slugs := range want {
			res, body := p.get(c, "/workspaces?sort=slug&dir=asc&"+filter)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("%s: got %d", filter, res.StatusCode)
			}
			if got := listedWorkspaces(body); !slices.Equal(got, slugs) {
				t.Errorf("%s lists %v, want %v", filter, got, slugs)
			}
			doc := parseList(t, body)
			noun := "workspaces"
			if len(slugs) == 1 {
				noun = "workspace"
			}
			if got := listText(doc, "list-count"); !strings.HasPrefix(got, fmt.Sprintf("%d %s", len(slugs), noun)) {
				t.Errorf("%s: count %q, want %d", filter, got, len(slugs))
			}
			if (listHref(doc, "clear-filters") == "/workspaces") != (filter != "") {
				t.Errorf("%s: clear-filters link %q", filter, listHref(doc, "clear-filters"))
			}
		}
		// Sorted by members, most first; ties by slug.
		_, body := p.get(c, "/workspaces?sort=members")
		bySize := slices.Clone(ws)
		slices.SortFunc(bySize, func(a, b models.Workspace) int {
			if a.MemberCount != b.MemberCount {
				return b.MemberCount - a.MemberCount
			}
			return strings.Compare(b.Slug, a.Slug)
		})
		var wantOrder []string
		for _, w := range bySize {
			wantOrder = append(wantOrder, w.Slug)
		}
		if got := listedWorkspaces(body); !slices.Equal(got, wantOrder) {
			t.Errorf("by members lists %v, want %v", got, wantOrder)
		}
		doc := parseList(t, body)
		if got := doc.Find(`[data-testid="sort-members"]`).AttrOr("aria-sort", ""); got != "descending" {
			t.Errorf("members header aria-sort = %q", got)
		}
		// Its link turns the order round, keeping the filters.
		_, body = p.get(c, "/workspaces?plan=free&sort=members")
		link := html.UnescapeString(parseList(t, body).Find(`[data-testid="sort-members"] a`).AttrOr("href", ""))
		if u, _ := url.Parse(link); u.Query().Get("dir") != "asc" || u.Query().Get("plan") != "free" {
			t.Errorf("members sort link = %q", link)
		}
		for _, bad := range []string{"plan=gold", "status=archived", "retention=forever", "sort=dsn", "sort=slug%20DESC", "dir=up", "after=%25%25"} {
			res, body := p.get(c, "/workspaces?"+bad)
			if res.StatusCode != http.StatusBadRequest {
				t.Errorf("%s: got %d, want 400", bad, res.StatusCode)
			}
			if len(listedWorkspaces(body)) != 0 || !strings.Contains(body, `role="alert"`) {
				t.Errorf("%s: lists workspaces or says nothing", bad)
			}
		}
	})
}

func TestStaffListFilters(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		c := p.login("ada.sysadmin@example.com")
		var all []models.Staff
		if err := db.Read.Order("name, id").Find(&all).Error; err != nil {
			t.Fatal(err)
		}
		want := map[string][]string{}
		for _, s := range all {
			id := strconv.FormatInt(s.ID, 10)
			want[""] = append(want[""], id)
			want["tier="+string(s.Tier)] = append(want["tier="+string(s.Tier)], id)
			want["status="+string(s.Status)] = append(want["status="+string(s.Status)], id)
		}
		if len(want["status=offboarded"]) == 0 || len(want["tier=senior"]) < 2 {
			t.Fatalf("demo staff lack an offboarded person or two seniors: %v", want)
		}
		for filter, ids := range want {
			res, body := p.get(c, "/staff?"+filter)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("%s: got %d", filter, res.StatusCode)
			}
			if got := listedIDs(body, "staff-row-"); !slices.Equal(got, ids) {
				t.Errorf("%s lists %v, want %v", filter, got, ids)
			}
			if got := listText(parseList(t, body), "list-count"); !strings.HasPrefix(got, strconv.Itoa(len(ids))+" staff member") {
				t.Errorf("%s: count %q, want %d", filter, got, len(ids))
			}
		}
		_, body := p.get(c, "/staff?sort=email&dir=desc")
		var emails []string
		parseList(t, body).Find(`[data-testid^="staff-row-"] td:nth-child(2)`).Each(func(_ int, s *goquery.Selection) { emails = append(emails, s.Text()) })
		if !slices.IsSortedFunc(emails, func(a, b string) int { return strings.Compare(b, a) }) || len(emails) != len(all) {
			t.Errorf("by email, descending: %v", emails)
		}
		for _, bad := range []string{"tier=root", "status=gone", "sort=password", "before=e30"} {
			res, body := p.get(c, "/staff?"+bad)
			if res.StatusCode != http.StatusBadRequest || len(listedIDs(body, "staff-row-")) != 0 {
				t.Errorf("%s: got %d with %d rows, want 400 and none", bad, res.StatusCode, len(listedIDs(body, "staff-row-")))
			}
		}
	})
}

// TestListCountCapped: past CountCap rows a list says "more than 5,000"
// rather than counting every row.
func TestListCountCapped(t *testing.T) {
	dbtest.EachFast(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		c := p.login(sara)
		now := p.clock.Now()
		rows := make([]models.AccessRequest, models.CountCap+1)
		for i := range rows {
			rows[i] = models.AccessRequest{
				Workspace: "acme", RequesterID: p.idOf("sam.support@example.com"), GranteeID: p.idOf(sara),
				Reason: "Bulk rows for the count.", Ticket: "SUP-1", Mode: models.ModeMasked, DurationSeconds: 60,
				Status: models.RequestDenied, CreatedAt: now, ExpiresAt: now, UpdatedAt: now,
			}
		}
		if err := db.Write.CreateInBatches(rows, 500).Error; err != nil {
			t.Fatal(err)
		}
		_, body := p.get(c, "/requests")
		if got := listText(parseList(t, body), "list-count"); got != "more than 5,000 requests" {
			t.Errorf("count = %q, want more than 5,000", got)
		}
		_, body = p.get(c, "/requests?workspace=globex")
		if got := listText(parseList(t, body), "list-count"); !strings.HasPrefix(got, "0 requests") {
			t.Errorf("filtered count = %q", got)
		}
	})
}

// TestDataPageRange: a data page names its columns in words, writes times
// as the other pages do, and says which records it shows of how many.
func TestDataPageRange(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		p.grant(sara, "acme", models.GrantScope{}, true, time.Hour)
		c := p.login(sara)
		res, body := p.get(c, "/workspaces/acme/data/members")
		if res.StatusCode != http.StatusOK {
			t.Fatalf("members: got %d", res.StatusCode)
		}
		doc := parseList(t, body)
		if got := listText(doc, "data-range"); got != "1–50 of 57" {
			t.Errorf("first page range = %q", got)
		}
		if got := listText(doc, "column-last_login_at"); got != "Last login at" {
			t.Errorf("last_login_at header = %q", got)
		}
		if listHref(doc, "page-first") != "" {
			t.Error("the first page links to the first page")
		}
		// A <time datetime> attribute is for machines; no text a person
		// reads is in RFC 3339.
		shown := regexp.MustCompile(`datetime="[^"]*"`).ReplaceAllString(body, "")
		if regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ`).MatchString(shown) {
			t.Error("a time is shown in RFC 3339")
		}
		if !regexp.MustCompile(`<span class="nowrap">\d{4}-\d\d-\d\d \d\d:\d\d UTC</span>`).MatchString(body) {
			t.Error("no time is shown like the rest of the pages")
		}
		next := html.UnescapeString(listHref(doc, "page-next"))
		_, body = p.get(c, next)
		doc = parseList(t, body)
		if got := listText(doc, "data-range"); got != "51–57 of 57" {
			t.Errorf("second page range = %q", got)
		}
		if listHref(doc, "page-first") != "/workspaces/acme/data/members" || listHref(doc, "page-next") != "" {
			t.Errorf("second page links: first %q, next %q", listHref(doc, "page-first"), listHref(doc, "page-next"))
		}
		_, body = p.get(c, "/workspaces/acme/data/members/3")
		if got := strings.TrimSpace(parseList(t, body).Find(`[data-testid="record"] dt`).Last().Text()); got != "Last login at" {
			t.Errorf("record's last label = %q", got)
		}
	})
}
