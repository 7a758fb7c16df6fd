package models

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"gatehouse/models/internal/tenantdb"

	"gorm.io/gorm"
)

// TableRows is one table a deletion removed and how many rows it held.
type TableRows = tenantdb.TableRows

// DeletionReport is what a deletion removed: where the data was, its
// tables and their row counts, never the data itself. It is the audit
// event's detail and is kept in the retention record.
type DeletionReport struct {
	Slug      string      `json:"slug"`
	Engine    Dialect     `json:"engine"`
	Location  string      `json:"location"` // the schema, or the file's name
	Missing   bool        `json:"missing,omitempty"`
	Tables    []TableRows `json:"tables"`
	Files     []string    `json:"files,omitempty"` // SQLite: the files removed
	Rule      string      `json:"rule"`
	RequestID *int64      `json:"request_id,omitempty"`
	DeletedAt time.Time   `json:"deleted_at"`
	DeletedBy string      `json:"deleted_by"`
	// CountsUnknown marks a deletion recorded after the fact, when the
	// data was found gone: what it held was not counted.
	CountsUnknown bool `json:"counts_unknown,omitempty"`
	// EndedGrants are the live grants the deletion ended, and
	// ClosedRequests the access requests it closed (pending or approved).
	EndedGrants    []int64 `json:"ended_grants,omitempty"`
	ClosedRequests []int64 `json:"closed_requests,omitempty"`
}

// Stores are the databases a workspace deletion works on: the portal's,
// the product's (registry and workspace schemas), and the directory of
// the product's SQLite workspace files ("" on PostgreSQL).
type Stores struct {
	Portal     *DB
	Product    *DB
	TenantsDir string
}

// DeleteWorkspace deletes workspace slug's data for good, as by: only
// when EvaluateRetention says its deletion is due and no legal hold
// exists. On PostgreSQL it counts the rows of each table of the schema
// ws_<slug> and drops it; on SQLite it counts and removes
// tenantsDir/ws_<slug>.db and its -wal and -shm files. It marks the
// registry entry deleted, ends the workspace's live grants, records
// workspace.deleted with the report, and marks the retention record
// deleted and a confirmed request done. The caller checks that by is a
// sysadmin with a recent login.
//
// It goes in three steps, so that the audit log accounts for every
// deletion even when the portal's and the product's databases are two
// and one of their commits fails:
//  1. a check that writes nothing: a refusal (ErrHeld, ErrNotDue, both
//     with ErrConflict) leaves no trace;
//  2. the intent: workspace.deletion_started, with the retention row
//     marked, committed before anything is removed (a second deletion of
//     the same workspace meanwhile is ErrConflict);
//  3. the deletion, with every check repeated under the lock of the
//     retention row (which PlaceHold takes too, so a hold placed
//     meanwhile wins) and the registry row locked; the product's commit
//     first, then the portal's.
//
// When step 3 fails, settleDeletion looks at what is left: data still
// there is recorded as workspace.deletion_stopped, data gone as
// workspace.deleted; if even that cannot be written, SettleDeletions (the
// retention job) does it later.
func DeleteWorkspace(ctx context.Context, at Stores, act Act, slug string, p RetentionPolicy) (DeletionReport, error) {
	db, product, tenantsDir, now, by := at.Portal, at.Product, at.TenantsDir, act.Now, act.By
	if _, err := tenantdb.SchemaName(slug); err != nil {
		return DeletionReport{}, err
	}
	if product.Dialect == SQLite && tenantsDir == "" {
		return DeletionReport{}, errors.New("delete workspace: no tenant directory for SQLite")
	}
	w, err := FindWorkspace(ctx, product.Read, slug)
	if err != nil {
		return DeletionReport{}, err
	}
	snap, err := loadRetention(ctx, db.Read, []string{slug})
	if err != nil {
		return DeletionReport{}, err
	}
	st := snap.evaluate(w, now, p)
	if err := RefuseDeletion(w, st); err != nil {
		return DeletionReport{}, err
	}
	if err := startDeletion(ctx, db.Write, now, by, slug, st); err != nil {
		return DeletionReport{}, err
	}
	rep, err := deleteWorkspace(ctx, at, act, slug, p)
	if err == nil {
		return rep, nil
	}
	// A refusal under the lock (a hold placed meanwhile, say) removed
	// nothing; any other failure is settled by what is left of the data.
	why := "the deletion failed: " + err.Error()
	var serr error
	if errors.Is(err, ErrConflict) {
		serr = stopDeletion(ctx, db.Write, now, by, slug, "the deletion was refused: "+err.Error())
	} else {
		_, serr = settleDeletion(ctx, at, act, slug, why)
	}
	if serr != nil {
		err = errors.Join(err, fmt.Errorf("recording the failed deletion: %w (the retention job will record it)", serr))
	}
	return rep, err
}

