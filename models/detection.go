package models

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"gatehouse/policy"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// defaultDetectBatch is how many events one evaluation transaction takes
// at most: enough to read each subject's aggregates once for many events
// while catching up, and a fraction of a second of the SQLite writer.
const defaultDetectBatch = 2000

// The aggregates' time steps and how far back the rules look.
const (
	baselineSpan = 30 * 24 * time.Hour
	hourWindow   = time.Hour
)

// detectColumns are the audit event's columns the rules read.
var detectColumns = []string{"seq", "at", "actor", "actor_tier", "action", "workspace", "table_name", "record_ids", "breakglass_id", "target", "ip"}

// Detector evaluates the detection rules over the audit log, in seq
// order, from where the last evaluation stopped (detection_position). A
// step locks the position, evaluates the events after it, raises or adds
// to alerts, keeps the rules' aggregates and moves the position, all in
// one transaction: each event is evaluated exactly once whichever replica
// runs it, and a replica that finds the position locked leaves the work
// to the one holding it.
//
// Between steps a detector keeps the rules' aggregates it read and wrote
// in memory (detectState), so a detector that keeps the position reads
// only what it has not seen; it trusts them only while the position still
// holds the seq it wrote itself, and otherwise (first step, another
// replica moved it, an error or a rollback) reads them again from the
// database, which stays the truth: each step writes its changes in the
// transaction that moves the position.
type Detector struct {
	DB            *DB
	Rules         []policy.Rule
	Post          Post   // alert mail, written by Post.Letters
	SecurityEmail string // also mailed every new alert, when set
	Webhook       bool   // queue each new alert for the webhook
	Now           func() time.Time
	Every         time.Duration
	Batch         int // events per transaction (defaultDetectBatch)
	Logger        *slog.Logger

	pruned time.Time // when this detector last pruned the aggregates

	mu    sync.Mutex   // one step at a time: the state is the step's
	state *detectState // the aggregates as of the position it wrote, or nil

	failNext bool // tests: the next step fails after writing the aggregates
}

// Run evaluates every Every until ctx ends.
func (d *Detector) Run(ctx context.Context) error {
	return every(ctx, d.Every, func() {
		if _, err := d.RunOnce(ctx); err != nil && ctx.Err() == nil && d.Logger != nil {
			d.Logger.Error("detection", "error", err)
		}
	})
}

// RunOnce evaluates the events appended since the last evaluation, batch
// by batch, and checks the rules that depend on the clock; it returns
// how many events it evaluated.
func (d *Detector) RunOnce(ctx context.Context) (int, error) {
	total := 0
	for {
		n, more, err := d.step(ctx)
		total += n
		if err != nil || !more || ctx.Err() != nil {
			return total, err
		}
	}
}

// step evaluates one batch; more is whether events may be left.
func (d *Detector) step(ctx context.Context) (n int, more bool, err error) {
	batch := d.Batch
	if batch <= 0 {
		batch = defaultDetectBatch
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	err = d.DB.Write.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		q := "SELECT seq FROM detection_position WHERE id = 1"
		if tx.Dialector.Name() == "postgres" {
			q += " FOR UPDATE SKIP LOCKED"
		}
		var pos []int64
		if err := tx.Raw(q).Scan(&pos).Error; err != nil {
			return fmt.Errorf("detection position: %w", err)
		}
		if len(pos) == 0 {
			return nil // another replica is evaluating
		}
		if tx.Dialector.Name() == "postgres" {
			// The aggregates are read with long lists of subjects and
			// time ranges, for which the generic plan PostgreSQL adopts
			// for a cached statement after five runs is far worse: in
			// BenchmarkDetector the hourly views took 1.4 s a batch
			// instead of 0.1 s once it did.
			if err := tx.Exec("SET LOCAL plan_cache_mode = force_custom_plan").Error; err != nil {
				return fmt.Errorf("detection: %w", err)
			}
		}
		if d.state == nil || d.state.seq != pos[0] {
			// Someone else moved the position (or this is the first
			// step): what this detector remembers may be stale.
			d.state = newDetectState(pos[0])
		}
		var evs []AuditEvent
		// Only what the rules read: not the hashes, details or user agent.
		if err := tx.Select(detectColumns).Where("seq > ?", pos[0]).Order("seq ASC").Limit(batch).Find(&evs).Error; err != nil {
			return fmt.Errorf("detection: read events: %w", err)
		}
		// From here on the state changes with the step: until the commit
		// succeeds it is the transaction's, and dropped if it fails.
		st := d.state
		d.state = nil
		b := newEvaluation(ctx, tx, d.Rules, st)
		if err := b.prefetch(evs); err != nil {
			return err
		}
		for i := range evs {
			if err := b.observe(&evs[i]); err != nil {
				return err
			}
		}
		now := d.Now().UTC()
		if err := b.flush(); err != nil {
			return err
		}
		if err := b.unreviewed(now); err != nil {
			return err
		}
		if d.failNext {
			d.failNext = false
			return errors.New("detection: step failed for a test")
		}
		if len(evs) > 0 {
			last := evs[len(evs)-1]
			if now.Sub(d.pruned) > time.Hour {
				if err := b.prune(last.At); err != nil {
					return err
				}
				d.pruned = now
			}
			if err := addViewDays(tx, evs); err != nil {
				return err
			}
			if err := tx.Exec("UPDATE detection_position SET seq = ?, evaluated_at = ? WHERE id = 1", last.Seq, now).Error; err != nil {
				return fmt.Errorf("detection position: %w", err)
			}
			st.seq = last.Seq
		}
		st.settle(b, evs)
		if err := d.raise(ctx, tx, now, b.hits); err != nil {
			return err
		}
		n, more = len(evs), len(evs) == batch
		d.state = st // kept if the commit succeeds
		return nil
	})
	if err != nil {
		d.state = nil
		return 0, false, err
	}
	return n, more, nil
}

