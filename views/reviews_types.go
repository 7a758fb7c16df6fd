package views

import "time"

// ReviewRow is one access review as lists show it.
type ReviewRow struct {
	ID        int64
	Period    string
	OpenedAt  time.Time
	DueAt     time.Time
	ClosedAt  *time.Time
	Rows      int64
	Certified int64
	// Overdue: open past its due time.
	Overdue bool
}

// ReviewStaffRow is one staff member's row of a review.
type ReviewStaffRow struct {
	ID               int64
	StaffID          int64
	Email            string
	Name             string
	Role             string
	Scope            string
	Status           string
	AgreementCurrent bool
	AgreementVersion string
	TrainingAt       *time.Time
	LastSignInAt     *time.Time
	LastDataAccessAt *time.Time
	Unused           bool
	Decision         string
	Note             string
	CertifiedBy      string
	CertifiedAt      *time.Time
	// Overdue: not certified and the review is past its due time.
	Overdue bool
	// CanCertify: the viewer may certify it (an active sysadmin who is not
	// its subject, and it is not certified yet).
	CanCertify bool
}

// ReviewListView is /reviews.
type ReviewListView struct {
	Reviews []ReviewRow
}

// ReviewView is one review's page: progress, the rows with their
// certification forms and the staff flagged as unused.
type ReviewView struct {
	Review ReviewRow
	Rows   []ReviewStaffRow
	Unused []ReviewStaffRow
	// StaffLinks: the viewer may open staff pages (staff:manage).
	StaffLinks bool
	// Done is the email of the row just certified.
	Done string
	// A refused certification: the row, what was sent and why.
	ErrorRow int64
	Decision string
	Note     string
	Errors   Errors
}

// ReviewSummary is the dashboard's part of the open access review: its
// progress, the overdue rows and the staff flagged as unused.
type ReviewSummary struct {
	Review  ReviewRow
	Overdue []ReviewStaffRow
	Unused  []ReviewStaffRow
}
