package models

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
)

// DeletionStatus is where a customer's deletion request stands.
type DeletionStatus string

// Deletion request states: pending → confirmed → done, or it ends
// cancelled (by an owner, through the link) or expired.
const (
	DeletionPending   DeletionStatus = "pending"   // waiting for the owners' confirmations
	DeletionConfirmed DeletionStatus = "confirmed" // deletion is due
	DeletionCancelled DeletionStatus = "cancelled" // an owner cancelled it
	DeletionExpired   DeletionStatus = "expired"   // not confirmed in time
	DeletionDone      DeletionStatus = "done"      // the workspace was deleted
)

// DeletionRequest is a customer's request to delete a workspace, recorded
// by staff. Its owners confirm it through emailed links: one owner for a
// workspace of one member, two different owners otherwise.
type DeletionRequest struct {
	ID                  int64 `gorm:"primaryKey"`
	Slug                string
	RequestedBy         int64 // staff id
	Note                string
	CreatedAt           time.Time
	ExpiresAt           time.Time
	Status              DeletionStatus
	NeededConfirmations int
	ConfirmedAt         *time.Time
	UpdatedAt           time.Time
}

// TableName is the deletion requests table's name.
func (DeletionRequest) TableName() string { return "deletion_requests" }

// Target is how the audit log names the request.
func (r DeletionRequest) Target() string { return "deletion_request/" + strconv.FormatInt(r.ID, 10) }

// StatusAt is the request's status at now: a pending request past its
// expiry is expired even before the job records it.
func (r DeletionRequest) StatusAt(now time.Time) DeletionStatus {
	if r.Status == DeletionPending && !now.Before(r.ExpiresAt) {
		return DeletionExpired
	}
	return r.Status
}

// DeletionLink is one owner's confirmation link of a deletion request
// (a row of deletion_confirmations). Only the SHA-256 of its token is
// stored; it confirms once.
type DeletionLink struct {
	ID          int64 `gorm:"primaryKey"`
	RequestID   int64
	Recipient   string
	TokenHash   string
	CreatedAt   time.Time
	ConfirmedAt *time.Time
	IP          string `gorm:"column:ip"`
}

// TableName is the confirmation links table's name.
func (DeletionLink) TableName() string { return "deletion_confirmations" }

// deletionTokenHash is the stored form of a deletion link's token; its
// own prefix keeps it apart from consent tokens.
func deletionTokenHash(token string) string { return ConsentTokenHash("deletion\x00" + token) }

// NewDeletionRequest is what the staff form records.
type NewDeletionRequest struct {
	Slug      string
	Requester Staff
	Note      string // how and when the customer asked (e.g. the ticket)
}

// NeededConfirmations is how many different owners must confirm the
// deletion of a workspace of members members.
func NeededConfirmations(members int) int {
	if members > 1 {
		return 2
	}
	return 1
}

