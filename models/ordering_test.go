package models_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/dbtest"
	"gatehouse/policy"

	"gorm.io/gorm"
)

// orderFixture is the data API over demo tenants, with staff cleared
// under the workflow's agreement, a clock that tests move (safely from
// many goroutines), and every way a grant ends.
type orderFixture struct {
	t       *testing.T
	ctx     context.Context
	db      *models.DB
	product *models.DB
	dir     string
	data    *models.TenantData
	w       *workflow
	cl      models.Clearance
	post    models.Post
	letters *tokenLetters
	clock   atomic.Int64 // unix nanoseconds

	requester, approver, sysadmin models.Staff
	deletable                     []string // due workspaces not yet deleted
}

// tokenLetters writes a plain mail for any notice and keeps each consent
// link's token by request, as the owner's mailbox would.
type tokenLetters struct {
	mu     sync.Mutex
	tokens map[int64]string
}

func (l *tokenLetters) Letter(_ context.Context, _ *gorm.DB, n models.Notice) (models.Mail, error) {
	if cr, ok := n.(models.ConsentRequestNotice); ok {
		l.mu.Lock()
		l.tokens[cr.Request.ID] = cr.Token
		l.mu.Unlock()
	}
	return models.Mail{Kind: fmt.Sprintf("%T", n), Subject: "notice", Text: "notice"}, nil
}

func (l *tokenLetters) token(request int64) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.tokens[request]
}

func newOrderFixture(t *testing.T, db *models.DB) *orderFixture {
	t.Helper()
	ctx := context.Background()
	// soylent's deletion is due; tyrell and kwik-e were cancelled more
	// recently, and are made due too.
	deletable := []string{"soylent", "tyrell", "kwik-e"}
	product, dir := retentionStores(t, db, append([]string{"acme", "globex"}, deletable...)...)
	if err := product.Write.Exec("UPDATE workspaces SET cancelled_at = ? WHERE slug IN ?", demoNow.AddDate(0, 0, -100), deletable).Error; err != nil {
		t.Fatal(err)
	}
	cfg := models.TenantStorage{Dialect: models.Postgres, PostgresURL: dbtest.URL(db)}
	if db.Dialect == models.SQLite {
		cfg = models.TenantStorage{Dialect: models.SQLite, SQLiteDir: dir}
	}
	tenants, err := models.OpenTenantReader(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tenants.Close() })
	catalog, err := policy.LoadCatalog()
	if err != nil {
		t.Fatal(err)
	}
	audit := models.NewAuditWriter(db, 0)
	t.Cleanup(func() { audit.Close() })
	f := &orderFixture{t: t, ctx: ctx, db: db, product: product, dir: dir, w: newWorkflow(t, db), deletable: deletable}
	f.w.prefix, f.w.now = "order-", demoNow
	f.cl = models.DefaultClearance(agreement)
	f.letters = &tokenLetters{tokens: map[int64]string{}}
	f.post = models.Post{Outbox: f.w.ob, Letters: f.letters}
	f.clock.Store(demoNow.UnixNano())
	f.data = models.NewTenantData(models.TenantDataConfig{
		DB:        db,
		Product:   product.Read,
		Tenants:   tenants,
		Catalog:   catalog,
		Audit:     audit,
		Now:       f.now,
		Clearance: f.cl,
		// The cache is on, as in production: the ordering must hold with it.
		Cache: models.NewAccessCache(db.Read, models.MaxAccessCacheTTL, 0, f.now),
	})
	f.requester, f.approver, f.sysadmin = f.w.staff(policy.TierSupport), f.w.staff(policy.TierSenior), f.w.staff(policy.TierSysadmin)
	return f
}

func (f *orderFixture) now() time.Time { return time.Unix(0, f.clock.Load()).UTC() }

func (f *orderFixture) advance(d time.Duration) { f.clock.Add(int64(d)) }

func (f *orderFixture) act(by models.Staff) models.Act {
	return models.Act{Now: f.now(), By: models.Actor{Email: by.Email, Tier: string(by.Tier), IP: "192.0.2.9"}}
}

