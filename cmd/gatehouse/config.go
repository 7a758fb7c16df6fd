package main

import (
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"gatehouse/handlers"
	"gatehouse/mailer"
	"gatehouse/models"
)

// Config is every setting of the portal, from GATEHOUSE_* variables and
// the command's flags.
type Config struct {
	Dev                bool
	Addr               string
	DataDir            string // --dev only: where the SQLite files and dev keys live
	DatabaseURL        string
	ProductDatabaseURL string
	BaseURL            *url.URL
	OIDCIssuer         string
	OIDCClientID       string
	OIDCClientSecret   string
	AllowedDomains     []string
	SessionKey         []byte
	AgreementVersion   string
	TrustedProxies     []netip.Prefix
	MetricsToken       string
	// MetricsAddr, a loopback address, serves /metrics alone; the main
	// listener then does not.
	MetricsAddr string
	LogLevel    slog.Level
	// AuditSigningKey signs the audit chain's checkpoints; --dev keeps
	// one in the data directory.
	AuditSigningKey ed25519.PrivateKey
	// AuditStream is where every audit event and checkpoint is written as
	// a JSON line: "stdout", "file:/path", or "" for nowhere.
	AuditStream string
	// AuditCheckpointEvery is how often the running portal signs a
	// checkpoint of the chain's head (and it signs one when it stops).
	AuditCheckpointEvery time.Duration
	// SMTP is the mail server the outbox sends through (not used with
	// --dev, whose mail stays in the dev mailbox).
	SMTP mailer.Config
	// BreakglassWindow is how long a break-glass stays open.
	BreakglassWindow time.Duration
	// Requests are the access-request rules: ticket format, the longest
	// grant, how long a request waits for approval and a consent link for
	// a decision.
	Requests models.RequestPolicy
	// Company is the company's name as customers read it.
	Company string
	// Sessions and StepUpWindow are the session limits and how recent a
	// sign-in sensitive changes need; not settable, but defaulted here
	// with the rest.
	Sessions     models.SessionLimits
	StepUpWindow time.Duration
	// Retention is the data-retention policy's numbers.
	Retention models.RetentionPolicy
	// Detection is the detection rules and where alerts go.
	Detection Detection
	// SecurityTxt is what /.well-known/security.txt says (none when it
	// has no Contact).
	SecurityTxt handlers.SecurityTxt
	// Transparency is when owners get their workspace's transparency
	// report.
	Transparency models.TransparencyPolicy
	// AccessReviews is how often the periodic access review opens.
	AccessReviews models.ReviewEvery
}

// settings are the recognised variables; any other GATEHOUSE_* variable
// is refused, so a misspelt setting cannot silently fall back to a default.
var settings = []string{
	"GATEHOUSE_ADDR", "GATEHOUSE_DATA_DIR", "GATEHOUSE_DATABASE_URL", "GATEHOUSE_PRODUCT_DB_URL",
	"GATEHOUSE_BASE_URL", "GATEHOUSE_OIDC_ISSUER", "GATEHOUSE_OIDC_CLIENT_ID", "GATEHOUSE_OIDC_CLIENT_SECRET",
	"GATEHOUSE_ALLOWED_DOMAINS", "GATEHOUSE_SESSION_KEY", "GATEHOUSE_AGREEMENT_VERSION",
	"GATEHOUSE_TRUSTED_PROXIES", "GATEHOUSE_METRICS_TOKEN", "GATEHOUSE_METRICS_ADDR", "GATEHOUSE_LOG_LEVEL",
	"GATEHOUSE_AUDIT_SIGNING_KEY", "GATEHOUSE_AUDIT_STREAM", "GATEHOUSE_AUDIT_CHECKPOINT_EVERY",
	"GATEHOUSE_SMTP_HOST", "GATEHOUSE_SMTP_PORT", "GATEHOUSE_SMTP_USERNAME", "GATEHOUSE_SMTP_PASSWORD",
	"GATEHOUSE_SMTP_FROM", "GATEHOUSE_SMTP_TLS",
	"GATEHOUSE_TICKET_PATTERN", "GATEHOUSE_REQUEST_MAX_DURATION", "GATEHOUSE_REQUEST_PENDING_FOR", "GATEHOUSE_CONSENT_VALID_FOR",
	"GATEHOUSE_COMPANY_NAME",
	"GATEHOUSE_BREAKGLASS_WINDOW", "GATEHOUSE_TRAINING_VALID_FOR",
	"GATEHOUSE_RETENTION_CANCELLED_DAYS", "GATEHOUSE_RETENTION_FREE_NOTICE_DAYS", "GATEHOUSE_RETENTION_FREE_MARK_DAYS",
	"GATEHOUSE_RETENTION_FREE_DELETE_DAYS", "GATEHOUSE_DELETION_REQUEST_VALID_DAYS",
	"GATEHOUSE_DETECTION_EVERY", "GATEHOUSE_SECURITY_EMAIL", "GATEHOUSE_ALERT_WEBHOOK_URL", "GATEHOUSE_ALERT_WEBHOOK_SECRET",
	"GATEHOUSE_SECURITY_CONTACT", "GATEHOUSE_SECURITY_EXPIRES", "GATEHOUSE_SECURITY_POLICY", "GATEHOUSE_SECURITY_LANGUAGES",
	"GATEHOUSE_TRANSPARENCY_PERIOD", "GATEHOUSE_TRANSPARENCY_QUIET",
	"GATEHOUSE_ACCESS_REVIEW_EVERY",
}