// CreateDeletionRequest records a customer's deletion request and mails
// each owner of the workspace a confirmation link, audited. Problems come
// back as FieldErrors and nothing is written.
func CreateDeletionRequest(ctx context.Context, db, product *gorm.DB, now time.Time, by Actor, p RetentionPolicy, ob *Outbox, l RetentionLetters, n NewDeletionRequest) (DeletionRequest, error) {
	errs := FieldErrors{}
	if err := CheckReason(n.Note, 10); err != nil {
		errs["note"] = "Say how and when the customer asked for the deletion (e.g. the ticket)."
	}
	w, err := FindWorkspace(ctx, product, n.Slug)
	if errors.Is(err, ErrNotFound) {
		errs["workspace"] = "Choose a workspace that exists."
	} else if err != nil {
		return DeletionRequest{}, err
	}
	owners, err := Owners(ctx, product, n.Slug)
	if err != nil {
		return DeletionRequest{}, err
	}
	need := NeededConfirmations(w.MemberCount)
	switch {
	case w.Slug == "":
	case w.Status == WorkspaceDeleted:
		errs["workspace"] = "This workspace was deleted."
	case len(owners) == 0:
		errs["workspace"] = "This workspace has no owner who could confirm the deletion."
	case len(owners) < need:
		errs["workspace"] = "This workspace has several members but one owner; a second owner must confirm, so the customer must name one first."
	}
	if n.Requester.ID == 0 {
		errs["requester"] = "Only staff may record a deletion request."
	}
	if len(errs) > 0 {
		return DeletionRequest{}, errs
	}
	r := DeletionRequest{
		Slug: w.Slug, RequestedBy: n.Requester.ID, Note: strings.TrimSpace(n.Note), CreatedAt: now.UTC(),
		ExpiresAt: now.Add(p.DeletionRequestValid).UTC(), Status: DeletionPending, NeededConfirmations: need, UpdatedAt: now.UTC(),
	}
	err = db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		rec, err := lockRetention(ctx, tx, w.Slug, now)
		if err != nil {
			return err
		}
		if rec.DeletedAt != nil {
			return FieldErrors{"workspace": "This workspace was deleted."}
		}
		var live int64
		if err := tx.Model(&DeletionRequest{}).Where("slug = ? AND status IN ? AND (status <> ? OR expires_at > ?)",
			w.Slug, []DeletionStatus{DeletionPending, DeletionConfirmed}, DeletionPending, now.UTC()).Count(&live).Error; err != nil {
			return err
		}
		if live > 0 {
			return FieldErrors{"workspace": "A deletion request for this workspace is already open."}
		}
		// A pending request past its expiry that the job has not closed yet.
		var stale []DeletionRequest
		if err := tx.Where("slug = ? AND status = ?", w.Slug, DeletionPending).Find(&stale).Error; err != nil {
			return err
		}
		for _, s := range stale {
			if _, err := expireDeletionRequest(ctx, tx, now, s); err != nil {
				return err
			}
		}
		if err := tx.Create(&r).Error; err != nil {
			return fmt.Errorf("create deletion request: %w", err)
		}
		for _, owner := range owners {
			token, _ := newConsentToken()
			link := DeletionLink{RequestID: r.ID, Recipient: owner, TokenHash: deletionTokenHash(token), CreatedAt: now.UTC()}
			if err := tx.Create(&link).Error; err != nil {
				return fmt.Errorf("deletion link: %w", err)
			}
			m, err := l.DeletionConfirmation(ctx, tx, w, r, owner, token)
			if err != nil {
				return fmt.Errorf("deletion mail: %w", err)
			}
			m.Workspace = w.Slug
			if _, err := ob.Enqueue(ctx, tx, now, m); err != nil {
				return err
			}
		}
		_, err = AppendAudit(ctx, tx, AuditEntry{At: now, Actor: by, Action: ActionDeletionRequested, Workspace: w.Slug, Target: r.Target(), Reason: r.Note,
			Detail: map[string]any{"needed_confirmations": need, "recipients": owners, "expires_at": r.ExpiresAt}})
		return err
	})
	if err != nil {
		return DeletionRequest{}, err
	}
	return r, nil
}

// FindDeletionRequest returns request id of workspace slug, or a wrapped
// ErrNotFound.
func FindDeletionRequest(ctx context.Context, db *gorm.DB, slug string, id int64) (DeletionRequest, error) {
	var r DeletionRequest
	err := db.WithContext(ctx).Where("id = ? AND slug = ?", id, slug).Take(&r).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return r, fmt.Errorf("deletion request %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return r, fmt.Errorf("deletion request %d: %w", id, err)
	}
	return r, nil
}

// ListDeletionRequests returns the requests of slug ("" for every
// workspace), newest first, at most 500.
func ListDeletionRequests(ctx context.Context, db *gorm.DB, slug string) ([]DeletionRequest, error) {
	q := db.WithContext(ctx).Order("id DESC").Limit(500)
	if slug != "" {
		q = q.Where("slug = ?", slug)
	}
	var out []DeletionRequest
	if err := q.Find(&out).Error; err != nil {
		return nil, fmt.Errorf("deletion requests: %w", err)
	}
	return out, nil
}

// DeletionLinks returns the confirmation links of request id (without
// their tokens, which are nowhere), by recipient.
func DeletionLinks(ctx context.Context, db *gorm.DB, id int64) ([]DeletionLink, error) {
	var out []DeletionLink
	if err := db.WithContext(ctx).Where("request_id = ?", id).Order("recipient").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("deletion links of %d: %w", id, err)
	}
	return out, nil
}