// DetectionPosition is the seq of the last event the rules evaluated.
func DetectionPosition(ctx context.Context, db *gorm.DB) (int64, error) {
	var seq int64
	if err := db.WithContext(ctx).Raw("SELECT seq FROM detection_position WHERE id = 1").Scan(&seq).Error; err != nil {
		return 0, fmt.Errorf("detection position: %w", err)
	}
	return seq, nil
}

// hit is a rule's finding about one subject in a batch.
type hit struct {
	rule        policy.Rule
	subjectKind string
	subject     string
	workspace   string
	at          time.Time // the first event's
	last        time.Time // the latest event's
	summary     string
	seqs        []int64
}

type hitKey struct{ rule, kind, subject string }

// raise turns hits into alerts: a new alert when the rule has none open
// about the subject (audited, mailed and queued for the webhook), or more
// evidence for the open one.
func (d *Detector) raise(ctx context.Context, tx *gorm.DB, now time.Time, hits []*hit) error {
	for _, h := range hits {
		var a Alert
		err := tx.Where("rule = ? AND subject_kind = ? AND subject = ? AND state <> ?", h.rule.Name, h.subjectKind, h.subject, string(AlertResolved)).
			Take(&a).Error
		fresh := errors.Is(err, gorm.ErrRecordNotFound)
		switch {
		case fresh:
			a = Alert{
				Rule: h.rule.Name, Kind: string(h.rule.Kind), SubjectKind: h.subjectKind, Subject: h.subject,
				Workspace: h.workspace, Severity: h.rule.Severity, Summary: auditText(h.summary, 1000),
				State: AlertOpen, OpenedAt: h.at.UTC(), LastSeenAt: h.at.UTC(),
			}
			if err := tx.Create(&a).Error; err != nil {
				return fmt.Errorf("raise %s alert: %w", h.rule.Name, err)
			}
		case err != nil:
			return fmt.Errorf("open %s alert: %w", h.rule.Name, err)
		}
		slices.Sort(h.seqs)
		h.seqs = slices.Compact(h.seqs)
		rows := make([]alertEvidence, len(h.seqs))
		for i, s := range h.seqs {
			rows[i] = alertEvidence{AlertID: a.ID, Seq: s}
		}
		res := tx.Clauses(clause.OnConflict{DoNothing: true}).CreateInBatches(rows, 500)
		if res.Error != nil {
			return fmt.Errorf("alert %d evidence: %w", a.ID, res.Error)
		}
		a.EvidenceCount += int(res.RowsAffected)
		last := a.LastSeenAt
		if h.last.After(last) {
			last = h.last.UTC()
		}
		if err := tx.Model(&Alert{}).Where("id = ?", a.ID).
			Updates(map[string]any{"evidence_count": a.EvidenceCount, "last_seen_at": last}).Error; err != nil {
			return fmt.Errorf("alert %d evidence: %w", a.ID, err)
		}
		if fresh {
			if err := d.announce(ctx, tx, now, a, h.seqs); err != nil {
				return err
			}
		}
	}
	return nil
}

