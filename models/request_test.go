package models_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/dbtest"
	"gatehouse/policy"

	"gorm.io/gorm"
)

// plainLetters writes minimal mails, so model tests need no views.
type plainLetters struct{}

func (plainLetters) Letter(_ context.Context, _ *gorm.DB, n models.Notice) (models.Mail, error) {
	switch n := n.(type) {
	case models.ConsentRequestNotice:
		return models.Mail{Kind: "consent.request", Subject: fmt.Sprintf("Request %d", n.Request.ID), Text: "Decide at /consent/" + n.Token}, nil
	case models.RequestUpdateNotice:
		return models.Mail{Kind: "request." + n.Event, Subject: fmt.Sprintf("Request %d: %s", n.Request.ID, n.Event), Text: n.Event}, nil
	case models.RequestReportedNotice:
		return models.Mail{Kind: "request.reported", Subject: fmt.Sprintf("Request %d reported", n.Request.ID), Text: "reported"}, nil
	case models.ApprovalNeededNotice:
		return models.Mail{Kind: "request.approval", Subject: fmt.Sprintf("Request %d needs a decision", n.Request.ID), Text: "decide"}, nil
	case models.ViewSummaryNotice:
		return models.Mail{Kind: "grant.summary", Subject: fmt.Sprintf("Grant %d", n.Grant.ID), Text: strconv.FormatInt(n.Viewed.Views, 10) + " views"}, nil
	}
	return models.Mail{}, fmt.Errorf("no letter for %T", n)
}

const agreement = "2026-01"

// workflow is a request workflow under test with its own staff.
type workflow struct {
	t        *testing.T
	ctx      context.Context
	db       *models.DB
	now      time.Time
	pol      models.RequestPolicy
	ob       *models.Outbox
	sys      models.Actor
	n        int
	prefix   string // makes staff emails unique among workflows on one database
	lastLink string // the raw token of the last consent link mailed
}

func newWorkflow(t *testing.T, db *models.DB) *workflow {
	ob, err := models.NewOutbox([]byte("test-session-key-of-at-least-32-bytes!"))
	if err != nil {
		t.Fatal(err)
	}
	return &workflow{
		t: t, ctx: context.Background(), db: db, now: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC),
		pol: models.DefaultRequestPolicy(agreement), ob: ob, sys: models.Actor{Email: "test@example.com", Tier: "sysadmin"},
	}
}

// staff creates an active staff member of tier with the current agreement
// and security training completed a month ago.
func (w *workflow) staff(tier policy.Tier) models.Staff {
	w.t.Helper()
	w.n++
	s, err := models.CreateStaff(w.ctx, w.db.Write, w.now, w.sys, models.Staff{Email: fmt.Sprintf("%ss%d@example.com", w.prefix, w.n), Name: fmt.Sprintf("Staff %d", w.n), Tier: tier})
	if err != nil {
		w.t.Fatal(err)
	}
	if err := models.RecordAgreement(w.ctx, w.db.Write, models.Act{Now: w.now, By: w.sys}, s.ID, agreement, w.now); err != nil {
		w.t.Fatal(err)
	}
	if err := models.RecordTraining(w.ctx, w.db.Write, models.Act{Now: w.now, By: w.sys}, s.ID, w.now.AddDate(0, -1, 0)); err != nil {
		w.t.Fatal(err)
	}
	s, err = models.FindStaff(w.ctx, w.db.Read, s.ID)
	if err != nil {
		w.t.Fatal(err)
	}
	return s
}

// keepTrained records training for s today when it would lapse within
// 60 days, and reloads s.
func (w *workflow) keepTrained(s *models.Staff) {
	w.t.Helper()
	if until, ok := w.pol.Clearance.TrainingExpires(*s); ok && until.Sub(w.now) > 60*models.Day {
		return
	}
	if err := models.RecordTraining(w.ctx, w.db.Write, models.Act{Now: w.now, By: w.sys}, s.ID, w.now); err != nil {
		w.t.Fatal(err)
	}
	var err error
	if *s, err = models.FindStaff(w.ctx, w.db.Read, s.ID); err != nil {
		w.t.Fatal(err)
	}
}