// devOnly are settings that make sense only with --dev.
var devOnly = []string{"GATEHOUSE_DATA_DIR"}

const devAgreementVersion = "2026-1"

// loadConfig parses flags and environment, reporting every problem it
// finds at once as a configError. With a configError it also returns what
// it could parse, so that serve can add what a production start lacks
// (checkProduction) and name every problem in one refusal. Every setting
// left out takes its default here (models' Default* values).
func loadConfig(name string, args, environ []string, stderr io.Writer) (Config, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	dev := fs.Bool("dev", false, "development mode: embedded SQLite under ./.gatehouse, demo data, built-in identity provider")
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	env, problems := gatehouseSettings(environ)
	c := Config{
		Dev:                *dev,
		Addr:               env["GATEHOUSE_ADDR"],
		DatabaseURL:        env["GATEHOUSE_DATABASE_URL"],
		ProductDatabaseURL: env["GATEHOUSE_PRODUCT_DB_URL"],
		OIDCIssuer:         env["GATEHOUSE_OIDC_ISSUER"],
		OIDCClientID:       env["GATEHOUSE_OIDC_CLIENT_ID"],
		OIDCClientSecret:   env["GATEHOUSE_OIDC_CLIENT_SECRET"],
		SessionKey:         []byte(env["GATEHOUSE_SESSION_KEY"]),
		AgreementVersion:   env["GATEHOUSE_AGREEMENT_VERSION"],
		MetricsToken:       env["GATEHOUSE_METRICS_TOKEN"],
		Sessions:           models.DefaultSessionLimits(),
		StepUpWindow:       models.DefaultStepUpWindow,
	}
	problems = append(problems, c.parseAccess(env)...)
	problems = append(problems, c.parseMetrics(env)...)
	problems = append(problems, c.parseAudit(env)...)
	problems = append(problems, c.parseRequests(env)...)
	problems = append(problems, c.parseRetention(env)...)
	problems = append(problems, c.parseMail(env)...)
	problems = append(problems, c.parseDetection(env)...)
	problems = append(problems, c.parseSecurityTxt(env)...)
	problems = append(problems, c.parseTransparency(env)...)
	problems = append(problems, c.parseAccessReviews(env)...)
	if c.Dev {
		problems = append(problems, c.devDefaults(env)...)
	} else {
		problems = append(problems, c.productionDefaults(env)...)
	}
	// The request rules use the agreement --dev may only now have set.
	c.Requests.Clearance.Agreement = c.AgreementVersion
	if len(problems) > 0 {
		for i, p := range problems {
			problems[i] = oneLine(p)
		}
		return c, configError(problems)
	}
	return c, nil
}

// oneLine escapes the control characters of a problem that repeats a
// value, so that a value holding a newline cannot add a line of its own
// to the refusal.
func oneLine(p string) string {
	if !strings.ContainsFunc(p, unicode.IsControl) {
		return p
	}
	q := strconv.Quote(p)
	return q[1 : len(q)-1]
}

// gatehouseSettings picks the GATEHOUSE_* variables out of environ,
// naming each one that is not a setting.
func gatehouseSettings(environ []string) (map[string]string, []string) {
	env := map[string]string{}
	var problems []string
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(k, "GATEHOUSE_") || strings.HasPrefix(k, "GATEHOUSE_TEST_") {
			continue
		}
		if !slices.Contains(settings, k) {
			problems = append(problems, k+" is not a Gatehouse setting")
			continue
		}
		env[k] = strings.TrimSpace(v)
	}
	return env, problems
}