// DeletionLinkView is what a confirmation link opens: the link, its
// request and every owner's link of it (who confirmed).
type DeletionLinkView struct {
	Link    DeletionLink
	Request DeletionRequest
	Links   []DeletionLink
}

// Confirmed counts the different owners who confirmed.
func (v DeletionLinkView) Confirmed() int {
	seen := map[string]bool{}
	for _, l := range v.Links {
		if l.ConfirmedAt != nil {
			seen[l.Recipient] = true
		}
	}
	return len(seen)
}

// CanConfirm reports whether this link may still confirm.
func (v DeletionLinkView) CanConfirm(now time.Time) bool {
	return v.Request.StatusAt(now) == DeletionPending && v.Link.ConfirmedAt == nil
}

// CanCancel reports whether this link may still cancel the request.
func (v DeletionLinkView) CanCancel(now time.Time) bool {
	s := v.Request.StatusAt(now)
	return s == DeletionPending || s == DeletionConfirmed
}

// DeletionLinkHistory is how long after a request ends its links still
// open, to show what happened.
const DeletionLinkHistory = 30 * Day

// OpenDeletionLink looks token up without changing anything. An unknown
// token, or one whose request ended more than DeletionLinkHistory ago,
// is ErrBadToken.
func OpenDeletionLink(ctx context.Context, db *gorm.DB, now time.Time, token string) (DeletionLinkView, error) {
	var v DeletionLinkView
	if len(token) != 43 {
		return v, ErrBadToken
	}
	err := db.WithContext(ctx).Where("token_hash = ?", deletionTokenHash(token)).Take(&v.Link).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return v, ErrBadToken
	}
	if err != nil {
		return v, fmt.Errorf("deletion link: %w", err)
	}
	if err := db.WithContext(ctx).Where("id = ?", v.Link.RequestID).Take(&v.Request).Error; err != nil {
		return v, fmt.Errorf("deletion request: %w", err)
	}
	end := v.Request.UpdatedAt
	if v.Request.StatusAt(now) == DeletionExpired {
		end = v.Request.ExpiresAt
	}
	if v.Request.StatusAt(now) != DeletionPending && v.Request.StatusAt(now) != DeletionConfirmed && now.After(end.Add(DeletionLinkHistory)) {
		return DeletionLinkView{}, ErrBadToken
	}
	if v.Links, err = DeletionLinks(ctx, db, v.Request.ID); err != nil {
		return v, err
	}
	return v, nil
}

// AuditDeletionShown records that a confirmation page was shown for a
// link; it decides nothing (a mail scanner following the link is only
// recorded).
func AuditDeletionShown(ctx context.Context, db *gorm.DB, now time.Time, v DeletionLinkView, ip, ua string) error {
	_, err := AppendAudit(ctx, db, AuditEntry{
		At: now, Actor: Actor{Email: v.Link.Recipient, Tier: "customer", IP: ip, UserAgent: ua}, Action: ActionDeletionShown,
		Workspace: v.Request.Slug, Target: v.Request.Target(),
	})
	return err
}

// openLocked opens token inside tx with its request locked until tx ends,
// so concurrent confirmations of one request are taken one at a time.
func openLocked(ctx context.Context, tx *gorm.DB, now time.Time, token string) (DeletionLinkView, error) {
	v, err := OpenDeletionLink(ctx, tx, now, token)
	if err != nil || tx.Dialector.Name() != "postgres" {
		return v, err
	}
	if err := tx.Raw("SELECT id FROM deletion_requests WHERE id = ? FOR UPDATE", v.Request.ID).Scan(new(int64)).Error; err != nil {
		return v, fmt.Errorf("lock deletion request: %w", err)
	}
	return OpenDeletionLink(ctx, tx, now, token)
}

