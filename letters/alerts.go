package letters

import (
	"context"
	"fmt"
	"strconv"

	"gatehouse/models"
	"gatehouse/views"
)

// alert tells a sysadmin, or the security address, of a new alert.
func (l Letters) alert(ctx context.Context, n models.AlertNotice) (models.Mail, error) {
	a := n.Alert
	v := views.AlertMailView{
		Rule: a.Rule, Severity: a.Severity, SubjectKind: a.SubjectKind, Subject: a.Subject,
		Workspace: a.Workspace, Summary: a.Summary, OpenedAt: a.OpenedAt,
		URL: l.link("/alerts", strconv.FormatInt(a.ID, 10)),
	}
	subject := fmt.Sprintf("[%s] Gatehouse alert: %s (%s)", a.Severity, a.Rule, a.Subject)
	return mail(ctx, "alert.raised", subject, views.AlertMailText(v), views.AlertMail(v))
}
