package models

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
)

// RetentionPolicy is the company's data-retention promise in numbers
// (DESIGN.md, "Retention and deletion"). The defaults are configuration.
type RetentionPolicy struct {
	CancelledKeep        time.Duration // a cancelled paid workspace is kept this long after cancellation
	FreeNotice           time.Duration // a free workspace gets its first notice this long after the last login
	FreeMark             time.Duration // ... is marked for deletion, with a second notice
	FreeDelete           time.Duration // ... and is due for deletion
	DeletionRequestValid time.Duration // a customer's deletion request waits this long for its confirmations
}

// Day is the unit the retention policy is written in.
const Day = 24 * time.Hour

// DefaultRetentionPolicy is the policy's defaults: 90 days after a
// cancellation; 150, 180 and 270 days after a free workspace's last login;
// 14 days for a deletion request's confirmations.
func DefaultRetentionPolicy() RetentionPolicy {
	return RetentionPolicy{
		CancelledKeep: 90 * Day, FreeNotice: 150 * Day, FreeMark: 180 * Day, FreeDelete: 270 * Day,
		DeletionRequestValid: 14 * Day,
	}
}

// Check reports a policy whose steps are out of order.
func (p RetentionPolicy) Check() error {
	if p.CancelledKeep <= 0 || p.FreeNotice <= 0 || p.DeletionRequestValid <= 0 || p.FreeMark <= p.FreeNotice || p.FreeDelete <= p.FreeMark {
		return fmt.Errorf("retention policy: want positive periods and notice < mark < delete, got %d/%d/%d days",
			days(p.FreeNotice), days(p.FreeMark), days(p.FreeDelete))
	}
	return nil
}

// Registry statuses that retention reads or writes (Workspace.Status).
const (
	WorkspaceActive    = "active"
	WorkspaceCancelled = "cancelled"
	WorkspaceFree      = "free"
	WorkspaceDeleted   = "deleted" // set by DeleteWorkspace
)

// RetentionState is where a workspace stands in its retention lifecycle.
type RetentionState string

// Retention states, in the order a queue lists them.
const (
	RetentionDeletionDue       RetentionState = "deletion_due"       // waits for a sysadmin to delete it
	RetentionNoticeDue         RetentionState = "notice_due"         // the first notice is due
	RetentionMarkDue           RetentionState = "mark_due"           // marking, with the second notice, is due
	RetentionDeletionRequested RetentionState = "deletion_requested" // a customer's request waits for confirmations
	RetentionHeld              RetentionState = "held"               // a legal hold stops everything
	RetentionMarked            RetentionState = "marked"             // marked for deletion, second notice sent
	RetentionNoticed           RetentionState = "noticed"            // first notice sent
	RetentionCancelled         RetentionState = "cancelled"          // cancelled, kept until its deletion date
	RetentionActive            RetentionState = "active"             // nothing due
	RetentionDeleted           RetentionState = "deleted"            // gone for good
)

// RetentionStates returns every state, in queue order.
func RetentionStates() []RetentionState {
	return []RetentionState{
		RetentionDeletionDue, RetentionNoticeDue, RetentionMarkDue, RetentionDeletionRequested, RetentionHeld,
		RetentionMarked, RetentionNoticed, RetentionCancelled, RetentionActive, RetentionDeleted,
	}
}

// RetentionAction is the next thing retention does to a workspace.
type RetentionAction string

// Retention actions. The job does notices and marking by itself;
// deletion always waits for a sysadmin (DeleteWorkspace).
const (
	NextNone   RetentionAction = ""
	NextNotice RetentionAction = "notice" // send the first notice
	NextMark   RetentionAction = "mark"   // mark for deletion and send the second notice
	NextDelete RetentionAction = "delete" // delete, on a sysadmin's confirmation
)

// RetentionStep is one dated step of a workspace's lifecycle, for the page.
type RetentionStep struct {
	Name string     // e.g. "First notice"
	Due  time.Time  // when it is (or was) due
	Done *time.Time // when it happened, if it did
}