// canRead is the data pages' decision, without HTTP: an active grantee
// cleared (agreement and training) and a live grant covering the table.
func (w *workflow) canRead(grantee int64, ws string) bool {
	w.t.Helper()
	s, err := models.FindStaff(w.ctx, w.db.Read, grantee)
	if err != nil {
		w.t.Fatal(err)
	}
	if s.Status != models.StatusActive || !w.pol.Clearance.Cleared(s, w.now) {
		return false
	}
	_, _, err = models.GrantFor(w.ctx, w.db.Read, w.now, models.GrantQuery{StaffID: grantee, Workspace: ws, Table: "members", Record: 0})
	if err != nil && !errors.Is(err, models.ErrNoGrant) {
		w.t.Fatal(err)
	}
	return err == nil
}

// capture is an Outbox-compatible letters wrapper remembering the last
// consent token, as the customer's mailbox would.
type capture struct {
	plainLetters
	w *workflow
}

func (c capture) Letter(ctx context.Context, tx *gorm.DB, n models.Notice) (models.Mail, error) {
	if cr, ok := n.(models.ConsentRequestNotice); ok {
		c.w.lastLink = cr.Token
	}
	return c.plainLetters.Letter(ctx, tx, n)
}

// TestRequestStateMachine runs random sequences of workflow steps, each
// followed by a read attempt, against a model of the policy: data is
// readable if and only if a different senior approved, the customer's
// consent is live, the grant has not expired, ended or been revoked, and
// the grantee is active with a current agreement.
func TestRequestStateMachine(t *testing.T) {
	runs := map[string]int{"sqlite": 10_000, "postgres": 10_000}
	if testing.Short() {
		runs = map[string]int{"sqlite": 300, "postgres": 300}
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("GATEHOUSE_TEST_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d (GATEHOUSE_TEST_SEED to repeat)", seed)
	// Four workflows, each with a database of its own (a sweep expires
	// whatever is due by its own clock), run a quarter of the sequences at
	// once.
	const workers = 4
	for k := range workers {
		t.Run(fmt.Sprintf("worker%d", k), func(t *testing.T) {
			t.Parallel()
			dbtest.EachFast(t, func(t *testing.T, db *models.DB) {
				engine := t.Name()[strings.LastIndex(t.Name(), "/")+1:]
				stateMachine(t, db, seed, k, runs[engine]/workers)
			})
		})
	}
}

// stateMachine runs n random sequences as worker k.
func stateMachine(t *testing.T, db *models.DB, seed uint64, k, n int) {
	{
		w := newWorkflow(t, db)
		w.prefix = fmt.Sprintf("w%d-", k)
		rng := rand.New(rand.NewPCG(seed, uint64(k)))
		l := capture{w: w}
		requester, approver := w.staff(policy.TierSupport), w.staff(policy.TierSenior)
		grantee := w.staff(policy.TierSenior)
		for i := range n {
			ws := fmt.Sprintf("w%d-ws%d", k, i)
			if grantee.Status != models.StatusActive || !grantee.AgreementCurrent(agreement) {
				grantee = w.staff(policy.TierSenior)
			}
			// The clock runs on for months: training is renewed before it
			// could lapse within a sequence (lapsing is tested on its own).
			for _, s := range []*models.Staff{&requester, &approver, &grantee} {
				w.keepTrained(s)
			}
			o := oracle{}
			r, err := models.CreateRequest(w.ctx, db.Write, models.Act{Now: w.now, By: w.sys}, models.Post{Outbox: w.ob, Letters: plainLetters{}}, w.pol, models.NewRequest{
				Workspace: ws, Requester: requester, Grantee: grantee, Reason: "Customer reports that exports fail since Monday.",
				Ticket: "SUP-" + strconv.Itoa(i+1), Duration: 2 * time.Hour,
			})
			if err != nil {
				t.Fatalf("run %d: create: %v", i, err)
			}
			o.state, o.pendingUntil = "pending", w.now.Add(w.pol.PendingFor)
			var trail []string
			token := ""
			steps := 1 + rng.IntN(7)
			for range steps {
				op := ops[rng.IntN(len(ops))]
				trail = append(trail, op)
				switch op {
				case "approve", "approve-self", "approve-requester":
					who := approver
					if op == "approve-self" {
						who = grantee
					} else if op == "approve-requester" {
						who = requester
					}
					w.lastLink = ""
					_, err := models.DecideRequest(w.ctx, db.Write, models.Act{Now: w.now, By: w.sys}, models.Post{Outbox: w.ob, Letters: l}, w.pol, models.Decision{Request: r.ID, Approve: true, Approver: who, Note: "Looks legitimate.", Owners: []string{"owner@" + ws + ".example"}})
					ok := op == "approve" && o.state == "pending" && w.now.Before(o.pendingUntil) && grantee.Status == models.StatusActive
					check(t, i, trail, err, ok)
					if ok {
						o.state, o.consentUntil, token = "approved", w.now.Add(w.pol.ConsentFor), w.lastLink
					}
				case "deny":
					_, err := models.DecideRequest(w.ctx, db.Write, models.Act{Now: w.now, By: w.sys}, models.Post{Outbox: w.ob, Letters: l}, w.pol, models.Decision{Request: r.ID, Approve: false, Approver: approver, Note: "Not needed."})
					ok := o.state == "pending" && w.now.Before(o.pendingUntil)
					check(t, i, trail, err, ok)
					if ok {
						o.state = "denied"
					}
				case "cancel":
					_, err := models.CancelRequest(w.ctx, db.Write, models.Act{Now: w.now, By: w.sys}, models.Post{Outbox: w.ob, Letters: l}, models.Cancellation{Request: r.ID, Requester: requester})
					ok := o.state == "pending" && w.now.Before(o.pendingUntil)
					check(t, i, trail, err, ok)
					if ok {
						o.state = "cancelled"
					}
				case "grant", "refuse", "report":
					if token == "" {
						continue
					}
					d := map[string]models.ConsentDecision{"grant": models.ConsentGrant, "refuse": models.ConsentDeny, "report": models.ConsentReport}[op]
					_, err := models.DecideConsent(w.ctx, db.Write, w.now, models.Post{Outbox: w.ob, Letters: l}, models.ConsentInput{Token: token, Decision: d, ShownHash: "h", PageHash: "h"}, models.DefaultClearance(agreement))
					ok := o.state == "approved" && w.now.Before(o.consentUntil) && (op != "grant" || grantee.Status == models.StatusActive)
					check(t, i, trail, err, ok)
					if ok {
						o.state = map[string]string{"grant": "granted", "refuse": "refused", "report": "reported"}[op]
						o.grantUntil = w.now.Add(2 * time.Hour)
					}
				case "revoke":
					if token == "" {
						continue
					}
					_, err := models.DecideConsent(w.ctx, db.Write, w.now, models.Post{Outbox: w.ob, Letters: l}, models.ConsentInput{Token: token, Decision: models.ConsentRevoke, ShownHash: "h", PageHash: "h"}, models.DefaultClearance(agreement))
					ok := o.live(w.now)
					check(t, i, trail, err, ok)
					if ok {
						o.ended = true
					}
				case "done":
					_, err := models.EndRequestGrant(w.ctx, db.Write, models.Act{Now: w.now, By: w.sys}, r.ID, "done", models.ActionGrantDone)
					ok := o.live(w.now)
					check(t, i, trail, err, ok)
					if ok {
						o.ended = true
					}
				case "offboard":
					if grantee.Status != models.StatusActive {
						continue
					}
					if err := models.Offboard(w.ctx, db.Write, models.Act{Now: w.now, By: w.sys}, grantee.ID, "left"); err != nil {
						t.Fatal(err)
					}
					grantee.Status = models.StatusOffboarded
					o.ended = true // offboarding ends every grant at once
				case "wait-1h", "wait-25h", "wait-73h":
					d := map[string]time.Duration{"wait-1h": time.Hour + time.Second, "wait-25h": 25 * time.Hour, "wait-73h": 73 * time.Hour}[op]
					w.now = w.now.Add(d)
				case "sweep":
					if _, err := models.Sweep(w.ctx, db.Write, w.now, models.Post{Outbox: w.ob, Letters: l}, func(context.Context, string) ([]string, error) { return []string{"owner@x.example"}, nil }); err != nil {
						t.Fatal(err)
					}
					if o.state == "pending" && !w.now.Before(o.pendingUntil) || o.state == "approved" && !w.now.Before(o.consentUntil) {
						o.state = "expired"
					}
				}
				want := o.live(w.now) && grantee.Status == models.StatusActive
				if got := w.canRead(grantee.ID, ws); got != want {
					t.Fatalf("run %d after %v: can read = %v, want %v (oracle %+v)", i, trail, got, want, o)
				}
			}
		}
	}
}

var ops = []string{
	"approve", "approve", "approve", "approve-self", "approve-requester", "deny", "cancel",
	"grant", "grant", "grant", "refuse", "report", "revoke", "done", "offboard",
	"wait-1h", "wait-25h", "wait-73h", "sweep",
}

type oracle struct {
	state                                  string
	pendingUntil, consentUntil, grantUntil time.Time
	ended                                  bool
}

func (o oracle) live(now time.Time) bool {
	return o.state == "granted" && !o.ended && now.Before(o.grantUntil)
}

// check fails the run when a step's outcome differs from the model's.
func check(t *testing.T, run int, trail []string, err error, ok bool) {
	t.Helper()
	if ok && err != nil {
		t.Fatalf("run %d after %v: refused: %v", run, trail, err)
	}
	if !ok && err == nil {
		t.Fatalf("run %d after %v: accepted, want refused", run, trail)
	}
}

// TestDecisionRaces: double approvals, approval against denial and
// against cancellation resolve to exactly one outcome.
func TestDecisionRaces(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		w := newWorkflow(t, db)
		requester, grantee := w.staff(policy.TierSupport), w.staff(policy.TierSenior)
		approvers := []models.Staff{w.staff(policy.TierSenior), w.staff(policy.TierSenior), w.staff(policy.TierSysadmin)}
		for run := range 10 {
			r, err := models.CreateRequest(w.ctx, db.Write, models.Act{Now: w.now, By: w.sys}, models.Post{Outbox: w.ob, Letters: plainLetters{}}, w.pol, models.NewRequest{
				Workspace: "acme", Requester: requester, Grantee: grantee, Reason: "Customer reports that exports fail since Monday.",
				Ticket: "SUP-1", Duration: time.Hour,
			})
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			results := make(chan error, 12)
			for i := range 12 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var err error
					switch i % 4 {
					case 0, 1:
						_, err = models.DecideRequest(w.ctx, db.Write, models.Act{Now: w.now, By: w.sys}, models.Post{Outbox: w.ob, Letters: plainLetters{}}, w.pol, models.Decision{Request: r.ID, Approve: true, Approver: approvers[i%3], Note: "Looks right.", Owners: []string{"owner@acme.example"}})
					case 2:
						_, err = models.DecideRequest(w.ctx, db.Write, models.Act{Now: w.now, By: w.sys}, models.Post{Outbox: w.ob, Letters: plainLetters{}}, w.pol, models.Decision{Request: r.ID, Approve: false, Approver: approvers[i%3], Note: "Not needed."})
					case 3:
						_, err = models.CancelRequest(w.ctx, db.Write, models.Act{Now: w.now, By: w.sys}, models.Post{Outbox: w.ob, Letters: plainLetters{}}, models.Cancellation{Request: r.ID, Requester: requester})
					}
					results <- err
				}()
			}
			wg.Wait()
			close(results)
			won := 0
			for err := range results {
				switch {
				case err == nil:
					won++
				case !errors.Is(err, models.ErrConflict):
					t.Fatalf("run %d: %v", run, err)
				}
			}
			got, err := models.FindRequest(w.ctx, db.Read, r.ID)
			if err != nil {
				t.Fatal(err)
			}
			links := int64(0)
			db.Read.Model(&models.ConsentLink{}).Where("request_id = ?", r.ID).Count(&links)
			wantLinks := int64(0)
			if got.Status == models.RequestApproved {
				wantLinks = 1
			}
			if won != 1 || got.Status == models.RequestPending || links != wantLinks {
				t.Fatalf("run %d: %d winners, status %s, %d consent links", run, won, got.Status, links)
			}
		}
	})
}
