package fleet_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/fleet"
	"gatehouse/models"
)

// TestDetectionAcrossReplicas: two replicas run the detector every second
// on one PostgreSQL (as the README's role) while refused data reads come
// in from many addresses. One replica is killed with SIGKILL inside a
// detection round and restarted while the refusals go on; then a backlog
// of more than one round's batch piles up and both replicas restart at
// once onto it. Never are two replicas inside a round at once. Once the
// position has reached the audit head, every rule and subject the audit
// log says crossed the threshold has exactly one alert, with exactly the
// evidence the log gives it, and nothing else was raised (an address
// with seven refusals, evaluated twice, would have one); each alert has
// one alert.raised event, one mail per recipient (in the outbox and at
// the SMTP server) and one webhook delivery, signed as the README
// documents. No replica logged an error.
func TestDetectionAcrossReplicas(t *testing.T) {
	const secret = "fleet-webhook-secret-0123456789abcdef"
	hook := startAlertHook(t, []byte(secret))
	const security = "security@example.com"
	f := fleet.Start(t, fleet.Options{Env: []string{
		"GATEHOUSE_DETECTION_EVERY=1s",
		// The proxy passes on the X-Forwarded-For the test names.
		"GATEHOUSE_TRUSTED_PROXIES=127.0.0.1/32",
		"GATEHOUSE_SECURITY_EMAIL=" + security,
		"GATEHOUSE_ALERT_WEBHOOK_URL=" + hook.URL,
		"GATEHOUSE_ALERT_WEBHOOK_SECRET=" + secret,
	}})
	began := time.Now()
	var staff []*fleet.Client
	for _, email := range []string{"sara.senior@example.com", "sean.senior@example.com"} {
		staff = append(staff, f.SignIn(t, email))
	}

	// What was there before: the demo's alerts and mail, and the events
	// of the start, all evaluated.
	head := waitEvaluated(t, f, 20*time.Second)
	var before struct{ Alert, Mail, Webhook int64 }
	if err := f.Owner.Read.Raw(`SELECT (SELECT COALESCE(MAX(id), 0) FROM alerts) AS alert,
		(SELECT COALESCE(MAX(id), 0) FROM mail_outbox) AS mail, (SELECT COALESCE(MAX(id), 0) FROM alert_webhooks) AS webhook`).Scan(&before).Error; err != nil {
		t.Fatal(err)
	}

	rounds := watchRounds(f)
	defer rounds.stop()
	// First wave: six addresses cross the threshold (10 refusals within
	// 10 minutes) one after another, two stay below it; the staff
	// members reading cross it too.
	wave := func(first, over, under int, step time.Duration) *refusals {
		var bs []burst
		for i := range over {
			bs = append(bs, burst{IP: fmt.Sprintf("198.51.100.%d", first+i), N: 12, After: time.Duration(i) * step})
		}
		for i := range under {
			// Seven: evaluated twice they would make fourteen, and an alert.
			bs = append(bs, burst{IP: fmt.Sprintf("198.51.100.%d", first+100+i), N: 7, After: time.Duration(i) * 2 * step})
		}
		return startRefusals(f, staff, bs)
	}
	w1 := wave(1, 6, 2, 400*time.Millisecond)
	time.Sleep(time.Second) // some alerts raised, more to come
	victim, mid := rounds.killInRound(f, 6*time.Second)
	if mid {
		t.Logf("killed replica %d inside a detection round", victim.Index)
	} else {
		t.Logf("no round caught in progress within 6s: killed replica %d between rounds", victim.Index)
	}
	time.Sleep(time.Second)
	victim.Start(t)
	w1.wait()
	// Second wave, with the restarted replica back.
	w2 := wave(11, 3, 1, 300*time.Millisecond)
	w2.wait()

	// Third, a backlog both replicas find at once: with rounds 5 minutes
	// apart (one at the start), refusals pile up, more than one round's
	// batch; then both restart together, and their first rounds race
	// over it. Only the claim keeps the second from evaluating what the
	// first is evaluating, or has just evaluated, again.
	for _, r := range f.Replicas() {
		r.SetEnv("GATEHOUSE_DETECTION_EVERY=5m")
	}
	f.StopAll(t)
	f.StartAll(t) // each runs a round as it starts, and no other for 5 minutes
	piled := time.Now()
	w3 := pileRefusals(f, staff, 12, pile)
	w3.wait()
	h, p := auditHeadAndPosition(t, f)
	t.Logf("backlog of %d events piled up in %s", h-p, time.Since(piled).Round(100*time.Millisecond))
	for _, r := range f.Replicas() {
		r.SetEnv()
	}
	f.StopAll(t)
	f.StartAll(t)

	statuses := map[int]int{}
	for _, w := range []*refusals{w1, w2, w3} {
		for k, n := range w.statuses() {
			statuses[k] += n
		}
	}

	expired := settle(t, f, before.Mail, before.Webhook, 25*time.Second)
	seen, together := rounds.stop()
	t.Logf("refused reads answered %v; samples inside a detection round, by replica: %v; settled %s after the fleet was ready",
		statuses, seen, time.Since(began).Round(100*time.Millisecond))
	if len(seen) < 2 {
		t.Errorf("only %v seen inside a detection round: the test needs both replicas taking rounds", seen)
	}
	if len(together) > 0 {
		t.Errorf("%d samples saw two replicas inside a detection round at once, as the sample before did (%s): the same events evaluated twice", len(together), together[0])
	}

	// The alerts the audit log calls for, computed from it alone.
	want := expectedRefusalAlerts(t, f, head)
	got := newAlerts(t, f, before.Alert)
	addresses := 0
	for k := range want {
		if k.Kind == models.SubjectAddress {
			addresses++
		}
	}
	if addresses < 7 {
		t.Fatalf("only %d addresses crossed the threshold in the log (refused reads answered %v): too few to test", addresses, statuses)
	}
	byKey := map[alertKey][]models.Alert{}
	for _, a := range got {
		k := alertKey{a.Rule, a.SubjectKind, a.Subject}
		byKey[k] = append(byKey[k], a)
	}
	for k, w := range want {
		as := byKey[k]
		if len(as) != 1 {
			t.Errorf("%d alerts for %v, want 1", len(as), k)
			continue
		}
		if w.Evidence == nil {
			continue // a staff member's reads came from several addresses at once: their order by time and by seq may differ
		}
		var ev []int64
		if err := f.Owner.Read.Raw("SELECT seq FROM alert_evidence WHERE alert_id = ? ORDER BY seq", as[0].ID).Scan(&ev).Error; err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ev, w.Evidence) || as[0].EvidenceCount != len(w.Evidence) {
			t.Errorf("alert %d for %v: evidence %v (count %d), want %v: the 10th refusal on", as[0].ID, k, ev, as[0].EvidenceCount, w.Evidence)
		}
	}
	for k, as := range byKey {
		if _, ok := want[k]; !ok {
			t.Errorf("%d alerts for %v, which the audit log does not call for", len(as), k)
		}
	}
	var dups []struct {
		Rule, SubjectKind, Subject string
		N                          int
	}
	if err := f.Owner.Read.Raw("SELECT rule, subject_kind, subject, COUNT(*) AS n FROM alerts GROUP BY rule, subject_kind, subject HAVING COUNT(*) > 1").Scan(&dups).Error; err != nil {
		t.Fatal(err)
	}
	for _, d := range dups {
		t.Errorf("%d alerts for %s %s %s", d.N, d.Rule, d.SubjectKind, d.Subject)
	}

	// One alert.raised event each.
	var raised []string
	if err := f.Owner.Read.Raw("SELECT target FROM audit_events WHERE action = ? AND seq > ?", models.ActionAlertRaised, head).Scan(&raised).Error; err != nil {
		t.Fatal(err)
	}
	ids := map[int64]models.Alert{}
	for _, a := range got {
		ids[a.ID] = a
	}
	raisedBy := map[string]int{}
	for _, target := range raised {
		raisedBy[target]++
	}
	for id := range ids {
		if n := raisedBy["alert/"+strconv.FormatInt(id, 10)]; n != 1 {
			t.Errorf("%d alert.raised events for alert %d, want 1", n, id)
		}
	}
	if len(raised) != len(ids) {
		t.Errorf("%d alert.raised events since the start, for %d new alerts", len(raised), len(ids))
	}

	checkAlertMail(t, f, ids, before.Mail, security, expired)
	checkAlertHook(t, f, hook, ids, before.Webhook)
	for _, r := range f.Replicas() {
		for _, s := range []string{`"level":"ERROR"`, "SQLSTATE", "permission denied for"} {
			if lines := r.LogLines(s); len(lines) > 0 {
				t.Errorf("replica %d logged %d lines with %s, the first: %s", r.Index, len(lines), s, lines[0])
			}
		}
	}
	// The chain, as the owner (f.VerifyAudit's `gatehouse audit verify`
	// reads the replicas' settings without --dev, and refuses the http://
	// webhook URL that only --dev allows).
	if res, err := models.VerifyAudit(context.Background(), f.Owner); err != nil || !res.OK {
		t.Errorf("audit chain: %+v, %v", res, err)
	}
}

