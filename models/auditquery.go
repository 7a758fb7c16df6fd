package models

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"slices"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
)

// ActionAuditExported records a download or CLI export of the audit log;
// its detail holds the filters used.
const ActionAuditExported Action = "audit.exported"

// auditActions are the actions a search may name. TestAuditActionsListed
// keeps it in step with the Action constants of this package.
var auditActions = []Action{
	ActionLoginSucceeded, ActionLoginRefused, ActionLogout,
	ActionStaffCreated, ActionStaffTierChanged, ActionStaffAgreementRecorded, ActionStaffTrainingRecorded,
	ActionStaffSuspended, ActionStaffReactivated, ActionStaffOffboarded,
	ActionGrantEnded, ActionDataViewed, ActionDataRefused, ActionFieldRevealed,
	ActionAuditExported, ActionAuditArchived,
	ActionRequestCreated, ActionRequestApproved, ActionRequestDenied, ActionRequestCancelled, ActionRequestExpired,
	ActionConsentShown, ActionConsentGranted, ActionConsentDenied, ActionConsentReported,
	ActionGrantRevoked, ActionGrantDone, ActionGrantExpired,
	ActionBreakglassOpened, ActionBreakglassReviewed,
	ActionBreakglassEnded, ActionBreakglassLinkShown,
	ActionMailSent, ActionMailFailed,
	ActionRetentionNoticed, ActionRetentionMarked, ActionLegalHoldPlaced, ActionLegalHoldLifted,
	ActionDeletionRequested, ActionDeletionShown, ActionDeletionConfirmed, ActionDeletionCancelled, ActionDeletionExpired,
	ActionWorkspaceDeleted, ActionWorkspaceDeletionStarted, ActionWorkspaceDeletionStopped,
}

// AuditActions returns every known action, sorted.
func AuditActions() []Action {
	a := slices.Clone(auditActions)
	slices.Sort(a)
	return a
}

// KnownAction reports whether a is one of the audited actions.
func KnownAction(a Action) bool { return slices.Contains(auditActions, a) }

// AuditQuery selects audit events; zero fields match everything.
type AuditQuery struct {
	Actor     string
	Workspace string
	Table     string // table_name (with Record: the record's table)
	Record    string // an id among record_ids, or the target; indexed on PostgreSQL with Workspace
	Action    Action
	Actions   []Action  // any of these (with Action, both must hold)
	Since     time.Time // at >= Since
	Until     time.Time // at < Until
	AfterSeq  int64     // seq > AfterSeq (the page after, going newer)
	BeforeSeq int64     // seq < BeforeSeq (the page before, going older)
	Limit     int       // page size for SearchAudit; 50 when <= 0, at most 500

	// Breakglass keeps the events of one break-glass (breakglass_id).
	// Narrow it with Workspace, which is indexed.
	Breakglass int64
}

// where applies the filters (not the paging) to q.
func (f AuditQuery) where(q *gorm.DB) *gorm.DB {
	if f.Actor != "" {
		q = q.Where("actor = ?", f.Actor)
	}
	if f.Workspace != "" {
		q = q.Where("workspace = ?", f.Workspace)
	}
	if f.Action != "" {
		q = q.Where("action = ?", string(f.Action))
	}
	if f.Breakglass != 0 {
		q = q.Where("breakglass_id = ?", f.Breakglass)
	}
	if len(f.Actions) > 0 {
		q = q.Where("action IN ?", f.Actions)
	}
	if f.Table != "" {
		q = q.Where("table_name = ?", f.Table)
	}
	if f.Record != "" {
		// record_ids is comma-separated and ids contain no comma, so
		// ",id," inside ",record_ids," matches exactly one whole id (and a
		// Record with a comma can only be a target).
		pos := "instr(',' || record_ids || ',', ?) > 0"
		pg := q.Dialector.Name() == "postgres"
		if pg {
			pos = "strpos(',' || record_ids || ',', ?) > 0"
		}
		switch {
		case strings.Contains(f.Record, ","):
			q = q.Where("target = ?", f.Record)
		case pg && f.Workspace != "":
			// The GIN index of migration 00005 (with audit_events_target)
			// finds the candidates; pos re-checks them exactly. The two are
			// separate conditions, (keys OR target) AND (pos OR target),
			// equal to (pos OR target) since pos implies keys, so that the
			// costly key function is only the bitmap's condition and never
			// re-run on each candidate row.
			q = q.Where("(audit_record_keys(workspace, record_ids) @> audit_record_keys(?, ?) OR target = ?) AND ("+pos+" OR target = ?)",
				f.Workspace, f.Record, f.Record, ","+f.Record+",", f.Record)
		default:
			q = q.Where("("+pos+" OR target = ?)", ","+f.Record+",", f.Record)
		}
	}
	if !f.Since.IsZero() {
		q = q.Where("at >= ?", f.Since.UTC())
	}
	if !f.Until.IsZero() {
		q = q.Where("at < ?", f.Until.UTC())
	}
	return q
}

