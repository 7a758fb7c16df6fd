// Package mailer delivers the mail outbox's messages: over SMTP in
// production, nowhere in --dev (the dev mailbox reads the outbox itself).
package mailer

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/netip"
	"strings"
	"time"

	"gatehouse/models"

	gomail "github.com/wneessen/go-mail"
)

// TLS modes of the SMTP connection.
const (
	StartTLS = "starttls" // plain connection upgraded with STARTTLS, which is required
	TLS      = "tls"      // TLS from the first byte (usually port 465)
	NoTLS    = "none"     // clear text: only to a server on this machine
)

// Config is where and how mail is sent.
type Config struct {
	Host     string
	Port     int // 587 when 0
	Username string
	Password string
	From     string // the From address; may carry a display name: "Gatehouse <gatehouse@example.com>"
	TLS      string // StartTLS (when empty), TLS or NoTLS
	Timeout  time.Duration
	// TLSConfig overrides the TLS client settings (tests trust their own
	// certificate with it).
	TLSConfig *tls.Config
}

// Check names every problem of c.
func (c Config) Check() []string {
	var p []string
	if c.Host == "" {
		p = append(p, "GATEHOUSE_SMTP_HOST is missing (the mail server that sends consent links and notifications)")
	}
	if a, err := mail.ParseAddress(c.From); c.From == "" || err != nil || a == nil {
		p = append(p, "GATEHOUSE_SMTP_FROM is missing or not an address (e.g. \"Gatehouse <gatehouse@example.com>\")")
	}
	if c.Port < 0 || c.Port > 65535 {
		p = append(p, "GATEHOUSE_SMTP_PORT must be a port number")
	}
	switch c.TLS {
	case "", StartTLS, TLS:
	case NoTLS:
		if c.Host != "" && !Loopback(c.Host) {
			p = append(p, "GATEHOUSE_SMTP_TLS=none is allowed only for a server on this machine (localhost, 127.0.0.1, ::1): mail carries consent links")
		}
	default:
		p = append(p, "GATEHOUSE_SMTP_TLS must be starttls, tls or none")
	}
	return p
}

// Loopback reports whether host names this machine.
func Loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// SMTP sends mail through one SMTP server, one connection per mail.
type SMTP struct {
	cfg    Config
	from   *mail.Address
	domain string // of the From address, for Message-IDs
}

// New checks cfg and makes the sender.
func New(cfg Config) (*SMTP, error) {
	if p := cfg.Check(); len(p) > 0 {
		return nil, fmt.Errorf("mailer: %s", strings.Join(p, "; "))
	}
	if cfg.Port == 0 {
		cfg.Port = 587
	}
	if cfg.TLS == "" {
		cfg.TLS = StartTLS
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	from, _ := mail.ParseAddress(cfg.From)
	_, domain, _ := strings.Cut(from.Address, "@")
	return &SMTP{cfg: cfg, from: from, domain: domain}, nil
}

func (s *SMTP) client() (*gomail.Client, error) {
	opts := []gomail.Option{gomail.WithPort(s.cfg.Port), gomail.WithTimeout(s.cfg.Timeout)}
	switch s.cfg.TLS {
	case TLS:
		opts = append(opts, gomail.WithSSL())
	case NoTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	if s.cfg.TLSConfig != nil {
		opts = append(opts, gomail.WithTLSConfig(s.cfg.TLSConfig))
	}
	if s.cfg.Username != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(s.cfg.Username), gomail.WithPassword(s.cfg.Password))
	}
	return gomail.NewClient(s.cfg.Host, opts...)
}

// message builds the MIME message: multipart/alternative with the plain
// text first and the HTML part last (when there is one), a Message-ID at
// the sender's domain, and no User-Agent, X-Mailer or tracking headers.
func (s *SMTP) message(m models.Mail) (*gomail.Msg, error) {
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	msg.FromMailAddress(s.from)
	if err := msg.To(m.To); err != nil {
		return nil, fmt.Errorf("%w: recipient: %w", models.ErrMailRejected, err)
	}
	msg.Subject(m.Subject)
	msg.SetDate()
	msg.SetMessageIDWithValue(strings.ToLower(rand.Text()) + "@" + s.domain)
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	return msg, nil
}

// Send delivers m. A refusal that retrying cannot cure (a 5xx reply to the
// recipient or to the message) wraps models.ErrMailRejected; anything else
// (a 4xx reply, an unreachable server, a failed login) is worth a retry.
func (s *SMTP) Send(ctx context.Context, m models.Mail) error {
	msg, err := s.message(m)
	if err != nil {
		return err
	}
	c, err := s.client()
	if err != nil {
		return fmt.Errorf("smtp client: %w", err)
	}
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		var se *gomail.SendError
		if errors.As(err, &se) && !se.IsTemp() && se.ErrorCode() >= 500 &&
			(se.Reason == gomail.ErrSMTPRcptTo || se.Reason == gomail.ErrSMTPDataClose) {
			return fmt.Errorf("smtp %s: %w: %w", net.JoinHostPort(s.cfg.Host, fmt.Sprint(s.cfg.Port)), models.ErrMailRejected, err)
		}
		return fmt.Errorf("smtp %s: %w", net.JoinHostPort(s.cfg.Host, fmt.Sprint(s.cfg.Port)), err)
	}
	return nil
}

// Dev is the sender of --dev: it sends nothing and succeeds, so the
// outbox marks mail sent; the dev mailbox (/dev/mail) shows it.
type Dev struct{}

// Send accepts m.
func (Dev) Send(context.Context, models.Mail) error { return nil }