// burst is N refused data reads from address IP, one after the other,
// starting After the wave does.
type burst struct {
	IP    string
	N     int
	After time.Duration
}

// refusals runs bursts of refused reads: each burst's reads go in order
// (so the log orders an address's refusals by time and by seq alike),
// by the staff members in turn, of a workspace that does not exist.
type refusals struct {
	wg   sync.WaitGroup
	mu   sync.Mutex
	seen map[int]int // answers by status; 0 for a transport error
}

func startRefusals(f *fleet.Fleet, staff []*fleet.Client, bursts []burst) *refusals {
	r := &refusals{seen: map[int]int{}}
	for i, b := range bursts {
		r.wg.Go(func() {
			time.Sleep(b.After)
			for k := range b.N {
				r.read(f, staff[(i+k)%len(staff)], b.IP)
				time.Sleep(60 * time.Millisecond)
			}
		})
	}
	return r
}

func (r *refusals) wait() { r.wg.Wait() }

// pile is the backlog's bursts, 2,110 refusals (a round's batch is
// 2,000): 250 addresses below the threshold (seven refusals each:
// fourteen if evaluated twice) and 30 above it.
var pile = func() []burst {
	var bs []burst
	for i := range 250 {
		bs = append(bs, burst{IP: fmt.Sprintf("198.51.101.%d", i), N: 7})
	}
	for i := range 30 {
		bs = append(bs, burst{IP: fmt.Sprintf("198.51.103.%d", i), N: 12})
	}
	return bs
}()

