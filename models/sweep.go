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

// ExpiryWarning is how long before a grant ends its grantee is warned.
const ExpiryWarning = 15 * time.Minute

// SweepResult counts what one sweep did.
type SweepResult struct {
	Expired, Warned, Ended int
}

// Sweeper is the background job that runs Sweep: every Every (30s when
// zero) until its context ends, reading from the registry (Product) the
// names and owners of the workspaces each step writes about, before the
// step's transactions: never the whole registry.
type Sweeper struct {
	DB      *gorm.DB // the portal's database
	Product *gorm.DB // the workspace registry
	Post    Post     // its Names are those of each step's rows
	Now     func() time.Time
	Every   time.Duration
	Logger  *slog.Logger
}

// Sweep sweeps once (see Sweep).
func (s *Sweeper) Sweep(ctx context.Context) (SweepResult, error) {
	owners := func(ctx context.Context, ws string) ([]string, error) { return Owners(ctx, s.Product, ws) }
	names := func(ctx context.Context, slugs []string) (map[string]string, error) {
		return WorkspaceNamesOf(ctx, s.Product, slugs)
	}
	return sweep{db: s.DB, now: s.Now(), post: s.Post, owners: owners, names: names}.run(ctx)
}

// Run sweeps at once and then every Every until ctx ends. Several
// replicas may run it at once: every step is done once.
func (s *Sweeper) Run(ctx context.Context) error {
	log := cmp.Or(s.Logger, slog.Default())
	return every(ctx, cmp.Or(s.Every, 30*time.Second), func() {
		res, err := s.Sweep(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			log.Error("sweep", "error", err)
		case err == nil && res != (SweepResult{}):
			log.Info("sweep", "expired", res.Expired, "warned", res.Warned, "ended", res.Ended)
		}
	})
}

// Sweep moves the request workflow forward in time: it expires requests
// nobody decided on, warns of grants about to end, and closes grants that
// have ended (by time or otherwise), telling the requester and grantee
// and sending the owners a summary of what was viewed. Each step is a
// conditional update in its own transaction, so sweeps running at once on
// several replicas do every step once. owners returns a workspace's
// owners from the registry.
func Sweep(ctx context.Context, db *gorm.DB, now time.Time, post Post, owners func(ctx context.Context, workspace string) ([]string, error)) (SweepResult, error) {
	return sweep{db: db, now: now, post: post, owners: owners}.run(ctx)
}

// run runs the sweep's steps in order.
func (sw sweep) run(ctx context.Context) (SweepResult, error) {
	var res SweepResult
	var errs []error
	for _, step := range []struct {
		count *int
		run   func(context.Context) (int, []error, error)
	}{
		{&res.Expired, sw.expireRequests},
		{&res.Warned, sw.warnExpiring},
		{&res.Ended, sw.closeEnded},
	} {
		n, failed, err := step.run(ctx)
		*step.count = n
		if err != nil {
			return res, err
		}
		errs = append(errs, failed...)
	}
	return res, errors.Join(errs...)
}

// sweep is one Sweep's inputs, shared by its steps. A step returns how
// many items it changed, the errors of items it went past, and an error
// that stops the sweep.
type sweep struct {
	db     *gorm.DB
	now    time.Time
	post   Post
	owners func(ctx context.Context, workspace string) ([]string, error)
	// names, when not nil, reads the names of the workspaces a step
	// writes about into post.Names (see named).
	names func(ctx context.Context, slugs []string) (map[string]string, error)
}

// named is sw with post.Names holding the names of the workspaces
// slugs, read in one query (none when there are no rows).
func (sw sweep) named(ctx context.Context, slugs []string) (sweep, error) {
	if sw.names == nil || len(slugs) == 0 {
		return sw, nil
	}
	slices.Sort(slugs)
	names, err := sw.names(ctx, slices.Compact(slugs))
	if err != nil {
		return sw, err
	}
	sw.post.Names = names
	return sw, nil
}

