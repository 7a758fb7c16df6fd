package models

import (
	"context"
	"errors"
	"fmt"
	"gatehouse/policy"
	"net/mail"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Status is where a staff member is in their lifecycle.
type Status string

// The statuses. Offboarded is final.
const (
	StatusActive     Status = "active"
	StatusSuspended  Status = "suspended"
	StatusOffboarded Status = "offboarded"
)

// Staff is a person who may sign in to the portal.
type Staff struct {
	ID    int64 `gorm:"primaryKey"`
	Email string
	Name  string
	// Tier names the person's one role: a built-in tier (Tier.Valid) or
	// a custom role (see role.go). A name that is neither holds nothing.
	Tier              policy.Tier
	Status            Status
	OIDCIssuer        *string `gorm:"column:oidc_issuer"`
	OIDCSubject       *string `gorm:"column:oidc_subject"`
	AgreementVersion  string
	AgreementSignedAt *time.Time
	TrainingAt        *time.Time
	CreatedAt         time.Time
	UpdatedAt         time.Time
	OffboardedAt      *time.Time
	// Scope is policy.ParseScope text: which workspaces they may touch.
	// Read it through ScopeOf.
	Scope string
}

// TableName is the staff table's name.
func (Staff) TableName() string { return "staff" }

// AgreementCurrent reports whether the staff member signed the given
// (current) version of the confidentiality agreement.
func (s Staff) AgreementCurrent(version string) bool {
	return version != "" && s.AgreementVersion == version && s.AgreementSignedAt != nil
}

// NormalizeEmail lowercases and checks an email address.
func NormalizeEmail(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || !strings.Contains(s, "@") {
		return "", fmt.Errorf("%q is not an email address", s)
	}
	return s, nil
}

// CreateStaff adds an active staff member and audits it.
func CreateStaff(ctx context.Context, db *gorm.DB, now time.Time, by Actor, s Staff) (Staff, error) {
	email, err := NormalizeEmail(s.Email)
	if err != nil {
		return Staff{}, err
	}
	if strings.TrimSpace(s.Name) == "" || s.Tier == "" {
		return Staff{}, fmt.Errorf("create staff: name and a valid role are required")
	}
	sc, err := policy.ParseScope(s.Scope)
	if err != nil {
		return Staff{}, Invalid("scope", "The scope "+err.Error()+".")
	}
	s.Email, s.Name, s.Scope = email, strings.TrimSpace(s.Name), sc.String()
	if s.Status == "" {
		s.Status = StatusActive
	}
	s.CreatedAt, s.UpdatedAt = now.UTC(), now.UTC()
	err = db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		roles, err := LoadRoles(ctx, tx)
		if err != nil {
			return err
		}
		if !roles.Known(s.Tier) {
			return Invalid("tier", "Choose a role from the list.")
		}
		var n int64
		if err := tx.Model(&Staff{}).Where("email = ?", email).Count(&n).Error; err != nil {
			return err
		}
		if n > 0 {
			return conflictf("Staff %s already exists.", email)
		}
		if err := tx.Create(&s).Error; err != nil {
			if errors.Is(err, gorm.ErrDuplicatedKey) {
				// Added concurrently since the count above.
				return conflictf("Staff %s already exists.", email)
			}
			return err
		}
		after := map[string]any{"name": s.Name, "tier": s.Tier, "status": s.Status}
		if s.Scope != "" {
			after["scope"] = s.Scope
		}
		_, err = AppendAudit(ctx, tx, AuditEntry{At: now, Actor: by, Action: ActionStaffCreated, Target: email, Detail: map[string]any{"after": after}})
		return err
	})
	if err != nil {
		return Staff{}, fmt.Errorf("create staff: %w", err)
	}
	return s, nil
}

