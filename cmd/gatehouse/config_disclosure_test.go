package main

import (
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"gatehouse/models"
)

// TestConfigSecurityTxt: security.txt's settings, each refusal naming
// its setting, and an expired file refusing the start.
func TestConfigSecurityTxt(t *testing.T) {
	future := time.Now().Add(90 * 24 * time.Hour).UTC().Format(time.RFC3339)
	tests := []struct {
		name string
		set  map[string]string
		want string // the one problem; "" when accepted
	}{
		{"none", nil, ""},
		{"complete", map[string]string{"GATEHOUSE_SECURITY_CONTACT": "mailto:security@example.com, https://example.com/report",
			"GATEHOUSE_SECURITY_EXPIRES": future, "GATEHOUSE_SECURITY_POLICY": "https://example.com/p", "GATEHOUSE_SECURITY_LANGUAGES": "en, pt-BR"}, ""},
		{"expired", map[string]string{"GATEHOUSE_SECURITY_CONTACT": "mailto:security@example.com", "GATEHOUSE_SECURITY_EXPIRES": "2020-01-01T00:00:00Z"},
			"GATEHOUSE_SECURITY_EXPIRES=2020-01-01T00:00:00Z has passed"},
		{"no expiry", map[string]string{"GATEHOUSE_SECURITY_CONTACT": "mailto:security@example.com"}, "GATEHOUSE_SECURITY_EXPIRES is missing"},
		{"no contact", map[string]string{"GATEHOUSE_SECURITY_EXPIRES": future}, "GATEHOUSE_SECURITY_CONTACT is missing"},
		{"policy alone", map[string]string{"GATEHOUSE_SECURITY_POLICY": "https://example.com/p"}, "GATEHOUSE_SECURITY_CONTACT is missing"},
		{"bad contact", map[string]string{"GATEHOUSE_SECURITY_CONTACT": "security@example.com", "GATEHOUSE_SECURITY_EXPIRES": future},
			"GATEHOUSE_SECURITY_CONTACT: \"security@example.com\" is not a mailto: or https:// URI"},
		{"bad expiry", map[string]string{"GATEHOUSE_SECURITY_CONTACT": "mailto:s@example.com", "GATEHOUSE_SECURITY_EXPIRES": "next year"},
			"GATEHOUSE_SECURITY_EXPIRES=next year: want an RFC 3339 time"},
		{"http policy", map[string]string{"GATEHOUSE_SECURITY_CONTACT": "mailto:s@example.com", "GATEHOUSE_SECURITY_EXPIRES": future,
			"GATEHOUSE_SECURITY_POLICY": "http://example.com/p"}, "GATEHOUSE_SECURITY_POLICY=http://example.com/p: want an https:// URL"},
		{"bad language", map[string]string{"GATEHOUSE_SECURITY_CONTACT": "mailto:s@example.com", "GATEHOUSE_SECURITY_EXPIRES": future,
			"GATEHOUSE_SECURITY_LANGUAGES": "en;de"}, "GATEHOUSE_SECURITY_LANGUAGES: \"en;de\" is not a language tag"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := productionEnv()
			for k, v := range tt.set {
				env[k] = v
			}
			cfg, err := serveConfig(nil, environ(env), io.Discard)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if tt.set != nil && (len(cfg.SecurityTxt.Contact) != 2 || len(cfg.SecurityTxt.Languages) != 2 || !cfg.SecurityTxt.Enabled()) {
					t.Errorf("security.txt = %+v", cfg.SecurityTxt)
				}
				return
			}
			p := problemsOf(t, err)
			if len(p) != 1 || !strings.Contains(p[0], tt.want) {
				t.Errorf("problems %q, want one containing %q", p, tt.want)
			}
		})
	}
}

// TestConfigDevSecurityTxt: --dev serves a demo security.txt that has
// not expired; an expired one set explicitly is refused there too.
func TestConfigDevSecurityTxt(t *testing.T) {
	env := map[string]string{"GATEHOUSE_DATA_DIR": t.TempDir()}
	cfg, err := serveConfig([]string{"--dev"}, environ(env), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if s := cfg.SecurityTxt; !s.Enabled() || !s.Expires.After(time.Now().Add(90*24*time.Hour)) || !slices.Equal(s.Languages, []string{"en"}) {
		t.Errorf("dev security.txt = %+v", s)
	}
	env["GATEHOUSE_SECURITY_CONTACT"], env["GATEHOUSE_SECURITY_EXPIRES"] = "mailto:s@example.com", "2020-01-01T00:00:00Z"
	_, err = serveConfig([]string{"--dev"}, environ(env), io.Discard)
	if p := problemsOf(t, err); len(p) != 1 || !strings.Contains(p[0], "has passed") {
		t.Errorf("dev with an expired security.txt: %q", p)
	}
}

func TestConfigTransparency(t *testing.T) {
	env := productionEnv()
	cfg, err := serveConfig(nil, environ(env), io.Discard)
	if err != nil || cfg.Transparency != models.DefaultTransparencyPolicy() || cfg.Transparency.Period != models.ReportMonthly {
		t.Fatalf("default: %+v, %v", cfg.Transparency, err)
	}
	env["GATEHOUSE_TRANSPARENCY_PERIOD"], env["GATEHOUSE_TRANSPARENCY_QUIET"] = "Quarterly", "on"
	if cfg, err = serveConfig(nil, environ(env), io.Discard); err != nil || cfg.Transparency != (models.TransparencyPolicy{Period: models.ReportQuarterly, Quiet: true}) {
		t.Fatalf("quarterly, quiet: %+v, %v", cfg.Transparency, err)
	}
	env["GATEHOUSE_TRANSPARENCY_PERIOD"], env["GATEHOUSE_TRANSPARENCY_QUIET"] = "yearly", "yes"
	_, err = serveConfig(nil, environ(env), io.Discard)
	if p := problemsOf(t, err); len(p) != 2 || !strings.Contains(p[0], "GATEHOUSE_TRANSPARENCY_PERIOD=yearly") || !strings.Contains(p[1], "GATEHOUSE_TRANSPARENCY_QUIET=yes") {
		t.Errorf("bad transparency settings: %q", p)
	}
}

func TestConfigAccessReviews(t *testing.T) {
	env := productionEnv()
	cfg, err := serveConfig(nil, environ(env), io.Discard)
	if err != nil || cfg.AccessReviews != models.ReviewQuarterly {
		t.Fatalf("default: %q, %v; want quarterly", cfg.AccessReviews, err)
	}
	for raw, want := range map[string]models.ReviewEvery{"monthly": models.ReviewMonthly, "Yearly": models.ReviewYearly, "quarterly": models.ReviewQuarterly} {
		env["GATEHOUSE_ACCESS_REVIEW_EVERY"] = raw
		if cfg, err = serveConfig(nil, environ(env), io.Discard); err != nil || cfg.AccessReviews != want {
			t.Errorf("%s: %q, %v; want %q", raw, cfg.AccessReviews, err, want)
		}
	}
	env["GATEHOUSE_ACCESS_REVIEW_EVERY"] = "weekly"
	_, err = serveConfig(nil, environ(env), io.Discard)
	if p := problemsOf(t, err); len(p) != 1 || !strings.Contains(p[0], "GATEHOUSE_ACCESS_REVIEW_EVERY=weekly") {
		t.Errorf("a bad period: %q, want the start refused naming the variable", p)
	}
}
