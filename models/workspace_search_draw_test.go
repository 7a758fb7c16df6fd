package models_test

import (
	"context"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/dbtest"
)

// TestSearchSampleDrawnInBackground: on PostgreSQL the first search
// waits for the registry's sample and is narrowed by it (or, if its
// request ends first, searched whole); an old sample is drawn again in the
// background while searches go on with it.
func TestSearchSampleDrawnInBackground(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		if db.Dialect != models.Postgres {
			t.Skip("the sample is PostgreSQL's")
		}
		ctx := context.Background()
		harborRegistry(t, db, 3000)
		const search = "o1234@harbor"
		want := [2]string{"o1234", "o1234"}

		ended, cancel := context.WithCancel(ctx)
		cancel()
		if got := (&models.SearchSample{Product: db.Read}).WordsForTest(ended, search); got != [2]string{} {
			t.Errorf("a first search whose request ended asked for %q, want the whole text", got)
		}

		s := &models.SearchSample{Product: db.Read}
		if got := s.WordsForTest(ctx, search); got != want {
			t.Fatalf("the first search asked for %q, want %q", got, want)
		}
		old := s.AgeForTest()
		// Old: this search goes on with it at once, even with its request
		// ended, and a new one is drawn meanwhile.
		if got := s.WordsForTest(ended, search); got != want {
			t.Errorf("a search with an old sample asked for %q, want %q", got, want)
		}
		deadline := time.Now().Add(30 * time.Second)
		for !s.DrawnForTest().After(old.Add(time.Hour)) {
			if time.Now().After(deadline) {
				t.Fatalf("no new sample 30 s after the old one was used (drawn %s)", s.DrawnForTest())
			}
			time.Sleep(10 * time.Millisecond)
		}
		if got := s.WordsForTest(ctx, search); got != want {
			t.Errorf("with the new sample the search asked for %q, want %q", got, want)
		}
	})
}
