package main

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
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