// FindStaff loads a staff member by id.
func FindStaff(ctx context.Context, db *gorm.DB, id int64) (Staff, error) {
	var s Staff
	err := db.WithContext(ctx).Where("id = ?", id).Take(&s).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return Staff{}, fmt.Errorf("staff %d: %w", id, ErrNotFound)
	}
	return s, err
}

// FindStaffByEmail loads a staff member by email (case-insensitive).
func FindStaffByEmail(ctx context.Context, db *gorm.DB, email string) (Staff, error) {
	var s Staff
	err := db.WithContext(ctx).Where("email = ?", strings.ToLower(strings.TrimSpace(email))).Take(&s).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return Staff{}, fmt.Errorf("staff %s: %w", email, ErrNotFound)
	}
	return s, err
}

// FindStaffBySubject loads the staff member linked to an OIDC identity.
func FindStaffBySubject(ctx context.Context, db *gorm.DB, issuer, subject string) (Staff, error) {
	var s Staff
	err := db.WithContext(ctx).Where("oidc_issuer = ? AND oidc_subject = ?", issuer, subject).Take(&s).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return Staff{}, fmt.Errorf("staff with subject %s: %w", subject, ErrNotFound)
	}
	return s, err
}

// StaffFilter selects staff; zero fields match everything.
type StaffFilter struct {
	Query  string // part of the email or name, any case
	Tier   policy.Tier
	Status Status
}

// where applies the filters to q.
func (f StaffFilter) where(q *gorm.DB) *gorm.DB {
	if query := strings.ToLower(strings.TrimSpace(f.Query)); query != "" {
		like := "%" + escapeLike(query) + "%"
		q = q.Where("(LOWER(email) LIKE ? ESCAPE '\\' OR LOWER(name) LIKE ? ESCAPE '\\')", like, like)
	}
	if f.Tier != "" {
		q = q.Where("tier = ?", f.Tier)
	}
	if f.Status != "" {
		q = q.Where("status = ?", f.Status)
	}
	return q
}

// StaffSorts are the orders /staff offers; the first is the default.
// Each has an index on (column, id) (migration 00013; email is unique).
var StaffSorts = []SortKey{
	{Name: "name", Column: "name"},
	{Name: "email", Column: "email"},
	{Name: "tier", Column: "tier"},
	{Name: "added", Column: "id", Kind: SortInt, Desc: true},
}

// PageStaff returns one page of the staff f matches, sorted and paged by
// k, and how many match.
func PageStaff(ctx context.Context, db *gorm.DB, f StaffFilter, k Keyset) (Page[Staff], Count, error) {
	q := f.where(db.WithContext(ctx).Model(&Staff{})).Session(&gorm.Session{})
	n, err := countCapped(ctx, db, q)
	if err != nil {
		return Page[Staff]{}, Count{}, fmt.Errorf("count staff: %w", err)
	}
	page, err := findKeyset(ctx, q, k, "id", true, func(s Staff) Cursor {
		return Cursor{Value: s.sortValue(k.Sort.Name), ID: strconv.FormatInt(s.ID, 10)}
	})
	if err != nil {
		return page, n, fmt.Errorf("list staff: %w", err)
	}
	return page, n, nil
}

// sortValue is s's value of sort key name, as a cursor holds it.
func (s Staff) sortValue(name string) string {
	switch name {
	case "name":
		return s.Name
	case "email":
		return s.Email
	case "tier":
		return string(s.Tier)
	}
	return strconv.FormatInt(s.ID, 10)
}

func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// staffChange names a change to one staff member, as its audit event
// records it.
type staffChange struct {
	ID     int64
	Action Action
	Reason string
	// withScope records the scope in the before and after.
	withScope bool
}

