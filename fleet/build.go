package fleet

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var build struct {
	once sync.Once
	path string
	err  error
}

// Binary builds bin/gatehouse in the module's root, once per test binary,
// and returns its path. The build goes to a temporary name and is renamed
// into place, so a replica started meanwhile from an earlier build never
// runs a half-written file.
func Binary(t testing.TB) string {
	t.Helper()
	build.once.Do(func() { build.path, build.err = buildBinary() })
	if build.err != nil {
		t.Fatal(build.err)
	}
	return build.path
}

func buildBinary() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	if err := os.MkdirAll(filepath.Join(root, "bin"), 0o750); err != nil {
		return "", err
	}
	final := filepath.Join(root, "bin", "gatehouse")
	tmp := fmt.Sprintf("%s.build-%d", final, os.Getpid())
	cmd := exec.CommandContext(context.Background(), "go", "build", "-o", tmp, "./cmd/gatehouse") // #nosec G204 -- the go tool on a path of our own making
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("go build ./cmd/gatehouse: %w\n%s", err, stderr.String())
	}
	if err := os.Rename(tmp, final); err != nil {
		return "", err
	}
	return final, nil
}
