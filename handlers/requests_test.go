package handlers

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/dbtest"
	"gatehouse/models/demo"
)

var consentLinkRE = regexp.MustCompile(`/consent/([A-Za-z0-9_-]{43})`)

// consentToken reads the newest consent link mailed to owner from the
// outbox, as the owner's mailbox would receive it.
func (p *testPortal) consentToken(owner string) string {
	p.t.Helper()
	mails, err := p.opts.Outbox.List(context.Background(), p.db.Read, 500)
	if err != nil {
		p.t.Fatal(err)
	}
	for _, m := range mails {
		if m.To == owner && m.Kind == "consent.request" {
			if sm := consentLinkRE.FindStringSubmatch(m.Text); sm != nil {
				return sm[1]
			}
		}
	}
	p.t.Fatalf("no consent mail to %s among %d mails", owner, len(mails))
	return ""
}

// shownHash reads the hidden "shown" field of a consent page.
func shownHash(t *testing.T, body string) string {
	t.Helper()
	m := regexp.MustCompile(`name="shown" value="([0-9a-f]{64})"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no shown hash on the consent page:\n%s", body)
	}
	return m[1]
}

func requestForm(ws, grantee string) url.Values {
	return url.Values{
		"workspace": {ws}, "reason": {"Customer reports that the invoice export fails for every project."},
		"ticket": {"SUP-1234"}, "duration": {"2h"}, "grantee": {grantee}, "mode": {"masked"},
	}
}

// openRequest files a request as sam.support and returns its id.
func (p *testPortal) openRequest(sam *http.Client, form url.Values) int64 {
	p.t.Helper()
	res, body := p.post(noRedirect(sam), "/requests", form)
	if res.StatusCode != http.StatusSeeOther {
		p.t.Fatalf("POST /requests = %d:\n%s", res.StatusCode, body)
	}
	var id int64
	if _, err := fmt.Sscanf(res.Header.Get("Location"), "/requests/%d", &id); err != nil {
		p.t.Fatalf("redirect to %q", res.Header.Get("Location"))
	}
	return id
}

// TestRequestStory is the whole workflow through HTTP: request, the
// two-person rule, approval, consent by link, a read, the customer
// seeing it and revoking, and the next read refused.
func TestRequestStory(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		sam, sara, sean := p.login("sam.support@example.com"), p.login("sara.senior@example.com"), p.login("sean.senior@example.com")
		id := p.openRequest(sam, requestForm("acme", "sara.senior@example.com"))
		reqPath := fmt.Sprintf("/requests/%d", id)

		res, _ := p.post(noRedirect(sara), reqPath+"/approve", url.Values{"note": {"I approve my own."}})
		if res.StatusCode != http.StatusForbidden {
			t.Fatalf("grantee approving = %d, want 403", res.StatusCode)
		}
		if res, _ := p.get(sara, "/workspaces/acme/data/members"); res.StatusCode != http.StatusForbidden {
			t.Fatalf("read before approval = %d, want 403", res.StatusCode)
		}
		if _, body := p.get(sean, "/"); !strings.Contains(body, `data-testid="requests-to-decide"`) || !strings.Contains(body, reqPath) {
			t.Errorf("sean's dashboard does not list the request to decide:\n%s", body)
		}
		if _, body := p.get(sara, "/"); strings.Contains(body, `data-testid="requests-to-decide"`) {
			t.Error("the grantee's dashboard offers her own request for decision")
		}
		res, body := p.post(noRedirect(sean), reqPath+"/approve", url.Values{"note": {"Ticket checked, go ahead."}})
		if res.StatusCode != http.StatusSeeOther {
			t.Fatalf("approve = %d:\n%s", res.StatusCode, body)
		}
		if res, _ := p.get(sara, "/workspaces/acme/data/members"); res.StatusCode != http.StatusForbidden {
			t.Fatalf("read before consent = %d, want 403", res.StatusCode)
		}

		if _, body := p.get(sara, "/"); !strings.Contains(body, fmt.Sprintf(`data-testid="my-request-%d"`, id)) || !strings.Contains(body, "approved") {
			t.Errorf("sara's dashboard does not show her request as approved:\n%s", body)
		}
		token := p.consentToken("owner@acme.example")
		customer := p.client()
		res, body = p.get(customer, "/consent/"+token)
		if res.StatusCode != http.StatusOK || !strings.Contains(body, "Sara") || res.Header.Get("Referrer-Policy") != "no-referrer" {
			t.Fatalf("consent page = %d (Referrer-Policy %q):\n%s", res.StatusCode, res.Header.Get("Referrer-Policy"), body)
		}
		res, body = p.post(noRedirect(customer), "/consent/"+token, url.Values{"decision": {"grant"}, "shown": {shownHash(t, body)}})
		if res.StatusCode != http.StatusSeeOther {
			t.Fatalf("grant = %d:\n%s", res.StatusCode, body)
		}
		p.clock.Advance(time.Minute)
		if res, body := p.get(sara, "/workspaces/acme/data/members"); res.StatusCode != http.StatusOK {
			t.Fatalf("read after consent = %d:\n%s", res.StatusCode, body)
		}
		_, body = p.get(customer, "/consent/"+token)
		if !strings.Contains(body, `data-testid="consent-viewed"`) || !strings.Contains(body, "members") || !strings.Contains(body, "sara.senior@example.com") {
			t.Fatalf("the customer does not see the read:\n%s", body)
		}
		res, body = p.post(noRedirect(customer), "/consent/"+token, url.Values{"decision": {"revoke"}, "shown": {shownHash(t, body)}})
		if res.StatusCode != http.StatusSeeOther {
			t.Fatalf("revoke = %d:\n%s", res.StatusCode, body)
		}
		if res, _ := p.get(sara, "/workspaces/acme/data/members"); res.StatusCode != http.StatusForbidden {
			t.Fatalf("read after revoke = %d, want 403", res.StatusCode)
		}
		_, body = p.get(sam, reqPath)
		for _, want := range []string{"asked for access", "approved", "granted access", "revoked access"} {
			if !strings.Contains(body, want) {
				t.Errorf("request timeline lacks %q", want)
			}
		}
		for _, who := range []string{"sam.support@example.com", "sara.senior@example.com"} {
			if n := p.count("mail_outbox", "to_addr = ? AND request_id = ?", who, id); n < 3 {
				t.Errorf("%s got %d mails about the request, want approved, granted and revoked", who, n)
			}
		}
	})
}

// TestRequestRefusals: every bad form is a 422 naming the problem, and
// writes nothing.
func TestRequestRefusals(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		sam := p.login("sam.support@example.com")
		tests := []struct {
			name   string
			change func(url.Values)
			want   string
		}{
			{"weak reason", func(f url.Values) { f.Set("reason", "need access need access") }, "real sentence"},
			{"punctuation", func(f url.Values) { f.Set("reason", "..............................") }, "real sentence"},
			{"bad ticket", func(f url.Values) { f.Set("ticket", "whatever") }, "SUP-1234"},
			{"unknown workspace", func(f url.Values) { f.Set("workspace", "nope") }, "no workspace"},
			{"restricted table", func(f url.Values) { f["scope"] = []string{"members", "billing"} }, "restricted"},
			{"unknown table", func(f url.Values) { f["scope"] = []string{"secrets"} }, "no table"},
			{"over the maximum", func(f url.Values) { f.Set("duration", "73h") }, "At most"},
			{"no duration", func(f url.Values) { f.Set("duration", "soon") }, "how long"},
			{"offboarded grantee", func(f url.Values) { f.Set("grantee", "lee.leaver@example.com") }, "left the company"},
			{"grantee without agreement", func(f url.Values) { f.Set("grantee", "nina.newhire@example.com") }, "confidentiality agreement"},
			{"support grantee", func(f url.Values) { f.Set("grantee", "sam.support@example.com") }, "not a senior"},
			{"unknown grantee", func(f url.Values) { f.Set("grantee", "ghost@example.com") }, "no staff member"},
			{"records without tables", func(f url.Values) { f.Set("records", "3, 5") }, "Choose the tables"},
			{"bad record id", func(f url.Values) { f["scope"] = []string{"members"}; f.Set("records", "3, x") }, "not a record id"},
		}
		for _, tt := range tests {
			f := requestForm("acme", "sara.senior@example.com")
			tt.change(f)
			res, body := p.post(sam, "/requests", f)
			if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, tt.want) {
				t.Errorf("%s: %d, want 422 saying %q:\n%s", tt.name, res.StatusCode, tt.want, body)
			}
		}
		if n := p.count("access_requests", ""); n != 0 {
			t.Errorf("%d requests written by refused forms", n)
		}
		if n := p.count("audit_events", "action = ?", models.ActionRequestCreated); n != 0 {
			t.Errorf("%d request.created events for refused forms", n)
		}
	})
}

// TestConsentTokens: altered, foreign, expired and used tokens decide
// nothing; one token's concurrent POSTs make exactly one decision; GET and
// HEAD change no workflow row; the raw token is in no row and no log line.
func TestConsentTokens(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		ctx := context.Background()
		sam, sean := p.login("sam.support@example.com"), p.login("sean.senior@example.com")
		approve := func(ws string) (int64, string) {
			id := p.openRequest(sam, requestForm(ws, "sara.senior@example.com"))
			if res, body := p.post(noRedirect(sean), fmt.Sprintf("/requests/%d/approve", id), url.Values{"note": {"Ticket checked."}}); res.StatusCode != http.StatusSeeOther {
				t.Fatalf("approve = %d:\n%s", res.StatusCode, body)
			}
			owners, err := models.Owners(ctx, p.opts.Product, ws)
			if err != nil {
				t.Fatal(err)
			}
			return id, p.consentToken(owners[0])
		}
		_, token := approve("acme")
		_, foreign := approve("globex")

		// GET and HEAD change nothing but the consent.shown record.
		snapshot := func() string {
			var b strings.Builder
			for _, table := range []string{"access_requests", "consent_links", "consents", "grants"} {
				var rows []map[string]any
				if err := p.db.Read.Table(table).Order("id").Find(&rows).Error; err != nil {
					t.Fatal(err)
				}
				fmt.Fprintf(&b, "%s %v\n", table, rows)
			}
			return b.String()
		}
		before := snapshot()
		for range 5 {
			for _, m := range []string{http.MethodGet, http.MethodHead} {
				if res, _ := p.do(p.client(), m, "/consent/"+token, nil, nil); res.StatusCode != http.StatusOK {
					t.Fatalf("%s consent = %d", m, res.StatusCode)
				}
			}
		}
		if after := snapshot(); after != before {
			t.Fatalf("GET/HEAD changed rows:\nbefore %s\nafter %s", before, after)
		}

		// 10,000 bad tokens against the model: none accepted.
		post, err := p.h.post(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
		accepted := 0
		for i := range 10_000 {
			var bad string
			switch i % 4 {
			case 0: // one character altered
				b := []byte(token)
				j := i % len(b)
				b[j] = alphabet[(strings.IndexByte(alphabet, b[j])+1+(i/4)%63)%64]
				bad = string(b)
			case 1: // truncated or extended
				bad = token[:i%43] + strings.Repeat("x", (i/4)%3)
			case 2: // random
				bad = models.NewToken()[:43]
			case 3: // the right shape with a prefix of another link
				bad = foreign[:20] + token[20:]
			}
			if bad == token || bad == foreign {
				continue
			}
			if _, err := models.DecideConsent(ctx, p.db.Write, p.clock.Now(), post,
				models.ConsentInput{Token: bad, Decision: models.ConsentGrant, ShownHash: "x", PageHash: "x"}, models.DefaultClearance(demo.AgreementVersion)); err == nil {
				accepted++
			}
		}
		if accepted != 0 {
			t.Fatalf("%d bad tokens accepted", accepted)
		}

		// 50 concurrent POSTs of one token: exactly one decision.
		_, body := p.get(p.client(), "/consent/"+token)
		shown := shownHash(t, body)
		var wg sync.WaitGroup
		codes := make(chan int, 50)
		for range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, _ := p.post(noRedirect(p.client()), "/consent/"+token, url.Values{"decision": {"grant"}, "shown": {shown}})
				codes <- res.StatusCode
			}()
		}
		wg.Wait()
		close(codes)
		won := 0
		for c := range codes {
			if c == http.StatusSeeOther {
				won++
			}
		}
		if n := p.count("consents", "decision <> ?", "revoke"); won != 1 || n != 1 {
			t.Fatalf("50 concurrent decisions: %d won, %d recorded; want 1 and 1", won, n)
		}
		if n := p.count("grants", ""); n != 1 {
			t.Fatalf("%d grants, want 1", n)
		}

		// A used token decides nothing more; an expired one shows nothing.
		res, _ := p.post(noRedirect(p.client()), "/consent/"+token, url.Values{"decision": {"deny"}, "shown": {shown}})
		if res.StatusCode == http.StatusSeeOther {
			t.Fatal("a second decision was accepted")
		}
		p.clock.Advance(73 * time.Hour)
		if res, _ := p.get(p.client(), "/consent/"+foreign); res.StatusCode != http.StatusNotFound {
			t.Fatalf("expired link = %d, want 404", res.StatusCode)
		}

		// The raw tokens appear in no row of any table and no log line.
		for _, tok := range []string{token, foreign} {
			if strings.Contains(p.logs.String(), tok) {
				t.Fatal("a raw token is in the log")
			}
			if table := p.tableContaining(tok); table != "" {
				t.Fatalf("a raw token is stored in %s", table)
			}
		}
	})
}

// tableContaining returns the first table any of whose rows, as text,
// contains s.
func (p *testPortal) tableContaining(s string) string {
	p.t.Helper()
	var tables []string
	q := "SELECT name FROM sqlite_master WHERE type = 'table'"
	if p.db.Dialect == models.Postgres {
		q = "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
	}
	if err := p.db.Read.Raw(q).Scan(&tables).Error; err != nil {
		p.t.Fatal(err)
	}
	for _, table := range tables {
		var rows []map[string]any
		if err := p.db.Read.Table(table).Find(&rows).Error; err != nil {
			p.t.Fatal(err)
		}
		for _, r := range rows {
			for _, v := range r {
				text := fmt.Sprint(v)
				if b, ok := v.([]byte); ok {
					text = string(b)
				}
				if strings.Contains(text, s) {
					return table
				}
			}
		}
	}
	return ""
}

// TestConsentRateLimit: too many failures from one address get 429.
func TestConsentRateLimit(t *testing.T) {
	p := newPortal(t, dbtest.SQLite(t))
	c := p.client()
	for i := range 20 {
		if res, _ := p.get(c, "/consent/"+strings.Repeat("a", 42)+fmt.Sprint(i%10)); res.StatusCode != http.StatusNotFound {
			t.Fatalf("bad token %d = %d, want 404", i, res.StatusCode)
		}
	}
	if res, _ := p.get(c, "/consent/"+strings.Repeat("b", 43)); res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("21st failure = %d, want 429", res.StatusCode)
	}
	p.clock.Advance(11 * time.Minute)
	if res, _ := p.get(c, "/consent/"+strings.Repeat("b", 43)); res.StatusCode != http.StatusNotFound {
		t.Fatalf("after the window = %d, want 404", res.StatusCode)
	}
}

// grantedRequest takes a request on acme for sara through approval and
// the owner's consent, and returns its id and the owner's token.
func (p *testPortal) grantedRequest() (int64, string) {
	p.t.Helper()
	sam, sean := p.login("sam.support@example.com"), p.login("sean.senior@example.com")
	id := p.openRequest(sam, requestForm("acme", "sara.senior@example.com"))
	if res, body := p.post(noRedirect(sean), fmt.Sprintf("/requests/%d/approve", id), url.Values{"note": {"Ticket checked."}}); res.StatusCode != http.StatusSeeOther {
		p.t.Fatalf("approve = %d:\n%s", res.StatusCode, body)
	}
	token := p.consentToken("owner@acme.example")
	c := p.client()
	_, body := p.get(c, "/consent/"+token)
	if res, body := p.post(noRedirect(c), "/consent/"+token, url.Values{"decision": {"grant"}, "shown": {shownHash(p.t.(*testing.T), body)}}); res.StatusCode != http.StatusSeeOther {
		p.t.Fatalf("grant = %d:\n%s", res.StatusCode, body)
	}
	return id, token
}

// TestSweepNotices: 15 minutes before the end requester and grantee are
// warned, at the end they are told and the owners get what was viewed;
// each notice once, however often the sweeper runs.
func TestSweepNotices(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		ctx := context.Background()
		id, _ := p.grantedRequest()
		sara := p.login("sara.senior@example.com")
		if res, _ := p.get(sara, "/workspaces/acme/data/members/3"); res.StatusCode != http.StatusOK {
			t.Fatalf("read = %d", res.StatusCode)
		}
		kinds := func(kind string) int64 { return p.count("mail_outbox", "kind = ? AND request_id = ?", kind, id) }
		p.clock.Advance(2*time.Hour - 10*time.Minute)
		for range 2 {
			if _, err := p.sweeper().Sweep(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if n := kinds("request.expiring"); n != 2 {
			t.Fatalf("%d expiry warnings, want 2 (requester and grantee)", n)
		}
		p.clock.Advance(11 * time.Minute)
		for range 2 {
			if _, err := p.sweeper().Sweep(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if n := kinds("request.ended"); n != 2 {
			t.Fatalf("%d ended notices, want 2", n)
		}
		owners, _ := models.Owners(ctx, p.opts.Product, "acme")
		if n := kinds("grant.summary"); n != int64(len(owners)) {
			t.Fatalf("%d summaries, want one per owner (%d)", n, len(owners))
		}
		mails, err := p.opts.Outbox.List(ctx, p.db.Read, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range mails {
			if m.Kind == "grant.summary" && (!strings.Contains(m.Text, "members") || !strings.Contains(m.Text, "sara.senior@example.com")) {
				t.Errorf("summary to %s does not list sara's read of members:\n%s", m.To, m.Text)
			}
		}
		if n := p.count("audit_events", "action = ?", models.ActionGrantExpired); n != 1 {
			t.Errorf("%d grant.expired events, want 1", n)
		}
	})
}

// TestConsentReport: reporting denies the request and alerts every
// sysadmin.
func TestConsentReport(t *testing.T) {
	p := newPortal(t, dbtest.SQLite(t))
	sam, sean := p.login("sam.support@example.com"), p.login("sean.senior@example.com")
	id := p.openRequest(sam, requestForm("acme", "sara.senior@example.com"))
	p.post(noRedirect(sean), fmt.Sprintf("/requests/%d/approve", id), url.Values{"note": {"Ticket checked."}})
	token := p.consentToken("owner@acme.example")
	c := p.client()
	_, body := p.get(c, "/consent/"+token)
	if res, body := p.post(noRedirect(c), "/consent/"+token, url.Values{"decision": {"report"}, "shown": {shownHash(t, body)}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("report = %d:\n%s", res.StatusCode, body)
	}
	r, err := models.FindRequest(context.Background(), p.db.Read, id)
	if err != nil || r.Status != models.RequestReported {
		t.Fatalf("request after report: %v %v", r.Status, err)
	}
	for _, admin := range []string{"ada.sysadmin@example.com", "otto.sysadmin@example.com"} {
		if n := p.count("mail_outbox", "kind = ? AND to_addr = ?", "request.reported", admin); n != 1 {
			t.Errorf("%s got %d alerts, want 1", admin, n)
		}
	}
	if res, _ := p.get(p.login("sara.senior@example.com"), "/workspaces/acme/data/members"); res.StatusCode != http.StatusForbidden {
		t.Errorf("read after a report = %d, want 403", res.StatusCode)
	}
	// The decided page stays readable for a while, not for ever.
	p.clock.Advance(29 * 24 * time.Hour)
	if res, _ := p.get(c, "/consent/"+token); res.StatusCode != http.StatusOK {
		t.Errorf("decided link after 29 days = %d, want 200", res.StatusCode)
	}
	p.clock.Advance(2 * 24 * time.Hour)
	if res, _ := p.get(p.client(), "/consent/"+token); res.StatusCode != http.StatusNotFound {
		t.Errorf("decided link after 31 days = %d, want 404", res.StatusCode)
	}
}

// TestRequestRecordScope: a request for two records of one table opens
// those records and nothing else.
func TestRequestRecordScope(t *testing.T) {
	p := newPortal(t, dbtest.SQLite(t))
	sam, sean := p.login("sam.support@example.com"), p.login("sean.senior@example.com")
	f := requestForm("acme", "sara.senior@example.com")
	f["scope"] = []string{"members"}
	f.Set("records", "3, 5")
	id := p.openRequest(sam, f)
	p.post(noRedirect(sean), fmt.Sprintf("/requests/%d/approve", id), url.Values{"note": {"Ticket checked."}})
	token := p.consentToken("owner@acme.example")
	c := p.client()
	_, body := p.get(c, "/consent/"+token)
	if !strings.Contains(body, "members (3, 5)") {
		t.Errorf("the consent page does not name the records:\n%s", body)
	}
	p.post(noRedirect(c), "/consent/"+token, url.Values{"decision": {"grant"}, "shown": {shownHash(t, body)}})
	sara := p.login("sara.senior@example.com")
	for path, want := range map[string]int{
		"/workspaces/acme/data/members/3": http.StatusOK, "/workspaces/acme/data/members/5": http.StatusOK,
		"/workspaces/acme/data/members/4": http.StatusForbidden, "/workspaces/acme/data/projects": http.StatusForbidden,
	} {
		if res, _ := p.get(sara, path); res.StatusCode != want {
			t.Errorf("GET %s = %d, want %d", path, res.StatusCode, want)
		}
	}
}

// TestBodyLimit: a body over 64 KiB is refused and writes nothing.
func TestBodyLimit(t *testing.T) {
	p := newPortal(t, dbtest.SQLite(t))
	sam := p.login("sam.support@example.com")
	f := requestForm("acme", "sara.senior@example.com")
	f.Set("reason", strings.Repeat("The customer cannot export invoices. ", 3000))
	res, _ := p.post(noRedirect(sam), "/requests", f)
	if res.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("a 100 KiB form = %d, want 413", res.StatusCode)
	}
	if n := p.count("access_requests", ""); n != 0 {
		t.Fatalf("%d requests written", n)
	}
}
