package models

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"gatehouse/policy"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Periodic access reviews: once a period (a UTC quarter by default) the
// portal opens a review with one row per active or suspended staff
// member, a snapshot of their access; a sysadmin other than the person
// certifies each row (keep, change or offboard) with a note. Rows not
// certified within ReviewDueIn raise an alert. A closed review is the
// evidence, exported as CSV or JSON.

// Audited actions of access reviews.
const (
	ActionReviewOpened    Action = "review.opened"
	ActionReviewCertified Action = "review.certified"
	ActionReviewClosed    Action = "review.closed"
	ActionReviewExported  Action = "review.exported"
)

// ReviewDueIn is how long a review's rows have to be certified.
const ReviewDueIn = 14 * 24 * time.Hour

// UnusedAfter is how long without a sign-in or a data access flags a
// staff member for removal.
const UnusedAfter = 90 * 24 * time.Hour

// ReviewEvery is how often access reviews are opened.
type ReviewEvery string

// The review periods: UTC calendar quarters, months or years.
const (
	ReviewQuarterly ReviewEvery = "quarterly"
	ReviewMonthly   ReviewEvery = "monthly"
	ReviewYearly    ReviewEvery = "yearly"
)

// ParseReviewEvery reads a review period's name.
func ParseReviewEvery(s string) (ReviewEvery, error) {
	switch e := ReviewEvery(s); e {
	case ReviewQuarterly, ReviewMonthly, ReviewYearly:
		return e, nil
	}
	return "", fmt.Errorf("access review period %q: want quarterly, monthly or yearly", s)
}

// Period names the period holding t: "2026-Q4", "2026-12" or "2026".
func (e ReviewEvery) Period(t time.Time) string {
	t = t.UTC()
	switch e {
	case ReviewMonthly:
		return t.Format("2006-01")
	case ReviewYearly:
		return strconv.Itoa(t.Year())
	}
	return fmt.Sprintf("%d-Q%d", t.Year(), (int(t.Month())+2)/3)
}

// Review decisions.
const (
	DecisionKeep     = "keep"
	DecisionChange   = "change"
	DecisionOffboard = "offboard"
)

// ReviewDecisions are the decisions a certifier chooses from.
var ReviewDecisions = []string{DecisionKeep, DecisionChange, DecisionOffboard}

// AccessReview is one period's review.
type AccessReview struct {
	ID           int64 `gorm:"primaryKey"`
	Period       string
	OpenedAt     time.Time
	DueAt        time.Time
	ClosedAt     *time.Time
	ExportSHA256 string `gorm:"column:export_sha256"`
}

// TableName is the reviews table's name.
func (AccessReview) TableName() string { return "access_reviews" }

// Target is how the audit log names the review.
func (r AccessReview) Target() string { return "review/" + strconv.FormatInt(r.ID, 10) }

// Overdue reports whether the review is open past its due time.
func (r AccessReview) Overdue(now time.Time) bool { return r.ClosedAt == nil && !now.Before(r.DueAt) }

// AccessReviewRow is one staff member's access as the review opened, and
// its certification.
type AccessReviewRow struct {
	ID               int64 `gorm:"primaryKey"`
	ReviewID         int64
	StaffID          int64
	Email            string
	Name             string
	Role             string
	Scope            string
	Status           Status
	AgreementCurrent bool
	AgreementVersion string
	TrainingAt       *time.Time
	LastSignInAt     *time.Time
	LastDataAccessAt *time.Time
	Unused           bool
	Decision         string
	Note             string
	CertifiedBy      string
	CertifiedAt      *time.Time
}

// TableName is the review rows table's name.
func (AccessReviewRow) TableName() string { return "access_review_rows" }

// reviewScopeOf is the scope a review row records for s: what their own
// scope and their role's admit together (ScopeOf), "" for every workspace.
func reviewScopeOf(s Staff, roles *policy.Roles) string { return ScopeOf(s, roles).String() }

// StaffUsage is when a staff member last signed in and last read
// customer data, from the audit log; nil is never.
type StaffUsage struct {
	LastSignIn     *time.Time
	LastDataAccess *time.Time
}