func (f *orderFixture) viewer(s models.Staff) models.Viewer {
	return models.Viewer{StaffID: s.ID, Actor: models.Actor{Email: s.Email, Tier: string(s.Tier), IP: "192.0.2.1", RequestID: "req"}}
}

// live is a grant under test: who holds it, and how it will end.
type live struct {
	way     string
	grant   int64
	slug    string
	grantee models.Staff
	reveals bool // a reveal may be asked under it
	end     func() error
}

// way is one way a grant ends: setup makes a live grant that ends that
// way when its end is called. A way with a limited supply (a workspace
// is deleted once) says how many grants it can make.
type way struct {
	name  string
	setup func() live
}

// requestGrant runs an access request for a new senior through approval
// and the customer's consent, and returns the request, its grant and
// the consent link's token.
func (f *orderFixture) requestGrant() (models.AccessRequest, models.Staff, string) {
	f.t.Helper()
	grantee := f.w.staff(policy.TierSenior)
	r, err := models.CreateRequest(f.ctx, f.db.Write, f.act(f.requester), f.post, f.w.pol, models.NewRequest{
		Workspace: "acme", Requester: f.requester, Grantee: grantee, Mode: models.ModeReveal,
		Reason: "Customer reports that exports fail since Monday.", Ticket: "SUP-1", Duration: time.Hour,
	})
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := models.DecideRequest(f.ctx, f.db.Write, f.act(f.approver), f.post, f.w.pol,
		models.Decision{Request: r.ID, Approve: true, Approver: f.approver, Note: "Looks legitimate.", Owners: []string{"owner@acme.example"}}); err != nil {
		f.t.Fatal(err)
	}
	tok := f.letters.token(r.ID)
	if _, err := models.DecideConsent(f.ctx, f.db.Write, f.now(), f.post,
		models.ConsentInput{Token: tok, Decision: models.ConsentGrant, ShownHash: "h", PageHash: "h"}, f.cl); err != nil {
		f.t.Fatal(err)
	}
	if r, err = models.FindRequest(f.ctx, f.db.Read, r.ID); err != nil || r.GrantID == nil {
		f.t.Fatalf("request %d after consent: %+v, %v", r.ID, r, err)
	}
	return r, grantee, tok
}

