package models_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"gatehouse/models"
	"gatehouse/models/dbtest"
)

// TestOpenPoolSize: a PostgreSQL URL's pool_max_conns sizes the pool (32
// without it) and never reaches the server, which would refuse it; a
// size that is not a number from 1 to 1000 is refused before connecting.
func TestOpenPoolSize(t *testing.T) {
	ctx := context.Background()
	base, err := url.Parse(dbtest.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	with := func(v string) string {
		u := *base
		q := u.Query()
		if v != "" {
			q.Set("pool_max_conns", v)
		}
		u.RawQuery = q.Encode()
		return u.String()
	}
	for _, c := range []struct {
		size string
		want int
	}{{"", 32}, {"3", 3}, {"1000", 1000}} {
		db, err := models.Open(ctx, with(c.size))
		if err != nil {
			t.Fatalf("pool_max_conns=%q: %v", c.size, err)
		}
		sqlDB, err := db.Write.DB()
		if err != nil {
			t.Fatal(err)
		}
		var one int
		if err := db.Read.Raw("SELECT 1").Row().Scan(&one); err != nil || one != 1 {
			t.Errorf("pool_max_conns=%q: a query: %v", c.size, err)
		}
		if got := sqlDB.Stats().MaxOpenConnections; got != c.want {
			t.Errorf("pool_max_conns=%q: at most %d connections, want %d", c.size, got, c.want)
		}
		db.Close()
	}
	for _, bad := range []string{"0", "-1", "1001", "many", " 8"} {
		if _, err := models.Open(ctx, with(bad)); err == nil || !strings.Contains(err.Error(), "pool_max_conns") {
			t.Errorf("pool_max_conns=%q: %v, want it refused", bad, err)
		}
	}
}