// RefuseDeletion says why w, at st, may not be deleted; nil when it may.
func RefuseDeletion(w Workspace, st RetentionStatus) error {
	switch {
	case st.State == RetentionHeld:
		return fmt.Errorf("%s: %w (%s): %w", w.Slug, ErrHeld, st.Hold.Reference, ErrConflict)
	case st.Next != NextDelete || !st.Due:
		return fmt.Errorf("%s is %s: %w: %w", w.Slug, st.State, ErrNotDue, ErrConflict)
	case w.DSN != "":
		return conflictf("%s lives on its own database server; delete it there.", w.Slug)
	}
	return nil
}

// startDeletion records the intent to delete slug: the retention row is
// marked and workspace.deletion_started appended, in one transaction,
// before anything is removed. A deletion already under way is
// ErrConflict.
func startDeletion(ctx context.Context, db *gorm.DB, now time.Time, by Actor, slug string, st RetentionStatus) error {
	return db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := ensureRetentionRow(ctx, tx, slug, now); err != nil {
			return err
		}
		u := tx.Model(&RetentionRecord{}).Where("slug = ? AND deleted_at IS NULL AND deletion_started_at IS NULL", slug).
			Updates(map[string]any{"deletion_started_at": now.UTC(), "updated_at": now.UTC()})
		if u.Error != nil {
			return fmt.Errorf("start deletion of %s: %w", slug, u.Error)
		}
		if u.RowsAffected == 0 {
			return conflictf("a deletion of %s is already under way.", slug)
		}
		_, err := AppendAudit(ctx, tx, AuditEntry{At: now, Actor: by, Action: ActionWorkspaceDeletionStarted, Workspace: slug,
			Target: "retention/" + slug, Reason: st.Explanation, Detail: map[string]any{"rule": st.Rule}})
		return err
	})
}

// deleteWorkspace is DeleteWorkspace's third step.
func deleteWorkspace(ctx context.Context, at Stores, act Act, slug string, p RetentionPolicy) (DeletionReport, error) {
	db, product, now, by := at.Portal, at.Product, act.Now, act.By
	tx := db.Write.WithContext(ctx).Begin()
	if tx.Error != nil {
		return DeletionReport{}, tx.Error
	}
	ptx := tx
	committed := false
	defer func() {
		if !committed {
			tx.Rollback()
			if ptx != tx {
				ptx.Rollback()
			}
		}
	}()
	rec, err := lockRetention(ctx, tx, slug, now)
	if err != nil {
		return DeletionReport{}, err
	}
	if product != db {
		if ptx = product.Write.WithContext(ctx).Begin(); ptx.Error != nil {
			return DeletionReport{}, ptx.Error
		}
	}
	q := "SELECT * FROM workspaces WHERE slug = ?"
	if product.Dialect == Postgres {
		q += " FOR UPDATE"
	}
	var w Workspace
	if err := takeRow(ctx, ptx, &w, q, slug); errors.Is(err, ErrNotFound) {
		return DeletionReport{}, fmt.Errorf("workspace %q: %w", slug, ErrNotFound)
	} else if err != nil {
		return DeletionReport{}, fmt.Errorf("registry: %w", err)
	}
	snap, err := loadRetention(ctx, tx, []string{slug})
	if err != nil {
		return DeletionReport{}, err
	}
	st := EvaluateRetention(w, rec, snap.holds[slug], snap.requests[slug], now, p)
	if err := RefuseDeletion(w, st); err != nil {
		return DeletionReport{}, err
	}
	rep := DeletionReport{Slug: slug, Engine: product.Dialect, Rule: st.Rule, DeletedAt: now.UTC(), DeletedBy: by.Email}
	if st.Request != nil && st.Request.Status == DeletionConfirmed {
		rep.RequestID = &st.Request.ID
	}
	store := tenantStore(product, ptx, at.TenantsDir)
	if err := countAndDropSchema(ctx, store, slug, &rep); err != nil {
		return DeletionReport{}, err
	}
	if err := ptx.Exec("UPDATE workspaces SET status = ? WHERE slug = ?", WorkspaceDeleted, slug).Error; err != nil {
		return DeletionReport{}, fmt.Errorf("registry: %w", err)
	}
	if err := recordDeletion(ctx, tx, now, by, &rep, st.Explanation); err != nil {
		return DeletionReport{}, err
	}
	if product.Dialect == SQLite && !rep.Missing {
		// The files go last before the commits: a failure here leaves the
		// registry and the audit log untouched, and the deletion can be
		// tried again.
		if err := store.Remove(ctx, slug); err != nil {
			return DeletionReport{}, err
		}
	}
	if ptx != tx {
		if err := ptx.Commit().Error; err != nil {
			return DeletionReport{}, fmt.Errorf("registry commit: %w", err)
		}
	}
	committed = true
	if err := tx.Commit().Error; err != nil {
		return rep, fmt.Errorf("workspace %s was deleted, but recording it failed: %w", slug, err)
	}
	return rep, nil
}

// countAndDropSchema counts slug's data into rep and, on PostgreSQL,
// drops its schema in store's transaction; a SQLite file is removed by the
// caller, last before the commits.
func countAndDropSchema(ctx context.Context, store tenantdb.Store, slug string, rep *DeletionReport) error {
	inv, err := store.Count(ctx, slug)
	if err != nil {
		return err
	}
	rep.Location, rep.Missing, rep.Tables, rep.Files = inv.Location, inv.Missing, inv.Tables, inv.Files
	if store.Dialect == Postgres && !inv.Missing {
		return store.Remove(ctx, slug)
	}
	return nil
}

