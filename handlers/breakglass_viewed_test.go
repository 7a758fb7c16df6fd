package handlers

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gatehouse/models"
	"gatehouse/models/dbtest"

	"github.com/PuerkitoBio/goquery"
)

func parse(t *testing.T, body string) *goquery.Document {
	t.Helper()
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// The break-glass page shows the reviewer what its opener viewed, from
// the audit log, and links to the audit log narrowed to that break-glass:
// its events, all of them, and no other's.
func TestBreakglassPageShowsWhatWasViewed(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		ada, otto := p.login("ada.sysadmin@example.com"), p.login("otto.sysadmin@example.com")
		id := p.openBG(ada, "acme")
		page := fmt.Sprintf("/breakglass/%d", id)

		_, body := p.get(otto, page)
		if parse(t, body).Find(`[data-testid="breakglass-viewed-empty"]`).Length() != 1 {
			t.Error("before any read, the page does not say nothing was viewed")
		}

		for _, path := range []string{"/workspaces/acme/data/members", "/workspaces/acme/data/projects/1"} {
			if res, body := p.get(ada, path); res.StatusCode != http.StatusOK {
				t.Fatalf("ada GET %s = %d:\n%.500s", path, res.StatusCode, body)
			}
		}
		// Another break-glass, by otto on globex, whose events must not
		// appear in this one's audit log.
		other := p.openBG(otto, "globex")
		if res, _ := p.get(otto, "/workspaces/globex/data/members"); res.StatusCode != http.StatusOK {
			t.Fatalf("otto reading globex under break-glass %d = %d", other, res.StatusCode)
		}

		_, body = p.get(otto, page)
		doc := parse(t, body)
		var tables []string
		doc.Find(`[data-testid="breakglass-viewed"] tbody tr`).Each(func(_ int, tr *goquery.Selection) {
			cells := tr.Find("td")
			tables = append(tables, cells.Eq(2).Text())
			if who := cells.Eq(1).Text(); who != "ada.sysadmin@example.com" {
				t.Errorf("viewed row %q by %q, want ada.sysadmin@example.com", cells.Text(), who)
			}
		})
		slices.Sort(tables)
		if want := []string{"members", "projects"}; !slices.Equal(tables, want) {
			t.Errorf("viewed tables on the break-glass page = %q, want %q", tables, want)
		}
		link, _ := doc.Find(`[data-testid="breakglass-audit-link"]`).Attr("href")
		if want := fmt.Sprintf("/audit?breakglass=%d&workspace=acme", id); link != want {
			t.Fatalf("audit link = %q, want %q", link, want)
		}

		res, body := p.get(otto, link)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("GET %s = %d", link, res.StatusCode)
		}
		doc = parse(t, body)
		var got []int64
		doc.Find(`[data-testid="audit-row"]`).Each(func(_ int, tr *goquery.Selection) {
			seq, _ := strconv.ParseInt(tr.AttrOr("data-seq", ""), 10, 64)
			got = append(got, seq)
		})
		var want []int64
		if err := db.Read.Model(&models.AuditEvent{}).Where("breakglass_id = ?", id).Order("seq DESC").Pluck("seq", &want).Error; err != nil {
			t.Fatal(err)
		}
		if len(want) < 3 || !slices.Equal(got, want) {
			t.Errorf("the filtered audit log lists seqs %v, want this break-glass's events %v (opened and two reads at least)", got, want)
		}
		if !strings.Contains(doc.Find(`[data-testid="audit-breakglass"]`).Text(), fmt.Sprintf("break-glass %d", id)) {
			t.Error("the audit log does not say it shows one break-glass's events only")
		}
		if v, _ := doc.Find(`[data-testid="audit-filter"] input[name="breakglass"]`).Attr("value"); v != strconv.FormatInt(id, 10) {
			t.Errorf("the search form keeps breakglass=%q, want %d", v, id)
		}

		if res, body := p.get(otto, "/audit?breakglass=x"); res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "break-glass link is not valid") {
			t.Errorf("/audit?breakglass=x = %d, want 422 saying the link is not valid", res.StatusCode)
		}
	})
}
