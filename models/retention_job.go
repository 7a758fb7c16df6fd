package models

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"gorm.io/gorm"
)

// RetentionRun counts what one run of the job did.
type RetentionRun struct {
	Evaluated   int // registry entries looked at
	Noticed     int // first notices sent (per workspace)
	Marked      int // workspaces marked, second notices sent
	Expired     int // deletion requests expired
	DeletionDue int // workspaces waiting for a sysadmin's deletion
}

// RetentionJob is the background job of retention: it settles the
// deletions that started and never finished, then runs RunRetention; at
// once and then every Every (an hour when zero).
type RetentionJob struct {
	DB         *DB
	Product    *DB    // the product database: registry and workspace data
	TenantsDir string // where SQLite workspace files live ("" on PostgreSQL)
	Policy     RetentionPolicy
	Post       Post
	Now        func() time.Time
	Every      time.Duration
	Logger     *slog.Logger
}

// RunOnce runs the job once. It never deletes anything itself beyond
// finishing deletions a sysadmin started.
func (j *RetentionJob) RunOnce(ctx context.Context) (RetentionRun, error) {
	log := cmp.Or(j.Logger, slog.Default())
	if n, err := SettleDeletions(ctx, Stores{Portal: j.DB, Product: j.Product, TenantsDir: j.TenantsDir}, j.Now()); err != nil {
		log.Error("retention: settle deletions", "error", err)
	} else if n > 0 {
		log.Warn("retention: settled deletions that had not finished", "settled", n)
	}
	now := j.Now()
	run, err := RunRetention(ctx, j.DB.Write, j.Product.Read, now, j.Policy, j.Post)
	if err != nil {
		return run, err
	}
	// The queue's counts of the states it does not count on each view.
	classes := &RetentionClasses{DB: j.DB.Read, Product: j.Product.Read, Now: now, Policy: j.Policy}
	counts, err := classes.Census(ctx)
	if err == nil {
		err = StoreRetentionCounts(ctx, j.DB.Write, counts, now)
	}
	if err != nil {
		log.Error("retention: count the states", "error", err)
	}
	return run, nil
}

// Run runs the job at once and then every Every until ctx ends.
func (j *RetentionJob) Run(ctx context.Context) error {
	log := cmp.Or(j.Logger, slog.Default())
	return every(ctx, cmp.Or(j.Every, time.Hour), func() {
		run, err := j.RunOnce(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			log.Error("retention", "error", err)
		case err == nil && (run.Noticed+run.Marked+run.Expired > 0 || run.DeletionDue > 0):
			log.Info("retention", "evaluated", run.Evaluated, "noticed", run.Noticed, "marked", run.Marked,
				"expired", run.Expired, "deletion_due", run.DeletionDue)
		}
	})
}

// RunRetention is the scheduled job: it expires deletion requests past
// their date and moves forward every workspace that may have a notice due,
// sending it to its owners through the outbox. It reads only what may be
// due (dueRetention), in batches, never the whole registry. Each step is a
// conditional update of the workspace's retention row, in the transaction
// that also enqueues the mails and appends the audit event, so runs at once
// on several replicas send each notice once. It never deletes anything:
// deletion waits for a sysadmin, and the deletions due are counted, not
// read.
func RunRetention(ctx context.Context, db, product *gorm.DB, now time.Time, p RetentionPolicy, post Post) (RetentionRun, error) {
	var run RetentionRun
	if err := p.Check(); err != nil {
		return run, err
	}
	n, err := expireDeletionRequests(ctx, db, now)
	run.Expired = n
	if err != nil {
		return run, err
	}
	err = dueRetention(ctx, db, product, now, p, func(ws []Workspace, snap retentionSnapshot) error {
		for _, w := range ws {
			run.Evaluated++
			st := snap.evaluateState(w, now, p)
			if !st.Due || (st.Next != NextNotice && st.Next != NextMark) {
				continue
			}
			w, err := FindWorkspace(ctx, product, w.Slug) // the whole entry, for the letter
			if err != nil {
				return err
			}
			owners, err := Owners(ctx, product, w.Slug)
			if err != nil {
				return err
			}
			due := dueNotice{w: w, st: snap.evaluate(w, now, p), owners: owners}
			won, err := once(ctx, db, func(tx *gorm.DB) (bool, error) { return sendNotice(ctx, tx, now, post, due) })
			if errors.Is(err, errSkip) {
				continue
			}
			if err != nil {
				return fmt.Errorf("retention of %s: %w", w.Slug, err)
			}
			if won && st.Next == NextNotice {
				run.Noticed++
			} else if won {
				run.Marked++
			}
		}
		return nil
	})
	if err != nil {
		return run, err
	}
	classes := &RetentionClasses{DB: db, Product: product, Now: now, Policy: p}
	counts, err := classes.count(ctx, []RetentionState{RetentionDeletionDue}, 0)
	if err != nil {
		return run, err
	}
	run.DeletionDue = counts[0].N
	return run, nil
}

