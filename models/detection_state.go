package models

import (
	"fmt"
	"strings"
	"time"
)

// The detector's aggregates, read once per batch for each subject the
// batch touches, changed in memory and written back at the batch's end
// (flush). The detector holds the position's lock, so no other writer
// changes them meanwhile.

type seriesKey struct{ counter, subject string }

// series counts a subject's events per bucket (the bucket's start, in
// Unix seconds).
type series struct {
	step    time.Duration
	buckets map[int64]int64
	dirty   map[int64]bool
}

// itemSet is the distinct items a subject touched, each with when last.
type itemSet struct {
	items map[string]itemSeen
	dirty map[string]bool
}

type itemSeen struct {
	at  time.Time
	seq int64
}

// spanOf is how far back a counter's buckets are read.
func (b *evaluation) spanOf(counter string) time.Duration {
	if counter == cViewsHour {
		return baselineSpan + time.Hour
	}
	return b.minuteSpan
}

// load reads a subject's buckets from since on, once per batch.
func (b *evaluation) load(counter, subject string, step time.Duration, since time.Time) (*series, error) {
	k := seriesKey{counter, subject}
	if s := b.counts[k]; s != nil {
		return s, nil
	}
	var rows []struct {
		Bucket time.Time
		N      int64
	}
	if err := b.tx.Raw("SELECT bucket, n FROM detection_counts WHERE counter = ? AND subject = ? AND bucket >= ?",
		counter, subject, since.UTC().Truncate(step)).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("detection counts: %w", err)
	}
	s := &series{step: step, buckets: make(map[int64]int64, len(rows)), dirty: map[int64]bool{}}
	for _, r := range rows {
		s.buckets[r.Bucket.Unix()] = r.N
	}
	b.counts[k] = s
	return s, nil
}

// add counts one event at at.
func (b *evaluation) add(counter, subject string, step time.Duration, at time.Time) error {
	s, err := b.load(counter, subject, step, at.Add(-b.spanOf(counter)))
	if err != nil {
		return err
	}
	t := at.Truncate(step).Unix()
	s.buckets[t]++
	s.dirty[t] = true
	return nil
}

// sum counts the events in the window up to at: the buckets that end
// after at-window and start no later than at (to the step).
func (b *evaluation) sum(counter, subject string, step time.Duration, at time.Time, window time.Duration) (int64, error) {
	s, err := b.load(counter, subject, step, at.Add(-b.spanOf(counter)))
	if err != nil {
		return 0, err
	}
	from, to := at.Add(-window).Unix()-int64(step/time.Second), at.Unix()
	var n int64
	for t, c := range s.buckets {
		if t > from && t <= to {
			n += c
		}
	}
	return n, nil
}

// baseline is subject's average views per hour over the 30 days before
// the hour of at, computed once per hour and batch.
func (b *evaluation) baseline(subject string, at time.Time) (float64, error) {
	hour := at.Truncate(time.Hour)
	k := seriesKey{subject, hour.Format(time.RFC3339)}
	if avg, ok := b.base[k]; ok {
		return avg, nil
	}
	s, err := b.load(cViewsHour, subject, time.Hour, at.Add(-b.spanOf(cViewsHour)))
	if err != nil {
		return 0, err
	}
	from, to := hour.Add(-baselineSpan).Unix(), hour.Unix()
	var n int64
	for t, c := range s.buckets {
		if t >= from && t < to {
			n += c
		}
	}
	avg := float64(n) / baselineSpan.Hours()
	b.base[k] = avg
	return avg, nil
}

// set reads a subject's items seen from since on, once per batch.
func (b *evaluation) set(counter, subject string, since time.Time) (*itemSet, error) {
	k := seriesKey{counter, subject}
	if s := b.items[k]; s != nil {
		return s, nil
	}
	var rows []struct {
		Item   string
		LastAt time.Time
		Seq    int64
	}
	if err := b.tx.Raw("SELECT item, last_at, seq FROM detection_items WHERE counter = ? AND subject = ? AND last_at >= ?",
		counter, subject, since.UTC()).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("detection items: %w", err)
	}
	s := &itemSet{items: make(map[string]itemSeen, len(rows)), dirty: map[string]bool{}}
	for _, r := range rows {
		s.items[r.Item] = itemSeen{at: r.LastAt.UTC(), seq: r.Seq}
	}
	b.items[k] = s
	return s, nil
}

