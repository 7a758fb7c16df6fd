package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
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

// retentionPortal is a portal with the demo's retention history and legal
// hold, and tenant data for nakatomi, whose deletion is due.
func retentionPortal(t *testing.T, db *models.DB) *testPortal {
	t.Helper()
	p := startPortal(t, db, []string{"acme", "globex", "nakatomi"})
	if err := demo.SeedRetention(context.Background(), db, p.opts.Product, p.clock.Now(), models.DefaultRetentionPolicy()); err != nil {
		t.Fatal(err)
	}
	return p
}

// dataExists reports whether a workspace's data (its SQLite file or its
// PostgreSQL schema) is still there.
func (p *testPortal) dataExists(slug string) bool {
	p.t.Helper()
	schema, err := models.TenantSchema(slug)
	if err != nil {
		p.t.Fatal(err)
	}
	if p.opts.ProductDB.Dialect == models.SQLite {
		_, err = os.Stat(filepath.Join(p.opts.TenantsDir, schema+".db"))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			p.t.Fatal(err)
		}
		return err == nil
	}
	var n int64
	if err := p.opts.ProductDB.Read.Raw("SELECT count(*) FROM pg_namespace WHERE nspname = ?", schema).Scan(&n).Error; err != nil {
		p.t.Fatal(err)
	}
	return n == 1
}

func listedRetention(body string) []string { return listedSlugs(body, "queue-") }

