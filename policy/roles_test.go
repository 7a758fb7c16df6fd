package policy

import (
	"slices"
	"strings"
	"testing"

	"github.com/casbin/casbin/v2"
	"github.com/casbin/casbin/v2/model"
	stringadapter "github.com/casbin/casbin/v2/persist/string-adapter"
)

var billing = RoleDef{Name: "billing-support", Description: "Billing questions.", Permissions: []Permission{WorkspaceMetaRead, PortalEnter}}

// The table of TestAllowed, through the role snapshot, with a custom role:
// the built-in tiers answer as policy.csv says, the custom role holds
// exactly its permissions, and unknown names hold nothing.
func TestRolesAllowed(t *testing.T) {
	e, err := New()
	if err != nil {
		t.Fatal(err)
	}
	greedy := RoleDef{Name: "greedy", Description: "Asks for too much.", Permissions: []Permission{PortalEnter, {"root", "everything"}}}
	noEntry := RoleDef{Name: "no-entry", Description: "Cannot sign in.", Permissions: []Permission{AuditRead}}
	shadow := RoleDef{Name: "auditor", Description: "A custom role may not redefine a tier.", Permissions: All}
	r := NewRoles(e, []RoleDef{billing, greedy, noEntry, shadow})
	yes := map[Tier][]Permission{
		"engineer":        {PortalEnter},
		"support":         {PortalEnter, WorkspaceMetaRead, RequestRead, RequestCreate, DeletionRequest},
		"senior":          {PortalEnter, WorkspaceMetaRead, RequestRead, RequestCreate, DeletionRequest, RequestApprove, TenantDataRead},
		"sysadmin":        All,
		"auditor":         {PortalEnter, AuditRead, AlertRead, IncidentRead, ReviewRead},
		"billing-support": {PortalEnter, WorkspaceMetaRead},
		"greedy":          {}, // refused as a whole: one unknown permission
		"no-entry":        {}, // refused: no portal:enter
		"":                {},
		"ghost":           {},
		"Billing-Support": {},
	}
	for role, allowed := range yes {
		for _, p := range All {
			if got, want := r.Allowed(role, p), slices.Contains(allowed, p); got != want {
				t.Errorf("Roles.Allowed(%q, %v) = %v, want %v", role, p, got, want)
			}
		}
		if r.Allowed(role, Permission{}) {
			t.Errorf("Roles.Allowed(%q, zero permission) = true", role)
		}
		if got, want := r.Known(role), role.Valid() || role == billing.Name; got != want {
			t.Errorf("Known(%q) = %v, want %v", role, got, want)
		}
	}
	if got, want := r.Names(), append(slices.Clone(Tiers), billing.Name); !slices.Equal(got, want) {
		t.Errorf("Names() = %v, want %v", got, want)
	}
	var nilRoles *Roles
	if nilRoles.Allowed(TierSysadmin, PortalEnter) || nilRoles.Known(TierSysadmin) {
		t.Error("a nil snapshot allows something")
	}
}

