package handlers

import (
	"context"
	"fmt"
	"strings"

	"gatehouse/models"
	"gatehouse/views"

	"github.com/a-h/templ"
	"gorm.io/gorm"
)

// letters renders the request workflow's mails (models.Letters) with the
// views' mail components. The models call it inside their transactions,
// so it reads the portal's database only through the transaction it is
// given and never the product database: the workspace names it needs are
// looked up before the transaction starts (names).
type letters struct {
	h     *Handler
	names map[string]string // workspace slug → name
}

// letters returns the mail writer for a workflow step on the workspaces
// slugs, reading their names now.
func (h *Handler) letters(ctx context.Context, slugs ...string) (letters, error) {
	l := letters{h: h, names: map[string]string{}}
	for _, slug := range slugs {
		ws, err := models.FindWorkspace(ctx, h.product, slug)
		if err != nil {
			return l, err
		}
		l.names[slug] = ws.Name
	}
	return l, nil
}

// name is a workspace's name, or its slug when it was not looked up.
func (l letters) name(slug string) string {
	if n, ok := l.names[slug]; ok {
		return n
	}
	return slug
}

// mailRequest is the facts about r that mails and pages state; name is
// the workspace's name.
func (h *Handler) mailRequest(ctx context.Context, db *gorm.DB, r models.AccessRequest, name string) (views.MailRequest, error) {
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
		Reason: r.Reason, Ticket: r.Ticket, Scope: scopeWords(scope), Unmask: r.Unmask,
		Duration: humanDuration(r.Duration()),
	}, nil
}

func tierWords(t models.Tier) string {
	switch t {
	case models.TierSenior:
		return "senior engineer"
	case models.TierSysadmin:
		return "system administrator"
	}
	return string(t)
}

func (l letters) ConsentRequest(ctx context.Context, tx *gorm.DB, r models.AccessRequest, owner, token string) (models.Mail, error) {
	mr, err := l.h.mailRequest(ctx, tx, r, l.name(r.Workspace))
	if err != nil {
		return models.Mail{}, err
	}
	v := views.ConsentMailView{
		Company: l.h.company, Recipient: owner, Request: mr,
		Link: l.h.baseURL.JoinPath("/consent/", token).String(), ValidUntil: minuteUTC(r.ConsentDeadline),
	}
	return l.mail(ctx, "consent.request", owner,
		fmt.Sprintf("%s asks to see data in your workspace %s", l.h.company, mr.Name),
		views.ConsentMailText(v), views.ConsentMail(v))
}

// updates say what happened, for each event notifyStaff passes.
var updates = map[string][2]string{
	"approved":       {"Request %d was approved", "A second senior approved it. The workspace owners have been asked for their consent; access starts only when one of them grants it."},
	"denied":         {"Request %d was denied", "A senior denied it. Their note is on the request page."},
	"cancelled":      {"Request %d was cancelled", "The requester withdrew it."},
	"expired":        {"Request %d expired", "Nobody decided on it in time, so it has closed. Open a new request if access is still needed."},
	"consent grant":  {"Access granted for request %d", "The customer granted access. It is open now for the approved duration."},
	"consent deny":   {"The customer refused request %d", "The customer refused access. Nothing can be read."},
	"consent report": {"The customer reported request %d as suspicious", "The customer refused access and reported the request as suspicious. The sysadmins have been told."},
	"expiring":       {"Access for request %d ends in 15 minutes", "Finish your work, then press “I'm done” on the request page."},
	"ended":          {"Access for request %d has ended", "The access has ended. The customer receives a summary of what was viewed."},
	"consent revoke": {"The customer revoked access for request %d", "The customer ended the access. Nothing more can be read."},
}

