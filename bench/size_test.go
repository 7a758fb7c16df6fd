package bench

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseSizes(t *testing.T) {
	got, err := ParseSizes(DefaultSizes + "," + FullSize + ", 50/500")
	if err != nil {
		t.Fatal(err)
	}
	want := []Size{{1000, 100_000}, {100_000, 100_000}, {1_000_000, 10_000_000}, {50, 500}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ParseSizes (-want +got):\n%s", diff)
	}
	names := []string{"ws1k_ev100k", "ws100k_ev100k", "ws1m_ev10m", "ws50_ev500"}
	for i, s := range got {
		if s.Name() != names[i] {
			t.Errorf("%+v: name %q, want %q", s, s.Name(), names[i])
		}
	}
	for _, bad := range []string{"", "1k", "1k/", "x/100", "0/10", "-5/10", "1k/100k/3", "2000m/1"} {
		if _, err := ParseSizes(bad); err == nil {
			t.Errorf("ParseSizes(%q): no error", bad)
		}
	}
}
