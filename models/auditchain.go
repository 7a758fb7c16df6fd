package models

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"
)

// GenesisHash is the previous hash of the first event in the chain.
const GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// AuditEntry is what a caller records; AppendAudit turns it into the next
// AuditEvent of the chain.
type AuditEntry struct {
	At           time.Time
	Actor        Actor
	Action       Action
	Workspace    string
	Table        string
	RecordIDs    []string // ids of the records shown; none may contain a comma
	GrantID      *int64
	BreakglassID *int64
	Target       string
	Reason       string
	Detail       any // stored as JSON when not nil
}

// auditText makes a free-text field storable and bounded: valid UTF-8,
// no NUL (which PostgreSQL text refuses), at most max bytes cut at a
// character boundary. What a client sends (a user agent, a reason) must
// never make the audit insert fail, nor grow the append-only log without
// bound.
func auditText(s string, max int) string {
	s = strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// event validates e and makes the row it becomes, without its chain fields.
func (e AuditEntry) event() (AuditEvent, error) {
	if e.Action == "" {
		return AuditEvent{}, errors.New("audit: no action")
	}
	if e.At.IsZero() {
		return AuditEvent{}, fmt.Errorf("audit %s: no time", e.Action)
	}
	for _, id := range e.RecordIDs {
		if id == "" || strings.Contains(id, ",") {
			return AuditEvent{}, fmt.Errorf("audit %s: record id %q is empty or contains a comma", e.Action, id)
		}
	}
	ev := AuditEvent{
		// PostgreSQL keeps microseconds; truncating here makes the hash
		// computed before the insert match the row read back.
		At:    e.At.UTC().Truncate(time.Microsecond),
		Actor: e.Actor.Email, ActorTier: e.Actor.Tier, Action: e.Action,
		Workspace: e.Workspace, Table: e.Table, RecordIDs: strings.Join(e.RecordIDs, ","),
		GrantID: e.GrantID, BreakglassID: e.BreakglassID,
		Target: auditText(e.Target, 512), Reason: auditText(e.Reason, 4000),
		IP: auditText(e.Actor.IP, 64), UserAgent: auditText(e.Actor.UserAgent, 512), RequestID: auditText(e.Actor.RequestID, 128),
	}
	if e.Detail != nil {
		b, err := json.Marshal(e.Detail)
		if err != nil {
			return AuditEvent{}, fmt.Errorf("audit %s detail: %w", e.Action, err)
		}
		ev.Detail = string(b)
	}
	return ev, nil
}

// AppendCanonical appends the canonical encoding of ev to dst. It is the
// exact byte string the chain hash covers, so an auditor can re-implement
// it: sixteen fields, in this order, each written as a netstring — the
// field's length in bytes in decimal ASCII, ':', the bytes, ',':
//
//	seq           decimal, no sign or leading zeros
//	at            UTC, Go's RFC3339Nano ("2006-01-02T15:04:05.999999999Z07:00":
//	              fraction of at most 6 digits here, trailing zeros and a
//	              zero fraction omitted, "Z" for UTC)
//	actor, actor_tier, action, workspace, table_name, record_ids
//	grant_id      decimal, or empty when NULL
//	breakglass_id decimal, or empty when NULL
//	target, reason, detail, ip, user_agent, request_id
//
// Text fields are their stored UTF-8 bytes, unchanged. For example the
// actor "ada@example.com" is "15:ada@example.com,". The hash of an event is
// then lower-case hex(SHA-256(prev_hash || "\n" || canonical)), where
// prev_hash is the previous event's hash as 64 hex characters (GenesisHash
// for seq 1).
func AppendCanonical(dst []byte, ev *AuditEvent) []byte {
	var num [40]byte
	dst = appendField(dst, strconv.AppendInt(num[:0], ev.Seq, 10))
	dst = appendField(dst, appendTimeUTC(num[:0], ev.At))
	dst = appendText(dst, ev.Actor)
	dst = appendText(dst, ev.ActorTier)
	dst = appendText(dst, string(ev.Action))
	dst = appendText(dst, ev.Workspace)
	dst = appendText(dst, ev.Table)
	dst = appendText(dst, ev.RecordIDs)
	dst = appendOptional(dst, ev.GrantID)
	dst = appendOptional(dst, ev.BreakglassID)
	dst = appendText(dst, ev.Target)
	dst = appendText(dst, ev.Reason)
	dst = appendText(dst, ev.Detail)
	dst = appendText(dst, ev.IP)
	dst = appendText(dst, ev.UserAgent)
	dst = appendText(dst, ev.RequestID)
	return dst
}

// The helpers below are the hot path of verification, hence by hand.

func appendLen(dst []byte, n int) []byte {
	switch {
	case n < 10:
		return append(dst, byte('0'+n), ':')
	case n < 100:
		return append(dst, byte('0'+n/10), byte('0'+n%10), ':')
	}
	return append(strconv.AppendInt(dst, int64(n), 10), ':')
}

func appendField(dst, b []byte) []byte {
	return append(append(appendLen(dst, len(b)), b...), ',')
}

func appendText(dst []byte, s string) []byte {
	return append(append(appendLen(dst, len(s)), s...), ',')
}

func appendOptional(dst []byte, p *int64) []byte {
	if p == nil {
		return append(dst, '0', ':', ',')
	}
	var num [20]byte
	return appendField(dst, strconv.AppendInt(num[:0], *p, 10))
}

// appendTimeUTC appends t in UTC exactly as t.UTC().AppendFormat(dst,
// time.RFC3339Nano) would, several times faster.
func appendTimeUTC(dst []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(dst, time.RFC3339Nano)
	}
	hour, minute, sec := t.Clock()
	two := func(dst []byte, v int) []byte { return append(dst, byte('0'+v/10), byte('0'+v%10)) }
	dst = two(dst, year/100)
	dst = two(dst, year%100)
	dst = append(dst, '-')
	dst = two(dst, int(month))
	dst = append(dst, '-')
	dst = two(dst, day)
	dst = append(dst, 'T')
	dst = two(dst, hour)
	dst = append(dst, ':')
	dst = two(dst, minute)
	dst = append(dst, ':')
	dst = two(dst, sec)
	if ns := t.Nanosecond(); ns != 0 {
		var frac [9]byte
		for i := 8; i >= 0; i-- {
			frac[i] = byte('0' + ns%10)
			ns /= 10
		}
		n := 9
		for frac[n-1] == '0' {
			n--
		}
		dst = append(dst, '.')
		dst = append(dst, frac[:n]...)
	}
	return append(dst, 'Z')
}

