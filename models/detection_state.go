package models

import (
	"fmt"
	"strings"
	"time"
)

// The detector's aggregates: read once for each subject a batch touches
// (prefetch), changed in memory and written back at the batch's end
// (flush). The detector holds the position's lock, so no other writer
// changes them meanwhile; and it keeps them in memory for its next batch
// as long as no other detector moves the position (detectState).

type seriesKey struct{ counter, subject string }

// detectState is what a detector knows of the aggregates as of position
// seq: for each series and set read, everything the database holds from
// its from on. It is the database's copy, dirty entries aside, between
// the prefetch and the flush of a step.
type detectState struct {
	seq     int64
	counts  map[seriesKey]*series
	items   map[seriesKey]*itemSet
	evicted time.Time // the newest event when memory was last trimmed
}

func newDetectState(seq int64) *detectState {
	return &detectState{seq: seq, counts: map[seriesKey]*series{}, items: map[seriesKey]*itemSet{}}
}

// series counts a subject's events per bucket (the bucket's start, in
// Unix seconds): every bucket from from on, except that the hourly views
// between frozenFrom and frozenTo are only known as their total frozenN
// (the middle of every 30-day baseline window a batch reads: a replica
// taking over reads one number for them instead of 700 buckets).
type series struct {
	step                 time.Duration
	from                 int64
	frozenFrom, frozenTo int64 // equal when nothing is frozen
	frozenN              int64
	buckets              map[int64]int64
	dirty                map[int64]bool
}

// itemSet is the distinct items a subject touched, each with when last:
// every one last touched at from or later.
type itemSet struct {
	from  time.Time
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

// load returns a subject's buckets from since on: those prefetch read, or
// else read now (all of them one by one).
func (b *evaluation) load(counter, subject string, step time.Duration, since time.Time) (*series, error) {
	k := seriesKey{counter, subject}
	from := since.UTC().Truncate(step).Unix()
	s := b.counts[k]
	if s != nil && s.from <= from {
		return s, nil
	}
	if s != nil && len(s.dirty) > 0 {
		// Reading again would lose this batch's counts; prefetch reads
		// everything a batch needs, so this is a bug: fail the batch.
		return nil, fmt.Errorf("detection counts: %s of %s not read from %s", counter, subject, since.UTC())
	}
	var rows []struct {
		Bucket time.Time
		N      int64
	}
	if err := b.tx.Raw("SELECT bucket, n FROM detection_counts WHERE counter = ? AND subject = ? AND bucket >= ?",
		counter, subject, time.Unix(from, 0).UTC()).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("detection counts: %w", err)
	}
	s = &series{step: step, from: from, buckets: make(map[int64]int64, len(rows)), dirty: map[int64]bool{}}
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
	if s.frozenFrom < s.frozenTo {
		if s.frozenFrom < from || s.frozenTo > to {
			return 0, fmt.Errorf("detection counts: the baseline of %s at %s was not read", subject, hour)
		}
		n = s.frozenN
	}
	for t, c := range s.buckets {
		if t >= from && t < to {
			n += c
		}
	}
	avg := float64(n) / baselineSpan.Hours()
	b.base[k] = avg
	return avg, nil
}

// set returns a subject's items seen from since on: those prefetch read,
// or else read now.
func (b *evaluation) set(counter, subject string, since time.Time) (*itemSet, error) {
	k := seriesKey{counter, subject}
	since = since.UTC()
	s := b.items[k]
	if s != nil && !s.from.After(since) {
		return s, nil
	}
	if s != nil && len(s.dirty) > 0 {
		return nil, fmt.Errorf("detection items: %s of %s not read from %s", counter, subject, since)
	}
	var rows []struct {
		Item   string
		LastAt time.Time
		Seq    int64
	}
	if err := b.tx.Raw("SELECT item, last_at, seq FROM detection_items WHERE counter = ? AND subject = ? AND last_at >= ?",
		counter, subject, since).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("detection items: %w", err)
	}
	s = &itemSet{from: since, items: make(map[string]itemSeen, len(rows)), dirty: map[string]bool{}}
	for _, r := range rows {
		s.items[r.Item] = itemSeen{at: r.LastAt.UTC(), seq: r.Seq}
	}
	b.items[k] = s
	return s, nil
}

