package models

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"

	"gorm.io/gorm"
)

// StreamResult is what VerifyStream found.
type StreamResult struct {
	Chain      VerifyResult // the chain, walked and held against the last checkpoint
	Checkpoint Checkpoint   // the stream's last checkpoint
	Events     int64        // event lines compared with the database
	DiffSeq    int64        // the lowest seq whose streamed event the database does not hold as streamed; 0 when none
	Difference string       // when DiffSeq > 0: how it differs
	Continuity Continuity   // which of the chain's seqs the stream holds, and how often
}

// Continuity is what a stream holds of the chain by seq, for a consumer
// to check that nothing was lost or repeated on the way. Seqs beyond the
// chain's head count only as differences.
type Continuity struct {
	First, Last   int64 // the lowest and highest seq streamed; 0 when none
	Head          int64 // the chain's head when the stream was read
	Missing       int64 // seqs between First and Last the stream lacks
	FirstMissing  int64 // the lowest of them; 0 when none
	Repeated      int64 // event lines repeating a seq streamed before
	FirstRepeated int64 // the lowest repeated seq; 0 when none
}

// continuity counts a stream's seqs with a bit per event of the chain.
type continuity struct {
	Continuity
	seen []uint64
}

// add counts one event line.
func (c *continuity) add(seq int64) {
	if seq > c.Head {
		return
	}
	w, bit := seq/64, uint64(1)<<(seq%64)
	if int(w) >= len(c.seen) {
		c.seen = append(c.seen, make([]uint64, int(w)+1-len(c.seen))...)
	}
	if c.seen[w]&bit != 0 {
		c.Repeated++
		if c.FirstRepeated == 0 || seq < c.FirstRepeated {
			c.FirstRepeated = seq
		}
		return
	}
	c.seen[w] |= bit
	if c.First == 0 || seq < c.First {
		c.First = seq
	}
	c.Last = max(c.Last, seq)
}

// finish counts the seqs missing between First and Last.
func (c *continuity) finish() Continuity {
	for seq := c.First; seq > 0 && seq <= c.Last; seq++ {
		if c.seen[seq/64]&(uint64(1)<<(seq%64)) == 0 {
			c.Missing++
			if c.FirstMissing == 0 {
				c.FirstMissing = seq
			}
		}
	}
	return c.Continuity
}

// First returns the lowest seq at which the chain, the checkpoint or the
// stream fails, and why; 0 and "" when all of them hold.
func (r StreamResult) First() (int64, string) {
	if r.DiffSeq > 0 && (r.Chain.OK || r.DiffSeq < r.Chain.BrokenSeq) {
		return r.DiffSeq, r.Difference
	}
	if !r.Chain.OK {
		return r.Chain.BrokenSeq, r.Chain.Problem
	}
	return 0, ""
}

// VerifyStream reads an audit stream once. Its last checkpoint is held
// against the chain as by VerifyAgainstCheckpoint; every event line's seq
// and hash are compared with the database, so events rewritten (the chain
// recomputed from them on) or removed after the last checkpoint are found
// as long as the stream holds them. The file is read line by line and
// compared in batches of seqs, so its size does not matter; which seqs it
// holds is kept in a bit per event of the chain.
func VerifyStream(ctx context.Context, db *DB, r io.Reader, pub ed25519.PublicKey) (StreamResult, error) {
	var res StreamResult
	head, err := locklessHead(db.Read.WithContext(ctx))
	if err != nil {
		return StreamResult{}, err
	}
	seqs := continuity{Continuity: Continuity{Head: head.Seq}}
	found := false
	cmp := streamComparer{db: db.Read.WithContext(ctx)}
	err = scanStream(r, func(line Checkpoint) error {
		if line.Type == "checkpoint" {
			res.Checkpoint, found = line, true
			return nil
		}
		seqs.add(line.Seq)
		return cmp.add(line.Seq, line.Hash)
	})
	if err == nil {
		err = cmp.flush()
	}
	if err != nil {
		return StreamResult{}, err
	}
	if !found {
		return StreamResult{}, errors.New("no checkpoint line found")
	}
	res.Events, res.DiffSeq, res.Difference = cmp.compared, cmp.diffSeq, cmp.diff
	res.Continuity = seqs.finish()
	if res.Chain, err = VerifyAgainstCheckpoint(ctx, db, res.Checkpoint, pub); err != nil {
		return StreamResult{}, err
	}
	return res, nil
}