// parseAccess reads who may sign in and from where: the allowed domains,
// the trusted proxies, and the log level.
func (c *Config) parseAccess(env map[string]string) []string {
	var problems []string
	for _, d := range strings.Split(env["GATEHOUSE_ALLOWED_DOMAINS"], ",") {
		if d = strings.ToLower(strings.TrimSpace(d)); d != "" {
			c.AllowedDomains = append(c.AllowedDomains, d)
		}
	}
	for _, p := range strings.Split(env["GATEHOUSE_TRUSTED_PROXIES"], ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		pfx, err := netip.ParsePrefix(p)
		if err != nil {
			problems = append(problems, fmt.Sprintf("GATEHOUSE_TRUSTED_PROXIES: %q is not a CIDR range", p))
			continue
		}
		c.TrustedProxies = append(c.TrustedProxies, pfx)
	}
	if lvl := env["GATEHOUSE_LOG_LEVEL"]; lvl != "" {
		if err := c.LogLevel.UnmarshalText([]byte(lvl)); err != nil {
			problems = append(problems, "GATEHOUSE_LOG_LEVEL must be debug, info, warn or error")
		}
	}
	return problems
}

// parseAudit reads the audit signing key, where the audit stream goes and
// how often a checkpoint is signed.
func (c *Config) parseAudit(env map[string]string) []string {
	var problems []string
	if raw := env["GATEHOUSE_AUDIT_SIGNING_KEY"]; raw != "" {
		key, err := models.ParseSigningKey(raw)
		if err != nil {
			problems = append(problems, "GATEHOUSE_AUDIT_SIGNING_KEY: "+err.Error()+"; generate one with: openssl rand -base64 32")
		}
		c.AuditSigningKey = key
	}
	switch s := env["GATEHOUSE_AUDIT_STREAM"]; {
	case s == "" || s == "stdout":
		c.AuditStream = s
	case strings.HasPrefix(s, "file:") && filepath.IsAbs(strings.TrimPrefix(s, "file:")):
		c.AuditStream = s
	default:
		problems = append(problems, fmt.Sprintf("GATEHOUSE_AUDIT_STREAM=%s: want stdout, file:/absolute/path, or nothing", s))
	}
	c.AuditCheckpointEvery = models.DefaultCheckpointEvery
	if raw := env["GATEHOUSE_AUDIT_CHECKPOINT_EVERY"]; raw != "" {
		d, err := time.ParseDuration(raw)
		if err != nil || d < time.Minute || d > 24*time.Hour {
			problems = append(problems, fmt.Sprintf("GATEHOUSE_AUDIT_CHECKPOINT_EVERY=%s: want a duration from 1m to 24h, e.g. 5m", raw))
		} else {
			c.AuditCheckpointEvery = d
		}
	}
	return problems
}

