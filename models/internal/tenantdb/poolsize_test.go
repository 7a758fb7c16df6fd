package tenantdb

import (
	"strings"
	"testing"
)

// TestPoolSize: pool_max_conns leaves the URL, whose other parameters
// stay, and sizes the pool; without it the default; a bad size is
// refused, and an unparsable URL is left for the driver to refuse
// without quoting its password.
func TestPoolSize(t *testing.T) {
	for _, c := range []struct {
		in, out string
		n       int
	}{
		{"postgres://u:p@h/db?sslmode=disable", "postgres://u:p@h/db?sslmode=disable", 16},
		{"postgres://u:p@h/db?sslmode=disable&pool_max_conns=4", "postgres://u:p@h/db?sslmode=disable", 4},
		{"postgres://u:p@h/db?pool_max_conns=1000", "postgres://u:p@h/db", 1000},
		{"postgres://u:p%zz@h/db?pool_max_conns=4", "postgres://u:p%zz@h/db?pool_max_conns=4", 16},
	} {
		out, n, err := PoolSize(c.in, 16)
		if err != nil || out != c.out || n != c.n {
			t.Errorf("PoolSize(%q) = %q, %d, %v; want %q, %d", c.in, out, n, err, c.out, c.n)
		}
	}
	for _, bad := range []string{"0", "1001", "x", ""} {
		_, _, err := PoolSize("postgres://u:secret@h/db?pool_max_conns="+bad, 16)
		if err == nil || !strings.Contains(err.Error(), "pool_max_conns") || strings.Contains(err.Error(), "secret") {
			t.Errorf("pool_max_conns=%q: %v, want it refused without the password", bad, err)
		}
	}
}