// dueBatch is how many registry entries the job reads at a time.
const dueBatch = 1000

// dueRetention calls each with, batch by batch, every workspace that may
// have a notice or a mark due at now, and what retention recorded for
// them. Only a free workspace idle past the first notice's day can have
// one (freeLifecycle sends nothing sooner, and nothing to a cancelled
// workspace or one whose deletion was confirmed: those wait for a
// sysadmin). Of that class (readIdle) it leaves out, before reading their
// entries, those whose retention row alone shows that nothing is due: at
// a million workspaces that is most of the class, a month of notices and
// the marks awaiting deletion.
func dueRetention(ctx context.Context, db, product *gorm.DB, now time.Time, p RetentionPolicy, each func([]Workspace, retentionSnapshot) error) error {
	idle, err := readIdle(ctx, db, product, now, p)
	if err != nil {
		return err
	}
	slugs := slices.DeleteFunc(slices.Clone(idle.slugs), idle.quiet)
	return eachEntry(ctx, db, product, slugs, each)
}

// eachEntry calls each with the registry entries of slugs (sorted), a
// batch at a time, and what retention recorded for them.
func eachEntry(ctx context.Context, db, product *gorm.DB, slugs []string, each func([]Workspace, retentionSnapshot) error) error {
	cols := []string{"slug", "name", "plan", "status", "created_at", "last_login_at", "cancelled_at"}
	for batch := range slices.Chunk(slugs, dueBatch) {
		var ws []Workspace
		set, arg := jsonSlugs(product, batch)
		if err := product.WithContext(ctx).Select(cols).Where("slug IN "+set, arg).Find(&ws).Error; err != nil {
			return fmt.Errorf("registry: %w", err)
		}
		slices.SortFunc(ws, func(a, b Workspace) int { return cmp.Compare(a.Slug, b.Slug) })
		if err := eachSnapshot(ctx, db, ws, each); err != nil {
			return err
		}
	}
	return nil
}

// idleRetention is the free workspaces idle past the first notice's day
// at now, the only ones that can have a notice or a mark due or be in a
// notice state, with the retention rows that record a step after that day
// (cut = now - FreeNotice). Their clock started at cut or before, so such
// a step counts whatever their last login.
type idleRetention struct {
	cut, recent time.Time // recent: a notice after it has its mark not yet due
	slugs       []string  // sorted
	rows        map[string]RetentionRecord
}

// readIdle reads the class's slugs from the registry's index
// (workspaces_free_idle_cover, index-only) and the rows of what retention did
// after cut.
func readIdle(ctx context.Context, db, product *gorm.DB, now time.Time, p RetentionPolicy) (idleRetention, error) {
	ir := idleRetention{cut: now.Add(-p.FreeNotice).UTC(), rows: map[string]RetentionRecord{}}
	ir.recent = laterOf(ir.cut, now.Add(-(p.FreeMark - p.FreeNotice)).UTC())
	var rows []RetentionRecord
	err := db.WithContext(ctx).Select("slug", "noticed_at", "marked_at", "deleted_at").
		Where("noticed_at > ?", ir.cut).Find(&rows).Error
	if err != nil {
		return ir, fmt.Errorf("retention records: %w", err)
	}
	for _, r := range rows {
		ir.rows[r.Slug] = r
	}
	class, _, _ := registryClass(product, RetentionNoticeDue, now, p)
	if err := product.WithContext(ctx).Model(&Workspace{}).Where(class, ir.cut).Pluck("slug", &ir.slugs).Error; err != nil {
		return ir, fmt.Errorf("registry: %w", err)
	}
	slices.Sort(ir.slugs)
	return ir, nil
}

// after reports whether t is a step after cut, one that counts.
func (ir idleRetention) after(t *time.Time) bool { return t != nil && t.After(ir.cut) }

// quiet reports whether slug's retention row alone shows that nothing is
// due: a notice that counts, with its mark not yet due or a mark that
// counts. Holds and deletion requests never make a step due sooner.
func (ir idleRetention) quiet(slug string) bool {
	r, ok := ir.rows[slug]
	return ok && ir.after(r.NoticedAt) && (r.NoticedAt.After(ir.recent) || ir.after(r.MarkedAt))
}

