package main

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"io"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"gatehouse/models"
)

// productionEnv is a complete, valid production environment. Each
// refusal test breaks exactly one thing in it. (It has a metrics token
// since production refuses to start without one or a loopback metrics
// address.)
func productionEnv() map[string]string {
	return map[string]string{
		"GATEHOUSE_BASE_URL":           "https://gatehouse.example.com",
		"GATEHOUSE_OIDC_ISSUER":        "https://accounts.google.com",
		"GATEHOUSE_OIDC_CLIENT_ID":     "1234.apps.googleusercontent.com",
		"GATEHOUSE_OIDC_CLIENT_SECRET": "GOCSPX-not-a-real-secret",
		"GATEHOUSE_ALLOWED_DOMAINS":    "example.com, example.org",
		"GATEHOUSE_SESSION_KEY":        strings.Repeat("k", 48),
		"GATEHOUSE_DATABASE_URL":       "postgres://gatehouse@db.internal:5432/gatehouse",
		"GATEHOUSE_PRODUCT_DB_URL":     "postgres://reader@db.internal:5432/product",
		"GATEHOUSE_AGREEMENT_VERSION":  "2026-1",
		"GATEHOUSE_AUDIT_SIGNING_KEY":  base64.StdEncoding.EncodeToString([]byte(strings.Repeat("s", 32))),
		"GATEHOUSE_SMTP_HOST":          "smtp.example.com",
		"GATEHOUSE_SMTP_FROM":          "Gatehouse <gatehouse@example.com>",
		"GATEHOUSE_METRICS_TOKEN":      strings.Repeat("m", 32),
	}
}

// environ turns a map into os.Environ form, sorted so failures repeat.
func environ(m map[string]string) []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, k+"="+m[k])
	}
	return out
}

// problemsOf returns the named problems of a refused configuration, or
// fails the test when err is not a configuration refusal.
func problemsOf(t *testing.T, err error) []string {
	t.Helper()
	var ce configError
	if !errors.As(err, &ce) {
		t.Fatalf("error = %v (%T), want a configuration refusal", err, err)
	}
	return ce
}