// touch notes that subject touched item at at (event seq); span is how
// far back the rules look at the set (0: only this item matters).
func (b *evaluation) touch(counter, subject, item string, at time.Time, seq int64, span time.Duration) error {
	since := at.Add(-span)
	if span == 0 {
		since = at.Add(time.Hour * 24 * 365 * 100) // read nothing: the set is only written
	}
	s, err := b.set(counter, subject, since)
	if err != nil {
		return err
	}
	// Within a minute of its last touch an item is not written again: the
	// windows are read to the minute, and a subject that keeps touching
	// the same few items (the usual case) costs no write per event.
	if old, ok := s.items[item]; !ok || at.Sub(old.at) >= time.Minute {
		s.items[item] = itemSeen{at: at, seq: seq}
		s.dirty[item] = true
	}
	return nil
}

// distinct counts the items subject touched in the window up to at.
func (b *evaluation) distinct(counter, subject string, at time.Time, window time.Duration) (int, error) {
	s, err := b.set(counter, subject, at.Add(-window))
	if err != nil {
		return 0, err
	}
	from := at.Add(-window)
	n := 0
	for _, it := range s.items {
		if it.at.After(from) && !it.at.After(at) {
			n++
		}
	}
	return n, nil
}

// flushChunk bounds the rows of one upsert.
const flushChunk = 400

// flush writes the changed buckets and items back.
func (b *evaluation) flush() error {
	var args []any
	n := 0
	write := func(q, conflict string, cols int) error {
		if n == 0 {
			return nil
		}
		ph := "(" + strings.TrimSuffix(strings.Repeat("?,", cols), ",") + ")"
		stmt := q + strings.TrimSuffix(strings.Repeat(ph+",", n), ",") + conflict
		err := b.tx.Exec(stmt, args...).Error
		args, n = args[:0], 0
		return err
	}
	const countsQ = "INSERT INTO detection_counts (counter, subject, bucket, n) VALUES "
	const countsC = " ON CONFLICT (counter, subject, bucket) DO UPDATE SET n = excluded.n"
	for k, s := range b.counts {
		for t := range s.dirty {
			args = append(args, k.counter, k.subject, time.Unix(t, 0).UTC(), s.buckets[t])
			if n++; n == flushChunk {
				if err := write(countsQ, countsC, 4); err != nil {
					return fmt.Errorf("detection counts: %w", err)
				}
			}
		}
		clear(s.dirty)
	}
	if err := write(countsQ, countsC, 4); err != nil {
		return fmt.Errorf("detection counts: %w", err)
	}
	const itemsQ = "INSERT INTO detection_items (counter, subject, item, last_at, seq) VALUES "
	const itemsC = " ON CONFLICT (counter, subject, item) DO UPDATE SET last_at = excluded.last_at, seq = excluded.seq"
	for k, s := range b.items {
		for item := range s.dirty {
			it := s.items[item]
			args = append(args, k.counter, k.subject, item, it.at.UTC(), it.seq)
			if n++; n == flushChunk {
				if err := write(itemsQ, itemsC, 5); err != nil {
					return fmt.Errorf("detection items: %w", err)
				}
			}
		}
		clear(s.dirty)
	}
	if err := write(itemsQ, itemsC, 5); err != nil {
		return fmt.Errorf("detection items: %w", err)
	}
	return nil
}

// prune drops the aggregates no rule reads any more, as of the newest
// event evaluated (not the clock: a detector catching up on old events
// still needs them).
func (b *evaluation) prune(newest time.Time) error {
	newest = newest.UTC()
	steps := []struct {
		q    string
		args []any
	}{
		{"DELETE FROM detection_counts WHERE bucket < ?", []any{newest.Add(-baselineSpan - 2*time.Hour)}},
		{"DELETE FROM detection_counts WHERE counter <> ? AND bucket < ?", []any{cViewsHour, newest.Add(-b.minuteSpan - time.Hour)}},
		{"DELETE FROM detection_items WHERE counter IN (?, ?) AND last_at < ?", []any{iWorkspaces, iRecords, newest.Add(-2 * hourWindow)}},
		{"DELETE FROM detection_items WHERE counter = ? AND last_at < ?", []any{iBreakglass, newest.Add(-b.repeatSpan - time.Hour)}},
	}
	for _, s := range steps {
		if err := b.tx.Exec(s.q, s.args...).Error; err != nil {
			return fmt.Errorf("detection prune: %w", err)
		}
	}
	return nil
}

