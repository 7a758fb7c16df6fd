package main

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"gatehouse/models"
)

// languageTag is a BCP 47 tag as security.txt's Preferred-Languages wants
// it (en, de, pt-BR).
var languageTag = regexp.MustCompile(`^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$`)

// parseSecurityTxt reads /.well-known/security.txt's fields. The file is
// served when GATEHOUSE_SECURITY_CONTACT is set; any other of its
// settings without it is refused, as is a Contact without an Expires.
// Whether Expires has passed is checkSecurityTxt's, at start.
func (c *Config) parseSecurityTxt(env map[string]string) []string {
	var problems []string
	s := &c.SecurityTxt
	for _, v := range strings.Split(env["GATEHOUSE_SECURITY_CONTACT"], ",") {
		if v = strings.TrimSpace(v); v == "" {
			continue
		}
		u, err := url.Parse(v)
		switch {
		case err == nil && u.Scheme == "mailto" && strings.Contains(u.Opaque, "@"):
		case err == nil && u.Scheme == "https" && u.Host != "":
		default:
			problems = append(problems, fmt.Sprintf("GATEHOUSE_SECURITY_CONTACT: %q is not a mailto: or https:// URI (e.g. mailto:security@example.com)", v))
			continue
		}
		s.Contact = append(s.Contact, v)
	}
	if raw := env["GATEHOUSE_SECURITY_EXPIRES"]; raw != "" {
		t, err := time.Parse(time.RFC3339, raw)
		if err != nil {
			problems = append(problems, fmt.Sprintf("GATEHOUSE_SECURITY_EXPIRES=%s: want an RFC 3339 time, e.g. 2027-06-30T00:00:00Z", raw))
		}
		s.Expires = t
	}
	if raw := env["GATEHOUSE_SECURITY_POLICY"]; raw != "" {
		if u, err := url.Parse(raw); err != nil || u.Scheme != "https" || u.Host == "" {
			problems = append(problems, fmt.Sprintf("GATEHOUSE_SECURITY_POLICY=%s: want an https:// URL", raw))
		}
		s.Policy = raw
	}
	for _, l := range strings.Split(env["GATEHOUSE_SECURITY_LANGUAGES"], ",") {
		if l = strings.TrimSpace(l); l == "" {
			continue
		}
		if !languageTag.MatchString(l) {
			problems = append(problems, fmt.Sprintf("GATEHOUSE_SECURITY_LANGUAGES: %q is not a language tag (e.g. en, de, pt-BR)", l))
			continue
		}
		s.Languages = append(s.Languages, l)
	}
	set := env["GATEHOUSE_SECURITY_EXPIRES"] != "" || s.Policy != "" || len(s.Languages) > 0
	switch {
	case env["GATEHOUSE_SECURITY_CONTACT"] == "" && set:
		problems = append(problems, "GATEHOUSE_SECURITY_CONTACT is missing: security.txt needs at least one Contact (e.g. mailto:security@example.com)")
	case len(s.Contact) > 0 && env["GATEHOUSE_SECURITY_EXPIRES"] == "":
		problems = append(problems, "GATEHOUSE_SECURITY_EXPIRES is missing: security.txt needs an Expires (RFC 3339, less than a year ahead)")
	}
	return problems
}

// checkSecurityTxt refuses a security.txt that has expired at now: the
// start is refused rather than a stale file served.
func (c Config) checkSecurityTxt(now time.Time) []string {
	if s := c.SecurityTxt; s.Enabled() && !s.Expires.IsZero() && !s.Expires.After(now) {
		return []string{fmt.Sprintf("GATEHOUSE_SECURITY_EXPIRES=%s has passed: set a new expiry (less than a year ahead) after checking the file's contacts",
			s.Expires.UTC().Format(time.RFC3339))}
	}
	return nil
}

// devSecurityTxt gives --dev a security.txt when none is set: a demo
// contact, expiring 180 days after the start.
func (c *Config) devSecurityTxt(now time.Time) {
	if c.SecurityTxt.Enabled() {
		return
	}
	c.SecurityTxt.Contact = []string{"mailto:security@example.com"}
	c.SecurityTxt.Expires = now.UTC().Truncate(24*time.Hour).AddDate(0, 0, 180)
	c.SecurityTxt.Policy = "https://example.com/security"
	if len(c.SecurityTxt.Languages) == 0 {
		c.SecurityTxt.Languages = []string{"en"}
	}
}

// parseTransparency reads when transparency reports are made and whether
// an idle workspace's owners get a "nothing happened" report.
func (c *Config) parseTransparency(env map[string]string) []string {
	c.Transparency = models.DefaultTransparencyPolicy()
	var problems []string
	if raw := strings.ToLower(env["GATEHOUSE_TRANSPARENCY_PERIOD"]); raw != "" {
		p, err := models.ParseReportPeriod(raw)
		if err != nil {
			problems = append(problems, fmt.Sprintf("GATEHOUSE_TRANSPARENCY_PERIOD=%s: want monthly, quarterly, weekly or off", raw))
		}
		c.Transparency.Period = p
	}
	switch raw := strings.ToLower(env["GATEHOUSE_TRANSPARENCY_QUIET"]); raw {
	case "", "off":
	case "on":
		c.Transparency.Quiet = true
	default:
		problems = append(problems, fmt.Sprintf("GATEHOUSE_TRANSPARENCY_QUIET=%s: want on or off", raw))
	}
	return problems
}