// touch notes that subject touched item at at (event seq); span is how
// far back the rules look at the set (0: only this item matters).
func (b *evaluation) touch(counter, subject, item string, at time.Time, seq int64, span time.Duration) error {
	var s *itemSet
	if span == 0 {
		// Nothing is read: the set is only written (and not kept after
		// the step, see settle).
		k := seriesKey{counter, subject}
		if s = b.items[k]; s == nil {
			s = &itemSet{from: at.Add(time.Hour * 24 * 365 * 100), items: map[string]itemSeen{}, dirty: map[string]bool{}}
			b.items[k] = s
		}
	} else {
		var err error
		if s, err = b.set(counter, subject, at.Add(-span)); err != nil {
			return err
		}
	}
	s.touch(item, at, seq)
	return nil
}

// touch notes item touched at at (event seq). Within a minute of its last
// touch an item is not written again: the windows are read to the
// minute, and a subject that keeps touching the same few items (the usual
// case) costs no write per event.
func (s *itemSet) touch(item string, at time.Time, seq int64) {
	if old, ok := s.items[item]; !ok || at.Sub(old.at) >= time.Minute {
		s.items[item] = itemSeen{at: at, seq: seq}
		s.dirty[item] = true
	}
}

// touchBytes is touch for an item in a scratch buffer: one already
// touched within the minute costs no allocation.
func (s *itemSet) touchBytes(item []byte, at time.Time, seq int64) {
	if old, ok := s.items[string(item)]; ok && at.Sub(old.at) < time.Minute {
		return
	}
	s.touch(string(item), at, seq)
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
	b.evict(newest)
	return nil
}

// evict forgets, in memory, what prune deletes as of newest (and moves
// the series' and sets' from past it, so a batch that needs it after all,
// say one with older events, reads the database again).
func (b *evaluation) evict(newest time.Time) {
	hourly := newest.Add(-baselineSpan - 2*time.Hour).Unix()
	minutely := newest.Add(-b.minuteSpan - time.Hour).Unix()
	for k, s := range b.counts {
		cut := minutely
		if k.counter == cViewsHour {
			cut = hourly
			if s.frozenFrom < s.frozenTo && s.frozenFrom < cut {
				delete(b.counts, k)
				continue
			}
		}
		for t := range s.buckets {
			if t < cut && !s.dirty[t] {
				delete(s.buckets, t)
			}
		}
		if len(s.buckets) == 0 && len(s.dirty) == 0 {
			delete(b.counts, k)
		}
		s.from = max(s.from, cut)
	}
	for k, s := range b.items {
		var cut time.Time
		switch k.counter {
		case iWorkspaces, iRecords:
			cut = newest.Add(-2 * hourWindow)
		case iBreakglass:
			cut = newest.Add(-b.repeatSpan - time.Hour)
		default:
			continue
		}
		for item, it := range s.items {
			if it.at.Before(cut) && !s.dirty[item] {
				delete(s.items, item)
			}
		}
		if len(s.items) == 0 && len(s.dirty) == 0 {
			delete(b.items, k)
		}
		if s.from.Before(cut) {
			s.from = cut
		}
	}
}

// settle readies the state for the next step once b is flushed: it drops
// the sets only written (uses awaiting review, which a step without
// events may delete on another replica without moving the position), and
// trims memory to what the rules still read as of the batch's newest
// event, once an hour of events.
func (st *detectState) settle(b *evaluation, evs []AuditEvent) {
	for k := range st.items {
		if strings.HasPrefix(k.counter, iUnreviewed) {
			delete(st.items, k)
		}
	}
	var newest time.Time
	for i := range evs {
		if evs[i].At.After(newest) {
			newest = evs[i].At
		}
	}
	if newest.Sub(st.evicted) > time.Hour {
		b.evict(newest)
		st.evicted = newest
	}
}

