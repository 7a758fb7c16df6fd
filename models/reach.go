package models

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"gatehouse/policy"

	"gorm.io/gorm"
)

// ReachWindow is how far back "who read this customer's data" looks.
const ReachWindow = 90 * 24 * time.Hour

// Reacher is a staff member who could read a workspace's data today, and
// by which paths. It answers the same questions, from the same rules, as
// the paths themselves: the data API (a live grant, with the person
// active, cleared and in scope), OpenBreakglass and a request's grantee
// check (CanBeGrantee and the scope).
type Reacher struct {
	Staff Staff
	// Grants are the person's live grants on the workspace: they can
	// read under them now.
	Grants []Grant
	// Breakglass: they may open a break-glass on it now (and read under
	// it), without anyone's approval; every one is reviewed afterwards.
	Breakglass bool
	// Request: they may be the grantee of an access request on it, which
	// gives them access once a second senior approves and an owner
	// consents.
	Request bool
}

// WhoCanReach lists every staff member who could read w's data today,
// by name, with their paths; someone with no path is not listed. Every
// path needs the person active, cleared by cl at now, in a role that
// reads customer data and in a scope that admits w.
func WhoCanReach(ctx context.Context, db *gorm.DB, cl Clearance, now time.Time, w Workspace) ([]Reacher, error) {
	roles, err := LoadRoles(ctx, db)
	if err != nil {
		return nil, err
	}
	readers := roles.Holding(policy.TenantDataRead)
	var staff []Staff
	if err := db.WithContext(ctx).Where("status = ? AND tier IN ?", StatusActive, readers).Order("name, id").Find(&staff).Error; err != nil {
		return nil, fmt.Errorf("who can reach %s: staff: %w", w.Slug, err)
	}
	var grants []Grant
	err = db.WithContext(ctx).Where("workspace = ? AND ended_at IS NULL AND ends_at > ?", w.Slug, now.UTC()).Order("ends_at, id").Find(&grants).Error
	if err != nil {
		return nil, fmt.Errorf("who can reach %s: grants: %w", w.Slug, err)
	}
	attrs := w.Attributes()
	var out []Reacher
	for _, s := range staff {
		if !cl.Cleared(s, now) || !ScopeOf(s, roles).Admits(attrs) {
			continue
		}
		r := Reacher{Staff: s}
		for _, g := range grants {
			if g.GranteeID == s.ID && g.Live(now) && s.mayHold(roles, g) {
				r.Grants = append(r.Grants, g)
			}
		}
		r.Breakglass = roles.MayBreakGlass(s.Tier)
		r.Request = CanBeGrantee(s, roles, cl, now) == ""
		if len(r.Grants) > 0 || r.Breakglass || r.Request {
			out = append(out, r)
		}
	}
	return out, nil
}

// PastReader is someone who read a workspace's data in the window: the
// grants they read under and their last view.
type PastReader struct {
	Email    string
	Grants   int
	LastRead time.Time
}

// WhoReached lists everyone who read workspace's data (a view or a
// revealed field) since since, the latest reader first. Every read is
// made under a grant, so it looks at the workspace's grants that were in
// force in the window (grants_workspace) and at each one's last read
// (audit_events_grant): never a scan of the workspace's whole log.
func WhoReached(ctx context.Context, db *gorm.DB, workspace string, since time.Time) ([]PastReader, error) {
	var grants []Grant
	err := db.WithContext(ctx).Where("workspace = ? AND ends_at >= ?", workspace, since.UTC()).
		Order("id").Limit(5000).Find(&grants).Error
	if err != nil {
		return nil, fmt.Errorf("who reached %s: grants: %w", workspace, err)
	}
	byEmail := map[string]*PastReader{}
	for _, g := range grants {
		var last AuditEvent
		err := db.WithContext(ctx).Select("actor, at").
			Where("grant_id = ? AND action IN ?", g.ID, []Action{ActionDataViewed, ActionFieldRevealed}).
			Order("seq DESC").Limit(1).Find(&last).Error
		if err != nil {
			return nil, fmt.Errorf("who reached %s: grant %d: %w", workspace, g.ID, err)
		}
		if last.Actor == "" || last.At.Before(since) {
			continue
		}
		p := byEmail[last.Actor]
		if p == nil {
			p = &PastReader{Email: last.Actor}
			byEmail[last.Actor] = p
		}
		p.Grants++
		if last.At.After(p.LastRead) {
			p.LastRead = last.At
		}
	}
	out := make([]PastReader, 0, len(byEmail))
	for _, p := range byEmail {
		out = append(out, *p)
	}
	slices.SortFunc(out, func(a, b PastReader) int {
		if c := b.LastRead.Compare(a.LastRead); c != 0 {
			return c
		}
		return strings.Compare(a.Email, b.Email)
	})
	return out, nil
}
