package models

import (
	"context"
	"database/sql"
	"fmt"
	"runtime"
	"sync"
	"time"

	"gorm.io/gorm"
)

// VerifyResult is the outcome of walking a chain.
type VerifyResult struct {
	OK        bool
	Count     int64  // events that checked
	Seq       int64  // seq of the last event that checked (the start's seq if none)
	Head      string // hash of the last event that checked (the start's hash if none)
	BrokenSeq int64  // when !OK: the first seq at which the chain no longer checks
	Problem   string // when !OK: why
}

// VerifyChain walks events in the order next yields them (next returns
// false at the end) and checks that seqs run on from the start without
// gap, duplicate or reordering, that each prev_hash is the hash of the
// event before and that each hash is ChainHash of its event. from is a
// trusted point to continue after, such as a signed checkpoint already
// verified (nil: the beginning, seq 0 and GenesisHash); when to is not nil
// the chain must end exactly there. It stops at the first broken link; an
// error is only ever next's.
func VerifyChain(next func() (AuditEvent, bool, error), from, want *ChainHead) (VerifyResult, error) {
	// Each event's hash depends only on the event and its own prev_hash,
	// so chunks are hashed in parallel (while the next chunk is read) and
	// then checked in order.
	r := newChunkReader(next)
	start := ChainHead{Hash: GenesisHash}
	if from != nil {
		start = *from
	}
	res := VerifyResult{Seq: start.Seq, Head: start.Hash}
	idx := 0
	cur, readErr := r.readChunk(idx)
	hashing := r.hashAll(cur, r.oks[idx])
	for len(cur) > 0 {
		var ahead []AuditEvent
		if !r.ended {
			ahead, readErr = r.readChunk(1 - idx)
		}
		hashing.Wait()
		if !res.link(cur, r.oks[idx]) {
			return res, nil
		}
		idx = 1 - idx
		cur = ahead
		hashing = r.hashAll(cur, r.oks[idx])
	}
	hashing.Wait()
	if readErr != nil {
		return res, readErr
	}
	return res.end(want), nil
}

// chunkReader reads events in growing chunks, double-buffered, and hashes
// a chunk on every core.
type chunkReader struct {
	next    func() (AuditEvent, bool, error)
	chunk   int // growing: a short walk, or an early break, reads little ahead
	ended   bool
	hashers []chainHasher
	bufs    [2][]AuditEvent
	oks     [2][]bool
}

const maxVerifyChunk = 4096

func newChunkReader(next func() (AuditEvent, bool, error)) *chunkReader {
	return &chunkReader{next: next, chunk: 256, hashers: make([]chainHasher, runtime.GOMAXPROCS(0))}
}

// readChunk fills buffer i with the next chunk of events.
func (r *chunkReader) readChunk(i int) ([]AuditEvent, error) {
	if cap(r.bufs[i]) < r.chunk {
		r.bufs[i], r.oks[i] = make([]AuditEvent, 0, r.chunk), make([]bool, r.chunk)
	}
	dst := r.bufs[i][:0]
	var err error
	for len(dst) < r.chunk {
		ev, ok, nerr := r.next()
		if nerr != nil || !ok {
			r.ended, err = true, nerr
			break
		}
		dst = append(dst, ev)
	}
	if r.chunk < maxVerifyChunk {
		r.chunk *= 2
	}
	return dst, err
}

// hashAll sets ok[j] to whether evs[j]'s hash matches its contents, in
// parallel; wait on the result before reading ok.
func (r *chunkReader) hashAll(evs []AuditEvent, ok []bool) *sync.WaitGroup {
	var wg sync.WaitGroup
	workers := len(r.hashers)
	per := (len(evs) + workers - 1) / workers
	if len(evs) < 256 {
		per = len(evs)
	}
	for w := 0; w*per < len(evs); w++ {
		part, h := evs[w*per:min(len(evs), (w+1)*per)], &r.hashers[w]
		okPart := ok[w*per:]
		wg.Go(func() {
			for j := range part {
				okPart[j] = h.matches(&part[j])
			}
		})
	}
	return &wg
}

