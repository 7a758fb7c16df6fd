package views

import "time"

// RequestRow is one access request in a list.
type RequestRow struct {
	ID                 int64
	Workspace, Name    string // slug and workspace name
	Requester, Grantee string // names
	Ticket, Status     string
	Duration           string
	Created            time.Time
	StatusNote         string        // e.g. "access open until"; StatusAt, if set, follows it
	StatusAt           *time.Time    // when set, the time that ends StatusNote
	NeedsYou           bool          // the viewer may approve it
	End                *GrantEndView // set once its grant has ended (Status "ended")
}

// GrantEndView is how a grant ended: how (a models.GrantEnd: expired,
// done, revoked, customer_revoked, offboarded, suspended, demoted,
// workspace_deleted, closed, ended), when, by whom and their note.
type GrantEndView struct {
	How  string
	At   time.Time
	By   string // "" when its time ran out
	Note string
}

// RequestListView is /requests: the viewer's own requests, those waiting
// for their approval, and (for seniors) every open request.
type RequestListView struct {
	Status    string // the filter, "" for all
	Statuses  []string
	Workspace string // the workspace filter (slug), "" for all
	Ticket    string // the ticket filter, "" for all
	Rows      []RequestRow
	Nav       ListNav
	Errors    Errors // a filter or page link that is not valid
	CanCreate bool
}

// Option is a value and label of a select.
type Option struct {
	Value, Label string
}

// RequestForm is the new-request form's values and choices.
type RequestForm struct {
	Workspace, WorkspaceName string
	Reason, Ticket           string
	Duration                 string   // "2h"
	Grantee                  string   // staff email
	Scope                    []string // chosen tables; none = whole workspace
	Records                  string   // record ids within the chosen tables, comma-separated; "" = all
	Mode                     string   // the access mode: masked, reveal or unmasked; "" = none chosen
	Durations                []Option // presets up to the maximum
	Grantees                 []Option // seniors with a current agreement, seniors before sysadmins
	Suggestions              []Option // workspaces (slug, name) the workspace field suggests, bounded
	Tables                   []Option // catalogued, non-restricted tables
	TicketHint               string   // e.g. "like SUP-1234"
	MaxDuration              string
	Errors                   Errors
}

// TimelineEntry is one state change of a request, from the audit log.
type TimelineEntry struct {
	At                time.Time
	Actor, What, Note string
}

// RequestView is /requests/{id}.
type RequestView struct {
	ID                  int64
	Workspace, Name     string
	Requester, Grantee  string // "Name (tier)"
	Reason, Ticket      string
	Scope               string // in plain words
	Mode                string // the access mode: masked, reveal or unmasked
	Duration            string
	Status              string // "ended" once its grant has ended
	Created             time.Time
	Expires             *time.Time // while pending or approved: until when it waits
	DecidedBy, Decision string     // "" until decided
	GrantID             int64
	GrantLive           bool
	GrantEnds           time.Time
	End                 *GrantEndView // set once the grant has ended
	Now                 time.Time
	Timeline            []TimelineEntry
	Viewed              []ViewedRow // what was viewed under the grant

	CanApprove, CanCancel, CanDone, CanRevoke bool
	Note                                      string // the note sent with the form NoteForm
	NoteForm                                  string // "" for the decision form, or cancel, done, revoke
	Kept                                      string // a notice: the note was kept across a step-up sign-in
	Errors                                    Errors
}

// ViewedRow is one view of tenant data under a grant, as staff and the
// customer see it.
type ViewedRow struct {
	At                  time.Time
	Who, Table, Records string
}

// ConsentView is the customer's page behind an emailed link.
type ConsentView struct {
	Token                string // only to post the form back to its own URL
	Company              string // the company asking, e.g. "Gatehouse Demo"
	Workspace, Name      string
	Recipient            string
	Grantee, GranteeTier string
	Requester            string
	Reason, Ticket       string
	Scope                string
	Mode                 string // the access mode: masked, reveal or unmasked
	Duration             string
	RequestStatus        string    // the request's state: "refused", "reported", "expired", …
	Granted, GrantLive   bool      // access was granted; it is still open
	GrantEnds            time.Time // when the grant ends
	Now                  time.Time
	DecideBy             time.Time // until when the link's owner may decide
	ShownHash            string
	CanDecide, CanRevoke bool
	Decided              *ConsentDecided // nil until decided
	Viewed               ViewedSummary
	Error                string
}

// ConsentDecided is who decided on a consent link, what, and when.
type ConsentDecided struct {
	By, Decision string // the owner's address; grant, deny or report
	At           time.Time
}

// MailRequest is the facts a request mail states.
type MailRequest struct {
	ID                   int64
	Workspace, Name      string
	Grantee, GranteeTier string
	Requester            string
	Reason, Ticket       string
	Scope                string
	Mode                 string // the access mode: masked, reveal or unmasked
	Duration             string
}

// ConsentMailView asks an owner to decide.
type ConsentMailView struct {
	Company, Recipient string
	Request            MailRequest
	Link               string
	ValidUntil         *time.Time // the request's consent deadline
}

