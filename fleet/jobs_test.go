package fleet_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"gatehouse/fleet"
	"gatehouse/models"

	"gorm.io/gorm"
)

// With both replicas' mail workers claiming from one outbox, each queued
// mail is delivered once: 400 mails queued at once reach the SMTP server
// once each, with one mail.sent event each, and both replicas send some.
func TestOutboxSendsEachMailOnce(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	outbox, err := models.NewOutbox(f.SessionKey)
	if err != nil {
		t.Fatal(err)
	}
	const n = 400
	err = f.Owner.Write.Transaction(func(tx *gorm.DB) error {
		for i := range n {
			m := models.Mail{Kind: "fleet.burst", To: fmt.Sprintf("burst-%03d@example.com", i), Subject: fmt.Sprintf("Burst %d", i), Text: "One of a burst."}
			if _, err := outbox.Enqueue(ctx, tx, time.Now(), m); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	waitOutboxEmpty(t, f, 90*time.Second)

	for _, r := range f.Replicas() {
		if len(r.LogLines(`"mail sent"`, `"fleet.burst"`)) == 0 {
			t.Fatalf("replica %d sent none of the burst: the check needs both workers claiming at once", r.Index)
		}
	}
	got := map[string]int{}
	for _, m := range sent(t, f) {
		if strings.HasPrefix(m.To, "burst-") {
			got[m.To]++
		}
	}
	for i := range n {
		if to := fmt.Sprintf("burst-%03d@example.com", i); got[to] != 1 {
			t.Errorf("%s received %d mails, want 1", to, got[to])
		}
	}
	checkSentOnce(t, f)
	f.VerifyAudit(t)
}

// With both replicas running the sweeper and the retention job over the
// same due work, started at the same moment and then again, each notice
// is sent once: a grant's warning, an expired grant's summary and
// endings, expired requests, and retention notices.
func TestJobsSendEachNoticeOnce(t *testing.T) {
	f := start(t)
	sam := f.SignIn(t, "sam.support@example.com")
	sara := f.SignIn(t, "sara.senior@example.com")
	sean := f.SignIn(t, "sean.senior@example.com")
	warned := grant(t, f, sam, sean, sara.Email, "acme", "owner@acme.example")
	expired := grant(t, f, sam, sara, sean.Email, "globex", "owner@globex.example")
	var pending []string
	for _, ws := range []string{"initech", "umbrella", "stark", "wayne"} {
		res := act(t, sam, "/requests", requestForm(ws, sara.Email))
		pending = append(pending, requestPath.FindStringSubmatch(res.Header.Get("Location"))[1])
	}
	waitOutboxEmpty(t, f, 30*time.Second)

	// Due work, made while no replica runs, for both to find at start.
	f.StopAll(t)
	now := time.Now().UTC()
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{"UPDATE grants SET ends_at = ? WHERE request_id = ?", []any{now.Add(5 * time.Minute), warned}},
		{"UPDATE grants SET starts_at = ?, ends_at = ? WHERE request_id = ?", []any{now.Add(-2 * time.Hour), now.Add(-time.Minute), expired}},
		{"UPDATE access_requests SET expires_at = ? WHERE id IN ?", []any{now.Add(-time.Minute), pending}},
	} {
		if err := f.Owner.Write.Exec(q.sql, q.args...).Error; err != nil {
			t.Fatalf("%s: %v", q.sql, err)
		}
	}
	idle := []string{"wonka", "duff", "oceanic"}
	if err := f.Product.Write.Exec("UPDATE workspaces SET last_login_at = ? WHERE slug IN ?", now.AddDate(0, 0, -151), idle).Error; err != nil {
		t.Fatal(err)
	}
	var before int64
	if err := f.Owner.Read.Raw("SELECT COALESCE(MAX(id), 0) FROM mail_outbox").Scan(&before).Error; err != nil {
		t.Fatal(err)
	}

	want := map[string]int{ // audit events by action and target, each once
		"grant.expired request/" + expired: 1,
	}
	for _, id := range pending {
		want["request.expired request/"+id] = 1
	}
	for _, ws := range idle {
		want["retention.noticed retention/"+ws] = 1
	}
	for pass := range 2 { // both replicas at once, twice
		f.StartAll(t)
		waitEvents(t, f, want, 30*time.Second)
		waitOutboxEmpty(t, f, 30*time.Second)
		if pass == 0 {
			f.StopAll(t)
		}
	}
	time.Sleep(2 * time.Second) // a late duplicate would be queued by now
	waitOutboxEmpty(t, f, 30*time.Second)

	got := events(t, f, want)
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%s: %d audit events, want %d", k, got[k], n)
		}
	}
	// Each notice once: no two mails of one kind to one address about one
	// request or workspace, among those the jobs queued.
	var dups []struct {
		Kind, ToAddr, Workspace string
		RequestID               int64
		N                       int
	}
	err := f.Owner.Read.Raw(`SELECT kind, to_addr, workspace, COALESCE(request_id, 0) AS request_id, COUNT(*) AS n FROM mail_outbox WHERE id > ?
		GROUP BY kind, to_addr, workspace, COALESCE(request_id, 0) HAVING COUNT(*) > 1`, before).Scan(&dups).Error
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dups {
		t.Errorf("%d mails %s to %s (workspace %s, request %d), want 1", d.N, d.Kind, d.ToAddr, d.Workspace, d.RequestID)
	}
	var kinds []string
	if err := f.Owner.Read.Raw("SELECT DISTINCT kind FROM mail_outbox WHERE id > ? ORDER BY kind", before).Scan(&kinds).Error; err != nil {
		t.Fatal(err)
	}
	t.Logf("the jobs queued mails of kinds %v", kinds)
	if len(kinds) < 4 {
		t.Errorf("the jobs queued mails of kinds %v, want a warning, a summary, endings and retention notices", kinds)
	}
	var warnedAt *time.Time
	if err := f.Owner.Read.Raw("SELECT warned_at FROM grants WHERE request_id = ?", warned).Scan(&warnedAt).Error; err != nil || warnedAt == nil {
		t.Errorf("grant of request %s: warned_at %v (%v), want the warning recorded", warned, warnedAt, err)
	}
	checkSentOnce(t, f)
	f.VerifyAudit(t)
}

