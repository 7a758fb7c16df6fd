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

// Relative says how far t is from now, in the largest whole unit that
// reads naturally: "just now", "in 12 min", "3 h ago", "in 3 days",
// "116 days ago". Under a minute either way is "just now".
func Relative(t, now time.Time) string {
	d := t.Sub(now)
	if d > -time.Minute && d < time.Minute {
		return "just now"
	}
	words := span(d.Abs())
	if d > 0 {
		return "in " + words
	}
	return words + " ago"
}

// span is a duration in one unit, rounded down: minutes under an hour,
// hours under two days, days after that.
func span(d time.Duration) string {
	switch {
	case d < time.Hour:
		return plural(int64(d/time.Minute), "min", "min")
	case d < 48*time.Hour:
		return plural(int64(d/time.Hour), "h", "h")
	}
	return plural(int64(d/(24*time.Hour)), "day", "days")
}

// Left is the time from now until end, to the minute: "1 h 58 min",
// "45 min", "2 days 3 h", "less than a minute"; "none" once end has come.
func Left(end, now time.Time) string {
	d := end.Sub(now)
	switch {
	case d <= 0:
		return "none"
	case d < time.Minute:
		return "less than a minute"
	case d < time.Hour:
		return plural(int64(d/time.Minute), "min", "min")
	case d < 48*time.Hour:
		h, m := int64(d/time.Hour), int64(d%time.Hour/time.Minute)
		if m == 0 {
			return plural(h, "h", "h")
		}
		return plural(h, "h", "h") + " " + plural(m, "min", "min")
	}
	days, h := int64(d/(24*time.Hour)), int64(d%(24*time.Hour)/time.Hour)
	if h == 0 {
		return plural(days, "day", "days")
	}
	return plural(days, "day", "days") + " " + plural(h, "h", "h")
}

// endsAt is when something ends, to the minute: the clock time alone
// when it is today (UTC), the full date and time otherwise.
func endsAt(end, now time.Time) string {
	if end.UTC().Format(dayLayout) == now.UTC().Format(dayLayout) {
		return end.UTC().Format("15:04 UTC")
	}
	return when(end)
}

// machine is t for a <time datetime> attribute.
func machine(t time.Time) string { return t.UTC().Format(time.RFC3339) }
