package fleet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Replica is one `gatehouse serve --dev` process of the fleet. It keeps
// its settings across restarts; each start gets a new loopback port.
type Replica struct {
	// Index is the replica's place in the fleet, from 0; the proxy names
	// it in each response's X-Fleet-Replica header.
	Index int

	f       *Fleet
	dataDir string
	env     []string // this replica's own settings (SetEnv)

	mu     sync.Mutex
	cmd    *exec.Cmd
	addr   string
	done   chan struct{} // closed when the process has exited
	err    error         // what Wait returned, once done is closed
	starts int
}

// readyTimeout is how long a start may take to answer /readyz.
const readyTimeout = 60 * time.Second

// Start starts the process and waits until it answers /readyz, then puts
// it in the proxy's rotation. It fails the test when the replica is
// running already or does not become ready.
func (r *Replica) Start(t testing.TB) {
	t.Helper()
	if err := r.start(); err != nil {
		t.Fatalf("replica %d: %v\nlog:\n%s", r.Index, err, r.LogTail(40))
	}
}

func (r *Replica) start() error {
	r.mu.Lock()
	if r.cmd != nil && !r.exited() {
		r.mu.Unlock()
		return errors.New("already running")
	}
	addr, err := freeAddr()
	if err != nil {
		r.mu.Unlock()
		return err
	}
	if err := os.MkdirAll(r.dataDir, 0o700); err != nil {
		r.mu.Unlock()
		return err
	}
	log, err := os.OpenFile(r.LogPath(), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		r.mu.Unlock()
		return err
	}
	r.starts++
	fmt.Fprintf(log, "--- start %d at %s on %s\n", r.starts, time.Now().UTC().Format(time.RFC3339Nano), addr)
	env := append([]string{"GATEHOUSE_ADDR=" + addr, "GATEHOUSE_DATA_DIR=" + r.dataDir}, r.f.env...)
	env = append(env, "GATEHOUSE_DATABASE_URL="+withAppName(r.f.RoleURL, r.AppName())) // the last of a name counts
	env = append(env, r.env...)
	cmd := r.f.command(context.Background(), env, "serve", "--dev")
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		log.Close()
		r.mu.Unlock()
		return err
	}
	done := make(chan struct{})
	r.cmd, r.addr, r.done, r.err = cmd, addr, done, nil
	go func() {
		err := cmd.Wait()
		log.Close()
		r.mu.Lock()
		r.err = err
		r.mu.Unlock()
		close(done)
	}()
	r.mu.Unlock()

	deadline := time.Now().Add(readyTimeout)
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		res, err := client.Get("http://" + addr + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				r.f.proxy.enable(r.Index, "http://"+addr)
				return nil
			}
		}
		select {
		case <-done:
			return fmt.Errorf("exited before it was ready: %v", r.exitErr())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			r.kill()
			return fmt.Errorf("not ready after %s (last error %v)", readyTimeout, err)
		}
	}
}

// SetEnv sets settings of this replica alone (e.g.
// "GATEHOUSE_DETECTION_EVERY=5m"), added after the fleet's from its next
// start on; SetEnv() clears them.
func (r *Replica) SetEnv(env ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.env = slices.Clone(env)
}

// Stop takes the replica out of the proxy's rotation and stops it
// gracefully (SIGTERM: requests in flight finish, workers stop, the final
// audit checkpoint is written). It returns the process's exit error:
// nil for a clean stop. A replica that has not stopped after 20 s is
// killed and an error returned.
func (r *Replica) Stop() error { return r.stop(20 * time.Second) }

func (r *Replica) stop(grace time.Duration) error {
	r.f.proxy.disable(r.Index)
	r.mu.Lock()
	cmd, done := r.cmd, r.done
	r.mu.Unlock()
	if cmd == nil {
		return nil
	}
	select {
	case <-done:
		return r.exitErr()
	default:
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
		return r.exitErr()
	case <-time.After(grace):
		r.kill()
		return fmt.Errorf("replica %d did not stop within %s of SIGTERM and was killed", r.Index, grace)
	}
}

// Kill takes the replica out of the proxy's rotation and kills it with
// SIGKILL (kill -9): nothing of it runs another instruction. It returns
// once the process is gone.
func (r *Replica) Kill() {
	r.f.proxy.disable(r.Index)
	r.kill()
}

func (r *Replica) kill() {
	r.mu.Lock()
	cmd, done := r.cmd, r.done
	r.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-done
}

// Restart stops the replica gracefully and starts it again.
func (r *Replica) Restart(t testing.TB) {
	t.Helper()
	if err := r.Stop(); err != nil {
		t.Errorf("replica %d: stop before restart: %v", r.Index, err)
	}
	r.Start(t)
}

// Running reports whether the process is alive.
func (r *Replica) Running() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cmd != nil && !r.exited()
}

// AppName is the application_name the replica's connections to the
// portal database carry, so that pg_stat_activity and pg_locks (queried
// as the owner) tell which replica holds a lock or runs a query.
func (r *Replica) AppName() string { return fmt.Sprintf("gatehouse-fleet-replica-%d", r.Index) }

// withAppName is the PostgreSQL URL u with application_name set to name.
func withAppName(u, name string) string {
	p, err := url.Parse(u)
	if err != nil {
		return u
	}
	q := p.Query()
	q.Set("application_name", name)
	p.RawQuery = q.Encode()
	return p.String()
}

// URL is the replica's own base URL, bypassing the proxy (its pages'
// links still name the proxy's URL, the portal's base URL).
func (r *Replica) URL() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return "http://" + r.addr
}

// PID is the process id of the replica's current (or last) process.
func (r *Replica) PID() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil || r.cmd.Process == nil {
		return 0
	}
	return r.cmd.Process.Pid
}

// LogPath is the file the replica's stdout and stderr go to, over all
// its starts (each begins with a "--- start" line).
func (r *Replica) LogPath() string {
	return filepath.Join(r.f.dirs, fmt.Sprintf("replica-%d.log", r.Index))
}

// LogTail returns the last n lines of the replica's log.
func (r *Replica) LogTail(n int) string {
	b, _ := os.ReadFile(r.LogPath())
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// exited reports whether the process has exited; the caller holds r.mu.
func (r *Replica) exited() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

func (r *Replica) exitErr() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// command runs the binary with env added to the test's environment
// (less its GATEHOUSE_* variables). The process is killed if the test
// binary dies first (Pdeathsig), so no replica outlives a crashed run.
func (f *Fleet) command(ctx context.Context, env []string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, f.bin, args...) // #nosec G204 -- the binary the harness built, with the test's arguments
	cmd.Env = environ(env)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// freeAddr is a loopback address with a port nobody listens on now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// LogLines returns the lines of the replica's log (all its starts) that
// contain every one of subs.
func (r *Replica) LogLines(subs ...string) []string {
	b, _ := os.ReadFile(r.LogPath())
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		ok := true
		for _, s := range subs {
			ok = ok && strings.Contains(line, s)
		}
		if ok && line != "" {
			out = append(out, line)
		}
	}
	return out
}
