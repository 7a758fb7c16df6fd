package views

// BreakglassMailText is the plain-text part of BreakglassMail.
func BreakglassMailText(m BreakglassMailView) string {
	var b textMail
	b.para("Hello,")
	if m.ReviewURL == "" {
		b.para(m.Opener + tierSuffix(m.OpenerTier) + ", a member of " + m.Company + " staff, opened emergency access to your workspace " +
			m.WorkspaceName + " (" + m.Workspace + ").")
	} else {
		b.para(m.Opener + tierSuffix(m.OpenerTier) + " opened break-glass access to the workspace " +
			m.WorkspaceName + " (" + m.Workspace + "). It needs a review by another sysadmin.")
	}
	b.facts([][2]string{
		{"Opened", when(m.OpenedAt)},
		{"Until", when(m.EndsAt) + " (" + minutes(m.Window) + ")"},
		{"Incident", m.Incident},
		{"Justification", m.Justification},
	})
	if m.ReviewURL == "" {
		b.para("Emergency access lets " + m.Company + " staff read your workspace's data to deal with a specific incident, for a short time only. " +
			"Every record they view is logged, and you will receive a summary of what was viewed when the access ends.")
		if m.EndURL != "" {
			b.para("See what is viewed, and end this access at any time:")
			b.link(m.EndURL)
			b.para("This link is meant for you alone; opening it changes nothing.")
		}
		b.para("If you did not expect this, reply to this message or contact our support.")
	} else {
		b.para("Review it:")
		b.link(m.ReviewURL)
		b.para("It stays unreviewed on every sysadmin's dashboard until a sysadmin other than its opener reviews it.")
	}
	return b.String()
}

// BreakglassEndedMailText is the plain-text part of BreakglassEndedMail.
func BreakglassEndedMailText(m BreakglassEndedMailView) string {
	var b textMail
	b.para("Hello,")
	b.para("Your break-glass access to the workspace " + m.WorkspaceName + " (" + m.Workspace + ") was ended early by " + m.EndedBy +
		". Further requests for its data are refused.")
	b.facts([][2]string{
		{"Incident", m.Incident},
		{"Opened", when(m.OpenedAt)},
		{"Ended", when(m.EndedAt)},
		{"Why", m.Note},
	})
	b.para("The break-glass:")
	b.link(m.PageURL)
	return b.String()
}
