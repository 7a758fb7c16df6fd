package fleet

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Client is a browser signed in as one staff member: it keeps the
// session cookie, follows redirects, and sends every request through the
// proxy. It is safe for concurrent use.
type Client struct {
	// Email is whom the client is signed in as.
	Email string

	f    *Fleet
	http *http.Client
}

// Response is a page the fleet answered, read whole.
type Response struct {
	Status int
	Header http.Header
	Body   string
	// URL is where the request ended, after redirects.
	URL *url.URL
	// Replicas are the replicas that answered each hop, in order (one
	// entry per redirect followed, then the final page); -1 for a hop the
	// proxy answered itself.
	Replicas []int
}

// Replica is the replica that answered the last hop.
func (r Response) Replica() int {
	if len(r.Replicas) == 0 {
		return -1
	}
	return r.Replicas[len(r.Replicas)-1]
}

// SignIn signs a new client in as email through the proxy: POST
// /dev/login, the real OpenID Connect round trip (authorize, login,
// callback, token, keys, each wherever the proxy sends it), ending on the
// dashboard. It fails the test when the sign-in does not end there.
func (f *Fleet) SignIn(t testing.TB, email string) *Client {
	t.Helper()
	c := f.NewClient()
	c.Email = email
	res, err := c.PostForm("/dev/login", url.Values{"email": {email}})
	if err != nil {
		t.Fatalf("sign in as %s: %v", email, err)
	}
	if res.Status != http.StatusOK || res.URL.Path != "/" {
		t.Fatalf("sign-in as %s ended at %s with %d (replicas %v):\n%.2000s", email, res.URL, res.Status, res.Replicas, res.Body)
	}
	return c
}

// NewClient returns a client with no session (a customer following a
// mailed link, or a browser not yet signed in).
func (f *Fleet) NewClient() *Client {
	jar, _ := cookiejar.New(nil)
	return &Client{f: f, http: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
}

// Clone returns a client holding c's cookies as they are now: another
// tab of the same browser, or a copied session cookie, that keeps them
// when c's are cleared (by a sign-out, say).
func (c *Client) Clone() *Client {
	n := c.f.NewClient()
	n.Email = c.Email
	u, _ := url.Parse(c.f.URL)
	n.http.Jar.SetCookies(u, c.http.Jar.Cookies(u))
	return n
}

// Get requests path (e.g. "/staff") from the fleet.
func (c *Client) Get(path string) (Response, error) {
	req, err := http.NewRequest(http.MethodGet, c.f.URL+path, nil)
	if err != nil {
		return Response{}, err
	}
	return c.Do(req)
}

// PostForm posts form to path, as a same-origin browser form does, and
// follows the answer's redirect.
func (c *Client) PostForm(path string, form url.Values) (Response, error) {
	req, err := c.formRequest(path, form)
	if err != nil {
		return Response{}, err
	}
	return c.Do(req)
}

func (c *Client) formRequest(path string, form url.Values) (*http.Request, error) {
	req, err := http.NewRequest(http.MethodPost, c.f.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", c.f.URL)
	return req, nil
}

// Submit posts form to path like PostForm but does not follow the
// answer's redirect: the action alone, answered by one replica, so that
// the next request lands on the other.
func (c *Client) Submit(path string, form url.Values) (Response, error) {
	req, err := c.formRequest(path, form)
	if err != nil {
		return Response{}, err
	}
	return c.do(req, false)
}

// Do sends req (whose URL should be the proxy's), following redirects,
// and reads the answer.
func (c *Client) Do(req *http.Request) (Response, error) { return c.do(req, true) }

func (c *Client) do(req *http.Request, follow bool) (Response, error) {
	hops := &hopRecorder{}
	hc := *c.http
	hc.Transport = hops
	if !follow {
		hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	res, err := hc.Do(req)
	if err != nil {
		return Response{Replicas: hops.replicas()}, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	out := Response{Status: res.StatusCode, Header: res.Header, Body: string(body), URL: res.Request.URL, Replicas: hops.replicas()}
	if err != nil {
		return out, fmt.Errorf("%s %s: reading the body: %w", req.Method, req.URL.Path, err)
	}
	return out, nil
}

// hopRecorder notes which replica answered each hop of one request.
type hopRecorder struct {
	mu   sync.Mutex
	hops []int
}

func (h *hopRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	i, perr := strconv.Atoi(res.Header.Get(ReplicaHeader))
	if perr != nil {
		i = -1
	}
	h.mu.Lock()
	h.hops = append(h.hops, i)
	h.mu.Unlock()
	return res, nil
}

func (h *hopRecorder) replicas() []int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]int(nil), h.hops...)
}
