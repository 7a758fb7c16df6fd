package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptrace"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// server is one `gatehouse serve --dev` process on a generated pair of
// databases, as the fleet harness runs its replicas.
type server struct {
	bin     string
	env     []string
	base    string
	cmd     *exec.Cmd
	done    chan struct{}
	logPath string
	// Startup is how long the process took from exec to answering /readyz.
	Startup time.Duration
}

// startServer runs `gatehouse migrate --dev` (the demo data the start
// would otherwise seed, added once to the kept databases) and then
// `gatehouse serve --dev` against tg, waiting until it is ready. The data
// directory (dev keys) is kept beside the SQLite files, so that every run
// signs with the same key.
func startServer(tb testing.TB, bin string, tg Target, dataDir string) *server {
	tb.Helper()
	// The dev identity provider's issuer is the base URL, and a staff
	// record stays linked to the issuer of its first sign-in: each pair
	// of databases is served at a port of its own, the same every run.
	h := fnv.New32a()
	h.Write([]byte(string(tg.Dialect) + "/" + filepath.Base(strings.TrimSuffix(tg.Portal, "/portal.db")) + "/" + tg.Size.Name()))
	addr := fmt.Sprintf("127.0.0.1:%d", 20000+h.Sum32()%20000)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		tb.Fatalf("the benchmark's port for %s: %v (it must be the same every run: stop what listens there)", tg.Portal, err)
	}
	ln.Close()
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		tb.Fatal(err)
	}
	s := &server{bin: bin, base: "http://" + addr, logPath: filepath.Join(tb.TempDir(), "serve.log"), done: make(chan struct{})}
	s.env = []string{
		"GATEHOUSE_ADDR=" + addr,
		"GATEHOUSE_DATA_DIR=" + dataDir,
		"GATEHOUSE_DATABASE_URL=" + tg.Portal,
		"GATEHOUSE_PRODUCT_DB_URL=" + tg.Product,
		"GATEHOUSE_SESSION_KEY=" + SessionKey,
	}
	if out, err := s.command(context.Background(), "migrate", "--dev").CombinedOutput(); err != nil {
		tb.Fatalf("gatehouse migrate --dev: %v\n%s", err, out)
	}
	log, err := os.Create(s.logPath)
	if err != nil {
		tb.Fatal(err)
	}
	s.cmd = s.command(context.Background(), "serve", "--dev")
	s.cmd.Stdout, s.cmd.Stderr = log, log
	began := time.Now()
	if err := s.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	go func() { s.cmd.Wait(); log.Close(); close(s.done) }()
	tb.Cleanup(s.stop)
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		res, err := client.Get(s.base + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case <-s.done:
			tb.Fatalf("gatehouse serve --dev exited before it was ready:\n%s", s.logTail(30))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Since(began) > 10*time.Minute {
			tb.Fatalf("gatehouse serve --dev not ready after 10 minutes:\n%s", s.logTail(30))
		}
	}
	s.Startup = time.Since(began)
	return s
}

func (s *server) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, s.bin, args...) // #nosec G204 -- the binary the benchmark built, with its own arguments
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GATEHOUSE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, s.env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// stop stops the server gracefully, killing it after 30 s.
func (s *server) stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

func (s *server) logTail(n int) string {
	b, _ := os.ReadFile(s.logPath)
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// memory returns the process's resident set now (VmRSS) and at its peak
// so far (VmHWM), in MB.
func (s *server) memory() (rss, peak float64) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
		if err != nil {
			continue
		}
		switch k {
		case "VmRSS":
			rss = kb / 1024
		case "VmHWM":
			peak = kb / 1024
		}
	}
	return rss, peak
}

// client is a browser signed in as one demo staff member.
type client struct {
	s    *server
	http *http.Client
}

// signIn signs email in through the dev identity provider: POST
// /dev/login, the OpenID Connect round trip, ending on the dashboard.
func (s *server) signIn(tb testing.TB, email string) *client {
	tb.Helper()
	jar, _ := cookiejar.New(nil)
	c := &client{s: s, http: &http.Client{Jar: jar, Timeout: 10 * time.Minute}}
	res, body, err := c.post("/dev/login", url.Values{"email": {email}})
	if err != nil {
		tb.Fatalf("sign in as %s: %v", email, err)
	}
	if res.StatusCode != http.StatusOK || res.Request.URL.Path != "/" {
		tb.Fatalf("sign-in as %s ended at %s with %d:\n%.1000s", email, res.Request.URL, res.StatusCode, body)
	}
	return c
}

