package models_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/mailer"
	"gatehouse/mailer/smtptest"
	"gatehouse/models"
	"gatehouse/models/dbtest"

	"gorm.io/gorm"
)

var outboxSecret = []byte("outbox-test-session-key-of-32-bytes!!")

func newOutbox(t *testing.T) *models.Outbox {
	t.Helper()
	ob, err := models.NewOutbox(outboxSecret)
	if err != nil {
		t.Fatal(err)
	}
	return ob
}

// mailClock is a worker's injected clock.
type mailClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *mailClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *mailClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func smtpSender(t *testing.T, srv *smtptest.Server) *mailer.SMTP {
	t.Helper()
	s, err := mailer.New(mailer.Config{Host: srv.Host, Port: srv.Port, From: "gatehouse@portal.example", TLSConfig: srv.ClientTLS, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func testMail(i int) models.Mail {
	return models.Mail{
		Kind: "request.approved", To: fmt.Sprintf("person%d@acme.example", i), Subject: fmt.Sprintf("Request %d approved", i),
		Text: fmt.Sprintf("Marker-%04d: http://portal.example/requests/%d", i, i), HTML: fmt.Sprintf("<p>Marker-%04d</p>", i),
		Workspace: "acme",
	}
}

func enqueue(t *testing.T, db *models.DB, ob *models.Outbox, now time.Time, ms ...models.Mail) []int64 {
	t.Helper()
	var ids []int64
	err := db.Write.Transaction(func(tx *gorm.DB) error {
		for _, m := range ms {
			id, err := ob.Enqueue(context.Background(), tx, now, m)
			if err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func mailEvents(t *testing.T, db *models.DB, action models.Action) []models.AuditEvent {
	t.Helper()
	evs, err := models.ListAudit(context.Background(), db.Read, models.AuditFilter{Action: action, Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func TestOutboxSealsBodies(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		ob := newOutbox(t)
		now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
		const token = "Tok3nMarker-do-not-store-in-clear"
		m := models.Mail{
			Kind: "consent.request", To: "owner@acme.example", Subject: "Your decision on access to acme",
			Text: "Open http://portal.example/consent/" + token, HTML: `<a href="http://portal.example/consent/` + token + `">decide</a>`,
		}
		id := enqueue(t, db, ob, now, m)[0]

		// No column of the row, read raw, holds the token.
		cols, rows := rawRows(t, db, "SELECT * FROM mail_outbox")
		n := len(rows)
		for _, vals := range rows {
			for i, v := range vals {
				raw := fmt.Sprint(v)
				if b, ok := v.([]byte); ok {
					raw = string(b)
				}
				if strings.Contains(raw, token) || strings.Contains(strings.ToLower(raw), "tok3nmarker") {
					t.Errorf("column %s holds the token in clear", cols[i])
				}
			}
		}
		if n != 1 {
			t.Fatalf("%d rows, want 1", n)
		}

		got, err := ob.Get(ctx, db.Read, id)
		if err != nil {
			t.Fatal(err)
		}
		if got.Text != m.Text || got.HTML != m.HTML || got.To != m.To || got.Subject != m.Subject || got.Status != models.MailQueued || got.Unreadable {
			t.Errorf("Get = %+v, want the mail opened and queued", got)
		}

		// Another session key cannot open it.
		other, err := models.NewOutbox([]byte("another-session-key-of-at-least-32-bytes"))
		if err != nil {
			t.Fatal(err)
		}
		if got, err := other.Get(ctx, db.Read, id); err != nil || !got.Unreadable || got.Text != "" {
			t.Errorf("Get with another key = %+v, %v; want unreadable, no text", got, err)
		}
		// A body moved to another recipient's row does not open.
		id2 := enqueue(t, db, ob, now, models.Mail{Kind: "consent.request", To: "mallory@evil.example", Subject: m.Subject, Text: "other"})[0]
		if err := db.Write.Exec("UPDATE mail_outbox SET body = (SELECT body FROM mail_outbox WHERE id = ?) WHERE id = ?", id, id2).Error; err != nil {
			t.Fatal(err)
		}
		if got, err := ob.Get(ctx, db.Read, id2); err != nil || !got.Unreadable {
			t.Errorf("moved body: %+v, %v; want unreadable", got, err)
		}
		if _, err := ob.Get(ctx, db.Read, 999999); !errors.Is(err, models.ErrNotFound) {
			t.Errorf("Get(missing) = %v, want ErrNotFound", err)
		}
	})
}

func TestOutboxEnqueueChecks(t *testing.T) {
	db := dbtest.SQLite(t)
	ob := newOutbox(t)
	ok := testMail(1)
	tests := []struct {
		name   string
		change func(*models.Mail)
	}{
		{"no kind", func(m *models.Mail) { m.Kind = "" }},
		{"two recipients", func(m *models.Mail) { m.To = "a@b.example, c@d.example" }},
		{"display name", func(m *models.Mail) { m.To = "Alice <a@b.example>" }},
		{"header injection", func(m *models.Mail) { m.Subject = "Hi\r\nBcc: x@evil.example" }},
		{"empty subject", func(m *models.Mail) { m.Subject = " " }},
		{"no text", func(m *models.Mail) { m.Text = "" }},
	}
	for _, tt := range tests {
		m := ok
		tt.change(&m)
		if _, err := ob.Enqueue(context.Background(), db.Write, time.Now(), m); err == nil {
			t.Errorf("%s: enqueued, want refused", tt.name)
		}
	}
	if _, err := models.NewOutbox([]byte("short")); err == nil {
		t.Error("NewOutbox(short secret) succeeded")
	}
	// A mail enqueued in a transaction that rolls back does not exist.
	errRollback := errors.New("rollback")
	err := db.Write.Transaction(func(tx *gorm.DB) error {
		if _, err := ob.Enqueue(context.Background(), tx, time.Now(), ok); err != nil {
			return err
		}
		return errRollback
	})
	if !errors.Is(err, errRollback) {
		t.Fatal(err)
	}
	if ms, err := ob.List(context.Background(), db.Read, 10); err != nil || len(ms) != 0 {
		t.Errorf("after rollback: %d mails, %v; want none", len(ms), err)
	}
}

// twoWorkerDBs opens the portal database twice, as two replicas would.
func twoWorkerDBs(t *testing.T, engine string) (*models.DB, *models.DB) {
	t.Helper()
	ctx := context.Background()
	if engine == "postgres" {
		a := dbtest.Postgres(t)
		b, err := models.Open(ctx, dbtest.URL(a))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return a, b
	}
	path := filepath.Join(t.TempDir(), "portal.db")
	var dbs [2]*models.DB
	for i := range dbs {
		db, err := models.Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		dbs[i] = db
	}
	if err := models.Migrate(ctx, dbs[0]); err != nil {
		t.Fatal(err)
	}
	return dbs[0], dbs[1]
}

func TestMailWorkersDeliverEachMailOnce(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			ctx := context.Background()
			dbA, dbB := twoWorkerDBs(t, engine)
			srv := smtptest.Start(t)
			ob := newOutbox(t)
			clock := &mailClock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
			const n = 40
			var ms []models.Mail
			for i := range n {
				ms = append(ms, testMail(i))
			}
			ids := enqueue(t, dbA, ob, clock.Now(), ms...)

			workers := []*models.MailWorker{
				{DB: dbA, Outbox: ob, Sender: smtpSender(t, srv), Now: clock.Now, ID: "a", Batch: 3},
				{DB: dbB, Outbox: ob, Sender: smtpSender(t, srv), Now: clock.Now, ID: "b", Batch: 3},
			}
			var wg sync.WaitGroup
			start := make(chan struct{})
			sent := make([]int, len(workers))
			errs := make([]error, len(workers))
			for i, w := range workers {
				wg.Go(func() {
					<-start
					for {
						s, f, err := w.RunOnce(ctx)
						sent[i] += s
						if err != nil || f != 0 {
							errs[i] = fmt.Errorf("worker %s: %d failed, %v", w.ID, f, err)
							return
						}
						if s == 0 {
							return
						}
					}
				})
			}
			close(start)
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				t.Fatal(err)
			}
			if sent[0]+sent[1] != n || sent[0] == 0 || sent[1] == 0 {
				t.Errorf("workers sent %v, want %d in all with both taking part", sent, n)
			}

			got := srv.Messages()
			if len(got) != n {
				t.Errorf("server received %d messages, want %d", len(got), n)
			}
			for i := range n {
				marker := []byte(fmt.Sprintf("Marker-%04d:", i))
				c := 0
				for _, m := range got {
					c += bytes.Count(m.Data, marker)
				}
				if c != 1 {
					t.Errorf("mail %d delivered %d times, want once", i, c)
				}
			}
			list, err := ob.List(ctx, dbA.Read, 100)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range list {
				if m.Status != models.MailSent || m.Attempts != 1 || m.SentAt == nil {
					t.Errorf("mail %d: status %s, attempts %d, sent_at %v; want sent on the first attempt", m.ID, m.Status, m.Attempts, m.SentAt)
				}
			}
			if len(list) != n || list[0].ID != ids[n-1] {
				t.Errorf("List: %d mails, first %d; want %d, newest (%d) first", len(list), list[0].ID, n, ids[n-1])
			}
			evs := mailEvents(t, dbA, models.ActionMailSent)
			targets := map[string]bool{}
			for _, ev := range evs {
				targets[ev.Target] = true
				if ev.Workspace != "acme" || ev.Actor != "gatehouse" {
					t.Errorf("event %+v: want workspace acme, actor gatehouse", ev)
				}
			}
			if len(evs) != n || len(targets) != n {
				t.Errorf("%d mail.sent events for %d mails, want %d", len(evs), len(targets), n)
			}
			if res, err := models.VerifyAudit(ctx, dbA); err != nil || !res.OK {
				t.Errorf("audit chain: %+v, %v", res, err)
			}
		})
	}
}

func TestMailRetriedAfterRefusal(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		srv := smtptest.Start(t)
		srv.RefuseNext(1, 451)
		ob := newOutbox(t)
		clock := &mailClock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
		id := enqueue(t, db, ob, clock.Now(), testMail(7))[0]
		w := &models.MailWorker{DB: db, Outbox: ob, Sender: smtpSender(t, srv), Now: clock.Now}
		var outcomes []string
		w.Observe = func(o string) { outcomes = append(outcomes, o) }

		if s, f, err := w.RunOnce(ctx); s != 0 || f != 1 || err != nil {
			t.Fatalf("first run: sent %d failed %d, %v; want the refusal", s, f, err)
		}
		m, err := ob.Get(ctx, db.Read, id)
		if err != nil {
			t.Fatal(err)
		}
		if m.Status != models.MailQueued || m.Attempts != 1 || !strings.Contains(m.LastError, "451") || !m.NextAttemptAt.Equal(clock.Now().Add(time.Minute)) {
			t.Errorf("after refusal: %s, %d attempts, error %q, next %v; want queued, 1, 451, in 1m", m.Status, m.Attempts, m.LastError, m.NextAttemptAt)
		}
		// Not due before its backoff has passed.
		clock.Advance(59 * time.Second)
		if s, f, err := w.RunOnce(ctx); s+f != 0 || err != nil {
			t.Errorf("before the backoff: sent %d failed %d, %v; want nothing", s, f, err)
		}
		clock.Advance(time.Second)
		if s, f, err := w.RunOnce(ctx); s != 1 || f != 0 || err != nil {
			t.Fatalf("retry: sent %d failed %d, %v; want sent", s, f, err)
		}
		if s, f, err := w.RunOnce(ctx); s+f != 0 || err != nil {
			t.Errorf("after sending: sent %d failed %d, %v; want nothing", s, f, err)
		}
		if got := len(srv.Messages()); got != 1 || srv.Attempts() != 2 {
			t.Errorf("server: %d delivered of %d attempts, want 1 of 2", got, srv.Attempts())
		}
		m, _ = ob.Get(ctx, db.Read, id)
		if m.Status != models.MailSent || m.Attempts != 2 || m.LastError != "" {
			t.Errorf("after retry: %s, %d attempts, error %q; want sent, 2, none", m.Status, m.Attempts, m.LastError)
		}
		if evs := mailEvents(t, db, models.ActionMailSent); len(evs) != 1 || evs[0].Target != fmt.Sprintf("mail:%d", id) {
			t.Errorf("mail.sent events %+v, want one for mail %d", evs, id)
		}
		if strings.Join(outcomes, ",") != "retry,sent" {
			t.Errorf("outcomes %v, want retry, sent", outcomes)
		}
	})
}

func TestMailFailsVisibly(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		ob := newOutbox(t)
		clock := &mailClock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}

		t.Run("after max attempts", func(t *testing.T) {
			srv := smtptest.Start(t)
			srv.RefuseAll(451)
			id := enqueue(t, db, ob, clock.Now(), testMail(1))[0]
			w := &models.MailWorker{DB: db, Outbox: ob, Sender: smtpSender(t, srv), Now: clock.Now, MaxAttempts: 4}
			var waits []time.Duration
			for range 10 {
				before := clock.Now()
				if _, _, err := w.RunOnce(ctx); err != nil {
					t.Fatal(err)
				}
				m, _ := ob.Get(ctx, db.Read, id)
				if m.Status != models.MailQueued {
					break
				}
				waits = append(waits, m.NextAttemptAt.Sub(before))
				clock.Advance(m.NextAttemptAt.Sub(before))
			}
			m, _ := ob.Get(ctx, db.Read, id)
			if m.Status != models.MailFailed || m.Attempts != 4 || !strings.Contains(m.LastError, "451") {
				t.Errorf("%s after %d attempts (%q); want failed after 4", m.Status, m.Attempts, m.LastError)
			}
			if want := models.DefaultMailBackoff[:3]; fmt.Sprint(waits) != fmt.Sprint(want) {
				t.Errorf("backoff %v, want %v", waits, want)
			}
			if srv.Attempts() != 4 {
				t.Errorf("server saw %d attempts, want 4", srv.Attempts())
			}
			clock.Advance(24 * time.Hour)
			if s, f, err := w.RunOnce(ctx); s+f != 0 || err != nil {
				t.Errorf("a failed mail was tried again: %d %d %v", s, f, err)
			}
			evs := mailEvents(t, db, models.ActionMailFailed)
			if len(evs) != 1 || evs[0].Target != fmt.Sprintf("mail:%d", id) || !strings.Contains(evs[0].Reason, "451") {
				t.Errorf("mail.failed events %+v, want one for mail %d with the reason", evs, id)
			}
		})
		t.Run("permanent refusal", func(t *testing.T) {
			srv := smtptest.Start(t)
			srv.RefuseAll(550)
			id := enqueue(t, db, ob, clock.Now(), testMail(2))[0]
			w := &models.MailWorker{DB: db, Outbox: ob, Sender: smtpSender(t, srv), Now: clock.Now}
			if s, f, err := w.RunOnce(ctx); s != 0 || f != 1 || err != nil {
				t.Fatalf("sent %d failed %d, %v", s, f, err)
			}
			if m, _ := ob.Get(ctx, db.Read, id); m.Status != models.MailFailed || m.Attempts != 1 {
				t.Errorf("%s after %d attempts, want failed after 1", m.Status, m.Attempts)
			}
		})
		t.Run("body sealed under another key", func(t *testing.T) {
			other, err := models.NewOutbox([]byte("an-older-session-key-of-32-bytes-or-more"))
			if err != nil {
				t.Fatal(err)
			}
			srv := smtptest.Start(t)
			id := enqueue(t, db, other, clock.Now(), testMail(3))[0]
			w := &models.MailWorker{DB: db, Outbox: ob, Sender: smtpSender(t, srv), Now: clock.Now}
			if _, _, err := w.RunOnce(ctx); err != nil {
				t.Fatal(err)
			}
			if m, _ := ob.Get(ctx, db.Read, id); m.Status != models.MailFailed || !strings.Contains(m.LastError, "session key") {
				t.Errorf("%s (%q), want failed naming the session key", m.Status, m.LastError)
			}
			if srv.Attempts() != 0 {
				t.Errorf("server saw %d attempts, want none", srv.Attempts())
			}
		})
	})
}