func TestConfigProductionRefusesEachUnsafeSetting(t *testing.T) {
	tests := []struct {
		name   string
		change func(env map[string]string)
		want   string // the one problem must contain this
	}{
		{"issuer missing", func(e map[string]string) { delete(e, "GATEHOUSE_OIDC_ISSUER") }, "GATEHOUSE_OIDC_ISSUER is missing"},
		{"issuer empty", func(e map[string]string) { e["GATEHOUSE_OIDC_ISSUER"] = "  " }, "GATEHOUSE_OIDC_ISSUER is missing"},
		{"issuer http", func(e map[string]string) { e["GATEHOUSE_OIDC_ISSUER"] = "http://accounts.google.com" }, "GATEHOUSE_OIDC_ISSUER must be an https:// URL"},
		{"issuer without host", func(e map[string]string) { e["GATEHOUSE_OIDC_ISSUER"] = "https:///oidc" }, "GATEHOUSE_OIDC_ISSUER must be an https:// URL"},
		{"issuer is the dev provider", func(e map[string]string) {
			e["GATEHOUSE_OIDC_ISSUER"] = "https://gatehouse.example.com/dev/oidc"
		}, "GATEHOUSE_OIDC_ISSUER points at the development identity provider"},
		{"client id missing", func(e map[string]string) { delete(e, "GATEHOUSE_OIDC_CLIENT_ID") }, "GATEHOUSE_OIDC_CLIENT_ID is missing"},
		{"client secret missing", func(e map[string]string) { delete(e, "GATEHOUSE_OIDC_CLIENT_SECRET") }, "GATEHOUSE_OIDC_CLIENT_SECRET is missing"},
		{"allowed domains unset", func(e map[string]string) { delete(e, "GATEHOUSE_ALLOWED_DOMAINS") }, "GATEHOUSE_ALLOWED_DOMAINS is empty"},
		{"allowed domains only separators", func(e map[string]string) { e["GATEHOUSE_ALLOWED_DOMAINS"] = ", ," }, "GATEHOUSE_ALLOWED_DOMAINS is empty"},
		{"session key missing", func(e map[string]string) { delete(e, "GATEHOUSE_SESSION_KEY") }, "GATEHOUSE_SESSION_KEY must be at least 32 bytes (has 0)"},
		{"session key 31 bytes", func(e map[string]string) { e["GATEHOUSE_SESSION_KEY"] = strings.Repeat("k", 31) }, "GATEHOUSE_SESSION_KEY must be at least 32 bytes (has 31)"},
		{"base URL http", func(e map[string]string) { e["GATEHOUSE_BASE_URL"] = "http://gatehouse.example.com" }, "GATEHOUSE_BASE_URL must be https://"},
		{"base URL missing", func(e map[string]string) { delete(e, "GATEHOUSE_BASE_URL") }, "GATEHOUSE_BASE_URL is missing"},
		{"base URL not a URL", func(e map[string]string) { e["GATEHOUSE_BASE_URL"] = "gatehouse.example.com" }, "GATEHOUSE_BASE_URL is not a URL"},
		{"base URL with a path", func(e map[string]string) { e["GATEHOUSE_BASE_URL"] = "https://example.com/gatehouse" }, "GATEHOUSE_BASE_URL must be scheme://host[:port] with no path"},
		{"base URL with a query", func(e map[string]string) { e["GATEHOUSE_BASE_URL"] = "https://gatehouse.example.com/?x=1" }, "GATEHOUSE_BASE_URL must be scheme://host[:port] with no path"},
		{"metrics token missing", func(e map[string]string) { delete(e, "GATEHOUSE_METRICS_TOKEN") }, "GATEHOUSE_METRICS_TOKEN is missing"},
		{"metrics address on every interface", func(e map[string]string) { e["GATEHOUSE_METRICS_ADDR"] = ":9090" }, "GATEHOUSE_METRICS_ADDR must be a loopback host:port"},
		{"metrics address on 0.0.0.0", func(e map[string]string) { e["GATEHOUSE_METRICS_ADDR"] = "0.0.0.0:9090" }, "GATEHOUSE_METRICS_ADDR must be a loopback host:port"},
		{"metrics address on another machine's name", func(e map[string]string) { e["GATEHOUSE_METRICS_ADDR"] = "metrics.example.com:9090" }, "GATEHOUSE_METRICS_ADDR must be a loopback host:port"},
		{"metrics address without port", func(e map[string]string) { e["GATEHOUSE_METRICS_ADDR"] = "127.0.0.1" }, "GATEHOUSE_METRICS_ADDR must be a loopback host:port"},
		{"metrics address on another machine", func(e map[string]string) { e["GATEHOUSE_METRICS_ADDR"] = "192.0.2.10:9090" }, "GATEHOUSE_METRICS_ADDR must be a loopback host:port"},
		{"dev-only data dir", func(e map[string]string) { e["GATEHOUSE_DATA_DIR"] = "/var/lib/gatehouse" }, "GATEHOUSE_DATA_DIR is a development setting"},
		{"unknown setting", func(e map[string]string) { e["GATEHOUSE_FOO"] = "bar" }, "GATEHOUSE_FOO is not a Gatehouse setting"},
		{"misspelt setting", func(e map[string]string) { e["GATEHOUSE_SESION_KEY"] = strings.Repeat("k", 48) }, "GATEHOUSE_SESION_KEY is not a Gatehouse setting"},
		{"database URL missing", func(e map[string]string) { delete(e, "GATEHOUSE_DATABASE_URL") }, "GATEHOUSE_DATABASE_URL is missing"},
		{"product database URL missing", func(e map[string]string) { delete(e, "GATEHOUSE_PRODUCT_DB_URL") }, "GATEHOUSE_PRODUCT_DB_URL is missing"},
		{"agreement version missing", func(e map[string]string) { delete(e, "GATEHOUSE_AGREEMENT_VERSION") }, "GATEHOUSE_AGREEMENT_VERSION is missing"},
		{"trusted proxy not a CIDR", func(e map[string]string) { e["GATEHOUSE_TRUSTED_PROXIES"] = "10.0.0.0/8, 10.1.2.3" }, `GATEHOUSE_TRUSTED_PROXIES: "10.1.2.3" is not a CIDR range`},
		{"log level unknown", func(e map[string]string) { e["GATEHOUSE_LOG_LEVEL"] = "verbose" }, "GATEHOUSE_LOG_LEVEL must be"},
		{"address without port", func(e map[string]string) { e["GATEHOUSE_ADDR"] = "gatehouse" }, "GATEHOUSE_ADDR=gatehouse: want host:port"},
		{"address with a port name", func(e map[string]string) { e["GATEHOUSE_ADDR"] = ":http" }, "GATEHOUSE_ADDR=:http: want host:port"},
		{"ticket pattern that unbalances its anchors", func(e map[string]string) { e["GATEHOUSE_TICKET_PATTERN"] = "SUP-[0-9]+)|(OPS" }, "GATEHOUSE_TICKET_PATTERN=SUP-[0-9]+)|(OPS: not a regular expression"},
		{"value with a newline", func(e map[string]string) { e["GATEHOUSE_BREAKGLASS_WINDOW"] = "1h\nGATEHOUSE_X: fine" }, `GATEHOUSE_BREAKGLASS_WINDOW=1h\nGATEHOUSE_X: fine: want`},
		{"audit signing key missing", func(e map[string]string) { delete(e, "GATEHOUSE_AUDIT_SIGNING_KEY") }, "GATEHOUSE_AUDIT_SIGNING_KEY is missing"},
		{"security address not an address", func(e map[string]string) { e["GATEHOUSE_SECURITY_EMAIL"] = "Security <sec@example.com>" }, "GATEHOUSE_SECURITY_EMAIL=Security <sec@example.com>: want one plain address"},
		{"webhook over http", func(e map[string]string) {
			e["GATEHOUSE_ALERT_WEBHOOK_URL"], e["GATEHOUSE_ALERT_WEBHOOK_SECRET"] = "http://hooks.example.com/x", strings.Repeat("w", 32)
		}, "GATEHOUSE_ALERT_WEBHOOK_URL: alerts leave only over https://"},
		{"webhook with credentials", func(e map[string]string) {
			e["GATEHOUSE_ALERT_WEBHOOK_URL"], e["GATEHOUSE_ALERT_WEBHOOK_SECRET"] = "https://u:p@hooks.example.com/x", strings.Repeat("w", 32)
		}, "GATEHOUSE_ALERT_WEBHOOK_URL: want an absolute https:// URL without credentials"},
		{"webhook secret short", func(e map[string]string) {
			e["GATEHOUSE_ALERT_WEBHOOK_URL"], e["GATEHOUSE_ALERT_WEBHOOK_SECRET"] = "https://hooks.example.com/x", strings.Repeat("w", 31)
		}, "GATEHOUSE_ALERT_WEBHOOK_SECRET: want at least 32 characters"},
		{"webhook secret without a URL", func(e map[string]string) { e["GATEHOUSE_ALERT_WEBHOOK_SECRET"] = strings.Repeat("w", 32) }, "GATEHOUSE_ALERT_WEBHOOK_SECRET is set without GATEHOUSE_ALERT_WEBHOOK_URL"},
		{"audit signing key short", func(e map[string]string) {
			e["GATEHOUSE_AUDIT_SIGNING_KEY"] = base64.StdEncoding.EncodeToString(make([]byte, 31))
		}, "GATEHOUSE_AUDIT_SIGNING_KEY: want the base64 of a 32-byte ed25519 seed"},
		{"audit signing key not base64", func(e map[string]string) { e["GATEHOUSE_AUDIT_SIGNING_KEY"] = "not base64!" }, "GATEHOUSE_AUDIT_SIGNING_KEY: want the base64"},
		{"audit stream relative file", func(e map[string]string) { e["GATEHOUSE_AUDIT_STREAM"] = "file:audit.log" }, "GATEHOUSE_AUDIT_STREAM=file:audit.log: want stdout"},
		{"audit stream unknown", func(e map[string]string) { e["GATEHOUSE_AUDIT_STREAM"] = "syslog" }, "GATEHOUSE_AUDIT_STREAM=syslog: want stdout"},
		{"checkpoint interval not a duration", func(e map[string]string) { e["GATEHOUSE_AUDIT_CHECKPOINT_EVERY"] = "5 min" }, "GATEHOUSE_AUDIT_CHECKPOINT_EVERY=5 min: want a duration from 1m to 24h"},
		{"checkpoint interval too short", func(e map[string]string) { e["GATEHOUSE_AUDIT_CHECKPOINT_EVERY"] = "59s" }, "GATEHOUSE_AUDIT_CHECKPOINT_EVERY=59s: want a duration from 1m to 24h"},
		{"checkpoint interval too long", func(e map[string]string) { e["GATEHOUSE_AUDIT_CHECKPOINT_EVERY"] = "25h" }, "GATEHOUSE_AUDIT_CHECKPOINT_EVERY=25h: want a duration from 1m to 24h"},
		{"break-glass window not a duration", func(e map[string]string) { e["GATEHOUSE_BREAKGLASS_WINDOW"] = "1 hour" }, "GATEHOUSE_BREAKGLASS_WINDOW=1 hour: want a duration from 5m to 24h"},
		{"break-glass window too short", func(e map[string]string) { e["GATEHOUSE_BREAKGLASS_WINDOW"] = "4m" }, "GATEHOUSE_BREAKGLASS_WINDOW=4m: want a duration from 5m to 24h"},
		{"break-glass window too long", func(e map[string]string) { e["GATEHOUSE_BREAKGLASS_WINDOW"] = "25h" }, "GATEHOUSE_BREAKGLASS_WINDOW=25h: want a duration from 5m to 24h"},
		{"detection interval not a duration", func(e map[string]string) { e["GATEHOUSE_DETECTION_EVERY"] = "10" }, "GATEHOUSE_DETECTION_EVERY=10: want a duration from 1s to 5m"},
		{"detection interval too short", func(e map[string]string) { e["GATEHOUSE_DETECTION_EVERY"] = "999ms" }, "GATEHOUSE_DETECTION_EVERY=999ms: want a duration from 1s to 5m"},
		{"detection interval too long", func(e map[string]string) { e["GATEHOUSE_DETECTION_EVERY"] = "5m1s" }, "GATEHOUSE_DETECTION_EVERY=5m1s: want a duration from 1s to 5m"},
		{"detection interval negative", func(e map[string]string) { e["GATEHOUSE_DETECTION_EVERY"] = "-10s" }, "GATEHOUSE_DETECTION_EVERY=-10s: want a duration from 1s to 5m"},
		{"training validity in hours", func(e map[string]string) { e["GATEHOUSE_TRAINING_VALID_FOR"] = "8760h" }, "GATEHOUSE_TRAINING_VALID_FOR=8760h: want a number of days from 1d to 1095d"},
		{"training validity of no days", func(e map[string]string) { e["GATEHOUSE_TRAINING_VALID_FOR"] = "0d" }, "GATEHOUSE_TRAINING_VALID_FOR=0d: want a number of days"},
		{"training validity over three years", func(e map[string]string) { e["GATEHOUSE_TRAINING_VALID_FOR"] = "1096d" }, "GATEHOUSE_TRAINING_VALID_FOR=1096d: want a number of days"},
		{"training validity negative", func(e map[string]string) { e["GATEHOUSE_TRAINING_VALID_FOR"] = "-5d" }, "GATEHOUSE_TRAINING_VALID_FOR=-5d: want a number of days"},
		{"retention days not a number", func(e map[string]string) { e["GATEHOUSE_RETENTION_CANCELLED_DAYS"] = "90d" }, "GATEHOUSE_RETENTION_CANCELLED_DAYS=90d: want a whole number of days"},
		{"retention days zero", func(e map[string]string) { e["GATEHOUSE_DELETION_REQUEST_VALID_DAYS"] = "0" }, "GATEHOUSE_DELETION_REQUEST_VALID_DAYS=0: want a whole number of days from 1 to 3650"},
		{"retention steps out of order", func(e map[string]string) { e["GATEHOUSE_RETENTION_FREE_MARK_DAYS"] = "300" }, "must grow in that order"},
		{"smtp host missing", func(e map[string]string) { delete(e, "GATEHOUSE_SMTP_HOST") }, "GATEHOUSE_SMTP_HOST is missing"},
		{"smtp from missing", func(e map[string]string) { delete(e, "GATEHOUSE_SMTP_FROM") }, "GATEHOUSE_SMTP_FROM is missing"},
		{"smtp from not an address", func(e map[string]string) { e["GATEHOUSE_SMTP_FROM"] = "gatehouse" }, "GATEHOUSE_SMTP_FROM is missing or not an address"},
		{"smtp port not a number", func(e map[string]string) { e["GATEHOUSE_SMTP_PORT"] = "smtp" }, "GATEHOUSE_SMTP_PORT=smtp: want a port number"},
		{"smtp port out of range", func(e map[string]string) { e["GATEHOUSE_SMTP_PORT"] = "70000" }, "GATEHOUSE_SMTP_PORT=70000: want a port number"},
		{"smtp tls unknown", func(e map[string]string) { e["GATEHOUSE_SMTP_TLS"] = "ssl" }, "GATEHOUSE_SMTP_TLS must be starttls, tls or none"},
		{"smtp in clear to another machine", func(e map[string]string) { e["GATEHOUSE_SMTP_TLS"] = "none" }, "GATEHOUSE_SMTP_TLS=none is allowed only for a server on this machine"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := productionEnv()
			tt.change(env)
			var stdout, stderr strings.Builder
			err := run(context.Background(), []string{"serve"}, environ(env), &stdout, &stderr)
			got := problemsOf(t, err)
			if len(got) != 1 || !strings.Contains(got[0], tt.want) {
				t.Errorf("serve refused with %q, want exactly one problem containing %q", got, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error text %q does not name %q", err, tt.want)
			}
			if stdout.Len() != 0 {
				t.Errorf("refused start printed %q, want nothing", stdout.String())
			}
		})
	}
}

