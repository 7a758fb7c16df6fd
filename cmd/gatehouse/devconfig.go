package main

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"

	"gatehouse/handlers"
	"gatehouse/mailer"
	"gatehouse/models"
	"gatehouse/models/demo"
)

// devDefaults fills what --dev provides itself: the address, the data
// directory with its SQLite files, a session key kept in that directory,
// and the built-in identity provider (set up in serve).
func (c *Config) devDefaults(env map[string]string) []string {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:8080"
	}
	c.DataDir = env["GATEHOUSE_DATA_DIR"]
	if c.DataDir == "" {
		c.DataDir = ".gatehouse"
	}
	if c.DatabaseURL == "" {
		c.DatabaseURL = filepath.Join(c.DataDir, "portal.db")
	}
	if c.ProductDatabaseURL == "" {
		c.ProductDatabaseURL = filepath.Join(c.DataDir, "product.db")
	}
	host, port, ok := splitAddr(c.Addr)
	if !ok {
		return []string{"GATEHOUSE_ADDR must be host:port"}
	}
	// --dev signs anyone in as any demo staff member without a password;
	// it must not be reachable from other machines, neither directly nor
	// through a proxy that a public base URL would point at.
	if !isLoopbackHost(host) {
		return []string{fmt.Sprintf("GATEHOUSE_ADDR=%s: --dev listens only on a loopback address (127.0.0.1, ::1 or localhost), as its demo sign-in needs no password", c.Addr)}
	}
	c.BaseURL = &url.URL{Scheme: "http", Host: net.JoinHostPort(host, port)}
	if raw := env["GATEHOUSE_BASE_URL"]; raw != "" {
		u, problem := parseBaseURL(raw)
		if problem != "" {
			return []string{problem}
		}
		if !isLoopbackHost(u.Hostname()) {
			return []string{fmt.Sprintf("GATEHOUSE_BASE_URL=%s: --dev is reached only at a loopback address (127.0.0.1, ::1 or localhost), as its demo sign-in needs no password", raw)}
		}
		c.BaseURL = u
	}
	c.OIDCIssuer = c.BaseURL.JoinPath("/dev/oidc").String()
	c.OIDCClientID = "gatehouse-dev"
	c.AllowedDomains = []string{"example.com"}
	if c.AgreementVersion == "" {
		c.AgreementVersion = devAgreementVersion
	}
	return c.devMail()
}

// devMail lets --dev send through an SMTP relay on this machine (a test's
// mail server) when GATEHOUSE_SMTP_HOST names one; without it, mail stays
// in the dev mailbox. Demo mail never leaves the machine.
func (c *Config) devMail() []string {
	if c.SMTP.Host == "" {
		return nil
	}
	if !mailer.Loopback(c.SMTP.Host) {
		return []string{fmt.Sprintf("GATEHOUSE_SMTP_HOST=%s: --dev sends mail only to a relay on this machine (localhost, 127.0.0.1 or ::1)", c.SMTP.Host)}
	}
	if c.SMTP.From == "" {
		c.SMTP.From = "Gatehouse <gatehouse@" + demo.Domain + ">"
	}
	return c.SMTP.Check()
}

// devKeys fills the keys --dev keeps in its data directory (unless the
// environment gives them: replicas behind one base URL share them) and
// derives from the session key the client secret the portal and its
// development identity provider share.
func (c *Config) devKeys() error {
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil { // #nosec G703 -- the operator names their own data directory
		return err
	}
	var err error
	if len(c.SessionKey) == 0 {
		if c.SessionKey, err = devSessionKey(c.DataDir); err != nil {
			return err
		}
	}
	if c.AuditSigningKey == nil {
		if c.AuditSigningKey, err = devAuditKey(c.DataDir); err != nil {
			return err
		}
	}
	secret, err := devSecret(c.SessionKey, "gatehouse dev oidc client secret")
	if err != nil {
		return err
	}
	c.OIDCClientSecret = base64.RawURLEncoding.EncodeToString(secret)
	return nil
}

// devSecret derives a 32-byte secret for one use (label) from the session key.
func devSecret(sessionKey []byte, label string) ([]byte, error) {
	return hkdf.Key(sha256.New, sessionKey, nil, label, 32)
}

// devSessionKey reads the development session key from the data
// directory, creating it on first start so sessions survive restarts.
func devSessionKey(dir string) ([]byte, error) {
	path := filepath.Join(dir, "session.key")
	key, err := os.ReadFile(path) // #nosec G304 G703 -- a fixed name inside the operator's data directory
	if err == nil && len(key) >= 32 {
		return key, nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	key = []byte(rand.Text() + rand.Text())
	if err := os.WriteFile(path, key, 0o600); err != nil { // #nosec G703 -- a fixed name inside the operator's data directory
		return nil, fmt.Errorf("write dev session key: %w", err)
	}
	return key, nil
}

// devAuditKey reads the development audit signing key from the data
// directory, creating it (0600) on first use so checkpoints written before
// a restart still verify after it.
func devAuditKey(dir string) (ed25519.PrivateKey, error) {
	path := filepath.Join(dir, "audit-signing.key")
	raw, err := os.ReadFile(path) // #nosec G304 G703 -- a fixed name inside the operator's data directory
	if err == nil {
		key, err := models.ParseSigningKey(string(raw))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return key, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	seed := make([]byte, ed25519.SeedSize)
	rand.Read(seed)
	if err := os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(seed)+"\n"), 0o600); err != nil { // #nosec G703 -- a fixed name inside the operator's data directory
		return nil, fmt.Errorf("write dev audit signing key: %w", err)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// demoStaff is the demo staff as the sign-in page of --dev offers them.
func demoStaff() []handlers.DemoStaff {
	var out []handlers.DemoStaff
	for _, m := range demo.Staff {
		out = append(out, handlers.DemoStaff{Email: m.Email, Name: m.Name, Tier: m.Tier, Status: m.Status, NoAgreement: m.NoAgreement})
	}
	return out
}