// chainHasher computes event hashes reusing one buffer.
type chainHasher struct {
	buf []byte
	hex [64]byte
}

// hash returns hex(SHA-256(prev || "\n" || canonical(ev))); the slice is
// valid until the next call.
func (c *chainHasher) hash(prev string, ev *AuditEvent) []byte {
	c.buf = append(c.buf[:0], prev...)
	c.buf = append(c.buf, '\n')
	c.buf = AppendCanonical(c.buf, ev)
	sum := sha256.Sum256(c.buf)
	hex.Encode(c.hex[:], sum[:])
	return c.hex[:]
}

// matches reports whether ev.Hash is the hash of ev after ev.PrevHash,
// comparing the digest with the stored hex digits directly (verify's hot
// path: no hex encoding of its own).
func (c *chainHasher) matches(ev *AuditEvent) bool {
	const digits = "0123456789abcdef"
	c.buf = append(c.buf[:0], ev.PrevHash...)
	c.buf = append(c.buf, '\n')
	c.buf = AppendCanonical(c.buf, ev)
	sum := sha256.Sum256(c.buf)
	want := ev.Hash
	if len(want) != 2*len(sum) {
		return false
	}
	for i, b := range sum {
		if want[2*i] != digits[b>>4] || want[2*i+1] != digits[b&15] {
			return false
		}
	}
	return true
}

