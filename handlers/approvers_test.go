package handlers

import (
	"context"
	"fmt"
	"net/http"
	"net/mail"
	"slices"
	"strings"
	"testing"
	"time"

	"gatehouse/mailer"
	"gatehouse/mailer/smtptest"
	"gatehouse/models"
	"gatehouse/models/dbtest"
	"gatehouse/models/demo"
	"gatehouse/policy"

	"github.com/PuerkitoBio/goquery"
)

// addStaff adds a staff member of tier who signed the current agreement
// and completed training on trained.
func (p *testPortal) addStaff(email string, tier policy.Tier, trained time.Time) {
	p.t.Helper()
	ctx, act := context.Background(), models.Act{Now: p.clock.Now(), By: models.Actor{Email: "test", Tier: "system"}}
	s, err := models.CreateStaff(ctx, p.db.Write, act.Now, act.By, models.Staff{Email: email, Name: email, Tier: tier})
	if err != nil {
		p.t.Fatal(err)
	}
	if err := models.RecordAgreement(ctx, p.db.Write, act, s.ID, demo.AgreementVersion, act.Now.AddDate(0, -1, 0)); err != nil {
		p.t.Fatal(err)
	}
	if err := models.RecordTraining(ctx, p.db.Write, act, s.ID, trained); err != nil {
		p.t.Fatal(err)
	}
}

// deliverMail runs the mail worker against a real SMTP server until the
// outbox is empty and returns what the server received.
func (p *testPortal) deliverMail() []smtptest.Message {
	p.t.Helper()
	srv := smtptest.Start(p.t)
	sender, err := mailer.New(mailer.Config{Host: srv.Host, Port: srv.Port, From: "gatehouse@portal.example", TLSConfig: srv.ClientTLS, Timeout: 5 * time.Second})
	if err != nil {
		p.t.Fatal(err)
	}
	w := &models.MailWorker{DB: p.db, Outbox: p.opts.Outbox, Sender: sender, Now: p.clock.Now, ID: "test", Batch: 50}
	for {
		sent, failed, err := w.RunOnce(context.Background())
		if err != nil || failed != 0 {
			p.t.Fatalf("mail worker: %d failed, %v", failed, err)
		}
		if sent == 0 {
			return srv.Messages()
		}
	}
}

// A new request mails exactly the staff who may decide it: active
// seniors and sysadmins with the current agreement and training that
// counts, never its requester or grantee; each mail's subject names the
// workspace and the mail links to the request.
func TestNewRequestMailsApprovers(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		now := p.clock.Now()
		p.addStaff("tess.senior@example.com", policy.TierSenior, now.AddDate(0, -1, 0))
		p.addStaff("lapsed.senior@example.com", policy.TierSenior, now.AddDate(-2, 0, 0))
		p.addStaff("new.support@example.com", policy.TierSupport, now.AddDate(0, -1, 0))
		act := models.Act{Now: now, By: models.Actor{Email: "test", Tier: "system"}}
		if err := models.Suspend(context.Background(), db.Write, act, p.idOf("otto.sysadmin@example.com"), "on leave"); err != nil {
			t.Fatal(err)
		}
		p.deliverMail() // whatever the setup queued

		sara := p.login("sara.senior@example.com")
		id := p.openRequest(sara, requestForm("acme", "sean.senior@example.com"))
		var got []string
		for _, m := range p.deliverMail() {
			msg, err := mail.ReadMessage(strings.NewReader(string(m.Data)))
			if err != nil {
				t.Fatal(err)
			}
			subject := msg.Header.Get("Subject")
			if !strings.Contains(subject, "needs a decision") {
				continue
			}
			got = append(got, m.To...)
			if want := fmt.Sprintf("Request %d on Acme Corporation needs a decision", id); subject != want {
				t.Errorf("mail to %v: subject %q, want %q", m.To, subject, want)
			}
			if link := fmt.Sprintf("%s/requests/%d", p.srv.URL, id); !strings.Contains(string(m.Data), link) {
				t.Errorf("mail to %v does not link to %s", m.To, link)
			}
		}
		slices.Sort(got)
		if want := []string{"ada.sysadmin@example.com", "tess.senior@example.com"}; !slices.Equal(got, want) {
			t.Errorf("approval mails went to %q, want exactly %q (not the requester sara or the grantee sean; not suspended, untrained, unsigned or support staff)", got, want)
		}
		if n := p.count("mail_outbox", "kind = ? AND request_id = ?", "request.approval", id); n != 2 {
			t.Errorf("%d approval mails recorded for request %d, want 2", n, id)
		}
	})
}

// navRequests is the text of the navigation's Requests link.
func navRequests(t *testing.T, body string) string {
	t.Helper()
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(doc.Find(`[data-testid="nav"] a[href="/requests"]`).Text())
}

// The navigation counts the requests that wait for the viewer's
// decision: only pending ones they may decide, never their own, and none
// once expired or decided.
func TestNavCountsRequestsAwaitingDecision(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		// Requests wait 20 minutes here, so one expires while the
		// sessions are still alive.
		p := newPortal(t, db, func(o *Options) { o.Requests.PendingFor = 20 * time.Minute })
		people := map[string]*http.Client{}
		for _, email := range []string{"sam.support@example.com", "sara.senior@example.com", "sean.senior@example.com", "ada.sysadmin@example.com"} {
			people[email] = p.login(email)
		}
		want := func(step string, nav map[string]string) {
			t.Helper()
			for email, label := range nav {
				if _, body := p.get(people[email], "/"); navRequests(t, body) != label {
					t.Errorf("%s: %s's navigation reads %q, want %q", step, email, navRequests(t, body), label)
				}
			}
		}
		want("no requests", map[string]string{"ada.sysadmin@example.com": "Requests", "sara.senior@example.com": "Requests"})

		first := p.openRequest(people["sara.senior@example.com"], requestForm("acme", "sean.senior@example.com"))
		want("sara asks for sean", map[string]string{
			"ada.sysadmin@example.com": "Requests (1)", "sara.senior@example.com": "Requests", "sean.senior@example.com": "Requests",
			"sam.support@example.com": "Requests",
		})
		_, body := p.get(people["ada.sysadmin@example.com"], "/requests")
		if !strings.Contains(body, `title="1 waits for your decision"`) {
			t.Error("the count does not say what it counts")
		}

		p.clock.Advance(10 * time.Minute)
		p.openRequest(people["sam.support@example.com"], requestForm("globex", "sara.senior@example.com"))
		want("sam asks for sara", map[string]string{
			"ada.sysadmin@example.com": "Requests (2)", "sean.senior@example.com": "Requests (1)", "sara.senior@example.com": "Requests",
		})

		res, body := p.post(noRedirect(people["ada.sysadmin@example.com"]), fmt.Sprintf("/requests/%d/deny", first), map[string][]string{"note": {"No ticket behind this."}})
		if res.StatusCode != http.StatusSeeOther {
			t.Fatalf("deny = %d:\n%s", res.StatusCode, body)
		}
		want("ada denied the first", map[string]string{"ada.sysadmin@example.com": "Requests (1)", "sean.senior@example.com": "Requests (1)"})

		p.clock.Advance(21 * time.Minute) // the second expires unanswered
		want("the second expired", map[string]string{"ada.sysadmin@example.com": "Requests", "sean.senior@example.com": "Requests"})
	})
}
