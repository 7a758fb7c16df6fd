package letters

import (
	"context"
	"fmt"
	"strconv"

	"gatehouse/models"
	"gatehouse/views"
)

// breakglass tells an owner (with their link to see what is viewed and
// end it), or asks a sysadmin to review, an opened break-glass; or tells
// its opener that someone else ended it.
func (l Letters) breakglass(ctx context.Context, n models.BreakglassNotice) (models.Mail, error) {
	b := n.Breakglass
	if n.Ended != nil {
		return l.breakglassEnded(ctx, n)
	}
	v := views.BreakglassMailView{
		Company: l.company, Workspace: b.Workspace, WorkspaceName: n.Name, Opener: n.Opener.Name, OpenerTier: string(n.Opener.Tier),
		OpenedAt: b.OpenedAt, EndsAt: b.EndsAt, Window: b.EndsAt.Sub(b.OpenedAt),
		Incident: b.Incident, Justification: b.Justification,
	}
	kind, subject := "breakglass.owner", "Emergency access to your workspace "+n.Name
	if n.Sysadmin {
		v.ReviewURL = l.link("/breakglass", strconv.FormatInt(b.ID, 10))
		kind, subject = "breakglass.sysadmin", fmt.Sprintf("Break-glass on %s by %s: review needed", n.Name, n.Opener.Name)
	} else if n.Token != "" {
		v.EndURL = l.link("/emergency", n.Token)
	}
	return mail(ctx, kind, subject, views.BreakglassMailText(v), views.BreakglassMail(v))
}

// breakglassEnded tells the opener who ended their break-glass, and why.
func (l Letters) breakglassEnded(ctx context.Context, n models.BreakglassNotice) (models.Mail, error) {
	b, e := n.Breakglass, n.Ended
	by := e.By
	switch e.Role {
	case models.EndedBySysadmin:
		by = "the sysadmin " + e.By
	case models.EndedByOwner:
		by = "the workspace owner " + e.By
	}
	v := views.BreakglassEndedMailView{
		Workspace: b.Workspace, WorkspaceName: n.Name, Incident: b.Incident, OpenedAt: b.OpenedAt, EndedAt: e.At,
		EndedBy: by, Note: e.Note, PageURL: l.link("/breakglass", strconv.FormatInt(b.ID, 10)),
	}
	subject := fmt.Sprintf("Your break-glass on %s was ended by %s", n.Name, by)
	return mail(ctx, "breakglass.ended", subject, views.BreakglassEndedMailText(v), views.BreakglassEndedMail(v))
}
