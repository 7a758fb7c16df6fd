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
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"
)

// Actions that close an export: every audit.exported is followed, once
// the export ends, by one of them, so the log tells a whole download from
// a cut one (a client gone, a database error, a stalled reader).
const (
	ActionAuditExportFinished Action = "audit.export_finished"
	ActionAuditExportCut      Action = "audit.export_cut"
)

// ExportTrailerType is the "type" of the trailer line of a JSON Lines
// export, and (with a leading "#") the first cell of a CSV export's last
// row.
const ExportTrailerType = "export_trailer"

// ExportTrailer is the last line of every export that ran to its end. A
// file without one was cut. Count is the number of events in the file,
// LastSeq and LastHash those of its last event (0 and "" when it has
// none); After and Before are the bounds of the export (seq > After, seq <
// Before, Before being the seq of the audit.exported event that recorded
// it); Filtered is whether any filter beyond those bounds applied, and so
// whether the events must be consecutive links of the chain.
type ExportTrailer struct {
	Type     string `json:"type"`
	Count    int64  `json:"count"`
	LastSeq  int64  `json:"last_seq"`
	LastHash string `json:"last_hash"`
	After    int64  `json:"after"`
	Before   int64  `json:"before"`
	Filtered bool   `json:"filtered"`
}

// csvRow is t as a CSV export's last row: "#export_trailer" and then
// key=value cells, padded to the width of the header so that a CSV reader
// that wants every row as wide as the first still reads the file (one
// with Comment '#' skips the row).
func (t ExportTrailer) csvRow() []string {
	row := make([]string, len(AuditCSVHeader))
	row[0] = "#" + ExportTrailerType
	for i, kv := range t.fields() {
		row[i+1] = kv[0] + "=" + kv[1]
	}
	return row
}

func (t ExportTrailer) fields() [][2]string {
	return [][2]string{
		{"count", strconv.FormatInt(t.Count, 10)}, {"last_seq", strconv.FormatInt(t.LastSeq, 10)},
		{"last_hash", t.LastHash}, {"after", strconv.FormatInt(t.After, 10)},
		{"before", strconv.FormatInt(t.Before, 10)}, {"filtered", strconv.FormatBool(t.Filtered)},
	}
}

// parseCSVTrailer reads a CSV trailer row back.
func parseCSVTrailer(row []string) (ExportTrailer, error) {
	t := ExportTrailer{Type: ExportTrailerType}
	seen := map[string]bool{}
	for _, cell := range row[1:] {
		if cell == "" {
			continue
		}
		k, v, ok := strings.Cut(cell, "=")
		if !ok || seen[k] {
			return t, fmt.Errorf("trailer cell %q: want key=value, each key once", cell)
		}
		seen[k] = true
		var err error
		switch k {
		case "count":
			t.Count, err = strconv.ParseInt(v, 10, 64)
		case "last_seq":
			t.LastSeq, err = strconv.ParseInt(v, 10, 64)
		case "last_hash":
			t.LastHash = v
		case "after":
			t.After, err = strconv.ParseInt(v, 10, 64)
		case "before":
			t.Before, err = strconv.ParseInt(v, 10, 64)
		case "filtered":
			t.Filtered, err = strconv.ParseBool(v)
		default:
			return t, fmt.Errorf("trailer cell %q: unknown key", cell)
		}
		if err != nil {
			return t, fmt.Errorf("trailer cell %q: %w", cell, err)
		}
	}
	for _, kv := range t.fields() {
		if !seen[kv[0]] && kv[0] != "last_hash" {
			return t, fmt.Errorf("trailer lacks %s", kv[0])
		}
	}
	return t, nil
}

// filtered reports whether q selects by anything beyond its seq bounds.
func (f AuditQuery) filtered() bool {
	f.AfterSeq, f.BeforeSeq, f.Limit = 0, 0, 0
	if len(f.Actions) == 0 {
		f.Actions = nil
	}
	return !reflect.DeepEqual(f, AuditQuery{})
}

// ExportWriter writes an export: CSV (a header row, one row per event,
// the trailer row) or JSON Lines (one AuditRecord per line, the trailer
// line). It buffers; Finish writes the trailer and flushes.
type ExportWriter struct {
	w       *bufio.Writer
	csv     *csv.Writer // nil for JSON Lines
	trailer ExportTrailer
	line    []byte
}