// changeStaff loads staff id inside a transaction, lets change mutate it,
// saves it, and audits action with the before and after states. A reason
// is optional here (the web form requires one; the CLI has a default),
// but one that fails CheckNote is FieldErrors on "reason" and nothing is
// written.
func changeStaff(ctx context.Context, db *gorm.DB, act Act, c staffChange, change func(tx *gorm.DB, s *Staff) error) error {
	c.Reason = strings.TrimSpace(c.Reason)
	if err := CheckNote(c.Reason, 0); err != nil {
		return Invalid("reason", noteMessage(err, "Give a reason."))
	}
	return db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var s Staff
		// FOR UPDATE (PostgreSQL; SQLite has one writer anyway): without
		// it, two changes racing on another replica each save the whole
		// row from a stale read, and a tier change could bring an
		// offboarded person back to active.
		if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Where("id = ?", c.ID).Take(&s).Error; err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return fmt.Errorf("staff %d: %w", c.ID, ErrNotFound)
			}
			return err
		}
		before := s.auditView()
		if c.withScope {
			before["scope"] = s.Scope
		}
		if err := change(tx, &s); err != nil {
			return err
		}
		after := s.auditView()
		if c.withScope {
			after["scope"] = s.Scope
		}
		s.UpdatedAt = act.Now.UTC()
		if err := tx.Save(&s).Error; err != nil {
			return err
		}
		_, err := AppendAudit(ctx, tx, AuditEntry{
			At:     act.Now,
			Actor:  act.By,
			Action: c.Action,
			Target: s.Email,
			Reason: c.Reason,
			Detail: map[string]any{"before": before, "after": after},
		})
		return err
	})
}

func (s Staff) auditView() map[string]any {
	v := map[string]any{"tier": s.Tier, "status": s.Status, "agreement_version": s.AgreementVersion}
	if s.AgreementSignedAt != nil {
		v["agreement_signed"] = s.AgreementSignedAt.Format(time.DateOnly)
	}
	if s.TrainingAt != nil {
		v["training"] = s.TrainingAt.Format(time.DateOnly)
	}
	return v
}

func mustBeActive(s *Staff) error {
	if s.Status == StatusOffboarded {
		return conflictf("%s is offboarded.", s.Email)
	}
	return nil
}

// SetTier gives a staff member a built-in tier: SetStaffRole, kept for
// the callers that only ever name tiers. A built-in tier has no scope of
// its own, so no registry is needed.
func SetTier(ctx context.Context, db *gorm.DB, act Act, id int64, tier policy.Tier) error {
	if !tier.Valid() {
		return fmt.Errorf("unknown tier %q", tier)
	}
	return SetStaffRole(ctx, db, nil, act, id, tier)
}

// RecordAgreement records that a staff member signed a version of the
// confidentiality agreement on a date.
func RecordAgreement(ctx context.Context, db *gorm.DB, act Act, id int64, version string, signed time.Time) error {
	version = strings.TrimSpace(version)
	if version == "" || len(version) > 64 {
		return fmt.Errorf("agreement version is required")
	}
	return changeStaff(ctx, db, act, staffChange{ID: id, Action: ActionStaffAgreementRecorded}, func(_ *gorm.DB, s *Staff) error {
		if err := mustBeActive(s); err != nil {
			return err
		}
		d := signed.UTC()
		s.AgreementVersion, s.AgreementSignedAt = version, &d
		return nil
	})
}

// RecordTraining records the date a staff member completed security training.
func RecordTraining(ctx context.Context, db *gorm.DB, act Act, id int64, done time.Time) error {
	return changeStaff(ctx, db, act, staffChange{ID: id, Action: ActionStaffTrainingRecorded}, func(_ *gorm.DB, s *Staff) error {
		if err := mustBeActive(s); err != nil {
			return err
		}
		d := done.UTC()
		s.TrainingAt = &d
		return nil
	})
}

