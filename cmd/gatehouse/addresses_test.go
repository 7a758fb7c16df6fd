package main

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// --dev's demo sign-in needs no password, so nothing may point other
// machines at it either: its base URL must be a loopback one too.
func TestDevRefusesNonLoopbackBaseURL(t *testing.T) {
	for _, base := range []string{"https://gatehouse.example.com", "http://192.0.2.10:8080", "http://0.0.0.0:8080", "http://localhost.example.com:8080"} {
		_, err := loadConfig("serve", []string{"--dev"}, environ(map[string]string{"GATEHOUSE_BASE_URL": base}), io.Discard)
		if err == nil || !strings.Contains(err.Error(), "GATEHOUSE_BASE_URL") || !strings.Contains(err.Error(), "loopback") {
			t.Errorf("--dev with GATEHOUSE_BASE_URL=%s: got %v, want a loopback refusal naming GATEHOUSE_BASE_URL", base, err)
		}
	}
	for _, base := range []string{"http://localhost:8080", "http://127.0.0.1:9000", "https://localhost", "http://[::1]:8080/"} {
		if _, err := loadConfig("serve", []string{"--dev"}, environ(map[string]string{"GATEHOUSE_BASE_URL": base}), io.Discard); err != nil {
			t.Errorf("--dev with GATEHOUSE_BASE_URL=%s refused: %v", base, err)
		}
	}
}

// --dev needs neither a metrics token nor a metrics address; with a
// loopback one it takes it.
func TestConfigDevMetrics(t *testing.T) {
	cfg, err := serveConfig([]string{"--dev"}, environ(map[string]string{"GATEHOUSE_DATA_DIR": t.TempDir()}), io.Discard)
	if err != nil {
		t.Fatalf("serve --dev without a metrics token: %v", err)
	}
	if cfg.MetricsToken != "" || cfg.MetricsAddr != "" {
		t.Errorf("--dev metrics token %q, address %q; want neither", cfg.MetricsToken, cfg.MetricsAddr)
	}
	env := map[string]string{"GATEHOUSE_DATA_DIR": t.TempDir(), "GATEHOUSE_METRICS_ADDR": "127.0.0.1:9091"}
	if cfg, err = serveConfig([]string{"--dev"}, environ(env), io.Discard); err != nil || cfg.MetricsAddr != "127.0.0.1:9091" {
		t.Errorf("serve --dev with GATEHOUSE_METRICS_ADDR: MetricsAddr %q, %v; want 127.0.0.1:9091", cfg.MetricsAddr, err)
	}
}

// A refused base URL refuses the start before any database is opened:
// no database file is created, in production nor with --dev.
func TestServeRefusesBaseURLPathBeforeDatabases(t *testing.T) {
	t.Run("production", func(t *testing.T) {
		dir := t.TempDir()
		env := productionEnv()
		env["GATEHOUSE_DATABASE_URL"] = filepath.Join(dir, "portal.db")
		env["GATEHOUSE_PRODUCT_DB_URL"] = filepath.Join(dir, "product.db")
		env["GATEHOUSE_BASE_URL"] = "https://example.com/gatehouse"
		err := run(context.Background(), []string{"serve"}, environ(env), io.Discard, io.Discard)
		if files, _ := os.ReadDir(dir); len(files) != 0 {
			t.Errorf("refused start left %v in the database directory, want nothing", files)
		}
		if got := problemsOf(t, err); len(got) != 1 || !strings.Contains(got[0], "GATEHOUSE_BASE_URL must be scheme://host[:port] with no path") {
			t.Errorf("serve refused with %q, want the base URL's path named alone", got)
		}
	})
	t.Run("dev", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data")
		env := map[string]string{"GATEHOUSE_DATA_DIR": dir, "GATEHOUSE_BASE_URL": "http://127.0.0.1:8080/gatehouse"}
		err := run(context.Background(), []string{"serve", "--dev"}, environ(env), io.Discard, io.Discard)
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("refused --dev start made its data directory (%v), want none", err)
		}
		if got := problemsOf(t, err); !slices.ContainsFunc(got, func(p string) bool { return strings.Contains(p, "GATEHOUSE_BASE_URL") }) {
			t.Errorf("serve --dev refused with %q, want the base URL named", got)
		}
	})
}

// With GATEHOUSE_METRICS_ADDR, /metrics is served on that listener alone:
// the portal's own listener answers 404 for it.
func TestRunServeMetricsListener(t *testing.T) {
	metricsAddr := freeAddr(t)
	s := startDev(t, "GATEHOUSE_METRICS_ADDR="+metricsAddr)
	c := &http.Client{Timeout: 10 * time.Second}
	if res, _ := s.get(c, "/metrics"); res.StatusCode != http.StatusNotFound {
		t.Errorf("/metrics on the portal's listener = %d, want 404", res.StatusCode)
	}
	res, err := c.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatalf("/metrics on the metrics listener: %v", err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(body), "gatehouse_http_requests_total") {
		t.Errorf("/metrics on the metrics listener = %d, want 200 with gatehouse_http_requests_total:\n%.2000s", res.StatusCode, body)
	}
	if res, err = c.Get("http://" + metricsAddr + "/readyz"); err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("/readyz on the metrics listener = %d, want 404: it serves /metrics alone", res.StatusCode)
	}
	if err := s.shutdown(); err != nil {
		t.Errorf("run after shutdown = %v, want nil", err)
	}
	if _, err := net.DialTimeout("tcp", metricsAddr, time.Second); err == nil {
		t.Error("metrics listener still accepting after shutdown")
	}
}
