package main

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gatehouse/models"
)

// FuzzConfig reads any environment (entries separated by NUL, as no
// variable can hold one) as serve does, with and without --dev. It is
// refused with a list of problems that each name their setting and
// repeat no secret, or it is a configuration within every documented
// bound; an accepted one, written back as an environment, reads back to
// the same configuration.
func FuzzConfig(f *testing.F) {
	prod := productionEnv()
	f.Add(strings.Join(environ(prod), "\x00"), false)
	f.Add("", true)
	f.Add("GATEHOUSE_ADDR=[::1]:0\x00GATEHOUSE_BASE_URL=http://localhost:9\x00GATEHOUSE_DATA_DIR=/tmp/x", true)
	f.Add("GATEHOUSE_ADDR=0.0.0.0:8080\x00GATEHOUSE_LOG_LEVEL=debug-4", true)
	extra := map[string]string{
		"GATEHOUSE_TRUSTED_PROXIES": "10.0.0.0/8, fd00::/8, 1.2.3.4/32", "GATEHOUSE_LOG_LEVEL": "warn+2",
		"GATEHOUSE_AUDIT_STREAM": "file:/var/log/audit.jsonl", "GATEHOUSE_AUDIT_CHECKPOINT_EVERY": "90s",
		"GATEHOUSE_DETECTION_EVERY": "2m30s", "GATEHOUSE_SMTP_PORT": "465", "GATEHOUSE_SMTP_TLS": "TLS", "GATEHOUSE_SMTP_USERNAME": "u", "GATEHOUSE_SMTP_PASSWORD": "p4ssw0rd-of-smtp",
		"GATEHOUSE_TICKET_PATTERN": "(SUP|OPS)-[0-9]+", "GATEHOUSE_REQUEST_MAX_DURATION": "48h", "GATEHOUSE_REQUEST_PENDING_FOR": "2h",
		"GATEHOUSE_CONSENT_VALID_FOR": "100h", "GATEHOUSE_COMPANY_NAME": " Acme Corp ", "GATEHOUSE_BREAKGLASS_WINDOW": "90m",
		"GATEHOUSE_TRAINING_VALID_FOR": "400d", "GATEHOUSE_RETENTION_CANCELLED_DAYS": "60", "GATEHOUSE_RETENTION_FREE_NOTICE_DAYS": "100",
		"GATEHOUSE_RETENTION_FREE_MARK_DAYS": "120", "GATEHOUSE_RETENTION_FREE_DELETE_DAYS": "200", "GATEHOUSE_DELETION_REQUEST_VALID_DAYS": "7",
		"GATEHOUSE_METRICS_ADDR": "localhost:9090", "GATEHOUSE_ALLOWED_DOMAINS": "Example.COM,,example.org ",
	}
	for k, v := range extra {
		prod[k] = v
	}
	f.Add(strings.Join(environ(prod), "\x00"), false)
	base := strings.Join(environ(productionEnv()), "\x00")
	f.Add(base+"\x00GATEHOUSE_TICKET_PATTERN=[A-Z]+)|(.*", false)
	f.Add(base+"\x00GATEHOUSE_ADDR=gatehouse", false)
	f.Add("GATEHOUSE_ADDR=localhost:http", true)
	f.Add("GATEHOUSE_TICKET_PATTERN=[A-Z]+)|(.*\x00GATEHOUSE_SESSION_KEY=not-long-enough-secret", false)
	f.Add("GATEHOUSE_AUDIT_SIGNING_KEY=c2VjcmV0LXNpZ25pbmcta2V5LW9mLXRoZS13cm9uZy1sZW5ndGg=\x00GATEHOUSE_SMTP_PORT=0", false)
	f.Add("GATEHOUSE_BREAKGLASS_WINDOW=1m\x00GATEHOUSE_RETENTION_FREE_MARK_DAYS=1\x00GATEHOUSE_NOPE=1\x00PATH=/bin", false)
	f.Add(base+"\x00GATEHOUSE_DETECTION_EVERY=500ms", false)
	f.Fuzz(func(t *testing.T, env string, dev bool) {
		environ := strings.Split(env, "\x00")
		cfg, err := readServeConfig(environ, dev)
		if err != nil {
			checkRefusal(t, environ, dev, err)
			return
		}
		checkConfig(t, environ, cfg)
		again, err := readServeConfig(writeConfig(cfg), dev)
		if err != nil {
			t.Fatalf("the accepted configuration written back is refused: %v\n%q", err, writeConfig(cfg))
		}
		if a, b := comparable(cfg), comparable(again); !reflect.DeepEqual(a, b) {
			t.Fatalf("written back and read again:\n%+v\nwant\n%+v", b, a)
		}
	})
}