func TestRetentionQueue(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := retentionPortal(t, db)
		ada := p.login("ada.sysadmin@example.com")
		res, body := p.get(ada, "/retention")
		if res.StatusCode != http.StatusOK {
			t.Fatalf("GET /retention = %d", res.StatusCode)
		}
		queue := listedRetention(body)
		// Due deletions first, then what waits; paid workspaces with
		// nothing planned are not in the default view.
		if len(queue) < 2 || queue[0] != "nakatomi" || queue[1] != "soylent" {
			t.Errorf("queue starts %v, want nakatomi and soylent (deletion due) first", queue)
		}
		for _, slug := range []string{"monsters", "gringotts", "dunder", "tyrell"} {
			if !strings.Contains(strings.Join(queue, " "), slug) {
				t.Errorf("queue %v lacks %s", queue, slug)
			}
		}
		// Active workspaces (acme, paid; oceanic, free with a notice
		// planned but not due) are in state=active, not in the default view.
		for _, slug := range []string{"acme", "oceanic"} {
			if slices.Contains(queue, slug) {
				t.Errorf("queue %v lists %s, an active workspace", queue, slug)
			}
		}
		for _, want := range []string{"kept 90 days", "notice at day 150", "at day 180", "at day 270", "waits 14 days"} {
			if !strings.Contains(body, want) {
				t.Errorf("queue does not state the policy: %q missing", want)
			}
		}
		if !regexp.MustCompile(`data-testid="count-held"[^>]*>\s*legal hold <span class="count">1</span>`).MatchString(body) {
			t.Error("queue does not count one held workspace")
		}
		if _, body := p.get(ada, "/retention?state=held"); !equalStrings(listedRetention(body), []string{"monsters"}) {
			t.Errorf("state=held lists %v, want [monsters]", listedRetention(body))
		}
		if _, body := p.get(ada, "/retention?state=all&q=ACME"); !equalStrings(listedRetention(body), []string{"acme"}) {
			t.Errorf("state=all&q=ACME lists %v, want [acme]", listedRetention(body))
		}
		if res, _ := p.get(ada, "/retention?state=bogus"); res.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("state=bogus = %d, want 422", res.StatusCode)
		}
		if res, _ := p.get(ada, "/retention?state=all&after=not-a-cursor"); res.StatusCode != http.StatusBadRequest {
			t.Errorf("a forged page link = %d, want 400", res.StatusCode)
		}
		if res, body := p.get(ada, "/retention?state=all"); res.StatusCode != http.StatusOK || strings.Contains(body, `data-testid="page-next"`) {
			t.Errorf("state=all on one page = %d, with a next link: %v", res.StatusCode, strings.Contains(body, `data-testid="page-next"`))
		}

		// Once the retention job has counted, the states it counts are
		// shown as it counted them, marked and dated; the others live.
		if strings.Contains(body, `data-testid="counted-at"`) {
			t.Error("the queue dates counts nothing counted")
		}
		counted := []models.StateCount{
			{State: models.RetentionNoticeDue, N: 7}, {State: models.RetentionNoticed, N: 12_345},
			{State: models.RetentionMarkDue, N: 0}, {State: models.RetentionActive, N: 1_049_999, About: true},
		}
		if err := models.StoreRetentionCounts(context.Background(), db.Write, counted, p.clock.Now()); err != nil {
			t.Fatal(err)
		}
		_, body = p.get(ada, "/retention")
		for state, want := range map[string]string{"notice_due": "7*", "noticed": "12,345*", "mark_due": "0*", "active": "about 1.0 million*", "held": "1"} {
			if !regexp.MustCompile(`data-testid="count-` + state + `"[^>]*>[^<]*<span class="count">` + regexp.QuoteMeta(want) + `</span>`).MatchString(body) {
				t.Errorf("queue's count of %s is not %q", state, want)
			}
		}
		if !strings.Contains(body, `data-testid="counted-at"`) {
			t.Error("the queue does not say when the retention job counted")
		}

		// The sysadmins' dashboard lists the deletions waiting for them.
		_, body = p.get(ada, "/")
		if !strings.Contains(body, `data-testid="deletions-due"`) || !strings.Contains(body, `href="/retention/nakatomi"`) || !strings.Contains(body, `href="/retention/soylent"`) {
			t.Error("ada's dashboard does not list nakatomi and soylent as deletions due")
		}
		if strings.Contains(body, `data-testid="all-deletions-due"`) {
			t.Error("ada's dashboard lists every deletion due and links to more")
		}
		// Past 50, it lists the 50 due the longest and links to the rest.
		for i := range 55 {
			at := p.clock.Now().Add(-400*24*time.Hour + time.Duration(i)*24*time.Hour)
			w := models.Workspace{Slug: fmt.Sprintf("old-%02d", i), Name: fmt.Sprintf("Old %d", i), Plan: "team", Status: models.WorkspaceCancelled,
				SubscriptionState: "cancelled", CreatedAt: at.Add(-400 * 24 * time.Hour), CancelledAt: &at, Region: "eu"}
			if err := p.opts.ProductDB.Write.Create(&w).Error; err != nil {
				t.Fatal(err)
			}
		}
		_, body = p.get(ada, "/")
		if !strings.Contains(body, "the 50 due the longest") || !strings.Contains(body, `data-testid="all-deletions-due"`) ||
			!strings.Contains(body, `href="/retention/old-00"`) || !strings.Contains(body, `href="/retention/old-49"`) ||
			strings.Contains(body, `href="/retention/old-50"`) || strings.Contains(body, `href="/retention/nakatomi"`) {
			t.Error("ada's dashboard does not list the 50 deletions due the longest, old-00 to old-49, with a link to the rest")
		}

		// The workspace page explains the rule to support too, but the
		// particulars of a legal hold are for sysadmins.
		sam := p.login("sam.support@example.com")
		if _, body := p.get(sam, "/"); strings.Contains(body, `data-testid="deletions-due"`) {
			t.Error("support's dashboard lists deletions due")
		}
		_, body = p.get(sam, "/workspaces/monsters")
		if !strings.Contains(body, "A legal hold applies") || strings.Contains(body, "LEGAL-2026-014") {
			t.Error("support's workspace page should say a hold applies without its case reference")
		}
		_, body = p.get(sam, "/workspaces/gringotts")
		if !strings.Contains(body, "marked for deletion") || !strings.Contains(body, "day 270") {
			t.Error("support's workspace page does not explain gringotts' retention")
		}
		if _, body := p.get(ada, "/retention/monsters"); !strings.Contains(body, "LEGAL-2026-014") {
			t.Error("the sysadmin's retention page does not show the hold's reference")
		}
	})
}

func equalStrings(a, b []string) bool { return strings.Join(a, ",") == strings.Join(b, ",") }