// prefetch reads, in a few queries, every aggregate the batch's events
// will touch that the state does not hold already (all of them after
// another detector moved the position); without it each subject would
// cost a query of its own.
func (b *evaluation) prefetch(evs []AuditEvent) error {
	if len(evs) == 0 {
		return nil
	}
	oldest, newest := evs[0].At, evs[0].At
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
		if ev.At.After(newest) {
			newest = ev.At
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
	oldest, newest = oldest.UTC(), newest.UTC()
	for counter, subjects := range counts {
		step := time.Minute
		if counter == cViewsHour {
			step = time.Hour
		}
		since := oldest.Add(-b.spanOf(counter)).Truncate(step)
		// The hourly views between frozenFrom and frozenTo are in every
		// baseline window of the batch's hours (and of the next day's,
		// so a detector keeping the position reads them once a day):
		// read as one sum.
		var frozenFrom, frozenTo time.Time
		if counter == cViewsHour {
			first, last := oldest.Truncate(time.Hour), newest.Truncate(time.Hour)
			frozenTo = first
			frozenFrom = first.Add(-baselineSpan + 24*time.Hour)
			if f := last.Add(-baselineSpan); f.After(frozenFrom) {
				frozenFrom = f
			}
			if !frozenFrom.Before(frozenTo) {
				frozenFrom = frozenTo // the batch spans 30 days: every bucket
			}
		}
		for subject := range subjects {
			if s := b.counts[seriesKey{counter, subject}]; s != nil && s.from <= since.Unix() &&
				(s.frozenFrom == s.frozenTo || s.frozenTo <= oldest.Truncate(time.Hour).Unix() && s.frozenFrom >= newest.Truncate(time.Hour).Add(-baselineSpan).Unix()) {
				delete(subjects, subject) // known
			}
		}
		err := eachChunk(subjects, func(chunk []string) error {
			for _, s := range chunk {
				b.counts[seriesKey{counter, s}] = &series{step: step, from: since.Unix(), frozenFrom: frozenFrom.Unix(), frozenTo: frozenTo.Unix(),
					buckets: map[int64]int64{}, dirty: map[int64]bool{}}
			}
			q, args := "SELECT subject, bucket, n FROM detection_counts WHERE counter = ? AND subject IN ? AND bucket >= ?", []any{counter, chunk, since}
			if frozenFrom.Before(frozenTo) {
				q += " AND (bucket < ? OR bucket >= ?)"
				args = append(args, frozenFrom, frozenTo)
				var sums []struct {
					Subject string
					N       int64
				}
				if err := b.tx.Raw("SELECT subject, CAST(SUM(n) AS BIGINT) AS n FROM detection_counts WHERE counter = ? AND subject IN ? AND bucket >= ? AND bucket < ? GROUP BY subject",
					counter, chunk, frozenFrom, frozenTo).Scan(&sums).Error; err != nil {
					return fmt.Errorf("detection counts: %w", err)
				}
				for _, r := range sums {
					b.counts[seriesKey{counter, r.Subject}].frozenN = r.N
				}
			}
			rows, err := b.tx.Raw(q, args...).Rows()
			if err != nil {
				return fmt.Errorf("detection counts: %w", err)
			}
			defer rows.Close()
			var subject string
			var bucket time.Time
			var n int64
			for rows.Next() {
				if err := rows.Scan(&subject, &bucket, &n); err != nil {
					return fmt.Errorf("detection counts: %w", err)
				}
				b.counts[seriesKey{counter, subject}].buckets[bucket.Unix()] = n
			}
			return rows.Err()
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
		for subject := range subjects {
			if s := b.items[seriesKey{counter, subject}]; s != nil && !s.from.After(since) {
				delete(subjects, subject) // known
			}
		}
		read := func(q string, args ...any) error {
			// Scanned by hand: these are the most rows a batch reads.
			rows, err := b.tx.Raw(q, args...).Rows()
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
				if set := b.items[seriesKey{counter, subject}]; set != nil && subjects[subject] {
					seen.at = seen.at.UTC()
					set.items[item] = seen
				}
			}
			return rows.Err()
		}
		for subject := range subjects {
			b.items[seriesKey{counter, subject}] = &itemSet{from: since, items: map[string]itemSeen{}, dirty: map[string]bool{}}
		}
		var err error
		if len(subjects) > 100 {
			// Most of the subjects (say, after another detector moved the
			// position): one pass over the counter's recent items costs
			// less than matching each against a long list.
			err = read("SELECT subject, item, last_at, seq FROM detection_items WHERE counter = ? AND last_at >= ?", counter, since)
		} else {
			err = eachChunk(subjects, func(chunk []string) error {
				return read("SELECT subject, item, last_at, seq FROM detection_items WHERE counter = ? AND subject IN ? AND last_at >= ?", counter, chunk, since)
			})
		}
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
