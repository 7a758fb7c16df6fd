package views

import "time"

// ProposalRow is one proposed policy change as lists show it, in the
// words of its kind.
type ProposalRow struct {
	ID         int64
	Kind       string
	Subject    string
	Change     string // what it changes, e.g. "Tier"
	Before     string
	After      string
	Reason     string
	Proposer   string
	ProposedAt time.Time
	Status     string
	Decider    string
	DecidedAt  *time.Time
	Note       string
}

// ProposalListView is /proposals: the pending proposals, oldest first,
// then the recently decided ones.
type ProposalListView struct {
	Pending      []ProposalRow
	PendingCount int64
	Decided      []ProposalRow
}

// ProposalView is one proposal's page, with the steps the viewer may
// take: a sysadmin other than the proposer approves or rejects, the
// proposer withdraws.
type ProposalView struct {
	Row                    ProposalRow
	Done                   string
	CanDecide, CanWithdraw bool
	Own                    bool // the viewer proposed it
	Fresh                  bool // approving needs no new sign-in now
	Note                   string
	Errors                 Errors
}