// ChainHash returns the hash ev must carry when prev is the hash of the
// event before it.
func ChainHash(prev string, ev AuditEvent) string {
	var c chainHasher
	return string(c.hash(prev, &ev))
}

// ChainHead is a point of the chain: the newest event's seq and hash
// (seq 0 and GenesisHash for an empty chain).
type ChainHead struct {
	Seq  int64
	Hash string
}

// AppendAudit appends the event e describes to the chain inside tx and
// returns it with its seq and hashes. Call it inside the transaction that
// makes the change it records, as late as possible: on PostgreSQL it holds
// the chain head's row lock until that transaction ends, which is what
// keeps the chain linear across goroutines and processes. Given a plain
// connection instead of a transaction, it makes a transaction of its own.
func AppendAudit(ctx context.Context, tx *gorm.DB, e AuditEntry) (AuditEvent, error) {
	ev, err := e.event()
	if err != nil {
		return AuditEvent{}, err
	}
	evs := []AuditEvent{ev}
	run := func(tx *gorm.DB) error { return appendEvents(ctx, tx, evs) }
	if inTransaction(tx) {
		err = run(tx)
	} else {
		err = tx.WithContext(ctx).Transaction(run)
	}
	if err != nil {
		return AuditEvent{}, fmt.Errorf("audit %s: %w", e.Action, err)
	}
	return evs[0], nil
}

func inTransaction(db *gorm.DB) bool {
	c, ok := db.Statement.ConnPool.(gorm.TxCommitter)
	return ok && c != nil
}

const auditColumns = "seq, at, actor, actor_tier, action, workspace, table_name, record_ids, grant_id, breakglass_id, target, reason, detail, ip, user_agent, request_id, prev_hash, hash"

// appendEvents chains evs onto the head and inserts them; tx must be a
// transaction. It fills in each event's Seq, PrevHash and Hash.
func appendEvents(ctx context.Context, tx *gorm.DB, evs []AuditEvent) error {
	tx = tx.WithContext(ctx)
	head, err := lockHead(tx)
	if err != nil {
		return err
	}
	if head.Hash == "" {
		if head, err = sealLegacy(ctx, tx); err != nil {
			return err
		}
	}
	var c chainHasher
	var q strings.Builder
	q.WriteString("INSERT INTO audit_events (" + auditColumns + ") VALUES ")
	args := make([]any, 0, len(evs)*18)
	for i := range evs {
		ev := &evs[i]
		ev.Seq, ev.PrevHash = head.Seq+1, head.Hash
		ev.Hash = string(c.hash(ev.PrevHash, ev))
		head = ChainHead{Seq: ev.Seq, Hash: ev.Hash}
		if i > 0 {
			q.WriteByte(',')
		}
		q.WriteString("(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)")
		args = append(args, ev.Seq, ev.At, ev.Actor, ev.ActorTier, string(ev.Action), ev.Workspace, ev.Table, ev.RecordIDs,
			ev.GrantID, ev.BreakglassID, ev.Target, ev.Reason, ev.Detail, ev.IP, ev.UserAgent, ev.RequestID, ev.PrevHash, ev.Hash)
	}
	if err := tx.Exec(q.String(), args...).Error; err != nil {
		return fmt.Errorf("insert audit events: %w", err)
	}
	return setHead(tx, head)
}

// lockHead reads the chain head, locking it on PostgreSQL until the
// transaction ends. (On SQLite the transaction itself, begun IMMEDIATE on
// the single writer connection, already excludes every other writer.)
func lockHead(tx *gorm.DB) (ChainHead, error) {
	q := "SELECT seq, hash FROM audit_head WHERE id = 1"
	if tx.Dialector.Name() == "postgres" {
		q += " FOR UPDATE"
	}
	var h ChainHead
	if err := tx.Raw(q).Row().Scan(&h.Seq, &h.Hash); err != nil {
		return ChainHead{}, fmt.Errorf("audit head: %w", err)
	}
	return h, nil
}