// ConfirmDeletion records an owner's confirmation through their link
// (once per link). When enough different owners have confirmed, the
// request is confirmed and the workspace's deletion becomes due (a
// sysadmin still deletes it). members is the workspace's member count now
// (from the registry): a workspace that has grown past one member since
// the request needs two owners. A link that cannot confirm is
// ErrConflict.
func ConfirmDeletion(ctx context.Context, db *gorm.DB, now time.Time, token, ip string, members int) (DeletionLinkView, error) {
	var v DeletionLinkView
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var err error
		if v, err = openLocked(ctx, tx, now, token); err != nil {
			return err
		}
		if !v.CanConfirm(now) {
			return fmt.Errorf("deletion request %d is %s: %w", v.Request.ID, v.Request.StatusAt(now), ErrConflict)
		}
		u := tx.Model(&DeletionLink{}).Where("id = ? AND confirmed_at IS NULL", v.Link.ID).
			Updates(map[string]any{"confirmed_at": now.UTC(), "ip": truncate(ip, 64)})
		if u.Error != nil {
			return fmt.Errorf("confirm deletion: %w", u.Error)
		}
		if u.RowsAffected != 1 {
			return fmt.Errorf("this link was used already: %w", ErrConflict)
		}
		t := now.UTC()
		v.Link.ConfirmedAt, v.Link.IP = &t, ip
		for i := range v.Links {
			if v.Links[i].ID == v.Link.ID {
				v.Links[i] = v.Link
			}
		}
		// The rule counts the members the workspace has now: one that
		// grew past one member since the request needs a second owner.
		if need := NeededConfirmations(members); need > v.Request.NeededConfirmations {
			if err := tx.Model(&DeletionRequest{}).Where("id = ?", v.Request.ID).Update("needed_confirmations", need).Error; err != nil {
				return fmt.Errorf("confirm deletion: %w", err)
			}
			v.Request.NeededConfirmations = need
		}
		got := v.Confirmed()
		complete := got >= v.Request.NeededConfirmations
		if complete {
			u := tx.Model(&DeletionRequest{}).Where("id = ? AND status = ?", v.Request.ID, DeletionPending).
				Updates(map[string]any{"status": DeletionConfirmed, "confirmed_at": t, "updated_at": t})
			if u.Error != nil {
				return fmt.Errorf("confirm deletion: %w", u.Error)
			}
			if u.RowsAffected != 1 {
				return fmt.Errorf("deletion request %d changed meanwhile: %w", v.Request.ID, ErrConflict)
			}
			v.Request.Status, v.Request.ConfirmedAt, v.Request.UpdatedAt = DeletionConfirmed, &t, t
		}
		_, err = AppendAudit(ctx, tx, AuditEntry{
			At: now, Actor: Actor{Email: v.Link.Recipient, Tier: "customer", IP: ip}, Action: ActionDeletionConfirmed,
			Workspace: v.Request.Slug, Target: v.Request.Target(),
			Detail: map[string]any{"confirmations": got, "needed": v.Request.NeededConfirmations, "complete": complete},
		})
		return err
	})
	return v, err
}

// CancelDeletion cancels the request of token's link, for an owner who
// changed their mind, audited. A request that is no longer pending or
// confirmed is ErrConflict.
func CancelDeletion(ctx context.Context, db *gorm.DB, now time.Time, token, ip string) (DeletionLinkView, error) {
	var v DeletionLinkView
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var err error
		if v, err = openLocked(ctx, tx, now, token); err != nil {
			return err
		}
		if !v.CanCancel(now) {
			return fmt.Errorf("deletion request %d is %s: %w", v.Request.ID, v.Request.StatusAt(now), ErrConflict)
		}
		u := tx.Model(&DeletionRequest{}).Where("id = ? AND status IN ?", v.Request.ID, []DeletionStatus{DeletionPending, DeletionConfirmed}).
			Updates(map[string]any{"status": DeletionCancelled, "updated_at": now.UTC()})
		if u.Error != nil {
			return fmt.Errorf("cancel deletion: %w", u.Error)
		}
		if u.RowsAffected != 1 {
			return fmt.Errorf("deletion request %d changed meanwhile: %w", v.Request.ID, ErrConflict)
		}
		v.Request.Status, v.Request.UpdatedAt = DeletionCancelled, now.UTC()
		_, err = AppendAudit(ctx, tx, AuditEntry{
			At: now, Actor: Actor{Email: v.Link.Recipient, Tier: "customer", IP: ip}, Action: ActionDeletionCancelled,
			Workspace: v.Request.Slug, Target: v.Request.Target(),
		})
		return err
	})
	return v, err
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
	_, err := AppendAudit(ctx, tx, AuditEntry{At: now, Actor: retentionSystem, Action: ActionDeletionExpired, Workspace: r.Slug, Target: r.Target(),
		Reason: "the owners did not confirm in time"})
	return err == nil, err
}

