package handlers

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/dbtest"

	"gorm.io/gorm"
)

// viewedSection is the consent page's list of what was viewed, from its
// per-table table to the end of the page's main content.
func viewedSection(t *testing.T, body string) string {
	t.Helper()
	i := strings.Index(body, `data-testid="consent-viewed"`)
	if i < 0 {
		t.Fatalf("no list of what was viewed on the consent page:\n%s", body)
	}
	return body[i:]
}

// TestConsentViewedAfterThousandViews: 1,001 views of one record, then a
// read of another table. The customer's page and the owners' summary
// mail still name that table, with complete totals; the page pages
// through a table's records, and a bad page number is refused without a
// write.
func TestConsentViewedAfterThousandViews(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		ctx := context.Background()
		id, token := p.grantedRequest()
		var grantID int64
		if err := p.db.Read.Raw("SELECT grant_id FROM access_requests WHERE id = ?", id).Scan(&grantID).Error; err != nil || grantID == 0 {
			t.Fatalf("grant of request %d: %d, %v", id, grantID, err)
		}
		sara := p.login("sara.senior@example.com")
		if res, _ := p.get(sara, "/workspaces/acme/data/members/1"); res.StatusCode != http.StatusOK {
			t.Fatalf("read members/1 = %d", res.StatusCode)
		}
		// 1,000 more reloads of the same record, as the read above wrote them.
		err := p.db.Write.Transaction(func(tx *gorm.DB) error {
			for range 1000 {
				if _, err := models.AppendAudit(ctx, tx, models.AuditEntry{
					At: p.clock.Now(), Actor: models.Actor{Email: "sara.senior@example.com", Tier: "senior"}, Action: models.ActionDataViewed,
					Workspace: "acme", Table: "members", RecordIDs: []string{"1"}, GrantID: &grantID, Reason: "reload",
				}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		p.clock.Advance(time.Minute)
		if res, _ := p.get(sara, "/workspaces/acme/data/projects"); res.StatusCode != http.StatusOK {
			t.Fatalf("read projects = %d", res.StatusCode)
		}

		customer := p.client()
		res, body := p.get(customer, "/consent/"+token)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("consent page = %d", res.StatusCode)
		}
		viewed := viewedSection(t, body)
		if !strings.Contains(viewed, "<code>projects</code>") || !strings.Contains(viewed, "<code>members</code>") {
			t.Errorf("the customer's list does not name both tables read:\n%s", viewed)
		}
		if !strings.Contains(body, "1002 views of ") {
			t.Errorf("the totals do not count every view:\n%s", viewed)
		}

		// Paging through the records read of projects.
		res, body = p.get(customer, "/consent/"+token+"?table=projects&page=1")
		if res.StatusCode != http.StatusOK || !strings.Contains(body, `data-testid="consent-viewed-records"`) || !strings.Contains(body, "Records 1 to ") {
			t.Errorf("records of projects = %d:\n%s", res.StatusCode, viewedSection(t, body))
		}
		before := p.count("audit_events", "1 = 1")
		for _, q := range []string{"?page=0", "?table=projects&page=x", "?reveals=-1"} {
			if res, _ := p.get(customer, "/consent/"+token+q); res.StatusCode != http.StatusBadRequest {
				t.Errorf("consent page %s = %d, want 400", q, res.StatusCode)
			}
		}
		if after := p.count("audit_events", "1 = 1"); after != before {
			t.Errorf("bad page numbers wrote %d audit events", after-before)
		}

		// The grant ends; the owners' summary names projects too.
		p.clock.Advance(2 * time.Hour)
		if _, err := p.sweeper().Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		mails, err := p.opts.Outbox.List(ctx, p.db.Read, 100)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, m := range mails {
			if m.Kind != "grant.summary" {
				continue
			}
			n++
			text := strings.Join(strings.Fields(m.Text), " ")
			if !strings.Contains(text, "viewed projects (records") || !strings.Contains(text, "1002 views of") || !strings.Contains(m.HTML, "projects") {
				t.Errorf("summary to %s does not name the read of projects:\n%s", m.To, m.Text)
			}
		}
		if n == 0 {
			t.Error("no summary mail")
		}
	})
}