// prefetch reads, in a few queries, every aggregate the batch's events
// will touch; without it each subject would cost a query of its own.
func (b *evaluation) prefetch(evs []AuditEvent) error {
	if len(evs) == 0 {
		return nil
	}
	oldest := evs[0].At
	counts, items := map[string]map[string]bool{}, map[string]map[string]bool{}
	need := func(m map[string]map[string]bool, counter, subject string) {
		if subject == "" {
			return
		}
		if m[counter] == nil {
			m[counter] = map[string]bool{}
		}
		m[counter][subject] = true
	}
	for i := range evs {
		ev := &evs[i]
		if ev.At.Before(oldest) {
			oldest = ev.At
		}
		switch ev.Action {
		case ActionDataViewed:
			if b.views {
				need(counts, cViewsMinute, ev.Actor)
				need(counts, cViewsHour, ev.Actor)
			}
			if b.breadth {
				need(items, iWorkspaces, ev.Actor)
				need(items, iRecords, ev.Actor+"\n"+ev.Workspace)
			}
		case ActionFieldRevealed:
			if b.reveals {
				need(counts, cRevealsMinute, ev.Actor)
			}
		case ActionDataRefused, ActionLoginRefused:
			if b.refusals {
				need(counts, cRefusedStaff, ev.Actor)
				need(counts, cRefusedAddr, ev.IP)
			}
		case ActionBreakglassOpened:
			if b.repeats {
				need(items, iBreakglass, ev.Actor)
			}
		}
	}
	oldest = oldest.UTC()
	for counter, subjects := range counts {
		step := time.Minute
		if counter == cViewsHour {
			step = time.Hour
		}
		since := oldest.Add(-b.spanOf(counter)).Truncate(step)
		err := eachChunk(subjects, func(chunk []string) error {
			var rows []struct {
				Subject string
				Bucket  time.Time
				N       int64
			}
			if err := b.tx.Raw("SELECT subject, bucket, n FROM detection_counts WHERE counter = ? AND subject IN ? AND bucket >= ?",
				counter, chunk, since).Scan(&rows).Error; err != nil {
				return fmt.Errorf("detection counts: %w", err)
			}
			for _, s := range chunk {
				b.counts[seriesKey{counter, s}] = &series{step: step, buckets: map[int64]int64{}, dirty: map[int64]bool{}}
			}
			for _, r := range rows {
				b.counts[seriesKey{counter, r.Subject}].buckets[r.Bucket.Unix()] = r.N
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	for counter, subjects := range items {
		span := hourWindow
		if counter == iBreakglass {
			span = b.repeatSpan
		}
		since := oldest.Add(-span)
		err := eachChunk(subjects, func(chunk []string) error {
			for _, s := range chunk {
				b.items[seriesKey{counter, s}] = &itemSet{items: map[string]itemSeen{}, dirty: map[string]bool{}}
			}
			// Scanned by hand: these are the most rows a batch reads.
			rows, err := b.tx.Raw("SELECT subject, item, last_at, seq FROM detection_items WHERE counter = ? AND subject IN ? AND last_at >= ?",
				counter, chunk, since).Rows()
			if err != nil {
				return fmt.Errorf("detection items: %w", err)
			}
			defer rows.Close()
			var subject, item string
			var seen itemSeen
			for rows.Next() {
				if err := rows.Scan(&subject, &item, &seen.at, &seen.seq); err != nil {
					return fmt.Errorf("detection items: %w", err)
				}
				seen.at = seen.at.UTC()
				b.items[seriesKey{counter, subject}].items[item] = seen
			}
			return rows.Err()
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// eachChunk calls fn with the set's members, a few hundred at a time.
func eachChunk(set map[string]bool, fn func([]string) error) error {
	chunk := make([]string, 0, 300)
	for s := range set {
		if chunk = append(chunk, s); len(chunk) == cap(chunk) {
			if err := fn(chunk); err != nil {
				return err
			}
			chunk = chunk[:0]
		}
	}
	if len(chunk) > 0 {
		return fn(chunk)
	}
	return nil
}