// tenantStore is where product's workspaces keep their data; conn is
// what PostgreSQL statements run on (the product's transaction, when a
// drop must commit with the registry's change).
func tenantStore(product *DB, conn *gorm.DB, tenantsDir string) tenantdb.Store {
	return tenantdb.Store{Dialect: product.Dialect, Conn: conn.Statement.ConnPool, Dir: tenantsDir}
}

// recordDeletion records in tx that rep's workspace was deleted: every
// live grant on it ends and every open access request closes (their ids
// go in the report, each request's closing in the audit log), the confirmed
// request it answers is done, the retention record keeps the report, and
// workspace.deleted carries it. A request cancelled meanwhile, or a
// record some other run completed, is ErrConflict: the caller's
// transactions then roll back and nothing is removed.
func recordDeletion(ctx context.Context, tx *gorm.DB, now time.Time, by Actor, rep *DeletionReport, why string) error {
	var live []int64
	if err := tx.WithContext(ctx).Model(&Grant{}).Where("workspace = ? AND ended_at IS NULL AND ends_at > ?", rep.Slug, now.UTC()).
		Order("id").Pluck("id", &live).Error; err != nil {
		return fmt.Errorf("live grants: %w", err)
	}
	if len(live) > 0 {
		rep.EndedGrants = live
		if err := tx.Model(&Grant{}).Where("id IN ? AND ended_at IS NULL", live).
			Updates(map[string]any{"ended_at": now.UTC(), "ended_by": by.Email, "ended_why": endWhyWorkspaceDeleted}).Error; err != nil {
			return fmt.Errorf("end grants: %w", err)
		}
	}
	// Access requests still open close: there is nothing left to consent
	// to, and an approved one's link must not mint a grant.
	var open []AccessRequest
	if err := tx.Where("workspace = ? AND status IN ?", rep.Slug, []RequestStatus{RequestPending, RequestApproved}).Order("id").Find(&open).Error; err != nil {
		return fmt.Errorf("open access requests: %w", err)
	}
	for _, r := range open {
		u := tx.Model(&AccessRequest{}).Where("id = ? AND status = ?", r.ID, r.Status).Updates(map[string]any{"status": RequestCancelled, "updated_at": now.UTC()})
		if u.Error != nil {
			return fmt.Errorf("close access request %d: %w", r.ID, u.Error)
		}
		rep.ClosedRequests = append(rep.ClosedRequests, r.ID)
		if _, err := AppendAudit(ctx, tx, AuditEntry{At: now, Actor: by, Action: ActionRequestCancelled, Workspace: r.Workspace, Target: r.Target(),
			Reason: "the workspace was deleted"}); err != nil {
			return err
		}
	}
	if rep.RequestID != nil {
		u := tx.Model(&DeletionRequest{}).Where("id = ? AND status = ?", *rep.RequestID, DeletionConfirmed).
			Updates(map[string]any{"status": DeletionDone, "updated_at": now.UTC()})
		if u.Error != nil {
			return fmt.Errorf("deletion request: %w", u.Error)
		}
		if u.RowsAffected != 1 {
			return conflictf("the customer's deletion request %d was cancelled meanwhile.", *rep.RequestID)
		}
	}
	body, err := json.Marshal(rep)
	if err != nil {
		return err
	}
	u := tx.Model(&RetentionRecord{}).Where("slug = ? AND deleted_at IS NULL", rep.Slug).
		Updates(map[string]any{"deleted_at": now.UTC(), "deletion_report": string(body), "deletion_started_at": nil, "updated_at": now.UTC()})
	if u.Error != nil {
		return fmt.Errorf("retention: %w", u.Error)
	}
	if u.RowsAffected != 1 {
		return conflictf("%s was recorded deleted meanwhile.", rep.Slug)
	}
	_, err = AppendAudit(ctx, tx, AuditEntry{At: now, Actor: by, Action: ActionWorkspaceDeleted, Workspace: rep.Slug, Target: "retention/" + rep.Slug,
		Reason: why, Detail: rep})
	return err
}

// stopDeletion records that a deletion of slug stopped before removing
// anything (workspace.deletion_stopped) and clears its mark; a deletion
// not marked started is left alone.
func stopDeletion(ctx context.Context, db *gorm.DB, now time.Time, by Actor, slug, why string) error {
	return db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		u := tx.Model(&RetentionRecord{}).Where("slug = ? AND deleted_at IS NULL AND deletion_started_at IS NOT NULL", slug).
			Updates(map[string]any{"deletion_started_at": nil, "updated_at": now.UTC()})
		if u.Error != nil || u.RowsAffected == 0 {
			return u.Error
		}
		_, err := AppendAudit(ctx, tx, AuditEntry{At: now, Actor: by, Action: ActionWorkspaceDeletionStopped, Workspace: slug,
			Target: "retention/" + slug, Reason: why, Detail: map[string]any{"removed": "nothing"}})
		return err
	})
}
