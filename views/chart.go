package views

import (
	"strconv"
	"time"
)

// DayChart is one bar per day of a window: how many times something
// happened each day, oldest first.
type DayChart struct {
	Title  string      // what is counted, e.g. "Data views by seniors"
	Key    string      // a short id for data-testid, e.g. "senior"
	Days   []time.Time // the days, UTC midnight, oldest first
	Counts []int64     // one per day
	// Max is the top of the scale, so that charts shown together compare
	// at a glance; 0 scales to this chart's own largest count.
	Max int64
}

// The chart's geometry, in SVG user units: one slot per day, the bars
// rising from a baseline above the date labels.
const (
	chartSlot   = 12
	chartBar    = 9
	chartPlot   = 80
	chartTop    = 12
	chartHeight = chartTop + chartPlot + 16
)

// Total is the sum of the counts.
func (c DayChart) Total() int64 {
	var n int64
	for _, k := range c.Counts {
		n += k
	}
	return n
}

func (c DayChart) scale() int64 {
	if c.Max > 0 {
		return c.Max
	}
	var m int64
	for _, k := range c.Counts {
		m = max(m, k)
	}
	return m
}

// barHeight is count's bar in user units; a day with any count shows at
// least one unit, so it never looks like a day without.
func (c DayChart) barHeight(count int64) int64 {
	top := c.scale()
	if count <= 0 || top <= 0 {
		return 0
	}
	return max(1, count*chartPlot/top)
}

func (c DayChart) width() int { return len(c.Days) * chartSlot }

func (c DayChart) viewBox() string {
	return "0 0 " + strconv.Itoa(c.width()) + " " + strconv.Itoa(chartHeight)
}

func n(i int64) string { return strconv.FormatInt(i, 10) }

func barX(i int) string { return strconv.Itoa(i*chartSlot + (chartSlot-chartBar)/2) }

func (c DayChart) barY(count int64) string { return n(chartTop + chartPlot - c.barHeight(count)) }

// summary is the chart in one sentence, its text alternative.
func (c DayChart) summary() string {
	if len(c.Days) == 0 {
		return c.Title + ": no days to show."
	}
	span := " from " + date(c.Days[0]) + " to " + date(c.Days[len(c.Days)-1])
	total := c.Total()
	if total == 0 {
		return c.Title + span + ": none."
	}
	best := 0
	for i, k := range c.Counts {
		if k > c.Counts[best] {
			best = i
		}
	}
	return c.Title + span + ": " + plural(total, "in all", "in all") + ", most on " + date(c.Days[best]) + " (" + n(c.Counts[best]) + ")."
}