func setHead(tx *gorm.DB, h ChainHead) error {
	if err := tx.Exec("UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1", h.Seq, h.Hash).Error; err != nil {
		return fmt.Errorf("audit head: %w", err)
	}
	return nil
}

// SealAuditChain takes the events written before the chain existed (the
// migration leaves the head unsealed when there are any) into the chain:
// in seq order, it numbers them 1..n, which closes gaps that rolled-back
// transactions left in the old identity sequence, and sets their hashes.
// It does nothing once the head is sealed, so running it at every start is
// safe; appending seals first by itself too. Events written after sealing
// are never sealed, so a row inserted later without a hash stays visible
// as a break to VerifyAudit.
func SealAuditChain(ctx context.Context, db *DB) error {
	return db.Write.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		head, err := lockHead(tx)
		if err != nil || head.Hash != "" {
			return err
		}
		_, err = sealLegacy(ctx, tx)
		return err
	})
}

// sealLegacy seals every row of an unsealed chain; the caller holds the head.
func sealLegacy(ctx context.Context, tx *gorm.DB) (ChainHead, error) {
	head := ChainHead{Hash: GenesisHash}
	var c chainHasher
	after := int64(-1 << 63)
	for {
		var batch []AuditEvent
		if err := tx.Where("seq > ?", after).Order("seq").Limit(1000).Find(&batch).Error; err != nil {
			return ChainHead{}, fmt.Errorf("seal audit chain: %w", err)
		}
		if len(batch) == 0 {
			break
		}
		for i := range batch {
			ev := &batch[i]
			if ev.Hash != "" {
				return ChainHead{}, fmt.Errorf("seal audit chain: event %d already has a hash while the head is unsealed", ev.Seq)
			}
			old := ev.Seq
			ev.Seq, ev.PrevHash = head.Seq+1, head.Hash
			ev.Hash = string(c.hash(ev.PrevHash, ev))
			// ev.Seq <= old: the rows before it moved to 1..ev.Seq-1, so
			// the new number is free.
			if err := tx.Exec("UPDATE audit_events SET seq = ?, prev_hash = ?, hash = ? WHERE seq = ?", ev.Seq, ev.PrevHash, ev.Hash, old).Error; err != nil {
				return ChainHead{}, fmt.Errorf("seal audit event %d: %w", old, err)
			}
			head = ChainHead{Seq: ev.Seq, Hash: ev.Hash}
			after = old
		}
	}
	return head, setHead(tx, head)
}

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
	const maxChunk = 4096
	chunk := 256 // growing: a short walk, or an early break, reads little ahead
	workers := runtime.GOMAXPROCS(0)
	hashers := make([]chainHasher, workers)
	var bufs [2][]AuditEvent
	var oks [2][]bool
	ended := false
	read := func(dst []AuditEvent) ([]AuditEvent, error) {
		for len(dst) < chunk {
			ev, ok, err := next()
			if err != nil || !ok {
				ended = true
				return dst, err
			}
			dst = append(dst, ev)
		}
		return dst, nil
	}
	hashAll := func(evs []AuditEvent, ok []bool) *sync.WaitGroup {
		var wg sync.WaitGroup
		per := (len(evs) + workers - 1) / workers
		if len(evs) < 256 {
			per = len(evs)
		}
		for w := 0; w*per < len(evs); w++ {
			part, h := evs[w*per:min(len(evs), (w+1)*per)], &hashers[w]
			okPart := ok[w*per:]
			wg.Go(func() {
				for j := range part {
					okPart[j] = h.matches(&part[j])
				}
			})
		}
		return &wg
	}
	start := ChainHead{Hash: GenesisHash}
	if from != nil {
		start = *from
	}
	res := VerifyResult{Seq: start.Seq, Head: start.Hash}
	idx := 0
	readChunk := func(i int) ([]AuditEvent, error) {
		if cap(bufs[i]) < chunk {
			bufs[i], oks[i] = make([]AuditEvent, 0, chunk), make([]bool, chunk)
		}
		evs, err := read(bufs[i][:0])
		if chunk < maxChunk {
			chunk *= 2
		}
		return evs, err
	}
	cur, readErr := readChunk(idx)
	hashing := hashAll(cur, oks[idx])
	for len(cur) > 0 {
		var ahead []AuditEvent
		if !ended {
			ahead, readErr = readChunk(1 - idx)
		}
		hashing.Wait()
		for i := range cur {
			ev := &cur[i]
			expected := res.Seq + 1
			switch {
			case ev.Seq > expected:
				return res.broken(expected, fmt.Sprintf("expected seq %d, found %d: events missing or out of order", expected, ev.Seq)), nil
			case ev.Seq < expected:
				return res.broken(ev.Seq, fmt.Sprintf("expected seq %d, found %d: duplicate or out of order", expected, ev.Seq)), nil
			case ev.PrevHash != res.Head:
				return res.broken(ev.Seq, "prev_hash is not the hash of the event before"), nil
			case !oks[idx][i]:
				return res.broken(ev.Seq, "hash does not match the event's contents"), nil
			}
			res.Count++
			res.Seq, res.Head = ev.Seq, ev.Hash
		}
		idx = 1 - idx
		cur = ahead
		hashing = hashAll(cur, oks[idx])
	}
	hashing.Wait()
	if readErr != nil {
		return res, readErr
	}
	if want != nil && (want.Seq != res.Seq || want.Hash != res.Head) {
		if want.Seq > res.Seq {
			return res.broken(res.Seq+1, fmt.Sprintf("chain ends at seq %d but its head is at seq %d: events missing", res.Seq, want.Seq)), nil
		}
		return res.broken(min(want.Seq+1, res.Seq), fmt.Sprintf("chain ends at seq %d (hash %.12s…) but its head is seq %d (hash %.12s…)", res.Seq, res.Head, want.Seq, want.Hash)), nil
	}
	res.OK = true
	return res, nil
}

