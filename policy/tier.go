package policy

import "slices"

// Tier is a staff member's access tier; policy.csv says what each may do.
// Staff.Tier may also name a custom role: Valid means built-in, and the
// guards ask a Roles snapshot, which knows both. The methods below give
// the built-in tiers' answers, which Roles must match (its tests check).
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

// MayHoldGrant reports whether a staff member of tier t may be the grantee
// of an access request's grant, masked or unmasked: only those who may read
// tenant data (seniors and sysadmins). Asking for a grant, checking a
// grantee, listing grantees and ending grants on a tier change all use it.
func (t Tier) MayHoldGrant() bool { return t == TierSenior || t == TierSysadmin }

// MayBreakGlass reports whether a staff member of tier t may open a
// break-glass, and so hold a break-glass grant: sysadmins only.
func (t Tier) MayBreakGlass() bool { return t == TierSysadmin }

// GranteeTiers are the tiers that may hold a grant (see MayHoldGrant).
func GranteeTiers() []Tier {
	var out []Tier
	for _, t := range Tiers {
		if t.MayHoldGrant() {
			out = append(out, t)
		}
	}
	return out
}

// MayApprove reports whether a staff member of tier t may approve or deny
// other people's access requests (request:approve): seniors and sysadmins.
// Deciding, telling approvers of a new request and counting the requests
// that wait for someone all use it.
func (t Tier) MayApprove() bool { return t == TierSenior || t == TierSysadmin }

// ApproverTiers are the tiers that may decide requests (see MayApprove).
func ApproverTiers() []Tier {
	var out []Tier
	for _, t := range Tiers {
		if t.MayApprove() {
			out = append(out, t)
		}
	}
	return out
}
