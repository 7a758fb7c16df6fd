package policy

import "testing"

// The most important table in the project: what each tier may do.
func TestAllowed(t *testing.T) {
	e, err := New()
	if err != nil {
		t.Fatal(err)
	}
	yes := map[Tier][]Permission{
		"engineer": {PortalEnter},
		"support":  {PortalEnter, WorkspaceMetaRead, RequestRead, RequestCreate, DeletionRequest},
		"senior":   {PortalEnter, WorkspaceMetaRead, RequestRead, RequestCreate, DeletionRequest, RequestApprove, TenantDataRead},
		"sysadmin": {PortalEnter, WorkspaceMetaRead, RequestRead, RequestCreate, DeletionRequest, RequestApprove, TenantDataRead, BreakglassUse, StaffManage, RetentionManage, AuditRead, GrantRevoke, AlertRead, AlertManage, IncidentRead, IncidentManage, ReviewRead},
		"auditor":  {PortalEnter, AuditRead, AlertRead, IncidentRead, ReviewRead},
		"":         {},
		"root":     {},
		"Sysadmin": {},
	}
	for tier, allowed := range yes {
		want := map[Permission]bool{}
		for _, p := range allowed {
			want[p] = true
		}
		for _, p := range All {
			if got := e.Allowed(tier, p); got != want[p] {
				t.Errorf("Allowed(%q, %v) = %v, want %v", tier, p, got, want[p])
			}
		}
		if e.Allowed(tier, Permission{}) {
			t.Errorf("Allowed(%q, zero permission) = true", tier)
		}
		if !e.Allowed(tier, Public) {
			t.Errorf("Allowed(%q, Public) = false", tier)
		}
	}
}

func TestConcurrentAllowed(t *testing.T) {
	e, err := New()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan bool)
	for i := 0; i < 8; i++ {
		go func() {
			for j := 0; j < 200; j++ {
				if e.Allowed("support", StaffManage) {
					t.Error("support may manage staff")
				}
			}
			done <- true
		}()
	}
	for i := 0; i < 8; i++ {
		<-done
	}
}