// RetentionStatus is the outcome of EvaluateRetention: the state, the rule
// that applies and why, with the dates, and what comes next.
type RetentionStatus struct {
	Slug        string
	Name, Plan  string // the registry's, for lists
	State       RetentionState
	Rule        string          // the rule that applies, in plain words
	Explanation string          // why, with the dates
	Next        RetentionAction // NextNone when nothing is planned
	NextAt      time.Time       // when Next is due; zero with NextNone
	Due         bool            // Next is due now
	Since       time.Time       // the clock's start: last login or creation (free), cancellation (cancelled)
	DeleteAt    time.Time       // when deletion is, or will be, due; zero when none is planned
	Steps       []RetentionStep
	Hold        *LegalHold       // the hold that stops everything
	Request     *DeletionRequest // the customer's live deletion request
}

// RetentionRecord is what retention has done to one workspace, in the
// portal's database. A notice or mark older than the workspace's last
// login no longer counts. The row is also the lock that deletion and
// legal holds take.
type RetentionRecord struct {
	Slug            string `gorm:"primaryKey"`
	NoticedAt       *time.Time
	MarkedAt        *time.Time
	SecondNoticedAt *time.Time
	DeletedAt       *time.Time
	DeletionReport  string // JSON DeletionReport once deleted
	// DeletionStartedAt is set while a deletion is under way (see
	// DeleteWorkspace); one left set is settled by SettleDeletions.
	DeletionStartedAt *time.Time
	UpdatedAt         time.Time
}

// TableName is the retention table's name.
func (RetentionRecord) TableName() string { return "retention" }

// LegalHold stops every deletion of its workspace until it is lifted.
type LegalHold struct {
	ID         int64 `gorm:"primaryKey"`
	Slug       string
	Reference  string // e.g. the case or ticket number
	Reason     string
	PlacedBy   string // staff email
	PlacedAt   time.Time
	LiftedBy   string
	LiftedAt   *time.Time
	LiftReason string
}

// TableName is the legal holds table's name.
func (LegalHold) TableName() string { return "legal_holds" }

// Live reports whether the hold is in force.
func (h LegalHold) Live() bool { return h.LiftedAt == nil }

// Target is how the audit log names the hold.
func (h LegalHold) Target() string { return "legal_hold/" + strconv.FormatInt(h.ID, 10) }

func day(t time.Time) string { return t.UTC().Format("2006-01-02") }

func days(d time.Duration) int { return int(d / Day) }

