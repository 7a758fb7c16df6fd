package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/dbtest"
)

// startExport posts an export form to base (the portal's URL, or another
// server of the same handler) and returns the response unread.
func startExport(t *testing.T, c *http.Client, base string, form url.Values) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+"/audit/export", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// exportEvents returns the events of action a, newest first.
func exportEvents(t *testing.T, p *testPortal, a models.Action) []models.AuditEvent {
	t.Helper()
	evs, err := models.SearchAudit(context.Background(), p.db.Read, models.AuditQuery{Action: a, Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// TestAuditExportBatchesAndResume: an export read in batches of 2 is
// whole (CheckExport), ends with its trailer and is recorded as finished;
// after=SEQ resumes just after SEQ; a bad after is refused with 422 and
// records nothing.
func TestAuditExportBatchesAndResume(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db, func(o *Options) { o.Export.Batch = 2 })
		evs := p.seedAudit("acme", 7)
		c := p.login("aud.auditor@example.com")
		if _, page := p.get(c, "/audit"); !strings.Contains(page, `name="after"`) {
			t.Error("the export form has no after field")
		}
		for _, format := range []string{"jsonl", "csv"} {
			resp, body := p.post(c, "/audit/export", url.Values{"format": {format}})
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("export = %d: %.300s", resp.StatusCode, body)
			}
			res, err := models.CheckExport(strings.NewReader(body))
			if err != nil {
				t.Fatalf("%s export does not check: %v\n%.2000s", format, err, body)
			}
			exported := exportEvents(t, p, models.ActionAuditExported)[0]
			tr := res.Trailer
			if tr.Filtered || tr.After != 0 || tr.Before != exported.Seq || tr.LastSeq != exported.Seq-1 || tr.Count != exported.Seq-1 {
				t.Errorf("%s trailer %+v, want every event before the export's record %d", format, tr, exported.Seq)
			}
			fin := exportEvents(t, p, models.ActionAuditExportFinished)
			if len(fin) == 0 || !strings.Contains(fin[0].Detail, `"export":"`+strconv.FormatInt(exported.Seq, 10)+`"`) ||
				!strings.Contains(fin[0].Detail, `"count":"`+strconv.FormatInt(tr.Count, 10)+`"`) {
				t.Errorf("export_finished events %+v, want one for export %d with its count", fin, exported.Seq)
			}

			// Resume after the fourth seeded event: the rest of the acme
			// events, and whatever came after, up to this export's record.
			from := evs[3].Seq
			resp, body = p.post(c, "/audit/export", url.Values{"format": {format}, "after": {strconv.FormatInt(from, 10)}, "workspace": {"acme"}})
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("resumed export = %d: %.300s", resp.StatusCode, body)
			}
			res, err = models.CheckExport(strings.NewReader(body))
			if err != nil {
				t.Fatalf("resumed %s export does not check: %v\n%.2000s", format, err, body)
			}
			if tr := res.Trailer; res.FirstSeq != evs[4].Seq || tr.Count != 3 || tr.LastSeq != evs[6].Seq || tr.After != from || !tr.Filtered {
				t.Errorf("resumed %s export: first seq %d, trailer %+v; want seqs %d..%d after %d, filtered", format, res.FirstSeq, tr, evs[4].Seq, evs[6].Seq, from)
			}
		}

		before := len(exportEvents(t, p, models.ActionAuditExported))
		for _, bad := range []string{"x", "-1", "1.5", "99999999999999999999"} {
			resp, body := p.post(c, "/audit/export", url.Values{"format": {"jsonl"}, "after": {bad}})
			if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "sequence number") {
				t.Errorf("after=%q: %d, want 422 naming the sequence number:\n%.300s", bad, resp.StatusCode, body)
			}
		}
		if got := len(exportEvents(t, p, models.ActionAuditExported)); got != before {
			t.Errorf("refused exports recorded: %d audit.exported, want %d", got, before)
		}
	})
}

