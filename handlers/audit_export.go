package handlers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"gatehouse/models"
	"gatehouse/views"

	"github.com/labstack/echo/v4"
)

// ExportOptions tune audit exports.
type ExportOptions struct {
	// Batch is how many events are read per query and sent to the client
	// at once; 1000 when 0.
	Batch int
	// Stall is how long one write to the client may block before the
	// export is cut; 1 minute when 0. Each write pushes the connection's
	// write deadline this far ahead, so an export that keeps moving
	// outlives the server's WriteTimeout, and one whose reader stopped
	// ends.
	Stall time.Duration

	afterBatch func() // tests: runs after each batch (to slow an export, or break its database)
}

func (o ExportOptions) withDefaults() ExportOptions {
	if o.Batch <= 0 {
		o.Batch = 1000
	}
	if o.Stall <= 0 {
		o.Stall = time.Minute
	}
	return o
}

// auditExport streams the matching events as CSV or JSON Lines, oldest
// first, a batch at a time, and ends with the trailer line (count, last
// seq and hash) a reader checks the file with. The export is recorded
// (with its filters) before the first byte is sent and covers the events
// before that record; after=SEQ resumes an export after an event. Its end
// is recorded too: audit.export_finished once the trailer is sent, or
// audit.export_cut when it fails part way, in which case the connection
// is aborted so that the client sees a broken transfer, never a clean
// end.
func (h *Handler) auditExport(c echo.Context) error {
	// A refused search (no index serves it) is answered, like any bad
	// filter, before the export is recorded: nothing is written for it.
	f, q, errs, status := auditFilter(c.FormValue)
	format := c.FormValue("format")
	if format != "csv" && format != "jsonl" {
		errs[""] = "Choose CSV or JSON Lines."
	}
	after := strings.TrimSpace(c.FormValue("after"))
	if after != "" {
		seq, err := strconv.ParseInt(after, 10, 64)
		if err != nil || seq < 0 {
			errs[""] = "To resume an export, give the sequence number (seq) of the last event you already have, or leave it empty."
		}
		q.AfterSeq = seq
	}
	if len(errs) > 0 {
		if status == http.StatusOK {
			status = http.StatusUnprocessableEntity
		}
		return h.renderAudit(c, status, views.AuditListView{Filter: f, Errors: errs})
	}
	ctx := c.Request().Context()
	now := h.now()
	detail := map[string]string{"format": format}
	for k, v := range f.Values() {
		detail[k] = v[0]
	}
	if q.AfterSeq > 0 {
		detail["after"] = strconv.FormatInt(q.AfterSeq, 10)
	}
	ev, err := h.audit.Append(ctx, models.AuditEntry{At: now, Actor: h.actor(c), Action: models.ActionAuditExported, Detail: detail})
	if err != nil {
		return fmt.Errorf("%w: %w", echo.ErrServiceUnavailable, err)
	}
	q.BeforeSeq = ev.Seq
	name := "gatehouse-audit-" + now.UTC().Format("20060102T150405Z") + "." + format
	hd := c.Response().Header()
	hd.Set("Cache-Control", "no-store")
	hd.Set(echo.HeaderContentDisposition, `attachment; filename="`+name+`"`)
	if format == "csv" {
		hd.Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	} else {
		hd.Set(echo.HeaderContentType, "application/jsonl; charset=utf-8")
	}
	// The status goes with the first batch, so an export that fails
	// before it is an error page.
	w := &deadlineWriter{w: c.Response(), rc: http.NewResponseController(c.Response().Writer), stall: h.export.Stall}
	t, err := models.ExportAudit(ctx, h.db.Read, w, format, q, models.ExportOptions{Batch: h.export.Batch, AfterBatch: func() error {
		if h.export.afterBatch != nil {
			h.export.afterBatch()
		}
		return w.flush()
	}})
	if err == nil {
		err = w.flush()
	}
	// The end is recorded even when the client is gone.
	ctx = context.WithoutCancel(ctx)
	end := map[string]string{
		"export": strconv.FormatInt(ev.Seq, 10), "format": format,
		"count": strconv.FormatInt(t.Count, 10), "last_seq": strconv.FormatInt(t.LastSeq, 10),
	}
	if err == nil {
		if _, rerr := h.audit.Append(ctx, models.AuditEntry{At: h.now(), Actor: h.actor(c), Action: models.ActionAuditExportFinished, Detail: end}); rerr != nil {
			// The file is whole and carries its trailer; only the record of its end is missing.
			h.log.Error("audit export finished but not recorded", "request_id", requestIDOf(c), "export", ev.Seq, "error", rerr)
		}
		return nil
	}
	end["error"] = err.Error()
	if _, rerr := h.audit.Append(ctx, models.AuditEntry{At: h.now(), Actor: h.actor(c), Action: models.ActionAuditExportCut, Detail: end}); rerr != nil {
		h.log.Error("audit export cut and not recorded", "request_id", requestIDOf(c), "export", ev.Seq, "error", rerr)
	}
	h.log.Warn("audit export cut", "request_id", requestIDOf(c), "export", ev.Seq, "count", t.Count, "last_seq", t.LastSeq, "error", err)
	if !c.Response().Committed {
		return fmt.Errorf("%w: audit export: %w", echo.ErrServiceUnavailable, err)
	}
	// Part of the file is out: abort the connection (no final chunk), so
	// the download fails instead of ending as if whole.
	panic(http.ErrAbortHandler)
}

// deadlineWriter pushes the connection's write deadline stall ahead before
// each write and flush.
type deadlineWriter struct {
	w     io.Writer
	rc    *http.ResponseController
	stall time.Duration
}

func (d *deadlineWriter) push() error {
	if err := d.rc.SetWriteDeadline(time.Now().Add(d.stall)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	return nil
}

func (d *deadlineWriter) Write(p []byte) (int, error) {
	if err := d.push(); err != nil {
		return 0, err
	}
	return d.w.Write(p)
}

// flush sends what the server buffers to the client.
func (d *deadlineWriter) flush() error {
	if err := d.push(); err != nil {
		return err
	}
	if err := d.rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	return nil
}
