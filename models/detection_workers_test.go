package models_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/dbtest"
	"gatehouse/policy"
)

// refusalHistory appends, for addresses from..to, three refusals within
// ten minutes at even addresses (an alert each) and two at odd ones
// (none: an event evaluated twice would make them three).
func refusalHistory(t *testing.T, db *models.DB, from, to int) (fire map[string]int) {
	t.Helper()
	fire = map[string]int{}
	var es []models.AuditEntry
	for i := from; i < to; i++ {
		ip := fmt.Sprintf("10.0.%d.%d", i/250, i%250)
		n := 2
		if i%2 == 0 {
			n = 3
			fire[ip] = 1 // the evidence is the third, which crosses the threshold
		}
		for k := range n {
			es = append(es, event(models.ActionLoginRefused, "", ip, detMonday.Add(time.Duration(i)*time.Second+time.Duration(k)*time.Minute)))
		}
	}
	appendAll(t, db, es)
	return fire
}

// TestDetectorsConcurrent: two detectors (as two replicas) evaluate one
// log on PostgreSQL at once; every alert is raised exactly once, none is
// missed, each with exactly its evidence; and again after a restart.
func TestDetectorsConcurrent(t *testing.T) {
	db := dbtest.Postgres(t)
	ctx := context.Background()
	rules := rulesOf(t, "refusals")
	want := map[string]int{}
	round := func(from, to int) {
		t.Helper()
		for ip, n := range refusalHistory(t, db, from, to) {
			want[ip] = n
		}
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i := range 2 {
			replica := dbtest.Reopen(t, db) // a fresh detector: a restart
			d := &models.Detector{DB: replica, Rules: rules, Now: time.Now, Batch: 40}
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 50 {
					if _, errs[i] = d.RunOnce(ctx); errs[i] != nil {
						return
					}
				}
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		got := openAlerts(t, db)
		var all int64
		db.Read.Table("alerts").Count(&all)
		if int(all) != len(want) || len(got) != len(want) {
			t.Fatalf("%d alerts (%d open), want %d", all, len(got), len(want))
		}
		for ip, n := range want {
			a, ok := got["refusals "+ip]
			if !ok || a.EvidenceCount != n {
				t.Fatalf("alert about %s: %+v, want one with %d pieces of evidence", ip, a, n)
			}
		}
		var head int64
		db.Read.Raw("SELECT seq FROM audit_head WHERE id = 1").Scan(&head)
		pos, err := models.DetectionPosition(ctx, db.Read)
		if err != nil || pos > head || pos < head-int64(len(want)) {
			t.Errorf("position %d (%v), head %d", pos, err, head)
		}
	}
	round(0, 300)
	round(300, 500) // new detectors, as after a restart, over more events
}

// TestAlertWebhook: the body is signed with the secret (checked by the
// receiving server), a 5xx is retried after its backoff, and a webhook
// that never answers holds up neither the audit log nor the evaluator.
func TestAlertWebhook(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		secret := []byte("webhook-secret")
		var calls atomic.Int32
		var got []models.WebhookAlert
		var mu sync.Mutex
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			if r.Header.Get(models.WebhookSignatureHeader) != models.SignWebhook(secret, body) {
				http.Error(w, "bad signature", http.StatusUnauthorized)
				return
			}
			if calls.Add(1) == 1 {
				http.Error(w, "busy", http.StatusServiceUnavailable)
				return
			}
			var a models.WebhookAlert
			if err := json.Unmarshal(body, &a); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			mu.Lock()
			got = append(got, a)
			mu.Unlock()
		}))
		defer srv.Close()
		clock := &mailClock{t: detMonday.Add(time.Hour)}
		appendAll(t, db, []models.AuditEntry{event(models.ActionConsentReported, "owner@acme.example", "", detMonday)})
		d := &models.Detector{DB: db, Rules: rulesOf(t, "customer-report"), Webhook: true, Now: clock.Now}
		if _, err := d.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
		w := &models.WebhookWorker{DB: db, URL: srv.URL, Secret: secret, Now: clock.Now}
		if n, err := w.RunOnce(ctx); err != nil || n != 0 {
			t.Fatalf("first delivery: %d sent, %v; want a 503", n, err)
		}
		if n, _ := w.RunOnce(ctx); n != 0 {
			t.Fatal("retried before its backoff")
		}
		clock.Advance(models.DefaultWebhookBackoff[0])
		if n, err := w.RunOnce(ctx); err != nil || n != 1 {
			t.Fatalf("retry: %d sent, %v", n, err)
		}
		if len(got) != 1 || got[0].Rule != "customer-report" || got[0].Subject != "acme" || got[0].Severity != "critical" {
			t.Errorf("webhook got %+v", got)
		}
		// Wrong secret: the receiver refuses, so the signature is checked.
		if models.SignWebhook([]byte("other"), []byte("{}")) == models.SignWebhook(secret, []byte("{}")) {
			t.Error("the signature does not depend on the secret")
		}

		// A webhook that hangs.
		release := make(chan struct{})
		hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
		defer hang.Close()
		defer close(release)
		appendAll(t, db, []models.AuditEntry{event(models.ActionConsentReported, "owner@globex.example", "", detMonday)})
		ev := event(models.ActionConsentReported, "x", "", detMonday)
		ev.Workspace = "initech"
		appendAll(t, db, []models.AuditEntry{ev})
		if _, err := d.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
		slow := &models.WebhookWorker{DB: dbtest.Reopen(t, db), URL: hang.URL, Secret: secret, Now: clock.Now, Timeout: 3 * time.Second}
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, _ = slow.RunOnce(ctx)
		}()
		time.Sleep(200 * time.Millisecond) // the worker is now waiting on the webhook
		start := time.Now()
		appendAll(t, db, []models.AuditEntry{view("sara@x", detMonday, "acme")})
		if _, err := d.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("an append and an evaluation took %s while the webhook hung", took)
		}
		<-done
	})
}