// parseRequests reads the break-glass window and the access-request
// rules, each defaulting to models' values.
func (c *Config) parseRequests(env map[string]string) []string {
	var problems []string
	c.BreakglassWindow = models.DefaultBreakglassWindow
	if raw := env["GATEHOUSE_BREAKGLASS_WINDOW"]; raw != "" {
		d, err := time.ParseDuration(raw)
		if err != nil || d < 5*time.Minute || d > 24*time.Hour {
			problems = append(problems, fmt.Sprintf("GATEHOUSE_BREAKGLASS_WINDOW=%s: want a duration from 5m to 24h, e.g. 1h or 90m", raw))
		}
		c.BreakglassWindow = d
	}
	c.Requests = models.DefaultRequestPolicy(c.AgreementVersion)
	if raw := env["GATEHOUSE_TICKET_PATTERN"]; raw != "" {
		// raw must be an expression by itself: wrapped as is, "A)|(B"
		// would compile into one no longer anchored at both ends.
		_, err := regexp.Compile(raw)
		re, werr := regexp.Compile("^(?:" + raw + ")$")
		if err != nil || werr != nil || len(raw) > 200 {
			problems = append(problems, fmt.Sprintf("GATEHOUSE_TICKET_PATTERN=%s: not a regular expression (e.g. [A-Z]+-[0-9]+)", raw))
		} else {
			c.Requests.Ticket = re
		}
	}
	for _, d := range []struct {
		name     string
		to       *time.Duration
		min, max time.Duration
	}{
		{"GATEHOUSE_REQUEST_MAX_DURATION", &c.Requests.MaxDuration, 30 * time.Minute, 30 * 24 * time.Hour},
		{"GATEHOUSE_REQUEST_PENDING_FOR", &c.Requests.PendingFor, time.Hour, 14 * 24 * time.Hour},
		{"GATEHOUSE_CONSENT_VALID_FOR", &c.Requests.ConsentFor, time.Hour, 14 * 24 * time.Hour},
	} {
		raw := env[d.name]
		if raw == "" {
			continue
		}
		v, err := time.ParseDuration(raw)
		if err != nil || v < d.min || v > d.max {
			problems = append(problems, fmt.Sprintf("%s=%s: want a duration from %s to %s, e.g. 72h", d.name, raw, d.min, d.max))
			continue
		}
		*d.to = v
	}
	if raw := env["GATEHOUSE_TRAINING_VALID_FOR"]; raw != "" {
		d, ok := parseDays(raw)
		if !ok || d < models.Day || d > 3*365*models.Day {
			problems = append(problems, fmt.Sprintf("GATEHOUSE_TRAINING_VALID_FOR=%s: want a number of days from 1d to 1095d, e.g. 365d", raw))
		} else {
			c.Requests.Clearance.TrainingValidFor = d
		}
	}
	return problems
}

// parseDays reads a whole number of days written like 365d.
func parseDays(raw string) (time.Duration, bool) {
	digits, ok := strings.CutSuffix(raw, "d")
	n, err := strconv.Atoi(digits)
	if !ok || err != nil || n < 0 || n > 100000 {
		return 0, false
	}
	return time.Duration(n) * models.Day, true
}

// parseMail reads the company's name and the SMTP server.
func (c *Config) parseMail(env map[string]string) []string {
	c.Company = strings.TrimSpace(env["GATEHOUSE_COMPANY_NAME"])
	if c.Company == "" {
		c.Company = models.DefaultCompany
	}
	c.SMTP = mailer.Config{
		Host:     env["GATEHOUSE_SMTP_HOST"],
		Username: env["GATEHOUSE_SMTP_USERNAME"],
		Password: env["GATEHOUSE_SMTP_PASSWORD"],
		From:     env["GATEHOUSE_SMTP_FROM"],
		TLS:      strings.ToLower(env["GATEHOUSE_SMTP_TLS"]),
	}
	if raw := env["GATEHOUSE_SMTP_PORT"]; raw != "" {
		port, err := strconv.Atoi(raw)
		if err != nil || port < 1 || port > 65535 {
			return []string{fmt.Sprintf("GATEHOUSE_SMTP_PORT=%s: want a port number (587 for STARTTLS, 465 for TLS)", raw)}
		}
		c.SMTP.Port = port
	}
	return nil
}

// productionDefaults refuses the development-only settings and fills the
// address and base URL of a production start.
func (c *Config) productionDefaults(env map[string]string) []string {
	var problems []string
	for _, k := range devOnly {
		if _, ok := env[k]; ok {
			problems = append(problems, k+" is a development setting and is refused without --dev")
		}
	}
	if c.Addr == "" {
		c.Addr = ":8080"
	}
	if _, _, ok := splitAddr(c.Addr); !ok {
		problems = append(problems, fmt.Sprintf("GATEHOUSE_ADDR=%s: want host:port, e.g. :8080 or 10.0.0.5:8080", c.Addr))
	}
	if raw := env["GATEHOUSE_BASE_URL"]; raw != "" {
		var problem string
		if c.BaseURL, problem = parseBaseURL(raw); problem != "" {
			problems = append(problems, problem)
		}
	}
	return problems
}

