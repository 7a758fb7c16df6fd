package models

import (
	"context"
	"time"
)

// WordsForTest is the words the search asks each arm's index for.
func (s *SearchSample) WordsForTest(ctx context.Context, search string) [2]string {
	return s.words(ctx, search)
}

// AgeForTest makes the sample older than searchSampleAge and returns
// when it was drawn.
func (s *SearchSample) AgeForTest() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drawnAt = s.drawnAt.Add(-2 * searchSampleAge)
	return s.drawnAt
}

// DrawnForTest returns when the sample was drawn.
func (s *SearchSample) DrawnForTest() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.drawnAt
}
