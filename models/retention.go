package models

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

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

// state is evaluate's state alone (RetentionStateOf).
func (s retentionSnapshot) state(w Workspace, now time.Time, p RetentionPolicy) RetentionState {
	return RetentionStateOf(w, s.records[w.Slug], s.holds[w.Slug], s.requests[w.Slug], now, p)
}

// evaluateState is evaluate without the words (see RetentionStateOf).
func (s retentionSnapshot) evaluateState(w Workspace, now time.Time, p RetentionPolicy) RetentionStatus {
	return evaluateRetention(w, s.records[w.Slug], s.holds[w.Slug], s.requests[w.Slug], now, p, false)
}
