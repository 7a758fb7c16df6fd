package models

import (
	"context"
	"fmt"

	"gorm.io/gorm"
)

// AuditLinks is what the audit log page needs to link a page of events
// to the people and access requests they name.
type AuditLinks struct {
	StaffIDs        map[string]int64 // staff id by email
	GrantRequestIDs map[int64]int64  // access request id by grant id, for grants from a request
}

// FindAuditLinks looks up, in two queries, the staff ids of emails and the
// access requests of grants.
func FindAuditLinks(ctx context.Context, db *gorm.DB, emails []string, grants []int64) (AuditLinks, error) {
	l := AuditLinks{StaffIDs: map[string]int64{}, GrantRequestIDs: map[int64]int64{}}
	if len(emails) > 0 {
		var staff []Staff
		if err := db.WithContext(ctx).Select("id", "email").Where("email IN ?", emails).Find(&staff).Error; err != nil {
			return l, fmt.Errorf("staff of audit events: %w", err)
		}
		for _, s := range staff {
			l.StaffIDs[s.Email] = s.ID
		}
	}
	if len(grants) > 0 {
		var gs []Grant
		if err := db.WithContext(ctx).Select("id", "request_id").Where("id IN ? AND request_id IS NOT NULL", grants).Find(&gs).Error; err != nil {
			return l, fmt.Errorf("grants of audit events: %w", err)
		}
		for _, g := range gs {
			l.GrantRequestIDs[g.ID] = *g.RequestID
		}
	}
	return l, nil
}
