package models_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/dbtest"
)

// BenchmarkAuditShipCatchUp measures a first start on an existing log:
// the holder of the stream ships every stored event from seq 1 to a
// file, in batches of 500, each synced before the position moves, over
// as many rounds as it takes.
func BenchmarkAuditShipCatchUp(b *testing.B) {
	const n = 100_000
	evs := testChain(n)
	for _, engine := range []struct {
		name string
		open func(testing.TB) *models.DB
	}{{"sqlite", dbtest.SQLite}, {"postgres", dbtest.Postgres}} {
		b.Run(engine.name, func(b *testing.B) {
			db := engine.open(b)
			fillChain(b, db, evs)
			path := filepath.Join(b.TempDir(), "audit.jsonl")
			ctx := context.Background()
			b.ResetTimer()
			for b.Loop() {
				b.StopTimer()
				if err := db.Write.Exec("UPDATE audit_stream SET shipped_seq = 0").Error; err != nil {
					b.Fatal(err)
				}
				os.Remove(path)
				f, err := models.OpenStreamFile(path)
				if err != nil {
					b.Fatal(err)
				}
				s := models.NewAuditShipper(db, f, nil, time.Now, nil)
				b.StartTimer()
				// A round ships for at most a few seconds; the next goes on.
				for pos := int64(0); pos < n; pos, _ = streamPosition(b, db) {
					if err := s.Ship(ctx); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				stopShipper(b, s)
				f.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
