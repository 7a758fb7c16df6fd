package models_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"gatehouse/models"
)

// BenchmarkAuditExport exports 1,000,000 events from PostgreSQL (the
// database gatehouse_bench_export, built once with generate_series and
// kept while it holds exactly that many; the hashes are not a valid
// chain, which an export does not check) to a writer that discards them,
// as the web export does: batches of 1000, flushed after each. It
// reports the peak heap in use (HeapInuse sampled every 5 ms), the time
// to the first byte and events per second. Opt-in: it runs only with
// GATEHOUSE_BENCH_EXPORT=1, as building the events takes a minute.
//
//	GATEHOUSE_BENCH_EXPORT=1 go test -run '^$' -bench BenchmarkAuditExport -benchtime 2x ./models/
func BenchmarkAuditExport(b *testing.B) {
	if os.Getenv("GATEHOUSE_BENCH_EXPORT") != "1" {
		b.Skip("set GATEHOUSE_BENCH_EXPORT=1 to export 1,000,000 events")
	}
	const n = 1_000_000
	db := exportBenchDB(b, n)
	for _, format := range []string{"jsonl", "csv"} {
		b.Run(format, func(b *testing.B) {
			var peak, ttfb, rate, cpu float64
			for b.Loop() {
				runtime.GC()
				var high atomic.Uint64
				stop := make(chan struct{})
				var wg sync.WaitGroup
				wg.Go(func() {
					var ms runtime.MemStats
					t := time.NewTicker(5 * time.Millisecond)
					defer t.Stop()
					for {
						runtime.ReadMemStats(&ms)
						if ms.HeapInuse > high.Load() {
							high.Store(ms.HeapInuse)
						}
						select {
						case <-stop:
							return
						case <-t.C:
						}
					}
				})
				cpu0 := cpuTime()
				w := &firstByteWriter{start: time.Now()}
				tr, err := models.ExportAudit(context.Background(), db.Read, w, format, models.AuditQuery{BeforeSeq: n + 1},
					models.ExportOptions{Batch: 1000, AfterBatch: func() error { return nil }})
				took := time.Since(w.start)
				cpu = float64((cpuTime() - cpu0).Microseconds()) / n
				close(stop)
				wg.Wait()
				if err != nil {
					b.Fatal(err)
				}
				if tr.Count != n {
					b.Fatalf("exported %d events, want %d", tr.Count, n)
				}
				peak = max(peak, float64(high.Load())/(1<<20))
				ttfb = max(ttfb, float64(w.first.Sub(w.start).Microseconds())/1000)
				rate = float64(n) / took.Seconds()
				b.Logf("%s: %d events, %d MB, %v, first byte after %v, peak heap %.1f MB, %.0f events/s, %.2f µs of CPU per event (this process)",
					format, tr.Count, w.n>>20, took.Round(time.Millisecond), w.first.Sub(w.start).Round(time.Microsecond), float64(high.Load())/(1<<20), rate, cpu)
			}
			b.ReportMetric(peak, "peak-heap-MB")
			b.ReportMetric(ttfb, "ttfb-ms")
			b.ReportMetric(rate, "events/s")
			b.ReportMetric(cpu, "cpu-µs/event")
		})
	}
}

// cpuTime is the CPU time this process has used (user and system): on a
// shared machine, a figure less at the mercy of the other load than
// events/s.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// firstByteWriter discards what it is given and notes when the first
// byte came.
type firstByteWriter struct {
	start, first time.Time
	n            int64
}

func (w *firstByteWriter) Write(p []byte) (int, error) {
	if w.n == 0 {
		w.first = time.Now()
	}
	w.n += int64(len(p))
	return len(p), nil
}

// exportBenchDB returns the kept benchmark database, (re)building it
// with n events when it holds another number.
func exportBenchDB(b *testing.B, n int) *models.DB {
	db, _, built := keptBenchDB(b, "gatehouse_bench_export", func(db *models.DB) bool {
		var count int
		db.Read.Raw("SELECT count(*) FROM audit_events").Scan(&count)
		return count == n
	})
	if !built {
		return db
	}
	start := time.Now()
	// Rows of a realistic size (about 450 bytes as JSON): a data view with
	// a page of ids, a reason, a browser's user agent and a request id.
	q := fmt.Sprintf(`INSERT INTO audit_events (seq, at, actor, actor_tier, action, workspace, table_name, record_ids, target, reason, detail, ip, user_agent, request_id, prev_hash, hash)
SELECT g, timestamptz '2026-01-01 00:00:00Z' + g * interval '3 seconds',
       'staff' || (g %% 256) || '@example.com', 'senior', 'data.viewed',
       'ws' || lpad((g %% 24)::text, 2, '0'), 'members',
       (g %% 5000)::text || ',' || (g %% 5000 + 1)::text || ',' || (g %% 5000 + 2)::text, '',
       'ticket SUP-' || (g %% 9000), '', '192.0.2.' || (g %% 250),
       'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36',
       substr(md5(g::text), 1, 16),
       md5((g - 1)::text) || md5((g - 1)::text || 'x'), md5(g::text) || md5(g::text || 'x')
FROM generate_series(1, %d) g`, n)
	for _, s := range []string{q, "VACUUM ANALYZE audit_events"} {
		if err := db.Write.Exec(s).Error; err != nil {
			b.Fatalf("%.60s: %v", s, err)
		}
	}
	b.Logf("built %d events in %s", n, time.Since(start).Round(time.Second))
	return db
}
