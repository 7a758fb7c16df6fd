package models

import (
	"fmt"
	"time"
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

// day writes t's UTC date, as explanations and audit details state days.
func day(t time.Time) string { return t.UTC().Format(time.DateOnly) }

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
	return evaluateRetention(w, rec, holds, req, now, p, true)
}

// RetentionStateOf is EvaluateRetention's state alone, without the words
// that explain it (the costly part when classifying many workspaces).
func RetentionStateOf(w Workspace, rec RetentionRecord, holds []LegalHold, req *DeletionRequest, now time.Time, p RetentionPolicy) RetentionState {
	return evaluateRetention(w, rec, holds, req, now, p, false).State
}

// evaluateRetention is EvaluateRetention; without explain it leaves out
// the rule's and the explanation's words and the steps.
func evaluateRetention(w Workspace, rec RetentionRecord, holds []LegalHold, req *DeletionRequest, now time.Time, p RetentionPolicy, explain bool) RetentionStatus {
	if w.Status == WorkspaceDeleted || rec.DeletedAt != nil {
		st := RetentionStatus{Slug: w.Slug, Name: w.Name, Plan: w.Plan, State: RetentionDeleted, Rule: "Once deleted, a workspace's data cannot be recovered."}
		st.Explanation = "The registry marks this workspace deleted."
		if rec.DeletedAt != nil {
			st.Explanation = "Deleted on " + day(*rec.DeletedAt) + "; its data cannot be recovered."
		}
		return st
	}
	var hold *LegalHold
	for _, h := range holds {
		if h.Slug == w.Slug && h.Live() {
			hold = &h
			break
		}
	}
	st := lifecycle(w, rec, now, p, hold, explain)
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
			if explain {
				st.Rule = "A customer's confirmed deletion request makes the workspace due for deletion."
				st.Explanation = fmt.Sprintf("The customer asked for deletion (request #%d of %s); it was confirmed on %s by %s. %s.",
					r.ID, day(r.CreatedAt), day(at), plural(r.NeededConfirmations, "owner", "two different owners"), dueWaits(hold))
				st.Steps = append(st.Steps, RetentionStep{Name: "Deletion requested", Due: r.CreatedAt, Done: &r.CreatedAt},
					RetentionStep{Name: "Confirmed by the owners", Due: at, Done: &at})
			}
		case DeletionPending:
			r := *req
			st.Request = &r
			if st.State != RetentionDeletionDue {
				st.State = RetentionDeletionRequested
			}
			if explain {
				rest := st.Explanation
				if st.Next == NextNone {
					// The rule plans nothing, but the request does.
					rest = "If they confirm it, deletion becomes due."
				}
				st.Explanation = fmt.Sprintf("The customer asked for deletion on %s (request #%d); it needs %s confirmation by %s, or it expires. ",
					day(r.CreatedAt), r.ID, plural(r.NeededConfirmations, "an owner's", "two different owners'"), day(r.ExpiresAt)) + rest
			}
		}
	}
	if h := hold; h != nil {
		without := st.Explanation
		st.State, st.Hold = RetentionHeld, h
		st.Next, st.NextAt, st.Due = NextNone, time.Time{}, false
		if explain {
			st.Rule = "A legal hold stops every notice and deletion of the workspace until it is lifted."
			st.Explanation = fmt.Sprintf("Legal hold %s (%s), placed by %s on %s: nothing is due while it lasts. Without the hold: %s",
				h.Reference, h.Reason, h.PlacedBy, day(h.PlacedAt), without)
		}
		return st
	}
	st.Due = st.Next != NextNone && !now.Before(st.NextAt)
	return st
}

// dueWaits says what a deletion that is due waits for: a sysadmin's
// confirmation, or, under hold, the hold's end.
func dueWaits(hold *LegalHold) string {
	if hold != nil {
		return "Deletion would be due, but legal hold " + hold.Reference + " holds it"
	}
	return "Deletion is due and waits for a sysadmin's confirmation"
}

