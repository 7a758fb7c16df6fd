package policy

import (
	"strings"
	"testing"
	"time"
)

func TestDetectionRulesLoad(t *testing.T) {
	rules, err := LoadDetection()
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[RuleKind]bool{}
	for _, r := range rules {
		kinds[r.Kind] = true
	}
	for k := range kindKeys {
		if !kinds[k] {
			t.Errorf("detection.toml has no rule of kind %s", k)
		}
	}
}

// TestDetectionRuleRefused: each bad rule is refused with its name and
// what is wrong.
func TestDetectionRuleRefused(t *testing.T) {
	for _, tc := range []struct {
		rule string
		want string
	}{
		{`name = "v"` + "\n" + `kind = "volume"` + "\n" + `severity = "high"` + "\n" + `factor = 0.5` + "\n" + `floor = 3`, "detection rule v: factor"},
		{`name = "v"` + "\n" + `kind = "volume"` + "\n" + `severity = "high"` + "\n" + `factor = 2.0`, "detection rule v: floor"},
		{`name = "x"` + "\n" + `kind = "nonsense"` + "\n" + `severity = "high"`, `detection rule x: unknown kind "nonsense"`},
		{`name = "s"` + "\n" + `kind = "reveals"` + "\n" + `severity = "dire"` + "\n" + `count = 3`, `detection rule s: severity "dire"`},
		{`name = "t"` + "\n" + `kind = "reveals"` + "\n" + `severity = "low"` + "\n" + `count = 3` + "\n" + `floor = 2`, `detection rule t: key "floor"`},
		{`name = "r"` + "\n" + `kind = "refusals"` + "\n" + `severity = "low"` + "\n" + `count = 3` + "\n" + `window = "10 minutes"`, `detection rule r: window`},
		{`name = "o"` + "\n" + `kind = "off_hours"` + "\n" + `severity = "low"` + "\n" + `start = "18:00"` + "\n" + `end = "08:00"` + "\n" + `timezone = "UTC"` + "\n" + `days = ["mon"]`, `detection rule o: end 08:00`},
		{`name = "o"` + "\n" + `kind = "off_hours"` + "\n" + `severity = "low"` + "\n" + `start = "08:00"` + "\n" + `end = "18:00"` + "\n" + `timezone = "Mars/Base"` + "\n" + `days = ["mon"]`, `detection rule o: timezone`},
		{`name = "Bad Name"` + "\n" + `kind = "customer_report"` + "\n" + `severity = "low"`, `detection rule Bad Name: name`},
		{`name = "b"` + "\n" + `kind = "breakglass"` + "\n" + `severity = "low"` + "\n" + `repeat_within = "168h"`, `detection rule b: review_within`},
	} {
		_, err := ParseDetection("[[rule]]\n" + tc.rule + "\n")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseDetection(%q) = %v, want an error containing %q", tc.rule, err, tc.want)
		}
	}
	twice := "[[rule]]\nname = \"a\"\nkind = \"customer_report\"\nseverity = \"low\"\n"
	if _, err := ParseDetection(twice + twice); err == nil || !strings.Contains(err.Error(), "detection rule a: named twice") {
		t.Errorf("a rule named twice: %v", err)
	}
}

func TestWorkingHours(t *testing.T) {
	rules, err := ParseDetection(`[[rule]]
name = "o"
kind = "off_hours"
severity = "low"
start = "08:00"
end = "18:00"
timezone = "Europe/Paris"
days = ["mon", "tue", "wed", "thu", "fri"]
[rule.tiers.senior]
start = "00:00"
end = "24:00"
days = ["sat"]
`)
	if err != nil {
		t.Fatal(err)
	}
	r := rules[0]
	monday := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC) // a Monday
	for _, tc := range []struct {
		tier string
		at   time.Time
		want bool
	}{
		{"support", monday.Add(7*time.Hour + 59*time.Minute), true}, // 08:59 in Paris
		{"support", monday.Add(6*time.Hour + 59*time.Minute), false},
		{"support", monday.Add(17 * time.Hour), false}, // 18:00 in Paris
		{"senior", monday.Add(10 * time.Hour), false},
		{"senior", monday.Add(5*24*time.Hour + 3*time.Hour), true}, // Saturday
	} {
		if got := r.For(tc.tier).Within(tc.at); got != tc.want {
			t.Errorf("%s at %s: within = %v, want %v", tc.tier, tc.at, got, tc.want)
		}
	}
}
