package views

import "strconv"

// TransparencyMailText is the plain-text part of TransparencyMail.
func TransparencyMailText(m TransparencyMailView) string {
	r := m.Report
	var b textMail
	b.para("Hello,")
	b.para("This is the transparency report of your workspace " + r.WorkspaceName + " (" + r.Workspace + ") for " + periodText(r.From, r.To) +
		" (UTC): every access " + r.Company + " staff asked for or had, from our audit log.")
	if r.Idle {
		b.para("Nothing happened: no one at " + r.Company + " asked for, viewed or revealed your workspace's data in this period.")
	} else {
		b.para("Access requests:")
		var rows [][2]string
		for _, row := range r.Requests {
			rows = append(rows, [2]string{row.Label, itoa(row.Count)})
		}
		b.facts(rows)
		if r.Median != "" {
			b.para("Median time from a request to a senior's decision: " + r.Median + " (" + strconv.Itoa(r.Decided) + " decided).")
		}
		counts := func(title, unit, none string, cs []TransparencyCount) {
			if len(cs) == 0 {
				b.para(title + ": " + none)
				return
			}
			b.line(title + ":")
			for _, c := range cs {
				b.item(c.Staff + ", " + c.Table + ": " + itoa(c.Count) + " " + unit)
			}
			b.sb.WriteString("\n")
		}
		counts("Who viewed what", "pages viewed", "no one viewed your workspace's data.", r.Views)
		counts("Personal fields revealed", "fields revealed", "none.", r.Reveals)
		if len(r.Breakglass) == 0 {
			b.para("Emergency (break-glass) access: none.")
		} else {
			b.line("Emergency (break-glass) access:")
			for _, g := range r.Breakglass {
				b.item(when(g.At) + ": " + g.Staff + " — " + g.Justification)
			}
			b.sb.WriteString("\n")
		}
		if r.AlertsKnown {
			if len(r.Alerts) == 0 {
				b.para("Security alerts: none concerned your workspace.")
			} else {
				b.line("Security alerts:")
				for _, a := range r.Alerts {
					b.item(when(a.At) + ": " + a.Rule + " (" + a.Severity + "), " + a.State)
				}
				b.sb.WriteString("\n")
			}
		}
	}
	b.para("Read this report online, or stop these mails:")
	b.link(m.LinkURL)
	b.para("This link is meant for you alone; opening it changes nothing.")
	return b.String()
}