// SearchAudit returns one page of matching events, newest first. Paging is
// by seq (keyset, no OFFSET): AfterSeq gives the page just newer than an
// event, BeforeSeq the page just older; with neither, the newest page.
func SearchAudit(ctx context.Context, db *gorm.DB, f AuditQuery) ([]AuditEvent, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, 500)
	q := f.where(db.WithContext(ctx).Model(&AuditEvent{}))
	if f.BeforeSeq > 0 {
		q = q.Where("seq < ?", f.BeforeSeq)
	}
	var evs []AuditEvent
	if f.AfterSeq > 0 {
		// The nearest newer events, then back to newest first.
		if err := q.Where("seq > ?", f.AfterSeq).Order("seq ASC").Limit(limit).Find(&evs).Error; err != nil {
			return nil, fmt.Errorf("search audit: %w", err)
		}
		slices.Reverse(evs)
		return evs, nil
	}
	if err := q.Order("seq DESC").Limit(limit).Find(&evs).Error; err != nil {
		return nil, fmt.Errorf("search audit: %w", err)
	}
	return evs, nil
}

// AuditEvents yields every matching event oldest first, reading batches
// of batchSize (1000 when <= 0) by seq, so an export of any size holds
// one batch in memory. Limit is ignored; AfterSeq and BeforeSeq bound it.
// Iteration stops at the first error, which it yields.
func AuditEvents(ctx context.Context, db *gorm.DB, f AuditQuery, batchSize int) iter.Seq2[AuditEvent, error] {
	if batchSize <= 0 {
		batchSize = 1000
	}
	return func(yield func(AuditEvent, error) bool) {
		after := f.AfterSeq
		for {
			q := f.where(db.WithContext(ctx).Model(&AuditEvent{})).Where("seq > ?", after)
			if f.BeforeSeq > 0 {
				q = q.Where("seq < ?", f.BeforeSeq)
			}
			var batch []AuditEvent
			if err := q.Order("seq ASC").Limit(batchSize).Find(&batch).Error; err != nil {
				yield(AuditEvent{}, fmt.Errorf("read audit events: %w", err))
				return
			}
			for _, ev := range batch {
				if !yield(ev, nil) {
					return
				}
			}
			if len(batch) < batchSize {
				return
			}
			after = batch[len(batch)-1].Seq
		}
	}
}

// ParseAuditTime reads a time filter as UTC: RFC 3339, a browser's
// datetime-local value ("2006-01-02T15:04"), or a date. A date as the end
// of a range (end) means the end of that day, so "until 2026-11-22"
// includes the 22nd.
func ParseAuditTime(s string, end bool) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02 15:04"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		if end {
			t = t.AddDate(0, 0, 1)
		}
		return t, nil
	}
	return time.Time{}, errors.New("not a time: use 2006-01-02, 2006-01-02T15:04 (UTC) or RFC 3339")
}

// AuditRecord is an event as exports and the stream write it: every
// stored field, snake_case, times in UTC RFC 3339.
type AuditRecord struct {
	Type         string    `json:"type,omitempty"`
	Seq          int64     `json:"seq"`
	At           time.Time `json:"at"`
	Actor        string    `json:"actor"`
	ActorTier    string    `json:"actor_tier"`
	Action       Action    `json:"action"`
	Workspace    string    `json:"workspace"`
	Table        string    `json:"table_name"`
	RecordIDs    string    `json:"record_ids"`
	GrantID      *int64    `json:"grant_id"`
	BreakglassID *int64    `json:"breakglass_id"`
	Target       string    `json:"target"`
	Reason       string    `json:"reason"`
	Detail       string    `json:"detail"`
	IP           string    `json:"ip"`
	UserAgent    string    `json:"user_agent"`
	RequestID    string    `json:"request_id"`
	PrevHash     string    `json:"prev_hash"`
	Hash         string    `json:"hash"`
}