// announce records a new alert: its audit event, its mail to every active
// sysadmin and the security address, and its webhook delivery.
func (d *Detector) announce(ctx context.Context, tx *gorm.DB, now time.Time, a Alert, seqs []int64) error {
	evidence := seqs
	if len(evidence) > 20 {
		evidence = evidence[:20]
	}
	if _, err := AppendAudit(ctx, tx, AuditEntry{
		At: now, Actor: SystemActor, Action: ActionAlertRaised, Workspace: a.Workspace,
		Target: alertTarget(a.ID), Reason: a.Summary,
		Detail: map[string]any{"rule": a.Rule, "severity": a.Severity, "subject_kind": a.SubjectKind, "subject": a.Subject, "evidence": evidence},
	}); err != nil {
		return err
	}
	admins, err := ActiveStaffOfTier(ctx, tx, policy.TierSysadmin)
	if err != nil {
		return err
	}
	to := make([]string, 0, len(admins)+1)
	for _, s := range admins {
		to = append(to, s.Email)
	}
	if d.SecurityEmail != "" && !containsFold(to, d.SecurityEmail) {
		to = append(to, d.SecurityEmail)
	}
	if d.Post.Outbox != nil {
		for _, addr := range to {
			if err := d.Post.send(ctx, tx, now, AlertNotice{Alert: a, To: addr}); err != nil {
				return err
			}
		}
	}
	if d.Webhook {
		return queueWebhook(tx, now, a)
	}
	return nil
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// AlertNotice tells a sysadmin, or the security address, of a new alert.
type AlertNotice struct {
	Alert Alert
	To    string
}

func (n AlertNotice) address() (string, string, *int64) { return n.To, n.Alert.Workspace, nil }

// evaluation is one batch's work: the aggregates it read and changed, and
// the hits it found, in order.
type evaluation struct {
	ctx    context.Context
	tx     *gorm.DB
	rules  []policy.Rule
	counts map[seriesKey]*series  // the detector's state's
	items  map[seriesKey]*itemSet // the detector's state's
	base   map[seriesKey]float64  // hourly average by subject and hour
	hits   []*hit
	byKey  map[hitKey]*hit
	// scratch builds record items without an allocation each
	scratch []byte
	// what the rules need counted
	views, reveals, refusals, breadth, repeats bool
	minuteSpan, repeatSpan                     time.Duration
}

func newEvaluation(ctx context.Context, tx *gorm.DB, rules []policy.Rule, st *detectState) *evaluation {
	b := &evaluation{
		ctx: ctx, tx: tx, rules: rules,
		counts: st.counts, items: st.items, base: map[seriesKey]float64{},
		byKey: map[hitKey]*hit{}, minuteSpan: hourWindow,
	}
	for _, r := range rules {
		switch r.Kind {
		case policy.KindVolume:
			b.views = true
		case policy.KindReveals:
			b.reveals = true
		case policy.KindRefusals:
			b.refusals = true
			b.minuteSpan = max(b.minuteSpan, r.Window)
		case policy.KindBreadth:
			b.breadth = true
		case policy.KindBreakglass:
			b.repeats = true
			b.repeatSpan = max(b.repeatSpan, r.Repeat)
		}
	}
	return b
}

// The aggregates' names.
const (
	cViewsMinute   = "views/m"
	cViewsHour     = "views/h"
	cRevealsMinute = "reveals/m"
	cRefusedStaff  = "refused-staff/m"
	cRefusedAddr   = "refused-address/m"
	iWorkspaces    = "workspaces"
	iRecords       = "records"
	iBreakglass    = "breakglass"
	iUnreviewed    = "unreviewed/" // + rule name: uses awaiting review
)

// observe counts ev in the aggregates and checks every rule against it.
func (b *evaluation) observe(ev *AuditEvent) error {
	at := ev.At.UTC()
	var err error
	switch ev.Action {
	case ActionDataViewed:
		if b.views {
			err = errors.Join(b.add(cViewsMinute, ev.Actor, time.Minute, at), b.add(cViewsHour, ev.Actor, time.Hour, at))
		}
		if b.breadth && err == nil {
			err = b.touch(iWorkspaces, ev.Actor, ev.Workspace, at, ev.Seq, hourWindow)
			if err == nil && ev.RecordIDs != "" {
				err = b.touchRecords(ev, at)
			}
		}
	case ActionFieldRevealed:
		if b.reveals {
			err = b.add(cRevealsMinute, ev.Actor, time.Minute, at)
		}
	case ActionDataRefused, ActionLoginRefused:
		if b.refusals {
			if ev.Actor != "" {
				err = b.add(cRefusedStaff, ev.Actor, time.Minute, at)
			}
			if ev.IP != "" && err == nil {
				err = b.add(cRefusedAddr, ev.IP, time.Minute, at)
			}
		}
	case ActionBreakglassOpened:
		if b.repeats {
			err = b.touch(iBreakglass, ev.Actor, strconv.FormatInt(ev.Seq, 10), at, ev.Seq, b.repeatSpan)
		}
	}
	if err != nil {
		return err
	}
	for _, r := range b.rules {
		if err := b.check(r, ev, at); err != nil {
			return fmt.Errorf("detection rule %s, event %d: %w", r.Name, ev.Seq, err)
		}
	}
	return nil
}

// touchRecords notes the records of a view (a page is tens of them) in
// its viewer's set for the workspace, as "table/id".
func (b *evaluation) touchRecords(ev *AuditEvent, at time.Time) error {
	s, err := b.set(iRecords, ev.Actor+"\n"+ev.Workspace, at.Add(-hourWindow))
	if err != nil {
		return err
	}
	b.scratch = append(append(b.scratch[:0], ev.Table...), '/')
	prefix := len(b.scratch)
	for rest := ev.RecordIDs; rest != ""; {
		var id string
		id, rest, _ = strings.Cut(rest, ",")
		if id != "" {
			b.scratch = append(b.scratch[:prefix], id...)
			s.touchBytes(b.scratch, at, ev.Seq)
		}
	}
	return nil
}

// check applies rule r to ev, which observe has counted.
func (b *evaluation) check(r policy.Rule, ev *AuditEvent, at time.Time) error {
	switch {
	case r.Kind == policy.KindVolume && ev.Action == ActionDataViewed:
		n, err := b.sum(cViewsMinute, ev.Actor, time.Minute, at, hourWindow)
		if err != nil || n <= int64(r.Floor) {
			return err
		}
		avg, err := b.baseline(ev.Actor, at)
		if err != nil || float64(n) <= r.Factor*avg {
			return err
		}
		b.hit(r, SubjectStaff, ev.Actor, ev.Workspace, ev,
			fmt.Sprintf("%s viewed data %d times in an hour: over %d, and over %.1f× their hourly average of %.2f over 30 days.", ev.Actor, n, r.Floor, r.Factor, avg))
	case r.Kind == policy.KindBreadth && ev.Action == ActionDataViewed:
		ws, err := b.distinct(iWorkspaces, ev.Actor, at, hourWindow)
		if err != nil {
			return err
		}
		recs, err := b.distinct(iRecords, ev.Actor+"\n"+ev.Workspace, at, hourWindow)
		if err != nil {
			return err
		}
		switch {
		case ws > r.Workspaces:
			b.hit(r, SubjectStaff, ev.Actor, "", ev, fmt.Sprintf("%s viewed data of %d workspaces in an hour (more than %d).", ev.Actor, ws, r.Workspaces))
		case recs > r.Records:
			b.hit(r, SubjectStaff, ev.Actor, ev.Workspace, ev, fmt.Sprintf("%s viewed %d records of %s in an hour (more than %d).", ev.Actor, recs, ev.Workspace, r.Records))
		}
	case r.Kind == policy.KindRefusals && (ev.Action == ActionDataRefused || ev.Action == ActionLoginRefused):
		for _, s := range []struct{ counter, kind, subject string }{
			{cRefusedStaff, SubjectStaff, ev.Actor}, {cRefusedAddr, SubjectAddress, ev.IP},
		} {
			if s.subject == "" {
				continue
			}
			n, err := b.sum(s.counter, s.subject, time.Minute, at, r.Window)
			if err != nil {
				return err
			}
			if n >= int64(r.Count) {
				b.hit(r, s.kind, s.subject, "", ev, fmt.Sprintf("%d refused sign-ins or data reads by %s within %s.", n, s.subject, r.Window))
			}
		}
	case r.Kind == policy.KindReveals && ev.Action == ActionFieldRevealed:
		n, err := b.sum(cRevealsMinute, ev.Actor, time.Minute, at, hourWindow)
		if err != nil || n <= int64(r.Count) {
			return err
		}
		b.hit(r, SubjectStaff, ev.Actor, ev.Workspace, ev, fmt.Sprintf("%s revealed %d personal fields in an hour (more than %d).", ev.Actor, n, r.Count))
	case r.Kind == policy.KindOffHours && ev.Action == ActionDataViewed:
		if !r.For(ev.ActorTier).Within(at) {
			b.hit(r, SubjectStaff, ev.Actor, ev.Workspace, ev, fmt.Sprintf("%s (%s) viewed data of %s outside working hours, at %s.", ev.Actor, ev.ActorTier, ev.Workspace, at.Format(time.RFC3339)))
		}
	case r.Kind == policy.KindBreakglass && ev.Action == ActionBreakglassOpened:
		uses, err := b.set(iBreakglass, ev.Actor, at.Add(-b.repeatSpan))
		if err != nil {
			return err
		}
		var seqs []int64
		for _, u := range uses.items {
			if u.at.After(at.Add(-r.Repeat)) && !u.at.After(at) {
				seqs = append(seqs, u.seq)
			}
		}
		if len(seqs) >= 2 {
			h := b.hit(r, SubjectStaff, ev.Actor, ev.Workspace, ev, fmt.Sprintf("%s opened break-glass %d times within %s.", ev.Actor, len(seqs), r.Repeat))
			h.seqs = append(h.seqs, seqs...)
		}
		if ev.BreakglassID != nil {
			return b.touch(iUnreviewed+r.Name, ev.Actor, strconv.FormatInt(*ev.BreakglassID, 10), at, ev.Seq, 0)
		}
	case r.Kind == policy.KindCustomerReport && ev.Action == ActionConsentReported:
		b.hit(r, SubjectWorkspace, ev.Workspace, ev.Workspace, ev, fmt.Sprintf("A customer of %s reported an access request (%s) as suspicious.", ev.Workspace, ev.Target))
	}
	return nil
}

// unreviewed raises the break-glass rules' alerts for uses still not
// reviewed after the rule's review window, and forgets uses reviewed or
// alerted.
func (b *evaluation) unreviewed(now time.Time) error {
	for _, r := range b.rules {
		if r.Kind != policy.KindBreakglass {
			continue
		}
		counter := iUnreviewed + r.Name
		var due []struct {
			Subject string
			Item    string
			LastAt  time.Time
			Seq     int64
		}
		if err := b.tx.Raw("SELECT subject, item, last_at, seq FROM detection_items WHERE counter = ? AND last_at <= ? ORDER BY last_at LIMIT 100",
			counter, now.Add(-r.Review)).Scan(&due).Error; err != nil {
			return fmt.Errorf("detection rule %s: %w", r.Name, err)
		}
		for _, u := range due {
			id, _ := strconv.ParseInt(u.Item, 10, 64)
			var bg Breakglass
			err := b.tx.Where("id = ?", id).Take(&bg).Error
			if err != nil && !errors.Is(err, gorm.ErrRecordNotFound) {
				return fmt.Errorf("detection rule %s: break-glass %d: %w", r.Name, id, err)
			}
			if err == nil && !bg.Reviewed() {
				ev := &AuditEvent{Seq: u.Seq, At: u.LastAt}
				b.hit(r, SubjectStaff, u.Subject, bg.Workspace, ev,
					fmt.Sprintf("Break-glass %d on %s, opened by %s, is still unreviewed after %s.", id, bg.Workspace, u.Subject, r.Review))
			}
			if err := b.tx.Exec("DELETE FROM detection_items WHERE counter = ? AND subject = ? AND item = ?", counter, u.Subject, u.Item).Error; err != nil {
				return fmt.Errorf("detection rule %s: %w", r.Name, err)
			}
			delete(b.items, seriesKey{counter, u.Subject})
		}
	}
	return nil
}

// hit records rule r's finding about a subject at ev; repeats within the
// batch add evidence to the first.
func (b *evaluation) hit(r policy.Rule, kind, subject, workspace string, ev *AuditEvent, summary string) *hit {
	k := hitKey{r.Name, kind, subject}
	h := b.byKey[k]
	if h == nil {
		h = &hit{rule: r, subjectKind: kind, subject: subject, workspace: workspace, at: ev.At, last: ev.At, summary: summary}
		b.byKey[k] = h
		b.hits = append(b.hits, h)
	}
	if ev.At.After(h.last) {
		h.last = ev.At // last seen: the latest evidence, however the events fall into batches
	}
	if len(h.seqs) == 0 || h.seqs[len(h.seqs)-1] != ev.Seq {
		h.seqs = append(h.seqs, ev.Seq)
	}
	return h
}
