package views

import "time"

// AlertMailView is a new alert, as its mail tells it.
type AlertMailView struct {
	Rule, Severity       string
	SubjectKind, Subject string
	Workspace            string
	Summary              string
	OpenedAt             time.Time
	URL                  string // the alert's page
}

// AlertMailText is the plain-text part of AlertMail.
func AlertMailText(m AlertMailView) string {
	var b textMail
	b.para("Hello,")
	b.para("A detection rule raised an alert: " + m.Summary)
	facts := [][2]string{
		{"Rule", m.Rule},
		{"Severity", m.Severity},
		{"About", m.SubjectKind + " " + m.Subject},
	}
	if m.Workspace != "" {
		facts = append(facts, [2]string{"Workspace", m.Workspace})
	}
	b.facts(append(facts, [2]string{"Since", when(m.OpenedAt)}))
	b.para("Open the alert:")
	b.link(m.URL)
	b.para("Acknowledge it when someone looks into it, and resolve it with what was found. Until it is resolved, repeats add evidence to it rather than new alerts.")
	return b.String()
}
