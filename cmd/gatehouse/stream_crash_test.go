package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"gatehouse/models"
)

// TestAuditStreamSurvivesKill9 runs `gatehouse serve --dev` as a real
// process with the audit stream in a file, under a steady load of
// audited data views, and kills it with SIGKILL at random moments (the
// shipper ticks every second, so most kills land between an event's
// commit and its shipping), restarting it each time; then it stops it
// cleanly. The file holds every event of the log, from seq 1 to the
// head, exactly once and in order.
func TestAuditStreamSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills the portal several times; skipped with -short")
	}
	const kills = 6
	addr, dir := freeAddr(t), t.TempDir()
	base := "http://" + addr
	stream := filepath.Join(t.TempDir(), "audit.jsonl")
	env := append(portalEnviron(), mainEnv+"=1", mainEnv+"_ARGS=serve --dev",
		"GATEHOUSE_ADDR="+addr, "GATEHOUSE_DATA_DIR="+dir, "GATEHOUSE_AUDIT_STREAM=file:"+stream)
	logs := &syncBuffer{}
	start := func() *exec.Cmd {
		t.Helper()
		cmd := exec.Command(os.Args[0])
		cmd.Env = env
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		if out, ok := waitFor(t, stdout, "Press Ctrl-C to stop", 60*time.Second); !ok {
			t.Fatalf("serve --dev did not start:\n%s\nstderr:\n%s", out, logs)
		}
		return cmd
	}

	cmd := start()
	ada := loginProcess(t, base, "ada.sysadmin@example.com")
	bg := url.Values{"workspace": {"acme"}, "incident": {"INC-9094"}, "confirm": {"yes"},
		"justification": {"Checking that the audit stream survives crashes of the portal."}}
	if res, err := ada.PostForm(base+"/breakglass", bg); err != nil || res.Request.URL.Path == "/breakglass" {
		t.Fatalf("opening break-glass on acme: %v, ended at %v", err, res.Request.URL)
	} else {
		res.Body.Close()
	}

	// The load: one client viewing acme's members over and over, each view
	// an audit event; while the portal is down its requests fail.
	var served atomic.Int64
	stop := make(chan struct{})
	loadDone := make(chan struct{})
	go func() {
		defer close(loadDone)
		c := &http.Client{Jar: ada.Jar, Timeout: 5 * time.Second}
		for {
			select {
			case <-stop:
				return
			default:
			}
			res, err := c.Get(base + "/workspaces/acme/data/members")
			if err != nil {
				time.Sleep(20 * time.Millisecond)
				continue
			}
			res.Body.Close()
			if res.StatusCode == http.StatusOK && res.Request.URL.Path == "/workspaces/acme/data/members" {
				served.Add(1)
			}
		}
	}()
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		<-loadDone
	}()

	behind, ahead := 0, 0 // kills with committed events not yet in the file; with the file ahead of the position
	for i := range kills {
		// Some views served since this start, then a random moment
		// against the shipper's one-second tick.
		for n := served.Load(); served.Load() < n+5; time.Sleep(10 * time.Millisecond) {
		}
		time.Sleep(time.Duration(200+rand.IntN(2300)) * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
		head, pos, last := streamState(t, dir, stream)
		t.Logf("kill %d: head %d, position %d, file's last event %d", i+1, head, pos, last)
		if head > last {
			behind++
		}
		if last > pos {
			ahead++
		}
		cmd = start()
	}
	for n := served.Load(); served.Load() < n+5; time.Sleep(10 * time.Millisecond) {
	}
	close(stop)
	<-loadDone
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("clean stop: %v\nstderr:\n%s", err, logs)
	}
	t.Logf("%d views served; of %d kills, %d left committed events out of the stream, %d left the file ahead of the stored position", served.Load(), kills, behind, ahead)
	if behind == 0 {
		t.Errorf("no kill landed between an event's commit and its shipping: the test proved nothing")
	}

	head, pos, _ := streamState(t, dir, stream)
	raw, err := os.ReadFile(stream)
	if err != nil {
		t.Fatal(err)
	}
	var seqs []int64
	for _, line := range bytes.Split(raw, []byte("\n")) {
		var e struct {
			Type string
			Seq  int64
		}
		if json.Unmarshal(line, &e) == nil && e.Type == "event" {
			seqs = append(seqs, e.Seq)
		}
	}
	if pos != head || int64(len(seqs)) != head || !inOrderOnce(seqs) {
		t.Errorf("after the clean stop: head %d, position %d, %d event lines; want every seq from 1 to the head once, in order:\n%s", head, pos, len(seqs), describeSeqs(seqs))
	}
	out, err := runAudit([]string{"GATEHOUSE_DATA_DIR=" + dir}, "verify", "--dev", "--checkpoint", stream)
	if want := fmt.Sprintf("the stream holds every event from seq 1 to %d", head); err != nil || !strings.Contains(out, want) {
		t.Errorf("audit verify --checkpoint = %v, printed %q; want %q", err, out, want)
	}
}

// loginProcess signs a browser in to a portal running as a process of
// its own, through the development identity provider.
func loginProcess(t *testing.T, base, email string) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 20 * time.Second}
	res, err := c.PostForm(base+"/dev/login", url.Values{"email": {email}})
	if err != nil {
		t.Fatalf("login as %s: %v", email, err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Request.URL.Path != "/" {
		t.Fatalf("login as %s ended at %s with %d", email, res.Request.URL, res.StatusCode)
	}
	return c
}

// streamState reads, while the portal is down, the chain's head, the
// stored position of the stream and the seq of the file's last event.
func streamState(t *testing.T, dir, stream string) (head, pos, last int64) {
	t.Helper()
	db, err := models.Open(context.Background(), filepath.Join(dir, "portal.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Read.Raw("SELECT seq FROM audit_head WHERE id = 1").Row().Scan(&head); err != nil {
		t.Fatal(err)
	}
	if err := db.Read.Raw("SELECT shipped_seq FROM audit_stream WHERE id = 1").Row().Scan(&pos); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(stream)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	for _, line := range bytes.Split(raw, []byte("\n")) {
		var e struct {
			Type string
			Seq  int64
		}
		if json.Unmarshal(line, &e) == nil && e.Type == "event" {
			last = e.Seq
		}
	}
	return head, pos, last
}

// inOrderOnce reports whether seqs is 1, 2, 3, ….
func inOrderOnce(seqs []int64) bool {
	for i, s := range seqs {
		if s != int64(i+1) {
			return false
		}
	}
	return true
}

// describeSeqs names the gaps and repeats of seqs, for a failure.
func describeSeqs(seqs []int64) string {
	var b strings.Builder
	prev := int64(0)
	for _, s := range seqs {
		switch {
		case s <= prev:
			fmt.Fprintf(&b, "seq %d again after %d\n", s, prev)
		case s > prev+1:
			fmt.Fprintf(&b, "seqs %d-%d missing\n", prev+1, s-1)
		}
		prev = max(prev, s)
	}
	return b.String()
}
