package views

// IncidentMailText is the plain-text part of IncidentMail.
func IncidentMailText(m IncidentMailView) string {
	var b textMail
	b.para("Hello,")
	if m.FollowUp {
		b.para("This is an update from " + m.Company + " on the security incident \"" + m.Title + "\", which affected your workspace " +
			m.WorkspaceName + " (" + m.Workspace + ").")
	} else {
		b.para(m.Company + " is writing to tell you of a security incident, \"" + m.Title + "\", that affected your workspace " +
			m.WorkspaceName + " (" + m.Workspace + ").")
	}
	for _, p := range paragraphs(m.Body) {
		b.para(p)
	}
	b.facts([][2]string{{"Started", when(m.StartedAt)}, {"Detected", when(m.DetectedAt)}})
	if len(m.Accesses) == 0 {
		b.para("Our audit log shows no view of your workspace's data in connection with this incident.")
	} else {
		b.para("Our audit log records these views of your workspace's data in connection with this incident:")
		for _, a := range m.Accesses {
			b.item(a.Staff + " viewed " + a.Table + " (records " + a.Records + "), " + plural(int64(a.Views), "view", "views") + ", " + a.span())
		}
		b.line("")
	}
	if m.LinkURL != "" {
		b.para("Read this notice online:")
		b.link(m.LinkURL)
		b.para("This link is meant for you alone; opening it changes nothing.")
	}
	b.para("If you have questions, reply to this message or contact our support.")
	return b.String()
}