// link checks that evs (whose hashes are ok) run on from r, advancing
// it; false at the first broken link, which r then describes.
func (r *VerifyResult) link(evs []AuditEvent, ok []bool) bool {
	for i := range evs {
		ev := &evs[i]
		expected := r.Seq + 1
		switch {
		case ev.Seq > expected:
			*r = r.broken(expected, fmt.Sprintf("expected seq %d, found %d: events missing or out of order", expected, ev.Seq))
		case ev.Seq < expected:
			*r = r.broken(ev.Seq, fmt.Sprintf("expected seq %d, found %d: duplicate or out of order", expected, ev.Seq))
		case ev.PrevHash != r.Head:
			*r = r.broken(ev.Seq, "prev_hash is not the hash of the event before")
		case !ok[i]:
			*r = r.broken(ev.Seq, "hash does not match the event's contents")
		default:
			r.Count++
			r.Seq, r.Head = ev.Seq, ev.Hash
			continue
		}
		return false
	}
	return true
}

// end checks that the walk ended at want (when not nil).
func (r VerifyResult) end(want *ChainHead) VerifyResult {
	if want != nil && (want.Seq != r.Seq || want.Hash != r.Head) {
		if want.Seq > r.Seq {
			return r.broken(r.Seq+1, fmt.Sprintf("chain ends at seq %d but its head is at seq %d: events missing", r.Seq, want.Seq))
		}
		return r.broken(min(want.Seq+1, r.Seq), fmt.Sprintf("chain ends at seq %d (hash %.12s…) but its head is seq %d (hash %.12s…)", r.Seq, r.Head, want.Seq, want.Hash))
	}
	r.OK = true
	return r
}

func (r VerifyResult) broken(seq int64, problem string) VerifyResult {
	r.BrokenSeq, r.Problem = seq, problem
	return r
}

// VerifyAudit verifies the whole audit chain in db against its head, in
// one consistent snapshot (VerifyAuditWith from the genesis).
func VerifyAudit(ctx context.Context, db *DB) (VerifyResult, error) {
	return VerifyAuditWith(ctx, db, VerifyOptions{})
}

// eventScanner scans rows of auditColumns into AuditEvents with few
// allocations: the text columns are read as raw bytes and copied into one
// string per row, which the event's fields then slice.
type eventScanner struct {
	seq       int64
	at        time.Time
	text      [14]sql.RawBytes // the text columns, in auditColumns' order
	grant, bg sql.NullInt64
	dest      []any
	buf       []byte
	ids       []int64 // grant and break-glass ids, handed out a slab at a time
}

func (s *eventScanner) scan(rows *sql.Rows) (AuditEvent, error) {
	if s.dest == nil {
		t := &s.text
		s.dest = []any{&s.seq, &s.at, &t[0], &t[1], &t[2], &t[3], &t[4], &t[5], &s.grant, &s.bg,
			&t[6], &t[7], &t[8], &t[9], &t[10], &t[11], &t[12], &t[13]}
	}
	if err := rows.Scan(s.dest...); err != nil {
		return AuditEvent{}, err
	}
	var ends [len(s.text)]int
	s.buf = s.buf[:0]
	for i, b := range s.text {
		s.buf = append(s.buf, b...)
		ends[i] = len(s.buf)
	}
	all := string(s.buf)
	field := func(i int) string {
		if i == 0 {
			return all[:ends[0]]
		}
		return all[ends[i-1]:ends[i]]
	}
	return AuditEvent{
		Seq: s.seq, At: s.at,
		Actor: field(0), ActorTier: field(1), Action: Action(field(2)), Workspace: field(3), Table: field(4), RecordIDs: field(5),
		GrantID: s.id(s.grant), BreakglassID: s.id(s.bg),
		Target: field(6), Reason: field(7), Detail: field(8), IP: field(9), UserAgent: field(10), RequestID: field(11),
		PrevHash: field(12), Hash: field(13),
	}, nil
}

func (s *eventScanner) id(n sql.NullInt64) *int64 {
	if !n.Valid {
		return nil
	}
	if len(s.ids) == cap(s.ids) {
		s.ids = make([]int64, 0, 1024)
	}
	s.ids = append(s.ids, n.Int64)
	return &s.ids[len(s.ids)-1]
}

func locklessHead(tx *gorm.DB) (ChainHead, error) {
	var h ChainHead
	if err := tx.Raw("SELECT seq, hash FROM audit_head WHERE id = 1").Row().Scan(&h.Seq, &h.Hash); err != nil {
		return ChainHead{}, fmt.Errorf("audit head: %w", err)
	}
	return h, nil
}