// NewExportWriter starts an export of the events q selects to w in format
// ("csv" or "jsonl"); the trailer takes its bounds from q.
func NewExportWriter(w io.Writer, format string, q AuditQuery) (*ExportWriter, error) {
	x := &ExportWriter{
		w:       bufio.NewWriterSize(w, 64<<10),
		trailer: ExportTrailer{Type: ExportTrailerType, After: q.AfterSeq, Before: q.BeforeSeq, Filtered: q.filtered()},
	}
	switch format {
	case "csv":
		x.csv = csv.NewWriter(x.w)
		if err := x.csv.Write(AuditCSVHeader); err != nil {
			return nil, err
		}
	case "jsonl":
	default:
		return nil, fmt.Errorf("export format %q: want csv or jsonl", format)
	}
	return x, nil
}

// Write writes events, which must follow the previous ones in seq order.
func (x *ExportWriter) Write(evs []AuditEvent) error {
	for i := range evs {
		ev := &evs[i]
		if x.csv != nil {
			if err := x.csv.Write(ev.CSVRow()); err != nil {
				return err
			}
		} else {
			x.line = appendExportJSON(x.line[:0], ev)
			if _, err := x.w.Write(x.line); err != nil {
				return err
			}
		}
		x.trailer.Count++
		x.trailer.LastSeq, x.trailer.LastHash = ev.Seq, ev.Hash
	}
	return nil
}

// Flush sends what is buffered to the underlying writer.
func (x *ExportWriter) Flush() error {
	if x.csv != nil {
		x.csv.Flush()
		if err := x.csv.Error(); err != nil {
			return err
		}
	}
	return x.w.Flush()
}

// Trailer is the trailer as it stands (what Finish would write).
func (x *ExportWriter) Trailer() ExportTrailer { return x.trailer }

// Finish writes the trailer, flushes and returns the trailer. Only an
// export that ran to its end may be finished: a file without a trailer
// is, by definition, cut.
func (x *ExportWriter) Finish() (ExportTrailer, error) {
	t := x.trailer
	if x.csv != nil {
		if err := x.csv.Write(t.csvRow()); err != nil {
			return t, err
		}
	} else {
		x.line = append(x.line[:0], `{"type":"`+ExportTrailerType+`","count":`...)
		x.line = strconv.AppendInt(x.line, t.Count, 10)
		x.line = append(x.line, `,"last_seq":`...)
		x.line = strconv.AppendInt(x.line, t.LastSeq, 10)
		x.line = append(x.line, `,"last_hash":`...)
		x.line = appendJSONString(x.line, t.LastHash)
		x.line = append(x.line, `,"after":`...)
		x.line = strconv.AppendInt(x.line, t.After, 10)
		x.line = append(x.line, `,"before":`...)
		x.line = strconv.AppendInt(x.line, t.Before, 10)
		x.line = append(x.line, `,"filtered":`...)
		x.line = strconv.AppendBool(x.line, t.Filtered)
		x.line = append(x.line, "}\n"...)
		if _, err := x.w.Write(x.line); err != nil {
			return t, err
		}
	}
	return t, x.Flush()
}

// ExportOptions tune ExportAudit.
type ExportOptions struct {
	Batch int // events per query; 1000 when <= 0
	// AfterBatch, when set, runs after each batch has been flushed to the
	// writer (to push it on to a client, say); an error ends the export.
	AfterBatch func() error
}

// ExportAudit writes every event q selects (Limit ignored), oldest first,
// to w in format, reading batches by seq, so memory holds two batches
// whatever the export's size; then the trailer. On an error (the
// database's or the writer's) it stops without a trailer and returns the
// trailer as it stood: the events written so far.
func ExportAudit(ctx context.Context, db *gorm.DB, w io.Writer, format string, q AuditQuery, opt ExportOptions) (ExportTrailer, error) {
	x, err := NewExportWriter(w, format, q)
	if err != nil {
		return ExportTrailer{}, err
	}
	for batch, err := range AuditEventBatches(ctx, db, q, opt.Batch) {
		if err != nil {
			return x.Trailer(), err
		}
		if err := x.Write(batch); err != nil {
			return x.Trailer(), err
		}
		if opt.AfterBatch != nil {
			if err := x.Flush(); err != nil {
				return x.Trailer(), err
			}
			if err := opt.AfterBatch(); err != nil {
				return x.Trailer(), err
			}
		}
	}
	return x.Finish()
}