// eachSnapshot loads what retention recorded for ws and calls each.
func eachSnapshot(ctx context.Context, db *gorm.DB, ws []Workspace, each func([]Workspace, retentionSnapshot) error) error {
	if len(ws) == 0 {
		return nil
	}
	slugs := make([]string, len(ws))
	for i, w := range ws {
		slugs[i] = w.Slug
	}
	snap, err := loadRetention(ctx, db, slugs)
	if err != nil {
		return err
	}
	return each(ws, snap)
}

// errSkip rolls a step back without failing the run.
var errSkip = errors.New("skip")

// dueNotice is a retention notice due for workspace w (st.Next says
// which), to its owners.
type dueNotice struct {
	w      Workspace
	st     RetentionStatus
	owners []string
}

// sendNotice records d's notice, unless another run did, and mails the
// owners; it reports whether this run made the change.
func sendNotice(ctx context.Context, tx *gorm.DB, now time.Time, post Post, d dueNotice) (bool, error) {
	w, st, owners := d.w, d.st, d.owners
	if err := ensureRetentionRow(ctx, tx, w.Slug, now); err != nil {
		return false, err
	}
	q := tx.Model(&RetentionRecord{}).Where("slug = ? AND deleted_at IS NULL", w.Slug)
	set := map[string]any{"updated_at": now.UTC()}
	action := ActionRetentionNoticed
	if st.Next == NextNotice {
		q = q.Where("(noticed_at IS NULL OR noticed_at < ?)", st.Since.UTC())
		set["noticed_at"] = now.UTC()
	} else {
		q = q.Where("noticed_at >= ? AND (marked_at IS NULL OR marked_at < ?)", st.Since.UTC(), st.Since.UTC())
		set["marked_at"], set["second_noticed_at"] = now.UTC(), now.UTC()
		action = ActionRetentionMarked
	}
	u := q.Updates(set)
	if u.Error != nil || u.RowsAffected == 0 {
		return false, u.Error
	}
	// A hold placed since the evaluation wins: PlaceHold locks the same
	// row, so it is either seen here or waits for this step.
	var held int64
	if err := tx.Model(&LegalHold{}).Where("slug = ? AND lifted_at IS NULL", w.Slug).Count(&held).Error; err != nil {
		return false, err
	}
	if held > 0 {
		return false, errSkip
	}
	for _, owner := range owners {
		if err := post.send(ctx, tx, now, RetentionNotice{Workspace: w, Owner: owner, Status: st}); err != nil {
			return false, err
		}
	}
	_, err := AppendAudit(ctx, tx, AuditEntry{
		At: now, Actor: SystemActor, Action: action, Workspace: w.Slug, Target: "retention/" + w.Slug, Reason: st.Rule,
		Detail: map[string]any{"since": day(st.Since), "delete_at": day(st.DeleteAt), "recipients": len(owners)},
	})
	return err == nil, err
}

// expireDeletionRequests closes pending requests past their expiry, each
// once across replicas, and returns how many this call closed.
func expireDeletionRequests(ctx context.Context, db *gorm.DB, now time.Time) (int, error) {
	var due []DeletionRequest
	if err := db.WithContext(ctx).Where("status = ? AND expires_at <= ?", DeletionPending, now.UTC()).Order("id").Limit(500).Find(&due).Error; err != nil {
		return 0, fmt.Errorf("due deletion requests: %w", err)
	}
	n := 0
	for _, r := range due {
		won, err := once(ctx, db, func(tx *gorm.DB) (bool, error) { return expireDeletionRequest(ctx, tx, now, r) })
		if err != nil {
			return n, err
		}
		if won {
			n++
		}
	}
	return n, nil
}

// expireDeletionRequest records that r expired, unless it is not due or
// another run did; it reports whether this call made the change.
func expireDeletionRequest(ctx context.Context, tx *gorm.DB, now time.Time, r DeletionRequest) (bool, error) {
	u := tx.Model(&DeletionRequest{}).Where("id = ? AND status = ? AND expires_at <= ?", r.ID, DeletionPending, now.UTC()).
		Updates(map[string]any{"status": DeletionExpired, "updated_at": now.UTC()})
	if u.Error != nil || u.RowsAffected == 0 {
		return false, u.Error
	}
	_, err := AppendAudit(ctx, tx, AuditEntry{At: now, Actor: SystemActor, Action: ActionDeletionExpired, Workspace: r.Slug, Target: r.Target(),
		Reason: "the owners did not confirm in time"})
	return err == nil, err
}