func TestConfigProductionAccepted(t *testing.T) {
	tests := []struct {
		name   string
		change func(env map[string]string)
	}{
		{"complete", func(map[string]string) {}},
		{"session key of exactly 32 bytes", func(e map[string]string) { e["GATEHOUSE_SESSION_KEY"] = strings.Repeat("k", 32) }},
		{"trusted proxies", func(e map[string]string) { e["GATEHOUSE_TRUSTED_PROXIES"] = "10.0.0.0/8, fd00::/8" }},
		{"test variables are not settings", func(e map[string]string) { e["GATEHOUSE_TEST_PG"] = "postgres://x" }},
		{"audit stream to stdout", func(e map[string]string) { e["GATEHOUSE_AUDIT_STREAM"] = "stdout" }},
		{"break-glass window of 90 minutes", func(e map[string]string) { e["GATEHOUSE_BREAKGLASS_WINDOW"] = "90m" }},
		{"retention numbers", func(e map[string]string) {
			e["GATEHOUSE_RETENTION_CANCELLED_DAYS"], e["GATEHOUSE_RETENTION_FREE_NOTICE_DAYS"] = "60", "100"
			e["GATEHOUSE_RETENTION_FREE_MARK_DAYS"], e["GATEHOUSE_RETENTION_FREE_DELETE_DAYS"], e["GATEHOUSE_DELETION_REQUEST_VALID_DAYS"] = "120", "200", "7"
		}},
		{"smtp over tls with login", func(e map[string]string) {
			e["GATEHOUSE_SMTP_TLS"], e["GATEHOUSE_SMTP_PORT"], e["GATEHOUSE_SMTP_USERNAME"], e["GATEHOUSE_SMTP_PASSWORD"] = "tls", "465", "gatehouse", "secret"
		}},
		{"smtp in clear to a relay on this machine", func(e map[string]string) {
			e["GATEHOUSE_SMTP_HOST"], e["GATEHOUSE_SMTP_TLS"], e["GATEHOUSE_SMTP_PORT"] = "127.0.0.1", "none", "25"
		}},
		{"audit stream to a file", func(e map[string]string) { e["GATEHOUSE_AUDIT_STREAM"] = "file:/var/log/gatehouse/audit.jsonl" }},
		{"base URL with a trailing slash", func(e map[string]string) { e["GATEHOUSE_BASE_URL"] = "https://gatehouse.example.com/" }},
		{"metrics on a loopback address, without token", func(e map[string]string) {
			delete(e, "GATEHOUSE_METRICS_TOKEN")
			e["GATEHOUSE_METRICS_ADDR"] = "127.0.0.1:9090"
		}},
		{"metrics on ::1 with a token", func(e map[string]string) { e["GATEHOUSE_METRICS_ADDR"] = "[::1]:9090" }},
		{"metrics on localhost", func(e map[string]string) {
			delete(e, "GATEHOUSE_METRICS_TOKEN")
			e["GATEHOUSE_METRICS_ADDR"] = "localhost:9090"
		}},
		{"audit signing key in URL base64 without padding", func(e map[string]string) {
			e["GATEHOUSE_AUDIT_SIGNING_KEY"] = base64.RawURLEncoding.EncodeToString([]byte(strings.Repeat("s", 32)))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := productionEnv()
			tt.change(env)
			cfg, err := loadConfig("serve", nil, environ(env), io.Discard)
			if err != nil {
				t.Fatalf("loadConfig: %v", err)
			}
			if err := cfg.checkProduction(); err != nil {
				t.Fatalf("checkProduction: %v", err)
			}
			if cfg.Dev {
				t.Error("Dev = true without --dev")
			}
		})
	}
}