func (c *client) post(path string, form url.Values) (*http.Response, []byte, error) {
	req, err := http.NewRequest(http.MethodPost, c.s.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", c.s.base)
	res, err := c.http.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	return res, body, err
}

// get fetches path whole and returns its status and how long the request
// took from sending to the last byte (on loopback: the server's time).
func (c *client) get(path string) (int, time.Duration, error) {
	began := time.Now()
	res, err := c.http.Get(c.s.base + path)
	if err != nil {
		return 0, time.Since(began), err
	}
	_, err = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode, time.Since(began), err
}

// exportResult is one audit export as a browser downloads it.
type exportResult struct {
	Status     int
	FirstByte  time.Duration
	Total      time.Duration
	Lines      int64
	Bytes      int64
	ReadErr    error
	LastLine   string
	ServerPeak float64 // VmHWM after the export, MB
}

// export posts the audit export form (CSV, no filter) and reads it to the
// end, counting its lines.
func (c *client) export() exportResult {
	var r exportResult
	form := url.Values{"format": {"csv"}}
	req, err := http.NewRequest(http.MethodPost, c.s.base+"/audit/export", strings.NewReader(form.Encode()))
	if err != nil {
		r.ReadErr = err
		return r
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", c.s.base)
	began := time.Now()
	trace := &httptrace.ClientTrace{GotFirstResponseByte: func() { r.FirstByte = time.Since(began) }}
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
	res, err := c.http.Do(req)
	if err != nil {
		r.ReadErr = err
		r.Total = time.Since(began)
		return r
	}
	defer res.Body.Close()
	r.Status = res.StatusCode
	buf := make([]byte, 1<<20)
	var tail []byte
	for {
		n, err := res.Body.Read(buf)
		r.Bytes += int64(n)
		r.Lines += int64(bytes.Count(buf[:n], []byte{'\n'}))
		tail = append(tail, buf[:n]...)
		if len(tail) > 4096 {
			tail = append(tail[:0], tail[len(tail)-4096:]...)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			r.ReadErr = err
			break
		}
	}
	lines := strings.Split(strings.TrimRight(string(tail), "\n"), "\n")
	r.LastLine = lines[len(lines)-1]
	r.Total = time.Since(began)
	return r
}

// settle waits until the machine is quiet after the server's start and
// returns how long that took. The server's start-up work (at 1m/10m the
// first retention run: about 100 ms of its and PostgreSQL's CPU just
// after /readyz) would otherwise run beside the first pages measured:
// the first dashboard measured came out twice as slow at 1m/10m as at
// 1k/100k, for no fault of its own. Quiet is three windows of 200 ms in
// a row with the machine's CPUs busy less than a tenth of the time; it
// gives up after 30 s.
func settle() time.Duration {
	began := time.Now()
	last, ok := machineCPU()
	for quiet := 0; ok && quiet < 3 && time.Since(began) < 30*time.Second; {
		time.Sleep(200 * time.Millisecond)
		now, _ := machineCPU()
		busy, total := now[0]-last[0], now[1]-last[1]
		if total > 0 && busy*10 < total {
			quiet++
		} else {
			quiet = 0
		}
		last = now
	}
	return time.Since(began)
}

// machineCPU is the machine's busy and total CPU time, in clock ticks,
// from /proc/stat; false where there is none.
func machineCPU() ([2]uint64, bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return [2]uint64{}, false
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	fields := strings.Fields(string(line))
	if len(fields) < 8 || fields[0] != "cpu" {
		return [2]uint64{}, false
	}
	var t [2]uint64
	for i, f := range fields[1:8] { // user … steal; guest time is in user's already
		n, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return [2]uint64{}, false
		}
		t[1] += n
		if i != 3 && i != 4 { // idle, iowait
			t[0] += n
		}
	}
	return t, true
}