// readServeConfig reads a configuration as serve does, short of --dev's
// keys in its data directory.
func readServeConfig(environ []string, dev bool) (Config, error) {
	var args []string
	if dev {
		args = []string{"--dev"}
	}
	cfg, err := loadConfig("serve", args, environ, io.Discard)
	if !cfg.Dev {
		err = joinProblems(err, cfg.checkProduction())
	}
	return cfg, err
}

// secretSettings are the settings no refusal may repeat.
var secretSettings = []string{
	"GATEHOUSE_SESSION_KEY", "GATEHOUSE_OIDC_CLIENT_SECRET", "GATEHOUSE_SMTP_PASSWORD", "GATEHOUSE_AUDIT_SIGNING_KEY", "GATEHOUSE_METRICS_TOKEN",
}

// checkRefusal holds a refusal to naming each problem's setting, on one
// line, without any secret's value.
func checkRefusal(t *testing.T, environ []string, dev bool, err error) {
	t.Helper()
	var ce configError
	if !errors.As(err, &ce) || len(ce) == 0 {
		t.Fatalf("refusal %v (%T) is not a list of problems", err, err)
	}
	for _, p := range ce {
		if !strings.HasPrefix(settingOf(p), "GATEHOUSE_") || strings.ContainsAny(p, "\r\n\x00") {
			t.Fatalf("problem %q does not start with its setting on one line", p)
		}
	}
	for _, name := range secretSettings {
		var secret string
		var others []string
		for _, kv := range environ {
			if k, v, _ := strings.Cut(kv, "="); k == name {
				secret = strings.TrimSpace(v)
			} else {
				others = append(others, kv)
			}
		}
		if len(secret) < 8 || strings.Contains(strings.Join(others, "\n"), secret) {
			continue
		}
		// The words of a refusal may hold it by chance: then they do so
		// with the secret's characters all changed, too.
		_, masked := readServeConfig(append(others, name+"="+strings.Repeat("#", len(secret))), dev)
		for _, p := range ce {
			if strings.Contains(p, secret) && (masked == nil || !strings.Contains(masked.Error(), secret)) {
				t.Fatalf("problem %q repeats the value of %s", p, name)
			}
		}
	}
}