// pileRefusals runs bursts as fast as workers clients can, each burst's
// reads in order.
func pileRefusals(f *fleet.Fleet, staff []*fleet.Client, workers int, bursts []burst) *refusals {
	r := &refusals{seen: map[int]int{}}
	next := make(chan burst)
	go func() {
		for _, b := range bursts {
			next <- b
		}
		close(next)
	}()
	for w := range workers {
		r.wg.Go(func() {
			for b := range next {
				for k := range b.N {
					r.read(f, staff[(w+k)%len(staff)], b.IP)
				}
			}
		})
	}
	return r
}

// read asks for a workspace's data that does not exist, from ip.
func (r *refusals) read(f *fleet.Fleet, c *fleet.Client, ip string) {
	req, err := http.NewRequest(http.MethodGet, f.URL+"/workspaces/fleet-nowhere/data/documents", nil)
	if err != nil {
		panic(err)
	}
	req.Header.Set("X-Forwarded-For", ip)
	status := 0
	if res, err := c.Do(req); err == nil {
		status = res.Status
	}
	r.mu.Lock()
	r.seen[status]++
	r.mu.Unlock()
}

func (r *refusals) statuses() map[int]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.seen)
}

// roundWatch samples, as the owner, which replicas are inside a
// detection round: a round reads and writes the rules' aggregates
// (detection_counts, detection_items) only once it holds the claim on
// detection_position, and its locks on those tables last until it
// commits or rolls back. pg_locks names each holder's backend, whose
// application_name names the replica. Two replicas seen in a round at
// once would be two evaluations at once: what the claim rules out. (Only
// two samples in a row count: pg_locks gathers the backends' fast-path
// locks one backend after another, so a single sample could straddle a
// hand-over. Rounds evaluating the same events together last hundreds
// of samples.)
type roundWatch struct {
	mu       sync.Mutex
	samples  map[string]int // rounds in progress seen, by replica
	together []string       // second and later samples in a row with more than one replica in a round
	seen     chan string    // each sample's replica in a round, for killInRound
	done     chan struct{}
	stopped  chan struct{}
}

