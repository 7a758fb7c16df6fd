package models

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// RetentionLetters writes the mails of retention and deletion requests;
// handlers implement it with views, so models never renders HTML. tx is
// the transaction the mail is enqueued in (see Letters).
type RetentionLetters interface {
	// RetentionNotice tells owner that w will be deleted unless someone
	// logs in: the first notice (st.Next is NextNotice) or the second,
	// sent when it is marked for deletion (NextMark). st.DeleteAt is
	// the date deletion becomes due.
	RetentionNotice(ctx context.Context, tx *gorm.DB, w Workspace, owner string, st RetentionStatus) (Mail, error)
	// DeletionConfirmation asks owner to confirm (or cancel) request r
	// through the link with token.
	DeletionConfirmation(ctx context.Context, tx *gorm.DB, w Workspace, r DeletionRequest, owner, token string) (Mail, error)
}

// RetentionRun counts what one run of the job did.
type RetentionRun struct {
	Evaluated   int // registry entries looked at
	Noticed     int // first notices sent (per workspace)
	Marked      int // workspaces marked, second notices sent
	Expired     int // deletion requests expired
	DeletionDue int // workspaces waiting for a sysadmin's deletion
}

// RunRetention is the scheduled job: it expires deletion requests past
// their date, evaluates every workspace of the registry (product) and
// moves it forward, sending the due notices to its owners through the
// outbox. Each step is a conditional update of the workspace's retention
// row, in the transaction that also enqueues the mails and appends the
// audit event, so runs at once on several replicas send each notice once.
// It never deletes anything: deletion waits for a sysadmin.
func RunRetention(ctx context.Context, db, product *gorm.DB, now time.Time, p RetentionPolicy, ob *Outbox, l RetentionLetters) (RetentionRun, error) {
	var run RetentionRun
	if err := p.Check(); err != nil {
		return run, err
	}
	n, err := expireDeletionRequests(ctx, db, now)
	run.Expired = n
	if err != nil {
		return run, err
	}
	var ws []Workspace
	if err := product.WithContext(ctx).Where("status <> ?", WorkspaceDeleted).Order("slug").Find(&ws).Error; err != nil {
		return run, fmt.Errorf("registry: %w", err)
	}
	snap, err := loadRetention(ctx, db, nil)
	if err != nil {
		return run, err
	}
	for _, w := range ws {
		run.Evaluated++
		st := snap.evaluate(w, now, p)
		if !st.Due {
			continue
		}
		switch st.Next {
		case NextDelete:
			run.DeletionDue++
		case NextNotice, NextMark:
			owners, err := Owners(ctx, product, w.Slug)
			if err != nil {
				return run, err
			}
			won, err := once(ctx, db, func(tx *gorm.DB) (bool, error) { return sendNotice(ctx, tx, now, ob, l, w, st, owners) })
			if errors.Is(err, errSkip) {
				continue
			}
			if err != nil {
				return run, fmt.Errorf("retention of %s: %w", w.Slug, err)
			}
			if won && st.Next == NextNotice {
				run.Noticed++
			} else if won {
				run.Marked++
			}
		}
	}
	return run, nil
}

// errSkip rolls a step back without failing the run.
var errSkip = errors.New("skip")

// sendNotice records st's due notice for w, unless another run did, and
// mails the owners; it reports whether this run made the change.
func sendNotice(ctx context.Context, tx *gorm.DB, now time.Time, ob *Outbox, l RetentionLetters, w Workspace, st RetentionStatus, owners []string) (bool, error) {
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
		m, err := l.RetentionNotice(ctx, tx, w, owner, st)
		if err != nil {
			return false, fmt.Errorf("retention notice: %w", err)
		}
		m.Workspace = w.Slug
		if _, err := ob.Enqueue(ctx, tx, now, m); err != nil {
			return false, err
		}
	}
	_, err := AppendAudit(ctx, tx, AuditEntry{
		At: now, Actor: SystemActor, Action: action, Workspace: w.Slug, Target: "retention/" + w.Slug, Reason: st.Rule,
		Detail: map[string]any{"since": day(st.Since), "delete_at": day(st.DeleteAt), "recipients": len(owners)},
	})
	return err == nil, err
}
