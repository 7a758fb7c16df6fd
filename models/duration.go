package models

import (
	"fmt"
	"strings"
	"time"
)

// DurationPresets are the durations the request form offers.
var DurationPresets = []time.Duration{30 * time.Minute, 2 * time.Hour, 8 * time.Hour, 24 * time.Hour}

// FormatDuration writes d the way the forms do: 30m, 2h, 1h30m.
func FormatDuration(d time.Duration) string {
	s := d.Round(time.Minute).String()
	s = strings.TrimSuffix(s, "0s")
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// ParseDuration reads a duration from the request form: a preset like
// "2h" or any Go duration of whole minutes.
func ParseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil || d <= 0 || d%time.Minute != 0 {
		return 0, fmt.Errorf("duration %q: use whole minutes or hours, like 30m or 2h", s)
	}
	return d, nil
}