func laterOf(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// isFree reports whether w follows the free-workspace rule.
func isFree(w Workspace) bool {
	return w.Status == WorkspaceFree || (w.Plan == "free" && w.Status == WorkspaceActive)
}

// EvaluateRetention computes where w stands: from the registry entry, what
// retention recorded (rec), its holds (lifted ones are ignored), the
// customer's live deletion request (nil when none) and the time. It reads
// nothing else and changes nothing. A live hold wins over everything but
// a past deletion; a confirmed request makes deletion due; otherwise the
// cancelled or free rule applies. Each step of the free rule waits for
// the one before it to have happened (a notice the job sent late moves the
// later steps by as much), so no workspace is deleted without its notices.
func EvaluateRetention(w Workspace, rec RetentionRecord, holds []LegalHold, req *DeletionRequest, now time.Time, p RetentionPolicy) RetentionStatus {
	if w.Status == WorkspaceDeleted || rec.DeletedAt != nil {
		st := RetentionStatus{Slug: w.Slug, Name: w.Name, Plan: w.Plan, State: RetentionDeleted, Rule: "Once deleted, a workspace's data cannot be recovered."}
		st.Explanation = "The registry marks this workspace deleted."
		if rec.DeletedAt != nil {
			st.Explanation = "Deleted on " + day(*rec.DeletedAt) + "; its data cannot be recovered."
		}
		return st
	}
	st := lifecycle(w, rec, now, p)
	st.Slug, st.Name, st.Plan = w.Slug, w.Name, w.Plan
	if req != nil && req.Slug == w.Slug {
		switch req.StatusAt(now) {
		case DeletionConfirmed:
			r := *req
			st.Request = &r
			at := r.UpdatedAt
			if r.ConfirmedAt != nil {
				at = *r.ConfirmedAt
			}
			st.State, st.Next, st.NextAt, st.DeleteAt = RetentionDeletionDue, NextDelete, at, at
			st.Rule = "A customer's confirmed deletion request makes the workspace due for deletion."
			st.Explanation = fmt.Sprintf("The customer asked for deletion (request #%d of %s); it was confirmed on %s by %s. Deletion is due and waits for a sysadmin's confirmation.",
				r.ID, day(r.CreatedAt), day(at), plural(r.NeededConfirmations, "owner", "two different owners"))
			st.Steps = append(st.Steps, RetentionStep{Name: "Deletion requested", Due: r.CreatedAt, Done: &r.CreatedAt},
				RetentionStep{Name: "Confirmed by the owners", Due: at, Done: &at})
		case DeletionPending:
			r := *req
			st.Request = &r
			if st.State != RetentionDeletionDue {
				st.State = RetentionDeletionRequested
			}
			st.Explanation = fmt.Sprintf("The customer asked for deletion on %s (request #%d); it needs %s confirmation by %s, or it expires. ",
				day(r.CreatedAt), r.ID, plural(r.NeededConfirmations, "an owner's", "two different owners'"), day(r.ExpiresAt)) + st.Explanation
		}
	}
	for _, h := range holds {
		if h.Slug != w.Slug || !h.Live() {
			continue
		}
		without := st.Explanation
		st.State, st.Hold = RetentionHeld, &h
		st.Next, st.NextAt, st.Due = NextNone, time.Time{}, false
		st.Rule = "A legal hold stops every notice and deletion of the workspace until it is lifted."
		st.Explanation = fmt.Sprintf("Legal hold %s (%s), placed by %s on %s: nothing is due while it lasts. Without the hold: %s",
			h.Reference, h.Reason, h.PlacedBy, day(h.PlacedAt), without)
		return st
	}
	st.Due = st.Next != NextNone && !now.Before(st.NextAt)
	return st
}

func plural(n int, one, two string) string {
	if n > 1 {
		return two
	}
	return one
}

// lifecycle applies the cancelled or free rule, ignoring holds and
// requests.
func lifecycle(w Workspace, rec RetentionRecord, now time.Time, p RetentionPolicy) RetentionStatus {
	var st RetentionStatus
	switch {
	case w.Status == WorkspaceCancelled:
		st.Rule = fmt.Sprintf("A cancelled paid workspace's data is kept %d days after the cancellation, then deleted.", days(p.CancelledKeep))
		st.State = RetentionCancelled
		if w.CancelledAt == nil {
			st.Explanation = "Cancelled, but the registry has no cancellation date, so no deletion date can be computed; nothing is planned."
			return st
		}
		c := *w.CancelledAt
		due := c.Add(p.CancelledKeep)
		st.Since, st.DeleteAt, st.Next, st.NextAt = c, due, NextDelete, due
		st.Steps = []RetentionStep{{Name: "Cancelled", Due: c, Done: &c}, {Name: "Deletion due", Due: due}}
		if now.Before(due) {
			st.Explanation = fmt.Sprintf("Paid workspace (plan %s) cancelled on %s (%d days ago); its data is kept until %s (day %d), when deletion becomes due. Reactivating the subscription cancels this.",
				w.Plan, day(c), days(now.Sub(c)), day(due), days(p.CancelledKeep))
			return st
		}
		st.State = RetentionDeletionDue
		st.Explanation = fmt.Sprintf("Paid workspace (plan %s) cancelled on %s (%d days ago); the %d days its data is kept ended on %s. Deletion is due and waits for a sysadmin's confirmation.",
			w.Plan, day(c), days(now.Sub(c)), days(p.CancelledKeep), day(due))
		return st
	case isFree(w):
		return freeLifecycle(w, rec, now, p)
	}
	st.State = RetentionActive
	st.Rule = "A paid workspace is kept while its subscription runs."
	st.Explanation = fmt.Sprintf("Paid workspace (plan %s, subscription %s); nothing is planned.", w.Plan, w.SubscriptionState)
	if w.Status != WorkspaceActive {
		st.Explanation = fmt.Sprintf("Registry status %q has no retention rule; nothing is planned.", w.Status)
	} else if w.CancelledAt != nil {
		st.Explanation += " It was cancelled on " + day(*w.CancelledAt) + " and reactivated since, so that cancellation no longer counts."
	}
	return st
}

func freeLifecycle(w Workspace, rec RetentionRecord, now time.Time, p RetentionPolicy) RetentionStatus {
	st := RetentionStatus{Rule: fmt.Sprintf("A free workspace nobody logs in to gets a notice at day %d, is marked for deletion with a second notice at day %d, and is due for deletion at day %d after the last login; a login resets the clock.",
		days(p.FreeNotice), days(p.FreeMark), days(p.FreeDelete))}
	since, idle := w.CreatedAt, "nobody has logged in since it was created on "+day(w.CreatedAt)
	if w.LastLoginAt != nil && w.LastLoginAt.After(w.CreatedAt) {
		since, idle = *w.LastLoginAt, "nobody has logged in since "+day(*w.LastLoginAt)
	}
	st.Since = since
	counts := func(t *time.Time) *time.Time {
		if t != nil && !t.Before(since) {
			return t
		}
		return nil
	}
	noticed, marked := counts(rec.NoticedAt), counts(rec.MarkedAt)
	second := counts(rec.SecondNoticedAt)
	if second == nil {
		second = marked
	}

	// Each step is due at its day, and never sooner than the gap the policy
	// leaves after the step before it actually happened (or, when it has
	// not yet, after it would happen now).
	noticeAt := since.Add(p.FreeNotice)
	n := laterOf(noticeAt, now)
	if noticed != nil {
		n = *noticed
	}
	markAt := laterOf(since.Add(p.FreeMark), n.Add(p.FreeMark-p.FreeNotice))
	m := laterOf(markAt, now)
	if marked != nil {
		m = *marked
	}
	deleteAt := laterOf(since.Add(p.FreeDelete), m.Add(p.FreeDelete-p.FreeMark))
	st.DeleteAt = deleteAt
	st.Steps = []RetentionStep{
		{Name: "First notice", Due: noticeAt, Done: noticed},
		{Name: "Marked for deletion, second notice", Due: markAt, Done: second},
		{Name: "Deletion due", Due: deleteAt},
	}
	plan := fmt.Sprintf("first notice at day %d (%s)", days(p.FreeNotice), day(noticeAt))
	if noticed != nil {
		plan += ", sent " + day(*noticed)
	}
	plan += fmt.Sprintf("; marked for deletion with a second notice at day %d (%s)", days(markAt.Sub(since)), day(markAt))
	if marked != nil {
		plan += ", done " + day(*marked)
	}
	plan += fmt.Sprintf("; deletion due at day %d (%s)", days(deleteAt.Sub(since)), day(deleteAt))
	head := fmt.Sprintf("Free workspace; %s (day %d); ", idle, days(now.Sub(since)))
	tail := ". A login resets the clock."
	if (rec.NoticedAt != nil && noticed == nil) || (rec.MarkedAt != nil && marked == nil) {
		tail = ". Notices sent before the last login no longer count."
	}
	switch {
	case now.Before(noticeAt):
		st.State, st.Next, st.NextAt = RetentionActive, NextNotice, noticeAt
	case noticed == nil:
		st.State, st.Next, st.NextAt = RetentionNoticeDue, NextNotice, noticeAt
	case now.Before(markAt):
		st.State, st.Next, st.NextAt = RetentionNoticed, NextMark, markAt
	case marked == nil:
		st.State, st.Next, st.NextAt = RetentionMarkDue, NextMark, markAt
	case now.Before(deleteAt):
		st.State, st.Next, st.NextAt = RetentionMarked, NextDelete, deleteAt
	default:
		st.State, st.Next, st.NextAt = RetentionDeletionDue, NextDelete, deleteAt
		tail = ". Deletion is due and waits for a sysadmin's confirmation" + tail
	}
	st.Explanation = head + plan + tail
	return st
}

// RetentionLetters writes the mails of retention and deletion requests;
// handlers implement it with views, so models never renders HTML. tx is
// the transaction the mail is enqueued in (see Letters).
type RetentionLetters interface {
	// RetentionNotice tells owner that w will be deleted unless someone
	// logs in: the first notice (st.Next is NextNotice) or the second,
	// sent when it is marked for deletion (NextMark). st.DeleteAt is
	// the date deletion becomes due.
	RetentionNotice(ctx context.Context, tx *gorm.DB, w Workspace, owner string, st RetentionStatus) (Mail, error)
	// DeletionConfirmation asks owner to confirm (or cancel) request r
	// through the link with token.
	DeletionConfirmation(ctx context.Context, tx *gorm.DB, w Workspace, r DeletionRequest, owner, token string) (Mail, error)
}

// retentionSnapshot is what evaluating every workspace needs.
type retentionSnapshot struct {
	records  map[string]RetentionRecord
	holds    map[string][]LegalHold
	requests map[string]*DeletionRequest
}

func loadRetention(ctx context.Context, db *gorm.DB, slugs []string) (retentionSnapshot, error) {
	s := retentionSnapshot{records: map[string]RetentionRecord{}, holds: map[string][]LegalHold{}, requests: map[string]*DeletionRequest{}}
	var recs []RetentionRecord
	var holds []LegalHold
	var reqs []DeletionRequest
	q := func() *gorm.DB {
		q := db.WithContext(ctx)
		if slugs != nil {
			q = q.Where("slug IN ?", slugs)
		}
		return q
	}
	if err := q().Find(&recs).Error; err != nil {
		return s, fmt.Errorf("retention records: %w", err)
	}
	if err := q().Where("lifted_at IS NULL").Order("id").Find(&holds).Error; err != nil {
		return s, fmt.Errorf("legal holds: %w", err)
	}
	if err := q().Where("status IN ?", []DeletionStatus{DeletionPending, DeletionConfirmed}).Order("id").Find(&reqs).Error; err != nil {
		return s, fmt.Errorf("deletion requests: %w", err)
	}
	for _, r := range recs {
		s.records[r.Slug] = r
	}
	for _, h := range holds {
		s.holds[h.Slug] = append(s.holds[h.Slug], h)
	}
	for i := range reqs {
		s.requests[reqs[i].Slug] = &reqs[i]
	}
	return s, nil
}

func (s retentionSnapshot) evaluate(w Workspace, now time.Time, p RetentionPolicy) RetentionStatus {
	return EvaluateRetention(w, s.records[w.Slug], s.holds[w.Slug], s.requests[w.Slug], now, p)
}

// ListRetention evaluates every workspace of the registry (product),
// ordered by slug.
func ListRetention(ctx context.Context, db, product *gorm.DB, now time.Time, p RetentionPolicy) ([]RetentionStatus, error) {
	var ws []Workspace
	if err := product.WithContext(ctx).Order("slug").Find(&ws).Error; err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	snap, err := loadRetention(ctx, db, nil)
	if err != nil {
		return nil, err
	}
	out := make([]RetentionStatus, len(ws))
	for i, w := range ws {
		out[i] = snap.evaluate(w, now, p)
	}
	return out, nil
}

// CountRetention counts statuses by state; every state has an entry.
func CountRetention(list []RetentionStatus) map[RetentionState]int {
	out := map[RetentionState]int{}
	for _, s := range RetentionStates() {
		out[s] = 0
	}
	for _, st := range list {
		out[st.State]++
	}
	return out
}

// WorkspaceRetention evaluates one workspace, for its page.
func WorkspaceRetention(ctx context.Context, db, product *gorm.DB, now time.Time, p RetentionPolicy, slug string) (RetentionStatus, error) {
	w, err := FindWorkspace(ctx, product, slug)
	if err != nil {
		return RetentionStatus{}, err
	}
	snap, err := loadRetention(ctx, db, []string{slug})
	if err != nil {
		return RetentionStatus{}, err
	}
	return snap.evaluate(w, now, p), nil
}

// FindRetentionRecord returns what retention recorded for slug; a
// workspace retention never touched has a zero record (and no error).
func FindRetentionRecord(ctx context.Context, db *gorm.DB, slug string) (RetentionRecord, error) {
	var r RetentionRecord
	err := db.WithContext(ctx).Where("slug = ?", slug).Take(&r).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return RetentionRecord{Slug: slug}, nil
	}
	if err != nil {
		return r, fmt.Errorf("retention of %q: %w", slug, err)
	}
	return r, nil
}