// crashingSender stops its goroutine in the middle of a send, as a worker
// that dies after claiming a mail.
type crashingSender struct{}

func (crashingSender) Send(context.Context, models.Mail) error {
	runtime.Goexit()
	return nil
}

func TestMailLeaseOfACrashedWorkerExpires(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		srv := smtptest.Start(t)
		ob := newOutbox(t)
		clock := &mailClock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
		id := enqueue(t, db, ob, clock.Now(), testMail(9))[0]

		crashed := &models.MailWorker{DB: db, Outbox: ob, Sender: crashingSender{}, Now: clock.Now, ID: "crashed"}
		done := make(chan struct{})
		go func() { defer close(done); crashed.RunOnce(ctx) }()
		<-done

		w := &models.MailWorker{DB: db, Outbox: ob, Sender: smtpSender(t, srv), Now: clock.Now, ID: "survivor"}
		if s, f, err := w.RunOnce(ctx); s+f != 0 || err != nil {
			t.Errorf("while the claim holds: sent %d failed %d, %v; want nothing", s, f, err)
		}
		clock.Advance(time.Hour)
		if s, f, err := w.RunOnce(ctx); s != 1 || f != 0 || err != nil {
			t.Errorf("after the lease: sent %d failed %d, %v; want sent", s, f, err)
		}
		if m, _ := ob.Get(ctx, db.Read, id); m.Status != models.MailSent || m.Attempts != 2 {
			t.Errorf("%s after %d attempts, want sent after 2", m.Status, m.Attempts)
		}
		if len(srv.Messages()) != 1 {
			t.Errorf("server received %d, want 1", len(srv.Messages()))
		}
	})
}

func TestMailWorkerRunStopsWithContext(t *testing.T) {
	db := dbtest.SQLite(t)
	srv := smtptest.Start(t)
	ob := newOutbox(t)
	enqueue(t, db, ob, time.Now(), testMail(1), testMail(2), testMail(3))
	w := &models.MailWorker{DB: db, Outbox: ob, Sender: smtpSender(t, srv), Now: time.Now, Batch: 2, PollInterval: 10 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for len(srv.Messages()) < 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop when its context ended")
	}
	if got := len(srv.Messages()); got != 3 {
		t.Errorf("Run delivered %d, want 3", got)
	}
}
