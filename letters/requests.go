package letters

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"gatehouse/models"
	"gatehouse/policy"
	"gatehouse/views"

	"gorm.io/gorm"
)

func (l Letters) consentRequest(ctx context.Context, tx *gorm.DB, n models.ConsentRequestNotice) (models.Mail, error) {
	mr, err := RequestFacts(ctx, tx, n.Request, n.Name)
	if err != nil {
		return models.Mail{}, err
	}
	v := views.ConsentMailView{
		Company: l.company, Recipient: n.Owner, Request: mr,
		Link: l.link("/consent/", n.Token), ValidUntil: n.Request.ConsentDeadline,
	}
	return mail(ctx, "consent.request", fmt.Sprintf("%s asks to see data in your workspace %s", l.company, mr.Name),
		views.ConsentMailText(v), views.ConsentMail(v))
}

// updates say what happened, for each event models tells staff of. The
// headline, also the mail's subject, takes the request's id and its
// workspace's name: a subject always names the workspace.
var updates = map[string][2]string{
	"approved":       {"Request %d on %s was approved", "A second senior approved it. The workspace owners have been asked for their consent; access starts only when one of them grants it."},
	"denied":         {"Request %d on %s was denied", "A senior denied it. Their note is on the request page."},
	"cancelled":      {"Request %d on %s was cancelled", "The requester withdrew it."},
	"expired":        {"Request %d on %s expired", "Nobody decided on it in time, so it has closed. Open a new request if access is still needed."},
	"consent grant":  {"Access granted for request %d on %s", "The customer granted access. It is open now for the approved duration."},
	"consent deny":   {"The customer refused request %d on %s", "The customer refused access. Nothing can be read."},
	"consent report": {"The customer reported request %d on %s as suspicious", "The customer refused access and reported the request as suspicious. The sysadmins have been told."},
	"expiring":       {"Access for request %d on %s ends in 15 minutes", "Finish your work, then press “I'm done” on the request page."},
	"ended":          {"Access for request %d on %s has ended", "The access has ended. The customer receives a summary of what was viewed."},
	"consent revoke": {"The customer revoked access for request %d on %s", "The customer ended the access. Nothing more can be read."},
}

func (l Letters) requestUpdate(ctx context.Context, tx *gorm.DB, n models.RequestUpdateNotice) (models.Mail, error) {
	text, ok := updates[n.Event]
	if !ok {
		text = [2]string{"Request %d on %s changed", "Its state is now: " + n.Event + "."}
	}
	return l.toStaff(ctx, tx, n.Request, n.Name, staffMail{
		kind: "request." + strings.ReplaceAll(n.Event, " ", "_"), to: n.To,
		headline: fmt.Sprintf(text[0], n.Request.ID, n.Name), body: text[1],
	})
}

func (l Letters) requestReported(ctx context.Context, tx *gorm.DB, n models.RequestReportedNotice) (models.Mail, error) {
	return l.toStaff(ctx, tx, n.Request, n.Name, staffMail{
		kind: "request.reported", to: n.To,
		headline: fmt.Sprintf("A customer reported request %d on %s as suspicious", n.Request.ID, n.Name),
		body:     "An owner of " + n.Name + " refused this request and reported it as suspicious. Please look into who asked and why.",
	})
}

// approvalNeeded asks someone who may decide a new request to approve or
// deny it before it expires.
func (l Letters) approvalNeeded(ctx context.Context, tx *gorm.DB, n models.ApprovalNeededNotice) (models.Mail, error) {
	return l.toStaff(ctx, tx, n.Request, n.Name, staffMail{
		kind: "request.approval", to: n.To,
		headline: fmt.Sprintf("Request %d on %s needs a decision", n.Request.ID, n.Name),
		body: "A new access request waits for a second senior. You may approve or deny it; if nobody decides by " +
			n.Request.ExpiresAt.UTC().Format("2006-01-02 15:04 UTC") + ", it expires. Check the reason and the ticket before you decide.",
	})
}

// staffMail is what a mail to staff about a request says.
type staffMail struct {
	kind           string
	to             models.Staff
	headline, body string
}

// toStaff writes m about r, whose workspace is called name.
func (l Letters) toStaff(ctx context.Context, tx *gorm.DB, r models.AccessRequest, name string, m staffMail) (models.Mail, error) {
	mr, err := RequestFacts(ctx, tx, r, name)
	if err != nil {
		return models.Mail{}, err
	}
	v := views.RequestUpdateMailView{
		To: m.to.Name, Headline: m.headline, Body: m.body, Request: mr,
		Link: l.link(fmt.Sprintf("/requests/%d", r.ID)),
	}
	return mail(ctx, m.kind, v.Headline, views.RequestUpdateMailText(v), views.RequestUpdateMail(v))
}

func (l Letters) viewSummary(ctx context.Context, tx *gorm.DB, n models.ViewSummaryNotice) (models.Mail, error) {
	g := n.Grant
	grantee, err := models.FindStaff(ctx, tx, g.GranteeID)
	if err != nil {
		return models.Mail{}, err
	}
	end := g.EndsAt
	if g.EndedAt != nil && g.EndedAt.Before(end) {
		end = *g.EndedAt
	}
	v := views.ViewSummaryMailView{
		Company: l.company, Recipient: n.Owner, Workspace: g.Workspace, Name: n.Name,
		Grantee: grantee.Name + " (" + tierWords(grantee.Tier) + ")", From: g.StartsAt, Until: end,
		Origin: origin(ctx, tx, g), Viewed: Viewed(n.Viewed, n.Reveals, 1),
	}
	return mail(ctx, "grant.summary", fmt.Sprintf("What %s staff viewed in %s", l.company, n.Name),
		views.ViewSummaryMailText(v), views.ViewSummaryMail(v))
}