func (l letters) RequestUpdate(ctx context.Context, tx *gorm.DB, r models.AccessRequest, to models.Staff, event string) (models.Mail, error) {
	mr, err := l.h.mailRequest(ctx, tx, r, l.name(r.Workspace))
	if err != nil {
		return models.Mail{}, err
	}
	text, ok := updates[event]
	if !ok {
		text = [2]string{"Request %d changed", "Its state is now: " + event + "."}
	}
	v := views.RequestUpdateMailView{
		To: to.Name, Headline: fmt.Sprintf(text[0], r.ID), Body: text[1], Request: mr,
		Link: l.h.baseURL.JoinPath(fmt.Sprintf("/requests/%d", r.ID)).String(),
	}
	return l.mail(ctx, "request."+strings.ReplaceAll(event, " ", "_"), to.Email, v.Headline, views.RequestUpdateMailText(v), views.RequestUpdateMail(v))
}

func (l letters) ViewSummary(ctx context.Context, tx *gorm.DB, g models.Grant, owner string, viewed []models.AuditEvent) (models.Mail, error) {
	grantee, err := models.FindStaff(ctx, tx, g.GranteeID)
	if err != nil {
		return models.Mail{}, err
	}
	name := l.name(g.Workspace)
	end := g.EndsAt
	if g.EndedAt != nil && g.EndedAt.Before(end) {
		end = *g.EndedAt
	}
	v := views.ViewSummaryMailView{
		Company: l.h.company, Recipient: owner, Workspace: g.Workspace, Name: name,
		Grantee: grantee.Name + " (" + tierWords(grantee.Tier) + ")", From: minuteUTC(&g.StartsAt), Until: minuteUTC(&end),
		Origin: grantOrigin(g),
	}
	if g.RequestID != nil {
		if r, err := models.FindRequest(ctx, tx, *g.RequestID); err == nil {
			v.Origin = fmt.Sprintf("access request %d (ticket %s)", r.ID, r.Ticket)
		}
	}
	if g.BreakglassID != nil {
		v.Origin = fmt.Sprintf("emergency access %d", *g.BreakglassID)
	}
	v.Viewed = viewedRows(viewed)
	return l.mail(ctx, "grant.summary", owner, fmt.Sprintf("What %s staff viewed in %s", l.h.company, name), views.ViewSummaryMailText(v), views.ViewSummaryMail(v))
}

// reportMails alert every active sysadmin that a customer reported r.
func (h *Handler) reportMails(ctx context.Context, l letters) func(tx *gorm.DB, r models.AccessRequest) ([]models.Mail, error) {
	return func(tx *gorm.DB, r models.AccessRequest) ([]models.Mail, error) {
		admins, err := models.ActiveStaffOfTier(ctx, tx, models.TierSysadmin)
		if err != nil {
			return nil, err
		}
		mr, err := h.mailRequest(ctx, tx, r, l.name(r.Workspace))
		if err != nil {
			return nil, err
		}
		var out []models.Mail
		for _, a := range admins {
			v := views.RequestUpdateMailView{
				To: a.Name, Headline: fmt.Sprintf("A customer reported request %d as suspicious", r.ID),
				Body:    "An owner of " + mr.Name + " refused this request and reported it as suspicious. Please look into who asked and why.",
				Request: mr, Link: h.baseURL.JoinPath(fmt.Sprintf("/requests/%d", r.ID)).String(),
			}
			m, err := l.mail(ctx, "request.reported", a.Email, v.Headline, views.RequestUpdateMailText(v), views.RequestUpdateMail(v))
			if err != nil {
				return nil, err
			}
			m.Workspace, m.RequestID = r.Workspace, &r.ID
			out = append(out, m)
		}
		return out, nil
	}
}

func (l letters) mail(ctx context.Context, kind, to, subject, text string, html templ.Component) (models.Mail, error) {
	body, err := views.RenderMail(ctx, html)
	if err != nil {
		return models.Mail{}, fmt.Errorf("render %s mail: %w", kind, err)
	}
	return models.Mail{Kind: kind, To: to, Subject: subject, Text: text, HTML: body}, nil
}
