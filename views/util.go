package views

import (
	"net/url"
	"strconv"
	"strings"
	"time"
)

func urlQueryEscape(s string) string { return url.QueryEscape(s) }

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func current(ch Chrome, href string) bool {
	if href == "/" {
		return ch.Path == "/"
	}
	return ch.Path == href || strings.HasPrefix(ch.Path, href+"/")
}

func statusClass(status string) string { return "badge badge-" + status }

func minutes(d time.Duration) string {
	return strconv.Itoa(int(d.Minutes())) + " minutes"
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func doneText(done string) string {
	switch done {
	case "created":
		return "Staff member added."
	case "tier":
		return "Tier changed. It applies from their next request."
	case "agreement":
		return "Agreement recorded."
	case "training":
		return "Training recorded."
	case "suspended":
		return "Suspended. Their sessions have ended."
	case "reactivated":
		return "Reactivated. They can sign in again."
	case "offboarded":
		return "Offboarded. Their sessions have ended and they can no longer sign in."
	}
	return ""
}

// breakable splits s after each comma, so a long detail (JSON) can wrap
// between its fields instead of in the middle of a value.
func breakable(s string) []string {
	return strings.SplitAfter(s, ",")
}

// compactIDs shortens a comma-separated list of record ids by writing runs
// of consecutive numbers as ranges ("1,2,3,5" → "1–3", "5"), losing
// nothing; anything that is not a plain number is kept as it is.
func compactIDs(list string) []string {
	if list == "" {
		return nil
	}
	var out []string
	ids := strings.Split(list, ",")
	for i := 0; i < len(ids); {
		first, err := strconv.ParseInt(ids[i], 10, 64)
		j := i + 1
		if err == nil {
			for j < len(ids) {
				n, err := strconv.ParseInt(ids[j], 10, 64)
				if err != nil || n != first+int64(j-i) {
					break
				}
				j++
			}
		}
		if j-i > 2 {
			out = append(out, ids[i]+"–"+ids[j-1])
		} else {
			out = append(out, ids[i:j]...)
		}
		i = j
	}
	return out
}

// CompactIDs writes a comma-separated list of record ids with runs as
// ranges: "1,2,3,5" → "1–3, 5".
func CompactIDs(list string) string { return strings.Join(compactIDs(list), ", ") }