// ErrNotDue is returned (wrapped, with ErrConflict) when a workspace's
// deletion is not due.
var ErrNotDue = errors.New("the workspace's deletion is not due")

// TableRows is one table a deletion removed and how many rows it held.
type TableRows struct {
	Table string `json:"table"`
	Rows  int64  `json:"rows"`
}

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

var schemaPattern = regexp.MustCompile(`^ws_[a-z0-9_]{1,48}$`)

// WorkspaceSchema returns the PostgreSQL schema of workspace slug's data,
// by the rule of tenantdb.SchemaName (which imports this package, hence
// the copy; a test keeps the two equal).
func WorkspaceSchema(slug string) (string, error) {
	s := "ws_" + strings.ReplaceAll(slug, "-", "_")
	if strings.Contains(slug, "_") || !schemaPattern.MatchString(s) {
		return "", fmt.Errorf("workspace %q: invalid name", slug)
	}
	return s, nil
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
func DeleteWorkspace(ctx context.Context, db, product *DB, tenantsDir string, now time.Time, by Actor, slug string, p RetentionPolicy) (DeletionReport, error) {
	schema, err := WorkspaceSchema(slug)
	if err != nil {
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
	rep, err := deleteWorkspace(ctx, db, product, tenantsDir, schema, now, by, slug, p)
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
		_, serr = settleDeletion(ctx, db, product, tenantsDir, now, by, slug, why)
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
		return fmt.Errorf("%s lives on its own database server; delete it there: %w", w.Slug, ErrConflict)
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
			return fmt.Errorf("a deletion of %s is already under way: %w", slug, ErrConflict)
		}
		_, err := AppendAudit(ctx, tx, AuditEntry{At: now, Actor: by, Action: ActionWorkspaceDeletionStarted, Workspace: slug,
			Target: "retention/" + slug, Reason: st.Explanation, Detail: map[string]any{"rule": st.Rule}})
		return err
	})
}

