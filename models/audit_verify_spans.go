package models

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// A full verify on PostgreSQL is bound by the server producing the rows:
// one backend formats about 500,000 events a second (COPY of the log to
// /dev/null, with no client at all, takes as long as a verify). So a long
// walk is cut into consecutive spans of seqs, each read on its own
// connection in the same snapshot, and verified at once.
//
// The spans join into one chain because each span after the first starts
// from the stored hash of the event that ends the span before it, read in
// that snapshot, and the span before must end exactly there: the event
// with that seq and that hash, its hash checked against its contents like
// every other. Every link is then checked exactly once, as in one walk.

// verifySplitMin is the shortest walk worth cutting into spans: below it
// the extra connections cost more than they save. A variable so tests
// can cut short chains.
var verifySplitMin int64 = 50_000

// verifySpanCount is how many spans a long walk is cut into at most: one
// per core (a span keeps one backend busy and the hashing is shared), no
// more than eight connections. A variable so tests can set it.
var verifySpanCount = func() int { return min(runtime.GOMAXPROCS(0), 8) }

// spansWalked counts the walks cut into spans, so tests can tell a cut
// walk from one that fell back to a single one.
var spansWalked atomic.Int64

// eventWalk walks the events next yields (false at the end).
type eventWalk func(next func() (AuditEvent, bool, error)) error

// spanReader streams, on the i-th connection of the snapshot, the events
// with lo < seq <= hi (every event after lo when hi < 0), in seq order, to
// walk.
type spanReader func(i int, lo, hi int64, walk eventWalk) error

// verifySpans walks the chain from start to head in n spans at once. It
// reports false, and walks nothing, when the chain cannot be cut: an event
// missing at a cut, which the single walk then reports as it always does.
func verifySpans(src chainSource, n int, start, head ChainHead) (VerifyResult, bool, error) {
	cuts := make([]ChainHead, n+1)
	cuts[0], cuts[n] = start, head
	for i := 1; i < n; i++ {
		seq := start.Seq + (head.Seq-start.Seq)*int64(i)/int64(n)
		hash, found, err := src.hashAt(seq)
		if err != nil {
			return VerifyResult{}, false, err
		}
		if !found {
			return VerifyResult{}, false, nil
		}
		cuts[i] = ChainHead{Seq: seq, Hash: hash}
	}
	spansWalked.Add(1)
	results, errs := make([]VerifyResult, n), make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			hi := cuts[i+1].Seq
			if i == n-1 {
				hi = -1 // the last span reads to the end: an event after the head is found
			}
			errs[i] = src.span(i, cuts[i].Seq, hi, func(next func() (AuditEvent, bool, error)) error {
				var err error
				results[i], err = VerifyChain(next, &cuts[i], &cuts[i+1])
				return err
			})
		})
	}
	wg.Wait()
	// The result is the one walk's: the first span that failed, counting
	// the events of the spans before it; an error is only reported where
	// the one walk would have reached it.
	var count int64
	for i, res := range results {
		if errs[i] != nil {
			return VerifyResult{}, true, errs[i]
		}
		count += res.Count
		if !res.OK || i == n-1 {
			res.Count = count
			return res, true, nil
		}
	}
	panic("unreachable: n >= 1")
}