// RetentionRun counts what one run of the job did.
type RetentionRun struct {
	Evaluated   int // registry entries looked at
	Noticed     int // first notices sent (per workspace)
	Marked      int // workspaces marked, second notices sent
	Expired     int // deletion requests expired
	DeletionDue int // workspaces waiting for a sysadmin's deletion
}

// retentionSystem is the actor of the scheduled job.
var retentionSystem = Actor{Email: "gatehouse", Tier: "system"}

// RunRetention is the scheduled job: it expires deletion requests past
// their date, evaluates every workspace of the registry (product) and
// moves it forward, sending the due notices to its owners through the
// outbox. Each step is a conditional update of the workspace's retention
// row, in the transaction that also enqueues the mails and appends the
// audit event, so runs at once on several replicas send each notice once.
// It never deletes anything: deletion waits for a sysadmin.
func RunRetention(ctx context.Context, db, product *gorm.DB, now time.Time, p RetentionPolicy, ob *Outbox, l RetentionLetters) (RetentionRun, error) {
	var run RetentionRun
	if err := p.Check(); err != nil {
		return run, err
	}
	n, err := expireDeletionRequests(ctx, db, now)
	run.Expired = n
	if err != nil {
		return run, err
	}
	var ws []Workspace
	if err := product.WithContext(ctx).Where("status <> ?", WorkspaceDeleted).Order("slug").Find(&ws).Error; err != nil {
		return run, fmt.Errorf("registry: %w", err)
	}
	snap, err := loadRetention(ctx, db, nil)
	if err != nil {
		return run, err
	}
	for _, w := range ws {
		run.Evaluated++
		st := snap.evaluate(w, now, p)
		if !st.Due {
			continue
		}
		switch st.Next {
		case NextDelete:
			run.DeletionDue++
		case NextNotice, NextMark:
			owners, err := Owners(ctx, product, w.Slug)
			if err != nil {
				return run, err
			}
			won, err := once(ctx, db, func(tx *gorm.DB) (bool, error) { return sendNotice(ctx, tx, now, ob, l, w, st, owners) })
			if errors.Is(err, errSkip) {
				continue
			}
			if err != nil {
				return run, fmt.Errorf("retention of %s: %w", w.Slug, err)
			}
			if won && st.Next == NextNotice {
				run.Noticed++
			} else if won {
				run.Marked++
			}
		}
	}
	return run, nil
}