// TestConfigTrainingValidFor: training counts 365 days unless set, and
// the setting reaches the clearance every check uses.
func TestConfigTrainingValidFor(t *testing.T) {
	for raw, want := range map[string]time.Duration{"": 365 * models.Day, "1d": models.Day, "90d": 90 * models.Day, "1095d": 1095 * models.Day} {
		env := productionEnv()
		if raw != "" {
			env["GATEHOUSE_TRAINING_VALID_FOR"] = raw
		}
		cfg, err := loadConfig("serve", nil, environ(env), io.Discard)
		if err != nil {
			t.Fatalf("GATEHOUSE_TRAINING_VALID_FOR=%q: %v", raw, err)
		}
		if got := cfg.Requests.Clearance; got.TrainingValidFor != want || got.Agreement != env["GATEHOUSE_AGREEMENT_VERSION"] {
			t.Errorf("GATEHOUSE_TRAINING_VALID_FOR=%q: clearance %+v, want training valid for %v and agreement %q", raw, got, want, env["GATEHOUSE_AGREEMENT_VERSION"])
		}
	}
}

func TestConfigProductionValues(t *testing.T) {
	cfg, err := loadConfig("serve", nil, environ(productionEnv()), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	type summary struct {
		Addr, BaseURL, Issuer, ClientID, DatabaseURL, ProductDatabaseURL, AgreementVersion, DataDir string
		AllowedDomains                                                                              []string
		SessionKeyLen                                                                               int
	}
	got := summary{
		Addr: cfg.Addr, BaseURL: cfg.BaseURL.String(), Issuer: cfg.OIDCIssuer, ClientID: cfg.OIDCClientID,
		DatabaseURL: cfg.DatabaseURL, ProductDatabaseURL: cfg.ProductDatabaseURL, AgreementVersion: cfg.AgreementVersion,
		DataDir: cfg.DataDir, AllowedDomains: cfg.AllowedDomains, SessionKeyLen: len(cfg.SessionKey),
	}
	want := summary{
		Addr: ":8080", BaseURL: "https://gatehouse.example.com", Issuer: "https://accounts.google.com",
		ClientID: "1234.apps.googleusercontent.com", DatabaseURL: "postgres://gatehouse@db.internal:5432/gatehouse",
		ProductDatabaseURL: "postgres://reader@db.internal:5432/product", AgreementVersion: "2026-1",
		AllowedDomains: []string{"example.com", "example.org"}, SessionKeyLen: 48,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("production config:\n got %+v\nwant %+v", got, want)
	}
}

// A start with several problems names all of them at once, so an operator
// does not fix them one restart at a time.
func TestConfigNamesEveryProblemAtOnce(t *testing.T) {
	env := productionEnv()
	delete(env, "GATEHOUSE_OIDC_ISSUER")
	delete(env, "GATEHOUSE_OIDC_CLIENT_SECRET")
	env["GATEHOUSE_BASE_URL"] = "http://gatehouse.example.com"
	env["GATEHOUSE_SESSION_KEY"] = "short"
	env["GATEHOUSE_ALLOWED_DOMAINS"] = " "
	env["GATEHOUSE_FOO"] = "bar"
	env["GATEHOUSE_DATA_DIR"] = "/tmp/x"
	env["GATEHOUSE_TRUSTED_PROXIES"] = "nonsense"
	err := run(context.Background(), []string{"serve"}, environ(env), io.Discard, io.Discard)
	got := problemsOf(t, err)
	for _, want := range []string{
		"GATEHOUSE_OIDC_ISSUER is missing", "GATEHOUSE_OIDC_CLIENT_SECRET is missing", "GATEHOUSE_BASE_URL must be https://",
		"GATEHOUSE_SESSION_KEY must be at least 32 bytes (has 5)", "GATEHOUSE_ALLOWED_DOMAINS is empty",
		"GATEHOUSE_FOO is not a Gatehouse setting", "GATEHOUSE_DATA_DIR is a development setting",
		"GATEHOUSE_TRUSTED_PROXIES",
	} {
		if !slices.ContainsFunc(got, func(p string) bool { return strings.Contains(p, want) }) {
			t.Errorf("problems %q do not name %q", got, want)
		}
	}
	if len(got) != 8 {
		t.Errorf("got %d problems, want 8 (one per broken setting): %q", len(got), got)
	}
}

func TestConfigDevDefaults(t *testing.T) {
	type summary struct {
		Dev                                                                       bool
		Addr, BaseURL, Issuer, ClientID, DataDir, DatabaseURL, ProductDatabaseURL string
		AgreementVersion                                                          string
		AllowedDomains                                                            []string
	}
	tests := []struct {
		name string
		env  map[string]string
		want summary
	}{
		{"defaults", nil, summary{
			Dev: true, Addr: "127.0.0.1:8080", BaseURL: "http://127.0.0.1:8080", Issuer: "http://127.0.0.1:8080/dev/oidc",
			ClientID: "gatehouse-dev", DataDir: ".gatehouse", DatabaseURL: ".gatehouse/portal.db",
			ProductDatabaseURL: ".gatehouse/product.db", AgreementVersion: "2026-1", AllowedDomains: []string{"example.com"},
		}},
		{"GATEHOUSE_ADDR overrides", map[string]string{"GATEHOUSE_ADDR": "127.0.0.1:9123"}, summary{
			Dev: true, Addr: "127.0.0.1:9123", BaseURL: "http://127.0.0.1:9123", Issuer: "http://127.0.0.1:9123/dev/oidc",
			ClientID: "gatehouse-dev", DataDir: ".gatehouse", DatabaseURL: ".gatehouse/portal.db",
			ProductDatabaseURL: ".gatehouse/product.db", AgreementVersion: "2026-1", AllowedDomains: []string{"example.com"},
		}},
		{"data dir and base URL", map[string]string{"GATEHOUSE_DATA_DIR": "/tmp/gh", "GATEHOUSE_BASE_URL": "http://localhost:8080"}, summary{
			Dev: true, Addr: "127.0.0.1:8080", BaseURL: "http://localhost:8080", Issuer: "http://localhost:8080/dev/oidc",
			ClientID: "gatehouse-dev", DataDir: "/tmp/gh", DatabaseURL: "/tmp/gh/portal.db",
			ProductDatabaseURL: "/tmp/gh/product.db", AgreementVersion: "2026-1", AllowedDomains: []string{"example.com"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := loadConfig("serve", []string{"--dev"}, environ(tt.env), io.Discard)
			if err != nil {
				t.Fatalf("loadConfig --dev: %v", err)
			}
			got := summary{
				Dev: cfg.Dev, Addr: cfg.Addr, BaseURL: cfg.BaseURL.String(), Issuer: cfg.OIDCIssuer, ClientID: cfg.OIDCClientID,
				DataDir: cfg.DataDir, DatabaseURL: cfg.DatabaseURL, ProductDatabaseURL: cfg.ProductDatabaseURL,
				AgreementVersion: cfg.AgreementVersion, AllowedDomains: cfg.AllowedDomains,
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("dev config:\n got %+v\nwant %+v", got, tt.want)
			}
			// The dev configuration must never pass as a production one.
			if err := cfg.checkProduction(); err == nil {
				t.Error("checkProduction accepted the --dev configuration")
			}
		})
	}
}

func TestConfigDevRefusals(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"unknown setting with --dev", []string{"--dev"}, map[string]string{"GATEHOUSE_FOO": "1"}, "GATEHOUSE_FOO is not a Gatehouse setting"},
		{"address without port", []string{"--dev"}, map[string]string{"GATEHOUSE_ADDR": "localhost"}, "GATEHOUSE_ADDR must be host:port"},
		{"base URL not a URL", []string{"--dev"}, map[string]string{"GATEHOUSE_BASE_URL": "localhost"}, "GATEHOUSE_BASE_URL is not a URL"},
		{"base URL with a path", []string{"--dev"}, map[string]string{"GATEHOUSE_BASE_URL": "http://127.0.0.1:8080/gatehouse"}, "GATEHOUSE_BASE_URL must be scheme://host[:port] with no path"},
		{"metrics address not loopback", []string{"--dev"}, map[string]string{"GATEHOUSE_METRICS_ADDR": "0.0.0.0:9090"}, "GATEHOUSE_METRICS_ADDR must be a loopback host:port"},
		{"SMTP relay elsewhere", []string{"--dev"}, map[string]string{"GATEHOUSE_SMTP_HOST": "smtp.example.com"}, "--dev sends mail only to a relay on this machine"},
		{"SMTP relay with a bad TLS mode", []string{"--dev"}, map[string]string{"GATEHOUSE_SMTP_HOST": "127.0.0.1", "GATEHOUSE_SMTP_TLS": "maybe"}, "GATEHOUSE_SMTP_TLS must be starttls, tls or none"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadConfig("serve", tt.args, environ(tt.env), io.Discard)
			got := problemsOf(t, err)
			if !slices.ContainsFunc(got, func(p string) bool { return strings.Contains(p, tt.want) }) {
				t.Errorf("problems %q do not name %q", got, tt.want)
			}
		})
	}
}

func TestConfigFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", []string{"--devv"}, "flag provided but not defined"},
		{"stray argument", []string{"--dev", "now"}, `unexpected arguments ["now"]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(context.Background(), append([]string{"serve"}, tt.args...), nil, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("serve %q: error = %v, want one containing %q", tt.args, err, tt.want)
			}
		})
	}
}

// --dev's demo sign-in needs no password, so it must not listen beyond
// the loopback interface.
func TestDevRefusesNonLoopbackAddress(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:8080", ":8080", "[::]:8080", "192.0.2.10:8080", "example.com:8080"} {
		_, err := loadConfig("serve", []string{"--dev"}, environ(map[string]string{"GATEHOUSE_ADDR": addr}), io.Discard)
		if err == nil || !strings.Contains(err.Error(), "loopback") {
			t.Errorf("--dev with GATEHOUSE_ADDR=%s: got %v, want a loopback refusal", addr, err)
		}
	}
	for _, addr := range []string{"127.0.0.1:8080", "[::1]:8080", "localhost:8080", "127.0.0.2:9000"} {
		if _, err := loadConfig("serve", []string{"--dev"}, environ(map[string]string{"GATEHOUSE_ADDR": addr}), io.Discard); err != nil {
			t.Errorf("--dev with GATEHOUSE_ADDR=%s refused: %v", addr, err)
		}
	}
}

func TestConfigAuditSettings(t *testing.T) {
	env := productionEnv()
	env["GATEHOUSE_AUDIT_STREAM"] = "file:/var/log/gatehouse/audit.jsonl"
	cfg, err := loadConfig("serve", nil, environ(env), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := ed25519.NewKeyFromSeed([]byte(strings.Repeat("s", 32)))
	if !want.Equal(cfg.AuditSigningKey) {
		t.Error("AuditSigningKey is not the key of the configured seed")
	}
	if cfg.AuditStream != "file:/var/log/gatehouse/audit.jsonl" {
		t.Errorf("AuditStream = %q, want file:/var/log/gatehouse/audit.jsonl", cfg.AuditStream)
	}
	if cfg.AuditCheckpointEvery != 5*time.Minute {
		t.Errorf("AuditCheckpointEvery = %v by default, want 5m", cfg.AuditCheckpointEvery)
	}
	for _, every := range []string{"1m", "90m", "24h"} {
		env["GATEHOUSE_AUDIT_CHECKPOINT_EVERY"] = every
		cfg, err := loadConfig("serve", nil, environ(env), io.Discard)
		if want, _ := time.ParseDuration(every); err != nil || cfg.AuditCheckpointEvery != want {
			t.Errorf("GATEHOUSE_AUDIT_CHECKPOINT_EVERY=%s: AuditCheckpointEvery = %v (%v), want %v", every, cfg.AuditCheckpointEvery, err, want)
		}
	}

	// --dev keeps one key per data directory, private to its owner.
	dir := t.TempDir()
	k1, err := devAuditKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := devAuditKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !k1.Equal(k2) {
		t.Error("devAuditKey made a new key on the second start")
	}
	info, err := os.Stat(filepath.Join(dir, "audit-signing.key"))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("audit-signing.key: %v, mode %v; want 0600", err, info.Mode().Perm())
	}
	if k3, _ := devAuditKey(t.TempDir()); k3.Equal(k1) {
		t.Error("two data directories share a dev key")
	}
}

func TestConfigDetection(t *testing.T) {
	env := productionEnv()
	env["GATEHOUSE_SECURITY_EMAIL"] = "security@example.com"
	env["GATEHOUSE_ALERT_WEBHOOK_URL"] = "https://hooks.example.com/gatehouse"
	env["GATEHOUSE_ALERT_WEBHOOK_SECRET"] = strings.Repeat("w", 32)
	cfg, err := loadConfig("serve", nil, environ(env), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	d := cfg.Detection
	if len(d.Rules) == 0 || d.SecurityEmail != "security@example.com" || d.WebhookURL != env["GATEHOUSE_ALERT_WEBHOOK_URL"] || string(d.WebhookSecret) != env["GATEHOUSE_ALERT_WEBHOOK_SECRET"] {
		t.Errorf("Detection = %+v", d)
	}
	if d.Every != 10*time.Second {
		t.Errorf("Detection.Every = %v by default, want 10s", d.Every)
	}
	for _, every := range []string{"1s", "10s", "90s", "5m"} {
		env["GATEHOUSE_DETECTION_EVERY"] = every
		cfg, err := loadConfig("serve", nil, environ(env), io.Discard)
		if want, _ := time.ParseDuration(every); err != nil || cfg.Detection.Every != want {
			t.Errorf("GATEHOUSE_DETECTION_EVERY=%s: Detection.Every = %v (%v), want %v", every, cfg.Detection.Every, err, want)
		}
	}
}

func TestConfigRetentionNumbers(t *testing.T) {
	cfg, err := loadConfig("serve", nil, environ(productionEnv()), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Retention != models.DefaultRetentionPolicy() {
		t.Errorf("retention without settings = %+v, want the defaults %+v", cfg.Retention, models.DefaultRetentionPolicy())
	}
	env := productionEnv()
	env["GATEHOUSE_RETENTION_CANCELLED_DAYS"], env["GATEHOUSE_RETENTION_FREE_NOTICE_DAYS"] = "60", "100"
	env["GATEHOUSE_RETENTION_FREE_MARK_DAYS"], env["GATEHOUSE_RETENTION_FREE_DELETE_DAYS"], env["GATEHOUSE_DELETION_REQUEST_VALID_DAYS"] = "120", "200", "7"
	if cfg, err = loadConfig("serve", nil, environ(env), io.Discard); err != nil {
		t.Fatal(err)
	}
	want := models.RetentionPolicy{CancelledKeep: 60 * models.Day, FreeNotice: 100 * models.Day, FreeMark: 120 * models.Day, FreeDelete: 200 * models.Day, DeletionRequestValid: 7 * models.Day}
	if cfg.Retention != want {
		t.Errorf("retention = %+v, want %+v", cfg.Retention, want)
	}
}

// --dev sends mail through a relay on this machine when one is named,
// From the demo domain unless set; without one it sends nothing.
func TestConfigDevMail(t *testing.T) {
	cfg, err := loadConfig("serve", []string{"--dev"}, environ(map[string]string{"GATEHOUSE_SMTP_HOST": "127.0.0.1", "GATEHOUSE_SMTP_PORT": "2525", "GATEHOUSE_SMTP_TLS": "none"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SMTP.Host != "127.0.0.1" || cfg.SMTP.Port != 2525 || cfg.SMTP.From != "Gatehouse <gatehouse@example.com>" {
		t.Errorf("dev SMTP = %+v, want 127.0.0.1:2525 from gatehouse@example.com", cfg.SMTP)
	}
	if cfg, _ := loadConfig("serve", []string{"--dev"}, nil, io.Discard); cfg.SMTP.Host != "" {
		t.Errorf("dev SMTP host = %q without GATEHOUSE_SMTP_HOST, want none", cfg.SMTP.Host)
	}
}

// Replicas of --dev given one session key derive one client secret, so
// the token request of a sign-in may reach any of them; another key gives
// another secret.
func TestDevKeysShareTheClientSecret(t *testing.T) {
	secret := func(key string) string {
		t.Helper()
		cfg := Config{Dev: true, DataDir: t.TempDir(), SessionKey: []byte(key)}
		if err := cfg.devKeys(); err != nil {
			t.Fatal(err)
		}
		return cfg.OIDCClientSecret
	}
	a, b := strings.Repeat("a", 48), strings.Repeat("b", 48)
	if s1, s2 := secret(a), secret(a); s1 == "" || s1 != s2 {
		t.Errorf("client secrets from one session key: %q and %q, want one", s1, s2)
	}
	if secret(a) == secret(b) {
		t.Error("two session keys gave one client secret")
	}
}
