// Package bench builds the large databases the size benchmarks run on
// (BenchmarkSize): a product registry of N workspaces and a portal audit
// log of M events with a valid hash chain, generated once and kept
// between runs, as the who-viewed benchmark keeps its database.
package bench

import (
	"fmt"
	"strconv"
	"strings"
)

// Size is one pair the benchmarks run at: workspaces in the registry and
// events in the audit log.
type Size struct {
	Workspaces int
	Events     int
}

// DefaultSizes are the pairs `make bench-size` runs unless
// GATEHOUSE_BENCH_SIZES says otherwise; FullSize is added by
// GATEHOUSE_BENCH_FULL=1.
const (
	DefaultSizes = "1k/100k,100k/100k"
	FullSize     = "1m/10m"
)

// Name is the size as the kept databases are named: ws1k_ev100k.
func (s Size) Name() string { return "ws" + short(s.Workspaces) + "_ev" + short(s.Events) }

func (s Size) String() string { return short(s.Workspaces) + "/" + short(s.Events) }

// short writes n as 1k, 100k, 1m, 10m where it divides evenly.
func short(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return strconv.Itoa(n/1_000_000) + "m"
	case n >= 1000 && n%1000 == 0:
		return strconv.Itoa(n/1000) + "k"
	}
	return strconv.Itoa(n)
}

// ParseSizes reads a list such as "1k/100k,100k/100k,1m/10m": workspaces
// and events, each a number with an optional k or m.
func ParseSizes(s string) ([]Size, error) {
	var out []Size
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		ws, ev, ok := strings.Cut(part, "/")
		if !ok {
			return nil, fmt.Errorf("size %q: want WORKSPACES/EVENTS, e.g. 1k/100k", part)
		}
		w, err := parseCount(ws)
		if err != nil {
			return nil, fmt.Errorf("size %q: workspaces: %w", part, err)
		}
		e, err := parseCount(ev)
		if err != nil {
			return nil, fmt.Errorf("size %q: events: %w", part, err)
		}
		out = append(out, Size{Workspaces: w, Events: e})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no sizes in %q", s)
	}
	return out, nil
}

func parseCount(s string) (int, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	mult := 1
	switch {
	case strings.HasSuffix(s, "k"):
		mult, s = 1000, strings.TrimSuffix(s, "k")
	case strings.HasSuffix(s, "m"):
		mult, s = 1_000_000, strings.TrimSuffix(s, "m")
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 || n > 1_000_000_000/mult {
		return 0, fmt.Errorf("%q is not a count between 1 and 1,000,000,000", s)
	}
	return n * mult, nil
}