// requestForm is an access request for grantee to see workspace.
func requestForm(workspace, grantee string) url.Values {
	return url.Values{
		"workspace": {workspace},
		"reason":    {"The customer reports documents missing after an import and asked us to look."},
		"ticket":    {"SUP-1234"},
		"duration":  {"2h"},
		"grantee":   {grantee},
		"mode":      {"masked"},
	}
}

// waitOutboxEmpty waits until no mail is queued.
func waitOutboxEmpty(t *testing.T, f *fleet.Fleet, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		var queued int64
		if err := f.Owner.Read.Raw("SELECT COUNT(*) FROM mail_outbox WHERE status = ?", models.MailQueued).Scan(&queued).Error; err != nil {
			t.Fatal(err)
		}
		if queued == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d mails still queued after %s", queued, within)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// events counts the audit events named in want ("action target").
func events(t *testing.T, f *fleet.Fleet, want map[string]int) map[string]int {
	t.Helper()
	var rows []struct{ Action, Target string }
	if err := f.Owner.Read.Raw("SELECT action, target FROM audit_events").Scan(&rows).Error; err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, r := range rows {
		if k := r.Action + " " + r.Target; want[k] > 0 {
			got[k]++
		}
	}
	return got
}

// waitEvents waits until every event of want has been written.
func waitEvents(t *testing.T, f *fleet.Fleet, want map[string]int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got := events(t, f, want)
		missing := 0
		for k := range want {
			if got[k] == 0 {
				missing++
			}
		}
		if missing == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of the expected events missing after %s: got %v", missing, within, got)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// checkSentOnce holds the outbox against the SMTP server: every mail
// marked sent reached it exactly once (by address and subject), nothing
// reached it that the outbox does not hold as sent, and each sent mail
// has exactly one mail.sent audit event.
func checkSentOnce(t *testing.T, f *fleet.Fleet) {
	t.Helper()
	var rows []struct {
		ID             int64
		ToAddr, Status string
		Subject        string
	}
	if err := f.Owner.Read.Raw("SELECT id, to_addr, subject, status FROM mail_outbox").Scan(&rows).Error; err != nil {
		t.Fatal(err)
	}
	want := map[string]int{}
	for _, r := range rows {
		if r.Status == models.MailSent {
			want[r.ToAddr+" | "+r.Subject]++
		}
	}
	got := map[string]int{}
	for _, m := range sent(t, f) {
		got[m.To+" | "+m.Subject]++
	}
	for k, n := range got {
		if want[k] != n {
			t.Errorf("SMTP received %d × %q, the outbox marked %d sent", n, k, want[k])
		}
	}
	for k, n := range want {
		if got[k] == 0 {
			t.Errorf("the outbox marked %d × %q sent, SMTP received none", n, k)
		}
	}
	var twice []struct {
		Target string
		N      int
	}
	err := f.Owner.Read.Raw("SELECT target, COUNT(*) AS n FROM audit_events WHERE action = ? GROUP BY target HAVING COUNT(*) > 1", models.ActionMailSent).Scan(&twice).Error
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range twice {
		t.Errorf("%d mail.sent events for %s, want 1", d.N, d.Target)
	}
	var events, sentRows int64
	f.Owner.Read.Raw("SELECT COUNT(*) FROM audit_events WHERE action = ?", models.ActionMailSent).Scan(&events)
	f.Owner.Read.Raw("SELECT COUNT(*) FROM mail_outbox WHERE status = ?", models.MailSent).Scan(&sentRows)
	if events != sentRows {
		t.Errorf("%d mail.sent events for %d sent mails", events, sentRows)
	}
}