func plural(n int, one, two string) string {
	if n > 1 {
		return two
	}
	return one
}

// lifecycle applies the cancelled or free rule, ignoring requests; hold,
// when not nil, only changes what a due deletion is said to wait for.
func lifecycle(w Workspace, rec RetentionRecord, now time.Time, p RetentionPolicy, hold *LegalHold, explain bool) RetentionStatus {
	var st RetentionStatus
	switch {
	case w.Status == WorkspaceCancelled:
		st.State = RetentionCancelled
		if explain {
			st.Rule = fmt.Sprintf("A cancelled paid workspace's data is kept %d days after the cancellation, then deleted.", days(p.CancelledKeep))
		}
		if w.CancelledAt == nil {
			if explain {
				st.Explanation = "Cancelled, but the registry has no cancellation date, so no deletion date can be computed; nothing is planned."
			}
			return st
		}
		c := *w.CancelledAt
		due := c.Add(p.CancelledKeep)
		st.Since, st.DeleteAt, st.Next, st.NextAt = c, due, NextDelete, due
		if !now.Before(due) {
			st.State = RetentionDeletionDue
		}
		if !explain {
			return st
		}
		st.Steps = []RetentionStep{{Name: "Cancelled", Due: c, Done: &c}, {Name: "Deletion due", Due: due}}
		if now.Before(due) {
			st.Explanation = fmt.Sprintf("Paid workspace (plan %s) cancelled on %s (%d days ago); its data is kept until %s (day %d), when deletion becomes due. Reactivating the subscription cancels this.",
				w.Plan, day(c), days(now.Sub(c)), day(due), days(p.CancelledKeep))
			return st
		}
		st.Explanation = fmt.Sprintf("Paid workspace (plan %s) cancelled on %s (%d days ago); the %d days its data is kept ended on %s. %s.",
			w.Plan, day(c), days(now.Sub(c)), days(p.CancelledKeep), day(due), dueWaits(hold))
		return st
	case isFree(w):
		return freeLifecycle(w, rec, now, p, hold, explain)
	}
	st.State = RetentionActive
	if !explain {
		return st
	}
	st.Rule = "A paid workspace is kept while its subscription runs."
	st.Explanation = fmt.Sprintf("Paid workspace (plan %s, subscription %s); nothing is planned.", w.Plan, w.SubscriptionState)
	if w.Status != WorkspaceActive {
		st.Explanation = fmt.Sprintf("Registry status %q has no retention rule; nothing is planned.", w.Status)
	} else if w.CancelledAt != nil {
		st.Explanation += " It was cancelled on " + day(*w.CancelledAt) + " and reactivated since, so that cancellation no longer counts."
	}
	return st
}

func freeLifecycle(w Workspace, rec RetentionRecord, now time.Time, p RetentionPolicy, hold *LegalHold, explain bool) RetentionStatus {
	var st RetentionStatus
	if explain {
		st.Rule = fmt.Sprintf("A free workspace nobody logs in to gets a notice at day %d, is marked for deletion with a second notice at day %d, and is due for deletion at day %d after the last login; a login resets the clock.",
			days(p.FreeNotice), days(p.FreeMark), days(p.FreeDelete))
	}
	since := w.CreatedAt
	if w.LastLoginAt != nil && w.LastLoginAt.After(w.CreatedAt) {
		since = *w.LastLoginAt
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
	}
	if !explain {
		return st
	}
	st.Steps = []RetentionStep{
		{Name: "First notice", Due: noticeAt, Done: noticed},
		{Name: "Marked for deletion, second notice", Due: markAt, Done: second},
		{Name: "Deletion due", Due: deleteAt},
	}
	idle := "nobody has logged in since it was created on " + day(w.CreatedAt)
	if since != w.CreatedAt {
		idle = "nobody has logged in since " + day(since)
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
	if st.State == RetentionDeletionDue {
		tail = ". " + dueWaits(hold) + tail
	}
	st.Explanation = head + plan + tail
	return st
}
