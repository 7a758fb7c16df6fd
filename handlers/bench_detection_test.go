package handlers

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"gatehouse/models"
)

// BenchmarkDataPageDetection measures what the detection rules add to the
// audited data page. A round of views with the detector off gives the
// view's CPU; the detector then evaluates that round's events on its
// own, with nothing else running, in its usual batches, which gives its
// CPU per event (each view is one event). On PostgreSQL both include the
// server's CPU. The overhead is the one over the other, the figure issue
// 15 bounds at 5 %: measured apart because the difference between two
// loaded runs is noisier (±15 %) than the bound. A round with the detector
// running beside the views every second, as `serve` runs it every 10 s,
// gives the page's throughput with detection on against off, and checks
// the detector keeps up. Run with a fixed count, e.g. -benchtime=3000x.
func BenchmarkDataPageDetection(b *testing.B) {
	for _, engine := range []string{"sqlite", "postgres"} {
		b.Run(engine, func(b *testing.B) {
			rig := newDataPageRig(b, engine, 64)
			p := rig.p
			d := &models.Detector{DB: rig.db, Rules: harnessRules(b), Now: p.clock.Now, Every: time.Second}
			ctx := context.Background()
			lastView := func() int64 {
				var last int64 // other events may still be arriving; the views are all in
				if err := rig.db.Read.Raw("SELECT COALESCE(MAX(seq), 0) FROM audit_events WHERE action = ?", models.ActionDataViewed).Scan(&last).Error; err != nil {
					b.Fatal(err)
				}
				return last
			}
			// catchUp evaluates up to the last view. A round cancelled on
			// PostgreSQL may hold the position's lock a moment longer on the
			// server (the detector then leaves it, as to another replica).
			catchUp := func() (total int, cost time.Duration) {
				want := lastView()
				for deadline := time.Now().Add(10 * time.Second); ; {
					cpu, pgcpu := processCPU(), serverCPU()
					n, err := d.RunOnce(ctx)
					cost += processCPU() - cpu + serverCPU() - pgcpu
					total += n
					if err != nil {
						b.Fatal(err)
					}
					head, err := models.DetectionPosition(ctx, rig.db.Read)
					if err != nil {
						b.Fatal(err)
					}
					if head >= want {
						return total, cost
					}
					if time.Now().After(deadline) {
						b.Fatalf("detection stays at seq %d, the last view is %d", head, want)
					}
					time.Sleep(10 * time.Millisecond)
				}
			}
			catchUp() // the sign-ins and the grant
			views := func(b *testing.B, conc int) driveResult {
				before := p.count("audit_events", "action = ?", models.ActionDataViewed)
				r := drive(b, b.N, conc, func(i int) *http.Client { return rig.clients[i%len(rig.clients)] }, p.srv.URL+rig.path)
				if n := p.count("audit_events", "action = ?", models.ActionDataViewed) - before; r.ok != b.N || n != int64(r.ok) {
					b.Fatalf("%d of %d requests answered 200, %d audit rows written", r.ok, b.N, n)
				}
				return r
			}
			for _, conc := range []int{8, 64} {
				b.Run(fmt.Sprintf("clients=%d", conc), func(b *testing.B) {
					views(b, conc) // warm up caches and connections
					catchUp()
					var viewCPU, detectCPU time.Duration
					var evaluated int
					var offSecs, onSecs float64
					for range 2 {
						r := views(b, conc)
						viewCPU += (r.cpu + r.pgcpu) * time.Duration(b.N)
						offSecs += float64(b.N) / r.rate
						n, c := catchUp()
						evaluated += n
						detectCPU += c

						rctx, stop := context.WithCancel(ctx)
						var wg sync.WaitGroup
						wg.Go(func() { _ = d.Run(rctx) })
						r = views(b, conc)
						stop()
						wg.Wait()
						onSecs += float64(b.N) / r.rate
						catchUp()
					}
					if evaluated < 2*b.N {
						b.Fatalf("%d events evaluated after %d views", evaluated, 2*b.N)
					}
					perView := float64(viewCPU.Microseconds()) / float64(2*b.N)
					perEvent := float64(detectCPU.Microseconds()) / float64(evaluated)
					b.ReportMetric(perView, "view-cpu-us")
					b.ReportMetric(perEvent, "detect-cpu-us/event")
					b.ReportMetric(100*perEvent/perView, "overhead-%")
					b.ReportMetric(float64(evaluated)/detectCPU.Seconds(), "detect-events/cpu-s")
					b.ReportMetric(float64(2*b.N)/offSecs, "off-views/s")
					b.ReportMetric(float64(2*b.N)/onSecs, "on-views/s")
				})
			}
		})
	}
}
