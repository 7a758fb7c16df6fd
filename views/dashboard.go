package views

import "time"

// needsAnything reports whether anything waits for the viewer.
func (v DashboardView) needsAnything() bool {
	return len(v.ToDecide)+len(v.Reported)+len(v.Unreviewed)+len(v.DeletionsDue)+len(v.Live) > 0
}

// overdue reports whether something due at due was due before today
// (UTC): due today is on time, due yesterday is late.
func overdue(due, now time.Time) bool {
	y, m, d := now.UTC().Date()
	return due.Before(time.Date(y, m, d, 0, 0, 0, 0, time.UTC))
}

// canWords says in plain words what a permission ("object:action") lets
// its holder do; "" for one not worth a line (entering the portal).
func canWords(code string) string {
	switch code {
	case "portal:enter":
		return ""
	case "workspace_meta:read":
		return "Look up customer workspaces: name, plan, subscription, members and last activity."
	case "request:read":
		return "Follow access requests and where each stands."
	case "request:create":
		return "Ask for access to a customer's data, with a ticket and a reason."
	case "request:approve":
		return "Approve or deny other people's access requests (never one you asked for or would hold)."
	case "tenant_data:read":
		return "Read a customer's data while you hold a grant the customer consented to."
	case "grant:revoke":
		return "End anyone's access to customer data at once."
	case "breakglass:use":
		return "Open emergency (break-glass) access for an incident, and review other sysadmins' uses."
	case "staff:manage":
		return "Add staff, change tiers, record agreements and training, offboard leavers."
	case "retention:manage":
		return "Place and lift legal holds, and confirm deletions that are due."
	case "deletion:request":
		return "Record a customer's request to delete their workspace."
	case "audit:read":
		return "Read, search, export and verify the audit log."
	case "alert:read":
		return "See the alerts the detection rules raise about unusual staff activity, with their evidence."
	case "alert:manage":
		return "Acknowledge and resolve alerts, with a note."
	case "incident:read":
		return "Follow security incidents: the affected workspaces, the notices sent and the containment."
	case "review:read":
		return "Read the periodic access reviews and export a finished one as evidence."
	case "incident:manage":
		return "Run a security incident: find the affected workspaces, write the notice to their owners (sent once a second sysadmin approves), and end sessions and grants."
	}
	return code
}