// parseRetention reads the retention policy's numbers (whole days), each
// defaulting to the company policy's; the steps must stay in order.
func (c *Config) parseRetention(env map[string]string) []string {
	c.Retention = models.DefaultRetentionPolicy()
	var problems []string
	for _, d := range []struct {
		name string
		to   *time.Duration
	}{
		{"GATEHOUSE_RETENTION_CANCELLED_DAYS", &c.Retention.CancelledKeep},
		{"GATEHOUSE_RETENTION_FREE_NOTICE_DAYS", &c.Retention.FreeNotice},
		{"GATEHOUSE_RETENTION_FREE_MARK_DAYS", &c.Retention.FreeMark},
		{"GATEHOUSE_RETENTION_FREE_DELETE_DAYS", &c.Retention.FreeDelete},
		{"GATEHOUSE_DELETION_REQUEST_VALID_DAYS", &c.Retention.DeletionRequestValid},
	} {
		raw := env[d.name]
		if raw == "" {
			continue
		}
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > 3650 {
			problems = append(problems, fmt.Sprintf("%s=%s: want a whole number of days from 1 to 3650", d.name, raw))
			continue
		}
		*d.to = time.Duration(n) * models.Day
	}
	if len(problems) == 0 {
		if err := c.Retention.Check(); err != nil {
			problems = append(problems, "GATEHOUSE_RETENTION_FREE_NOTICE_DAYS, _MARK_DAYS and _DELETE_DAYS must grow in that order: "+err.Error())
		}
	}
	return problems
}

// checkProduction names every setting a production start lacks or has
// unsafely.
func (c Config) checkProduction() error {
	var p []string
	if c.DatabaseURL == "" {
		p = append(p, "GATEHOUSE_DATABASE_URL is missing")
	}
	if c.ProductDatabaseURL == "" {
		p = append(p, "GATEHOUSE_PRODUCT_DB_URL is missing")
	}
	switch {
	case c.BaseURL == nil:
		p = append(p, "GATEHOUSE_BASE_URL is missing")
	case c.BaseURL.Scheme != "https":
		p = append(p, "GATEHOUSE_BASE_URL must be https:// (session cookies are Secure and __Host- prefixed)")
	}
	switch u, err := url.Parse(c.OIDCIssuer); {
	case c.OIDCIssuer == "":
		p = append(p, "GATEHOUSE_OIDC_ISSUER is missing (https://accounts.google.com for Google)")
	case err != nil || u.Scheme != "https" || u.Host == "":
		p = append(p, "GATEHOUSE_OIDC_ISSUER must be an https:// URL")
	case strings.Contains(u.Path, "/dev/oidc"):
		p = append(p, "GATEHOUSE_OIDC_ISSUER points at the development identity provider, which exists only with --dev")
	}
	if c.OIDCClientID == "" {
		p = append(p, "GATEHOUSE_OIDC_CLIENT_ID is missing")
	}
	if c.OIDCClientSecret == "" {
		p = append(p, "GATEHOUSE_OIDC_CLIENT_SECRET is missing")
	}
	if len(c.AllowedDomains) == 0 {
		p = append(p, "GATEHOUSE_ALLOWED_DOMAINS is empty (the company's Google Workspace domains, comma-separated)")
	}
	if len(c.SessionKey) < 32 {
		p = append(p, fmt.Sprintf("GATEHOUSE_SESSION_KEY must be at least 32 bytes (has %d); generate one with: openssl rand -base64 48", len(c.SessionKey)))
	}
	if c.AgreementVersion == "" {
		p = append(p, "GATEHOUSE_AGREEMENT_VERSION is missing (the current confidentiality agreement's version)")
	}
	if c.AuditSigningKey == nil {
		p = append(p, "GATEHOUSE_AUDIT_SIGNING_KEY is missing (signs the audit log's checkpoints; generate one with: openssl rand -base64 32)")
	}
	p = append(p, c.SMTP.Check()...)
	p = append(p, c.checkMetrics()...)
	if len(p) > 0 {
		return configError(p)
	}
	return nil
}

type configError []string

func (e configError) Error() string {
	return "configuration refused:\n  - " + strings.Join(e, "\n  - ")
}

// joinProblems adds the problems of more to those of err, one message per
// setting: a setting err already names (say, a base URL that is not a
// URL) is not named again (as missing). An err that is not a
// configError (a bad flag) is returned alone.
func joinProblems(err, more error) error {
	var have, add configError
	if err != nil && !errors.As(err, &have) {
		return err
	}
	errors.As(more, &add)
	named := map[string]bool{}
	for _, p := range have {
		named[settingOf(p)] = true
	}
	for _, p := range add {
		if !named[settingOf(p)] {
			have = append(have, p)
		}
	}
	if len(have) == 0 {
		return nil
	}
	return have
}

// settingOf is the GATEHOUSE_* name a problem message starts with.
func settingOf(problem string) string {
	end := strings.IndexAny(problem, " :")
	if end < 0 {
		return problem
	}
	return problem[:end]
}