// directGrant gives a new senior a grant on slug for d, as the workflow
// would have.
func (f *orderFixture) directGrant(slug string, d time.Duration) (models.Grant, models.Staff) {
	f.t.Helper()
	grantee := f.w.staff(policy.TierSenior)
	g, err := models.CreateGrant(f.ctx, f.db.Write, f.now(), models.NewGrant{
		Workspace: slug, GranteeID: grantee.ID, Mode: models.ModeReveal, StartsAt: f.now(), Duration: d,
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return g, grantee
}

// ways are every way a grant ends. Expiry moves the fixture's clock past
// the grant's end; "expired, swept" also runs the sweep, which records
// grant.expired.
func (f *orderFixture) ways() []way {
	sys := f.sysadmin
	fromRequest := func(name string, end func(r models.AccessRequest, grantee models.Staff, token string) error) way {
		return way{name, func() live {
			r, grantee, tok := f.requestGrant()
			return live{grant: *r.GrantID, slug: "acme", grantee: grantee, reveals: true, end: func() error { return end(r, grantee, tok) }}
		}}
	}
	staffChange := func(name string, change func(s models.Staff) error) way {
		return fromRequest(name, func(_ models.AccessRequest, grantee models.Staff, _ string) error { return change(grantee) })
	}
	expiry := func(name string, sweep bool) way {
		return way{name, func() live {
			d := time.Duration(60+rand.IntN(540)) * time.Second
			g, grantee := f.directGrant("acme", d)
			return live{grant: g.ID, slug: "acme", grantee: grantee, reveals: true, end: func() error {
				for f.now().Before(g.EndsAt) {
					f.advance(time.Second)
				}
				if !sweep {
					return nil
				}
				_, err := models.Sweep(f.ctx, f.db.Write, f.now(), f.post, f.owners)
				return err
			}}
		}}
	}
	return []way{
		fromRequest("revoked by a sysadmin", func(r models.AccessRequest, _ models.Staff, _ string) error {
			_, err := models.EndRequestGrant(f.ctx, f.db.Write, f.act(sys), r.ID, "The ticket was closed yesterday.", models.ActionGrantRevoked)
			return err
		}),
		fromRequest("revoked by the customer", func(_ models.AccessRequest, _ models.Staff, tok string) error {
			_, err := models.DecideConsent(f.ctx, f.db.Write, f.now(), f.post,
				models.ConsentInput{Token: tok, Decision: models.ConsentRevoke, ShownHash: "h", PageHash: "h"}, f.cl)
			return err
		}),
		fromRequest("I'm done", func(r models.AccessRequest, grantee models.Staff, _ string) error {
			_, err := models.EndRequestGrant(f.ctx, f.db.Write, f.act(grantee), r.ID, "", models.ActionGrantDone)
			return err
		}),
		{"ended by EndGrant", func() live {
			g, grantee := f.directGrant("globex", time.Hour)
			return live{grant: g.ID, slug: "globex", grantee: grantee, reveals: true, end: func() error {
				return models.EndGrant(f.ctx, f.db.Write, f.now(), f.act(sys).By, g.ID, "test over")
			}}
		}},
		expiry("expired", false),
		expiry("expired, swept", true),
		staffChange("offboarded", func(s models.Staff) error {
			return models.Offboard(f.ctx, f.db.Write, f.act(sys), s.ID, "Left the company.")
		}),
		staffChange("suspended", func(s models.Staff) error {
			return models.Suspend(f.ctx, f.db.Write, f.act(sys), s.ID, "On leave for a month.")
		}),
		staffChange("demoted", func(s models.Staff) error {
			return models.SetTier(f.ctx, f.db.Write, f.act(sys), s.ID, policy.TierSupport)
		}),
		{"break-glass ended", func() live {
			opener := f.w.staff(policy.TierSysadmin)
			b, err := models.OpenBreakglass(f.ctx, f.db.Write, f.act(opener), f.post, models.NewBreakglass{
				Workspace: "acme", OpenerID: opener.ID, Incident: "INC-2041", Window: time.Hour, Clearance: f.cl,
				Justification: "Customer data corruption after the 02:00 migration, checking the affected projects.",
				Owners:        []string{"owner@acme.example"},
			})
			if err != nil {
				f.t.Fatal(err)
			}
			return live{grant: *b.GrantID, slug: "acme", grantee: opener, end: func() error {
				return models.EndBreakglass(f.ctx, f.db.Write, f.act(opener), f.post, b.ID, opener.ID, "")
			}}
		}},
	}
}

func (f *orderFixture) owners(ctx context.Context, ws string) ([]string, error) {
	return models.Owners(ctx, f.product.Read, ws)
}

// deletion is the last way: the grants on a due workspace end with its
// deletion. It returns them, each with the one deletion as its end.
func (f *orderFixture) deletion(n int) []live {
	f.t.Helper()
	if len(f.deletable) == 0 {
		f.t.Fatal("no due workspace left to delete")
	}
	slug := f.deletable[0]
	f.deletable = f.deletable[1:]
	var once sync.Once
	var err error
	end := func() error {
		once.Do(func() {
			_, err = models.DeleteWorkspace(f.ctx, models.Stores{Portal: f.db, Product: f.product, TenantsDir: f.dir},
				f.act(f.sysadmin), slug, models.DefaultRetentionPolicy())
			f.data.Forget(models.Workspace{Slug: slug})
		})
		return err
	}
	out := make([]live, n)
	for i := range out {
		g, grantee := f.directGrant(slug, time.Hour)
		out[i] = live{grant: g.ID, slug: slug, grantee: grantee, reveals: true, end: end}
	}
	return out
}

// use is one use of tenant data under a grant.
type use struct {
	name string
	run  func(f *orderFixture, l live) (shown int, err error)
}

var uses = []use{
	{"table page", func(f *orderFixture, l live) (int, error) {
		p, err := f.data.ReadTable(f.ctx, f.viewer(l.grantee), models.DataRequest{Slug: l.slug, Table: "members"})
		return len(p.Rows), err
	}},
	{"record", func(f *orderFixture, l live) (int, error) {
		r, err := f.data.ReadRecord(f.ctx, f.viewer(l.grantee), models.DataRequest{Slug: l.slug, Table: "members", Record: "1"})
		return len(r.Row.Cells), err
	}},
	{"reveal", func(f *orderFixture, l live) (int, error) {
		rv, err := f.data.RevealField(f.ctx, f.viewer(l.grantee), models.DataRequest{Slug: l.slug, Table: "members", Record: "1"},
			"email", "Checking the address the customer reported.")
		if rv.ID != 0 {
			return 1, err
		}
		return 0, err
	}},
}

// wantNoViolations fails the test for every violation of the ordering
// invariant in db's log.
func wantNoViolations(t *testing.T, db *models.DB) {
	t.Helper()
	vs, err := models.ViewsAfterEnd(context.Background(), db.Read)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		t.Errorf("ordering violated: %s", v)
	}
}

// TestUseRefusedWhenGrantEndsMidRead ends a grant, in every way, between
// a use's read and the recording of its event (the moment a concurrent
// ending could slip in): the use is refused with nothing shown, its
// refusal is recorded under the grant, and the log holds no use after
// the end. With the re-check removed from the audit writer and
// RevealField, every case here fails and ViewsAfterEnd reports each.
func TestUseRefusedWhenGrantEndsMidRead(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		f := newOrderFixture(t, db)
		cases, reveals := 0, int64(0)
		for _, u := range uses {
			// Each grant is made just before its case: an expiry moves
			// the clock, which must not end the grants made for later.
			ways := append(f.ways(), way{"workspace deleted", func() live { return f.deletion(1)[0] }})
			for _, w := range ways {
				if u.name == "reveal" && w.name == "break-glass ended" {
					continue // a break-glass shows every field: nothing to reveal
				}
				t.Run(u.name+"/"+w.name, func(t *testing.T) {
					l := w.setup()
					cases++
					if shown, err := u.run(f, l); err != nil || shown == 0 {
						t.Fatalf("before the end: %d shown, %v", shown, err)
					}
					if u.name == "reveal" {
						reveals++
					}
					var endErr error
					models.SetBeforeAudit(f.data, func() {
						models.SetBeforeAudit(f.data, nil) // once
						endErr = l.end()
					})
					shown, err := u.run(f, l)
					models.SetBeforeAudit(f.data, nil)
					if endErr != nil {
						t.Fatalf("ending: %v", endErr)
					}
					if !errors.Is(err, models.ErrNoGrant) || shown != 0 {
						t.Errorf("use while the grant ended: %d shown, %v; want none and ErrNoGrant", shown, err)
					}
					ev := newest(t, db)
					if ev.Action != models.ActionDataRefused || ev.Reason != "grant ended" {
						t.Errorf("newest event %s %q, want data.refused \"grant ended\"", ev.Action, ev.Reason)
					}
					if u.name != "reveal" && (ev.GrantID == nil || *ev.GrantID != l.grant) {
						t.Errorf("refusal under grant %v, want %d", ev.GrantID, l.grant)
					}
				})
			}
		}
		if cases != 3*11-1 {
			t.Errorf("%d cases ran, want every way × every use", cases)
		}
		wantNoViolations(t, db)
		if n := count(t, db, "reveals"); n != reveals {
			t.Errorf("%d reveals stored, want %d: those before the end, none of those refused", n, reveals)
		}
	})
}

