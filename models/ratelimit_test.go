package models_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/dbtest"
)

var testLimit = models.Limit{Name: "test.failed", Max: 5, Window: 10 * time.Minute}

// hitsOf is the stored count of client under l, or -1 without a row.
func hitsOf(t *testing.T, db *models.DB, l models.Limit, client string) int {
	t.Helper()
	var hits []int
	if err := db.Read.Raw("SELECT hits FROM rate_limits WHERE limiter = ? AND client = ?", l.Name, client).Scan(&hits).Error; err != nil {
		t.Fatal(err)
	}
	if len(hits) == 0 {
		return -1
	}
	return hits[0]
}

// TestLimitWindow: a budget counts up to Max, refuses the next without
// counting it, takes a returned hit again, and starts over when its
// window ends; clients and limiters count apart.
func TestLimitWindow(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		// Fractions of a second of different lengths: SQLite compares
		// the stored text.
		start := time.Date(2026, 3, 1, 9, 0, 0, 500_000_000, time.UTC)
		take := func(at time.Time, l models.Limit, client string) (int, error) {
			return models.TakeLimit(ctx, db.Write, at, l, client)
		}
		for i := 1; i <= testLimit.Max; i++ {
			at := start.Add(time.Duration(i-1) * 1_250_000 * time.Microsecond)
			if got, err := take(at, testLimit, "192.0.2.1"); err != nil || got != i {
				t.Fatalf("take %d = %d, %v; want %d", i, got, err, i)
			}
		}
		last := start.Add(time.Duration(testLimit.Max) * 1_250_000 * time.Microsecond) // the window began at start
		if got, err := take(last, testLimit, "192.0.2.1"); !errors.Is(err, models.ErrLimited) {
			t.Fatalf("take past Max = %d, %v; want ErrLimited", got, err)
		}
		if got := hitsOf(t, db, testLimit, "192.0.2.1"); got != testLimit.Max {
			t.Errorf("hits after a refused take = %d, want %d (a refusal counts nothing)", got, testLimit.Max)
		}
		other := models.Limit{Name: "other.failed", Max: 1, Window: time.Minute}
		if got, err := take(last, testLimit, "2001:db8::1"); err != nil || got != 1 {
			t.Errorf("another client's first take = %d, %v; want 1", got, err)
		}
		if got, err := take(last, other, "192.0.2.1"); err != nil || got != 1 {
			t.Errorf("another limiter's first take = %d, %v; want 1", got, err)
		}

		if err := models.ReturnLimit(ctx, db.Write, last, testLimit, "192.0.2.1"); err != nil {
			t.Fatal(err)
		}
		if got, err := take(last, testLimit, "192.0.2.1"); err != nil || got != testLimit.Max {
			t.Errorf("take after a return = %d, %v; want %d", got, err, testLimit.Max)
		}

		// Still refused just before the window ends, counted anew from it.
		if _, err := take(start.Add(testLimit.Window-time.Millisecond), testLimit, "192.0.2.1"); !errors.Is(err, models.ErrLimited) {
			t.Errorf("take just before the window ends: %v, want ErrLimited", err)
		}
		next := start.Add(testLimit.Window)
		if got, err := take(next, testLimit, "192.0.2.1"); err != nil || got != 1 {
			t.Errorf("take when the window ends = %d, %v; want 1", got, err)
		}
		// A hit taken in the old window is not given back to the new one.
		if err := models.ReturnLimit(ctx, db.Write, last, testLimit, "192.0.2.1"); err != nil {
			t.Fatal(err)
		}
		if got := hitsOf(t, db, testLimit, "192.0.2.1"); got != 1 {
			t.Errorf("hits after returning an old window's hit = %d, want 1", got)
		}
	})
}

// TestLimitPrune: pruning deletes the limiter's ended windows and keeps
// live ones and other limiters' rows.
func TestLimitPrune(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		start := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
		other := models.Limit{Name: "other.failed", Max: 5, Window: 10 * time.Minute}
		for _, client := range []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"} {
			for _, l := range []models.Limit{testLimit, other} {
				if _, err := models.TakeLimit(ctx, db.Write, start, l, client); err != nil {
					t.Fatal(err)
				}
			}
		}
		later := start.Add(testLimit.Window)
		if _, err := models.TakeLimit(ctx, db.Write, later.Add(-time.Second), testLimit, "192.0.2.4"); err != nil {
			t.Fatal(err)
		}
		n, err := models.PruneLimit(ctx, db.Write, later, testLimit)
		if err != nil || n != 3 {
			t.Fatalf("PruneLimit = %d, %v; want 3", n, err)
		}
		for client, want := range map[string]int{"192.0.2.1": -1, "192.0.2.3": -1, "192.0.2.4": 1} {
			if got := hitsOf(t, db, testLimit, client); got != want {
				t.Errorf("%s after pruning = %d, want %d (-1: no row)", client, got, want)
			}
		}
		if got := hitsOf(t, db, other, "192.0.2.1"); got != 1 {
			t.Errorf("other limiter's row after pruning = %d, want 1", got)
		}
	})
}

// TestLimitConcurrentTakes: 60 takes at once through two pools on one
// database, as two replicas would, spend exactly the budget.
func TestLimitConcurrentTakes(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			a, b := twoWorkerDBs(t, engine)
			for _, db := range []*models.DB{a, b} {
				// Up to 16 takes at once, and no more connections than a
				// shared test server has to spare.
				if sqlDB, err := db.Write.DB(); err == nil && engine == "postgres" {
					sqlDB.SetMaxOpenConns(8)
				}
			}
			now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
			var (
				wg      sync.WaitGroup
				mu      sync.Mutex
				granted = map[int]int{}
				limited int
			)
			for i := range 60 {
				db := []*models.DB{a, b}[i%2]
				wg.Add(1)
				go func() {
					defer wg.Done()
					hits, err := models.TakeLimit(context.Background(), db.Write, now, testLimit, "192.0.2.1")
					mu.Lock()
					defer mu.Unlock()
					switch {
					case errors.Is(err, models.ErrLimited):
						limited++
					case err != nil:
						t.Error(err)
					default:
						granted[hits]++
					}
				}()
			}
			wg.Wait()
			if len(granted) != testLimit.Max || limited != 60-testLimit.Max {
				t.Errorf("granted hits %v and %d refused, want each of 1..%d once and %d refused", granted, limited, testLimit.Max, 60-testLimit.Max)
			}
			for h, n := range granted {
				if n != 1 || h < 1 || h > testLimit.Max {
					t.Errorf("hit %d granted %d times, want each of 1..%d once", h, n, testLimit.Max)
				}
			}
		})
	}
}