// TestHoldStopsDeletion places a hold on a workspace whose deletion is
// due, sees every deletion refused with nothing changed, lifts it, and
// deletes: the data is gone, the registry says so, grants end, data pages
// refuse, and the audit chain still verifies.
func TestHoldStopsDeletion(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := retentionPortal(t, db)
		ctx := context.Background()
		ada := noRedirect(p.login("ada.sysadmin@example.com"))
		g := p.grant("ada.sysadmin@example.com", "nakatomi", models.GrantScope{}, false, time.Hour)
		reqID := p.openRequest(p.login("sam.support@example.com"), requestForm("nakatomi", "sara.senior@example.com"))
		if !p.dataExists("nakatomi") {
			t.Fatal("nakatomi has no data to delete")
		}
		events := func() int64 { return p.count("audit_events", "") }

		// A hold needs a reference and a reason; a refusal writes nothing.
		before := events()
		if res, body := p.post(ada, "/retention/nakatomi/holds", url.Values{"reference": {""}, "reason": {"x"}}); res.StatusCode != http.StatusUnprocessableEntity ||
			!strings.Contains(body, `data-testid="error-reference"`) || !strings.Contains(body, `data-testid="error-reason"`) {
			t.Errorf("hold without reference and reason = %d, want 422 naming both", res.StatusCode)
		}
		if events() != before || p.count("legal_holds", "slug = ?", "nakatomi") != 0 {
			t.Error("a refused hold wrote something")
		}
		res, _ := p.post(ada, "/retention/nakatomi/holds", url.Values{"reference": {"LEGAL-7"}, "reason": {"Counsel asked us to keep the data during an inquiry."}})
		if res.StatusCode != http.StatusSeeOther {
			t.Fatalf("place hold = %d, want 303", res.StatusCode)
		}
		var hold models.LegalHold
		if err := db.Read.Where("slug = ? AND lifted_at IS NULL", "nakatomi").Take(&hold).Error; err != nil {
			t.Fatal(err)
		}

		// While held nothing deletes it, and the page offers no deletion.
		before = events()
		res, body := p.post(ada, "/retention/nakatomi/delete", url.Values{"confirm": {"nakatomi"}})
		if res.StatusCode != http.StatusConflict || !strings.Contains(body, "legal hold") {
			t.Errorf("delete under a hold = %d, want 409 naming the hold", res.StatusCode)
		}
		if !p.dataExists("nakatomi") || events() != before {
			t.Error("a delete refused by a hold changed something")
		}
		if _, body := p.get(ada, "/retention/nakatomi"); strings.Contains(body, `data-testid="delete-form"`) {
			t.Error("the page offers deletion while a hold is in force")
		}
		if _, err := models.DeleteWorkspace(ctx, models.Stores{Portal: db, Product: p.opts.ProductDB, TenantsDir: p.opts.TenantsDir}, models.Act{Now: p.clock.Now(), By: models.Actor{Email: "test"}}, "nakatomi", p.opts.Retention); !errors.Is(err, models.ErrHeld) {
			t.Errorf("DeleteWorkspace under a hold: %v, want ErrHeld", err)
		}

		// Lifting needs a recent sign-in and a reason.
		stale := noRedirect(staleSession(t, p, "ada.sysadmin@example.com", 16*time.Minute))
		lift := "/retention/nakatomi/holds/" + strconv.FormatInt(hold.ID, 10) + "/lift"
		if res, body := p.post(stale, lift, url.Values{"reason": {"The inquiry closed without any claim."}}); res.StatusCode != http.StatusUnauthorized || !strings.Contains(body, `data-testid="step-up"`) {
			t.Errorf("lift with a stale sign-in = %d, want 401 with the step-up page", res.StatusCode)
		}
		ada = noRedirect(p.login("ada.sysadmin@example.com"))
		if res, _ := p.post(ada, lift, url.Values{"reason": {""}}); res.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("lift without a reason = %d, want 422", res.StatusCode)
		}
		if res, _ := p.post(ada, lift, url.Values{"reason": {"The inquiry closed without any claim."}}); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("lift = %d, want 303", res.StatusCode)
		}
		if res, _ := p.post(ada, lift, url.Values{"reason": {"The inquiry closed without any claim."}}); res.StatusCode != http.StatusConflict {
			t.Errorf("second lift = %d, want 409", res.StatusCode)
		}

		// Deletion wants the slug typed, then removes the data for good.
		if res, _ := p.post(ada, "/retention/nakatomi/delete", url.Values{"confirm": {"nakatom"}}); res.StatusCode != http.StatusUnprocessableEntity || !p.dataExists("nakatomi") {
			t.Errorf("delete with a mistyped confirmation = %d, want 422 and nothing deleted", res.StatusCode)
		}
		if res, body := p.post(ada, "/retention/nakatomi/delete", url.Values{"confirm": {"nakatomi"}}); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("delete = %d, want 303:\n%s", res.StatusCode, body)
		}
		if p.dataExists("nakatomi") {
			t.Error("nakatomi's data is still there after the deletion")
		}
		w, err := models.FindWorkspace(ctx, p.opts.Product, "nakatomi")
		if err != nil || w.Status != models.WorkspaceDeleted {
			t.Errorf("registry entry after deletion: %+v, %v; want status deleted", w, err)
		}
		_, body = p.get(ada, "/retention/nakatomi")
		for _, want := range []string{`data-testid="deletion-report"`, "<code>members</code>", "<code>billing</code>", "workspace.deleted",
			`data-testid="ended-grants">#` + strconv.FormatInt(g.ID, 10), `data-testid="closed-requests">#` + strconv.FormatInt(reqID, 10)} {
			if !strings.Contains(body, want) {
				t.Errorf("retention page after deletion lacks %s", want)
			}
		}
		if strings.Contains(body, demo.Canary("nakatomi")) {
			t.Error("the deletion report shows tenant data")
		}
		if ended, err := models.FindGrant(ctx, db.Read, g.ID); err != nil || ended.EndedAt == nil {
			t.Errorf("ada's grant on nakatomi after the deletion: %+v, %v; want ended", ended, err)
		}
		if r, err := models.FindRequest(ctx, db.Read, reqID); err != nil || r.Status != models.RequestCancelled {
			t.Errorf("the open access request on nakatomi after the deletion: %+v, %v; want cancelled", r.Status, err)
		}
		if res, _ := p.get(ada, "/workspaces/nakatomi/data/members"); res.StatusCode != http.StatusNotFound {
			t.Errorf("data page of a deleted workspace = %d, want 404", res.StatusCode)
		}
		if res, _ := p.post(ada, "/retention/nakatomi/delete", url.Values{"confirm": {"nakatomi"}}); res.StatusCode != http.StatusConflict {
			t.Errorf("deleting again = %d, want 409", res.StatusCode)
		}
		r, err := models.VerifyAudit(ctx, db)
		if err != nil || !r.OK {
			t.Errorf("audit chain after the deletion: %+v, %v", r, err)
		}
	})
}

