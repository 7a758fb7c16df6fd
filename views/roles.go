package views

// RoleRow is one role as the roles pages show it.
type RoleRow struct {
	Name        string
	Description string
	BuiltIn     bool     // one of the tiers of policy.csv, changed only there
	Permissions []string // "object:action" codes, in catalogue order
	Scope       string   // the workspaces its holders may touch; "" for all
	Holders     int64    // active staff holding it
}

// RoleForm is what the create or change form sent, or the role's values.
type RoleForm struct {
	Name        string
	Description string
	Permissions []string // "object:action" codes
	Scope       string
	Reason      string // why the change is proposed
}

// RoleListView is the roles page: every role, and the form for a new one.
type RoleListView struct {
	Roles       []RoleRow
	Catalogue   []string // every permission a role may hold, as codes
	Form        RoleForm
	Errors      Errors
	CanCreate   bool
	Fresh       bool // signed in recently enough to create without a new sign-in
	Description int  // the longest description accepted
}

// RoleView is one role's page: what it may do and who holds it.
type RoleView struct {
	Role        RoleRow
	Holders     []StaffRow
	Catalogue   []string
	Form        RoleForm
	Errors      Errors
	Done        string // "created" or "changed" after a change
	CanChange   bool
	Fresh       bool
	Description int
	// DeleteReason is what a refused deletion's form sent.
	DeleteReason string
}

// permissionWords says what holding a permission lets someone do; the
// dashboard's words, with the one the dashboard leaves unsaid.
func permissionWords(code string) string {
	if code == "portal:enter" {
		return "Sign in to the portal and see their own dashboard."
	}
	return canWords(code)
}

// roleDone is the confirmation line after a role change.
func roleDone(done string) string {
	switch done {
	case "created":
		return "Role created. Give it to staff on their page."
	case "changed":
		return "Role changed. It applies from its holders' next request; access it no longer allows has ended."
	}
	return ""
}

// roleFormFields are the role form's fields, in page order.
var roleFormFields = []FieldRef{{Key: "name", ID: "role-name"}, {Key: "description", ID: "role-description"}, {Key: "permissions", ID: "role-permissions"}, {Key: "scope", ID: "role-scope"}, {Key: "reason", ID: "role-reason"}, {Key: "delete-reason", ID: "role-delete-reason"}}
