package models

import (
	"context"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// IncidentAction is one containment recorded on an incident: whose
// sessions and grants were ended, and how many.
type IncidentAction struct {
	ID            int64 `gorm:"primaryKey"`
	IncidentID    int64
	Staff         string // the emails, comma-separated, or "everyone"
	SessionsEnded int
	GrantsEnded   int
	Note          string
	ByID          int64
	At            time.Time
}

// TableName is the incident actions table's name.
func (IncidentAction) TableName() string { return "incident_actions" }

// Containment asks to end every session and every live grant of the
// staff with Emails, or of every staff member with Everyone.
type Containment struct {
	Incident int64
	ByID     int64
	Emails   []string
	Everyone bool
	Note     string
}

// Contain ends the sessions and grants c names, in one transaction with
// one grant.ended event per grant (as a sysadmin's revocation) and the
// incident.contained event, and records it on the incident. Those events
// move the security epoch, so every replica refuses cached access on the
// next request. With Everyone, the sysadmin's own session ends too.
func Contain(ctx context.Context, db *gorm.DB, act Act, c Containment) (IncidentAction, error) {
	c.Note = strings.TrimSpace(c.Note)
	if err := CheckReason(c.Note, 10); err != nil {
		return IncidentAction{}, Invalid("note", noteMessage(err, "Say why in a sentence."))
	}
	if c.Everyone == (len(c.Emails) > 0) {
		return IncidentAction{}, Invalid("staff", "Name the staff members by email, or choose everyone.")
	}
	a := IncidentAction{IncidentID: c.Incident, Note: c.Note, ByID: c.ByID, At: act.Now.UTC(), Staff: "everyone"}
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if _, err := lockActiveSysadminFor(tx, c.ByID); err != nil {
			return err
		}
		if _, err := lockOpenIncident(tx, c.Incident); err != nil {
			return err
		}
		// Locked like a staff change, so no grant or session of theirs
		// begins meanwhile.
		q := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Order("id")
		if !c.Everyone {
			q = q.Where("email IN ?", c.Emails)
		}
		var staff []Staff
		if err := q.Find(&staff).Error; err != nil {
			return err
		}
		if !c.Everyone {
			known := map[string]bool{}
			for _, s := range staff {
				known[s.Email] = true
			}
			for _, e := range c.Emails {
				if !known[e] {
					return Invalid("staff", fmt.Sprintf("There is no staff member %s. Nothing was ended.", e))
				}
			}
			a.Staff = strings.Join(c.Emails, ",")
		}
		why := fmt.Sprintf("contained under incident %d", c.Incident)
		for _, s := range staff {
			res := tx.Model(&Session{}).Where("staff_id = ? AND ended_at IS NULL", s.ID).
				Updates(map[string]any{"ended_at": act.Now.UTC(), "end_reason": why})
			if res.Error != nil {
				return res.Error
			}
			a.SessionsEnded += int(res.RowsAffected)
			n, err := endGrantsOf(ctx, tx, act, s, why, map[string]any{"grantee": s.Email, "incident": c.Incident}, func(Grant) bool { return false })
			if err != nil {
				return err
			}
			a.GrantsEnded += n
		}
		if err := tx.Create(&a).Error; err != nil {
			return err
		}
		_, err := AppendAudit(ctx, tx, AuditEntry{
			At: act.Now, Actor: act.By, Action: ActionIncidentContained, Target: IncidentTarget(c.Incident), Reason: c.Note,
			Detail: map[string]any{"staff": a.Staff, "sessions_ended": a.SessionsEnded, "grants_ended": a.GrantsEnded},
		})
		return err
	})
	if err != nil {
		return IncidentAction{}, fmt.Errorf("contain incident %d: %w", c.Incident, err)
	}
	return a, nil
}

// ListIncidentActions returns an incident's containment, oldest first.
func ListIncidentActions(ctx context.Context, db *gorm.DB, id int64) ([]IncidentAction, error) {
	var out []IncidentAction
	if err := db.WithContext(ctx).Where("incident_id = ?", id).Order("id").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("containment of incident %d: %w", id, err)
	}
	return out, nil
}
