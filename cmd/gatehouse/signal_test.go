package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// mainEnv makes the test binary run main() instead of the tests, so a
// test can start the real program as a process of its own.
const mainEnv = "GATEHOUSE_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(mainEnv) == "1" {
		os.Args = append([]string{"gatehouse"}, strings.Fields(os.Getenv(mainEnv+"_ARGS"))...)
		main()
		os.Exit(0) // what the process does when main returns
	}
	os.Exit(m.Run())
}

// waitFor reads lines from r until one contains want, failing after
// the timeout; it returns everything read.
func waitFor(t *testing.T, r io.Reader, want string, timeout time.Duration) (string, bool) {
	t.Helper()
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var seen strings.Builder
	deadline := time.After(timeout)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				return seen.String(), false
			}
			seen.WriteString(l + "\n")
			if strings.Contains(l, want) {
				go func() {
					for range lines { // keep the pipe drained
					}
				}()
				return seen.String(), true
			}
		case <-deadline:
			return seen.String(), false
		}
	}
}

// TestServeExitsZeroOnSignal starts `gatehouse serve --dev` as a real
// process and stops it as Ctrl-C (SIGINT) and as a service manager
// (SIGTERM) do: it shuts down gracefully and exits 0, the status of a
// clean stop, not the 1 of a failure.
func TestServeExitsZeroOnSignal(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd := exec.Command(os.Args[0])
			cmd.Env = append(portalEnviron(), mainEnv+"=1", mainEnv+"_ARGS=serve --dev",
				"GATEHOUSE_ADDR="+freeAddr(t), "GATEHOUSE_DATA_DIR="+t.TempDir())
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			stderr := &syncBuffer{}
			cmd.Stderr = stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { cmd.Process.Kill() })
			if out, ok := waitFor(t, stdout, "Press Ctrl-C to stop", 60*time.Second); !ok {
				t.Fatalf("serve --dev did not say it runs:\n%s\nstderr:\n%s", out, stderr)
			}
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				t.Fatalf("still running 30s after %v\nstderr:\n%s", sig, stderr)
			}
			var exit *exec.ExitError
			if errors.As(err, &exit) || err != nil {
				t.Fatalf("after %v the process ended with %v, want exit status 0\nstderr:\n%s", sig, err, stderr)
			}
			if log := stderr.String(); !strings.Contains(log, `"msg":"stopped"`) || strings.Contains(log, "gatehouse:") {
				t.Errorf("after %v the log does not end with a clean stop:\n%s", sig, log)
			}
		})
	}
}

// TestMakeRunCtrlC presses Ctrl-C on `make run` as a terminal does, by
// sending SIGINT to its whole process group: the portal stops cleanly
// and make reports no error ("make: *** ... Error 1").
func TestMakeRunCtrlC(t *testing.T) {
	if testing.Short() {
		t.Skip("builds bin/gatehouse with make; skipped with -short")
	}
	mk, err := exec.LookPath("make")
	if err != nil {
		t.Skip("make is not installed")
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, mk, "--no-print-directory", "-C", root, "run")
	cmd.Env = append(portalEnviron(), "GATEHOUSE_ADDR="+freeAddr(t), "GATEHOUSE_DATA_DIR="+t.TempDir())
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out := &syncBuffer{}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = io.MultiWriter(out, pw), out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	if _, ok := waitFor(t, pr, "Press Ctrl-C to stop", 4*time.Minute); !ok {
		t.Fatalf("make run did not start the portal:\n%s", out)
	}
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	pw.Close()
	log := out.String()
	// make itself receives the SIGINT too and ends by it, as any program
	// stopped with Ctrl-C does; what it must not do is report an error.
	if strings.Contains(log, "make: ***") || strings.Contains(log, "Error 1") || !strings.Contains(log, `"msg":"stopped"`) {
		t.Errorf("make run after Ctrl-C (%v) did not stop cleanly:\n%s", err, log)
	}
}

// portalEnviron is the test's environment without the settings of the
// tests themselves (GATEHOUSE_CHROMIUM, set in CI), which the portal
// refuses as unknown.
func portalEnviron() []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "GATEHOUSE_CHROMIUM=")
	})
}