// checkConfig holds an accepted configuration to the bounds the README
// and config.go give each setting.
func checkConfig(t *testing.T, environ []string, c Config) {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("accepted %q:\n"+format, append([]any{environ}, args...)...)
	}
	within := func(name string, d, lo, hi time.Duration) {
		t.Helper()
		if d < lo || d > hi {
			fail("%s = %s, outside %s to %s", name, d, lo, hi)
		}
	}
	host, port, err := net.SplitHostPort(c.Addr)
	if n, perr := strconv.Atoi(port); err != nil || perr != nil || n < 0 || n > 65535 {
		fail("address %q is not host:port", c.Addr)
	}
	switch {
	case c.BaseURL == nil || c.BaseURL.Host == "" || strings.Trim(c.BaseURL.Path, "/") != "" || c.BaseURL.RawQuery != "":
		fail("base URL %v", c.BaseURL)
	case c.Dev && (!isLoopbackHost(host) || !isLoopbackHost(c.BaseURL.Hostname())):
		fail("--dev reachable from elsewhere: %s, %s", c.Addr, c.BaseURL)
	case c.Dev && c.OIDCIssuer != c.BaseURL.JoinPath("/dev/oidc").String():
		fail("--dev issuer %s", c.OIDCIssuer)
	case !c.Dev && (c.BaseURL.Scheme != "https" || !strings.HasPrefix(c.OIDCIssuer, "https://") || len(c.SessionKey) < 32 ||
		c.DatabaseURL == "" || c.ProductDatabaseURL == "" || c.OIDCClientID == "" || c.OIDCClientSecret == "" ||
		c.AgreementVersion == "" || len(c.AuditSigningKey) != ed25519.PrivateKeySize || (c.MetricsToken == "" && c.MetricsAddr == "")):
		fail("production start with an unsafe or missing setting: %+v", c)
	}
	if len(c.AllowedDomains) == 0 {
		fail("nobody may sign in")
	}
	for _, d := range c.AllowedDomains {
		if d == "" || d != strings.ToLower(strings.TrimSpace(d)) || strings.Contains(d, ",") {
			fail("allowed domain %q", d)
		}
	}
	if c.MetricsAddr != "" {
		if h, _, err := net.SplitHostPort(c.MetricsAddr); err != nil || !isLoopbackHost(h) {
			fail("metrics address %q", c.MetricsAddr)
		}
	}
	if s := c.AuditStream; s != "" && s != "stdout" && !(strings.HasPrefix(s, "file:") && filepath.IsAbs(s[len("file:"):])) {
		fail("audit stream %q", s)
	}
	within("the checkpoint interval", c.AuditCheckpointEvery, time.Minute, 24*time.Hour)
	within("the break-glass window", c.BreakglassWindow, 5*time.Minute, 24*time.Hour)
	within("the detection interval", c.Detection.Every, time.Second, 5*time.Minute)
	within("the longest grant", c.Requests.MaxDuration, 30*time.Minute, 30*24*time.Hour)
	within("the approval wait", c.Requests.PendingFor, time.Hour, 14*24*time.Hour)
	within("the consent wait", c.Requests.ConsentFor, time.Hour, 14*24*time.Hour)
	within("training validity", c.Requests.Clearance.TrainingValidFor, models.Day, 1095*models.Day)
	if c.Requests.Ticket == nil || c.Requests.Clearance.Agreement != c.AgreementVersion {
		fail("request rules %+v", c.Requests)
	}
	if raw := lookup(environ, "GATEHOUSE_TICKET_PATTERN"); raw != "" {
		if _, err := regexp.Compile(raw); err != nil || c.Requests.Ticket.String() != "^(?:"+raw+")$" {
			fail("ticket pattern %q taken as %s (alone: %v)", raw, c.Requests.Ticket, err)
		}
	}
	r := c.Retention
	for _, d := range []time.Duration{r.CancelledKeep, r.FreeNotice, r.FreeMark, r.FreeDelete, r.DeletionRequestValid} {
		within("a retention period", d, models.Day, 3650*models.Day)
	}
	if err := r.Check(); err != nil {
		fail("retention: %v", err)
	}
	if c.SMTP.Port < 0 || c.SMTP.Port > 65535 || c.Company == "" || c.Company != strings.TrimSpace(c.Company) {
		fail("mail settings %+v, company %q", c.SMTP, c.Company)
	}
}

// lookup is the trimmed value of the last entry of name in environ.
func lookup(environ []string, name string) string {
	v := ""
	for _, kv := range environ {
		if k, val, _ := strings.Cut(kv, "="); k == name {
			v = strings.TrimSpace(val)
		}
	}
	return v
}