// Suspend stops a staff member from using the portal until reactivated,
// ending every session at once.
func Suspend(ctx context.Context, db *gorm.DB, act Act, id int64, reason string) error {
	return changeStaff(ctx, db, act, staffChange{ID: id, Action: ActionStaffSuspended, Reason: reason}, func(tx *gorm.DB, s *Staff) error {
		if s.Status != StatusActive {
			return conflictf("%s is %s, not active.", s.Email, s.Status)
		}
		s.Status = StatusSuspended
		if err := endGrantsBeyond(ctx, tx, nil, act, "grantee suspended", *s); err != nil {
			return err
		}
		return endStaffSessions(ctx, tx, act.Now, s.ID, "suspended")
	})
}

// Reactivate lets a suspended staff member sign in again.
func Reactivate(ctx context.Context, db *gorm.DB, act Act, id int64, reason string) error {
	return changeStaff(ctx, db, act, staffChange{ID: id, Action: ActionStaffReactivated, Reason: reason}, func(_ *gorm.DB, s *Staff) error {
		if s.Status != StatusSuspended {
			return conflictf("%s is %s, not suspended.", s.Email, s.Status)
		}
		s.Status = StatusActive
		return nil
	})
}

// Offboard ends a staff member's sessions at once and refuses every later
// login. It is final.
func Offboard(ctx context.Context, db *gorm.DB, act Act, id int64, reason string) error {
	return changeStaff(ctx, db, act, staffChange{ID: id, Action: ActionStaffOffboarded, Reason: reason}, func(tx *gorm.DB, s *Staff) error {
		if s.Status == StatusOffboarded {
			return conflictf("%s is already offboarded.", s.Email)
		}
		t := act.Now.UTC()
		s.Status, s.OffboardedAt = StatusOffboarded, &t
		if err := endGrantsBeyond(ctx, tx, nil, act, "grantee offboarded", *s); err != nil {
			return err
		}
		return endStaffSessions(ctx, tx, act.Now, s.ID, "offboarded")
	})
}

// StaffCounts summarises the staff for the sysadmin dashboard.
type StaffCounts struct {
	Active, Suspended, Offboarded int64
	// WithoutAgreement counts active staff without the current agreement.
	WithoutAgreement int64
	// TrainingLapsed counts active staff whose training does not count
	// (lapsed or never recorded).
	TrainingLapsed int64
}

// CountStaff counts staff by status, and the active ones who lack the
// current agreement or training that counts at now.
func CountStaff(ctx context.Context, db *gorm.DB, cl Clearance, now time.Time) (StaffCounts, error) {
	var rows []struct {
		Status Status
		N      int64
	}
	if err := db.WithContext(ctx).Model(&Staff{}).Select("status, COUNT(*) AS n").Group("status").Scan(&rows).Error; err != nil {
		return StaffCounts{}, fmt.Errorf("count staff: %w", err)
	}
	var c StaffCounts
	for _, r := range rows {
		switch r.Status {
		case StatusActive:
			c.Active = r.N
		case StatusSuspended:
			c.Suspended = r.N
		case StatusOffboarded:
			c.Offboarded = r.N
		}
	}
	err := db.WithContext(ctx).Model(&Staff{}).
		Where("status = ? AND (agreement_version <> ? OR agreement_signed_at IS NULL)", StatusActive, cl.Agreement).
		Count(&c.WithoutAgreement).Error
	if err == nil {
		err = db.WithContext(ctx).Model(&Staff{}).
			Where("status = ? AND (training_at IS NULL OR training_at <= ?)", StatusActive, now.Add(-cl.TrainingValidFor).UTC()).
			Count(&c.TrainingLapsed).Error
	}
	if err != nil {
		return StaffCounts{}, fmt.Errorf("count staff: %w", err)
	}
	return c, nil
}

// ActiveStaffOfTier returns the active staff of tier, by name.
func ActiveStaffOfTier(ctx context.Context, db *gorm.DB, tier policy.Tier) ([]Staff, error) {
	var out []Staff
	if err := db.WithContext(ctx).Where("status = ? AND tier = ?", StatusActive, tier).Order("name").Limit(1000).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("staff of tier %s: %w", tier, err)
	}
	return out, nil
}
