package views

import "time"

// Times are shown in UTC, in one of these layouts only: to the minute on
// pages and in mails, to the second where order within a minute matters
// (the audit log, the dev mailbox), and as a date where only the day
// counts. Handlers pass time.Time; the views format it.
const (
	minuteLayout = "2006-01-02 15:04 UTC"
	secondLayout = time.DateTime + " UTC"
	dayLayout    = time.DateOnly
)

// minute writes t in UTC to the minute ("2026-11-02 09:00 UTC"); nil is "".
func minute(t *time.Time) string { return format(t, minuteLayout) }

// day writes t's date in UTC ("2026-11-02"); nil is "".
func day(t *time.Time) string { return format(t, dayLayout) }

func format(t *time.Time, layout string) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(layout)
}

func when(t time.Time) string { return minute(&t) }

func date(t time.Time) string { return day(&t) }

// second is a time to the second, for the dev mailbox.
func second(t time.Time) string { return format(&t, secondLayout) }

// auditAt is an audit event's time to the second; the table's header
// names the zone.
func auditAt(t time.Time) string { return format(&t, time.DateTime) }