// For the built-in tiers the snapshot answers exactly as the Tier
// methods and the enforcer do, with or without custom roles.
func TestRolesMatchBuiltinTiers(t *testing.T) {
	e, err := New()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []*Roles{NewRoles(e, nil), NewRoles(e, []RoleDef{billing})} {
		for _, tier := range append(slices.Clone(Tiers), "", "root") {
			for _, p := range All {
				if got, want := r.Allowed(tier, p), e.Allowed(tier, p); got != want {
					t.Errorf("Roles.Allowed(%q, %v) = %v, enforcer says %v", tier, p, got, want)
				}
			}
			if r.MayHoldGrant(tier) != tier.MayHoldGrant() || r.MayBreakGlass(tier) != tier.MayBreakGlass() || r.MayApprove(tier) != tier.MayApprove() {
				t.Errorf("%q: the snapshot's May* differ from the tier's", tier)
			}
		}
		if got := r.Holding(TenantDataRead); !slices.Equal(got, GranteeTiers()) {
			t.Errorf("Holding(tenant_data:read) = %v, want %v", got, GranteeTiers())
		}
		if got := r.Holding(RequestApprove); !slices.Equal(got, ApproverTiers()) {
			t.Errorf("Holding(request:approve) = %v, want %v", got, ApproverTiers())
		}
	}
	// A custom role holding a permission is among those holding it.
	withData := RoleDef{Name: "data-reader", Description: "Reads data under a grant.", Permissions: []Permission{PortalEnter, TenantDataRead}}
	r := NewRoles(e, []RoleDef{billing, withData})
	if got, want := r.Holding(TenantDataRead), []Tier{TierSenior, TierSysadmin, "data-reader"}; !slices.Equal(got, want) {
		t.Errorf("Holding(tenant_data:read) = %v, want %v", got, want)
	}
	if !r.MayHoldGrant("data-reader") || r.MayHoldGrant(billing.Name) || r.MayBreakGlass("data-reader") || r.MayApprove("data-reader") {
		t.Error("data-reader's May* do not follow its permissions")
	}
}

// enforcerFrom builds an enforcer from policy text, for a sysadmin who
// holds less than the real one.
func enforcerFrom(t *testing.T, text string) *Enforcer {
	t.Helper()
	m, err := model.NewModelFromString(modelConf)
	if err != nil {
		t.Fatal(err)
	}
	e, err := casbin.NewSyncedCachedEnforcer(m, stringadapter.NewAdapter(text))
	if err != nil {
		t.Fatal(err)
	}
	return &Enforcer{e: e}
}

func TestCheckRole(t *testing.T) {
	e, err := New()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		def   RoleDef
		field string // "" when valid
		want  string // part of the message
	}{
		{"valid", billing, "", ""},
		{"repeats and order do not matter", RoleDef{Name: "abc", Description: "x", Permissions: []Permission{WorkspaceMetaRead, PortalEnter, PortalEnter}}, "", ""},
		{"built-in name", RoleDef{Name: "sysadmin", Description: "x", Permissions: []Permission{PortalEnter}}, "name", "built-in"},
		{"upper case", RoleDef{Name: "Billing", Description: "x", Permissions: []Permission{PortalEnter}}, "name", "lower-case"},
		{"too short", RoleDef{Name: "ab", Description: "x", Permissions: []Permission{PortalEnter}}, "name", "3 to 40"},
		{"too long", RoleDef{Name: Tier("a" + strings.Repeat("b", 40)), Description: "x", Permissions: []Permission{PortalEnter}}, "name", "3 to 40"},
		{"leading digit", RoleDef{Name: "1abc", Description: "x", Permissions: []Permission{PortalEnter}}, "name", "starting with a letter"},
		{"no description", RoleDef{Name: "abc", Description: "  ", Permissions: []Permission{PortalEnter}}, "description", "what the role is for"},
		{"long description", RoleDef{Name: "abc", Description: strings.Repeat("d", MaxRoleDescription+1), Permissions: []Permission{PortalEnter}}, "description", "what the role is for"},
		{"unknown permission", RoleDef{Name: "abc", Description: "x", Permissions: []Permission{PortalEnter, {"root", "everything"}}}, "permissions", "root:everything is not a permission"},
		{"public is no permission", RoleDef{Name: "abc", Description: "x", Permissions: []Permission{PortalEnter, Public}}, "permissions", "not a permission"},
		{"no portal:enter", RoleDef{Name: "abc", Description: "x", Permissions: []Permission{AuditRead}}, "permissions", "portal:enter"},
		{"nothing at all", RoleDef{Name: "abc", Description: "x"}, "permissions", "portal:enter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := e.CheckRole(tt.def)
			if tt.field == "" {
				if len(errs) > 0 {
					t.Fatalf("CheckRole = %v, want no errors", errs)
				}
				return
			}
			if got := errs[tt.field]; !strings.Contains(got, tt.want) {
				t.Errorf("CheckRole()[%q] = %q, want it to contain %q (all: %v)", tt.field, got, tt.want, errs)
			}
		})
	}
	// Against a policy whose sysadmin may not read the audit log, a role
	// asking for it is refused: more than a sysadmin has.
	weak := enforcerFrom(t, "p, sysadmin, portal, enter\np, sysadmin, staff, manage\n")
	errs := weak.CheckRole(RoleDef{Name: "snoop", Description: "x", Permissions: []Permission{PortalEnter, AuditRead}})
	if !strings.Contains(errs["permissions"], "more than a sysadmin") {
		t.Errorf("a role above the sysadmin: %v, want refused on permissions", errs)
	}
	if NewRoles(weak, []RoleDef{{Name: "snoop", Description: "x", Permissions: []Permission{PortalEnter, AuditRead}}}).Allowed("snoop", PortalEnter) {
		t.Error("a stored role above the sysadmin holds something")
	}
}