// Record returns ev as an AuditRecord of the given type ("" for none).
func (ev AuditEvent) Record(typ string) AuditRecord {
	return AuditRecord{
		Type: typ, Seq: ev.Seq, At: ev.At.UTC(), Actor: ev.Actor, ActorTier: ev.ActorTier, Action: ev.Action,
		Workspace: ev.Workspace, Table: ev.Table, RecordIDs: ev.RecordIDs, GrantID: ev.GrantID, BreakglassID: ev.BreakglassID,
		Target: ev.Target, Reason: ev.Reason, Detail: ev.Detail, IP: ev.IP, UserAgent: ev.UserAgent,
		RequestID: ev.RequestID, PrevHash: ev.PrevHash, Hash: ev.Hash,
	}
}

// Event returns the stored event r describes.
func (r AuditRecord) Event() AuditEvent {
	return AuditEvent{
		Seq: r.Seq, At: r.At.UTC(), Actor: r.Actor, ActorTier: r.ActorTier, Action: r.Action,
		Workspace: r.Workspace, Table: r.Table, RecordIDs: r.RecordIDs, GrantID: r.GrantID, BreakglassID: r.BreakglassID,
		Target: r.Target, Reason: r.Reason, Detail: r.Detail, IP: r.IP, UserAgent: r.UserAgent,
		RequestID: r.RequestID, PrevHash: r.PrevHash, Hash: r.Hash,
	}
}

// AppendJSONLine appends ev as one JSON line (with "type" when typ is set).
func AppendJSONLine(dst []byte, typ string, ev AuditEvent) ([]byte, error) {
	b, err := json.Marshal(ev.Record(typ))
	if err != nil {
		return dst, err
	}
	return append(append(dst, b...), '\n'), nil
}

// AuditCSVHeader is the header row of a CSV export.
var AuditCSVHeader = []string{
	"seq", "at", "actor", "actor_tier", "action", "workspace", "table_name", "record_ids", "grant_id",
	"breakglass_id", "target", "reason", "detail", "ip", "user_agent", "request_id", "prev_hash", "hash",
}

// CSVRow is ev as a CSV export row, in AuditCSVHeader's order. Audit
// values come from users and attackers (a reason, a user agent, a failed
// sign-in's error), and spreadsheets run a cell starting with =, +, -, @,
// tab or carriage return as a formula, so each such cell gets a leading
// "'" (csvCell). JSON Lines is the exact export, to re-verify the chain.
func (ev AuditEvent) CSVRow() []string {
	opt := func(p *int64) string {
		if p == nil {
			return ""
		}
		return strconv.FormatInt(*p, 10)
	}
	row := []string{
		strconv.FormatInt(ev.Seq, 10), ev.At.UTC().Format(time.RFC3339Nano), ev.Actor, ev.ActorTier, string(ev.Action),
		ev.Workspace, ev.Table, ev.RecordIDs, opt(ev.GrantID), opt(ev.BreakglassID), ev.Target, ev.Reason,
		ev.Detail, ev.IP, ev.UserAgent, ev.RequestID, ev.PrevHash, ev.Hash,
	}
	for i, v := range row {
		row[i] = csvCell(v)
	}
	return row
}

// csvCell is v as a CSV export writes it: with a leading "'" when v starts
// with a character a spreadsheet reads as the start of a formula (=, +,
// -, @, tab, carriage return), or with "'" itself, so that removing one
// leading "'" from a cell that has one always gives the stored value.
func csvCell(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r'", rune(v[0])) {
		return "'" + v
	}
	return v
}

// WriteAuditExport writes events to w as "csv" (with a header row) or
// "jsonl" (one AuditRecord per line) and returns how many it wrote.
func WriteAuditExport(w io.Writer, format string, events iter.Seq2[AuditEvent, error]) (int, error) {
	n := 0
	switch format {
	case "csv":
		cw := csv.NewWriter(w)
		if err := cw.Write(AuditCSVHeader); err != nil {
			return 0, err
		}
		for ev, err := range events {
			if err != nil {
				return n, err
			}
			if err := cw.Write(ev.CSVRow()); err != nil {
				return n, err
			}
			n++
		}
		cw.Flush()
		return n, cw.Error()
	case "jsonl":
		bw := bufio.NewWriter(w)
		var line []byte
		for ev, err := range events {
			if err != nil {
				return n, err
			}
			if line, err = AppendJSONLine(line[:0], "", ev); err != nil {
				return n, err
			}
			if _, err := bw.Write(line); err != nil {
				return n, err
			}
			n++
		}
		return n, bw.Flush()
	}
	return 0, fmt.Errorf("export format %q: want csv or jsonl", format)
}
