// Package letters writes Gatehouse's mails: it turns the notices models
// sends (models.Letters) into mails with the views' mail components, and
// states a request's facts the same way for the pages that show them.
package letters

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"gatehouse/models"
	"gatehouse/views"

	"github.com/a-h/templ"
	"gorm.io/gorm"
)

// Letters writes the mails of models' notices. It reads the portal's
// database only through the transaction it is given, and never the
// product database: the workspace names it needs come in the notices.
type Letters struct {
	company string   // the company's name as customers read it
	base    *url.URL // where links in mails point
	now     func() time.Time
}

// New returns the letters of company, whose links point at base.
func New(company string, base *url.URL, now func() time.Time) Letters {
	return Letters{company: company, base: base, now: now}
}

// Letter writes n's mail (models.Letters). The caller addresses it.
func (l Letters) Letter(ctx context.Context, tx *gorm.DB, n models.Notice) (models.Mail, error) {
	switch n := n.(type) {
	case models.ConsentRequestNotice:
		return l.consentRequest(ctx, tx, n)
	case models.RequestUpdateNotice:
		return l.requestUpdate(ctx, tx, n)
	case models.RequestReportedNotice:
		return l.requestReported(ctx, tx, n)
	case models.ApprovalNeededNotice:
		return l.approvalNeeded(ctx, tx, n)
	case models.ViewSummaryNotice:
		return l.viewSummary(ctx, tx, n)
	case models.BreakglassNotice:
		return l.breakglass(ctx, n)
	case models.RetentionNotice:
		return l.retentionNotice(ctx, n)
	case models.DeletionLinkNotice:
		return l.deletionLink(ctx, n)
	case models.AlertNotice:
		return l.alert(ctx, n)
	case models.BreachNotice:
		return l.incident(ctx, n)
	case models.TransparencyNotice:
		return l.transparency(ctx, n)
	}
	return models.Mail{}, fmt.Errorf("letters: no letter for %T", n)
}

// mail renders html and puts the parts together.
func mail(ctx context.Context, kind, subject, text string, html templ.Component) (models.Mail, error) {
	body, err := views.RenderMail(ctx, html)
	if err != nil {
		return models.Mail{}, fmt.Errorf("render %s mail: %w", kind, err)
	}
	return models.Mail{Kind: kind, Subject: subject, Text: text, HTML: body}, nil
}

// link is the absolute URL of path.
//
// #nosec G125 -- every element is a fixed route, a number, a validated slug or a base64url token, never free text
func (l Letters) link(path ...string) string { return l.base.JoinPath(path...).String() }
