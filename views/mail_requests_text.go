package views

// ConsentMailText is the plain-text part of ConsentMail.
func ConsentMailText(v ConsentMailView) string {
	var b textMail
	b.para("Hello,")
	b.para(v.Company + " staff ask to see data in your workspace " + v.Request.Name +
		" (" + v.Request.Workspace + "). Nothing is opened until you decide.")
	b.requestFacts(v.Request, true)
	b.line("To see the request and grant, deny or report it, open this page:")
	b.link(v.Link)
	b.para("The link is valid until " + minute(v.ValidUntil) + " and was sent to you (" + v.Recipient +
		") alone; please do not forward it. Opening the page decides nothing.")
	b.para("If you did not expect this, use \"Report as suspicious\" on that page: it denies the request and alerts " +
		companyOrOur(v.Company) + " security administrators.")
	return b.String()
}

// RequestUpdateMailText is the plain-text part of RequestUpdateMail.
func RequestUpdateMailText(v RequestUpdateMailView) string {
	var b textMail
	b.para("Hello " + v.To + ",")
	b.para(v.Headline)
	if v.Body != "" {
		b.para(v.Body)
	}
	b.requestFacts(v.Request, false)
	if v.Link != "" {
		b.line("The request:")
		b.link(v.Link)
	}
	return b.String()
}

// ViewSummaryMailText is the plain-text part of ViewSummaryMail.
func ViewSummaryMailText(v ViewSummaryMailView) string {
	var b textMail
	b.para("Hello,")
	b.para(v.Company + " staff's access to your workspace " + v.Name + " (" + v.Workspace +
		") has ended. This is everything that was viewed under it.")
	b.facts([][2]string{
		{"Who", v.Grantee},
		{"Access", v.Origin},
		{"From", when(v.From)},
		{"Until", when(v.Until)},
	})
	if v.Viewed.Views == 0 && v.Viewed.Reveals == 0 {
		b.para("Nothing was viewed.")
	} else {
		b.para(viewedTotals(v.Viewed))
		b.line("Viewed:")
		for _, t := range v.Viewed.Tables {
			b.item(t.Who + " viewed " + t.Table + " (" + recordsText(t.Records) + moreRecordsText(t) + "): " +
				viewsText(t) + ", first " + when(t.First) + ", last " + when(t.Last))
		}
		b.sb.WriteString("\n")
		if len(v.Viewed.RevealRows) > 0 {
			b.line("Fields revealed:")
			for _, r := range v.Viewed.RevealRows {
				b.item(r.Who + " revealed " + r.Table + " record " + r.Record + " field " + r.Field + " at " + when(r.At) + ", giving the reason: " + r.Reason)
			}
			if n := v.Viewed.MoreReveals(); n > 0 {
				b.item("and " + plural(n, "more field", "more fields"))
			}
			b.sb.WriteString("\n")
		}
	}
	b.para("If anything here looks wrong, reply to this message or contact our support.")
	return b.String()
}