func TestPermissionsRoundTrip(t *testing.T) {
	text := FormatPermissions([]Permission{WorkspaceMetaRead, PortalEnter, WorkspaceMetaRead})
	if text != "portal:enter,workspace_meta:read" {
		t.Errorf("FormatPermissions = %q", text)
	}
	got, err := ParsePermissions(text)
	if err != nil || !slices.Equal(got, []Permission{PortalEnter, WorkspaceMetaRead}) {
		t.Errorf("ParsePermissions(%q) = %v, %v", text, got, err)
	}
	if _, err := ParsePermissions("portal:enter,root:everything"); err == nil {
		t.Error("an unknown permission parsed")
	}
	if got, err := ParsePermissions(""); err != nil || len(got) != 0 {
		t.Errorf("ParsePermissions(\"\") = %v, %v", got, err)
	}
}

// TestRoleScopes: a custom role's scope limits its holders; built-in
// tiers have none; an unknown role and a role with a bad scope admit
// nothing (the latter is refused as a whole, like a bad permission).
func TestRoleScopes(t *testing.T) {
	e, err := New()
	if err != nil {
		t.Fatal(err)
	}
	eu := RoleDef{Name: "eu-billing", Description: "Billing, EU.", Permissions: []Permission{PortalEnter, WorkspaceMetaRead}, Scope: " region=eu "}
	bad := RoleDef{Name: "bad-scope", Description: "Bad scope.", Permissions: []Permission{PortalEnter}, Scope: "region=EU"}
	if errs := e.CheckRole(bad); errs["scope"] == "" {
		t.Errorf("CheckRole(bad scope) = %v, want a message on scope", errs)
	}
	if got := eu.Normalized().Scope; got != "region=eu" {
		t.Errorf("Normalized scope = %q, want region=eu", got)
	}
	r := NewRoles(e, []RoleDef{eu, bad})
	euWS, usWS := map[string]string{"region": "eu", "plan": "team"}, map[string]string{"region": "us", "plan": "team"}
	cases := []struct {
		role   Tier
		eu, us bool
	}{
		{TierSysadmin, true, true},
		{TierSupport, true, true},
		{"eu-billing", true, false},
		{"bad-scope", false, false},
		{"ghost", false, false},
	}
	for _, c := range cases {
		sc := r.Scope(c.role)
		if sc.Admits(euWS) != c.eu || sc.Admits(usWS) != c.us {
			t.Errorf("Scope(%q) admits eu %v, us %v; want %v, %v", c.role, sc.Admits(euWS), sc.Admits(usWS), c.eu, c.us)
		}
	}
	// A person's own scope and the role's together.
	own, err := ParseScope("region=eu,us plan=team")
	if err != nil {
		t.Fatal(err)
	}
	both := own.And(r.Scope("eu-billing"))
	if !both.Admits(euWS) || both.Admits(usWS) {
		t.Errorf("own ∧ role = %q, want eu only", both)
	}
}
