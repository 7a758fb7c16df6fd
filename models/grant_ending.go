package models

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"gorm.io/gorm"
)

// GrantEnd says how a grant ended.
type GrantEnd string

// How grants end. Each way writes its own audit event (see endGrant,
// endGrantsBeyond, the sweep and break-glass), except a workspace's
// deletion, which ends its grants in its own report.
const (
	EndExpired          GrantEnd = "expired"           // its time ran out
	EndDone             GrantEnd = "done"              // the grantee pressed "I'm done"
	EndRevoked          GrantEnd = "revoked"           // a sysadmin revoked it
	EndCustomerRevoked  GrantEnd = "customer_revoked"  // a workspace owner revoked it
	EndOffboarded       GrantEnd = "offboarded"        // the grantee was offboarded
	EndSuspended        GrantEnd = "suspended"         // the grantee was suspended
	EndDemoted          GrantEnd = "demoted"           // the grantee's new tier may not hold it
	EndWorkspaceDeleted GrantEnd = "workspace_deleted" // the workspace was deleted
	EndClosed           GrantEnd = "closed"            // a break-glass closed early
	EndOther            GrantEnd = "ended"             // ended some other way
)

// endWhyWorkspaceDeleted is the note of a grant ended by its workspace's
// deletion, which writes no grant event of its own.
const endWhyWorkspaceDeleted = "the workspace was deleted"

// systemNotes are the notes Gatehouse itself writes on an ended grant,
// which only repeat how it ended.
var systemNotes = []string{"done", "expired", "revoked by the customer", "grantee offboarded", "grantee suspended", endWhyWorkspaceDeleted}

// GrantEnding is whether and how a grant ended, when, by whom and with
// what note.
type GrantEnding struct {
	How  GrantEnd  // "" while the grant has not ended
	At   time.Time // when it ended
	By   string    // who ended it (staff or owner email); "" when its time ran out
	Note string    // their note; "" when they left none
}

// Ended reports whether the grant has ended.
func (e GrantEnding) Ended() bool { return e.How != "" }

// endActions are the audit actions that end a grant.
var endActions = []Action{ActionGrantExpired, ActionGrantDone, ActionGrantRevoked, ActionGrantEnded, ActionBreakglassEnded}

// EndEvent is the audit event that ended a grant, read in the same query
// as the grant (see endEventJoin). Its fields are empty when no event
// ended it: the grant is live, its time ran out before the sweep saw it,
// or its workspace was deleted.
type EndEvent struct {
	EndAction    Action `gorm:"column:end_action"`
	EndActorTier string `gorm:"column:end_actor_tier"`
	EndDetail    string `gorm:"column:end_detail"`
}

// endEventJoin joins, to a grant aliased g, the first audit event that
// ended it as e, through the log's index on grant and sequence; live
// grants look nothing up. Its argument is endActions. On PostgreSQL it
// is a LATERAL subquery, so that the partitioned log is planned once
// for it, not twice (a MIN subquery, then the join on its sequence
// number): that halves the planning of each list showing endings (0.6
// → 0.3 ms at 10M events), paid for a statement's first executions on
// each connection, before its plan is cached.
func endEventJoin(db *gorm.DB) string {
	if db.Dialector.Name() == "postgres" {
		return "LEFT JOIN LATERAL (SELECT a.action, a.actor_tier, a.detail FROM audit_events a WHERE a.grant_id = g.id AND g.ended_at IS NOT NULL AND a.action IN ? ORDER BY a.seq LIMIT 1) e ON true"
	}
	return "LEFT JOIN audit_events e ON e.seq = (SELECT MIN(a.seq) FROM audit_events a WHERE a.grant_id = g.id AND g.ended_at IS NOT NULL AND a.action IN ?)"
}

// endEventColumns selects EndEvent's columns from endEventJoin.
const endEventColumns = "e.action AS end_action, e.actor_tier AS end_actor_tier, e.detail AS end_detail"

// Ending says whether g had ended at now and how, from g and ev, the
// event that ended it. This is the one place that decides what an ended
// grant is called.
func (g Grant) Ending(ev EndEvent, now time.Time) GrantEnding {
	if g.EndedAt == nil {
		if g.ID == 0 || now.Before(g.EndsAt) {
			return GrantEnding{}
		}
		return GrantEnding{How: EndExpired, At: g.EndsAt}
	}
	e := GrantEnding{How: EndOther, At: *g.EndedAt, By: g.EndedBy, Note: g.EndedWhy}
	if slices.Contains(systemNotes, e.Note) {
		e.Note = "" // How says it already
	}
	switch ev.EndAction {
	case ActionGrantExpired:
		return GrantEnding{How: EndExpired, At: *g.EndedAt}
	case ActionGrantDone:
		e.How = EndDone
	case ActionGrantRevoked:
		e.How = EndRevoked
		if ev.EndActorTier == "customer" {
			e.How = EndCustomerRevoked
		}
	case ActionGrantEnded:
		e.How = staffChangeEnd(ev.EndDetail)
	case ActionBreakglassEnded:
		e.How = EndClosed
	case "":
		if g.EndedWhy == endWhyWorkspaceDeleted {
			e.How = EndWorkspaceDeleted
		}
	}
	return e
}