// errSkip rolls a step back without failing the run.
var errSkip = errors.New("skip")

// sendNotice records st's due notice for w, unless another run did, and
// mails the owners; it reports whether this run made the change.
func sendNotice(ctx context.Context, tx *gorm.DB, now time.Time, ob *Outbox, l RetentionLetters, w Workspace, st RetentionStatus, owners []string) (bool, error) {
	if err := ensureRetentionRow(ctx, tx, w.Slug, now); err != nil {
		return false, err
	}
	q := tx.Model(&RetentionRecord{}).Where("slug = ? AND deleted_at IS NULL", w.Slug)
	set := map[string]any{"updated_at": now.UTC()}
	action := ActionRetentionNoticed
	if st.Next == NextNotice {
		q = q.Where("(noticed_at IS NULL OR noticed_at < ?)", st.Since.UTC())
		set["noticed_at"] = now.UTC()
	} else {
		q = q.Where("noticed_at >= ? AND (marked_at IS NULL OR marked_at < ?)", st.Since.UTC(), st.Since.UTC())
		set["marked_at"], set["second_noticed_at"] = now.UTC(), now.UTC()
		action = ActionRetentionMarked
	}
	u := q.Updates(set)
	if u.Error != nil || u.RowsAffected == 0 {
		return false, u.Error
	}
	// A hold placed since the evaluation wins: PlaceHold locks the same
	// row, so it is either seen here or waits for this step.
	var held int64
	if err := tx.Model(&LegalHold{}).Where("slug = ? AND lifted_at IS NULL", w.Slug).Count(&held).Error; err != nil {
		return false, err
	}
	if held > 0 {
		return false, errSkip
	}
	for _, owner := range owners {
		m, err := l.RetentionNotice(ctx, tx, w, owner, st)
		if err != nil {
			return false, fmt.Errorf("retention notice: %w", err)
		}
		m.Workspace = w.Slug
		if _, err := ob.Enqueue(ctx, tx, now, m); err != nil {
			return false, err
		}
	}
	_, err := AppendAudit(ctx, tx, AuditEntry{
		At: now, Actor: retentionSystem, Action: action, Workspace: w.Slug, Target: "retention/" + w.Slug, Reason: st.Rule,
		Detail: map[string]any{"since": day(st.Since), "delete_at": day(st.DeleteAt), "recipients": len(owners)},
	})
	return err == nil, err
}