// TestAuditExportOutlivesWriteTimeout serves the portal from an
// http.Server whose WriteTimeout (300ms) is far shorter than the export
// (a pause after each of its batches): the export runs to its trailer,
// because each write pushes the connection's deadline.
func TestAuditExportOutlivesWriteTimeout(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		const writeTimeout = 300 * time.Millisecond
		p := newPortal(t, db, func(o *Options) {
			o.Export = ExportOptions{Batch: 2, Stall: 5 * time.Second, afterBatch: func() { time.Sleep(80 * time.Millisecond) }}
		})
		p.seedAudit("acme", 12)
		c := p.login("aud.auditor@example.com")
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: p.srv.Config.Handler, ReadHeaderTimeout: writeTimeout, ReadTimeout: writeTimeout, WriteTimeout: writeTimeout}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
		// The session cookie is the host's, whatever the port.
		start := time.Now()
		resp := startExport(t, c, "http://"+ln.Addr().String(), url.Values{"format": {"jsonl"}})
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		took := time.Since(start)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("export = %d, %v after %v (%d bytes): want it whole", resp.StatusCode, err, took, len(body))
		}
		if took < 2*writeTimeout {
			t.Fatalf("export took %v, not beyond the WriteTimeout %v: the test proves nothing", took, writeTimeout)
		}
		res, err := models.CheckExport(bytes.NewReader(body))
		if err != nil {
			t.Fatalf("export of %v does not check: %v", took, err)
		}
		if res.Trailer.Count < 12 {
			t.Errorf("trailer %+v, want at least the 12 seeded events", res.Trailer)
		}
		if cut := exportEvents(t, p, models.ActionAuditExportCut); len(cut) != 0 {
			t.Errorf("export_cut recorded: %+v", cut)
		}
	})
}

// TestAuditExportCut: a client that goes away mid-export leaves
// audit.export_cut (no export_finished) and a log line with "cut": true;
// a database failing mid-export aborts the connection, so the client's
// download fails instead of ending cleanly without its trailer.
func TestAuditExportCut(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		breakRead := make(chan func(), 1)
		// The portal reads through a pool of its own, which the test
		// closes mid-export; its writes (the audit log) go on.
		reads := dbtest.Reopen(t, db)
		p := newPortal(t, db, func(o *Options) {
			o.DB = &models.DB{Write: db.Write, Read: reads.Read, Dialect: db.Dialect}
			o.Export = ExportOptions{Batch: 2, afterBatch: func() {
				select {
				case f := <-breakRead:
					f()
				default:
				}
				time.Sleep(40 * time.Millisecond)
			}}
		})
		p.seedAudit("acme", 20)
		c := p.login("aud.auditor@example.com")

		t.Run("client gone", func(t *testing.T) {
			resp := startExport(t, c, p.srv.URL, url.Values{"format": {"csv"}})
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("export = %d", resp.StatusCode)
			}
			if _, err := io.ReadFull(resp.Body, make([]byte, 100)); err != nil {
				t.Fatal(err)
			}
			resp.Body.Close() // mid-transfer: the connection goes
			var cut []models.AuditEvent
			for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
				if cut = exportEvents(t, p, models.ActionAuditExportCut); len(cut) > 0 {
					break
				}
			}
			if len(cut) != 1 || !strings.Contains(cut[0].Detail, `"error"`) {
				t.Fatalf("export_cut events %+v, want one with the error; log:\n%s", cut, p.logs.String())
			}
			if fin := exportEvents(t, p, models.ActionAuditExportFinished); len(fin) != 0 {
				t.Errorf("a cut export recorded as finished: %+v", fin)
			}
			waitLog(t, p, `"cut":true`)
		})

		t.Run("database fails", func(t *testing.T) {
			// Closing the read pool after the first batch fails a later read.
			breakRead <- func() {
				if s, err := reads.Read.DB(); err == nil {
					s.Close()
				}
			}
			resp := startExport(t, c, p.srv.URL, url.Values{"format": {"jsonl"}})
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || err == nil || !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("export with its database failing = %d, %v, want 200 and then a broken transfer (unexpected EOF)", resp.StatusCode, err)
			}
			if bytes.Contains(body, []byte("export_trailer")) {
				t.Errorf("a failed export carries a trailer:\n%s", body)
			}
			if _, err := models.CheckExport(bytes.NewReader(body)); !errors.Is(err, models.ErrExportCut) {
				t.Errorf("CheckExport of the cut file = %v, want ErrExportCut", err)
			}
		})
	})
}

// waitLog waits for the portal's log to hold s.
func waitLog(t *testing.T, p *testPortal, s string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if strings.Contains(p.logs.String(), s) {
			return
		}
	}
	t.Errorf("log lacks %s:\n%s", s, p.logs.String())
}