// origin says what gave the access of g.
func origin(ctx context.Context, tx *gorm.DB, g models.Grant) string {
	switch {
	case g.BreakglassID != nil:
		return fmt.Sprintf("emergency access %d", *g.BreakglassID)
	case g.RequestID != nil:
		if r, err := models.FindRequest(ctx, tx, *g.RequestID); err == nil {
			return fmt.Sprintf("access request %d (ticket %s)", r.ID, r.Ticket)
		}
		return fmt.Sprintf("access request %d", *g.RequestID)
	}
	return fmt.Sprintf("grant %d", g.ID)
}

// RequestFacts is the facts about r that mails and pages state; name is
// its workspace's name. db may be a transaction.
func RequestFacts(ctx context.Context, db *gorm.DB, r models.AccessRequest, name string) (views.MailRequest, error) {
	grantee, err := models.FindStaff(ctx, db, r.GranteeID)
	if err != nil {
		return views.MailRequest{}, err
	}
	requester, err := models.FindStaff(ctx, db, r.RequesterID)
	if err != nil {
		return views.MailRequest{}, err
	}
	scope, err := r.Scope()
	if err != nil {
		return views.MailRequest{}, err
	}
	return views.MailRequest{
		ID: r.ID, Workspace: r.Workspace, Name: name,
		Grantee: grantee.Name, GranteeTier: tierWords(grantee.Tier), Requester: requester.Name,
		Reason: r.Reason, Ticket: r.Ticket, Scope: ScopeWords(scope), Mode: string(r.Mode),
		Duration: DurationWords(r.Duration()),
	}, nil
}

// SummaryIDs is how many record ids of each table a summary lists before
// "and K more"; its counts are always complete.
const SummaryIDs = 50

// Viewed shows what was viewed under a grant as the consent page and the
// owners' summary mail list it: every table with its first SummaryIDs
// record ids, and reveals, the reveals from position revealsFrom (from 1).
func Viewed(v models.GrantViewed, reveals []models.RevealSeen, revealsFrom int) views.ViewedSummary {
	out := views.ViewedSummary{Views: v.Views, Reveals: v.Reveals, Records: v.Records(), RevealsFrom: revealsFrom}
	for _, t := range v.Tables {
		out.Tables = append(out.Tables, views.ViewedTable{
			Table: t.Table, Who: strings.Join(t.Actors, ", "), Records: strings.Join(t.Records[:min(len(t.Records), SummaryIDs)], ","),
			RecordCount: len(t.Records), Views: t.Views, Listings: t.Listings, Reveals: t.Reveals, First: t.First, Last: t.Last,
		})
	}
	for _, r := range reveals {
		out.RevealRows = append(out.RevealRows, views.RevealRow{At: r.At, Who: r.Actor, Table: r.Table, Record: r.Record, Field: r.Field, Reason: r.Reason})
	}
	return out
}

// ViewedRows shows what was viewed under a grant as staff pages list it:
// one row per table, at its last view, with its first SummaryIDs record
// ids, then one row per reveal of reveals.
func ViewedRows(v models.GrantViewed, reveals []models.RevealSeen) []views.ViewedRow {
	var out []views.ViewedRow
	for _, t := range Viewed(v, nil, 1).Tables {
		records := "none"
		if t.Records != "" {
			records = views.CompactIDs(t.Records)
		}
		if n := t.MoreRecords(); n > 0 {
			records += fmt.Sprintf(" and %d more", n)
		}
		if t.Views == 1 {
			records += " (1 view)"
		} else {
			records += fmt.Sprintf(" (%d views)", t.Views)
		}
		out = append(out, views.ViewedRow{At: t.Last, Who: t.Who, Table: t.Table, Records: records})
	}
	for _, r := range reveals {
		out = append(out, views.ViewedRow{At: r.At, Who: r.Actor, Table: r.Table, Records: r.Record + " (revealed " + r.Field + ": " + r.Reason + ")"})
	}
	return out
}

// ScopeWords says in plain words what a scope covers.
func ScopeWords(s models.GrantScope) string {
	if s.Whole() {
		return "whole workspace"
	}
	var parts []string
	for t, ids := range s.Tables {
		if ids == nil {
			parts = append(parts, t)
			continue
		}
		var n []string
		for _, id := range ids {
			n = append(n, strconv.FormatInt(id, 10))
		}
		parts = append(parts, t+" ("+strings.Join(n, ", ")+")")
	}
	slices.Sort(parts)
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, "; ")
}

// DurationWords says a grant's duration in words: "1 hour", "8 hours",
// "30 minutes".
func DurationWords(d time.Duration) string {
	switch {
	case d%time.Hour == 0 && d == time.Hour:
		return "1 hour"
	case d%time.Hour == 0:
		return fmt.Sprintf("%d hours", d/time.Hour)
	default:
		return fmt.Sprintf("%d minutes", d/time.Minute)
	}
}

func tierWords(t policy.Tier) string {
	switch t {
	case policy.TierSenior:
		return "senior engineer"
	case policy.TierSysadmin:
		return "system administrator"
	}
	return string(t)
}
