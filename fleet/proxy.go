package fleet

import (
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// ReplicaHeader names, in every response the proxy returns, the index of
// the replica that answered it.
const ReplicaHeader = "X-Fleet-Replica"

// proxy hands each request to the next replica in rotation (round robin),
// so consecutive requests land on different replicas. A replica is in
// rotation from the moment it is ready until it is stopped or killed; a
// request that finds no replica in rotation gets 503, and one whose
// replica fails mid-way (killed) gets 502.
type proxy struct {
	next atomic.Uint64

	mu       sync.Mutex
	backends []*backend
}

type backend struct {
	index   int
	enabled bool
	rp      *httputil.ReverseProxy
	served  atomic.Int64
}

func (p *proxy) add(r *Replica) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.backends = append(p.backends, &backend{index: r.Index})
}

// enable puts replica i, now listening at base, in rotation.
func (p *proxy) enable(i int, base string) {
	target, _ := url.Parse(base)
	b := &backend{index: i, enabled: true}
	b.rp = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host // the portal checks Origin against its base URL's host
			forwardFor(pr)
		},
		ModifyResponse: func(res *http.Response) error {
			res.Header.Set(ReplicaHeader, strconv.Itoa(i))
			b.served.Add(1)
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			w.Header().Set(ReplicaHeader, strconv.Itoa(i))
			http.Error(w, "fleet proxy: replica "+strconv.Itoa(i)+": "+err.Error(), http.StatusBadGateway)
		},
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	b.served.Store(p.backends[i].served.Load())
	p.backends[i] = b
}

// forwardFor passes on a request's X-Forwarded-For with the proxy's
// client appended, as a load balancer does; without one the replicas see
// the proxy's loopback address alone. A fleet started with
// GATEHOUSE_TRUSTED_PROXIES=127.0.0.1/32 takes the address a test names
// in the header as the client's (refusals "from" many addresses); any
// other fleet ignores the header.
func forwardFor(pr *httputil.ProxyRequest) {
	in := pr.In.Header.Values("X-Forwarded-For")
	if len(in) == 0 {
		return
	}
	client, _, err := net.SplitHostPort(pr.In.RemoteAddr)
	if err != nil {
		return
	}
	pr.Out.Header.Set("X-Forwarded-For", strings.Join(append(slices.Clone(in), client), ", "))
}

// disable takes replica i out of rotation; requests already handed to it
// go on.
func (p *proxy) disable(i int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.backends[i].enabled = false
}

// pick returns the next replica in rotation, or nil.
func (p *proxy) pick() *backend {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := uint64(len(p.backends))
	for range n {
		b := p.backends[p.next.Add(1)%n]
		if b.enabled {
			return b
		}
	}
	return nil
}

func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b := p.pick()
	if b == nil {
		http.Error(w, "fleet proxy: no replica in rotation", http.StatusServiceUnavailable)
		return
	}
	b.rp.ServeHTTP(w, r)
}

// served is how many responses each replica has given through the proxy.
func (p *proxy) served() []int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]int64, len(p.backends))
	for i, b := range p.backends {
		out[i] = b.served.Load()
	}
	return out
}
