package letters

import (
	"context"
	"fmt"
	"strings"

	"gatehouse/models"
	"gatehouse/views"
)

// incident writes a breach notice to one owner of one affected
// workspace, with that workspace's facts and the owner's link.
func (l Letters) incident(ctx context.Context, n models.BreachNotice) (models.Mail, error) {
	v := IncidentMailView(l.company, n.Incident, n.Notice, n.Workspace, n.FollowUp)
	if n.Token != "" {
		v.LinkURL = l.link("/incident-notice", n.Token)
	}
	kind := "incident.notice"
	if n.FollowUp {
		kind = "incident.follow_up"
	}
	return mail(ctx, kind, v.Subject(), views.IncidentMailText(v), views.IncidentMail(v))
}

// IncidentMailView states a notice's facts for workspace w as its owners
// read them: in the mail, on their link's page and in the preview.
func IncidentMailView(company string, inc models.Incident, n models.IncidentNotice, w models.AffectedWorkspace, followUp bool) views.IncidentMailView {
	name := w.Name
	if name == "" {
		name = w.Slug
	}
	return views.IncidentMailView{
		Company:       company,
		Title:         inc.Title,
		Workspace:     w.Slug,
		WorkspaceName: name,
		FollowUp:      followUp,
		Body:          n.Body,
		StartedAt:     inc.StartedAt,
		DetectedAt:    inc.DetectedAt,
		Accesses:      AccessRows(w.Accesses),
	}
}

// AccessRows states what was accessed in a workspace, one row per staff
// member and table.
func AccessRows(as []models.Access) []views.AccessRow {
	out := make([]views.AccessRow, 0, len(as))
	for _, a := range as {
		recs := strings.Join(a.Records, ", ")
		if a.More > 0 {
			recs += fmt.Sprintf(" and %d more", a.More)
		}
		if recs == "" {
			recs = "none named"
		}
		out = append(out, views.AccessRow{Staff: a.Staff, Table: a.Table, Views: a.Views, Records: recs, First: a.First, Last: a.Last})
	}
	return out
}