func newest(t *testing.T, db *models.DB) models.AuditEvent {
	t.Helper()
	evs, err := models.ListAudit(context.Background(), db.Read, models.AuditFilter{Limit: 1})
	if err != nil || len(evs) == 0 {
		t.Fatalf("newest audit event: %v", err)
	}
	return evs[0]
}

// TestViewsAfterEndFindsViolations writes, behind the data API's back,
// each kind of violation next to uses that are in order, and expects
// the checker to name exactly the violations.
func TestViewsAfterEndFindsViolations(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		f := newOrderFixture(t, db)
		sys := f.act(f.sysadmin).By
		view := func(g int64, slug string, at time.Time, action models.Action) int64 {
			t.Helper()
			ev, err := models.AppendAudit(f.ctx, db.Write, models.AuditEntry{At: at, Actor: sys, Action: action, Workspace: slug, Table: "members", GrantID: &g})
			if err != nil {
				t.Fatal(err)
			}
			return ev.Seq
		}
		type key struct {
			kind  string
			grant int64
			seq   int64
		}
		var want []key
		t0 := f.now()

		// Ended by a sysadmin: a view before is fine, after is not.
		a, _ := f.directGrant("acme", time.Hour)
		view(a.ID, "acme", t0.Add(time.Minute), models.ActionDataViewed)
		if err := models.EndGrant(f.ctx, db.Write, t0.Add(2*time.Minute), sys, a.ID, "test over"); err != nil {
			t.Fatal(err)
		}
		want = append(want, key{models.AfterEnd, a.ID, view(a.ID, "acme", t0.Add(time.Minute), models.ActionDataViewed)})
		want = append(want, key{models.AfterEnd, a.ID, view(a.ID, "acme", t0.Add(time.Minute), models.ActionFieldRevealed)})

		// Never ended by an event: views outside its time.
		b, _ := f.directGrant("acme", time.Hour)
		view(b.ID, "acme", b.EndsAt.Add(-time.Microsecond), models.ActionDataViewed)
		want = append(want, key{models.OutsideTime, b.ID, view(b.ID, "acme", b.EndsAt, models.ActionDataViewed)})
		want = append(want, key{models.OutsideTime, b.ID, view(b.ID, "acme", b.StartsAt.Add(-time.Second), models.ActionDataViewed)})

		// Ended by its workspace's deletion, which writes no event of
		// the grant's own.
		c := f.deletion(1)[0]
		view(c.grant, c.slug, t0.Add(time.Minute), models.ActionDataViewed)
		if err := c.end(); err != nil {
			t.Fatal(err)
		}
		want = append(want, key{models.AfterEnd, c.grant, view(c.grant, c.slug, t0.Add(time.Minute), models.ActionDataViewed)})

		// Ended with no event at all.
		d, _ := f.directGrant("globex", time.Hour)
		if err := db.Write.Exec("UPDATE grants SET ended_at = ? WHERE id = ?", t0.Add(time.Minute), d.ID).Error; err != nil {
			t.Fatal(err)
		}
		want = append(want, key{models.EndUnlogged, d.ID, 0})

		// Expired and swept after a view in its time: in order.
		e, _ := f.directGrant("globex", time.Minute)
		view(e.ID, "globex", e.EndsAt.Add(-time.Millisecond), models.ActionDataViewed)
		if _, err := models.Sweep(f.ctx, db.Write, e.EndsAt.Add(time.Hour), f.post, f.owners); err != nil {
			t.Fatal(err)
		}

		vs, err := models.ViewsAfterEnd(f.ctx, db.Read)
		if err != nil {
			t.Fatal(err)
		}
		got := map[key]bool{}
		for _, v := range vs {
			got[key{v.Kind, v.GrantID, v.Seq}] = true
			if v.Kind == models.AfterEnd && (v.EndSeq == 0 || v.EndSeq >= v.Seq || v.EndAction == "") {
				t.Errorf("%s: no end before it named", v)
			}
		}
		for _, k := range want {
			if !got[k] {
				t.Errorf("violation %+v not found", k)
			}
			delete(got, k)
		}
		for k := range got {
			t.Errorf("unexpected violation %+v", k)
		}
		if t.Failed() {
			for _, v := range vs {
				t.Log(v)
			}
		}
	})
}