// ensureRetentionRow creates slug's retention row if it is missing.
func ensureRetentionRow(ctx context.Context, tx *gorm.DB, slug string, now time.Time) error {
	err := tx.WithContext(ctx).Exec("INSERT INTO retention (slug, updated_at) VALUES (?, ?) ON CONFLICT (slug) DO NOTHING", slug, now.UTC()).Error
	if err != nil {
		return fmt.Errorf("retention of %q: %w", slug, err)
	}
	return nil
}

// lockRetention creates and locks slug's retention row until tx ends (on
// SQLite the write transaction already excludes every other writer).
// Deletion and legal holds both take this lock, so a hold placed while a
// deletion runs either is seen by it or waits for it.
func lockRetention(ctx context.Context, tx *gorm.DB, slug string, now time.Time) (RetentionRecord, error) {
	if err := ensureRetentionRow(ctx, tx, slug, now); err != nil {
		return RetentionRecord{}, err
	}
	q := "SELECT * FROM retention WHERE slug = ?"
	if tx.Dialector.Name() == "postgres" {
		q += " FOR UPDATE"
	}
	var r RetentionRecord
	if err := tx.WithContext(ctx).Raw(q, slug).Scan(&r).Error; err != nil {
		return r, fmt.Errorf("lock retention of %q: %w", slug, err)
	}
	return r, nil
}

