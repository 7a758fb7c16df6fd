// Package policy holds Gatehouse's access policy: which tier may do what
// (casbin, from the embedded model.conf and policy.csv).
package policy

import (
	_ "embed"
	"errors"
	"fmt"

	"github.com/casbin/casbin/v2"
	"github.com/casbin/casbin/v2/model"
	stringadapter "github.com/casbin/casbin/v2/persist/string-adapter"
)

//go:embed model.conf
var modelConf string

//go:embed policy.csv
var policyCSV string

// ErrDenied is returned (wrapped) when the policy refuses an action.
var ErrDenied = errors.New("denied by policy")

// Permission is an object and an action on it, as named in policy.csv.
type Permission struct {
	Object string
	Action string
}

func (p Permission) String() string {
	if p == Public {
		return "public"
	}
	return p.Object + ":" + p.Action
}

// IsZero reports whether p names nothing; a route with a zero permission
// is a programming error and stops the server from starting.
func (p Permission) IsZero() bool { return p == Permission{} }

// The permissions. Routes name one of these; nothing else is checked.
var (
	// Public marks the few routes that need no session (login, health,
	// static files, the customer's consent link).
	Public = Permission{Object: "*", Action: "public"}

	PortalEnter       = Permission{"portal", "enter"}
	WorkspaceMetaRead = Permission{"workspace_meta", "read"}
	RequestRead       = Permission{"request", "read"}
	RequestCreate     = Permission{"request", "create"}
	RequestApprove    = Permission{"request", "approve"}
	TenantDataRead    = Permission{"tenant_data", "read"}
	BreakglassUse     = Permission{"breakglass", "use"}
	StaffManage       = Permission{"staff", "manage"}
	RetentionManage   = Permission{"retention", "manage"}
	DeletionRequest   = Permission{"deletion", "request"}
	AuditRead         = Permission{"audit", "read"}
	GrantRevoke       = Permission{"grant", "revoke"}
	AlertRead         = Permission{"alert", "read"}
	AlertManage       = Permission{"alert", "manage"}
	IncidentRead      = Permission{"incident", "read"}
	IncidentManage    = Permission{"incident", "manage"}
	ReviewRead        = Permission{"review", "read"}
)

// All lists every permission other than Public, for tests and for the
// start-up check that policy.csv grants nothing unknown.
var All = []Permission{
	PortalEnter, WorkspaceMetaRead, RequestRead, RequestCreate, RequestApprove,
	TenantDataRead, BreakglassUse, StaffManage, RetentionManage, AuditRead, GrantRevoke, DeletionRequest,
	AlertRead, AlertManage,
	IncidentRead, IncidentManage,
	ReviewRead,
}

// Enforcer answers "may this tier do that". It is safe for concurrent use.
type Enforcer struct {
	e *casbin.SyncedCachedEnforcer
}

// New builds the enforcer from the embedded policy and checks that the
// policy names only known tiers and permissions.
func New() (*Enforcer, error) {
	m, err := model.NewModelFromString(modelConf)
	if err != nil {
		return nil, fmt.Errorf("policy model: %w", err)
	}
	e, err := casbin.NewSyncedCachedEnforcer(m, stringadapter.NewAdapter(policyCSV))
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	known := map[Permission]bool{}
	for _, p := range All {
		known[p] = true
	}
	rules, err := e.GetPolicy()
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	for _, r := range rules {
		if len(r) != 3 || !Tier(r[0]).Valid() || !known[Permission{r[1], r[2]}] {
			return nil, fmt.Errorf("policy.csv: unknown rule %v", r)
		}
	}
	return &Enforcer{e: e}, nil
}

// Allowed reports whether tier holds permission p. Unknown tiers, errors
// and the zero permission are all refusals.
func (e *Enforcer) Allowed(tier Tier, p Permission) bool {
	if p == Public {
		return true
	}
	if !tier.Valid() || p.IsZero() {
		return false
	}
	ok, err := e.e.Enforce(string(tier), p.Object, p.Action)
	return err == nil && ok
}
