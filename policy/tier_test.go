package policy

import (
	"slices"
	"testing"
)

// The tier rules for grants are plain Go, used where no enforcer is at
// hand (models); they must say what policy.csv says.
func TestTierRulesMatchPolicy(t *testing.T) {
	e, err := New()
	if err != nil {
		t.Fatal(err)
	}
	for _, tier := range append(slices.Clone(Tiers), "", "root") {
		if got, want := tier.MayHoldGrant(), e.Allowed(tier, TenantDataRead); got != want {
			t.Errorf("%q.MayHoldGrant() = %v, but tenant_data:read is %v", tier, got, want)
		}
		if got, want := tier.MayBreakGlass(), e.Allowed(tier, BreakglassUse); got != want {
			t.Errorf("%q.MayBreakGlass() = %v, but breakglass:use is %v", tier, got, want)
		}
		if got, want := tier.MayApprove(), e.Allowed(tier, RequestApprove); got != want {
			t.Errorf("%q.MayApprove() = %v, but request:approve is %v", tier, got, want)
		}
	}
	if got := GranteeTiers(); len(got) != 2 || got[0] != TierSenior || got[1] != TierSysadmin {
		t.Errorf("GranteeTiers() = %v, want [senior sysadmin]", got)
	}
	if got := ApproverTiers(); !slices.Equal(got, []Tier{TierSenior, TierSysadmin}) {
		t.Errorf("ApproverTiers() = %v, want [senior sysadmin]", got)
	}
}