// ErrHeld is returned (wrapped, with ErrConflict) when a legal hold stops
// a deletion.
var ErrHeld = errors.New("the workspace is under a legal hold")

// PlaceHold places a legal hold on slug, audited; reference (a case or
// ticket) and reason are required and come back as FieldErrors. The
// caller checks that slug is in the registry and that by may do this.
func PlaceHold(ctx context.Context, db *gorm.DB, now time.Time, by Actor, slug, reference, reason string) (LegalHold, error) {
	reference, reason = strings.TrimSpace(reference), strings.TrimSpace(reason)
	errs := FieldErrors{}
	if reference == "" || len(reference) > 100 || strings.ContainsAny(reference, "\r\n") {
		errs["reference"] = "Give the legal case or ticket reference (one line, at most 100 characters)."
	}
	if err := CheckReason(reason, 10); err != nil {
		errs["reason"] = "Say in a sentence why the data must be kept."
	}
	if slug == "" {
		errs["workspace"] = "Choose a workspace."
	}
	if len(errs) > 0 {
		return LegalHold{}, errs
	}
	h := LegalHold{Slug: slug, Reference: reference, Reason: reason, PlacedBy: by.Email, PlacedAt: now.UTC()}
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		rec, err := lockRetention(ctx, tx, slug, now)
		if err != nil {
			return err
		}
		if rec.DeletedAt != nil {
			return fmt.Errorf("workspace %s was deleted on %s: %w", slug, day(*rec.DeletedAt), ErrConflict)
		}
		if err := tx.Create(&h).Error; err != nil {
			return fmt.Errorf("place hold: %w", err)
		}
		_, err = AppendAudit(ctx, tx, AuditEntry{At: now, Actor: by, Action: ActionLegalHoldPlaced, Workspace: slug, Target: h.Target(), Reason: reason,
			Detail: map[string]any{"reference": reference}})
		return err
	})
	if err != nil {
		return LegalHold{}, err
	}
	return h, nil
}

