package policy

import "slices"

// Tier is a staff member's access tier; policy.csv says what each may do.
type Tier string

// The tiers.
const (
	TierEngineer Tier = "engineer"
	TierSupport  Tier = "support"
	TierSenior   Tier = "senior"
	TierSysadmin Tier = "sysadmin"
	TierAuditor  Tier = "auditor"
)

// Tiers are the staff tiers, lowest first.
var Tiers = []Tier{TierEngineer, TierSupport, TierSenior, TierSysadmin, TierAuditor}

// Valid reports whether t is one of Tiers.
func (t Tier) Valid() bool { return slices.Contains(Tiers, t) }