// RequestUpdateMailView tells staff what happened to a request.
type RequestUpdateMailView struct {
	To       string // name
	Headline string // "Your request was approved"
	Body     string // one or two sentences
	Request  MailRequest
	Link     string
}

// ViewSummaryMailView tells an owner what was viewed under a grant.
type ViewSummaryMailView struct {
	Company, Recipient string
	Workspace, Name    string
	Grantee            string
	From, Until        time.Time
	Origin             string // "access request 12 (ticket SUP-1234)" or "emergency access (incident INC-7)"
	Viewed             ViewedSummary
}

// ModeOptions are the request form's access modes, narrowest first, in
// plain words.
var ModeOptions = []Option{
	{Value: "masked", Label: "Masked, no reveals: personal fields stay hidden and no field can be revealed."},
	{Value: "reveal", Label: "Masked, single reveals: a single field may be revealed, each time with a reason the customer sees."},
	{Value: "unmasked", Label: "Unmasked: names, email addresses and other personal fields are shown in full."},
}

// ModeWords tells the customer exactly what an access mode allows. An
// unknown mode promises nothing it cannot keep.
func ModeWords(mode string) string {
	switch mode {
	case "masked":
		return "Personal fields stay hidden; no field can be revealed."
	case "reveal":
		return "Personal fields stay hidden; a single field may be revealed, each time with a recorded reason you will see."
	case "unmasked":
		return "Personal fields are shown unmasked."
	}
	return "Not stated; ask us before you decide."
}

// modeLabel is an access mode in short words for staff.
func modeLabel(mode string) string {
	switch mode {
	case "masked":
		return "masked, no reveals"
	case "reveal":
		return "masked, single fields may be revealed with a recorded reason"
	case "unmasked":
		return "unmasked"
	}
	return "unknown (" + mode + ")"
}

// statusNote says where a request stands, with its dates.
func statusNote(v RequestView) string {
	switch {
	case v.GrantID != 0 && v.GrantLive:
		return "Access is open until " + when(v.GrantEnds) + "."
	case v.End != nil:
		return "Access has ended: " + endSentence(*v.End)
	case v.Status == "pending" && v.Expires != nil:
		return "Waiting for a senior who is neither the requester nor the grantee. Expires " + minute(v.Expires) + "."
	case v.Status == "approved" && v.Expires != nil:
		return "Approved; waiting for the customer's consent until " + minute(v.Expires) + "."
	}
	return ""
}

// noGrantText says why a request has no grant, by its status.
func noGrantText(status string) string {
	switch status {
	case "pending":
		return "No grant yet. If a senior approves the request, the workspace's owners are asked; access starts when one of them consents."
	case "approved":
		return "No grant yet. It starts when a workspace owner consents."
	case "refused":
		return "No grant: the customer refused access."
	case "reported":
		return "No grant: the customer refused access and reported the request as suspicious."
	case "denied":
		return "No grant: a senior denied the request."
	case "cancelled":
		return "No grant: the requester cancelled the request."
	case "expired":
		return "No grant: the request expired before it was decided."
	}
	return "No grant."
}

// endWords says how a grant ended, in a few words.
func endWords(how string) string {
	switch how {
	case "expired":
		return "expired"
	case "done":
		return "grantee done"
	case "revoked":
		return "revoked by a sysadmin"
	case "customer_revoked":
		return "revoked by the customer"
	case "offboarded":
		return "grantee offboarded"
	case "suspended":
		return "grantee suspended"
	case "demoted":
		return "grantee's tier changed"
	case "workspace_deleted":
		return "workspace deleted"
	case "closed":
		return "closed early"
	}
	return "ended"
}

// endSentence says how, when and by whom a grant ended.
func endSentence(e GrantEndView) string {
	s := endWords(e.How) + ", " + when(e.At)
	if e.By != "" {
		s += ", by " + e.By
	}
	return s + "."
}

// rowStatusNote is a list row's status note with its time.
func rowStatusNote(r RequestRow) string {
	if r.StatusAt == nil {
		return r.StatusNote
	}
	return r.StatusNote + " " + minute(r.StatusAt)
}

// consentStatus says in plain words where a request stands for the
// customer.
func consentStatus(v ConsentView) string {
	switch {
	case v.Granted && v.GrantLive:
		return "Access is open until " + when(v.GrantEnds) + ". You can revoke it at any time."
	case v.Granted:
		return "Access has ended."
	case v.CanDecide:
		return "Waiting for your decision until " + when(v.DecideBy) + "."
	}
	switch v.RequestStatus {
	case "refused":
		return "Access was refused."
	case "reported":
		return "Access was refused and the request reported as suspicious."
	case "expired":
		return "This request expired without a decision."
	}
	return "This request can no longer be decided."
}

// decidedText says who decided what and when.
func decidedText(d ConsentDecided) string {
	return d.By + " chose to " + d.Decision + " on " + when(d.At) + "."
}
