package models

import (
	"context"
	"fmt"
	"time"

	"gatehouse/policy"

	"gorm.io/gorm"
)

// ApprovalNeededNotice asks a staff member who may decide a new request
// to look at it.
type ApprovalNeededNotice struct {
	Request AccessRequest
	Name    string // the workspace's name
	To      Staff
}

func (n ApprovalNeededNotice) address() (string, string, *int64) {
	return n.To.Email, n.Request.Workspace, &n.Request.ID
}

// mayDecide narrows q to the staff who may decide requests at now: active,
// of a role in roles that approves, and cleared by cl.
func (c Clearance) mayDecide(q *gorm.DB, roles *policy.Roles, now time.Time) *gorm.DB {
	q = q.Where("status = ? AND tier IN ? AND agreement_version = ? AND agreement_signed_at IS NOT NULL",
		StatusActive, roles.Holding(policy.RequestApprove), c.Agreement)
	return c.trainedSince(q, now)
}

// Approvers returns the staff who may decide r at now, by name: active,
// of a role that approves, cleared by cl, and neither its requester nor
// its grantee (the two-person rule).
func Approvers(ctx context.Context, db *gorm.DB, cl Clearance, now time.Time, r AccessRequest) ([]Staff, error) {
	roles, err := LoadRoles(ctx, db)
	if err != nil {
		return nil, err
	}
	var out []Staff
	q := db.WithContext(ctx).Where("id NOT IN ?", []int64{r.RequesterID, r.GranteeID})
	if err := cl.mayDecide(q, roles, now).Order("name, id").Limit(1000).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("approvers of request %d: %w", r.ID, err)
	}
	return out, nil
}

// AwaitingDecision counts the pending requests s may decide at now: none
// unless s may decide requests at all, never s's own (as requester or
// grantee), and only on workspaces s's scope admits (read from product).
func AwaitingDecision(ctx context.Context, db, product *gorm.DB, cl Clearance, now time.Time, s Staff) (int64, error) {
	roles, err := LoadRoles(ctx, db)
	if err != nil {
		return 0, err
	}
	if s.Status != StatusActive || !roles.MayApprove(s.Tier) || !cl.Cleared(s, now) {
		return 0, nil
	}
	in, err := RequestWorkspacesIn(ctx, db, product, ScopeOf(s, roles))
	if err != nil {
		return 0, err
	}
	var n int64
	err = in.where(db.WithContext(ctx), "workspace").Model(&AccessRequest{}).
		Where("status = ? AND expires_at > ? AND requester_id <> ? AND grantee_id <> ?", RequestPending, now.UTC(), s.ID, s.ID).
		Count(&n).Error
	if err != nil {
		return 0, fmt.Errorf("requests awaiting %s: %w", s.Email, err)
	}
	return n, nil
}

// askApprovers mails everyone who may decide the new request r, on a
// workspace with attributes attrs: an approver whose scope does not
// admit it is not told of it.
func askApprovers(ctx context.Context, tx *gorm.DB, now time.Time, post Post, cl Clearance, r AccessRequest, attrs map[string]string) error {
	approvers, err := Approvers(ctx, tx, cl, now, r)
	if err != nil {
		return err
	}
	roles, err := LoadRoles(ctx, tx)
	if err != nil {
		return err
	}
	for _, a := range approvers {
		if !ScopeOf(a, roles).Admits(attrs) {
			continue
		}
		if err := post.send(ctx, tx, now, ApprovalNeededNotice{Request: r, Name: post.name(r.Workspace), To: a}); err != nil {
			return err
		}
	}
	return nil
}