// AuditEventBatches yields the events q selects (Limit ignored) oldest
// first, in batches of up to size (1000 when <= 0) read by keyset on seq
// (seq > the last one yielded), so each query is a range of the primary
// key however far the export has gone. The next batch is read while the
// caller handles this one; a batch's slice is valid until the next one is
// asked for. Iteration stops at the first error, which it yields.
func AuditEventBatches(ctx context.Context, db *gorm.DB, q AuditQuery, size int) iter.Seq2[[]AuditEvent, error] {
	if size <= 0 {
		size = 1000
	}
	return func(yield func([]AuditEvent, error) bool) {
		// A search no index serves is refused before anything is read,
		// as SearchAudit refuses it.
		if err := q.Check(); err != nil {
			yield(nil, err)
			return
		}
		type result struct {
			evs []AuditEvent
			err error
		}
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		// Two buffers: the reader fills one while the caller holds the other.
		free := make(chan []AuditEvent, 2)
		free <- make([]AuditEvent, 0, size)
		free <- make([]AuditEvent, 0, size)
		out := make(chan result)
		go func() {
			defer close(out)
			var sc eventScanner
			after := q.AfterSeq
			for {
				var buf []AuditEvent
				select {
				case buf = <-free:
				case <-ctx.Done():
					return
				}
				evs, err := readAuditBatch(ctx, db, q, after, size, &sc, buf[:0])
				select {
				case out <- result{evs, err}:
				case <-ctx.Done():
					return
				}
				if err != nil || len(evs) < size {
					return
				}
				after = evs[len(evs)-1].Seq
			}
		}()
		var held []AuditEvent
		for r := range out {
			if held != nil {
				free <- held
			}
			if r.err != nil {
				yield(nil, r.err)
				return
			}
			if len(r.evs) > 0 && !yield(r.evs, nil) {
				return
			}
			if len(r.evs) < size {
				return // the last batch: the end
			}
			held = r.evs
		}
		// The reader stopped before the last batch: the context ended.
		// Never an end that looks like the export's.
		err := context.Cause(ctx)
		if err == nil {
			err = errors.New("stopped early")
		}
		yield(nil, fmt.Errorf("read audit events: %w", err))
	}
}

// readAuditBatch appends to dst up to size events of q with seq > after.
func readAuditBatch(ctx context.Context, db *gorm.DB, q AuditQuery, after int64, size int, sc *eventScanner, dst []AuditEvent) ([]AuditEvent, error) {
	tx := q.where(db.WithContext(ctx).Model(&AuditEvent{})).Select(auditColumns).Where("seq > ?", after)
	if q.BeforeSeq > 0 {
		tx = tx.Where("seq < ?", q.BeforeSeq)
	}
	rows, err := tx.Order("seq ASC").Limit(size).Rows()
	if err != nil {
		return dst, fmt.Errorf("read audit events: %w", withCause(ctx, err))
	}
	defer rows.Close()
	for rows.Next() {
		ev, err := sc.scan(rows)
		if err != nil {
			return dst, fmt.Errorf("read audit events: %w", withCause(ctx, err))
		}
		dst = append(dst, ev)
	}
	if err := rows.Err(); err != nil {
		return dst, fmt.Errorf("read audit events: %w", withCause(ctx, err))
	}
	return dst, rows.Close()
}

// withCause is err, also wrapping the context's cause when the context
// ended: a driver interrupted by it (SQLite's "interrupted") does not say
// why, and a caller must be able to tell a cancelled export from a failed
// database.
func withCause(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); cause != nil && !errors.Is(err, cause) {
		return fmt.Errorf("%w (%w)", cause, err)
	}
	return err
}