// TestOrderingUnderLoad views and reveals on many grants from many
// goroutines while others end every grant, each way at a random moment,
// the clock runs (expiring some grants) and a sweep runs: afterwards the
// log holds no use after the end of its grant, and every grant's end is
// logged. GATEHOUSE_TEST_SEED repeats the timing choices (not the
// scheduler's).
func TestOrderingUnderLoad(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("GATEHOUSE_TEST_SEED"); s != "" {
		fmt.Sscan(s, &seed)
	}
	t.Logf("seed %d", seed)
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		if db.Dialect == models.Postgres {
			// The shared test server has 100 connections for every test
			// running at once: 12 still make the writers queue.
			s, err := db.Write.DB()
			if err != nil {
				t.Fatal(err)
			}
			s.SetMaxOpenConns(12)
		}
		f := newOrderFixture(t, db)
		rnd := rand.New(rand.NewPCG(seed, 1))
		var lives []live
		for range 2 {
			for _, w := range f.ways() {
				l := w.setup()
				l.way = w.name
				lives = append(lives, l)
			}
		}
		for _, l := range f.deletion(3) {
			l.way = "workspace deleted"
			lives = append(lives, l)
		}
		for _, l := range lives {
			if shown, err := uses[0].run(f, l); err != nil || shown == 0 {
				t.Fatalf("%s: first view: %d shown, %v", l.way, shown, err)
			}
		}
		// The expiries end by the running clock, not by their end.
		stop := make(chan struct{})
		var background, viewers, enders sync.WaitGroup
		background.Go(func() {
			for {
				select {
				case <-stop:
					return
				case <-time.After(2 * time.Millisecond):
					f.advance(time.Second)
				}
			}
		})
		background.Go(func() {
			for {
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
					if _, err := models.Sweep(f.ctx, db.Write, f.now(), f.post, f.owners); err != nil {
						t.Errorf("sweep: %v", err)
					}
				}
			}
		})
		var shown, refused atomic.Int64
		quit := make(chan struct{})
		for i, l := range lives {
			for k := range 2 {
				viewers.Go(func() {
					for n := 0; ; n++ {
						select {
						case <-quit:
							return
						default:
						}
						u := uses[(i+k+n)%len(uses)]
						if u.name == "reveal" && !l.reveals {
							u = uses[0]
						}
						s, err := u.run(f, l)
						switch {
						case err == nil:
							shown.Add(1)
							if s == 0 {
								t.Errorf("%s: %s shown nothing without an error", l.way, u.name)
							}
						case errors.Is(err, models.ErrNoGrant), errors.Is(err, models.ErrNotCleared), errors.Is(err, models.ErrNotFound):
							refused.Add(1)
						default:
							t.Errorf("%s: %s: %v", l.way, u.name, err)
						}
					}
				})
			}
			if l.way == "expired" || l.way == "expired, swept" {
				continue
			}
			delay := time.Duration(rnd.IntN(400)) * time.Millisecond
			enders.Go(func() {
				time.Sleep(delay)
				if err := l.end(); err != nil {
					t.Errorf("%s: end: %v", l.way, err)
				}
			})
		}
		enders.Wait()
		var last time.Time
		for _, l := range lives {
			if l.way != "expired" && l.way != "expired, swept" {
				continue
			}
			g, err := models.FindGrant(f.ctx, db.Read, l.grant)
			if err != nil {
				t.Fatal(err)
			}
			last = maxTime(last, g.EndsAt)
		}
		for f.now().Before(last) {
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(100 * time.Millisecond)
		close(quit)
		viewers.Wait()
		close(stop)
		background.Wait()
		if _, err := models.Sweep(f.ctx, db.Write, f.now(), f.post, f.owners); err != nil {
			t.Fatal(err)
		}

		wantNoViolations(t, db)
		var raced, open int64
		if err := db.Read.Raw("SELECT COUNT(*) FROM audit_events WHERE action = ? AND reason = ?", models.ActionDataRefused, "grant ended").Scan(&raced).Error; err != nil {
			t.Fatal(err)
		}
		if err := db.Read.Raw("SELECT COUNT(*) FROM grants WHERE ended_at IS NULL").Scan(&open).Error; err != nil {
			t.Fatal(err)
		}
		if open != 0 {
			t.Errorf("%d grants not ended", open)
		}
		if res, err := models.VerifyAudit(f.ctx, db); err != nil || !res.OK {
			t.Errorf("audit chain: %+v, %v", res, err)
		}
		t.Logf("%d grants, %d uses shown, %d refused, of which %d refused by the re-check (ended between read and record)",
			len(lives), shown.Load(), refused.Load(), raced)
		// The load ran: uses were tried under every grant's life and some
		// were shown. How many are shown before each grant ends depends on
		// the machine's timing (under -race the cache lets the enders win
		// most races), so that is not counted.
		if tried := shown.Load() + refused.Load(); tried < int64(len(lives)) || shown.Load() == 0 {
			t.Errorf("%d uses tried, %d shown: the load did not run", tried, shown.Load())
		}
	})
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