// Unused reports whether s, created at created, has neither signed in
// nor read data in the UnusedAfter before now. Someone added more
// recently has not had the time to be unused.
func (u StaffUsage) Unused(created, now time.Time) bool {
	since := now.Add(-UnusedAfter)
	if created.After(since) {
		return false
	}
	recent := func(t *time.Time) bool { return t != nil && t.After(since) }
	return !recent(u.LastSignIn) && !recent(u.LastDataAccess)
}

// dataAccessActions are the events that read customer data.
var dataAccessActions = []Action{ActionDataViewed, ActionFieldRevealed}

// UsageOf reads email's last sign-in and last data access: the newest
// event of each kind by that actor, read backwards through
// audit_events_actor (actor, seq), so a person's usage costs their own
// events since, never the log's.
func UsageOf(ctx context.Context, db *gorm.DB, email string) (StaffUsage, error) {
	last := func(actions ...Action) (*time.Time, error) {
		var at []time.Time
		err := db.WithContext(ctx).Model(&AuditEvent{}).Where("actor = ? AND action IN ?", email, actions).
			Order("seq DESC").Limit(1).Pluck("at", &at).Error
		if err != nil || len(at) == 0 {
			return nil, err
		}
		t := at[0].UTC()
		return &t, nil
	}
	var u StaffUsage
	var err error
	if u.LastSignIn, err = last(ActionLoginSucceeded); err != nil {
		return u, fmt.Errorf("last sign-in of %s: %w", email, err)
	}
	if u.LastDataAccess, err = last(dataAccessActions...); err != nil {
		return u, fmt.Errorf("last data access of %s: %w", email, err)
	}
	return u, nil
}

// FindReview loads a review by id.
func FindReview(ctx context.Context, db *gorm.DB, id int64) (AccessReview, error) {
	var r AccessReview
	err := db.WithContext(ctx).Where("id = ?", id).Take(&r).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return r, fmt.Errorf("access review %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return r, fmt.Errorf("access review %d: %w", id, err)
	}
	return r, nil
}

// ListReviews returns the newest reviews, up to limit.
func ListReviews(ctx context.Context, db *gorm.DB, limit int) ([]AccessReview, error) {
	var rs []AccessReview
	if err := db.WithContext(ctx).Order("id DESC").Limit(limit).Find(&rs).Error; err != nil {
		return nil, fmt.Errorf("access reviews: %w", err)
	}
	return rs, nil
}

// ReviewRows returns a review's rows, by name.
func ReviewRows(ctx context.Context, db *gorm.DB, reviewID int64) ([]AccessReviewRow, error) {
	var rows []AccessReviewRow
	if err := db.WithContext(ctx).Where("review_id = ?", reviewID).Order("name, id").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("access review %d rows: %w", reviewID, err)
	}
	return rows, nil
}

// ReviewProgress counts a review's rows and those certified.
type ReviewProgress struct {
	Rows, Certified int64
}

// ProgressOf counts review id's rows and certified rows.
func ProgressOf(ctx context.Context, db *gorm.DB, id int64) (ReviewProgress, error) {
	var p ReviewProgress
	err := db.WithContext(ctx).Model(&AccessReviewRow{}).Where("review_id = ?", id).
		Select("COUNT(*) AS rows, COUNT(certified_at) AS certified").Row().Scan(&p.Rows, &p.Certified)
	if err != nil {
		return p, fmt.Errorf("access review %d progress: %w", id, err)
	}
	return p, nil
}