// workspacesOf is the workspaces of rows.
func workspacesOf[T any](rows []T, ws func(T) string) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = ws(r)
	}
	return out
}

// expireRequests expires pending requests nobody approved in time and
// approved ones the customer did not answer in time.
func (sw sweep) expireRequests(ctx context.Context) (int, []error, error) {
	now := sw.now.UTC()
	var due []AccessRequest
	err := sw.db.WithContext(ctx).Where("(status = ? AND expires_at <= ?) OR (status = ? AND consent_deadline <= ?)",
		RequestPending, now, RequestApproved, now).Order("id").Limit(500).Find(&due).Error
	if err != nil {
		return 0, nil, fmt.Errorf("due requests: %w", err)
	}
	if sw, err = sw.named(ctx, workspacesOf(due, func(r AccessRequest) string { return r.Workspace })); err != nil {
		return 0, nil, err
	}
	return eachOnce(ctx, sw.db, due, func(tx *gorm.DB, r AccessRequest) (bool, error) {
		q := tx.Model(&AccessRequest{}).Where("id = ? AND status = ?", r.ID, r.Status)
		why := "nobody approved it in time"
		if r.Status == RequestApproved {
			q, why = q.Where("consent_deadline <= ?", now), "the customer did not answer in time"
		} else {
			q = q.Where("expires_at <= ?", now)
		}
		u := q.Updates(map[string]any{"status": RequestExpired, "updated_at": now})
		if u.Error != nil || u.RowsAffected == 0 {
			return false, u.Error
		}
		r.Status = RequestExpired
		if _, err := AppendAudit(ctx, tx, AuditEntry{At: sw.now, Actor: SystemActor, Action: ActionRequestExpired, Workspace: r.Workspace, Target: r.Target(), Reason: why}); err != nil {
			return false, err
		}
		return true, notifyStaff(ctx, tx, sw.now, sw.post, r, string(RequestExpired))
	})
}

// warnExpiring warns the requester and grantee of a request's grant
// ExpiryWarning before it ends.
func (sw sweep) warnExpiring(ctx context.Context) (int, []error, error) {
	var soon []Grant
	err := sw.db.WithContext(ctx).Where("request_id IS NOT NULL AND warned_at IS NULL AND ended_at IS NULL AND ends_at > ? AND ends_at <= ?",
		sw.now.UTC(), sw.now.Add(ExpiryWarning).UTC()).Order("id").Limit(500).Find(&soon).Error
	if err != nil {
		return 0, nil, fmt.Errorf("grants ending soon: %w", err)
	}
	if sw, err = sw.named(ctx, workspacesOf(soon, func(g Grant) string { return g.Workspace })); err != nil {
		return 0, nil, err
	}
	return eachOnce(ctx, sw.db, soon, func(tx *gorm.DB, g Grant) (bool, error) {
		u := tx.Model(&Grant{}).Where("id = ? AND warned_at IS NULL", g.ID).Update("warned_at", sw.now.UTC())
		if u.Error != nil || u.RowsAffected == 0 {
			return false, u.Error
		}
		r, err := FindRequest(ctx, tx, *g.RequestID)
		if err != nil {
			return false, err
		}
		return true, notifyStaff(ctx, tx, sw.now, sw.post, r, "expiring")
	})
}

// endedGrant is a grant that has ended and the owners of its workspace.
type endedGrant struct {
	Grant
	owners []string
}

// closeEnded records grants that ended by time as expired, sends the
// owners the summary of what was viewed under each ended grant, and tells
// its request's requester and grantee.
func (sw sweep) closeEnded(ctx context.Context) (int, []error, error) {
	var ended []Grant
	err := sw.db.WithContext(ctx).Where("ended_notified_at IS NULL AND (ended_at IS NOT NULL OR ends_at <= ?)", sw.now.UTC()).
		Order("id").Limit(500).Find(&ended).Error
	if err != nil {
		return 0, nil, fmt.Errorf("ended grants: %w", err)
	}
	if sw, err = sw.named(ctx, workspacesOf(ended, func(g Grant) string { return g.Workspace })); err != nil {
		return 0, nil, err
	}
	// The owners come from the registry, which a step's transaction
	// never reads.
	var due []endedGrant
	var errs []error
	for _, g := range ended {
		to, err := sw.owners(ctx, g.Workspace)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		due = append(due, endedGrant{g, to})
	}
	n, failed, err := eachOnce(ctx, sw.db, due, func(tx *gorm.DB, g endedGrant) (bool, error) { return sw.closeGrant(ctx, tx, g) })
	return n, append(errs, failed...), err
}