// appendExportJSON appends ev as one JSON line, byte for byte what
// AppendJSONLine(dst, "", ev) writes (TestExportJSONMatchesMarshal), by
// hand: encoding/json's reflection was most of an export's cost.
func appendExportJSON(dst []byte, ev *AuditEvent) []byte {
	dst = append(dst, `{"seq":`...)
	dst = strconv.AppendInt(dst, ev.Seq, 10)
	dst = append(dst, `,"at":"`...)
	dst = appendTimeUTC(dst, ev.At)
	dst = append(dst, `","actor":`...)
	dst = appendJSONString(dst, ev.Actor)
	dst = append(dst, `,"actor_tier":`...)
	dst = appendJSONString(dst, ev.ActorTier)
	dst = append(dst, `,"action":`...)
	dst = appendJSONString(dst, string(ev.Action))
	dst = append(dst, `,"workspace":`...)
	dst = appendJSONString(dst, ev.Workspace)
	dst = append(dst, `,"table_name":`...)
	dst = appendJSONString(dst, ev.Table)
	dst = append(dst, `,"record_ids":`...)
	dst = appendJSONString(dst, ev.RecordIDs)
	dst = append(dst, `,"grant_id":`...)
	dst = appendJSONInt(dst, ev.GrantID)
	dst = append(dst, `,"breakglass_id":`...)
	dst = appendJSONInt(dst, ev.BreakglassID)
	dst = append(dst, `,"target":`...)
	dst = appendJSONString(dst, ev.Target)
	dst = append(dst, `,"reason":`...)
	dst = appendJSONString(dst, ev.Reason)
	dst = append(dst, `,"detail":`...)
	dst = appendJSONString(dst, ev.Detail)
	dst = append(dst, `,"ip":`...)
	dst = appendJSONString(dst, ev.IP)
	dst = append(dst, `,"user_agent":`...)
	dst = appendJSONString(dst, ev.UserAgent)
	dst = append(dst, `,"request_id":`...)
	dst = appendJSONString(dst, ev.RequestID)
	dst = append(dst, `,"prev_hash":`...)
	dst = appendJSONString(dst, ev.PrevHash)
	dst = append(dst, `,"hash":`...)
	dst = appendJSONString(dst, ev.Hash)
	return append(dst, "}\n"...)
}

func appendJSONInt(dst []byte, p *int64) []byte {
	if p == nil {
		return append(dst, "null"...)
	}
	return strconv.AppendInt(dst, *p, 10)
}

// appendJSONString appends s quoted as encoding/json does by default:
// '"', '\\' and control characters escaped, '<', '>' and '&' as \u00XX,
// invalid UTF-8 as \ufffd, U+2028 and U+2029 escaped.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// ExportCheck is what CheckExport found in a whole export.
type ExportCheck struct {
	Format   string // "csv" or "jsonl"
	Trailer  ExportTrailer
	FirstSeq int64 // seq of the first event (0 when none)
}

// ErrExportCut is wrapped by CheckExport's error for a file that ends
// without its trailer.
var ErrExportCut = errors.New("the export was cut: it ends without its trailer")

