package views

import "strconv"

// RetentionNoticeMailText is the plain-text part of RetentionNoticeMail.
func RetentionNoticeMailText(m RetentionNoticeMailView) string {
	var b textMail
	b.para("Hello,")
	b.para("Nobody has signed in to your free workspace " + m.Name + " (" + m.Workspace + ") since " + date(m.IdleSince) +
		" (" + strconv.Itoa(m.IdleDays) + " days).")
	if m.Second {
		b.para("It is now marked for deletion. Unless someone signs in, its data becomes due for deletion on " + date(m.DeleteOn) +
			" and is then deleted for good.")
	} else {
		b.para("Under " + companyOrOur(m.Company) + " data retention policy, an unused free workspace is deleted. Unless someone signs in, " +
			"its data becomes due for deletion on " + date(m.DeleteOn) + "; you will get a second notice before then.")
	}
	b.para("To keep it, sign in to the workspace once. That resets the clock; you need do nothing else.")
	b.para("If you no longer need it, you can ignore this message.")
	return b.String()
}

// DeletionConfirmationMailText is the plain-text part of
// DeletionConfirmationMail.
func DeletionConfirmationMailText(m DeletionConfirmationMailView) string {
	var b textMail
	b.para("Hello,")
	b.para(m.Company + " support recorded a request to delete your workspace " + m.Name + " (" + m.Workspace + ") and all of its data.")
	b.facts([][2]string{
		{"As you asked", m.Note},
		{"Confirmations needed", confirmationsText(m.Needed)},
		{"Valid until", when(m.Expires)},
	})
	b.line("To confirm or cancel it, open:")
	b.link(m.Link)
	b.para("Opening the page deletes nothing. Once deleted, the data cannot be recovered. If you did not ask for this, cancel it on that page and tell our support.")
	b.para("This link was sent to " + m.Recipient + " alone; please do not forward it.")
	return b.String()
}
