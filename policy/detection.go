package policy

import (
	_ "embed"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

//go:embed detection.toml
var detectionTOML string

// RuleKind is what a detection rule looks for.
type RuleKind string

// The kinds of detection rule (see detection.toml for what each means).
const (
	KindVolume         RuleKind = "volume"
	KindBreadth        RuleKind = "breadth"
	KindRefusals       RuleKind = "refusals"
	KindReveals        RuleKind = "reveals"
	KindOffHours       RuleKind = "off_hours"
	KindBreakglass     RuleKind = "breakglass"
	KindCustomerReport RuleKind = "customer_report"
)

// Severities, least first.
var Severities = []string{"low", "medium", "high", "critical"}

// Rule is one detection rule. Only the thresholds of its kind are set.
type Rule struct {
	Name     string
	Kind     RuleKind
	Severity string

	Factor     float64       // volume: times the person's own hourly average
	Floor      int           // volume: and more views in the hour than this
	Workspaces int           // breadth: more distinct workspaces in an hour
	Records    int           // breadth: more distinct records of one workspace
	Count      int           // refusals: at least; reveals: more than
	Window     time.Duration // refusals
	Hours      WorkingHours  // off_hours, for every tier not in Tiers
	Tiers      map[string]WorkingHours
	Repeat     time.Duration // breakglass: a second use within
	Review     time.Duration // breakglass: unreviewed after
}

// WorkingHours are the hours in which data views are expected: from
// Start to End (minutes after midnight, End up to 24*60) on Days, in Zone.
type WorkingHours struct {
	Start, End int
	Days       [7]bool // indexed by time.Weekday
	Zone       *time.Location
}

// Within reports whether t falls inside the working hours.
func (w WorkingHours) Within(t time.Time) bool {
	l := t.In(w.Zone)
	m := l.Hour()*60 + l.Minute()
	return w.Days[l.Weekday()] && m >= w.Start && m < w.End
}

// For returns the working hours of tier.
func (r Rule) For(tier string) WorkingHours {
	if w, ok := r.Tiers[tier]; ok {
		return w
	}
	return r.Hours
}

// LoadDetection parses the embedded detection rules.
func LoadDetection() ([]Rule, error) { return ParseDetection(detectionTOML) }

// rawRule is a [[rule]] as written.
type rawRule struct {
	Name         string
	Kind         string
	Severity     string
	Factor       float64
	Floor        int
	Workspaces   int
	Records      int
	Count        int
	Window       string
	Start        string
	End          string
	Timezone     string
	Days         []string
	Tiers        map[string]rawHours
	RepeatWithin string `toml:"repeat_within"`
	ReviewWithin string `toml:"review_within"`
}

type rawHours struct {
	Start, End string
	Days       []string
}

var ruleName = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)

// kindKeys are the keys each kind reads, besides name, kind and severity.
var kindKeys = map[RuleKind][]string{
	KindVolume:         {"factor", "floor"},
	KindBreadth:        {"workspaces", "records"},
	KindRefusals:       {"count", "window"},
	KindReveals:        {"count"},
	KindOffHours:       {"start", "end", "timezone", "days", "tiers"},
	KindBreakglass:     {"repeat_within", "review_within"},
	KindCustomerReport: {},
}

