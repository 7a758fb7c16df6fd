package models

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"gatehouse/policy"

	"gorm.io/gorm"
)

// RevealWindow is how long a revealed field stays unmasked.
const RevealWindow = 5 * time.Minute

// Reveal lets one staff member see one masked personal field of one
// record unmasked until ExpiresAt.
type Reveal struct {
	ID        int64 `gorm:"primaryKey"`
	StaffID   int64
	GrantID   int64
	Workspace string
	Table     string `gorm:"column:table_name"`
	RecordID  int64
	Field     string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// TableName is the reveals table's name.
func (Reveal) TableName() string { return "reveals" }

// RevealField unmasks field of record r.Record for v until RevealWindow
// has passed, and records data.revealed with reason in the same
// transaction: the field is never unmasked without its event. The
// request is refused as by ReadRecord; it is also refused, and the
// refusal recorded (data.refused), when the grant's mode is not
// ModeReveal (ErrRevealRefused) or the record does not exist in the
// customer's data (ErrNotFound). A field that is not a personal column of
// the table, or a reason that fails CheckNote (at least 10 characters),
// is FieldErrors. A refused reveal writes nothing but its refusal.
func (d *TenantData) RevealField(ctx context.Context, v Viewer, r DataRequest, field, reason string) (Reveal, error) {
	now, reason := d.now(), strings.TrimSpace(reason)
	ctx, err := d.cache.Begin(ctx)
	if err != nil {
		return Reveal{}, err
	}
	a, err := d.open(ctx, now, v, r, true)
	if err != nil {
		return Reveal{}, err
	}
	if !a.grant.Mode.Reveals() {
		// open chose the grant that shows the most; another live grant
		// covering the record may be the one consenting to reveals.
		g, err := d.revealGrant(ctx, now, v, a)
		if err != nil {
			return Reveal{}, d.refuse(ctx, now, v, r, "reveals not consented", err)
		}
		a.grant = g
	}
	// The grant covers the record's id; the record must also exist. Only
	// its id is read (no column), so nothing of the customer's data is
	// seen before the reveal's event is committed.
	q := a.query(0)
	if _, err := d.tenants.Row(ctx, q.Workspace, q.Table, nil, a.id); err != nil {
		err = storageError(err)
		if errors.Is(err, ErrNotFound) {
			return Reveal{}, d.refuse(ctx, now, v, r, "no such record", err)
		}
		return Reveal{}, err
	}
	errs := FieldErrors{}
	if !slices.Contains(a.columns, policy.Column{Name: field, Class: policy.Personal}) {
		errs["field"] = "Only a personal field of this table can be revealed."
	}
	if err := CheckNote(reason, 10); err != nil {
		errs["reason"] = noteMessage(err, "Say in a sentence why you need to see this field (at least 10 characters).")
	}
	if len(errs) > 0 {
		return Reveal{}, errs
	}
	rv := Reveal{
		StaffID:   v.StaffID,
		GrantID:   a.grant.ID,
		Workspace: a.ws.Slug,
		Table:     a.table.Name,
		RecordID:  a.id,
		Field:     field,
		CreatedAt: now.UTC(),
		ExpiresAt: now.Add(RevealWindow).UTC(),
	}
	if d.beforeAudit != nil {
		d.beforeAudit()
	}
	// The reveal's time is read last before it is recorded, and checked
	// again once the chain head is held (below).
	at := d.now()
	ended := false
	err = d.db.Write.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Create(&rv).Error; err != nil {
			return err
		}
		ev, err := AppendAudit(ctx, tx, AuditEntry{
			At:           at,
			Actor:        v.Actor,
			Action:       ActionFieldRevealed,
			Workspace:    rv.Workspace,
			Table:        rv.Table,
			RecordIDs:    []string{fmt.Sprint(rv.RecordID)},
			GrantID:      &rv.GrantID,
			BreakglassID: a.grant.BreakglassID,
			Reason:       reason,
			Detail:       map[string]any{"field": field, "until": rv.ExpiresAt},
		})
		if err != nil {
			return err
		}
		// This transaction holds the chain head now: the grant must
		// still be live, as for a view (see AuditWriter.appendUnder).
		live, err := grantWindows(ctx, tx, []int64{rv.GrantID})
		if err != nil {
			return err
		}
		if w, ok := live[rv.GrantID]; !ok || !w.liveAt(ev.At) || !w.liveAt(d.now()) {
			ended = true
			return fmt.Errorf("grant %d ended before the reveal was recorded: %w", rv.GrantID, ErrNoGrant)
		}
		return nil
	})
	if ended {
		return Reveal{}, d.refuse(ctx, now, v, r, refusedEnded, err)
	}
	if err != nil {
		return Reveal{}, fmt.Errorf("reveal %s.%s %d %s: %w", rv.Workspace, rv.Table, rv.RecordID, field, err)
	}
	return rv, nil
}

// revealGrant finds a live grant of v covering a's record whose customer
// consented to single reveals (ModeReveal), read at now; ErrRevealRefused
// when there is none. A break-glass grant is unmasked: it shows every
// personal field, so it never needs, nor allows, a reveal.
func (d *TenantData) revealGrant(ctx context.Context, now time.Time, v Viewer, a access) (Grant, error) {
	grants, err := LiveGrants(ctx, d.db.Read, now, v.StaffID, a.ws.Slug)
	if err != nil {
		return Grant{}, fmt.Errorf("%w: %w", ErrRevealRefused, err)
	}
	for _, g := range grants {
		s, err := g.Scope()
		if err != nil {
			return Grant{}, fmt.Errorf("%w: %w", ErrRevealRefused, err)
		}
		if g.Mode.Reveals() && s.Covers(a.table.Name, a.id) {
			return g, nil
		}
	}
	return Grant{}, fmt.Errorf("%s.%s %d for staff %d: no grant allows a reveal: %w", a.ws.Slug, a.table.Name, a.id, v.StaffID, ErrRevealRefused)
}

// revealed returns the fields of a's record that v revealed under a's
// grant and that are still unmasked at now.
func (d *TenantData) revealed(ctx context.Context, now time.Time, v Viewer, a access) ([]string, error) {
	var rs []Reveal
	err := d.db.Read.WithContext(ctx).
		Where("staff_id = ? AND grant_id = ? AND workspace = ? AND table_name = ? AND record_id = ?", v.StaffID, a.grant.ID, a.ws.Slug, a.table.Name, a.id).
		Order("id").Find(&rs).Error
	if err != nil {
		return nil, fmt.Errorf("revealed fields: %w", err)
	}
	var fields []string
	for _, r := range rs {
		if now.Before(r.ExpiresAt) && !slices.Contains(fields, r.Field) {
			fields = append(fields, r.Field)
		}
	}
	return fields, nil
}
