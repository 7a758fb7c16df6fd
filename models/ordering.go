package models

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// The ordering invariant: for every grant (a break-glass is a grant
// too), no use of tenant data under it (data.viewed, data.revealed) has
// a greater seq than the event that ended it. A use commits its event
// only in a transaction that, holding the chain head, finds its grant
// live (AuditWriter.appendUnder, RevealField); every way a grant ends
// commits its event in the transaction that ends it, which holds the
// head as well. So the chain's order is the order in which access
// started and stopped, on every replica, and ViewsAfterEnd checks it
// from the log alone.

// grantWindow is a grant not ended, as stored: from starts to ends.
type grantWindow struct {
	ID     int64
	Starts time.Time `gorm:"column:starts_at"`
	Ends   time.Time `gorm:"column:ends_at"`
}

// liveAt reports whether a use recorded at at, its event's time, falls
// within w, as a checker comparing the stored time with the stored
// window finds.
func (w grantWindow) liveAt(at time.Time) bool {
	return !at.Before(w.Starts) && at.Before(w.Ends)
}

// grantWindows reads, in tx, the grants among ids that no event has
// ended. The caller holds the chain head, so an ending committed before
// it is seen and one committed after it follows the caller's events.
func grantWindows(ctx context.Context, tx *gorm.DB, ids []int64) (map[int64]grantWindow, error) {
	var ws []grantWindow
	if err := tx.WithContext(ctx).Raw("SELECT id, starts_at, ends_at FROM grants WHERE ended_at IS NULL AND id IN ?", ids).Scan(&ws).Error; err != nil {
		return nil, fmt.Errorf("re-check grants: %w", err)
	}
	out := make(map[int64]grantWindow, len(ws))
	for _, w := range ws {
		out[w.ID] = w
	}
	return out, nil
}

// The kinds of OrderViolation.
const (
	AfterEnd    = "after its end"          // a use with a greater seq than its grant's end
	OutsideTime = "outside its time"       // a use whose time is before its grant starts, or not before it ends
	EndUnlogged = "ended without an event" // an ended grant with no event that ended it
)

// OrderViolation is a use of tenant data that the audit log records
// after the end of the grant it was under, or a grant whose end the log
// does not record.
type OrderViolation struct {
	Kind      string // AfterEnd, OutsideTime or EndUnlogged
	GrantID   int64
	Seq       int64  // the use; 0 for EndUnlogged
	Action    Action // the use's action
	At        time.Time
	EndSeq    int64 // the event that ended the grant; 0 when none has
	EndAction Action
	StartsAt  time.Time // the grant's window
	EndsAt    time.Time
}

func (v OrderViolation) String() string {
	if v.Kind == EndUnlogged {
		return fmt.Sprintf("grant %d ended without an event", v.GrantID)
	}
	return fmt.Sprintf("%s %d at %s under grant %d (from %s to %s, ended by %s %d): %s",
		v.Action, v.Seq, v.At.UTC().Format(time.RFC3339Nano), v.GrantID,
		v.StartsAt.UTC().Format(time.RFC3339Nano), v.EndsAt.UTC().Format(time.RFC3339Nano), v.EndAction, v.EndSeq, v.Kind)
}

// grantEndsQuery gives every grant its end, end_seq: the event that
// ended a grant is the first (lowest seq) of
//   - an event under the grant (grant_id) whose action ends a grant
//     (endActions: grant.done, grant.revoked, grant.ended,
//     breakglass.ended, grant.expired), and
//   - workspace.deleted of the grant's workspace, which ends every grant
//     on it in its own transaction and writes no event per grant.
//
// Expiry needs care, because a grant's time runs out with no event at
// all: the sweep's grant.expired comes later (the sweep runs every 30
// seconds, on any replica's clock), in the transaction that sets
// ended_at. For an expiry the event that ended the grant is that
// grant.expired, and the time is checked on its own: every use must
// also have its time (at) within the window, starts_at <= at < ends_at.
// A use's time is read when it is recorded, with the chain head held,
// and the use is refused unless that time is within the window and
// ended_at is not set. So a use recorded after the time ran out is
// refused whether or not the sweep has run, and one recorded in time
// took the head before grant.expired did: an expiry makes no false
// violation whenever the sweep runs. Its arguments are endActions and
// ActionWorkspaceDeleted.
const grantEndsQuery = `WITH firsts AS (
	SELECT g.id AS grant_id, g.starts_at, g.ends_at, g.ended_at,
		(SELECT MIN(a.seq) FROM audit_events a WHERE a.grant_id = g.id AND a.action IN ?) AS by_event,
		(SELECT MIN(a.seq) FROM audit_events a WHERE a.workspace = g.workspace AND a.action = ?) AS by_deletion
	FROM grants g
), ends AS (
	SELECT grant_id, starts_at, ends_at, ended_at,
		CASE WHEN by_event IS NULL THEN by_deletion WHEN by_deletion IS NULL OR by_event < by_deletion THEN by_event ELSE by_deletion END AS end_seq
	FROM firsts
)`

// ViewsAfterEnd checks the ordering invariant over the whole audit log
// and returns every violation, by seq: a use of tenant data (data.viewed,
// data.revealed) after its grant's end (AfterEnd) or outside its time
// (OutsideTime), and a grant ended with no event that ended it
// (EndUnlogged), for which the first check would prove nothing. It is one
// query on the portal's database; it reads every use once, so on a large
// log it takes as long as that.
func ViewsAfterEnd(ctx context.Context, db *gorm.DB) ([]OrderViolation, error) {
	var rows []struct {
		GrantID          int64
		Seq              int64
		Action           Action
		At               *time.Time
		EndSeq           *int64
		EndAction        *string
		StartsAt, EndsAt time.Time
	}
	q := grantEndsQuery + `
	SELECT ends.grant_id, v.seq, v.action, v.at, ends.end_seq, x.action AS end_action, ends.starts_at, ends.ends_at
	FROM audit_events v
	JOIN ends ON ends.grant_id = v.grant_id
	LEFT JOIN audit_events x ON x.seq = ends.end_seq
	WHERE v.action IN ? AND (v.seq > ends.end_seq OR v.at < ends.starts_at OR v.at >= ends.ends_at)
	UNION ALL
	SELECT grant_id, 0, '', NULL, NULL, NULL, starts_at, ends_at FROM ends
	WHERE ended_at IS NOT NULL AND end_seq IS NULL
	ORDER BY 2, 1`
	uses := []Action{ActionDataViewed, ActionFieldRevealed}
	if err := db.WithContext(ctx).Raw(q, endActions, ActionWorkspaceDeleted, uses).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("ordering check: %w", err)
	}
	out := make([]OrderViolation, 0, len(rows))
	for _, r := range rows {
		v := OrderViolation{Kind: OutsideTime, GrantID: r.GrantID, Seq: r.Seq, Action: r.Action, StartsAt: r.StartsAt, EndsAt: r.EndsAt}
		if r.At != nil {
			v.At = *r.At
		}
		if r.EndSeq != nil {
			v.EndSeq = *r.EndSeq
		}
		if r.EndAction != nil {
			v.EndAction = Action(*r.EndAction)
		}
		switch {
		case r.Seq == 0:
			v.Kind = EndUnlogged
		case v.EndSeq > 0 && r.Seq > v.EndSeq:
			v.Kind = AfterEnd
		}
		out = append(out, v)
	}
	return out, nil
}
