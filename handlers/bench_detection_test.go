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
// audited data page: the same views driven with the detector off and on
// (as `serve` runs it, in the same process, every second here rather than
// every 10 s, so its rounds are small and its fixed cost per round counts
// more), after a round to warm up, in the order off, on, on, off, so that a
// load that drifts through the run falls evenly on both. With it on, the events the round leaves behind are
// evaluated after the views and their cost counted, so every view is
// paid for. The cost compared is CPU per view, the process's (server and
// clients) and on PostgreSQL also the server's; the overhead is the
// difference over the cost with detection off. Run with a fixed count,
// e.g. -benchtime=3000x.
func BenchmarkDataPageDetection(b *testing.B) {
	for _, engine := range []string{"sqlite", "postgres"} {
		b.Run(engine, func(b *testing.B) {
			rig := newDataPageRig(b, engine)
			p := rig.p
			d := &models.Detector{DB: rig.db, Rules: harnessRules(b), Now: p.clock.Now, Every: time.Second}
			ctx := context.Background()
			catchUp := func() (int, time.Duration, time.Duration) {
				cpu, pgcpu := processCPU(), serverCPU()
				n, err := d.RunOnce(ctx)
				if err != nil {
					b.Fatal(err)
				}
				return n, processCPU() - cpu, serverCPU() - pgcpu
			}
			catchUp() // the sign-ins and the grant
			for _, conc := range []int{8, 64} {
				b.Run(fmt.Sprintf("clients=%d", conc), func(b *testing.B) {
					var off, on struct {
						views      int
						cpu, pgcpu time.Duration
						secs       float64
					}
					evaluated := 0
					// A round to warm up (caches, connections), then off, on,
					// on, off: a load that drifts through the run falls evenly.
					drive(b, b.N, conc, func(i int) *http.Client { return rig.clients[i%len(rig.clients)] }, p.srv.URL+rig.path)
					catchUp()
					for _, detect := range []bool{false, true, true, false} {
						rctx, stop := context.WithCancel(ctx)
						var wg sync.WaitGroup
						if detect {
							wg.Go(func() { _ = d.Run(rctx) })
						}
						before := p.count("audit_events", "action = ?", models.ActionDataViewed)
						r := drive(b, b.N, conc, func(i int) *http.Client { return rig.clients[i%len(rig.clients)] }, p.srv.URL+rig.path)
						views := p.count("audit_events", "action = ?", models.ActionDataViewed) - before
						if r.ok != b.N || views != int64(r.ok) {
							b.Fatalf("%d of %d requests answered 200, %d audit rows written", r.ok, b.N, views)
						}
						cpu, pgcpu := r.cpu*time.Duration(b.N), r.pgcpu*time.Duration(b.N)
						secs := float64(b.N) / r.rate
						stop()
						wg.Wait()
						if detect {
							n, c, pc := catchUp() // what the round left, paid for by these views
							evaluated += n
							on.views += b.N
							on.cpu += cpu + c
							on.pgcpu += pgcpu + pc
							on.secs += secs
						} else {
							catchUp() // evaluated outside any measure, so the next round starts level
							off.views += b.N
							off.cpu += cpu
							off.pgcpu += pgcpu
							off.secs += secs
						}
					}
					head, err := models.DetectionPosition(ctx, rig.db.Read)
					if err != nil {
						b.Fatal(err)
					}
					var last int64
					if err := rig.db.Read.Raw("SELECT COALESCE(MAX(seq), 0) FROM audit_events").Scan(&last).Error; err != nil {
						b.Fatal(err)
					}
					if head != last {
						b.Fatalf("detection stopped at seq %d of %d", head, last)
					}
					per := func(d time.Duration, n int) float64 { return float64(d.Microseconds()) / float64(n) }
					offCost, onCost := per(off.cpu+off.pgcpu, off.views), per(on.cpu+on.pgcpu, on.views)
					b.ReportMetric(float64(off.views)/off.secs, "off-views/s")
					b.ReportMetric(float64(on.views)/on.secs, "on-views/s")
					b.ReportMetric(offCost, "off-cpu-us/view")
					b.ReportMetric(onCost, "on-cpu-us/view")
					b.ReportMetric(100*(onCost-offCost)/offCost, "overhead-%")
					b.ReportMetric(float64(evaluated), "caught-up-events")
				})
			}
		})
	}
}
