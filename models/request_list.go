package models

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"gorm.io/gorm"
)

// RequestFilter selects requests; zero fields match everything.
// RequestGranted matches requests whose grant is live at Now, RequestEnded
// those whose grant has ended by then.
type RequestFilter struct {
	Workspace string
	Status    RequestStatus
	Ticket    string
	StaffID   int64 // requester or grantee
	Now       time.Time
	Limit     int
	Offset    int
	// In limits the list to the workspaces of the reader's scope
	// (RequestWorkspacesIn).
	In WorkspaceSet
}

// where applies the filters (not the paging) to q, which has the
// request's grant joined as g: "granted" is a live grant, "ended" one
// whose grant ended or ran out.
func (f RequestFilter) where(q *gorm.DB) *gorm.DB {
	if f.Workspace != "" {
		q = q.Where("access_requests.workspace = ?", f.Workspace)
	}
	q = f.In.where(q, "access_requests.workspace")
	switch f.Status {
	case "":
	case RequestGranted:
		q = q.Where("access_requests.status = ? AND g.ended_at IS NULL AND g.ends_at > ?", RequestGranted, f.Now.UTC())
	case RequestEnded:
		q = q.Where("access_requests.status = ? AND (g.ended_at IS NOT NULL OR g.ends_at <= ?)", RequestGranted, f.Now.UTC())
	default:
		q = q.Where("access_requests.status = ?", f.Status)
	}
	if f.Ticket != "" {
		q = q.Where("access_requests.ticket = ?", f.Ticket)
	}
	if f.StaffID != 0 {
		q = q.Where("(access_requests.requester_id = ? OR access_requests.grantee_id = ?)", f.StaffID, f.StaffID)
	}
	return q
}

// requestsWithGrants is the requests table with each request's grant
// joined as g.
func requestsWithGrants(ctx context.Context, db *gorm.DB) *gorm.DB {
	return db.WithContext(ctx).Model(&AccessRequest{}).Joins("LEFT JOIN grants g ON g.id = access_requests.grant_id")
}

// ListRequests returns matching requests, newest first, each with its
// grant's window and ending in the same query, and how many match.
func ListRequests(ctx context.Context, db *gorm.DB, f RequestFilter) ([]RequestListing, int64, error) {
	q := f.where(requestsWithGrants(ctx, db))
	var n int64
	if err := q.Count(&n).Error; err != nil {
		return nil, 0, fmt.Errorf("count requests: %w", err)
	}
	if f.Limit <= 0 {
		f.Limit = 50
	}
	var out []RequestListing
	if err := q.Joins(endEventJoin(db), endActions).Select(requestListingColumns).Order("access_requests.id DESC").Limit(f.Limit).Offset(f.Offset).Find(&out).Error; err != nil {
		return nil, 0, fmt.Errorf("list requests: %w", err)
	}
	return out, n, nil
}

// RequestSorts are the orders /requests offers; the first is the default.
// Each has an index on (column, id) (migrations 00007 and 00013).
var RequestSorts = []SortKey{
	{Name: "created", Column: "access_requests.id", Kind: SortInt, Desc: true},
	{Name: "workspace", Column: "access_requests.workspace"},
	{Name: "status", Column: "access_requests.status"},
}

// PageRequests returns one page of the requests f matches, each with its
// grant's window and ending, sorted and paged by k, and how many match.
func PageRequests(ctx context.Context, db *gorm.DB, f RequestFilter, k Keyset) (Page[RequestListing], Count, error) {
	q := f.where(requestsWithGrants(ctx, db)).Session(&gorm.Session{})
	n, err := countCapped(ctx, db, q)
	if err != nil {
		return Page[RequestListing]{}, Count{}, fmt.Errorf("count requests: %w", err)
	}
	rows := q.Joins(endEventJoin(db), endActions).Select(requestListingColumns)
	page, err := findKeyset(ctx, rows, k, "access_requests.id", true, func(r RequestListing) Cursor {
		return Cursor{Value: r.sortValue(k.Sort.Name), ID: strconv.FormatInt(r.ID, 10)}
	})
	if err != nil {
		return page, n, fmt.Errorf("list requests: %w", err)
	}
	return page, n, nil
}

// sortValue is r's value of sort key name, as a cursor holds it.
func (r AccessRequest) sortValue(name string) string {
	switch name {
	case "workspace":
		return r.Workspace
	case "status":
		return string(r.Status)
	}
	return strconv.FormatInt(r.ID, 10)
}