// LiftHold lifts hold id of workspace slug, audited; reason is required.
// Lifting a hold that is not in force is ErrConflict.
func LiftHold(ctx context.Context, db *gorm.DB, now time.Time, by Actor, slug string, id int64, reason string) (LegalHold, error) {
	reason = strings.TrimSpace(reason)
	if err := CheckReason(reason, 10); err != nil {
		return LegalHold{}, FieldErrors{"reason": "Say in a sentence why the hold can end."}
	}
	var h LegalHold
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if _, err := lockRetention(ctx, tx, slug, now); err != nil {
			return err
		}
		u := tx.Model(&LegalHold{}).Where("id = ? AND slug = ? AND lifted_at IS NULL", id, slug).
			Updates(map[string]any{"lifted_by": by.Email, "lifted_at": now.UTC(), "lift_reason": reason})
		if u.Error != nil {
			return fmt.Errorf("lift hold %d: %w", id, u.Error)
		}
		if err := tx.Where("id = ? AND slug = ?", id, slug).Take(&h).Error; errors.Is(err, gorm.ErrRecordNotFound) {
			return fmt.Errorf("hold %d of %s: %w", id, slug, ErrNotFound)
		} else if err != nil {
			return err
		}
		if u.RowsAffected == 0 {
			return fmt.Errorf("hold %d was already lifted: %w", id, ErrConflict)
		}
		_, err := AppendAudit(ctx, tx, AuditEntry{At: now, Actor: by, Action: ActionLegalHoldLifted, Workspace: slug, Target: h.Target(), Reason: reason,
			Detail: map[string]any{"reference": h.Reference}})
		return err
	})
	return h, err
}

// ListHolds returns the holds of slug ("" for every workspace), newest
// first; lifted ones only when withLifted.
func ListHolds(ctx context.Context, db *gorm.DB, slug string, withLifted bool) ([]LegalHold, error) {
	q := db.WithContext(ctx).Order("id DESC").Limit(1000)
	if slug != "" {
		q = q.Where("slug = ?", slug)
	}
	if !withLifted {
		q = q.Where("lifted_at IS NULL")
	}
	var out []LegalHold
	if err := q.Find(&out).Error; err != nil {
		return nil, fmt.Errorf("legal holds: %w", err)
	}
	return out, nil
}