// OpenReview opens the review of the period holding now, with a row per
// active or suspended staff member (agreement is the current agreement
// version), unless it is open already. It is
// made once across replicas: the unique period lets one transaction
// insert it, and that transaction writes its rows and audit event. It
// returns the review and whether this call opened it.
func OpenReview(ctx context.Context, db *DB, now time.Time, every ReviewEvery, agreement string) (AccessReview, bool, error) {
	period := every.Period(now)
	var r AccessReview
	err := db.Read.WithContext(ctx).Where("period = ?", period).Take(&r).Error
	if err == nil {
		return r, false, nil
	}
	if !errors.Is(err, gorm.ErrRecordNotFound) {
		return r, false, fmt.Errorf("access review %s: %w", period, err)
	}
	rows, err := reviewSnapshot(ctx, db.Read, now, agreement)
	if err != nil {
		return r, false, err
	}
	r = AccessReview{Period: period, OpenedAt: now.UTC(), DueAt: now.Add(ReviewDueIn).UTC()}
	won, err := once(ctx, db.Write, func(tx *gorm.DB) (bool, error) {
		ins := tx.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "period"}}, DoNothing: true}).Create(&r)
		if ins.Error != nil || ins.RowsAffected == 0 {
			return false, ins.Error
		}
		for i := range rows {
			rows[i].ReviewID = r.ID
		}
		if len(rows) > 0 {
			if err := tx.CreateInBatches(rows, 500).Error; err != nil {
				return false, err
			}
		}
		_, err := AppendAudit(ctx, tx, AuditEntry{
			At: now, Actor: SystemActor, Action: ActionReviewOpened, Target: r.Target(),
			Detail: map[string]any{"period": period, "rows": len(rows), "due_at": r.DueAt},
		})
		return err == nil, err
	})
	if err != nil {
		return AccessReview{}, false, fmt.Errorf("open access review %s: %w", period, err)
	}
	if !won {
		// Another replica opened it first.
		if err := db.Write.WithContext(ctx).Where("period = ?", period).Take(&r).Error; err != nil {
			return r, false, fmt.Errorf("access review %s: %w", period, err)
		}
	}
	return r, won, nil
}

// reviewSnapshot is a new review's rows: each active or suspended staff
// member's access and usage at now.
func reviewSnapshot(ctx context.Context, db *gorm.DB, now time.Time, agreement string) ([]AccessReviewRow, error) {
	var staff []Staff
	if err := db.WithContext(ctx).Where("status IN ?", []Status{StatusActive, StatusSuspended}).Order("id").Find(&staff).Error; err != nil {
		return nil, fmt.Errorf("staff to review: %w", err)
	}
	roles, err := LoadRoles(ctx, db)
	if err != nil {
		return nil, err
	}
	rows := make([]AccessReviewRow, 0, len(staff))
	for _, s := range staff {
		u, err := UsageOf(ctx, db, s.Email)
		if err != nil {
			return nil, err
		}
		rows = append(rows, AccessReviewRow{
			StaffID:          s.ID,
			Email:            s.Email,
			Name:             s.Name,
			Role:             string(s.Tier),
			Scope:            reviewScopeOf(s, roles),
			Status:           s.Status,
			AgreementCurrent: s.AgreementCurrent(agreement),
			AgreementVersion: s.AgreementVersion,
			TrainingAt:       utcPtr(s.TrainingAt),
			LastSignInAt:     u.LastSignIn,
			LastDataAccessAt: u.LastDataAccess,
			Unused:           u.Unused(s.CreatedAt, now),
		})
	}
	return rows, nil
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// ReviewJob opens each period's access review and raises the alerts of
// rows left uncertified past their due time: at once and then every
// Interval (an hour when zero).
type ReviewJob struct {
	DB    *DB
	Every ReviewEvery
	// Agreement is the current agreement version a row's agreement is
	// checked against.
	Agreement string
	// Alerts raises and announces the overdue alerts, as the detection
	// rules' alerts are (its Post, SecurityEmail and Webhook).
	Alerts   *Detector
	Now      func() time.Time
	Interval time.Duration
	Logger   *slog.Logger
}

// Run runs the job at once and then every Interval until ctx ends.
func (j *ReviewJob) Run(ctx context.Context) error {
	log := cmp.Or(j.Logger, slog.Default())
	return every(ctx, cmp.Or(j.Interval, time.Hour), func() {
		opened, raised, err := j.RunOnce(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			log.Error("access review", "error", err)
		case err == nil && (opened || raised > 0):
			log.Info("access review", "opened", opened, "overdue_alerts", raised)
		}
	})
}

// RunOnce opens the current period's review if need be, then raises the
// overdue rows' alerts. It returns whether it opened the review and how
// many alerts it raised.
func (j *ReviewJob) RunOnce(ctx context.Context) (bool, int, error) {
	now := j.Now()
	every := cmp.Or(j.Every, ReviewQuarterly)
	_, opened, err := OpenReview(ctx, j.DB, now, every, j.Agreement)
	if err != nil {
		return false, 0, err
	}
	raised, err := RaiseOverdue(ctx, j.DB, j.Alerts, now)
	return opened, raised, err
}
