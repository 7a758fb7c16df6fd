package fleet_test

import (
	"context"
	"crypto/rand"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"gatehouse/fleet"
	"gatehouse/models/demo"
)

// served is one answer the load got, as the client logged it: what it
// asked, the request id it sent and the one the portal answered with,
// and what the body carried.
type served struct {
	Staff     string
	Path      string
	Workspace string
	Table     string
	Sent      string // the X-Request-Id the client sent
	ID        string // the X-Request-Id the portal answered with ("" when none)
	Status    int    // 0 when no answer came
	Replica   int    // the replica that answered; -1 for the proxy itself
	Err       string // the transport error, when no answer came
	Grant     int64  // the grant the page says it is under; 0 when none
	Records   []string
	Tenant    bool // the body carried tenant data: a workspace's canary or a record
	Start     time.Time
	End       time.Time
}

// view says whether s is a page of tenant data the portal served: the
// answers that must each have a committed data.viewed row.
func (s served) view() bool { return s.Status == http.StatusOK && s.Tenant }

// reader is one load client: a signed-in staff member's cookies and the
// data they hold grants on.
type reader struct {
	Client  *fleet.Client
	Targets []target
}

// target is a workspace's table a reader's grant covers.
type target struct {
	Workspace string
	Table     string
}

// contentTables are the tables whose every row carries its workspace's
// canary in a content column, which no mode masks.
var contentTables = []string{"documents", "projects", "comments"}

// load sends data page requests from readers through base at a steady
// rate until it is stopped, and keeps the log of every answer.
type load struct {
	base    string
	readers []reader
	rate    float64 // requests per second, in total
	workers int

	mu   sync.Mutex
	log  []served
	stop context.CancelFunc
	done sync.WaitGroup
}

// startLoad starts workers request loops, each request as a reader
// picked at random, paced at rate requests per second in total. The
// workers bound the requests in flight, and so the connections the
// replicas open on the PostgreSQL server other tests share.
func startLoad(base string, readers []reader, rate float64, workers int) *load {
	ctx, cancel := context.WithCancel(context.Background())
	l := &load{base: base, readers: readers, rate: rate, workers: workers, stop: cancel}
	tokens := make(chan struct{}, workers)
	l.done.Add(1)
	go func() {
		defer l.done.Done()
		defer close(tokens)
		tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				select {
				case tokens <- struct{}{}:
				default: // every worker is busy: the load is behind, and says so in its rate
				}
			}
		}
	}()
	for i := range workers {
		rng := mrand.New(mrand.NewPCG(uint64(i), uint64(time.Now().UnixNano())))
		l.done.Add(1)
		go func() {
			defer l.done.Done()
			seen := map[target][]string{} // record ids seen on each table's page, for record pages
			for range tokens {
				r := readers[rng.IntN(len(readers))]
				t := r.Targets[rng.IntN(len(r.Targets))]
				path := fmt.Sprintf("/workspaces/%s/data/%s", t.Workspace, t.Table)
				if ids := seen[t]; len(ids) > 0 && rng.IntN(4) == 0 {
					path += "/" + ids[rng.IntN(len(ids))]
				}
				s := fetch(ctx, r.Client, base, path)
				s.Workspace, s.Table = t.Workspace, t.Table
				if s.view() && !strings.Contains(path, "/data/"+t.Table+"/") && len(s.Records) > 0 {
					seen[t] = s.Records
				}
				l.mu.Lock()
				l.log = append(l.log, s)
				l.mu.Unlock()
			}
		}()
	}
	return l
}

// Stop ends the load and returns its log, in no particular order.
func (l *load) Stop() []served {
	l.stop()
	l.done.Wait()
	return l.Log()
}

// Log is a copy of the answers logged so far.
func (l *load) Log() []served {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.log)
}

var (
	grantBannerRE = regexp.MustCompile(`Access under grant (\d+)`)
	recordRowRE   = regexp.MustCompile(`data-testid="record-(\d+)"`)
	recordPathRE  = regexp.MustCompile(`/data/[a-z_]+/(\d+)$`)
)

// fetch asks for path as c with a fresh X-Request-Id of the client's
// own and logs what came back. The portal never takes a client's id: the
// one it answers with is the one its audit rows carry.
func fetch(ctx context.Context, c *fleet.Client, base, path string) served {
	s := served{Staff: c.Email, Path: path, Sent: "load-" + rand.Text()[:16], Replica: -1, Start: time.Now()}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	if err != nil {
		s.Err, s.End = err.Error(), time.Now()
		return s
	}
	req.Header.Set("X-Request-Id", s.Sent)
	res, err := c.Do(req)
	s.End = time.Now()
	if err != nil {
		// A body cut short (a replica killed mid-answer) still counts
		// for what it carried.
		s.Err = err.Error()
	}
	if res.Status == 0 {
		return s
	}
	s.Status, s.ID, s.Replica = res.Status, res.Header.Get("X-Request-Id"), res.Replica()
	readPage(&s, res.Body)
	return s
}

// readPage notes what a data page's body carried: its grant, its records
// and whether any tenant data (a canary of any demo workspace, a record)
// is in it.
func readPage(s *served, body string) {
	if m := grantBannerRE.FindStringSubmatch(body); m != nil {
		s.Grant, _ = strconv.ParseInt(m[1], 10, 64)
	}
	for _, m := range recordRowRE.FindAllStringSubmatch(body, -1) {
		s.Records = append(s.Records, m[1])
	}
	if strings.Contains(body, `data-testid="record"`) {
		if m := recordPathRE.FindStringSubmatch(s.Path); m != nil {
			s.Records = append(s.Records, m[1])
		}
	}
	s.Tenant = len(s.Records) > 0 || hasCanary(body)
}

// hasCanary reports whether body holds any demo workspace's canary.
func hasCanary(body string) bool {
	if !strings.Contains(body, "CANARY-") && !strings.Contains(body, "RESTRICTED-") {
		return false
	}
	for _, slug := range demo.WorkspaceSlugs() {
		if strings.Contains(body, demo.Canary(slug)) || strings.Contains(body, demo.RestrictedCanary(slug)) {
			return true
		}
	}
	return false
}

// loadFigures sums up a load's log.
type loadFigures struct {
	Requests int           // requests sent
	Views    int           // 200s with tenant data
	Answered int           // requests with any answer
	Statuses map[int]int   // answers by status
	Failed   int           // no answer (connection refused or reset, timeout)
	Span     time.Duration // first request to last answer
}

func figuresOf(log []served) loadFigures {
	f := loadFigures{Statuses: map[int]int{}}
	var first, last time.Time
	for _, s := range log {
		f.Requests++
		if s.Status == 0 {
			f.Failed++
		} else {
			f.Answered++
			f.Statuses[s.Status]++
		}
		if s.view() {
			f.Views++
		}
		if first.IsZero() || s.Start.Before(first) {
			first = s.Start
		}
		if s.End.After(last) {
			last = s.End
		}
	}
	f.Span = last.Sub(first)
	return f
}

// Rate is the views served per second over the load's span.
func (f loadFigures) Rate() float64 {
	if f.Span <= 0 {
		return 0
	}
	return float64(f.Views) / f.Span.Seconds()
}