// deleteWorkspace is DeleteWorkspace's third step.
func deleteWorkspace(ctx context.Context, db, product *DB, tenantsDir, schema string, now time.Time, by Actor, slug string, p RetentionPolicy) (DeletionReport, error) {
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
	rep := DeletionReport{Slug: slug, Engine: product.Dialect, Location: schema, Rule: st.Rule, DeletedAt: now.UTC(), DeletedBy: by.Email}
	if st.Request != nil && st.Request.Status == DeletionConfirmed {
		rep.RequestID = &st.Request.ID
	}
	var remove func() error
	if product.Dialect == Postgres {
		if err := dropSchema(ctx, ptx, schema, &rep); err != nil {
			return DeletionReport{}, err
		}
	} else {
		file := filepath.Join(tenantsDir, schema+".db")
		rep.Location = schema + ".db"
		if remove, err = countFile(ctx, file, &rep); err != nil {
			return DeletionReport{}, err
		}
	}
	if err := ptx.Exec("UPDATE workspaces SET status = ? WHERE slug = ?", WorkspaceDeleted, slug).Error; err != nil {
		return DeletionReport{}, fmt.Errorf("registry: %w", err)
	}
	if err := recordDeletion(ctx, tx, now, by, &rep, st.Explanation); err != nil {
		return DeletionReport{}, err
	}
	if remove != nil {
		// The files go last before the commits: a failure here leaves the
		// registry and the audit log untouched, and the deletion can be
		// tried again.
		if err := remove(); err != nil {
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

func quoteIdent(name string) string { return `"` + strings.ReplaceAll(name, `"`, `""`) + `"` }

// dropSchema counts the rows of each table of schema and drops it.
func dropSchema(ctx context.Context, tx *gorm.DB, schema string, rep *DeletionReport) error {
	var tables []string
	err := tx.WithContext(ctx).Raw(`SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = ? AND c.relkind IN ('r', 'p') ORDER BY c.relname`, schema).Scan(&tables).Error
	if err != nil {
		return fmt.Errorf("tables of %s: %w", schema, err)
	}
	var exists int64
	if err := tx.Raw("SELECT count(*) FROM pg_namespace WHERE nspname = ?", schema).Scan(&exists).Error; err != nil {
		return err
	}
	rep.Tables = []TableRows{}
	if exists == 0 {
		rep.Missing = true
		return nil
	}
	for _, t := range tables {
		var n int64
		if err := tx.Raw("SELECT count(*) FROM " + quoteIdent(schema) + "." + quoteIdent(t)).Scan(&n).Error; err != nil {
			return fmt.Errorf("count %s.%s: %w", schema, t, err)
		}
		rep.Tables = append(rep.Tables, TableRows{Table: t, Rows: n})
	}
	if err := tx.Exec("DROP SCHEMA " + quoteIdent(schema) + " CASCADE").Error; err != nil {
		return fmt.Errorf("drop schema %s: %w", schema, err)
	}
	return nil
}

// countFile counts the rows of each table of the SQLite file and returns
// the func that removes it with its -wal and -shm files.
func countFile(ctx context.Context, file string, rep *DeletionReport) (func() error, error) {
	rep.Tables = []TableRows{}
	if _, err := os.Stat(file); errors.Is(err, os.ErrNotExist) {
		rep.Missing = true
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(file)
	if err != nil {
		return nil, err
	}
	u := url.URL{Scheme: "file", Path: abs, RawQuery: "mode=ro&_pragma=busy_timeout(10000)"}
	f, err := sql.Open("sqlite", u.String())
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rows, err := f.QueryContext(ctx, "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("tables of %s: %w", filepath.Base(file), err)
	}
	var tables []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			rows.Close()
			return nil, err
		}
		tables = append(tables, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, t := range tables {
		var n int64
		if err := f.QueryRowContext(ctx, "SELECT count(*) FROM `"+strings.ReplaceAll(t, "`", "``")+"`").Scan(&n); err != nil {
			return nil, fmt.Errorf("count %s: %w", t, err)
		}
		rep.Tables = append(rep.Tables, TableRows{Table: t, Rows: n})
	}
	for _, suffix := range []string{"-wal", "-shm", ""} {
		if _, err := os.Stat(file + suffix); err == nil {
			rep.Files = append(rep.Files, filepath.Base(file+suffix))
		}
	}
	return func() error {
		// The main file is renamed away first, in one step: from then on
		// the data is gone from where it is read, and what is left is
		// removed; a failure before the rename removed nothing.
		if err := os.Rename(file, file+".deleting"); err != nil {
			return fmt.Errorf("remove %s: %w", filepath.Base(file), err)
		}
		for _, f := range sqliteFiles(file) {
			if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("remove %s: %w", filepath.Base(f), err)
			}
		}
		return nil
	}, nil
}

// sqliteFiles are what is left of a workspace's SQLite file once it is
// renamed away for deletion: the renamed file and its -wal and -shm.
func sqliteFiles(file string) []string {
	return []string{file + ".deleting", file + "-wal", file + "-shm"}
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
			Updates(map[string]any{"ended_at": now.UTC(), "ended_by": by.Email, "ended_why": "the workspace was deleted"}).Error; err != nil {
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
			return fmt.Errorf("the customer's deletion request %d was cancelled meanwhile: %w", *rep.RequestID, ErrConflict)
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
		return fmt.Errorf("%s was recorded deleted meanwhile: %w", rep.Slug, ErrConflict)
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

// deletionSettleAfter is how long a started deletion may run before the
// retention job takes it for failed and settles it.
const deletionSettleAfter = 10 * time.Minute

// dataGone reports whether slug's data is gone: its schema (PostgreSQL)
// or its file (SQLite).
func dataGone(ctx context.Context, product *DB, tenantsDir, slug string) (bool, error) {
	schema, err := WorkspaceSchema(slug)
	if err != nil {
		return false, err
	}
	if product.Dialect == Postgres {
		var n int64
		if err := product.Read.WithContext(ctx).Raw("SELECT count(*) FROM pg_namespace WHERE nspname = ?", schema).Scan(&n).Error; err != nil {
			return false, fmt.Errorf("schema %s: %w", schema, err)
		}
		return n == 0, nil
	}
	_, err = os.Stat(filepath.Join(tenantsDir, schema+".db"))
	if errors.Is(err, os.ErrNotExist) {
		return true, nil
	}
	return false, err
}

// settleDeletion ends a deletion of slug that started but was not
// recorded as done, by what is left of the data. Data still there, or a
// legal hold in force: the deletion stopped (workspace.deletion_stopped;
// the registry is left alone). Data gone: the registry entry is marked
// deleted if it is not yet, any leftover SQLite files are removed, and
// the deletion recorded (workspace.deleted, its report saying the row
// counts were not taken). why goes in the event. It reports whether it
// recorded a deletion; a deletion not marked started (or settled
// meanwhile) is left alone.
func settleDeletion(ctx context.Context, db, product *DB, tenantsDir string, now time.Time, by Actor, slug, why string) (bool, error) {
	gone, err := dataGone(ctx, product, tenantsDir, slug)
	if err != nil {
		return false, err
	}
	holds, err := ListHolds(ctx, db.Read, slug, false)
	if err != nil {
		return false, err
	}
	if !gone || len(holds) > 0 {
		if gone {
			why += "; the data is missing, but a legal hold is in force, so the registry entry was left as it is"
		}
		return false, stopDeletion(ctx, db.Write, now, by, slug, why)
	}
	schema, _ := WorkspaceSchema(slug)
	rep := DeletionReport{Slug: slug, Engine: product.Dialect, Location: schema, Tables: []TableRows{}, CountsUnknown: true,
		Rule: "The deletion's own record failed; the data was found gone when it was settled.", DeletedAt: now.UTC(), DeletedBy: by.Email}
	if product.Dialect == SQLite {
		rep.Location = schema + ".db"
		// What a removal that stopped half-way left behind.
		for _, f := range sqliteFiles(filepath.Join(tenantsDir, schema+".db")) {
			if err := os.Remove(f); err == nil {
				rep.Files = append(rep.Files, filepath.Base(f))
			} else if !errors.Is(err, os.ErrNotExist) {
				return false, fmt.Errorf("remove %s: %w", filepath.Base(f), err)
			}
		}
	}
	if err := product.Write.WithContext(ctx).Exec("UPDATE workspaces SET status = ? WHERE slug = ? AND status <> ?",
		WorkspaceDeleted, slug, WorkspaceDeleted).Error; err != nil {
		return false, fmt.Errorf("registry: %w", err)
	}
	err = db.Write.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var rec RetentionRecord
		if err := tx.Where("slug = ? AND deleted_at IS NULL AND deletion_started_at IS NOT NULL", slug).Limit(1).Find(&rec).Error; err != nil || rec.Slug == "" {
			return err
		}
		var req DeletionRequest
		if err := tx.Where("slug = ? AND status = ?", slug, DeletionConfirmed).Order("id DESC").Limit(1).Find(&req).Error; err != nil {
			return err
		}
		if req.ID != 0 {
			rep.RequestID = &req.ID
		}
		return recordDeletion(ctx, tx, now, by, &rep, why)
	})
	return err == nil, err
}

// SettleDeletions settles every deletion that started more than ten
// minutes before now and was never recorded as done or stopped (the
// portal stopped, or its database failed, in the middle of one): see
// settleDeletion. It returns how many it settled, as deleted or as
// stopped; one that fails does not keep the others from being settled.
func SettleDeletions(ctx context.Context, db, product *DB, tenantsDir string, now time.Time) (int, error) {
	var stale []RetentionRecord
	if err := db.Read.WithContext(ctx).Where("deleted_at IS NULL AND deletion_started_at IS NOT NULL AND deletion_started_at < ?",
		now.Add(-deletionSettleAfter).UTC()).Find(&stale).Error; err != nil {
		return 0, fmt.Errorf("started deletions: %w", err)
	}
	n := 0
	var errs []error
	for _, r := range stale {
		why := fmt.Sprintf("the deletion started at %s did not finish; settled by the retention job", r.DeletionStartedAt.UTC().Format(time.RFC3339))
		if _, err := settleDeletion(ctx, db, product, tenantsDir, now, retentionSystem, r.Slug, why); err != nil {
			errs = append(errs, fmt.Errorf("settle deletion of %s: %w", r.Slug, err))
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}
