package mailer_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"strings"
	"testing"
	"time"

	"gatehouse/mailer"
	"gatehouse/mailer/smtptest"
	"gatehouse/models"
)

func sender(t *testing.T, srv *smtptest.Server) *mailer.SMTP {
	t.Helper()
	s, err := mailer.New(mailer.Config{
		Host: srv.Host, Port: srv.Port, From: "Gatehouse <gatehouse@portal.example>",
		TLSConfig: srv.ClientTLS, Timeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSMTPSendsMultipartAlternative(t *testing.T) {
	srv := smtptest.Start(t)
	m := models.Mail{
		Kind: "consent.request", To: "owner@acme.example", Subject: "Access to acme: your decision",
		Text: "Please decide: http://portal.example/consent/abc", HTML: `<p>Please <a href="http://portal.example/consent/abc">decide</a>.</p>`,
	}
	if err := sender(t, srv).Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	got := srv.Messages()
	if len(got) != 1 {
		t.Fatalf("server received %d messages, want 1", len(got))
	}
	if got[0].From != "gatehouse@portal.example" || len(got[0].To) != 1 || got[0].To[0] != m.To {
		t.Errorf("envelope from %q to %q", got[0].From, got[0].To)
	}
	msg, err := mail.ReadMessage(bytes.NewReader(got[0].Data))
	if err != nil {
		t.Fatal(err)
	}
	h := msg.Header
	if from := h.Get("From"); !strings.Contains(from, "gatehouse@portal.example") {
		t.Errorf("From = %q", from)
	}
	if subj, _ := new(mime.WordDecoder).DecodeHeader(h.Get("Subject")); subj != m.Subject {
		t.Errorf("Subject = %q, want %q", subj, m.Subject)
	}
	if id := h.Get("Message-ID"); !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@portal.example>") {
		t.Errorf("Message-ID = %q, want <…@portal.example>", id)
	}
	for _, k := range []string{"X-Mailer", "User-Agent", "List-Unsubscribe", "X-Campaign"} {
		if v := h.Get(k); v != "" {
			t.Errorf("header %s = %q, want none", k, v)
		}
	}
	mt, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type = %q (%v), want multipart/alternative", h.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	var types, bodies []string
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		b, _ := io.ReadAll(p) // multipart.Part decodes quoted-printable
		types, bodies = append(types, ct), append(bodies, strings.TrimSpace(string(b)))
	}
	if strings.Join(types, ",") != "text/plain,text/html" {
		t.Fatalf("parts %v, want text/plain then text/html", types)
	}
	if bodies[0] != m.Text || bodies[1] != m.HTML {
		t.Errorf("bodies %q, want %q and %q", bodies, m.Text, m.HTML)
	}
}

func TestSMTPRefusals(t *testing.T) {
	tests := []struct {
		code      int
		permanent bool
	}{
		{451, false},
		{421, false},
		{550, true},
		{553, true},
	}
	for _, tt := range tests {
		srv := smtptest.Start(t)
		srv.RefuseNext(1, tt.code)
		err := sender(t, srv).Send(context.Background(), models.Mail{Kind: "k", To: "a@b.example", Subject: "s", Text: "t"})
		if err == nil {
			t.Errorf("%d: sent, want an error", tt.code)
			continue
		}
		if got := errors.Is(err, models.ErrMailRejected); got != tt.permanent {
			t.Errorf("%d: permanent = %v, want %v (%v)", tt.code, got, tt.permanent, err)
		}
		if n := len(srv.Messages()); n != 0 {
			t.Errorf("%d: server kept %d messages", tt.code, n)
		}
	}
}

func TestSMTPUnreachableIsTemporary(t *testing.T) {
	srv := smtptest.Start(t)
	s, err := mailer.New(mailer.Config{Host: "127.0.0.1", Port: 1, From: "g@portal.example", TLSConfig: srv.ClientTLS, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Send(context.Background(), models.Mail{Kind: "k", To: "a@b.example", Subject: "s", Text: "t"})
	if err == nil || errors.Is(err, models.ErrMailRejected) {
		t.Errorf("send to a closed port: %v, want a temporary error", err)
	}
}

func TestConfigCheck(t *testing.T) {
	tests := []struct {
		cfg  mailer.Config
		want []string // substrings of the problems, in order
	}{
		{mailer.Config{Host: "smtp.example", From: "g@example.com"}, nil},
		{mailer.Config{Host: "smtp.example", From: "Gatehouse <g@example.com>", TLS: "tls", Port: 465}, nil},
		{mailer.Config{Host: "127.0.0.1", From: "g@example.com", TLS: "none"}, nil},
		{mailer.Config{Host: "localhost", From: "g@example.com", TLS: "none"}, nil},
		{mailer.Config{}, []string{"GATEHOUSE_SMTP_HOST", "GATEHOUSE_SMTP_FROM"}},
		{mailer.Config{Host: "smtp.example", From: "not an address"}, []string{"GATEHOUSE_SMTP_FROM"}},
		{mailer.Config{Host: "smtp.example", From: "g@example.com", TLS: "none"}, []string{"GATEHOUSE_SMTP_TLS=none"}},
		{mailer.Config{Host: "10.0.0.1", From: "g@example.com", TLS: "none"}, []string{"GATEHOUSE_SMTP_TLS=none"}},
		{mailer.Config{Host: "smtp.example", From: "g@example.com", TLS: "ssl"}, []string{"GATEHOUSE_SMTP_TLS must"}},
		{mailer.Config{Host: "smtp.example", From: "g@example.com", Port: 70000}, []string{"GATEHOUSE_SMTP_PORT"}},
	}
	for _, tt := range tests {
		got := tt.cfg.Check()
		if len(got) != len(tt.want) {
			t.Errorf("%+v: problems %q, want %d", tt.cfg, got, len(tt.want))
			continue
		}
		for i := range got {
			if !strings.Contains(got[i], tt.want[i]) {
				t.Errorf("%+v: problem %q, want it to name %q", tt.cfg, got[i], tt.want[i])
			}
		}
	}
}
