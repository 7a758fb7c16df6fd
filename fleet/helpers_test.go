package fleet_test

import (
	"bytes"
	"context"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/mail"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"gatehouse/fleet"
	"gatehouse/models"
)

// start runs a two-replica fleet for one test.
func start(t *testing.T) *fleet.Fleet {
	t.Helper()
	return fleet.Start(t, fleet.Options{})
}

// get fetches path as c, failing the test on a transport error.
func get(t *testing.T, c *fleet.Client, path string) fleet.Response {
	t.Helper()
	res, err := c.Get(path)
	if err != nil {
		t.Fatalf("GET %s as %s: %v", path, c.Email, err)
	}
	return res
}

// submit posts form to path as c, without following the answer's
// redirect, failing the test on a transport error.
func submit(t *testing.T, c *fleet.Client, path string, form url.Values) fleet.Response {
	t.Helper()
	res, err := c.Submit(path, form)
	if err != nil {
		t.Fatalf("POST %s as %s: %v", path, c.Email, err)
	}
	return res
}

// act submits form to path and fails the test unless the action is
// accepted: 303.
func act(t *testing.T, c *fleet.Client, path string, form url.Values) fleet.Response {
	t.Helper()
	res := submit(t, c, path, form)
	if res.Status != http.StatusSeeOther {
		t.Fatalf("POST %s as %s on replica %d: %d, want 303:\n%.3000s", path, c.Email, res.Replica(), res.Status, res.Body)
	}
	return res
}

// next gets path as c and fails the test unless it landed on another
// replica than the one that answered the action: the proxy's rotation is
// what makes each check cross replicas.
func next(t *testing.T, c *fleet.Client, action fleet.Response, path string) fleet.Response {
	t.Helper()
	res := get(t, c, path)
	if len(res.Replicas) == 0 || res.Replicas[0] == action.Replica() {
		t.Fatalf("GET %s was answered by replicas %v, and replica %d did the action: the check would not cross replicas", path, res.Replicas, action.Replica())
	}
	return res
}

// staffID is the id of the staff member email.
func staffID(t *testing.T, f *fleet.Fleet, email string) string {
	t.Helper()
	s, err := models.FindStaffByEmail(context.Background(), f.Owner.Read, email)
	if err != nil {
		t.Fatal(err)
	}
	return strconv.FormatInt(s.ID, 10)
}

// message is one mail the fleet sent, decoded.
type message struct {
	To, Subject, Text string
}

// sent returns every mail the fleet's SMTP server accepted, with the
// plain-text part decoded.
func sent(t *testing.T, f *fleet.Fleet) []message {
	t.Helper()
	var out []message
	for _, m := range f.Mail.Messages() {
		msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
		if err != nil {
			t.Fatalf("a sent mail does not parse: %v", err)
		}
		subject, _ := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
		mm := message{To: strings.Join(m.To, ","), Subject: subject}
		mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
		if err != nil || !strings.HasPrefix(mt, "multipart/") {
			b, _ := io.ReadAll(msg.Body)
			mm.Text = string(b)
			out = append(out, mm)
			continue
		}
		mr := multipart.NewReader(msg.Body, params["boundary"])
		for {
			p, err := mr.NextPart()
			if err != nil {
				break
			}
			if ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type")); ct == "text/plain" {
				b, _ := io.ReadAll(p) // decodes quoted-printable
				mm.Text = string(b)
			}
		}
		out = append(out, mm)
	}
	return out
}

// waitMail waits up to 20 s for a mail to to whose text matches re and
// returns re's first group in it.
func waitMail(t *testing.T, f *fleet.Fleet, to string, re *regexp.Regexp) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		for _, m := range sent(t, f) {
			if m.To != to {
				continue
			}
			if g := re.FindStringSubmatch(m.Text); g != nil {
				return g[1]
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no mail to %s matching %s within 20s; sent: %d mails", to, re, len(f.Mail.Messages()))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var (
	requestPath = regexp.MustCompile(`^/requests/(\d+)$`)
	consentLink = regexp.MustCompile(`/consent/([A-Za-z0-9_-]+)`)
	shownField  = regexp.MustCompile(`name="shown" value="([^"]+)"`)
)

// grant runs the whole access workflow through the fleet: requester asks
// for grantee to see workspace, approver approves, and the workspace's
// owner grants consent from the link in the mail the fleet sent. It
// returns the request's id once the grant is live.
func grant(t *testing.T, f *fleet.Fleet, requester, approver *fleet.Client, grantee, workspace, owner string) string {
	t.Helper()
	res := act(t, requester, "/requests", requestForm(workspace, grantee))
	g := requestPath.FindStringSubmatch(res.Header.Get("Location"))
	if g == nil {
		t.Fatalf("new request answered 303 to %q, want /requests/{id}", res.Header.Get("Location"))
	}
	id := g[1]
	act(t, approver, "/requests/"+id+"/approve", url.Values{"note": {"Checked the ticket: legitimate."}})

	token := waitMail(t, f, owner, consentLink)
	customer := f.NewClient()
	page := get(t, customer, "/consent/"+token)
	shown := shownField.FindStringSubmatch(page.Body)
	if page.Status != http.StatusOK || shown == nil {
		t.Fatalf("consent page: %d, no shown hash:\n%.2000s", page.Status, page.Body)
	}
	act(t, customer, "/consent/"+token, url.Values{"decision": {"grant"}, "shown": {shown[1]}})
	return id
}
