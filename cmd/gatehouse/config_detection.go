package main

import (
	"fmt"
	"net/mail"
	"net/url"
	"time"

	"gatehouse/policy"
)

// Detection is the detection rules, how often they are evaluated, and
// where new alerts go besides the sysadmins: a security address and a
// signed webhook.
type Detection struct {
	Rules         []policy.Rule
	Every         time.Duration // between evaluations (GATEHOUSE_DETECTION_EVERY)
	SecurityEmail string
	WebhookURL    string
	WebhookSecret []byte
}

// defaultDetectionEvery is how often the detection worker evaluates the
// new audit events unless GATEHOUSE_DETECTION_EVERY says otherwise.
const defaultDetectionEvery = 10 * time.Second

// parseDetection loads the detection rules (a bad rule refuses the start
// and is named), the evaluation interval and the alerts' destinations.
func (c *Config) parseDetection(env map[string]string) []string {
	var problems []string
	var err error
	if c.Detection.Rules, err = policy.LoadDetection(); err != nil {
		problems = append(problems, err.Error())
	}
	c.Detection.Every = defaultDetectionEvery
	if raw := env["GATEHOUSE_DETECTION_EVERY"]; raw != "" {
		d, err := time.ParseDuration(raw)
		if err != nil || d < time.Second || d > 5*time.Minute {
			problems = append(problems, fmt.Sprintf("GATEHOUSE_DETECTION_EVERY=%s: want a duration from 1s to 5m, e.g. 10s", raw))
		} else {
			c.Detection.Every = d
		}
	}
	if s := env["GATEHOUSE_SECURITY_EMAIL"]; s != "" {
		if a, err := mail.ParseAddress(s); err != nil || a.Address != s {
			problems = append(problems, fmt.Sprintf("GATEHOUSE_SECURITY_EMAIL=%s: want one plain address, e.g. security@example.com", s))
		}
		c.Detection.SecurityEmail = s
	}
	raw, secret := env["GATEHOUSE_ALERT_WEBHOOK_URL"], env["GATEHOUSE_ALERT_WEBHOOK_SECRET"]
	if raw == "" {
		if secret != "" {
			problems = append(problems, "GATEHOUSE_ALERT_WEBHOOK_SECRET is set without GATEHOUSE_ALERT_WEBHOOK_URL")
		}
		return problems
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Host == "" || u.User != nil || (u.Scheme != "https" && u.Scheme != "http"):
		problems = append(problems, "GATEHOUSE_ALERT_WEBHOOK_URL: want an absolute https:// URL without credentials")
	case u.Scheme == "http" && !c.Dev:
		problems = append(problems, "GATEHOUSE_ALERT_WEBHOOK_URL: alerts leave only over https:// outside --dev")
	}
	if len(secret) < 32 {
		problems = append(problems, "GATEHOUSE_ALERT_WEBHOOK_SECRET: want at least 32 characters (the receiver checks the X-Gatehouse-Signature HMAC with it); generate one with: openssl rand -hex 32")
	}
	c.Detection.WebhookURL, c.Detection.WebhookSecret = raw, []byte(secret)
	return problems
}
