package models

import (
	"context"
	"fmt"

	"gorm.io/gorm"
)

// The security epoch is one number, in the security_epoch table, that
// moves with every audited change of consequence, in the transaction that
// records it: appendEventsLocked bumps it for every event whose action is
// not in readOnlyActions. So every change that ends access — a grant
// revoked, done, expired or ended, a staff member suspended, offboarded or
// given another tier, a sign-out, a workspace deleted — moves it without
// its author having to remember to, and a new action moves it until it is
// listed as read-only here (deny by default).
//
// What a replica caches about access (AccessCache) is used only while the
// epoch is the one it was read under; and the audit writer, once it holds
// the chain head, reads the epoch again and re-checks against the
// database the views whose access was checked under an older one.

// readOnlyActions are the actions that change nothing anyone may do:
// views, refusals, reveals (a view of one field), pages shown, exports
// and mail.
var readOnlyActions = map[Action]bool{
	ActionDataViewed:          true,
	ActionDataRefused:         true,
	ActionFieldRevealed:       true,
	ActionConsentShown:        true,
	ActionDeletionShown:       true,
	ActionBreakglassLinkShown: true,
	ActionIncidentNoticeShown: true,
	// A report changes no access, and a month's thousands of them must
	// not empty every replica's access cache.
	ActionTransparencyReported: true,
	ActionTransparencyShown:    true,
	ActionAuditExported:        true,
	// An access review opened or exported changes nobody's access (an
	// offboarding decided in one is its own event).
	ActionReviewOpened:   true,
	ActionReviewExported: true,
	ActionLoginRefused:   true,
	ActionMailSent:       true,
	ActionMailFailed:     true,
}

// movesEpoch reports whether recording evs moves the security epoch.
func movesEpoch(evs []AuditEvent) bool {
	for i := range evs {
		if !readOnlyActions[evs[i].Action] {
			return true
		}
	}
	return false
}

const epochQuery = "SELECT epoch FROM security_epoch WHERE id = 1"

// SecurityEpoch reads the security epoch: one indexed row.
func SecurityEpoch(ctx context.Context, db *gorm.DB) (int64, error) {
	var e int64
	if err := db.WithContext(ctx).Raw(epochQuery).Row().Scan(&e); err != nil {
		return 0, fmt.Errorf("security epoch: %w", err)
	}
	return e, nil
}

// bumpEpoch moves the security epoch inside tx, the transaction that
// records the change.
func bumpEpoch(tx *gorm.DB) error {
	if err := tx.Exec("UPDATE security_epoch SET epoch = epoch + 1 WHERE id = 1").Error; err != nil {
		return fmt.Errorf("security epoch: %w", err)
	}
	return nil
}