// smallBuffers is a listener whose connections send through a small
// kernel buffer, so that a client that stops reading blocks the server's
// writes after a few kilobytes rather than a few megabytes.
type smallBuffers struct{ net.Listener }

func (l smallBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetWriteBuffer(4096)
	}
	return c, err
}

// TestAuditExportStalledClient: a client that stops reading mid-export
// (and keeps its connection open) holds no database connection while
// the export waits, does not make the server read ahead of what it
// sent, and is cut after the export's Stall: recorded as
// audit.export_cut, the connection closed, no export_finished.
func TestAuditExportStalledClient(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		const stall = 400 * time.Millisecond
		const batch = 10
		var batches atomic.Int64
		// The export reads through a pool of its own, to count what it holds.
		reads := dbtest.Reopen(t, db)
		p := newPortal(t, db, func(o *Options) {
			o.DB = &models.DB{Write: db.Write, Read: reads.Read, Dialect: db.Dialect}
			o.Export = ExportOptions{Batch: batch, Stall: stall, afterBatch: func() { batches.Add(1) }}
		})
		const seeded = 200
		p.seedAudit("acme", seeded)
		c := p.login("aud.auditor@example.com")
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		// A WriteTimeout far beyond the stall: only the export's own
		// deadline can end it.
		srv := &http.Server{Handler: p.srv.Config.Handler, ReadHeaderTimeout: time.Minute, WriteTimeout: 10 * time.Minute}
		go srv.Serve(smallBuffers{ln})
		t.Cleanup(func() { srv.Close() })

		// A client with a small receive buffer that reads the headers and
		// then nothing more.
		stalled := *c
		stalled.Timeout = 0 // only the server may end it
		stalled.Transport = &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := (&net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
				return rc.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
			}}).DialContext(ctx, network, addr)
			return conn, err
		}}
		start := time.Now()
		resp := startExport(t, &stalled, "http://"+ln.Addr().String(), url.Values{"format": {"csv"}})
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("export = %d", resp.StatusCode)
		}

		// The export stops moving: no batch is sent for a while, and
		// meanwhile it holds no connection of the pool.
		sqlDB, err := reads.Read.DB()
		if err != nil {
			t.Fatal(err)
		}
		var stuck int64
		for prev := int64(-1); ; time.Sleep(stall / 2) {
			n := batches.Load()
			if n == prev {
				stuck = n
				break
			}
			prev = n
			if time.Since(start) > 20*time.Second {
				t.Fatalf("the export kept moving for 20 s (%d batches) while its client read nothing", n)
			}
		}
		if inUse := sqlDB.Stats().InUse; inUse != 0 {
			t.Errorf("a stalled export holds %d database connections", inUse)
		}

		var cut []models.AuditEvent
		for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if cut = exportEvents(t, p, models.ActionAuditExportCut); len(cut) > 0 {
				break
			}
		}
		took := time.Since(start)
		if len(cut) != 1 || !strings.Contains(cut[0].Detail, `"error"`) || took > stall+10*time.Second {
			t.Fatalf("after %v: export_cut events %+v, want one with the error; log:\n%s", took, cut, p.logs.String())
		}
		if fin := exportEvents(t, p, models.ActionAuditExportFinished); len(fin) != 0 {
			t.Errorf("a stalled export recorded as finished: %+v", fin)
		}
		// Cut where its client stopped, long before the end of the log.
		var detail map[string]string
		if err := json.Unmarshal([]byte(cut[0].Detail), &detail); err != nil {
			t.Fatal(err)
		}
		sent, _ := strconv.Atoi(detail["count"])
		t.Logf("stalled after %d batches; cut after %v with %d of %d events sent", stuck, took, sent, seeded)
		if sent >= seeded/2 || batches.Load() > stuck+1 {
			t.Errorf("cut after %d events sent, %d batches (%d when it stalled), of %d: want the export stopped where its client did", sent, batches.Load(), stuck, seeded)
		}
		if inUse := sqlDB.Stats().InUse; inUse != 0 {
			t.Errorf("a cut export left %d database connections in use", inUse)
		}
		// The connection is closed: reading what the buffers hold ends
		// in an error, never a clean end of the file.
		if _, err := io.ReadAll(resp.Body); err == nil {
			t.Error("the stalled client's download ended cleanly")
		}
	})
}