func watchRounds(f *fleet.Fleet) *roundWatch {
	w := &roundWatch{samples: map[string]int{}, seen: make(chan string, 1), done: make(chan struct{}), stopped: make(chan struct{})}
	go func() {
		defer close(w.stopped)
		both := false // the last sample saw more than one replica in a round
		for {
			select {
			case <-w.done:
				return
			default:
			}
			var names []string
			err := f.Owner.Read.Raw(`SELECT DISTINCT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
				WHERE l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) AND l.granted
				AND l.relation IN ('detection_counts'::regclass, 'detection_items'::regclass)
				AND a.application_name LIKE 'gatehouse-fleet-replica-%' ORDER BY 1`).Scan(&names).Error
			if err != nil {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			w.mu.Lock()
			for _, n := range names {
				w.samples[n]++
			}
			if len(names) > 1 && both {
				w.together = append(w.together, strings.Join(names, " and "))
			}
			both = len(names) > 1
			w.mu.Unlock()
			if len(names) == 1 {
				select {
				case w.seen <- names[0]:
				default:
				}
			}
			time.Sleep(time.Millisecond)
		}
	}()
	return w
}

// killInRound kills (SIGKILL) a replica seen inside a detection round
// within d, reporting mid = true; when none is seen in one by then, it
// kills replica 1 anyway.
func (w *roundWatch) killInRound(f *fleet.Fleet, d time.Duration) (victim *fleet.Replica, mid bool) {
	for len(w.seen) > 0 { // a sample from before: stale
		<-w.seen
	}
	deadline := time.After(d)
	for {
		select {
		case name := <-w.seen:
			for _, r := range f.Replicas() {
				if r.AppName() == name {
					r.Kill()
					return r, true
				}
			}
		case <-deadline:
			r := f.Replica(1)
			r.Kill()
			return r, false
		}
	}
}

// stop ends the watch and returns how many samples saw each replica in a
// round, and the samples that saw several at once.
func (w *roundWatch) stop() (rounds map[string]int, together []string) {
	select {
	case <-w.done:
	default:
		close(w.done)
	}
	<-w.stopped
	w.mu.Lock()
	defer w.mu.Unlock()
	return maps.Clone(w.samples), slices.Clone(w.together)
}

// auditHeadAndPosition reads the audit log's last seq and the detector's
// position.
func auditHeadAndPosition(t *testing.T, f *fleet.Fleet) (head, pos int64) {
	t.Helper()
	var r struct{ Head, Pos int64 }
	if err := f.Owner.Read.Raw(`SELECT (SELECT COALESCE(MAX(seq), 0) FROM audit_events) AS head,
		(SELECT seq FROM detection_position WHERE id = 1) AS pos`).Scan(&r).Error; err != nil {
		t.Fatal(err)
	}
	return r.Head, r.Pos
}

// waitEvaluated waits until the detector's position is the audit head,
// and returns it.
func waitEvaluated(t *testing.T, f *fleet.Fleet, within time.Duration) int64 {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		head, pos := auditHeadAndPosition(t, f)
		if pos == head {
			return head
		}
		if time.Now().After(deadline) {
			t.Fatalf("detection position %d, audit head %d after %s", pos, head, within)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// settle waits until the detector has evaluated the whole log and every
// alert mail and webhook delivery queued since the start is sent. A
// delivery the killed replica had claimed stays leased to it for minutes
// (the lease outlives any send): one still claimed after 3 s, which a
// live worker would have finished in milliseconds, has its lease run
// out now, as time would, and is returned.
func settle(t *testing.T, f *fleet.Fleet, mailAfter, hookAfter int64, within time.Duration) (expired map[int64]bool) {
	t.Helper()
	expired = map[int64]bool{}
	claimedSince := map[string]time.Time{}
	deadline := time.Now().Add(within)
	for {
		head, pos := auditHeadAndPosition(t, f)
		var pending []struct {
			Tbl     string
			ID      int64
			Claimed bool
		}
		err := f.Owner.Read.Raw(`SELECT 'mail_outbox' AS tbl, id, claimed_until > now() AS claimed FROM mail_outbox WHERE id > ? AND kind = 'alert.raised' AND status = ?
			UNION ALL SELECT 'alert_webhooks', id, claimed_until > now() FROM alert_webhooks WHERE id > ? AND status = ?`,
			mailAfter, models.MailQueued, hookAfter, models.MailQueued).Scan(&pending).Error
		if err != nil {
			t.Fatal(err)
		}
		if pos == head && len(pending) == 0 {
			return expired
		}
		for _, p := range pending {
			k := p.Tbl + "/" + strconv.FormatInt(p.ID, 10)
			if !p.Claimed {
				delete(claimedSince, k)
				continue
			}
			if _, ok := claimedSince[k]; !ok {
				claimedSince[k] = time.Now()
			}
			if time.Since(claimedSince[k]) > 3*time.Second {
				t.Logf("%s still claimed after 3s (by the killed replica): its lease runs out now", k)
				if err := f.Owner.Write.Exec("UPDATE "+p.Tbl+" SET claimed_until = now() WHERE id = ?", p.ID).Error; err != nil {
					t.Fatal(err)
				}
				if p.Tbl == "mail_outbox" {
					expired[p.ID] = true
				}
				delete(claimedSince, k)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: detection position %d, audit head %d; %d alert mails and webhook deliveries queued: %+v", within, pos, head, len(pending), pending)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

type alertKey struct{ Rule, Kind, Subject string }

// wanted is an alert the log calls for, and its evidence when the log
// fixes it (nil otherwise).
type wanted struct{ Evidence []int64 }

// expectedRefusalAlerts reads the refused reads and sign-ins appended
// after seq from the audit log and returns the "refusals" alerts they
// call for (policy/detection.toml: 10 or more by one person, or from one
// address, within 10 minutes): one per subject with 10 or more, all of
// them being within a minute or so. An address's evidence is its 10th
// refusal and every later one.
func expectedRefusalAlerts(t *testing.T, f *fleet.Fleet, after int64) map[alertKey]wanted {
	t.Helper()
	var evs []struct {
		Seq       int64
		At        time.Time
		Actor, IP string
	}
	if err := f.Owner.Read.Raw("SELECT seq, at, actor, ip FROM audit_events WHERE seq > ? AND action IN ? ORDER BY seq", after,
		[]models.Action{models.ActionDataRefused, models.ActionLoginRefused}).Scan(&evs).Error; err != nil {
		t.Fatal(err)
	}
	if len(evs) == 0 {
		t.Fatal("no refusal in the audit log")
	}
	if span := evs[len(evs)-1].At.Sub(evs[0].At); span > 5*time.Minute {
		t.Fatalf("the refusals span %s: the expected alerts assume they all fall within one 10-minute window", span)
	}
	by := map[alertKey][]int64{}
	var subjects []string
	for _, e := range evs {
		if e.Actor != "" {
			by[alertKey{"refusals", models.SubjectStaff, e.Actor}] = append(by[alertKey{"refusals", models.SubjectStaff, e.Actor}], e.Seq)
			subjects = append(subjects, e.Actor)
		}
		if e.IP != "" {
			by[alertKey{"refusals", models.SubjectAddress, e.IP}] = append(by[alertKey{"refusals", models.SubjectAddress, e.IP}], e.Seq)
			subjects = append(subjects, e.IP)
		}
	}
	// Earlier refusals of the same subjects would count too: the test
	// relies on there being none within the window.
	var earlier int64
	if err := f.Owner.Read.Raw("SELECT COUNT(*) FROM audit_events WHERE seq <= ? AND at > ? AND action IN ? AND (actor IN ? OR ip IN ?)", after,
		evs[0].At.Add(-15*time.Minute), []models.Action{models.ActionDataRefused, models.ActionLoginRefused}, subjects, subjects).Scan(&earlier).Error; err != nil {
		t.Fatal(err)
	}
	if earlier > 0 {
		t.Fatalf("%d refusals of the test's subjects before it began", earlier)
	}
	want := map[alertKey]wanted{}
	for k, seqs := range by {
		if len(seqs) < 10 {
			continue
		}
		w := wanted{}
		if k.Kind == models.SubjectAddress {
			w.Evidence = seqs[9:]
		}
		want[k] = w
	}
	return want
}

// newAlerts are the alerts raised after alert id after.
func newAlerts(t *testing.T, f *fleet.Fleet, after int64) []models.Alert {
	t.Helper()
	var as []models.Alert
	if err := f.Owner.Read.Where("id > ?", after).Order("id").Find(&as).Error; err != nil {
		t.Fatal(err)
	}
	return as
}

var alertLink = regexp.MustCompile(`/alerts/(\d+)`)

// checkAlertMail: each new alert is in the outbox once for every active
// sysadmin and the security address, and reached the SMTP server once
// each (at least once for a mail whose lease the test ran out: its first
// send may have been accepted just before the kill).
func checkAlertMail(t *testing.T, f *fleet.Fleet, alerts map[int64]models.Alert, after int64, security string, expired map[int64]bool) {
	t.Helper()
	ctx := context.Background()
	var to []string
	if err := f.Owner.Read.Raw("SELECT email FROM staff WHERE tier = 'sysadmin' AND status = ?", models.StatusActive).Scan(&to).Error; err != nil {
		t.Fatal(err)
	}
	if len(to) == 0 {
		t.Fatal("no active sysadmin to mail")
	}
	to = append(to, security)
	outbox, err := models.NewOutbox(f.SessionKey)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	if err := f.Owner.Read.Raw("SELECT id FROM mail_outbox WHERE id > ? AND kind = 'alert.raised' ORDER BY id", after).Scan(&ids).Error; err != nil {
		t.Fatal(err)
	}
	queued := map[string]int{} // "address alert-id"
	tolerant := map[string]bool{}
	for _, id := range ids {
		m, err := outbox.Get(ctx, f.Owner.Read, id)
		if err != nil || m.Unreadable {
			t.Fatalf("alert mail %d: %v (unreadable %v)", id, err, m.Unreadable)
		}
		g := alertLink.FindStringSubmatch(m.Text)
		if g == nil {
			t.Errorf("alert mail %d to %s links no alert:\n%s", id, m.To, m.Text)
			continue
		}
		k := m.To + " " + g[1]
		queued[k]++
		if expired[id] {
			tolerant[k] = true
		}
	}
	delivered := map[string]int{}
	for _, m := range sent(t, f) {
		if g := alertLink.FindStringSubmatch(m.Text); g != nil && strings.Contains(m.Subject, "Gatehouse alert") {
			delivered[m.To+" "+g[1]]++
		}
	}
	for id := range alerts {
		for _, addr := range to {
			k := addr + " " + strconv.FormatInt(id, 10)
			if queued[k] != 1 {
				t.Errorf("alert %d: %d mails to %s in the outbox, want 1", id, queued[k], addr)
			}
			if n := delivered[k]; n != 1 && !(tolerant[k] && n > 1) {
				t.Errorf("alert %d: the SMTP server received %d mails to %s, want 1", id, n, addr)
			}
		}
	}
	if want := len(alerts) * len(to); len(ids) != want {
		t.Errorf("%d alert mails in the outbox, want %d (%d alerts × %d recipients)", len(ids), want, len(alerts), len(to))
	}
}

// alertHook is the webhook receiver: it checks each delivery's
// X-Gatehouse-Signature as the README documents it ("sha256=" and the
// hex HMAC-SHA256 of the raw body under the secret) and answers 200, or
// 401 for a bad signature.
type alertHook struct {
	*httptest.Server
	secret []byte

	mu       sync.Mutex
	got      []models.WebhookAlert // the well-signed deliveries, retries included
	badSigns []string
}

func startAlertHook(t *testing.T, secret []byte) *alertHook {
	h := &alertHook{secret: secret}
	h.Server = httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(h.Close)
	return h
}

func (h *alertHook) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	m := hmac.New(sha256.New, h.secret)
	m.Write(body)
	want := "sha256=" + hex.EncodeToString(m.Sum(nil))
	sig := r.Header.Get("X-Gatehouse-Signature")
	var a models.WebhookAlert
	jerr := json.Unmarshal(body, &a)
	h.mu.Lock()
	defer h.mu.Unlock()
	if r.Method != http.MethodPost || !hmac.Equal([]byte(sig), []byte(want)) || jerr != nil {
		h.badSigns = append(h.badSigns, fmt.Sprintf("%s with signature %q (json: %v): %.200s", r.Method, sig, jerr, body))
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	h.got = append(h.got, a)
	w.WriteHeader(http.StatusOK)
}

// deliveries returns the well-signed deliveries and the rejected ones.
func (h *alertHook) deliveries() ([]models.WebhookAlert, []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.got), slices.Clone(h.badSigns)
}

// checkAlertHook: every delivery was signed; each new alert arrived
// (retries, deduplicated by alert id, allowed) with its rule and
// subject, and was queued once.
func checkAlertHook(t *testing.T, f *fleet.Fleet, hook *alertHook, alerts map[int64]models.Alert, after int64) {
	t.Helper()
	got, bad := hook.deliveries()
	for _, b := range bad {
		t.Errorf("webhook delivery refused: %s", b)
	}
	arrived := map[int64]int{}
	for _, a := range got {
		arrived[a.ID]++
		want, ok := alerts[a.ID]
		if !ok {
			t.Errorf("webhook delivered alert %d, not one raised by the test", a.ID)
			continue
		}
		if a.Rule != want.Rule || a.SubjectKind != want.SubjectKind || a.Subject != want.Subject {
			t.Errorf("webhook delivery of alert %d: %s %s %s, want %s %s %s", a.ID, a.Rule, a.SubjectKind, a.Subject, want.Rule, want.SubjectKind, want.Subject)
		}
	}
	retries := 0
	for id := range alerts {
		switch n := arrived[id]; {
		case n == 0:
			t.Errorf("alert %d never reached the webhook", id)
		case n > 1:
			retries += n - 1
		}
	}
	var rows []struct {
		AlertID int64
		N       int
	}
	if err := f.Owner.Read.Raw("SELECT alert_id, COUNT(*) AS n FROM alert_webhooks WHERE id > ? GROUP BY alert_id", after).Scan(&rows).Error; err != nil {
		t.Fatal(err)
	}
	queued := map[int64]int{}
	for _, r := range rows {
		queued[r.AlertID] = r.N
	}
	for id := range alerts {
		if queued[id] != 1 {
			t.Errorf("alert %d queued for the webhook %d times, want 1", id, queued[id])
		}
	}
	t.Logf("%d alerts; %d webhook deliveries (%d repeats)", len(alerts), len(got), retries)
}
