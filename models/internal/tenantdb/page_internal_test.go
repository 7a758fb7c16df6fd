package tenantdb

import "testing"

// TestQuickTime checks the hand-written reading of a time column against
// the driver's, on the forms it takes and on ones it must leave alone.
func TestQuickTime(t *testing.T) {
	for i, s := range []string{
		"2026-03-01 12:00:00+00:00",
		"2026-03-01 12:00:00.123456789+00:00",
		"2026-03-01T12:00:00.5-07:30",
		"2026-03-01T23:59:59+14:00",
		"2026-03-01 12:00:00",
		"2026-03-01 12:00:00Z",
		"2026-03-01T12:00:00.000001Z",
		"2024-02-29 00:00:00",
		"0001-01-01 00:00:00+00:00",
		// Forms quickTime leaves to the driver's reading.
		"2025-02-29 00:00:00",
		"2026-13-01 00:00:00",
		"2026-03-01 24:00:00",
		"2026-03-01 12:00:00.1234567891",
		"2026-03-01 12:00:00,5",
		"2026-03-01 12:00:00+0000",
		"2026-03-01 12:00",
		"2026-03-01",
		"2026-03-01 12:00:00 +0000 UTC",
		"2026-03-01 12:00:00.5 +0000 UTC m=+0.000000001",
		"2026-03-01 12:00:00+25:00",
		"2026-03-01 12:00:00ZZ",
		"not a time",
		"",
	} {
		want := parseSQLiteTime(s)
		if _, ok := quickTime(s); ok != (i < 9) {
			t.Errorf("quickTime(%q): got ok=%v, want %v", s, ok, i < 9)
		}
		if got := sqliteTime(s); got != want {
			t.Errorf("sqliteTime(%q) = %+v, want %+v (the driver's reading)", s, got, want)
		}
	}
}
