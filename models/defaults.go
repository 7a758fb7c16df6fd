package models

import (
	"regexp"
	"time"
)

// The defaults of the settings an installation may leave out, in one
// place: cmd/gatehouse applies them to its configuration (and tests to
// theirs), and handlers.New refuses options without a value.
// DefaultRetentionPolicy sits beside the retention rules it fills.
const (
	// DefaultStepUpWindow is how recent a sign-in must be for a tier
	// change, a reactivation, an offboarding or a break-glass.
	DefaultStepUpWindow = 15 * time.Minute
	// DefaultBreakglassWindow is how long a break-glass stays open.
	DefaultBreakglassWindow = time.Hour
	// DefaultCompany is the company's name as customers read it.
	DefaultCompany = "Gatehouse"
)

// DefaultSessionLimits end a session after 30 idle minutes and 12 hours
// in all.
func DefaultSessionLimits() SessionLimits {
	return SessionLimits{Idle: 30 * time.Minute, Absolute: 12 * time.Hour}
}

// DefaultRequestPolicy is the access-request policy's defaults for the
// confidentiality agreement version agreement and training that counts for
// DefaultTrainingValidFor.
func DefaultRequestPolicy(agreement string) RequestPolicy {
	return RequestPolicy{
		Ticket:      regexp.MustCompile(`^[A-Z][A-Z0-9]{1,9}-[0-9]{1,8}$`),
		MaxDuration: 72 * time.Hour,
		PendingFor:  24 * time.Hour,
		ConsentFor:  72 * time.Hour,
		Clearance:   DefaultClearance(agreement),
	}
}