// closeGrant is closeEnded's step for one grant, in tx.
func (sw sweep) closeGrant(ctx context.Context, tx *gorm.DB, g endedGrant) (bool, error) {
	u := tx.Model(&Grant{}).Where("id = ? AND ended_notified_at IS NULL", g.ID).Update("ended_notified_at", sw.now.UTC())
	if u.Error != nil || u.RowsAffected == 0 {
		return false, u.Error
	}
	if g.EndedAt == nil {
		// Ended by time: record it as such, unless someone ended it
		// meanwhile, whose own event says how.
		u := tx.Model(&Grant{}).Where("id = ? AND ended_at IS NULL", g.ID).
			Updates(map[string]any{"ended_at": g.EndsAt, "ended_by": SystemActor.Email, "ended_why": "expired"})
		if u.Error != nil {
			return false, u.Error
		}
		target := ""
		if g.RequestID != nil {
			target = RequestTarget(*g.RequestID)
		}
		if u.RowsAffected > 0 {
			if _, err := AppendAudit(ctx, tx, AuditEntry{At: sw.now, Actor: SystemActor, Action: ActionGrantExpired, Workspace: g.Workspace, GrantID: &g.ID, BreakglassID: g.BreakglassID, Target: target, Reason: "expired"}); err != nil {
				return false, err
			}
		}
	}
	viewed, err := ViewedUnder(ctx, tx, g.Workspace, g.ID)
	if err != nil {
		return false, err
	}
	reveals, err := RevealsUnder(ctx, tx, g.Workspace, g.ID, 0, SummaryReveals)
	if err != nil {
		return false, err
	}
	for _, owner := range g.owners {
		n := ViewSummaryNotice{Grant: g.Grant, Name: sw.post.name(g.Workspace), Owner: owner, Viewed: viewed, Reveals: reveals}
		if err := sw.post.send(ctx, tx, sw.now, n); err != nil {
			return false, err
		}
	}
	if g.RequestID == nil {
		return true, nil
	}
	r, err := FindRequest(ctx, tx, *g.RequestID)
	if err != nil {
		return false, err
	}
	return true, notifyStaff(ctx, tx, sw.now, sw.post, r, "ended")
}

// eachOnce runs step for each item, each in a transaction of its own (see
// once), and counts the items it changed. An item that fails is returned
// among failed and the others go on: one bad item must not stall every
// later one. Only the end of ctx stops it early.
func eachOnce[T any](ctx context.Context, db *gorm.DB, items []T, step func(tx *gorm.DB, item T) (bool, error)) (n int, failed []error, err error) {
	for _, item := range items {
		won, err := once(ctx, db, func(tx *gorm.DB) (bool, error) { return step(tx, item) })
		if err != nil {
			if ctx.Err() != nil {
				return n, failed, err
			}
			failed = append(failed, err)
			continue
		}
		if won {
			n++
		}
	}
	return n, failed, nil
}

// once runs step in a transaction; step reports whether it made the
// change (false when another sweeper got there first).
func once(ctx context.Context, db *gorm.DB, step func(tx *gorm.DB) (bool, error)) (bool, error) {
	won := false
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var err error
		won, err = step(tx)
		return err
	})
	if err != nil {
		return false, err // rolled back: nothing was done
	}
	return won, nil
}

// every runs do at once and then every interval until ctx ends.
func every(ctx context.Context, interval time.Duration, do func()) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		do()
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
