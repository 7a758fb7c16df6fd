package models

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"
)

// AuditEntry is what a caller records; AppendAudit turns it into the next
// AuditEvent of the chain.
type AuditEntry struct {
	At           time.Time
	Actor        Actor
	Action       Action
	Workspace    string
	Table        string
	RecordIDs    []string // ids of the records shown: UTF-8 text without a comma or NUL
	GrantID      *int64
	BreakglassID *int64
	Target       string
	Reason       string
	Detail       any // stored as JSON when not nil
}

// event validates e and makes the row it becomes, without its chain fields.
func (e AuditEntry) event() (AuditEvent, error) {
	if !KnownAction(e.Action) {
		// The set is closed; an action outside it (say, not UTF-8) would
		// not survive the JSON export with the hash it was chained with.
		return AuditEvent{}, fmt.Errorf("audit: unknown action %q", e.Action)
	}
	if e.At.IsZero() {
		return AuditEvent{}, fmt.Errorf("audit %s: no time", e.Action)
	}
	if y := e.At.UTC().Year(); y < 1 || y > 9999 {
		// RFC 3339, and so the JSON export and stream, has four-digit years.
		return AuditEvent{}, fmt.Errorf("audit %s: time %s is outside the years 1 to 9999", e.Action, e.At.UTC())
	}
	for _, id := range e.RecordIDs {
		if id == "" || strings.ContainsAny(id, ",\x00") || !utf8.ValidString(id) {
			return AuditEvent{}, fmt.Errorf("audit %s: record id %q is empty, contains a comma or is not text", e.Action, id)
		}
	}
	ev := AuditEvent{
		// PostgreSQL keeps microseconds; truncating here makes the hash
		// computed before the insert match the row read back.
		At:    e.At.UTC().Truncate(time.Microsecond),
		Actor: auditText(e.Actor.Email, 320), ActorTier: auditText(e.Actor.Tier, 64), Action: e.Action,
		Workspace: auditText(e.Workspace, 128), Table: auditText(e.Table, 128), RecordIDs: strings.Join(e.RecordIDs, ","),
		GrantID: e.GrantID, BreakglassID: e.BreakglassID,
		Target: auditText(e.Target, 512), Reason: auditText(e.Reason, 4000),
		IP: auditText(e.Actor.IP, 64), UserAgent: auditText(e.Actor.UserAgent, 512), RequestID: auditText(e.Actor.RequestID, 128),
	}
	if e.Detail != nil {
		d, err := detailJSON(e.Detail)
		if err != nil {
			return AuditEvent{}, fmt.Errorf("audit %s detail: %w", e.Action, err)
		}
		ev.Detail = d
	}
	return ev, nil
}

// maxDetailText bounds each string in an event's detail (keys too), so no
// caller can put unbounded text, such as a provider's error message, in
// the log: that many bytes of text, and twice that once encoded.
const maxDetailText = 1024

// detailJSON encodes a detail with every string in it bounded by
// auditText. A detail whose whole encoding is within the bound holds no
// longer string and is kept as encoded (the common case costs nothing);
// a longer one is decoded, clipped and encoded again.
func detailJSON(d any) (string, error) {
	b, err := json.Marshal(d)
	if err != nil || len(b) <= maxDetailText {
		return string(b), err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber() // numbers stay exactly as written
	var v any
	if err := dec.Decode(&v); err != nil {
		return "", err
	}
	b, err = json.Marshal(clipStrings(v))
	return string(b), err
}

// clipDetailText bounds s to maxDetailText bytes, and cuts further while
// its JSON encoding (where "<" or a control character takes six bytes)
// is over twice that.
func clipDetailText(s string) string {
	t := auditText(s, maxDetailText)
	for n := maxDetailText / 2; n > 0 && encodedLen(t) > 2*maxDetailText; n /= 2 {
		t = auditText(s, n)
	}
	return t
}

func encodedLen(s string) int {
	b, _ := json.Marshal(s) // a string always encodes
	return len(b)
}

// clipStrings bounds every string of a decoded JSON value, in place.
func clipStrings(v any) any {
	switch x := v.(type) {
	case string:
		return clipDetailText(x)
	case []any:
		for i := range x {
			x[i] = clipStrings(x[i])
		}
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[clipDetailText(k)] = clipStrings(e)
		}
		return out
	}
	return v
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
	return appendEventsLocked(ctx, tx, evs, nil)
}

// appendEventsLocked is appendEvents that runs locked, when not nil,
// once it holds the chain head and before evs are chained: locked may
// change evs (see AuditWriter's views), and whatever it reads was
// committed before any event that follows evs in the chain.
func appendEventsLocked(ctx context.Context, tx *gorm.DB, evs []AuditEvent, locked func(tx *gorm.DB) error) error {
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
	if locked != nil {
		if err := locked(tx); err != nil {
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
		return fmt.Errorf("insert audit events: %w", noAuditPartition(err))
	}
	if movesEpoch(evs) {
		if err := bumpEpoch(tx); err != nil {
			return err
		}
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