// BenchmarkDetector measures the evaluator's throughput over a realistic
// log, every rule of policy/detection.toml on: 300 staff over 2,000
// workspaces, each mostly viewing a few records of their own five
// workspaces (a few wander across many, one views far more than usual:
// breadth and volume alerts), reveals, refusals (a scanning address:
// refusal alerts), with 30 days of hourly views per staff member already
// counted for the volume baseline. Per engine, two shapes:
//   - steady: one detector evaluates batch after batch (one replica);
//   - alternating: two detectors take turns batch by batch (two
//     replicas), so neither can reuse what it evaluated before.
func BenchmarkDetector(b *testing.B) {
	for _, engine := range []string{"sqlite", "postgres"} {
		b.Run(engine, func(b *testing.B) {
			var db *models.DB
			if engine == "sqlite" {
				db = dbtest.SQLite(b)
			} else {
				if dbtest.PostgresURL(b) == "" {
					b.Skip("no PostgreSQL")
				}
				db = dbtest.Postgres(b)
			}
			rules, err := loadPolicyRules()
			if err != nil {
				b.Fatal(err)
			}
			events := benchDetectorLog(b, db)
			for _, shape := range []string{"steady", "alternating"} {
				b.Run(shape, func(b *testing.B) {
					benchDetector(b, db, rules, events, shape == "alternating")
				})
			}
		})
	}
}

const (
	benchStaff      = 300
	benchWorkspaces = 2000
)

// benchDetectorLog appends the benchmark's log and the staff's 30 days of
// hourly view counts; it returns how many events it appended.
func benchDetectorLog(b *testing.B, db *models.DB) int {
	const events = 20000
	staff := func(n int) string { return fmt.Sprintf("staff%03d@example.com", n%benchStaff) }
	ws := func(n int) string { return fmt.Sprintf("ws%04d", n%benchWorkspaces) }
	rnd := rand.New(rand.NewPCG(1, 2))
	es := make([]models.AuditEntry, 0, events)
	for i := range events {
		at := detMonday.Add(time.Duration(i) * 100 * time.Millisecond) // 10 events/s: 33 minutes
		s := rnd.IntN(benchStaff)
		switch r := rnd.IntN(100); {
		case r < 5:
			es = append(es, event(models.ActionFieldRevealed, staff(s), "", at))
		case r < 10:
			es = append(es, event(models.ActionDataRefused, staff(s), fmt.Sprintf("192.0.2.%d", s%200), at))
		case r < 12:
			es = append(es, event(models.ActionLoginRefused, "", "198.51.100.7", at)) // a scanner
		case r < 20:
			es = append(es, view(staff(7), at, ws(7*5+rnd.IntN(5)), fmt.Sprint(rnd.IntN(900)))) // far more views than usual
		case s%60 == 11:
			es = append(es, view(staff(s), at, ws(rnd.IntN(benchWorkspaces)), fmt.Sprint(rnd.IntN(300)))) // wanders
		default:
			ids := []string{fmt.Sprint(rnd.IntN(300))}
			if rnd.IntN(3) == 0 {
				ids = append(ids, fmt.Sprint(rnd.IntN(300)), fmt.Sprint(rnd.IntN(300)))
			}
			es = append(es, view(staff(s), at, ws(s*5+rnd.IntN(5)), ids...))
		}
	}
	for i := 0; i < len(es); i += 2000 {
		appendAll(b, db, es[i:i+2000])
	}
	// 30 days of hourly views per staff member: 4–23 an hour.
	var vals []string
	var args []any
	flush := func() {
		if len(vals) == 0 {
			return
		}
		q := "INSERT INTO detection_counts (counter, subject, bucket, n) VALUES " + strings.Join(vals, ",")
		if err := db.Write.Exec(q, args...).Error; err != nil {
			b.Fatal(err)
		}
		vals, args = vals[:0], args[:0]
	}
	for s := range benchStaff {
		for h := 1; h <= 30*24; h++ {
			vals = append(vals, "(?, ?, ?, ?)")
			args = append(args, "views/h", staff(s), detMonday.Add(-time.Duration(h)*time.Hour), 4+(s+h)%20)
			if len(vals) == 500 {
				flush()
			}
		}
	}
	flush()
	return events
}

func benchDetector(b *testing.B, db *models.DB, rules []policy.Rule, events int, alternating bool) {
	ctx := context.Background()
	now := func() time.Time { return detMonday.Add(time.Hour) }
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		// Back to the start, keeping the 30 days before it.
		if err := db.Write.Exec("DELETE FROM detection_counts WHERE bucket >= ?", detMonday).Error; err != nil {
			b.Fatal(err)
		}
		for _, q := range []string{"DELETE FROM detection_items", "DELETE FROM alert_evidence",
			"DELETE FROM alert_webhooks", "DELETE FROM alerts", "UPDATE detection_position SET seq = 0"} {
			if err := db.Write.Exec(q).Error; err != nil {
				b.Fatal(err)
			}
		}
		ds := []*models.Detector{{DB: db, Rules: rules, Now: now}}
		if alternating {
			ds = append(ds, &models.Detector{DB: db, Rules: rules, Now: now})
		}
		b.StartTimer()
		n := 0
		for k := 0; ; k++ {
			got, more, err := ds[k%len(ds)].Step(ctx)
			if err != nil {
				b.Fatal(err)
			}
			n += got
			if !more {
				break
			}
		}
		if n < events {
			b.Fatalf("evaluated %d of %d events", n, events)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*events), "ns/event")
	b.ReportMetric(float64(b.N*events)/b.Elapsed().Seconds(), "events/s")
}
