package letters

import (
	"context"
	"fmt"
	"strconv"

	"gatehouse/models"
	"gatehouse/views"
)

// breakglass tells an owner, or asks a sysadmin to review, an opened
// break-glass.
func (l Letters) breakglass(ctx context.Context, n models.BreakglassNotice) (models.Mail, error) {
	b := n.Breakglass
	v := views.BreakglassMailView{
		Company: l.company, Workspace: b.Workspace, WorkspaceName: n.Name, Opener: n.Opener.Name, OpenerTier: string(n.Opener.Tier),
		OpenedAt: b.OpenedAt, EndsAt: b.EndsAt, Window: b.EndsAt.Sub(b.OpenedAt),
		Incident: b.Incident, Justification: b.Justification,
	}
	kind, subject := "breakglass.owner", "Emergency access to your workspace "+n.Name
	if n.Sysadmin {
		v.ReviewURL = l.link("/breakglass", strconv.FormatInt(b.ID, 10))
		kind, subject = "breakglass.sysadmin", fmt.Sprintf("Break-glass on %s by %s: review needed", b.Workspace, n.Opener.Name)
	}
	return mail(ctx, kind, subject, views.BreakglassMailText(v), views.BreakglassMail(v))
}
