package models

import (
	"context"
	"errors"
	"fmt"
	"gatehouse/policy"
	"regexp"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// BreakglassMaxWindow is the longest a break-glass may stay open.
const BreakglassMaxWindow = 24 * time.Hour

// incidentPattern is what an incident reference looks like: a ticket or
// incident id such as INC-2041 or ops/2026-07-01.1.
var incidentPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._/-]{1,63}$`)

// Breakglass is one sysadmin's emergency access to one workspace: a grant
// of the whole workspace from OpenedAt to EndsAt, with the incident it was
// for, reviewed afterwards by a second sysadmin.
type Breakglass struct {
	ID            int64 `gorm:"primaryKey"`
	Workspace     string
	OpenerID      int64
	Incident      string
	Justification string
	OpenedAt      time.Time
	EndsAt        time.Time
	GrantID       *int64
	ReviewedByID  *int64
	ReviewedAt    *time.Time
	ReviewNote    string
}

// TableName is the break-glass table's name.
func (Breakglass) TableName() string { return "breakglass" }

// Reviewed reports whether a second sysadmin has reviewed it.
func (b Breakglass) Reviewed() bool { return b.ReviewedAt != nil }

// BreakglassUse is a break-glass with the people and the grant it
// concerns, as lists and pages show it.
type BreakglassUse struct {
	Breakglass
	Opener   Staff
	Reviewer *Staff
	Grant    *Grant
}

// Open reports whether the access is still in force at now: its window
// has not passed and its grant has not been ended early.
func (u BreakglassUse) Open(now time.Time) bool {
	return u.Grant != nil && u.Grant.Live(now)
}

// NewBreakglass describes a break-glass to open. The caller checks the
// workspace in the product registry and passes its owners (see Owners).
type NewBreakglass struct {
	Workspace     string
	OpenerID      int64
	Incident      string
	Justification string
	Window        time.Duration
	Clearance     Clearance // what the opener must hold
	Owners        []string  // the workspace's owners, who are told at once
	// Attributes are the workspace's registry attributes
	// (Workspace.Attributes): the opener's scope must admit them.
	Attributes map[string]string
}

// CheckBreakglass returns what is wrong with the form values of in, or
// nil: what OpenBreakglass refuses before it writes anything, so a page
// can ask to confirm only what it would accept.
func CheckBreakglass(in NewBreakglass) FieldErrors {
	errs := FieldErrors{}
	if in.Workspace == "" {
		errs["workspace"] = "Enter the workspace's slug."
	}
	if !incidentPattern.MatchString(strings.TrimSpace(in.Incident)) {
		errs["incident"] = "Enter the incident reference, e.g. INC-2041 (letters, digits, . _ / -; 2 to 64 characters)."
	}
	if err := CheckReason(strings.TrimSpace(in.Justification), 20); err != nil {
		errs["justification"] = noteMessage(err, "Say in a real sentence (at least 20 characters) why the incident needs this workspace's data.")
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

// OpenBreakglass opens a break-glass in one transaction: the break-glass
// row, its grant, a mail to every owner (with a link of their own to see
// what is viewed and end it) and every other active sysadmin (through the
// outbox), and the breakglass.opened audit event. A refusal
// writes nothing. Refusals are FieldErrors (form values) or
// ErrBreakglassRefused (the opener may not).
func OpenBreakglass(ctx context.Context, db *gorm.DB, act Act, post Post, in NewBreakglass) (Breakglass, error) {
	now := act.Now
	in.Incident, in.Justification = strings.TrimSpace(in.Incident), strings.TrimSpace(in.Justification)
	if errs := CheckBreakglass(in); errs != nil {
		return Breakglass{}, fmt.Errorf("open break-glass: %w", errs)
	}
	if in.Window <= 0 || in.Window > BreakglassMaxWindow || post.Letters == nil || post.Outbox == nil {
		return Breakglass{}, errors.New("open break-glass: a window of up to 24h, letters and an outbox are required")
	}
	b := Breakglass{
		Workspace: in.Workspace, OpenerID: in.OpenerID, Incident: in.Incident, Justification: in.Justification,
		OpenedAt: now.UTC(), EndsAt: now.Add(in.Window).UTC(),
	}
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		// Locked like a staff change, so an offboarding racing with this
		// either comes first (and this is refused) or ends the grant.
		opener, err := lockActiveSysadmin(tx, in.OpenerID)
		if err != nil {
			return err
		}
		if why := in.Clearance.Lacking(opener, now); why != "" {
			return fmt.Errorf("%s %s: %w", opener.Email, strings.TrimSuffix(why, "."), ErrBreakglassRefused)
		}
		roles, err := LoadRoles(ctx, tx)
		if err != nil {
			return err
		}
		if !ScopeOf(opener, roles).Admits(in.Attributes) {
			return fmt.Errorf("workspace %q: %w", in.Workspace, ErrNotFound)
		}
		if err := tx.Create(&b).Error; err != nil {
			return err
		}
		// A break-glass is full access to the workspace for the incident:
		// every catalogued table, personal fields unmasked. It is the
		// reason it is disclosed to the customer and reviewed.
		g, err := CreateGrant(ctx, tx, now, NewGrant{
			Workspace: b.Workspace, GranteeID: opener.ID, Unmask: true,
			StartsAt: now, Duration: in.Window, BreakglassID: &b.ID, Attributes: in.Attributes,
		})
		if err != nil {
			return err
		}
		b.GrantID = &g.ID
		if err := tx.Model(&b).Update("grant_id", g.ID).Error; err != nil {
			return err
		}
		notices, err := breakglassNotices(tx, b, opener, post.name(b.Workspace), in.Owners)
		if err != nil {
			return err
		}
		var told []string
		for _, n := range notices {
			if !n.Sysadmin {
				// Each owner's own link, to see what is viewed and end it.
				if n.Token, err = createBreakglassLink(ctx, tx, now, b, n.To); err != nil {
					return err
				}
			}
			if err := post.send(ctx, tx, now, n); err != nil {
				return err
			}
			told = append(told, n.To)
		}
		_, err = AppendAudit(ctx, tx, AuditEntry{
			At: now, Actor: act.By, Action: ActionBreakglassOpened, Workspace: b.Workspace,
			GrantID: &g.ID, BreakglassID: &b.ID, Target: b.Workspace, Reason: b.Justification,
			Detail: map[string]any{"incident": b.Incident, "ends_at": b.EndsAt, "window": in.Window.String(), "notified": told},
		})
		return err
	})
	if err != nil {
		return Breakglass{}, fmt.Errorf("open break-glass on %s: %w", in.Workspace, err)
	}
	return b, nil
}

// breakglassNotices are the mails b sends: one to each owner, and one
// asking for a review to every active sysadmin but its opener.
func breakglassNotices(tx *gorm.DB, b Breakglass, opener Staff, name string, owners []string) ([]BreakglassNotice, error) {
	roles, err := LoadRoles(tx.Statement.Context, tx)
	if err != nil {
		return nil, err
	}
	var sysadmins []string
	err = tx.Model(&Staff{}).Where("tier IN ? AND status = ? AND id <> ?", roles.Holding(policy.BreakglassUse), StatusActive, opener.ID).
		Order("email").Pluck("email", &sysadmins).Error
	if err != nil {
		return nil, err
	}
	var out []BreakglassNotice
	for _, to := range owners {
		out = append(out, BreakglassNotice{Breakglass: b, Name: name, Opener: opener, To: to})
	}
	for _, to := range sysadmins {
		out = append(out, BreakglassNotice{Breakglass: b, Name: name, Opener: opener, To: to, Sysadmin: true})
	}
	return out, nil
}

// lockActiveSysadmin loads staff id under a row lock and checks that it
// is active in a role that may use break-glass (sysadmin, or a custom
// role holding breakglass:use).
func lockActiveSysadmin(tx *gorm.DB, id int64) (Staff, error) {
	var s Staff
	err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Where("id = ?", id).Take(&s).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return Staff{}, fmt.Errorf("staff %d: %w", id, ErrBreakglassRefused)
	}
	if err != nil {
		return Staff{}, err
	}
	roles, err := LoadRoles(tx.Statement.Context, tx)
	if err != nil {
		return Staff{}, err
	}
	if !roles.MayBreakGlass(s.Tier) || s.Status != StatusActive {
		return Staff{}, fmt.Errorf("%s is not an active sysadmin: %w", s.Email, ErrBreakglassRefused)
	}
	return s, nil
}

// ReviewBreakglass records a second sysadmin's review of a break-glass,
// with a note, and audits it. The opener cannot review their own; of
// concurrent reviews exactly one is recorded, the others get ErrConflict.
func ReviewBreakglass(ctx context.Context, db *gorm.DB, act Act, id, reviewerID int64, note string) error {
	now := act.Now
	note = strings.TrimSpace(note)
	if err := CheckReason(note, 10); err != nil {
		return fmt.Errorf("review break-glass %d: %w", id, Invalid("note", noteMessage(err, "Say in a sentence (at least 10 characters) what you checked and concluded.")))
	}
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if _, err := lockActiveSysadmin(tx, reviewerID); err != nil {
			return err
		}
		var b Breakglass
		if err := tx.Where("id = ?", id).Take(&b).Error; err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return fmt.Errorf("break-glass %d: %w", id, ErrNotFound)
			}
			return err
		}
		if b.OpenerID == reviewerID {
			return fmt.Errorf("the opener cannot review their own break-glass; another sysadmin must: %w", ErrBreakglassRefused)
		}
		// Conditional, so that of two reviews racing only one matches.
		res := tx.Model(&Breakglass{}).Where("id = ? AND reviewed_at IS NULL AND opener_id <> ?", id, reviewerID).
			Updates(map[string]any{"reviewed_by_id": reviewerID, "reviewed_at": now.UTC(), "review_note": note})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return fmt.Errorf("break-glass %d has already been reviewed: %w", id, ErrConflict)
		}
		var opener Staff
		if err := tx.Where("id = ?", b.OpenerID).Take(&opener).Error; err != nil {
			return err
		}
		_, err := AppendAudit(ctx, tx, AuditEntry{
			At: now, Actor: act.By, Action: ActionBreakglassReviewed, Workspace: b.Workspace,
			GrantID: b.GrantID, BreakglassID: &b.ID, Target: opener.Email, Reason: note,
			Detail: map[string]any{"incident": b.Incident, "opened_at": b.OpenedAt},
		})
		return err
	})
	if err != nil {
		return fmt.Errorf("review break-glass %d: %w", id, err)
	}
	return nil
}

// FindBreakglass loads one break-glass with its people and grant.
func FindBreakglass(ctx context.Context, db *gorm.DB, id int64) (BreakglassUse, error) {
	var b Breakglass
	err := db.WithContext(ctx).Where("id = ?", id).Take(&b).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return BreakglassUse{}, fmt.Errorf("break-glass %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return BreakglassUse{}, fmt.Errorf("find break-glass %d: %w", id, err)
	}
	uses, err := breakglassUses(ctx, db, []Breakglass{b})
	if err != nil {
		return BreakglassUse{}, err
	}
	return uses[0], nil
}

// ListBreakglass returns the latest break-glass uses on the workspaces of
// in, newest first.
func ListBreakglass(ctx context.Context, db *gorm.DB, in WorkspaceSet, limit int) ([]BreakglassUse, error) {
	var bs []Breakglass
	if err := in.where(db.WithContext(ctx), "workspace").Order("id DESC").Limit(limit).Find(&bs).Error; err != nil {
		return nil, fmt.Errorf("list break-glass: %w", err)
	}
	return breakglassUses(ctx, db, bs)
}

// UnreviewedBreakglass returns the uses on the workspaces of in that no
// second sysadmin has reviewed yet, oldest first.
func UnreviewedBreakglass(ctx context.Context, db *gorm.DB, in WorkspaceSet, limit int) ([]BreakglassUse, error) {
	var bs []Breakglass
	if err := in.where(db.WithContext(ctx), "workspace").Where("reviewed_at IS NULL").Order("id").Limit(limit).Find(&bs).Error; err != nil {
		return nil, fmt.Errorf("unreviewed break-glass: %w", err)
	}
	return breakglassUses(ctx, db, bs)
}

// breakglassUses adds the opener, reviewer and grant to each break-glass.
func breakglassUses(ctx context.Context, db *gorm.DB, bs []Breakglass) ([]BreakglassUse, error) {
	if len(bs) == 0 {
		return nil, nil
	}
	var staffIDs, grantIDs []int64
	for _, b := range bs {
		staffIDs = append(staffIDs, b.OpenerID)
		if b.ReviewedByID != nil {
			staffIDs = append(staffIDs, *b.ReviewedByID)
		}
		if b.GrantID != nil {
			grantIDs = append(grantIDs, *b.GrantID)
		}
	}
	var people []Staff
	if err := db.WithContext(ctx).Where("id IN ?", staffIDs).Find(&people).Error; err != nil {
		return nil, fmt.Errorf("break-glass staff: %w", err)
	}
	var grants []Grant
	if len(grantIDs) > 0 {
		if err := db.WithContext(ctx).Where("id IN ?", grantIDs).Find(&grants).Error; err != nil {
			return nil, fmt.Errorf("break-glass grants: %w", err)
		}
	}
	byID := map[int64]Staff{}
	for _, s := range people {
		byID[s.ID] = s
	}
	grantByID := map[int64]Grant{}
	for _, g := range grants {
		grantByID[g.ID] = g
	}
	out := make([]BreakglassUse, len(bs))
	for i, b := range bs {
		out[i] = BreakglassUse{Breakglass: b, Opener: byID[b.OpenerID]}
		if b.ReviewedByID != nil {
			r := byID[*b.ReviewedByID]
			out[i].Reviewer = &r
		}
		if b.GrantID != nil {
			if g, ok := grantByID[*b.GrantID]; ok {
				out[i].Grant = &g
			}
		}
	}
	return out, nil
}