// maxStreamLine bounds one line of a stream in memory: far beyond any
// event the portal writes (a request's headers are at most 1 MB).
const maxStreamLine = 16 << 20

// scanStream calls fn with each checkpoint and event line of an audit
// stream, read as a Checkpoint (which holds an event's seq and hash too).
// Other lines, such as a log's or one cut short by a crash, are skipped,
// and so are event lines without a seq, which the portal never writes.
func scanStream(r io.Reader, fn func(Checkpoint) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxStreamLine)
	n := 0 // lines read
	for sc.Scan() {
		n++
		c, ok := parseStreamLine(sc.Bytes())
		if !ok {
			continue
		}
		if err := fn(c); err != nil {
			return err
		}
	}
	if err := sc.Err(); errors.Is(err, bufio.ErrTooLong) {
		return fmt.Errorf("read audit stream: line %d is longer than %d MiB, not a line the portal wrote", n+1, maxStreamLine>>20)
	} else if err != nil {
		return fmt.Errorf("read audit stream: %w", err)
	}
	return nil
}

// parseStreamLine reads a checkpoint or event line (an event's seq and
// hash) as a Checkpoint; false for any other line.
func parseStreamLine(line []byte) (Checkpoint, bool) {
	if !bytes.Contains(line, []byte(`"checkpoint"`)) && !bytes.Contains(line, []byte(`"event"`)) {
		return Checkpoint{}, false
	}
	var c Checkpoint
	if json.Unmarshal(line, &c) != nil || (c.Type != "checkpoint" && (c.Type != "event" || c.Seq < 1)) {
		return Checkpoint{}, false
	}
	return c, true
}

// streamBatch is how many streamed events are compared per query: few
// enough seqs for SQLite's oldest limit of 999 bound parameters.
const streamBatch = 500

// streamEvent is an event line's seq and hash.
type streamEvent struct {
	seq  int64
	hash string
}

// streamComparer compares streamed events with the database a batch at a
// time, keeping the lowest seq that differs.
type streamComparer struct {
	db       *gorm.DB
	batch    []streamEvent
	compared int64
	diffSeq  int64
	diff     string
}

func (c *streamComparer) add(seq int64, hash string) error {
	c.batch = append(c.batch, streamEvent{seq: seq, hash: hash})
	if len(c.batch) < streamBatch {
		return nil
	}
	return c.flush()
}

// flush compares the batch with the database. A seq may come more than
// once (several replicas each ship every event); each line is compared.
func (c *streamComparer) flush() error {
	if len(c.batch) == 0 {
		return nil
	}
	seqs := make([]int64, 0, len(c.batch))
	for _, e := range c.batch {
		seqs = append(seqs, e.seq)
	}
	slices.Sort(seqs)
	stored, err := c.hashes(slices.Compact(seqs))
	if err != nil {
		return err
	}
	for _, e := range c.batch {
		c.compared++
		if c.diffSeq != 0 && e.seq >= c.diffSeq {
			continue
		}
		switch hash, ok := stored[e.seq]; {
		case !ok:
			c.diffSeq = e.seq
			c.diff = fmt.Sprintf("the stream holds event %d, the database does not: events were removed", e.seq)
		case hash != e.hash:
			c.diffSeq = e.seq
			c.diff = fmt.Sprintf("the stream's event %d has hash %.12s…, the database's %.12s…: the event was rewritten after it was streamed", e.seq, e.hash, hash)
		}
	}
	c.batch = c.batch[:0]
	return nil
}

// hashes returns the stored hash of each of seqs the database holds.
func (c *streamComparer) hashes(seqs []int64) (map[int64]string, error) {
	rows, err := c.db.Table("audit_events").Select("seq, hash").Where("seq IN ?", seqs).Rows()
	if err != nil {
		return nil, fmt.Errorf("read audit events: %w", err)
	}
	defer rows.Close()
	stored := make(map[int64]string, len(seqs))
	for rows.Next() {
		var e streamEvent
		if err := rows.Scan(&e.seq, &e.hash); err != nil {
			return nil, fmt.Errorf("read audit events: %w", err)
		}
		stored[e.seq] = e.hash
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read audit events: %w", err)
	}
	return stored, nil
}
