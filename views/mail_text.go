package views

import (
	"strings"
)

// mailWidth is where the plain-text parts of mails wrap their lines.
const mailWidth = 72

// textMail builds a plain-text mail body out of wrapped paragraphs.
type textMail struct {
	sb strings.Builder
}

func (m *textMail) String() string { return strings.TrimRight(m.sb.String(), "\n") + "\n" }

// para writes one wrapped paragraph and a blank line.
func (m *textMail) para(s string) {
	for _, line := range wrap(s, mailWidth, "") {
		m.sb.WriteString(line + "\n")
	}
	m.sb.WriteString("\n")
}

// line writes wrapped text without a blank line after it.
func (m *textMail) line(s string) {
	for _, l := range wrap(s, mailWidth, "") {
		m.sb.WriteString(l + "\n")
	}
}

// link writes a URL on a line of its own, never wrapped.
func (m *textMail) link(u string) {
	m.sb.WriteString(u + "\n\n")
}

// item writes one list item, its continuation lines indented.
func (m *textMail) item(s string) {
	lines := wrap(s, mailWidth-2, "  ")
	for i, line := range lines {
		if i == 0 {
			m.sb.WriteString("- " + line + "\n")
		} else {
			m.sb.WriteString(line + "\n")
		}
	}
}

// facts writes label–value pairs, the values aligned and wrapped.
func (m *textMail) facts(rows [][2]string) {
	width := 0
	for _, r := range rows {
		width = max(width, len(r[0]))
	}
	indent := strings.Repeat(" ", width+2)
	for _, r := range rows {
		lines := wrap(r[1], mailWidth-len(indent), indent)
		if len(lines) == 0 {
			lines = []string{""}
		}
		label := r[0] + ":" + strings.Repeat(" ", width-len(r[0])+1)
		m.sb.WriteString(strings.TrimRight(label+lines[0], " ") + "\n")
		for _, line := range lines[1:] {
			m.sb.WriteString(line + "\n")
		}
	}
	m.sb.WriteString("\n")
}

func (m *textMail) requestFacts(r MailRequest, forOwner bool) {
	rows := [][2]string{
		{"Who will look", r.Grantee + tierSuffix(r.GranteeTier)},
		{"Requested by", r.Requester},
	}
	if !forOwner {
		rows = append(rows, [2]string{"Workspace", r.Name + " (" + r.Workspace + ")"})
	}
	rows = append(rows,
		[2]string{"Why", r.Reason},
		[2]string{"Ticket", r.Ticket},
		[2]string{"What", r.Scope + ", read-only"},
		[2]string{"Personal fields", mailModeText(r.Mode, forOwner)},
		[2]string{"For how long", r.Duration + ", starting when access is granted"},
	)
	m.facts(rows)
}

// wrap breaks s into lines of at most width characters (runes) at spaces;
// a word longer than width stays whole on its own line. Lines after the
// first start with indent. Line breaks in s are kept.
func wrap(s string, width int, indent string) []string {
	var out []string
	for i, para := range strings.Split(s, "\n") {
		var line string
		lineLen := 0
		start := func() {
			if len(out) > 0 || i > 0 {
				line, lineLen = indent, 0
			} else {
				line, lineLen = "", 0
			}
		}
		start()
		empty := true
		for _, w := range strings.Fields(para) {
			n := len([]rune(w))
			if !empty && lineLen+1+n > width {
				out = append(out, line)
				start()
				empty = true
			}
			if !empty {
				line += " "
				lineLen++
			}
			line += w
			lineLen += n
			empty = false
		}
		out = append(out, line)
	}
	return out
}

func tierSuffix(tier string) string {
	if tier == "" {
		return ""
	}
	return " (" + tier + ")"
}

// mailModeText says what a request's access mode allows: to the
// customer exactly (ModeWords), to staff in short.
func mailModeText(mode string, forOwner bool) string {
	if forOwner {
		return ModeWords(mode)
	}
	return modeLabel(mode)
}

// idsText is a comma-separated list of record ids with runs shortened
// ("1–3, 5"), or a dash for none.
func idsText(list string) string {
	ids := compactIDs(list)
	if len(ids) == 0 {
		return "—"
	}
	return strings.Join(ids, ", ")
}

// recordsText is idsText as a phrase.
func recordsText(list string) string {
	if list == "" {
		return "no records"
	}
	return "records " + idsText(list)
}