// CheckExport reads an export (CSV or JSON Lines, told apart by its first
// line) and checks that it is whole and unaltered: every row parses and
// its hash is the hash of its contents after its prev_hash; seqs rise and
// lie within the trailer's bounds; the trailer is the last line, its
// count is the number of rows and its last seq and hash those of the last
// row. For an unfiltered export the rows must be consecutive links of the
// chain (each prev_hash the hash of the row before, no seq missing), run
// from seq after+1 when resuming (after > 0) and end just before the
// export's own audit.exported event (seq before-1).
func CheckExport(r io.Reader) (ExportCheck, error) {
	tail := &tailReader{r: r}
	br := bufio.NewReaderSize(tail, 64<<10)
	first, err := br.Peek(1)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return ExportCheck{}, fmt.Errorf("empty file: %w", ErrExportCut)
		}
		return ExportCheck{}, err
	}
	var res ExportCheck
	var next func() (AuditEvent, *ExportTrailer, string, error)
	if first[0] == '{' {
		res.Format = "jsonl"
		next = jsonlRows(br)
	} else {
		res.Format = "csv"
		if next, err = csvRows(br); err != nil {
			return res, err
		}
	}
	var (
		h         chainHasher
		count     int64
		last      AuditEvent
		gap       string // the first place the rows are not consecutive links
		trailer   *ExportTrailer
		trailerAt string
	)
	for {
		ev, t, where, err := next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return res, tail.cut(br, err)
		}
		if trailer != nil {
			return res, fmt.Errorf("%s: a row after the trailer (%s)", where, trailerAt)
		}
		if t != nil {
			trailer, trailerAt = t, where
			continue
		}
		if !h.matches(&ev) && !(res.Format == "csv" && h.matches(withCRLF(&ev))) {
			return res, tail.cut(br, fmt.Errorf("%s: seq %d: hash does not match the row's contents (edited?)", where, ev.Seq))
		}
		if count > 0 {
			switch {
			case ev.Seq <= last.Seq:
				return res, fmt.Errorf("%s: seq %d after seq %d: out of order or repeated", where, ev.Seq, last.Seq)
			case gap == "" && ev.Seq != last.Seq+1:
				gap = fmt.Sprintf("%s: seq %d follows seq %d: events missing", where, ev.Seq, last.Seq)
			case gap == "" && ev.PrevHash != last.Hash:
				gap = fmt.Sprintf("%s: seq %d: prev_hash is not the hash of seq %d", where, ev.Seq, last.Seq)
			}
		} else {
			res.FirstSeq = ev.Seq
		}
		count++
		last = ev
	}
	if trailer == nil {
		return res, fmt.Errorf("%d events read, the last seq %d: %w", count, last.Seq, ErrExportCut)
	}
	t := *trailer
	res.Trailer = t
	switch {
	case t.Count != count:
		return res, fmt.Errorf("the trailer counts %d events, the file holds %d", t.Count, count)
	case t.LastSeq != last.Seq || t.LastHash != last.Hash:
		return res, fmt.Errorf("the trailer names seq %d (hash %.12s…) last, the file's last event is seq %d (hash %.12s…)", t.LastSeq, t.LastHash, last.Seq, last.Hash)
	case count > 0 && res.FirstSeq <= t.After:
		return res, fmt.Errorf("seq %d is not after %d, the export's start", res.FirstSeq, t.After)
	case count > 0 && t.Before > 0 && last.Seq >= t.Before:
		return res, fmt.Errorf("seq %d is not before %d, the export's end", last.Seq, t.Before)
	}
	if !t.Filtered {
		switch {
		case gap != "":
			return res, fmt.Errorf("%s (an unfiltered export holds every event)", gap)
		case t.After > 0 && count > 0 && res.FirstSeq != t.After+1:
			return res, fmt.Errorf("the export resumes after seq %d but starts at seq %d: events missing", t.After, res.FirstSeq)
		case t.Before > 0 && count > 0 && last.Seq != t.Before-1:
			return res, fmt.Errorf("the export ends at seq %d, not at seq %d just before its own record: events missing", last.Seq, t.Before-1)
		case t.Before > 0 && count == 0 && t.Before-1 > t.After:
			return res, fmt.Errorf("the export holds no event, yet seqs %d to %d lie between its bounds", t.After+1, t.Before-1)
		}
	}
	return res, nil
}

// tailReader remembers whether its reader has ended, and its last byte.
type tailReader struct {
	r    io.Reader
	eof  bool
	last byte
}

func (t *tailReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if n > 0 {
		t.last = p[n-1]
	}
	if err == io.EOF {
		t.eof = true
	}
	return n, err
}

// cut is err, or ErrExportCut when err is about the file's last row and
// that row lacks its newline: a file cut mid-row says so.
func (t *tailReader) cut(br *bufio.Reader, err error) error {
	if t.eof && br.Buffered() == 0 && t.last != '\n' && !errors.Is(err, ErrExportCut) {
		return fmt.Errorf("the last row ends without a newline (%w): %w", err, ErrExportCut)
	}
	return err
}

// jsonlRows reads a JSON Lines export a line at a time.
func jsonlRows(br *bufio.Reader) func() (AuditEvent, *ExportTrailer, string, error) {
	n := 0
	return func() (AuditEvent, *ExportTrailer, string, error) {
		line, err := br.ReadBytes('\n')
		if len(line) == 0 && errors.Is(err, io.EOF) {
			return AuditEvent{}, nil, "", io.EOF
		}
		n++
		where := "line " + strconv.Itoa(n)
		if err != nil && !errors.Is(err, io.EOF) {
			return AuditEvent{}, nil, where, err
		}
		if line[len(line)-1] != '\n' {
			return AuditEvent{}, nil, where, fmt.Errorf("%s ends without a newline: %w", where, ErrExportCut)
		}
		var rec AuditRecord
		if err := json.Unmarshal(line, &rec); err != nil {
			return AuditEvent{}, nil, where, fmt.Errorf("%s: %w", where, err)
		}
		switch rec.Type {
		case "":
			return rec.Event(), nil, where, nil
		case ExportTrailerType:
			var t ExportTrailer
			if err := json.Unmarshal(line, &t); err != nil {
				return AuditEvent{}, nil, where, fmt.Errorf("%s: %w", where, err)
			}
			return AuditEvent{}, &t, where, nil
		}
		return AuditEvent{}, nil, where, fmt.Errorf("%s: unknown line type %q", where, rec.Type)
	}
}