var deletionLinkRE = regexp.MustCompile(`/deletion/([A-Za-z0-9_-]{43})`)

// deletionToken reads the newest deletion link mailed to owner.
func (p *testPortal) deletionToken(owner string) string {
	p.t.Helper()
	mails, err := p.opts.Outbox.List(context.Background(), p.db.Read, 500)
	if err != nil {
		p.t.Fatal(err)
	}
	for _, m := range mails {
		if m.To == owner && m.Kind == "deletion.confirm" {
			if sm := deletionLinkRE.FindStringSubmatch(m.Text); sm != nil {
				return sm[1]
			}
		}
	}
	p.t.Fatalf("no deletion mail to %s among %d mails", owner, len(mails))
	return ""
}

// TestDeletionRequestByLink records a customer's deletion request for
// acme (57 members, two owners) and follows it through the owners'
// links: showing decides nothing, one confirmation is not enough, the
// second makes the deletion due, and a cancel stops it.
func TestDeletionRequestByLink(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		sam := noRedirect(p.login("sam.support@example.com"))
		requests := func() int64 { return p.count("deletion_requests", "") }
		if res, body := p.post(sam, "/workspaces/acme/deletion-requests", url.Values{"note": {"delete"}}); res.StatusCode != http.StatusUnprocessableEntity ||
			!strings.Contains(body, `data-testid="error-note"`) {
			t.Errorf("request without a real note = %d, want 422 with the note's message", res.StatusCode)
		}
		if requests() != 0 || p.count("mail_outbox", "") != 0 {
			t.Error("a refused deletion request wrote something")
		}
		note := "SUP-88: the owner asked by email on 2026-12-01 to delete the workspace."
		if res, _ := p.post(sam, "/workspaces/acme/deletion-requests", url.Values{"note": {note}}); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("record deletion request = %d, want 303", res.StatusCode)
		}
		if res, body := p.post(sam, "/workspaces/acme/deletion-requests", url.Values{"note": {note}}); res.StatusCode != http.StatusUnprocessableEntity ||
			!strings.Contains(body, "already open") {
			t.Errorf("a second open request = %d, want 422 saying one is open", res.StatusCode)
		}
		owner, admin := p.deletionToken("owner@acme.example"), p.deletionToken("admin@acme.example")
		anon := noRedirect(p.client())

		// Opening the link shows the request and records only that.
		events := p.count("audit_events", "")
		res, body := p.get(anon, "/deletion/"+owner)
		if res.StatusCode != http.StatusOK || !strings.Contains(body, "Delete your workspace Acme Corporation?") || !strings.Contains(body, note) {
			t.Fatalf("GET deletion link = %d:\n%s", res.StatusCode, body)
		}
		if res.Header.Get("Referrer-Policy") != "no-referrer" || res.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("deletion page headers: %v", res.Header)
		}
		if p.count("audit_events", "") != events+1 || p.count("audit_events", "action = ?", models.ActionDeletionShown) != 1 {
			t.Error("GET of the link did not record exactly one deletion.shown event")
		}
		if p.count("deletion_confirmations", "confirmed_at IS NOT NULL") != 0 {
			t.Error("GET of the link confirmed something")
		}
		if res, _ := p.do(anon, http.MethodHead, "/deletion/"+owner, nil, nil); res.StatusCode != http.StatusOK {
			t.Errorf("HEAD = %d", res.StatusCode)
		}
		altered := []byte(owner)
		altered[5] ^= 1
		if res, _ := p.get(anon, "/deletion/"+string(altered)); res.StatusCode != http.StatusNotFound {
			t.Errorf("altered token = %d, want 404", res.StatusCode)
		}
		if res, _ := p.post(anon, "/deletion/"+owner, url.Values{"decision": {"delete-now"}}); res.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("unknown decision = %d, want 422", res.StatusCode)
		}

		// One owner's confirmation is not enough for 57 members.
		if res, _ := p.post(anon, "/deletion/"+owner, url.Values{"decision": {"confirm"}}); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("first confirmation = %d, want 303", res.StatusCode)
		}
		if res, _ := p.post(anon, "/deletion/"+owner, url.Values{"decision": {"confirm"}}); res.StatusCode != http.StatusConflict {
			t.Errorf("the same link confirming twice = %d, want 409", res.StatusCode)
		}
		st, err := models.WorkspaceRetention(context.Background(), db.Read, p.opts.Product, p.clock.Now(), p.opts.Retention, "acme")
		if err != nil || st.State != models.RetentionDeletionRequested || st.Due {
			t.Errorf("after one confirmation: %s due=%t, %v; want deletion_requested, not due", st.State, st.Due, err)
		}

		// An address removed as an owner since the mail cannot confirm.
		if err := p.opts.ProductDB.Write.Exec("DELETE FROM workspace_owners WHERE slug = ? AND email = ?", "acme", "admin@acme.example").Error; err != nil {
			t.Fatal(err)
		}
		if res, _ := p.post(anon, "/deletion/"+admin, url.Values{"decision": {"confirm"}}); res.StatusCode != http.StatusForbidden {
			t.Errorf("confirmation by a removed owner = %d, want 403", res.StatusCode)
		}
		if err := p.opts.ProductDB.Write.Exec("INSERT INTO workspace_owners (slug, email) VALUES (?, ?)", "acme", "admin@acme.example").Error; err != nil {
			t.Fatal(err)
		}
		if res, _ := p.post(anon, "/deletion/"+admin, url.Values{"decision": {"confirm"}}); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("second owner's confirmation = %d, want 303", res.StatusCode)
		}
		st, _ = models.WorkspaceRetention(context.Background(), db.Read, p.opts.Product, p.clock.Now(), p.opts.Retention, "acme")
		if st.State != models.RetentionDeletionDue || !st.Due {
			t.Errorf("after two confirmations: %s due=%t; want deletion_due", st.State, st.Due)
		}
		ada := p.login("ada.sysadmin@example.com")
		if _, body := p.get(ada, "/retention/acme"); !strings.Contains(body, `data-testid="delete-form"`) {
			t.Error("a confirmed request does not offer the sysadmin the deletion")
		}

		// The owner changes their mind: cancelled, and nothing is due.
		if res, _ := p.post(anon, "/deletion/"+owner, url.Values{"decision": {"cancel"}}); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("cancel = %d, want 303", res.StatusCode)
		}
		if _, body := p.get(anon, "/deletion/"+owner); !strings.Contains(body, "Cancelled. Nothing will be deleted.") || strings.Contains(body, `data-testid="deletion-confirm"`) {
			t.Error("the link's page after a cancel does not say so, or still offers confirming")
		}
		if res, _ := p.post(noRedirect(ada), "/retention/acme/delete", url.Values{"confirm": {"acme"}}); res.StatusCode != http.StatusConflict || !p.dataExists("acme") {
			t.Errorf("delete after the cancel = %d, want 409 and the data kept", res.StatusCode)
		}
	})
}