func (r VerifyResult) broken(seq int64, problem string) VerifyResult {
	r.BrokenSeq, r.Problem = seq, problem
	return r
}

// VerifyAudit verifies the whole audit chain in db against its head, in
// one consistent snapshot, streaming the events in seq order from a single
// query (scanned with database/sql directly: gorm's per-row reflection
// cost more than the hashing).
func VerifyAudit(ctx context.Context, db *DB) (VerifyResult, error) {
	var res VerifyResult
	opts := &sql.TxOptions{ReadOnly: true}
	if db.Dialect == Postgres {
		opts.Isolation = sql.LevelRepeatableRead
	}
	err := db.Read.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		head, err := locklessHead(tx)
		if err != nil {
			return err
		}
		if head.Hash == "" {
			res = VerifyResult{BrokenSeq: 1, Problem: "events written before the chain existed are not sealed yet (SealAuditChain)"}
			return nil
		}
		rows, err := tx.Raw("SELECT " + auditColumns + " FROM audit_events ORDER BY seq").Rows()
		if err != nil {
			return fmt.Errorf("read audit events: %w", err)
		}
		defer rows.Close()
		var sc eventScanner
		next := func() (AuditEvent, bool, error) {
			if !rows.Next() {
				if err := rows.Err(); err != nil {
					return AuditEvent{}, false, fmt.Errorf("read audit events: %w", err)
				}
				return AuditEvent{}, false, nil
			}
			ev, err := sc.scan(rows)
			if err != nil {
				return AuditEvent{}, false, fmt.Errorf("read audit events: %w", err)
			}
			return ev, true, nil
		}
		res, err = VerifyChain(next, nil, &head)
		return err
	}, opts)
	if err != nil {
		return VerifyResult{}, fmt.Errorf("verify audit: %w", err)
	}
	return res, nil
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