// csvRows reads a CSV export a row at a time, taking off the "'" that
// neutralised a formula.
func csvRows(br *bufio.Reader) (func() (AuditEvent, *ExportTrailer, string, error), error) {
	cr := csv.NewReader(br)
	cr.FieldsPerRecord = len(AuditCSVHeader)
	cr.ReuseRecord = true
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("CSV header: %w", err)
	}
	if !slices.Equal(head, AuditCSVHeader) {
		return nil, fmt.Errorf("neither a JSON Lines nor a CSV export: the first line is not the CSV header")
	}
	return func() (AuditEvent, *ExportTrailer, string, error) {
		row, err := cr.Read()
		if err == io.EOF {
			return AuditEvent{}, nil, "", io.EOF
		}
		if err != nil {
			return AuditEvent{}, nil, "", err
		}
		line, _ := cr.FieldPos(0)
		where := "line " + strconv.Itoa(line)
		if row[0] == "#"+ExportTrailerType {
			t, err := parseCSVTrailer(row)
			if err != nil {
				return AuditEvent{}, nil, where, fmt.Errorf("%s: %w", where, err)
			}
			return AuditEvent{}, &t, where, nil
		}
		ev, err := eventFromCSV(row)
		if err != nil {
			return AuditEvent{}, nil, where, fmt.Errorf("%s: %w", where, err)
		}
		return ev, nil, where, nil
	}, nil
}

// eventFromCSV is the event a CSV export row holds (CSVRow's inverse).
func eventFromCSV(row []string) (AuditEvent, error) {
	v := make([]string, len(row))
	for i, cell := range row {
		v[i] = strings.TrimPrefix(cell, "'")
	}
	var ev AuditEvent
	var err error
	if ev.Seq, err = strconv.ParseInt(v[0], 10, 64); err != nil {
		return ev, fmt.Errorf("seq %q: %w", v[0], err)
	}
	if ev.At, err = time.Parse(time.RFC3339Nano, v[1]); err != nil {
		return ev, fmt.Errorf("at %q: %w", v[1], err)
	}
	opt := func(s string) (*int64, error) {
		if s == "" {
			return nil, nil
		}
		n, err := strconv.ParseInt(s, 10, 64)
		return &n, err
	}
	if ev.GrantID, err = opt(v[8]); err != nil {
		return ev, fmt.Errorf("grant_id %q: %w", v[8], err)
	}
	if ev.BreakglassID, err = opt(v[9]); err != nil {
		return ev, fmt.Errorf("breakglass_id %q: %w", v[9], err)
	}
	ev.Actor, ev.ActorTier, ev.Action, ev.Workspace, ev.Table, ev.RecordIDs = v[2], v[3], Action(v[4]), v[5], v[6], v[7]
	ev.Target, ev.Reason, ev.Detail, ev.IP, ev.UserAgent, ev.RequestID = v[10], v[11], v[12], v[13], v[14], v[15]
	ev.PrevHash, ev.Hash = v[16], v[17]
	return ev, nil
}

// withCRLF is ev with every "\n" of its text fields read as "\r\n": a
// CSV reader takes the "\r" off a quoted "\r\n", and a reason typed in a
// browser's text box has nothing else. (JSON Lines is the exact export.)
func withCRLF(ev *AuditEvent) *AuditEvent {
	c := *ev
	for _, f := range []*string{&c.Actor, &c.ActorTier, &c.Workspace, &c.Table, &c.RecordIDs, &c.Target, &c.Reason, &c.Detail, &c.IP, &c.UserAgent, &c.RequestID} {
		*f = strings.ReplaceAll(*f, "\n", "\r\n")
	}
	return &c
}