// writeConfig writes c back as the environment that sets every setting
// to its value.
func writeConfig(c Config) []string {
	env := map[string]string{
		"GATEHOUSE_ADDR": c.Addr, "GATEHOUSE_DATABASE_URL": c.DatabaseURL, "GATEHOUSE_PRODUCT_DB_URL": c.ProductDatabaseURL,
		"GATEHOUSE_BASE_URL": c.BaseURL.String(), "GATEHOUSE_ALLOWED_DOMAINS": strings.Join(c.AllowedDomains, ","),
		"GATEHOUSE_SESSION_KEY": string(c.SessionKey), "GATEHOUSE_AGREEMENT_VERSION": c.AgreementVersion,
		"GATEHOUSE_METRICS_TOKEN": c.MetricsToken, "GATEHOUSE_METRICS_ADDR": c.MetricsAddr, "GATEHOUSE_LOG_LEVEL": c.LogLevel.String(),
		"GATEHOUSE_AUDIT_STREAM": c.AuditStream, "GATEHOUSE_AUDIT_CHECKPOINT_EVERY": c.AuditCheckpointEvery.String(),
		"GATEHOUSE_SMTP_HOST": c.SMTP.Host, "GATEHOUSE_SMTP_USERNAME": c.SMTP.Username, "GATEHOUSE_SMTP_PASSWORD": c.SMTP.Password,
		"GATEHOUSE_SMTP_FROM": c.SMTP.From, "GATEHOUSE_SMTP_TLS": c.SMTP.TLS,
		"GATEHOUSE_REQUEST_MAX_DURATION": c.Requests.MaxDuration.String(), "GATEHOUSE_REQUEST_PENDING_FOR": c.Requests.PendingFor.String(),
		"GATEHOUSE_CONSENT_VALID_FOR": c.Requests.ConsentFor.String(), "GATEHOUSE_COMPANY_NAME": c.Company,
		"GATEHOUSE_BREAKGLASS_WINDOW":  c.BreakglassWindow.String(),
		"GATEHOUSE_DETECTION_EVERY":    c.Detection.Every.String(),
		"GATEHOUSE_TRAINING_VALID_FOR": fmt.Sprintf("%dd", c.Requests.Clearance.TrainingValidFor/models.Day),
	}
	if c.Dev {
		env["GATEHOUSE_DATA_DIR"] = c.DataDir
	} else {
		env["GATEHOUSE_OIDC_ISSUER"], env["GATEHOUSE_OIDC_CLIENT_ID"], env["GATEHOUSE_OIDC_CLIENT_SECRET"] = c.OIDCIssuer, c.OIDCClientID, c.OIDCClientSecret
	}
	var proxies []string
	for _, p := range c.TrustedProxies {
		proxies = append(proxies, p.String())
	}
	env["GATEHOUSE_TRUSTED_PROXIES"] = strings.Join(proxies, ",")
	if c.AuditSigningKey != nil {
		env["GATEHOUSE_AUDIT_SIGNING_KEY"] = base64.StdEncoding.EncodeToString(c.AuditSigningKey.Seed())
	}
	if c.SMTP.Port != 0 {
		env["GATEHOUSE_SMTP_PORT"] = strconv.Itoa(c.SMTP.Port)
	}
	if s := c.Requests.Ticket.String(); strings.HasPrefix(s, "^(?:") {
		env["GATEHOUSE_TICKET_PATTERN"] = strings.TrimSuffix(strings.TrimPrefix(s, "^(?:"), ")$")
	}
	for name, d := range map[string]time.Duration{
		"GATEHOUSE_RETENTION_CANCELLED_DAYS": c.Retention.CancelledKeep, "GATEHOUSE_RETENTION_FREE_NOTICE_DAYS": c.Retention.FreeNotice,
		"GATEHOUSE_RETENTION_FREE_MARK_DAYS": c.Retention.FreeMark, "GATEHOUSE_RETENTION_FREE_DELETE_DAYS": c.Retention.FreeDelete,
		"GATEHOUSE_DELETION_REQUEST_VALID_DAYS": c.Retention.DeletionRequestValid,
	} {
		env[name] = strconv.FormatInt(int64(d/models.Day), 10)
	}
	var out []string
	for _, k := range slices.Sorted(maps.Keys(env)) {
		out = append(out, k+"="+env[k])
	}
	return out
}

// comparable is c with what cannot be compared by value (the ticket
// expression, the base URL) as text, and --dev's random client secret
// left out.
func comparable(c Config) any {
	type view struct {
		Config
		Ticket, BaseURL string
	}
	v := view{Config: c, Ticket: c.Requests.Ticket.String(), BaseURL: c.BaseURL.String()}
	v.Requests.Ticket, v.Config.BaseURL = nil, nil
	if c.Dev {
		v.OIDCClientSecret = ""
	}
	return v
}