// staffChangeEnd reads how a grant.ended event's detail says the grantee
// changed: endGrantsBeyond records their new status and tier. An event
// without them (EndGrant) is a sysadmin ending the grant.
func staffChangeEnd(detail string) GrantEnd {
	var d struct{ Status, Tier string }
	if detail == "" || json.Unmarshal([]byte(detail), &d) != nil || d.Status == "" {
		return EndRevoked
	}
	switch Status(d.Status) {
	case StatusOffboarded:
		return EndOffboarded
	case StatusSuspended:
		return EndSuspended
	}
	return EndDemoted
}

// GrantListing is a grant with the event that ended it.
type GrantListing struct {
	Grant    `gorm:"embedded"`
	EndEvent `gorm:"embedded"`
}

// Ending is the grant's ending at now.
func (l GrantListing) Ending(now time.Time) GrantEnding { return l.Grant.Ending(l.EndEvent, now) }

// ListGrantEndings returns a workspace's grants, newest first, each with
// the event that ended it, in one query.
func ListGrantEndings(ctx context.Context, db *gorm.DB, workspace string, limit int) ([]GrantListing, error) {
	var out []GrantListing
	err := db.WithContext(ctx).Table("grants g").Select("g.*, "+endEventColumns).Joins(endEventJoin(db), endActions).
		Where("g.workspace = ?", workspace).Order("g.id DESC").Limit(limit).Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("list grants: %w", err)
	}
	return out, nil
}

// FindGrantEnding returns grant id with the event that ended it, or a
// wrapped ErrNotFound.
func FindGrantEnding(ctx context.Context, db *gorm.DB, id int64) (GrantListing, error) {
	var l GrantListing
	err := db.WithContext(ctx).Table("grants g").Select("g.*, "+endEventColumns).Joins(endEventJoin(db), endActions).
		Where("g.id = ?", id).Take(&l).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return l, fmt.Errorf("grant %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return l, fmt.Errorf("grant %d: %w", id, err)
	}
	return l, nil
}

// RequestListing is an access request as lists show it: with its grant's
// window and ending, read in the same query (see ListRequests).
type RequestListing struct {
	AccessRequest `gorm:"embedded"`
	GrantStartsAt *time.Time `gorm:"column:g_starts_at"`
	GrantEndsAt   *time.Time `gorm:"column:g_ends_at"`
	GrantEndedAt  *time.Time `gorm:"column:g_ended_at"`
	GrantEndedBy  *string    `gorm:"column:g_ended_by"`
	GrantEndedWhy *string    `gorm:"column:g_ended_why"`
	EndEvent      `gorm:"embedded"`
}

// requestListingColumns selects RequestListing's columns, with the grant
// aliased g.
const requestListingColumns = "access_requests.*, g.starts_at AS g_starts_at, g.ends_at AS g_ends_at, g.ended_at AS g_ended_at, g.ended_by AS g_ended_by, g.ended_why AS g_ended_why, " + endEventColumns

// Grant is the listed request's grant, with the fields a list reads; the
// zero Grant when it has none.
func (l RequestListing) Grant() Grant {
	if l.GrantID == nil || l.GrantEndsAt == nil {
		return Grant{}
	}
	g := Grant{ID: *l.GrantID, EndsAt: *l.GrantEndsAt, EndedAt: l.GrantEndedAt}
	if l.GrantStartsAt != nil {
		g.StartsAt = *l.GrantStartsAt
	}
	if l.GrantEndedBy != nil {
		g.EndedBy = *l.GrantEndedBy
	}
	if l.GrantEndedWhy != nil {
		g.EndedWhy = *l.GrantEndedWhy
	}
	return g
}

// Ending is the request's grant's ending at now; zero while it has no
// grant or its grant is live.
func (l RequestListing) Ending(now time.Time) GrantEnding {
	return l.Grant().Ending(l.EndEvent, now)
}

// StatusAt is the request's state at now, RequestEnded once its grant has
// ended.
func (l RequestListing) StatusAt(now time.Time) RequestStatus {
	return statusWithGrant(l.AccessRequest, l.Ending(now), now)
}

// statusWithGrant is r's state at now given its grant's ending.
func statusWithGrant(r AccessRequest, e GrantEnding, now time.Time) RequestStatus {
	st := r.StatusAt(now)
	if st == RequestGranted && e.Ended() {
		return RequestEnded
	}
	return st
}

// RequestStatusWith is r's state at now given l, its grant with the
// event that ended it: RequestEnded once the grant has ended.
func RequestStatusWith(r AccessRequest, l GrantListing, now time.Time) RequestStatus {
	return statusWithGrant(r, l.Ending(now), now)
}