// ParseDetection reads detection rules and checks every one; an error
// names the rule at fault and what is wrong with it.
func ParseDetection(text string) ([]Rule, error) {
	var doc struct{ Rule []rawRule }
	md, err := toml.Decode(text, &doc)
	if err != nil {
		return nil, fmt.Errorf("detection rules: %w", err)
	}
	// Keys given per rule, to refuse a key its kind does not read (a
	// typo would otherwise silently leave a threshold at its default).
	var keys struct{ Rule []map[string]any }
	if _, err := toml.Decode(text, &keys); err != nil {
		return nil, fmt.Errorf("detection rules: %w", err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		return nil, fmt.Errorf("detection rules: unknown key %s", und[0])
	}
	if len(doc.Rule) == 0 {
		return nil, errors.New("detection rules: no [[rule]]")
	}
	seen := map[string]bool{}
	rules := make([]Rule, 0, len(doc.Rule))
	for i, raw := range doc.Rule {
		r, err := raw.rule(keys.Rule[i])
		if err != nil {
			name := raw.Name
			if name == "" {
				name = fmt.Sprintf("#%d", i+1)
			}
			return nil, fmt.Errorf("detection rule %s: %w", name, err)
		}
		if seen[r.Name] {
			return nil, fmt.Errorf("detection rule %s: named twice", r.Name)
		}
		seen[r.Name] = true
		rules = append(rules, r)
	}
	return rules, nil
}

func (raw rawRule) rule(given map[string]any) (Rule, error) {
	r := Rule{Name: raw.Name, Kind: RuleKind(raw.Kind), Severity: raw.Severity}
	if !ruleName.MatchString(r.Name) {
		return r, errors.New("name must be lower-case letters, digits and dashes, starting with a letter")
	}
	keys, ok := kindKeys[r.Kind]
	if !ok {
		return r, fmt.Errorf("unknown kind %q", raw.Kind)
	}
	if !slices.Contains(Severities, r.Severity) {
		return r, fmt.Errorf("severity %q: want one of %s", raw.Severity, strings.Join(Severities, ", "))
	}
	for k := range given {
		if k != "name" && k != "kind" && k != "severity" && !slices.Contains(keys, k) {
			return r, fmt.Errorf("key %q is not read by kind %s", k, r.Kind)
		}
	}
	positive := func(key string, v int) error {
		if v < 1 {
			return fmt.Errorf("%s must be a whole number of at least 1", key)
		}
		return nil
	}
	var err error
	switch r.Kind {
	case KindVolume:
		r.Factor, r.Floor = raw.Factor, raw.Floor
		if !(r.Factor >= 1) {
			return r, errors.New("factor must be at least 1")
		}
		err = positive("floor", r.Floor)
	case KindBreadth:
		r.Workspaces, r.Records = raw.Workspaces, raw.Records
		err = errors.Join(positive("workspaces", r.Workspaces), positive("records", r.Records))
	case KindRefusals:
		r.Count = raw.Count
		if err = positive("count", r.Count); err == nil {
			r.Window, err = window("window", raw.Window, time.Minute, 24*time.Hour)
		}
	case KindReveals:
		r.Count = raw.Count
		err = positive("count", r.Count)
	case KindOffHours:
		r.Hours, r.Tiers, err = raw.hours()
	case KindBreakglass:
		if r.Repeat, err = window("repeat_within", raw.RepeatWithin, time.Hour, 90*24*time.Hour); err == nil {
			r.Review, err = window("review_within", raw.ReviewWithin, time.Hour, 30*24*time.Hour)
		}
	}
	return r, err
}

func window(key, s string, lo, hi time.Duration) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil || d < lo || d > hi {
		return 0, fmt.Errorf("%s %q: want a duration from %s to %s", key, s, lo, hi)
	}
	return d, nil
}

func (raw rawRule) hours() (WorkingHours, map[string]WorkingHours, error) {
	zone, err := time.LoadLocation(raw.Timezone)
	if err != nil || raw.Timezone == "" {
		return WorkingHours{}, nil, fmt.Errorf("timezone %q: want an IANA zone such as UTC or Europe/Paris", raw.Timezone)
	}
	global, err := workingHours(rawHours{Start: raw.Start, End: raw.End, Days: raw.Days}, zone)
	if err != nil {
		return WorkingHours{}, nil, err
	}
	tiers := map[string]WorkingHours{}
	for tier, h := range raw.Tiers {
		if !Tier(tier).Valid() {
			return WorkingHours{}, nil, fmt.Errorf("tiers.%s: not a tier", tier)
		}
		if tiers[tier], err = workingHours(h, zone); err != nil {
			return WorkingHours{}, nil, fmt.Errorf("tiers.%s: %w", tier, err)
		}
	}
	return global, tiers, nil
}

var weekdays = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

func workingHours(h rawHours, zone *time.Location) (WorkingHours, error) {
	w := WorkingHours{Zone: zone}
	var err error
	if w.Start, err = clock("start", h.Start); err != nil {
		return w, err
	}
	if w.End, err = clock("end", h.End); err != nil {
		return w, err
	}
	if w.End <= w.Start {
		return w, fmt.Errorf("end %s is not after start %s", h.End, h.Start)
	}
	if len(h.Days) == 0 {
		return w, errors.New("days: name at least one day (mon … sun)")
	}
	for _, d := range h.Days {
		i := slices.Index(weekdays, d)
		if i < 0 {
			return w, fmt.Errorf("days: %q is not one of %s", d, strings.Join(weekdays, ", "))
		}
		w.Days[i] = true
	}
	return w, nil
}

// clock reads "HH:MM" (00:00 to 24:00) as minutes after midnight.
func clock(key, s string) (int, error) {
	t, err := time.Parse("15:04", s)
	if s == "24:00" {
		return 24 * 60, nil
	}
	if err != nil {
		return 0, fmt.Errorf("%s %q: want a time of day such as 08:00", key, s)
	}
	return t.Hour()*60 + t.Minute(), nil
}
