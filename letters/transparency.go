package letters

import (
	"context"

	"gatehouse/models"
	"gatehouse/views"
)

// TransparencyReport states a report for the mail and the owner's page.
func (l Letters) TransparencyReport(r models.TransparencyReport, f models.ReportFigures, name string) views.TransparencyReportView {
	q := f.Requests
	v := views.TransparencyReportView{
		Company: l.company, Workspace: r.Workspace, WorkspaceName: name, From: r.PeriodStart, To: r.PeriodEnd,
		Requests: []views.TransparencyRow{
			{Label: "Requests made", Count: q.Created},
			{Label: "Approved by a senior", Count: q.Approved},
			{Label: "Denied by a senior", Count: q.Denied},
			{Label: "Cancelled", Count: q.Cancelled},
			{Label: "Expired unanswered", Count: q.Expired},
			{Label: "Granted by your owners", Count: q.Granted},
			{Label: "Refused by your owners", Count: q.Refused},
			{Label: "Reported as suspicious", Count: q.Reported},
		},
		AlertsKnown: f.Alerts != nil,
		Decided:     f.Decided,
		Idle:        f.Idle(),
	}
	if f.Decided > 0 {
		v.Median = models.FormatDuration(f.MedianDecision)
	}
	for _, c := range f.Views {
		v.Views = append(v.Views, views.TransparencyCount{Staff: c.Staff, Table: c.Table, Count: c.Count})
	}
	for _, c := range f.Reveals {
		v.Reveals = append(v.Reveals, views.TransparencyCount{Staff: c.Staff, Table: c.Table, Count: c.Count})
	}
	for _, b := range f.Breakglass {
		v.Breakglass = append(v.Breakglass, views.TransparencyBreakglass{Staff: b.Staff, At: b.At, Justification: b.Justification})
	}
	for _, a := range f.Alerts {
		v.Alerts = append(v.Alerts, views.TransparencyAlert{Rule: a.Rule, Severity: a.Severity, State: a.State, At: a.At})
	}
	return v
}

// transparency mails an owner a report with their link.
func (l Letters) transparency(ctx context.Context, n models.TransparencyNotice) (models.Mail, error) {
	m := views.TransparencyMailView{Report: l.TransparencyReport(n.Report, n.Figures, n.Name), LinkURL: l.link("/transparency", n.Token)}
	subject := "Who accessed " + n.Name + ": " + m.Report.From.Format("January 2006")
	if n.Report.PeriodEnd.Sub(n.Report.PeriodStart) < 28*models.Day {
		subject = "Who accessed " + n.Name + ": week of " + m.Report.From.Format("2 Jan 2006")
	} else if n.Report.PeriodEnd.Sub(n.Report.PeriodStart) > 32*models.Day {
		subject = "Who accessed " + n.Name + ": quarter from " + m.Report.From.Format("January 2006")
	}
	return mail(ctx, "transparency.report", subject, views.TransparencyMailText(m), views.TransparencyMail(m))
}
